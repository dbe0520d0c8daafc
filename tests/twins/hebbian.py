"""Plain-NumPy twins of :mod:`plasticity._kernels.hebbian`.

Each twin is the natural per-sample loop with NumPy vector operations, written from the
rule's formula rather than from the kernel, so that agreement between the two checks the
kernel's loop-level rewrites (fused passes, partial sums, the running residual of GHA).
Twins take the kernel's arguments, with ``Y=None`` meaning "compute the post activity",
work on copies and return the new arrays.
"""

import numpy as np


def _post(W, x, Y, t):
    return W @ x if Y is None else Y[t]


def hebb(W, X, Y, eta, norm):
    """Plain Hebb; ``norm`` 0 none, 1 multiplicative, 2 subtractive. Returns ``W``."""
    W = np.array(W, dtype=float)
    for t, x in enumerate(X):
        y = _post(W, x, Y, t)
        dW = eta * np.outer(y, x)
        if norm == 2:
            dW -= dW.mean(axis=1, keepdims=True)
        if norm == 1:
            old = np.linalg.norm(W, axis=1)
            W = W + dW
            new = np.linalg.norm(W, axis=1)
            ok = new > 0
            W[ok] *= (old[ok] / new[ok])[:, None]
        else:
            W += dW
    return W


def oja(W, X, Y, eta):
    """Oja's rule, each row on its own. Returns ``W``."""
    W = np.array(W, dtype=float)
    for t, x in enumerate(X):
        y = _post(W, x, Y, t)
        W += eta * (np.outer(y, x) - (y**2)[:, None] * W)
    return W


def gha(W, X, Y, eta):
    """Sanger's generalized Hebbian algorithm. Returns ``W``."""
    W = np.array(W, dtype=float)
    for t, x in enumerate(X):
        y = _post(W, x, Y, t)
        W += eta * (np.outer(y, x) - np.tril(np.outer(y, y)) @ W)
    return W


def bcm(W, theta, X, Y, eta, tau_theta, rectify):
    """BCM with a sliding threshold. Returns ``(W, theta)``."""
    W = np.array(W, dtype=float)
    theta = np.array(theta, dtype=float)
    for t, x in enumerate(X):
        if Y is None:
            y = W @ x
            if rectify:
                y = np.maximum(y, 0.0)
        else:
            y = Y[t]
        W += eta * np.outer(y * (y - theta), x)
        theta += (y**2 - theta) / tau_theta
    return W, theta


def covariance(W, xbar, ybar, X, Y, eta, tau_mean):
    """Covariance rule with running means. Returns ``(W, xbar, ybar)``."""
    W = np.array(W, dtype=float)
    xbar = np.array(xbar, dtype=float)
    ybar = np.array(ybar, dtype=float)
    for t, x in enumerate(X):
        y = _post(W, x, Y, t)
        W += eta * np.outer(y - ybar, x - xbar)
        xbar += (x - xbar) / tau_mean
        ybar += (y - ybar) / tau_mean
    return W, xbar, ybar
