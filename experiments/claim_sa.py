"""Claim: simulated annealing's accepted steps point downhill too (SA, (1+1)-ES, hill climbing).

The claim (issue 19, claim 4): "Simulated annealing's updates also have positive inner
product with the gradient." A positive inner product with ``-grad`` is Richards &
Kording's criterion for gradient following; the critics' point is that selection passes
it too. This experiment measures, update by update, how the steps of three selection
methods relate to the population gradient, against a random walk that selects nothing.

Methods (all rules under the rule contract, :mod:`plasticity.rules.selection`)
    ``annealing``
        :class:`~plasticity.rules.selection.SimulatedAnnealing`: Gaussian proposal of norm
        about ``step_norm``, Metropolis acceptance at temperature ``T``, cooled
        geometrically from ``t0`` to ``t0 * t_final_ratio`` over the run.
    ``es_1p1``
        The (1+1)-ES: :class:`~plasticity.rules.selection.HillClimbing` with Rechenberg's
        1/5th success rule (``adapt=True``).
    ``hill_climbing``
        :class:`~plasticity.rules.selection.HillClimbing` with a fixed step.
    ``random_walk``
        The null: every proposal is taken (a local :class:`RandomWalk` rule).

The problem
    ``task="teacher-student"``: a :class:`~plasticity.tasks.TanhTeacher` and a tanh
    student of ``n_hidden`` units (:class:`~plasticity.problems.FeedForwardProblem`); the
    reference is the population gradient estimated on ``n_eval`` samples, its noise
    corrected in the cosine (docs/statistics.md). ``task="linear"``: a linear teacher and
    a linear student, whose population loss is a convex quadratic with a closed-form
    gradient. The methods decide on the loss of a fresh minibatch of ``batch_size``
    samples per update (as a rule under the contract sees it), or, with ``batch_size=0``,
    on the population loss itself (exact for ``linear``; the evaluation set's loss for
    ``teacher-student``). With ``linear`` and ``batch_size=0`` every step that lowers
    the loss has ``g.d < 0`` (``L(w + d) - L(w) = g.d + |d|^2 / 2``), so the accept-if-
    better methods' ``frac_positive`` is 1 exactly: a theorem the tests check.

What is measured, per method and seed
    At the parameters before each update: the population gradient ``g`` and the proposal
    ``s xi`` (recovered by replaying a copy of the rule's generator, and checked against
    the returned step whenever it is accepted). ``cos`` of the accepted steps (the
    updates that moved the parameters: the primary ``cos_mean``), ``proposal_cos`` of
    all proposals, ``accept_rate``, ``frac_positive`` (accepted steps with ``-g.d > 0``)
    and ``uphill_frac`` (accepted steps that raised the loss they were judged on: only
    annealing and the random walk take those).

Theory
    A proposal is isotropic, so its expected cosine with any fixed direction is 0. For
    small steps on the exact loss, accept-if-better keeps exactly the proposals with
    ``-g.xi > 0``; for ``D`` parameters the cosine of a uniform unit vector with a fixed
    one has density proportional to ``(1 - c^2)^((D - 3) / 2)``, so the accepted steps'
    expected cosine is ``E[c | c > 0] = Gamma(D/2) / (sqrt(pi) Gamma((D + 1)/2))``, about
    ``sqrt(2 / (pi D))`` (``theory_accept_cos``). Minibatch noise and finite steps lower it.

Statistics
    Within a run: batch means sized from the autocorrelation (``summarize``); across
    seeds: the t-interval over per-seed means (``combine_seeds``, ``seeds_*`` keys).
    With one seed every interval is the within-run one.
"""

from __future__ import annotations

import copy
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from plasticity.experiment import ClaimMeta, Config, Experiment
from plasticity.rules.base import Rule

METHODS = ("annealing", "es_1p1", "hill_climbing", "random_walk")
SELECTION = METHODS[:3]
LABELS = {"annealing": "annealing", "es_1p1": "(1+1)-ES", "hill_climbing": "hill climbing",
          "random_walk": "random walk"}
