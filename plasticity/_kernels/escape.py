"""Trials of leaky integrate-and-fire neurons with escape noise, with score and pair STDP.

The model (all potentials in mV, times in ms, one time step ``dt``)
-------------------------------------------------------------------
``n_out`` current-based LIF neurons receive the same ``n_in`` input spike trains
``X`` (shape ``(T, n_in)``, spike counts per step, normally 0/1). In step ``t``:

1. synaptic current (mV): ``I_i(t) = a I_i(t-1) + sum_j W_ij X[t, j]`` with
   ``a = exp(-dt / tau_s)`` (each input spike makes the current jump by ``W_ij``);
2. membrane, exponential Euler toward ``v_rest + I``:
   ``v_i(t) = b v_i(t-1) + (1 - b) (v_rest + I_i(t))`` with ``b = exp(-dt / tau_m)``;
3. escape noise: instantaneous rate ``rho = rho0 exp((v - v_th) / delta_u)`` (``rho0``
   given here per ms) and spike probability in the step ``p = 1 - exp(-rho dt)``; the
   neuron spikes when the given uniform number ``U[k, t, i] < p``;
4. after a spike, when ``reset`` is true, ``v_i`` is set to ``v_reset`` (the current is
   not reset). With ``reset`` false the membrane ignores the neuron's own spikes, so the
   ``p(t)`` are deterministic functions of ``W`` (the closed-form test case).

Initial state of every trial: ``I = 0``, ``v = v_rest``.

The score
---------
The log-likelihood of the realised output train is
``sum_t s log p + (1 - s) log(1 - p)``; its derivative with respect to ``v`` is
``(rho dt / delta_u) (s - p) / p``, and ``v_i(t)`` depends on ``W_ij`` through the
eligibility trace ``q_ij(t) = dv_i(t)/dW_ij = b q_ij(t-1) + (1 - b) e_j(t)``, where
``e_j(t) = a e_j(t-1) + X[t, j]`` is ``dI_i(t)/dW_ij``. After a reset ``q_i`` restarts
at zero, because ``v_reset`` does not depend on ``W``. The score of a trial is
``sum_t (rho dt / delta_u) (s - p) / p q_ij(t)`` (units 1/mV); its expectation over the
neuron noise is zero, and ``E[L score] = dE[L]/dW`` for any trial loss ``L`` of the
spikes (the likelihood-ratio identity used by :mod:`plasticity.spiking.oracle`).

Pair STDP
---------
All-to-all additive pair STDP accumulated over the trial:
``sum_{pre t_j, post t_i} a_plus exp(-(t_i - t_j)/tau_plus) [t_i >= t_j]
- a_minus exp(-(t_j - t_i)/tau_minus) [t_j > t_i]``, with a presynaptic trace (decay
``tau_plus``, read at post spikes, including pre spikes of the same step) and a
postsynaptic trace (decay ``tau_minus``, read at pre spikes, before the post spikes of
the same step are added). Each pair's change is the network engine's additive pair STDP
with ``w_max = 1``: both call :mod:`plasticity._kernels.stdp` (after changing that file,
clear ``plasticity/_kernels/__pycache__``: Numba caches these kernels by this file only).

The score of given spikes
-------------------------
Given the output trains (recorded by another simulator, e.g. Brian2, or by
:func:`simulate`), the membrane, the probabilities ``p`` and hence the score are
deterministic functions of ``(W, X, spikes)``: :func:`score_given_spikes` replays the
recursion above with the given spikes in place of the uniform draws.

Kernels do not validate their arguments: :class:`plasticity.tasks.spiking.EscapeLIF`
and the rules in :mod:`plasticity.rules.spiking` do. Each kernel has a plain-NumPy twin
in ``tests/twins/escape.py``.
"""

import math

import numpy as np

from plasticity._config import jit
from plasticity._kernels.stdp import pair_depression, pair_potentiation

__all__ = ["filtered_trains", "score_given_spikes", "simulate", "stdp_pair_change",
           "weighted_sums"]


@jit
def filtered_trains(X, a):
    """The input trains filtered with decay ``a`` per step, shape (T, n_in):
    ``e_j(t) = a e_j(t-1) + X[t, j]`` from ``e_j(-1) = 0`` (shared with
    :mod:`plasticity._kernels.recurrent_escape`, where ``a`` is the membrane's ``alpha``)."""
    T, n_in = X.shape
    e = np.empty((T, n_in))
    prev = np.zeros(n_in)
    for t in range(T):
        for j in range(n_in):
            prev[j] = a * prev[j] + X[t, j]
            e[t, j] = prev[j]
    return e


