"""A 100-million-synapse plastic network on one machine: 20,000 -> 5,000 all-to-all STDP.

The network of song2000 (Song, Miller & Abbott 2000, in the form of Brian2's STDP
example) grown from one neuron to a population: ``n_inputs`` Poisson sources at
``rate_hz`` drive ``n_neurons`` leaky integrate-and-fire neurons (tau_m 10 ms, rest
-74 mV, threshold -54 mV, reset -60 mV, current synapses with tau 5 ms) through
all-to-all additive pair STDP (tau_pre = tau_post = 20 ms, A+ = 0.01 gmax,
A- = 1.05 A+, weights clipped to [0, gmax], initially uniform in [0, gmax]). The full
preset has 20,000 x 5,000 = 1e8 plastic synapses, stored by the Numba engine as one
float64 each (8 bytes; traces are per neuron), and runs on the engine's multithreaded
feed-forward path (``plasticity run big-stdp --full --threads 2``).

``gmax_mV`` defaults to 530 mV / n_inputs: the mean drive of the benchmark's
10,000-input network (benchmarks/bench_spiking.py ``big``, gmax 0.053 mV, output near
20 Hz), whatever the number of inputs.

The run file never holds the weight matrix (only the checkpoints, which must): after
every ``segment_s`` of simulated time it gets a ``hist_bins``-bin histogram of all the
weights (``/snapshots/w_hist``, counts over [0, gmax]) and the weights of a fixed random
sample of ``n_sample`` synapses (``/snapshots/w_sample``, mV; their flat indices, in
(input, neuron) row-major order, in ``/snapshots/w_sample_index`` at time 0), and the
population rates of both groups per ``rate_bin_ms`` bin (``/series/rates/<group>``).

Summary
-------
``n_synapses``; ``gmax_mV`` (used); ``bytes_per_synapse_arrays``: tracemalloc's count of
the bytes NumPy allocated for array data (its own tracemalloc domain) while the simulator
was built and still held after it (all its arrays: weights, traces, rings, state), over
``n_synapses``; ``bytes_per_synapse_peak_rss``: the process's peak
resident memory (Linux ``VmHWM``, reset just before the simulator is built where the
kernel allows) above its resident memory at that moment, over ``n_synapses`` -- everything the run
held at its peak, including a resumed run's restore from its checkpoint and the engine's
compilation (None where ``/proc`` is missing); ``sim_s_per_wall_s`` (simulated over wall
seconds of the simulation loop, checkpoints and histograms included; of the last
session only when resumed); ``rate_first_window_hz``, ``rate_last_window_hz`` (mean
output rate over the first and last ``segment_s``), ``rate_mean_hz``, ``input_rate_hz``
(measured); ``frac_w_low`` (w < 0.1 gmax), ``frac_w_high`` (w >= 0.9 gmax), ``mean_w_rel``
(mean w / gmax), ``hist_counts`` (10 bins on [0, gmax]); ``threads`` (Numba threads of
the engine); ``backend``.

Measured here (2 cores shared with other work, load average about 4; seed 0, full
preset, 10 simulated seconds, ``--threads 2``): the simulator's arrays take 8.24 bytes
per synapse (tracemalloc). Without checkpoints (``--checkpoint-every 100000``) the
process peaks at 1.01 GB resident in all (``/usr/bin/time -v``), 9.03 bytes per synapse
above its memory before the network was built, and simulates a second in 12.6 s of wall
time (87 s of CPU for the run: the process got 0.66 cores on average). A checkpoint
writes the engine's own arrays (no copy): with a checkpoint after every simulated second
(``--checkpoint-every 0``, 2 s simulated, load 1.3) the peak was the same, 1.006 GB
resident, 9.0 bytes per synapse, and a simulated second took 7.7 s of wall time. (Before
checkpoints wrote views, each one copied the 800 MB of weights first: 17.25 bytes per
synapse.) The file keeps two checkpoint slots, so that a run killed while writing one
still has the other: 1.65 GB on disk at 10^8 synapses. A resumed run reads the
checkpoint's arrays straight into its new simulator's (:class:`~plasticity.io.checkpoint.
StoredArray`), never holding the weights twice: a 3-second run stopped by SIGTERM after
its first checkpoint (1 s) and resumed peaked at 9.07 bytes per synapse above the
baseline, 1.01 GB resident in all (before: near 17 bytes per synapse, the checkpoint
read whole and then copied). Output rate 12.1 Hz in
the first second, 4.7 Hz in the last; 11.0% of the weights below 0.1 gmax and 9.5%
above 0.9 gmax after 10 s (from 10% each).
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import Experiment
from plasticity.spiking.backends import check_config
from plasticity.spiking.runner import numba_only
from plasticity.spiking.song import PROJECTION, SongSTDPConfig

#: mV: n_inputs x gmax of the default weights (the benchmark network's 10,000 x 0.053 mV)
DRIVE_MV = 530.0
#: projection label
PROJ = PROJECTION


class BigSTDPConfig(SongSTDPConfig):
    n_inputs: int = Field(20_000, ge=1, description="Poisson inputs")
    n_neurons: int = Field(5_000, ge=1, description="LIF neurons (all-to-all from the inputs)")
    duration_s: float = Field(10.0, gt=0, description="simulated time (s)")
    gmax_mV: float | None = Field(None, gt=0, description="largest weight (mV); default "
                                  "530 mV / n_inputs")
    segment_s: float = Field(1.0, gt=0, description="simulated time between weight "
                                                    "histograms (and checkpoints)")
    rate_bin_ms: float = Field(100.0, gt=0, description="population rate bin (ms)")
    hist_bins: int = Field(50, ge=10, description="weight histogram bins (multiple of 10)")
    n_sample: int = Field(1000, ge=0, description="synapses whose weights are stored")

    @model_validator(mode="after")
    def _bins(self):
        if self.hist_bins % 10:
            raise ValueError(f"hist_bins ({self.hist_bins}) must be a multiple of 10 (the "
                             "fractions near 0 and gmax are its first and last tenths)")
        return self

    @property
    def gmax(self) -> float:
        """The largest weight (mV)."""
        return self.gmax_mV if self.gmax_mV is not None else DRIVE_MV / self.n_inputs

    @property
    def n_synapses(self) -> int:
        return self.n_inputs * self.n_neurons

    def network(self):
        return self.song_network(n_neurons=self.n_neurons, gmax_mV=self.gmax)


def _status_kb(key):
    """A ``/proc/self/status`` field in kB, or None where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss():
    # "5" resets VmHWM to the current RSS (Linux >= 4.0); harmless where refused
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _weights_now(sim):
    """The projection's current weights, shape (n_inputs * n_neurons,), row-major by
    (input, neuron): a read-only view on the Numba engine (a copy would take another 8
    bytes per synapse), a copy elsewhere."""
    return sim.weights(PROJ, copy=False)