#: per-seed quantities reported as a mean with an interval (within-run or over seeds)
QUANTITIES = ("proposal_cos", "accept_rate", "frac_positive", "uphill_frac")


class ClaimSAConfig(Config):
    task: Literal["teacher-student", "linear"] = Field(
        "teacher-student", description="the smooth problem")
    n_inputs: int = Field(20, ge=1, description="teacher inputs")
    n_hidden: int = Field(8, ge=1, description="hidden units of teacher and student")
    n_outputs: int = Field(3, ge=1, description="teacher outputs")
    noise: float = Field(0.1, ge=0, description="label noise (output units)")
    batch_size: int = Field(64, ge=0,
                            description="minibatch of the accept decision; 0: the "
                                        "population loss itself")
    n_eval: int = Field(1024, ge=2, description="samples behind the population gradient")
    n_updates: int = Field(300, ge=2, description="updates per method and seed")
    seeds: int = Field(3, ge=1, description="independent replicates")
    step_norm: float = Field(0.1, gt=0, description="proposal norm, sigma * sqrt(D)")
    t0: float = Field(0.002, ge=0, description="initial annealing temperature (loss units)")
    t_final_ratio: float = Field(0.01, gt=0, le=1,
                                 description="final / initial annealing temperature")


class RandomWalk(Rule):
    """The null: a Gaussian step ``sigma * xi``, ``xi ~ N(0, I_D)``, always taken.

    Parameters
    ----------
    sigma : float > 0
        Step size per coordinate (parameter units).

    Notes
    -----
    Draws ``xi`` exactly as :class:`~plasticity.rules.selection.HillClimbing` draws its
    proposal (one ``standard_normal(D)``), so the replay of the experiment applies.
    """

    name: ClassVar[str] = "random_walk"

    sigma: float = Field(0.01, gt=0, allow_inf_nan=False, description="step size")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(sigma * xi, state)``."""
        from plasticity.rules._flat import flat_spec

        spec = flat_spec(params)
        return spec.unflatten(self.sigma * rng.standard_normal(spec.size)), state


def accepted_cos_theory(n_params):
    """Expected cosine of an accepted step in the small-step, noise-free limit.

    Parameters
    ----------
    n_params : int >= 2
        ``D``, the number of parameters.

    Returns
    -------
    float
        ``E[c | c > 0]`` for ``c`` the cosine of a uniform random direction in ``R^D``
        with a fixed one: ``Gamma(D/2) / (sqrt(pi) Gamma((D+1)/2))`` (dimensionless).
    """
    from scipy.special import gammaln

    d = float(n_params)
    return float(np.exp(gammaln(d / 2) - gammaln((d + 1) / 2)) / np.sqrt(np.pi))


def _rules(cfg, n_params):
    from plasticity.rules.selection import HillClimbing, SimulatedAnnealing

    sigma = cfg.step_norm / np.sqrt(n_params)
    cooling = float(cfg.t_final_ratio ** (1.0 / cfg.n_updates))
    return {"annealing": SimulatedAnnealing(sigma=sigma, t0=cfg.t0, cooling=cooling),
            "es_1p1": HillClimbing(sigma=sigma, adapt=True),
            "hill_climbing": HillClimbing(sigma=sigma),
            "random_walk": RandomWalk(sigma=sigma)}


def _problem(cfg, seed):
    from plasticity.problems import FeedForwardProblem
    from plasticity.tasks import LinearTeacher, TanhTeacher

    task_rng = np.random.default_rng([*seed, 1])
    if cfg.task == "linear":
        task = LinearTeacher(cfg.n_inputs, cfg.n_outputs, task_rng, noise=cfg.noise,
                             n_eval=2)
        net = task.student(activation="linear")
    else:
        task = TanhTeacher(cfg.n_inputs, cfg.n_hidden, cfg.n_outputs, task_rng,
                           noise=cfg.noise, n_eval=2)
        net = task.student(cfg.n_hidden)
    return FeedForwardProblem(task, net, n_eval=cfg.n_eval, eval_seed=[*seed, 2])


def _run_method(problem, rule, init, cfg, seed, k):
    """One method's run from ``init``: per-update arrays (see the module docstring)."""
    from plasticity.analysis import align
    from plasticity.rules._flat import flat_spec

    spec = flat_spec(init)
    data_rng = np.random.default_rng([*seed, 3, k])
    rule_rng = np.random.default_rng([*seed, 4, k])
    params, state = init, rule.init(init)
    out = {key: np.zeros(cfg.n_updates) for key in
           ("cos", "inner", "proposal_cos", "proposal_inner", "d_loss")}
    out["accepted"] = np.zeros(cfg.n_updates, dtype=bool)
    for t in range(cfg.n_updates):
        if cfg.batch_size:
            batch = problem.batch(cfg.batch_size, data_rng)

            def loss_fn(p, _b=batch):
                return problem.loss(p, _b)
        else:
            loss_fn = problem.population_loss
        g, se = problem.population_gradient(params)
        s = float(state["sigma"]) if isinstance(state, dict) and "sigma" in state \
            else float(rule.sigma)
        # the proposal is the rule's first draw: replay it on a copy of the generator
        proposal = s * copy.deepcopy(rule_rng).standard_normal(spec.size)
        delta, state = rule.update({}, state, params, loss_fn=loss_fn, rng=rule_rng)
        d = spec.flatten(delta)
        moved = bool(np.any(d))
        if moved and not np.allclose(d, proposal, rtol=1e-12, atol=0.0):
            raise AssertionError(f"{rule.name}: the replayed proposal is not the step taken")
        a = align(spec.unflatten(proposal), g, se=se)["total"]
        out["proposal_cos"][t], out["proposal_inner"][t] = a["cos"], a["inner"]
        out["accepted"][t] = moved
        if moved:
            out["cos"][t], out["inner"][t] = a["cos"], a["inner"]
            new = {key: params[key] + delta[key] for key in params}
            out["d_loss"][t] = loss_fn(new) - loss_fn(params)
            params = new
    out["loss_final"] = problem.population_loss(params)
    return out


