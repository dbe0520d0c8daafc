"""Dendritic prediction of somatic spiking (Urbanczik & Senn 2014).

The neuron
----------
A two-compartment neuron (time in ms, potentials in the paper's dimensionless units).
Presynaptic spike trains are filtered by the double-exponential kernel
``kappa(t) = (exp(-t/tau_L) - exp(-t/tau_s)) / (tau_L - tau_s)`` (unit integral) into
``PSP_i(t)``; the dendrite sums them, ``V_w(t) = sum_i w_i PSP_i(t)``, and drives the soma

    dU/dt = -g_L U + g_D (V_w - U) + g_E(t) (E_E - U) + g_I(t) (E_I - U),

where ``g_E``, ``g_I`` (1/ms, >= 0) are the teacher's conductances at the soma. The soma
fires as an inhomogeneous Poisson process of rate
``phi(U) = phi_max / (1 + k exp(beta (theta - U)))``. Without a teacher the soma would
settle to ``V*_w = g_D / (g_D + g_L) V_w``: that is the dendrite's prediction of the
somatic potential, and ``phi(V*_w)`` its prediction of the somatic rate.

The rule
--------
Each synapse compares the somatic spikes ``S(t)`` (a sum of delta pulses, 1/ms) with the
dendritic prediction of their rate and weights the difference by its own PSP:

    dw_i/dt = eta (S(t) - phi(V*_w)) h(V*_w) PSP_i(t),   h = d log phi / dV
            = beta (1 - phi / phi_max)

(``model="spiking"``), or with ``S`` replaced by the somatic rate ``phi(U)``
(``model="rate"``). With ``tau_delta > 0`` the change is low-pass filtered with that time
constant before it reaches ``w``, as in the paper. Everything the synapse uses is local:
its PSP, the dendritic potential and the back-propagated somatic spike (or rate).

The loss it minimises
---------------------
*Spiking.* Read the somatic train ``S`` on ``[0, T]`` as data and the dendrite as a model
of it: a Poisson process of rate ``phi(V*_w(t))``. The negative log-likelihood is

    L_S(w) = -sum_spikes log phi(V*_w(t_f)) + int_0^T phi(V*_w(t)) dt,

and since ``dV*_w/dw_i = c PSP_i`` with ``c = g_D / (g_D + g_L)``,

    -dL_S/dw_i = c int_0^T (S(t) - phi(V*_w)) h(V*_w) PSP_i(t) dt.

So, without the filter and with ``S`` held fixed, the trial's weight change is
``Delta w = -(eta / c) grad L_S(w)`` up to the ``O(eta^2)`` change of ``w`` within the
trial: gradient descent on the spike train's negative log-likelihood under the dendritic
prediction. Averaged over the somatic spikes given ``U``, ``L_S`` becomes (up to terms
independent of ``w``) the Poisson KL divergence of the prediction from the somatic rate,
``KL(w) = int phi(U) log(phi(U) / phi(V*_w)) - phi(U) + phi(V*_w) dt``.

*Rate.* The rate version is exactly ``-(eta / c) grad KL(w)`` with ``U`` held fixed:
``dKL/dw_i = c int (phi(V*_w) - phi(U)) h(V*_w) PSP_i dt``. It is *not* the gradient of the
squared error ``(phi(U) - phi(V*))^2`` (that would weight the error by ``phi'`` rather than
``h = phi'/phi``); it is the spiking rule averaged over the Poisson noise.

*What is held fixed.* ``U`` depends on ``w`` too (the dendrite drives the soma through
``g_D``), and so the somatic spikes do. The rule ignores that dependence: it treats the
soma as the target, so it is the gradient of ``L_S`` (or ``KL``) at fixed ``S`` (or
``U``), not the total derivative of the loss as a function of ``w`` (a semi-gradient, as
in TD learning). The fixed point ``V*_w = U`` is the same either way.

Discrete time
-------------
Steps of ``dt`` as in :mod:`plasticity._kernels.dendritic` (exact exponential updates of
the PSPs and the soma; a somatic spike in a step with probability
``1 - exp(-phi(U) dt)``). The loss sums of :func:`spike_nll` and :func:`rate_kl` are the
Riemann sums whose exact gradients the kernel's updates are.

References
----------
Urbanczik, R., & Senn, W. (2014). Learning by the dendritic prediction of somatic
    spiking. Neuron 81(3), 521-528.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules.base import Rule
from plasticity.spiking.synapses import DendriticPrediction as _NetworkKind
from plasticity.spiking.synapses import redeclared

__all__ = ["DendriticPredictionTrial", "Trial", "phi", "rate_kl", "simulate_trial",
           "spike_nll"]


def _old_name():
    """``DendriticPredictionTrial``, with the DeprecationWarning of its old name; called by
    the ``__getattr__`` of this module and of :mod:`plasticity.rules`."""
    # stacklevel 3: the importer, past the module's __getattr__
    warnings.warn("plasticity.rules.DendriticPrediction is deprecated and will be removed "
                  "in the next release; use DendriticPredictionTrial (the trial rule; "
                  "plasticity.spiking.DendriticPrediction is the network kind).",
                  DeprecationWarning, stacklevel=3)
    return DendriticPredictionTrial


def __getattr__(name):
    # The old name of DendriticPredictionTrial, for one release.
    if name == "DendriticPrediction":
        return _old_name()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Trial:
    """What one trial produced.

    Attributes
    ----------
    w : ndarray, shape (n,)
        The weights after the trial.
    state : dict
        ``x_L``, ``x_s`` (shape (n,), presynaptic traces), ``U`` (shape (1,), somatic
        potential), ``D`` (shape (n,), the filtered change): the next trial's start.
    U, V_star : ndarray, shape (T,)
        Somatic potential and dendritic prediction per step (dimensionless).
    S : ndarray, shape (T,)
        Somatic spikes per step (0/1), or ``phi(U) dt`` for the rate model.
    """

    w: np.ndarray
    state: dict
    U: np.ndarray
    V_star: np.ndarray
    S: np.ndarray


def phi(v, phi_max=0.15, k=0.5, beta=5.0, theta=1.0):
    """The somatic rate function ``phi_max / (1 + k exp(beta (theta - v)))`` (1/ms)."""
    z = beta * (theta - np.asarray(v, dtype=float)) + np.log(k)
    return phi_max * np.exp(-np.logaddexp(0.0, z))


class DendriticPredictionTrial(Rule):
    """Urbanczik-Senn dendritic prediction of somatic spiking (module docstring).

    The trial rule: one two-compartment neuron simulated trial by trial (spiking or rate
    model) under the :class:`~plasticity.rules.base.Rule` protocol. The same rule on a
    projection of a simulated spiking network is the network kind
    :class:`plasticity.spiking.DendriticPrediction` (spiking model; the neuron's
    parameters belong to its :class:`~plasticity.spiking.TwoCompartment` group there):
    ``eta`` and ``tau_delta`` here are its declarations of ``eta`` and ``tau_delta_ms``.
    Called ``DendriticPrediction`` before (that name still works for one release, with a
    DeprecationWarning).

    ``signals[pre]`` holds the presynaptic spike counts of a trial, shape ``(T, n)``
    (steps of ``dt``); ``signals["g_E"]`` and ``signals["g_I"]`` the teacher conductances,
    shape ``(T,)`` (absent: zero). The state is the dict of :attr:`Trial.state` (``None``:
    everything at rest), so consecutive trials chain. The spiking model needs ``rng``.

    Parameters
    ----------
    eta : float, > 0
        Learning rate (weights are in units of potential times ms).
    model : {"spiking", "rate"}
        Target of the dendritic prediction: somatic spikes or the somatic rate.
    dt : float, > 0
        Time step (ms); below ``tau_s`` and ``tau_delta`` and ``dt (g_L + g_D) < 1``.
    tau_L, tau_s : float, > 0
        Slow and fast time constants of the PSP kernel (ms), ``tau_s < tau_L``.
    g_L, g_D : float, > 0
        Leak and dendro-somatic coupling conductances (1/ms).
    E_E, E_I : float
        Reversal potentials of the teacher's excitation and inhibition, ``E_I < E_E``.
    phi_max : float, > 0
        Maximal rate (1/ms).
    k, beta : float, > 0
        Shape of the rate function (``beta`` per unit potential).
    theta : float
        Its threshold (potential).
    tau_delta : float, >= 0
        Time constant of the low-pass filter of the change (ms); 0: no filter.
    target, pre : str
        The weight vector ``params[target]`` (shape (n,)) and the input signal.
    """

    name: ClassVar[str] = "dendritic_prediction"
    substrates: ClassVar[tuple[str, ...]] = ("spiking",)
    eta: float = redeclared(_NetworkKind, "eta")
    model: Literal["spiking", "rate"] = Field("spiking", description="somatic target")
    dt: float = Field(0.2, gt=0, allow_inf_nan=False, description="time step (ms)")
    tau_L: float = Field(10.0, gt=0, allow_inf_nan=False, description="slow PSP tau (ms)")
    tau_s: float = Field(3.0, gt=0, allow_inf_nan=False, description="fast PSP tau (ms)")
    g_L: float = Field(0.1, gt=0, allow_inf_nan=False, description="leak (1/ms)")
    g_D: float = Field(2.0, gt=0, allow_inf_nan=False, description="coupling (1/ms)")
    E_E: float = Field(14 / 3, allow_inf_nan=False, description="excitatory reversal")
    E_I: float = Field(-1 / 3, allow_inf_nan=False, description="inhibitory reversal")
    phi_max: float = Field(0.15, gt=0, allow_inf_nan=False, description="max rate (1/ms)")
    k: float = Field(0.5, gt=0, allow_inf_nan=False, description="rate function k")
    beta: float = Field(5.0, gt=0, allow_inf_nan=False, description="rate function slope")
    theta: float = Field(1.0, allow_inf_nan=False, description="rate function threshold")
    tau_delta: float = redeclared(_NetworkKind, "tau_delta_ms")
    target: str = Field("w", description="the weight vector, shape (n,)")
    pre: str = Field("input", description="signal holding the spike counts (T, n)")

    @model_validator(mode="after")
    def _consistent(self):
        if self.tau_s >= self.tau_L:
            raise ValueError(f"tau_s = {self.tau_s} must be below tau_L = {self.tau_L} ms")
        if self.dt >= self.tau_s:
            raise ValueError(f"dt = {self.dt} ms must be below the shortest time constant "
                             f"tau_s = {self.tau_s} ms")
        if 0 < self.tau_delta <= self.dt:
            raise ValueError(f"tau_delta = {self.tau_delta} ms must be 0 or above dt = "
                             f"{self.dt} ms")
        if self.dt * (self.g_L + self.g_D) >= 1:
            raise ValueError(f"dt = {self.dt} ms must be below the somatic time constant "
                             f"1/(g_L + g_D) = {1 / (self.g_L + self.g_D):.3g} ms")
        if self.E_I >= self.E_E:
            raise ValueError(f"E_I = {self.E_I:.4g} must be below E_E = {self.E_E:.4g}")
        return self

    @property
    def coupling(self) -> float:
        """``c = g_D / (g_D + g_L)``: ``V*_w = c V_w``."""
        return self.g_D / (self.g_D + self.g_L)

    def _phi_args(self):
        return {"phi_max": self.phi_max, "k": self.k, "beta": self.beta, "theta": self.theta}

    def phi(self, v):
        """The rate function with this rule's parameters (1/ms)."""
        return phi(v, **self._phi_args())

    def psp(self, X):
        """The PSPs of spike counts ``X`` (shape (T, n)) from rest, shape (T, n), 1/ms."""
        X = np.asarray(X, dtype=float)
        out = np.empty_like(X)
        a_L, a_s = np.exp(-self.dt / self.tau_L), np.exp(-self.dt / self.tau_s)
        x_L, x_s = np.zeros(X.shape[1]), np.zeros(X.shape[1])
        for t in range(len(X)):
            x_L, x_s = a_L * x_L + X[t], a_s * x_s + X[t]
            out[t] = (x_L - x_s) / (self.tau_L - self.tau_s)
        return out

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Simulate the trial ``signals`` with learning; return ``({target: dw}, state)``."""
        who = type(self).__name__
        if self.target not in params:
            raise RuleError(f"Rule {who}: the target parameter '{self.target}' is not among "
                            f"the parameters (known: {', '.join(sorted(params)) or 'none'}).")
        if self.pre not in signals:
            raise RuleError(f"Rule {who}: the signals lack the input signal '{self.pre}' "
                            f"(available: {', '.join(sorted(signals)) or 'none'}).")
        if self.model == "spiking" and rng is None:
            raise RuleError(f"Rule {who}: the spiking model draws somatic spikes; pass rng.")
        w0 = np.asarray(params[self.target], dtype=float)
        T = np.shape(signals[self.pre])[0] if np.ndim(signals[self.pre]) else 0
        noise = rng.random(T) if self.model == "spiking" else None
        try:
            trial = simulate_trial(self, w0, signals[self.pre], signals.get("g_E"),
                                   signals.get("g_I"), noise=noise, state=state)
        except InvalidParameterError as exc:
            raise RuleError(f"Rule {who}: {exc}") from None
        return {self.target: trial.w - w0}, trial.state


def _array(name, value, shape):
    a = np.asarray(value, dtype=np.float64)
    if a.shape != shape:
        raise InvalidParameterError(f"{name} has shape {a.shape}; expected {shape}.")
    if not np.all(np.isfinite(a)):
        raise InvalidParameterError(f"{name} contains NaN or infinity.")
    return np.ascontiguousarray(a).copy()


def simulate_trial(rule: DendriticPredictionTrial, w, X, g_E=None, g_I=None, *, noise=None,
                   state=None, learn=True) -> Trial:
    """Run one trial of the neuron with ``rule``'s parameters (validated wrapper).

    Parameters
    ----------
    rule : DendriticPredictionTrial
        Neuron and rule parameters.
    w : array_like, shape (n,)
        Dendritic weights before the trial (not modified).
    X : array_like, shape (T, n)
        Presynaptic spike counts per step (>= 0).
    g_E, g_I : array_like, shape (T,), optional
        Teacher conductances (1/ms, >= 0); ``None``: zero.
    noise : array_like, shape (T,), optional
        Uniform numbers in [0, 1) for the somatic spikes (spiking model only, required).
    state : dict, optional
        The previous trial's :attr:`Trial.state`; ``None``: at rest.
    learn : bool
        Apply the plasticity (else ``w`` is returned unchanged).

    Returns
    -------
    Trial
    """
    from plasticity._kernels.dendritic import MODEL_RATE, MODEL_SPIKING, dendritic_trial

    if not isinstance(rule, DendriticPredictionTrial):
        raise InvalidParameterError(f"rule must be a DendriticPredictionTrial, got "
                                    f"{type(rule).__name__}.")
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1:
        raise InvalidParameterError(f"the weights have shape {w.shape}; expected (n,).")
    n = w.shape[0]
    w = _array("the weights", w, (n,))
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n:
        raise InvalidParameterError(f"the input has shape {X.shape}; expected (T, {n}) to "
                                    f"match the weights.")
    T = X.shape[0]
    X = _array("the input", X, (T, n))
    if np.any(X < 0):
        raise InvalidParameterError("the input holds negative spike counts.")
    g = {}
    for name, val in (("g_E", g_E), ("g_I", g_I)):
        g[name] = np.zeros(T) if val is None else _array(name, val, (T,))
        if np.any(g[name] < 0):
            raise InvalidParameterError(f"{name} holds negative conductances "
                                        f"(min {g[name].min():.3g}); conductances are >= 0.")
    if rule.model == "spiking":
        if noise is None:
            raise InvalidParameterError("the spiking model needs noise, shape (T,), "
                                        "uniform in [0, 1).")
        noise = _array("noise", noise, (T,))
        if np.any((noise < 0) | (noise >= 1)):
            raise InvalidParameterError("noise must lie in [0, 1).")
    else:
        noise = np.zeros(T)
    if state is None:
        state = {"x_L": np.zeros(n), "x_s": np.zeros(n), "U": np.zeros(1), "D": np.zeros(n)}
    if not isinstance(state, dict) or set(state) != {"x_L", "x_s", "U", "D"}:
        raise InvalidParameterError("state must be a dict with keys x_L, x_s, U, D (the "
                                    "previous trial's Trial.state) or None.")
    st = {key: _array(f"state['{key}']", state[key], (1,) if key == "U" else (n,))
          for key in ("x_L", "x_s", "U", "D")}
    U, V, S = np.empty(T), np.empty(T), np.empty(T)
    model = MODEL_SPIKING if rule.model == "spiking" else MODEL_RATE
    w_out = w.copy()
    dendritic_trial(w_out, X, g["g_E"], g["g_I"], noise, bool(learn), model, rule.dt,
                    rule.tau_L, rule.tau_s, rule.g_L, rule.g_D, rule.E_E, rule.E_I,
                    rule.phi_max, rule.k, rule.beta, rule.theta, rule.eta, rule.tau_delta,
                    st["x_L"], st["x_s"], st["U"], st["D"], U, V, S)
    return Trial(w=w_out, state=st, U=U, V_star=V, S=S)


def spike_nll(rule: DendriticPredictionTrial, w, psp, spikes):
    """``L_S(w)``: negative log-likelihood of the somatic spikes under the dendritic
    prediction, ``-sum_t [s_t log phi(V*_t) - phi(V*_t) dt]`` (dimensionless).

    ``psp`` has shape (T, n) (:meth:`DendriticPredictionTrial.psp`), ``spikes`` shape (T,)
    (0/1 per step). Its gradient is ``-c sum_t (s_t - phi dt) h psp_t``.
    """
    v = rule.coupling * (np.asarray(psp) @ np.asarray(w))
    z = rule.beta * (rule.theta - v) + np.log(rule.k)
    log_phi = np.log(rule.phi_max) - np.logaddexp(0.0, z)
    return float(-np.sum(np.asarray(spikes) * log_phi - np.exp(log_phi) * rule.dt))


def rate_kl(rule: DendriticPredictionTrial, w, psp, U):
    """``KL(w)``: the Poisson KL divergence of the dendritic prediction from the somatic
    rate, ``sum_t dt [phi(U) log(phi(U) / phi(V*)) - phi(U) + phi(V*)]`` (dimensionless),
    with the somatic potentials ``U`` (shape (T,)) held fixed."""
    v = rule.coupling * (np.asarray(psp) @ np.asarray(w))
    p_u, p_v = rule.phi(U), rule.phi(v)
    return float(np.sum(rule.dt * (p_u * np.log(p_u / p_v) - p_u + p_v)))
