"""Eligibility recursions of the online rules for the leaky rate RNN (compiled).

The network is that of :mod:`plasticity.substrates.rnn`; for one sequence and step ``t``
the recurrent parameters act through ``a_t = W pre_t`` with the stacked matrix
``W = [W_rec, W_in, b]`` of shape ``(n, m)`` and the presynaptic vector
``pre_t = (h_{t-1}, x_t, 1)`` of length ``m = n + n_in + 1``. Every kernel takes

``D`` : ndarray, shape (B, T, n)
    ``alpha f'(a_t)``, the immediate sensitivity ``dh_t / da_t`` (diagonal).
``pre`` : ndarray, shape (B, T, m)
    ``pre_t``.
``L`` : ndarray, shape (B, T, n)
    The learning signal of each step (``W_out^T e_t`` for the exact one).
``leak`` : float
    ``1 - alpha``.

and returns the rule's estimate of ``dL/dW``, shape ``(n, m)``, summed over the batch and
the steps. Each sequence is processed in one causal pass: step ``t`` uses nothing of steps
after ``t``. The random signs of UORO and KF-RTRL are drawn by the callers
(:mod:`plasticity.rules.rnn_unbiased`) and passed in, so that kernel and NumPy twin
(``tests/twins/rnn_online.py``) see the same draws.

Kernels do not validate their arguments; the rules do.
"""

import math

import numpy as np

from plasticity._config import jit_reduce

__all__ = ["eprop_trace_grad", "kfrtrl_grad", "truncated_bptt_grad", "uoro_grad"]


@jit_reduce
def eprop_trace_grad(D, pre, L, leak):
    """``sum_t L_t,i eps_t,ij`` with ``eps_t = leak eps_{t-1} + D_t,i pre_t,j``.

    The e-prop / RFLO eligibility trace (one per synapse, ``O(n m)`` per step).
    """
    B, T, n = D.shape
    m = pre.shape[2]
    grad = np.zeros((n, m))
    eps = np.empty((n, m))
    for s in range(B):
        eps[:, :] = 0.0
        for t in range(T):
            for i in range(n):
                d = D[s, t, i]
                li = L[s, t, i]
                for j in range(m):
                    e = leak * eps[i, j] + d * pre[s, t, j]
                    eps[i, j] = e
                    grad[i, j] += li * e
    return grad


@jit_reduce
def truncated_bptt_grad(D, pre, L, W_rec, leak, k):
    """Each step's learning signal back-propagated through at most ``k`` steps.

    At step ``t`` the signal ``v = L_t`` reaches ``a_s`` for ``t - k < s <= t``:
    ``dL/da_s = D_s * v``, then ``v <- leak v + W_rec^T (D_s * v)`` (BPTT's step), using
    the stored last ``k`` steps only. Cost ``O(k n (n + m))`` per step.
    """
    B, T, n = D.shape
    m = pre.shape[2]
    grad = np.zeros((n, m))
    v = np.empty(n)
    da = np.empty(n)
    for s in range(B):
        for t in range(T):
            for i in range(n):
                v[i] = L[s, t, i]
            lowest = max(0, t - k + 1)
            for u in range(t, lowest - 1, -1):
                for i in range(n):
                    da[i] = D[s, u, i] * v[i]
                for i in range(n):
                    d = da[i]
                    if d != 0.0:
                        for j in range(m):
                            grad[i, j] += d * pre[s, u, j]
                if u > lowest:
                    # v <- leak v + W_rec^T da
                    for j in range(n):
                        acc = leak * v[j]
                        for i in range(n):
                            acc += W_rec[i, j] * da[i]
                        v[j] = acc
    return grad