def _within(x):
    """``(mean, low, high)`` of a per-update series: batch means (NaN when too short)."""
    from plasticity.analysis import batch_means_ci

    x = np.asarray(x, dtype=np.float64)
    if x.size < 2:
        return (float(x.mean()) if x.size else np.nan, np.nan, np.nan)
    iv = batch_means_ci(x)
    return (float(iv.mean), float(iv.low), float(iv.high))


def _seed_result(rows):
    """The per-seed summary of one method's run."""
    from plasticity.analysis import summarize

    acc = rows["accepted"]
    stats = summarize(rows["cos"][acc], rows["inner"][acc])
    res = dict(stats, n_measured=int(acc.sum()))
    series = {"proposal_cos": rows["proposal_cos"], "accept_rate": acc.astype(float),
              "frac_positive": (rows["inner"][acc] > 0).astype(float),
              "uphill_frac": (rows["d_loss"][acc] > 0).astype(float)}
    for q, x in series.items():
        res[q], res[f"{q}_low"], res[f"{q}_high"] = _within(x)
    res["loss_final"] = float(rows["loss_final"])
    return res


def _combine(per_seed):
    """One method's summary keys from its per-seed results."""
    from plasticity.analysis import combine_seeds, seeds_interval

    out = combine_seeds(per_seed, averaged=("loss_final",))
    out = {k: v for k, v in out.items() if k not in QUANTITIES}
    for q in QUANTITIES:
        vals = np.array([r[q] for r in per_seed], dtype=float)
        if len(per_seed) == 1:
            mean, low, high = per_seed[0][q], per_seed[0][f"{q}_low"], \
                per_seed[0][f"{q}_high"]
        else:
            mean, low, high = seeds_interval(vals[np.isfinite(vals)])
        if q != "proposal_cos":
            # a fraction lies in [0, 1]: cutting the interval there keeps its coverage
            low, high = max(low, 0.0), min(high, 1.0)
        out[q], out[f"{q}_low"], out[f"{q}_high"] = float(mean), float(low), float(high)
    return out


