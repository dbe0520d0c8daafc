"""E-prop and surrogate-gradient BPTT on a recurrent spiking network, judged by the true gradient.

One file (over 400 lines would be split; this one is not) in the DESIGN.md layout: the
network, oracle and rules live in the library (:mod:`plasticity.spiking.recurrent_escape`,
:mod:`plasticity.problems.spiking_recurrent`, :mod:`plasticity.rules.eprop_spiking`);
what stays here is the study: config, seeds, figure.

The question (issue 17, spiking part): surrogate gradients and e-prop are derived for a
deterministic network whose spike nonlinearity is given a made-up derivative. How well do
their updates align with the gradient of what a *stochastic* spiking network actually
computes, the expected loss over its neuron noise? The network is Bellec et al.
(2020)'s discrete LIF/ALIF network with reset by subtraction and a leaky readout, made
stochastic by escape noise (:class:`~plasticity.problems.RecurrentSpikingProblem`); the
task is pattern generation: for each of ``n_patterns`` frozen Poisson inputs the readout
must follow a sum of three sinusoids; the loss is the mean squared readout error.

Rules (each learns ``n_updates`` updates from the same initial weights, one update per
``batch_trials`` realised trials):

``eprop_symmetric``
    :class:`~plasticity.rules.EPropSpiking` with ``B = W_out^T``.
``eprop_random``
    The same with fixed random feedback (drawn from the run's seed stream per seed).
``surrogate_bptt``
    :class:`~plasticity.rules.SurrogateBPTT`: the exact gradient of the realised trial's
    surrogate graph (the pseudo-derivative in place of the spike's derivative).
``random_direction``
    Surrogate BPTT's step norm in an isotropic random direction (the same-budget
    baseline, :class:`plasticity.analysis.baselines.RandomDirection`).

The reference: every ``record_every``-th update, the problem's oracle
(:class:`~plasticity.spiking.recurrent_escape.RecurrentEscapeOracle`: likelihood ratio
with a leave-one-out baseline for ``W_in`` and ``W_rec``, the exact pathwise mean for
``W_out``; unbiased, validated against exact enumeration in the tests) estimates the
gradient of the expected loss at the pre-update weights from ``n_trials`` trials per
pattern, with fresh noise at every record, and :func:`plasticity.analysis.measured`
records the alignment with its standard error under ``/alignment/<rule>/`` (the cosine
noise-corrected with the oracle's ``se``, :func:`plasticity.analysis.update_alignment.
align`). The loss estimated from the same trials is the learning curve
(``/series/loss/<rule>``).

Summary per rule (docs/statistics.md key scheme): ``<rule>.cos_mean``,
``<rule>.cos_ci_low``, ``<rule>.cos_ci_high`` are the t-interval over seeds of each
seed's mean total cosine (``seeds_cos_*`` the same; one seed: the within-run batch-means
interval), ``<rule>.ci_method``, ``<rule>.n_measured``; ``<rule>.W_in.cos_mean`` and
``<rule>.W_rec.cos_mean`` the per-array cosines (mean over seeds; ``W_out``'s update is
the exact readout gradient for every rule but the baseline, so the hidden arrays are
where the rules differ); ``<rule>.frac_positive``, ``<rule>.loss_first``,
``<rule>.loss_last`` (oracle estimates, mean over seeds). Further keys:
``oracle_self_cos`` (cosine of two independent oracle estimates at the initial weights,
mean over seeds), ``oracle_rel_se``, ``oracle_n_trials``, ``n_seeds``,
``n_parameters``, ``firing_rate_hz`` (at the initial weights).

References
----------
Bellec, G. et al. (2020). Nature Communications 11, 3625 (e-prop).
Neftci, E. O., Mostafa, H., & Zenke, F. (2019). IEEE Signal Process. Mag. 36, 51-63.
Williams, R. J. (1992). Machine Learning 8, 229-256 (the likelihood-ratio estimator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from plasticity.engine import Batch
from plasticity.experiment import AlignmentMeta, Config, Experiment

RULES = ("eprop_symmetric", "eprop_random", "surrogate_bptt", "random_direction")

ALIGNMENT = {"reference": "population-estimated", "problem": "pattern-recurrent-spiking",
             "ci_method": "batch_means", "seeds_ci_method": "t",
             "seeds": {"quick": 3, "full": 5}, "rules": list(RULES),
             # its own row group in alignment-summary: spiking-alignment's rows are
             # "spiking.<rule>", and both have a random_direction baseline
             "substrate": "recurrent_spiking"}


class EPropSpikingConfig(Config):
    """The network, the task, the rules and the oracle."""

    n_inputs: int = Field(10, ge=1, description="input spike trains")
    n_rec: int = Field(20, ge=1, description="recurrent neurons")
    n_adaptive: int = Field(10, ge=0, description="of which ALIF (the last ones)")
    n_outputs: int = Field(1, ge=1, description="readout units")
    n_steps: int = Field(60, ge=2, description="trial length (steps of dt_ms)")
    dt_ms: float = Field(1.0, gt=0, description="time step (ms)")
    tau_m_ms: float = Field(20.0, gt=0, description="membrane time constant (ms)")
    tau_a_ms: float = Field(200.0, gt=0, description="adaptation time constant (ms)")
    tau_out_ms: float = Field(20.0, gt=0, description="readout time constant (ms)")
    beta_mv: float = Field(1.5, ge=0, description="adaptation strength (mV)")
    n_patterns: int = Field(2, ge=1, description="input patterns (targets)")
    rate_hz: float = Field(30.0, gt=0, le=1000, description="input rate (Hz)")
    in_mean_mv: float = Field(2.0, description="mean initial input weight (mV)")
    n_updates: int = Field(60, ge=1, description="updates per rule")
    batch_trials: int = Field(1, ge=1, description="realised trials per update")
    record_every: int = Field(3, ge=1, description="measure every k-th update")
    seeds: int = Field(3, ge=1, le=100, description="independent seeds")
    n_trials: int = Field(1000, ge=2, description="oracle trials per pattern")
    eta: float = Field(0.1, gt=0, description="learning rate of every rule (0.5 makes the "
                     "readout step unstable and the quick preset diverge)")
    gamma: float = Field(0.3, gt=0, description="pseudo-derivative dampening")
    width_mv: float | None = Field(None, gt=0, description="pseudo-derivative half-width "
                                   "(mV); None: the threshold")
    n_boot: int = Field(2000, ge=100, description="bootstrap resamples")


@dataclass
class _Trials(Batch):
    """One update's trials: their patterns and noise seeds, and the update number."""

    patterns: np.ndarray | None = None
    seeds: np.ndarray | None = None
    step: int = 0


