"""Bandits, the softmax policy's closed-form expected return and gradient (against finite
differences), and the reward-modulated rules (contract checks, exact expected updates)."""

import numpy as np
import pytest

from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rl.bandit import BanditTask, BernoulliBandit, GaussianBandit
from plasticity.rules.checks import check_rule
from plasticity.rules.reward import Reinforce, ThreeFactor
from plasticity.testing import check_grads


def _tasks():
    return [
        BanditTask(GaussianBandit(means=[0.2, -0.4, 1.5, 0.6], sigma=0.3), beta=1.7),
        BanditTask(BernoulliBandit(means=[0.1, 0.9, 0.5]), beta=0.6,
                   context=[1.0, -0.5, 2.0]),
        BanditTask(GaussianBandit(means=[1.0, 3.0]), beta=3.0, context=[0.3, 0.7]),
    ]


@pytest.mark.parametrize("task", _tasks())
def test_policy_gradient_matches_central_differences(task):
    rng = np.random.default_rng(1)
    params = task.init_params(rng, scale=0.7)
    # step 1e-5: truncation (eps^2 / 6) |f'''| ~ 2e-11 |f'''|, rounding ~ u (1 + |f|) / eps
    # ~ 4e-11 (measured worst error 7e-11 of the largest entry). Allowed: 1e-8 of the
    # largest entry + the rounding floor 16 u (1 + |f|) / eps; with n <= 9 entries,
    # sqrt(n) times that is at most 2.6e-8 of |exact| here, inside the old criterion
    # |exact - fd| / |exact| < 1e-7.
    check_grads(task.expected_return, params, task.policy_gradient(params), eps=1e-5,
                rtol=1e-8)
    check_grads(task.loss, params, task.loss_gradient(params), eps=1e-5, rtol=1e-8)


def test_expected_return_is_the_policy_average():
    task = _tasks()[0]
    params = task.init_params(np.random.default_rng(0), scale=1.0)
    pi = task.probs(params)
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)
    assert task.expected_return(params) == pytest.approx(float(pi @ task.bandit.mu))
    # a uniform policy at W = 0
    assert task.expected_return(task.init_params()) == pytest.approx(np.mean([0.2, -0.4, 1.5,
                                                                              0.6]))
    # huge preferences do not overflow
    big = {"W_out": np.array([[1e4], [0.0], [-1e4], [5.0]])}
    assert task.expected_return(big) == pytest.approx(0.2)


def test_pull_statistics():
    rng = np.random.default_rng(3)
    b = BernoulliBandit(means=[0.2, 0.7])
    # n = 20000 draws: SE of the mean <= 0.0036; 5 SE tolerance
    assert np.mean([b.pull(1, rng) for _ in range(20000)]) == pytest.approx(0.7, abs=0.018)
    g = GaussianBandit(means=[0.0, -1.0], sigma=2.0)
    draws = np.array([g.pull(1, rng) for _ in range(20000)])
    assert draws.mean() == pytest.approx(-1.0, abs=5 * 2.0 / np.sqrt(20000))
    assert draws.std() == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("make", [
    lambda: GaussianBandit(means=[0.5]),
    lambda: GaussianBandit(means=[0.5, float("nan")]),
    lambda: GaussianBandit(means=[0.5, 1.0], sigma=-1.0),
    lambda: GaussianBandit(means=[0.5, 1.0], bogus=1),
    lambda: BernoulliBandit(means=[0.5, 1.5]),
    lambda: BanditTask(GaussianBandit(means=[0.0, 1.0]), beta=0.0),
    lambda: BanditTask(GaussianBandit(means=[0.0, 1.0]), context=[]),
    lambda: BanditTask(GaussianBandit(means=[0.0, 1.0]), context=[[1.0]]),
    lambda: BanditTask("not a bandit"),
    lambda: GaussianBandit(means=[0.0, 1.0]).pull(2, np.random.default_rng(0)),
    lambda: GaussianBandit(means=[0.0, 1.0]).pull(0.5, np.random.default_rng(0)),
    lambda: BanditTask(GaussianBandit(means=[0.0, 1.0])).probs({"W_out": np.zeros((3, 1))}),
    lambda: Reinforce(eta=0.0),
    lambda: ThreeFactor(baseline_rate=1.5),
])
def test_invalid_input_raises(make):
    with pytest.raises(InvalidParameterError):
        make()


