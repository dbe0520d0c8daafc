"""Gradient descent against node and weight perturbation in a linear network.

Reproduces: J. Werfel, X. Xie & H. S. Seung (2005), "Learning curves for stochastic
gradient descent in linear feedforward networks", Neural Comput. 17:2699-2718. Node
perturbation is slower than gradient descent by a factor that grows like the number of
outputs M, weight perturbation slower again by a factor that grows like the number of
inputs N.

Exact prediction (derived for this setting; online updates on one sample x ~ N(0, I_N),
loss L = 0.5 ||W - W*||_F^2, antithetic perturbations, K draws per update). With
E = W - W* and each rule's update -eta A G (G = e x^T the sample gradient, A the
estimator's random matrix), E||E'||^2 = f(eta) ||E||^2 with

    f(eta) = 1 - 2 eta + eta^2 (N + 2) c,   c = 1 (GD), (M + K + 1)/K (NP),
                                            (M N + K + 1)/K (WP),

using E[x x^T x x^T] = (N + 2) I and E[A^2] = (D + K + 1)/K I for A = K^-1 sum z z^T,
z ~ N(0, I_D). The best step is eta* = 1/((N + 2) c) and the expected loss decays as
exp(-rate t) with rate = -log(1 - 1/((N + 2) c)). The experiment finds each rule's best
step size by a search of its own and measures the rates from learning curves.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from plasticity.experiment import Config, Experiment

METHODS = ("gd", "np", "wp")


class WerfelConfig(Config):
    n_inputs: int = Field(8, ge=1, description="N, inputs")
    n_outputs: int = Field(4, ge=1, description="M, outputs")
    n_perturbations: int = Field(1, ge=1, description="K, perturbation draws per update")
    sigma: float = Field(1e-3, gt=0, description="perturbation size")
    n_reps: int = Field(32, ge=2, description="learning curves averaged per rate")
    search_reps: int = Field(8, ge=1, description="learning curves per step size searched")
    decay: float = Field(3.0, gt=0, description="e-folds of loss decay a curve must show")


def predicted_rate(method, n, m, k):
    """Exact decay rate of the expected loss per update at the best step size."""
    c = {"gd": 1.0, "np": (m + k + 1) / k, "wp": (m * n + k + 1) / k}[method]
    return float(-np.log1p(-1.0 / ((n + 2) * c)))


def _make_rule(method, net, eta, cfg):
    from plasticity.rules.gradient import Backprop
    from plasticity.rules.perturbation import NodePerturbation, WeightPerturbation

    if method == "gd":
        return Backprop(net=net, eta=eta)
    if method == "np":
        return NodePerturbation(net=net, eta=eta, sigma=cfg.sigma, n_samples=cfg.n_perturbations)
    return WeightPerturbation(eta=eta, sigma=cfg.sigma, n_samples=cfg.n_perturbations)


def _curves(method, eta, n_updates, n_reps, task, net, cfg, rng):
    """Mean population loss after each of ``n_updates`` updates over ``n_reps`` runs."""
    from plasticity.engine import Probe, train
    from plasticity.errors import Diverged

    w_star = task.teacher_params["W_out"]
    rule = _make_rule(method, net, eta, cfg)
    total = np.zeros(n_updates + 1)
    for _ in range(n_reps):
        params = {"W_out": np.zeros_like(w_star)}
        losses = np.full(n_updates + 1, np.inf)
        losses[0] = 0.5 * np.sum(w_star**2)

        def record(step, p, state, delta, batch, _l=losses):
            _l[step] = 0.5 * np.sum((p["W_out"] - w_star) ** 2)

        try:
            train(rule, params, n_updates=n_updates, next_batch=lambda s: task.batch(1, rng),
                  signals=lambda p, b: task.signals(net, p, b),
                  loss=lambda p, b: task.loss(net, p, b), rng=rng, probes=[Probe(record)],
                  divergence_limit=1e3)
        except Diverged:
            pass
        total += losses
    return total / n_reps


def _rate(curve):
    """Decay rate per update: slope of log mean loss over the curve's finite part."""
    t = np.arange(len(curve))
    ok = np.isfinite(curve) & (curve > 0)
    if ok.sum() < 3 or not ok[-1]:
        return -np.inf
    return float(-np.polyfit(t[ok], np.log(curve[ok]), 1)[0])


