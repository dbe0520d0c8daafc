"""Plain-NumPy twins of :mod:`plasticity._kernels.rnn` (used only by tests and benchmarks).

The forward pass and BPTT are the NumPy code :class:`plasticity.substrates.rnn.RateRNN`
ran before its kernels (the batch is the leading axis of every matmul, so each step's
work is one BLAS call over the batch). RTRL keeps one influence matrix per sequence,
``M`` of shape (B, n, P), with the column layout of :mod:`plasticity._kernels.rnn`.
"""

import numpy as np

from plasticity.substrates.activations import ACTIVATIONS

_F = {act.code: act.f for act in ACTIVATIONS.values()}


def rnn_forward(W_in, W_rec, b, W_out, c, x, noise, has_noise, alpha, code):
    """Twin of :func:`plasticity._kernels.rnn.rnn_forward`; returns ``(a, h, h_prev, y)``."""
    f = _F[code]
    B, T, _ = x.shape
    n = W_rec.shape[0]
    a = np.empty((B, T, n))
    h = np.empty((B, T, n))
    h_prev = np.empty((B, T, n))
    # the input drive of every step at once (one matmul), then the recurrence
    drive = x @ W_in.T + b
    if has_noise:
        drive = drive + noise
    state = np.zeros((B, n))
    for t in range(T):
        h_prev[:, t] = state
        a[:, t] = state @ W_rec.T + drive[:, t]
        state = (1.0 - alpha) * state + alpha * f(a[:, t])
        h[:, t] = state
    y = h @ W_out.T + c
    return a, h, h_prev, y


def rnn_backward(W_rec, W_out, x, fprime, h, h_prev, error, alpha):
    """Twin of :func:`plasticity._kernels.rnn.rnn_backward`.

    Returns ``(g_in, g_rec, g_b, g_out, g_c, delta)``.
    """
    B, T, n = h.shape
    readout = error @ W_out                                # W_out^T e_t, (B, T, n)
    delta = np.empty((B, T, n))
    da = np.empty((B, T, n))
    carry = np.zeros((B, n))
    for t in range(T - 1, -1, -1):
        delta[:, t] = readout[:, t] + carry
        da[:, t] = alpha * fprime[:, t] * delta[:, t]
        # what h_t passes back to h_{t-1}: its own leak and the recurrent synapses
        carry = (1.0 - alpha) * delta[:, t] + da[:, t] @ W_rec
    return (np.einsum("bti,btj->ij", da, x),
            np.einsum("bti,btj->ij", da, h_prev),
            da.sum(axis=(0, 1)),
            np.einsum("bto,btj->oj", error, h),
            error.sum(axis=(0, 1)),
            delta)


def immediate_influence(fprime_t, h_prev_t, x_t, alpha):
    """``Mbar_t = d h_t / d theta`` at fixed ``h_{t-1}``, shape (B, n, P)."""
    B, n = fprime_t.shape
    n_in = x_t.shape[1]
    g = alpha * fprime_t                                    # (B, n)
    eye = np.eye(n)
    # row i of each block is g_i times (x_t, h_{t-1}, 1) in row i's own parameters
    m_in = np.einsum("bi,ik,bj->bikj", g, eye, x_t).reshape(B, n, n * n_in)
    m_rec = np.einsum("bi,ik,bj->bikj", g, eye, h_prev_t).reshape(B, n, n * n)
    m_b = g[:, :, None] * eye
    return np.concatenate([m_in, m_rec, m_b], axis=2)


def rtrl_step(M, W_rec, fprime_t, h_prev_t, x_t, alpha):
    """One RTRL step for a batch: ``J_t M + Mbar_t`` with ``M`` (B, n, P); returns it."""
    g = alpha * fprime_t                                    # (B, n)
    return ((1.0 - alpha) * M + g[:, :, None] * (W_rec @ M)
            + immediate_influence(fprime_t, h_prev_t, x_t, alpha))


def rtrl_gradient(W_rec, W_out, x, fprime, h_prev, error, alpha):
    """Twin of :func:`plasticity._kernels.rnn.rtrl_gradient`; returns the (P,) gradient."""
    B, T, n_in = x.shape
    n = W_rec.shape[0]
    P = n * n_in + n * n + n
    M = np.zeros((B, n, P))
    grad = np.zeros(P)
    for t in range(T):
        M = rtrl_step(M, W_rec, fprime[:, t], h_prev[:, t], x[:, t], alpha)
        grad += np.einsum("bi,bip->p", error[:, t] @ W_out, M)
    return grad
