"""Read run files: :func:`open_run` for one, :func:`open_runs` for a table of many."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from plasticity.errors import RunFileError

_REQUIRED = ("experiment", "status", "seed", "config", "schema_version")


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _read_tables(grp: h5py.Group) -> dict:
    """Every table below ``grp``: ``{name: {column: array}}`` (nested names joined by /)."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and any(isinstance(v, h5py.Dataset)
                                               for v in obj.values()):
            out[name] = {k: v[()] for k, v in obj.items() if isinstance(v, h5py.Dataset)}

    grp.visititems(visit)
    return out


@dataclass
class RunFile:
    """A run file's contents as plain Python and NumPy objects.

    Attributes
    ----------
    path : Path
    experiment, status : str
    seed : int
    config, summary, provenance : dict
    series : dict
        ``{table: {column: ndarray}}``; each table has its index column (``step``).
    snapshots : dict
        ``{name: {"step": ndarray, "value": ndarray}}``.
    alignment : dict
        ``{table: {column: ndarray}}`` under ``/alignment``.
    spikes : dict
        ``{population: {"timestamps": ndarray (ms), "node_ids": ndarray}}``.
    """

    path: Path
    experiment: str
    status: str
    seed: int
    config: dict
    summary: dict
    provenance: dict
    attrs: dict
    series: dict = field(default_factory=dict)
    snapshots: dict = field(default_factory=dict)
    alignment: dict = field(default_factory=dict)
    spikes: dict = field(default_factory=dict)

    def to_xarray(self, table, group="series"):
        """One table as an ``xarray.Dataset`` indexed by its step (needs xarray)."""
        import xarray as xr

        cols = getattr(self, group)[table]
        index = "step" if "step" in cols else "time"
        coords = {index: cols[index]}
        data = {}
        for name, arr in cols.items():
            if name == index:
                continue
            dims = (index, *[f"{name}_dim{i}" for i in range(1, arr.ndim)])
            data[name] = (dims, arr)
        return xr.Dataset(data, coords=coords, attrs={"experiment": self.experiment})


def open_run(path) -> RunFile:
    """Open a run file read-only and load its contents.

    Raises
    ------
    RunFileError
        If the file is missing, is not HDF5, or lacks the run-file attributes.
    """
    path = Path(path)
    if not path.exists():
        raise RunFileError(f"{path}: no such file.")
    try:
        # no file locking: a run still being written (or killed) must stay readable
        h5 = h5py.File(path, "r", locking=False)
    except OSError:
        raise RunFileError(f"{path} is not a readable HDF5 file.") from None
    with h5:
        attrs = {k: _plain(v) for k, v in h5.attrs.items()}
        missing = [k for k in _REQUIRED if k not in attrs]
        if missing:
            raise RunFileError(f"{path} is not a plasticity run file (missing "
                               f"{', '.join(missing)}).")
        summary = {k: _plain(v) for k, v in h5["summary"].attrs.items()} \
            if "summary" in h5 else {}
        prov = {k: attrs[k] for k in ("git_commit", "git_dirty", "python_version",
                                      "platform", "host", "command", "threads", "mpi_ranks")
                if k in attrs}
        if "versions" in attrs:
            prov["versions"] = json.loads(attrs["versions"])
        spikes = {}
        if "spikes" in h5:
            for pop, grp in h5["spikes"].items():
                spikes[pop] = {k: v[()] for k, v in grp.items()}
        return RunFile(
            path=path, experiment=attrs["experiment"], status=attrs["status"],
            seed=int(attrs["seed"]), config=json.loads(attrs["config"]), summary=summary,
            provenance=prov, attrs=attrs,
            series=_read_tables(h5["series"]) if "series" in h5 else {},
            snapshots=_read_tables(h5["snapshots"]) if "snapshots" in h5 else {},
            alignment=_read_tables(h5["alignment"]) if "alignment" in h5 else {},
            spikes=spikes,
        )


def open_runs(paths_or_dir):
    """A pandas DataFrame with one row per run: path, experiment, status, seed, then the
    config (``config.<key>``) and the summary (``summary.<key>``) flattened.

    Parameters
    ----------
    paths_or_dir : str, Path or iterable of them
        A directory (searched recursively for ``*.h5``) or run-file paths.
    """
    import pandas as pd

    if isinstance(paths_or_dir, (str, Path)) and Path(paths_or_dir).is_dir():
        paths = sorted(Path(paths_or_dir).rglob("*.h5"))
    elif isinstance(paths_or_dir, (str, Path)):
        paths = [Path(paths_or_dir)]
    else:
        paths = [Path(p) for p in paths_or_dir]
    rows = []
    for p in paths:
        run = open_run(p)
        row = {"path": str(p), "experiment": run.experiment, "status": run.status,
               "seed": run.seed}
        row.update({f"config.{k}": v for k, v in run.config.items()})
        row.update({f"summary.{k}": v for k, v in run.summary.items()})
        rows.append(row)
    return pd.DataFrame(rows)
