"""Helpers for checking gradient oracles: one shared finite-difference checker.

:func:`check_grads` compares a claimed gradient of a scalar function of a parameter dict
(or of one array) with central finite differences, entry by entry, and raises
``AssertionError`` naming the array and entry of the worst discrepancy. Every test of a
gradient (a task's batch gradient, a problem's population gradient, a closed form, a rule
whose update is a gradient step) uses it so that they all apply the same criterion.

Error of a central difference
-----------------------------
With step ``h`` (``eps`` below), ``(f(x + h e_j) - f(x - h e_j)) / (2 h)`` differs from
``df/dx_j`` by

* truncation, ``h^2 |d^3 f / dx_j^3| / 6`` (the next term of the Taylor series), which
  relative to a gradient whose third derivative is of the gradient's own scale is about
  ``h^2 / 6`` (1.7e-13 at ``h = 1e-6``): it is what ``rtol`` must cover;
* rounding, ``c u |f| / h`` where ``u = 2.2e-16`` is the float64 unit roundoff and ``c``
  the few roundings by which each computed ``f`` is off (measured on the losses of this
  package's tests: the worst entry's error is 0.15-2.3 ``u (1 + |f|) / h``): it is what
  ``atol`` covers, by default ``16 u (1 + |f|) / h`` (:func:`rounding_floor`).

The two balance near ``h ~ (u |f| / |f'''|)^(1/3) ~ 1e-5``; smaller steps trade
truncation for rounding. A test derives its tolerance from these two terms for its step,
not from what happened to pass.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_grads", "fd_grads", "rounding_floor"]

#: float64 unit roundoff (machine epsilon), the ``u`` of the module docstring
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps)
#: roundings by which one computed ``f`` may be off, in the default rounding floor
ROUNDINGS = 16.0
#: the key under which a bare array is checked (and named in failure messages)
ARRAY_KEY = "x"


def rounding_floor(f_value, eps, roundings=ROUNDINGS) -> float:
    """Rounding error of a central difference: ``roundings * u * (1 + |f|) / eps``.

    Parameters
    ----------
    f_value : float
        ``f`` at the point (the ``1 +`` keeps the floor positive where ``f`` is 0).
    eps : float
        Finite-difference step, in parameter units.
    roundings : float, default 16
        How many unit roundoffs ``u = 2.2e-16`` each evaluation of ``f`` may be off by.

    Returns
    -------
    float
        In units of ``f`` per parameter unit (the gradient's units).
    """
    return float(roundings * UNIT_ROUNDOFF * (1.0 + abs(float(f_value))) / eps)


def _as_dict(f, params, grad=None):
    """Wrap a bare array point (and its gradient) as ``{"x": ...}``; dicts pass through."""
    if isinstance(params, dict):
        return f, params, grad, False
    if grad is not None and isinstance(grad, dict):
        raise AssertionError("the point is one array but the claimed gradient is a dict")

    def g(p):
        return f(p[ARRAY_KEY])

    return g, {ARRAY_KEY: params}, (None if grad is None else {ARRAY_KEY: grad}), True


def fd_grads(f, params, eps=1e-6):
    """Central finite differences of ``f`` at ``params``, one entry at a time.

    Parameters
    ----------
    f : callable
        ``f(params) -> float``; must not keep or modify ``params`` (the same arrays are
        perturbed in place between calls).
    params : dict of str to ndarray, or ndarray
        The point (converted to float64 copies; the caller's arrays are not modified).
        Arrays of any shape, including 0-d.
    eps : float, default 1e-6
        Step, in parameter units. The truncation error is ``eps^2 / 6`` times the third
        derivative and the rounding error about ``u |f| / eps`` with ``u = 2.2e-16``.

    Returns
    -------
    dict of str to ndarray, or ndarray
        ``(f(p + eps e_j) - f(p - eps e_j)) / (2 eps)`` for every entry ``j`` of every
        array, shaped like ``params`` (an array when ``params`` is an array).
    """
    f, params, _, bare = _as_dict(f, params)
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
    return out[ARRAY_KEY] if bare else out


def _per_array(value, keys, what):
    """A tolerance given once or per array, as a dict over ``keys``."""
    if isinstance(value, dict):
        if set(value) != set(keys):
            raise AssertionError(f"{what} is given for arrays {sorted(value)}; the "
                                 f"parameters are {sorted(keys)}")
        return {k: float(value[k]) for k in keys}
    return {k: float(value) for k in keys}


def check_grads(f, params, grad, eps=1e-6, rtol=1e-5, atol=None, *,
                relative_to="all") -> float:
    """Assert that ``grad`` is the gradient of ``f`` at ``params``.

    With ``fd`` the central finite differences of step ``eps``, every entry ``i`` of every
    array ``k`` must satisfy ``|grad_ki - fd_ki| <= rtol * s + atol``, where ``s`` is

    * ``max |fd|`` over all arrays (``relative_to="all"``, the default),
    * ``max |fd_k|``, the array's own largest entry (``"array"``: an array with a small
      gradient, a bias or a second layer, is held to the same relative accuracy), or
    * ``|fd_ki|``, the entry itself (``"entry"``: ``numpy.testing.assert_allclose``'s
      rule, for tests that bound each entry relative to itself).

    Central differences are off by ``O(eps^2 f''')`` (truncation, ``eps^2 / 6`` times the
    third derivative: ``rtol`` must cover it) plus ``O(u |f| / eps)`` (rounding, with the
    unit roundoff ``u = 2.2e-16``: the default ``atol``); see the module docstring. Derive
    both from the step rather than from what happened to pass.

    Parameters
    ----------
    f : callable
        ``f(params) -> float``, a scalar function of the point.
    params : dict of str to ndarray, or ndarray
        The point; arrays of any shape, 0-d included (a bare array is named ``'x'`` in
        messages and tolerance dicts).
    grad : dict of str to ndarray, or ndarray
        The claimed gradient: exactly the keys and shapes of ``params`` (an array when
        ``params`` is one).
    eps : float, default 1e-6
        Finite-difference step, in parameter units (see :func:`fd_grads`).
    rtol : float or dict of str to float, default 1e-5
        Relative allowance (see ``relative_to``), once or per array.
    atol : float or dict of str to float, optional
        Absolute allowance in gradient units, once or per array; default
        :func:`rounding_floor` of ``f(params)`` and ``eps``: ``16 u (1 + |f|) / eps``.
    relative_to : {"all", "array", "entry"}, default "all"
        What ``rtol`` multiplies (see above).

    Returns
    -------
    float
        The largest relative error found, ``|grad - fd| / s`` (the absolute error where
        ``s`` is 0).

    Raises
    ------
    AssertionError
        When the keys or shapes differ, or, naming the array and the entry with the largest
        error relative to its allowance, when the check fails.
    """
    if relative_to not in ("all", "array", "entry"):
        raise ValueError(f"relative_to must be 'all', 'array' or 'entry', not "
                         f"{relative_to!r}")
    f, params, grad, _ = _as_dict(f, params, grad)
    if not isinstance(grad, dict) or set(grad) != set(params):
        got = sorted(grad) if isinstance(grad, dict) else type(grad).__name__
        raise AssertionError(f"gradient keys {got} differ from parameter keys "
                             f"{sorted(params)}")
    for k in params:
        if np.shape(grad[k]) != np.shape(params[k]):
            raise AssertionError(f"gradient of {k!r} has shape {np.shape(grad[k])}, the "
                                 f"parameter {np.shape(params[k])}")
    keys = sorted(params)
    fd = fd_grads(f, params, eps)
    rtols = _per_array(rtol, keys, "rtol")
    atols = _per_array(rounding_floor(f(params), eps) if atol is None else atol, keys,
                       "atol")
    total = max((float(np.max(np.abs(fd[k]))) for k in keys if fd[k].size), default=0.0)
    worst, found, rel = 0.0, None, 0.0
    for k in keys:
        if not fd[k].size:
            continue
        err = np.abs(np.asarray(grad[k], dtype=np.float64) - fd[k])
        if relative_to == "entry":
            scale = np.abs(fd[k])
        else:
            scale = np.full(fd[k].shape, total if relative_to == "all"
                            else float(np.max(np.abs(fd[k]))))
        allowed = rtols[k] * scale + atols[k]
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = max(rel, float(np.max(np.where(scale > 0, err / scale, err))))
            # each entry's error in units of its allowance (inf where none is allowed)
            ratio = np.where(allowed > 0, err / allowed, np.where(err > 0, np.inf, 0.0))
        i = int(np.argmax(ratio))
        if ratio.flat[i] > worst:
            worst = float(ratio.flat[i])
            found = (k, np.unravel_index(i, err.shape), float(err.flat[i]),
                     float(scale.flat[i]), float(allowed.flat[i]))
    if worst > 1.0:
        k, idx, e, s, allowed = found
        what = {"all": "max |fd|", "array": f"max |fd| of {k!r}", "entry": "|fd|"}
        raise AssertionError(f"gradient of {k!r} at {tuple(int(i) for i in idx)} is "
                             f"{float(np.asarray(grad[k])[idx]):.9g}, central differences "
                             f"(eps={eps:g}) give {float(fd[k][idx]):.9g}: error {e:.3g} > "
                             f"{allowed:.3g} = rtol {rtols[k]:g} * {what[relative_to]} "
                             f"{s:.3g} + atol {atols[k]:.3g}")
    return rel