def run(cfg: BigSTDPConfig, ctx):
    import tracemalloc

    from plasticity.spiking import Recording, engine_threads
    from plasticity.spiking.runner import make_simulator, simulate_into

    net = cfg.network()
    n_syn, gmax = cfg.n_synapses, cfg.gmax
    _reset_peak_rss()
    rss0 = _status_kb("VmRSS")
    tracemalloc.start()
    try:
        sim = make_simulator(net, cfg, [ctx.seed, 0],
                             Recording(spikes=(), rate_bin_ms=cfg.rate_bin_ms))
        # NumPy's own domain only: the arrays' data, not the Python objects built on
        # the way (whose size changes with the interpreter and the code around it)
        arrays_bytes = sum(t.size for t in tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)]).traces)
    finally:
        tracemalloc.stop()
    threads = engine_threads() if cfg.backend == "numba" else 1
    ctx.recorder.set_attrs(backend=cfg.backend, threads=threads,
                           brian2_target_used=getattr(sim, "target_used", "n/a"))

    sample = np.unique(ctx.child_rng().integers(0, n_syn, cfg.n_sample)) if cfg.n_sample \
        else np.zeros(0, np.int64)

    simulated = []  # ms simulated in this session (a resumed run restores the rest)

    def record_weights(res=None):
        if res is not None:
            simulated.append(res.t_stop_ms - res.t_start_ms)
        w = _weights_now(sim)
        counts, _ = np.histogram(w, bins=cfg.hist_bins, range=(0.0, gmax))
        ctx.recorder.snapshot("w_hist", sim.t_ms, counts, units="synapses", index="time",
                              index_units="ms")
        ctx.recorder.snapshot("w_sample", sim.t_ms, w[sample], units="mV", index="time",
                              index_units="ms")

    # before the simulation loop: a resumed run replays these into the void (they are in
    # the file already)
    ctx.recorder.snapshot("w_sample_index", 0.0, sample, units="index", index="time",
                          index_units="ms")
    record_weights()
    wall0 = time.perf_counter()
    res = simulate_into(sim, cfg.duration_s * 1e3, ctx, segment_ms=1e3 * cfg.segment_s,
                        on_segment=record_weights, desc="big-stdp")
    wall = time.perf_counter() - wall0
    sim_s = 1e-3 * sum(simulated)
    peak_kb = _status_kb("VmHWM")

    w = _weights_now(sim)
    counts, _ = np.histogram(w, bins=cfg.hist_bins, range=(0.0, gmax))
    tenth = cfg.hist_bins // 10
    starts, rate = res.rates["neuron"]
    window = min(cfg.segment_s, cfg.duration_s) * 1e3
    first = starts < window
    last = starts >= cfg.duration_s * 1e3 - window - 1e-9
    ctx.summary(
        n_synapses=n_syn, gmax_mV=gmax,
        bytes_per_synapse_arrays=arrays_bytes / n_syn,
        bytes_per_synapse_peak_rss=None if peak_kb is None or rss0 is None
        else max(peak_kb - rss0, 0) * 1024 / n_syn,
        sim_s_per_wall_s=sim_s / wall if wall > 0 and sim_s > 0 else float("nan"),
        rate_first_window_hz=float(rate[first].mean()),
        rate_last_window_hz=float(rate[last].mean()),
        rate_mean_hz=float(rate.mean()),
        input_rate_hz=float(res.rates["input"][1].mean()),
        frac_w_low=float(counts[:tenth].sum() / n_syn),
        frac_w_high=float(counts[-tenth:].sum() / n_syn),
        mean_w_rel=float(w.mean() / gmax),
        hist_counts=counts.reshape(10, tenth).sum(axis=1),
        threads=threads, backend=cfg.backend)


