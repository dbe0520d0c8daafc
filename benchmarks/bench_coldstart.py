"""Cold and warm start of ``plasticity run song2000 --quick`` (issue 20).

Every run is a fresh process, ``python -m plasticity run song2000 --quick`` with its own
output file:

- ``cold``: an empty temporary ``NUMBA_CACHE_DIR`` (every kernel the run needs is
  compiled);
- ``warm``: a second run on the cache the cold run of the same repeat wrote (the
  kernels are loaded from it).

Repeats alternate cold and warm runs (round robin), so that a change of the machine's load
hits both. Per run:

- ``total``: the process's wall time as this script sees it (interpreter start, imports,
  compilation or cache load, the simulation, writing the run file, exit);
- ``first_step``: from the process's start to the moment the engine's first compiled
  chunk has returned, written by the engine to ``$PLASTICITY_TRACE_START``
  (:func:`plasticity.spiking.numba.simulator._trace_start`; it includes that chunk, at
  most 10,000 steps, about 10 ms of song2000 when warm): the time to start simulating;
- ``cpu``: the process's CPU time (user + system), which the machine's load inflates
  less than the wall time.

Besides, ``import``: the wall time of a process that only imports what the run imports
before it packs the network (``plasticity.cli``, ``plasticity.experiment``, the Numba
engine, with the interpreter's start), and ``compile``: the median cold ``first_step``
minus the median warm one (what an empty cache costs).

Usage::

    python benchmarks/bench_coldstart.py                  # 3 repeats, about a minute
    python benchmarks/bench_coldstart.py --repeats 5 --json coldstart.json

``--json`` writes ``cold_total_s``, ``cold_first_step_s``, ``warm_total_s``,
``warm_first_step_s`` (medians, seconds), ``repeats``, ``load`` (the 1, 5 and 15-minute
load averages at the start and at the end), and the details: every run's numbers
(``runs``), ``import_s``, ``compile_s`` and the minimum and maximum of each median.
A markdown table is printed in any case.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORTS = ("import plasticity.cli, plasticity.experiment, plasticity.launch, "
           "plasticity.spiking.numba.simulator")


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_once(cache_dir: str, work: Path, tag: str, python: str) -> dict:
    """One ``plasticity run song2000 --quick`` in a fresh process on ``cache_dir``."""
    trace = work / f"{tag}.trace"
    out = work / f"{tag}.h5"
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PLASTICITY_TRACE_START=str(trace))
    cpu0 = _child_cpu()
    t0 = time.time()
    p0 = time.perf_counter()
    proc = subprocess.run([python, "-m", "plasticity", "run", "song2000", "--quick",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    total = time.perf_counter() - p0
    cpu = _child_cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"song2000 --quick failed ({proc.returncode}):\n{proc.stderr}")
    lines = trace.read_text().split() if trace.exists() else []
    first = float(lines[0]) - t0 if lines else float("nan")
    return {"total_s": total, "first_step_s": first, "cpu_s": cpu}


def import_once(python: str) -> float:
    """Wall time of a process that only imports the run's modules."""
    p0 = time.perf_counter()
    subprocess.run([python, "-c", IMPORTS], cwd=ROOT, check=True)
    return time.perf_counter() - p0


def _stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="cold/warm pairs (default 3)")
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    ap.add_argument("--python", default=sys.executable, help="interpreter to run")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    load0 = os.getloadavg()
    runs = {"cold": [], "warm": [], "import": []}
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        work = Path(tmp)
        for r in range(args.repeats):
            cache = tempfile.mkdtemp(prefix=f"cache{r}-", dir=tmp)
            runs["cold"].append(run_once(cache, work, f"cold{r}", args.python))
            runs["warm"].append(run_once(cache, work, f"warm{r}", args.python))
            runs["import"].append(import_once(args.python))
            print(f"repeat {r + 1}/{args.repeats}: cold {runs['cold'][-1]['total_s']:.2f} s "
                  f"(first step {runs['cold'][-1]['first_step_s']:.2f} s), warm "
                  f"{runs['warm'][-1]['total_s']:.2f} s (first step "
                  f"{runs['warm'][-1]['first_step_s']:.2f} s), load "
                  f"{os.getloadavg()[0]:.2f}", file=sys.stderr)
    load1 = os.getloadavg()
    res = {}
    for kind in ("cold", "warm"):
        for key in ("total_s", "first_step_s", "cpu_s"):
            st = _stats([x[key] for x in runs[kind]])
            res[f"{kind}_{key}"] = st["median"]
            res[f"{kind}_{key}_range"] = [st["min"], st["max"]]
    res["import_s"] = statistics.median(runs["import"])
    res["import_s_range"] = [min(runs["import"]), max(runs["import"])]
    res["compile_s"] = res["cold_first_step_s"] - res["warm_first_step_s"]
    res["repeats"] = args.repeats
    res["load"] = {"start": list(load0), "end": list(load1)}
    res["runs"] = runs
    res["python"] = args.python
    print(f"\nload average (1/5/15 min): {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f} -> "
          f"{load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}; {args.repeats} repeats, "
          "median [min, max]\n")
    print("| run | process total (s) | first step (s) | CPU (s) |")
    print("|---|---:|---:|---:|")
    for kind in ("cold", "warm"):
        cells = []
        for key in ("total_s", "first_step_s", "cpu_s"):
            lo, hi = res[f"{kind}_{key}_range"]
            cells.append(f"{res[f'{kind}_{key}']:.2f} [{lo:.2f}, {hi:.2f}]")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print(f"\nimports alone: {res['import_s']:.2f} s; compile (cold - warm first step): "
          f"{res['compile_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
