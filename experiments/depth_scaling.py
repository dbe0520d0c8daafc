"""Depth scaling of the feedback family: does the gradient signal fade in the lower layers?

Bartunov et al. (2018) found that feedback alignment and target propagation, which learn
shallow networks well, fall behind backprop as networks get deeper and tasks harder. This
experiment asks the question update by update: for MLPs with 1 to 5 hidden layers of
``width`` units (ReLU, softmax cross-entropy) on MNIST-1D (or digits), every rule learns
from the same initial weights on the same minibatches, and every ``measure_every``-th
update is compared, layer by layer, with the population gradient (the exact gradient of
the mean training-set loss; :func:`feedback_family.train_one`, which this experiment
shares with ``feedback-family``).

Rules: ``backprop`` (reference), ``feedback_alignment``, ``dfa``,
``sign_symmetry_uSF``, ``kolen_pollack``, ``dtp`` (the feedback-family settings).

The measure of degradation is the cosine of the *first* layer's update (``W1``, the one
furthest from the error) against depth, and its least-squares slope per added hidden
layer over the per-seed points (``<rule>.W1_cos_slope`` with its standard error
``<rule>.W1_cos_slope_se``). Backprop's own first-layer cosine changes with depth too
(against the population gradient, a minibatch step is noisier or less so depending on the
network), so each rule's slope is read beside backprop's (``<rule>.W1_cos_slope_vs_bp``,
the difference). A rule whose first layer degrades with depth has a negative difference.

Summary keys, per rule ``R`` and depth ``d`` (number of hidden layers): ``R.d<d>.cos_mean``,
``R.d<d>.cos_low``, ``R.d<d>.cos_high`` (total cosine, t over seeds, NaN bounds with one
seed), ``R.d<d>.W1.cos_mean``, ``R.d<d>.W1.cos_low``, ``R.d<d>.W1.cos_high`` (first
layer), ``R.d<d>.acc_mean``, ``R.d<d>.acc_low``, ``R.d<d>.acc_high`` (final test
accuracy), ``R.d<d>.sgd_ceiling``; per rule ``R.W1_cos_slope``, ``R.W1_cos_slope_se``,
``R.W1_cos_slope_vs_bp``; ``n_seeds``. Series: ``depth/<R>`` (index depth: the
total and first-layer cosines with their bounds, the accuracy), ``layers/<R>/d<d>``
(index layer: the mean cosine of each layer's update).

References
----------
Bartunov, S., Santoro, A., Richards, B. A., Marris, L., Hinton, G. E., & Lillicrap, T.
    (2018). Assessing the scalability of biologically-motivated deep learning algorithms
    and architectures. NeurIPS 31.
"""

from __future__ import annotations

import sys
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.experiment import Config, Experiment

RULES = ("backprop", "feedback_alignment", "dfa", "sign_symmetry_uSF", "kolen_pollack",
         "dtp")


def _family():
    """The feedback-family experiment module (its rules and training loop)."""
    from plasticity.registry import load

    return sys.modules[load("feedback-family").run.__module__]


class DepthScalingConfig(Config):
    dataset: str = Field("mnist1d", description="'mnist1d' or 'digits'")
    depths: list[int] = Field([1, 2, 3, 4, 5], min_length=2,
                              description="numbers of hidden layers (each >= 1)")
    width: int = Field(64, ge=1, description="units per hidden layer")
    rules: list[str] = Field(list(RULES), min_length=1, description="rules to run")
    activation: Literal["relu", "tanh"] = Field("relu", description="hidden activation")
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")
    epochs: int = Field(3, ge=1, description="passes over the training set")
    batch_size: int = Field(100, ge=1, description="samples per update")
    seeds: int = Field(2, ge=1, le=100, description="independent seeds")
    measure_every: int = Field(10, ge=1, description="updates between measurements")
    eval_every: int = Field(1, ge=1, description="epochs between test evaluations")
    kp_decay: float = Field(0.05, ge=0, allow_inf_nan=False,
                            description="Kolen-Pollack weight decay (per unit of eta)")
    dtp_eta_inverse: float = Field(0.05, gt=0, allow_inf_nan=False,
                                   description="DTP: learning rate of the inverses")
    dtp_sigma: float = Field(0.1, ge=0, allow_inf_nan=False,
                             description="DTP: corruption noise of inverse learning")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value):
        from plasticity.tasks.supervised import TASKS, make_task

        if value not in TASKS:
            try:
                make_task(value)  # its one-line refusal, listing the known tasks
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        if value not in ("mnist1d", "digits"):
            raise ValueError(f"{value!r} is not a classification data set; use 'mnist1d' "
                             "or 'digits'")
        return value

    @field_validator("depths")
    @classmethod
    def _positive_depths(cls, value):
        if any(d < 1 for d in value):
            raise ValueError("every depth (number of hidden layers) must be >= 1")
        return sorted(set(value))

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value):
        for name in value:
            if name not in RULES:
                raise ValueError(f"unknown rule {name!r}; known: {', '.join(RULES)}")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _contracting(self):
        if self.eta * self.kp_decay >= 1.0:
            raise ValueError(f"eta * kp_decay must be below 1 (got {self.eta} * "
                             f"{self.kp_decay})")
        return self