def _fmt(s, m, key="cos"):
    mean, low, high = (s[f"{m}.{key}_mean"], s[f"{m}.{key}_ci_low"], s[f"{m}.{key}_ci_high"])
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _sign(low, high):
    if not (np.isfinite(low) and np.isfinite(high)):
        return "unresolved"
    return "positive" if low > 0 else ("negative" if high < 0 else "indistinguishable from 0")


def verdict(s, n_seeds):
    """The plain-words verdict, computed from the summary ``s`` (dict of summary keys)."""
    where = f"{n_seeds} seed{'s' if n_seeds > 1 else ''}"
    parts = []
    for m in SELECTION:
        sign = _sign(s[f"{m}.cos_ci_low"], s[f"{m}.cos_ci_high"])
        parts.append(f"{LABELS[m]} {_fmt(s, m)} ({sign}; "
                     f"{100 * s[f'{m}.frac_positive']:.0f}% of accepted steps with positive "
                     f"inner product, acceptance {100 * s[f'{m}.accept_rate']:.0f}%)")
    rw = _sign(s["random_walk.cos_ci_low"], s["random_walk.cos_ci_high"])
    positive = [m for m in SELECTION
                if _sign(s[f"{m}.cos_ci_low"], s[f"{m}.cos_ci_high"]) == "positive"]
    head = ("Supported: " if "annealing" in positive else "Not shown: ") + \
        "simulated annealing's accepted steps " + \
        ("have a positive mean cosine with -grad" if "annealing" in positive
         else "do not have a mean cosine with -grad resolved above 0") + f" ({where})."
    prop = max(abs(s[f"{m}.proposal_cos"]) for m in METHODS)
    if rw != "indistinguishable from 0":
        rw += " (its expectation is exactly 0: at 95% an interval misses it 1 time in 20)"
    tail = (f" The random-walk null is {rw} ({_fmt(s, 'random_walk')}), and all proposals "
            f"average |cos| <= {prop:.3f}: the alignment comes from which steps are kept. "
            f"It is small against the gradient's own cosine of 1 (small-step theory for "
            f"accept-if-better: {s['theory_accept_cos']:.3f}).")
    return head + " Mean cosine of accepted steps: " + "; ".join(parts) + "." + tail


