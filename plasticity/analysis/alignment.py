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

Measuring during training
-------------------------
The engine hands probes the parameters *after* an update, while the gradient that judges
the update is the one *before* it. :func:`measured` wraps a rule so that every
``every``-th update is measured at the right parameters on the same batch, recorded into
``<prefix>/<array>`` and ``<prefix>/total`` tables of a run file and kept in memory.
:class:`AlignmentProbe` does the same as an ordinary engine probe, reconstructing the
pre-update parameters as ``p_after - d`` (exact up to one rounding of the parameters).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from plasticity.engine import Probe, apply_delta
from plasticity.errors import InvalidParameterError
from plasticity.rules.base import check_delta, check_protocol, rule_name

__all__ = ["COLUMNS", "UNITS", "AlignmentProbe", "MeasuredRule", "align", "measured"]

#: The quantities :func:`align` returns per array and in total.
COLUMNS = ("inner", "cos", "delta_norm", "grad_norm", "predicted_dloss")

#: Units of the recorded columns (``param`` and ``loss`` are the units of the parameters
#: and of the task loss).
UNITS = {"inner": "loss", "cos": "1", "delta_norm": "param", "grad_norm": "loss/param",
         "predicted_dloss": "loss", "actual_dloss": "loss", "zero_norm": "bool",
         "grad_se": "loss/param", "cos_raw": "1", "cos_batch": "1", "sgd_cos": "1",
         "predicted_dloss_batch": "loss"}


# --------------------------------------------------------------------------- metric

class _Metric:
    """A positive-definite metric on the flat vector of arrays ``keys`` (sorted order).

    A matrix is checked (square, of the right size, symmetric, Cholesky) once; a callable
    ``v -> M v`` is trusted, its inverse applied by conjugate gradients.
    """

    def __init__(self, metric, keys, sizes):
        self.keys = list(keys)
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.slices = {k: slice(starts[i], starts[i + 1]) for i, k in enumerate(self.keys)}
        self.n = int(starts[-1])
        self._block_chol: dict[str, np.ndarray] = {}
        if callable(metric):
            self.matrix, self.apply = None, metric
            self.chol = None
            return
        mat = np.asarray(metric, dtype=np.float64)
        if mat.shape != (self.n, self.n):
            raise InvalidParameterError(
                f"The metric has shape {mat.shape}; expected ({self.n}, {self.n}) for the "
                f"flattened arrays {', '.join(self.keys)} (sorted order).")
        if not np.all(np.isfinite(mat)):
            raise InvalidParameterError("The metric contains NaN or infinity.")
        scale = float(np.max(np.abs(mat))) if mat.size else 0.0
        if not np.allclose(mat, mat.T, rtol=1e-10, atol=1e-12 * scale):
            raise InvalidParameterError("The metric matrix is not symmetric; a metric must "
                                        "be symmetric positive definite.")
        try:
            self.chol = np.linalg.cholesky(mat)
        except np.linalg.LinAlgError:
            raise InvalidParameterError(
                "The metric matrix is not positive definite (its Cholesky factorisation "
                "failed); a metric must be symmetric positive definite.") from None
        self.matrix = mat
        self.apply = mat.__matmul__

    # -- quadratic forms -----------------------------------------------------------
    def norm2(self, v) -> float:
        """``v.M v``."""
        q = float(v @ self.apply(v))
        if q < 0:
            raise InvalidParameterError(f"The metric gave v.M v = {q:.3g} < 0: it is not "
                                        "positive definite.")
        return q

    def dual2(self, g) -> float:
        """``g.M^{-1} g``."""
        if self.chol is not None:
            return _chol_dual2(self.chol, g)
        return _cg_dual2(self.apply, g)

    def block_norm2(self, key, v) -> float:
        """``v.M_aa v`` for the diagonal block of array ``key``."""
        sl = self.slices[key]
        if self.matrix is not None:
            q = float(v @ (self.matrix[sl, sl] @ v))
        else:
            q = float(v @ self.apply(self._pad(key, v))[sl])
        if q < 0:
            raise InvalidParameterError(f"The metric gave a negative quadratic form on "
                                        f"'{key}': it is not positive definite.")
        return q

    def block_dual2(self, key, g) -> float:
        """``g.M_aa^{-1} g`` for the diagonal block of array ``key``."""
        sl = self.slices[key]
        if self.matrix is not None:
            chol = self._block_chol.get(key)
            if chol is None:
                # A principal block of a positive-definite matrix is positive definite,
                # so this cannot fail once the full factorisation succeeded.
                chol = self._block_chol[key] = np.linalg.cholesky(self.matrix[sl, sl])
            return _chol_dual2(chol, g)
        return _cg_dual2(lambda v: self.apply(self._pad(key, v))[sl], g)

    def _pad(self, key, v):
        full = np.zeros(self.n)
        full[self.slices[key]] = v
        return full


