"""The engine's threads on a recurrent network: windows of the shortest recurrent delay.

A LIF group driven by Poisson inputs (2 x n_out, 15 Hz, pair STDP) that excites itself
through an all-to-all plastic projection (pair STDP) and inhibits itself through an
all-to-all static one, both with the same delay: the windows of the multithreaded path
are that delay long (NEST's min_delay), so a short delay means the threads meet often.
For each delay, in one fresh process per Numba threading layer (``tbb``, the default
where its wheel loads, and ``workqueue``), round robin over ``--repeat`` rounds (best
kept): the step loop (one thread), the windows on one thread and on two. Simulation
time only (``sim.run`` after a 20 ms warm-up run that compiles); the same seed gives
bit-identical results in every mode (tests/test_spiking_threads.py), so only time is
compared.

Usage::

    python benchmarks/bench_recurrent.py [--n-out 2000] [--delays 0.2,0.5,1.0]
        [--duration 300] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("tbb", "workqueue")
MODES = ("step loop", "windows, 1 thread", "windows, 2 threads")


def network(n_out, delay_ms):
    """The benchmark's network (the same as ``recurrent_net`` of the tests, scaled)."""
    from plasticity.spiking import LIF, Network, PairSTDP, PoissonGroup, Synapses

    n_in = 2 * n_out
    gmax = 0.6 * 1000 / n_in * 1.6
    lif = LIF(n=n_out, model="current", tau_m_ms=10.0, v_rest_mV=-74.0, v_reset_mV=-60.0,
              v_th_mV=-54.0, tau_e_ms=5.0, t_ref_ms=1.0)
    stdp = PairSTDP(a_plus=0.01, a_minus=0.0105)
    return Network(dt_ms=0.1, groups={
        "input": PoissonGroup(n=n_in, rate_hz=15.0), "neuron": lif,
    }, synapses=[
        Synapses(name="syn", source="input", target="neuron", w_init=(0.0, gmax),
                 w_min=0.0, w_max=gmax, delay_ms=0.3, plasticity=stdp),
        Synapses(name="ee", source="neuron", target="neuron", w_init=(0.0, 0.05 * gmax),
                 w_min=0.0, w_max=gmax, delay_ms=delay_ms, plasticity=stdp),
        Synapses(name="ie", source="neuron", target="neuron", receptor="i",
                 w_init=(0.0, 0.2), delay_ms=delay_ms),
    ])


def worker(args):
    """One process, one threading layer: every delay and mode, round robin."""
    import numba

    from plasticity.spiking import Recording
    from plasticity.spiking.numba import NumbaSimulator

    rows = []
    for delay in args.delays:
        net = network(args.n_out, delay)
        best = {m: float("inf") for m in MODES}
        window = rate = None
        for _ in range(args.repeat):
            for mode in MODES:
                sim = NumbaSimulator(net, seed=args.seed,
                                     recording=Recording(spikes=("neuron",)),
                                     threads=2 if mode.endswith("2 threads") else 1)
                window = sim._window_steps()
                if mode == "step loop":
                    sim._window_steps = lambda: 0
                sim.run(20.0)
                t = time.perf_counter()
                res = sim.run(args.duration)
                best[mode] = min(best[mode], time.perf_counter() - t)
                rate = res.spikes["neuron"][1].size / args.n_out / (args.duration / 1000)
        rows.append({"layer": numba.threading_layer(), "delay_ms": delay,
                     "window_steps": window, "rate_hz": rate, **best})
    return rows


def run(args):
    out = []
    for layer in LAYERS:
        env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
        argv = [sys.executable, __file__, "--worker", "--n-out", str(args.n_out),
                "--delays", ",".join(map(str, args.delays)), "--duration",
                str(args.duration), "--repeat", str(args.repeat), "--seed", str(args.seed)]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            out.append({"layer": layer, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        out += json.loads(line[0][7:])
    return out


def table(rows, n_out):
    lines = [f"Recurrent network: {2 * n_out:,} Poisson inputs -> {n_out:,} LIF neurons, "
             f"which excite (plastic) and inhibit (static) each other all-to-all "
             f"({4 * n_out * n_out:,} synapses); simulation time (s), "
             "best of the rounds; speed-up = step loop / windows on 2 threads.", "",
             "| layer | delay (ms) | window (steps) | rate (Hz) | step loop | windows, 1 "
             "thread | windows, 2 threads | speed-up |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['layer']} | failed: {r['error']} |||||||")
            continue
        lines.append(f"| {r['layer']} | {r['delay_ms']:g} | {r['window_steps']} | "
                     f"{r['rate_hz']:.1f} | {r[MODES[0]]:.3f} | {r[MODES[1]]:.3f} | "
                     f"{r[MODES[2]]:.3f} | {r[MODES[0]] / r[MODES[2]]:.2f}x |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-out", type=int, default=2000)
    ap.add_argument("--delays", default="0.2,0.5,1.0",
                    type=lambda s: [float(x) for x in s.split(",")])
    ap.add_argument("--duration", type=float, default=300.0, help="ms simulated per run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args)))
        return
    rows = run(args)
    print(table(rows, args.n_out))
    if args.json:
        Path(args.json).write_text(json.dumps({"n_out": args.n_out, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
