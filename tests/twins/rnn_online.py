"""Plain-NumPy twins of :mod:`plasticity._kernels.rnn_online` (used only by the tests).

Same arguments and results as the kernels; the batch axis is vectorised here, the
kernels loop over it.
"""

import numpy as np


def _norm(v, axis):
    return np.sqrt(np.sum(v * v, axis=axis))


def eprop_trace_grad(D, pre, L, leak):
    """``sum_t L_t,i eps_t,ij`` with ``eps_t = leak eps_{t-1} + D_t,i pre_t,j``."""
    B, T, n = D.shape
    eps = np.zeros((B, n, pre.shape[2]))
    grad = np.zeros((n, pre.shape[2]))
    for t in range(T):
        eps = leak * eps + D[:, t, :, None] * pre[:, t, None, :]
        grad += np.einsum("bi,bij->ij", L[:, t], eps)
    return grad


def truncated_bptt_grad(D, pre, L, W_rec, leak, k):
    """Each step's learning signal back-propagated through at most ``k`` steps."""
    B, T, n = D.shape
    grad = np.zeros((n, pre.shape[2]))
    for t in range(T):
        v = L[:, t].copy()
        for u in range(t, max(0, t - k + 1) - 1, -1):
            da = D[:, u] * v
            grad += da.T @ pre[:, u]
            v = leak * v + da @ W_rec
    return grad


def uoro_grad(D, pre, L, W_rec, leak, nu):
    """UORO's estimate; see the kernel."""
    B, T, n = D.shape
    m = pre.shape[2]
    ht = np.zeros((B, n))
    th = np.zeros((B, n, m))
    grad = np.zeros((n, m))
    for t in range(T):
        jh = leak * ht + D[:, t] * (ht @ W_rec.T)
        n_jh, n_th = _norm(jh, 1), _norm(th.reshape(B, -1), 1)
        ok = (n_jh > 0) & (n_th > 0)
        rho0 = np.where(ok, np.sqrt(n_th / np.where(ok, n_jh, 1.0)), 1.0)
        g = nu[:, t] * D[:, t]
        n_bar = _norm(g, 1) * _norm(pre[:, t], 1)
        n_nu = _norm(nu[:, t], 1)
        ok = (n_bar > 0) & (n_nu > 0)
        rho1 = np.where(ok, np.sqrt(n_bar / np.where(ok, n_nu, 1.0)), 1.0)
        ht = rho0[:, None] * jh + rho1[:, None] * nu[:, t]
        th = (th / rho0[:, None, None]
              + (g / rho1[:, None])[:, :, None] * pre[:, t, None, :])
        c = np.sum(L[:, t] * ht, axis=1)
        grad += np.einsum("b,bij->ij", c, th)
    return grad


def kfrtrl_grad(D, pre, L, W_rec, leak, signs):
    """KF-RTRL's estimate; see the kernel."""
    B, T, n = D.shape
    m = pre.shape[2]
    u = np.zeros((B, m))
    A = np.zeros((B, n, n))
    grad = np.zeros((n, m))
    for t in range(T):
        JA = leak * A + D[:, t, :, None] * np.einsum("iq,bqj->bij", W_rec, A)
        n_ja, n_u = _norm(JA.reshape(B, -1), 1), _norm(u, 1)
        n_d, n_pre = _norm(D[:, t], 1), _norm(pre[:, t], 1)
        ok0 = (n_ja > 0) & (n_u > 0)
        rho0 = np.where(ok0, np.sqrt(n_ja / np.where(ok0, n_u, 1.0)), 1.0)
        ok1 = (n_d > 0) & (n_pre > 0)
        rho1 = np.where(ok1, np.sqrt(n_d / np.where(ok1, n_pre, 1.0)), 1.0)
        s = signs[:, t]
        u = rho0[:, None] * u + (s * rho1)[:, None] * pre[:, t]
        A = JA / rho0[:, None, None]
        idx = np.arange(n)
        A[:, idx, idx] += (s / rho1)[:, None] * D[:, t]
        r = np.einsum("bij,bi->bj", A, L[:, t])
        grad += r.T @ u
    return grad
