"""The spiking-alignment quick preset: runs from the CLI, node perturbation follows the
oracle gradient, the run file holds the alignment records with their standard errors."""

import json

import numpy as np

import plasticity

RULES = ("stdp", "spike_node_perturbation", "random_direction")
KEYS = ("cos_mean", "cos_ci_low", "cos_ci_high", "frac_positive", "loss_first",
        "loss_last")


def test_quick_preset(cli, tmp_path):
    out = tmp_path / "sa.h5"
    code, _, err = cli("run", "spiking-alignment", "--quick", "--quiet", "--out", out)
    assert code == 0, err
    code, text, _ = cli("info", out, "--json")
    assert code == 0
    doc = json.loads(text)
    assert doc["status"] == "complete"
    s = doc["summary"]
    for rule in RULES:
        for key in KEYS:
            assert np.isfinite(s[f"{rule}.{key}"]), (rule, key)
        # the interval of plasticity.analysis.summarize, which names its method
        assert isinstance(s[f"{rule}.ci_method"], str) and s[f"{rule}.ci_method"]
        assert 0 < s[f"{rule}.n_measured"] <= s["n_records_per_rule"]
    # node perturbation is an unbiased gradient estimator: aligned, and the loss falls
    assert s["spike_node_perturbation.cos_ci_low"] > 0
    assert s["spike_node_perturbation.loss_last"] < s["spike_node_perturbation.loss_first"]
    # the random direction knows nothing of the gradient
    assert s["random_direction.cos_ci_low"] < 0 < s["random_direction.cos_ci_high"]
    # the reference is precise enough that the cosines measure the rules, not its noise
    assert s["oracle_self_cos"] > 0.8

    run = plasticity.open_run(out)
    total = run.alignment["spike_node_perturbation/total"]
    assert len(total["step"]) == s["n_records_per_rule"]
    assert np.all(total["grad_se"] > 0) and np.all(np.isfinite(total["cos"]))
    assert np.all(total["grad_se"] < total["grad_norm"])
    assert "spike_node_perturbation/W_out" in run.alignment
    assert np.all(np.isfinite(total["actual_dloss"]))
    loss = run.series["loss/spike_node_perturbation"]
    assert np.all(loss["loss_se"] > 0)

    code, _, err = cli("plot", out, "--format", "png", "--out", tmp_path)
    assert code == 0, err
    assert list(tmp_path.glob("*.png"))


def test_declares_its_estimated_reference():
    from experiments.spiking_alignment import ALIGNMENT, EXPERIMENT
    from plasticity.problems import SpikingEscapeProblem

    assert ALIGNMENT["rules"] == list(RULES)
    assert ALIGNMENT["problem"] == SpikingEscapeProblem.name == EXPERIMENT.alignment.problem
    # the oracle's gradient is an estimate with standard errors
    assert ALIGNMENT["reference"] == EXPERIMENT.alignment.reference == "population-estimated"
    assert ALIGNMENT["substrate"] == EXPERIMENT.alignment.substrate == "spiking"


def test_bad_input_is_one_line(cli, tmp_path):
    out = tmp_path / "bad.h5"
    code, _, err = cli("run", "spiking-alignment", "--set", "n_trials=0", "--out", out)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "n_trials" in lines[0], err
    assert not out.exists()