def _chol_dual2(chol, g) -> float:
    from scipy.linalg import solve_triangular

    y = solve_triangular(chol, g, lower=True, check_finite=False)
    return float(y @ y)


def _cg_dual2(apply, g) -> float:
    """``g.M^{-1} g`` with ``M`` given only as ``v -> M v`` (conjugate gradients)."""
    from scipy.sparse.linalg import LinearOperator, cg

    if not np.any(g):
        return 0.0
    n = g.size
    op = LinearOperator((n, n), matvec=lambda v: np.asarray(apply(np.ravel(v)), float),
                        dtype=np.float64)
    x, info = cg(op, g, rtol=1e-12, atol=0.0, maxiter=10 * n)
    if info != 0:
        raise InvalidParameterError(
            "Could not apply the inverse of the metric by conjugate gradients (no "
            f"convergence after {10 * n} iterations); is it positive definite?")
    q = float(g @ x)
    if q <= 0:
        raise InvalidParameterError(f"The metric gave g.M^-1 g = {q:.3g} <= 0: it is not "
                                    "positive definite.")
    return q


def _as_metric(metric, keys, grad):
    if metric is None or isinstance(metric, _Metric):
        return metric
    return _Metric(metric, keys, [np.size(grad[k]) for k in keys])


# --------------------------------------------------------------------------- align

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
        dg = float(d @ g) if d is not None else 0.0
        ss = None
        if se is not None:
            s = np.asarray(se.get(k, 0.0), dtype=np.float64)
            ss = float(np.vdot(s, s)) if s.ndim else float(s * s) * g.size
            tot_ss += ss
        if m is None:
            dd = float(d @ d) if d is not None else 0.0
            gg = float(g @ g)
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


# --------------------------------------------------------------------------- recording

def _se_norms(se, keys) -> dict:
    """Root-sum-square of the per-element standard errors, per array and in total."""
    out, tot = {}, 0.0
    for k in keys:
        s = np.asarray(se.get(k, 0.0), dtype=np.float64)
        v = float(np.sum(s * s))
        out[k] = float(np.sqrt(v))
        tot += v
    out["total"] = float(np.sqrt(tot))
    return out


class _Log:
    """Alignment rows: streamed to a recorder (if any) and kept in memory."""

    def __init__(self, recorder, prefix, tables=None):
        self.recorder = recorder
        self.prefix = prefix.rstrip("/")
        self.tables = None if tables is None else frozenset(tables)
        self._rows: dict[str, list] = {}
        self._columns: tuple[str, ...] | None = None

    def add(self, step, result, actual, se, extra=None):
        """Record one measured update.

        ``result`` is :func:`align`'s output, ``actual`` maps table names to the measured
        loss changes (NaN where not measured), ``se`` the gradient's standard-error norms
        or None, ``extra`` table names to further columns (or None).
        """
        for table, row in result.items():
            cols = dict(row)
            cols["actual_dloss"] = actual.get(table, np.nan)
            if se is not None:
                cols["grad_se"] = se[table]
            if extra is not None:
                cols.update(extra[table])
            if self._columns is None:
                self._columns = tuple(cols)
            self._rows.setdefault(table, []).append((int(step), *cols.values()))
            if self.recorder is not None and (self.tables is None or table in self.tables):
                self.recorder.append(f"{self.prefix}/{table}", int(step),
                                     units={c: UNITS[c] for c in cols}, **cols)

    @property
    def records(self) -> dict[str, np.ndarray]:
        if self._columns is None:
            return {}
        dtype = [("step", np.int64)] + [
            (c, np.bool_ if c == "zero_norm" else np.float64) for c in self._columns]
        return {table: np.array(rows, dtype=dtype) for table, rows in self._rows.items()}

    def get_checkpoint_state(self):
        """The rows kept in memory (one structured array per table), for a checkpoint."""
        return {"columns": None if self._columns is None else list(self._columns),
                "records": self.records}

    def set_checkpoint_state(self, state):
        cols = state["columns"]
        self._columns = None if cols is None else tuple(cols)
        self._rows = {table: [tuple(r) for r in arr.tolist()]
                      for table, arr in state["records"].items()}