@jit_reduce
def uoro_grad(D, pre, L, W_rec, leak, nu):
    """UORO's estimate with the rank-one influence ``h~_t theta~_t^T``.

    ``h~_t = rho0 J_t h~_{t-1} + rho1 nu_t`` and
    ``theta~_t = theta~_{t-1} / rho0 + (nu_t * D_t) pre_t^T / rho1`` with
    ``J_t = leak I + diag(D_t) W_rec``, ``rho0 = sqrt(|theta~| / |J h~|)`` and
    ``rho1 = sqrt(|nu^T Mbar_t| / |nu|)`` (1 where a norm is zero); the step's estimate is
    ``(L_t . h~_t) theta~_t``. ``nu`` has shape (B, T, n), entries +-1.
    """
    B, T, n = D.shape
    m = pre.shape[2]
    grad = np.zeros((n, m))
    ht = np.empty(n)
    jh = np.empty(n)
    th = np.empty((n, m))
    g = np.empty(n)
    for s in range(B):
        ht[:] = 0.0
        th[:, :] = 0.0
        for t in range(T):
            # J_t h~_{t-1}
            for i in range(n):
                acc = 0.0
                for j in range(n):
                    acc += W_rec[i, j] * ht[j]
                jh[i] = leak * ht[i] + D[s, t, i] * acc
            n_jh = 0.0
            for i in range(n):
                n_jh += jh[i] * jh[i]
            n_jh = math.sqrt(n_jh)
            n_th = 0.0
            for i in range(n):
                for j in range(m):
                    n_th += th[i, j] * th[i, j]
            n_th = math.sqrt(n_th)
            rho0 = math.sqrt(n_th / n_jh) if (n_th > 0.0 and n_jh > 0.0) else 1.0
            # nu^T Mbar_t = (nu * D_t) pre_t^T, a rank-one matrix; its norm factorises
            n_g = 0.0
            n_nu = 0.0
            for i in range(n):
                g[i] = nu[s, t, i] * D[s, t, i]
                n_g += g[i] * g[i]
                n_nu += nu[s, t, i] * nu[s, t, i]
            n_pre = 0.0
            for j in range(m):
                n_pre += pre[s, t, j] * pre[s, t, j]
            n_bar = math.sqrt(n_g * n_pre)
            n_nu = math.sqrt(n_nu)
            rho1 = math.sqrt(n_bar / n_nu) if (n_bar > 0.0 and n_nu > 0.0) else 1.0
            c = 0.0
            for i in range(n):
                ht[i] = rho0 * jh[i] + rho1 * nu[s, t, i]
                c += L[s, t, i] * ht[i]
            for i in range(n):
                gi = g[i] / rho1
                for j in range(m):
                    v = th[i, j] / rho0 + gi * pre[s, t, j]
                    th[i, j] = v
                    grad[i, j] += c * v
    return grad


@jit_reduce
def kfrtrl_grad(D, pre, L, W_rec, leak, signs):
    """KF-RTRL's estimate with the Kronecker-factored influence ``M_t[i, (j, k)] =
    A_t[i, j] u_t[k]``.

    ``u_t = rho0 u_{t-1} + s_t rho1 pre_t`` and
    ``A_t = (J_t A_{t-1}) / rho0 + s_t diag(D_t) / rho1`` with one random sign ``s_t``,
    ``rho0 = sqrt(|J A| / |u|)``, ``rho1 = sqrt(|D_t| / |pre_t|)`` (1 where a norm is
    zero); the step's estimate is ``(A_t^T L_t) u_t^T``. ``signs`` has shape (B, T),
    entries +-1. Cost ``O(n^3 + n m)`` per step.
    """
    B, T, n = D.shape
    m = pre.shape[2]
    grad = np.zeros((n, m))
    u = np.empty(m)
    A = np.empty((n, n))
    JA = np.empty((n, n))
    r = np.empty(n)
    for s in range(B):
        u[:] = 0.0
        A[:, :] = 0.0
        for t in range(T):
            # J_t A_{t-1} = leak A + diag(D_t) W_rec A
            n_ja = 0.0
            for i in range(n):
                d = D[s, t, i]
                for j in range(n):
                    acc = 0.0
                    for q in range(n):
                        acc += W_rec[i, q] * A[q, j]
                    v = leak * A[i, j] + d * acc
                    JA[i, j] = v
                    n_ja += v * v
            n_ja = math.sqrt(n_ja)
            n_u = 0.0
            n_pre = 0.0
            for j in range(m):
                n_u += u[j] * u[j]
                n_pre += pre[s, t, j] * pre[s, t, j]
            n_u = math.sqrt(n_u)
            n_pre = math.sqrt(n_pre)
            n_d = 0.0
            for i in range(n):
                n_d += D[s, t, i] * D[s, t, i]
            n_d = math.sqrt(n_d)
            rho0 = math.sqrt(n_ja / n_u) if (n_ja > 0.0 and n_u > 0.0) else 1.0
            rho1 = math.sqrt(n_d / n_pre) if (n_d > 0.0 and n_pre > 0.0) else 1.0
            sign = signs[s, t]
            for j in range(m):
                u[j] = rho0 * u[j] + sign * rho1 * pre[s, t, j]
            for i in range(n):
                for j in range(n):
                    A[i, j] = JA[i, j] / rho0
                A[i, i] += sign * D[s, t, i] / rho1
            # r = A_t^T L_t
            for j in range(n):
                acc = 0.0
                for i in range(n):
                    acc += A[i, j] * L[s, t, i]
                r[j] = acc
            for i in range(n):
                ri = r[i]
                if ri != 0.0:
                    for j in range(m):
                        grad[i, j] += ri * u[j]
    return grad
