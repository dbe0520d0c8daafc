"""A BCM neuron shown K input patterns becomes selective to one of them.

Reproduces: E. L. Bienenstock, L. N. Cooper & P. W. Munro (1982), J. Neurosci. 2:32-48,
in the form of N. Intrator & L. N. Cooper (1992), Neural Networks 5:3-17:
dw = eta x y (y - theta), with the sliding threshold theta tracking E[y^2]. With K
equiprobable patterns the stable fixed points respond to a single pattern, with
response y_pref = K (since theta = y_pref^2 / K must equal y_pref), and to the others 0.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from plasticity.experiment import Config, Experiment


class BCMConfig(Config):
    n_patterns: int = Field(5, ge=2, description="number of input patterns K")
    n_inputs: int = Field(20, ge=2, description="input dimension")
    eta: float = Field(0.002, gt=0, description="learning rate (per presentation)")
    tau_theta: float = Field(20.0, ge=1, description="threshold time constant (presentations)")
    n_samples: int = Field(100000, ge=1, description="pattern presentations")
    window: int = Field(500, ge=1, description="presentations per recorded update")
    active: float = Field(0.3, gt=0, le=1, description="fraction of inputs on per pattern")


def run(cfg: BCMConfig, ctx):
    from plasticity.engine import Batch, Probe, train
    from plasticity.rules.hebbian import BCM
    from plasticity.tasks import PatternSet

    task_rng, data_rng, init_rng = ctx.child_rng(), ctx.child_rng(), ctx.child_rng()
    task = PatternSet(cfg.n_patterns, cfg.n_inputs, task_rng, active=cfg.active)
    params = {"W_out": init_rng.uniform(0.0, 0.2, (1, cfg.n_inputs))}
    n_updates = -(-cfg.n_samples // cfg.window)
    rule = BCM(eta=cfg.eta, tau_theta=cfg.tau_theta, theta0=0.0)

    def next_batch(step):
        n = min(cfg.window, cfg.n_samples - (step - 1) * cfg.window)
        return Batch(x=task.sample(n, data_rng)[0])

    def responses(p):
        return np.maximum(task.patterns @ p["W_out"][0], 0.0)

    rec = ctx.recorder
    history = []

    def record(step, p, state, delta, batch):
        history.append(responses(p))
        rec.append("training", step, units={"samples": "presentations", "responses": "1",
                                            "theta": "1"},
                   samples=min(step * cfg.window, cfg.n_samples), responses=responses(p),
                   theta=float(np.ravel(state)[0]))

    rec.snapshot("patterns", 0, task.patterns)
    with ctx.progress(n_updates, "bcm-selectivity") as bar:
        params, _ = train(rule, params, n_updates=n_updates, next_batch=next_batch,
                          signals=lambda p, b: {"input": b.x}, probes=[Probe(record)],
                          progress=bar)
    # the weights fluctuate around the fixed point (step size eta); the time average over
    # the last quarter of the run estimates where they sit
    r = np.mean(history[-max(1, len(history) // 4):], axis=0)
    pref = int(np.argmax(r))
    others = np.delete(r, pref)
    ctx.summary(selectivity=float(1 - others.mean() / r[pref]) if r[pref] > 0 else 0.0,
                preferred_response=float(r[pref]), preferred_pattern=pref,
                predicted_response=float(cfg.n_patterns), n_patterns=cfg.n_patterns)


def memory(cfg: BCMConfig):
    """The dominant arrays (:mod:`plasticity.io.memory`): the patterns (and their
    normalised copy), a window of presentations, and the responses kept per update
    (an array of n_patterns floats, ~100 bytes of Python object each)."""
    from plasticity.io.memory import MemoryEstimate, array_bytes

    n_updates = -(-cfg.n_samples // cfg.window)
    return (MemoryEstimate()
            .add("the input patterns", "2 x n_patterns x n_inputs float64",
                 2 * array_bytes(cfg.n_patterns, cfg.n_inputs))
            .add("a window of presentations", "2 x window x n_inputs float64",
                 2 * array_bytes(min(cfg.window, cfg.n_samples), cfg.n_inputs))
            .add("the responses kept per update",
                 "n_samples / window x (n_patterns float64 + ~100 B)",
                 n_updates * (array_bytes(cfg.n_patterns) + 100)))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.33, ncols=2)
    t = run.series["training"]
    k = t["responses"].shape[1]
    pref = run.summary["preferred_pattern"]
    samples, responses = src("series/training:samples"), src("series/training:responses")
    for i in range(k):
        traced(ax1.plot(t["samples"], t["responses"][:, i], color=PALETTE[i % len(PALETTE)],
                        lw=1.6 if i == pref else 0.9, label=f"pattern {i + 1}")[0],
               x=samples, y=responses[:, i])
    traced(ax1.plot(t["samples"], t["theta"], color="k", ls="--", lw=0.8,
                    label=r"$\theta$")[0], x=samples, y=src("series/training:theta"))
    traced(ax1.axhline(run.summary["predicted_response"], color="0.6", ls=":", lw=0.8),
           y=src("summary:predicted_response"))
    ax1.set_xlabel("presentations")
    ax1.set_ylabel("response y (a.u.)")
    ax1.legend(loc="upper left", ncol=2)
    ax1.set_title("a  responses during learning", loc="left")
    final = t["responses"][-max(1, len(t["responses"]) // 4):].mean(axis=0)
    traced(ax2.bar(np.arange(1, k + 1), final,
                   color=[PALETTE[i % len(PALETTE)] for i in range(k)]),
           x=np.arange(1, k + 1),
           height=responses.map(lambda r: r[-max(1, len(r) // 4):].mean(axis=0),
                                "mean_of_last_quarter"))
    ax2.set_xlabel("pattern")
    ax2.set_ylabel("response, last quarter (a.u.)")
    ax2.set_title(f"b  selectivity {run.summary['selectivity']:.3f}", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="bcm-selectivity",
    description="A BCM neuron becomes selective to one of K patterns (Bienenstock et al. 1982).",
    config=BCMConfig,
    run=run,
    plot=plot,
    memory=memory,
    presets={"quick": {}, "full": {"n_patterns": 10, "n_inputs": 50, "n_samples": 500000,
                                   "eta": 0.0005}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
