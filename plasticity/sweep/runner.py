""":func:`run_sweep`: check everything, lay out or resume the sweep directory, run, record.

Order matters for the user contract: every option and every grid combination's config is
checked, an existing directory is compared with this sweep, and a scheduler is reached,
all *before* anything is written. Only then is the directory created and the index
written; from there on it is rewritten after every change of a run's status.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from plasticity.errors import InvalidParameterError
from plasticity.sweep import index as ix
from plasticity.sweep.options import check_grid, check_run_count, check_seeds, parse_seeds
from plasticity.sweep.worker import usable_cores

__all__ = ["SweepResult", "run_sweep", "default_sweep_dir"]

LOCK_NAME = ".sweep.lock"


@dataclass
class SweepResult:
    """What a sweep left behind.

    Attributes
    ----------
    directory : Path
        The sweep directory (``sweep.json`` and ``runs/``).
    experiment : str
    runs : list of dict
        The index entries (``id``, ``params``, ``seed``, ``file``, ``status``, ``error``,
        ``wall_time_s``).
    skipped : int
        Runs already finished by an earlier call, not run again.
    """

    directory: Path
    experiment: str
    runs: list = field(default_factory=list)
    skipped: int = 0

    @property
    def counts(self) -> dict:
        """``{status: number of runs}`` over every status."""
        out = dict.fromkeys(ix.STATUSES, 0)
        for run in self.runs:
            out[run["status"]] += 1
        return out

    @property
    def failed(self) -> int:
        """Runs that ended ``failed`` (or did not end)."""
        c = self.counts
        return c["failed"] + c["interrupted"] + c["pending"] + c["running"]


def default_sweep_dir(name: str, root="data/sweeps") -> Path:
    """``data/sweeps/NAME/<timestamp>/`` (relative to the working directory), not yet
    existing."""
    base = Path(root) / name / datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _source(name_or_path) -> str:
    """How a worker loads the experiment: an absolute path for a file, else the name
    resolved to its file here (a worker may not share this process's
    ``$PLASTICITY_EXPERIMENTS``)."""
    # the registry's name -> file map
    from plasticity.registry import experiment_files

    text = str(name_or_path)
    if text.endswith(".py"):
        return str(Path(text).resolve())
    path = experiment_files().get(text.replace("_", "-"))
    return str(path.resolve()) if path is not None else text


def _validate(exp, preset, sets, grid):
    """Build the config of the fixed values, of each grid value alone (so that an error
    names that value), and of every combination."""
    import itertools

    exp.build_config(preset=preset, overrides=sets)
    for key, values in grid.items():
        for value in values:
            try:
                exp.build_config(preset=preset, overrides={**sets, key: value})
            except InvalidParameterError as exc:
                raise InvalidParameterError(f"--grid {key}={value!r}: {exc}") from None
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        params = dict(zip(keys, combo, strict=True))
        try:
            exp.build_config(preset=preset, overrides={**sets, **params})
        except InvalidParameterError as exc:
            where = ", ".join(f"{k}={v!r}" for k, v in params.items())
            raise InvalidParameterError(f"--grid combination {where}: {exc}") from None


def _check_memory(exp, preset, sets, grid, *, workers):
    """Refuse the sweep when its largest grid point's memory estimate
    (``exp.memory``) does not fit in a worker's share of the memory available."""
    import itertools

    from plasticity.io.memory import check_memory

    if exp.memory is None:
        return
    keys = list(grid)
    largest = where = None
    for combo in itertools.product(*(grid[k] for k in keys)):
        params = dict(zip(keys, combo, strict=True))
        est = exp.memory(exp.build_config(preset=preset, overrides={**sets, **params}))
        if largest is None or est.total > largest.total:
            largest, where = est, ", ".join(f"{k}={v!r}" for k, v in params.items())
    check_memory(largest, f"sweep {exp.name}" + (f" at {where}" if where else ""),
                 workers=workers)


def _check_directory(directory: Path, wanted: dict) -> dict | None:
    """The stored index if ``directory`` holds this same sweep, None if it is new or
    empty; refuse anything else (touching nothing)."""
    if not directory.exists():
        return None
    if not directory.is_dir():
        raise InvalidParameterError(f"--out {directory} is a file, not a directory.")
    if (directory / ix.INDEX_NAME).exists():
        stored = ix.read_index(directory)
        diffs = ix.differences(stored, wanted)
        if diffs:
            raise InvalidParameterError(f"{directory} belongs to a different sweep: "
                                        f"{'; '.join(diffs)}.")
        return stored
    if any(p.name != LOCK_NAME for p in directory.iterdir()):
        raise InvalidParameterError(f"--out {directory} exists and is not a sweep directory "
                                    f"(no {ix.INDEX_NAME}); choose a new or empty one.")
    return None