def _rules(cfg, feedback_seed):
    from plasticity.analysis.baselines import RandomDirection
    from plasticity.rules import EPropSpiking, SurrogateBPTT

    kw = {"eta": cfg.eta, "gamma": cfg.gamma, "width_mv": cfg.width_mv}
    return {"eprop_symmetric": EPropSpiking(**kw),
            "eprop_random": EPropSpiking(feedback="random", seed=feedback_seed, **kw),
            "surrogate_bptt": SurrogateBPTT(**kw),
            "random_direction": RandomDirection(SurrogateBPTT(**kw))}


_SEED_UNITS = {"cos_mean": "1", "cos_ci_low": "1", "cos_ci_high": "1",
               "W_in.cos_mean": "1", "W_rec.cos_mean": "1", "frac_positive": "1",
               "n_measured": "1", "loss_first": "output^2", "loss_last": "output^2"}
_AVERAGED = ("frac_positive", "n_eff", "loss_first", "loss_last", "W_in.cos_mean",
             "W_rec.cos_mean")


def _array_mean(records, key):
    table = records.get(key)
    if table is None:
        return float("nan")
    keep = ~np.asarray(table["zero_norm"], bool)
    return float(np.mean(np.asarray(table["cos"])[keep])) if keep.any() else float("nan")


