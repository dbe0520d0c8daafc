"""The spiking engine against Brian2 (runtime Cython, C++ standalone) and NEST.

The same network on every simulator, each in its own subprocess (so that its memory is
measured alone), on one thread each, or on each thread count of ``--threads`` (the Numba
engine's ``threads`` and NEST's ``local_num_threads``; Brian2 always runs on one):

- ``song2000``: Brian2's ``examples/synapses/STDP.py`` (Song, Miller & Abbott 2000),
  1,000 Poisson inputs at 15 Hz -> one current-based LIF neuron (tau_m 10 ms, E_L -74 mV,
  V_th -54 mV, V_reset -60 mV, no refractoriness, exponential synaptic current, tau 5 ms),
  all-to-all additive pair STDP (tau_pre = tau_post = 20 ms, A+ = 0.01 gmax,
  A- = 1.05 A+, weights clipped to [0, gmax], initially uniform in [0, gmax]),
  gmax = 0.6 mV, dt = 0.1 ms.
- ``big``: the same model with 10,000 inputs -> 1,000 neurons, all-to-all (10 million
  plastic synapses), gmax = 0.053 mV (0.6 mV x 1000 / 10,000 = 0.06 mV would drive the
  neurons at ~80 Hz; 0.053 mV gives 10-20 Hz, comparable to the inputs' 15 Hz).

Usage::

    python benchmarks/bench_spiking.py                      # everything (~15 minutes)
    python benchmarks/bench_spiking.py --only song2000 --peers numba,nest --duration 1
    python benchmarks/bench_spiking.py --only big --peers numba --threads 1,2 --repeat 3

Peers are benchmark-only dependencies (``pip install cython nest-simulator``; brian2 is
a dependency of the package already, and its standalone target needs g++ and make); a
peer that is not installed is skipped with a note. Per run the worker reports:

- ``setup``: wall time before the first simulated step: network construction plus code
  generation and compilation (Numba: compiling the kernel with an empty Numba cache, on a
  tiny network of the same kind so that the compiler's memory is not counted as the
  network's, then building the network and one warm-up step; Brian2 Cython: construction
  and ``Network.run(0 ms)``, which generates and compiles every code object, with an
  empty Cython cache; Brian2 standalone: construction in Python, code generation and
  ``make``; NEST: ``Create``, ``Connect`` and ``Prepare``).
- ``sim``: wall time of the simulation alone (Numba: ``run(duration)`` after the warm-up;
  Brian2 Cython: the main loop of ``Network.run(duration)`` after the 0 ms run, as Brian2
  measures it, ``device._last_run_time``, without the ~0.4 s of preparation that every
  ``run`` call repeats; Brian2 standalone: the main loop's time measured inside the
  binary, ``device._last_run_time``, which excludes the binary's start and its creation
  of the synapses; NEST: ``nest.Run(duration)``). ``sim_cpu``: the process's CPU time
  (user + system, all threads) over the same span: on a shared machine, a thread count's
  speed-up is bounded by the cores it actually got, ``sim_cpu / sim``; Numba also reports
  its busiest thread's CPU time, ``sim_cpu_max_thread`` (from ``/proc/self/task``), which
  bounds the simulation's time on idle cores from below.
- ``total``: everything from after the imports to the end of the simulation (for Brian2
  standalone: Python construction, code generation, compilation and the whole binary).
- ``process``: the worker process's wall time as the driver sees it: the interpreter's
  start, the imports, everything in ``total`` and the exit.
- memory: peak resident memory (``VmHWM``) of the process that simulates, above its
  resident memory after the imports (and, for Numba, the compilation), where the peak is
  reset through ``/proc/self/clear_refs``; for Brian2 standalone the binary's peak RSS,
  taken with ``wait4``, with nothing subtracted. Divided by the number of synapses for
  bytes/synapse.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

NETWORKS = {
    "song2000": {"n_in": 1000, "n_out": 1, "gmax_mV": 0.6, "duration_s": 10.0},
    "big": {"n_in": 10_000, "n_out": 1000, "gmax_mV": 0.053, "duration_s": 2.0},
}
RATE_HZ = 15.0
DT_MS = 0.1
TAU_M, TAU_E, TAU_PRE, TAU_POST = 10.0, 5.0, 20.0, 20.0
E_L, V_TH, V_RESET = -74.0, -54.0, -60.0
A_PLUS, DEP_RATIO = 0.01, 1.05
PEERS = ["numba", "brian2-cython", "brian2-standalone", "nest"]
NEEDS = {"numba": ["numba"], "brian2-cython": ["brian2", "Cython"],
         "brian2-standalone": ["brian2"], "nest": ["nest"]}
LABELS = {"numba": "plasticity (Numba)", "brian2-cython": "Brian2 runtime (Cython)",
          "brian2-standalone": "Brian2 C++ standalone", "nest": "NEST"}


def _reset_peak():
    """Reset this process's VmHWM to its current RSS and return that RSS (kB)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # not Linux >= 4.0: fall back to the peak so far
        return _status_kb("VmHWM")
    return _status_kb("VmRSS")


