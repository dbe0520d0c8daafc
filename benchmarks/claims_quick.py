"""Wall time of every claim experiment's quick preset, and of the whole claims atlas.

    python benchmarks/claims_quick.py [--out DIR]

Each claim experiment (every experiment declaring ``ClaimMeta``) runs as
``plasticity run NAME --quick --seed 0`` in a fresh interpreter, one after another, so
each time includes start-up and loading the Numba cache; then ``plasticity run claims
--quick`` runs them all again in one process (what ``plasticity figure claims`` does).
Prints a Markdown table for benchmarks/README.md with the load average before and after,
since the machine is shared and a busy machine can double a wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(args, out):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "plasticity", *args, "--quiet", "--out",
                           str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"{' '.join(args)} failed: {tail}")
    return wall


def main(argv=None):
    from plasticity.registry import claim_experiments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for the run files (default: a temporary one)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="claims-quick-"))
    out.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    rows = []
    for name in claim_experiments():
        rows.append((name, _run(["run", name, "--quick", "--seed", "0"], out / f"{name}.h5")))
        print(f"{name}: {rows[-1][1]:.1f} s", file=sys.stderr)
    atlas = _run(["run", "claims", "--quick", "--seed", "0"], out / "claims.h5")
    load1 = os.getloadavg()
    print("| experiment | wall (s), fresh interpreter |")
    print("|---|---:|")
    for name, wall in rows:
        print(f"| `{name}` | {wall:.1f} |")
    print(f"| sum of the above | {sum(w for _, w in rows):.1f} |")
    print(f"| `claims` (all of them in one process) | {atlas:.1f} |")
    print(f"\nload average (1 min) {load0[0]:.2f} before, {load1[0]:.2f} after; "
          f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
