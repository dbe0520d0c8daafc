"""Stream one run into one HDF5 file (the run-file contract of shared/DESIGN.md).

The file is created before the simulation starts with ``status="running"`` and rewritten
in place as the run goes: rows are buffered in memory and written, with an HDF5 flush, at
checkpoints (every ``checkpoint_s`` seconds and at the end). A run killed between
checkpoints therefore leaves a readable file whose status still says ``running``.
"""

from __future__ import annotations

import itertools
import json
import operator
import time
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np

from plasticity import __version__
from plasticity.errors import RunFileError
from plasticity.io.h5columns import ColumnMaker
from plasticity.io.provenance import GitQuery, provenance

SCHEMA_VERSION = 1
STATUSES = ("running", "complete", "failed", "interrupted", "diverged")

# Row values that np.asarray turns into the same column whether it sees them one by one
# or as a list (tested in tests/test_runfile.py).
_SCALARS = (bool, int, float, np.bool_, np.integer, np.floating)


def jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _attr(value):
    """Convert a summary value to something HDF5 stores as a plain attribute."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    return np.asarray(value)


class _Table:
    """Rows of one table (a group with a ``step`` dimension scale), buffered until flush."""

    def __init__(self, path, index, index_units, units):
        self.path, self.index, self.index_units = path, index, index_units
        self.units = dict(units or {})
        self.rows: list[tuple[float, dict]] = []
        # the table's datasets once created or found (looking them up in the group at
        # every flush costs more than writing a few rows)
        self._datasets: dict[str, h5py.Dataset] = {}

    def write(self, h5: h5py.File):
        if not self.rows:
            return
        idx = np.asarray([r[0] for r in self.rows])
        scale = self._datasets.get(self.index)
        if scale is None:
            grp = h5.require_group(self.path)
            if self.index in grp:
                scale = grp[self.index]
            else:
                # A new table is created with its rows in one call: creating empty
                # datasets and then resizing and writing them took twice as long (about
                # 0.2 ms per column, a fixed cost of every run file).
                scale = grp.create_dataset(self.index, data=idx, maxshape=(None,),
                                           chunks=(1024,))
                scale.make_scale(self.index)
                scale.attrs["units"] = self.index_units
                idx = None
            self._datasets[self.index] = scale
        if idx is None:
            n0 = 0
        else:
            n0 = scale.shape[0]
            scale.resize((n0 + len(idx),))
            scale[n0:] = idx
        names = list(self.rows[0][1])
        # One pass over the rows into columns (a per-row, per-column np.asarray cost
        # ~7 ms of a 500-row alignment log); a row whose values are not all Python or
        # NumPy scalars takes the per-value path, which makes the same array of each
        # column.
        get = operator.itemgetter(*names)
        values = [get(r[1]) for r in self.rows]
        if len(names) == 1:
            values = [(v,) for v in values]
        if all(issubclass(t, _SCALARS) for t in set(map(type, itertools.chain(*values)))):
            columns = zip(*values, strict=True)
        else:
            columns = ([np.asarray(v) for v in col] for col in zip(*values, strict=True))
        maker = grp = None  # made at the first new column of this write
        for name, values_of_name in zip(names, columns, strict=True):
            col = np.asarray(values_of_name)
            ds = self._datasets.get(name)
            if ds is None:
                grp = grp or scale.parent
                if name in grp:
                    ds = grp[name]
                else:
                    chunks = (max(1, min(1024, (1 << 16) // max(1, col[0].nbytes))),
                              *col.shape[1:])
                    maker = maker or ColumnMaker(scale)
                    self._datasets[name] = maker.filled(
                        grp, name, col if n0 == 0 else col[:0], chunks,
                        self.units.get(name, ""))
                    if n0 == 0:  # created with its rows, as the index above
                        continue
                    # a column that starts later: its earlier rows hold the fill value
                    ds = self._datasets[name]
                self._datasets[name] = ds
            ds.resize((n0 + len(col), *ds.shape[1:]))
            ds[n0:] = col
        self.rows.clear()


class Recorder:
    """Write one run file.

    Parameters
    ----------
    path : str or Path
        The file to create. It must not exist yet (nothing is overwritten) and its
        directory must exist and be writable.
    experiment : str
        The experiment's name.
    seed : int
        The master seed of the run.
    config : dict
        The full, validated config (stored as JSON).
    preset : str, optional
        The preset the config started from.
    checkpoint_s : float
        Seconds between checkpoints (buffered rows written and the file flushed).
    """

    def __init__(self, path, *, experiment, seed, config, preset=None, checkpoint_s=5.0):
        self.path = Path(path)
        self._t0 = time.monotonic()
        self._last_flush = self._t0
        self.checkpoint_s = float(checkpoint_s)
        self._tables: dict[str, _Table] = {}
        # True while a resumed run recomputes what the file already holds (see
        # plasticity.io.checkpoint): rows and spikes are then dropped
        self.replaying = False
        try:
            # Default (oldest compatible) file format on purpose: with libver="latest" the
            # superblock marks the file open-for-write and a killed run becomes unreadable
            # until h5clear is run on it.
            self._h5 = h5py.File(self.path, "w-")
        except (FileExistsError, OSError) as exc:
            if self.path.exists():
                raise RunFileError(f"{self.path} already exists; refusing to overwrite it "
                                   "(choose another --out).") from None
            raise RunFileError(f"cannot create {self.path}: {exc}") from None
        a = self._h5.attrs
        a["experiment"] = experiment
        a["status"] = "running"
        a["seed"] = int(seed)
        a["config"] = json.dumps(config, sort_keys=True, default=jsonable)
        a["preset"] = preset or ""
        a["schema_version"] = SCHEMA_VERSION
        a["plasticity_version"] = __version__
        a["created"] = datetime.now(UTC).isoformat(timespec="seconds")
        a["wall_time_s"] = 0.0
        # git answers in the background (about 4 ms, a tenth of a short run): its state
        # is written at the first checkpoint or at the end, "unknown" until then
        self._git = GitQuery()
        prov = {**provenance(git=False), "git_commit": None, "git_dirty": None}
        a["versions"] = json.dumps(prov.pop("versions"), sort_keys=True)
        for key, value in prov.items():
            a[key] = "unknown" if value is None else value
        self._h5.require_group("summary")
        self._flush(git=False)

    @classmethod
    def reopen(cls, path, *, checkpoint_s=5.0):
        """Reopen an unfinished run file to resume it from its checkpoint.

        Cuts every dataset back to its length at the checkpoint, marks the file
        ``running`` again and records ``resumed_from_step`` and ``resumed_count``.

        Returns
        -------
        (Recorder, dict, object)
            The recorder (replaying until the checkpointed loop restores its state), the
            checkpoint's info (``loop``, ``kind``, ``step``) and its state.
        """
        from plasticity.io.checkpoint import read_checkpoint, truncate_to

        self = cls.__new__(cls)
        self.path = Path(path)
        self.checkpoint_s = float(checkpoint_s)
        self._tables = {}
        self.replaying = True
        self._git = None  # the file keeps the provenance of the run it resumes
        try:
            self._h5 = h5py.File(self.path, "r+")
        except OSError as exc:
            raise RunFileError(f"cannot reopen {self.path} for writing (is it still being "
                               f"written by another process?): {exc}") from None
        try:
            found = read_checkpoint(self._h5)
            if found is None:
                raise RunFileError(f"{self.path} has no checkpoint to resume from.")
            info, state, lengths = found
            truncate_to(self._h5, lengths)
            a = self._h5.attrs
            a["status"] = "running"
            if "message" in a:
                del a["message"]
            a["resumed_from_step"] = info["step"]
            a["resumed_count"] = int(a.get("resumed_count", 0)) + 1
            # wall time goes on from what the stopped run had reached
            self._t0 = time.monotonic() - float(a.get("wall_time_s", 0.0))
            self._last_flush = time.monotonic()
            self._h5.flush()
        except BaseException:
            self._h5.close()
            raise
        return self, info, state

    @property
    def h5(self) -> h5py.File:
        """The open file (for the checkpointer)."""
        return self._h5

    # -- data -----------------------------------------------------------------------
    def append(self, table, step, *, units=None, index="step", index_units="update",
               **columns):
        """Add one row to a table under ``/series/`` (or an absolute group path).

        Parameters
        ----------
        table : str
            Table name (``"training"`` -> ``/series/training``) or a path starting with
            ``/`` (e.g. ``/alignment/total``).
        step : int or float
            The row's index value (update number, or time with ``index="time"``).
        units : dict, optional
            Units of the columns, stored as each dataset's ``units`` attribute.
        **columns
            Scalars or fixed-shape arrays, the same names in every row.
        """
        self.append_rows(step, {table: columns}, units={table: units} if units else None,
                         index=index, index_units=index_units)

    def append_rows(self, step, rows, *, units=None, index="step", index_units="update"):
        """Add one row at ``step`` to each of several tables: :meth:`append` for every
        entry of ``rows`` (a per-update recording of many tables checks once whether a
        checkpoint is due, not once per table).

        Parameters
        ----------
        step : int or float
            The rows' index value.
        rows : dict of str to dict
            Table name or absolute path (as in :meth:`append`) -> that row's columns.
        units : dict of str to dict, optional
            Table -> units of its columns (tables left out keep the units they have).
        """
        if self.replaying:
            return
        units = units or {}
        for table, columns in rows.items():
            path = table if table.startswith("/") else f"/series/{table}"
            tab = self._tables.get(path)
            tab_units = units.get(table)
            if tab is None:
                tab = self._tables[path] = _Table(path, index, index_units, tab_units)
            elif tab_units:
                tab.units.update(tab_units)
            tab.rows.append((step, columns))
        self.maybe_checkpoint()

    def snapshot(self, name, step, array, *, units="", index="step", index_units="update"):
        """Store a copy of ``array`` (e.g. a weight matrix) at ``step`` under
        ``/snapshots/<name>`` (datasets ``<index>`` and ``value``; spiking runs index
        snapshots by ``time`` in ms)."""
        self.append(f"/snapshots/{name}", step, units={"value": units}, index=index,
                    index_units=index_units,
                    value=np.array(array, dtype=np.float64, copy=True))

    def spikes(self, population, timestamps_ms, node_ids):
        """Append spikes of ``population`` in the SONATA spike-report layout.

        ``/spikes/<population>/timestamps`` (float64, ms) and ``.../node_ids`` (uint64),
        extendable, the population group marked ``sorting="by_time"``. Call it with
        consecutive, time-sorted segments.

        Parameters
        ----------
        population : str
            The group's name.
        timestamps_ms : array_like, shape (n,)
            Spike times (ms), non-decreasing, later than any appended before.
        node_ids : array_like, shape (n,)
            The spiking neurons' indices within the population.
        """
        if self.replaying:
            return
        t = np.asarray(timestamps_ms, dtype=np.float64).ravel()
        ids = np.asarray(node_ids, dtype=np.uint64).ravel()
        if t.shape != ids.shape:
            raise ValueError("timestamps and node_ids must have the same length")
        grp = self._h5.require_group("spikes").require_group(str(population))
        if "timestamps" not in grp:
            grp.attrs["sorting"] = "by_time"
            ds = grp.create_dataset("timestamps", shape=(0,), maxshape=(None,),
                                    dtype="f8", chunks=(65536,))
            ds.attrs["units"] = "ms"
            grp.create_dataset("node_ids", shape=(0,), maxshape=(None,), dtype="u8",
                               chunks=(65536,))
        for name, values in (("timestamps", t), ("node_ids", ids)):
            ds = grp[name]
            n = ds.shape[0]
            ds.resize((n + values.size,))
            ds[n:] = values
        self.maybe_checkpoint()

    def summary(self, **values):
        """Set the run's scalar results as attributes of ``/summary``."""
        grp = self._h5["summary"]
        for key, value in values.items():
            grp.attrs[key] = _attr(value)

    def set_attrs(self, **values):
        """Extra root attributes (e.g. a description of how the gradient was estimated)."""
        for key, value in values.items():
            self._h5.attrs[key] = _attr(value)

    # -- lifecycle ------------------------------------------------------------------
    def maybe_checkpoint(self):
        """Flush if a checkpoint is due."""
        if time.monotonic() - self._last_flush >= self.checkpoint_s:
            self.flush()

    def flush(self):
        """Write buffered rows and flush the file to disk."""
        self._flush(git=True)

    def _flush(self, git):
        if git and self._git is not None:
            for key, value in self._git.result().items():
                self._h5.attrs[key] = "unknown" if value is None else value
            self._git = None
        for tab in self._tables.values():
            tab.write(self._h5)
        self._h5.attrs["wall_time_s"] = time.monotonic() - self._t0
        self._h5.flush()
        self._last_flush = time.monotonic()

    def close(self, status, message=None):
        """Write everything, set the final status (and an optional message), close."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if not self._h5.id.valid:
            return
        try:
            self.flush()
            if status in ("complete", "diverged") and "checkpoint" in self._h5:
                del self._h5["checkpoint"]  # a finished run has nothing to resume
        finally:
            self._h5.attrs["status"] = status
            if message:
                self._h5.attrs["message"] = str(message)
            self._h5.attrs["wall_time_s"] = time.monotonic() - self._t0
            self._h5.close()

    @property
    def closed(self):
        return not self._h5.id.valid