def _call_gradient(gradient_fn, gradient_se_fn, params, data):
    """Return ``(grad, se)``; ``gradient_fn`` may itself return ``(grad, se)``."""
    out = gradient_fn(params, data)
    se = None
    if isinstance(out, tuple):
        out, se = out
    if gradient_se_fn is not None:
        se = gradient_se_fn(params, data)
    if not isinstance(out, dict):
        raise TypeError(f"gradient_fn returned a {type(out).__name__}; expected a dict "
                        "of arrays keyed like the parameters.")
    for k, g in out.items():
        if k in params and np.shape(g) != np.shape(params[k]):
            raise ValueError(f"gradient_fn returned '{k}' of shape {np.shape(g)}; the "
                             f"parameter has shape {np.shape(params[k])}.")
    return out, se


def _call_reference(reference_fn, params):
    """``reference_fn(params)`` as ``(g, se)`` (a bare dict means ``se`` None)."""
    out = reference_fn(params)
    se = None
    if isinstance(out, tuple):
        if len(out) != 2:
            raise TypeError("reference_fn must return (grad, se) with se None where the "
                            "gradient is exact.")
        out, se = out
    if not isinstance(out, dict):
        raise TypeError(f"reference_fn returned a {type(out).__name__}; expected a dict "
                        "of arrays keyed like the parameters (or (grad, se)).")
    for k, g in out.items():
        if k in params and np.shape(g) != np.shape(params[k]):
            raise ValueError(f"reference_fn returned '{k}' of shape {np.shape(g)}; the "
                             f"parameter has shape {np.shape(params[k])}.")
    return out, se


def _measure(log, step, params, delta, grad, se, loss_before, loss_of, metric, keys_dloss,
             reference=None):
    """Align ``delta`` with ``grad``, measure the actual loss change(s), log one step.

    With ``reference = (g_pop, se_pop)`` the primary columns are against ``g_pop``
    (noise-corrected with ``se_pop``), ``grad`` is the same-batch gradient and gives the
    secondary ``cos_batch`` and ``predicted_dloss_batch``, and ``sgd_cos`` is the cosine
    of ``-grad`` (the exact minibatch step) with ``g_pop``.
    """
    extra = None
    if reference is None:
        result = align(delta, grad, metric)
    else:
        g_pop, se_pop = reference
        result = align(delta, g_pop, None if se_pop is not None else metric, se=se_pop)
        batch = align(delta, grad, metric)
        sgd = align({k: -v for k, v in grad.items() if k in g_pop}, g_pop,
                    None if se_pop is not None else metric, se=se_pop)
        extra = {t: {"cos_batch": batch[t]["cos"], "sgd_cos": sgd[t]["cos"],
                     "predicted_dloss_batch": batch[t]["predicted_dloss"]}
                 for t in result}
        grad, se = g_pop, se_pop
    actual = {}
    if loss_of is not None:
        actual["total"] = float(loss_of(apply_delta(params, delta))) - loss_before
        for k in keys_dloss:
            if k in delta:
                actual[k] = float(loss_of(apply_delta(params, {k: delta[k]}))) - loss_before
            else:
                actual[k] = 0.0
    log.add(step, result, actual, None if se is None else _se_norms(se, sorted(grad)), extra)


# --------------------------------------------------------------------------- the wrapper

def _structurally_valid(rule, delta, params):
    """``delta`` if its names, shapes and dtypes fit ``params``, else raise RuleError.

    The engine runs the full :func:`check_delta` (finiteness included) right after the
    update; repeating the finiteness scan here would cost more than the alignment itself,
    and a NaN only makes this update's row NaN before the engine stops the run. A
    malformed delta, though, must fail here with the engine's message rather than as an
    obscure error inside the alignment arithmetic.
    """
    if isinstance(delta, dict):
        for key, value in delta.items():
            target = params.get(key)
            kind = getattr(getattr(value, "dtype", None), "kind", "")
            if target is None or kind not in "fiu" or not kind or value.shape != target.shape:
                break
        else:
            return delta
    return check_delta(rule, delta, params)