@contextlib.contextmanager
def _locked(directory: Path):
    # two sweeps in one directory would move each other's running files aside. Workers
    # forked off this process share the lock's open file; they end with the pool, inside
    # this block (or, orphaned, within seconds: plasticity.sweep.worker._watch_parent).
    try:
        import fcntl
    except ImportError:  # not POSIX: no guard
        yield
        return
    with open(directory / LOCK_NAME, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidParameterError(f"{directory} is in use by another running sweep."
                                        ) from None
        except OSError:  # a filesystem without locks: no guard
            pass
        yield


def _move_aside(path: Path) -> Path:
    n = 1
    while (target := path.with_name(f"{path.name}.failed-{n}")).exists():
        n += 1
    os.replace(path, target)
    return target


def _reconcile(directory: Path, runs: list, stored_runs: list) -> int:
    """Take over finished runs (trusting their files' status over the index) and move
    aside the files of unfinished ones; return the number taken over."""
    by_id = {r.get("id"): r for r in stored_runs if isinstance(r, dict)}
    kept = 0
    for run in runs:
        old = by_id.get(run["id"], {})
        path = directory / run["file"]
        status, wall = ix.file_state(path)
        if status in ix.DONE:
            same = old.get("status") == status and old.get("file") == run["file"]
            run.update(status=status, error=old.get("error") if same else None,
                       wall_time_s=old.get("wall_time_s") if same else wall)
            kept += 1
        elif path.exists():
            _move_aside(path)
    return kept


def run_sweep(experiment, grid, *, seeds=(0,), sets=None, preset=None, out=None, jobs=None,
              scheduler=None, cluster=None, cluster_opts=None, quiet=True) -> SweepResult:
    """Run ``experiment`` for every combination of ``grid`` values and every seed.

    Parameters
    ----------
    experiment : str or Path
        A name from ``plasticity list`` or a path to an experiment ``.py`` file.
    grid : dict
        ``{config key: [values]}``; the runs are the product over keys (first key varies
        slowest) times ``seeds``.
    seeds : iterable of int or str
        Seeds, or a string such as ``"0-9"`` or ``"0,3,5"``.
    sets : dict, optional
        Config values fixed for every run (like ``--set``).
    preset : str, optional
        ``"quick"``, ``"full"``...; the experiment's default if None.
    out : str or Path, optional
        The sweep directory; default ``data/sweeps/NAME/<timestamp>/``. An existing
        directory of the same sweep is resumed: finished runs are kept, the others run
        again (their old files moved aside to ``<file>.failed-<n>``).
    jobs : int, optional
        Local worker processes (default: the usable cores). Not with a scheduler.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a Dask scheduler. The sweep directory must be on a
        filesystem the workers share (they write the run files).
    cluster : {"slurm", "pbs", "sge"}, optional
        Start a dask-jobqueue cluster (needs the ``cluster`` extra) from ``cluster_opts``
        (``cores``, ``memory``, ``queue``, ``walltime``, ``jobs`` ...).
    quiet : bool
        No progress bar.

    Returns
    -------
    SweepResult

    Raises
    ------
    InvalidParameterError
        For any bad input, before anything is written.
    """
    from plasticity.registry import load

    grid = check_grid(grid)
    if not isinstance(seeds, str) and hasattr(seeds, "__len__"):
        # before list(): a range of ten billion seeds is refused, not built
        check_run_count(len(seeds), "seeds", what="seeds")
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else check_seeds(list(seeds))
    n_combos = 1
    for values in grid.values():
        n_combos *= len(values)
    check_run_count(n_combos * len(seeds), f"{n_combos} grid combinations x "
                    f"{len(seeds)} seeds")
    sets = dict(sets or {})
    both = sorted(set(sets) & set(grid))
    if both:
        raise InvalidParameterError(f"--set and --grid both give {', '.join(both)}.")
    if scheduler is not None and cluster is not None:
        raise InvalidParameterError("--scheduler and --cluster exclude each other "
                                    "(give one).")
    if cluster_opts and cluster is None:
        raise InvalidParameterError("--cluster-opt needs --cluster.")
    distributed = scheduler is not None or cluster is not None
    if jobs is not None:
        if distributed:
            raise InvalidParameterError("-j sets the local pool's size; with --scheduler or "
                                        "--cluster the cluster decides.")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise InvalidParameterError(f"-j must be a positive integer. Got {jobs!r}.")
    if not distributed:
        from plasticity.sweep.pool import start_server

        # where workers cannot fork off this process, the workers' server imports NumPy,
        # Numba and plasticity (about a second) while this process loads and checks the
        # experiment; the pool reuses it when the thread share is the same (a resumed
        # sweep with fewer runs left may restart it)
        start_server(max(1, usable_cores() // min(jobs or usable_cores(),
                                                   n_combos * len(seeds))))
    exp = load(experiment)
    preset = preset or exp.default_preset
    _validate(exp, preset, sets, grid)
    if not distributed:
        # local workers share this machine's memory; Dask workers have their own
        _check_memory(exp, preset, sets, grid,
                      workers=min(jobs or usable_cores(), n_combos * len(seeds)))
    try:
        wanted = ix.header(exp.name, preset, sets, grid, seeds)
        wanted = json.loads(json.dumps(wanted))
    except (TypeError, ValueError):
        raise InvalidParameterError("--set: values must be numbers, strings, bools or "
                                    "lists to be stored in the sweep index.") from None
    directory = Path(out) if out is not None else default_sweep_dir(exp.name)
    stored = _check_directory(directory, wanted)

    client = batch = None
    if distributed:
        from plasticity.sweep.cluster import connect

        client, batch = connect(scheduler, cluster, cluster_opts)
    try:
        return _execute(exp, _source(experiment), wanted, directory, stored, jobs, client,
                        quiet)
    finally:
        if client is not None:
            client.close()
        if batch is not None:
            batch.close()


