"""The leaky rate RNN of :mod:`plasticity.substrates.rnn`: forward pass, BPTT and RTRL.

The network, for every sequence ``b`` of a batch and step ``t = 1..T`` (``h_0 = 0``)::

    a_t = W_rec h_{t-1} + W_in x_t + b (+ noise_t)
    h_t = (1 - alpha) h_{t-1} + alpha f(a_t)
    y_t = W_out h_t + c

The batch loop runs inside each kernel (one call per batch, not per sequence). Row dot
products are compiled with :func:`plasticity._config.jit_reduce` (reassociation allowed,
so they vectorise; the rounding then differs from NumPy's at the 1e-16 relative level).

RTRL flattens the recurrent parameters ``theta = (W_in, W_rec, b)`` into one axis of
length ``P = n n_in + n n + n`` in that order, each matrix row-major: entry ``(i, j)`` of
``W_in`` is column ``i n_in + j``, entry ``(i, j)`` of ``W_rec`` is column
``n n_in + i n + j`` and ``b_i`` is column ``n n_in + n n + i``. The influence matrix
``M_t = dh_t / dtheta`` has shape ``(n, P)``.

Kernels do not validate their arguments: :class:`plasticity.substrates.rnn.RateRNN` and
:func:`plasticity.substrates.rnn_rtrl.rtrl_gradient` do. The plain-NumPy twins are in
``tests/twins/rnn.py``.
"""

import math

import numpy as np

from plasticity._config import jit, jit_reduce

__all__ = ["rnn_backward", "rnn_forward", "rtrl_gradient", "rtrl_step"]

# The activation codes of plasticity.substrates.activations (kernels take integers).
LINEAR, TANH, SIGMOID, RELU = 0, 1, 2, 3


@jit
def _tanh(u):
    """``tanh(u)`` through ``expm1``, to 1 ulp or so and about twice as fast as libm's.

    ``expm1(2|u|) / (expm1(2|u|) + 2)`` has no cancellation near 0; beyond ``|u| = 20``
    ``tanh`` is 1 in float64 (``1 - tanh(20) = 8e-18``).
    """
    v = abs(u)
    if v > 20.0:
        r = 1.0
    else:
        m = math.expm1(2.0 * v)
        r = m / (m + 2.0)
    return r if u >= 0.0 else -r


@jit_reduce
def _dot(u, v):
    """Dot product of two 1-D arrays of equal length (vectorised: reassociation allowed)."""
    s = 0.0
    for j in range(u.shape[0]):
        s += u[j] * v[j]
    return s


@jit
def _f(u, code):
    if code == TANH:
        return _tanh(u)
    if code == SIGMOID:
        # the NumPy formula (through tanh, no overflow of exp)
        return 0.5 * (1.0 + _tanh(0.5 * u))
    if code == RELU:
        return u if u > 0.0 else 0.0
    return u


@jit_reduce
def rnn_forward(W_in, W_rec, b, W_out, c, x, noise, has_noise, alpha, code):
    """Run the RNN on a batch of sequences.

    Parameters
    ----------
    W_in : ndarray, shape (n, n_in)
    W_rec : ndarray, shape (n, n)
    b : ndarray, shape (n,)
    W_out : ndarray, shape (n_out, n)
    c : ndarray, shape (n_out,)
    x : ndarray, shape (B, T, n_in)
        Inputs, C-contiguous float64.
    noise : ndarray, shape (B, T, n)
        Added to the pre-activations when ``has_noise``; otherwise ignored (may be
        ``np.empty((0, 0, 0))``).
    has_noise : bool
    alpha : float
        Leak, in (0, 1].
    code : int
        Activation code (0 linear, 1 tanh, 2 sigmoid, 3 relu).

    Returns
    -------
    a, h, h_prev : ndarray, shape (B, T, n)
        Pre-activations, hidden states and the states before each step.
    y : ndarray, shape (B, T, n_out)
        Outputs.
    """
    B, T, n_in = x.shape
    n = W_rec.shape[0]
    n_out = W_out.shape[0]
    a = np.empty((B, T, n))
    h = np.empty((B, T, n))
    h_prev = np.empty((B, T, n))
    y = np.empty((B, T, n_out))
    state = np.empty(n)
    for s in range(B):
        state[:] = 0.0
        for t in range(T):
            h_prev[s, t, :] = state
            # the whole pre-activation from the old state before any unit changes
            xt = x[s, t]
            at = a[s, t]
            for i in range(n):
                at[i] = b[i] + _dot(W_in[i], xt) + _dot(W_rec[i], state)
                if has_noise:
                    at[i] += noise[s, t, i]
            ht = h[s, t]
            for i in range(n):
                state[i] = (1.0 - alpha) * state[i] + alpha * _f(at[i], code)
                ht[i] = state[i]
            for o in range(n_out):
                y[s, t, o] = c[o] + _dot(W_out[o], state)
    return a, h, h_prev, y


