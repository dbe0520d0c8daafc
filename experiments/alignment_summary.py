"""Does plasticity follow the gradient? Every rule's cosine with the true gradient in one figure.

The question as posed in T. P. Lillicrap, A. Santoro, L. Marris, C. J. Akerman & G.
Hinton (2020), "Backpropagation and the brain", Nat. Rev. Neurosci. 21:335-346, and B. A.
Richards et al. (2019), "A deep learning framework for neuroscience", Nat. Neurosci.
22:1761-1770; the figure is this project's own synthesis, not a reproduction.

The headline of the alignment analysis, collected from real runs of the experiments that
measure it, so that every number in the figure can be traced to a run file:

- ``alignment-atlas``: every built-in rule on the rate substrate (a tanh teacher-student
  task, the widest student of the run), with the baselines: a random direction with
  backprop's step sizes, and hill climbing, the (1+1)-ES that keeps a random step only
  if the loss drops;
- ``spiking-alignment``: STDP and node perturbation on escape-noise LIF neurons, judged
  against the likelihood-ratio gradient oracle, with the random-direction baseline;
- ``bandit-alignment``: REINFORCE and three-factor rules on a k-armed bandit against the
  exact policy gradient (rate-based policy), with the random-direction baseline;
- ``pc-vs-backprop``: predictive coding's training updates (rate) against the exact
  gradient of the batch's squared output error, the loss it minimises;
- ``temporal-prediction``: the local delta rule in time (rate) against the gradient of
  the next-input prediction error, with the expected update's cosine;
- ``dendritic-prediction``: the Urbanczik-Senn dendritic rule on the two-compartment
  spiking neuron. Its main value is the cosine with the gradient of the KL divergence at
  the presentation's somatic potential, i.e. the loss averaged over the somatic spike
  noise; the cosine with the gradient of the single presentation's spike
  log-likelihood, the noisy sample the rule actually descends, is close to 1 by
  construction and kept as ``.own_cos_mean`` (``.own_cos_ci_low``, ``.own_cos_ci_high``).

Per rule the summary gives the substrate, the mean per-update cosine with the negative
gradient and its 95% bootstrap interval (``<substrate>.<rule>.cos_mean``,
``.cos_ci_low``, ``.cos_ci_high``), the cosine of the expected update where the source
measures it (``.expected_cos``; NaN otherwise), whether the rule is a baseline
(``.baseline``), the loss it is judged against (``.loss``) and the run file it came from
(``.source``).

Without ``from_runs`` the run first executes the sources on their quick presets (with the
``*_set`` overrides), writing their run files beside its own in ``<stem>-sources/``; with
``--set from_runs=[a.h5,b.h5]`` it collects existing runs of any of the six instead.

Not included, and why
---------------------
Every rule class of the package not in the figure, with the reason:

- ``Sanger``, ``BCM``, ``Covariance`` (:mod:`plasticity.rules.hebbian`): unsupervised
  rules with no supervised loss; ``hebb`` and ``oja`` stand for them in the atlas (judged
  against a task loss they never see), but these three are not built-in names of
  :func:`~plasticity.rules.resolve.resolve_rule`, so the atlas does not run them, and the
  objectives of their own (a PCA subspace, the Intrator-Cooper objective of BCM) have no
  gradient oracle in the package.
- ``TripletSTDP`` (spiking plasticity kind ``"triplet"``): unsupervised; no loss and no
  oracle. Pair STDP is represented by its trial form (``PairSTDPTrial``, ``stdp`` in
  spiking-alignment); the network kind ``"pair"`` is the same rule and is not measured
  separately.
- ``RewardSTDP`` (kind ``"reward"``, the distal-reward experiment): no gradient oracle
  for its task (an expected reward over spike trains, delayed dopamine); its
  reward-modulated relatives are measured on the bandit as ``three_factor_*``.
- ``DendriticPrediction`` as a spiking-network kind (``"dendritic"``): the same rule as
  the one measured here through the trial kernel; not measured again on the engine.
- ``ActorCritic``, ``SpikingActorCritic`` and ``TDCritic`` (:mod:`plasticity.rl`): no
  gradient oracle (the gridworld's and the conditioning task's policy gradients are not
  computed exactly, and TD's update is a semi-gradient of no fixed loss).
- Not rules: ``FunctionRule`` (the adapter of a researcher's ``(init, update)`` pair;
  measure one with :func:`plasticity.alignment.measure`), ``FeatureMap`` and
  ``CompleteSerialCompound`` (feature representations), the bandits and environments.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from plasticity.errors import InvalidParameterError
from plasticity.experiment import Config, Experiment

#: Source experiments run when no run files are given, in this order.
DEFAULT_SOURCES = ("alignment-atlas", "spiking-alignment", "bandit-alignment",
                   "pc-vs-backprop", "temporal-prediction", "dendritic-prediction")

#: experiment -> (substrate label, baseline rules, the loss its rules are judged against).
SOURCES = {
    "alignment-atlas": ("rate", ("random_direction", "hill_climbing"),
                        "teacher-student squared error"),
    "spiking-alignment": ("spiking", ("random_direction",),
                          "expected squared spike-count error (likelihood-ratio oracle)"),
    "bandit-alignment": ("bandit", ("random_direction",), "negative expected reward"),
    "temporal-prediction": ("rate", (), "next-input squared prediction error"),
    "pc-vs-backprop": ("rate", (), "squared output error of the batch"),
    "dendritic-prediction": ("spiking", (), "KL divergence at the somatic potential "
                             "(the spike log-likelihood averaged over spike noise)"),
}

#: Summary keys each single-rule source must have (a run too short to measure lacks them).
NEEDS = {"temporal-prediction": ("cos_mean", "cos_ci_low", "cos_ci_high"),
         "pc-vs-backprop": ("align_cos_mean", "align_cos_ci_low", "align_cos_ci_high"),
         "dendritic-prediction": ("align_kl_cos_mean", "align_kl_cos_ci_low",
                                  "align_kl_cos_ci_high", "align_cos_mean")}

#: Substrate -> (marker, palette index) in the figure.
STYLE = {"rate": ("o", 0), "spiking": ("s", 3), "bandit": ("^", 2)}


class SummaryConfig(Config):
    from_runs: list[str] = Field([], description="run files to collect (alignment-atlas, "
                                 "spiking-alignment, bandit-alignment, pc-vs-backprop, "
                                 "temporal-prediction, dendritic-prediction); empty: run "
                                 "the default sources")
    sources: list[str] = Field(list(DEFAULT_SOURCES), min_length=1,
                               description="experiments to run when from_runs is empty")
    atlas_set: dict = Field({}, description="overrides of alignment-atlas's preset")
    spiking_set: dict = Field({}, description="overrides of spiking-alignment's preset")
    bandit_set: dict = Field({}, description="overrides of bandit-alignment's preset")
    pc_set: dict = Field({}, description="overrides of pc-vs-backprop's preset")
    temporal_set: dict = Field({}, description="overrides of temporal-prediction's preset")
    dendritic_set: dict = Field({}, description="overrides of dendritic-prediction's preset")
    source_preset: str = Field("quick", description="preset of the source runs")

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value):
        bad = [s for s in value if s not in DEFAULT_SOURCES]
        if bad:
            raise ValueError(f"unknown source {bad[0]!r} (choose from "
                             f"{', '.join(DEFAULT_SOURCES)})")
        return value

    @field_validator("from_runs")
    @classmethod
    def _readable_runs(cls, value):
        from plasticity.errors import RunFileError
        from plasticity.io.runfile import open_run

        for path in value:
            try:
                run = open_run(path)
            except RunFileError as exc:
                raise ValueError(str(exc)) from None
            if run.experiment not in SOURCES:
                raise ValueError(f"{path} is a run of {run.experiment}, which measures no "
                                 f"alignment (use {', '.join(SOURCES)})")
            if run.status != "complete":
                raise ValueError(f"{path} did not complete (status {run.status})")
            missing = [k for k in NEEDS.get(run.experiment, ()) if k not in run.summary]
            if missing:
                raise ValueError(f"{path} has no alignment numbers ({missing[0]} is not in "
                                 "its summary: no update was measured)")
        return value


def _rows(run):
    """``[(rule, substrate, cos_mean, ci_low, ci_high, expected_cos, baseline, extra)]`` of
    one run file; ``extra`` holds further summary values of the rule (a dict)."""
    substrate, baselines, _ = SOURCES[run.experiment]
    s = run.summary
    if run.experiment == "temporal-prediction":
        return [("temporal_delta", substrate, s["cos_mean"], s["cos_ci_low"],
                 s["cos_ci_high"], s.get("expected_cos", np.nan), False, {})]
    if run.experiment == "pc-vs-backprop":
        return [("predictive_coding", substrate, s["align_cos_mean"], s["align_cos_ci_low"],
                 s["align_cos_ci_high"], np.nan, False, {})]
    if run.experiment == "dendritic-prediction":
        # the rate model's target is phi(U) itself: no spike noise, a rate substrate
        substrate = "spiking" if run.config.get("model", "spiking") == "spiking" else "rate"
        own = {f"own_{k}": s[f"align_{k}"] for k in ("cos_mean", "cos_ci_low", "cos_ci_high")}
        return [("dendritic_prediction", substrate, s["align_kl_cos_mean"],
                 s["align_kl_cos_ci_low"], s["align_kl_cos_ci_high"], np.nan, False, own)]
    rules = sorted({k.rsplit(".", 1)[0] for k in s if k.endswith(".cos_mean")})
    return [(rule, substrate, s[f"{rule}.cos_mean"], s[f"{rule}.cos_ci_low"],
             s[f"{rule}.cos_ci_high"], s.get(f"{rule}.expected_cos", np.nan),
             rule in baselines, {}) for rule in rules]


def _run_sources(cfg, ctx):
    from pathlib import Path

    from plasticity.experiment import execute
    from plasticity.registry import load

    rec_path = Path(ctx.recorder.path)
    folder = rec_path.parent / f"{rec_path.stem}-sources"
    folder.mkdir(exist_ok=True)
    sets = {"alignment-atlas": cfg.atlas_set, "spiking-alignment": cfg.spiking_set,
            "bandit-alignment": cfg.bandit_set, "pc-vs-backprop": cfg.pc_set,
            "temporal-prediction": cfg.temporal_set, "dendritic-prediction": cfg.dendritic_set}
    paths = []
    for name in cfg.sources:
        exp = load(name)
        sub = exp.build_config(preset=cfg.source_preset, overrides=sets[name])
        path, status = execute(exp, sub, seed=ctx.seed, out=folder / f"{name}.h5",
                               preset=cfg.source_preset, quiet=ctx.quiet)
        if status != "complete":
            raise InvalidParameterError(f"alignment-summary: the {name} run ended {status} "
                                        f"({path}).")
        paths.append(path)
    return paths


def run(cfg: SummaryConfig, ctx):
    from pathlib import Path

    from plasticity.io.runfile import open_run

    # absolute paths: the summary must lead back to its sources from anywhere
    paths = [str(Path(p).resolve()) for p in (cfg.from_runs or _run_sources(cfg, ctx))]
    values, seen = {}, set()
    for path in paths:
        run_file = open_run(path)
        for rule, substrate, mean, low, high, expected, baseline, extra in _rows(run_file):
            label = f"{substrate}.{rule}"
            if label in seen:
                raise InvalidParameterError(f"alignment-summary: {label} comes from two "
                                            "run files; give one run per experiment.")
            seen.add(label)
            values.update({f"{label}.cos_mean": float(mean),
                           f"{label}.cos_ci_low": float(low),
                           f"{label}.cos_ci_high": float(high),
                           f"{label}.expected_cos": float(expected),
                           f"{label}.baseline": bool(baseline),
                           f"{label}.loss": SOURCES[run_file.experiment][2],
                           f"{label}.source": str(path)})
            values.update({f"{label}.{k}": float(v) for k, v in extra.items()})
    labels = sorted(seen)
    ctx.summary(rules=",".join(labels), n_rules=len(labels), sources=",".join(paths),
                n_rules_above_zero=sum(values[f"{lb}.cos_ci_low"] > 0 for lb in labels),
                **values)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    labels = [lb for lb in str(s.get("rules", "")).split(",") if lb]
    labels.sort(key=lambda lb: (s[f"{lb}.cos_mean"], lb))
    fig, ax = figure("single", height_ratio=max(0.8, 0.06 * len(labels) + 0.2))
    drawn = set()
    for y, label in enumerate(labels):
        substrate, rule = label.split(".", 1)
        marker, colour = STYLE.get(substrate, ("D", 4))
        colour = PALETTE[colour]
        if s[f"{label}.baseline"]:
            # baselines: a shaded row, so that rules are read against them
            traced(ax.axhspan(y - 0.5, y + 0.5, color="0.88", lw=0, zorder=0),
                   low=y - 0.5, high=y + 0.5)
        mean, low, high = (s[f"{label}.{k}"] for k in ("cos_mean", "cos_ci_low", "cos_ci_high"))
        traced(ax.errorbar([mean], [y], xerr=[[mean - low], [high - mean]], fmt=marker, ms=3.5,
                           color=colour, capsize=1.5, lw=0.9,
                           label=substrate if substrate not in drawn else None),
               x=stack([src(f"summary:{label}.cos_mean")]), y=[y],
               xlow=stack([src(f"summary:{label}.cos_ci_low")]),
               xhigh=stack([src(f"summary:{label}.cos_ci_high")]))
        drawn.add(substrate)
        expected = s[f"{label}.expected_cos"]
        if np.isfinite(expected):
            traced(ax.plot([expected], [y], marker, ms=3.5, mfc="white", color=colour,
                           label="expected update" if "expected" not in drawn else None)[0],
                   x=stack([src(f"summary:{label}.expected_cos")]), y=[y])
            drawn.add("expected")
    traced(ax.axvline(0.0, color="0.4", lw=0.6), x=0.0)
    # a rule judged against the noise-averaged loss, not the sample it descends, is marked
    averaged = {lb for lb in labels if f"{lb}.own_cos_mean" in s}
    names = [lb.split(".", 1)[1].replace("_", " ") + ("" if lb.startswith("rate.") else
                                                       f" ({lb.split('.', 1)[0]})")
             + ("*" if lb in averaged else "") for lb in labels]
    ax.set_yticks(range(len(labels)), names, fontsize=6)
    if averaged:
        ax.set_xlabel("cosine of the update with the negative gradient\n"
                      "* against the loss averaged over spike noise (KL)", fontsize=7)
    else:
        ax.set_xlabel("cosine of the update with the negative gradient")
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlim(-1.05, 1.05)
    ax.legend(loc="upper left", fontsize=6, title="filled: per update, 95% CI",
              title_fontsize=6)
    ax.set_title("does plasticity follow the gradient? (grey: baselines)", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="alignment-summary",
    description="Every rule's cosine with the true gradient, rate and spiking, with "
                "baselines and 95% intervals, collected from real runs (one figure).",
    config=SummaryConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"source_preset": "full"}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
