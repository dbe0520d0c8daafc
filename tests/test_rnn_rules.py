"""The online rules of the leaky rate RNN (issue 17): exact identities, unbiasedness and
refusals.

Problems are small delayed-copy tasks (:class:`plasticity.rules.example_problems.
DelayedCopy`) on a :class:`~plasticity.problems.recurrent.RecurrentProblem`; the exact
gradient is the problem's BPTT batch gradient.
"""

import numpy as np
import pytest

from plasticity.analysis import expected_cosine
from plasticity.errors import InvalidParameterError, RuleError
from plasticity.problems.recurrent import RecurrentProblem
from plasticity.rules import (
    BPTT,
    KFRTRL,
    RFLO,
    RTRL,
    UORO,
    EProp,
    NodePerturbationInTime,
    ReadoutOnly,
    TruncatedBPTT,
)
from plasticity.rules.base import check_applies
from plasticity.rules.eprop import eprop_estimate
from plasticity.rules.example_problems import DelayedCopy, feedforward_problem
from plasticity.substrates.activations import get_activation

RECURRENT = ("W_in", "W_rec", "b")


def _setup(*, alpha=0.6, n=5, length=9, delay=3, batch=3, g=1.5, seed=0, zero_rec=False):
    problem = RecurrentProblem(DelayedCopy(length=length, delay=delay), n_hidden=n,
                               alpha=alpha, g=g, n_eval=4)
    rng = np.random.default_rng([seed, 0])
    params = problem.init_params(rng)
    params["b"] = 0.2 * rng.standard_normal(n)
    if zero_rec:
        params["W_rec"] = np.zeros((n, n))
    data = problem.batch(batch, np.random.default_rng([seed, 1]))
    return problem, params, data, problem.signals(params, data), \
        problem.batch_gradient(params, data)


def _rel_err(est, grad, keys=RECURRENT):
    """Largest |est - grad| over the arrays, relative to the largest |grad|."""
    scale = max(np.abs(grad[k]).max() for k in keys)
    return max(np.abs(est[k] - grad[k]).max() for k in keys) / scale


def _estimate(rule, signals, params, rng=None):
    """The rule's gradient estimate (-delta / eta)."""
    delta, _ = rule.update(signals, rule.init(params), params, rng=rng)
    return {k: -d / rule.eta for k, d in delta.items()}


# -- e-prop's factorisation identity (acceptance) ---------------------------------------

@pytest.mark.parametrize("alpha", [1.0, 0.6, 0.2])
def test_eprop_with_the_ideal_learning_signal_is_bptt(alpha):
    """sum_t L*_t eps_t = BPTT's gradient for W_in, W_rec, b, for any W_rec.

    Condition covered: the leaky rate RNN with observable z_t = h_t, the unit's own leak
    (1 - alpha) as its only hidden path (so the trace is
    eps_t = (1 - alpha) eps_{t-1} + alpha f'(a_t) pre_t), and the ideal learning signal
    L*_t = delta_t - (1 - alpha) delta_{t+1} (delta_t = dL/dh_t from BPTT,
    delta_{T+1} = 0): the total derivative of the loss with respect to z_t through the
    readout and the recurrent synapses W_rec (Bellec et al. 2020, eq. 3), not through
    the leak. Summation by parts makes the identity exact, so only rounding remains
    (~1e-16 relative per term over T = 9 steps): 1e-10.
    """
    problem, params, data, signals, grad = _setup(alpha=alpha)
    net = problem.net
    _, delta = net.backward(params, net.forward(params, data.x), signals["error"])
    ideal = delta.copy()
    ideal[:, :-1] -= (1.0 - alpha) * delta[:, 1:]
    est = eprop_estimate(net, params, signals, ideal)
    assert _rel_err(est, grad) < 1e-10
    # and the identity is not trivial: e-prop's own signal W_out^T e_t misses the
    # recurrent path of the credit by far more than rounding
    sym = _estimate(EProp(net=net), signals, params)
    assert _rel_err(sym, grad) > 1e-3