RULES = [Reinforce(eta=0.3, baseline_rate=0.2),
         ThreeFactor(eta=0.3, post_centered=True, baseline_rate=0.2),
         ThreeFactor(eta=0.3, post_centered=False, baseline_init=0.4)]


@pytest.mark.parametrize("rule", RULES, ids=["reinforce", "centred", "uncentred"])
def test_rules_pass_check_rule(rule):
    task = _tasks()[1]
    params = task.init_params(np.random.default_rng(2), scale=0.5)
    out = check_rule(rule, params, task.signals(params, 2), reward=1.0)
    assert out["delta_keys"] == ["W_out"]
    assert out["state_compared"]


@pytest.mark.parametrize("rule", RULES, ids=["reinforce", "centred", "uncentred"])
def test_exact_expected_updates(rule):
    # The rules are linear in r, so E[delta] = sum_a pi_a delta(a, r = mu_a), exactly.
    task = _tasks()[0]
    params = task.init_params(np.random.default_rng(4), scale=0.8)
    state = {"baseline": 0.37}
    pi, mu, beta = task.probs(params), task.bandit.mu, task.beta
    mean = sum(p * rule.update(task.signals(params, a), state, params, reward=mu[a])[0]
               ["W_out"] for a, p in enumerate(pi))
    grad = task.policy_gradient(params)["W_out"]
    if isinstance(rule, Reinforce):
        expected = rule.eta * grad
    elif rule.post_centered:
        expected = rule.eta / beta * grad
    else:
        r_bar = task.expected_return(params)
        expected = rule.eta / beta * grad + rule.eta * (r_bar - 0.37) * np.outer(pi, task.x)
    np.testing.assert_allclose(mean, expected, rtol=1e-12, atol=1e-14)


def test_baseline_is_a_running_mean_and_state_is_fresh():
    task = _tasks()[0]
    params = task.init_params()
    rule = Reinforce(eta=0.1, baseline_rate=0.25)
    state = rule.init(params)
    delta, new = rule.update(task.signals(params, 1), state, params, reward=2.0)
    assert state == {"baseline": 0.0}
    assert new["baseline"] == pytest.approx(0.5)
    # the chosen action's preference goes up after a reward above the baseline
    assert delta["W_out"][1, 0] > 0 and np.all(delta["W_out"][[0, 2, 3], 0] < 0)


@pytest.mark.parametrize("kwargs, words", [
    ({"reward": None}, ["reward"]),
    ({"reward": float("nan")}, ["finite"]),
    ({"signals": {"input": np.ones(1), "action": 9, "probs": np.full(4, 0.25)}},
     ["action"]),
    ({"signals": {"input": np.ones(2), "action": 0, "probs": np.full(4, 0.25)}},
     ["input", "shape"]),
    ({"signals": {"input": np.ones(1), "action": 0}}, ["probs"]),
    ({"state": None}, ["state"]),
])
def test_rule_errors_name_the_problem(kwargs, words):
    task = _tasks()[0]
    params = task.init_params()
    rule = ThreeFactor()
    call = {"signals": task.signals(params, 0), "state": rule.init(params), "reward": 1.0}
    call.update(kwargs)
    with pytest.raises(RuleError) as info:
        rule.update(call["signals"], call["state"], params, reward=call["reward"])
    for word in words:
        assert word in str(info.value)
    assert "three_factor" in str(info.value)
