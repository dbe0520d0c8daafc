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
  gradient of the squared output error over the whole digits training set (the
  population of the loss it minimises);
- ``temporal-prediction``: the local delta rule in time (rate) against the gradient of
  the next-input prediction error, with the expected update's cosine;
- ``dendritic-prediction``: the Urbanczik-Senn dendritic rule on the two-compartment
  spiking neuron. Its main value is the cosine with the gradient of the expected spike
  loss at the presentation's somatic potential, i.e. the loss averaged over the somatic
  spike noise; the cosine with the gradient of the single presentation's spike
  log-likelihood, the noisy sample the rule actually descends, is close to 1 by
  construction and kept as ``.own_cos_mean`` (``.own_cos_ci_low``, ``.own_cos_ci_high``);
- ``rnn-credit``: the online rules of temporal credit assignment (BPTT, RTRL, truncated
  BPTT, e-prop, RFLO, UORO, KF-RTRL, node perturbation in time, readout only) on the
  leaky rate RNN's Add task, against the exact population gradient (BPTT on the
  evaluation set); substrate ``recurrent``;
- ``eprop-spiking``: e-prop and surrogate-gradient BPTT on a recurrent escape-noise
  LIF/ALIF network, against the likelihood-ratio gradient of the expected loss, with the
  random-direction baseline; substrate ``recurrent_spiking``.

A source's per-array keys (``<rule>.<array>.cos_mean``) are not rows: only keys with one
dot before ``cos_mean`` name a rule.

Every source declares what its numbers are (``Experiment(alignment=AlignmentMeta(...))``:
substrate, the loss its rules are judged against, the problem, the reference gradient,
its baselines); this summary reads that metadata and the key scheme of
docs/statistics.md, and knows no experiment by name. Per rule it gives, under
``<substrate>.<rule>.``:

- ``cos_mean``: the mean per-update cosine with the negative *population* gradient (the
  gradient of the expected loss, one reference for every row), with the within-run
  interval ``cos_ci_low``/``cos_ci_high`` (autocorrelation-aware, ``ci_method``);
- ``seeds_cos_mean``, ``seeds_cos_low``, ``seeds_cos_high``: the t-interval over per-seed
  means where the source ran several seeds (the interval the figure draws when present);
- ``sgd_ceiling``: the cosine the exact minibatch gradient reaches against the population
  gradient at the same states and batch size (the best any minibatch rule could do);
  ``cos_batch_mean``: the same-minibatch cosine (secondary). The bandit and spiking rows
  have neither (NaN): a batch of bandit pulls or of spike trials has a realised loss
  with no pathwise gradient (it is flat in the weights between the points where an
  action or a spike flips), so there is no exact minibatch gradient to compare with,
  only likelihood-ratio estimates, which are rules themselves (REINFORCE, node
  perturbation);
- ``expected_cos``: the cosine of the expected update (debiased; NaN where the source
  does not measure it), ``baseline``, ``loss``, ``reference`` and ``source`` (its run
  file).

Without ``from_runs`` the run first executes the sources on their quick presets (with the
per-source overrides in ``sets``), writing their run files beside its own in
``<stem>-sources/``; with ``--set from_runs=[a.h5,b.h5]`` it collects existing runs.

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
  the one measured here through the trial kernel (``DendriticPredictionTrial``); not
  measured again on the engine.