def test_symmetric_eprop_is_exact_without_recurrent_weights():
    """With W_rec = 0 the recurrent part of L* vanishes, L*_t = W_out^T e_t, so symmetric
    e-prop (any alpha; here 0.4) equals BPTT for W_in and b (W_rec's gradient too, though
    W_rec itself is zero), up to rounding."""
    problem, params, _, signals, grad = _setup(alpha=0.4, zero_rec=True)
    est = _estimate(EProp(net=problem.net), signals, params)
    assert _rel_err(est, grad, keys=(*RECURRENT, "W_out", "c")) < 1e-10


# -- RFLO and e-prop coincide for this model --------------------------------------------

def test_rflo_is_eprop_with_random_feedback():
    problem, params, _, signals, _ = _setup()
    net = problem.net
    rflo, eprop = RFLO(net=net, seed=7), EProp(net=net, feedback="random", seed=7)
    np.testing.assert_array_equal(rflo.init(params)["feedback"],
                                  eprop.init(params)["feedback"])
    a, b = _estimate(rflo, signals, params), _estimate(eprop, signals, params)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=0)
    # symmetric e-prop is RFLO with B = W_out^T given as its feedback
    state = {"feedback": params["W_out"].T.copy()}
    c = {k: -d / rflo.eta for k, d in rflo.update(signals, state, params)[0].items()}
    d = _estimate(EProp(net=net), signals, params)
    for k in c:
        np.testing.assert_allclose(c[k], d[k], rtol=1e-12, atol=1e-15)
    # another seed is another B, and another update
    other = _estimate(RFLO(net=net, seed=8), signals, params)
    assert _rel_err(other, a) > 1e-3


# -- truncated BPTT ---------------------------------------------------------------------

def test_truncated_bptt_with_k_at_least_T_is_bptt():
    problem, params, _, signals, grad = _setup(length=9)
    for k in (9, 30):
        est = _estimate(TruncatedBPTT(net=problem.net, k=k), signals, params)
        assert _rel_err(est, grad, keys=(*RECURRENT, "W_out", "c")) < 1e-12
    # a shorter window drops the credit of the earliest inputs (delay 3 > k = 2)
    short = _estimate(TruncatedBPTT(net=problem.net, k=2), signals, params)
    assert _rel_err(short, grad) > 1e-3


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_truncated_bptt_with_k_1_is_the_immediate_gradient(alpha):
    """k = 1: each step's error reaches only its own pre-activation, so the estimate is
    sum_t alpha f'(a_t) (W_out^T e_t) pre_t^T, pre_t = (h_{t-1}, x_t, 1): no credit
    through time, not even through the leak. For alpha = 1 the e-prop trace
    eps_t = f'(a_t) pre_t has no memory either, and the two rules coincide."""
    problem, params, _, signals, _ = _setup(alpha=alpha)
    net = problem.net
    est = _estimate(TruncatedBPTT(net=net, k=1), signals, params)
    da = alpha * get_activation(net.activation).df(signals["preact"]) \
        * (signals["error"] @ params["W_out"])
    expect = {"W_rec": np.einsum("bti,btj->ij", da, signals["hidden_prev"]),
              "W_in": np.einsum("bti,btj->ij", da, signals["input"]),
              "b": da.sum(axis=(0, 1))}
    assert _rel_err(est, expect) < 1e-12
    eprop = _estimate(EProp(net=net), signals, params)
    if alpha == 1.0:
        assert _rel_err(eprop, est) < 1e-12
    else:  # the leak gives e-prop's trace a memory that BPTT(1) lacks
        assert _rel_err(eprop, est) > 1e-3


@pytest.mark.parametrize("k", [0, -2, 1.5, "3x"])
def test_truncated_bptt_refuses_a_bad_window(k):
    problem, *_ = _setup()
    with pytest.raises(InvalidParameterError) as info:
        TruncatedBPTT(net=problem.net, k=k)
    message = str(info.value)
    assert "k" in message and "\n" not in message


# -- the exact references and the baseline ------------------------------------------------

