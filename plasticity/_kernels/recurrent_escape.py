"""Trials of a recurrent network of escape-noise LIF/ALIF neurons with a leaky readout.

The model (Bellec et al. 2020's discrete form; potentials in mV, one step ``dt`` ms)
---------------------------------------------------------------------------------------
``n`` recurrent neurons get ``n_in`` input trains ``X`` (shape ``(T, n_in)``) and each
other's spikes of the previous step. In step ``t`` (``z_{-1} = 0``, ``v_{-1} = a_{-1} = 0``):

1. membrane, reset by subtraction:
   ``v_t = alpha v_{t-1} + W_in x_t + W_rec z_{t-1} - v_th z_{t-1}``;
2. adaptation (ALIF; ``beta_j = 0`` makes neuron ``j`` a LIF neuron):
   ``a_t = rho a_{t-1} + z_{t-1}`` and threshold ``A_t = v_th + beta a_t``;
3. escape noise: with ``u_t = v_t - A_t``, rate ``rho0 exp(u_t / delta_u)`` (per ms) and
   spike probability in the step ``p_t = 1 - exp(-rho0 exp(u_t / delta_u) dt)``; the
   neuron spikes, ``z_t = 1``, when the given uniform number ``U[k, t, j] < p_t``;
4. leaky readout (no spikes): ``y_t = kappa y_{t-1} + W_out z_t``;
5. trial loss: ``l = (1 / (N_mask n_out)) sum_t mask_t |y_t - y*_t|^2`` with
   ``N_mask = sum_t mask_t``.

The score and the readout gradient
----------------------------------
Given the realised spikes, ``v_t`` is linear in the weights: ``dv_jt/dW_in_ji`` is the
``alpha``-filtered input ``xbar_it = alpha xbar_i,t-1 + x_it`` and ``dv_jt/dW_rec_jl`` the
filtered spike train ``zbar_l,t-1`` (with reset by subtraction the reset does not depend
on the weights, and ``A_t`` depends only on past spikes). The log-likelihood of the
spikes, ``sum_t z log p + (1 - z) log(1 - p)``, therefore has the score

    S_in  = sum_t c_t xbar_t^T,   S_rec = sum_t c_t zbar_{t-1}^T,
    c_jt  = (rho0 e^{u/delta_u} dt / p) (z_jt - p_jt) / delta_u     (1/mV),

and ``E[l S] = dE[l]/dW`` (likelihood ratio; :mod:`plasticity.spiking.oracle`). ``W_out``
enters only the readout, so its gradient given the spikes is exact and pathwise:
``dl/dW_out = (2 / (N_mask n_out)) sum_t mask_t (y_t - y*_t) zhat_t^T`` with
``zhat_t = kappa zhat_{t-1} + z_t``.

Kernels do not validate their arguments: :class:`plasticity.spiking.recurrent_escape.
RecurrentEscapeNet` does. The plain-NumPy twin is ``tests/twins/recurrent_escape.py``.
The filtered inputs and the input currents come from :mod:`plasticity._kernels.escape`
(after changing that file, clear ``plasticity/_kernels/__pycache__``: Numba's cache of
this file does not notice).
"""

import math

import numpy as np

from plasticity._config import jit
from plasticity._kernels.escape import filtered_trains, weighted_sums

__all__ = ["simulate"]


