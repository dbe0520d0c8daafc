"""The figure of a sweep: each summary metric against the swept parameter.

:func:`plot_sweep` reads a sweep directory (:func:`read_sweep`, in
:mod:`plasticity.plots.sweep_table`, which this module re-exports) and draws one panel per
metric: the mean over seeds at each grid value with a 95% t-interval band, and every seed
as a faint dot.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.plots.style import PALETTE, figure
from plasticity.plots.sweep_table import (
    LEVEL,
    SweepTable,
    _is_real,
    read_sweep,
    sweep_metadata,
    t_interval,
)
from plasticity.validation import suggest

__all__ = ["MAX_DEFAULT_METRICS", "SweepTable", "plot_sweep", "read_sweep", "sweep_metadata",
           "t_interval"]

MAX_DEFAULT_METRICS = 6
# A log axis only pays when the values span more than this factor.
LOG_SPAN = 20.0


def _key(value) -> str:
    """A hashable, order-stable identity for a grid value (lists and dicts included)."""
    return json.dumps(value, sort_keys=True, default=str)


def _label(value) -> str:
    if _is_real(value) and not isinstance(value, numbers.Integral):
        return f"{value:g}"
    return value if isinstance(value, str) else _key(value)


def _seed_text(seeds) -> str:
    s = sorted(set(seeds))
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"seeds {s[0]}-{s[-1]}"
    shown = ", ".join(map(str, s[:8])) + (", ..." if len(s) > 8 else "")
    return f"seed {shown}" if len(s) == 1 else f"seeds {shown}"


def _title(table: SweepTable, metrics, available) -> str:
    head = (f"{table.experiment}: {len(table.rows)} runs, "
            f"{_seed_text(r['seed'] for r in table.rows)}")
    notes = []
    diverged = sum(r["status"] == "diverged" for r in table.rows)
    if diverged:
        notes.append(f"{diverged} diverged")
    if table.left_out:
        n = sum(table.left_out.values())
        parts = ", ".join(f"{c} {k}" for k, c in sorted(table.left_out.items()))
        notes.append(f"{parts} run{'s' if n > 1 else ''} left out")
    if len(metrics) < len(available):
        notes.append(f"{len(metrics)} of {len(available)} metrics")
    return head + ("\n" + "; ".join(notes) if notes else "")


def _choose_metrics(table: SweepTable, metrics):
    available = table.metrics
    if metrics is None or len(metrics) == 0:
        # a value that is the same in every run (a config echo such as n_samples) says
        # nothing about the swept parameter: left out unless nothing else is left
        varying = [m for m in available
                   if len({_key(r["summary"].get(m)) for r in table.rows}) > 1]
        available = varying or available
        return available[:MAX_DEFAULT_METRICS], available
    every = {k for r in table.rows for k in r["summary"]}
    chosen = []
    for m in metrics:
        if m not in available:
            what = "is not numeric in" if m in every else "is not a summary key of"
            raise InvalidParameterError(
                f"metric '{m}' {what} the runs of {table.path}{suggest(m, available)} "
                f"(numeric summaries: {', '.join(available) or 'none'}).")
        if m not in chosen:
            chosen.append(m)
    return chosen, available


def _points(rows, metric, order, position):
    """Per x position (in ``order``) with at least one finite value of ``metric``: the
    mean and t-interval over the runs there, and every run's value.

    Returns
    -------
    xs, means, lows, highs : ndarray, shape (m,)
        ``m <= len(order)`` positions; ``lows``/``highs`` NaN where only one run.
    dot_x, dot_y : ndarray, shape (k,)
        One entry per run with a finite value.
    """
    xs, stats, dot_x, dot_y = [], [], [], []
    for p in order:
        vals = [float(r["summary"][metric]) for r in rows
                if position(r) == p and _is_real(r["summary"].get(metric))
                and math.isfinite(r["summary"][metric])]
        if vals:
            xs.append(p)
            stats.append(t_interval(vals))
            dot_x += [p] * len(vals)
            dot_y += vals
    stats = np.asarray(stats, dtype=np.float64).reshape(-1, 3)
    return (np.asarray(xs, dtype=np.float64), stats[:, 0], stats[:, 1], stats[:, 2],
            np.asarray(dot_x, dtype=np.float64), np.asarray(dot_y, dtype=np.float64))


def plot_sweep(sweep_dir, *, metrics=None, x=None):
    """Summary metrics of a sweep against the swept parameter.

    Parameters
    ----------
    sweep_dir : str, Path or SweepTable
        A sweep directory (with ``sweep.json``) or what :func:`read_sweep` returned.
    metrics : sequence of str, optional
        Summary keys to draw, one panel each. Default: every numeric scalar summary key
        whose value differs between runs, at most :data:`MAX_DEFAULT_METRICS`.
    x : str, optional
        The grid key on the horizontal axis (default: the first). Each combination of
        the other grid keys is a separate line, labelled ``key=value``.

    Returns
    -------
    matplotlib.figure.Figure
        Per panel and line: the mean over seeds (a ``Line2D`` with gid ``"mean"``), a 95%
        Student-t band over seeds (a ``PolyCollection`` with gid ``"ci"``, absent with
        one seed per point) and the single seeds (a ``Line2D`` with gid ``"seeds"``).
        Numeric grid values go on a linear axis, or a log axis when all are positive
        and span more than a factor 20; other values are categories, one tick each.

    Raises
    ------
    InvalidParameterError
        When no run finished, a metric is not a numeric summary of the runs, or ``x``
        is not a grid key.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    table = sweep_dir if isinstance(sweep_dir, SweepTable) else read_sweep(sweep_dir)
    if not table.rows:
        left = ", ".join(f"{c} {k}" for k, c in sorted(table.left_out.items())) or "none"
        raise InvalidParameterError(f"sweep {table.path} has no complete run yet "
                                    f"({table.n_runs} runs: {left}).")
    chosen, available = _choose_metrics(table, metrics)
    if not chosen:
        raise InvalidParameterError(f"the runs of sweep {table.path} have no numeric "
                                    "summary to plot.")
    keys = list(table.grid)
    if x is None:
        x = keys[0] if keys else None
    elif x not in keys:
        raise InvalidParameterError(f"x '{x}' is not a grid key of sweep {table.path}"
                                    f"{suggest(x, keys)} (grid: {', '.join(keys) or 'none'}).")
    others = [k for k in keys if k != x]

    # x values: the grid's order, then any value a run has that the grid does not list
    xvals = list(table.grid.get(x, [])) if x is not None else [None]
    known = {_key(v) for v in xvals}

    def xkey(r):
        return _key(r["params"].get(x) if x is not None else None)

    def ckey(r):
        return tuple(_key(r["params"].get(k)) for k in others)

    for r in table.rows:
        v = r["params"].get(x) if x is not None else None
        if _key(v) not in known:
            known.add(_key(v))
            xvals.append(v)
    numeric = x is not None and all(_is_real(v) for v in xvals)
    if numeric:
        pos = {_key(v): float(v) for v in xvals}
        positive = all(v > 0 for v in pos.values())
        log = positive and max(pos.values()) / min(pos.values()) > LOG_SPAN
    else:
        pos = {_key(v): float(i) for i, v in enumerate(xvals)}
        log = False
    order = sorted(set(pos.values()))

    combos = list(itertools.product(*(table.grid[k] for k in others))) if others else [()]
    present = {ckey(r) for r in table.rows}
    combos = [c for c in combos if tuple(_key(v) for v in c) in present]
    # with at most one run per point there is no spread to show: points only
    single = max(sum(1 for r in table.rows if xkey(r) == xk and ckey(r) == ck)
                 for xk in pos for ck in present) <= 1

    n = len(chosen)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    width = "single" if ncols == 1 else "double"
    fig, axes = figure(width=width, height_ratio=0.36 * nrows * (2 if ncols == 1 else 1),
                       ncols=ncols, nrows=nrows, squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        fig.delaxes(ax)
    xlabel = "" if x is None else x
    units = table.units.get(x, "") if x else ""
    if units:
        xlabel = f"{xlabel} ({units})"

    handles = []
    for ax, metric in zip(flat, chosen, strict=False):
        for gi, combo in enumerate(combos):
            color = PALETTE[gi % len(PALETTE)]
            group = tuple(_key(v) for v in combo)
            rows = [r for r in table.rows if ckey(r) == group]
            xs, means, lows, highs, dot_x, dot_y = _points(rows, metric, order,
                                                           lambda r: pos[xkey(r)])
            label = ", ".join(f"{k}={_label(v)}" for k, v in zip(others, combo, strict=True))
            if single:
                ax.plot(xs, means, ls="none", marker="o", ms=3.5, color=color, gid="mean",
                        label=label or "one seed per point (no CI)")
                continue
            ax.plot(dot_x, dot_y, ls="none", marker="o", ms=2.2, alpha=0.35, mew=0,
                    color=color, gid="seeds")
            ax.plot(xs, means, marker="o", ms=3, color=color, gid="mean",
                    label=label or "mean over seeds")
            ok = np.isfinite(lows) & np.isfinite(highs)
            if ok.any():
                band = ax.fill_between(xs, lows, highs, where=ok, color=color, alpha=0.2, lw=0,
                                       interpolate=False)
                band.set_gid("ci")
        ax.set_ylabel(metric)
        ax.set_xlabel(xlabel)
        if log:
            ax.set_xscale("log")
        if not numeric or len(order) <= 6:
            first = {}
            for v in xvals:
                first.setdefault(pos[_key(v)], _label(v))
            ax.set_xticks(order, [first[p] for p in order])
            ax.minorticks_off()
        if ax is flat[0]:
            handles = ax.get_legend_handles_labels()[0]
    if single:
        if others:
            handles.append(Line2D([], [], ls="none", marker="o", ms=3.5, color="0.4",
                                  label="one seed per point (no CI)"))
    else:
        handles += [Patch(color="0.4", alpha=0.25, lw=0,
                          label=f"{LEVEL:.0%} CI of the mean (t over seeds)"),
                    Line2D([], [], ls="none", marker="o", ms=2.2, alpha=0.5, mew=0,
                           color="0.4", label="single seeds")]
    # below the panels, where it hides no data
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4))
    fig.suptitle(_title(table, chosen, available))
    return fig
