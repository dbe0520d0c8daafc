"""E-prop and RFLO for the leaky rate RNN: a per-synapse eligibility trace times a
learning signal broadcast to the postsynaptic unit.

For the network ``h_t = (1 - alpha) h_{t-1} + alpha f(a_t)``,
``a_t = W_rec h_{t-1} + W_in x_t + b`` (:mod:`plasticity.substrates.rnn`), both rules keep
one trace per synapse ``(i, j)`` with presynaptic vector ``pre_t = (h_{t-1}, x_t, 1)``::

    eps_t,ij = (1 - alpha) eps_{t-1},ij + alpha f'(a_t,i) pre_t,j        eps_0 = 0
    estimate  = sum_t L_t,i eps_t,ij

and differ only in the learning signal ``L_t``: ``W_out^T e_t`` (symmetric e-prop) or
``B e_t`` with a fixed random ``B`` (random e-prop, RFLO).

Why they coincide here. E-prop (Bellec et al. 2020, eq. 3) splits a neuron's state into a
hidden variable and an observable ``z``; the trace follows the hidden path
``dh_t/dh_{t-1}`` of the neuron itself, the learning signal the total derivative with
respect to ``z_t``. For this model the only per-unit hidden path is the leak
``(1 - alpha)`` of ``h`` itself and the observable is ``z_t = h_t``, so e-prop's trace is
``eps_t = (1 - alpha) eps_{t-1} + alpha f'(a_t) pre_t``: the trace of RFLO (Murray 2019,
there with ``1/tau`` for ``alpha``), which approximates the RTRL influence
``M_t = J_t M_{t-1} + Mbar_t`` by keeping only the diagonal leak of the Jacobian
``J_t = (1 - alpha) I + alpha diag(f'(a_t)) W_rec`` (Marschall, Cho & Savin 2020, sec. on
RFLO). Both then drop the recurrent part of the learning signal and use only the error
at the output. Hence ``EProp(feedback="random", seed=s)`` and ``RFLO(seed=s)`` draw the same
``B`` and return the same update (tested); ``EProp(feedback="symmetric")`` is RFLO with
``B = W_out^T``. They would differ for a model with the leak *before* the nonlinearity
(``v_t = (1 - alpha) v_{t-1} + alpha a_t``, ``h_t = f(v_t)``, the analogue of Bellec's LIF
neuron), where e-prop's trace is ``f'(v_t)`` times a filtered ``pre`` while a
diagonal-Jacobian RFLO keeps ``f'`` inside the filter; and RFLO as published updates the
weights at every step, whereas here, as for every rule, the parameters are held fixed
over a sequence.

Exactness. With the ideal learning signal ``L*_t = delta_t - (1 - alpha) delta_{t+1}``
(``delta_t = dL/dh_t`` by BPTT, ``delta_{T+1} = 0``), the total derivative through the
readout and the recurrent synapses with the unit's own leak left to the trace,
:func:`eprop_estimate` equals BPTT for any ``W_rec``: summing by parts,
``sum_t L*_t eps_t = sum_t delta_t alpha f'(a_t) pre_t``. With ``W_rec = 0`` the
recurrent part of ``L*`` vanishes, ``L*_t = W_out^T e_t``, and symmetric e-prop is exact.

References
----------
Bellec, G., Scherr, F., Subramoney, A., Hajek, E., Salaj, D., Legenstein, R., & Maass,
    W. (2020). A solution to the learning dilemma for recurrent networks of spiking
    neurons. Nature Communications 11, 3625.
Murray, J. M. (2019). Local online learning in recurrent networks with random feedback.
    eLife 8, e43299.
Marschall, O., Cho, K., & Savin, C. (2020). A unified framework of online learning
    algorithms for training recurrent neural networks. JMLR 21(135), 1-34.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules._rnn_common import (
    descent,
    draw_feedback,
    exact_learning_signal,
    immediate,
    presynaptic,
    rnn_signals,
    split,
)
from plasticity.rules.base import Rule
from plasticity.substrates.rnn import RateRNN

__all__ = ["RFLO", "EProp", "eprop_estimate"]


def eprop_estimate(net, params, signals, learning_signal) -> dict:
    """``sum_t L_t,i eps_t,ij``: the trace-based estimate of ``dL/d(W_rec, W_in, b)``.

    Parameters
    ----------
    net : RateRNN
    params : dict of str to ndarray
        Unused by the trace itself (kept for a uniform signature).
    signals : dict
        ``input`` (B, T, n_in), ``preact`` and ``hidden_prev`` (B, T, n).
    learning_signal : ndarray, shape (B, T, n)
        ``L_t`` per sequence and step (loss units per unit of ``h``).

    Returns
    -------
    dict
        ``W_rec`` (n, n), ``W_in`` (n, n_in), ``b`` (n,).
    """
    from plasticity._kernels.rnn_online import eprop_trace_grad

    L = np.ascontiguousarray(learning_signal, dtype=np.float64)
    D = immediate(net, np.asarray(signals["preact"], dtype=np.float64))
    if L.shape != D.shape:
        raise RuleError(f"The learning signal has shape {L.shape}; expected (B, T, n) = "
                        f"{D.shape}.")
    return split(net, eprop_trace_grad(D, presynaptic(signals), L, 1.0 - net.alpha))


class _TraceRule(Rule):
    """Shared update of e-prop and RFLO: the trace kernel and the exact readout."""

    def _feedback(self, state):
        if not isinstance(state, dict) or "feedback" not in state:
            raise RuleError(f"Rule {self.name} expects the state made by init(params), a "
                            "dict with key 'feedback'.")
        B = np.asarray(state["feedback"], dtype=np.float64)
        shape = (self.net.n_hidden, self.net.n_out)
        if B.shape != shape:
            raise RuleError(f"Rule {self.name}: the feedback matrix has shape {B.shape}; "
                            f"expected (n, n_out) = {shape}.")
        return B

    def _update(self, signals, state, params, B):
        sig = rnn_signals(self, signals, params)
        L = exact_learning_signal(sig, params) if B is None else sig["error"] @ B.T
        return descent(self.eta, sig, eprop_estimate(self.net, params, sig, L)), state


class EProp(_TraceRule):
    """E-prop (Bellec et al. 2020) for the leaky rate RNN.

    ``delta W = -eta sum_t L_t,i eps_t,ij`` with the trace
    ``eps_t = (1 - alpha) eps_{t-1} + alpha f'(a_t) pre_t``, ``pre_t = (h_{t-1}, x_t, 1)``
    (for ``W_rec``, ``W_in``, ``b``) and the learning signal ``L_t = W_out^T e_t``
    (``feedback="symmetric"``) or ``B e_t`` (``"random"``, a fixed ``B`` drawn in
    :meth:`init`). ``W_out`` and ``c`` get their exact gradient ``sum_t e_t h_t^T``.
    Online: ``O(n (n + n_in))`` per step, nothing from the future.

    For this model e-prop coincides with RFLO (Murray 2019): with random feedback and the
    same ``seed`` it is :class:`RFLO` exactly (the module docstring derives why, and says
    for which model they would differ). With the ideal learning signal it equals BPTT
    (:func:`eprop_estimate`).

    Parameters
    ----------
    net : RateRNN
    eta : float > 0, default 0.1
        Learning rate.
    feedback : {"symmetric", "random"}, default "symmetric"
    seed : int >= 0, default 0
        Seeds ``B`` (random feedback only); a run derives it from its seed stream.
    scale : float > 0, default 1.0
        ``B``'s entries are ``N(0, scale^2 / n)``, ``W_out``'s initial statistics.

    Notes
    -----
    State: ``{"feedback": B}`` (n, n_out), or ``{"feedback": None}`` for symmetric
    feedback; never changed by :meth:`update`.
    """

    name: ClassVar[str] = "eprop"
    substrates: ClassVar[tuple[str, ...]] = ("recurrent",)

    net: RateRNN
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")
    feedback: Literal["symmetric", "random"] = "symmetric"
    seed: int = Field(0, ge=0, description="seed of the random feedback matrix")
    scale: float = Field(1.0, gt=0, allow_inf_nan=False,
                         description="scale of the feedback entries")

    def init(self, params):
        """``{"feedback": B}`` for random feedback, ``{"feedback": None}`` otherwise."""
        if self.feedback == "symmetric":
            return {"feedback": None}
        return {"feedback": draw_feedback(self.net, self.seed, self.scale)}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * the e-prop estimate, state)``."""
        B = None if self.feedback == "symmetric" else self._feedback(state)
        return self._update(signals, state, params, B)


