"""Surrogate-gradient BPTT and e-prop on the recurrent escape-noise network.

1. ``bptt`` is the exact gradient of the surrogate graph of the realised trials: the loss
   of the straight-through network ``zt_t = z_t + Psi(u_t(W)) - Psi(u_t(W0))`` (``Psi``
   the antiderivative of the pseudo-derivative ``psi``, so ``zt = z`` at ``W0`` and
   ``dzt/du = psi``) is a smooth function of the weights whose gradient at ``W0`` is,
   by the chain rule through the same graph, the surrogate BPTT gradient: central
   differences of it (the shared checker) must agree.
2. Bellec et al.'s factorisation (eq. 1) is exact: with the ideal learning signal
   (``bptt``'s ``learning_signal``, every path from ``z_j^t`` to the loss except the
   neuron's own adaptation), ``sum_t L^t e^t`` equals the BPTT gradient to 1e-10 for any
   ``W_rec``, ALIF neurons included, with and without the reset gradient.
3. The exact condition under which the *rule* ``EPropSpiking`` (symmetric feedback)
   equals ``SurrogateBPTT``: ``W_rec = 0`` and no gradient through the reset, so that the
   ideal learning signal is the readout's alone; adaptation on. With ``W_rec != 0`` they
   differ.
"""

import numpy as np
import pytest

from plasticity.errors import RuleError
from plasticity.rules.eprop_spiking import (
    EPropSpiking,
    SurrogateBPTT,
    bptt,
    eprop_gradient,
    pseudo_derivative,
)
from plasticity.spiking.recurrent_escape import PatternTask, RecurrentEscapeNet
from plasticity.testing import check_grads

GAMMA, WIDTH = 0.3, 6.0


def _trials(W_rec_zero=False, seed=0, n_trials=2):
    net = RecurrentEscapeNet(n_in=3, n_rec=4, n_out=2, n_adaptive=2, beta_mv=2.0)
    task = PatternTask(net, n_steps=25, n_patterns=2, rate_hz=150.0, rng=seed,
                       mask_from=5)
    params = net.init_params(seed + 1, in_mean_mv=2.5, rec_sd_mv=6.0)
    if W_rec_zero:
        params["W_rec"] = np.zeros_like(params["W_rec"])
    signals = task.trial_signals(params, np.arange(n_trials) % 2,
                                 np.arange(n_trials) + 10 * seed)
    return net, task, params, signals


def _Psi(u):
    """Antiderivative of psi = (gamma/w) max(0, 1 - |u|/w) (constant beyond |u| = w)."""
    c = np.clip(u, -WIDTH, WIDTH)
    return (GAMMA / WIDTH) * (c - c * np.abs(c) / (2 * WIDTH))


def _straight_through_loss(net, task, signals, reset_gradient):
    """Mean trial loss of the straight-through network around the realised trials."""
    z_real = signals["spikes"].astype(float)
    u0 = signals["v"] - net.v_th_mv - net.beta() * signals["a"]
    X, target, mask = signals["input"], signals["target"], task.mask
    K, T, n = z_real.shape

    def loss(p):
        v, a, y = np.zeros((K, n)), np.zeros((K, n)), np.zeros((K, net.n_out))
        zt_prev, zr_prev = np.zeros((K, n)), np.zeros((K, n))
        total = np.zeros(K)
        for t in range(T):
            v = net.alpha * v + X[:, t] @ p["W_in"].T + zt_prev @ p["W_rec"].T \
                - net.v_th_mv * (zt_prev if reset_gradient else zr_prev)
            a = net.rho * a + zt_prev
            u = v - net.v_th_mv - net.beta() * a
            zt = z_real[:, t] + _Psi(u) - _Psi(u0[:, t])
            y = net.kappa * y + zt @ p["W_out"].T
            total += mask[t] * np.sum((y - target[:, t]) ** 2, axis=1)
            zt_prev, zr_prev = zt, z_real[:, t]
        return float(np.mean(total) / (mask.sum() * net.n_out))

    return loss


