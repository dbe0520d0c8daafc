"""Every experiment's quick-preset summary with seed 0: the golden values of the regression
test (``tests/test_quick_summaries.py``, docs/regression.md).

``python scripts/quick_summaries.py`` runs ``plasticity run NAME --quick --seed 0`` for
every experiment of ``plasticity list``, one after another, each in a fresh interpreter
(as a user runs it), and rewrites ``tests/data/quick_summaries.json``;
``--only NAME`` (repeatable) reruns only those experiments and keeps the others' entries;
``--check`` compares fresh runs with the file instead of writing it and exits 1 on any
difference. Regenerate only on purpose: when a commit changes an experiment's numbers and
says so (docs/regression.md).

The file holds, per experiment, the summary (the run file's ``/summary`` attributes, less
the keys in :data:`EXCLUDED`) and where it was made: the commit and whether the work tree
was dirty, the Python, NumPy, Numba and SciPy versions, the platform, and the wall time of
the whole command (``run_s``, which the fast test uses to pick its experiments).

Floats are stored with ``repr`` precision (JSON round-trips them exactly); NaN and
infinities are written as ``NaN``/``Infinity``, which Python's :mod:`json` reads back.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "quick_summaries.json"
SEED = 0
PRESET = "quick"
FORMAT = 1

#: Summary keys that are not results, matched against the last dotted part of the key:
#: wall times (``wall_time_s``, ``*_wall_s``; they vary from run to run) and paths of
#: files a run wrote (alignment-summary's ``<family>.<rule>.source``, ``*_path``).
#: ``sim_time_s`` (simulated time) is a result and stays.
EXCLUDED = (r"wall_time_s", r".*wall_s", r"elapsed_s", r"source", r".*_path", r"path")
_EXCLUDED_RE = re.compile("|".join(f"(?:{p})" for p in EXCLUDED))

#: Tolerance for floats from the same code on the same Python/NumPy/Numba/SciPy: these
#: runs are deterministic and in practice bit-identical; the margin covers summation-order
#: changes only (a few ulp, ~1e-16 relative, amplified by at most a few thousand steps of a
#: non-chaotic iteration), while any real change of behaviour (a seed, a formula, a preset)
#: moves a value by far more. ATOL is for values that cancel to near zero.
RTOL = 1e-9
ATOL = 1e-12

#: The versions that decide bit-identity of a run: NumPy (random streams, its bundled
#: OpenBLAS), Numba (the spiking kernels' machine code), SciPy, and Python's minor version
#: (which picks the wheels). Exact comparison is restricted to a match of all four
#: (docs/regression.md: the chaotic spiking runs diverge across NumPy versions).
ENV_KEYS = ("python", "numpy", "numba", "scipy")


def is_excluded(key: str) -> bool:
    """Whether the summary key ``key`` is a wall time or a path (not compared)."""
    return _EXCLUDED_RE.fullmatch(key.rsplit(".", 1)[-1]) is not None


def environment() -> dict:
    """The versions of :data:`ENV_KEYS` in this interpreter (read from the package metadata,
    nothing imported), plus the platform for the record."""
    import platform
    from importlib import metadata

    env = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for name in ENV_KEYS[1:]:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = "not installed"
    env["platform"] = platform.platform()
    return env


def env_mismatch(generated: dict, env: dict | None = None) -> str | None:
    """Why a golden entry made in ``generated`` cannot be compared exactly here (None when
    it can): the first of :data:`ENV_KEYS` that differs."""
    env = env or environment()
    for key in ENV_KEYS:
        if str(generated.get(key)) != str(env.get(key)):
            return (f"golden values made with {key} {generated.get(key)}, this is "
                    f"{key} {env.get(key)}: runs are bit-reproducible only on the same "
                    f"{', '.join(ENV_KEYS)} (docs/regression.md)")
    return None


def experiment_names() -> list[str]:
    """The names ``plasticity list`` prints, in its order."""
    from plasticity.registry import list_experiments

    return list(list_experiments())


def run_quick(name: str, workdir: Path, *, timeout: float = 1800) -> tuple[dict, dict]:
    """Run ``plasticity run NAME --quick --seed 0 --quiet`` in a fresh interpreter.

    Parameters
    ----------
    name : str
        An experiment name.
    workdir : Path
        Where the run file (and any files beside it) go.
    timeout : float
        Seconds before the run is abandoned.

    Returns
    -------
    (dict, dict)
        The summary less :data:`EXCLUDED` keys, and the record of where it was made
        (commit, dirty flag, versions, ``run_s``: wall seconds of the whole command).

    Raises
    ------
    RuntimeError
        If the command fails or the run is not ``complete``.
    """
    from plasticity.io.runfile import open_run

    out = Path(workdir) / f"{name}.h5"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "plasticity", "run", name, f"--{PRESET}", "--seed",
           str(SEED), "--quiet", "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    run_s = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{name}: exit status {proc.returncode}: {tail}")
    run = open_run(out)
    if run.status != "complete":
        raise RuntimeError(f"{name}: run status {run.status}")
    summary = {k: v for k, v in run.summary.items() if not is_excluded(k)}
    generated = {**environment(), "commit": run.provenance.get("git_commit"),
                 "git_dirty": run.provenance.get("git_dirty"), "run_s": round(run_s, 2),
                 "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return summary, generated


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) != isinstance(b, int):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def compare(expected: dict, actual: dict) -> list[str]:
    """Differences between two summaries, one line each (empty when they agree).

    Integers, strings and bools must be equal and of the same type; floats agree within
    :data:`RTOL` (relative) or :data:`ATOL` (absolute), NaN only with NaN; lists element by
    element. Keys in :data:`EXCLUDED` are ignored on both sides.
    """
    expected = {k: v for k, v in expected.items() if not is_excluded(k)}
    actual = {k: v for k, v in actual.items() if not is_excluded(k)}
    lines = [f"{k}: missing (golden {expected[k]!r})" for k in expected if k not in actual]
    lines += [f"{k}: new key ({actual[k]!r})" for k in actual if k not in expected]
    for k in expected:
        if k in actual and not _same(expected[k], actual[k]):
            lines.append(f"{k}: golden {expected[k]!r}, now {actual[k]!r}")
    return lines


def load(path: Path = GOLDEN) -> dict:
    """The golden file (an empty one when ``path`` does not exist)."""
    if not Path(path).exists():
        return {"format": FORMAT, "seed": SEED, "preset": PRESET, "experiments": {}}
    with open(path) as fh:
        return json.load(fh)


def save(golden: dict, path: Path = GOLDEN) -> None:
    """Write ``golden`` with sorted experiments and keys (stable diffs)."""
    golden = {**golden, "format": FORMAT, "seed": SEED, "preset": PRESET,
              "excluded": list(EXCLUDED),
              "experiments": {n: {"generated": e["generated"],
                                  "summary": dict(sorted(e["summary"].items()))}
                              for n, e in sorted(golden["experiments"].items())}}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(golden, fh, indent=1)
        fh.write("\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="this experiment only (repeatable); the others' entries stay")
    parser.add_argument("--check", action="store_true",
                        help="compare fresh runs with the golden file; write nothing")
    parser.add_argument("--golden", type=Path, default=GOLDEN, help="the golden file")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="write the run files to DIR and keep them (default: a "
                             "temporary directory)")
    args = parser.parse_args(argv)

    names = experiment_names()
    unknown = [n for n in args.only or () if n not in names]
    if unknown:
        parser.error(f"unknown experiment {unknown[0]} (plasticity list)")
    chosen = args.only or names
    golden = load(args.golden)
    failed = 0
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quick-summaries-") as tmp:
        tmp = args.keep or tmp
        for name in chosen:
            try:
                summary, generated = run_quick(name, Path(tmp))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"{name}: FAILED: {exc}", flush=True)
                failed += 1
                continue
            if args.check:
                entry = golden["experiments"].get(name)
                diffs = ["not in the golden file"] if entry is None else \
                    compare(entry["summary"], summary)
                failed += bool(diffs)
                print(f"{name}: {generated['run_s']:.1f} s, "
                      f"{'OK' if not diffs else f'{len(diffs)} differences'}", flush=True)
                for line in diffs:
                    print(f"  {line}")
            else:
                golden["experiments"][name] = {"generated": generated, "summary": summary}
                save(golden, args.golden)  # after each run, so an interrupt keeps the rest
                print(f"{name}: {generated['run_s']:.1f} s, {len(summary)} keys", flush=True)
    if not args.check and generated_dirty(golden, chosen):
        print("warning: generated from a dirty work tree; regenerate from a commit",
              file=sys.stderr)
    return 1 if failed else 0


def generated_dirty(golden: dict, names) -> bool:
    """Whether any of ``names`` was generated from a work tree with uncommitted changes."""
    return any(golden["experiments"].get(n, {}).get("generated", {}).get("git_dirty")
               for n in names)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