class RFLO(_TraceRule):
    """Random-feedback local online learning (Murray 2019) for the leaky rate RNN.

    ``delta W = -eta sum_t (B e_t)_i eps_t,ij`` with the trace
    ``eps_t = (1 - alpha) eps_{t-1} + alpha f'(a_t) pre_t``, ``pre_t = (h_{t-1}, x_t, 1)``,
    and a fixed random feedback matrix ``B`` (n, n_out) drawn in :meth:`init`; ``W_out``
    and ``c`` get their exact gradient ``sum_t e_t h_t^T`` (Murray's readout rule).
    Online: ``O(n (n + n_in))`` per step.

    For this model RFLO coincides with e-prop: it is ``EProp(feedback="random")`` with the
    same ``seed`` exactly (see :mod:`plasticity.rules.eprop` for the derivation).

    Parameters
    ----------
    net : RateRNN
    eta : float > 0, default 0.1
        Learning rate.
    seed : int >= 0, default 0
        Seeds ``B``; a run derives it from its seed stream.
    scale : float > 0, default 1.0
        ``B``'s entries are ``N(0, scale^2 / n)``.

    Notes
    -----
    State: ``{"feedback": B}``, never changed by :meth:`update`.
    """

    name: ClassVar[str] = "rflo"
    substrates: ClassVar[tuple[str, ...]] = ("recurrent",)

    net: RateRNN
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")
    seed: int = Field(0, ge=0, description="seed of the random feedback matrix")
    scale: float = Field(1.0, gt=0, allow_inf_nan=False,
                         description="scale of the feedback entries")

    def init(self, params):
        """``{"feedback": B}``, ``B`` of shape (n, n_out)."""
        return {"feedback": draw_feedback(self.net, self.seed, self.scale)}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * the RFLO estimate, state)``."""
        return self._update(signals, state, params, self._feedback(state))
