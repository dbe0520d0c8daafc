"""Exact and truncated gradient rules for the leaky rate RNN, and the readout-only baseline.

Each reads one batch of sequences' signals (:meth:`RecurrentProblem.signals
<plasticity.problems.recurrent.RecurrentProblem.signals>`), holds the parameters fixed
over the sequences and returns ``delta = -eta * estimate`` with the estimate summed over
the steps (``e_t`` carries the mask and the normalisation, so the sum is the gradient of
the batch loss where the estimate is exact).

- :class:`BPTT`: the exact gradient by backpropagation through time (the reference; not
  online: it needs the whole sequence before any credit is assigned).
- :class:`RTRL`: the same exact gradient by real-time recurrent learning, forward in
  time (online, at ``O(n^4)`` per step; Williams & Zipser 1989).
- :class:`TruncatedBPTT`: each step's error back-propagated through at most ``k`` steps
  (Williams & Peng 1990).
- :class:`ReadoutOnly`: the exact gradient of the readout, nothing for the recurrent
  parameters (the baseline that learns no memory).

References
----------
Werbos, P. J. (1990). Backpropagation through time: what it does and how to do it.
    Proc. IEEE 78, 1550-1560.
Williams, R. J., & Zipser, D. (1989). A learning algorithm for continually running fully
    recurrent neural networks. Neural Computation 1, 270-280.
Williams, R. J., & Peng, J. (1990). An efficient gradient-based algorithm for on-line
    training of recurrent network trajectories. Neural Computation 2, 490-501.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from plasticity.rules._rnn_common import (
    exact_learning_signal,
    immediate,
    presynaptic,
    readout_gradient,
    rnn_signals,
    split,
    step,
)
from plasticity.rules.base import Rule
from plasticity.substrates.rnn import RateRNN, RNNPass

__all__ = ["BPTT", "RTRL", "ReadoutOnly", "TruncatedBPTT", "truncated_bptt_estimate"]


class BPTT(Rule):
    """Backpropagation through time: ``delta = -eta * dL/dparams``, exact.

    Computed by :meth:`RateRNN.backward` from the signals' forward pass (Werbos 1990).

    Parameters
    ----------
    net : RateRNN
        The network whose loss is differentiated.
    eta : float > 0, default 0.1
        Learning rate (parameter units per unit of gradient).

    Notes
    -----
    State: ``None``. Reads ``input``, ``preact``, ``hidden``, ``hidden_prev``, ``error``.
    Not online: step ``t``'s credit needs the errors of all later steps.
    """

    name: ClassVar[str] = "bptt"
    substrates: ClassVar[tuple[str, ...]] = ("recurrent",)

    net: RateRNN
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * BPTT gradient, state)``."""
        sig = rnn_signals(self, signals, params)
        y = sig["hidden"] @ params["W_out"].T + params["c"]
        rnn_pass = RNNPass(x=sig["input"], a=sig["preact"], h=sig["hidden"],
                           h_prev=sig["hidden_prev"], y=y)
        grad, _ = self.net.backward(params, rnn_pass, sig["error"])
        return step(self.eta, grad), state


