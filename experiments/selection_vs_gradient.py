"""Selection against gradient descent: does a positive inner product with -grad tell them apart?

Hill climbing ((1+1)-ES), simulated annealing, a genetic algorithm and evolution strategies
are run against gradient descent (backprop) on the same task with the same budget of loss
evaluations, and every update is compared with the exact gradient at the parameters
before it (:func:`plasticity.analysis.measured`). The question is whether "the update has
a positive inner product with the negative gradient" separates a gradient follower from a
selection process. It does not, and on a convex loss this is a theorem, not a finding.

Part A: full-batch linear regression
    A :class:`~plasticity.tasks.LinearTeacher` with one output and ``N`` inputs, a student
    without bias (``N`` parameters), a fixed training set of ``train_per_param * N``
    samples, so the loss ``L(w) = mean 0.5 (w.x - y)^2`` is deterministic and "accept if
    better" is meaningful. ``L`` is a convex quadratic with Hessian ``H``, so
    ``L(w + d) - L(w) = g.d + 0.5 d.H d`` with ``d.H d >= 0``: every step that lowers the
    loss has ``g.d < 0``, a strictly positive inner product with ``-g``. Hence every
    update that hill climbing and the genetic algorithm make (they only ever move to a
    strictly better point) is "gradient-aligned" in this sense, with ``frac_positive = 1``
    exactly, although neither ever computes a gradient. Annealing also accepts uphill
    moves (Metropolis), which may have either sign; evolution strategies' mean update is
    along ``-grad`` in expectation (for a quadratic the Gaussian smoothing only adds a
    constant to the loss), with per-update noise. What separates the methods is the
    *size* of the cosine: about ``1`` for the gradient, and of order ``1/sqrt(N)`` for a
    random proposal conditioned on improvement, falling as ``N`` grows.

Budget accounting
    Every method gets ``evals_per_param * N`` loss evaluations. A selection rule gets
    ``budget // rule.evaluations_per_update()`` updates (2 per update for hill climbing and
    annealing, ``population`` for the genetic algorithm and ES). Gradient descent is
    charged ``gradient_cost`` evaluations per gradient (default 1): by the cheap-gradient
    principle of reverse-mode differentiation a gradient costs a small constant times one
    loss evaluation, *independent of N*, so any constant choice gives the same scaling
    with ``N``. The loss and gradient evaluations that *measure* alignment are not charged
    to anybody.

Statistics
    Per method and ``N``: ``cos_mean`` with a bootstrap 95 % CI and ``frac_positive``,
    over the updates that moved the parameters (a rejected proposal is a zero update whose
    angle is undefined; the fraction of moves among updates is recorded as
    ``move_fraction``), and the final training loss ``loss_final``.

Part B: a network of binary threshold units learning parity
    ``n`` input bits in ``{0, 1}``, all ``2^n`` patterns, a hidden layer of Heaviside units
    ``h = H(W1 x + b1)`` and a threshold output ``y = H(w2.h + b2)`` (``H(u) = 1`` for
    ``u > 0``). The loss is the 0-1 error on all patterns (equal to the mean squared error
    of the binary output). It is piecewise constant in the parameters, so its gradient is
    exactly zero almost everywhere (wherever no pre-activation is exactly 0); central
    finite differences confirm it (``parity.gradient_zero``). Gradient descent cannot move.
    Selection still can, and the gradient it can be measured against is that of the
    Gaussian-smoothed loss ``L_s(theta) = E_eps L(theta + s eps)``, ``eps ~ N(0, I)``, by
    Stein's lemma ``grad L_s = E[(L(theta + s eps) - L(theta - s eps)) eps] / (2 s)``,
    estimated by Monte Carlo with ``smooth_pairs`` antithetic pairs and reported with its
    standard error. ``s`` is the proposal scale of hill climbing and the noise scale of
    ES, so ``L_s`` is the objective both are actually sensitive to. Hill climbing is
    restarted ``parity_restarts`` times from independent initialisations so that the few
    accepted steps each run makes (each one fixes at least one pattern) add up to a
    sample. ES runs without rank shaping: with a piecewise-constant loss most perturbed
    losses tie, and centred ranks break ties by position, which would add a drift
    unrelated to the loss; with raw antithetic fitness a tie contributes nothing.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from plasticity.experiment import ClaimMeta, Config, Experiment

METHODS = ("backprop", "hill_climbing", "annealing", "genetic", "es")
PARITY_METHODS = ("hill_climbing", "es")


class SelectionConfig(Config):
    sizes: list[int] = Field([4, 16, 32], min_length=1,
                             description="parameter dimensions N of part A")
    evals_per_param: int = Field(60, ge=4, description="loss evaluations per parameter")
    gradient_cost: int = Field(1, ge=1, description="evaluations charged per gradient")
    train_per_param: int = Field(4, ge=2, description="training samples per parameter")
    noise: float = Field(0.1, ge=0, description="label noise of the teacher")
    eta_gd: float = Field(0.3, gt=0, description="gradient-descent step size")
    step_norm: float = Field(0.3, gt=0,
                             description="norm of a selection proposal (sigma * sqrt(N))")
    population: int = Field(20, ge=2, description="population of ES and the GA (even)")
    es_eta: float = Field(0.02, gt=0, description="ES learning rate")
    t0: float = Field(0.03, ge=0, description="initial annealing temperature (loss units)")
    t_final_ratio: float = Field(1e-3, gt=0, le=1,
                                 description="final / initial annealing temperature")
    curve_points: int = Field(100, ge=2, description="loss-curve rows per run")
    parity_bits: int = Field(3, ge=2, le=8, description="n, bits of the parity task")
    parity_hidden: int = Field(4, ge=1, description="hidden threshold units")
    parity_updates: int = Field(500, ge=1, description="hill-climbing updates per restart")
    parity_restarts: int = Field(40, ge=1, description="independent runs per method")
    parity_measured: int = Field(10, ge=1,
                                 description="ES updates measured against grad L_s per run")
    smoothing_sigma: float = Field(0.5, gt=0, description="s of the smoothed loss")
    smooth_pairs: int = Field(2000, ge=10, description="antithetic pairs per grad L_s")
    parity_es_eta: float = Field(3.0, gt=0, description="ES learning rate on parity")
    n_boot: int = Field(2000, ge=100, description="bootstrap resamples for CIs")


# --------------------------------------------------------------------------- part A

def _selection_rule(method, n_params, n_updates, cfg):
    from plasticity.rules.selection import (
        EvolutionStrategies,
        GeneticAlgorithm,
        HillClimbing,
        SimulatedAnnealing,
    )

    # sigma per coordinate so that a proposal has norm ~ step_norm whatever N is
    sigma = cfg.step_norm / np.sqrt(n_params)
    if method == "hill_climbing":
        return HillClimbing(sigma=sigma, adapt=True)
    if method == "annealing":
        # geometric cooling from t0 to t0 * t_final_ratio over the run
        cooling = float(cfg.t_final_ratio ** (1.0 / max(n_updates, 1)))
        return SimulatedAnnealing(sigma=sigma, t0=cfg.t0, cooling=cooling)
    if method == "genetic":
        return GeneticAlgorithm(population=cfg.population, sigma=sigma)
    return EvolutionStrategies(eta=cfg.es_eta, sigma=cfg.step_norm / np.sqrt(n_params),
                               population=cfg.population)


def _n_updates(method, budget, cfg):
    """Updates a method gets out of ``budget`` loss evaluations."""
    if method == "backprop":
        return budget // cfg.gradient_cost
    per = 2 if method in ("hill_climbing", "annealing") else cfg.population
    return budget // per


def _run_method(method, n_params, task, net, batch, init, budget, cfg, rng):
    """Train one method; return its per-update alignment records and its loss curve."""
    from plasticity.analysis import measured
    from plasticity.engine import Probe, train
    from plasticity.rules.gradient import Backprop

    n_updates = _n_updates(method, budget, cfg)
    if method == "backprop":
        rule = Backprop(net=net, eta=cfg.eta_gd)
        per_update = cfg.gradient_cost
    else:
        rule = _selection_rule(method, n_params, n_updates, cfg)
        per_update = rule.evaluations_per_update()
        if per_update * n_updates > budget:  # the accounting above must agree with the rule
            raise AssertionError(f"{method} would exceed the budget")

    def loss_of(p, _b=None):
        return task.loss(net, p, batch)

    def grad_of(p, signals):
        return net.loss_and_grad(p, signals["input"], signals["target"])[1]

    wrapped = measured(rule, grad_of, loss_fn=loss_of)
    every = max(1, n_updates // cfg.curve_points)
    curve = [(0, loss_of(init))]

    def record(step, p, state, delta, b):
        curve.append((step * per_update, loss_of(p)))

    train(wrapped, init, n_updates=n_updates, next_batch=lambda step: batch,
          signals=lambda p, b: task.signals(net, p, b), loss=lambda p, b: loss_of(p),
          rng=rng, probes=[Probe(record, every=every)], divergence_limit=1e6)
    return wrapped.records["total"], np.array(curve)


def _part_a(cfg, ctx):
    from plasticity.analysis import summarize
    from plasticity.tasks import LinearTeacher

    rec = ctx.recorder
    results = {}
    for n in sorted(set(cfg.sizes)):
        task_rng, init_rng = ctx.child_rng(), ctx.child_rng()
        task = LinearTeacher(n, 1, task_rng, noise=cfg.noise, n_eval=16)
        net = task.student(bias=False)
        batch = task.batch(cfg.train_per_param * n, task_rng)
        init = net.init_params(init_rng)
        loss0 = task.loss(net, init, batch)
        budget = cfg.evals_per_param * n
        for method in METHODS:
            rows, curve = _run_method(method, n, task, net, batch, init, budget, cfg,
                                      ctx.child_rng())
            moved = ~rows["zero_norm"]
            stats = summarize(rows["cos"][moved], rows["inner"][moved], n_boot=cfg.n_boot,
                              rng=ctx.child_rng())
            loss_final = float(curve[-1, 1])
            results[(method, n)] = dict(stats, loss_final=loss_final, loss_initial=loss0,
                                        move_fraction=float(moved.mean()),
                                        n_updates=int(rows.size))
            rec.append(f"scaling/{method}", n, index="n_params", index_units="1",
                       units={"cos_mean": "1", "cos_ci_low": "1", "cos_ci_high": "1",
                              "frac_positive": "1", "loss_final": "loss",
                              "loss_initial": "loss", "move_fraction": "1",
                              "n_updates": "updates", "budget": "evaluations"},
                       cos_mean=stats["cos_mean"], cos_ci_low=stats["cos_ci_low"],
                       cos_ci_high=stats["cos_ci_high"],
                       frac_positive=stats["frac_positive"], loss_final=loss_final,
                       loss_initial=loss0, move_fraction=float(moved.mean()),
                       n_updates=int(rows.size), budget=budget)
            if n == max(cfg.sizes):
                for evals, loss in curve:
                    rec.append(f"curves/{method}", float(evals), index="evaluations",
                               index_units="evaluations", units={"loss": "loss"},
                               loss=float(loss))
    return results


# --------------------------------------------------------------------------- part B

def _part_b(cfg, ctx):
    from plasticity.analysis import bootstrap_ci
    from plasticity.analysis.geometry import cosine
    from plasticity.engine import Batch, train
    from plasticity.rules.selection import EvolutionStrategies, HillClimbing
    from plasticity.tasks.parity import ThresholdParity

    task = ThresholdParity(cfg.parity_bits, cfg.parity_hidden)
    s = cfg.smoothing_sigma
    ref_rng = ctx.child_rng()
    rules = {"hill_climbing": HillClimbing(sigma=s),
             "es": EvolutionStrategies(eta=cfg.parity_es_eta, sigma=s,
                                       population=cfg.population, rank_shaping=False)}
    hc_evals = cfg.parity_updates * rules["hill_climbing"].evaluations_per_update()
    n_upd = {"hill_climbing": cfg.parity_updates,
             "es": max(1, hc_evals // rules["es"].evaluations_per_update())}
    # hill climbing moves rarely (each move fixes a pattern): measure every move; ES moves
    # at almost every update, so a regular subsample of its updates is measured
    measure_every = {"hill_climbing": 1,
                     "es": max(1, n_upd["es"] // cfg.parity_measured)}
    out = {m: {"cos": [], "se_rel": [], "acc": [], "acc0": []} for m in PARITY_METHODS}
    fd_max = 0.0
    dummy = Batch(x=task.x, target=task.y)

    for _restart in range(cfg.parity_restarts):
        init = task.init(ctx.child_rng())
        for method in PARITY_METHODS:
            log = out[method]
            counter = {"step": 0}

            def probe_rule(signals, state, params, *, reward=None, loss_fn=None, rng=None,
                           _rule=rules[method], _log=log, _count=counter,
                           _every=measure_every[method]):
                nonlocal fd_max
                delta, new_state = _rule.update(signals, state, params, reward=reward,
                                                loss_fn=loss_fn, rng=rng)
                d = task.flatten(delta)
                _count["step"] += 1
                if np.any(d) and _count["step"] % _every == 0:
                    theta = task.flatten(params)
                    # the exact gradient where the rule stood: zero unless a unit sits
                    # exactly on its threshold
                    fd_max = max(fd_max, float(np.max(np.abs(task.fd_gradient(theta)))))
                    g, se = task.smoothed_gradient(theta, s, cfg.smooth_pairs, ref_rng)
                    if np.any(g):
                        # the move against the descent direction (NaN when d = 0)
                        _log["cos"].append(cosine(d, -g))
                        _log["se_rel"].append(float(np.linalg.norm(se) / np.linalg.norm(g)))
                return delta, new_state

            class _Probed:
                name = method

                def init(self, params, _rule=rules[method]):
                    return _rule.init(params)

                update = staticmethod(probe_rule)

            final, _ = train(_Probed(), init, n_updates=n_upd[method],
                             next_batch=lambda step: dummy, signals=lambda p, b: {},
                             loss=lambda p, b: task.loss(p), rng=ctx.child_rng())
            log["acc0"].append(1.0 - task.loss(init))
            log["acc"].append(1.0 - task.loss(final))
        fd_max = max(fd_max, float(np.max(np.abs(task.fd_gradient(task.flatten(init))))))

    summary = {"parity.smoothing_sigma": s, "parity.gradient_zero": bool(fd_max == 0.0),
               "parity.fd_gradient_max": fd_max, "parity.bits": cfg.parity_bits,
               "parity.chance_accuracy": 0.5}
    rec = ctx.recorder
    for method in PARITY_METHODS:
        log = out[method]
        cos = np.asarray(log["cos"], dtype=np.float64)
        if cos.size >= 2:
            low, high = bootstrap_ci(cos, n_boot=cfg.n_boot, rng=ctx.child_rng())
        else:
            low = high = np.nan
        acc = np.asarray(log["acc"])
        summary.update({
            f"parity.{method}.accuracy": float(acc.mean()),
            f"parity.{method}.accuracy_initial": float(np.mean(log["acc0"])),
            f"parity.{method}.solved_fraction": float(np.mean(acc == 1.0)),
            f"parity.{method}.cos_smoothed_mean": float(cos.mean()) if cos.size else np.nan,
            f"parity.{method}.cos_smoothed_ci_low": low,
            f"parity.{method}.cos_smoothed_ci_high": high,
            f"parity.{method}.n_moves": int(cos.size),
            f"parity.{method}.grad_se_rel_mean":
                float(np.mean(log["se_rel"])) if log["se_rel"] else np.nan,
        })
        for i, (a, a0) in enumerate(zip(log["acc"], log["acc0"], strict=True)):
            rec.append(f"parity/{method}", i, index="restart", index_units="1",
                       units={"accuracy": "1", "accuracy_initial": "1"},
                       accuracy=a, accuracy_initial=a0)
        for i, c in enumerate(cos):
            rec.append(f"parity_cos/{method}", i, index="move", index_units="1",
                       units={"cos_smoothed": "1", "grad_se_rel": "1"},
                       cos_smoothed=c, grad_se_rel=log["se_rel"][i])
    return summary


# --------------------------------------------------------------------------- run / plot

def run(cfg: SelectionConfig, ctx):
    results = _part_a(cfg, ctx)
    n_max = max(cfg.sizes)
    summary = {"n_max": n_max, "budget": cfg.evals_per_param * n_max,
               "loss_initial": results[(METHODS[0], n_max)]["loss_initial"]}
    for method in METHODS:
        r = results[(method, n_max)]
        for key in ("cos_mean", "cos_ci_low", "cos_ci_high", "frac_positive", "loss_final",
                    "move_fraction", "n_updates"):
            summary[f"{method}.{key}"] = r[key]
    summary.update(_part_b(cfg, ctx))
    ctx.summary(**summary)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.3, ncols=3)
    s = run.summary
    for i, method in enumerate(METHODS):
        t = run.series[f"scaling/{method}"]
        n = np.asarray(t["n_params"], dtype=float)
        mean = np.asarray(t["cos_mean"])
        err = np.vstack([mean - np.asarray(t["cos_ci_low"]),
                         np.asarray(t["cos_ci_high"]) - mean])
        table = f"series/scaling/{method}"
        traced(ax1.errorbar(n, mean, yerr=err, color=PALETTE[i % len(PALETTE)], marker="o",
                            ms=3, capsize=2, label=method),
               x=src(f"{table}:n_params"), y=src(f"{table}:cos_mean"),
               ylow=src(f"{table}:cos_ci_low"), yhigh=src(f"{table}:cos_ci_high"))
        c = run.series[f"curves/{method}"]
        traced(ax2.plot(c["evaluations"], c["loss"], color=PALETTE[i % len(PALETTE)],
                        label=method)[0],
               x=src(f"series/curves/{method}:evaluations"),
               y=src(f"series/curves/{method}:loss"))
    traced(ax1.axhline(0.0, color="0.6", lw=0.6, ls="--"), y=0.0)
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("parameters N")
    ax1.set_ylabel("mean cos(update, -grad)")
    ax1.legend(fontsize="small")
    ax1.set_title("a  alignment vs N", loc="left")
    ax2.set_yscale("log")
    ax2.set_xlabel("loss evaluations")
    ax2.set_ylabel("training loss")
    ax2.set_title(f"b  N = {s['n_max']}", loc="left")
    x = np.arange(len(PARITY_METHODS))
    acc = [s[f"parity.{m}.accuracy"] for m in PARITY_METHODS]
    cos = np.array([s[f"parity.{m}.cos_smoothed_mean"] for m in PARITY_METHODS])
    lo = np.array([s[f"parity.{m}.cos_smoothed_ci_low"] for m in PARITY_METHODS])
    hi = np.array([s[f"parity.{m}.cos_smoothed_ci_high"] for m in PARITY_METHODS])
    traced(ax3.bar(x - 0.2, acc, width=0.4, color=PALETTE[0], label="accuracy"),
           x=x - 0.2, height=stack([src(f"summary:parity.{m}.accuracy")
                                    for m in PARITY_METHODS]))
    traced(ax3.bar(x + 0.2, cos, width=0.4, color=PALETTE[1], yerr=[cos - lo, hi - cos],
                   capsize=2, label="cos(update, -grad L_s)"),
           x=x + 0.2,
           **{k: stack([src(f"summary:parity.{m}.cos_smoothed_{stat}")
                        for m in PARITY_METHODS])
              for k, stat in (("height", "mean"), ("ylow", "ci_low"), ("yhigh", "ci_high"))})
    traced(ax3.axhline(0.5, color="0.6", lw=0.6, ls="--"), y=0.5)
    ax3.set_xticks(x, PARITY_METHODS)
    ax3.set_ylim(0.0, 1.2)
    ax3.set_ylabel("value (dimensionless)")
    ax3.legend(fontsize="small", loc="upper right", ncols=2)
    ax3.set_title(f"c  {s['parity.bits']}-bit parity", loc="left")
    return fig


#: The selection methods whose alignment the atlas's verdict reads.
SELECTION = ("hill_climbing", "annealing", "genetic", "es")


def verdict(s):
    """The claims atlas's verdict, worded from the summary ``s`` (a mapping)."""
    parts, passing = [], []
    for m in SELECTION:
        low, high = s[f"{m}.cos_ci_low"], s[f"{m}.cos_ci_high"]
        parts.append(f"{m.replace('_', ' ')} {s[f'{m}.cos_mean']:.2f} [{low:.2f}, {high:.2f}], "
                     f"{s[f'{m}.frac_positive']:.0%} positive")
        if low > 0:
            passing.append(m)
    where = (f"cosine with -grad at N = {s['n_max']} (95% CI; share of updates with a "
             f"positive inner product): " + "; ".join(parts) +
             f"; gradient descent {s['backprop.cos_mean']:.2f}")
    if passing:
        return (f"Not supported: a positive inner product with -grad does not mark a "
                f"gradient follower; {len(passing)} of {len(SELECTION)} selection methods, "
                f"which never compute a gradient, pass it. Measured {where}. What separates "
                f"them from the gradient is the size of the cosine, not its sign.")
    return (f"Unresolved: no selection method's mean cosine is resolved above 0 here. "
            f"Measured {where}.")


EXPERIMENT = Experiment(
    name="selection-vs-gradient",
    description="Selection vs gradient descent: alignment with -grad as N grows; parity.",
    config=SelectionConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"sizes": [4, 8, 16, 32, 64, 128], "evals_per_param": 200,
                      "parity_bits": 4, "parity_hidden": 6, "parity_updates": 2000,
                      "parity_restarts": 40, "smooth_pairs": 10000, "n_boot": 5000}},
    claim=ClaimMeta(number=13, claim="An update with a positive inner product with -grad "
                    "follows the gradient (Richards and Kording's criterion).",
                    headline="hill_climbing.cos_mean", low="hill_climbing.cos_ci_low",
                    high="hill_climbing.cos_ci_high",
                    label="cos(hill-climbing update, -grad), largest N", verdict=verdict,
                    null=0.0),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