def _one_seed(cfg, ctx, task, index, bar):
    """One seed: initial weights, oracle, feedback matrix and every rule's run.

    Seed 0 records under ``/alignment/<rule>/`` and ``/series/loss/<rule>``; seed ``k``
    its ``total`` table under ``/alignment/seed<k>/<rule>/`` and its loss curve under
    ``/series/loss/seed<k>/<rule>``.
    """
    from plasticity.analysis import measured, summarize
    from plasticity.analysis.geometry import cosine
    from plasticity.engine import train
    from plasticity.problems import RecurrentSpikingProblem

    problem = RecurrentSpikingProblem(task, n_trials=cfg.n_trials, noise="fresh",
                                      seed=ctx.child_rng(),
                                      init={"in_mean_mv": cfg.in_mean_mv})
    params0 = problem.init_params(ctx.child_rng())
    feedback_seed = int(ctx.child_rng().integers(2**31))
    first, second = problem.estimate(params0), problem.estimate(params0)
    probe = problem.signals(params0, problem.batch(20, ctx.child_rng()))
    setup = {"oracle_self_cos": cosine(first.grad, second.grad, undefined=0.0),
             "loss_first": 0.5 * (first.loss + second.loss),
             "firing_rate_hz": float(probe["spikes"].mean() / (cfg.dt_ms * 1e-3))}
    sub = "" if index == 0 else f"seed{index}/"
    per_rule, rel_se = {}, []
    for name, rule in _rules(cfg, feedback_seed).items():
        entropy = [ctx.seed, 17, RULES.index(name)] + ([index] if index else [])
        data_rng, rule_rng = (np.random.default_rng(s)
                              for s in np.random.SeedSequence(entropy).spawn(2))

        def next_batch(step, _rng=data_rng):
            b = problem.batch(cfg.batch_trials, _rng)
            return _Trials(x=task.inputs[b.patterns[0]], patterns=b.patterns,
                           seeds=b.seeds, step=step)

        def signals(p, batch):
            from plasticity.problems.spiking_recurrent import RecurrentTrials

            sig = problem.signals(p, RecurrentTrials(batch.patterns, batch.seeds))
            batch.reward = sig["reward"]
            return {**sig, "step": batch.step}

        def gradient_fn(p, s, _name=name):
            est = problem.estimate(p)
            ctx.recorder.append(f"loss/{sub}{_name}", s["step"] - 1,
                                units={"loss": "output^2", "loss_se": "output^2"},
                                loss=est.loss, loss_se=est.loss_se)
            return est.grad, est.se

        wrapped = measured(rule, gradient_fn, every=cfg.record_every,
                           recorder=ctx.recorder, prefix=f"/alignment/{sub}{name}",
                           record_tables=None if index == 0 else ("total",))
        final, _ = train(wrapped, params0, n_updates=cfg.n_updates, next_batch=next_batch,
                         signals=signals, rng=rule_rng, progress=bar)
        total = wrapped.records["total"]
        keep = ~total["zero_norm"]
        stats = summarize(total["cos"][keep], total["inner"][keep], n_boot=cfg.n_boot,
                          rng=0)
        last = problem.estimate(final)
        ctx.recorder.append(f"loss/{sub}{name}", cfg.n_updates,
                            units={"loss": "output^2", "loss_se": "output^2"},
                            loss=last.loss, loss_se=last.loss_se)
        rel_se.extend(total["grad_se"] / np.maximum(total["grad_norm"], 1e-300))
        per_rule[name] = {**{("n_measured" if k == "n" else k): v for k, v in stats.items()},
                          "W_in.cos_mean": _array_mean(wrapped.records, "W_in"),
                          "W_rec.cos_mean": _array_mean(wrapped.records, "W_rec"),
                          "loss_first": setup["loss_first"], "loss_last": last.loss}
    return setup, per_rule, rel_se


