"""Oja's rule extracts the first principal component of correlated Gaussian input.

Reproduces: E. Oja (1982), "A simplified neuron model as a principal component analyzer",
J. Math. Biol. 15:267-273. A linear neuron y = w.x with dw = eta y (x - y w) converges to
the unit-norm eigenvector of the input covariance with the largest eigenvalue (when the
input is centred; otherwise to that of the correlation matrix E[x x^T]).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from plasticity.experiment import Config, Experiment


class OjaConfig(Config):
    n_inputs: int = Field(20, ge=1, description="input dimension")
    eta: float = Field(0.005, gt=0, description="learning rate (per sample)")
    n_samples: int = Field(20000, ge=1, description="input samples in the whole run")
    window: int = Field(100, ge=1, description="samples per recorded update")
    center: bool = Field(True, description="subtract the running input mean")
    mean_offset: float = Field(1.0, description="mean of every input")
    lam_1: float = Field(1.0, gt=0, description="largest input variance")
    ratio: float = Field(0.6, gt=0, lt=1, description="successive eigenvalue ratio")
    snapshot_every: int = Field(20, ge=1, description="updates between weight snapshots")


def run(cfg: OjaConfig, ctx):
    from plasticity.analysis import abs_cosine
    from plasticity.engine import Batch, Probe, train
    from plasticity.rules.hebbian import Oja
    from plasticity.tasks import CorrelatedGaussian

    data_rng, init_rng = ctx.child_rng(), ctx.child_rng()
    task = CorrelatedGaussian(cfg.n_inputs, data_rng, lam_1=cfg.lam_1, ratio=cfg.ratio,
                              mean_offset=cfg.mean_offset)
    pc1 = task.principal_components(1)[0]
    # without centring the fixed point is the top eigenvector of E[x x^T] = C + m m^T
    corr1 = np.linalg.eigh(task.covariance + np.outer(task.mean, task.mean))[1][:, -1]
    params = {"W_out": init_rng.normal(0.0, 1.0 / np.sqrt(cfg.n_inputs), (1, cfg.n_inputs))}
    n_updates = -(-cfg.n_samples // cfg.window)
    running = {"sum": np.zeros(cfg.n_inputs), "n": 0}
    ctx.checkpointer.track("running_mean", running)

    def next_batch(step):
        n = min(cfg.window, cfg.n_samples - (step - 1) * cfg.window)
        x = task.sample(n, data_rng)
        if cfg.center:
            # the neuron can only know the mean it has seen so far
            running["sum"] += x.sum(axis=0)
            running["n"] += n
            x = x - running["sum"] / running["n"]
        return Batch(x=x)

    rec = ctx.recorder

    def record(step, p, state, delta, batch):
        w = p["W_out"][0]
        rec.append("training", step, units={"samples": "samples", "cos_to_pc1": "1",
                                            "weight_norm": "1"},
                   samples=min(step * cfg.window, cfg.n_samples),
                   cos_to_pc1=abs_cosine(w, pc1), weight_norm=float(np.linalg.norm(w)))
        if step % cfg.snapshot_every == 0 or step == n_updates:
            rec.snapshot("W_out", step, p["W_out"])

    rec.snapshot("W_out", 0, params["W_out"])
    rec.snapshot("pc1", 0, pc1)
    with ctx.progress(n_updates, "oja-pca") as bar:
        params, _ = train(Oja(eta=cfg.eta), params, n_updates=n_updates,
                          next_batch=next_batch, signals=lambda p, b: {"input": b.x},
                          probes=[Probe(record)], progress=bar)
    w = params["W_out"][0]
    ctx.summary(cos_to_pc1=abs_cosine(w, pc1), weight_norm=float(np.linalg.norm(w)),
                cos_to_corr1=abs_cosine(w, corr1), n_samples=cfg.n_samples)


def memory(cfg: OjaConfig):
    """The dominant arrays of a run (:mod:`plasticity.io.memory`): the task's random basis
    and its scaled copy stay resident; at the peak the covariance, the correlation
    matrix E[x x^T] and its eigenvectors sit beside them, with LAPACK's workspace and
    NumPy's temporaries of the eigendecomposition. Measured (tracemalloc) at n_inputs =
    700: peak 4.1 n_inputs^2 float64 with Python 3.11 / NumPy 2.3 and 7.0 with Python
    3.13 / NumPy 2.5; the estimate, 8 n_inputs^2, covers both."""
    from plasticity.io.memory import MemoryEstimate, array_bytes

    n = cfg.n_inputs
    return (MemoryEstimate()
            .add("the input basis and its scaled copy", "2 x n_inputs x n_inputs float64",
                 2 * array_bytes(n, n))
            .add("the input covariance, E[x x^T] and its eigenvectors",
                 "3 x n_inputs x n_inputs float64", 3 * array_bytes(n, n))
            .add("the eigendecomposition's workspace and temporaries",
                 "3 x n_inputs x n_inputs float64", 3 * array_bytes(n, n))
            .add("a window of input samples", "3 x window x n_inputs float64",
                 3 * array_bytes(min(cfg.window, cfg.n_samples), n)))


def plot(run):
    from matplotlib.ticker import MaxNLocator

    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import apply, src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.33, ncols=2)
    t = run.series["training"]
    samples = src("series/training:samples")
    traced(ax1.plot(t["samples"], t["cos_to_pc1"], color=PALETTE[0], label="|cos(w, PC1)|")[0],
           x=samples, y=src("series/training:cos_to_pc1"))
    traced(ax1.plot(t["samples"], t["weight_norm"], color=PALETTE[1], label="|w|")[0],
           x=samples, y=src("series/training:weight_norm"))
    traced(ax1.axhline(1.0, color="0.6", lw=0.6, ls="--"), y=1.0)
    ax1.set_xlabel("samples")
    ax1.set_ylabel("value (dimensionless)")
    ax1.legend(loc="lower right")
    ax1.set_title("a  convergence", loc="left")
    w = run.snapshots["W_out"]["value"][-1][0]
    pc1 = run.snapshots["pc1"]["value"][0]
    w = w * np.sign(w @ pc1) if w @ pc1 != 0 else w
    idx = np.arange(len(w))
    pc1_src = src("snapshots/pc1:value")[0]
    traced(ax2.bar(idx - 0.2, pc1, width=0.4, color=PALETTE[2], label="PC1"),
           x=idx - 0.2, height=pc1_src)
    signed = apply(lambda w, p: w * np.sign(w @ p) if w @ p != 0 else w,
                   src("snapshots/W_out:value")[-1, 0], pc1_src, name="sign_to_pc1")
    traced(ax2.bar(idx + 0.2, w, width=0.4, color=PALETTE[0], label="learned w"),
           x=idx + 0.2, height=signed)
    # the inputs are numbered: a tick between two bars would name no input
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_xlabel("input index")
    ax2.set_ylabel("component")
    ax2.legend()
    ax2.set_title(f"b  final weights (|cos| = {run.summary['cos_to_pc1']:.4f})", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="oja-pca",
    description="Oja's rule finds the first principal component (Oja 1982).",
    config=OjaConfig,
    run=run,
    plot=plot,
    resumable=True,
    memory=memory,
    presets={"quick": {}, "full": {"n_inputs": 100, "n_samples": 400000, "eta": 0.001,
                                   "window": 400}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
