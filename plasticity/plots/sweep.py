"""The figure of a sweep: each summary metric against the swept parameter.

A sweep directory holds ``sweep.json`` (the grid, the seeds and one entry per run, see
``plasticity sweep``) and the run files under ``runs/``. :func:`read_sweep` collects the
summaries of the runs that finished (status ``complete`` or ``diverged`` in the run file
itself) through :func:`plasticity.io.runfile.open_runs`, and counts the others;
:func:`plot_sweep` draws one panel per metric: the mean over seeds at each grid value with
a 95% t-interval band, and every seed as a faint dot.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plasticity.errors import InvalidParameterError, RunFileError
from plasticity.plots.style import PALETTE, figure
from plasticity.validation import suggest

__all__ = ["MAX_DEFAULT_METRICS", "SweepTable", "plot_sweep", "read_sweep", "sweep_metadata",
           "t_interval"]

MAX_DEFAULT_METRICS = 6
USABLE = ("complete", "diverged")
# A log axis only pays when the values span more than this factor.
LOG_SPAN = 20.0
LEVEL = 0.95


@dataclass
class SweepTable:
    """The finished runs of a sweep and what was left out.

    Attributes
    ----------
    path : Path
        The sweep directory.
    experiment : str
    grid : dict
        ``{key: [values...]}`` in the order of ``sweep.json``.
    seeds : list of int
        The seeds the sweep asked for.
    rows : list of dict
        One per usable run: ``id``, ``seed``, ``status`` (of the run file), ``params``
        (``{grid key: value}``) and ``summary`` (``{key: value}``).
    left_out : dict
        ``{reason: count}`` of the runs not plotted; reason is the status
        (``failed``, ``pending``, ``running``, ``interrupted``), ``missing`` (no file) or
        ``unreadable``.
    n_runs : int
        Entries in ``sweep.json``.
    commits : list of str
        The distinct git commits recorded in the usable run files.
    units : dict
        ``{grid key: unit}`` as recorded in ``sweep.json`` (empty for older sweeps).
    """

    path: Path
    experiment: str
    grid: dict
    seeds: list
    rows: list = field(default_factory=list)
    left_out: dict = field(default_factory=dict)
    n_runs: int = 0
    commits: list = field(default_factory=list)
    units: dict = field(default_factory=dict)

    @property
    def metrics(self) -> list:
        """Summary keys whose values are real scalars (not booleans) in every usable run
        that has them, in first-seen order."""
        seen: dict[str, bool] = {}
        for row in self.rows:
            for key, value in row["summary"].items():
                seen[key] = seen.get(key, True) and _is_real(value)
        return [k for k, ok in seen.items() if ok]


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def t_interval(values, level=LEVEL):
    """Mean and Student-t confidence interval of the mean.

    ``mean +- t_{(1+level)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard
    deviation (``ddof=1``): exact coverage for independent Gaussian values, e.g. one
    summary per seed.

    Parameters
    ----------
    values : array_like, shape (n,)
        Finite values.
    level : float
        Nominal coverage in (0, 1).

    Returns
    -------
    (float, float, float)
        ``(mean, low, high)``; ``low`` and ``high`` are NaN when ``n < 2`` (no spread to
        estimate), all three NaN when ``n == 0``.
    """
    from scipy import stats

    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if x.size < 2:
        return (mean, math.nan, math.nan)
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return (mean, mean - half, mean + half)


def _load_doc(path: Path) -> dict:
    try:
        doc = json.loads((path / "sweep.json").read_text())
    except OSError as exc:
        raise RunFileError(f"{path / 'sweep.json'}: {exc.strerror}.") from None
    except json.JSONDecodeError as exc:
        raise RunFileError(f"{path / 'sweep.json'}: malformed JSON at line {exc.lineno}, "
                           f"column {exc.colno}: {exc.msg}.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise RunFileError(f"{path / 'sweep.json'}: not a sweep description (no list of "
                           "runs).")
    grid = doc.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) for v in grid.values()):
        raise RunFileError(f"{path / 'sweep.json'}: 'grid' must map keys to lists of "
                           "values.")
    return doc


def _commit(path: Path) -> str:
    import h5py

    with h5py.File(path, "r", locking=False) as h5:
        value = h5.attrs.get("git_commit", "unknown")
    return value.decode() if isinstance(value, bytes) else str(value)


def read_sweep(sweep_dir) -> SweepTable:
    """Read a sweep directory's ``sweep.json`` and the summaries of its finished runs.

    Parameters
    ----------
    sweep_dir : str or Path
        A directory containing ``sweep.json``.

    Returns
    -------
    SweepTable

    Raises
    ------
    RunFileError
        When the directory or its ``sweep.json`` is missing or malformed.
    """
    from plasticity.io.runfile import open_runs

    path = Path(sweep_dir)
    if not path.is_dir():
        raise RunFileError(f"{path}: no such directory.")
    if not (path / "sweep.json").is_file():
        raise RunFileError(f"{path} is a directory without sweep.json (not a sweep "
                           "directory); give a run file or a sweep directory.")
    doc = _load_doc(path)
    grid = dict(doc.get("grid") or {})
    table = SweepTable(path=path, experiment=str(doc.get("experiment", "?")), grid=grid,
                       seeds=list(doc.get("seeds") or []), n_runs=len(doc["runs"]),
                       units=dict(doc.get("units") or {}))
    commits = []
    for entry in doc["runs"]:
        if not isinstance(entry, dict):
            raise RunFileError(f"{path / 'sweep.json'}: each run must be an object.")
        status = str(entry.get("status", "pending"))
        file = path / entry["file"] if entry.get("file") else None
        reason = None
        if status not in USABLE:
            reason = status
        elif file is None or not file.is_file():
            reason = "missing"
        else:
            try:
                frame = open_runs([file])
            except RunFileError:
                reason = "unreadable"
            else:
                rec = frame.iloc[0].to_dict()
                # the run file is written by the run itself: trust it over a sweep.json
                # that a killed sweep process may have left stale
                if rec["status"] not in USABLE:
                    reason = rec["status"]
        if reason is not None:
            table.left_out[reason] = table.left_out.get(reason, 0) + 1
            continue
        params = dict(entry.get("params") or {})
        for key in grid:
            if key not in params and f"config.{key}" in rec:
                params[key] = rec[f"config.{key}"]
        summary = {k[len("summary."):]: v for k, v in rec.items() if k.startswith("summary.")}
        table.rows.append({"id": entry.get("id"), "seed": int(rec["seed"]),
                           "status": rec["status"], "params": params, "summary": summary})
        commit = _commit(file)
        if commit not in commits:
            commits.append(commit)
    table.commits = commits
    return table


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


def sweep_metadata(table: SweepTable) -> dict:
    """``description`` and ``provenance`` strings for
    :func:`~plasticity.plots.style.save_figure`: the swept keys, the sweep directory, the
    number of runs drawn and the git commits they were made at."""
    keys = ", ".join(table.grid) or "seeds only"
    return {"description": f"{table.experiment}: sweep over {keys}",
            "provenance": f"sweep={table.path.resolve().name} runs={len(table.rows)} "
                          f"of {table.n_runs} commit={','.join(table.commits) or 'unknown'}"}