@jit
def simulate(W_in, W_rec, W_out, X, target, mask, U, alpha, rho, kappa, v_th, beta, delta_u,
             rho0, dt, record, spikes, loss, score_in, score_rec, grad_out, v_rec, a_rec,
             y_rec):
    """Run ``K`` independent trials of the recurrent escape-noise network.

    Parameters
    ----------
    W_in : ndarray, shape (n, n_in), float64
        Input weights (mV per input spike).
    W_rec : ndarray, shape (n, n), float64
        Recurrent weights (mV per spike; the diagonal is used as given).
    W_out : ndarray, shape (n_out, n), float64
        Readout weights (output units per spike).
    X : ndarray, shape (T, n_in), float64
        Input per step (spike counts, normally 0/1).
    target : ndarray, shape (T, n_out), float64
        The readout's target.
    mask : ndarray, shape (T,), float64
        1 where a step counts in the loss, else 0 (at least one 1).
    U : ndarray, shape (K, T, n), float64
        Uniform numbers in [0, 1), one per trial, step and neuron.
    alpha, rho, kappa : float
        Decay per step of the membrane, the adaptation and the readout.
    v_th : float
        Threshold and reset step (mV).
    beta : ndarray, shape (n,), float64
        Adaptation strength per neuron (mV per unit of ``a``; 0 for LIF).
    delta_u : float
        Escape-noise width (mV).
    rho0 : float
        Escape rate at ``u = 0`` (per ms).
    dt : float
        Time step (ms).
    record : bool
        Fill ``v_rec``, ``a_rec`` and ``y_rec`` (otherwise they are left untouched and
        may be of any shape).
    spikes : ndarray, shape (K, T, n), uint8
        Output: the spikes.
    loss : ndarray, shape (K,), float64
        Output: each trial's loss.
    score_in, score_rec : ndarray, shapes (K, n, n_in) and (K, n, n), float64
        Output: each trial's score (1/mV).
    grad_out : ndarray, shape (K, n_out, n), float64
        Output: each trial's exact ``dl/dW_out`` given its spikes.
    v_rec, a_rec : ndarray, shape (K, T, n), float64
        Output with ``record``: membrane (mV) and adaptation variable per step.
    y_rec : ndarray, shape (K, T, n_out), float64
        Output with ``record``: the readout per step.
    """
    K = U.shape[0]
    T = X.shape[0]
    n = W_rec.shape[0]
    n_in = W_in.shape[1]
    n_out = W_out.shape[0]
    n_mask = 0.0
    for t in range(T):
        n_mask += mask[t]
    scale = 1.0 / (n_mask * n_out)
    # The input current and its filtered trace do not depend on the spikes: once for all.
    cur_in = weighted_sums(W_in, X)
    xbar = filtered_trains(X, alpha)
    v = np.empty(n)
    a = np.empty(n)
    z_prev = np.empty(n)
    z_now = np.empty(n)
    zbar_prev = np.empty(n)  # alpha-filtered spikes up to t-1
    zhat = np.empty(n)  # kappa-filtered spikes (the readout's trace)
    y = np.empty(n_out)
    c = np.empty(n)
    for k in range(K):
        for j in range(n):
            v[j] = 0.0
            a[j] = 0.0
            z_prev[j] = 0.0
            zbar_prev[j] = 0.0
            zhat[j] = 0.0
            for i in range(n_in):
                score_in[k, j, i] = 0.0
            for m in range(n):
                score_rec[k, j, m] = 0.0
        for o in range(n_out):
            y[o] = 0.0
            for j in range(n):
                grad_out[k, o, j] = 0.0
        total = 0.0
        for t in range(T):
            for j in range(n):
                acc = cur_in[t, j]
                for m in range(n):
                    acc += W_rec[j, m] * z_prev[m]
                vj = alpha * v[j] + acc - v_th * z_prev[j]
                aj = rho * a[j] + z_prev[j]
                u = vj - v_th - beta[j] * aj
                rho_dt = rho0 * math.exp(u / delta_u) * dt
                p = -math.expm1(-rho_dt)
                s = U[k, t, j] < p
                z_now[j] = 1.0 if s else 0.0
                spikes[k, t, j] = 1 if s else 0
                # d log-likelihood / du; rho dt / p -> 1 as p -> 0
                ratio = rho_dt / p if p > 0.0 else 1.0
                c[j] = ratio * (z_now[j] - p) / delta_u
                v[j] = vj
                a[j] = aj
                if record:
                    v_rec[k, t, j] = vj
                    a_rec[k, t, j] = aj
            for j in range(n):
                cj = c[j]
                for i in range(n_in):
                    score_in[k, j, i] += cj * xbar[t, i]
                for m in range(n):
                    score_rec[k, j, m] += cj * zbar_prev[m]
            for j in range(n):
                zhat[j] = kappa * zhat[j] + z_now[j]
            for o in range(n_out):
                acc = kappa * y[o]
                for j in range(n):
                    acc += W_out[o, j] * z_now[j]
                y[o] = acc
                if record:
                    y_rec[k, t, o] = acc
                if mask[t] != 0.0:
                    err = acc - target[t, o]
                    total += mask[t] * err * err
                    g = 2.0 * scale * mask[t] * err
                    for j in range(n):
                        grad_out[k, o, j] += g * zhat[j]
            # the filtered spikes up to t, used by step t+1's recurrent score
            for j in range(n):
                zbar_prev[j] = alpha * zbar_prev[j] + z_now[j]
                z_prev[j] = z_now[j]
        loss[k] = scale * total