@jit_reduce
def rnn_backward(W_rec, W_out, x, fprime, h, h_prev, error, alpha):
    """Backpropagation through time for a batch of sequences.

    Parameters
    ----------
    W_rec : ndarray, shape (n, n)
    W_out : ndarray, shape (n_out, n)
    x : ndarray, shape (B, T, n_in)
    fprime : ndarray, shape (B, T, n)
        ``f'(a_t)`` (computed by the caller with NumPy's vectorised functions, which is
        several times faster than a scalar loop here).
    h, h_prev : ndarray, shape (B, T, n)
        The forward pass (:func:`rnn_forward`).
    error : ndarray, shape (B, T, n_out)
        ``e_t = dL/dy_t``.
    alpha : float

    Returns
    -------
    g_in : ndarray, shape (n, n_in)
    g_rec : ndarray, shape (n, n)
    g_b : ndarray, shape (n,)
    g_out : ndarray, shape (n_out, n)
    g_c : ndarray, shape (n_out,)
        ``dL/dW_in``, ``dL/dW_rec``, ``dL/db``, ``dL/dW_out``, ``dL/dc``.
    delta : ndarray, shape (B, T, n)
        ``dL/dh_t``.
    """
    B, T, n_in = x.shape
    n = W_rec.shape[0]
    n_out = W_out.shape[0]
    g_in = np.zeros((n, n_in))
    g_rec = np.zeros((n, n))
    g_b = np.zeros(n)
    g_out = np.zeros((n_out, n))
    g_c = np.zeros(n_out)
    delta = np.empty((B, T, n))
    carry = np.empty(n)
    da = np.empty(n)
    for s in range(B):
        carry[:] = 0.0
        for t in range(T - 1, -1, -1):
            # delta_t = W_out^T e_t + what step t + 1 passed back
            for j in range(n):
                delta[s, t, j] = carry[j]
            for o in range(n_out):
                e = error[s, t, o]
                g_c[o] += e
                for j in range(n):
                    delta[s, t, j] += W_out[o, j] * e
                    g_out[o, j] += e * h[s, t, j]
            for i in range(n):
                da[i] = alpha * fprime[s, t, i] * delta[s, t, i]
            # carry = (1 - alpha) delta_t + W_rec^T da_t, and the weight gradients
            for j in range(n):
                carry[j] = (1.0 - alpha) * delta[s, t, j]
            for i in range(n):
                d = da[i]
                g_b[i] += d
                for j in range(n):
                    carry[j] += W_rec[i, j] * d
                    g_rec[i, j] += d * h_prev[s, t, j]
                for j in range(n_in):
                    g_in[i, j] += d * x[s, t, j]
    return g_in, g_rec, g_b, g_out, g_c, delta


@jit_reduce
def rtrl_step(M, scratch, W_rec, fprime_t, h_prev_t, x_t, alpha):
    """One RTRL step of one sequence: ``M <- J_t M + Mbar_t``, in place.

    ``J_t = (1 - alpha) I + alpha diag(f'(a_t)) W_rec`` and the immediate influence
    ``Mbar_t`` is nonzero only in row ``i``'s own parameters:
    ``alpha f'(a_t,i) (x_t, h_{t-1}, 1)``. Cost ``n^2 P`` multiply-adds (``O(n^4)``).

    Parameters
    ----------
    M : ndarray, shape (n, P)
        ``dh_{t-1}/dtheta`` on entry, ``dh_t/dtheta`` on return (column layout in the
        module docstring).
    scratch : ndarray, shape (n, P)
        Work space (overwritten).
    W_rec : ndarray, shape (n, n)
    fprime_t, h_prev_t : ndarray, shape (n,)
        ``f'(a_t)`` of step ``t`` and the state before it.
    x_t : ndarray, shape (n_in,)
    alpha : float
    """
    n, P = M.shape
    n_in = x_t.shape[0]
    off_rec = n * n_in
    off_b = off_rec + n * n
    for i in range(n):
        g = alpha * fprime_t[i]
        row = scratch[i]
        for p in range(P):
            row[p] = 0.0
        # W_rec M, row i: an axpy over the long P axis per presynaptic unit k
        for k in range(n):
            w = W_rec[i, k]
            src = M[k]
            for p in range(P):
                row[p] += w * src[p]
        keep = 1.0 - alpha
        mi = M[i]
        for p in range(P):
            row[p] = keep * mi[p] + g * row[p]
        for j in range(n_in):
            row[i * n_in + j] += g * x_t[j]
        for j in range(n):
            row[off_rec + i * n + j] += g * h_prev_t[j]
        row[off_b + i] += g
    M[:, :] = scratch


@jit_reduce
def rtrl_gradient(W_rec, W_out, x, fprime, h_prev, error, alpha):
    """``dL/dtheta = sum_{b,t} (W_out^T e_t) M_t`` by forward-mode RTRL.

    Parameters
    ----------
    W_rec : ndarray, shape (n, n)
    W_out : ndarray, shape (n_out, n)
    x : ndarray, shape (B, T, n_in)
    fprime, h_prev : ndarray, shape (B, T, n)
        ``f'(a_t)`` and ``h_{t-1}`` of the forward pass.
    error : ndarray, shape (B, T, n_out)
        ``e_t = dL/dy_t``.
    alpha : float

    Returns
    -------
    ndarray, shape (P,)
        The gradient with respect to ``(W_in, W_rec, b)`` flattened as in the module
        docstring.
    """
    B, T, n_in = x.shape
    n = W_rec.shape[0]
    n_out = W_out.shape[0]
    P = n * n_in + n * n + n
    grad = np.zeros(P)
    M = np.empty((n, P))
    scratch = np.empty((n, P))
    r = np.empty(n)
    for s in range(B):
        M[:, :] = 0.0
        for t in range(T):
            rtrl_step(M, scratch, W_rec, fprime[s, t], h_prev[s, t], x[s, t], alpha)
            # r = W_out^T e_t, the loss's immediate sensitivity to h_t
            for j in range(n):
                r[j] = 0.0
            for o in range(n_out):
                e = error[s, t, o]
                for j in range(n):
                    r[j] += W_out[o, j] * e
            for i in range(n):
                ri = r[i]
                if ri != 0.0:
                    mi = M[i]
                    for p in range(P):
                        grad[p] += ri * mi[p]
    return grad
