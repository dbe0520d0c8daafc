"""A supervised spiking task: output neurons must fire a target number of spikes.

:class:`EscapeLIF` holds the neuron model (current-based leaky integrate-and-fire with
escape noise, see :mod:`plasticity._kernels.escape`) and runs trials through the Numba
kernel; :class:`SpikeCountTask` is the task: a few frozen Poisson input patterns, a
target spike count per pattern and output neuron, and the loss a rule is judged against.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from plasticity.errors import InvalidParameterError
from plasticity.validation import Hyperparameters

__all__ = ["EscapeLIF", "SpikeCountTask", "TrialBatch"]


def _count(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(f"The '{name}' parameter must be an integer >= {minimum}. "
                                    f"Got {value!r}.")
    return int(value)


def _positive(name, value):
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = np.nan
    if not np.isfinite(x) or x <= 0:
        raise InvalidParameterError(f"The '{name}' parameter must be a finite number > 0. "
                                    f"Got {value!r}.")
    return x


class EscapeLIF(Hyperparameters):
    """Current-based LIF neurons with escape noise (the model of
    :mod:`plasticity._kernels.escape`).

    Parameters
    ----------
    dt_ms : float > 0, default 1.0
        Time step (ms).
    tau_m_ms, tau_s_ms : float > 0, default 10.0 and 5.0
        Membrane and synaptic time constants (ms).
    v_rest_mv, v_reset_mv, v_th_mv : float, default -70, -70, -55
        Resting and reset potentials and the escape-noise threshold (mV).
    delta_u_mv : float > 0, default 3.0
        Width of the escape noise (mV): the rate grows e-fold per ``delta_u``.
    rho0_hz : float > 0, default 50.0
        Escape rate at threshold (Hz).
    reset : bool, default True
        Reset the membrane to ``v_reset`` after each output spike. Without reset the
        spike probabilities do not depend on the neuron's own spikes (the closed-form
        test case of the gradient oracle).
    """

    dt_ms: float = Field(1.0, gt=0, allow_inf_nan=False)
    tau_m_ms: float = Field(10.0, gt=0, allow_inf_nan=False)
    tau_s_ms: float = Field(5.0, gt=0, allow_inf_nan=False)
    v_rest_mv: float = Field(-70.0, allow_inf_nan=False)
    v_reset_mv: float = Field(-70.0, allow_inf_nan=False)
    v_th_mv: float = Field(-55.0, allow_inf_nan=False)
    delta_u_mv: float = Field(3.0, gt=0, allow_inf_nan=False)
    rho0_hz: float = Field(50.0, gt=0, allow_inf_nan=False)
    reset: bool = True

    def run(self, W, X, U, stdp=None):
        """Simulate ``K`` trials on the input trains ``X``.

        Parameters
        ----------
        W : ndarray, shape (n_out, n_in)
            Weights (mV per input spike).
        X : ndarray, shape (T, n_in)
            Input spike counts per step (0/1).
        U : ndarray, shape (K, T, n_out)
            Uniform numbers in [0, 1) that decide the output spikes (the neuron noise).
        stdp : dict, optional
            ``tau_plus_ms``, ``tau_minus_ms``, ``a_plus``, ``a_minus``: also accumulate
            the net pair-STDP change of each trial inside the kernel.

        Returns
        -------
        dict
            ``spikes`` (K, T, n_out) uint8, ``counts`` (K, n_out) float, ``score``
            (K, n_out, n_in) (1/mV; the derivative of each trial's log-likelihood with
            respect to ``W``), and ``stdp`` (K, n_out, n_in) when asked for.
        """
        from plasticity._kernels.escape import simulate

        W = np.ascontiguousarray(W, dtype=np.float64)
        X = np.ascontiguousarray(X, dtype=np.float64)
        U = np.ascontiguousarray(U, dtype=np.float64)
        if W.ndim != 2 or X.ndim != 2 or X.shape[1] != W.shape[1]:
            raise InvalidParameterError(f"EscapeLIF.run: W has shape {W.shape} and X has "
                                        f"shape {X.shape}; expected (n_out, n_in) and "
                                        "(T, n_in).")
        if U.ndim != 3 or U.shape[1:] != (X.shape[0], W.shape[0]):
            raise InvalidParameterError(f"EscapeLIF.run: U has shape {U.shape}; expected "
                                        f"(K, {X.shape[0]}, {W.shape[0]}).")
        if not np.all(np.isfinite(W)):
            raise InvalidParameterError("EscapeLIF.run: W contains NaN or infinity.")
        K, T, n_out = U.shape
        n_in = W.shape[1]
        spikes = np.zeros((K, T, n_out), dtype=np.uint8)
        score = np.zeros((K, n_out, n_in))
        do_stdp = stdp is not None
        out_stdp = np.zeros((K, n_out, n_in) if do_stdp else (0, n_out, n_in))
        st = stdp or {"tau_plus_ms": 1.0, "tau_minus_ms": 1.0, "a_plus": 0.0,
                      "a_minus": 0.0}
        simulate(W, X, U, self.dt_ms, self.tau_m_ms, self.tau_s_ms, self.v_rest_mv,
                 self.v_reset_mv, self.v_th_mv, self.delta_u_mv, self.rho0_hz * 1e-3,
                 bool(self.reset), do_stdp, float(st["tau_plus_ms"]),
                 float(st["tau_minus_ms"]), float(st["a_plus"]), float(st["a_minus"]),
                 spikes, score, out_stdp)
        out = {"spikes": spikes, "counts": spikes.sum(axis=1, dtype=np.float64),
               "score": score}
        if do_stdp:
            out["stdp"] = out_stdp
        return out

    def probabilities_no_reset(self, W, X):
        """Per-step spike probabilities and their W-derivative factors without reset.

        Only meaningful for the closed-form case: with ``reset`` off the membrane never
        sees the output spikes, so the probabilities are deterministic.

        Returns
        -------
        p : ndarray, shape (T, n_out)
            Spike probability per step.
        dp_dv : ndarray, shape (T, n_out)
            ``dp/dv`` (1/mV).
        q : ndarray, shape (T, n_in)
            ``dv_i(t)/dW_ij`` (the same for every neuron ``i``; dimensionless).
        """
        W = np.asarray(W, dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        a = np.exp(-self.dt_ms / self.tau_s_ms)
        b = np.exp(-self.dt_ms / self.tau_m_ms)
        T = X.shape[0]
        e = np.zeros((T, X.shape[1]))
        q = np.zeros_like(e)
        prev_e = np.zeros(X.shape[1])
        prev_q = np.zeros(X.shape[1])
        for t in range(T):
            prev_e = a * prev_e + X[t]
            prev_q = b * prev_q + (1 - b) * prev_e
            e[t], q[t] = prev_e, prev_q
        # v is linear in W: v(t) = v_rest + W q(t) when v(0) = v_rest
        v = self.v_rest_mv + q @ W.T
        rho_dt = self.rho0_hz * 1e-3 * self.dt_ms * np.exp((v - self.v_th_mv)
                                                          / self.delta_u_mv)
        p = -np.expm1(-rho_dt)
        dp_dv = (1.0 - p) * rho_dt / self.delta_u_mv
        return p, dp_dv, q


class TrialBatch:
    """What one update of a spiking rule sees: one trial of one pattern.

    ``signals`` is the dict handed to the rule (see :mod:`plasticity.rules.spiking`),
    ``reward`` minus the trial loss, ``pattern`` the pattern index.
    """

    def __init__(self, signals, pattern):
        self.signals = signals
        self.pattern = int(pattern)
        self.reward = -float(signals["trial_loss"])


class SpikeCountTask:
    """Each output neuron must fire a target number of spikes for each input pattern.

    ``n_patterns`` input patterns are frozen Poisson spike trains (``n_inputs`` inputs at
    ``rate_hz`` for ``duration_ms``, drawn once from ``rng``); a trial presents one pattern
    to ``n_outputs`` escape-noise LIF neurons (:class:`EscapeLIF`) with weights ``W_out``
    of shape (n_outputs, n_inputs), in mV per input spike. The inputs carry no trial-to-
    trial noise: all variability is the neurons' own escape noise, which is what the
    likelihood-ratio oracle and node perturbation exploit.

    The loss
    --------
    Trial loss of pattern ``m`` with output counts ``N_i``:
    ``l = (1/n_outputs) sum_i (N_i - c_mi)^2`` (spikes^2), with ``c_mi`` the target count.
    The task loss, the one rules are judged against, is its expectation over the neuron
    noise, averaged uniformly over the patterns:
    ``L(W) = (1/n_patterns) sum_m E[l_m | W]``. Without reset
    ``E[(N - c)^2] = sum_t p_t (1 - p_t) + (sum_t p_t - c)^2`` in closed form (see
    :meth:`exact_loss_and_gradient`).

    Parameters
    ----------
    n_inputs, n_outputs, n_patterns : int >= 1
    duration_ms : float > 0, default 200
        Trial length (ms); ``T = round(duration_ms / dt_ms)`` steps.
    rate_hz : float > 0, default 20
        Rate of the Poisson input patterns (Hz).
    target_counts : array_like, shape (n_patterns, n_outputs), optional
        Target spike counts (>= 0). By default drawn uniformly from
        ``target_rate_hz`` times the duration.
    target_rate_hz : (float, float), default (5, 30)
        Range of the drawn target rates (Hz).
    neuron : EscapeLIF or dict, optional
        The neuron model (defaults of :class:`EscapeLIF` otherwise).
    rng : numpy.random.Generator or int, optional
        Draws the patterns and targets.
    """

    def __init__(self, n_inputs=20, n_outputs=2, n_patterns=3, duration_ms=200.0,
                 rate_hz=20.0, target_counts=None, target_rate_hz=(5.0, 30.0), neuron=None,
                 rng=None):
        self.n_inputs = _count("n_inputs", n_inputs)
        self.n_outputs = _count("n_outputs", n_outputs)
        self.n_patterns = _count("n_patterns", n_patterns)
        self.duration_ms = _positive("duration_ms", duration_ms)
        self.rate_hz = _positive("rate_hz", rate_hz)
        if neuron is None:
            neuron = EscapeLIF()
        elif isinstance(neuron, dict):
            neuron = EscapeLIF(**neuron)
        elif not isinstance(neuron, EscapeLIF):
            raise InvalidParameterError(f"The 'neuron' parameter must be an EscapeLIF or a "
                                        f"dict of its parameters. Got {type(neuron).__name__}.")
        self.neuron = neuron
        self.n_steps = int(round(self.duration_ms / neuron.dt_ms))
        if self.n_steps < 1:
            raise InvalidParameterError(f"The 'duration_ms' parameter must be at least one "
                                        f"time step ({neuron.dt_ms} ms). Got {duration_ms!r}.")
        rng = np.random.default_rng(rng)
        p_in = self.rate_hz * 1e-3 * neuron.dt_ms
        if p_in > 1:
            raise InvalidParameterError(f"The 'rate_hz' parameter must give at most one spike "
                                        f"per step (<= {1e3 / neuron.dt_ms:g} Hz). Got "
                                        f"{rate_hz!r}.")
        self.patterns = (rng.random((self.n_patterns, self.n_steps, self.n_inputs))
                         < p_in).astype(np.float64)
        if target_counts is None:
            lo, hi = (_positive("target_rate_hz", r) for r in target_rate_hz)
            if hi < lo:
                raise InvalidParameterError(f"The 'target_rate_hz' parameter must be a range "
                                            f"(low, high) with low <= high. Got "
                                            f"{target_rate_hz!r}.")
            rates = rng.uniform(lo, hi, size=(self.n_patterns, self.n_outputs))
            target_counts = np.round(rates * self.duration_ms * 1e-3)
        c = np.asarray(target_counts, dtype=np.float64)
        if c.shape != (self.n_patterns, self.n_outputs) or not np.all(np.isfinite(c)) \
                or np.any(c < 0):
            raise InvalidParameterError(f"The 'target_counts' parameter must be an array of "
                                        f"shape ({self.n_patterns}, {self.n_outputs}) of "
                                        f"counts >= 0. Got shape {c.shape}.")
        self.targets = c

    # ------------------------------------------------------------------ parameters
    def init_params(self, rng, mean_mv=4.0, sd_mv=2.0) -> dict:
        """Initial weights ``{"W_out": (n_outputs, n_inputs)}``, Gaussian (mV)."""
        rng = np.random.default_rng(rng)
        return {"W_out": rng.normal(mean_mv, sd_mv, size=(self.n_outputs, self.n_inputs))}

    def _weights(self, params):
        if not isinstance(params, dict) or "W_out" not in params:
            raise InvalidParameterError("SpikeCountTask: params must be a dict with 'W_out'.")
        W = np.asarray(params["W_out"], dtype=np.float64)
        if W.shape != (self.n_outputs, self.n_inputs):
            raise InvalidParameterError(f"SpikeCountTask: 'W_out' has shape {W.shape}; "
                                        f"expected ({self.n_outputs}, {self.n_inputs}).")
        return W

    def _pattern(self, pattern):
        m = int(pattern)
        if not 0 <= m < self.n_patterns:
            raise InvalidParameterError(f"SpikeCountTask: pattern {pattern!r} is not in "
                                        f"[0, {self.n_patterns}).")
        return m

    # ------------------------------------------------------------------ trials
    def trial_losses(self, counts, pattern) -> np.ndarray:
        """Trial losses ``mean_i (N_i - c_mi)^2`` for counts of shape (K, n_outputs)."""
        d = np.asarray(counts, dtype=np.float64) - self.targets[self._pattern(pattern)]
        return np.mean(d * d, axis=-1)

    def simulate(self, params, pattern, n_trials, rng, stdp=None) -> dict:
        """``n_trials`` trials of one pattern: :meth:`EscapeLIF.run`'s dict plus
        ``loss`` (K,), the trial losses."""
        W = self._weights(params)
        m = self._pattern(pattern)
        n_trials = _count("n_trials", n_trials)
        U = np.random.default_rng(rng).random((n_trials, self.n_steps, self.n_outputs))
        out = self.neuron.run(W, self.patterns[m], U, stdp=stdp)
        out["loss"] = self.trial_losses(out["counts"], m)
        return out

    def trial(self, params, rng, pattern=None, stdp=None) -> TrialBatch:
        """One training trial: a pattern (uniformly drawn unless given) and its signals.

        Returns
        -------
        TrialBatch
            With ``signals``: ``pre_spikes`` (T, n_in) and ``post_spikes`` (T, n_out)
            float spike counts per step, ``score`` (n_out, n_in) (1/mV), ``dt_ms``,
            ``pattern`` (int), ``target`` (n_out,) counts, ``counts`` (n_out,),
            ``trial_loss`` (float) and, when ``stdp`` (a dict of ``tau_plus_ms``,
            ``tau_minus_ms``, ``a_plus``, ``a_minus``) is given, ``stdp`` (n_out, n_in),
            the net pair-STDP change computed inside the kernel, with ``stdp_params``
            (that dict).
        """
        rng = np.random.default_rng(rng)
        m = int(rng.integers(self.n_patterns)) if pattern is None else self._pattern(pattern)
        out = self.simulate(params, m, 1, rng, stdp=stdp)
        signals = {"pre_spikes": self.patterns[m].copy(),
                   "post_spikes": out["spikes"][0].astype(np.float64),
                   "score": out["score"][0], "dt_ms": float(self.neuron.dt_ms),
                   "pattern": m, "target": self.targets[m].copy(),
                   "counts": out["counts"][0], "trial_loss": float(out["loss"][0])}
        if stdp is not None:
            signals["stdp"] = out["stdp"][0]
            signals["stdp_params"] = dict(stdp)
        return TrialBatch(signals, m)

    # ------------------------------------------------------------------ closed form
    def exact_loss_and_gradient(self, params) -> tuple[float, dict]:
        """The task loss and its gradient in closed form, for neurons without reset.

        Without reset the output spikes of step ``t`` are independent Bernoulli(``p_t``)
        with ``p_t`` a deterministic function of ``W``, so
        ``E[(N - c)^2] = sum_t p_t (1 - p_t) + (sum_t p_t - c)^2`` and
        ``dE/dW_ij = sum_t [1 - 2 p_it + 2 (sum_s p_is - c_i)] dp_it/dv q_j(t)``.

        Raises
        ------
        InvalidParameterError
            When the neuron resets (then there is no closed form).
        """
        if self.neuron.reset:
            raise InvalidParameterError("SpikeCountTask.exact_loss_and_gradient needs a "
                                        "neuron without reset (EscapeLIF(reset=False)).")
        W = self._weights(params)
        loss = 0.0
        grad = np.zeros_like(W)
        for m in range(self.n_patterns):
            p, dp_dv, q = self.neuron.probabilities_no_reset(W, self.patterns[m])
            mean_n = p.sum(axis=0)
            resid = mean_n - self.targets[m]
            loss += float(np.mean(np.sum(p * (1 - p), axis=0) + resid**2))
            dloss_dp = 1.0 - 2.0 * p + 2.0 * resid[None, :]
            grad += (dloss_dp * dp_dv).T @ q
        scale = 1.0 / (self.n_patterns * self.n_outputs)
        return loss / self.n_patterns, {"W_out": grad * scale}