def run(cfg: EPropSpikingConfig, ctx):
    from plasticity.analysis import combine_seeds
    from plasticity.errors import InvalidParameterError
    from plasticity.spiking.recurrent_escape import PatternTask, RecurrentEscapeNet

    if cfg.n_adaptive > cfg.n_rec:
        raise InvalidParameterError(f"The 'n_adaptive' parameter of eprop-spiking must be "
                                    f"<= n_rec ({cfg.n_rec}). Got {cfg.n_adaptive}.")
    net = RecurrentEscapeNet(n_in=cfg.n_inputs, n_rec=cfg.n_rec, n_out=cfg.n_outputs,
                             n_adaptive=cfg.n_adaptive, dt_ms=cfg.dt_ms,
                             tau_m_ms=cfg.tau_m_ms, tau_a_ms=cfg.tau_a_ms,
                             tau_out_ms=cfg.tau_out_ms, beta_mv=cfg.beta_mv)
    # the task (inputs and targets) is the run's, shared by every seed
    task = PatternTask(net, n_steps=cfg.n_steps, n_patterns=cfg.n_patterns,
                       rate_hz=cfg.rate_hz, rng=ctx.child_rng())
    setups, per_seed, rel_se = [], {name: [] for name in RULES}, []
    with ctx.progress(len(RULES) * cfg.n_updates * cfg.seeds, "eprop-spiking") as bar:
        for k in range(cfg.seeds):
            setup, per_rule, rel = _one_seed(cfg, ctx, task, k, bar)
            setups.append(setup)
            rel_se.extend(rel)
            ctx.recorder.append("seed_setup", k, index="seed", index_units="1",
                                units={"oracle_self_cos": "1", "loss_first": "output^2",
                                       "firing_rate_hz": "Hz"}, **setup)
            for name, res in per_rule.items():
                per_seed[name].append(res)
                ctx.recorder.append(f"seeds/{name}", k, index="seed", index_units="1",
                                    units=_SEED_UNITS, **{c: res[c] for c in _SEED_UNITS})
    summary = {f"{name}.{key}": value for name in RULES
               for key, value in combine_seeds(per_seed[name], _AVERAGED).items()}
    ctx.summary(**summary,
                oracle_self_cos=float(np.mean([s["oracle_self_cos"] for s in setups])),
                oracle_rel_se=float(np.median(rel_se)) if rel_se else float("nan"),
                oracle_n_trials=cfg.n_trials, n_seeds=cfg.seeds,
                n_records_per_rule=cfg.n_updates // cfg.record_every,
                n_parameters=cfg.n_rec * (cfg.n_inputs + cfg.n_rec + cfg.n_outputs),
                firing_rate_hz=float(np.mean([s["firing_rate_hz"] for s in setups])))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    n_seeds = int(s.get("n_seeds", 1))
    fig, (ax_cos, ax_loss) = figure("double", height_ratio=0.4, ncols=2)
    for i, rule in enumerate(RULES):
        color = "0.45" if rule == "random_direction" else PALETTE[i % len(PALETTE)]
        over_seeds = np.isfinite(s.get(f"{rule}.seeds_cos_low", np.nan))
        keys = (("seeds_cos_mean", "seeds_cos_low", "seeds_cos_high") if over_seeds
                else ("cos_mean", "cos_ci_low", "cos_ci_high"))
        mean, low, high = (s.get(f"{rule}.{k}", np.nan) for k in keys)
        traced(ax_cos.errorbar([i], [mean], yerr=[[mean - low], [high - mean]], fmt="o",
                               ms=3, color=color, capsize=3),
               x=[i], **{c: stack([src(f"summary:{rule}.{k}", default=np.nan)])
                         for c, k in zip(("y", "ylow", "yhigh"), keys, strict=True)})
        seeds = run.series.get(f"seeds/{rule}")
        if seeds is not None:
            for col, dx, marker in (("cos_mean", 0.2, "_"), ("W_rec.cos_mean", -0.2, "x")):
                per = np.asarray(seeds[col])
                x = np.full(per.size, i + dx)
                label = {"cos_mean": "per-seed total", "W_rec.cos_mean":
                         "per-seed W_rec"}[col] if i == 0 else None
                traced(ax_cos.plot(x, per, ls="none", marker=marker, ms=5, mew=1.0,
                                   color=color, label=label)[0],
                       x=x, y=src(f"series/seeds/{rule}:{col}"))
        loss = run.series.get(f"loss/{rule}")
        if loss is not None:
            step, val, se = (np.asarray(loss[k]) for k in ("step", "loss", "loss_se"))
            t = f"series/loss/{rule}"
            traced(ax_loss.plot(step, val, color=color, lw=1.0, label=rule)[0],
                   x=src(f"{t}:step"), y=src(f"{t}:loss"))
            traced(ax_loss.fill_between(step, val - se, val + se, color=color, alpha=0.2,
                                        lw=0),
                   x=src(f"{t}:step"), y1=src(f"{t}:loss") - src(f"{t}:loss_se"),
                   y2=src(f"{t}:loss") + src(f"{t}:loss_se"))
    traced(ax_cos.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax_cos.set_xticks(range(len(RULES)), [r.replace("_", "\n") for r in RULES])
    ax_cos.set_ylabel("cosine with -grad E[loss] (per update)")
    what = f"mean and 95% CI over {n_seeds} seeds" if n_seeds > 1 else "mean and 95% CI"
    ax_cos.set_title(f"{what}; oracle self-cosine {s.get('oracle_self_cos', np.nan):.2f}",
                     loc="left")
    ax_cos.legend(fontsize="small", loc="lower left")
    ax_loss.set_xlabel("update" + (", seed 0" if n_seeds > 1 else ""))
    ax_loss.set_ylabel("expected trial loss")
    ax_loss.legend(fontsize="small")
    ax_loss.set_title("loss, oracle estimate $\\pm$ SE", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="eprop-spiking",
    description="E-prop and surrogate-gradient BPTT on a recurrent LIF/ALIF network: cosine "
                "with the gradient of the expected loss of the stochastic network.",
    config=EPropSpikingConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"n_rec": 40, "n_adaptive": 20, "n_inputs": 20, "n_steps": 100,
                      "n_updates": 400, "record_every": 10, "n_trials": 4000,
                      "seeds": 5}},
    alignment=AlignmentMeta(substrate=ALIGNMENT["substrate"],
                            loss="expected squared readout error of a stochastic "
                                 "recurrent LIF/ALIF network",
                            problem=ALIGNMENT["problem"], reference=ALIGNMENT["reference"],
                            baselines=("random_direction",)),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
