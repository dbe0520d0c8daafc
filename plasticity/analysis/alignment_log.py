"""The run log of alignment measurements, and one measurement at one update.

:class:`_Log` keeps the rows of :func:`~plasticity.analysis.update_alignment.align` in
memory (one structured array per table: each parameter array and ``"total"``) and streams
them to a recorder; :func:`_measure` aligns one update with its gradient (and, when given,
the population reference), measures the actual loss change and logs the row. The
measured-rule wrapper and the alignment probe share both.
"""

from __future__ import annotations

import numpy as np

from plasticity.analysis.update_alignment import UNITS, align
from plasticity.engine import apply_delta


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
        self._streamed: set[str] = set()  # tables whose units the recorder has

    def add(self, step, result, actual, se, extra=None):
        """Record one measured update.

        ``result`` is :func:`align`'s output, ``actual`` maps table names to the measured
        loss changes (NaN where not measured), ``se`` the gradient's standard-error norms
        or None, ``extra`` table names to further columns (or None).
        """
        step = int(step)
        streamed, units = {}, None
        for table, row in result.items():
            cols = dict(row)
            cols["actual_dloss"] = actual.get(table, np.nan)
            if se is not None:
                cols["grad_se"] = se[table]
            if extra is not None:
                cols.update(extra[table])
            if self._columns is None:
                self._columns = tuple(cols)
            self._rows.setdefault(table, []).append((step, *cols.values()))
            if self.recorder is not None and (self.tables is None or table in self.tables):
                path = f"{self.prefix}/{table}"
                streamed[path] = cols
                # The recorder keeps a table's units from its first row (the columns
                # never change), so they are built and passed once per table.
                if table not in self._streamed:
                    self._streamed.add(table)
                    units = units or {}
                    units[path] = {c: UNITS[c] for c in cols}
        if streamed:
            self.recorder.append_rows(step, streamed, units=units)

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
    _check_shapes("gradient_fn", out, params)
    return out, se


def _check_shapes(who, grad, params):
    """Raise ValueError when an array of ``grad`` is shaped unlike its parameter."""
    for k, g in grad.items():
        if k in params and np.shape(g) != np.shape(params[k]):
            raise ValueError(f"{who} returned '{k}' of shape {np.shape(g)}; the "
                             f"parameter has shape {np.shape(params[k])}.")


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
    _check_shapes("reference_fn", out, params)
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
        # an estimated gradient (with standard errors) is corrected for its noise, as a
        # reference is (the correction is Euclidean: with a metric it is left out)
        result = align(delta, grad, metric, se=se if metric is None else None)
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