- ``ActorCritic``, ``SpikingActorCritic`` and ``TDCritic`` (:mod:`plasticity.rl`): no
  gradient oracle (the gridworld's and the conditioning task's policy gradients are not
  computed exactly, and TD's update is a semi-gradient of no fixed loss).
- Not rules: ``FunctionRule`` (the adapter of a researcher's ``(init, update)`` pair;
  measure one with :func:`plasticity.alignment.measure`), ``FeatureMap`` and
  ``CompleteSerialCompound`` (feature representations), the bandits and environments.
"""

from __future__ import annotations

import warnings

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.errors import InvalidParameterError
from plasticity.experiment import Config, Experiment

#: Source experiments run when no run files are given, in this order (every experiment
#: of the package that declares alignment metadata; checked by the tests).
DEFAULT_SOURCES = ("alignment-atlas", "spiking-alignment", "bandit-alignment",
                   "pc-vs-backprop", "temporal-prediction", "dendritic-prediction",
                   "rnn-credit", "eprop-spiking")

#: The per-rule values collected (missing optional ones become NaN).
REQUIRED = ("cos_mean", "cos_ci_low", "cos_ci_high")
OPTIONAL = ("seeds_cos_mean", "seeds_cos_low", "seeds_cos_high", "sgd_ceiling",
            "cos_batch_mean", "expected_cos", "expected_cos_raw", "expected_cos_ci_low",
            "expected_cos_ci_high", "own_cos_mean",
            "own_cos_ci_low", "own_cos_ci_high")

#: Old per-source override fields, kept for one release: field -> experiment.
_OLD_SETS = {"atlas_set": "alignment-atlas", "spiking_set": "spiking-alignment",
             "bandit_set": "bandit-alignment", "pc_set": "pc-vs-backprop",
             "temporal_set": "temporal-prediction", "dendritic_set": "dendritic-prediction"}

#: Substrate -> (marker, palette index) in the figure.
STYLE = {"rate": ("o", 0), "spiking": ("s", 3), "bandit": ("^", 2), "recurrent": ("v", 1),
         "recurrent_spiking": ("D", 4)}


def _meta(experiment):
    """The alignment metadata of ``experiment`` (a name), or None."""
    from plasticity.registry import load

    return getattr(load(experiment), "alignment", None)


class SummaryConfig(Config):
    from_runs: list[str] = Field([], description="run files of experiments that declare "
                                 "alignment metadata; empty: run the default sources")
    sources: list[str] = Field(list(DEFAULT_SOURCES), min_length=1,
                               description="experiments to run when from_runs is empty")
    sets: dict[str, dict] = Field({}, description="per-source overrides of its preset, "
                                  "{experiment: {key: value}}")
    source_preset: str = Field("quick", description="preset of the source runs")
    atlas_set: dict = Field({}, description="deprecated: sets['alignment-atlas']")
    spiking_set: dict = Field({}, description="deprecated: sets['spiking-alignment']")
    bandit_set: dict = Field({}, description="deprecated: sets['bandit-alignment']")
    pc_set: dict = Field({}, description="deprecated: sets['pc-vs-backprop']")
    temporal_set: dict = Field({}, description="deprecated: sets['temporal-prediction']")
    dendritic_set: dict = Field({}, description="deprecated: sets['dendritic-prediction']")

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value):
        for name in value:
            if _meta(name) is None:
                raise ValueError(f"{name} declares no alignment metadata (sources: "
                                 f"{', '.join(DEFAULT_SOURCES)})")
        return value

    @model_validator(mode="after")
    def _merge_old_sets(self):
        for old, name in _OLD_SETS.items():
            value = getattr(self, old)
            if value:
                warnings.warn(f"alignment-summary: {old} is deprecated; use "
                              f"sets={{'{name}': {{...}}}}", DeprecationWarning, stacklevel=2)
                self.sets.setdefault(name, {}).update(value)
        unknown = [k for k in self.sets if k not in self.sources]
        if unknown:
            raise ValueError(f"sets: {unknown[0]} is not a source ({', '.join(self.sources)})")
        return self

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
            meta = _meta(run.experiment)
            if meta is None:
                raise ValueError(f"{path} is a run of {run.experiment}, which declares no "
                                 f"alignment metadata (use {', '.join(DEFAULT_SOURCES)})")
            if run.status != "complete":
                raise ValueError(f"{path} did not complete (status {run.status})")
            if not _rule_names(run.summary, meta):
                raise ValueError(f"{path} has no alignment numbers (no cos_mean in its "
                                 "summary: no update was measured)")
        return value


def _rule_names(summary, meta):
    if meta.rule is not None:
        return [meta.rule] if f"{meta.prefix}cos_mean" in summary else []
    # "<rule>.cos_mean"; "<rule>.<array>.cos_mean" (a per-array cosine) is not a rule
    suffix = f".{meta.prefix}cos_mean"
    return sorted({k[:-len(suffix)] for k in summary
                   if k.endswith(suffix) and "." not in k[:-len(suffix)]})


def _rows(run):
    """``[(rule, substrate, values, baseline)]`` of one run file, read through the
    metadata its experiment declares; ``values`` maps REQUIRED and OPTIONAL keys."""
    meta = _meta(run.experiment)
    s = run.summary
    rows = []
    for rule in _rule_names(s, meta):
        head = "" if meta.rule is not None else f"{rule}."
        values = {}
        for key in REQUIRED + OPTIONAL:
            full = f"{head}{meta.prefix}{key}"
            if key in REQUIRED and full not in s:
                raise InvalidParameterError(f"alignment-summary: {run.path} lacks {full}.")
            values[key] = float(s.get(full, np.nan))
        rows.append((rule, meta.substrate, values, rule in meta.baselines))
    return rows


def _run_sources(cfg, ctx):
    from plasticity.experiment import run_sources
    from plasticity.io.runfile import open_run

    paths = run_sources(cfg.sources, ctx, sets=cfg.sets, preset=cfg.source_preset,
                        who="alignment-summary")
    for name, path in zip(cfg.sources, paths, strict=True):
        if not _rows(open_run(path)):
            # the same refusal as for from_runs: a source must give at least one row
            raise InvalidParameterError(f"alignment-summary: the {name} run has no "
                                        f"alignment numbers its metadata points to ({path}).")
    return paths


def run(cfg: SummaryConfig, ctx):
    from pathlib import Path

    from plasticity.io.runfile import open_run

    # absolute paths: the summary must lead back to its sources from anywhere
    paths = [str(Path(p).resolve()) for p in (cfg.from_runs or _run_sources(cfg, ctx))]
    values, seen = {}, set()
    for path in paths:
        run_file = open_run(path)
        meta = _meta(run_file.experiment)
        for rule, substrate, vals, baseline in _rows(run_file):
            label = f"{substrate}.{rule}"
            if label in seen:
                raise InvalidParameterError(f"alignment-summary: {label} comes from two "
                                            "run files; give one run per experiment.")
            seen.add(label)
            values.update({f"{label}.{k}": v for k, v in vals.items()})
            values.update({f"{label}.baseline": bool(baseline),
                           f"{label}.loss": meta.loss,
                           f"{label}.reference": meta.reference,
                           f"{label}.source": str(path)})
    labels = sorted(seen)
    ctx.summary(rules=",".join(labels), n_rules=len(labels), sources=",".join(paths),
                n_rules_above_zero=sum(_interval(values, lb)[1] > 0 for lb in labels),
                **values)


def _resolved(s, label) -> bool:
    """Whether the expected update's cosine is resolved: its 95% interval is narrower
    than 1 (with few draws a rule whose mean update is lost in its noise gets an
    interval spanning most of [-1, 1], and its point value says nothing). A source that
    gives no interval counts as resolved."""
    low = s.get(f"{label}.expected_cos_ci_low", np.nan)
    high = s.get(f"{label}.expected_cos_ci_high", np.nan)
    return not (np.isfinite(low) and np.isfinite(high)) or high - low < 1.0


def _interval(s, label):
    """``(mean, low, high, kind)``: the across-seed interval where the source ran several
    seeds, else the within-run one."""
    if np.isfinite(s.get(f"{label}.seeds_cos_low", np.nan)):
        return (s[f"{label}.seeds_cos_mean"], s[f"{label}.seeds_cos_low"],
                s[f"{label}.seeds_cos_high"], "seeds")
    return (s[f"{label}.cos_mean"], s[f"{label}.cos_ci_low"], s[f"{label}.cos_ci_high"],
            "run")


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    labels = [lb for lb in str(s.get("rules", "")).split(",") if lb]
    labels.sort(key=lambda lb: (_interval(s, lb)[0], lb))
    fig, ax = figure("single", height_ratio=max(0.8, 0.06 * len(labels) + 0.25))
    drawn = set()
    for y, label in enumerate(labels):
        substrate, rule = label.split(".", 1)
        marker, colour = STYLE.get(substrate, ("D", 4))
        colour = PALETTE[colour]
        if s[f"{label}.baseline"]:
            # baselines: a shaded row, so that rules are read against them
            traced(ax.axhspan(y - 0.5, y + 0.5, color="0.88", lw=0, zorder=0),
                   low=y - 0.5, high=y + 0.5)
        mean, low, high, kind = _interval(s, label)
        keys = (("seeds_cos_mean", "seeds_cos_low", "seeds_cos_high") if kind == "seeds"
                else ("cos_mean", "cos_ci_low", "cos_ci_high"))
        traced(ax.errorbar([mean], [y], xerr=[[mean - low], [high - mean]], fmt=marker, ms=3.5,
                           color=colour, capsize=1.5, lw=0.9,
                           label=substrate.replace("_", " ") if substrate not in drawn
                           else None),
               x=stack([src(f"summary:{label}.{keys[0]}")]), y=[y],
               xlow=stack([src(f"summary:{label}.{keys[1]}")]),
               xhigh=stack([src(f"summary:{label}.{keys[2]}")]))
        drawn.add(substrate)
        for key, style, name in (("expected_cos", dict(marker=marker, mfc="white"),
                                  "expected update"),
                                 ("sgd_ceiling", dict(marker="|", ms=7, mew=1.2),
                                  "SGD ceiling")):
            value = s.get(f"{label}.{key}", np.nan)
            if key == "expected_cos" and not _resolved(s, label):
                continue
            if np.isfinite(value):
                traced(ax.plot([value], [y], ls="none", color=colour if key == "expected_cos"
                               else "0.3", label=name if name not in drawn else None,
                               **style)[0],
                       x=stack([src(f"summary:{label}.{key}")]), y=[y])
                drawn.add(name)
    traced(ax.axvline(0.0, color="0.4", lw=0.6), x=0.0)
    averaged = {lb for lb in labels if np.isfinite(s.get(f"{lb}.own_cos_mean", np.nan))}
    names = [lb.split(".", 1)[1].replace("_", " ") + ("" if lb.startswith("rate.") else
                                                       f" ({lb.split('.', 1)[0]})"
                                                       .replace("_", " "))
             + ("*" if lb in averaged else "") for lb in labels]
    ax.set_yticks(range(len(labels)), names, fontsize=6)
    ax.set_xlabel("cosine of the update with the negative population gradient"
                  + ("\n* the loss averaged over spike noise" if averaged else ""),
                  fontsize=7)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlim(-1.05, 1.05)
    ax.legend(loc="upper left", fontsize=5.5, title="filled: mean per update, 95% CI\n"
              "over seeds where run; open: expected\nupdate where resolved (CI < 1)",
              title_fontsize=5.5)
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
