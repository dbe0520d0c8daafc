"""The spiking-alignment quick preset: runs from the CLI, node perturbation follows the
oracle gradient, the run file holds the alignment records with their standard errors."""

import json

import numpy as np
import pytest
from conftest import assert_seed_contract

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
        assert 0 < s[f"{rule}.n_measured"] <= s["n_records_per_rule"] * s["n_seeds"]
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

    _check_seeds(run, s)

    code, _, err = cli("plot", out, "--format", "png", "--out", tmp_path)
    assert code == 0, err
    assert list(tmp_path.glob("*.png"))


def _check_seeds(run, s):
    """At least three seeds: each rule's primary keys are the t-interval over the per-seed
    means recorded in /series/seeds/<rule>, each the mean of that seed's own per-update
    cosines; the seeds start from different initial weights."""
    from scipy import stats

    k = run.config["seeds"]
    assert k >= 3 and s["n_seeds"] == k
    setup = run.series["seed_setup"]
    # own initial weights per seed: different matched means and initial losses
    assert len(set(np.round(setup["w_mean_mv"], 12))) == k
    assert len(set(np.round(setup["loss_first"], 12))) == k
    for rule in RULES:
        seeds = run.series[f"seeds/{rule}"]
        assert list(seeds["seed"]) == list(range(k)) and s[f"{rule}.seeds_cos_n"] == k
        per = np.asarray(seeds["cos_mean"])
        for i in range(k):
            table = run.alignment[f"{rule}/total" if i == 0 else f"seed{i}/{rule}/total"]
            cos = np.asarray(table["cos"])[~np.asarray(table["zero_norm"], bool)]
            assert cos.size == seeds["n_measured"][i] > 0
            assert per[i] == pytest.approx(cos.mean(), rel=1e-12)
        assert s[f"{rule}.seeds_cos_mean"] == pytest.approx(per.mean(), rel=1e-12)
        half = stats.t.ppf(0.975, k - 1) * per.std(ddof=1) / np.sqrt(k)
        assert s[f"{rule}.seeds_cos_low"] == pytest.approx(per.mean() - half, rel=1e-9)
        assert s[f"{rule}.seeds_cos_high"] == pytest.approx(per.mean() + half, rel=1e-9)
        # as in alignment-atlas, the primary keys are the across-seed ones
        assert [s[f"{rule}.{c}"] for c in ("cos_mean", "cos_ci_low", "cos_ci_high")] == [
            s[f"{rule}.seeds_cos_{c}"] for c in ("mean", "low", "high")]
        assert s[f"{rule}.ci_method"].startswith(f"t over {k} seeds")
        assert s[f"{rule}.n_measured"] == seeds["n_measured"].sum()
        assert s[f"{rule}.loss_last"] == pytest.approx(seeds["loss_last"].mean())
        assert s[f"{rule}.loss_first"] == pytest.approx(setup["loss_first"].mean())


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """Short runs with one and with two seeds: ``{1: run, 2: run}``."""
    from plasticity.cli import main

    root = tmp_path_factory.mktemp("sa-small")
    runs = {}
    for k in (1, 2):
        out = root / f"sa{k}.h5"
        assert main(["run", "spiking-alignment", "--quiet", "--set", "n_updates=30",
                     "--set", "record_every=2", "--set", "n_trials=20", "--set",
                     "n_loss_trials=10", "--set", "n_boot=200", "--set", f"seeds={k}",
                     "--out", str(out)]) in (0, None)
        runs[k] = plasticity.open_run(out)
    return runs


def test_one_seed_has_no_interval_over_seeds_and_seed_0_is_unchanged(small_runs):
    for rule in RULES:
        assert_seed_contract(small_runs[1], small_runs[2], rule)
    assert small_runs[2].series["seed_setup"]["w_mean_mv"][0] == \
        small_runs[1].summary["w_mean_mv"]


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
