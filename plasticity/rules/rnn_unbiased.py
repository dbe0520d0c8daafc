"""Unbiased stochastic approximations of RTRL for the leaky rate RNN: UORO and KF-RTRL.

RTRL carries the influence matrix ``M_t = dh_t/dW`` (n x n x m for the stacked
``W = [W_rec, W_in, b]`` of shape (n, m), ``pre_t = (h_{t-1}, x_t, 1)``) forward by
``M_t = J_t M_{t-1} + Mbar_t`` with ``J_t = (1 - alpha) I + diag(D_t) W_rec``,
``D_t = alpha f'(a_t)`` and the immediate influence ``Mbar_t[i, (j, k)] = delta_ij D_t,i
pre_t,k``; the gradient is ``sum_t (W_out^T e_t) . M_t``. Both rules replace ``M_t`` by a
random low-rank factorisation whose expectation is ``M_t`` at every step, so that, with the
parameters held fixed over the sequence and ``e_t`` independent of the draws, the
estimate ``sum_t (W_out^T e_t) . M~_t`` is unbiased for the exact gradient. The scale
factors ``rho`` only balance the two factors' norms (which minimises the variance of the
product, Tallec & Ollivier 2018, Mujika et al. 2018); any positive ``rho`` leaves the
expectation unchanged.

The random signs are drawn from the ``rng`` passed to ``update`` (one per unit, step and
sequence for UORO; one per step and sequence for KF-RTRL), so an update is reproducible
from its generator.

References
----------
Tallec, C., & Ollivier, Y. (2018). Unbiased online recurrent optimization. ICLR.
Mujika, A., Meier, F., & Steger, A. (2018). Approximating real-time recurrent learning
    with random Kronecker factors. NeurIPS 31.
Marschall, O., Cho, K., & Savin, C. (2020). A unified framework of online learning
    algorithms for training recurrent neural networks. JMLR 21(135), 1-34.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from plasticity.rules._rnn_common import (
    descent,
    exact_learning_signal,
    immediate,
    need_rng,
    presynaptic,
    rnn_signals,
    split,
)
from plasticity.rules.base import Rule
from plasticity.substrates.rnn import RateRNN

__all__ = ["KFRTRL", "UORO", "kfrtrl_estimate", "uoro_estimate"]


def _signs(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _low_rank_estimate(kernel, net, params, signals, signs) -> dict:
    """``kernel`` (:func:`~plasticity._kernels.rnn_online.uoro_grad` or ``kfrtrl_grad``)
    on the checked signals and the random ``signs``, cut into ``W_rec``, ``W_in``, ``b``."""
    g = kernel(immediate(net, signals["preact"]), presynaptic(signals),
               exact_learning_signal(signals, params), params["W_rec"].astype(float),
               1.0 - net.alpha, np.ascontiguousarray(signs, dtype=np.float64))
    return split(net, g)


def uoro_estimate(net, params, signals, nu) -> dict:
    """UORO's estimate of ``dL/d(W_rec, W_in, b)`` for given random signs.

    Parameters
    ----------
    net : RateRNN
    params : dict of str to ndarray
    signals : dict
        Checked ``input``, ``preact``, ``hidden_prev``, ``error`` (B, T, .).
    nu : ndarray, shape (B, T, n)
        Entries +-1.

    Returns
    -------
    dict
        ``W_rec``, ``W_in``, ``b``.
    """
    from plasticity._kernels.rnn_online import uoro_grad

    return _low_rank_estimate(uoro_grad, net, params, signals, nu)


def kfrtrl_estimate(net, params, signals, signs) -> dict:
    """KF-RTRL's estimate of ``dL/d(W_rec, W_in, b)`` for given random signs.

    Parameters
    ----------
    net, params, signals
        As in :func:`uoro_estimate`.
    signs : ndarray, shape (B, T)
        Entries +-1.

    Returns
    -------
    dict
        ``W_rec``, ``W_in``, ``b``.
    """
    from plasticity._kernels.rnn_online import kfrtrl_grad

    return _low_rank_estimate(kfrtrl_grad, net, params, signals, signs)


class UORO(Rule):
    """Unbiased online recurrent optimisation (Tallec & Ollivier 2018).

    The influence matrix is kept as one outer product ``M~_t = h~_t theta~_t^T``
    (``h~`` of length n, ``theta~`` of ``W``'s shape (n, m)), updated with random signs
    ``nu_t`` in ``{-1, +1}^n``::

        h~_t     = rho0 J_t h~_{t-1} + rho1 nu_t
        theta~_t = theta~_{t-1} / rho0 + (nu_t * D_t) pre_t^T / rho1

    since ``nu^T Mbar_t = (nu * D_t) pre_t^T``; ``E[M~_t] = M_t`` because
    ``E[nu nu^T] = I`` and ``E[nu] = 0``. ``rho0 = sqrt(|theta~| / |J h~|)``,
    ``rho1 = sqrt(|nu^T Mbar_t| / |nu|)`` (1 where a norm is zero). The step's estimate
    is ``(W_out^T e_t . h~_t) theta~_t``; ``W_out`` and ``c`` get their exact gradient.
    ``O(n (n + m))`` per step.

    Parameters
    ----------
    net : RateRNN
    eta : float > 0, default 0.1
        Learning rate.

    Notes
    -----
    State: ``None``. Needs ``rng``: signs independent per unit, step and sequence.
    Unbiased (the parameters are fixed over the sequence) but of high variance.
    """

    name: ClassVar[str] = "uoro"
    substrates: ClassVar[tuple[str, ...]] = ("recurrent",)

    net: RateRNN
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * one UORO estimate, state)``."""
        rng = need_rng(self, rng)
        sig = rnn_signals(self, signals, params)
        nu = _signs(rng, sig["preact"].shape)
        return descent(self.eta, sig, uoro_estimate(self.net, params, sig, nu)), state


class KFRTRL(Rule):
    """Kronecker-factored RTRL (Mujika, Meier & Steger 2018).

    The influence matrix is kept as a Kronecker product,
    ``M~_t[i, (j, k)] = A_t[i, j] u_t[k]`` (``A`` (n, n) postsynaptic, ``u`` (m,)
    presynaptic): ``J_t M~_{t-1} = u_{t-1} (x) J_t A_{t-1}`` and
    ``Mbar_t = pre_t (x) diag(D_t)`` are both Kronecker products, and their sum is
    replaced by one with a random sign ``s_t``::

        u_t = rho0 u_{t-1} + s_t rho1 pre_t
        A_t = J_t A_{t-1} / rho0 + s_t diag(D_t) / rho1

    so that ``E[u_t (x) A_t]`` is the sum (the cross terms carry ``s_t``; Mujika et al.
    use two signs ``c1, c2``, of which only the product matters for the estimate).
    ``rho0 = sqrt(|J A| / |u|)``, ``rho1 = sqrt(|D_t| / |pre_t|)``. The step's estimate
    is ``(A_t^T W_out^T e_t) u_t^T``; ``W_out`` and ``c`` get their exact gradient.
    ``O(n^3 + n m)`` per step; far lower variance than UORO.

    Parameters
    ----------
    net : RateRNN
    eta : float > 0, default 0.1
        Learning rate.

    Notes
    -----
    State: ``None``. Needs ``rng``: one sign per step and sequence.
    """

    name: ClassVar[str] = "kf_rtrl"
    substrates: ClassVar[tuple[str, ...]] = ("recurrent",)

    net: RateRNN
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * one KF-RTRL estimate, state)``."""
        rng = need_rng(self, rng)
        sig = rnn_signals(self, signals, params)
        signs = _signs(rng, sig["preact"].shape[:2])
        return descent(self.eta, sig, kfrtrl_estimate(self.net, params, sig, signs)), state
