"""The temporal-prediction, bandit and spiking problems against the Problem protocol.

Exact oracles (temporal prediction, bandit) are checked against central finite
differences of the exact population loss with the shared checker
(:func:`plasticity.testing.check_grads`). Estimates are checked by z-scores: a batch
gradient that claims to be unbiased must average, over ``R`` independent batches, to the
population gradient within 4.5 standard errors of that mean (per component; with the
few components here the chance of a false alarm is below 1e-4); the spiking oracle's
estimate must lie within 4.5 of its own reported standard errors of the closed-form
gradient of neurons without reset (``docs/spiking-gradient.md``).
"""

import numpy as np
import pytest

from plasticity.errors import ProblemError
from plasticity.problems import (
    BanditProblem,
    SpikingEscapeProblem,
    TemporalPredictionProblem,
    check_problem,
)
from plasticity.problems.bandit import BanditTrials, score_function_gradient
from plasticity.problems.spiking import SpikeTrials
from plasticity.problems.temporal import SequenceBatch
from plasticity.testing import check_grads, fd_grads

Z = 4.5


def _z_mean(draws, target):
    """Per-component z-scores of the mean of ``draws`` (R, ...) against ``target``."""
    d = np.asarray(draws, dtype=np.float64)
    se = d.std(axis=0, ddof=1) / np.sqrt(d.shape[0])
    return (d.mean(axis=0) - target) / se


# --------------------------------------------------------------------- temporal prediction

@pytest.fixture(scope="module")
def temporal():
    from plasticity.tasks.sequences import LinearDynamics

    return TemporalPredictionProblem(LinearDynamics(3, 0, spectral_radius=0.8,
                                                    noise_std=0.7), init_std=1.0)


def test_temporal_passes_the_protocol(temporal):
    out = check_problem(temporal, seed=1, batch_size=5)
    assert out["population_se"] is None
    assert isinstance(out["batch"], SequenceBatch) and len(out["batch"]) == 5
    assert out["signals"]["input"].shape == (6, 3)
    assert temporal.name == "temporal-prediction" and temporal.substrate == "sequence"


def test_temporal_gradients_match_finite_differences(temporal):
    rng = np.random.default_rng(2)
    params = temporal.init_params(rng)
    g, se = temporal.population_gradient(params)
    assert se is None
    check_grads(temporal.population_loss, params, g)
    batch = temporal.batch(7, rng)
    check_grads(lambda p: temporal.loss(p, batch), params,
                temporal.batch_gradient(params, batch))


def test_temporal_population_gradient_vanishes_at_A(temporal):
    g, _ = temporal.population_gradient({"W": temporal.task.A})
    assert np.max(np.abs(g["W"])) < 1e-12
    assert temporal.population_loss({"W": temporal.task.A}) == pytest.approx(
        temporal.task.optimal_loss, rel=1e-12)


def test_temporal_batch_is_unbiased(temporal):
    # consecutive pairs of a stationary sequence: each pair is stationary, so the batch
    # gradient and loss are unbiased for the population ones
    rng = np.random.default_rng(3)
    params = temporal.init_params(rng)
    batches = [temporal.batch(4, rng) for _ in range(3000)]
    grads = [temporal.batch_gradient(params, b)["W"] for b in batches]
    z = _z_mean(grads, temporal.population_gradient(params)[0]["W"])
    assert np.max(np.abs(z)) < Z
    losses = [temporal.loss(params, b) for b in batches]
    assert abs(_z_mean(losses, temporal.population_loss(params))) < Z


