"""Spiking rules and the spike-count task: the rule protocol, what the rules compute,
node perturbation's expected update, and the task's validation."""

import numpy as np
import pytest

from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules.checks import check_rule
from plasticity.rules.spiking import PairSTDPTrial, SpikeNodePerturbation, stdp_pair_change
from plasticity.spiking.oracle import SpikingGradientOracle
from plasticity.tasks.spiking import EscapeLIF, SpikeCountTask

FULL_CHECKS = ["protocol", "init", "keywords", "update", "returns (delta, state)", "delta",
               "params not mutated", "signals not mutated", "state not mutated",
               "deterministic", "state threading", "delta not reused"]


def _setup(stdp=None, seed=0):
    task = SpikeCountTask(n_inputs=8, n_outputs=2, n_patterns=2, rng=seed)
    params = task.init_params(seed + 1, mean_mv=10.0)
    trial = task.trial(params, seed + 2, stdp=stdp)
    return task, params, trial


@pytest.mark.parametrize("rule", [PairSTDPTrial(), SpikeNodePerturbation()])
def test_rules_pass_check_rule(rule):
    task, params, trial = _setup()
    report = check_rule(rule, params, trial.signals, reward=trial.reward)
    assert report["passed"] == FULL_CHECKS
    assert report["delta_keys"] == ["W_out"]


def test_node_perturbation_passes_check_rule_from_a_warm_state():
    task, params, trial = _setup()
    rule = SpikeNodePerturbation()
    state = rule.update(trial.signals, rule.init(params), params, reward=-3.0)[1]

    class Warm(SpikeNodePerturbation):
        def init(self, params):
            return state

    report = check_rule(Warm(), params, trial.signals, reward=trial.reward)
    assert report["passed"] == FULL_CHECKS


def test_stdp_rule_uses_the_kernel_change_or_recomputes_it():
    rule = PairSTDPTrial(a_plus=0.02, a_minus=0.01, eta=0.5)
    task, params, trial = _setup(stdp=rule.stdp_params())
    s = trial.signals
    want = stdp_pair_change(s["pre_spikes"], s["post_spikes"], s["dt_ms"], 17.0, 34.0,
                            0.02, 0.01)
    assert s["post_spikes"].sum() > 0 and np.any(want)
    np.testing.assert_allclose(s["stdp"], want, rtol=1e-10, atol=1e-15)
    delta, _ = rule.update(s, None, params)
    np.testing.assert_allclose(delta["W_out"], 0.5 * want, rtol=1e-10, atol=1e-15)
    # other parameters than the kernel's: recomputed from the spike trains
    other = PairSTDPTrial(a_plus=0.03, a_minus=0.0, eta=1.0)
    delta, _ = other.update(s, None, params)
    np.testing.assert_allclose(delta["W_out"], stdp_pair_change(
        s["pre_spikes"], s["post_spikes"], s["dt_ms"], 17.0, 34.0, 0.03, 0.0), rtol=1e-12)


def test_node_perturbation_update_and_baseline():
    task, params, trial = _setup()
    rule = SpikeNodePerturbation(eta=0.1, baseline_rate=0.5)
    state = rule.init(params)
    delta, state = rule.update(trial.signals, state, params, reward=-4.0)
    assert not delta["W_out"].any()  # first trial of a stimulus: only sets the baseline
    assert state["baseline"] == {trial.pattern: -4.0}
    delta, state2 = rule.update(trial.signals, state, params, reward=-2.0)
    np.testing.assert_allclose(delta["W_out"], 0.1 * 2.0 * trial.signals["score"])
    assert state2["baseline"][trial.pattern] == pytest.approx(-3.0)
    assert state["baseline"][trial.pattern] == -4.0  # not mutated
    with pytest.raises(RuleError, match="needs reward"):
        rule.update(trial.signals, state, params)
    with pytest.raises(RuleError, match="needs the signal 'score'"):
        rule.update({}, state, params, reward=1.0)