@jit
def weighted_sums(W, M):
    """``M W^T``, shape (T, n_out), for ``W`` (n_out, n_in) and ``M`` (T, n_in), each sum
    over ``j`` in index order (the same rounding in every kernel that calls it)."""
    T, n_in = M.shape
    n_out = W.shape[0]
    out = np.empty((T, n_out))
    for t in range(T):
        for i in range(n_out):
            acc = 0.0
            for j in range(n_in):
                acc += W[i, j] * M[t, j]
            out[t, i] = acc
    return out


@jit
def _input_currents(W, X, a):
    """The filtered inputs ``e`` (T, n_in) (``e_j(t) = a e_j(t-1) + X[t, j]``) and the
    currents ``cur = e W^T`` (T, n_out), summed in a fixed order."""
    e = filtered_trains(X, a)
    return e, weighted_sums(W, e)


@jit
def simulate(W, X, U, dt, tau_m, tau_s, v_rest, v_reset, v_th, delta_u, rho0, reset,
             do_stdp, tau_plus, tau_minus, a_plus, a_minus, spikes, score, stdp):
    """Run ``K`` trials of the escape-noise LIF neurons on the same input trains.

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in), float64
        Synaptic weights (mV per input spike).
    X : ndarray, shape (T, n_in), float64
        Input spike counts per step (0/1).
    U : ndarray, shape (K, T, n_out), float64
        Uniform numbers in [0, 1), one per trial, step and neuron.
    dt, tau_m, tau_s : float
        Time step and membrane and synaptic time constants (ms).
    v_rest, v_reset, v_th, delta_u : float
        Resting and reset potentials, escape-noise threshold and width (mV).
    rho0 : float
        Escape rate at ``v = v_th`` (per ms).
    reset : bool
        Reset the membrane after a spike.
    do_stdp : bool
        Accumulate pair STDP into ``stdp`` (otherwise ``stdp`` is left untouched).
    tau_plus, tau_minus : float
        STDP time constants (ms).
    a_plus, a_minus : float
        STDP amplitudes (weight units per pair).
    spikes : ndarray, shape (K, T, n_out), uint8
        Output, filled with the output spikes.
    score : ndarray, shape (K, n_out, n_in), float64
        Output, filled with each trial's score (1/mV).
    stdp : ndarray, shape (K, n_out, n_in), float64
        Output, filled with each trial's net STDP change when ``do_stdp``.
    """
    K = U.shape[0]
    T = X.shape[0]
    n_out = W.shape[0]
    n_in = W.shape[1]
    a = math.exp(-dt / tau_s)
    b = math.exp(-dt / tau_m)
    decay_plus = math.exp(-dt / tau_plus)
    decay_minus = math.exp(-dt / tau_minus)
    # The current and its W-derivative e_j(t) ignore the output spikes: computed once
    # for all trials. The membrane's derivative q depends on the resets: per trial.
    e, cur = _input_currents(W, X, a)
    v = np.empty(n_out)
    q = np.empty((n_out, n_in))
    xpre = np.empty(n_in)
    ypost = np.empty(n_out)
    c_v = 1.0 - b
    for k in range(K):
        for i in range(n_out):
            v[i] = v_rest
            ypost[i] = 0.0
            for j in range(n_in):
                q[i, j] = 0.0
                score[k, i, j] = 0.0
                if do_stdp:
                    stdp[k, i, j] = 0.0
        for j in range(n_in):
            xpre[j] = 0.0
        for t in range(T):
            if do_stdp:
                for j in range(n_in):
                    xpre[j] = decay_plus * xpre[j] + X[t, j]
            for i in range(n_out):
                vi = b * v[i] + c_v * (v_rest + cur[t, i])
                rho_dt = rho0 * math.exp((vi - v_th) / delta_u) * dt
                p = -math.expm1(-rho_dt)
                s = U[k, t, i] < p
                spikes[k, t, i] = 1 if s else 0
                # d log-likelihood / dv; rho dt / p -> 1 as p -> 0
                ratio = rho_dt / p if p > 0.0 else 1.0
                c = ratio * ((1.0 if s else 0.0) - p) / delta_u
                for j in range(n_in):
                    qij = b * q[i, j] + c_v * e[t, j]
                    q[i, j] = qij
                    score[k, i, j] += c * qij
                if do_stdp:
                    yi = decay_minus * ypost[i]
                    for j in range(n_in):
                        if X[t, j] != 0.0:
                            stdp[k, i, j] += pair_depression(0.0, a_minus, 1.0, yi,
                                                             False) * X[t, j]
                    if s:
                        for j in range(n_in):
                            stdp[k, i, j] += pair_potentiation(0.0, a_plus, 1.0, xpre[j],
                                                               False)
                        yi += 1.0
                    ypost[i] = yi
                if s and reset:
                    vi = v_reset
                    for j in range(n_in):
                        q[i, j] = 0.0
                v[i] = vi