def _status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# -- workers (one simulator, one network, in a fresh process) -------------------------
def _numba_network(p):
    # the same model as song2000 and big-stdp (their builder), at this network's size
    from plasticity.spiking.song import song_stdp_network

    return song_stdp_network(n_inputs=p["n_in"], n_neurons=p["n_out"], gmax_mV=p["gmax_mV"],
                             rate_hz=RATE_HZ, dt_ms=DT_MS, a_plus=A_PLUS,
                             depression_ratio=DEP_RATIO, tau_pre_ms=TAU_PRE,
                             tau_post_ms=TAU_POST, tau_m_ms=TAU_M, tau_e_ms=TAU_E)


def _cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _thread_cpu_s():
    """CPU time (s) of each of this process's threads (Linux; empty elsewhere)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[tid] = (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        return {}
    return out


def worker_numba(p, dur_s, seed, out, threads=1):
    from plasticity.spiking import Recording
    from plasticity.spiking.numba import NumbaSimulator
    from plasticity.spiking.song import PROJECTION

    rec = Recording(spikes=("neuron",))
    t0 = time.perf_counter()
    # compile the kernels (the Numba cache dir is empty) on a small network of the same
    # kind, so that the compiler's memory is not counted as the network's (as wide as the
    # network up to two target blocks: the same path, windowed or not, is compiled)
    tiny = NumbaSimulator(_numba_network(dict(p, n_in=10, n_out=min(512, p["n_out"]))),
                          seed=seed, recording=rec, threads=threads)
    tiny.run(10 * DT_MS)
    del tiny
    out["compile_s"] = time.perf_counter() - t0
    base = _reset_peak()
    t = time.perf_counter()
    sim = NumbaSimulator(_numba_network(p), seed=seed, recording=rec, threads=threads)
    sim.run(DT_MS)  # one warm-up step on the real network (first-call costs)
    t1 = time.perf_counter()
    out["construct_s"] = t1 - t  # what set-up costs once the kernel is in Numba's cache
    out["setup_s"] = t1 - t0
    c1, k1 = _cpu_s(), _thread_cpu_s()
    res = sim.run(dur_s * 1e3)
    t2 = time.perf_counter()
    out["sim_s"] = t2 - t1
    out["sim_cpu_s"] = _cpu_s() - c1
    # the busiest thread's CPU time: the simulation's wall time on idle cores (plus the
    # waits at the window ends), whatever the load of the machine
    k2 = _thread_cpu_s()
    out["sim_cpu_max_thread_s"] = max((k2[k] - k1.get(k, 0.0) for k in k2), default=0.0)
    out["total_s"] = t2 - t0
    out["peak_kb"] = _status_kb("VmHWM") - base
    out["abs_peak_kb"] = _status_kb("VmHWM")
    out["rate_out_hz"] = res.counts["neuron"] / (p["n_out"] * dur_s)
    out["rate_in_hz"] = res.counts["input"] / (p["n_in"] * dur_s)
    out["mean_w_rel"] = float(sim.weights(PROJECTION).mean() / p["gmax_mV"])


def _brian2_network(p, seed, method):
    import brian2 as b2
    from brian2 import Hz, ms, mV

    b2.defaultclock.dt = DT_MS * ms
    b2.seed(seed)
    gmax = p["gmax_mV"] * mV
    namespace = {"E_L": E_L * mV, "v_th": V_TH * mV, "v_reset": V_RESET * mV,
                 "tau_m": TAU_M * ms, "tau_e": TAU_E * ms, "tau_pre": TAU_PRE * ms,
                 "tau_post": TAU_POST * ms, "gmax": gmax, "dApre": A_PLUS * gmax,
                 "dApost": -A_PLUS * DEP_RATIO * gmax * TAU_PRE / TAU_POST}
    # current-based: the example's ge*(Ee-vr) is a current I in mV, a weight a jump of I
    neurons = b2.NeuronGroup(p["n_out"], """dv/dt = (E_L - v + I) / tau_m : volt
                                            dI/dt = -I / tau_e : volt""",
                             threshold="v > v_th", reset="v = v_reset", method=method,
                             namespace=namespace, name="neurons")
    neurons.v = E_L * mV
    inputs = b2.PoissonGroup(p["n_in"], rates=RATE_HZ * Hz, name="inputs")
    syn = b2.Synapses(inputs, neurons,
                      """w : volt
                         dApre/dt = -Apre / tau_pre : volt (event-driven)
                         dApost/dt = -Apost / tau_post : volt (event-driven)""",
                      on_pre="""I += w
                                Apre += dApre
                                w = clip(w + Apost, 0*mV, gmax)""",
                      on_post="""Apost += dApost
                                 w = clip(w + Apre, 0*mV, gmax)""",
                      namespace=namespace, name="syn")
    syn.connect()
    syn.w = "rand() * gmax"
    spikes = b2.SpikeMonitor(neurons, record=False, name="spikes")  # counts only
    net = b2.Network(inputs, neurons, syn, spikes)
    return net, syn, spikes, gmax


def worker_brian2_cython(p, dur_s, seed, out):
    import brian2 as b2
    from brian2 import second

    b2.prefs.codegen.target = "cython"
    cache = tempfile.mkdtemp(prefix="bench_cython_")
    b2.prefs.codegen.runtime.cython.cache_dir = cache  # empty: compilation is measured
    b2.prefs.codegen.runtime.cython.multiprocess_safe = False
    base = _reset_peak()
    t0 = time.perf_counter()
    net, syn, spikes, gmax = _brian2_network(p, seed, "exponential_euler")
    out["construct_s"] = time.perf_counter() - t0
    net.run(0 * second)  # generates and compiles every code object
    t1 = time.perf_counter()
    out["setup_s"] = t1 - t0
    net.run(dur_s * second)
    t2 = time.perf_counter()
    out["run_wall_s"] = t2 - t1  # includes Brian2's per-run preparation (~0.4 s)
    out["sim_s"] = float(b2.get_device()._last_run_time)  # the main loop alone
    out["total_s"] = t2 - t0
    out["peak_kb"] = _status_kb("VmHWM") - base
    out["abs_peak_kb"] = _status_kb("VmHWM")
    out["rate_out_hz"] = int(spikes.num_spikes) / (p["n_out"] * dur_s)
    out["mean_w_rel"] = float(syn.w[:].mean() / gmax)
    shutil.rmtree(cache, ignore_errors=True)


def worker_brian2_standalone(p, dur_s, seed, out):
    import brian2 as b2
    import brian2.devices.cpp_standalone.device as devmod
    from brian2 import second

    class _Sub:
        """``subprocess`` for Brian2's device, taking the binary's peak RSS with wait4."""

        def __getattr__(self, name):
            return getattr(subprocess, name)

        @staticmethod
        def call(args, **kw):
            proc = subprocess.Popen(args, **kw)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            out["abs_peak_kb"] = out["peak_kb"] = usage.ru_maxrss
            return proc.returncode

    devmod.subprocess = _Sub()
    directory = tempfile.mkdtemp(prefix="bench_standalone_")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0  # one thread
    t0 = time.perf_counter()
    net, syn, spikes, gmax = _brian2_network(p, seed, "exponential_euler")
    net.run(dur_s * second)
    out["construct_s"] = time.perf_counter() - t0
    b2.device.build(directory=directory, compile=True, run=False, with_output=False)
    t1 = time.perf_counter()
    out["setup_s"] = t1 - t0
    b2.device.run(directory=directory, with_output=False)
    t2 = time.perf_counter()
    out["binary_s"] = t2 - t1
    out["sim_s"] = float(b2.device._last_run_time)
    out["total_s"] = t2 - t0
    out["rate_out_hz"] = int(spikes.num_spikes) / (p["n_out"] * dur_s)
    out["mean_w_rel"] = float(syn.w[:].mean() / gmax)
    shutil.rmtree(directory, ignore_errors=True)


def worker_nest(p, dur_s, seed, out, threads=1):
    import nest

    nest.set_verbosity("M_ERROR")
    base = _reset_peak()
    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": DT_MS, "local_num_threads": threads,
                          "rng_seed": seed + 1})
    # a weight in mV (jump of the synaptic current divided by the leak) is C_m/tau_m pA
    c_m = 250.0
    pa_per_mV = c_m / TAU_M
    wmax = p["gmax_mV"] * pa_per_mV
    neurons = nest.Create("iaf_psc_exp", p["n_out"], params={
        "C_m": c_m, "tau_m": TAU_M, "E_L": E_L, "V_th": V_TH, "V_reset": V_RESET,
        "V_m": E_L, "t_ref": 0.0, "tau_syn_ex": TAU_E, "tau_syn_in": TAU_E, "I_e": 0.0,
        "tau_minus": TAU_POST})
    gen = nest.Create("poisson_generator", params={"rate": RATE_HZ})
    parrots = nest.Create("parrot_neuron", p["n_in"])
    # a generator sends an independent train to each target
    nest.Connect(gen, parrots, "all_to_all", {"delay": DT_MS})
    nest.CopyModel("stdp_synapse", "stdp_additive", {
        "tau_plus": TAU_PRE, "lambda": A_PLUS, "alpha": DEP_RATIO, "mu_plus": 0.0,
        "mu_minus": 0.0, "Wmax": wmax})
    # NEST needs delay >= resolution: 0.1 ms here (0 in Brian2 and the Numba engine)
    nest.Connect(parrots, neurons, "all_to_all",
                 {"synapse_model": "stdp_additive", "delay": DT_MS,
                  "weight": nest.random.uniform(0.0, wmax)})
    rec = nest.Create("spike_recorder")
    nest.Connect(neurons, rec)
    out["construct_s"] = time.perf_counter() - t0
    nest.Prepare()
    t1 = time.perf_counter()
    out["setup_s"] = t1 - t0
    c1 = _cpu_s()
    nest.Run(dur_s * 1e3)
    t2 = time.perf_counter()
    out["sim_cpu_s"] = _cpu_s() - c1
    nest.Cleanup()
    out["sim_s"] = t2 - t1
    out["total_s"] = t2 - t0
    out["peak_kb"] = _status_kb("VmHWM") - base
    out["abs_peak_kb"] = _status_kb("VmHWM")
    out["rate_out_hz"] = rec.n_events / (p["n_out"] * dur_s)
    if p["n_in"] * p["n_out"] <= 1_000_000:  # reading 10 million weights is slow
        w = nest.GetConnections(parrots, neurons).get("weight")
        out["mean_w_rel"] = float(sum(w) / len(w) / wmax)


WORKERS = {"numba": worker_numba, "brian2-cython": worker_brian2_cython,
           "brian2-standalone": worker_brian2_standalone, "nest": worker_nest}


THREADED = ("numba", "nest")  # the peers with a thread count


def run_worker(args):
    p = NETWORKS[args.net]
    out = {"sim": args.worker, "net": args.net, "duration_s": args.duration,
           "n_syn": p["n_in"] * p["n_out"], "threads": args.threads}
    kw = {"threads": args.threads} if args.worker in THREADED else {}
    WORKERS[args.worker](p, args.duration, args.seed, out, **kw)
    print("RESULT " + json.dumps(out), flush=True)


# -- driver --------------------------------------------------------------------------
def missing(peer):
    return [m for m in NEEDS[peer] if importlib.util.find_spec(m) is None]


def launch(peer, net, duration, seed, timeout, threads=1):
    env = dict(os.environ)
    # an empty Numba cache: the kernel's compilation is part of the set-up time
    numba_cache = tempfile.mkdtemp(prefix="bench_numba_")
    env["NUMBA_CACHE_DIR"] = numba_cache
    env["OMP_NUM_THREADS"] = str(threads)
    env["PLASTICITY_THREADS"] = str(threads)
    env["NUMBA_NUM_THREADS"] = str(max(threads, os.cpu_count() or 1))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", peer, "--net", net,
           "--duration", str(duration), "--seed", str(seed), "--threads", str(threads)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=env)
    except subprocess.TimeoutExpired:
        shutil.rmtree(numba_cache, ignore_errors=True)
        return {"sim": peer, "net": net, "duration_s": duration, "threads": threads,
                "error": f"not run: over the {timeout:.0f} s time limit"}
    shutil.rmtree(numba_cache, ignore_errors=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            res["process_s"] = time.perf_counter() - t0
            return res
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"sim": peer, "net": net, "duration_s": duration, "threads": threads,
            "error": "failed: " + " | ".join(tail)}


TIMINGS = ("construct_s", "setup_s", "sim_s", "total_s", "run_wall_s", "binary_s",
           "compile_s", "process_s")  # sim_cpu_s stays the fastest run's (cores used = cpu / sim)


def best_of(runs):
    """One row from repeated runs: each timing its minimum, the rest from the fastest."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    best = dict(min(ok, key=lambda r: r["sim_s"]))
    for key in TIMINGS:
        if key in best:
            best[key] = min(r[key] for r in ok)
    best["runs"] = len(ok)
    best["all_sim_s"] = [r["sim_s"] for r in ok]
    best["all_total_s"] = [r["total_s"] for r in ok]
    return best


