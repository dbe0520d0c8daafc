"""Parse and check a sweep's options: grids, seeds, cluster options.

Every problem raises :class:`~plasticity.errors.InvalidParameterError` with one line that
names the option, before anything runs or is written.
"""

from __future__ import annotations

import json

from plasticity.errors import InvalidParameterError

__all__ = ["parse_grid", "parse_seeds", "check_grid", "check_seeds", "check_run_count",
           "parse_cluster_opts", "CLUSTER_KINDS", "CLUSTER_OPTIONS", "MAX_RUNS"]

#: The most runs one sweep may have. Its index (sweep.json) lists every run, is held in
#: memory and rewritten after every change of a run's status, and every run writes a
#: file: beyond a million runs (about 2 GiB of index in memory, a JSON file of hundreds
#: of MB rewritten per run) the sweep cannot be carried out; it is refused up front,
#: before the seed list is built.
MAX_RUNS = 1_000_000

#: ``--cluster`` value -> dask_jobqueue class name.
CLUSTER_KINDS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster"}
#: ``--cluster-opt`` keys and their types (``jobs`` is ours: how many jobs to scale to).
CLUSTER_OPTIONS = {"cores": int, "processes": int, "memory": str, "queue": str,
                   "account": str, "walltime": str, "interface": str,
                   "local_directory": str, "jobs": int}


def _parse_value(key, raw):
    # the same parsing as ``--set`` values (YAML scalars: 0.1 -> float, true -> bool)
    from plasticity.experiment import parse_sets

    return parse_sets([f"{key}={raw}"])[key]


def _split_values(raw):
    """Split ``raw`` at top-level commas, keeping ``[1,2]``, ``{a: 1}`` and quoted text
    whole."""
    parts, current, depth, quote = [], [], 0, None
    for ch in raw:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _json_value(value, where):
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{where}: {value!r} cannot be stored in the sweep "
                                    "index (use a number, string, bool or list).") from None


def parse_grid(items) -> dict:
    """``["lr=0.1,0.01", "mode=a,b"]`` -> ``{"lr": [0.1, 0.01], "mode": ["a", "b"]}``
    (order kept)."""
    grid = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidParameterError(f"--grid {item!r}: expected key=value1,value2,...")
        if not raw.strip():
            raise InvalidParameterError(f"--grid {key}=: no values (expected "
                                        f"{key}=value1,value2,...).")
        values = []
        for i, token in enumerate(_split_values(raw)):
            if not token.strip():
                raise InvalidParameterError(f"--grid {item}: value {i + 1} is empty.")
            values.append(_parse_value(key, token))
        if key in grid:
            raise InvalidParameterError(f"--grid {key} is given twice; put all its values "
                                        "in one --grid.")
        grid[key] = values
    return check_grid(grid)


def check_grid(grid) -> dict:
    """Check a ``{key: [values]}`` grid (JSON-storable, non-empty, no repeats) and return
    it with JSON-normalised values. An empty grid is a sweep over seeds only."""
    if not isinstance(grid, dict):
        raise InvalidParameterError(f"--grid: expected {{key: [values]}}. Got {grid!r}.")
    out = {}
    for key, values in grid.items():
        if not isinstance(key, str) or not key:
            raise InvalidParameterError(f"--grid: keys must be non-empty strings. Got {key!r}.")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise InvalidParameterError(f"--grid {key}: expected a list of values. "
                                        f"Got {values!r}.")
        values = [_json_value(v, f"--grid {key}") for v in values]
        if not values:
            raise InvalidParameterError(f"--grid {key}=: no values.")
        for i, v in enumerate(values):
            if v in values[:i]:
                raise InvalidParameterError(f"--grid {key}: value {v!r} is given twice.")
        out[key] = values
    return out


def parse_seeds(text) -> list[int]:
    """``"0-9"`` -> ``[0, ..., 9]``; ``"0,3,5"`` -> ``[0, 3, 5]``; the two forms mix
    (``"0-2,7"``). More than :data:`MAX_RUNS` seeds are refused before the list is
    built."""
    ranges = []
    for part in str(text).split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        if not (lo.strip().isdigit() and (not dash or hi.strip().isdigit())):
            raise InvalidParameterError(f"--seeds {text}: {part!r} is not a non-negative "
                                        "integer or a range like 0-9.")
        lo_i = int(lo)
        hi_i = int(hi) if dash else lo_i
        if hi_i < lo_i:
            raise InvalidParameterError(f"--seeds {text}: the range {part} ends before it "
                                        "starts.")
        ranges.append(range(lo_i, hi_i + 1))
    check_run_count(sum(len(r) for r in ranges), f"--seeds {text}", what="seeds")
    return check_seeds([s for r in ranges for s in r], text)


def check_run_count(n_runs: int, where: str, what: str = "runs") -> None:
    """Refuse a sweep of more than :data:`MAX_RUNS` runs (one line naming ``where``;
    ``what`` counts them: ``"runs"``, or ``"seeds"``, each at least one run)."""
    if n_runs > MAX_RUNS:
        raise InvalidParameterError(f"{where}: {n_runs} {what}; a sweep holds at most "
                                    f"{MAX_RUNS} (its index lists every run); split it "
                                    "into several sweeps.")


def check_seeds(seeds, given=None) -> list[int]:
    """Check a list of seeds: non-negative integers, none repeated, at least one."""
    given = seeds if given is None else given
    out, seen = [], set()
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) and not hasattr(s, "__index__") \
                or int(s) < 0:
            raise InvalidParameterError(f"--seeds {given}: seeds must be non-negative "
                                        f"integers. Got {s!r}.")
        if int(s) in seen:
            raise InvalidParameterError(f"--seeds {given}: seed {int(s)} is given twice.")
        seen.add(int(s))
        out.append(int(s))
    if not out:
        raise InvalidParameterError(f"--seeds {given}: no seeds.")
    return out


def parse_cluster_opts(items) -> dict:
    """``["cores=4", "memory=8GB", "jobs=10"]`` -> ``{"cores": 4, "memory": "8GB",
    "jobs": 10}``; unknown keys and non-integers where an integer is needed are errors."""
    from plasticity.validation import suggest

    opts = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise InvalidParameterError(f"--cluster-opt {item!r}: expected key=value.")
        if key not in CLUSTER_OPTIONS:
            raise InvalidParameterError(
                f"--cluster-opt {key}: unknown option{suggest(key, CLUSTER_OPTIONS)} "
                f"(known: {', '.join(CLUSTER_OPTIONS)}).")
        if CLUSTER_OPTIONS[key] is int:
            if not raw.isdigit() or int(raw) < 1:
                raise InvalidParameterError(f"--cluster-opt {key}={raw}: expected a "
                                            "positive integer.")
            opts[key] = int(raw)
        else:
            opts[key] = raw
    return opts
