"""Plain Hebbian learning is unstable; normalising the weights makes it converge.

Reproduces the textbook argument (e.g. Dayan & Abbott 2001, ch. 8.2; Miller & MacKay 1994,
Neural Comput. 6:100-126): for y = w.x and dw = eta y x, the mean dynamics
dw/dt = eta C w grow without bound along the first principal component at the rate
eta * lambda_1 per sample (C the input correlation matrix). Multiplicative normalisation
(keeping |w| fixed) turns the same rule into a principal-component analyser.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from plasticity.experiment import Config, Experiment


class HebbConfig(Config):
    n_inputs: int = Field(20, ge=1, description="input dimension")
    eta: float = Field(0.002, gt=0, description="learning rate (per sample)")
    normalize: Literal["none", "multiplicative", "subtractive"] = Field(
        "none", description="weight normalisation after each sample")
    n_samples: int = Field(40000, ge=1, description="input samples at most")
    window: int = Field(20, ge=1, description="samples per recorded update")
    lam_1: float = Field(1.0, gt=0, description="largest input variance")
    ratio: float = Field(0.6, gt=0, lt=1, description="successive eigenvalue ratio")
    divergence_limit: float = Field(1e6, gt=0, description="largest allowed |weight|")


def run(cfg: HebbConfig, ctx):
    from plasticity.analysis import abs_cosine
    from plasticity.engine import Batch, Probe, train
    from plasticity.rules.hebbian import Hebb
    from plasticity.tasks import CorrelatedGaussian

    data_rng, init_rng = ctx.child_rng(), ctx.child_rng()
    task = CorrelatedGaussian(cfg.n_inputs, data_rng, lam_1=cfg.lam_1, ratio=cfg.ratio)
    pc1 = task.principal_components(1)[0]
    w0 = init_rng.normal(0.0, 1.0, (1, cfg.n_inputs))
    params = {"W_out": w0 / np.linalg.norm(w0)}
    n_updates = -(-cfg.n_samples // cfg.window)
    # expected log-growth per sample along PC1: log(1 + eta lambda_1)
    rate_theory = float(np.log1p(cfg.eta * cfg.lam_1))
    ctx.summary(growth_rate_theory=rate_theory, diverged_at_step=-1)
    traj = []  # (samples, |w|, |cos(w, PC1)|) after each update
    rec = ctx.recorder

    def next_batch(step):
        n = min(cfg.window, cfg.n_samples - (step - 1) * cfg.window)
        return Batch(x=task.sample(n, data_rng))

    def record(step, p, state, delta, batch):
        w = p["W_out"][0]
        traj.append((min(step * cfg.window, cfg.n_samples), float(np.linalg.norm(w)),
                     abs_cosine(w, pc1)))
        rec.append("training", step, units={"samples": "samples", "weight_norm": "1",
                                            "cos_to_pc1": "1"},
                   samples=traj[-1][0], weight_norm=traj[-1][1], cos_to_pc1=traj[-1][2])

    def finish():
        if len(traj) < 4:
            return
        s, n, c = np.array(traj).T
        # growth rate from the second half of the trajectory, once PC1 dominates
        half = len(s) // 2
        ctx.summary(growth_rate=float(np.polyfit(s[half:], np.log(n[half:]), 1)[0]),
                    weight_norm_final=float(n[-1]), cos_to_pc1=float(c[-1]))

    try:
        with ctx.progress(n_updates, "hebb-instability") as bar:
            train(Hebb(eta=cfg.eta, normalize=cfg.normalize), params, n_updates=n_updates,
                  next_batch=next_batch, signals=lambda p, b: {"input": b.x},
                  probes=[Probe(record)], progress=bar, divergence_limit=cfg.divergence_limit)
    finally:
        finish()


def memory(cfg: HebbConfig):
    """The dominant arrays (:mod:`plasticity.io.memory`): the task's random basis, its
    scaled copy and the QR factorisation that draws it (peak about 4.2 n_inputs^2
    float64, measured for oja-pca's identical task), a window of samples, and the
    trajectory kept for the growth-rate fit (a tuple of three floats per update, about
    200 bytes as Python objects)."""
    from plasticity.io.memory import MemoryEstimate, array_bytes

    n = cfg.n_inputs
    n_updates = -(-cfg.n_samples // cfg.window)
    return (MemoryEstimate()
            .add("the input basis, its scaled copy and the QR that draws it",
                 "4 x n_inputs x n_inputs float64", 4 * array_bytes(n, n))
            .add("a window of input samples", "3 x window x n_inputs float64",
                 3 * array_bytes(min(cfg.window, cfg.n_samples), n))
            .add("the trajectory", "n_samples / window rows, ~200 B each", 200 * n_updates))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import apply, src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.33, ncols=2)
    t = run.series["training"]
    s = run.summary
    samples, norm = src("series/training:samples"), src("series/training:weight_norm")
    traced(ax1.semilogy(t["samples"], t["weight_norm"], color=PALETTE[0], label="|w|")[0],
           x=samples, y=norm)
    if run.config["normalize"] == "none":
        ref = t["weight_norm"][len(t["samples"]) // 2]
        s0 = t["samples"][len(t["samples"]) // 2]

        def theory(x, w, rate):
            return w[len(x) // 2] * np.exp(rate * (x - x[len(x) // 2]))

        traced(ax1.semilogy(t["samples"],
                            ref * np.exp(s["growth_rate_theory"] * (t["samples"] - s0)),
                            color="0.5", ls="--", label=r"theory $e^{\eta\lambda_1 t}$")[0],
               x=samples, y=apply(theory, samples, norm, src("summary:growth_rate_theory")))
    ax1.set_xlabel("samples")
    ax1.set_ylabel("|w|")
    title = f"diverged at update {s['diverged_at_step']}" if run.status == "diverged" \
        else "bounded"
    ax1.set_title(f"a  weight norm ({title})", loc="left")
    ax1.legend()
    traced(ax2.plot(t["samples"], t["cos_to_pc1"], color=PALETTE[2])[0],
           x=samples, y=src("series/training:cos_to_pc1"))
    ax2.set_ylim(0, 1.02)
    ax2.set_xlabel("samples")
    ax2.set_ylabel("|cos(w, PC1)|")
    ax2.set_title("b  direction", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="hebb-instability",
    description="Plain Hebb diverges; with weight normalisation it converges (Miller & MacKay "
                "1994).",
    config=HebbConfig,
    run=run,
    plot=plot,
    memory=memory,
    presets={"quick": {}, "full": {"n_inputs": 100, "n_samples": 200000, "eta": 0.0005}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
