"""Speed of ``plasticity sweep``: parallel scaling of the local pool, and what the Dask path
costs per run over it.

Run from the repository root::

    python benchmarks/bench_sweep.py [--runs 8] [--spin 18000000] [--short-runs 16]
                                     [--experiment NAME ...] [--start METHOD ...]
                                     [--repeat N]

1. ``--runs`` CPU-bound runs of the toy experiment (tests/data/sweep_toy.py, a pure-Python
   loop of ``--spin`` iterations, 1-3 s each) with ``-j 1`` and with ``-j 2``. On two
   free cores the ratio of wall times is about 0.5 (target <= 0.55). ``--experiment NAME``
   does the same with quick runs (seeds 0..runs-1) of a real experiment, after one
   warm-up run that fills Numba's cache.
2. ``--short-runs`` runs that do almost nothing, on the local pool (``-j 2``) and on a
   ``distributed.LocalCluster`` of two one-thread worker processes reached through
   ``--scheduler``: the difference of the wall times divided by the number of runs is the
   Dask path's overhead per run (target < 0.5 s). The cluster's own start-up is reported
   apart: it is paid once per cluster, not per sweep.

For each ``--experiment`` the whole ``plasticity sweep NAME --quick --seeds 0-(runs-1)
-j 1`` (and ``-j 2``) command is also timed as a new process: the interpreter's start,
the imports (:func:`plasticity.sweep.pool.preload`) and writing the index included, which
is what a user at the shell waits for. The in-process rows start from this process, which
has done the preload once (in the warm-up sweep), as a notebook's second sweep does.

``--start`` chooses how the local pool's workers start (``fork``, the default on Linux:
forks of the sweeping process itself, which has imported everything already;
``forkserver``, ``forkserver-warm`` or ``spawn``; repeatable: each is timed in turn). Wall
times include starting the workers: a spawned worker imports NumPy, Numba and plasticity
itself; the forkserver's share a server that imports them once. Before every timed sweep
the forkserver is stopped, so each sweep pays the server's start-up as a ``plasticity
sweep`` command does; ``forkserver-warm`` starts it (untimed) instead, as in a long-lived
process running its second sweep. The method a pool really used is printed with each row
(``fork`` falls back to the forkserver in a process that is not safe to fork).
``--repeat N`` times each
other case N times and keeps the fastest (the machine is shared); an experiment's -j 1
and -j 2 sweeps are timed in ``--pairs`` alternating pairs, and the headline is the
median of the pairs' ratios (the table's walls are the best of each). Prints a markdown table and
the load average.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "data" / "sweep_toy.py"


def _sweep(out, seeds, sets, experiment=TOY, repeat=1, warm=False, **kwargs):
    """Best of ``repeat`` sweeps (each into its own directory): ``(wall s, mean run wall
    s)`` of the fastest. Each starts from a stopped forkserver (cold, as a ``plasticity
    sweep`` command does) or, with ``warm``, from one started and given 3 s to import
    before the clock starts (a long-lived process running its second sweep)."""
    from plasticity.sweep import run_sweep
    from plasticity.sweep.pool import start_server, stop_server
    from plasticity.sweep.worker import usable_cores

    best = None
    for i in range(repeat):
        stop_server()
        if warm and kwargs.get("jobs"):
            start_server(max(1, usable_cores() // kwargs["jobs"]))
            time.sleep(3.0)
        t0 = time.perf_counter()
        res = run_sweep(experiment, {}, seeds=seeds, sets=sets, out=f"{out}-{i}", **kwargs)
        wall = time.perf_counter() - t0
        assert res.failed == 0, res.runs
        run_s = [r["wall_time_s"] for r in res.runs]
        if best is None or wall < best[0]:
            best = (wall, sum(run_s) / len(run_s))
    return best


def _command(out, name, seeds, jobs, repeat=1):
    """Best wall time (s) of ``repeat`` runs of the whole ``plasticity sweep`` command."""
    import subprocess

    best = None
    for i in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "plasticity", "sweep", name, "--quick",
                        "--seeds", seeds, "-j", str(jobs), "--quiet", "--out",
                        f"{out}-{i}"], check=True, capture_output=True)
        wall = time.perf_counter() - t0
        best = wall if best is None else min(best, wall)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--spin", type=int, default=18_000_000)
    ap.add_argument("--short-runs", type=int, default=16)
    ap.add_argument("--experiment", action="append", default=[],
                    help="also time --runs quick runs (seeds) of this real experiment with "
                         "-j 1 and -j 2 (repeatable)")
    ap.add_argument("--start", action="append", choices=("fork", "forkserver", "forkserver-warm",
                                                       "spawn"),
                    default=[], help="how pool workers start (repeatable; default: the "
                    "platform's default, fork on Linux; forkserver-warm: the server "
                    "started before the clock)")
    ap.add_argument("--repeat", type=int, default=1, help="keep the best of N timings")
    ap.add_argument("--pairs", type=int, default=7,
                    help="alternating -j 1 / -j 2 pairs of each --experiment's sweeps")
    ap.add_argument("--json", help="also write the rows and the machine's state here")
    args = ap.parse_args(argv)

    import os

    import distributed

    from plasticity.sweep.pool import START_ENV, resolve_start, start_method
    from plasticity.sweep.worker import usable_cores

    seeds = f"0-{args.runs - 1}"
    pair_ratios = {}
    short = f"0-{args.short_runs - 1}"
    rows = []
    rep = args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label in args.start or [start_method()]:
            method = label.removesuffix("-warm")
            warm = method != label
            os.environ[START_ENV] = method
            used, hazards = resolve_start()
            tag = f"[{label}] " if used == method else \
                f"[{label} -> {used}: {'; '.join(hazards)}] "
            w1, r1 = _sweep(tmp / f"{label}-j1", seeds, {"spin": args.spin}, jobs=1,
                            repeat=rep, warm=warm)
            w2, r2 = _sweep(tmp / f"{label}-j2", seeds, {"spin": args.spin}, jobs=2,
                            repeat=rep, warm=warm)
            rows.append((f"{tag}{args.runs} CPU-bound runs, -j 1", w1, r1, ""))
            rows.append((f"{tag}{args.runs} CPU-bound runs, -j 2", w2, r2,
                         f"ratio {w2 / w1:.2f} (target <= 0.55)"))

            for name in args.experiment:
                # one warm-up run so that Numba's on-disk cache is filled before timing
                _sweep(tmp / f"{label}-{name}-warm", "0", {}, experiment=name, jobs=1)
                # pairs of -j 1 and -j 2 sweeps, one right after the other and in
                # alternating order, so that a change of the machine's load hits both
                # members of a pair: the median of the pairs' ratios
                walls = {1: [], 2: []}
                for k in range(args.pairs):
                    for jobs in ((1, 2) if k % 2 == 0 else (2, 1)):
                        walls[jobs].append(_sweep(tmp / f"{label}-{name}-j{jobs}-{k}", seeds,
                                                  {}, experiment=name, jobs=jobs,
                                                  warm=warm))
                ratios = sorted(b[0] / a[0] for a, b in zip(walls[1], walls[2], strict=True))
                pair_ratios[name] = ratios
                e1, q1 = min(walls[1])
                e2, q2 = min(walls[2])
                mid = statistics.median(ratios)
                rows.append((f"{tag}{args.runs} quick {name} runs, -j 1", e1, q1,
                             f"best of {args.pairs}"))
                rows.append((f"{tag}{args.runs} quick {name} runs, -j 2", e2, q2,
                             f"best of {args.pairs}; median of {args.pairs} paired ratios "
                             f"{mid:.2f} (range {ratios[0]:.2f}-{ratios[-1]:.2f}; target "
                             "<= 0.55)"))
                c1 = _command(tmp / f"{label}-{name}-cmd1", name, seeds, 1, rep)
                c2 = _command(tmp / f"{label}-{name}-cmd2", name, seeds, 2, rep)
                rows.append((f"{tag}whole `plasticity sweep {name}` command, -j 1", c1,
                             float("nan"), "new process: start-up and imports included"))
                rows.append((f"{tag}whole `plasticity sweep {name}` command, -j 2", c2,
                             float("nan"), f"ratio {c2 / c1:.2f}"))
        os.environ.pop(START_ENV, None)

        wp, rp = _sweep(tmp / "pool", short, {}, jobs=2)
        t0 = time.perf_counter()
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None) as cluster:
            t_cluster = time.perf_counter() - t0
            wd, rd = _sweep(tmp / "dask", short, {}, scheduler=cluster.scheduler_address)
        per_run = (wd - wp) / args.short_runs
        rows.append((f"{args.short_runs} short runs, local pool -j 2", wp, rp, ""))
        rows.append((f"{args.short_runs} short runs, Dask LocalCluster (2 workers)", wd, rd,
                     f"overhead {per_run:+.3f} s/run (target < 0.5)"))
        rows.append(("LocalCluster start-up (once)", t_cluster, float("nan"), ""))

    load_end = os.getloadavg()
    if args.json:
        import json

        ratios = {}
        for (name, wall, _, _), (name2, wall2, _, _) in zip(rows, rows[1:], strict=False):
            if name.endswith("-j 1") and name2.endswith("-j 2"):
                ratios[name2.removesuffix(", -j 2")] = wall2 / wall
        with open(args.json, "w") as fh:
            json.dump({"rows": [{"case": n, "wall_s": w, "mean_run_s": None if r != r else r,
                                 "note": note} for n, w, r, note in rows],
                       "ratios_j2_over_j1": ratios, "dask_overhead_s_per_run": per_run,
                       "paired_ratios": pair_ratios, "pairs": args.pairs,
                       "load_end": load_end, "cores": usable_cores(),
                       "repeat": rep}, fh, indent=1)
    print(f"Machine: {platform.machine()}, {usable_cores()} usable cores; Python "
          f"{platform.python_version()}, distributed {distributed.__version__}; load "
          f"average at the end {load_end[0]:.2f}\n")
    print("| case | wall (s) | mean run (s) | note |")
    print("|---|---:|---:|---|")
    for name, wall, run, note in rows:
        run_txt = "" if run != run else f"{run:.3f}"
        print(f"| {name} | {wall:.2f} | {run_txt} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
