"""The STDP window measured with the pairing protocol reproduces the configured one.

The protocol of Bi & Poo (1998, J Neurosci 18:10464): a presynaptic and a postsynaptic
spike at a fixed lag, repeated ``n_pairings`` times, far enough apart (at least 30 time
constants) that pairings do not interact. Each lag gets its own synapse between two spike
generators, so the whole curve comes from one simulation. With additive pair STDP the
change per pairing must equal the configured window

    W(lag) = w_max a_plus exp(-lag / tau_plus)      for lag >= 0 (post after pre),
    W(lag) = -w_max a_minus exp(lag / tau_minus)    for lag < 0,

at the lags rounded to the time step. The Numba engine should reproduce it to
floating-point precision (its traces decay by repeated multiplication, so the error grows
only like the number of steps times the machine epsilon); Brian2 evaluates its traces
lazily with ``exp`` and should agree within a similar tolerance.

Summary: ``max_abs_error`` (weight units per pairing), ``max_rel_error`` (that over
max |W|), ``peak_ltp`` and ``peak_ltd`` (measured extremes per pairing), ``tau_plus_fit``
and ``tau_minus_fit`` (log-linear fits to the measured sides, ms), ``backend``.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import Experiment
from plasticity.spiking.backends import check_config
from plasticity.spiking.runner import SpikingConfig


class WindowConfig(SpikingConfig):
    lags_ms: list[Annotated[float, Field(ge=-1000, le=1000)]] = Field(
        [float(x) for x in range(-100, 101, 2)], min_length=2,
        description="post minus pre spike lags (ms)")
    n_pairings: int = Field(10, ge=1, description="pairings per lag")
    interval_ms: float = Field(1000.0, gt=0, description="time between pairings (ms)")
    tau_plus_ms: float = Field(20.0, gt=0, description="potentiation time constant (ms)")
    tau_minus_ms: float = Field(20.0, gt=0, description="depression time constant (ms)")
    a_plus: float = Field(0.01, gt=0, description="potentiation amplitude (units of w_max)")
    a_minus: float = Field(0.0105, gt=0, description="depression amplitude (units of w_max)")
    dt_ms: float = Field(0.1, gt=0, description="time step (ms)")

    @model_validator(mode="after")
    def _protocol(self):
        longest = max(self.tau_plus_ms, self.tau_minus_ms)
        if self.interval_ms < 30 * longest + max(abs(x) for x in self.lags_ms):
            raise ValueError(f"interval_ms ({self.interval_ms}) must exceed 30 time "
                             f"constants plus the largest lag, so that pairings do not "
                             f"interact")
        if self.n_pairings * max(self.a_plus, self.a_minus) >= 0.5:
            raise ValueError("n_pairings x amplitude must stay below 0.5 so that the "
                             "weights (starting at w_max / 2) never reach a bound")
        self.network()
        return self

    def rule(self):
        from plasticity.spiking import PairSTDP

        return PairSTDP(tau_plus_ms=self.tau_plus_ms, tau_minus_ms=self.tau_minus_ms,
                        a_plus=self.a_plus, a_minus=self.a_minus)

    def grid_lags(self):
        """The lags as the simulation sees them: whole time steps."""
        return np.rint(np.asarray(self.lags_ms) / self.dt_ms) * self.dt_ms

    def trains(self):
        lags = self.grid_lags()
        t0 = float(np.ceil((max(0.0, -lags.min()) + 10.0) / self.dt_ms) * self.dt_ms)
        starts = t0 + self.interval_ms * np.arange(self.n_pairings)
        return [(starts, starts + lag) for lag in lags], t0

    def network(self):
        from plasticity.spiking.protocols import pairing_network

        return pairing_network(self.trains()[0], self.rule(), dt_ms=self.dt_ms,
                               w_init=0.5, w_max=1.0)


def run(cfg: WindowConfig, ctx):
    from plasticity.spiking import Recording
    from plasticity.spiking.protocols import window
    from plasticity.spiking.runner import make_simulator, simulate_into

    net = cfg.network()
    lags = cfg.grid_lags()
    _, t0 = cfg.trains()
    duration = t0 + cfg.n_pairings * cfg.interval_ms + max(0.0, lags.max()) + 10 * cfg.dt_ms
    sim = make_simulator(net, cfg, [ctx.seed, 0], Recording(spikes=(), rate_bin_ms=1e9))
    ctx.recorder.set_attrs(backend=cfg.backend)
    w0 = sim.weights("pairs")
    simulate_into(sim, duration, ctx, desc="stdp-window")
    measured = (sim.weights("pairs") - w0) / cfg.n_pairings
    theory = window(lags, cfg.rule())
    for lag, m, th in zip(lags, measured, theory, strict=True):
        ctx.recorder.append("window", float(lag), index="lag", index_units="ms",
                            units={"dw_measured": "w_max", "dw_theory": "w_max"},
                            dw_measured=float(m), dw_theory=float(th))
    err = np.abs(measured - theory)
    ctx.summary(max_abs_error=float(err.max()),
                max_rel_error=float(err.max() / np.abs(theory).max()),
                peak_ltp=float(measured.max()), peak_ltd=float(measured.min()),
                tau_plus_fit=_fit_tau(lags[lags >= 0], measured[lags >= 0]),
                tau_minus_fit=_fit_tau(-lags[lags < 0], -measured[lags < 0]),
                n_lags=int(lags.size), backend=cfg.backend,
                brian2_target_used=getattr(sim, "target_used", "n/a"))


def _fit_tau(x, y):
    """Time constant of y = A exp(-x / tau) by a log-linear fit (NaN if not positive)."""
    ok = y > 0
    if ok.sum() < 2:
        return float("nan")
    slope = np.polyfit(x[ok], np.log(y[ok]), 1)[0]
    return float(-1.0 / slope) if slope < 0 else float("nan")


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.35, ncols=2)
    w = run.series["window"]
    lag, theory = src("series/window:lag"), src("series/window:dw_theory")
    measured = src("series/window:dw_measured")
    traced(ax1.axhline(0, color="0.7", lw=0.5), y=0.0)
    traced(ax1.axvline(0, color="0.7", lw=0.5), x=0.0)
    traced(ax1.plot(w["lag"], w["dw_theory"], color="0.5", lw=1.5, label="configured")[0],
           x=lag, y=theory)
    traced(ax1.plot(w["lag"], w["dw_measured"], "o", ms=2.5, color=PALETTE[0],
                    label=f"measured ({run.summary['backend']})")[0], x=lag, y=measured)
    ax1.set_xlabel(r"$t_\mathrm{post} - t_\mathrm{pre}$ (ms)")
    ax1.set_ylabel(r"$\Delta w$ per pairing ($w_\mathrm{max}$)")
    ax1.set_title("a  STDP window", loc="left")
    ax1.legend()
    err = np.abs(w["dw_measured"] - w["dw_theory"])
    traced(ax2.semilogy(w["lag"], np.maximum(err, 1e-20), ".", color=PALETTE[1])[0],
           x=lag, y=(measured - theory).map(lambda e: np.maximum(np.abs(e), 1e-20),
                                            "abs_floor_1e-20"))
    ax2.set_xlabel(r"$t_\mathrm{post} - t_\mathrm{pre}$ (ms)")
    ax2.set_ylabel("|measured - configured|")
    ax2.set_title(f"b  error (max rel. {run.summary['max_rel_error']:.1e})", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="stdp-window",
    description="Pairing protocol: the measured STDP window equals the configured one "
                "(Bi & Poo 1998).",
    config=WindowConfig,
    run=run,
    plot=plot,
    check=check_config,
    presets={"quick": {}, "full": {"lags_ms": [x / 2 for x in range(-200, 201)],
                                   "n_pairings": 20, "a_plus": 0.005, "a_minus": 0.00525}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
