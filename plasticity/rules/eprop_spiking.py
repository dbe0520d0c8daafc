"""E-prop and surrogate-gradient BPTT for recurrent LIF/ALIF spiking networks.

Both rules see one or more realised trials of
:class:`plasticity.problems.RecurrentSpikingProblem` (the network of
:mod:`plasticity._kernels.recurrent_escape`: ``v_t = alpha v_{t-1} + W_in x_t + W_rec
z_{t-1} - v_th z_{t-1}``, ``a_t = rho a_{t-1} + z_{t-1}``, ``A_t = v_th + beta a_t``, leaky
readout ``y_t = kappa y_{t-1} + W_out z_t``) and treat its spikes as if they were the
deterministic ``z_t = H(u_t)``, ``u_t = v_t - A_t``, whose derivative is replaced by the
pseudo-derivative (Bellec et al. 2020, Methods)

    psi_t = (gamma / w) max(0, 1 - |u_t| / w)          (1/mV; w = v_th by default).

Neither is the gradient of the expected loss of the stochastic network; measuring how far
each is from it is the point of ``eprop-spiking``.

The surrogate graph
-------------------
Both differentiate the same graph of the realised trial: the spikes enter the membranes,
the adaptation and the readout, and ``dz_t/du_t = psi_t``. By default the reset term
``-v_th z_{t-1}`` is a constant of the graph (no gradient through the reset), as in
Bellec et al.'s eligibility traces; :class:`SurrogateBPTT` can include it
(``reset_gradient=True``).

:class:`SurrogateBPTT` is the exact gradient of that graph, by back-propagation through
time (adjoints ``dv_t``, ``da_t``, ``dz_t``; :func:`bptt`).

:class:`EPropSpiking` factorises it as Bellec et al.'s eq. (1),
``dE/dW_ji = sum_t L_j^t e_ji^t``, with the eligibility trace of the ALIF neuron

    eps_v^t = alpha-filtered presynaptic activity (x_t for W_in, z_{t-1} for W_rec),
    eps_a^{t+1} = psi_t eps_v^t + (rho - psi_t beta) eps_a^t,
    e^t = psi_t (eps_v^t - beta eps_a^t),

and replaces the learning signal ``L_j^t`` (the total derivative of the loss with respect
to ``z_j^t`` through everything but the neuron's own state) by its part through the
readout, ``L_j^t = sum_{t' >= t} kappa^{t' - t} sum_k B_jk dE/dy_k^{t'}``, with
``B = W_out^T`` (``feedback="symmetric"``) or a fixed random matrix
(``feedback="random"``). Bellec et al. compute the same sum online by filtering the
eligibility traces with ``kappa``; the sums are equal term by term.

When e-prop equals BPTT (the factorisation identity, tested)
-----------------------------------------------------------
With the ideal learning signal, :func:`bptt`'s ``learning_signal`` (``W_out^T dy_t +
W_rec^T dv_{t+1}``, plus ``-v_th dv_{t+1}`` with the reset gradient: every path from
``z_j^t`` to the loss except through the neuron's own adaptation, which the eligibility
vector carries), ``sum_t L^t e^t`` equals the surrogate BPTT gradient for any ``W_rec``
(eq. (1) is exact). With ``W_rec = 0`` and no reset gradient that ideal signal is the
readout part alone, so symmetric e-prop equals surrogate BPTT, adaptation included.

References
----------
Bellec, G., Scherr, F., Subramoney, A., Hajek, E., Salaj, D., Legenstein, R., & Maass, W.
    (2020). A solution to the learning dilemma for recurrent networks of spiking neurons.
    Nature Communications 11, 3625 (e-prop, eqs. (1)-(3), Methods: ALIF eligibility).
Neftci, E. O., Mostafa, H., & Zenke, F. (2019). Surrogate gradient learning in spiking
    neural networks. IEEE Signal Processing Magazine 36(6), 51-63 (surrogate BPTT).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules.base import Rule

__all__ = ["EPropSpiking", "SurrogateBPTT", "bptt", "eligibility_traces",
           "eprop_gradient", "pseudo_derivative"]

#: The trial signals both rules read (leading axis: trials).
TRIAL_SIGNALS = ("input", "spikes", "v", "a", "output_error")
#: The network constants they read.
CONSTANTS = ("alpha", "rho", "kappa", "v_th_mv", "beta_mv")


def _trials(rule, signals, params):
    """The signals as float arrays with a trial axis, and the constants; one line on
    anything missing or misshapen."""
    who = getattr(rule, "name", "e-prop")
    missing = [k for k in (*TRIAL_SIGNALS, *CONSTANTS) if k not in signals]
    if missing:
        raise RuleError(f"Rule {who} needs the recurrent spiking signals "
                        f"{', '.join(missing)} (a RecurrentSpikingProblem provides them; "
                        f"available: {', '.join(sorted(signals)) or 'none'}).")
    for key in ("W_in", "W_rec", "W_out"):
        if key not in params:
            raise RuleError(f"Rule {who} changes {key!r}, which is not a parameter "
                            f"(known: {', '.join(sorted(params))}).")
    s = {k: np.asarray(signals[k], dtype=np.float64) for k in TRIAL_SIGNALS}
    if s["spikes"].ndim != 3:
        raise RuleError(f"Rule {who}: the signal 'spikes' must have shape (trials, T, "
                        f"n_rec); got {s['spikes'].shape}.")
    K, T, n = s["spikes"].shape
    n_in, n_out = np.shape(params["W_in"])[1], np.shape(params["W_out"])[0]
    want = {"input": (K, T, n_in), "v": (K, T, n), "a": (K, T, n),
            "output_error": (K, T, n_out)}
    for key, shape in want.items():
        if s[key].shape != shape:
            raise RuleError(f"Rule {who}: the signal {key!r} has shape {s[key].shape}; the "
                            f"parameters and spikes imply {shape}.")
    if np.shape(params["W_rec"]) != (n, n) or np.shape(params["W_in"])[0] != n:
        raise RuleError(f"Rule {who}: the spikes of {n} neurons do not match W_in "
                        f"{np.shape(params['W_in'])} and W_rec {np.shape(params['W_rec'])}.")
    const = {k: float(signals[k]) for k in CONSTANTS if k != "beta_mv"}
    const["beta"] = np.broadcast_to(np.asarray(signals["beta_mv"], dtype=np.float64),
                                    (n,))
    return s, const


def pseudo_derivative(signals, gamma=0.3, width_mv=None):
    """Bellec et al.'s ``psi_t = (gamma / w) max(0, 1 - |v_t - A_t| / w)`` (1/mV).

    Parameters
    ----------
    signals : dict
        ``v``, ``a`` (K, T, n), ``v_th_mv`` and ``beta_mv``.
    gamma : float
        Dampening factor (0.3 in Bellec et al.).
    width_mv : float, optional
        ``w``; the threshold ``v_th`` by default.

    Returns
    -------
    ndarray, shape (K, T, n)
    """
    v_th = float(signals["v_th_mv"])
    w = v_th if width_mv is None else float(width_mv)
    u = np.asarray(signals["v"]) - v_th - np.asarray(signals["beta_mv"]) * \
        np.asarray(signals["a"])
    return (gamma / w) * np.maximum(0.0, 1.0 - np.abs(u) / w)


def _presynaptic(s, alpha):
    """The alpha-filtered inputs ``xbar_t`` (K, T, n_in) and spikes up to ``t-1``,
    ``zbar_{t-1}`` (K, T, n): ``dv_t/dW`` with the spikes held fixed."""
    x, z = s["input"], s["spikes"]
    K, T, n = z.shape
    xbar = np.empty_like(x)
    zbar = np.empty_like(z)
    acc_x = np.zeros((K, x.shape[2]))
    acc_z = np.zeros((K, n))
    for t in range(T):
        acc_x = alpha * acc_x + x[:, t]
        xbar[:, t] = acc_x
        zbar[:, t] = acc_z
        acc_z = alpha * acc_z + z[:, t]
    return {"W_in": xbar, "W_rec": zbar}


def eligibility_traces(signals, params, *, gamma=0.3, width_mv=None):
    """The e-prop eligibility traces ``e_ji^t`` of ``W_in`` and ``W_rec`` (ALIF form).

    Returns
    -------
    dict
        ``W_in`` (K, T, n, n_in) and ``W_rec`` (K, T, n, n), in 1/mV x presynaptic units
        (``dz_j^t / dW_ji`` along the neuron's own dynamics; module docstring).
    """
    s, c = _trials(None, signals, params)
    psi = pseudo_derivative(signals, gamma, width_mv)
    beta = c["beta"]
    out = {}
    for key, pre in _presynaptic(s, c["alpha"]).items():
        K, T, n = psi.shape
        e = np.empty((K, T, n, pre.shape[2]))
        eps_a = np.zeros((K, n, pre.shape[2]))
        for t in range(T):
            eps_v = pre[:, t, None, :]
            p = psi[:, t, :, None]
            e[:, t] = p * (eps_v - beta[None, :, None] * eps_a)
            eps_a = p * eps_v + (c["rho"] - p * beta[None, :, None]) * eps_a
        out[key] = e
    return out


def eprop_gradient(signals, params, learning_signal, *, gamma=0.3, width_mv=None):
    """``sum_t L_j^t e_ji^t`` (mean over trials) for ``W_in`` and ``W_rec``.

    Parameters
    ----------
    learning_signal : ndarray, shape (K, T, n)
        ``L_j^t`` (loss per spike).

    Returns
    -------
    dict
        ``W_in`` (n, n_in) and ``W_rec`` (n, n).
    """
    traces = eligibility_traces(signals, params, gamma=gamma, width_mv=width_mv)
    L = np.asarray(learning_signal, dtype=np.float64)
    return {k: np.einsum("ktj,ktji->ji", L, e) / L.shape[0] for k, e in traces.items()}


def _readout(s, kappa):
    """``dy_t`` (K, T, n_out): the total derivative of the loss with respect to ``y_t``,
    ``sum_{t' >= t} kappa^{t'-t} dE/dy_{t'}`` (a reverse scan)."""
    err = s["output_error"]
    dy = np.empty_like(err)
    acc = np.zeros(err[:, 0].shape)
    for t in range(err.shape[1] - 1, -1, -1):
        acc = kappa * acc + err[:, t]
        dy[:, t] = acc
    return dy


def _readout_gradient(s, dy):
    """The exact ``dE/dW_out = sum_t dy_t z_t^T`` (mean over trials)."""
    return np.einsum("kto,ktj->oj", dy, s["spikes"]) / s["spikes"].shape[0]


def bptt(signals, params, *, gamma=0.3, width_mv=None, reset_gradient=False) -> dict:
    """Back-propagation through time in the surrogate graph of the realised trials.

    Returns
    -------
    dict
        ``grad``: ``W_in``, ``W_rec``, ``W_out`` (mean over trials); ``learning_signal``
        (K, T, n): the ideal e-prop learning signal (every path from ``z_j^t`` to the loss
        except through the neuron's own adaptation; module docstring).
    """
    s, c = _trials(None, signals, params)
    psi = pseudo_derivative(signals, gamma, width_mv)
    z, x = s["spikes"], s["input"]
    K, T, n = z.shape
    W_rec, W_out = np.asarray(params["W_rec"], float), np.asarray(params["W_out"], float)
    beta = c["beta"]
    dy = _readout(s, c["kappa"])
    dv_next = np.zeros((K, n))
    da_next = np.zeros((K, n))
    g_in = np.zeros(np.shape(params["W_in"]))
    g_rec = np.zeros((n, n))
    ideal = np.empty((K, T, n))
    for t in range(T - 1, -1, -1):
        # z_t reaches the loss through the readout and the next step's membranes ...
        L = dy[:, t] @ W_out + dv_next @ W_rec
        if reset_gradient:
            L = L - c["v_th_mv"] * dv_next
        ideal[:, t] = L
        # ... and through its own adaptation a_{t+1}
        du = psi[:, t] * (L + da_next)
        dv = du + c["alpha"] * dv_next
        da = -beta * du + c["rho"] * da_next
        g_in += dv.T @ x[:, t]
        if t > 0:
            g_rec += dv.T @ z[:, t - 1]
        dv_next, da_next = dv, da
    grad = {"W_in": g_in / K, "W_rec": g_rec / K, "W_out": _readout_gradient(s, dy)}
    return {"grad": grad, "learning_signal": ideal}


class _SurrogateRule(Rule):
    """Shared hyperparameters of the two surrogate-gradient rules."""

    substrates: ClassVar[tuple[str, ...]] = ("recurrent_spiking",)

    eta: float = Field(1e-3, gt=0, allow_inf_nan=False, description="learning rate")
    gamma: float = Field(0.3, gt=0, allow_inf_nan=False,
                         description="pseudo-derivative dampening factor")
    width_mv: float | None = Field(None, gt=0, allow_inf_nan=False,
                                   description="pseudo-derivative half-width (mV); "
                                   "None: the threshold v_th")

    def _step(self, grad):
        return {k: -self.eta * g for k, g in grad.items()}


class EPropSpiking(_SurrogateRule):
    """E-prop for recurrent LIF/ALIF networks (Bellec et al. 2020, Nat. Commun. 11:3625).

    ``delta W_ji = -eta sum_t L_j^t e_ji^t`` for ``W_in`` and ``W_rec``, with the ALIF
    eligibility traces and the pseudo-derivative of the module docstring and the learning
    signal ``L_j^t = sum_{t'>=t} kappa^{t'-t} sum_k B_jk dE/dy_k^{t'}`` (the readout
    error broadcast through ``B``); ``delta W_out = -eta dE/dW_out`` (exact given the
    spikes, as in Bellec et al.). Averaged over the trials of the signals.

    Parameters
    ----------
    eta : float > 0, default 1e-3
        Learning rate.
    feedback : {"symmetric", "random"}, default "symmetric"
        ``B = W_out^T`` at the time of the update, or a fixed random matrix drawn by
        :meth:`init` from ``N(0, feedback_scale^2 / n_rec)`` (the statistics of the
        initial ``W_out`` of :class:`~plasticity.spiking.recurrent_escape.
        RecurrentEscapeNet`).
    seed : int >= 0, default 0
        Seeds the random feedback (a run derives it from its seed stream).
    feedback_scale : float > 0, default 1.0
    gamma : float > 0, default 0.3
        Pseudo-derivative dampening factor.
    width_mv : float > 0 or None
        Pseudo-derivative half-width (mV); the threshold by default.

    Notes
    -----
    Reads the signals ``input``, ``spikes``, ``v``, ``a`` (trials, T, ...),
    ``output_error`` (``dE/dy_t`` per step) and the constants ``alpha``, ``rho``,
    ``kappa``, ``v_th_mv``, ``beta_mv``. State: ``{"feedback": B}`` (n_rec, n_out) with
    random feedback, else ``None``; never changed by :meth:`update`.
    """

    name: ClassVar[str] = "eprop_spiking"

    feedback: Literal["symmetric", "random"] = "symmetric"
    seed: int = Field(0, ge=0, description="seed of the random feedback matrix")
    feedback_scale: float = Field(1.0, gt=0, allow_inf_nan=False)

    def init(self, params):
        """``{"feedback": B}`` with random feedback (drawn once), else ``None``."""
        if self.feedback == "symmetric":
            return None
        if "W_out" not in params:
            raise RuleError(f"Rule {self.name} needs the parameter 'W_out' to shape its "
                            "feedback matrix.")
        n_out, n = np.shape(params["W_out"])
        rng = np.random.default_rng(self.seed)
        return {"feedback": rng.standard_normal((n, n_out)) * (self.feedback_scale /
                                                               np.sqrt(n))}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * the e-prop direction, state)``."""
        s, c = _trials(self, signals, params)
        if self.feedback == "symmetric":
            B = np.asarray(params["W_out"], dtype=np.float64).T
        else:
            if not isinstance(state, dict) or "feedback" not in state:
                raise RuleError(f"Rule {self.name} with random feedback expects the state "
                                "made by init(params), a dict with key 'feedback'.")
            B = np.asarray(state["feedback"], dtype=np.float64)
            if B.shape != np.shape(params["W_out"])[::-1]:
                raise RuleError(f"Rule {self.name}: the feedback matrix has shape "
                                f"{B.shape}; W_out^T has {np.shape(params['W_out'])[::-1]}.")
        dy = _readout(s, c["kappa"])
        L = dy @ B.T
        grad = eprop_gradient(signals, params, L, gamma=self.gamma, width_mv=self.width_mv)
        grad["W_out"] = _readout_gradient(s, dy)
        return self._step(grad), state


class SurrogateBPTT(_SurrogateRule):
    """Surrogate-gradient BPTT (Neftci, Mostafa & Zenke 2019; Bellec et al. 2020's
    reference): the exact gradient of the realised trial's surrogate graph.

    ``delta = -eta dE/dW`` for ``W_in``, ``W_rec`` and ``W_out``, back-propagated through
    time through membranes, adaptation and readout with ``dz_t/du_t = psi_t`` (module
    docstring; :func:`bptt`). Averaged over the trials of the signals.

    Parameters
    ----------
    eta : float > 0, default 1e-3
        Learning rate.
    gamma : float > 0, default 0.3
        Pseudo-derivative dampening factor.
    width_mv : float > 0 or None
        Pseudo-derivative half-width (mV); the threshold by default.
    reset_gradient : bool, default False
        Back-propagate through the reset term ``-v_th z_{t-1}`` too (off by default, as
        in e-prop's eligibility traces, so that both rules differentiate the same graph).

    Notes
    -----
    Reads the signals of :class:`EPropSpiking`. Stateless.
    """

    name: ClassVar[str] = "surrogate_bptt"

    reset_gradient: bool = False

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * the surrogate BPTT gradient, state)``."""
        _trials(self, signals, params)
        out = bptt(signals, params, gamma=self.gamma, width_mv=self.width_mv,
                   reset_gradient=self.reset_gradient)
        return self._step(out["grad"]), state