class MeasuredRule:
    """A rule that measures the alignment of its inner rule's updates; see :func:`measured`.

    Attributes
    ----------
    rule : object
        The inner rule.
    step : int
        The number of updates seen so far (the engine's step of the last update).
    timing : dict of str to float
        Seconds spent in the inner rule (``rule_s``), in the gradient and loss
        evaluations (``oracle_s``) and in the alignment bookkeeping (``overhead_s``).
    """

    def __init__(self, rule, gradient_fn, loss_fn=None, every=1, metric=None,
                 recorder=None, prefix="/alignment", *, gradient_se_fn=None,
                 array_dloss=False, reference_fn=None, record_tables=None):
        check_protocol(rule)
        if int(every) < 1:
            raise InvalidParameterError(f"The 'every' parameter of measured must be >= 1. "
                                        f"Got {every!r}.")
        if not callable(gradient_fn):
            raise InvalidParameterError("gradient_fn must be callable: "
                                        "gradient_fn(params, signals) -> dict of arrays.")
        self.rule = rule
        self.gradient_fn, self.loss_fn = gradient_fn, loss_fn
        if reference_fn is not None and not callable(reference_fn):
            raise InvalidParameterError("reference_fn must be callable: "
                                        "reference_fn(params) -> (grad, se).")
        self.gradient_se_fn, self.reference_fn = gradient_se_fn, reference_fn
        self.every, self.metric, self.array_dloss = int(every), metric, bool(array_dloss)
        self._log = _Log(recorder, prefix, record_tables)
        self._metric_cache = None
        self.step = 0
        self.timing = {"rule_s": 0.0, "oracle_s": 0.0, "overhead_s": 0.0}

    @property
    def name(self) -> str:
        """The inner rule's name (summary keys stay those of the rule)."""
        return rule_name(self.rule)

    @property
    def records(self) -> dict[str, np.ndarray]:
        """The measured rows so far: table name (array name or ``"total"``) -> a NumPy
        structured array with fields ``step``, the :data:`COLUMNS`, ``zero_norm``,
        ``actual_dloss``, (with standard errors) ``grad_se`` and ``cos_raw``, and (with a
        ``reference_fn``) ``cos_batch``, ``sgd_cos`` and ``predicted_dloss_batch``;
        ``records["total"]["cos"]`` is the cosine of every measured update."""
        return self._log.records

    def __getattr__(self, name):
        # Hyperparameters (eta, ...) of the inner rule stay readable through the wrapper.
        if name == "rule":
            raise AttributeError(name)
        return getattr(self.rule, name)

    def init(self, params):
        """The inner rule's initial state."""
        return self.rule.init(params)

    def get_checkpoint_state(self):
        """Update count, timings and measured rows (and the inner rule's own checkpoint
        state, if it has one), for a resumable run."""
        inner = getattr(self.rule, "get_checkpoint_state", None)
        return {"step": self.step, "timing": dict(self.timing),
                "log": self._log.get_checkpoint_state(),
                "rule": inner() if callable(inner) else None}

    def set_checkpoint_state(self, state):
        self.step = int(state["step"])
        self.timing = dict(state["timing"])
        self._log.set_checkpoint_state(state["log"])
        if state["rule"] is not None:
            self.rule.set_checkpoint_state(state["rule"])

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """The inner rule's ``(delta, state)``, unchanged; measures every ``every``-th call.

        The gradient and the loss before the update are evaluated *before* the inner rule
        runs, so they see exactly the parameters and signals the rule sees.
        """
        self.step += 1
        if self.step % self.every:
            t0 = time.perf_counter()
            out = self.rule.update(signals, state, params, reward=reward, loss_fn=loss_fn,
                                   rng=rng)
            self.timing["rule_s"] += time.perf_counter() - t0
            return out

        t0 = time.perf_counter()
        grad, se = _call_gradient(self.gradient_fn, self.gradient_se_fn, params, signals)
        reference = (None if self.reference_fn is None
                     else _call_reference(self.reference_fn, params))
        if self.loss_fn is not None:
            def loss_of(p, _s=signals):
                return self.loss_fn(p, _s)
        else:
            loss_of = loss_fn
        loss_before = float(loss_of(params)) if loss_of is not None else np.nan
        t1 = time.perf_counter()
        delta, new_state = self.rule.update(signals, state, params, reward=reward,
                                            loss_fn=loss_fn, rng=rng)
        t2 = time.perf_counter()
        checked = _structurally_valid(self.rule, delta, params)
        t3 = time.perf_counter()
        metric = self._metric(grad)
        keys_dloss = sorted(grad) if self.array_dloss else ()
        oracle_before = self.timing["oracle_s"]
        _measure(self._log, self.step, params, checked, grad, se, loss_before,
                 _timed(loss_of, self.timing), metric, keys_dloss, reference)
        t4 = time.perf_counter()
        loss_s = self.timing["oracle_s"] - oracle_before
        self.timing["oracle_s"] += t1 - t0
        self.timing["rule_s"] += t2 - t1
        self.timing["overhead_s"] += (t3 - t2) + (t4 - t3 - loss_s)
        return delta, new_state

    def _metric(self, grad):
        if self.metric is None:
            return None
        if self._metric_cache is None:
            # Factorise a matrix metric once, not at every measured update.
            self._metric_cache = _as_metric(self.metric, sorted(grad), grad)
        return self._metric_cache