@jit
def score_given_spikes(W, X, spikes, dt, tau_m, tau_s, v_rest, v_reset, v_th, delta_u,
                       rho0, reset, score):
    """The score of ``K`` given output trains (the log-likelihood's derivative in ``W``).

    Replays the membrane of :func:`simulate` with the spikes given instead of drawn: for
    spikes that :func:`simulate` produced it returns the same score, step for step the
    same arithmetic.

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in), float64
        Synaptic weights (mV per input spike).
    X : ndarray, shape (T, n_in), float64
        Input spike counts per step (0/1).
    spikes : ndarray, shape (K, T, n_out), uint8
        The output spikes of each trial (nonzero: a spike in that step).
    dt, tau_m, tau_s : float
        Time step and membrane and synaptic time constants (ms).
    v_rest, v_reset, v_th, delta_u : float
        Resting and reset potentials, escape-noise threshold and width (mV).
    rho0 : float
        Escape rate at ``v = v_th`` (per ms).
    reset : bool
        The membrane was reset after each spike.
    score : ndarray, shape (K, n_out, n_in), float64
        Output, filled with each trial's score (1/mV).
    """
    K = spikes.shape[0]
    T = X.shape[0]
    n_out = W.shape[0]
    n_in = W.shape[1]
    a = math.exp(-dt / tau_s)
    b = math.exp(-dt / tau_m)
    # as in simulate: the current and e_j(t) do not depend on the output spikes
    e, cur = _input_currents(W, X, a)
    v = np.empty(n_out)
    q = np.empty((n_out, n_in))
    c_v = 1.0 - b
    for k in range(K):
        for i in range(n_out):
            v[i] = v_rest
            for j in range(n_in):
                q[i, j] = 0.0
                score[k, i, j] = 0.0
        for t in range(T):
            for i in range(n_out):
                vi = b * v[i] + c_v * (v_rest + cur[t, i])
                rho_dt = rho0 * math.exp((vi - v_th) / delta_u) * dt
                p = -math.expm1(-rho_dt)
                s = spikes[k, t, i] != 0
                ratio = rho_dt / p if p > 0.0 else 1.0
                c = ratio * ((1.0 if s else 0.0) - p) / delta_u
                for j in range(n_in):
                    qij = b * q[i, j] + c_v * e[t, j]
                    q[i, j] = qij
                    score[k, i, j] += c * qij
                if s and reset:
                    vi = v_reset
                    for j in range(n_in):
                        q[i, j] = 0.0
                v[i] = vi


@jit
def stdp_pair_change(pre, post, dt, tau_plus, tau_minus, a_plus, a_minus, out):
    """Net all-to-all additive pair-STDP change of given spike trains.

    Parameters
    ----------
    pre : ndarray, shape (T, n_in), float64
        Presynaptic spike counts per step.
    post : ndarray, shape (T, n_out), float64
        Postsynaptic spike counts per step.
    dt, tau_plus, tau_minus : float
        Time step and STDP time constants (ms).
    a_plus, a_minus : float
        Amplitudes of potentiation (pre at or before post) and depression (pre after
        post), per pair.
    out : ndarray, shape (n_out, n_in), float64
        Output, overwritten with the change (the sum over all pairs of the module's
        formula).
    """
    T = pre.shape[0]
    n_in = pre.shape[1]
    n_out = post.shape[1]
    decay_plus = math.exp(-dt / tau_plus)
    decay_minus = math.exp(-dt / tau_minus)
    xpre = np.zeros(n_in)
    ypost = np.zeros(n_out)
    for i in range(n_out):
        for j in range(n_in):
            out[i, j] = 0.0
    for t in range(T):
        for j in range(n_in):
            xpre[j] = decay_plus * xpre[j] + pre[t, j]
        for i in range(n_out):
            yi = decay_minus * ypost[i]
            for j in range(n_in):
                if pre[t, j] != 0.0:
                    out[i, j] += pair_depression(0.0, a_minus, 1.0, yi, False) * pre[t, j]
            si = post[t, i]
            if si != 0.0:
                for j in range(n_in):
                    # one pair's change times the spike count (normally 1)
                    out[i, j] += pair_potentiation(0.0, a_plus, 1.0, xpre[j], False) * si
                yi += si
            ypost[i] = yi
