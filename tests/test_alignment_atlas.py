"""The alignment-atlas experiment and the rule specifications it accepts on the command
line: built-in rules, a researcher's rule by import path, and rules that break the
protocol (one line, exit 2, no complete run file)."""

import json

import numpy as np
import pytest

import plasticity as pl

RULES = ("backprop", "feedback_alignment", "node_perturbation", "weight_perturbation", "es",
         "hill_climbing", "annealing", "genetic", "hebb", "oja", "random_direction")
KEYS = ("cos_mean", "cos_ci_low", "cos_ci_high", "ci_method", "cos_batch_mean", "sgd_ceiling",
        "sgd_ceiling_ci_low", "sgd_ceiling_ci_high", "frac_positive", "expected_cos",
        "n_measured", "final_loss", "reference", "seeds_cos_mean", "seeds_cos_low",
        "seeds_cos_high")


@pytest.fixture(autouse=True)
def _fixtures_importable(monkeypatch):
    # "tests.fixtures_rules" is imported by the CLI like a researcher's module would be.
    from conftest import ROOT

    monkeypatch.syspath_prepend(str(ROOT))


@pytest.fixture(scope="module")
def quick_atlas(tmp_path_factory):
    from plasticity.cli import main

    out = tmp_path_factory.mktemp("atlas") / "atlas.h5"
    assert main(["run", "alignment-atlas", "--quick", "--out", str(out)]) in (0, None)
    return pl.open_run(out)


def test_quick_atlas_keys_and_values(quick_atlas):
    run = quick_atlas
    assert run.status == "complete"
    widths, seeds = run.config["widths"], run.config["seeds"]
    assert seeds >= 3 and s_n(run) == seeds
    s = run.summary
    for rule in RULES:
        for key in KEYS:
            assert f"{rule}.{key}" in s, f"{rule}.{key}"
            for w in widths:
                assert f"{rule}.{key}_w{w}" in s, f"{rule}.{key}_w{w}"
        assert s[f"{rule}.reference"] == "population-estimated"
        assert s[f"{rule}.seeds_cos_low"] <= s[f"{rule}.seeds_cos_mean"] \
            <= s[f"{rule}.seeds_cos_high"]
        # with seeds, the primary interval is the one over seeds, and says so
        assert s[f"{rule}.cos_ci_low"] == s[f"{rule}.seeds_cos_low"]
        assert s[f"{rule}.ci_method"].startswith(f"t over {seeds} seeds")
    for w in widths:
        # backprop's update is the minibatch gradient: cosine 1 with it by construction;
        # against the population gradient it is exactly the SGD ceiling, and below 1
        assert s[f"backprop.cos_batch_mean_w{w}"] == pytest.approx(1.0, abs=1e-9)
        assert s[f"backprop.cos_mean_w{w}"] == pytest.approx(s[f"backprop.sgd_ceiling_w{w}"],
                                                              abs=1e-9)
        assert s[f"backprop.cos_ci_high_w{w}"] < 0.9
    # over fresh batches the expected backprop step is the population gradient
    assert s["backprop.expected_cos"] > 0.9
    assert s["random_direction.cos_ci_low"] <= 0.0 <= s["random_direction.cos_ci_high"]
    # every replicate's per-update totals are in the file (per-array tables are not)
    w = widths[-1]
    for rep in range(seeds):
        assert f"backprop/w{w}/s{rep}/total" in run.alignment
    assert f"backprop/w{w}/s0/W1" not in run.alignment
    # the summary's seeds mean is the mean of the replicates' recorded cosines
    per_seed = [float(np.mean(run.alignment[f"backprop/w{w}/s{r}/total"]["cos"]))
                for r in range(seeds)]
    assert s["backprop.seeds_cos_mean"] == pytest.approx(np.mean(per_seed), rel=1e-12)


def s_n(run):
    return run.summary["n_seeds"]


def test_quick_atlas_plots(quick_atlas, cli, tmp_path):
    code, out, err = cli("plot", quick_atlas.path, "--format", "png", "--out", tmp_path)
    assert code == 0, err
    assert list(tmp_path.glob("*.png"))


