"""Helpers for checking gradient oracles: one shared finite-difference checker.

:func:`check_grads` compares a claimed gradient of a scalar function of a parameter dict
with central finite differences, entry by entry, and raises ``AssertionError`` naming the
worst entry. Tests of every oracle (a task's batch gradient, a problem's population
gradient, a closed form) use it so that they all apply the same criterion.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_grads", "fd_grads"]


def fd_grads(f, params, eps=1e-6) -> dict:
    """Central finite differences of ``f`` at ``params``, one entry at a time.

    Parameters
    ----------
    f : callable
        ``f(params) -> float``; must not modify ``params``.
    params : dict of str to ndarray
        The point (float arrays; not modified).
    eps : float, default 1e-6
        Step, in parameter units. The truncation error is ``O(eps^2)`` times the third
        derivative and the rounding error ``O(u |f| / eps)`` with ``u`` about 1e-16.

    Returns
    -------
    dict of str to ndarray
        ``(f(p + eps e_j) - f(p - eps e_j)) / (2 eps)`` for every entry ``j`` of every
        array, shaped like ``params``.
    """
    base = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    out = {}
    for key, arr in base.items():
        g = np.zeros_like(arr)
        flat, gflat = arr.reshape(-1), g.reshape(-1)
        for j in range(flat.size):
            keep = flat[j]
            flat[j] = keep + eps
            up = float(f(base))
            flat[j] = keep - eps
            down = float(f(base))
            flat[j] = keep
            gflat[j] = (up - down) / (2.0 * eps)
        out[key] = g
    return out


def check_grads(f, params, grad, eps=1e-6, rtol=1e-5, atol=None) -> float:
    """Assert that ``grad`` is the gradient of ``f`` at ``params``.

    Parameters
    ----------
    f : callable
        ``f(params) -> float``.
    params : dict of str to ndarray
    grad : dict of str to ndarray
        The claimed gradient; must have exactly the keys and shapes of ``params``.
    eps : float, default 1e-6
        Finite-difference step (see :func:`fd_grads`).
    rtol : float, default 1e-5
        Allowed error relative to the largest gradient entry: the check passes when
        ``max |grad - fd| <= rtol * max |fd| + atol``.
    atol : float, optional
        Absolute floor, default ``1e-9 * (1 + |f(params)|) / eps`` (the rounding error of
        the differences).

    Returns
    -------
    float
        ``max |grad - fd| / max |fd|``, the relative error found.

    Raises
    ------
    AssertionError
        Naming the array and entry of the largest discrepancy.
    """
    if set(grad) != set(params):
        raise AssertionError(f"gradient keys {sorted(grad)} differ from parameter keys "
                             f"{sorted(params)}")
    for k in params:
        if np.shape(grad[k]) != np.shape(params[k]):
            raise AssertionError(f"gradient of {k!r} has shape {np.shape(grad[k])}, the "
                                 f"parameter {np.shape(params[k])}")
    fd = fd_grads(f, params, eps)
    if atol is None:
        atol = 1e-9 * (1.0 + abs(float(f(params)))) / eps
    scale = max(float(np.max(np.abs(v))) if v.size else 0.0 for v in fd.values())
    worst, where = 0.0, None
    for k in sorted(params):
        err = np.abs(np.asarray(grad[k], dtype=np.float64) - fd[k])
        if err.size and float(err.max()) >= worst:
            worst = float(err.max())
            where = (k, np.unravel_index(int(np.argmax(err)), err.shape))
    if worst > rtol * scale + atol:
        k, idx = where
        raise AssertionError(f"gradient of {k!r} at {tuple(int(i) for i in idx)} is "
                             f"{float(np.asarray(grad[k])[idx]):.6g}, finite differences give "
                             f"{float(fd[k][idx]):.6g} (max error {worst:.3g} > "
                             f"{rtol:g} * {scale:.3g} + {atol:.3g})")
    return worst / scale if scale > 0 else worst
