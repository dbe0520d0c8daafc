"""Alignment atlas: how every rule's updates relate to the gradient, across network widths.

Every built-in rule (and a random-direction baseline with backprop's step sizes) learns the
nonlinear teacher-student task (a random tanh teacher, 20 inputs, 10 hidden, 5 outputs)
with tanh students of several hidden widths, all starting from the same weights at each
width. Every update is compared with the exact gradient of the task's squared-error loss
at the parameters before it (Richards & Kording 2023: a rule follows the gradient when its
expected update has a positive inner product with the negative gradient). Per rule the
summary gives the mean cosine with a 95% bootstrap interval, the fraction of updates with
a positive inner product, and the cosine of the expected update at the initial state.

Backprop's cosine is 1 to numerical precision; the random-direction baseline's interval
contains 0. Selection-based search (hill climbing, annealing, genetic, ES) has positive
inner products too: the atlas shows by how much less than backprop, and how it changes
with width.

``--set rule=package.module:Name`` runs a researcher's own rule instead of the whole set.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from plasticity.experiment import Config, Experiment

#: The rules of the full atlas, in plotting order; ``random_direction`` is the baseline.
RULES = ("backprop", "feedback_alignment", "node_perturbation", "weight_perturbation", "es",
         "hill_climbing", "annealing", "genetic", "hebb", "oja", "random_direction")

#: Rules drawn as shaded bands: they carry no information about the gradient, or only the
#: accept-if-better kind every loss-decreasing search has.
BASELINES = ("random_direction", "hill_climbing")

TASK = {"n_inputs": 20, "n_hidden": 10, "n_outputs": 5}


def _resolve(name, net):
    from plasticity.rules.resolve import resolve_rule

    if name == "random_direction":
        from plasticity.analysis import RandomDirection

        # Backprop's step sizes with directions that know nothing of the gradient.
        return RandomDirection(resolve_rule("backprop", net=net))
    return resolve_rule(name, net=net)


class AtlasConfig(Config):
    rule: str = Field("all", description="'all', one built-in rule, or 'package.module:Name'")
    widths: list[int] = Field([8, 32], min_length=1, description="student hidden widths")
    n_updates: int = Field(100, ge=2, description="updates per rule and width")
    batch_size: int = Field(16, ge=1, description="samples per update")
    expected_draws: int = Field(100, ge=2, description="draws for the expected update")
    record_every: int = Field(1, ge=1, description="updates between alignment records")

    @field_validator("widths")
    @classmethod
    def _positive_widths(cls, value):
        if any(w < 1 for w in value):
            raise ValueError("every width must be >= 1")
        return sorted(set(value))

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, value):
        # Resolve now, against a small stand-in network, so that a bad name or import
        # path is reported at config time (exit 2, no run file) rather than mid-run.
        if value == "all" or value == "random_direction":
            return value
        from plasticity.substrates.feedforward import FeedForward

        net = FeedForward(sizes=[TASK["n_inputs"], 4, TASK["n_outputs"]], activations="tanh")
        _resolve(value, net)
        return value


def _names(cfg):
    return RULES if cfg.rule == "all" else (cfg.rule,)


def run(cfg: AtlasConfig, ctx):
    from plasticity.alignment import SUMMARY_KEYS, measure_into
    from plasticity.rules.resolve import spec_name
    from plasticity.tasks.supervised import TanhTeacher

    task = TanhTeacher(rng=ctx.child_rng(), **TASK)
    names = _names(cfg)
    summary = {}
    with ctx.progress(len(names) * len(cfg.widths), "alignment-atlas") as bar:
        for width in cfg.widths:
            net = task.student(width)
            params = net.init_params(np.random.default_rng([ctx.seed, 1000 + width]))
            for i, name in enumerate(names):
                rule = _resolve(name, net)
                # Built-in names (and the baseline) key themselves; an import path keys
                # by the rule's own name, e.g. "SignHebb".
                key = name if name in RULES else spec_name(name, rule)
                res = measure_into(rule, task, net, params, n_updates=cfg.n_updates,
                                   batch_size=cfg.batch_size, seed=[ctx.seed, width, i],
                                   recorder=ctx.recorder, prefix=f"/alignment/{key}/w{width}",
                                   expected_draws=cfg.expected_draws,
                                   record_every=cfg.record_every)
                for k in (*SUMMARY_KEYS, "final_loss"):
                    summary[f"{key}.{k}_w{width}"] = res[k]
                if width == cfg.widths[-1]:
                    summary.update({f"{key}.{k}": res[k] for k in SUMMARY_KEYS})
                bar.update(1)
    ctx.summary(**summary, n_rules=len(names), largest_width=cfg.widths[-1])


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    widths = np.asarray(run.config["widths"])
    w_src = src("config:widths")
    s = run.summary
    rules = sorted({k.split(".")[0] for k in s if "." in k},
                   key=lambda r: (RULES.index(r) if r in RULES else len(RULES), r))
    fig, ax = figure("double", height_ratio=0.45)
    for i, rule in enumerate(rules):
        mean = np.array([s.get(f"{rule}.cos_mean_w{w}", np.nan) for w in widths])
        low = np.array([s.get(f"{rule}.cos_ci_low_w{w}", np.nan) for w in widths])
        high = np.array([s.get(f"{rule}.cos_ci_high_w{w}", np.nan) for w in widths])
        color = PALETTE[i % len(PALETTE)] if rule not in BASELINES else "0.45"
        m_src, lo_src, hi_src = (
            stack([src(f"summary:{rule}.{key}_w{w}", default=np.nan) for w in widths])
            for key in ("cos_mean", "cos_ci_low", "cos_ci_high"))
        if rule in BASELINES:
            traced(ax.fill_between(widths, low, high, color=color,
                                   alpha=0.25 if rule == "random_direction" else 0.12, lw=0,
                                   label=f"{rule} (95% CI)"), x=w_src, y1=lo_src, y2=hi_src)
            traced(ax.plot(widths, mean, color=color, lw=0.8,
                           ls="--" if rule == "random_direction" else ":")[0],
                   x=w_src, y=m_src)
        else:
            # The palette has fewer colours than there are rules: markers and dashes
            # keep lines that share a colour apart.
            traced(ax.errorbar(widths, mean, yerr=[mean - low, high - mean], color=color,
                               marker="osD^v<>p"[i % 8], ms=3, lw=1.0, capsize=2,
                               ls="-" if i < len(PALETTE) else "-.", label=rule),
                   x=w_src, y=m_src, ylow=lo_src, yhigh=hi_src)
    traced(ax.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.set_xlabel("hidden width (units)")
    ax.set_ylabel("cosine with -gradient (mean over updates)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    ax.set_title("alignment of updates with the gradient, teacher-student task", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="alignment-atlas",
    description="Every rule's alignment with the gradient at several widths, with baselines.",
    config=AtlasConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"widths": [8, 16, 32, 64, 128], "n_updates": 1000, "batch_size": 32,
                      "expected_draws": 1000}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
