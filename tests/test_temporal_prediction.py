"""Temporal prediction: the linear-dynamics task (closed-form loss against finite
differences and Monte Carlo), the local rule (protocol, exact single steps, expected
update = -eta gradient) and the experiment's quick preset from the CLI."""

import json

import numpy as np
import pytest
from conftest import assert_seed_contract, assert_seeds_interval

from plasticity.testing import check_grads

try:
    from tests.conftest import module_run
except ImportError:  # pragma: no cover - run from inside tests/
    from conftest import module_run

import plasticity as pl
from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules import TemporalPrediction
from plasticity.rules.checks import check_rule
from plasticity.tasks.sequences import LinearDynamics


@pytest.fixture
def task():
    return LinearDynamics(4, np.random.default_rng(0), spectral_radius=0.8, noise_std=0.7)


# -- the task ---------------------------------------------------------------------------

def test_stationary_covariance_solves_lyapunov(task):
    assert task.rho == pytest.approx(0.8, abs=1e-12)
    np.testing.assert_allclose(task.P, task.A @ task.P @ task.A.T + task.Q, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(task.P) > 0)


def test_loss_is_optimal_at_A(task):
    assert task.loss(task.A) == pytest.approx(0.5 * np.trace(task.Q), rel=1e-14)
    assert task.optimal_loss == pytest.approx(2 * 0.7 ** 2, rel=1e-14)
    np.testing.assert_allclose(task.gradient(task.A), 0.0, atol=1e-14)


def test_gradient_matches_finite_differences(task):
    W = np.random.default_rng(1).standard_normal((4, 4))
    # the loss is quadratic: central differences are exact up to rounding (the shared
    # checker's default absolute floor), so the relative allowance is tight
    check_grads(task.loss, W, task.gradient(W), eps=1e-6, rtol=1e-7)


def test_loss_matches_monte_carlo(task):
    rng = np.random.default_rng(2)
    W = 0.3 * rng.standard_normal((4, 4))
    # independent stationary pairs
    prev, nxt = task.pairs(200_000, rng)
    per = 0.5 * np.sum((nxt - prev @ W.T) ** 2, axis=1)
    assert abs(per.mean() - task.loss(W)) < 5 * per.std() / np.sqrt(per.size)
    # one long simulated sequence from the stationary start (correlated samples: the
    # standard error is larger than the i.i.d. one, so allow 1 %)
    X = task.simulate(100_000, rng, task.initial(rng))
    seq = 0.5 * np.sum((X[1:] - X[:-1] @ W.T) ** 2, axis=1)
    assert seq.mean() == pytest.approx(task.loss(W), rel=0.01)


@pytest.mark.parametrize("kwargs, words", [
    ({"A": [[1.0, 0.0], [0.0, 0.5]]}, ["unstable", "spectral radius 1"]),
    ({"A": [[0.0, -1.2], [1.2, 0.0]]}, ["unstable", "1.2"]),
    ({"A": np.eye(3) * 0.5}, ["shape (3, 3)", "(2, 2)"]),
    ({"A": [[np.nan, 0.0], [0.0, 0.5]]}, ["NaN"]),
    ({"spectral_radius": 1.0}, ["spectral_radius", "(0, 1)"]),
    ({"noise_std": 0.0}, ["noise_std"]),
])
def test_bad_systems_are_refused(kwargs, words):
    with pytest.raises(InvalidParameterError) as err:
        LinearDynamics(2, np.random.default_rng(0), **kwargs)
    for word in words:
        assert word in str(err.value)


def test_bad_size_is_refused():
    with pytest.raises(InvalidParameterError, match="integer >= 1"):
        LinearDynamics(0)


# -- the rule -----------------------------------------------------------------------------

def test_passes_check_rule(task):
    X = task.simulate(6, np.random.default_rng(3), task.initial(np.random.default_rng(4)))
    report = check_rule(TemporalPrediction(eta=0.01), params={"W": np.zeros((4, 4))},
                        signals={"input": X})
    assert report["passed"][-1] == "delta not reused" and report["state_compared"]