def config_units(exp, key: str) -> str:
    """The unit in parentheses at the end of a config field's description, e.g.
    ``input rate (Hz)`` -> ``Hz``; empty when there is none."""
    import re

    fld = exp.config.model_fields.get(key)
    desc = (fld.description or "") if fld is not None else ""
    m = re.search(r"\(([^()\s]{1,12})\)\s*$", desc)
    return m.group(1) if m else ""


def _execute(exp, source, wanted, directory, stored, jobs, client, quiet) -> SweepResult:
    from plasticity.io.interrupts import sigterm_as_interrupt

    if client is None:
        from plasticity.sweep.pool import start_method

        # a bad $PLASTICITY_SWEEP_START is refused before the sweep directory is written
        start_method()
    try:
        (directory / ix.RUNS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidParameterError(f"cannot create {directory}: {exc.strerror}.") from None
    runs = ix.plan_runs(wanted["grid"], wanted["seeds"])
    result = SweepResult(directory=directory, experiment=exp.name, runs=runs)
    # The grid keys' units go into the index, so that the figure of the sweep labels its
    # axes without loading the experiment (plots sit below the experiment layer).
    doc = {**wanted, "units": {key: config_units(exp, key) for key in wanted["grid"]},
           "runs": runs}
    with _locked(directory):
        if stored is not None:
            result.skipped = _reconcile(directory, runs, ix.read_index(directory)["runs"])
        ix.write_index(directory, doc)
        by_id = {r["id"]: r for r in runs}
        todo = [r for r in runs if r["status"] not in ix.DONE]
        tasks = [(r["id"], {"source": source, "preset": wanted["preset"],
                            "overrides": {**wanted["sets"], **r["params"]}, "seed": r["seed"],
                            "out": str((directory / r["file"]).resolve()), "threads": None})
                 for r in todo]
        if not tasks:
            return result
        bar = _progress(exp.name, len(runs), result.skipped, quiet)
        counts = {"done": result.skipped, "failed": 0, "running": 0}

        def on_start(run_id):
            by_id[run_id]["status"] = "running"
            counts["running"] += 1
            ix.write_index(directory, doc)
            bar.set_postfix_str(_postfix(counts), refresh=True)

        def on_done(run_id, res):
            status, error, wall = res
            by_id[run_id].update(status=status, error=error,
                                 wall_time_s=None if wall is None else round(float(wall), 3))
            counts["running"] -= 1
            counts["done" if status in ix.DONE else "failed"] += 1
            ix.write_index(directory, doc)
            bar.update(1)
            bar.set_postfix_str(_postfix(counts), refresh=True)

        try:
            with sigterm_as_interrupt():
                if client is not None:
                    from plasticity.sweep.cluster import run_dask

                    run_dask(client, tasks, on_start=on_start, on_done=on_done)
                else:
                    n = min(jobs or usable_cores(), len(tasks))
                    from plasticity.sweep.pool import run_local

                    run_local(tasks, jobs=n, threads=max(1, usable_cores() // n),
                              on_start=on_start, on_done=on_done)
        except BaseException:
            for r in runs:
                if r["status"] == "running":
                    r.update(status="interrupted", error="the sweep was stopped")
            ix.write_index(directory, doc)
            raise
        finally:
            bar.close()
    return result


def _postfix(counts):
    return f"done={counts['done']} failed={counts['failed']} running={counts['running']}"


def _progress(name, total, initial, quiet):
    # the plain text bar (tqdm.auto would want ipywidgets inside notebooks), without
    # tqdm's monitor thread (started even for a disabled bar): a second thread would keep
    # the local pool from forking its workers off this process (plasticity.sweep.pool)
    from tqdm.std import tqdm

    class Bar(tqdm):
        monitor_interval = 0

    return Bar(total=total, initial=initial, desc=f"sweep {name}", unit="run",
               file=sys.stderr, disable=True if quiet else None, mininterval=0.5)
