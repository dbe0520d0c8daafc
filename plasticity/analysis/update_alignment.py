"""How one update relates to the gradient of the loss: inner product, cosine, norms.

Definitions
-----------
Let ``d`` be a rule's update (its delta, flattened) and ``g`` the gradient of the task
loss at the parameters *before* the update. With a positive-definite metric ``M`` (the
identity by default; e.g. a Fisher matrix on request):

* the steepest-descent direction in the metric ``M`` is ``-M^{-1} g`` (it minimises the
  first-order loss change ``g.d`` over updates of fixed length ``sqrt(d.M d)``);
* ``inner = <d, -M^{-1} g>_M = -d.g``. It does not depend on ``M``: it is the first-order
  loss *decrease*, positive when the update goes downhill;
* ``delta_norm = |d|_M = sqrt(d.M d)`` and ``grad_norm = |M^{-1} g|_M = sqrt(g.M^{-1} g)``;
* ``cos = inner / (delta_norm * grad_norm) = -d.g / (sqrt(d.M d) sqrt(g.M^{-1} g))``, in
  ``[-1, 1]``; 1 exactly when ``d`` is a positive multiple of ``-M^{-1} g``. When either
  norm is zero the cosine is set to 0 and ``zero_norm`` is True (the angle is undefined;
  statistics over updates should leave such rows out);
* ``predicted_dloss = g.d``, the first-order prediction of the loss change
  (``= -inner``), to compare with the measured ``actual_dloss = L(p + d) - L(p)``.

Against an estimated gradient
-------------------------------
When the reference is an estimate ``g_hat = g + e`` with independent per-element errors of
standard error ``se`` (e.g. the mean gradient over a finite evaluation set), ``d.g_hat`` is
unbiased for ``d.g`` but ``|g_hat|^2`` overestimates ``|g|^2`` by ``sum(se^2)`` on
average, which would pull every cosine toward 0. With ``se`` given, :func:`align` uses the
unbiased ``|g|^2_hat = |g_hat|^2 - sum(se^2)`` in the denominator (Euclidean metric only):
``grad_norm`` is its square root and ``cos = inner / (delta_norm * grad_norm)``, not
clipped to [-1, 1] so that its mean stays unbiased (it can exceed 1 in magnitude by at
most the correction factor ``|g_hat| / grad_norm``); ``cos_raw`` keeps the uncorrected
cosine. Where ``|g_hat|^2 <= sum(se^2)`` the gradient is not resolved by the estimate:
the row's ``zero_norm`` is True (angle undefined) and ``cos`` falls back to ``cos_raw``.

Per parameter array ``a`` the same quantities are computed for the update restricted to
``a`` with the other arrays held fixed: ``d_a``, ``g_a`` and the diagonal block ``M_aa``
of the metric, whose steepest-descent direction is ``-M_aa^{-1} g_a``. The per-array
``inner`` and ``predicted_dloss`` add up to the total; the norms and cosines do not.

The recording of these rows during training lives in
:mod:`plasticity.analysis.measured_rule` (:func:`measured`) and
:mod:`plasticity.analysis.alignment_probe`; :mod:`plasticity.analysis.alignment` gathers
them all.
"""

from __future__ import annotations

import math

import numpy as np

from plasticity.analysis.metric import _as_metric
from plasticity.errors import InvalidParameterError

__all__ = ["COLUMNS", "UNITS", "align"]

#: The quantities :func:`align` returns per array and in total.
COLUMNS = ("inner", "cos", "delta_norm", "grad_norm", "predicted_dloss")

#: Units of the recorded columns (``param`` and ``loss`` are the units of the parameters
#: and of the task loss).
UNITS = {"inner": "loss", "cos": "1", "delta_norm": "param", "grad_norm": "loss/param",
         "predicted_dloss": "loss", "actual_dloss": "loss", "zero_norm": "bool",
         "grad_se": "loss/param", "cos_raw": "1", "cos_batch": "1", "sgd_cos": "1",
         "predicted_dloss_batch": "loss"}


def _entry(dg, dd, gg, ss=None):
    """One row of :func:`align` from ``d.g``, ``|d|^2`` and ``|g|^2`` (both in M), and
    with ``ss = sum(se^2)`` the noise-corrected cosine (module docstring)."""
    # sqrt(dd * gg) rather than sqrt(dd) * sqrt(gg): for d = -g this makes cos exactly 1.
    # Plain floats and math: this runs per array per update, NumPy scalars cost 10x more.
    denom = math.sqrt(dd * gg)
    zero = denom == 0.0
    cos = 0.0 if zero else min(1.0, max(-1.0, -dg / denom))
    if ss is None:
        return {"inner": -dg, "cos": cos, "delta_norm": math.sqrt(dd),
                "grad_norm": math.sqrt(gg), "predicted_dloss": dg, "zero_norm": zero}
    gg_c = gg - ss
    resolved = gg_c > 0.0 and dd > 0.0
    cos_c = -dg / math.sqrt(dd * gg_c) if resolved else cos
    return {"inner": -dg, "cos": cos_c, "cos_raw": cos, "delta_norm": math.sqrt(dd),
            "grad_norm": math.sqrt(max(gg_c, 0.0)), "predicted_dloss": dg,
            "zero_norm": not resolved}