def test_bptt_rule_is_the_exact_gradient_step():
    problem, params, _, signals, grad = _setup()
    delta, _ = BPTT(net=problem.net, eta=0.3).update(signals, None, params)
    for k in grad:
        np.testing.assert_allclose(delta[k], -0.3 * grad[k], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_rtrl_rule_equals_bptt(alpha):
    # forward and backward mode compute the same sums in another order: rounding only
    problem, params, _, signals, grad = _setup(alpha=alpha)
    est = _estimate(RTRL(net=problem.net), signals, params)
    assert _rel_err(est, grad, keys=(*RECURRENT, "W_out", "c")) < 1e-10


def test_readout_only_learns_the_readout_and_nothing_else():
    problem, params, _, signals, grad = _setup()
    delta, _ = ReadoutOnly(net=problem.net, eta=0.2).update(signals, None, params)
    for k in ("W_out", "c"):
        np.testing.assert_allclose(delta[k], -0.2 * grad[k], rtol=1e-12, atol=1e-15)
    for k in RECURRENT:
        assert delta[k].shape == params[k].shape and not np.any(delta[k])


# -- unbiased estimators ----------------------------------------------------------------

class _RecurrentPart:
    """The rule restricted to W_in, W_rec and b: W_out and c are exact for every rule
    here and would lift every cosine toward 1."""

    def __init__(self, rule):
        self.rule, self.name = rule, rule.name

    def init(self, params):
        return self.rule.init(params)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        delta, state = self.rule.update(signals, state, params, rng=rng)
        return {k: delta[k] for k in RECURRENT}, state


def _unbiased_setup(alpha):
    # n = 8 units, T = 20 steps, g = 1.5: credit must travel 5 steps back (delay 5), so
    # the approximations without it (e-prop) fall far from the gradient (cosine ~0.6)
    return _setup(alpha=alpha, n=8, length=20, delay=5, batch=2, seed=0)


@pytest.mark.parametrize("cls", [UORO, KFRTRL])
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_uoro_and_kfrtrl_are_unbiased(cls, alpha):
    """The debiased expected-update cosine with the exact (BPTT = RTRL) gradient of
    W_in, W_rec, b at a fixed state and batch is >= 0.95 (acceptance for UORO).

    Draws: the measured one-draw SNR |E d|^2 / tr Cov is ~0.012 (alpha = 1) and ~0.056
    (alpha = 0.5) for UORO, ~0.11 and ~0.44 for KF-RTRL. At 2000 draws UORO's bootstrap
    SE of the debiased cosine was ~0.007 (alpha = 1, three generators); at the 4000
    draws used here it measured 0.003 (cosine 0.9998, interval from 0.992), so the 0.95
    line lies > 10 SE below an unbiased rule's cosine of 1. The cosine alone does not
    see a bias along the gradient (a rescaling); the enumeration test below checks the
    expectation exactly.
    """
    problem, params, _, signals, grad = _unbiased_setup(alpha)
    rule = cls(net=problem.net, eta=1.0)
    g = {k: grad[k] for k in RECURRENT}
    out = expected_cosine(_RecurrentPart(rule), signals, None, params, g, n_draws=4000,
                          rng=3, n_boot=300)
    assert out["expected_cos"] >= 0.95, out["expected_cos"]
    assert out["expected_cos_ci_low"] >= 0.95


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_uoro_and_kfrtrl_expectations_are_the_gradient_exactly(alpha):
    """Averaged over *every* sign pattern (2^(T n) = 256 for UORO with n = 2, T = 4;
    2^T = 64 for KF-RTRL with n = 3, T = 6, one sequence), the estimate equals the exact
    gradient to rounding. Exact because the rho's depend only on earlier steps and on
    |nu| (not on the current signs), so E[M~_t | past] = J_t M~_{t-1} + Mbar_t."""
    from itertools import product

    from plasticity.rules.rnn_unbiased import kfrtrl_estimate, uoro_estimate

    for estimate, n, length, shape in ((uoro_estimate, 2, 4, (1, 4, 2)),
                                       (kfrtrl_estimate, 3, 6, (1, 6))):
        problem, params, _, signals, grad = _setup(alpha=alpha, n=n, length=length,
                                                   delay=1, batch=1, g=2.0)
        size = int(np.prod(shape))
        total = {k: np.zeros_like(grad[k]) for k in RECURRENT}
        for bits in product((-1.0, 1.0), repeat=size):
            est = estimate(problem.net, params, signals, np.reshape(bits, shape))
            for k in RECURRENT:
                total[k] += est[k] / 2**size
        assert _rel_err(total, grad) < 1e-10, estimate.__name__
        # one pattern alone is not the gradient (the test averages real noise)
        one = estimate(problem.net, params, signals, np.ones(shape))
        assert _rel_err(one, grad) > 1e-3


def test_the_unbiasedness_check_rejects_a_biased_rule():
    # the control of the test above: e-prop (deterministic) on the same problem has a
    # cosine far below 0.95
    problem, params, _, signals, grad = _unbiased_setup(1.0)
    g = {k: grad[k] for k in RECURRENT}
    out = expected_cosine(_RecurrentPart(EProp(net=problem.net)), signals, {"feedback": None},
                          params, g, n_draws=2, rng=0, n_boot=0)
    assert out["expected_cos"] < 0.8


def test_node_perturbation_in_time_follows_the_gradient():
    """Unbiased up to O(sigma^2) (sigma = 1e-3): the debiased cosine of the recurrent
    part is >= 0.95. One-draw SNR ~0.0098 here; 3000 draws gave a bootstrap SE of
    0.003-0.005 (three generators), so the 0.9 bound on the interval's lower end is
    > 10 SE below 1."""
    problem, params, _, signals, grad = _unbiased_setup(0.5)
    rule = NodePerturbationInTime(net=problem.net, sigma=1e-3)
    g = {k: grad[k] for k in RECURRENT}
    out = expected_cosine(_RecurrentPart(rule), signals, None, params, g, n_draws=3000,
                          rng=5, n_boot=300)
    assert out["expected_cos"] >= 0.95 and out["expected_cos_ci_low"] >= 0.9
    # the readout is the exact gradient, not perturbed
    delta, _ = rule.update(signals, None, params, rng=np.random.default_rng(0))
    for k in ("W_out", "c"):
        np.testing.assert_allclose(delta[k], -rule.eta * grad[k], rtol=1e-12, atol=1e-15)


def test_noisy_rules_are_reproducible_from_their_generator():
    problem, params, _, signals, _ = _setup()
    for rule in (UORO(net=problem.net), KFRTRL(net=problem.net),
                 NodePerturbationInTime(net=problem.net)):
        a = _estimate(rule, signals, params, rng=np.random.default_rng(11))
        b = _estimate(rule, signals, params, rng=np.random.default_rng(11))
        c = _estimate(rule, signals, params, rng=np.random.default_rng(12))
        for k in RECURRENT:
            np.testing.assert_array_equal(a[k], b[k])
        assert _rel_err(c, a) > 1e-6
        with pytest.raises(RuleError, match="needs rng"):
            rule.update(signals, None, params)


# -- the wrong problem --------------------------------------------------------------------

@pytest.mark.parametrize("cls", [EProp, RFLO, UORO, KFRTRL, TruncatedBPTT, BPTT, RTRL,
                                 ReadoutOnly, NodePerturbationInTime])
def test_rnn_rules_refuse_a_feedforward_problem(cls):
    problem, *_ = _setup()
    rule = cls(net=problem.net)
    with pytest.raises(RuleError) as info:
        check_applies(rule, "feedforward", "problem 'teacher'")
    assert "recurrent" in str(info.value) and "\n" not in str(info.value)
    # and the rule itself, handed a feedforward network's signals, says what it lacks
    _, ff_params, ff_signals, *_ = feedforward_problem(0)
    with pytest.raises(RuleError) as info:
        rule.update(ff_signals, rule.init(ff_params), ff_params,
                    rng=np.random.default_rng(0))
    assert "recurrent signal" in str(info.value) and "\n" not in str(info.value)
