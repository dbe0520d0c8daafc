"""The escape-noise LIF/ALIF network itself (Bellec et al. 2020, Methods).

:class:`RecurrentEscapeNet` is Bellec et al.'s discrete-time LIF/ALIF network with reset
by subtraction and a leaky readout, made stochastic by escape noise; the equations are in
:mod:`plasticity._kernels.recurrent_escape`, which simulates ``K`` trials and computes,
per trial, the score ``d log P(spikes | W_in, W_rec) / dW`` and the exact readout gradient
``dl/dW_out`` given the spikes. :meth:`RecurrentEscapeNet.replay` recomputes the
deterministic quantities of given spike trains in plain NumPy.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, model_validator

from plasticity.errors import InvalidParameterError
from plasticity.validation import Hyperparameters

__all__ = ["PARAM_KEYS", "RecurrentEscapeNet"]

#: The parameters of the network, in the order of the flattened vector (sorted).
PARAM_KEYS = ("W_in", "W_out", "W_rec")


class RecurrentEscapeNet(Hyperparameters):
    """Escape-noise LIF/ALIF neurons in discrete time (Bellec et al. 2020, Methods).

    Parameters
    ----------
    n_in, n_rec, n_out : int >= 1
        Input trains, recurrent neurons and readout units.
    n_adaptive : int >= 0
        The last ``n_adaptive`` recurrent neurons are ALIF (adaptation ``beta_mv``), the
        others LIF.
    dt_ms, tau_m_ms, tau_a_ms, tau_out_ms : float > 0
        Time step and the time constants of membrane, adaptation and readout (ms);
        ``alpha = exp(-dt/tau_m)``, ``rho = exp(-dt/tau_a)``, ``kappa = exp(-dt/tau_out)``.
    v_th_mv : float > 0
        Threshold above rest and reset step (mV).
    beta_mv : float >= 0
        Threshold increase per unit of the adaptation variable (mV; ``a`` jumps by 1 per
        spike).
    delta_u_mv : float > 0
        Escape-noise width (mV): the rate grows e-fold per ``delta_u_mv``.
    rho0_per_ms : float > 0
        Escape rate at the threshold (per ms).

    Examples
    --------
    >>> net = RecurrentEscapeNet(n_in=3, n_rec=4, n_out=1, n_adaptive=2)
    >>> net.beta().tolist()
    [0.0, 0.0, 1.5, 1.5]
    """

    n_in: int = Field(ge=1)
    n_rec: int = Field(ge=1)
    n_out: int = Field(1, ge=1)
    n_adaptive: int = Field(0, ge=0)
    dt_ms: float = Field(1.0, gt=0, allow_inf_nan=False)
    tau_m_ms: float = Field(20.0, gt=0, allow_inf_nan=False)
    tau_a_ms: float = Field(200.0, gt=0, allow_inf_nan=False)
    tau_out_ms: float = Field(20.0, gt=0, allow_inf_nan=False)
    v_th_mv: float = Field(10.0, gt=0, allow_inf_nan=False)
    beta_mv: float = Field(1.5, ge=0, allow_inf_nan=False)
    delta_u_mv: float = Field(2.5, gt=0, allow_inf_nan=False)
    rho0_per_ms: float = Field(0.05, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _adaptive_within(self):
        if self.n_adaptive > self.n_rec:
            raise ValueError(f"n_adaptive ({self.n_adaptive}) must be <= n_rec "
                             f"({self.n_rec})")
        return self

    # -- derived constants -----------------------------------------------------------
    @property
    def alpha(self) -> float:
        """Membrane decay per step, ``exp(-dt/tau_m)``."""
        return math.exp(-self.dt_ms / self.tau_m_ms)

    @property
    def rho(self) -> float:
        """Adaptation decay per step, ``exp(-dt/tau_a)``."""
        return math.exp(-self.dt_ms / self.tau_a_ms)

    @property
    def kappa(self) -> float:
        """Readout decay per step, ``exp(-dt/tau_out)``."""
        return math.exp(-self.dt_ms / self.tau_out_ms)

    def beta(self) -> np.ndarray:
        """Adaptation strength per neuron (mV), shape (n_rec,)."""
        out = np.zeros(self.n_rec)
        if self.n_adaptive:
            out[self.n_rec - self.n_adaptive:] = self.beta_mv
        return out

    def shapes(self) -> dict:
        """``{"W_in": (n_rec, n_in), "W_rec": (n_rec, n_rec), "W_out": (n_out, n_rec)}``."""
        return {"W_in": (self.n_rec, self.n_in), "W_rec": (self.n_rec, self.n_rec),
                "W_out": (self.n_out, self.n_rec)}

    def constants(self) -> dict:
        """The constants a rule reads from the signals (see
        :meth:`plasticity.problems.RecurrentSpikingProblem.signals`)."""
        return {"dt_ms": self.dt_ms, "alpha": self.alpha, "rho": self.rho,
                "kappa": self.kappa, "v_th_mv": self.v_th_mv, "beta_mv": self.beta(),
                "delta_u_mv": self.delta_u_mv}

    def init_params(self, rng, *, in_mean_mv=1.0, in_sd_mv=1.5, rec_sd_mv=2.0,
                    out_sd=None) -> dict:
        """Initial weights: ``W_in ~ N(in_mean, in_sd^2)``, ``W_rec ~ N(0, rec_sd^2 / n_rec)``
        with a zero diagonal, ``W_out ~ N(0, out_sd^2)`` (default ``1/sqrt(n_rec)``)."""
        rng = np.random.default_rng(rng)
        n = self.n_rec
        out_sd = 1.0 / math.sqrt(n) if out_sd is None else float(out_sd)
        W_in = rng.normal(in_mean_mv, in_sd_mv, size=(n, self.n_in))
        W_rec = rng.normal(0.0, rec_sd_mv / math.sqrt(n), size=(n, n))
        np.fill_diagonal(W_rec, 0.0)
        W_out = rng.normal(0.0, out_sd, size=(self.n_out, n))
        return {"W_in": W_in, "W_rec": W_rec, "W_out": W_out}

    def check_params(self, params) -> dict:
        """``params`` as float64 arrays of the right shapes (one clear line otherwise)."""
        if not isinstance(params, dict):
            raise InvalidParameterError("The recurrent spiking network's params must be a "
                                        "dict with W_in, W_rec and W_out.")
        out = {}
        for key, shape in self.shapes().items():
            if key not in params:
                raise InvalidParameterError(f"The recurrent spiking network needs the "
                                            f"parameter {key!r} of shape {shape}.")
            arr = np.ascontiguousarray(params[key], dtype=np.float64)
            if arr.shape != shape:
                raise InvalidParameterError(f"The parameter {key!r} has shape {arr.shape}; "
                                            f"the network needs {shape}.")
            if not np.all(np.isfinite(arr)):
                raise InvalidParameterError(f"The parameter {key!r} contains NaN or "
                                            "infinity.")
            out[key] = arr
        return out

    # -- simulation ------------------------------------------------------------------
    def run(self, params, X, target, mask, U, *, record=False) -> dict:
        """``K`` trials on one input (the kernel, after checking the arguments).

        Parameters
        ----------
        params : dict
            ``W_in`` (n_rec, n_in), ``W_rec`` (n_rec, n_rec), ``W_out`` (n_out, n_rec).
        X : ndarray, shape (T, n_in)
            Input per step.
        target : ndarray, shape (T, n_out)
        mask : ndarray, shape (T,)
            0/1 weights of the steps in the loss (at least one nonzero).
        U : ndarray, shape (K, T, n_rec)
            Uniform numbers in [0, 1) deciding the spikes.
        record : bool
            Also return ``v``, ``a`` (K, T, n_rec) and ``y`` (K, T, n_out).

        Returns
        -------
        dict
            ``spikes`` (K, T, n_rec) uint8, ``loss`` (K,), ``score`` (dict ``W_in``,
            ``W_rec``: (K, ...) in 1/mV), ``grad_out`` (K, n_out, n_rec), and with
            ``record`` ``v`` (mV), ``a`` and ``y``.
        """
        from plasticity._kernels.recurrent_escape import simulate

        p = self.check_params(params)
        X = np.ascontiguousarray(X, dtype=np.float64)
        target = np.ascontiguousarray(target, dtype=np.float64)
        mask = np.ascontiguousarray(mask, dtype=np.float64)
        U = np.ascontiguousarray(U, dtype=np.float64)
        T = X.shape[0] if X.ndim == 2 else -1
        if X.ndim != 2 or X.shape[1] != self.n_in or T < 1:
            raise InvalidParameterError(f"The input must have shape (T, {self.n_in}) with "
                                        f"T >= 1; got {X.shape}.")
        if target.shape != (T, self.n_out) or mask.shape != (T,):
            raise InvalidParameterError(f"target {target.shape} and mask {mask.shape} must "
                                        f"have shapes ({T}, {self.n_out}) and ({T},).")
        if not np.any(mask != 0):
            raise InvalidParameterError("The loss mask selects no step.")
        if U.ndim != 3 or U.shape[1:] != (T, self.n_rec) or U.shape[0] < 1:
            raise InvalidParameterError(f"U must have shape (K, {T}, {self.n_rec}); got "
                                        f"{U.shape}.")
        K, n = U.shape[0], self.n_rec
        spikes = np.zeros((K, T, n), dtype=np.uint8)
        loss = np.zeros(K)
        s_in = np.zeros((K, n, self.n_in))
        s_rec = np.zeros((K, n, n))
        g_out = np.zeros((K, self.n_out, n))
        shape = (K, T, n) if record else (1, 1, 1)
        v, a = np.zeros(shape), np.zeros(shape)
        y = np.zeros((K, T, self.n_out) if record else (1, 1, 1))
        simulate(p["W_in"], p["W_rec"], p["W_out"], X, target, mask, U, self.alpha,
                 self.rho, self.kappa, self.v_th_mv, self.beta(), self.delta_u_mv,
                 self.rho0_per_ms, self.dt_ms, bool(record), spikes, loss, s_in, s_rec,
                 g_out, v, a, y)
        out = {"spikes": spikes, "loss": loss, "score": {"W_in": s_in, "W_rec": s_rec},
               "grad_out": g_out}
        if record:
            out.update(v=v, a=a, y=y)
        return out

    def replay(self, params, X, spikes, target=None, mask=None) -> dict:
        """The deterministic quantities of given spike trains (plain NumPy).

        Given the spikes, membrane, adaptation, spike probabilities and readout are
        deterministic (module docstring of :mod:`plasticity._kernels.recurrent_escape`).

        Parameters
        ----------
        params : dict
        X : ndarray, shape (T, n_in)
        spikes : ndarray, shape (K, T, n_rec)
            0/1 spike trains.
        target, mask : ndarray, optional
            With both, the trial losses are returned too.

        Returns
        -------
        dict
            ``v``, ``a``, ``p`` (K, T, n_rec), ``y`` (K, T, n_out), ``log_likelihood``
            (K,) (natural log of the probability of each spike train), and ``loss`` (K,)
            when ``target`` and ``mask`` are given.
        """
        p_ = self.check_params(params)
        z_all = np.asarray(spikes, dtype=np.float64)
        K, T, n = z_all.shape
        beta = self.beta()
        v, a, z, y = np.zeros((K, n)), np.zeros((K, n)), np.zeros((K, n)), \
            np.zeros((K, self.n_out))
        out = {k: np.zeros((K, T, n)) for k in ("v", "a", "p")}
        out["y"] = np.zeros((K, T, self.n_out))
        logl = np.zeros(K)
        for t in range(T):
            v = self.alpha * v + X[t] @ p_["W_in"].T + z @ p_["W_rec"].T - self.v_th_mv * z
            a = self.rho * a + z
            u = v - self.v_th_mv - beta * a
            prob = -np.expm1(-self.rho0_per_ms * np.exp(u / self.delta_u_mv) * self.dt_ms)
            z = z_all[:, t]
            with np.errstate(divide="ignore"):
                logl += np.sum(np.where(z > 0, np.log(prob), np.log1p(-prob)), axis=1)
            y = self.kappa * y + z @ p_["W_out"].T
            out["v"][:, t], out["a"][:, t], out["p"][:, t], out["y"][:, t] = v, a, prob, y
        out["log_likelihood"] = logl
        if target is not None and mask is not None:
            m = np.asarray(mask, dtype=np.float64)
            err2 = np.sum((out["y"] - np.asarray(target)[None]) ** 2, axis=2)
            out["loss"] = (err2 @ m) / (m.sum() * self.n_out)
        return out