def test_node_perturbation_expected_update_is_minus_eta_gradient():
    """E[delta] = -eta grad L for a fixed baseline: compared with the closed form."""
    task = SpikeCountTask(n_inputs=10, n_outputs=2, n_patterns=2, duration_ms=150.0,
                          neuron=EscapeLIF(reset=False), rng=2)
    params = task.init_params(3)
    _, exact = task.exact_loss_and_gradient(params)
    eta, K = 0.05, 3000
    rule = SpikeNodePerturbation(eta=eta)
    rng = np.random.default_rng(4)
    mean = np.zeros_like(params["W_out"])
    for m in range(task.n_patterns):
        out = task.simulate(params, m, K, rng)
        state = {"baseline": {m: -5.0}}
        for k in range(K):
            sig = {"score": out["score"][k], "pattern": m}
            mean += rule.update(sig, state, params, reward=-out["loss"][k])[0]["W_out"]
    mean /= K * task.n_patterns
    g = exact["W_out"]
    cos = -np.sum(mean * g) / (np.linalg.norm(mean) * np.linalg.norm(g))
    # not a lucky seed: over seeds 10-21 cos was 0.996-0.999 and the norm ratio
    # 0.93-1.03 (sd 0.027), so 0.15 is 5.5 standard deviations of the estimate
    assert cos > 0.95
    assert np.linalg.norm(mean) / (eta * np.linalg.norm(g)) == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("cls, kw, match", [
    (PairSTDPTrial, {"tau_plus_ms": 0.0}, "'tau_plus_ms' parameter of PairSTDPTrial"),
    (PairSTDPTrial, {"a_minus": -1.0}, "'a_minus' parameter of PairSTDPTrial"),
    (SpikeNodePerturbation, {"eta": -1.0}, "'eta' parameter of SpikeNodePerturbation"),
    (SpikeNodePerturbation, {"baseline_rate": 1.5}, "'baseline_rate'"),
])
def test_rule_hyperparameters_are_validated(cls, kw, match):
    with pytest.raises(InvalidParameterError, match=match) as info:
        cls(**kw)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kw, match", [
    ({"n_inputs": 0}, "'n_inputs' parameter must be an integer >= 1"),
    ({"n_patterns": 2.5}, "'n_patterns'"),
    ({"duration_ms": -1.0}, "'duration_ms' parameter must be a finite number > 0"),
    ({"rate_hz": 2000.0}, "at most one spike per step"),
    ({"target_counts": [[1.0, 2.0]]}, "'target_counts' parameter must be an array of "
                                      "shape \\(3, 2\\)"),
    ({"target_rate_hz": (10.0, 5.0)}, "low <= high"),
    ({"neuron": {"tau_m_ms": 0.0}}, "'tau_m_ms' parameter of EscapeLIF"),
    ({"neuron": 3}, "must be an EscapeLIF"),
])
def test_task_validation(kw, match):
    args = {"n_inputs": 4, "n_outputs": 2, "n_patterns": 3, "rng": 0, **kw}
    with pytest.raises(InvalidParameterError, match=match) as info:
        SpikeCountTask(**args)
    assert "\n" not in str(info.value)


def test_task_trial_signals_and_checks():
    task, params, trial = _setup()
    s = trial.signals
    assert s["pre_spikes"].shape == (task.n_steps, 8)
    assert s["post_spikes"].shape == (task.n_steps, 2)
    assert s["score"].shape == (2, 8)
    np.testing.assert_array_equal(s["counts"], s["post_spikes"].sum(axis=0))
    assert s["trial_loss"] == pytest.approx(np.mean((s["counts"] - s["target"]) ** 2))
    assert trial.reward == -s["trial_loss"]
    with pytest.raises(InvalidParameterError, match="'W_out' has shape"):
        task.simulate({"W_out": np.zeros((3, 8))}, 0, 2, 0)
    with pytest.raises(InvalidParameterError, match="pattern 5 is not in"):
        task.simulate(params, 5, 2, 0)
    with pytest.raises(InvalidParameterError, match="'n_trials' parameter"):
        task.simulate(params, 0, 0, 0)


def test_oracle_loss_matches_task_trials():
    task, params, _ = _setup()
    oracle = SpikingGradientOracle(task, n_trials=200)
    est = oracle.estimate(params, rng=5)
    rng = np.random.default_rng(5)
    want = np.mean([task.simulate(params, m, 200, rng)["loss"].mean() for m in range(2)])
    assert est.loss == pytest.approx(want, rel=1e-12)