def fmt(x, nd=2):
    if x is None:
        return ""
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{nd}f}" if abs(x) >= 0.1 else f"{x:.3g}"


def memory(r):
    if r["sim"] == "brian2-standalone":  # the binary's peak, nothing subtracted
        return f"{r['abs_peak_kb'] / 1024:.0f} (binary)"
    return f"{r['abs_peak_kb'] / 1024:.0f} (+{r['peak_kb'] / 1024:.0f})"


def label(r):
    name = LABELS[r["sim"]]
    if r["sim"] in THREADED:
        n = r.get("threads", 1)
        name += f", {n} thread{'s' if n > 1 else ''}"
    return name


def thread_lines(results):
    """Speed-up of each thread count over one thread (simulation alone), with the cores
    the run got (CPU time / wall time) beside it."""
    lines = []
    one = {(r["sim"], r["net"], r["duration_s"]): r for r in results
           if "error" not in r and r.get("threads", 1) == 1}
    for r in results:
        base = one.get((r["sim"], r["net"], r["duration_s"]))
        if "error" in r or r.get("threads", 1) == 1 or base is None:
            continue
        cores = (f", cores used {base.get('sim_cpu_s', 0) / base['sim_s']:.2f} -> "
                 f"{r.get('sim_cpu_s', 0) / r['sim_s']:.2f}") if "sim_cpu_s" in r else ""
        if r.get("sim_cpu_max_thread_s") and base.get("sim_cpu_s"):
            cores += (f"; on idle cores (1 thread's CPU time / the busiest thread's): "
                      f"{base['sim_cpu_s'] / r['sim_cpu_max_thread_s']:.2f}x")
        lines.append(f"- {r['net']}, {LABELS[r['sim']]}: {r['threads']} threads "
                     f"{base['sim_s'] / r['sim_s']:.2f}x faster than 1 (simulation "
                     f"{base['sim_s']:.3f} s -> {r['sim_s']:.3f} s{cores}; best of "
                     f"{r.get('runs', 1)}, all: {r.get('all_sim_s')})")
    return lines


