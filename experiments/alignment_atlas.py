"""Alignment atlas: how every rule's updates relate to the gradient, across network widths.

Every built-in rule (and a random-direction baseline with backprop's step sizes) learns the
nonlinear teacher-student task (a random tanh teacher, 20 inputs, 10 hidden, 5 outputs)
with tanh students of several hidden widths. Every update is compared with the
*population* gradient, the gradient of the expected squared-error loss, at the parameters
before it (Richards & Kording 2023: a rule follows the gradient when its expected update
has a positive inner product with the negative gradient). It is estimated on a fixed
evaluation set of ``n_eval`` teacher samples per replicate, reused for every rule, width
and update of that replicate, and each cosine's denominator is corrected for the
estimate's noise (:func:`plasticity.analysis.align`).

Beside the primary cosine: ``cos_batch_mean``, the cosine with the gradient of the same
minibatch the rule saw (1 for backprop by construction, so secondary), and
``sgd_ceiling``, the cosine the exact minibatch gradient itself reaches against the
population gradient at the same states: with batches of 16 even backprop's update points
only partly along the population gradient, and no rule that sees one minibatch can be
expected above that.

Each of ``seeds`` replicates is independent: its own student initialisation, data
stream, rule noise, feedback matrices (where the rules take a seed) and evaluation set,
all from the run's seed stream; the teacher is fixed by the run seed. Per rule and width
the summary gives the mean over replicates of each replicate's mean cosine with a
t-interval over replicates (``seeds_cos_mean``, ``seeds_cos_low``, ``seeds_cos_high``, and
the same numbers as ``cos_mean``, ``cos_ci_low``, ``cos_ci_high`` with ``ci_method``
saying so), the SGD ceiling with its interval, the fraction of updates with a positive
inner product and the cosine of the expected update at the initial state (over fresh
batches and rule noise), each averaged over replicates. With one replicate the interval
is the within-run one of :func:`plasticity.analysis.summarize`.

``--set rule=package.module:Name`` runs a researcher's own rule instead of the whole set.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from plasticity.experiment import AlignmentMeta, Config, Experiment

#: The rules of the full atlas, in plotting order; ``random_direction`` is the baseline.
RULES = ("backprop", "feedback_alignment", "node_perturbation", "weight_perturbation", "es",
         "hill_climbing", "annealing", "genetic", "hebb", "oja", "random_direction")

#: Rules drawn as shaded bands: they carry no information about the gradient, or only the
#: accept-if-better kind every loss-decreasing search has.
BASELINES = ("random_direction", "hill_climbing")

TASK = {"n_inputs": 20, "n_hidden": 10, "n_outputs": 5}

#: Per-replicate results averaged over replicates (the intervals are recomputed).
_AVERAGED = ("cos_batch_mean", "frac_positive", "expected_cos", "expected_cos_raw",
             "expected_cos_ci_low", "expected_cos_ci_high", "expected_snr", "final_loss",
             "n_eff")


def _resolve(name, net, seed=None):
    from plasticity.alignment import resolve_seeded

    if name == "random_direction":
        from plasticity.analysis import RandomDirection

        # Backprop's step sizes with directions that know nothing of the gradient.
        return RandomDirection(resolve_seeded("backprop", net=net, seed=seed))
    return resolve_seeded(name, net=net, seed=seed)


class AtlasConfig(Config):
    rule: str = Field("all", description="'all', one built-in rule, or 'package.module:Name'")
    widths: list[int] = Field([8, 32], min_length=1, description="student hidden widths")
    seeds: int = Field(3, ge=1, description="independent replicates (student, data, noise, "
                                             "feedback, evaluation set)")
    n_updates: int = Field(30, ge=2, description="updates per rule, width and replicate")
    batch_size: int = Field(16, ge=1, description="samples per update")
    expected_draws: int = Field(20, ge=2, description="draws for the expected update, "
                                                      "per replicate")
    record_every: int = Field(1, ge=1, description="updates between alignment records")
    n_eval: int = Field(512, ge=2, description="evaluation-set size of the population "
                                                "gradient (teacher samples)")

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


def combine(results):
    """One rule's per-replicate results (dicts of :func:`measure_problem`) as one.

    Means over replicates of the per-replicate means; the intervals of ``cos_mean`` and
    ``sgd_ceiling`` are t-intervals over the replicates
    (:func:`plasticity.analysis.stats.seeds_interval`), or with one replicate its own.

    Returns
    -------
    dict
        :data:`plasticity.alignment.SUMMARY_KEYS` (``n_measured`` summed over
        replicates), the averaged extra keys present in every replicate, and
        ``seeds_cos_mean``, ``seeds_cos_low``, ``seeds_cos_high``, ``seeds_cos_n``.
    """
    from plasticity.analysis import combine_seeds, seeds_summary

    averaged = [k for k in _AVERAGED if all(k in r for r in results)]
    out = combine_seeds(results, averaged)
    if len(results) > 1:
        ceiling = seeds_summary([r["sgd_ceiling"] for r in results
                                 if np.isfinite(r["sgd_ceiling"])], prefix="sgd")
        out.update(sgd_ceiling=ceiling["sgd_mean"], sgd_ceiling_ci_low=ceiling["sgd_low"],
                   sgd_ceiling_ci_high=ceiling["sgd_high"], reference=results[0]["reference"])
    return out
    cos = [r["cos_mean"] for r in results]
    sgd = [r["sgd_ceiling"] for r in results]
    finite = [c for c in cos if np.isfinite(c)]
    seeds = seeds_summary(finite)
    ceiling = seeds_summary([c for c in sgd if np.isfinite(c)], prefix="sgd")
    out = {"cos_mean": seeds["seeds_cos_mean"], "cos_ci_low": seeds["seeds_cos_low"],
           "cos_ci_high": seeds["seeds_cos_high"],
           "ci_method": f"t over {len(finite)} seeds (within each: "
                        f"{results[0]['ci_method']})",
           "sgd_ceiling": ceiling["sgd_mean"], "sgd_ceiling_ci_low": ceiling["sgd_low"],
           "sgd_ceiling_ci_high": ceiling["sgd_high"],
           "n_measured": int(sum(r["n_measured"] for r in results)),
           "reference": results[0]["reference"], **seeds}
    for key in _AVERAGED:
        if all(key in r for r in results):
            out[key] = float(np.mean([r[key] for r in results]))
    return out


def run(cfg: AtlasConfig, ctx):
    from plasticity.alignment import SUMMARY_KEYS, measure_problem
    from plasticity.problems import FeedForwardProblem
    from plasticity.rules.resolve import spec_name
    from plasticity.tasks.supervised import TanhTeacher

    task = TanhTeacher(rng=ctx.child_rng(), **TASK)
    names = _names(cfg)
    summary = {}
    with ctx.progress(len(names) * len(cfg.widths) * cfg.seeds, "alignment-atlas") as bar:
        for width in cfg.widths:
            net = task.student(width)
            per_rule = {}
            for rep in range(cfg.seeds):
                # One evaluation set per replicate, the same for every width and rule.
                problem = FeedForwardProblem(task, net, n_eval=cfg.n_eval,
                                             eval_seed=[ctx.seed, 2000, rep])
                params = net.init_params(np.random.default_rng([ctx.seed, 1000 + width,
                                                                rep]))
                for i, name in enumerate(names):
                    rule = _resolve(name, net, seed=[ctx.seed, 3000 + width, i, rep])
                    # Built-in names (and the baseline) key themselves; an import path
                    # keys by the rule's own name, e.g. "SignHebb".
                    key = name if name in RULES else spec_name(name, rule)
                    res = measure_problem(
                        rule, problem, params, n_updates=cfg.n_updates,
                        batch_size=cfg.batch_size, seed=[ctx.seed, width, i, rep],
                        recorder=ctx.recorder, prefix=f"/alignment/{key}/w{width}/s{rep}",
                        expected_draws=cfg.expected_draws, record_every=cfg.record_every,
                        # totals only: the per-array tables would double the file-writing time
                        record_tables=("total",))
                    per_rule.setdefault(key, []).append(res)
                    bar.update(1)
            for key, results in per_rule.items():
                res = combine(results)
                keys = [k for k in (*SUMMARY_KEYS, *_AVERAGED, "seeds_cos_mean",
                                    "seeds_cos_low", "seeds_cos_high") if k in res]
                for k in keys:
                    summary[f"{key}.{k}_w{width}"] = res[k]
                if width == cfg.widths[-1]:
                    summary.update({f"{key}.{k}": res[k] for k in keys})
    ctx.summary(**summary, n_rules=len(names), largest_width=cfg.widths[-1],
                n_seeds=cfg.seeds)


def memory(cfg: AtlasConfig):
    """The dominant arrays (:mod:`plasticity.io.memory`) at the largest width, with
    ``P = (n_inputs + 1) width + (width + 1) n_outputs`` parameters: the expected-update
    draws (expected_draws x P, stacked and flattened), the evaluation set's forward and
    backward pass (n_eval x the layer sizes, four arrays), and per rule about 16 vectors
    of P (parameters, update, gradients, a population of the ES or the GA up to its
    size, feedback matrices)."""
    from plasticity.io.memory import MemoryEstimate, array_bytes

    w = max(cfg.widths)
    n_in, n_out = TASK["n_inputs"], TASK["n_outputs"]
    p = (n_in + 1) * w + (w + 1) * n_out
    return (MemoryEstimate()
            .add("the expected-update draws", "2 x expected_draws x P float64",
                 2 * array_bytes(cfg.expected_draws, p))
            .add("the evaluation set's forward and backward pass",
                 "4 x n_eval x (n_inputs + width + n_outputs) float64",
                 4 * array_bytes(cfg.n_eval, n_in + w + n_out))
            .add("the rules' parameters, updates, gradients and populations",
                 "16 x P float64 (P ~ 26 x max(widths))", 16 * array_bytes(p)))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    widths = np.asarray(run.config["widths"])
    w_src = src("config:widths")
    s = run.summary
    rules = sorted({k.split(".")[0] for k in s if k.endswith(".cos_mean")},
                   key=lambda r: (RULES.index(r) if r in RULES else len(RULES), r))
    fig, ax = figure("double", height_ratio=0.45)

    def series(rule, key):
        values = np.array([s.get(f"{rule}.{key}_w{w}", np.nan) for w in widths], float)
        return values, stack([src(f"summary:{rule}.{key}_w{w}", default=np.nan)
                              for w in widths])

    # The SGD ceiling: what the exact minibatch gradient reaches against the population
    # gradient, along backprop's own states (every rule's ceiling is in the summary).
    for rule in ("backprop",) if "backprop" in rules else rules:
        (mean, m_src), (low, lo_src), (high, hi_src) = (
            series(rule, k) for k in ("sgd_ceiling", "sgd_ceiling_ci_low",
                                      "sgd_ceiling_ci_high"))
        label = "SGD ceiling" + ("" if rule == "backprop" else f" ({rule}'s states)")
        traced(ax.fill_between(widths, low, high, color="0.2", alpha=0.12, lw=0),
               x=w_src, y1=lo_src, y2=hi_src)
        traced(ax.plot(widths, mean, color="0.2", lw=1.2, ls=(0, (1, 1)),
                       label=f"{label} (exact minibatch gradient)")[0], x=w_src, y=m_src)
    n_seeds = run.summary.get("n_seeds", 1)
    what = f"95% CI over {n_seeds} seeds" if n_seeds > 1 else "95% CI"
    for i, rule in enumerate(rules):
        (mean, m_src), (low, lo_src), (high, hi_src) = (
            series(rule, k) for k in ("cos_mean", "cos_ci_low", "cos_ci_high"))
        color = PALETTE[i % len(PALETTE)] if rule not in BASELINES else "0.45"
        if rule in BASELINES:
            traced(ax.fill_between(widths, low, high, color=color,
                                   alpha=0.25 if rule == "random_direction" else 0.12, lw=0,
                                   label=f"{rule} ({what})"), x=w_src, y1=lo_src, y2=hi_src)
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
    ax.set_ylabel(f"cosine with -population gradient\n(mean over updates; {what})")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    ax.set_title("alignment of updates with the population gradient, teacher-student task",
                 loc="left")
    return fig


EXPERIMENT = Experiment(
    name="alignment-atlas",
    description="Every rule's alignment with the gradient at several widths, with baselines.",
    config=AtlasConfig,
    run=run,
    plot=plot,
    memory=memory,
    presets={"quick": {},
             "full": {"widths": [8, 16, 32, 64, 128], "seeds": 5, "n_updates": 1000,
                      "batch_size": 32, "expected_draws": 1000, "n_eval": 4096}},
    alignment=AlignmentMeta(substrate="rate", loss="teacher-student squared error",
                            problem="teacher-student (FeedForwardProblem)",
                            reference="population-estimated", baselines=BASELINES),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
