"""Output rates of the Song, Miller & Abbott (2000) STDP model: a Brian2 reference built
here from scratch against the project's ``song2000`` experiment (both backends).

The reference is Brian2's STDP example (``examples/synapses/STDP.py``), written out with an
explicit ``brian2.Network`` and runtime Cython: 1,000 Poisson inputs at 15 Hz onto one LIF
neuron (tau_m 10 ms, tau_e 5 ms, E_e 0 mV, v_t -54 mV, v_r -60 mV, E_L -74 mV), additive
all-to-all pair STDP (tau_pre = tau_post = 20 ms, gmax 0.01, dApre 0.01 gmax,
dApost = -1.05 dApre, weights clipped to [0, gmax] on both pathways, initially
``rand() * gmax``), dt 0.1 ms, 100 s. As in the example, ``v`` is not initialised (0 mV:
the neuron fires at the first step) and ``ge`` is never clipped. Reference variants:

- ``ref``: ``dv/dt = (ge (E_e - v_r) + E_L - v) / tau_m`` (linearised, fixed driving
  force), ``method='exact'`` -- the model the ``song2000`` experiment implements;
- ``ref-ee``: the same equations with ``method='exponential_euler'`` (what the project's
  Brian2 backend uses), to isolate the integration method;
- ``ref-cond``: the example as printed in the Brian2 2.5-2.9 documentation,
  ``dv/dt = (ge (E_e - v) + E_L - v) / tau_m`` (conductance-based), ``method='euler'``.

Project runs: ``numba`` and ``brian2`` (``song2000`` through :func:`plasticity.experiment.execute`,
``--set backend=...``), run files written to a temporary directory.

Per run it prints (and appends as one JSON line to ``--jsonl``): rate in the first and in
the last 10 s (Hz), mean w/gmax, fraction of w < 0.1 gmax and of w > 0.9 gmax, wall time.
``--table`` prints a per-seed table and mean +- sd from a JSON-lines file instead.

Usage::

    python benchmarks/song2000_reference_rates.py --seeds 0-5 --which ref,numba \\
        --jsonl benchmarks/song2000_rates.jsonl
    python benchmarks/song2000_reference_rates.py --seeds 0-2 --which brian2 \\
        --jsonl benchmarks/song2000_rates.jsonl
    python benchmarks/song2000_reference_rates.py --table benchmarks/song2000_rates.jsonl

One simulation at a time (single process, single thread).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

DURATION_S = 100.0
WINDOW_S = 10.0
VARIANTS = {"ref": ("linear", "exact"), "ref-ee": ("linear", "exponential_euler"),
            "ref-cond": ("conductance", "euler")}


def reference(seed, variant="ref", duration_s=DURATION_S):
    """Brian2's STDP example, built here; returns the summary dict."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import brian2 as b2
    from brian2 import Hz, ms, mV, second

    b2.prefs.codegen.target = "cython"
    b2.start_scope()
    b2.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    drive, method = VARIANTS[variant]

    N = 1000
    taum, taue = 10 * ms, 5 * ms
    taupre = taupost = 20 * ms
    Ee, vt, vr, El = 0 * mV, -54 * mV, -60 * mV, -74 * mV
    F = 15 * Hz
    gmax = 0.01
    dApre = 0.01
    dApost = -dApre * taupre / taupost * 1.05
    dApost *= gmax
    dApre *= gmax
    force = "(Ee - vr)" if drive == "linear" else "(Ee - v)"
    eqs = f"""
    dv/dt = (ge * {force} + El - v) / taum : volt
    dge/dt = -ge / taue : 1
    """
    namespace = dict(taum=taum, taue=taue, taupre=taupre, taupost=taupost, Ee=Ee, vt=vt,
                     vr=vr, El=El, gmax=gmax, dApre=dApre, dApost=dApost)
    clock = b2.Clock(dt=0.1 * ms)
    inp = b2.PoissonGroup(N, rates=F, clock=clock)
    neuron = b2.NeuronGroup(1, eqs, threshold="v > vt", reset="v = vr", method=method,
                            namespace=namespace, clock=clock)
    S = b2.Synapses(inp, neuron,
                    """w : 1
                       dApre/dt = -Apre / taupre : 1 (event-driven)
                       dApost/dt = -Apost / taupost : 1 (event-driven)""",
                    on_pre="""ge += w
                              Apre += dApre
                              w = clip(w + Apost, 0, gmax)""",
                    on_post="""Apost += dApost
                               w = clip(w + Apre, 0, gmax)""",
                    namespace=namespace, clock=clock)
    S.connect()
    S.w = "rand() * gmax"
    spikes = b2.SpikeMonitor(neuron)
    net = b2.Network(inp, neuron, S, spikes)
    t0 = time.perf_counter()
    net.run(duration_s * second, namespace={})
    wall = time.perf_counter() - t0
    t_out = np.asarray(spikes.t_)
    w_rel = np.asarray(S.w[:]) / gmax
    return _summary(t_out, w_rel, duration_s, wall)