def test_own_rule_by_import_path(cli, tmp_path):
    out = tmp_path / "sign.h5"
    code, _, err = cli("run", "alignment-atlas", "--set", "rule=tests.fixtures_rules:SignHebb",
                       "--set", "n_updates=20", "--set", "expected_draws=5", "--out", out)
    assert code == 0, err
    run = pl.open_run(out)
    assert run.status == "complete"
    for key in KEYS:
        assert f"SignHebb.{key}" in run.summary
    assert not any(k.startswith("backprop.") for k in run.summary)


@pytest.mark.parametrize("name, words", [
    ("WrongShape", ["WrongShape", "'W_out'", "shape"]),
    ("ReturnsNaN", ["ReturnsNaN", "'W_out'", "NaN"]),
    ("NoUpdate", ["NoUpdate", "update"]),
    ("StrayArray", ["StrayArray", "'W_stray'"]),
])
def test_broken_rule_fails_in_one_line(cli, tmp_path, monkeypatch, name, words):
    # StrayArray lives in a researcher's own module written here (a delta for an array
    # the student does not have); the others in tests/fixtures_rules.py
    (tmp_path / "stray_rules.py").write_text(STRAY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = "stray_rules" if name == "StrayArray" else "tests.fixtures_rules"
    out = tmp_path / "broken.h5"
    code, _, err = cli("run", "alignment-atlas", "--set", f"rule={module}:{name}",
                       "--set", "n_updates=5", "--set", "expected_draws=3", "--out", out)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in err
    if out.exists():
        assert pl.open_run(out).status == "failed"


STRAY = """
import numpy as np


class StrayArray:
    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {"W_stray": np.zeros((2, 2))}, state
"""


@pytest.mark.parametrize("spec, words", [
    ("tests.no_such_module:Rule", ["cannot import", "tests.no_such_module"]),
    ("tests.fixtures_rules:Missing", ["has no attribute", "Missing"]),
    ("no_such_rule", ["Unknown rule", "no_such_rule"]),
])
def test_bad_rule_spec_exits_2_without_a_file(cli, tmp_path, spec, words):
    out = tmp_path / "bad.h5"
    code, _, err = cli("run", "alignment-atlas", "--set", f"rule={spec}", "--out", out)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err
    assert not out.exists()


def test_measure_api_in_memory():
    run = pl.alignment.measure("backprop", hidden=8, n_updates=10, batch_size=8,
                               expected_draws=3)
    assert run.status == "complete"
    assert run.summary["cos_batch_mean"] == pytest.approx(1.0, abs=1e-9)
    assert run.summary["cos_mean"] == pytest.approx(run.summary["sgd_ceiling"], abs=1e-9)
    assert run.alignment["total"]["cos"].shape == (10,)


def test_measure_writes_a_run_file(tmp_path):
    from fixtures_rules import SignHebb

    out = tmp_path / "sub" / "m.h5"
    run = pl.alignment.measure(SignHebb(), hidden=8, n_updates=10, expected_draws=3, out=out)
    assert out.exists()
    assert run.experiment == "alignment-measure"
    assert json.loads(json.dumps(run.config))["rule"] == "SignHebb"
    assert {k for k in KEYS if not k.startswith("seeds_")} <= set(run.summary)


def test_resolve_rule_accepts_objects_and_function_pairs():
    import numpy as np

    from plasticity.errors import RuleError
    from plasticity.rules.resolve import resolve_rule
    from plasticity.substrates.feedforward import FeedForward

    net = FeedForward(sizes=[3, 4, 2], activations="tanh")

    def init(params):
        return None

    def update(signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {"W_out": np.zeros_like(params["W_out"])}, state

    rule = resolve_rule((init, update), net=net)
    assert rule.update({}, None, {"W_out": np.ones((2, 4))})[0]["W_out"].shape == (2, 4)
    with pytest.raises(RuleError, match="lacks the protocol method"):
        resolve_rule(object(), net=net)