class RTRL(Rule):
    """Real-time recurrent learning: ``delta = -eta * dL/dparams``, exact and online.

    The influence matrix ``M_t = dh_t/dtheta`` is carried forward,
    ``M_t = J_t M_{t-1} + Mbar_t``, and the gradient accumulated as
    ``sum_t (W_out^T e_t) M_t`` (Williams & Zipser 1989), by
    :func:`plasticity.substrates.rnn_rtrl.rtrl_gradient`; equal to :class:`BPTT` to
    rounding. ``O(n^4)`` per step: the exact online reference for small networks.

    Parameters
    ----------
    net : RateRNN
    eta : float > 0, default 0.1
        Learning rate.

    Notes
    -----
    State: ``None``. Reads ``input``, ``target`` and ``mask`` (and checks the other
    recurrent signals), and re-runs the forward pass at ``params``.
    """

    name: ClassVar[str] = "rtrl"
    substrates: ClassVar[tuple[str, ...]] = ("recurrent",)

    net: RateRNN
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * RTRL gradient, state)``."""
        from plasticity.substrates.rnn_rtrl import rtrl_gradient

        sig = rnn_signals(self, signals, params, extra=("target", "mask"))
        grad = rtrl_gradient(self.net, params, sig["input"], sig["target"], sig["mask"])
        return step(self.eta, grad), state


def truncated_bptt_estimate(net, params, signals, k, learning_signal=None) -> dict:
    """Truncated BPTT's estimate of ``dL/d(W_rec, W_in, b)``.

    Parameters
    ----------
    net : RateRNN
    params : dict of str to ndarray
    signals : dict
        Checked arrays ``input``, ``preact``, ``hidden_prev``, ``error`` (B, T, .).
    k : int >= 1
        Window: the learning signal of step ``t`` reaches the pre-activations ``a_s`` with
        ``t - k < s <= t``.
    learning_signal : ndarray, shape (B, T, n), optional
        ``W_out^T e_t`` by default.

    Returns
    -------
    dict
        ``W_rec``, ``W_in``, ``b`` (loss units per parameter unit).
    """
    from plasticity._kernels.rnn_online import truncated_bptt_grad

    if learning_signal is None:
        learning_signal = exact_learning_signal(signals, params)
    g = truncated_bptt_grad(immediate(net, signals["preact"]), presynaptic(signals),
                            learning_signal, params["W_rec"].astype(float), 1.0 - net.alpha,
                            int(k))
    return split(net, g)


class TruncatedBPTT(Rule):
    """BPTT(k): each step's error back-propagated through at most ``k`` steps.

    At step ``t`` the readout's error ``W_out^T e_t`` is carried back by BPTT's step to
    the pre-activations ``a_s`` of the last ``k`` steps, ``t - k < s <= t``, and no
    further (Williams & Peng 1990, BPTT(h) with one error per step): causal, with a
    buffer of the last ``k`` steps, ``O(k n (n + n_in))`` per step.

    ``k >= T`` is BPTT exactly. ``k = 1`` is the *immediate* gradient
    ``sum_t alpha f'(a_t) * (W_out^T e_t) pre_t^T`` (no credit through time at all, not
    even through the unit's own leak); for ``alpha = 1`` it equals :class:`EProp
    <plasticity.rules.eprop.EProp>` with symmetric feedback, whose trace then has no
    memory.

    Parameters
    ----------
    net : RateRNN
    k : int >= 1, default 5
        Truncation window (steps).
    eta : float > 0, default 0.1
        Learning rate.

    Notes
    -----
    State: ``None``. ``W_out`` and ``c`` get their exact gradient.
    """

    name: ClassVar[str] = "truncated_bptt"
    substrates: ClassVar[tuple[str, ...]] = ("recurrent",)

    net: RateRNN
    k: int = Field(5, ge=1, description="truncation window in steps")
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * the truncated-BPTT estimate, state)``."""
        sig = rnn_signals(self, signals, params)
        grad = truncated_bptt_estimate(self.net, params, sig, self.k)
        grad.update(readout_gradient(sig))
        return step(self.eta, grad), state


class ReadoutOnly(Rule):
    """The readout's exact gradient; no change of ``W_in``, ``W_rec``, ``b``.

    The baseline that learns no memory: whatever the fixed recurrent network already
    holds of the past is all the readout can use (a reservoir / echo-state readout
    trained by the delta rule).

    Parameters
    ----------
    net : RateRNN
    eta : float > 0, default 0.1
        Learning rate.

    Notes
    -----
    State: ``None``. The delta has every key, the recurrent ones zero, so alignment is
    measured over all parameters.
    """

    name: ClassVar[str] = "readout_only"
    substrates: ClassVar[tuple[str, ...]] = ("recurrent",)

    net: RateRNN
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``({W_out, c: -eta * exact gradient; others: 0}, state)``."""
        sig = rnn_signals(self, signals, params)
        delta = step(self.eta, readout_gradient(sig))
        for key in ("W_in", "W_rec", "b"):
            delta[key] = np.zeros(np.shape(params[key]))
        return delta, state
