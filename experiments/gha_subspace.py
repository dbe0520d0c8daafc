"""Sanger's generalised Hebbian algorithm extracts the top-k principal components.

Reproduces: T. D. Sanger (1989), "Optimal unsupervised learning in a single-layer linear
feedforward neural network", Neural Networks 2:459-473. With y = W x and
dW = eta (y x^T - LT[y y^T] W), the rows of W converge, in order, to the unit eigenvectors
of the input covariance with the k largest eigenvalues.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import Config, Experiment


class GHAConfig(Config):
    n_inputs: int = Field(20, ge=1, description="input dimension")
    n_components: int = Field(3, ge=1, description="components to extract (rows of W)")
    eta: float = Field(0.005, gt=0, description="learning rate (per sample)")
    n_samples: int = Field(40000, ge=1, description="input samples in the whole run")
    window: int = Field(200, ge=1, description="samples per recorded update")
    lam_1: float = Field(1.0, gt=0, description="largest input variance")
    ratio: float = Field(0.6, gt=0, lt=1, description="successive eigenvalue ratio")

    @model_validator(mode="after")
    def _k_le_n(self):
        if self.n_components > self.n_inputs:
            raise ValueError(f"n_components ({self.n_components}) must be <= n_inputs "
                             f"({self.n_inputs})")
        return self


def run(cfg: GHAConfig, ctx):
    from plasticity.analysis import abs_cosine, subspace_cosines
    from plasticity.engine import Batch, Probe, train
    from plasticity.rules.hebbian import Sanger
    from plasticity.tasks import CorrelatedGaussian

    data_rng, init_rng = ctx.child_rng(), ctx.child_rng()
    task = CorrelatedGaussian(cfg.n_inputs, data_rng, lam_1=cfg.lam_1, ratio=cfg.ratio)
    pcs = task.principal_components(cfg.n_components)
    k = cfg.n_components
    params = {"W_out": init_rng.normal(0.0, 0.1 / np.sqrt(cfg.n_inputs), (k, cfg.n_inputs))}
    n_updates = -(-cfg.n_samples // cfg.window)

    def next_batch(step):
        n = min(cfg.window, cfg.n_samples - (step - 1) * cfg.window)
        return Batch(x=task.sample(n, data_rng))

    rec = ctx.recorder

    def record(step, p, state, delta, batch):
        w = p["W_out"]
        rec.append("training", step, samples=min(step * cfg.window, cfg.n_samples),
                   subspace_cos_min=float(subspace_cosines(w, pcs)[-1]),
                   component_cos=np.array([abs_cosine(w[i], pcs[i]) for i in range(k)]),
                   row_norms=np.linalg.norm(w, axis=1),
                   units={"samples": "samples", "subspace_cos_min": "1",
                          "component_cos": "1", "row_norms": "1"})

    rec.snapshot("pcs", 0, pcs)
    with ctx.progress(n_updates, "gha-subspace") as bar:
        params, _ = train(Sanger(eta=cfg.eta), params, n_updates=n_updates,
                          next_batch=next_batch, signals=lambda p, b: {"input": b.x},
                          probes=[Probe(record)], progress=bar)
    w = params["W_out"]
    rec.snapshot("W_out", n_updates, w)
    comp = [abs_cosine(w[i], pcs[i]) for i in range(k)]
    ctx.summary(subspace_cos_min=float(subspace_cosines(w, pcs)[-1]),
                component_cos_min=float(min(comp)),
                row_norm_max_error=float(np.max(np.abs(np.linalg.norm(w, axis=1) - 1))),
                n_components=k)


def memory(cfg: GHAConfig):
    """The dominant arrays (:mod:`plasticity.io.memory`): the task's random basis, its
    scaled copy and the QR factorisation that draws it (peak about 4.2 n_inputs^2
    float64, measured for oja-pca's identical task), and a window of samples."""
    from plasticity.io.memory import MemoryEstimate, array_bytes

    n = cfg.n_inputs
    return (MemoryEstimate()
            .add("the input basis, its scaled copy and the QR that draws it",
                 "4 x n_inputs x n_inputs float64", 4 * array_bytes(n, n))
            .add("a window of input samples", "3 x window x n_inputs float64",
                 3 * array_bytes(min(cfg.window, cfg.n_samples), n)))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import apply, src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.33, ncols=2)
    t = run.series["training"]
    samples = src("series/training:samples")
    for i in range(t["component_cos"].shape[1]):
        traced(ax1.plot(t["samples"], t["component_cos"][:, i],
                        color=PALETTE[i % len(PALETTE)], label=f"row {i + 1} vs PC{i + 1}")[0],
               x=samples, y=src("series/training:component_cos")[:, i])
    traced(ax1.plot(t["samples"], t["subspace_cos_min"], color="k", ls="--",
                    label="subspace (min)")[0],
           x=samples, y=src("series/training:subspace_cos_min"))
    ax1.set_xlabel("samples")
    ax1.set_ylabel("|cos|")
    ax1.set_ylim(0, 1.02)
    ax1.legend(loc="lower right")
    ax1.set_title("a  convergence, in order", loc="left")
    w = run.snapshots["W_out"]["value"][-1]
    pcs = run.snapshots["pcs"]["value"][0]
    traced(ax2.imshow(np.abs(w @ pcs.T), vmin=0, vmax=1, cmap="Greys"),
           array=apply(lambda w, p: np.abs(w @ p.T), src("snapshots/W_out:value")[-1],
                       src("snapshots/pcs:value")[0], name="abs_W_PCt"))
    ax2.set_xlabel("principal component")
    ax2.set_ylabel("row of W")
    ax2.set_title("b  |W PC^T| (identity when learned)", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="gha-subspace",
    description="Sanger's rule extracts the top-k principal subspace (Sanger 1989).",
    config=GHAConfig,
    run=run,
    plot=plot,
    memory=memory,
    presets={"quick": {}, "full": {"n_inputs": 50, "n_components": 5, "eta": 0.001,
                                   "n_samples": 600000, "window": 1000}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
