"""Online (per-sample) kernels of the Hebbian family.

Every kernel walks a window ``X`` of shape ``(T, n_in)`` one sample at a time, in order,
and updates the weights ``W`` of shape ``(n_out, n_in)`` (and the rule's state arrays) in
place. The post-synaptic activity of sample ``t`` is computed with the weights as they are
after sample ``t - 1``; when ``given`` is true it is read from ``Y[t]`` instead (``Y`` has
shape ``(T, n_out)``; when ``given`` is false ``Y`` is ignored and may be empty).

The inner loops compute the next sample's activity ``w . x[t+1]`` in the same pass that
updates ``w``: each row is then read once per sample instead of twice, and a window is
one pass over ``X``. The row helpers allow reassociation so that these reductions are
vectorised (see :func:`plasticity._config.jit_reduce`).

Kernels do not validate their arguments: the rules in :mod:`plasticity.rules.hebbian` do.
Each kernel has a plain-NumPy twin in ``tests/twins/hebbian.py``.
"""

import math

import numpy as np

from plasticity._config import jit, jit_reduce

__all__ = ["bcm", "covariance", "gha", "hebb", "oja"]

NORM_NONE = 0
NORM_MULTIPLICATIVE = 1
NORM_SUBTRACTIVE = 2


@jit_reduce
def _dot(a, b):
    """Dot product of two 1-D arrays of equal length."""
    s = 0.0
    for j in range(a.shape[0]):
        s += a[j] * b[j]
    return s


@jit_reduce
def _step_scalar(w, x, s, c, a, xn):
    """``w <- c w + a (x - s)`` with scalar ``s``; return ``w_new . xn``.

    Parameters
    ----------
    w : ndarray, shape (n_in,)
        One row of the weights, updated in place.
    x, xn : ndarray, shape (n_in,)
        The current and the next input sample.
    s, c, a : float
        Shift of the input, decay factor of the weights, step size.
    """
    acc = 0.0
    for j in range(w.shape[0]):
        v = c * w[j] + a * (x[j] - s)
        w[j] = v
        acc += v * xn[j]
    return acc


@jit_reduce
def _step_vector(w, x, m, a, xn):
    """``w <- w + a (x - m)`` with a vector shift ``m`` of shape (n_in,); return ``w_new . xn``."""
    acc = 0.0
    for j in range(w.shape[0]):
        v = w[j] + a * (x[j] - m[j])
        w[j] = v
        acc += v * xn[j]
    return acc


@jit_reduce
def _step_multiplicative(w, x, a, xn):
    """``w <- (w + a x) |w| / |w + a x|``; return ``w_new . xn``.

    Three passes over the row: the new norm is only known after the additive step.
    A row that the step sends exactly to zero is left unscaled (there is no direction
    to rescale).
    """
    n = w.shape[0]
    old2 = 0.0
    new2 = 0.0
    for j in range(n):
        old2 += w[j] * w[j]
    for j in range(n):
        v = w[j] + a * x[j]
        w[j] = v
        new2 += v * v
    if new2 > 0.0:
        scale = math.sqrt(old2) / math.sqrt(new2)
        for j in range(n):
            w[j] *= scale
    return _dot(w, xn)


@jit_reduce
def _step_gha(w, r, yi, a, xn):
    """One GHA row: ``r <- r - y_i w``, then ``w <- w + a r``; return ``w_new . xn``."""
    acc = 0.0
    for j in range(w.shape[0]):
        rj = r[j] - yi * w[j]
        r[j] = rj
        v = w[j] + a * rj
        w[j] = v
        acc += v * xn[j]
    return acc


@jit
def _first_post(W, X, Y, given, y):
    """Fill ``y`` (n_out,) with the activity of sample 0 (read from ``Y`` when given)."""
    for i in range(W.shape[0]):
        y[i] = Y[0, i] if given else _dot(W[i], X[0])


@jit
def hebb(W, X, Y, given, eta, norm):
    """Plain Hebb, ``dW = eta y x^T`` per sample, with optional normalisation.

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in), float64, C-contiguous
        Weights, updated in place.
    X : ndarray, shape (T, n_in)
        Pre-synaptic samples, processed in order.
    Y : ndarray, shape (T, n_out)
        Post-synaptic activity, used only when ``given``.
    given : bool
        Read the post activity from ``Y`` instead of computing ``y = W x``.
    eta : float
        Learning rate per sample.
    norm : int
        0 none; 1 multiplicative (each row's L2 norm kept constant); 2 subtractive
        (Miller & MacKay 1994: the mean of ``dw`` over the inputs is removed, per row, so
        each row's sum is conserved).
    """
    T = X.shape[0]
    n_out = W.shape[0]
    n_in = X.shape[1]
    if T == 0:
        return
    y = np.empty(n_out)
    _first_post(W, X, Y, given, y)
    for t in range(T):
        x = X[t]
        xn = X[t + 1] if t + 1 < T else x
        s = 0.0
        if norm == NORM_SUBTRACTIVE:
            # eta y_i (x_j - mean(x)) is dw_ij minus its mean over j
            for j in range(n_in):
                s += x[j]
            s /= n_in
        for i in range(n_out):
            a = eta * y[i]
            if norm == NORM_MULTIPLICATIVE:
                nxt = _step_multiplicative(W[i], x, a, xn)
            else:
                nxt = _step_scalar(W[i], x, s, 1.0, a, xn)
            if given:
                if t + 1 < T:
                    y[i] = Y[t + 1, i]
            else:
                y[i] = nxt


