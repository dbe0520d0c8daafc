"""Does plasticity follow the gradient? Every rule's cosine with the true gradient in one figure.

The headline of the alignment analysis, collected from real runs of the experiments that
measure it, so that every number in the figure can be traced to a run file:

- ``alignment-atlas``: every built-in rule on the rate substrate (a tanh teacher-student
  task, the widest student of the run), with the baselines: a random direction with
  backprop's step sizes, and hill climbing, the (1+1)-ES that keeps a random step only
  if the loss drops;
- ``spiking-alignment``: STDP and node perturbation on escape-noise LIF neurons, judged
  against the likelihood-ratio gradient oracle, with the random-direction baseline;
- ``bandit-alignment``: REINFORCE and three-factor rules on a k-armed bandit against the
  exact policy gradient (rate-based policy), with the random-direction baseline.

Per rule the summary gives the substrate, the mean per-update cosine with the negative
gradient and its 95% bootstrap interval (``<substrate>.<rule>.cos_mean``,
``.cos_ci_low``, ``.cos_ci_high``), the cosine of the expected update where the source
measures it (``.expected_cos``; NaN otherwise), whether the rule is a baseline
(``.baseline``) and the run file it came from (``.source``).

Without ``from_runs`` the run first executes the sources on their quick presets (with the
``*_set`` overrides), writing their run files beside its own in ``<stem>-sources/``; with
``--set from_runs=[a.h5,b.h5]`` it collects existing runs instead (also
``temporal-prediction`` and ``pc-vs-backprop``, whose alignment analyses add one rule
each).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from plasticity.errors import InvalidParameterError
from plasticity.experiment import Config, Experiment

#: Source experiments run when no run files are given, in this order.
DEFAULT_SOURCES = ("alignment-atlas", "spiking-alignment", "bandit-alignment")

#: experiment -> (substrate label, baseline rules).
SOURCES = {
    "alignment-atlas": ("rate", ("random_direction", "hill_climbing")),
    "spiking-alignment": ("spiking", ("random_direction",)),
    "bandit-alignment": ("bandit", ("random_direction",)),
    "temporal-prediction": ("rate", ()),
    "pc-vs-backprop": ("rate", ()),
}

#: Substrate -> (marker, palette index) in the figure.
STYLE = {"rate": ("o", 0), "spiking": ("s", 3), "bandit": ("^", 2)}


class SummaryConfig(Config):
    from_runs: list[str] = Field([], description="run files to collect (alignment-atlas, "
                                 "spiking-alignment, bandit-alignment, temporal-prediction, "
                                 "pc-vs-backprop); empty: run the default sources")
    sources: list[str] = Field(list(DEFAULT_SOURCES), min_length=1,
                               description="experiments to run when from_runs is empty")
    atlas_set: dict = Field({}, description="overrides of alignment-atlas's preset")
    spiking_set: dict = Field({}, description="overrides of spiking-alignment's preset")
    bandit_set: dict = Field({}, description="overrides of bandit-alignment's preset")
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
        return value


def _rows(run):
    """``[(rule, substrate, cos_mean, ci_low, ci_high, expected_cos, baseline)]`` of one
    run file."""
    substrate, baselines = SOURCES[run.experiment]
    s = run.summary
    if run.experiment == "temporal-prediction":
        return [("temporal_delta", substrate, s["cos_mean"], s["cos_ci_low"],
                 s["cos_ci_high"], s.get("expected_cos", np.nan), False)]
    if run.experiment == "pc-vs-backprop":
        return [("predictive_coding", substrate, s["align_cos_mean"], s["align_cos_ci_low"],
                 s["align_cos_ci_high"], np.nan, False)]
    rules = sorted({k.rsplit(".", 1)[0] for k in s if k.endswith(".cos_mean")})
    return [(rule, substrate, s[f"{rule}.cos_mean"], s[f"{rule}.cos_ci_low"],
             s[f"{rule}.cos_ci_high"], s.get(f"{rule}.expected_cos", np.nan),
             rule in baselines) for rule in rules]


def _run_sources(cfg, ctx):
    from pathlib import Path

    from plasticity.experiment import execute
    from plasticity.registry import load

    rec_path = Path(ctx.recorder.path)
    folder = rec_path.parent / f"{rec_path.stem}-sources"
    folder.mkdir(exist_ok=True)
    sets = {"alignment-atlas": cfg.atlas_set, "spiking-alignment": cfg.spiking_set,
            "bandit-alignment": cfg.bandit_set}
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
        for rule, substrate, mean, low, high, expected, baseline in _rows(run_file):
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
                           f"{label}.source": str(path)})
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
    names = [lb.split(".", 1)[1].replace("_", " ") + ("" if lb.startswith("rate.") else
                                                       f" ({lb.split('.', 1)[0]})")
             for lb in labels]
    ax.set_yticks(range(len(labels)), names, fontsize=6)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("cosine of the update with the negative gradient")
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
    from plasticity.cli import run_file_main

    raise SystemExit(run_file_main(__file__))