def _timed(fn, timing):
    """``fn`` with its run time added to ``timing["oracle_s"]`` (None stays None)."""
    if fn is None:
        return None

    def call(p):
        t0 = time.perf_counter()
        try:
            return fn(p)
        finally:
            timing["oracle_s"] += time.perf_counter() - t0
    return call


def measured(rule, gradient_fn, loss_fn=None, every=1, metric=None, recorder=None,
             prefix="/alignment", *, gradient_se_fn=None, array_dloss=False,
             reference_fn=None, record_tables=None) -> MeasuredRule:
    """Wrap ``rule`` so that its updates are compared with the true gradient as it learns.

    The wrapper follows the rule protocol and has the rule's ``name``; its ``update``
    returns exactly the inner rule's delta and state (same objects), so training with it
    gives the same run. Every ``every``-th update it evaluates, at the parameters and on
    the signals the rule sees, the gradient and the loss before and after the update,
    and records :func:`align`'s quantities plus ``actual_dloss``.

    Parameters
    ----------
    rule : object with ``init`` and ``update``
        Any rule.
    gradient_fn : callable
        ``gradient_fn(params, signals) -> dict of ndarray``, the gradient of the task
        loss, same keys and shapes as ``params``. It may instead return ``(grad, se)``
        with ``se`` the per-element standard errors of an estimated gradient.
    loss_fn : callable, optional
        ``loss_fn(params, signals) -> float``. When omitted, the ``loss_fn`` the engine
        passes to ``update`` (the task loss bound to the current batch) is used; when
        neither exists ``actual_dloss`` is NaN.
    every : int, default 1
        Measure the updates whose step (counted from 1) is a multiple of ``every``.
    metric : None, ndarray or callable, optional
        As in :func:`align`; fixed for the whole run (a matrix is factorised once).
    recorder : plasticity.io.recorder.Recorder, optional
        Rows go to the tables ``<prefix>/<array>`` and ``<prefix>/total``.
    prefix : str, default "/alignment"
        Group of the tables (a path starting with "/" is absolute in the run file).
    gradient_se_fn : callable, optional
        ``gradient_se_fn(params, signals) -> dict`` of per-element standard errors of the
        gradient (arrays shaped like the gradient, or scalars). Recorded as ``grad_se``,
        the root-sum-square of the per-element errors over the array (comparable with
        ``grad_norm``, in the Euclidean metric).
    array_dloss : bool, default False
        Also measure the loss change of each array's update alone (one loss evaluation
        per array); otherwise the per-array ``actual_dloss`` is NaN.
    reference_fn : callable, optional
        ``reference_fn(params) -> (grad, se)``: the population (expected-loss) gradient
        and its per-element standard errors (``se`` None where exact), e.g.
        :meth:`plasticity.problems.Problem.population_gradient`. When given, the primary
        columns (``inner``, ``cos``, ``grad_norm``, ``predicted_dloss``, ``grad_se``)
        are against it, with the cosine corrected for its noise (``cos_raw`` uncorrected,
        see :func:`align`), and ``gradient_fn`` is the same-batch gradient, which gives
        ``cos_batch`` (the update's cosine with it), ``predicted_dloss_batch`` and
        ``sgd_cos`` (the cosine of the exact minibatch step ``-gradient_fn`` with the
        reference: what plain SGD reaches at the same state and batch). The metric then
        applies to ``cos_batch`` only when ``se`` is given (the noise correction is
        Euclidean).
    record_tables : collection of str, optional
        The tables (array names and/or ``"total"``) streamed to ``recorder``; all when
        None. ``.records`` keeps every table in memory either way.

    Returns
    -------
    MeasuredRule
        Rule-like; ``.records`` holds the measurements, ``.timing`` where time went.

    Examples
    --------
    >>> import numpy as np
    >>> class Descent:
    ...     def init(self, params):
    ...         return None
    ...     def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
    ...         return {"w": -0.1 * params["w"]}, state
    >>> rule = measured(Descent(), lambda p, s: {"w": p["w"]},
    ...                 loss_fn=lambda p, s: 0.5 * float(p["w"] @ p["w"]))
    >>> _ = rule.update({}, None, {"w": np.ones(3)})
    >>> float(rule.records["total"]["cos"][0])
    1.0
    """
    return MeasuredRule(rule, gradient_fn, loss_fn, every, metric, recorder, prefix,
                        gradient_se_fn=gradient_se_fn, array_dloss=array_dloss,
                        reference_fn=reference_fn, record_tables=record_tables)


