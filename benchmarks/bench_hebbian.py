"""Speed of the online Hebbian kernels against their NumPy twins, and of the CLI.

Run from the repository root::

    python benchmarks/bench_hebbian.py [--samples 100000] [--inputs 1000]

One output neuron learns online from ``--samples`` samples of ``--inputs`` inputs with
Oja's rule and with BCM. Two data layouts are timed:

* ``streamed``: all samples distinct (800 MB at the defaults), so every sample is read
  from main memory, as when a long recorded input is replayed;
* ``cached``: a block of 1,000 samples (8 MB, inside the last-level cache) cycled until
  the same number of samples has been processed, as when inputs are regenerated or
  small.

The Numba kernel is timed after a warm-up call that compiles it (or loads it from the
cache), best of 3; the NumPy twin (``tests/twins/hebbian.py``) once, since it takes
seconds and varies little. Both start from the same weights, and their final weights are
compared as a check that the same computation was timed.

Then, if the ``plasticity`` command is installed, the wall time of ``plasticity --help``
and of a second ``plasticity run oja-pca --quick`` (a fresh process that finds the
kernels already compiled in Numba's cache) are measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plasticity._kernels import hebbian as kernels  # noqa: E402
from tests.twins import hebbian as twins  # noqa: E402

BLOCK = 1_000  # samples in the cached layout's block
ETA = 1e-3
TAU_THETA = 100.0


def run_numba(name, W0, windows):
    """Run kernel ``name`` over the windows from ``W0``; return (seconds, W)."""
    W = W0.copy()
    empty = np.empty((0, W.shape[0]))
    theta = np.ones(W.shape[0])
    t0 = time.perf_counter()
    for X in windows:
        if name == "oja":
            kernels.oja(W, X, empty, False, ETA)
        else:
            kernels.bcm(W, theta, X, empty, False, ETA, TAU_THETA, True)
    return time.perf_counter() - t0, W


def run_numpy(name, W0, windows):
    """Run the NumPy twin of ``name`` over the windows from ``W0``; return (seconds, W)."""
    W = W0.copy()
    theta = np.ones(W.shape[0])
    t0 = time.perf_counter()
    for X in windows:
        if name == "oja":
            W = twins.oja(W, X, None, ETA)
        else:
            W, theta = twins.bcm(W, theta, X, None, ETA, TAU_THETA, True)
    return time.perf_counter() - t0, W


def bench_kernels(samples, n_in, seed=0):
    """Time both rules in both layouts; return rows (rule, layout, t_numba, t_numpy)."""
    rng = np.random.default_rng(seed)
    W0 = rng.normal(size=(1, n_in)) / np.sqrt(n_in)
    # |x| is about 1, so eta = 1e-3 keeps both rules far from instability
    X = rng.normal(size=(samples, n_in)) / np.sqrt(n_in)
    rows = []
    # The floor for the streamed layout: one pass that only reads X (NumPy's sum is
    # vectorised and memory-bound at this size). A kernel near it is limited by memory
    # bandwidth, not by arithmetic.
    t_read = min(_timed(X.sum) for _ in range(3))
    print(f"  reading X once (np.sum, {X.nbytes / 1e6:.0f} MB): {t_read:.3f} s", flush=True)
    for name in ("oja", "bcm"):
        if name == "bcm":
            np.abs(X, out=X)  # BCM's inputs are rates: nonnegative
        block = X[:BLOCK].copy()
        for label, windows in (("streamed", [X]), ("cached", [block] * (samples // BLOCK))):
            run_numba(name, W0, [block[:10]])  # compile, or load from the cache
            t_numba = min(run_numba(name, W0, windows)[0] for _ in range(3))
            _, W_numba = run_numba(name, W0, windows)
            t_numpy, W_numpy = run_numpy(name, W0, windows)
            if not np.allclose(W_numba, W_numpy, rtol=1e-8, atol=1e-10):
                raise RuntimeError(f"{name}: kernel and twin disagree; timings are void")
            rows.append((name, label, t_numba, t_numpy))
            print(f"  {name:4s} {label:9s} numba {t_numba:8.3f} s   numpy {t_numpy:8.3f} s   "
                  f"ratio {t_numpy / t_numba:6.1f}", flush=True)
    return rows, t_read


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cli():
    exe = Path(sys.executable).with_name("plasticity")
    return str(exe) if exe.exists() else shutil.which("plasticity")


def _wall(cmd, **kw):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    return time.perf_counter() - t0, proc


def bench_cli():
    """Return rows (what, seconds or None, note)."""
    exe = _cli()
    if exe is None:
        return [("plasticity --help", None, "no `plasticity` command installed"),
                ("plasticity run oja-pca --quick", None, "no `plasticity` command installed")]
    rows = []
    best, proc = min((_wall([exe, "--help"]) for _ in range(3)), key=lambda r: r[0])
    rows.append(("plasticity --help", best if proc.returncode == 0 else None,
                 "best of 3" if proc.returncode == 0 else _failure(proc)))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [exe, "run", "oja-pca", "--quick", "--out", os.path.join(tmp, "a.h5")]
        _, first = _wall(cmd, cwd=tmp)  # compiles and caches the kernels if needed
        if first.returncode != 0:
            rows.append(("plasticity run oja-pca --quick", None, _failure(first)))
            return rows
        cmd[-1] = os.path.join(tmp, "b.h5")
        t, second = _wall(cmd, cwd=tmp)
        rows.append(("plasticity run oja-pca --quick", t if second.returncode == 0 else None,
                     "second run, cached kernels" if second.returncode == 0
                     else _failure(second)))
    return rows


def _failure(proc):
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return f"failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--inputs", type=int, default=1_000)
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI timings")
    args = parser.parse_args(argv)
    if args.samples % BLOCK:
        parser.error(f"--samples must be a multiple of {BLOCK}")
    import numba

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"Numba {numba.__version__}")
    print(f"online, 1 output, {args.inputs} inputs, {args.samples} samples:")
    rows, t_read = bench_kernels(args.samples, args.inputs)
    print()
    print("| rule | layout | Numba kernel (s) | NumPy twin (s) | ratio |")
    print("|---|---|---:|---:|---:|")
    for name, label, t_numba, t_numpy in rows:
        print(f"| {name} | {label} | {t_numba:.3f} | {t_numpy:.2f} | {t_numpy / t_numba:.1f}x |")
    print(f"| (read X once) | streamed | {t_read:.3f} | | |")
    if not args.no_cli:
        print()
        print("| command | wall time (s) | note |")
        print("|---|---:|---|")
        for what, seconds, note in bench_cli():
            shown = f"{seconds:.2f}" if seconds is not None else "-"
            print(f"| `{what}` | {shown} | {note} |")


if __name__ == "__main__":
    main()