#: bytes of the engine's other arrays per LIF neuron: a window of spike flags
#: (windows.FF_WINDOW = 2048 steps, 1 byte each) and the deferred-potentiation rings (at most
#: 64 events per target of 28 bytes, rounded up to a power of two: 2 x 64 x 28)
PER_NEURON_BYTES = 2048 + 2 * 64 * 28
#: ... and per input: the per-block state of deferred potentiation (24 bytes per input
#: and target block, at most 64 blocks) and the buffers of one window's source spikes
PER_INPUT_BYTES = 64 * 32 + 64


def memory(cfg: BigSTDPConfig):
    """The dominant arrays of a run (:mod:`plasticity.io.memory`): the synapses as the
    Numba engine stores them (:func:`~plasticity.spiking.network.synapse_bytes`, 8 bytes
    each) and the engine's per-neuron buffers. Checkpoints add nothing: writing one
    writes the engine's own arrays (``get_state(copy=False)``), and a resumed run reads
    them from the file straight into the new simulator's. The recorded data (rates,
    histograms, the sample) are small and streamed to the file. At 20,000 x 5,000:
    0.81 GiB estimated (8.7 bytes per synapse); measured peak 9.0-9.1 bytes per synapse,
    with checkpoints or without, resumed or not."""
    from plasticity.io.memory import MemoryEstimate
    from plasticity.spiking.network import synapse_bytes

    net = cfg.network()
    syn = synapse_bytes(net.synapses[0], cfg.n_inputs, cfg.n_neurons)
    est = MemoryEstimate()
    est.add("the synapses", "n_inputs x n_neurons float64", syn)
    est.add("the engine's buffers", f"n_neurons x {PER_NEURON_BYTES} B + n_inputs x "
            f"{PER_INPUT_BYTES} B",
            cfg.n_neurons * PER_NEURON_BYTES + cfg.n_inputs * PER_INPUT_BYTES)
    return est


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.3, ncols=3)
    hist = run.snapshots["w_hist"]["value"]
    bins = hist.shape[1]
    centres = (np.arange(bins) + 0.5) / bins
    for row, colour, name in ((0, PALETTE[0], "start"), (-1, PALETTE[1], "end")):
        traced(ax1.step(centres, hist[row], where="mid", color=colour, label=name)[0],
               x=centres, y=src("snapshots/w_hist:value")[row])
    ax1.set_yscale("log")
    ax1.set_xlabel("w / gmax")
    ax1.set_ylabel("synapses")
    ax1.legend(frameon=False)
    ax1.set_title(f"a  weights of {run.summary.get('n_synapses', 0):,} synapses", loc="left")
    gmax = run.summary["gmax_mV"]
    samp = run.snapshots["w_sample"]
    t_s = samp["time"] * 1e-3
    first = samp["value"][:, :50] / gmax
    for j in range(first.shape[1]):
        traced(ax2.plot(t_s, first[:, j], color=PALETTE[2], lw=0.5, alpha=0.6)[0],
               x=src("snapshots/w_sample:time") * 1e-3,
               y=src("snapshots/w_sample:value")[:, j] / src("summary:gmax_mV"))
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("w / gmax (sampled synapses)")
    ax2.set_title("b  sampled weights", loc="left")
    for group, colour in (("neuron", PALETTE[3]), ("input", PALETTE[4])):
        r = run.series[f"rates/{group}"]
        traced(ax3.plot(r["time"] * 1e-3, r["rate"], color=colour, lw=0.8, label=group)[0],
               x=src(f"series/rates/{group}:time") * 1e-3,
               y=src(f"series/rates/{group}:rate"))
    ax3.set_xlabel("time (s)")
    ax3.set_ylabel("population rate (Hz)")
    ax3.legend(frameon=False)
    ax3.set_title(f"c  rates ({run.summary.get('threads', '?')} threads)", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="big-stdp",
    description="A 100-million-synapse STDP network (20,000 -> 5,000 all-to-all) on one "
                "machine: memory per synapse, speed, rates and weights.",
    config=BigSTDPConfig,
    run=run,
    plot=plot,
    resumable=numba_only,
    memory=memory,
    check=check_config,
    presets={"quick": {"n_inputs": 4000, "n_neurons": 1000, "duration_s": 40.0},
             "full": {}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
