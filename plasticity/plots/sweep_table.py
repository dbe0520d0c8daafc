"""The table of a sweep: the summaries of its finished runs, and the t-interval over seeds.

A sweep directory holds ``sweep.json`` (the grid, the seeds and one entry per run, see
``plasticity sweep``) and the run files under ``runs/``. :func:`read_sweep` collects the
summaries of the runs that finished (status ``complete`` or ``diverged`` in the run file
itself) through :func:`plasticity.io.runfile.open_runs`, and counts the others.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plasticity.errors import RunFileError

__all__ = ["LEVEL", "USABLE", "SweepTable", "read_sweep", "sweep_metadata", "t_interval"]

USABLE = ("complete", "diverged")
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



def sweep_metadata(table: SweepTable) -> dict:
    """``description`` and ``provenance`` strings for
    :func:`~plasticity.plots.style.save_figure`: the swept keys, the sweep directory, the
    number of runs drawn and the git commits they were made at."""
    keys = ", ".join(table.grid) or "seeds only"
    return {"description": f"{table.experiment}: sweep over {keys}",
            "provenance": f"sweep={table.path.resolve().name} runs={len(table.rows)} "
                          f"of {table.n_runs} commit={','.join(table.commits) or 'unknown'}"}
