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
#: files a run wrote (alignment-summary's ``sources`` and ``<family>.<rule>.source``, ``*_path``).
#: ``sim_time_s`` (simulated time) is a result and stays. Also not results: measured
#: resident memory (``*_rss``: the allocator's and the kernel's bookkeeping, not the
#: model's) and the thread count a run used (``threads``: it follows the machine's cores,
#: and results are bit-identical for any count).
EXCLUDED = (r"wall_time_s", r".*wall_s", r"elapsed_s", r"sources?", r".*_path", r"path",
            r".*_rss", r"threads")
_EXCLUDED_RE = re.compile("|".join(f"(?:{p})" for p in EXCLUDED))

#: Tolerance for floats from the same code on the same Python/NumPy/Numba/SciPy: these
#: runs are deterministic and in practice bit-identical; the margin covers summation-order
#: changes only (a few ulp, ~1e-16 relative, amplified by at most a few thousand steps of a
#: non-chaotic iteration), while any real change of behaviour (a seed, a formula, a preset)
#: moves a value by far more. ATOL is for values that cancel to near zero.
RTOL = 1e-9
ATOL = 1e-12

#: Values that are zero in theory and computed as a residual (a field's asymmetry from
#: finite-difference Jacobians, an error against a closed form) land on the round-off
#: floor of their computation, ``macheps |F| / h`` ~ 1e-11 for the Jacobians' step
#: (plasticity.analysis.field; measured up to 5e-10), and where on it a value lands
#: depends on the CPU (which vector kernels OpenBLAS and libm pick): on CI's machine the
#: golden commit d66c661 itself gave replicator-selection a Shahshahani asymmetry of
#: 2.6e-11 where the golden run had 2.9e-11, with the same Python, NumPy, Numba, SciPy.
#: Two values both below FLOOR in magnitude therefore agree. FLOOR is 20x the largest
#: residual measured and 100x below the field verdicts' threshold (1e-6), so a change
#: that moves a verdict still shows; values above it are compared with RTOL as before.
FLOOR = 1e-8

#: The versions recorded with each golden entry: Python's minor version, NumPy (random
#: streams, its bundled OpenBLAS), Numba (the spiking kernels' machine code) and SciPy.
ENV_KEYS = ("python", "numpy", "numba", "scipy")

#: The versions that must match for the comparison to run. Measured (docs/regression.md):
#: from Python 3.11/NumPy 2.3.5/SciPy 1.17.1 to Python 3.13/NumPy 2.5.5/SciPy 1.18.1 with
#: the same Numba, 16 experiments (every spiking one among them) reproduced, the spiking
#: runs bit for bit and the rate runs within 5e-14 relative. Numba was not varied: its
#: reductions may reassociate and fuse (plasticity._config.REDUCE_OPTIONS), so another LLVM
#: may round differently and a chaotic spiking run then diverges; a Numba mismatch skips.
#: The kind of CPU is matched too: NumPy, OpenBLAS and glibc pick their vector kernels by
#: CPU at start-up, and they round differently. Measured at e68954a, same Python, NumPy,
#: Numba and SciPy: on an AMD EPYC with AVX-512 (OpenBLAS's SkylakeX kernels), 11 of the
#: 40 golden entries made on an AVX2 machine differed, from finite-difference residuals
#: of 1e-11 to MNIST-1D training under DFA (test loss 3.22 against 3.33). Pinning
#: OpenBLAS to its Haswell kernels and NumPy to AVX2 left 5 of them different (3 checked
#: with Numba compiling for haswell as well: unchanged), so the kind is recorded and
#: matched instead (see :func:`cpu_kind`).
MATCH_KEYS = ("numba", "cpu")

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
    env["cpu"] = cpu_kind()
    return env


def cpu_kind() -> str:
    """The kind of CPU as far as rounding goes: architecture, vendor and the widest vector
    extension the kernels may pick, e.g. ``"x86_64 AuthenticAMD avx512"`` (from
    ``/proc/cpuinfo``; ``"<machine> unknown"`` where it cannot be read)."""
    import platform

    machine = platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{machine} unknown"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    isa = next((name for name, need in (("avx512", {"avx512f"}), ("avx2", {"avx2", "fma"}),
                                        ("avx", {"avx"})) if need <= flags), "base")
    return f"{machine} {fields.get('vendor_id', 'unknown')} {isa}"


