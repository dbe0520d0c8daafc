"""REINFORCE and three-factor rules on a k-armed bandit, against the exact policy gradient.

One file (about 400 lines) by design: DESIGN.md keeps each experiment in one file; its
problem (:mod:`plasticity.problems.bandit`) and rules live in the library.

A softmax policy over linear action preferences (``pi = softmax(beta W_out x)``, one fixed
context ``x = [1]``) plays a k-armed bandit; its expected return ``R = sum_a pi_a mu_a``
and the gradient ``grad R = beta (pi * (mu - R)) x^T`` are exact finite sums
(:class:`plasticity.rl.bandit.BanditTask`), so every update of a reward-modulated rule can
be compared with the true ascent direction of the expected return (the loss is ``-R``).

Rules (all from the same initial policy, on the same stream of trials):

``reinforce``
    REINFORCE with a running-mean baseline (Williams 1992): unbiased, ``E[delta] = eta
    grad R`` for any baseline.
``three_factor_centred``
    ``eta (r - b) (e_a - pi) x^T``: the three-factor rule with a centred postsynaptic term;
    REINFORCE up to the factor ``beta``, so unbiased (its cosines equal REINFORCE's).
``three_factor_uncentred``
    ``eta (r - b) e_a x^T``, the classic reward-modulated Hebbian rule (Fremaux & Gerstner
    2016): biased by ``eta (R - b) pi x^T``, which vanishes only for ``b = R``.
``random_direction``
    Isotropic random steps with REINFORCE's norm (the same-budget baseline).

All rules start from ``W_out = 0`` (a uniform policy) with baseline 0 and see the same
random numbers for their trials. REINFORCE's step is ``beta`` times the centred
three-factor rule's, so their trajectories (and per-update cosines) differ although their
directions at equal parameters coincide. A single trial's update is dominated by the
choice of arm and the reward noise, so per-update cosines are small (about 0.1 here)
even for the unbiased rules; the bias shows in the expected update, not in single ones.

Measured: per update, the alignment of the update with ``grad R`` (tables
``/alignment/<rule>/W_out`` and ``/alignment/<rule>/total``; the reference is the exact
population gradient of :class:`plasticity.problems.BanditProblem`) and the expected
return (``/series/return/<rule>``). Summary per rule: ``cos_mean`` with a 95% interval
(``cos_ci_low``, ``cos_ci_high``), ``frac_positive`` and every further key of
:func:`plasticity.analysis.summarize` over the updates (``ci_method`` names the interval,
``n_measured`` counts the updates);
``expected_cos``, the cosine of the mean of ``expected_draws`` updates at the initial
state (each draw a fresh trial, ``a ~ pi`` and ``r`` from the bandit), with a bootstrap
95% interval over the draws (``expected_cos_ci_low``, ``expected_cos_ci_high``) and the
bootstrap standard error ``expected_cos_se``; ``expected_cos_exact``, the cosine of the
exact expected update (the rules are linear in ``r``, so ``E[delta] = sum_a pi_a
delta(a, r = mu_a)``; not for the random baseline); ``return_first`` and
``return_last``, the expected return before and after learning.

Monte-Carlo error of ``expected_cos``: the mean of ``n`` draws misses ``E[delta]`` by a
vector of squared length about ``tr Cov(delta) / n``, which lowers the cosine by about
``(D - 1) tr Cov / (2 D n |E delta|^2)`` for ``D`` parameters. For the quick preset
(``D = 5``, 20000 draws) that is below 0.01 for REINFORCE, so its ``expected_cos``
exceeds 0.98 while its exact value is 1 (``expected_cos_se`` is recorded to check).

Seeds. ``seeds`` independent replicates of the learning share the bandit (its arm means
are the config's) and the initial state (``W_out = 0``, the uniform policy, by design)
and differ in everything random: each seed has its own trial stream (arm choices and
rewards, common to the rules of that seed) and its own rule noise (the random
direction's directions), from the run's seed stream (seed 0 uses the seeds the
single-seed run used; each further seed draws two more after them). As in
alignment-atlas, with several seeds the primary keys are over seeds: ``<rule>.cos_mean``,
``.cos_ci_low`` and ``.cos_ci_high`` are the mean over seeds of each seed's mean cosine
and its t-interval (:func:`plasticity.analysis.seeds_summary`), the same numbers as
``.seeds_cos_mean``, ``.seeds_cos_low``, ``.seeds_cos_high`` (``.seeds_cos_n`` seeds), and
``.ci_method`` says so; ``.n_measured`` is summed over seeds; ``.frac_positive``,
``.n_eff`` and ``.return_last`` are averaged over seeds. Each seed's own values, with its
within-run interval, are the rows of ``/series/seeds/<rule>``. With ``seeds=1`` the keys
are that seed's (within-run interval) and ``.seeds_cos_low``/``.seeds_cos_high`` are NaN.
The expected update is measured once, at the initial state all seeds share; the return
curves (``/series/return/<rule>``) and the tables ``/alignment/<rule>/`` are seed 0's
(seed ``k``: ``/alignment/seed<k>/<rule>/total``). The quick preset runs 5 seeds (a seed
of 4 x 500 trials costs well under a second; the expected update's 20,000 draws per rule
dominate the run), the full preset 10.

Observed (quick preset, seed 0): over 5 seeds ``cos_mean`` is 0.069 [0.043, 0.096] for
REINFORCE, 0.099 [0.081, 0.117] for the centred and 0.058 [0.039, 0.077] for the uncentred
three-factor rule, 0.000 [-0.030, 0.031] for the random direction; ``return_last``
0.890-0.897 for the three rules (best arm 0.9), 0.52 for the random direction. The
per-seed means of the three rules scatter less (sd 0.014-0.021) than each seed's
within-run interval (half-width about 0.08) suggests: their per-update cosines are
anticorrelated at lags of 10-250 updates (the running baseline compensates runs of
luck; on 5,000 updates the variance of means of 250 updates is 0.42-0.63 of the i.i.d.
one), which the initial-sequence estimate of the autocorrelation time stops before, so
the within-run interval is conservative here; the interval over seeds does not depend on
it. The random direction's per-update cosines are independent (ratio about 1).

References
----------
Williams, R. J. (1992). Simple statistical gradient-following algorithms for
    connectionist reinforcement learning. Machine Learning 8, 229-256.
Fremaux, N., Sprekeler, H., & Gerstner, W. (2010). Functional requirements for
    reward-modulated spike-timing-dependent plasticity. J. Neurosci. 30, 13326-13337.
Fremaux, N., & Gerstner, W. (2016). Neuromodulated spike-timing-dependent plasticity, and
    theory of three-factor learning rules. Frontiers in Neural Circuits 9, 85.
Sutton, R. S., & Barto, A. G. (2018). Reinforcement Learning: An Introduction, 2nd ed.,
    section 2.8 (gradient bandit algorithms). MIT Press.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import AlignmentMeta, Config, Experiment

RULES = ("reinforce", "three_factor_centred", "three_factor_uncentred", "random_direction")

#: What this experiment's alignment numbers are (read by alignment-summary): every rule is
#: judged against the exact population gradient of the bandit problem; within a seed the
#: interval method is that of :func:`plasticity.analysis.summarize`, over seeds a
#: t-interval (``<rule>.ci_method`` names the one its ``cos_ci_*`` hold).
ALIGNMENT = {"reference": "population", "problem": "bandit",
             "ci_method": "batch_means", "seeds_ci_method": "t",
             "seeds": {"quick": 5, "full": 10}, "rules": list(RULES),
             "substrate": "bandit"}


class BanditAlignmentConfig(Config):
    means: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(
        [0.2, 0.4, 0.5, 0.6, 0.9], min_length=2, description="reward mean of each arm")
    bandit: Literal["gaussian", "bernoulli"] = "gaussian"
    reward_sigma: float = Field(0.5, ge=0, allow_inf_nan=False,
                                description="reward noise std (gaussian bandit)")
    beta: float = Field(2.0, gt=0, allow_inf_nan=False, description="inverse temperature")
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")
    baseline_rate: float = Field(0.05, ge=0, le=1,
                                 description="rate of the running-mean reward baseline")
    n_updates: int = Field(500, ge=2, description="trials (updates) per rule and seed")
    seeds: int = Field(5, ge=1, le=100, description="independent seeds (trial stream and "
                       "rule noise; every seed starts from the uniform policy)")
    expected_draws: int = Field(20000, ge=10, description="draws of the update at the "
                                                          "initial state")
    n_boot: int = Field(1000, ge=100, description="bootstrap resamples")

    @model_validator(mode="after")
    def _bernoulli_means(self):
        if self.bandit == "bernoulli" and not all(0.0 <= m <= 1.0 for m in self.means):
            raise ValueError("with bandit=bernoulli every mean must lie in [0, 1] (a "
                             f"success probability); got {self.means}")
        return self


def _problem(cfg):
    from plasticity.problems import BanditProblem
    from plasticity.rl.bandit import BanditTask, BernoulliBandit, GaussianBandit

    if cfg.bandit == "bernoulli":
        bandit = BernoulliBandit(means=cfg.means)
    else:
        bandit = GaussianBandit(means=cfg.means, sigma=cfg.reward_sigma)
    return BanditProblem(BanditTask(bandit, beta=cfg.beta))


def _stats_summary(stats, prefix):
    """Every key of :func:`plasticity.analysis.summarize` under ``prefix`` (``ci_method``,
    ``n_eff``, ...; its ``n`` as ``n_measured``)."""
    return {f"{prefix}{'n_measured' if k == 'n' else k}": v for k, v in stats.items()}


def _rules(cfg):
    from plasticity.analysis import RandomDirection
    from plasticity.rules.reward import Reinforce, ThreeFactor

    common = {"eta": cfg.eta, "baseline_rate": cfg.baseline_rate}
    return {"reinforce": Reinforce(**common),
            "three_factor_centred": ThreeFactor(post_centered=True, **common),
            "three_factor_uncentred": ThreeFactor(post_centered=False, **common),
            "random_direction": RandomDirection(Reinforce(**common))}


class _OneTrial:
    """A rule that plays one trial itself (``a ~ pi``, ``r`` from the bandit, with its
    ``rng``) before updating: draws of its update sample the trial as well, which is what
    the expected update at a fixed state must average over."""

    def __init__(self, rule, task):
        self.rule, self.task = rule, task
        self.name = getattr(rule, "name", type(rule).__name__)

    def init(self, params):
        return self.rule.init(params)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        trial_rng, rule_rng = rng.spawn(2)
        sig, r = self.task.trial(params, trial_rng)
        return self.rule.update(sig, state, params, reward=r, rng=rule_rng)


def _ascent(problem, params):
    """``grad R``, the ascent direction of the return: minus the problem's (exact)
    population gradient of the loss ``-R``, flattened."""
    return -problem.population_gradient(params)[0]["W_out"].ravel()


def _expected(rule, problem, params, state, n_draws, n_boot, rng):
    """Cosine of the mean of ``n_draws`` updates with ``grad R``, bootstrap CI and SE."""
    from plasticity.analysis import expected_update
    from plasticity.analysis.geometry import cosine

    mean, draws = expected_update(_OneTrial(rule, problem.task), {}, state, params,
                                  n_draws=n_draws, rng=rng, keep_draws=True)
    g = _ascent(problem, params)
    d = draws["W_out"].reshape(n_draws, -1)
    boot_rng = np.random.default_rng(rng.integers(2**63))
    boots = np.empty(n_boot)
    chunk = max(1, min(n_boot, 2_000_000 // n_draws))
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        counts = boot_rng.multinomial(n_draws, np.full(n_draws, 1.0 / n_draws), size=m)
        means = counts @ d / n_draws
        boots[start:start + m] = [cosine(v, g, undefined=0.0) for v in means]
    low, high = np.quantile(boots, [0.025, 0.975])
    return {"expected_cos": cosine(mean["W_out"], g, undefined=0.0), "expected_cos_ci_low":
            float(low), "expected_cos_ci_high": float(high),
            "expected_cos_se": float(boots.std(ddof=1))}


def _exact_expected_cos(rule, problem, params, state):
    """Cosine of ``E[delta] = sum_a pi_a delta(a, r = mu_a)`` (rules linear in ``r``)."""
    from plasticity.analysis.geometry import cosine

    task = problem.task
    pi, mu = task.probs(params), task.bandit.mu
    mean = sum(p * rule.update(task.signals(params, a), state, params, reward=mu[a])[0]
               ["W_out"] for a, p in enumerate(pi))
    return cosine(mean, _ascent(problem, params), undefined=0.0)


#: Per-seed results averaged over seeds (the cosine's interval is recomputed).
_AVERAGED = ("frac_positive", "n_eff", "return_last")

_SEED_UNITS = {"cos_mean": "1", "cos_ci_low": "1", "cos_ci_high": "1",
               "frac_positive": "1", "n_measured": "1", "return_last": "reward"}


def _over_seeds(per_seed):
    """One rule's result from its per-seed results: :func:`plasticity.analysis.combine_seeds`
    (the t-interval over seeds first), averaging :data:`_AVERAGED`."""
    from plasticity.analysis import combine_seeds

    return combine_seeds(per_seed, _AVERAGED)


def _learn(cfg, problem, key, rule, params0, trial_seed, rule_seed, boot_seed, rec, bar,
           index):
    """One seed of one rule: ``n_updates`` trials from ``params0``, every update measured.

    The trials come from ``trial_seed`` (the same for every rule of the seed: common
    random numbers), the rule's own noise from ``rule_seed``. Seed 0 records its tables
    under ``/alignment/<rule>/`` and its expected return under ``/series/return/<rule>``;
    a further seed ``k`` its ``total`` table under ``/alignment/seed<k>/<rule>/``.

    Returns
    -------
    dict
        The keys of :func:`plasticity.analysis.summarize` (``n`` as ``n_measured``) and
        ``return_last``.
    """
    from plasticity.analysis import measured, summarize

    task = problem.task
    # the reference: the problem's exact population gradient and loss (-R)
    wrapped = measured(rule, lambda p, s: problem.population_gradient(p)[0],
                       loss_fn=lambda p, s: problem.population_loss(p), recorder=rec,
                       prefix=f"/alignment/{key}" if index == 0
                       else f"/alignment/seed{index}/{key}",
                       record_tables=None if index == 0 else ("total",))
    trial_rng = np.random.default_rng(trial_seed)
    rule_rng = np.random.default_rng(rule_seed)
    params = {k: v.copy() for k, v in params0.items()}
    state = rule.init(params0)
    for step in range(1, cfg.n_updates + 1):
        signals, r = task.trial(params, trial_rng)
        delta, state = wrapped.update(signals, state, params, reward=r, rng=rule_rng)
        params = {k: params[k] + delta[k] for k in params}
        if index == 0:
            rec.append(f"return/{key}", step, units={"expected_return": "reward"},
                       expected_return=task.expected_return(params))
        bar.update(1)
    tot = wrapped.records["total"]
    ok = ~tot["zero_norm"]
    stats = summarize(tot["cos"][ok], tot["inner"][ok], n_boot=2000,
                      rng=np.random.default_rng(boot_seed))
    return {**_stats_summary(stats, ""), "return_last": task.expected_return(params)}


def run(cfg: BanditAlignmentConfig, ctx):
    problem = _problem(cfg)
    task = problem.task
    params0 = problem.init_params(None)  # W_out = 0: the uniform policy
    trial_seed, rule_seed, draw_seed, boot_seed = (
        int(s) for s in ctx.child_rng().integers(2**62, size=4))
    # seed 0 uses the seeds above; each further seed its own trial and rule-noise seeds
    # from the run's seed stream, drawn after them
    streams = [(trial_seed, rule_seed)] + [
        tuple(int(s) for s in ctx.child_rng().integers(2**62, size=2))
        for _ in range(1, cfg.seeds)]
    summary = {}
    rules = _rules(cfg)
    with ctx.progress(len(rules) * cfg.n_updates * cfg.seeds, "bandit-alignment") as bar:
        for key, rule in rules.items():
            # the expected update at the initial state, the same for every seed
            state = rule.init(params0)
            exp = _expected(rule, problem, params0, state, cfg.expected_draws, cfg.n_boot,
                            np.random.default_rng(draw_seed))
            if key != "random_direction":
                exp["expected_cos_exact"] = _exact_expected_cos(rule, problem, params0,
                                                                state)
            per_seed = []
            for k, (t_seed, r_seed) in enumerate(streams):
                per_seed.append(_learn(cfg, problem, key, rule, params0, t_seed, r_seed,
                                       boot_seed, ctx.recorder, bar, k))
                ctx.recorder.append(f"seeds/{key}", k, index="seed", index_units="1",
                                    units=_SEED_UNITS,
                                    **{c: per_seed[-1][c] for c in _SEED_UNITS})
            summary.update({f"{key}.{name}": value
                            for name, value in _over_seeds(per_seed).items()})
            summary.update({f"{key}.{name}": value for name, value in exp.items()})
            summary[f"{key}.return_first"] = task.expected_return(params0)
    ctx.summary(**summary, best_return=task.best_return(), n_rules=len(rules),
                n_seeds=cfg.seeds)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    fig, (ax_r, ax_c) = figure("double", height_ratio=0.4, ncols=2)
    for i, key in enumerate(RULES):
        color = "0.45" if key == "random_direction" else PALETTE[i % len(PALETTE)]
        table = run.series.get(f"return/{key}") if hasattr(run.series, "get") else None
        if table is not None:
            traced(ax_r.plot(np.asarray(table["step"]), np.asarray(table["expected_return"]),
                             color=color, lw=1.0, label=key,
                             ls="--" if key == "three_factor_centred" else "-")[0],
                   x=src(f"series/return/{key}:step"),
                   y=src(f"series/return/{key}:expected_return"))
        # per update: the across-seed interval where the run has several seeds
        over_seeds = np.isfinite(s.get(f"{key}.seeds_cos_low", np.nan))
        cos_keys = (("seeds_cos_mean", "seeds_cos_low", "seeds_cos_high") if over_seeds
                    else ("cos_mean", "cos_ci_low", "cos_ci_high"))
        per_update = (f"per update (mean over {s[f'{key}.seeds_cos_n']} seeds)"
                      if over_seeds else "per update (mean)")
        for j, (keys, marker, label) in enumerate((
                (cos_keys, "o", per_update),
                (("expected_cos", "expected_cos_ci_low", "expected_cos_ci_high"), "s",
                 "expected update"))):
            m, lo, hi = (s[f"{key}.{k}"] for k in keys)
            traced(ax_c.errorbar([i + 0.15 * (2 * j - 1)], [m], yerr=[[m - lo], [hi - m]],
                                 color=color, marker=marker, ms=3, capsize=2,
                                 mfc=color if j else "white",
                                 label=label if i == 0 else None),
                   x=[i + 0.15 * (2 * j - 1)], **{
                       c: stack([src(f"summary:{key}.{k}")])
                       for c, k in zip(("y", "ylow", "yhigh"), keys, strict=True)})
        seeds = (run.series.get(f"seeds/{key}") if over_seeds and hasattr(run.series, "get")
                 else None)
        if seeds is not None:
            # each seed's own mean cosine, beside the interval over them
            per = np.asarray(seeds["cos_mean"])
            x = np.full(per.size, i - 0.3)
            traced(ax_c.plot(x, per, ls="none", marker=".", ms=3, color=color, alpha=0.7,
                             label="per-seed means" if i == 0 else None)[0],
                   x=x, y=src(f"series/seeds/{key}:cos_mean"))
    traced(ax_r.axhline(s["best_return"], color="0.6", lw=0.6, ls=":"),
           y=src("summary:best_return"))
    ax_r.set_xlabel("trial" + (" (seed 0)" if s.get("n_seeds", 1) > 1 else ""))
    ax_r.set_ylabel("expected return")
    ax_r.legend(fontsize="small")
    traced(ax_c.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax_c.set_xticks(range(len(RULES)), [r.replace("_", "\n") for r in RULES],
                    fontsize="small")
    ax_c.set_ylabel("cosine with the policy gradient (95% CI)")
    ax_c.legend(fontsize="small")
    ax_c.set_title("k-armed bandit, exact gradient", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="bandit-alignment",
    description="REINFORCE and three-factor rules on a k-armed bandit: per-update and "
                "expected-update cosines with the exact policy gradient.",
    config=BanditAlignmentConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"means": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                      "n_updates": 5000, "expected_draws": 200000, "n_boot": 2000,
                      "seeds": 10}},
    alignment=AlignmentMeta(substrate=ALIGNMENT["substrate"],
                            loss="minus the expected return of a softmax policy",
                            problem=ALIGNMENT["problem"], reference=ALIGNMENT["reference"],
                            baselines=("random_direction",)),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