def test_temporal_rule_on_one_pair_steps_down_the_batch_gradient(temporal):
    from plasticity.rules import TemporalPrediction

    rng = np.random.default_rng(4)
    params = temporal.init_params(rng)
    batch = temporal.batch(1, rng)
    rule = TemporalPrediction(eta=0.01)
    delta, trace = rule.update(temporal.signals(params, batch), None, params)
    np.testing.assert_allclose(delta["W"], -0.01 * temporal.batch_gradient(params, batch)["W"],
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(trace, batch.x[-1])


def test_temporal_batch_continues_a_sequence(temporal):
    rng = np.random.default_rng(5)
    x0 = np.array([1.0, -2.0, 0.5])
    b = temporal.batch(3, rng, x0=x0)
    assert b.x.shape == (4, 3)
    np.testing.assert_array_equal(b.x[0], x0)
    np.testing.assert_array_equal(b.prev[1:], b.nxt[:-1])


@pytest.mark.parametrize("call, words", [
    (lambda p: p.population_gradient({"W": np.zeros((2, 2))}), "shape"),
    (lambda p: p.population_gradient({"V": np.zeros((3, 3))}), "'W'"),
    (lambda p: p.batch(0, 0), "batch size"),
    (lambda p: p.loss({"W": np.zeros((3, 3))}, np.zeros((4, 3))), "SequenceBatch"),
    (lambda p: p.batch(2, 0, x0=np.zeros(2)), "x0"),
])
def test_temporal_bad_input(temporal, call, words):
    with pytest.raises(ProblemError, match=words):
        call(temporal)


def test_temporal_needs_linear_dynamics():
    with pytest.raises(ProblemError, match="LinearDynamics"):
        TemporalPredictionProblem(object())


# --------------------------------------------------------------------------------- bandit

def _bandit(kind="gaussian", beta=2.0, context=None):
    from plasticity.rl.bandit import BanditTask, BernoulliBandit, GaussianBandit

    means = [0.2, 0.5, 0.9, 0.4]
    bandit = (GaussianBandit(means=means, sigma=0.5) if kind == "gaussian"
              else BernoulliBandit(means=means))
    return BanditProblem(BanditTask(bandit, beta=beta, context=context), init_scale=0.5)


@pytest.mark.parametrize("kind", ["gaussian", "bernoulli"])
def test_bandit_passes_the_protocol(kind):
    problem = _bandit(kind)
    out = check_problem(problem, seed=1, batch_size=6)
    assert out["population_se"] is None
    assert out["signals"]["action"].shape == (6,) and out["signals"]["reward"].shape == (6,)
    one = problem.signals(out["params"], problem.batch(1, 0))
    assert isinstance(one["action"], int) and isinstance(one["reward"], float)


def test_bandit_population_gradient_matches_finite_differences():
    problem = _bandit(context=[1.0, -0.5])
    params = problem.init_params(np.random.default_rng(2))
    g, se = problem.population_gradient(params)
    assert se is None
    check_grads(problem.population_loss, params, g)


def test_bandit_realised_loss_has_no_pathwise_gradient():
    # with the trials' random numbers fixed, a small change of W picks the same arms and
    # rewards: the realised batch loss is flat, while the population gradient is not
    problem = _bandit()
    rng = np.random.default_rng(3)
    params = problem.init_params(rng)
    batch = problem.batch(20, rng)
    flat = fd_grads(lambda p: problem.loss(p, batch), params, eps=1e-7)["W_out"]
    g = problem.population_gradient(params)[0]["W_out"]
    assert np.max(np.abs(flat)) < 1e-9 < 1e-3 < np.max(np.abs(g))


@pytest.mark.parametrize("n", [1, 8])
def test_bandit_batch_gradient_is_unbiased(n):
    problem = _bandit()
    rng = np.random.default_rng(4)
    params = problem.init_params(rng)
    batches = [problem.batch(n, rng) for _ in range(4000 // n)]
    draws = [problem.batch_gradient(params, b)["W_out"] for b in batches]
    z = _z_mean(draws, problem.population_gradient(params)[0]["W_out"])
    assert np.max(np.abs(z)) < Z
    losses = [problem.loss(params, b) for b in batches]
    assert abs(_z_mean(losses, problem.population_loss(params))) < Z


def test_bandit_one_trial_is_the_task_trial():
    problem = _bandit()
    params = problem.init_params(np.random.default_rng(5))
    batch = problem.batch(1, np.random.default_rng(6))
    sig = problem.signals(params, batch)
    ref, r = problem.task.trial(params, np.random.default_rng(int(batch.seeds[0])))
    assert sig["action"] == ref["action"]
    assert sig["reward"] == pytest.approx(r, abs=0)
    np.testing.assert_allclose(sig["probs"], ref["probs"], rtol=1e-15)
    assert problem.loss(params, batch) == pytest.approx(-r, abs=0)


def test_bandit_batch_gradient_is_reinforce_on_its_trial():
    # one trial, no baseline: -r beta (e_a - pi) x^T, which Reinforce with baseline 0
    # and eta 1 returns as its ascent step (minus the batch gradient of the loss -R)
    from plasticity.rules.reward import Reinforce

    problem = _bandit(context=[1.0, 0.3])
    params = problem.init_params(np.random.default_rng(7))
    batch = problem.batch(1, np.random.default_rng(8))
    sig = problem.signals(params, batch)
    rule = Reinforce(eta=1.0, baseline_rate=0.0)
    delta, _ = rule.update(sig, rule.init(params), params, reward=sig["reward"])
    np.testing.assert_allclose(delta["W_out"],
                               -problem.batch_gradient(params, batch)["W_out"],
                               rtol=1e-12, atol=1e-15)


def test_leave_one_out_baseline_ignores_a_constant():
    rng = np.random.default_rng(9)
    v, S = rng.normal(size=5), rng.normal(size=(5, 3, 2))
    np.testing.assert_allclose(score_function_gradient(v + 7.0, S),
                               score_function_gradient(v, S), rtol=1e-10, atol=1e-12)
    # one value: no baseline, v S
    np.testing.assert_allclose(score_function_gradient(v[:1], S[:1]), v[0] * S[0],
                               rtol=1e-15)


@pytest.mark.parametrize("call, words", [
    (lambda p: p.batch(0, 0), "batch size"),
    (lambda p: p.loss({"W_out": np.zeros((4, 1))}, BanditTrials(np.zeros(0, np.int64))),
     "at least one"),
    (lambda p: p.population_gradient({"W": np.zeros((4, 1))}), "W_out"),
])
def test_bandit_bad_input(call, words):
    with pytest.raises(ProblemError, match=words):
        call(_bandit())


def test_bandit_needs_a_bandit_task():
    with pytest.raises(ProblemError, match="BanditTask"):
        BanditProblem(object())


# -------------------------------------------------------------------------------- spiking

def _spike_task(reset, **kw):
    from plasticity.tasks.spiking import EscapeLIF, SpikeCountTask

    args = {"n_inputs": 6, "n_outputs": 2, "n_patterns": 2, "duration_ms": 100.0,
            "rate_hz": 30.0, "neuron": EscapeLIF(reset=reset), "rng": 3,
            "target_rate_hz": (10.0, 40.0)}
    args.update(kw)
    return SpikeCountTask(**args)


def test_spiking_passes_the_protocol():
    problem = SpikingEscapeProblem(_spike_task(True), n_trials=20, seed=0)
    out = check_problem(problem, seed=1, batch_size=3)
    se = out["population_se"]["W_out"]
    assert se.shape == (2, 6) and np.all(se > 0)
    assert out["signals"]["score"].shape == (3, 2, 6)
    assert out["signals"]["post_spikes"].shape == (3, 100, 2)
    assert problem.substrate == "spiking"


def test_spiking_oracle_matches_the_closed_form():
    problem = SpikingEscapeProblem(_spike_task(False), n_trials=3000, seed=1)
    params = problem.init_params(np.random.default_rng(2))
    loss, exact = problem.exact_loss_and_gradient(params)
    # the closed form is itself the gradient of the closed-form loss
    check_grads(lambda p: problem.exact_loss_and_gradient(p)[0], params, exact, eps=1e-5)
    g, se = problem.population_gradient(params)
    z = (g["W_out"] - exact["W_out"]) / se["W_out"]
    assert np.max(np.abs(z)) < Z
    est = problem.estimate(params)
    assert abs(est.loss - loss) < Z * est.loss_se


def test_spiking_common_noise_is_reused_and_fresh_noise_is_not():
    task = _spike_task(True)
    params = {"W_out": np.full((2, 6), 5.0)}
    common = SpikingEscapeProblem(task, n_trials=30, seed=4)
    a, b = common.estimate(params), common.estimate(params)
    np.testing.assert_array_equal(a.grad["W_out"], b.grad["W_out"])
    # population_loss uses the gradient's trials
    assert common.population_loss(params) == pytest.approx(a.loss, rel=1e-12)
    fresh = SpikingEscapeProblem(task, n_trials=30, seed=4, noise="fresh")
    c, d = fresh.population_gradient(params)[0], fresh.population_gradient(params)[0]
    assert np.max(np.abs(c["W_out"] - d["W_out"])) > 0.1 * np.max(fresh.estimate(params)
                                                                    .se["W_out"])


def test_spiking_fresh_noise_is_the_oracle_stream():
    # with noise="fresh" a Generator seed is the oracle's stream itself (spiking-alignment
    # keeps its numbers by passing the same child generator it gave the oracle before)
    from plasticity.spiking.oracle import SpikingGradientOracle

    task = _spike_task(True)
    params = {"W_out": np.full((2, 6), 5.0)}
    ours = SpikingEscapeProblem(task, n_trials=10, seed=np.random.default_rng(5),
                                noise="fresh")
    theirs = SpikingGradientOracle(task, n_trials=10, seed=np.random.default_rng(5))
    for _ in range(2):
        np.testing.assert_array_equal(ours.population_gradient(params)[0]["W_out"],
                                      theirs.estimate(params).grad["W_out"])


@pytest.mark.parametrize("n", [1, 4])
def test_spiking_batch_gradient_is_unbiased(n):
    problem = SpikingEscapeProblem(_spike_task(False), n_trials=2, seed=0)
    rng = np.random.default_rng(6)
    params = problem.init_params(rng)
    _, exact = problem.exact_loss_and_gradient(params)
    draws = [problem.batch_gradient(params, problem.batch(n, rng))["W_out"]
             for _ in range(4000 // n)]
    assert np.max(np.abs(_z_mean(draws, exact["W_out"]))) < Z


def test_spiking_one_trial_is_the_task_trial_with_its_draws():
    stdp = {"tau_plus_ms": 20.0, "tau_minus_ms": 20.0, "a_plus": 0.01, "a_minus": 0.012}
    task = _spike_task(True)
    problem = SpikingEscapeProblem(task, n_trials=2, seed=0, stdp=stdp)
    params = {"W_out": np.full((2, 6), 6.0)}
    batch = problem.batch(1, np.random.default_rng(7))
    # the draws of spiking-alignment's next trial: the pattern, then the noise seed
    rng = np.random.default_rng(7)
    assert batch.patterns[0] == rng.integers(task.n_patterns)
    assert batch.seeds[0] == rng.integers(2**62)
    sig = problem.signals(params, batch)
    ref = task.trial(params, int(batch.seeds[0]), pattern=int(batch.patterns[0]), stdp=stdp)
    np.testing.assert_array_equal(sig["post_spikes"], ref.signals["post_spikes"])
    np.testing.assert_array_equal(sig["stdp"], ref.signals["stdp"])
    assert sig["reward"] == pytest.approx(ref.reward, abs=0)
    assert problem.loss(params, batch) == pytest.approx(ref.signals["trial_loss"], abs=0)
    np.testing.assert_allclose(problem.batch_gradient(params, batch)["W_out"],
                               ref.signals["trial_loss"] * ref.signals["score"], rtol=1e-15)


@pytest.mark.parametrize("kwargs, words", [
    ({"noise": "shared"}, "noise"),
    ({"stdp": 1.0}, "stdp"),
    ({"n_trials": 1}, "n_trials"),
])
def test_spiking_bad_construction(kwargs, words):
    from plasticity.errors import PlasticityError

    with pytest.raises(PlasticityError, match=words):
        SpikingEscapeProblem(_spike_task(True), **kwargs)


def test_spiking_bad_input():
    problem = SpikingEscapeProblem(_spike_task(True), n_trials=2, seed=0)
    with pytest.raises(ProblemError, match="batch size"):
        problem.batch(0, 0)
    with pytest.raises(ProblemError, match="SpikeTrials"):
        problem.loss({"W_out": np.zeros((2, 6))}, [0, 1])
    with pytest.raises(ProblemError, match="W_out"):
        problem.population_gradient({"W": np.zeros((2, 6))})
    with pytest.raises(ProblemError, match="SpikeCountTask"):
        SpikingEscapeProblem(object())
    assert isinstance(problem.batch(2, 0), SpikeTrials)