def env_mismatch(generated: dict, env: dict | None = None) -> str | None:
    """Why a golden entry made in ``generated`` cannot be compared here (None when it
    can): the first of :data:`MATCH_KEYS` whose version differs."""
    env = env or environment()
    for key in MATCH_KEYS:
        if str(generated.get(key)) != str(env.get(key)):
            return (f"golden values made with {key} {generated.get(key)}, this is "
                    f"{key} {env.get(key)}: the runs reproduce bit for bit only with the "
                    f"same {' and '.join(MATCH_KEYS)} (docs/regression.md)")
    return None


def env_differences(generated: dict, env: dict | None = None) -> str:
    """The recorded versions of :data:`ENV_KEYS` that differ here, for a failure message
    ("" when none do)."""
    env = env or environment()
    diffs = [f"{k} {generated.get(k)} -> {env.get(k)}" for k in ENV_KEYS
             if str(generated.get(k)) != str(env.get(k))]
    return "; ".join(diffs)


def experiment_names() -> list[str]:
    """The names ``plasticity list`` prints, in its order."""
    from plasticity.registry import list_experiments

    return list(list_experiments())


def run_quick(name: str, workdir: Path, *, timeout: float = 1800) -> dict:
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
    dict
        The golden entry: ``status`` (``complete``, or ``diverged`` where diverging is
        the result, as in hebb-instability), ``summary`` (less :data:`EXCLUDED` keys) and
        ``generated``, where it was made (commit, dirty flag, versions, ``run_s``: wall
        seconds of the whole command).

    Raises
    ------
    RuntimeError
        If the command fails (a diverged run exits 0) or the run did not finish.
    """
    from plasticity.io.runfile import open_run

    out = Path(workdir) / f"{name}.h5"
    dirty = tree_dirty()
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
    if run.status not in ("complete", "diverged"):
        raise RuntimeError(f"{name}: run status {run.status}")
    summary = {k: v for k, v in run.summary.items() if not is_excluded(k)}
    generated = {**environment(), "commit": run.provenance.get("git_commit"),
                 "git_dirty": dirty, "run_s": round(run_s, 2),
                 "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return {"status": run.status, "summary": summary, "generated": generated}


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
        if abs(a) < FLOOR and abs(b) < FLOOR:
            return True
        return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def compare_entries(expected: dict, actual: dict) -> list[str]:
    """Differences between two golden entries: the run's status, then :func:`compare` of
    their summaries."""
    lines = [] if expected["status"] == actual["status"] else \
        [f"status: golden {expected['status']!r}, now {actual['status']!r}"]
    return lines + compare(expected["summary"], actual["summary"])


def compare(expected: dict, actual: dict) -> list[str]:
    """Differences between two summaries, one line each (empty when they agree).

    Integers, strings and bools must be equal and of the same type; floats agree within
    :data:`RTOL` (relative) or :data:`ATOL` (absolute), or when both are below
    :data:`FLOOR` in magnitude (round-off residuals), NaN only with NaN; lists element by
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
              "experiments": {n: {"status": e["status"], "generated": e["generated"],
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
                fresh = run_quick(name, Path(tmp))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"{name}: FAILED: {exc}", flush=True)
                failed += 1
                continue
            run_s = fresh["generated"]["run_s"]
            if args.check:
                entry = golden["experiments"].get(name)
                diffs = ["not in the golden file"] if entry is None else \
                    compare_entries(entry, fresh)
                failed += bool(diffs)
                print(f"{name}: {run_s:.1f} s, "
                      f"{'OK' if not diffs else f'{len(diffs)} differences'}", flush=True)
                for line in diffs:
                    print(f"  {line}")
            else:
                golden["experiments"][name] = fresh
                save(golden, args.golden)  # after each run, so an interrupt keeps the rest
                print(f"{name}: {run_s:.1f} s, {fresh['status']}, "
                      f"{len(fresh['summary'])} keys", flush=True)
    if not args.check and generated_dirty(golden, chosen):
        print("warning: generated from a dirty work tree; regenerate from a commit",
              file=sys.stderr)
    return 1 if failed else 0


def tree_dirty() -> bool | str:
    """Whether :data:`ROOT`'s work tree has changes other than the golden file (which a
    regeneration of several experiments rewrites after each): tracked files changed or
    untracked files present. ``"unknown"`` without git."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", ".",
             f":(exclude){GOLDEN.relative_to(ROOT).as_posix()}"],
            capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return bool(out.stdout.strip()) if out.returncode == 0 else "unknown"


def generated_dirty(golden: dict, names) -> bool:
    """Whether any of ``names`` was generated from a work tree with uncommitted changes."""
    return any(golden["experiments"].get(n, {}).get("generated", {}).get("git_dirty")
               for n in names)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