def _search(method, task, net, cfg, rng, rec):
    """Best step size by a coarse (x2) then fine (x2^1/4) grid; the curves are lengthened
    until the best one decays by ``cfg.decay`` e-folds.

    Returns
    -------
    (eta, n_updates)
        The best step size and the curve length that showed the decay.
    """
    n_updates = 32
    grid = 2.0 ** np.arange(-12, 2)
    while True:
        rates = [_rate(_curves(method, eta, n_updates, cfg.search_reps, task, net, cfg, rng))
                 for eta in grid]
        best = int(np.argmax(rates))
        if rates[best] * n_updates >= cfg.decay or n_updates >= 2**16:
            break
        # too short to tell the step sizes apart: lengthen, keeping the neighbourhood
        n_updates *= 2
        grid = grid[max(0, best - 3):best + 4]
    fine = grid[best] * 2.0 ** (np.arange(-4, 5) / 4)
    fine_rates = [_rate(_curves(method, eta, n_updates, cfg.search_reps, task, net, cfg, rng))
                  for eta in fine]
    for i, (eta, r) in enumerate(zip(np.r_[grid, fine], np.r_[rates, fine_rates],
                                     strict=True)):
        rec.append(f"search_{method}", i, eta=eta, rate=r, units={"eta": "1",
                                                                 "rate": "1/update"})
    return float(fine[int(np.argmax(fine_rates))]), n_updates


def run(cfg: WerfelConfig, ctx):
    from plasticity.tasks.supervised import LinearTeacher

    n, m, k = cfg.n_inputs, cfg.n_outputs, cfg.n_perturbations
    task = LinearTeacher(n, m, ctx.child_rng())
    net = task.student(bias=False)
    rng = ctx.child_rng()
    out = {}
    with ctx.progress(len(METHODS), "werfel-scaling") as bar:
        for method in METHODS:
            eta, n_final = _search(method, task, net, cfg, rng, ctx.recorder)
            pred = predicted_rate(method, n, m, k)
            curve = _curves(method, eta, n_final, cfg.n_reps, task, net, cfg, rng)
            rate = _rate(curve)
            for t in range(len(curve)):
                ctx.recorder.append(f"curve_{method}", t, mean_loss=curve[t],
                                    units={"mean_loss": "1"})
            out[method] = (eta, rate, pred)
            bar.update(1)
    s = {}
    for method, (eta, rate, pred) in out.items():
        s[f"eta_{method}"] = eta
        s[f"rate_{method}"] = rate
        s[f"rate_{method}_theory"] = pred
    s["ratio_gd_np"] = s["rate_gd"] / s["rate_np"]
    s["ratio_np_wp"] = s["rate_np"] / s["rate_wp"]
    s["ratio_gd_np_theory"] = s["rate_gd_theory"] / s["rate_np_theory"]
    s["ratio_np_wp_theory"] = s["rate_np_theory"] / s["rate_wp_theory"]
    s["ratio_gd_np_rel_error"] = abs(s["ratio_gd_np"] / s["ratio_gd_np_theory"] - 1)
    s["ratio_np_wp_rel_error"] = abs(s["ratio_np_wp"] / s["ratio_np_wp_theory"] - 1)
    ctx.summary(**s)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import apply, src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.33, ncols=2)
    labels = {"gd": "gradient descent", "np": "node perturbation", "wp": "weight perturbation"}
    s = run.summary
    for i, method in enumerate(METHODS):
        c = run.series[f"curve_{method}"]
        step, loss = src(f"series/curve_{method}:step"), src(f"series/curve_{method}:mean_loss")
        traced(ax1.semilogy(c["step"], c["mean_loss"], color=PALETTE[i],
                            label=labels[method])[0], x=step, y=loss)
        traced(ax1.semilogy(c["step"], c["mean_loss"][0] * np.exp(-s[f"rate_{method}_theory"]
                                                                * c["step"]),
                            color=PALETTE[i], ls=":", lw=0.8)[0],
               x=step, y=apply(lambda t, l0, r: l0[0] * np.exp(-r * t), step, loss,
                               src(f"summary:rate_{method}_theory"), name="exp_decay"))
        srch = run.series[f"search_{method}"]
        order = np.argsort(srch["eta"])
        eta = src(f"series/search_{method}:eta")
        order_src = eta.map(np.argsort)
        traced(ax2.semilogx(srch["eta"][order], np.maximum(srch["rate"][order], 0), "o-",
                            ms=2, color=PALETTE[i], label=labels[method])[0],
               x=eta[order_src],
               y=src(f"series/search_{method}:rate")[order_src].map(
                   lambda r: np.maximum(r, 0), "max_0"))
    ax1.set_xlabel("update (one sample each)")
    ax1.set_ylabel("mean loss")
    ax1.set_title("a  learning curves (dotted: theory)", loc="left")
    ax1.legend()
    ax2.set_xlabel(r"step size $\eta$")
    ax2.set_ylabel("decay rate (1/update)")
    ax2.set_title(f"b  step-size search; GD/NP {s['ratio_gd_np']:.2f} "
                  f"(theory {s['ratio_gd_np_theory']:.2f}), NP/WP {s['ratio_np_wp']:.2f} "
                  f"({s['ratio_np_wp_theory']:.2f})", loc="left", fontsize=6)
    return fig


EXPERIMENT = Experiment(
    name="werfel-scaling",
    description="GD vs node vs weight perturbation learning rates scale like M and N "
                "(Werfel et al. 2005).",
    config=WerfelConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"n_inputs": 20, "n_outputs": 10, "n_reps": 128,
                                   "search_reps": 8}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
