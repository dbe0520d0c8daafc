"""The engine's threads on recurrent networks: windows of the shortest recurrent delay.

Two networks, each at a few delays (the windows of the multithreaded path are that delay
long, NEST's min_delay, so a short delay means the threads meet often):

- ``stdp``: a LIF group driven by Poisson inputs (2 x n_out, 15 Hz, pair STDP) that
  excites itself through an all-to-all plastic projection (pair STDP) and inhibits
  itself through an all-to-all static one;
- ``ei``: a Brunel-like network, n_e excitatory and n_e / 4 inhibitory LIF neurons,
  sparse static connections (p = 0.1) among them and from 1,000 Poisson inputs (10 Hz),
  inhibition dominated (g = 5), near 10 Hz.

For each network and delay, in one fresh process per Numba threading layer (``tbb``, the default
where its wheel loads, and ``workqueue``), round robin over ``--repeat`` rounds (best
kept): the step loop (one thread), the windows on one thread and on two. Simulation
time only (``sim.run`` after a 20 ms warm-up run that compiles); the same seed gives
bit-identical results in every mode (tests/test_spiking_threads.py), so only time is
compared.

Usage::

    python benchmarks/bench_recurrent.py [--n-out 2000] [--n-e 8000] [--duration 300]
        [--repeat 3] [--json out.json]
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
sys.path.insert(0, str(ROOT))

from tests.networks import recurrent_net  # noqa: E402

LAYERS = ("tbb", "workqueue")
MODES = ("step loop", "windows, 1 thread", "windows, 2 threads")


#: the delays (ms) measured per network
DELAYS = {"stdp": (0.2, 0.5, 1.0), "ei": (0.5, 1.5)}


def network(kind, size, delay_ms):
    """The benchmark's networks (``stdp`` is the tests' ``recurrent_net`` with 2 x size
    inputs and one delay): ``size`` is n_out for ``stdp`` and n_e for ``ei``."""
    from plasticity.spiking import LIF, Network, PoissonGroup, Synapses

    if kind == "ei":
        lif = dict(model="current", tau_m_ms=20.0, v_rest_mV=-70.0, v_reset_mV=-60.0,
                   v_th_mV=-50.0, tau_e_ms=5.0, tau_i_ms=5.0, t_ref_ms=2.0)
        w_e, g, w_ext = 0.2, 5.0, 4.0
        syn = [Synapses(name=f"ext_{t}", source="ext", target=t, connect="random", p=0.1,
                        w_init=w_ext, w_max=w_ext) for t in ("E", "I")]
        syn += [Synapses(name=s + t, source=s, target=t, connect="random", p=0.1,
                         receptor="e" if s == "E" else "i", w_init=w_e if s == "E" else g * w_e,
                         w_max=w_e if s == "E" else g * w_e, delay_ms=delay_ms)
                for s in ("E", "I") for t in ("E", "I")]
        return Network(dt_ms=0.1, groups={
            "ext": PoissonGroup(n=1000, rate_hz=10.0), "E": LIF(n=size, **lif),
            "I": LIF(n=size // 4, **lif)}, synapses=syn)
    return recurrent_net(delay_ms, delay_ms, n_in=2 * size, n_out=size)


def worker(args):
    """One process, one threading layer: every delay and mode, round robin."""
    import numba

    from plasticity.spiking import Recording
    from plasticity.spiking.numba import NumbaSimulator

    rows = []
    for kind, size in (("stdp", args.n_out), ("ei", args.n_e)):
        for delay in DELAYS[kind]:
            net = network(kind, size, delay)
            first = next(g for g, grp in net.groups.items() if grp.kind == "lif")
            n_lif = sum(grp.n for grp in net.groups.values() if grp.kind == "lif")
            best = {m: float("inf") for m in MODES}
            window = rate = n_syn = None
            for _ in range(args.repeat):
                for mode in MODES:
                    sim = NumbaSimulator(net, seed=args.seed,
                                         recording=Recording(spikes=(first,)),
                                         threads=2 if mode.endswith("2 threads") else 1)
                    window = sim._window_steps()
                    n_syn = int(sim._W.size)
                    if mode == "step loop":
                        sim._window_steps = lambda: 0
                    else:  # (one thread runs a recurrent network's windows only if told)
                        sim._windows_on_one_thread = lambda: True
                    sim.run(20.0)
                    t = time.perf_counter()
                    res = sim.run(args.duration)
                    best[mode] = min(best[mode], time.perf_counter() - t)
                    rate = (res.spikes[first][1].size / net.groups[first].n
                            / (args.duration / 1000))
            rows.append({"net": kind, "layer": numba.threading_layer(), "delay_ms": delay,
                         "window_steps": window, "rate_hz": rate, "n_syn": n_syn,
                         "n_lif": n_lif, **best})
    return rows


def run(args):
    out = []
    for layer in LAYERS:
        env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
        argv = [sys.executable, __file__, "--worker", "--n-out", str(args.n_out),
                "--n-e", str(args.n_e), "--duration",
                str(args.duration), "--repeat", str(args.repeat), "--seed", str(args.seed)]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            out.append({"layer": layer, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        out += json.loads(line[0][7:])
    return out


NAMES = {"stdp": "all-to-all, STDP", "ei": "E/I sparse, static"}


def table(rows):
    lines = ["Simulation time (s), best of the rounds; speed-up = step loop / windows on 2 "
             "threads. Rate: of the first LIF group.", "",
             "| network | LIF neurons | synapses | layer | delay (ms) | window (steps) | "
             "rate (Hz) | step loop | windows, 1 thread | windows, 2 threads | speed-up |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| | | | {r['layer']} | failed: {r['error']} |||||||")
            continue
        lines.append(f"| {NAMES[r['net']]} | {r['n_lif']:,} | {r['n_syn']:,} | {r['layer']} | "
                     f"{r['delay_ms']:g} | {r['window_steps']} | {r['rate_hz']:.1f} | "
                     f"{r[MODES[0]]:.3f} | {r[MODES[1]]:.3f} | {r[MODES[2]]:.3f} | "
                     f"{r[MODES[0]] / r[MODES[2]]:.2f}x |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-out", type=int, default=2000)
    ap.add_argument("--n-e", type=int, default=8000)
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
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
