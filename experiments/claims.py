"""The claims atlas: every testable claim of the debate, its experiment, its number, its verdict.

Is learning in the brain gradient descent, selection, or neither? The argument is made of
concrete claims, and each is tested by one experiment of this package that declares
:class:`~plasticity.experiment.ClaimMeta`: the claim in words, the summary key of the one
number that answers it (with its 95% interval), and a verdict in plain words computed
from the run's numbers. This experiment collects them from real runs onto one page, so
that every number on the page traces back to a run file.

The sources are found, not named: every experiment whose ``EXPERIMENT`` declares
``claim=ClaimMeta(...)``, ordered by the claim's number (issue 19's ten claims first,
then the experiments that joined the page later: the perturbation cosine law, the
replicator and Fisher's theorem, selection against the gradient).

What is recorded, per source experiment ``<name>``
    ``<name>.number``, ``<name>.claim``, ``<name>.label`` (what the headline is);
    ``<name>.value``, ``<name>.low``, ``<name>.high`` (the headline and its interval, NaN
    where the source gives none); ``<name>.null`` (what the headline is read against, NaN
    where none is declared); ``<name>.verdict`` (the source's whole verdict) and
    ``<name>.verdict_brief`` (its first sentence, what the page shows);
    ``<name>.outcome``: ``supported``, ``not supported``, ``partly``, ``unresolved``, or
    ``see verdict`` when the verdict does not open with one of those words;
    ``<name>.source``: the run file.
    And ``experiments`` (the sources in page order), ``n_claims``, ``sources``.

Without ``from_runs`` the run first executes every source on its quick preset (with the
per-source overrides in ``sets``), writing their run files into ``<stem>-sources/``;
``--set from_runs=[a.h5,b.h5]`` collects existing runs of claim experiments instead.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.errors import InvalidParameterError
from plasticity.experiment import Config, Experiment
from plasticity.registry import claim_experiments

#: The verdict's opening words and the outcome each names (checked in this order).
OUTCOMES = (("not supported", "not supported"), ("not shown", "not supported"),
            ("supported", "supported"), ("partly", "partly"), ("unresolved", "unresolved"))
#: Page layout (figure fractions): claim text, the measured panel, the verdict text.
LEFT_TEXT, LEFT_PANEL, RIGHT_PANEL, RIGHT_TEXT = 0.01, 0.38, 0.6, 0.63
#: The most lines of a brief verdict a row of the page shows.
MAX_BRIEF_LINES = 6
#: outcome -> palette index of its row marker
OUTCOME_STYLE = {"supported": 2, "not supported": 3, "partly": 1, "unresolved": 5,
                 "see verdict": 5}


def _meta(experiment):
    """The claim metadata of ``experiment`` (a name), or None."""
    from plasticity.registry import load

    return getattr(load(experiment), "claim", None)


class ClaimsConfig(Config):
    from_runs: list[str] = Field([], description="run files of claim experiments; empty: "
                                 "run the sources")
    sources: list[str] = Field([], description="claim experiments to run when from_runs "
                               "is empty; empty: every one, in claim order")
    sets: dict[str, dict] = Field({}, description="per-source overrides of its preset, "
                                  "{experiment: {key: value}}")
    source_preset: str = Field("quick", description="preset of the source runs")

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value):
        if len(set(value)) != len(value):
            raise ValueError("a source is named twice")
        for name in value:
            if _meta(name) is None:
                raise ValueError(f"{name} declares no claim metadata")
        return value

    @model_validator(mode="after")
    def _sets_are_sources(self):
        sources = self.sources or claim_experiments() if self.sets else self.sources
        unknown = [k for k in self.sets if k not in sources]
        if unknown:
            raise ValueError(f"sets: {unknown[0]} is not a source ({', '.join(sources)})")
        return self

    @field_validator("from_runs")
    @classmethod
    def _readable_runs(cls, value):
        from plasticity.errors import RunFileError
        from plasticity.io.runfile import open_run

        seen = set()
        for path in value:
            try:
                run = open_run(path)
            except RunFileError as exc:
                raise ValueError(str(exc)) from None
            if _meta(run.experiment) is None:
                raise ValueError(f"{path} is a run of {run.experiment}, which declares no "
                                 "claim metadata")
            if run.status != "complete":
                raise ValueError(f"{path} did not complete (status {run.status})")
            if run.experiment in seen:
                raise ValueError(f"two runs of {run.experiment}; give one run per claim")
            seen.add(run.experiment)
        return value


def brief(verdict):
    """The first sentence of ``verdict`` (a full stop followed by a space and a capital
    letter ends it; decimal points and "e.g." do not)."""
    text = " ".join(str(verdict).split())
    m = re.search(r"(?<!e\.g)(?<!i\.e)\.\s+(?=[A-Z(])", text)
    return text[:m.start() + 1] if m else text


def outcome(verdict):
    """The outcome a verdict opens with (see :data:`OUTCOMES`)."""
    head = str(verdict).lstrip().lower()
    for words, name in OUTCOMES:
        if head.startswith(words):
            return name
    return "see verdict"


def _value(summary, key):
    if key is None:
        return np.nan
    if isinstance(key, (int, float)):
        return float(key)
    value = summary.get(key, np.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def collect(run_file):
    """The atlas row of one claim run: ``{field: value}`` (see the module docstring)."""
    meta = _meta(run_file.experiment)
    s = run_file.summary
    if meta.headline not in s:
        raise InvalidParameterError(f"claims: {run_file.path} lacks its headline key "
                                    f"{meta.headline}.")
    verdict = meta.verdict_of(s)
    return {"number": int(meta.number), "claim": meta.claim, "label": meta.label,
            "value": _value(s, meta.headline), "low": _value(s, meta.low),
            "high": _value(s, meta.high), "null": _value(s, meta.null),
            "verdict": verdict, "verdict_brief": brief(verdict),
            "outcome": outcome(verdict), "source": str(run_file.path)}


def run(cfg: ClaimsConfig, ctx):
    from pathlib import Path

    from plasticity.experiment import run_sources
    from plasticity.io.runfile import open_run

    paths = cfg.from_runs or run_sources(cfg.sources or claim_experiments(), ctx,
                                         sets=cfg.sets, preset=cfg.source_preset,
                                         who="claims")
    rows = {}
    for path in paths:
        run_file = open_run(Path(path).resolve())
        rows[run_file.experiment] = collect(run_file)
    order = sorted(rows, key=lambda name: (rows[name]["number"], name))
    summary = {"experiments": ",".join(order), "n_claims": len(order),
               "sources": ",".join(str(Path(p).resolve()) for p in paths)}
    for name in order:
        summary.update({f"{name}.{k}": v for k, v in rows[name].items()})
    ctx.summary(**summary)


def plot(run):
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    from plasticity.plots import PALETTE
    from plasticity.plots.provenance import src, stack, traced
    from plasticity.plots.style import DOUBLE_COLUMN_WIDTH_IN, use_style

    s = run.summary
    names = [n for n in str(s.get("experiments", "")).split(",") if n]
    n = len(names)
    use_style()
    width = DOUBLE_COLUMN_WIDTH_IN
    fig, axes = plt.subplots(n, 1, figsize=(width, width * (0.105 * n + 0.08)),
                             squeeze=False)
    # one data panel per claim, in the middle of the page; the claim and the verdict are
    # text beside it (a text column would be a panel without data), so the layout is
    # set by hand rather than by the house's constrained layout
    fig.subplots_adjust(left=LEFT_PANEL, right=RIGHT_PANEL, top=1 - 0.25 / (n + 1),
                        bottom=0.35 / (n + 1), hspace=1.1)
    for i, name in enumerate(names):
        mid = axes[i][0]
        # x in figure coordinates (the text columns), y in the panel's
        beside = blended_transform_factory(fig.transFigure, mid.transAxes)
        claim = textwrap.fill(f"{s[f'{name}.number']}. {s[f'{name}.claim']}", 52)
        mid.text(LEFT_TEXT, 0.55, claim, fontsize=5.5, va="center", ha="left",
                 transform=beside)
        mid.text(LEFT_TEXT, -0.1, name, fontsize=5, va="top", ha="left", color="0.4",
                 family="monospace", transform=beside)
        kind = str(s[f"{name}.outcome"])
        colour = PALETTE[OUTCOME_STYLE.get(kind, 5) % len(PALETTE)]
        lines = textwrap.wrap(str(s[f"{name}.verdict_brief"]), 68)
        if len(lines) > MAX_BRIEF_LINES:
            # a row holds so much; the run file keeps the verdict whole
            lines = lines[:MAX_BRIEF_LINES]
            lines[-1] += " [...]"
        mid.text(RIGHT_TEXT, 0.5, "\n".join(lines), fontsize=5, va="center", ha="left",
                 transform=beside)
        value, low, high = (float(s[f"{name}.{k}"]) for k in ("value", "low", "high"))
        if np.isfinite(low) and np.isfinite(high):
            traced(mid.errorbar([value], [0.0], xerr=[[value - low], [high - value]],
                                fmt="o", ms=3, color=colour, capsize=1.5, lw=0.9),
                   x=stack([src(f"summary:{name}.value")]), y=[0.0],
                   xlow=stack([src(f"summary:{name}.low")]),
                   xhigh=stack([src(f"summary:{name}.high")]))
            span = [low, high]
        else:
            traced(mid.plot([value], [0.0], "o", ms=3, color=colour)[0],
                   x=stack([src(f"summary:{name}.value")]), y=[0.0])
            span = [value]
        null = float(s[f"{name}.null"])
        if np.isfinite(null):
            traced(mid.axvline(null, color="0.5", lw=0.6, ls="--"),
                   x=src(f"summary:{name}.null"))
            span.append(null)
        lo, hi = min(span), max(span)
        pad = 0.15 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
        mid.set_xlim(lo - pad, hi + pad)
        mid.set_ylim(-1.0, 1.0)
        mid.set_yticks([])
        mid.tick_params(axis="x", labelsize=5, length=2, pad=1)
        mid.set_xlabel(str(s[f"{name}.label"]), fontsize=5, labelpad=1)
        for side in ("left", "right", "top"):
            mid.spines[side].set_visible(False)
        mid.text(1.0, 1.0, kind, fontsize=5, color=colour, ha="right", va="bottom",
                 transform=mid.transAxes)
    y_top = 1 - 0.08 / (n + 1)
    for x, title in ((LEFT_TEXT, "the claim (the experiment that tests it)"),
                     (LEFT_PANEL, "measured (95% CI)"),
                     (RIGHT_TEXT, "verdict, in brief (the run file holds it whole)")):
        fig.text(x, y_top, title, fontsize=6, ha="left", va="top", weight="bold")
    return fig


EXPERIMENT = Experiment(
    name="claims",
    description="The claims atlas: each testable claim of the gradient-vs-selection debate, "
                "its measured number with a 95% interval and its verdict, on one page.",
    config=ClaimsConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"source_preset": "full"}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