# --------------------------------------------------------------------------- the probe

class AlignmentProbe(Probe):
    """An engine probe measuring alignment from the parameters after each update.

    The probe sees ``p_after = p_before + d`` and rebuilds ``p_before = p_after - d``
    (differing from the true value by at most one rounding of each parameter), then
    measures as :func:`measured` does. Prefer :func:`measured`, which needs no
    reconstruction and sees the signals; the probe suits code that already builds a
    probe list.

    Parameters
    ----------
    gradient_fn : callable
        ``gradient_fn(params, batch) -> dict of ndarray`` (or ``(grad, se)``), with
        ``batch`` the engine's :class:`~plasticity.engine.Batch`.
    loss_fn : callable or None
        ``loss_fn(params, batch) -> float`` (the engine's ``loss``); None leaves
        ``actual_dloss`` NaN.
    recorder : Recorder, optional
    every : int, default 1
        Passed to the engine (it also calls probes after the last update).
    metric : None, ndarray or callable, optional
        As in :func:`align`.
    prefix : str, default "/alignment"
    gradient_se_fn : callable, optional
        ``gradient_se_fn(params, batch) -> dict`` of per-element standard errors.
    array_dloss : bool, default False
        As in :func:`measured`.

    Attributes
    ----------
    records : dict of str to ndarray
        As :attr:`MeasuredRule.records`.
    """

    def __init__(self, gradient_fn: Callable, loss_fn: Callable | None, recorder=None,
                 every=1, metric=None, prefix="/alignment", *, gradient_se_fn=None,
                 array_dloss=False):
        super().__init__(fn=self._observe, every=every)
        self.gradient_fn, self.loss_fn = gradient_fn, loss_fn
        self.gradient_se_fn, self.metric = gradient_se_fn, metric
        self.array_dloss = bool(array_dloss)
        self._log = _Log(recorder, prefix)
        self._metric_cache = None

    @property
    def records(self) -> dict[str, np.ndarray]:
        return self._log.records

    def get_checkpoint_state(self):
        """The measured rows, for a resumable run."""
        return self._log.get_checkpoint_state()

    def set_checkpoint_state(self, state):
        self._log.set_checkpoint_state(state)

    def _observe(self, step, params, state, delta, batch):
        before = dict(params)
        for k, d in delta.items():
            before[k] = params[k] - d
        grad, se = _call_gradient(self.gradient_fn, self.gradient_se_fn, before, batch)
        loss_of = None
        if self.loss_fn is not None:
            def loss_of(p):
                return self.loss_fn(p, batch)
        loss_before = float(loss_of(before)) if loss_of is not None else np.nan
        if self.metric is not None and self._metric_cache is None:
            self._metric_cache = _as_metric(self.metric, sorted(grad), grad)
        keys_dloss = sorted(grad) if self.array_dloss else ()
        _measure(self._log, step, before, delta, grad, se, loss_before, loss_of,
                 self._metric_cache, keys_dloss)
