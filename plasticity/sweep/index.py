"""The sweep directory: its index ``sweep.json``, its runs and their file names.

Layout (``plasticity plot SWEEP_DIR`` reads exactly this)::

    DIR/sweep.json   {"schema": 1, "experiment", "preset", "sets", "grid", "seeds",
                      "runs": [{"id", "params", "seed", "file", "status", "error",
                                "wall_time_s"}]}
    DIR/runs/*.h5    one run file per run (``file`` is relative to DIR)

The index is only ever replaced whole (temporary file + ``os.replace``), so a reader or a
killed sweep never sees half of it.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path

from plasticity.errors import InvalidParameterError

__all__ = ["SCHEMA", "INDEX_NAME", "RUNS_DIR", "STATUSES", "DONE", "plan_runs",
           "run_file_name", "header", "write_index", "read_index", "differences",
           "file_state"]

SCHEMA = 1
INDEX_NAME = "sweep.json"
RUNS_DIR = "runs"
STATUSES = ("pending", "running", "complete", "diverged", "failed", "interrupted")
#: Statuses of a finished run that a resumed sweep keeps.
DONE = ("complete", "diverged")
_HEADER_KEYS = ("experiment", "preset", "sets", "grid", "seeds")


def _label(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^A-Za-z0-9.+-]", "_", text)


def run_file_name(run_id: str, params: dict, seed: int) -> str:
    """``runs/r0003-lr=0.01-mode=a-seed2.h5``: readable, and unique through the id (the
    parameter part is shortened if long)."""
    middle = "-".join(f"{_label(k)}={_label(v)}" for k, v in params.items())
    if len(middle) > 100:
        middle = middle[:100]
    middle = f"-{middle}" if middle else ""
    return f"{RUNS_DIR}/{run_id}{middle}-seed{seed}.h5"


def plan_runs(grid: dict, seeds: list[int]) -> list[dict]:
    """Every grid combination (first key slowest) times every seed (fastest), as index
    entries with status ``pending``."""
    keys = list(grid)
    runs = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        params = dict(zip(keys, combo, strict=True))
        for seed in seeds:
            run_id = f"r{len(runs):04d}"
            runs.append({"id": run_id, "params": params, "seed": seed,
                         "file": run_file_name(run_id, params, seed), "status": "pending",
                         "error": None, "wall_time_s": None})
    return runs


def header(experiment: str, preset: str, sets: dict, grid: dict, seeds: list[int]) -> dict:
    """What identifies a sweep (compared on resume)."""
    return {"schema": SCHEMA, "experiment": experiment, "preset": preset, "sets": sets,
            "grid": grid, "seeds": seeds}


def write_index(directory: Path, doc: dict) -> None:
    """Replace ``directory/sweep.json`` atomically with ``doc``."""
    directory = Path(directory)
    tmp = directory / f".{INDEX_NAME}.tmp-{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, directory / INDEX_NAME)


def read_index(directory: Path) -> dict:
    """Load ``directory/sweep.json``; an unreadable or foreign one is an input error."""
    path = Path(directory) / INDEX_NAME
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidParameterError(f"{path} is not a readable sweep index ({exc}).") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or \
            not isinstance(doc.get("runs"), list):
        raise InvalidParameterError(f"{path} is not a sweep index of schema {SCHEMA}.")
    return doc


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def differences(stored: dict, wanted: dict) -> list[str]:
    """What differs between two sweep headers, as ``"grid differs (it has ...; given
    ...)"`` phrases; empty if they are the same sweep."""
    out = []
    for key in _HEADER_KEYS:
        a, b = stored.get(key), wanted.get(key)
        # grid order decides the run ids, so it counts; the order of --set values does not
        same = list(a.items()) == list(b.items()) if key == "grid" and \
            isinstance(a, dict) and isinstance(b, dict) else a == b
        if not same:
            verb = "differ" if key in ("sets", "seeds") else "differs"
            out.append(f"{key} {verb} (it has {_short(a)}; given {_short(b)})")
    return out


def file_state(path: Path) -> tuple[str | None, float | None]:
    """The ``status`` and ``wall_time_s`` attributes of a run file, or ``(None, None)`` if
    it is missing or not a run file.

    Reads only the root attributes (not :func:`plasticity.io.runfile.open_run`, which loads
    every series): resuming a sweep of large spiking runs must not read them all.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        return None, None
    try:
        # no locking: the file of a killed run may still be marked open
        with h5py.File(path, "r", locking=False) as h5:
            attrs = h5.attrs
            if "experiment" not in attrs or "status" not in attrs:
                return None, None
            status = attrs["status"]
            wall = float(attrs["wall_time_s"]) if "wall_time_s" in attrs else None
    except OSError:
        return None, None
    return (status.decode() if isinstance(status, bytes) else str(status)), wall
