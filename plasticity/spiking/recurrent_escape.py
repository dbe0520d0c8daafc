"""A recurrent network of escape-noise LIF/ALIF neurons, a temporal task, and its oracle.

The network (:class:`RecurrentEscapeNet`) is Bellec et al. (2020)'s discrete-time LIF/ALIF
network with reset by subtraction and a leaky readout, made stochastic by escape noise;
the equations are in :mod:`plasticity._kernels.recurrent_escape`, which simulates ``K``
trials and computes, per trial, the score ``d log P(spikes | W_in, W_rec) / dW`` and the
exact readout gradient ``dl/dW_out`` given the spikes.

The task (:class:`PatternTask`): ``n_patterns`` frozen Poisson input patterns, each with a
target readout trace (a sum of three sinusoids, Bellec et al.'s pattern generation); the
loss is the mean squared readout error over the masked steps of a trial.

The reference gradient (:class:`RecurrentEscapeOracle`) is that of the *expected* trial
loss over the neurons' escape noise, averaged over the patterns,

    L(W) = (1/M) sum_m E[ l | pattern m, W ],

estimated per pattern from ``K`` independent trials:

* ``W_in``, ``W_rec``: the likelihood-ratio estimate with a leave-one-out baseline,
  :func:`plasticity.spiking.oracle.lr_gradient` (unbiased; its bias and variance are
  stated there), since the loss depends on these weights only through the spikes;
* ``W_out``: the mean over trials of the exact pathwise ``dl/dW_out`` given the spikes,
  ``E[dl/dW_out]`` being ``dL/dW_out`` because ``W_out`` does not change the spike
  distribution; its standard error is the sample standard deviation over ``sqrt(K)``.

Pattern means combine as ``g = (1/M) sum_m g_m`` and ``se = sqrt(sum_m se_m^2) / M``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import Field, model_validator

from plasticity.errors import InvalidParameterError
from plasticity.validation import Hyperparameters

__all__ = ["PARAM_KEYS", "PatternTask", "RecurrentEscapeNet", "RecurrentEscapeOracle",
           "RecurrentEstimate"]

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


@dataclass
class PatternTask:
    """Frozen Poisson input patterns and target readout traces (pattern generation).

    Parameters
    ----------
    net : RecurrentEscapeNet
    n_steps : int >= 1
        Trial length ``T`` (steps of ``net.dt_ms``).
    n_patterns : int >= 1
    rate_hz : float > 0
        Input rate of the frozen Poisson trains.
    rng : int, sequence or Generator
        Draws the patterns and the targets.
    amplitude : float > 0
        Scale of the target traces (readout units).
    mask_from : int >= 0
        Steps before it do not count in the loss (a transient).

    Attributes
    ----------
    inputs : ndarray, shape (M, T, n_in)
    targets : ndarray, shape (M, T, n_out)
        ``sum_{f=1..3} A_f sin(2 pi f t / T + phi_f)`` per output and pattern, with
        ``A_f ~ U(0.5, 1) amplitude / f`` and ``phi_f ~ U(0, 2 pi)``.
    mask : ndarray, shape (T,)
    """

    net: RecurrentEscapeNet
    n_steps: int
    n_patterns: int = 1
    rate_hz: float = 20.0
    rng: object = 0
    amplitude: float = 0.5
    mask_from: int = 0

    def __post_init__(self):
        if not isinstance(self.net, RecurrentEscapeNet):
            raise InvalidParameterError("PatternTask needs a RecurrentEscapeNet.")
        for name in ("n_steps", "n_patterns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise InvalidParameterError(f"The {name!r} of PatternTask must be an "
                                            f"integer >= 1. Got {value!r}.")
        if not (0 <= int(self.mask_from) < self.n_steps):
            raise InvalidParameterError(f"mask_from must be in [0, n_steps); got "
                                        f"{self.mask_from!r}.")
        if not (self.rate_hz > 0 and self.amplitude > 0):
            raise InvalidParameterError("rate_hz and amplitude must be > 0.")
        rng = np.random.default_rng(self.rng)
        net, T, M = self.net, int(self.n_steps), int(self.n_patterns)
        p_spike = min(self.rate_hz * net.dt_ms * 1e-3, 1.0)
        self.inputs = (rng.random((M, T, net.n_in)) < p_spike).astype(np.float64)
        t = np.arange(T)
        self.targets = np.zeros((M, T, net.n_out))
        for f in (1, 2, 3):
            amp = rng.uniform(0.5, 1.0, size=(M, 1, net.n_out)) * self.amplitude / f
            phase = rng.uniform(0.0, 2 * np.pi, size=(M, 1, net.n_out))
            self.targets += amp * np.sin(2 * np.pi * f * t[None, :, None] / T + phase)
        self.mask = (t >= int(self.mask_from)).astype(np.float64)

    def trials(self, params, m, U, *, record=False) -> dict:
        """``K = len(U)`` trials of pattern ``m`` (:meth:`RecurrentEscapeNet.run`)."""
        return self.net.run(params, self.inputs[m], self.targets[m], self.mask, U,
                            record=record)

    def trial_signals(self, params, patterns, seeds) -> dict:
        """One trial per ``(pattern, seed)`` with everything a rule may read.

        Trial ``k`` runs pattern ``patterns[k]`` with the uniforms
        ``default_rng(seeds[k]).random((T, n_rec))``. The keys (leading axis: trials) are
        listed in :mod:`plasticity.problems.spiking_recurrent`; ``grad_out`` is each
        trial's exact ``dl/dW_out``.
        """
        net, T = self.net, int(self.n_steps)
        parts = []
        for m, seed in zip(patterns, seeds, strict=True):
            U = np.random.default_rng(int(seed)).random((1, T, net.n_rec))
            parts.append(self.trials(params, int(m), U, record=True))
        pats = np.asarray(patterns, dtype=np.int64)
        y = np.concatenate([o["y"] for o in parts])
        target = self.targets[pats]
        norm = self.mask.sum() * net.n_out
        a = np.concatenate([o["a"] for o in parts])
        return {"input": self.inputs[pats],
                "spikes": np.concatenate([o["spikes"] for o in parts]),
                "v": np.concatenate([o["v"] for o in parts]), "a": a,
                "threshold": net.v_th_mv + net.beta() * a, "readout": y,
                "target": target,
                "output_error": 2.0 * self.mask[None, :, None] * (y - target) / norm,
                "trial_loss": np.concatenate([o["loss"] for o in parts]), "pattern": pats,
                "score": {k: np.concatenate([o["score"][k] for o in parts])
                          for k in ("W_in", "W_rec")},
                "grad_out": np.concatenate([o["grad_out"] for o in parts]),
                "mask": self.mask, **net.constants()}


@dataclass
class RecurrentEstimate:
    """One oracle evaluation.

    Attributes
    ----------
    grad, se : dict of str to ndarray
        ``W_in``, ``W_rec`` (loss per mV) and ``W_out`` (loss per readout unit): the
        gradient estimate of the expected loss and each component's standard error.
    loss, loss_se : float
        The expected loss estimated from the same trials, and its standard error.
    n_trials : int
        Trials per pattern.
    """

    grad: dict
    se: dict
    loss: float
    loss_se: float
    n_trials: int


class RecurrentEscapeOracle:
    """The gradient of :class:`PatternTask`'s expected loss, with standard errors.

    Parameters
    ----------
    task : PatternTask
    n_trials : int >= 2
        ``K``, trials per pattern per evaluation.

    Notes
    -----
    The estimators are in the module docstring; ``W_in`` and ``W_rec`` reuse
    :func:`plasticity.spiking.oracle.lr_gradient`. Cost: ``K M`` trials of
    ``O(T n_rec (n_in + n_rec))``.
    """

    def __init__(self, task, n_trials=1000):
        if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) \
                or n_trials < 2:
            raise InvalidParameterError("The 'n_trials' parameter of RecurrentEscapeOracle "
                                        f"must be an integer >= 2. Got {n_trials!r}.")
        if not isinstance(task, PatternTask):
            raise InvalidParameterError("RecurrentEscapeOracle needs a PatternTask.")
        self.task = task
        self.n_trials = int(n_trials)

    def estimate(self, params, rng) -> RecurrentEstimate:
        """Gradient, loss and their standard errors from ``n_trials`` trials per pattern,
        their noise drawn from ``rng`` (an int, seed sequence or Generator)."""
        from plasticity.spiking.oracle import lr_gradient

        rng = np.random.default_rng(rng)
        task, K = self.task, self.n_trials
        net = task.net
        M = task.n_patterns
        shapes = net.shapes()
        grad = {k: np.zeros(s) for k, s in shapes.items()}
        var = {k: np.zeros(s) for k, s in shapes.items()}
        loss = loss_var = 0.0
        for m in range(M):
            U = rng.random((K, task.n_steps, net.n_rec))
            out = task.trials(params, m, U)
            for key in ("W_in", "W_rec"):
                g, se = lr_gradient(out["loss"], out["score"][key])
                grad[key] += g
                var[key] += se * se
            grad["W_out"] += out["grad_out"].mean(axis=0)
            var["W_out"] += out["grad_out"].var(axis=0, ddof=1) / K
            loss += float(out["loss"].mean())
            loss_var += float(out["loss"].var(ddof=1)) / K
        return RecurrentEstimate(grad={k: g / M for k, g in grad.items()},
                                 se={k: np.sqrt(v) / M for k, v in var.items()},
                                 loss=loss / M, loss_se=math.sqrt(loss_var) / M,
                                 n_trials=K)