def table(results):
    head = ("| network | simulator | simulated (s) | set-up (s): build + compile | "
            "simulation (s per sim. s) | ratio | total (s per sim. s) | ratio | "
            "whole process (s) | ratio | "
            "output rate (Hz) | mean w/gmax at end | peak memory (MB) | bytes/synapse |")
    rows = [head, "|" + "---|" * 2 + "---:|" * 12]
    ref = {}
    for r in results:
        if r["sim"] == "numba" and "error" not in r and r["net"] not in ref:
            ref[r["net"]] = r
    for r in results:
        name = label(r)
        if "error" in r:
            rows.append(f"| {r['net']} | {name} | {fmt(r['duration_s'])} | "
                        f"{r['error']} |" + " |" * 11)
            continue
        d = r["duration_s"]
        sim, tot = r["sim_s"] / d, r["total_s"] / d
        base = ref.get(r["net"])
        rs = f"{sim / (base['sim_s'] / base['duration_s']):.2f}x" if base else ""
        rt = f"{tot / (base['total_s'] / base['duration_s']):.2f}x" if base else ""
        same = base is not None and base["duration_s"] == d
        rp = f"{r['process_s'] / base['process_s']:.2f}x" if same else ""
        mw = r.get("mean_w_rel")
        per_syn = f"{r['peak_kb'] * 1024 / r['n_syn']:.1f}" if r["n_syn"] >= 100_000 else ""
        rows.append(
            f"| {r['net']} | {name} | {fmt(d)} | {fmt(r['setup_s'])}: "
            f"{fmt(r['construct_s'])} + {fmt(r['setup_s'] - r['construct_s'])} | "
            f"{fmt(sim, 3)} | "
            f"{rs} | {fmt(tot, 3)} | {rt} | {fmt(r['process_s'])} | {rp} | "
            f"{fmt(r['rate_out_hz'])} | "
            f"{'' if mw is None else f'{mw:.3f}'} | {memory(r)} | {per_syn} |")
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=sorted(NETWORKS), help="one network only")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help=f"comma-separated, from {','.join(PEERS)}")
    ap.add_argument("--duration", type=float, default=None,
                    help="simulated seconds (default: 10 for song2000, 2 for big)")
    ap.add_argument("--long", type=float, default=100.0,
                    help="also run song2000 this long on the Numba engine (0: skip)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs of every simulator (round robin); the table keeps the best")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds allowed to one simulator's subprocess")
    ap.add_argument("--cython-big-timeout", type=float, default=300.0,
                    help="seconds allowed to Brian2's runtime target on the big network")
    ap.add_argument("--threads", default="1",
                    help="comma-separated thread counts of the Numba engine and NEST, "
                         "e.g. 1,2 (Brian2 always runs on one)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    ap.add_argument("--net", choices=sorted(NETWORKS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        args.threads = int(args.threads)
        if args.duration is None:
            args.duration = NETWORKS[args.net]["duration_s"]
        return run_worker(args)
    try:
        counts = sorted({int(x) for x in args.threads.split(",") if x.strip()})
    except ValueError:
        ap.error(f"--threads {args.threads!r}: comma-separated integers expected")
    if not counts or counts[0] < 1:
        ap.error("--threads: thread counts are at least 1")
    peers = [s.strip() for s in args.peers.split(",") if s.strip()]
    bad = [s for s in peers if s not in PEERS]
    if bad:
        ap.error(f"unknown peer(s) {bad}; choose from {PEERS}")
    notes = []
    for peer in list(peers):
        miss = missing(peer)
        if miss:
            notes.append(f"{LABELS[peer]} skipped: {', '.join(miss)} not installed "
                         "(pip install cython nest-simulator)")
            peers.remove(peer)
    nets = [args.only] if args.only else list(NETWORKS)
    load0 = os.getloadavg()
    results = []
    for net in nets:
        dur = args.duration or NETWORKS[net]["duration_s"]
        jobs = [(peer, dur, n) for peer in peers
                for n in (counts if peer in THREADED else [1])]
        if net == "song2000" and "numba" in peers and args.long and args.long != dur:
            jobs.append(("numba", args.long, 1))
        runs = {job: [] for job in jobs}
        # round robin, so that a change of the machine's load hits every simulator
        for rep in range(args.repeat):
            for job in jobs:
                peer, d, n = job
                timeout = args.timeout
                if net == "big" and peer == "brian2-cython":
                    timeout = args.cython_big_timeout
                if runs[job] and "error" in runs[job][-1]:
                    continue  # failed or too slow once: not again
                print(f"# {net}: {LABELS[peer]}, {d:g} s, {n} thread(s), run {rep + 1} ...",
                      file=sys.stderr, flush=True)
                res = launch(peer, net, d, args.seed, timeout, threads=n)
                print("#   " + json.dumps(res), file=sys.stderr, flush=True)
                runs[job].append(res)
        results += [best_of(runs[job]) for job in jobs]
    print(table(results))
    load1 = os.getloadavg()
    print()
    print(f"Best of {args.repeat} runs per row (each timing its own minimum). Load average "
          f"(1, 5, 15 min) at start {load0[0]:.1f}, {load0[1]:.1f}, {load0[2]:.1f}; at end "
          f"{load1[0]:.1f}, {load1[1]:.1f}, {load1[2]:.1f} ({os.cpu_count()} cores).")
    for line in thread_lines(results):
        print(line)
    print("ratio: the simulator's time divided by the Numba engine's (same network, first "
          "Numba row); above 1, the Numba engine is faster. Peak memory: absolute "
          "(+ above the baseline after imports; Brian2 standalone: the binary's peak); "
          "bytes/synapse: the part above the baseline over the synapses (big network "
          "only).")
    for n in notes:
        print("- " + n)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
