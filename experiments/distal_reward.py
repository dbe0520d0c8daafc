"""Dopamine-modulated STDP solves the distal reward problem (Izhikevich 2007).

Reproduces Fig. 1 of E. M. Izhikevich (2007), "Solving the distal reward problem through
linkage of STDP and dopamine signaling", Cereb. Cortex 17:2443-2452, after his published
code (daspnet.m): 800 regular-spiking and 200 fast-spiking Izhikevich neurons, each
excitatory neuron projecting to 100 random targets on average (``p_exc`` of every
neuron) and each inhibitory neuron to 100 random excitatory ones (``p_inh``), instantaneous
(delta) synapses with a 1 ms conduction latency, excitatory weights starting at 1 and
bounded by
``w_max`` = 4, inhibitory weights fixed at 1; every neuron receives a uniform random
current of width 13 mV/ms each millisecond; ``v`` takes two half steps per millisecond.

The latency: in daspnet.m (``D = 1``) a spike detected at the start of a millisecond
enters its targets' input in that same millisecond, one step after the step in which
``v`` crossed the peak. In the engine (and in Brian2) a spike already reaches its targets'
input in the step after the one in which it is emitted, and a synaptic delay adds to that;
so ``latency_ms`` = 1 ms is the engine's delay ``latency_ms - dt_ms`` = 0.

Every excitatory synapse follows :class:`plasticity.spiking.RewardSTDP`: nearest-spike STDP
(jumps 0.1 and -0.15, tau 20 ms) into an eligibility trace ``c`` (tau_c 1 s), converted
into weight change by dopamine every 10 ms, ``dw = (d + 0.002) c`` (``d`` decays with
tau_d 0.2 s). One excitatory-to-excitatory synapse, chosen at random and set to 0, is
the "rewarded" one: whenever its postsynaptic neuron fires within ``interval_ms`` (20 ms)
after its presynaptic neuron, a reward ``d += 0.5`` is delivered 1-3 s later (uniform),
by which time the network has fired thousands of other spikes. Only the eligibility trace
still remembers the pairing, so the reward reaches that synapse above all others; the
synapse grows, fires its target more often, earns more rewards, and ends near ``w_max``
while the population stays low.

The run alternates compiled simulation with reward bookkeeping: it advances to the next
scheduled reward or by ``chunk_ms`` at most (never longer than the shortest reward delay,
so every pairing is seen before its reward is due), looks at the spikes of the two
neurons, schedules rewards and delivers the due ones with ``set_modulator``.

Recorded: ``/series/synapse`` every ``record_every_s`` (the rewarded weight and its
eligibility, the population mean, 95th and 99th percentiles and the rewarded synapse's
rank), ``/series/rewards`` (each delivery, indexed by time), population rates in 1 s bins
(``/series/rates/exc``, ``/series/rates/inh``), the spikes of the first and last
``raster_s`` seconds (``/spikes/exc``, ``/spikes/inh``) and the excitatory weights at the
start and end (``/snapshots/exc_weights``).

Summary: ``rewarded_w_final_rel`` (its weight over ``w_max``), ``rewarded_rank_pct`` (the
percentage of excitatory synapses stronger than it), ``n_rewards``, ``mean_w_final_rel``
(the population's mean over ``w_max``), ``rewarded_z`` (its distance from the population
mean in population standard deviations), ``rate_exc_hz`` and ``rate_inh_hz`` (over the
run), ``n_exc_synapses``.

Measured (full preset, one simulated hour, seeds 0-4): ``rewarded_w_final_rel`` 0.991,
0.995, 0.996, 0.945, 0.952; ``rewarded_rank_pct`` 1.3, 1.1, 1.1, 2.6, 2.9 (of about 80,000
excitatory synapses; the few hundred others at the bound are the strongest synapses
onto and from the same neurons); ``n_rewards`` 224, 194, 212, 240, 271;
``mean_w_final_rel`` 0.21-0.22; rates 1.3 Hz (excitatory) and 0.85 Hz (inhibitory).
How soon the synapse separates depends on the draw: its z-score after 10 minutes was
4.1, 3.3, -0.8, 0.4 and 3.8; after 20 minutes 3.8, 4.2, 1.5, 3.7, 3.4; after 30 minutes
(the quick preset) 3.5, 3.9, 3.2, 3.6, 3.2, with ranks 0-1.8 %.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import Config, Experiment

PLASTIC = ("exc_exc", "exc_inh")


class DistalRewardConfig(Config):
    n_exc: int = Field(800, ge=2, description="regular-spiking excitatory neurons")
    n_inh: int = Field(200, ge=1, description="fast-spiking inhibitory neurons")
    p_exc: float = Field(0.1, gt=0, le=1, description="connection probability from an "
                                                      "excitatory neuron to any neuron")
    p_inh: float = Field(0.125, gt=0, le=1, description="connection probability from an "
                                                        "inhibitory to an excitatory neuron")
    w_init: float = Field(1.0, ge=0, description="initial excitatory weight (mV)")
    w_max: float = Field(4.0, gt=0, description="largest excitatory weight (mV)")
    w_inh: float = Field(1.0, ge=0, description="inhibitory weight (mV), fixed")
    latency_ms: float = Field(1.0, gt=0, description="conduction latency from a spike to "
                                                     "its targets' input (ms)")
    dt_ms: float = Field(1.0, gt=0, le=1, description="time step")
    noise: float = Field(13.0, ge=0, description="width of the uniform input current "
                                                 "(mV/ms)")
    a_plus: float = Field(0.025, ge=0, description="eligibility jump on post (x w_max)")
    a_minus: float = Field(0.0375, ge=0, description="eligibility drop on pre (x w_max)")
    tau_stdp_ms: float = Field(20.0, gt=0, description="STDP trace time constant")
    tau_c_ms: float = Field(1000.0, gt=0, description="eligibility time constant")
    tau_d_ms: float = Field(200.0, gt=0, description="dopamine time constant")
    eta: float = Field(0.1, ge=0, description="learning rate (1/ms)")
    d_tonic: float = Field(0.002, description="tonic dopamine")
    reward: float = Field(0.5, description="dopamine delivered per reward")
    update_every_ms: float = Field(10.0, gt=0, description="weight update interval")
    interval_ms: float = Field(20.0, gt=0, description="post-after-pre window that earns "
                                                       "a reward (ms)")
    reward_delay_min_ms: float = Field(1000.0, gt=0, description="shortest reward delay")
    reward_delay_max_ms: float = Field(3000.0, gt=0, description="longest reward delay")
    duration_s: float = Field(3600.0, gt=0, description="simulated time (s)")
    chunk_ms: float = Field(1000.0, gt=0, description="longest compiled run between "
                                                      "reward checks")
    record_every_s: float = Field(10.0, gt=0, description="interval of /series/synapse")
    raster_s: float = Field(2.0, ge=0, description="seconds of spikes stored at the start "
                                                   "and at the end")

    @model_validator(mode="after")
    def _consistent(self):
        if self.reward_delay_max_ms < self.reward_delay_min_ms:
            raise ValueError(f"reward_delay_max_ms ({self.reward_delay_max_ms}) must not be "
                             f"below reward_delay_min_ms ({self.reward_delay_min_ms})")
        if self.chunk_ms > self.reward_delay_min_ms:
            raise ValueError(f"chunk_ms ({self.chunk_ms}) must not exceed "
                             f"reward_delay_min_ms ({self.reward_delay_min_ms}): a pairing "
                             f"must be seen before its reward is due")
        if self.latency_ms < self.dt_ms - 1e-9:
            raise ValueError(f"latency_ms ({self.latency_ms}) must be at least dt_ms "
                             f"({self.dt_ms}): every spike takes one step")
        if self.w_init > self.w_max:
            raise ValueError(f"w_init ({self.w_init}) must not exceed w_max "
                             f"({self.w_max})")
        self.network()  # every network-level check before a run file exists
        return self

    def network(self):
        from plasticity.spiking import Izhikevich, Network, RewardSTDP, Synapses

        def neurons(n, preset):
            return Izhikevich(n=n, preset=preset, noise=self.noise, method="izhikevich2007",
                              synapse="delta")

        rule = RewardSTDP(tau_plus_ms=self.tau_stdp_ms, tau_minus_ms=self.tau_stdp_ms,
                          a_plus=self.a_plus, a_minus=self.a_minus, pairing="nearest",
                          tau_c_ms=self.tau_c_ms, tau_d_ms=self.tau_d_ms, eta=self.eta,
                          d_tonic=self.d_tonic, update_every_ms=self.update_every_ms)

        delay = self.latency_ms - self.dt_ms

        def exc(target):
            return Synapses(name=f"exc_{target}", source="exc", target=target,
                            connect="random", p=self.p_exc, w_init=self.w_init,
                            w_max=self.w_max, delay_ms=delay, plasticity=rule)

        return Network(dt_ms=self.dt_ms,
                       groups={"exc": neurons(self.n_exc, "rs"),
                               "inh": neurons(self.n_inh, "fs")},
                       synapses=[exc("exc"), exc("inh"),
                                 Synapses(name="inh_exc", source="inh", target="exc",
                                          connect="random", p=self.p_inh, receptor="i",
                                          w_init=self.w_inh, w_max=max(self.w_inh, 1e-9),
                                          delay_ms=delay)])


class RewardSchedule:
    """Rewards earned by post-after-pre pairings of one synapse, delivered later.

    Parameters
    ----------
    pre, post : int
        The synapse's presynaptic and postsynaptic neurons.
    interval_ms : float
        A postsynaptic spike strictly later than, and less than ``interval_ms`` after,
        the latest presynaptic spike earns a reward.
    delay_ms : callable
        ``delay_ms()`` draws the delay of one reward (ms).
    """

    def __init__(self, pre, post, interval_ms, delay_ms):
        self.pre, self.post, self.interval = pre, post, interval_ms
        self.delay = delay_ms
        self.last_pre = -math.inf
        self.pending: list[float] = []

    def observe(self, times_ms, ids):
        """Scan a time-sorted stretch of spikes; schedule the rewards they earn."""
        sel = (ids == self.pre) | (ids == self.post)
        # at equal times the presynaptic spike comes first: same-step pairs earn nothing
        for t, i in sorted(zip(times_ms[sel], ids[sel], strict=True),
                           key=lambda ti: (ti[0], ti[1] != self.pre)):
            if i == self.pre:
                self.last_pre = t
            elif 0 < t - self.last_pre < self.interval:
                heapq.heappush(self.pending, t + self.delay())

    def next_due(self) -> float:
        return self.pending[0] if self.pending else math.inf

    def pop_due(self, now_ms, tol=1e-9) -> int:
        """Remove and count the rewards due at or before ``now_ms``."""
        n = 0
        while self.pending and self.pending[0] <= now_ms + tol:
            heapq.heappop(self.pending)
            n += 1
        return n


def _rank_stats(w_all, w_syn):
    """Percentage of synapses stronger than ``w_syn``, and its z-score."""
    sd = float(w_all.std())
    return (100.0 * float(np.mean(w_all > w_syn)),
            (w_syn - float(w_all.mean())) / sd if sd > 0 else float("nan"))


def run(cfg: DistalRewardConfig, ctx):
    from plasticity.spiking import Recording
    from plasticity.spiking.numba import NumbaSimulator

    net = cfg.network()
    sim = NumbaSimulator(net, seed=[ctx.seed, 0],
                         recording=Recording(spikes=("exc", "inh"), rate_bin_ms=1000.0))
    rng = ctx.child_rng()
    pre, post = sim.connectivity("exc_exc")
    # the rewarded synapse: a random excitatory-to-excitatory one between two neurons
    candidates = np.flatnonzero(pre != post)
    k = int(rng.choice(candidates))
    w_ee = sim.weights("exc_exc")
    w_ee[k] = 0.0
    sim.set_weights("exc_exc", w_ee)
    dt = cfg.dt_ms
    lo, hi = cfg.reward_delay_min_ms, cfg.reward_delay_max_ms

    def delay():  # whole steps, as the rewards are delivered between steps
        return dt * math.ceil(rng.uniform(lo, hi) / dt - 1e-9)

    sched = RewardSchedule(int(pre[k]), int(post[k]), cfg.interval_ms, delay)
    rec = ctx.recorder
    rec.set_attrs(rewarded_synapse_index=k, rewarded_pre=int(pre[k]),
                  rewarded_post=int(post[k]), backend="numba")

    def all_weights():
        return np.concatenate([sim.weights(label) for label in PLASTIC])

    def record(t_ms):
        w_all = all_weights()
        w_syn = float(sim.weights("exc_exc")[k])
        rank, z = _rank_stats(w_all, w_syn)
        rec.append("synapse", t_ms, index="time", index_units="ms",
                   units={"w": "mV", "c": "mV", "mean": "mV", "p95": "mV", "p99": "mV",
                          "rank_pct": "%"},
                   w=w_syn, c=float(sim.eligibility("exc_exc")[k]), mean=float(w_all.mean()),
                   p95=float(np.percentile(w_all, 95)), p99=float(np.percentile(w_all, 99)),
                   rank_pct=rank, z=z)

    rec.snapshot("exc_weights", 0.0, all_weights(), units="mV", index="time",
                 index_units="ms")
    record(0.0)
    total = cfg.duration_s * 1e3
    every = cfg.record_every_s * 1e3
    next_record = every
    raster_ms = cfg.raster_s * 1e3
    n_rewards = 0
    counts = {"exc": 0, "inh": 0}
    t = 0.0
    with ctx.progress(round(total / 1e3), "distal-reward") as bar:
        bar.unit = "s"
        shown = 0
        while t < total - 1e-9:
            stop = min(t + cfg.chunk_ms, total, sched.next_due(), next_record)
            res = sim.run(stop - t)
            times, ids = res.spikes["exc"]
            sched.observe(times, ids)
            for group in ("exc", "inh"):
                g_t, g_i = res.spikes[group]
                counts[group] += g_t.size
                keep = (g_t < raster_ms) | (g_t >= total - raster_ms)
                if keep.any():
                    rec.spikes(group, g_t[keep], g_i[keep])
                for start, rate in zip(*res.rates[group], strict=True):
                    if start + 1000.0 <= stop + 1e-9:  # whole bins only
                        rec.append(f"rates/{group}", float(start), index="time",
                                   index_units="ms", units={"rate": "Hz"}, rate=float(rate))
            t = sim.t_ms
            due = sched.pop_due(t)
            if due:
                for label in PLASTIC:
                    sim.set_modulator(label, sim.modulator(label) + due * cfg.reward)
                for _ in range(due):
                    rec.append("rewards", t, index="time", index_units="ms",
                               units={"amount": "dopamine"}, amount=cfg.reward)
                n_rewards += due
            if t >= next_record - 1e-9:
                record(t)
                next_record += every
            if int(t / 1e3) > shown:
                bar.update(int(t / 1e3) - shown)
                shown = int(t / 1e3)
            rec.maybe_checkpoint()
    w_all = all_weights()
    rec.snapshot("exc_weights", t, w_all, units="mV", index="time", index_units="ms")
    w_syn = float(sim.weights("exc_exc")[k])
    rank, z = _rank_stats(w_all, w_syn)
    seconds = total / 1e3
    ctx.summary(rewarded_w_final_rel=w_syn / cfg.w_max, rewarded_rank_pct=rank,
                rewarded_z=z, n_rewards=n_rewards,
                mean_w_final_rel=float(w_all.mean()) / cfg.w_max,
                rate_exc_hz=counts["exc"] / (cfg.n_exc * seconds),
                rate_inh_hz=counts["inh"] / (cfg.n_inh * seconds),
                n_exc_synapses=int(w_all.size))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.32, ncols=3)
    w_max = run.config["w_max"]
    wmax_src = src("config:w_max")
    syn = run.series["synapse"]
    t_s = syn["time"] * 1e-3
    ts_src = src("series/synapse:time") * 1e-3
    traced(ax1.fill_between(t_s, 0, syn["p99"] / w_max, color=PALETTE[0], alpha=0.15, lw=0,
                            label="population, below 99th pct"),
           x=ts_src, y1=0.0, y2=src("series/synapse:p99") / wmax_src)
    traced(ax1.plot(t_s, syn["mean"] / w_max, color=PALETTE[0], lw=1,
                    label="population mean")[0],
           x=ts_src, y=src("series/synapse:mean") / wmax_src)
    traced(ax1.plot(t_s, syn["w"] / w_max, color=PALETTE[1], lw=1.2,
                    label="rewarded synapse")[0],
           x=ts_src, y=src("series/synapse:w") / wmax_src)
    if "rewards" in run.series:
        r_t = run.series["rewards"]["time"] * 1e-3
        # the rewards are marks in a row above the weights: only their times are data
        traced(ax1.plot(r_t, np.full(r_t.size, 1.03), "|", color=PALETTE[2], ms=4,
                        label="rewards")[0], x=src("series/rewards:time") * 1e-3, y=1.03)
    ax1.set_ylim(0, 1.08)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("w / w_max")
    ax1.set_title("a  rewarded synapse vs population", loc="left")
    ax1.legend(frameon=False, fontsize=6, loc="center right")
    w_end = run.snapshots["exc_weights"]["value"][-1] / w_max
    counts, edges, bars = ax2.hist(w_end, bins=40, range=(0, 1), color=PALETTE[0])
    w_src = src("snapshots/exc_weights:value")[-1] / wmax_src
    traced(bars, x=(edges[:-1] + edges[1:]) / 2,
           height=w_src.map(lambda w: np.histogram(w, bins=40, range=(0, 1))[0], "hist40"))
    traced(ax2.axvline(run.summary["rewarded_w_final_rel"], color=PALETTE[1], lw=1.2),
           x=src("summary:rewarded_w_final_rel"))
    ax2.set_yscale("log")
    ax2.set_xlabel("w / w_max (end)")
    ax2.set_ylabel("synapses")
    ax2.set_title("b  final weights (line: rewarded)", loc="left")
    rates = run.series["rates/exc"]
    traced(ax3.plot(rates["time"] * 1e-3, rates["rate"], color=PALETTE[0], lw=0.6,
                    label="exc")[0],
           x=src("series/rates/exc:time") * 1e-3, y=src("series/rates/exc:rate"))
    if "rates/inh" in run.series:
        ri = run.series["rates/inh"]
        traced(ax3.plot(ri["time"] * 1e-3, ri["rate"], color=PALETTE[3], lw=0.6,
                        label="inh")[0],
               x=src("series/rates/inh:time") * 1e-3, y=src("series/rates/inh:rate"))
    ax3.set_xlabel("time (s)")
    ax3.set_ylabel("rate (Hz)")
    ax3.set_title("c  population rates", loc="left")
    ax3.legend(frameon=False, fontsize=6)
    return fig


EXPERIMENT = Experiment(
    name="distal-reward",
    description="Dopamine-modulated STDP credits a synapse rewarded 1-3 s after its "
                "pairings (Izhikevich 2007).",
    config=DistalRewardConfig,
    run=run,
    plot=plot,
    presets={"quick": {"duration_s": 1800.0}, "full": {"duration_s": 3600.0}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