def test_window_is_a_sequence_of_exact_single_steps(task):
    rng = np.random.default_rng(5)
    X = task.simulate(7, rng, task.initial(rng))
    rule = TemporalPrediction(eta=0.05)
    W0 = rng.standard_normal((4, 4))
    delta, last = rule.update({"input": X}, None, {"W": W0})
    W = W0.copy()
    for prev, x in zip(X[:-1], X[1:], strict=True):  # no state: X[0] only fills the trace
        W = W + 0.05 * np.outer(x - W @ prev, prev)
    np.testing.assert_allclose(W0 + delta["W"], W, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(last, X[-1])
    # with a state, the first sample is predicted from it; split windows chain exactly
    d1, s1 = rule.update({"input": X[1:4]}, X[0], {"W": W0})
    d2, _ = rule.update({"input": X[4:]}, s1, {"W": W0 + d1["W"]})
    np.testing.assert_allclose(W0 + d1["W"] + d2["W"], W, rtol=1e-13, atol=1e-14)


def test_expected_update_is_minus_eta_gradient(task):
    # E[eta (x' - W x) x^T] = eta (A - W) P = -eta dL/dW; Monte Carlo over stationary pairs
    rng = np.random.default_rng(6)
    W = 0.5 * rng.standard_normal((4, 4))
    eta = 0.1
    rule = TemporalPrediction(eta=eta)
    prev, nxt = task.pairs(100_000, rng)
    draws = np.stack([rule.update({"input": b}, a, {"W": W})[0]["W"]
                      for a, b in zip(prev[:2000], nxt[:2000], strict=True)])
    # the rule on single pairs is the closed form, so the full sample can be vectorised
    closed = eta * (nxt - prev @ W.T)[:, :, None] * prev[:, None, :]
    np.testing.assert_allclose(draws, closed[:2000], rtol=1e-12, atol=1e-14)
    mean, se = closed.mean(axis=0), closed.std(axis=0) / np.sqrt(len(closed))
    target = -eta * task.gradient(W)
    assert np.max(np.abs(mean - target) / se) < 5
    cos = np.vdot(mean, target) / (np.linalg.norm(mean) * np.linalg.norm(target))
    assert cos > 0.999


@pytest.mark.parametrize("signals, params, state, words", [
    ({"input": np.zeros((3, 4))}, {"V": np.zeros((4, 4))}, None, ["'W'", "V"]),
    ({"input": np.zeros((3, 4))}, {"W": np.zeros((3, 4))}, None, ["square"]),
    ({"x": np.zeros((3, 4))}, {"W": np.zeros((4, 4))}, None, ["'input'", "x"]),
    ({"input": np.zeros((3, 5))}, {"W": np.zeros((4, 4))}, None, ["(3, 5)", "(T, 4)"]),
    ({"input": np.zeros((3, 4))}, {"W": np.zeros((4, 4))}, np.zeros(3), ["state", "(4,)"]),
])
def test_bad_rule_input(signals, params, state, words):
    with pytest.raises(RuleError) as err:
        TemporalPrediction().update(signals, state, params)
    for word in words:
        assert word in str(err.value)


def test_bad_learning_rate():
    with pytest.raises(InvalidParameterError, match="eta"):
        TemporalPrediction(eta=0)


# -- the experiment from the CLI -------------------------------------------------------------

quick_run = module_run("temporal-prediction")


def test_quick_preset_meets_the_issue(quick_run, cli):
    code, text, _ = cli("info", quick_run, "--json")
    assert code == 0
    doc = json.loads(text)
    assert doc["status"] == "complete"
    s = doc["summary"]
    assert 1.0 <= s["prediction_loss_ratio"] <= 1.1
    # constant eta: the excess loss is about the LMS misadjustment eta tr(P) / 2
    assert s["prediction_loss_ratio"] - 1 == pytest.approx(s["misadjustment_theory"], rel=0.5)
    assert s["optimal_loss"] == pytest.approx(0.5 * doc["config"]["n"], rel=1e-12)
    # exact SGD: the expected update is -eta grad, short of cos 1 only by sampling
    assert s["expected_cos"] > 0.99
    assert 1 - s["expected_cos"] < 5 * s["expected_cos_deficit_floor"]
    # single-sample updates are noisy but downhill on average
    assert 0 < s["cos_ci_low"] <= s["cos_mean"] <= s["cos_ci_high"]
    assert s["frac_positive"] > 0.5
    # an exact gradient field: asymmetry at the finite-difference floor
    assert s["field_asymmetry_max"] < 1e-6
    assert s["field_error"] < 1e-12


def test_run_file_records(quick_run):
    run = pl.open_run(quick_run)
    a = run.alignment["total"]
    seeds = run.series["seeds"]
    assert a["cos"].shape == (seeds["n_measured"][0],)
    assert np.all(a["inner"] == -a["predicted_dloss"])
    # the training curve is seed 0's
    t = run.series["training"]
    assert t["loss_ratio"][0] == pytest.approx(seeds["initial_loss_ratio"][0])
    assert t["loss_ratio"][-1] == pytest.approx(seeds["prediction_loss_ratio"][0])
    assert t["loss_ratio"][-1] < t["loss_ratio"][0]


def test_seeds_are_independent_replicates_and_summarised(quick_run):
    """Three seeds in the quick preset: the primary keys are the t-interval over the
    per-seed means recorded in /series/seeds, each of which is the mean of that seed's
    own per-update cosines."""

    run = pl.open_run(quick_run)
    s, seeds = run.summary, run.series["seeds"]
    k = run.config["seeds"]
    assert k >= 3 and s["seeds_cos_n"] == k and list(seeds["seed"]) == list(range(k))
    per = np.asarray(seeds["cos_mean"])
    for i in range(k):
        table = run.alignment["total" if i == 0 else f"seed{i}/total"]
        cos = np.asarray(table["cos"])[~np.asarray(table["zero_norm"], bool)]
        assert cos.size == seeds["n_measured"][i]
        assert per[i] == pytest.approx(cos.mean(), rel=1e-12)
        assert seeds["cos_ci_low"][i] < per[i] < seeds["cos_ci_high"][i]
    assert_seeds_interval(s, per)
    # as in alignment-atlas, the primary keys are the across-seed ones
    assert (s["cos_mean"], s["cos_ci_low"], s["cos_ci_high"]) == (
        s["seeds_cos_mean"], s["seeds_cos_low"], s["seeds_cos_high"])
    assert s["ci_method"].startswith(f"t over {k} seeds")
    assert s["n_measured"] == seeds["n_measured"].sum()
    assert s["prediction_loss_ratio"] == pytest.approx(seeds["prediction_loss_ratio"].mean())
    # independent sequences: every seed ends at different weights (distinct final losses)
    # and sees different updates
    assert len(set(np.round(seeds["final_loss"], 12))) == k
    assert not np.allclose(run.alignment["total"]["cos"][:50],
                           run.alignment["seed1/total"]["cos"][:50])
    # the seeds agree with one another within the spread their own intervals imply: each
    # seed's mean lies within 4 of its within-run standard errors of the others' mean
    se = (seeds["cos_ci_high"] - seeds["cos_ci_low"]) / (2 * 1.96)
    for i in range(k):
        others = np.delete(per, i).mean()
        assert abs(per[i] - others) < 4 * np.hypot(se[i], se.max() / np.sqrt(k - 1))


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """Short runs with one and with two seeds, every update measured: ``{1: run, 2: run}``."""
    from plasticity.cli import main

    root = tmp_path_factory.mktemp("tp-small")
    runs = {}
    for k in (1, 2):
        out = root / f"tp{k}.h5"
        code = main(["run", "temporal-prediction", "--quiet", "--set", "n_samples=1500",
                     "--set", "expected_draws=200", "--set", "field_states=1", "--set",
                     "field_pairs=20", "--set", "align_every=1", "--set", f"seeds={k}",
                     "--out", str(out)])
        assert code in (0, None)
        runs[k] = pl.open_run(out)
    return runs


def test_one_seed_has_no_interval_over_seeds_and_seed_0_is_unchanged(small_runs):
    assert_seed_contract(small_runs[1], small_runs[2])
    one = small_runs[1].summary
    assert one["cos_ci_low"] < one["cos_mean"] < one["cos_ci_high"]


@pytest.mark.parametrize("settings, words", [
    (["n=0"], ["'n'", "greater than or equal to 1"]),
    (["spectral_radius=1.0"], ["spectral_radius", "less than 1"]),
    (["n=2", "transition=[[0.5,0.9],[-1.2,0.3]]"], ["unstable", "spectral radius"]),
    (["n=2", "transition=[[1.0,0.0],[0.0,0.2]]"], ["unstable", ">= 1"]),
    (["n=3", "transition=[[0.5,0.0],[0.0,0.5]]"], ["transition", "(3, 3)"]),
    (["window=0"], ["window"]),
])
def test_bad_input_exits_2_without_a_file(refuses, settings, words):
    refuses("temporal-prediction", settings, words)


def test_reference_is_the_problems_population_gradient(quick_run, small_runs):
    # with every update measured, the first is judged at the initial weights W0 (snapshot
    # 0): its recorded gradient norm is that of the exact population gradient -(A - W0) P
    from experiments.temporal_prediction import ALIGNMENT, EXPERIMENT
    from plasticity.problems import TemporalPredictionProblem

    run = small_runs[1]
    A, P, W0 = (np.asarray(run.snapshots[k]["value"][0]) for k in ("A", "P", "W"))
    problem = TemporalPredictionProblem(LinearDynamics(A.shape[0], A=A,
                                                       noise_std=run.config["noise_std"]))
    np.testing.assert_allclose(problem.task.P, P, rtol=1e-10)
    g, se = problem.population_gradient({"W": W0})
    assert se is None
    assert run.alignment["total"]["grad_norm"][0] == pytest.approx(
        np.linalg.norm(g["W"]), rel=1e-10)
    quick = pl.open_run(quick_run)
    s = quick.summary
    assert isinstance(s["ci_method"], str) and s["ci_method"]
    assert s["n_measured"] == quick.config["seeds"] * (quick.config["n_samples"]
                                                       // quick.config["align_every"])
    assert ALIGNMENT["problem"] == problem.name == EXPERIMENT.alignment.problem
    assert ALIGNMENT["reference"] == EXPERIMENT.alignment.reference == "population"
    assert EXPERIMENT.alignment.rule == "temporal_prediction" in ALIGNMENT["rules"]
