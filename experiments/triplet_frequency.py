"""Triplet STDP: post-pre pairing depresses at low frequency and potentiates at high.

Reproduces the frequency dependence of Sjostrom, Turrigiano & Nelson (2001, Neuron
32:1149) as captured by the triplet rule of Pfister & Gerstner (2006, J Neurosci 26:9673,
all-to-all model fitted to the visual-cortex data): ``n_pairings`` pre/post pairs at lag
+``lag_ms`` (pre first) or -``lag_ms`` (post first), repeated at 1 to 50 Hz. A pair rule
gives the same change at every frequency (for well-separated pairs); the triplet terms
(post-pre-post potentiation through the slow postsynaptic trace ``o2``) make post-pre
pairing switch from depression to potentiation as the frequency rises. ``crossover_hz``
is where the post-pre curve crosses zero (linear interpolation between the two
neighbouring frequencies that bracket it).

As in the paper, weights are unbounded in effect and changes are relative to the initial
weight: the simulation uses ``w_init = 1``, a bound ``w_max = 100`` far away, and the
paper's amplitudes divided by ``w_max`` (the rule's amplitudes are in units of ``w_max``),
so that a change of ``A`` in the paper is a change of ``A`` here. Every synapse's change is
also computed event by event in closed form (:func:`plasticity.spiking.protocols.stdp_change`);
``max_abs_error_vs_closed_form`` says how well the simulation matches it.

Summary: ``crossover_hz`` (NaN if the post-pre curve never changes sign),
``dw_post_pre_low`` / ``dw_post_pre_high`` and ``dw_pre_post_low`` / ``dw_pre_post_high``
(relative change in %, at the lowest and highest frequency),
``max_abs_error_vs_closed_form``, ``backend``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import Experiment
from plasticity.spiking.backends import check_config
from plasticity.spiking.network import TripletSTDP
from plasticity.spiking.runner import SpikingConfig

W_MAX = 100.0
_PAPER = TripletSTDP()


class TripletConfig(SpikingConfig):
    frequencies_hz: list[Annotated[float, Field(gt=0, le=500)]] = Field(
        [1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0],
        min_length=2, description="pairing frequencies (Hz)")
    lag_ms: float = Field(10.0, gt=0, description="|t_post - t_pre| (ms)")
    n_pairings: int = Field(60, ge=1, description="pairings per train")
    # the rule's own defaults (the paper's visual-cortex fit) are the experiment's
    tau_plus_ms: float = Field(_PAPER.tau_plus_ms, gt=0)
    tau_minus_ms: float = Field(_PAPER.tau_minus_ms, gt=0)
    tau_x_ms: float = Field(_PAPER.tau_x_ms, gt=0)
    tau_y_ms: float = Field(_PAPER.tau_y_ms, gt=0)
    a2_plus: float = Field(_PAPER.a2_plus, ge=0)
    a3_plus: float = Field(_PAPER.a3_plus, ge=0)
    a2_minus: float = Field(_PAPER.a2_minus, ge=0)
    a3_minus: float = Field(_PAPER.a3_minus, ge=0)
    pairing: Literal["all", "nearest"] = _PAPER.pairing
    dt_ms: float = Field(0.1, gt=0, description="time step (ms)")

    @model_validator(mode="after")
    def _protocol(self):
        if self.lag_ms > 500.0 / max(self.frequencies_hz):
            raise ValueError(f"lag_ms ({self.lag_ms}) must not exceed half the shortest "
                             f"period ({500.0 / max(self.frequencies_hz):g} ms)")
        self.network()
        return self

    def rule(self, scale=W_MAX):
        from plasticity.spiking import TripletSTDP

        return TripletSTDP(
            tau_plus_ms=self.tau_plus_ms, tau_minus_ms=self.tau_minus_ms,
            tau_x_ms=self.tau_x_ms, tau_y_ms=self.tau_y_ms, a2_plus=self.a2_plus / scale,
            a3_plus=self.a3_plus / scale, a2_minus=self.a2_minus / scale,
            a3_minus=self.a3_minus / scale, pairing=self.pairing)

    def trains(self):
        """``(frequency, sign, pre_ms, post_ms)`` per synapse; sign +1 is pre first."""
        dt = self.dt_ms
        out = []
        for f in self.frequencies_hz:
            starts = 20.0 + (1000.0 / f) * np.arange(self.n_pairings)
            starts = np.rint(starts / dt) * dt
            lag = np.rint(self.lag_ms / dt) * dt
            out.append((f, +1, starts, starts + lag))
            out.append((f, -1, starts + lag, starts))
        return out

    def network(self):
        from plasticity.spiking.protocols import pairing_network

        return pairing_network([(pre, post) for _, _, pre, post in self.trains()],
                               self.rule(), dt_ms=self.dt_ms, w_init=1.0, w_max=W_MAX)


def crossover(freqs, dw):
    """First frequency where ``dw`` goes from negative to non-negative (interpolated)."""
    for k in range(len(freqs) - 1):
        if dw[k] < 0 <= dw[k + 1]:
            return float(freqs[k] + (freqs[k + 1] - freqs[k]) * -dw[k] / (dw[k + 1] - dw[k]))
    return float("nan")


def run(cfg: TripletConfig, ctx):
    from plasticity.spiking import Recording
    from plasticity.spiking.protocols import stdp_change
    from plasticity.spiking.runner import make_simulator, simulate_into

    trains = cfg.trains()
    net = cfg.network()
    duration = max(max(pre.max(), post.max()) for _, _, pre, post in trains) + 50.0
    sim = make_simulator(net, cfg, [ctx.seed, 0], Recording(spikes=(), rate_bin_ms=1e9))
    ctx.recorder.set_attrs(backend=cfg.backend)
    w0 = sim.weights("pairs")
    simulate_into(sim, duration, ctx, desc="triplet-frequency")
    dw = sim.weights("pairs") - w0
    rule = cfg.rule()
    closed = np.array([stdp_change(pre, post, rule, w_max=W_MAX)
                       for _, _, pre, post in trains])
    freqs = np.array(cfg.frequencies_hz)
    order = np.argsort(freqs)
    pre_post = 100 * dw[0::2][order]   # % of the initial weight (w_init = 1)
    post_pre = 100 * dw[1::2][order]
    for f, a, b in zip(freqs[order], pre_post, post_pre, strict=True):
        ctx.recorder.append("frequency", float(f), index="frequency", index_units="Hz",
                            units={"dw_pre_post": "%", "dw_post_pre": "%"},
                            dw_pre_post=float(a), dw_post_pre=float(b))
    ctx.summary(crossover_hz=crossover(freqs[order], post_pre),
                dw_post_pre_low=float(post_pre[0]), dw_post_pre_high=float(post_pre[-1]),
                dw_pre_post_low=float(pre_post[0]), dw_pre_post_high=float(pre_post[-1]),
                max_abs_error_vs_closed_form=float(np.abs(dw - closed).max()),
                backend=cfg.backend,
                brian2_target_used=getattr(sim, "target_used", "n/a"))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, ax = figure("single")
    t = run.series["frequency"]
    freq = src("series/frequency:frequency")
    traced(ax.axhline(0, color="0.7", lw=0.5), y=0.0)
    traced(ax.plot(t["frequency"], t["dw_pre_post"], "o-", color=PALETTE[0], ms=3,
                   label=f"pre-post (+{run.config['lag_ms']:g} ms)")[0],
           x=freq, y=src("series/frequency:dw_pre_post"))
    traced(ax.plot(t["frequency"], t["dw_post_pre"], "s-", color=PALETTE[1], ms=3,
                   label=f"post-pre (-{run.config['lag_ms']:g} ms)")[0],
           x=freq, y=src("series/frequency:dw_post_pre"))
    x = run.summary.get("crossover_hz")
    if x is not None and np.isfinite(x):
        traced(ax.axvline(x, color="0.5", ls="--", lw=0.8), x=src("summary:crossover_hz"))
        ax.text(x, ax.get_ylim()[1], f" {x:.1f} Hz", va="top", fontsize=7)
    ax.set_xlabel("pairing frequency (Hz)")
    ax.set_ylabel(r"$\Delta w / w_0$ (%)")
    ax.set_title(f"triplet STDP ({run.summary['backend']})", loc="left")
    ax.legend()
    return fig


EXPERIMENT = Experiment(
    name="triplet-frequency",
    description="Triplet STDP: post-pre depression turns into potentiation at high "
                "frequency (Pfister & Gerstner 2006).",
    config=TripletConfig,
    run=run,
    plot=plot,
    check=check_config,
    presets={"quick": {}, "full": {"frequencies_hz": [float(f) for f in range(1, 51)]}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