@jit
def oja(W, X, Y, given, eta):
    """Oja (1982), ``dw_i = eta y_i (x - y_i w_i)`` for each row ``i`` independently.

    Parameters are as for :func:`hebb` (without ``norm``). Written as
    ``w <- (1 - eta y^2) w + eta y x`` so that each row is read once per sample.
    """
    T = X.shape[0]
    n_out = W.shape[0]
    if T == 0:
        return
    y = np.empty(n_out)
    _first_post(W, X, Y, given, y)
    for t in range(T):
        x = X[t]
        xn = X[t + 1] if t + 1 < T else x
        for i in range(n_out):
            a = eta * y[i]
            nxt = _step_scalar(W[i], x, 0.0, 1.0 - a * y[i], a, xn)
            if given:
                if t + 1 < T:
                    y[i] = Y[t + 1, i]
            else:
                y[i] = nxt


@jit
def gha(W, X, Y, given, eta):
    """Sanger's (1989) generalized Hebbian algorithm, ``dW = eta (y x^T - LT[y y^T] W)``.

    ``LT`` keeps the lower triangle including the diagonal, so row ``i`` learns from the
    residual ``x - sum_{k<=i} y_k w_k``. The residual is built up row by row from the
    weights *before* the sample's update: row ``k`` is subtracted from it before row
    ``k`` is changed, so the whole update uses the old weights, as the formula says.
    Parameters are as for :func:`oja`.
    """
    T = X.shape[0]
    n_out = W.shape[0]
    n_in = X.shape[1]
    if T == 0:
        return
    y = np.empty(n_out)
    r = np.empty(n_in)
    _first_post(W, X, Y, given, y)
    for t in range(T):
        x = X[t]
        xn = X[t + 1] if t + 1 < T else x
        for j in range(n_in):
            r[j] = x[j]
        for i in range(n_out):
            yi = y[i]
            a = eta * yi
            nxt = _step_gha(W[i], r, yi, a, xn)
            if given:
                if t + 1 < T:
                    y[i] = Y[t + 1, i]
            else:
                y[i] = nxt


@jit
def bcm(W, theta, X, Y, given, eta, tau_theta, rectify):
    """BCM in the Intrator & Cooper (1992) form, ``dW = eta y (y - theta) x^T``.

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in)
        Weights, updated in place.
    theta : ndarray, shape (n_out,)
        Sliding modification thresholds, updated in place after each sample's weight
        step with the same ``y``: ``theta += (y^2 - theta) / tau_theta``.
    X, Y, given, eta
        As for :func:`hebb`.
    tau_theta : float
        Time constant of the threshold, in samples.
    rectify : bool
        Computed activity is ``max(W x, 0)`` (a firing rate) when true, ``W x`` otherwise.
        Activity read from ``Y`` is used as given.
    """
    T = X.shape[0]
    n_out = W.shape[0]
    if T == 0:
        return
    y = np.empty(n_out)
    _first_post(W, X, Y, given, y)
    if rectify and not given:
        for i in range(n_out):
            y[i] = max(y[i], 0.0)
    rate = 1.0 / tau_theta
    for t in range(T):
        x = X[t]
        xn = X[t + 1] if t + 1 < T else x
        for i in range(n_out):
            yi = y[i]
            a = eta * yi * (yi - theta[i])
            theta[i] += (yi * yi - theta[i]) * rate
            nxt = _step_scalar(W[i], x, 0.0, 1.0, a, xn)
            if given:
                if t + 1 < T:
                    y[i] = Y[t + 1, i]
            elif rectify:
                y[i] = max(nxt, 0.0)
            else:
                y[i] = nxt


@jit
def covariance(W, xbar, ybar, X, Y, given, eta, tau_mean):
    """Covariance rule (Sejnowski 1977), ``dW = eta (y - ybar)(x - xbar)^T``.

    Parameters
    ----------
    W : ndarray, shape (n_out, n_in)
        Weights, updated in place.
    xbar : ndarray, shape (n_in,)
    ybar : ndarray, shape (n_out,)
        Running means of the pre and post activity, updated in place after each sample's
        weight step: ``xbar += (x - xbar) / tau_mean``, likewise ``ybar``.
    X, Y, given, eta
        As for :func:`hebb`.
    tau_mean : float
        Time constant of the running means, in samples.
    """
    T = X.shape[0]
    n_out = W.shape[0]
    n_in = X.shape[1]
    if T == 0:
        return
    y = np.empty(n_out)
    _first_post(W, X, Y, given, y)
    rate = 1.0 / tau_mean
    for t in range(T):
        x = X[t]
        xn = X[t + 1] if t + 1 < T else x
        for i in range(n_out):
            yi = y[i]
            a = eta * (yi - ybar[i])
            # ybar_i is not needed again for this sample, and y_i is about to be replaced
            ybar[i] += (yi - ybar[i]) * rate
            nxt = _step_vector(W[i], x, xbar, a, xn)
            if given:
                if t + 1 < T:
                    y[i] = Y[t + 1, i]
            else:
                y[i] = nxt
        for j in range(n_in):
            xbar[j] += (x[j] - xbar[j]) * rate
