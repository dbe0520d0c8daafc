"""Plain-NumPy twin of :mod:`plasticity._kernels.energy`, from the formulas.

Layers are a list of ``(B, n_l)`` arrays (not transposed) and every step is vectorised
over the batch; nothing is shared with the kernel but the equations in its docstring.
"""

import numpy as np


def rho(s, code):
    """``(rho(s), rho'(s))`` for the kernel's activation codes (0 sigmoid, 1 tanh)."""
    if code == 0:
        f = 1.0 / (1.0 + np.exp(-(4.0 * s - 2.0)))
        return f, 4.0 * f * (1.0 - f)
    f = np.tanh(s)
    return f, 1.0 - f * f


def relax(layers, x, weights, biases, code, target, beta, dt, n_steps, tol):
    """Relax ``layers`` (list of (B, n_l), l = 1..L; not modified) on input ``x`` (B, n_0).

    Returns ``(layers, steps, residual)`` with the kernel's meaning of steps and residual.
    """
    s = [np.array(v, dtype=float) for v in layers]
    L = len(s)
    residual = np.inf
    for t in range(n_steps + 1):
        r, rp = zip(*(rho(v, code) for v in s), strict=True)
        grads = []
        for k in range(L):
            below = x if k == 0 else r[k - 1]
            a = below @ weights[k].T + biases[k]
            if k + 1 < L:
                a = a + r[k + 1] @ weights[k + 1]
            grads.append(s[k] - rp[k] * a)
        if beta != 0.0:
            grads[-1] = grads[-1] + beta * (s[-1] - target)
        residual = max(float(np.max(np.abs(g))) for g in grads)
        if not np.isfinite(residual):
            return s, t, np.nan
        if residual < tol or t == n_steps:
            return s, t, residual
        s = [v - dt * g for v, g in zip(s, grads, strict=True)]
    return s, n_steps, residual