def _slope(depths, values):
    """Least-squares slope of ``values`` on ``depths`` and its standard error."""
    from scipy.stats import linregress

    depths, values = np.asarray(depths, float), np.asarray(values, float)
    ok = np.isfinite(values)
    if ok.sum() < 3 or np.unique(depths[ok]).size < 2:
        return float("nan"), float("nan")
    fit = linregress(depths[ok], values[ok])
    return float(fit.slope), float(fit.stderr)


def run(cfg: DepthScalingConfig, ctx):
    from threadpoolctl import threadpool_limits

    from plasticity.analysis import seeds_summary
    from plasticity.tasks.supervised import make_task

    fam = _family()
    rec = ctx.recorder
    summary = {}
    points = {r: ([], []) for r in cfg.rules}  # (depth, per-seed W1 cosine)
    n_train = 4000 if cfg.dataset == "mnist1d" else 1347
    total = (cfg.epochs * -(-n_train // cfg.batch_size) * cfg.seeds * len(cfg.rules)
             * len(cfg.depths))
    with threadpool_limits(limits=1, user_api="blas"), \
            ctx.progress(total, "depth-scaling") as bar:
        for depth in cfg.depths:
            per_rule = {r: [] for r in cfg.rules}
            for k in range(cfg.seeds):
                task = make_task(cfg.dataset, rng=np.random.default_rng([ctx.seed, 5000, k]))
                net = task.student([cfg.width] * depth, activation=cfg.activation)
                for name in cfg.rules:
                    i = RULES.index(name)
                    res = fam.train_one(
                        cfg, task, net, name, init_seed=[ctx.seed, 1000, depth, k],
                        data_seed=[ctx.seed, 2000, depth, k],
                        rule_seed=[ctx.seed, 3000, depth, i, k],
                        noise_seed=[ctx.seed, 4000, depth, i, k], progress=bar)
                    per_rule[name].append(res)
            weights = net.weight_names()
            for name, results in per_rule.items():
                p = f"{name}.d{depth}"
                total_cos = [r["stats"]["cos_mean"] for r in results]
                w1 = [r["arrays"]["W1"]["cos_mean"] for r in results]
                acc = [r["acc"] for r in results]
                for key, vals in (("", total_cos), ("W1.", w1)):
                    s = seeds_summary([v for v in vals if np.isfinite(v)], prefix="c")
                    summary[f"{p}.{key}cos_mean"] = s["c_mean"]
                    summary[f"{p}.{key}cos_low"] = s["c_low"]
                    summary[f"{p}.{key}cos_high"] = s["c_high"]
                s = seeds_summary([a for a in acc if np.isfinite(a)], prefix="acc")
                summary.update({f"{p}.{k}": v for k, v in s.items() if k != "acc_n"})
                summary[f"{p}.sgd_ceiling"] = float(np.mean([r["sgd_ceiling"]
                                                             for r in results]))
                points[name][0].extend([depth] * len(w1))
                points[name][1].extend(w1)
                rec.append(f"depth/{name}", depth, index="depth", index_units="layers",
                           units=dict.fromkeys(("cos_mean", "cos_low", "cos_high",
                                                "W1_cos_mean", "W1_cos_low", "W1_cos_high",
                                                "acc_mean"), "1"),
                           cos_mean=summary[f"{p}.cos_mean"],
                           cos_low=summary[f"{p}.cos_low"],
                           cos_high=summary[f"{p}.cos_high"],
                           W1_cos_mean=summary[f"{p}.W1.cos_mean"],
                           W1_cos_low=summary[f"{p}.W1.cos_low"],
                           W1_cos_high=summary[f"{p}.W1.cos_high"],
                           acc_mean=summary[f"{p}.acc_mean"])
                for j, w in enumerate(weights):
                    rec.append(f"layers/{name}/d{depth}", j + 1, index="layer",
                               index_units="1", units={"cos_mean": "1"},
                               cos_mean=float(np.nanmean([r["arrays"][w]["cos_mean"]
                                                          for r in results])))
    for name in cfg.rules:
        slope, se = _slope(*points[name])
        summary[f"{name}.W1_cos_slope"] = slope
        summary[f"{name}.W1_cos_slope_se"] = se
    bp = summary.get("backprop.W1_cos_slope", np.nan)
    for name in cfg.rules:
        summary[f"{name}.W1_cos_slope_vs_bp"] = summary[f"{name}.W1_cos_slope"] - bp
    ctx.summary(**summary, n_seeds=cfg.seeds, n_rules=len(cfg.rules))


def memory(cfg: DepthScalingConfig):
    """The dominant arrays (:mod:`plasticity.io.memory`) of the deepest network: per rule
    about 8 copies of its P parameters (weights, update, batch and population gradient,
    feedback or inverse matrices, Kolen-Pollack/DTP state), and the forward and backward
    pass of the whole training set for the population gradient (4 arrays per layer)."""
    from plasticity.io.memory import MemoryEstimate, array_bytes

    n_in, n_train = (40, 4000) if cfg.dataset == "mnist1d" else (64, 1347)
    sizes = [n_in] + [cfg.width] * max(cfg.depths) + [10]
    p = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return (MemoryEstimate()
            .add("the weights, updates, gradients and feedback of the deepest network",
                 "8 x P float64 (P ~ max(depths) x width^2)", 8 * array_bytes(p))
            .add("the training set's forward and backward pass",
                 "4 x n_train x max(depths) x width float64",
                 4 * array_bytes(n_train, sum(sizes))))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fam = _family()
    s = run.summary
    rules = [r for r in RULES if f"depth/{r}" in run.series]
    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.33, ncols=3)
    n_seeds = int(s.get("n_seeds", 1))
    for i, r in enumerate(rules):
        t = f"depth/{r}"
        d = run.series[t]
        depth = np.asarray(d["depth"], float)
        x = depth + 0.04 * (i - len(rules) / 2)
        color = PALETTE[i % len(PALETTE)]
        for ax, col in ((ax1, "W1_cos"), (ax2, "cos")):
            m = np.asarray(d[f"{col}_mean"])
            lo, hi = np.asarray(d[f"{col}_low"]), np.asarray(d[f"{col}_high"])
            # with one seed the bounds are NaN and no bar is drawn
            traced(ax.errorbar(x, m, yerr=[m - lo, hi - m], marker="osD^v<"[i % 6], ms=3,
                               lw=0.9, capsize=2, color=color, label=fam.LABELS[r]),
                   x=x, y=src(f"series/{t}:{col}_mean"), ylow=src(f"series/{t}:{col}_low"),
                   yhigh=src(f"series/{t}:{col}_high"))
        traced(ax3.plot(depth, 100 * np.asarray(d["acc_mean"]), marker="osD^v<"[i % 6],
                        ms=3, lw=0.9, color=color, label=fam.LABELS[r])[0],
               x=src(f"series/{t}:depth"), y=100 * src(f"series/{t}:acc_mean"))
    for ax in (ax1, ax2):
        traced(ax.axhline(0.0, color="0.6", lw=0.6), y=0.0)
        ax.set_xlabel("hidden layers")
    what = f"95% CI over {n_seeds} seeds" if n_seeds > 1 else "one seed"
    ax1.set_ylabel(f"cos(first-layer update, $-\\nabla L$)\n({what})")
    ax1.set_title("a  first layer (W1)", loc="left")
    ax1.legend(fontsize=5, loc="lower left")
    ax2.set_ylabel("cos(update, $-\\nabla L$), all layers")
    ax2.set_title("b  whole update", loc="left")
    ax3.set_xlabel("hidden layers")
    ax3.set_ylabel(f"test accuracy (%, mean of {n_seeds} seeds)")
    ax3.set_title(f"c  accuracy ({run.config['dataset']})", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="depth-scaling",
    description="Per-layer alignment of FA, DFA, sign symmetry, Kolen-Pollack and DTP with "
                "the gradient against depth (1-5 hidden layers; Bartunov et al. 2018).",
    config=DepthScalingConfig,
    run=run,
    plot=plot,
    memory=memory,
    presets={"quick": {},
             "full": {"width": 256, "epochs": 30, "seeds": 5, "measure_every": 40,
                      "eval_every": 5}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