@pytest.mark.parametrize("reset_gradient", [False, True])
def test_bptt_is_the_gradient_of_the_surrogate_graph(reset_gradient):
    net, task, params, signals = _trials()
    psi = pseudo_derivative(signals, GAMMA, WIDTH)
    assert np.mean(psi > 0) > 0.2  # the surrogate carries gradient at many steps
    f = _straight_through_loss(net, task, signals, reset_gradient)
    # at W0 the straight-through network is the realised one
    assert f(params) == pytest.approx(float(signals["trial_loss"].mean()), rel=1e-12)
    grad = bptt(signals, params, gamma=GAMMA, width_mv=WIDTH,
                reset_gradient=reset_gradient)["grad"]
    # Psi is C^1 with piecewise-constant psi': central differences with eps = 1e-6 are off
    # by ~eps^2 f''' on the smooth pieces and ~eps |jump psi'| near a kink, both far below
    # 1e-5 of each array's largest entry.
    check_grads(f, params, grad, eps=1e-6, rtol=1e-5, relative_to="array")


@pytest.mark.parametrize("reset_gradient", [False, True])
def test_eprop_with_the_ideal_learning_signal_is_bptt(reset_gradient):
    net, task, params, signals = _trials()
    assert np.abs(params["W_rec"]).max() > 1.0 and net.n_adaptive > 0
    out = bptt(signals, params, gamma=GAMMA, width_mv=WIDTH, reset_gradient=reset_gradient)
    ep = eprop_gradient(signals, params, out["learning_signal"], gamma=GAMMA,
                        width_mv=WIDTH)
    for k in ("W_in", "W_rec"):
        scale = float(np.abs(out["grad"][k]).max())
        assert scale > 0
        np.testing.assert_allclose(ep[k], out["grad"][k], rtol=1e-10, atol=1e-12 * scale,
                                   err_msg=k)


def _deltas(params, signals, **kw):
    ep, _ = EPropSpiking(eta=1.0, gamma=GAMMA, width_mv=WIDTH, **kw).update(
        signals, None, params)
    bp, _ = SurrogateBPTT(eta=1.0, gamma=GAMMA, width_mv=WIDTH).update(signals, None,
                                                                         params)
    return ep, bp


def test_eprop_rule_equals_surrogate_bptt_without_recurrent_weights():
    # The exact condition: W_rec = 0 and no reset gradient (ALIF adaptation on).
    _, _, params, signals = _trials(W_rec_zero=True)
    ep, bp = _deltas(params, signals)
    for k in ("W_in", "W_rec", "W_out"):
        scale = float(np.abs(bp[k]).max())
        assert scale > 0
        np.testing.assert_allclose(ep[k], bp[k], rtol=1e-10, atol=1e-12 * scale, err_msg=k)


def test_eprop_rule_differs_from_bptt_with_recurrent_weights():
    _, _, params, signals = _trials()
    ep, bp = _deltas(params, signals)
    np.testing.assert_allclose(ep["W_out"], bp["W_out"], rtol=1e-12)  # exact in both
    for k in ("W_in", "W_rec"):
        rel = np.linalg.norm(ep[k] - bp[k]) / np.linalg.norm(bp[k])
        assert rel > 1e-3, (k, rel)


def test_random_feedback_uses_its_matrix():
    _, _, params, signals = _trials()
    rule = EPropSpiking(eta=1.0, feedback="random", seed=3)
    state = rule.init(params)
    assert state["feedback"].shape == params["W_out"].T.shape
    # with B = W_out^T it is symmetric e-prop
    sym, _ = EPropSpiking(eta=1.0).update(signals, None, params)
    as_sym, _ = rule.update(signals, {"feedback": params["W_out"].T.copy()}, params)
    rnd, _ = rule.update(signals, state, params)
    for k in sym:
        np.testing.assert_allclose(as_sym[k], sym[k], rtol=1e-12, atol=1e-15)
    assert np.linalg.norm(rnd["W_in"] - sym["W_in"]) > 1e-3 * np.linalg.norm(sym["W_in"])


def test_missing_signals_are_named():
    _, _, params, signals = _trials()
    with pytest.raises(RuleError, match="needs the recurrent spiking signals v"):
        SurrogateBPTT().update({k: v for k, v in signals.items() if k != "v"}, None, params)
    with pytest.raises(RuleError, match="random feedback expects the state"):
        EPropSpiking(feedback="random").update(signals, None, params)