def run(cfg: ClaimSAConfig, ctx):
    rec = ctx.recorder
    per = {m: [] for m in METHODS}
    n_params = None
    with ctx.progress(cfg.seeds * len(METHODS), "claim-sa") as bar:
        for rep in range(cfg.seeds):
            seed = [ctx.seed, rep]
            problem = _problem(cfg, seed)
            init = problem.init_params(np.random.default_rng([*seed, 0]))
            n_params = int(sum(np.size(v) for v in init.values()))
            rules = _rules(cfg, n_params)
            loss0 = problem.population_loss(init)
            for k, m in enumerate(METHODS):
                rows = _run_method(problem, rules[m], init, cfg, seed, k)
                r = _seed_result(rows)
                per[m].append(r)
                rec.append(f"seeds/{m}", rep, index="seed", index_units="1",
                           units={"cos_mean": "1", "proposal_cos": "1", "accept_rate": "1",
                                  "frac_positive": "1", "uphill_frac": "1",
                                  "loss_initial": "loss", "loss_final": "loss"},
                           cos_mean=r["cos_mean"], proposal_cos=r["proposal_cos"],
                           accept_rate=r["accept_rate"], frac_positive=r["frac_positive"],
                           uphill_frac=r["uphill_frac"], loss_initial=loss0,
                           loss_final=r["loss_final"])
                if rep == 0:
                    acc = rows["accepted"]
                    for t in np.flatnonzero(acc):
                        rec.append(f"accepted/{m}", int(t), index="update", index_units="1",
                                   units={"cos": "1", "inner": "loss"},
                                   cos=float(rows["cos"][t]), inner=float(rows["inner"][t]))
                bar.update(1)
    summary = {"n_params": n_params, "seeds": cfg.seeds, "task": cfg.task,
               "reference": _problem(cfg, [ctx.seed, 0]).reference,
               "theory_accept_cos": accepted_cos_theory(n_params),
               "theory_proposal_cos": 0.0}
    for m in METHODS:
        for k, v in _combine(per[m]).items():
            summary[f"{m}.{k}"] = v
    summary["verdict"] = verdict(summary, cfg.seeds)
    ctx.summary(**summary)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    fig, (ax1, ax2) = figure("double", height_ratio=0.32, ncols=2)
    x = np.arange(len(METHODS))

    def bars(ax, offset, key, low, high, color, label):
        mean = np.array([s[f"{m}.{key}"] for m in METHODS])
        lo = np.array([s[f"{m}.{low}"] for m in METHODS])
        hi = np.array([s[f"{m}.{high}"] for m in METHODS])
        traced(ax.bar(x + offset, mean, width=0.25, color=color,
                      yerr=[mean - lo, hi - mean], capsize=2, label=label),
               x=x + offset,
               **{k: stack([src(f"summary:{m}.{name}") for m in METHODS])
                  for k, name in (("height", key), ("ylow", low), ("yhigh", high))})

    bars(ax1, -0.15, "cos_mean", "cos_ci_low", "cos_ci_high", PALETTE[0], "accepted steps")
    bars(ax1, 0.15, "proposal_cos", "proposal_cos_low", "proposal_cos_high", PALETTE[1],
         "all proposals")
    traced(ax1.axhline(s["theory_accept_cos"], color="0.4", lw=0.8, ls=":",
                       label="small-step theory"), y=src("summary:theory_accept_cos"))
    traced(ax1.axhline(0.0, color="0.6", lw=0.6, ls="--"), y=0.0)
    ax1.set_xticks(x, [LABELS[m] for m in METHODS])
    ax1.set_ylabel("mean cos(step, -grad)")
    ax1.legend(fontsize="small")
    ax1.set_title(f"a  alignment ({s['seeds']} seeds, D = {s['n_params']})", loc="left")

    bars(ax2, -0.15, "frac_positive", "frac_positive_low", "frac_positive_high",
         PALETTE[0], "accepted with -g.d > 0")
    bars(ax2, 0.15, "accept_rate", "accept_rate_low", "accept_rate_high", PALETTE[2],
         "acceptance rate")
    traced(ax2.axhline(0.5, color="0.6", lw=0.6, ls="--"), y=0.5)
    ax2.set_xticks(x, [LABELS[m] for m in METHODS])
    ax2.set_ylim(0.0, 1.15)
    ax2.set_ylabel("fraction")
    ax2.legend(fontsize="small", ncols=2, loc="upper right")
    ax2.set_title("b  inner-product sign and acceptance", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="claim-sa",
    description="Claim: SA's accepted steps point downhill; SA, (1+1)-ES, hill climbing, "
                "random walk vs the population gradient.",
    config=ClaimSAConfig,
    run=run,
    plot=plot,
    presets={"quick": {"seeds": 5},
             "full": {"n_updates": 2000, "seeds": 8, "n_eval": 4096, "n_hidden": 16}},
    claim=ClaimMeta(number=4, claim="Simulated annealing's updates also have positive "
                    "inner product with the gradient.",
                    headline="annealing.cos_mean", low="annealing.cos_ci_low",
                    high="annealing.cos_ci_high", label="cos(accepted SA step, -grad)",
                    null=0.0),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