def align(delta, grad, metric=None, *, se=None) -> dict:
    """Compare an update with the negative gradient, per parameter array and in total.

    Parameters
    ----------
    delta : dict of str to ndarray
        The update (a rule's delta). Arrays of ``grad`` missing here count as unchanged.
    grad : dict of str to ndarray
        The loss gradient at the parameters before the update, same shapes as the
        parameters (units: loss per parameter unit).
    metric : None, ndarray of shape (n, n), or callable, optional
        ``None`` for the Euclidean metric. Otherwise a symmetric positive-definite
        matrix over the flattened vector of the arrays of ``grad`` in sorted key order
        (``n`` elements in total, see :func:`plasticity.analysis.flat.flatten`), or a
        callable mapping such a vector ``v`` of shape (n,) to ``M v``. A matrix is
        checked by Cholesky factorisation; with a callable, ``M^{-1}`` is applied by
        conjugate gradients.
    se : dict of str to ndarray, optional
        Per-element standard errors of ``grad`` when it is an estimate (same keys and
        shapes, or scalars). The cosine is then corrected for the estimate's noise
        (module docstring) and each row also has ``cos_raw``. Euclidean metric only.

    Returns
    -------
    dict of str to dict
        One entry per array of ``grad`` and ``"total"``, each a dict with float
        ``inner``, ``cos``, ``delta_norm``, ``grad_norm``, ``predicted_dloss`` and bool
        ``zero_norm``, as defined in the module docstring (and ``cos_raw`` with ``se``).

    Raises
    ------
    ValueError
        When ``delta`` has an array that ``grad`` lacks, or shapes differ.
    InvalidParameterError
        When the metric is not symmetric positive definite or has the wrong size, or
        when both a metric and ``se`` are given.

    Examples
    --------
    >>> import numpy as np
    >>> g = {"W": np.array([1.0, 2.0])}
    >>> align({"W": -g["W"]}, g)["total"]["cos"]
    1.0
    """
    keys = sorted(grad)
    if "total" in grad:
        raise ValueError("A parameter array may not be called 'total' (that name is the "
                         "row of all arrays together).")
    extra = sorted(set(delta) - set(grad))
    if extra:
        raise ValueError(f"The update changes {', '.join(extra)}, for which the gradient "
                         f"has no entry (gradient arrays: {', '.join(keys)}).")
    gs, ds = {}, {}
    for k in keys:
        g = np.asarray(grad[k], dtype=np.float64)
        gs[k] = g
        if k in delta:
            d = np.asarray(delta[k], dtype=np.float64)
            if d.shape != g.shape:
                raise ValueError(f"The update of '{k}' has shape {d.shape}; the gradient "
                                 f"has shape {g.shape}.")
            ds[k] = d
    m = _as_metric(metric, keys, gs)
    if se is not None and m is not None:
        raise InvalidParameterError("The noise correction of an estimated gradient (se) is "
                                    "defined in the Euclidean metric only; pass metric=None.")
    out = {}
    tot_dg = tot_dd = tot_gg = 0.0
    tot_ss = None if se is None else 0.0
    for k in keys:
        g = gs[k].ravel()
        d = ds[k].ravel() if k in ds else None
        # ndarray.dot of two vectors: BLAS's dot, as ``@``, with a third of its call cost
        dg = float(d.dot(g)) if d is not None else 0.0
        ss = None
        if se is not None:
            s = np.asarray(se.get(k, 0.0), dtype=np.float64)
            ss = float(np.vdot(s, s)) if s.ndim else float(s * s) * g.size
            tot_ss += ss
        if m is None:
            dd = float(d.dot(d)) if d is not None else 0.0
            gg = float(g.dot(g))
            tot_dd += dd
            tot_gg += gg
        else:
            dd = m.block_norm2(k, d) if d is not None else 0.0
            gg = m.block_dual2(k, g)
        tot_dg += dg
        out[k] = _entry(dg, dd, gg, ss)
    if m is not None:
        # In a non-diagonal metric the blocks do not add up; use the whole vector.
        dflat = np.concatenate([ds[k].ravel() if k in ds else np.zeros(gs[k].size)
                                for k in keys]) if keys else np.zeros(0)
        gflat = np.concatenate([gs[k].ravel() for k in keys]) if keys else np.zeros(0)
        tot_dd, tot_gg = m.norm2(dflat), m.dual2(gflat)
    out["total"] = _entry(tot_dg, tot_dd, tot_gg, tot_ss)
    return out