def _summary(t_out, w_rel, duration_s, wall):
    window = min(WINDOW_S, duration_s)
    return dict(rate_first_10s=float(np.sum(t_out < window) / window),
                rate_last_10s=float(np.sum(t_out >= duration_s - window) / window),
                mean_w_rel=float(w_rel.mean()), frac_w_low=float(np.mean(w_rel < 0.1)),
                frac_w_high=float(np.mean(w_rel > 0.9)), wall_s=round(wall, 1))


def ours(seed, backend, duration_s=DURATION_S):
    """The project's song2000 experiment on ``backend``; returns the summary dict."""
    from plasticity.experiment import execute
    from plasticity.io.runfile import open_run
    from plasticity.registry import load

    exp = load("song2000")
    overrides = {"backend": backend, "duration_s": duration_s}
    if backend == "brian2":
        overrides["brian2_target"] = "cython"
    cfg = exp.build_config(overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path, status = execute(exp, cfg, seed=seed, out=Path(tmp) / "run.h5", quiet=True)
        wall = time.perf_counter() - t0
        s = open_run(path).summary
    keys = ("rate_first_10s", "rate_last_10s", "mean_w_rel", "frac_w_low", "frac_w_high")
    return {**{k: float(s[k]) for k in keys}, "wall_s": round(wall, 1), "status": status}


def _seeds(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


COLS = ("rate_first_10s", "rate_last_10s", "mean_w_rel", "frac_w_low", "frac_w_high")
SHORT = ("first 10 s (Hz)", "last 10 s (Hz)", "mean w/gmax", "w<0.1", "w>0.9")


def table(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    # the last line of each (model, seed) wins
    latest = {(r["model"], r["seed"]): r for r in rows}
    models = list(dict.fromkeys(r["model"] for r in rows))
    print("| model | seed | " + " | ".join(SHORT) + " |")
    print("|---|---:|" + "---:|" * len(COLS))
    for m in models:
        for (mm, seed), r in sorted(latest.items(), key=lambda kv: kv[0][1]):
            if mm == m:
                print(f"| {m} | {seed} | " + " | ".join(_fmt(c, r[c]) for c in COLS) + " |")
    print()
    print("| model | seeds | " + " | ".join(SHORT) + " | last 10 s < 25 Hz |")
    print("|---|---|" + "---:|" * (len(COLS) + 1))
    for m in models:
        rs = [r for (mm, _), r in sorted(latest.items(), key=lambda kv: kv[0][1]) if mm == m]
        cells = []
        for c in COLS:
            x = np.array([r[c] for r in rs])
            sd = x.std(ddof=1) if x.size > 1 else float("nan")
            cells.append(f"{_fmt(c, x.mean())} ± {_fmt(c, sd)}")
        below = sum(r["rate_last_10s"] < 25.0 for r in rs)
        seeds = ",".join(str(r["seed"]) for r in rs)
        print(f"| {m} | {seeds} | " + " | ".join(cells) + f" | {below}/{len(rs)} |")


def _fmt(col, x):
    return f"{x:.1f}" if col.startswith("rate") else f"{x:.3f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0-5", help="e.g. 0-5 or 0,3,7")
    ap.add_argument("--which", default="ref,numba",
                    help="comma list of: " + ", ".join([*VARIANTS, "numba", "brian2"]))
    ap.add_argument("--duration", type=float, default=DURATION_S, help="seconds")
    ap.add_argument("--jsonl", default=None, help="append one JSON line per run here")
    ap.add_argument("--table", default=None, help="print the table of a JSON-lines file")
    args = ap.parse_args(argv)
    if args.table:
        table(args.table)
        return 0
    which = args.which.split(",")
    print("model     seed  first10  last10  mean_w  w<0.1  w>0.9  wall_s", flush=True)
    for seed in _seeds(args.seeds):
        for m in which:
            r = reference(seed, m, args.duration) if m in VARIANTS else \
                ours(seed, m, args.duration)
            print(f"{m:9s} {seed:4d}  {r['rate_first_10s']:7.1f} {r['rate_last_10s']:7.1f}"
                  f"  {r['mean_w_rel']:6.3f} {r['frac_w_low']:6.3f} {r['frac_w_high']:6.3f}"
                  f"  {r['wall_s']:6.1f}", flush=True)
            if args.jsonl:
                with open(args.jsonl, "a") as fh:
                    fh.write(json.dumps({"model": m, "seed": seed, "duration_s":
                                         args.duration, **r}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
