"""Additive STDP makes a neuron's weights bimodal and lowers its rate (Song et al. 2000).

Reproduces: S. Song, K. D. Miller & L. F. Abbott (2000), "Competitive Hebbian learning
through spike-timing-dependent synaptic plasticity", Nat. Neurosci. 3:919-926, in the form
of Brian2's STDP example (examples/synapses/STDP.py): 1,000 Poisson inputs at 15 Hz drive
one leaky integrate-and-fire neuron (tau_m 10 ms, rest -74 mV, threshold -54 mV, reset
-60 mV) through exponential synapses (tau 5 ms); all-to-all additive pair STDP with
tau_pre = tau_post = 20 ms, A+ = 0.01 gmax, A- = -1.05 A+, weights clipped to [0, gmax]
and initially uniform in [0, gmax].

As in that example the synaptic drive has a fixed driving force, ``g_e (E_e - v_reset)``,
i.e. a current-based synapse: gmax = 0.01 (in units of the leak) times 60 mV is a 0.6 mV
jump of the synaptic current. Because depression slightly outweighs potentiation, only
inputs whose spikes tend to precede the output's survive; the weights split towards 0 and
gmax (a U-shaped histogram) and the output rate falls as the neuron becomes
fluctuation-driven.

Summary: ``frac_w_low`` (w < 0.1 gmax), ``frac_w_high`` (w > 0.9 gmax), ``mean_w_rel``
(mean w / gmax), ``rate_first_10s`` and ``rate_last_10s`` (Hz), ``u_shaped`` (both end bins
of a 10-bin histogram larger than every inner bin), ``backend``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from plasticity.experiment import Experiment
from plasticity.spiking.backends import check_config
from plasticity.spiking.runner import numba_only
from plasticity.spiking.song import SongSTDPConfig


class Song2000Config(SongSTDPConfig):
    n_inputs: int = Field(1000, ge=1, description="Poisson inputs")
    duration_s: float = Field(100.0, gt=0, description="simulated time (s)")
    gmax_mV: float = Field(0.6, gt=0, description="largest synaptic jump (mV): 0.01 x 60 mV")
    record_inputs: bool = Field(False, description="store the input spikes too (large)")
    snapshot_every_s: float = Field(10.0, gt=0, description="weight snapshot interval")

    def network(self):
        return self.song_network(n_neurons=1, gmax_mV=self.gmax_mV)


def run(cfg: Song2000Config, ctx):
    from plasticity.spiking import Recording
    from plasticity.spiking.runner import histogram_u_shape, make_simulator, simulate_into

    net = cfg.network()
    spikes = ("input", "neuron") if cfg.record_inputs else ("neuron",)
    sim = make_simulator(net, cfg, [ctx.seed, 0],
                         Recording(spikes=spikes, rate_bin_ms=1000.0))
    ctx.recorder.set_attrs(backend=cfg.backend,
                           brian2_target_used=getattr(sim, "target_used", "n/a"))
    res = simulate_into(sim, cfg.duration_s * 1e3, ctx, snapshot=("input_neuron",),
                        segment_ms=_segment(cfg, sim), desc="song2000")
    w_rel = sim.weights("input_neuron") / cfg.gmax_mV
    counts, u_shaped = histogram_u_shape(w_rel)
    t_out = res.spikes["neuron"][0] * 1e-3
    window = min(10.0, cfg.duration_s)
    ctx.summary(
        frac_w_low=float(np.mean(w_rel < 0.1)), frac_w_high=float(np.mean(w_rel > 0.9)),
        mean_w_rel=float(w_rel.mean()),
        rate_first_10s=float(np.sum(t_out < window) / window),
        rate_last_10s=float(np.sum(t_out >= cfg.duration_s - window) / window),
        u_shaped=u_shaped, hist_counts=counts, backend=cfg.backend,
        brian2_target_used=getattr(sim, "target_used", "n/a"))


#: the output rate assumed by the memory estimate (Hz): the neuron fires at tens of Hz
#: (Song et al.); 100 Hz bounds its recorded spikes, which matter only for long runs
OUTPUT_RATE_BOUND_HZ = 100.0
#: bytes per recorded spike held until the run ends: float64 time and int64 id in each
#: segment's result, and again in the merged result
SPIKE_BYTES = 32
#: bytes per spike of the segment being collected (the engine's buffers, their
#: concatenation and the per-group selection), on top of SPIKE_BYTES
SEGMENT_SPIKE_BYTES = 48


def memory(cfg: Song2000Config):
    """The dominant arrays of a run (:mod:`plasticity.io.memory`): the synapses as the
    Numba engine stores them (:func:`~plasticity.spiking.network.synapse_bytes`), twice
    more for the initial draw and a weight snapshot; the recorded spikes (the input's only
    with ``record_inputs``), kept in memory until the run ends, and those of the segment
    being collected. Measured (tracemalloc, warm engine) at n_inputs = 20000,
    duration_s = 2, record_inputs: peak 32 MiB, estimate 46 MiB."""
    from plasticity.io.memory import MemoryEstimate
    from plasticity.spiking.network import synapse_bytes

    net = cfg.network()
    est = MemoryEstimate().add(
        "the synapses, their initial draw and a weight snapshot",
        "3 x n_inputs float64", 3 * synapse_bytes(net.synapses[0], cfg.n_inputs, 1))
    rate = OUTPUT_RATE_BOUND_HZ + (cfg.n_inputs * cfg.rate_hz if cfg.record_inputs else 0.0)
    who = "n_inputs x rate_hz" if cfg.record_inputs else f"{OUTPUT_RATE_BOUND_HZ:g} Hz"
    est.add("the recorded spikes", f"{who} x duration_s, {SPIKE_BYTES} B each",
            rate * cfg.duration_s * SPIKE_BYTES)
    est.add("the spikes of one segment being collected",
            f"{who} x snapshot_every_s, {SEGMENT_SPIKE_BYTES} B each",
            rate * min(cfg.duration_s, cfg.snapshot_every_s) * SEGMENT_SPIKE_BYTES)
    return est


def _segment(cfg, sim):
    # one segment per weight snapshot; C++ standalone can only run once
    return None if getattr(sim, "standalone", False) else 1000.0 * cfg.snapshot_every_s


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.3, ncols=3)
    snaps = run.snapshots["input_neuron"]
    gmax = run.config["gmax_mV"]
    w = snaps["value"][-1] / gmax
    w_src = src("snapshots/input_neuron:value")[-1] / src("config:gmax_mV")
    traced(ax1.plot(np.arange(w.size), w, ".", ms=2, color=PALETTE[0])[0],
           x=w_src.map(lambda w: np.arange(np.size(w)), "index"), y=w_src)
    ax1.set_xlabel("input")
    ax1.set_ylabel("w / gmax")
    ax1.set_title("a  final weights", loc="left")
    _, edges, bars = ax2.hist(w, bins=20, range=(0, 1), color=PALETTE[1])
    traced(bars, x=(edges[:-1] + edges[1:]) / 2,
           height=w_src.map(lambda w: np.histogram(w, bins=20, range=(0, 1))[0], "hist20"))
    ax2.set_xlabel("w / gmax")
    ax2.set_ylabel("synapses")
    ax2.set_title("b  weight histogram", loc="left")
    rates = run.series["rates/neuron"]
    traced(ax3.plot(rates["time"] * 1e-3, rates["rate"], color=PALETTE[2], lw=0.8)[0],
           x=src("series/rates/neuron:time") * 1e-3, y=src("series/rates/neuron:rate"))
    ax3.set_xlabel("time (s)")
    ax3.set_ylabel("output rate (Hz)")
    ax3.set_title(f"c  output rate ({run.summary.get('backend', '')})", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="song2000",
    description="Additive STDP: bimodal weights and a falling rate (Song, Miller & Abbott "
                "2000).",
    config=Song2000Config,
    run=run,
    plot=plot,
    resumable=numba_only,
    memory=memory,
    check=check_config,
    presets={"quick": {}, "full": {}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
