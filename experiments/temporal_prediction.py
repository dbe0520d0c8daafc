"""A local rule learns to predict the next input of a linear dynamical system.

One file (over 400 lines) by design: DESIGN.md keeps each experiment in one file so that
the study reads top to bottom; its problem (:mod:`plasticity.problems.temporal`), rule
and mean field live in the library, and what stays here is the study: config, seeds,
figure.

Task (:class:`~plasticity.tasks.sequences.LinearDynamics`): ``x_{t+1} = A x_t + xi_t``,
``xi_t ~ N(0, noise_std^2 I)``, ``A`` a random ``n x n`` matrix rescaled to spectral
radius ``spectral_radius < 1`` (or a given ``transition``), fully observed, started in
its stationary distribution ``N(0, P)`` with ``P = A P A^T + Q``.

Loss (the one the rule is judged against): the stationary one-step prediction loss

    L(W) = E[1/2 ||x_{t+1} - W x_t||^2] = 1/2 tr((A - W) P (A - W)^T) + 1/2 tr(Q),

exact in closed form, with gradient ``dL/dW = -(A - W) P``. The optimal predictor is
``W = A`` (the conditional mean ``E[x_{t+1} | past]``), with ``L(A) = tr(Q)/2 =
n noise_std^2 / 2``.

Rule (:class:`~plasticity.rules.TemporalPrediction`): ``dW = eta (x_{t+1} - W x_t)
x_t^T`` per sample, the prediction error at the postsynaptic unit times a one-step
presynaptic trace. Its expected update at any ``W`` is ``eta (A - W) P = -eta dL/dW``
(``xi_t`` is independent of ``x_t``): stochastic gradient descent on ``L``, exactly.

What is measured:

* ``prediction_loss_ratio`` = ``L(W_final) / L(A)`` after online training on one long
  sequence (``window`` samples per update, 1 by default, so each update is one sample).
  With a constant ``eta`` it settles at ``1 + M`` with the LMS misadjustment
  ``M ~ eta tr(P) / 2`` for small ``eta`` (Widrow's approximation for independent
  inputs; here consecutive inputs are correlated, so it is a guide, not a bound).
* The alignment analysis of every ``align_every``-th update against ``-dL/dW`` at the
  weights before the update (:func:`plasticity.analysis.measured`, rows under
  ``/alignment/``; the reference is the exact population gradient of
  :class:`plasticity.problems.TemporalPredictionProblem`): ``cos_mean`` with a 95%
  interval (``cos_ci_low``, ``cos_ci_high``, every key of
  :func:`plasticity.analysis.summarize` with ``ci_method`` naming the interval and
  ``n_measured`` the updates), ``frac_positive``, and ``cos_mean_early`` over the first
  tenth of the measured updates. Single-sample updates
  are noisy: far from the optimum the cosine is clearly positive, near it the gradient
  vanishes while the update (error noise times input) does not, so per-update cosines
  shrink towards 0 and ``cos_mean`` reflects how long the run spends converged.
* ``expected_cos``: the cosine with ``-dL/dW`` of the mean of ``expected_draws`` updates
  at the initial weights, each from an independent stationary pair ``(x_t, x_{t+1})``
  (:func:`plasticity.analysis.expected_cosine`). For an exactly unbiased rule it falls
  short of 1 only by the sampling floor ``expected_cos_deficit_floor`` (the expected
  ``1 - cos`` of a mean of that many draws, see :func:`_expected`).
* The gradient-field test (:func:`plasticity.analysis.field_asymmetry_over`) on the
  rule's mean update field over ``field_pairs`` fixed stationary pairs (common random
  numbers), at ``field_states`` random weights around ``A``: the field is ``eta (C10 -
  W C00)`` with the empirical moments, whose Jacobian ``-eta (I kron C00)`` is
  symmetric, so ``field_asymmetry`` is at the finite-difference floor (about 1e-10).

Seeds. ``seeds`` independent replicates of the training share the system ``A`` (drawn
from the run's seed, like alignment-atlas's teacher: the task) and differ in everything
else: each has its own sequence (stationary start and process noise) and its own initial
weights, from the run's seed stream (seed 0 uses the generators the single-seed run
used; each further seed two more, drawn after them). As in alignment-atlas, with several
seeds the primary keys are over seeds: ``cos_mean``, ``cos_ci_low`` and ``cos_ci_high``
are the mean over seeds of each seed's mean cosine and its t-interval
(:func:`plasticity.analysis.seeds_summary`), the same numbers as ``seeds_cos_mean``,
``seeds_cos_low``, ``seeds_cos_high`` (``seeds_cos_n`` seeds), and ``ci_method`` says so;
``n_measured`` is summed over seeds; ``frac_positive``, ``n_eff``, ``cos_mean_early``,
``prediction_loss_ratio``, ``final_loss``, ``initial_loss_ratio`` and ``weight_error`` are
averaged over seeds. Each seed's own values, with its within-run interval, are the rows
of ``/series/seeds``. With ``seeds=1`` the keys are that seed's (within-run interval) and
``seeds_cos_low``/``seeds_cos_high`` are NaN. ``expected_cos`` is measured at seed 0's
initial weights, the field test once; the training curve (``/series/training``) and the
weight snapshots are seed 0's, whose per-update rows are ``/alignment/total`` (seed ``k``:
``/alignment/seed<k>/total``).

The quick preset runs 3 seeds and measures every third update (``align_every=3``), 6,667
measured updates per seed and 20,000 in all, as many as the single seed measured before;
measuring is most of an update's cost, so the run takes 1.2 times the time of one seed
measured at every update (1.18-1.21 times the CPU time, 1.14-1.23 times the wall time in
paired runs; n_eff is about 6,000 per seed, the cosines being nearly uncorrelated at this
spacing). The full preset runs 5 seeds.

Observed (quick preset, seed 0): ``cos_mean`` 0.0742 [0.0730, 0.0754] over 3 seeds (per
seed 0.0745, 0.0745, 0.0737, each within-run interval about +-0.004);
``prediction_loss_ratio`` 1.038 (per seed 1.033-1.045, ``misadjustment_theory`` 0.033);
``expected_cos`` 1.000, ``field_asymmetry`` 2e-11.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import AlignmentMeta, Config, Experiment

#: What this experiment's alignment numbers are (read by alignment-summary): the reference
#: is the exact population gradient of the problem; within a seed the interval method is
#: that of :func:`plasticity.analysis.summarize`, over seeds a t-interval (the summary's
#: ``ci_method`` names the one its ``cos_ci_*`` hold).
ALIGNMENT = {"reference": "population", "problem": "temporal-prediction",
             "ci_method": "batch_means", "seeds_ci_method": "t",
             "seeds": {"quick": 3, "full": 5}, "rules": ["temporal_prediction"],
             "substrate": "rate"}


class TemporalPredictionConfig(Config):
    n: int = Field(10, ge=1, le=200, description="state dimension")
    spectral_radius: float = Field(0.9, gt=0, lt=1, description="rho(A) of the random A")
    transition: list[list[Annotated[float, Field(allow_inf_nan=False)]]] | None = Field(
        None, description="a given A (n x n, rho(A) < 1) instead of a random one")
    noise_std: float = Field(1.0, gt=0, allow_inf_nan=False,
                             description="process noise std (state units)")
    eta: float = Field(0.001, gt=0, allow_inf_nan=False,
                       description="learning rate per sample (1/state^2)")
    init_std: float = Field(0.0, ge=0, allow_inf_nan=False,
                            description="initial W ~ N(0, init_std^2 / n)")
    n_samples: int = Field(20000, ge=1, description="sequence samples seen in training")
    window: int = Field(1, ge=1, description="samples per update")
    align_every: int = Field(3, ge=1, description="measure every k-th update")
    seeds: int = Field(3, ge=1, le=100, description="independent seeds (sequence and "
                       "initial weights; the system A is the run's)")
    record_every: int = Field(100, ge=1, description="updates between loss records")
    expected_draws: int = Field(20000, ge=10, description="draws of the update at the "
                                                          "initial weights")
    field_states: int = Field(4, ge=1, description="states of the gradient-field test")
    field_pairs: int = Field(200, ge=1, description="fixed pairs defining the mean field")
    field_radius: float = Field(0.5, gt=0, description="spread of the field states "
                                                       "(relative to rms(A))")
    eps: float = Field(1e-5, gt=0, lt=0.1, description="finite-difference relative step")

    @model_validator(mode="after")
    def _stable_transition(self):
        from plasticity.errors import InvalidParameterError

        if self.transition is not None:
            try:
                _task(self, None)
            except InvalidParameterError as exc:
                raise ValueError(f"transition: {exc}") from None
        return self


def _task(cfg, rng):
    from plasticity.tasks.sequences import LinearDynamics

    if cfg.transition is not None:
        return LinearDynamics(cfg.n, A=cfg.transition, noise_std=cfg.noise_std)
    return LinearDynamics(cfg.n, rng, spectral_radius=cfg.spectral_radius,
                          noise_std=cfg.noise_std)


class _OnePair:
    """The rule on one fresh stationary pair ``(x_t, x_{t+1})`` drawn with its ``rng``:
    draws of its update sample the data too, which the expected update must average."""

    def __init__(self, rule, task):
        self.rule, self.task, self.name = rule, task, rule.name

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        prev, nxt = self.task.pairs(1, rng)
        return self.rule.update({"input": nxt}, prev[0], params)


def _stats_summary(stats):
    """Every key of :func:`plasticity.analysis.summarize` for the summary (``ci_method``,
    ``n_eff``, ...; its ``n`` as ``n_measured``)."""
    return {("n_measured" if k == "n" else k): v for k, v in stats.items()}


def _expected(rule, problem, W, n_draws, rng):
    """``expected_cos`` at ``W`` and the deficit ``1 - cos`` that ``n_draws`` draws of an
    exactly unbiased rule would show.

    For the mean ``m`` of ``n`` i.i.d. draws with ``E[m] = mu`` parallel to ``-g``, the
    error ``m - mu`` orthogonal to ``mu`` tilts ``m`` and to leading order
    ``E[1 - cos] = tr(Cov_perp d) / (2 n |mu|^2)`` (``Cov_perp``: the covariance of one
    draw projected off ``mu``). Estimated from up to 2,000 kept draws.
    """
    from plasticity.analysis import expected_cosine, expected_update

    params = {"W": W}
    grad, _ = problem.population_gradient(params)
    wrapped = _OnePair(rule, problem.task)
    out = expected_cosine(wrapped, {}, None, params, grad, n_draws=n_draws, rng=rng)
    _, draws = expected_update(wrapped, {}, None, params, n_draws=min(n_draws, 2000),
                               rng=rng, keep_draws=True)
    D = draws["W"].reshape(len(draws["W"]), -1)
    mu = D.mean(axis=0)
    u = mu / np.linalg.norm(mu)
    resid = D - mu
    perp = resid - np.outer(resid @ u, u)
    var_perp = float(np.sum(perp ** 2) / (len(D) - 1))
    return out["expected_cos"], var_perp / (2 * n_draws * float(mu @ mu))


def _over_seeds(per_seed):
    """One rule's result from its per-seed results: :func:`plasticity.analysis.combine_seeds`
    (the t-interval over seeds first), averaging :data:`_AVERAGED`."""
    from plasticity.analysis import combine_seeds

    return combine_seeds(per_seed, _AVERAGED)


#: Per-seed results averaged over seeds (the cosine's interval is recomputed).
_AVERAGED = ("frac_positive", "n_eff", "cos_batch_mean", "sgd_ceiling", "cos_mean_early",
             "prediction_loss_ratio", "final_loss", "initial_loss_ratio", "weight_error")

_SEED_UNITS = {"cos_mean": "1", "cos_ci_low": "1", "cos_ci_high": "1",
               "frac_positive": "1", "n_measured": "1", "cos_batch_mean": "1",
               "sgd_ceiling": "1", "cos_mean_early": "1",
               "prediction_loss_ratio": "1", "final_loss": "state^2",
               "initial_loss_ratio": "1", "weight_error": "1"}


def _replicate(cfg, task, problem, rule, seq_rng, init_rng, rec, bar, index):
    """One seed's online training, every ``align_every``-th update measured.

    Parameters
    ----------
    cfg : TemporalPredictionConfig
    task : LinearDynamics
        The system (the same for every seed).
    problem : TemporalPredictionProblem
    rule : TemporalPrediction
    seq_rng, init_rng : numpy.random.Generator
        The seed's sequence (its stationary start and process noise) and initial weights.
    rec : Recorder
    bar : tqdm-like
        Advanced by one per update.
    index : int
        The seed's number. Seed 0 records the training curve (``/series/training``), the
        weight snapshots and the alignment tables under ``/alignment/`` (``W`` and
        ``total``); a further seed ``k`` its ``total`` table under ``/alignment/seed<k>/``
        only.

    Returns
    -------
    dict
        The keys of :func:`_stats_summary` (``cos_mean`` ... ``n_measured``) and
        ``cos_mean_early``, ``prediction_loss_ratio``, ``final_loss``,
        ``initial_loss_ratio``, ``weight_error``; ``W0`` and ``W`` (shape (n, n)).
    """
    from plasticity.analysis import measured, summarize
    from plasticity.engine import Batch, Probe, train
    from plasticity.problems.temporal import SequenceBatch

    main = index == 0
    W0 = problem.init_params(init_rng)["W"]
    x0 = task.initial(seq_rng)
    n_updates = -(-cfg.n_samples // cfg.window)
    cursor = {"x": x0, "seen": 0}

    def next_batch(step):
        k = min(cfg.window, cfg.n_samples - cursor["seen"])
        X = task.simulate(k, seq_rng, cursor["x"])
        # the window's pairs start from the state before it (the rule keeps it as state)
        cursor["pairs"] = SequenceBatch(x=np.vstack([cursor["x"][None], X]))
        cursor["x"], cursor["seen"] = X[-1], cursor["seen"] + k
        return Batch(x=X)

    L_opt = task.optimal_loss
    units = {"samples": "samples", "loss": "state^2", "loss_ratio": "1"}

    def record(step, p, state, delta, batch):
        if step % cfg.record_every == 0 or step == n_updates:
            L = task.loss(p["W"])
            rec.append("training", step, units=units, samples=cursor["seen"], loss=L,
                       loss_ratio=L / L_opt)

    L0 = task.loss(W0)
    if main:
        rec.snapshot("W", 0, W0)
        rec.append("training", 0, units=units, samples=0, loss=L0, loss_ratio=L0 / L_opt)
    # the reference: the problem's exact population gradient and loss; the window's own
    # pairs give the same-batch gradient (cos_batch) and the SGD ceiling (sgd_cos)
    wrapped = measured(rule, lambda p, s: problem.batch_gradient(p, cursor["pairs"]),
                       reference_fn=problem.population_gradient,
                       loss_fn=lambda p, s: problem.population_loss(p),
                       every=cfg.align_every, recorder=rec,
                       prefix="/alignment" if main else f"/alignment/seed{index}",
                       record_tables=None if main else ("total",))
    params, _ = train(wrapped, {"W": W0}, n_updates=n_updates, next_batch=next_batch,
                      signals=lambda p, b: {"input": b.x}, state=x0,
                      probes=[Probe(record)] if main else [], progress=bar)
    W = params["W"]
    if main:
        rec.snapshot("W", n_updates, W)
    total = wrapped.records.get("total")
    keep = ~total["zero_norm"]
    cos, inner = total["cos"][keep], total["inner"][keep]
    early = max(1, cos.size // 10)
    return {**_stats_summary(summarize(cos, inner, rng=0)),
            "cos_batch_mean": float(np.mean(total["cos_batch"][keep])) if cos.size else np.nan,
            "sgd_ceiling": float(np.mean(total["sgd_cos"][keep])) if cos.size else np.nan,
            "cos_mean_early": float(np.mean(cos[:early])) if cos.size else np.nan,
            "prediction_loss_ratio": task.loss(W) / L_opt, "final_loss": task.loss(W),
            "initial_loss_ratio": L0 / L_opt,
            "weight_error": float(np.linalg.norm(W - task.A) / np.linalg.norm(task.A)),
            "W0": W0, "W": W}


def run(cfg: TemporalPredictionConfig, ctx):
    from plasticity.analysis import field_asymmetry_over
    from plasticity.problems import TemporalPredictionProblem
    from plasticity.rules import TemporalPrediction
    from plasticity.rules.temporal_prediction import mean_update

    task_rng, seq_rng, init_rng, draw_rng, field_rng = (ctx.child_rng() for _ in range(5))
    task = _task(cfg, task_rng)
    problem = TemporalPredictionProblem(task, init_std=cfg.init_std)
    n = task.n
    rule = TemporalPrediction(eta=cfg.eta)
    rec = ctx.recorder
    rec.snapshot("A", 0, task.A)
    rec.snapshot("P", 0, task.P)

    # -- online training on one long sequence per seed --------------------------------
    n_updates = -(-cfg.n_samples // cfg.window)
    per_seed = []
    with ctx.progress(n_updates * cfg.seeds, "temporal-prediction") as bar:
        for k in range(cfg.seeds):
            # seed 0 uses the generators above; each further seed two more of the run's
            # seed stream (its sequence and its initial weights), drawn after them
            rngs = (seq_rng, init_rng) if k == 0 else (ctx.child_rng(), ctx.child_rng())
            per_seed.append(_replicate(cfg, task, problem, rule, *rngs, rec, bar, k))
            rec.append("seeds", k, index="seed", index_units="1", units=_SEED_UNITS,
                       **{c: per_seed[-1][c] for c in _SEED_UNITS})
    W0 = per_seed[0]["W0"]
    over = _over_seeds([{c: r[c] for c in r if c not in ("W0", "W")} for r in per_seed])

    # -- the expected update at seed 0's initial weights --------------------------------
    expected_cos, expected_deficit = _expected(rule, problem, W0, cfg.expected_draws,
                                                draw_rng)

    # -- the gradient-field test on the mean update over fixed pairs -------------------
    prev, nxt = task.pairs(cfg.field_pairs, field_rng)

    def mean_field(theta):
        return mean_update(rule, prev, nxt, theta)

    C00, C10 = prev.T @ prev / len(prev), nxt.T @ prev / len(prev)
    field_error = float(np.max(np.abs(mean_field(task.A.ravel()) -
                                      cfg.eta * (C10 - task.A @ C00).ravel())))
    scale = float(np.sqrt(np.mean(task.A ** 2)))
    thetas = task.A.ravel() + cfg.field_radius * scale * field_rng.standard_normal(
        (cfg.field_states, n * n))
    field = field_asymmetry_over(mean_field, thetas, cfg.eps)
    for k, value in enumerate(field["values"]):
        rec.append("field", k, units={"asymmetry": "1"}, index_units="state",
                   asymmetry=float(value))

    ctx.summary(**over, optimal_loss=task.optimal_loss,
                misadjustment_theory=cfg.eta * float(np.trace(task.P)) / 2,
                expected_cos=expected_cos, expected_cos_deficit_floor=expected_deficit,
                field_asymmetry=field["mean"], field_asymmetry_max=field["max"],
                field_error=field_error, spectral_radius=task.rho, n_seeds=cfg.seeds)


def plot(run):
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import apply, src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.33, ncols=2)
    s = run.summary
    t = run.series["training"]
    traced(ax1.plot(t["samples"], t["loss_ratio"], color=PALETTE[0], label="learned W")[0],
           x=src("series/training:samples"), y=src("series/training:loss_ratio"))
    traced(ax1.axhline(1.0, color=PALETTE[2], lw=0.8, label="optimal W = A"), y=1.0)
    traced(ax1.axhline(1.1, color="0.6", lw=0.6, ls="--", label="1.1"), y=1.1)
    ax1.set_yscale("log")
    # plain tick labels: the ratio spans less than a decade
    ax1.yaxis.set_major_formatter(ScalarFormatter())
    ax1.yaxis.set_minor_formatter(NullFormatter())
    ax1.set_yticks([1, 1.5, 2, 3, 5])
    ax1.set_xlabel("samples")
    ax1.set_ylabel(r"$L(W)\,/\,L(A)$")
    ax1.legend(loc="upper right")
    n_seeds = int(s.get("n_seeds", 1))
    ax1.set_title(f"a  prediction loss (final ratio {s['prediction_loss_ratio']:.3f}"
                  + (f", mean of {n_seeds} seeds; curve: seed 0)" if n_seeds > 1 else ")"),
                  loc="left")

    a = run.alignment["total"]
    keep = ~np.asarray(a["zero_norm"], dtype=bool)
    step, cos = np.asarray(a["step"])[keep], np.asarray(a["cos"])[keep]
    # log-spaced bins: the learning phase is short, the converged phase long
    n_bins = min(30, max(1, cos.size // 20))
    edges = np.unique(np.geomspace(1, cos.size, n_bins + 1).astype(int))
    edges[0] = 0
    mids = [step[lo:hi].mean() for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    means = [cos[lo:hi].mean() for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    def binned(step, cos, zero_norm, stat):
        keep = ~np.asarray(zero_norm, dtype=bool)
        x = (step if stat == "step" else cos)[keep]
        n_bins = min(30, max(1, x.size // 20))
        edges = np.unique(np.geomspace(1, x.size, n_bins + 1).astype(int))
        edges[0] = 0
        return [x[lo:hi].mean() for lo, hi in zip(edges[:-1], edges[1:], strict=True)]

    cols = [src(f"alignment/total:{k}") for k in ("step", "cos", "zero_norm")]
    traced(ax2.plot(mids, means, color=PALETTE[0], marker="o", ms=2,
                    label="per-update cos, seed 0 (bin mean)")[0],
           x=apply(binned, *cols, "step", name="log_bin_mean"),
           y=apply(binned, *cols, "cos", name="log_bin_mean"))
    traced(ax2.axhline(s["expected_cos"], color=PALETTE[1], lw=0.8, ls="--",
                       label=f"expected update at start ({s['expected_cos']:.3f})"),
           y=src("summary:expected_cos"))
    # the across-seed interval where the run has several seeds, else the within-run one
    over_seeds = np.isfinite(s.get("seeds_cos_low", np.nan))
    m, lo, hi = (("seeds_cos_mean", "seeds_cos_low", "seeds_cos_high") if over_seeds
                 else ("cos_mean", "cos_ci_low", "cos_ci_high"))
    what = f"mean over {s['seeds_cos_n']} seeds" if over_seeds else "mean"
    traced(ax2.axhspan(s[lo], s[hi], color=PALETTE[0], alpha=0.2, lw=0,
                       label=f"{what} {s[m]:.3f} [{s[lo]:.3f}, {s[hi]:.3f}]"),
           low=src(f"summary:{lo}"), high=src(f"summary:{hi}"))
    table = run.series.get("seeds") if over_seeds else None
    if table is not None:
        # each seed's own mean, at the right end of the run
        per = np.asarray(table["cos_mean"])
        x = np.full(per.size, step[-1] if step.size else 1.0)
        traced(ax2.plot(x, per, ls="none", marker="_", ms=8, mew=1.2, color=PALETTE[3],
                        label="per-seed means")[0],
               x=x, y=src("series/seeds:cos_mean"))
    traced(ax2.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax2.set_xscale("log")
    ax2.set_xlabel("update")
    ax2.set_ylabel(r"cos(update, $-\nabla L$)")
    ax2.set_ylim(-0.2, 1.05)
    ax2.legend(loc="center right")
    ax2.set_title("b  alignment with the loss gradient", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="temporal-prediction",
    description="A local delta rule in time learns the optimal next-input predictor of "
                "a linear dynamical system.",
    config=TemporalPredictionConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"n": 20, "eta": 0.0005, "n_samples": 200000,
                                   "align_every": 10, "record_every": 1000,
                                   "field_states": 8, "seeds": 5}},
    alignment=AlignmentMeta(substrate=ALIGNMENT["substrate"],
                            loss="stationary one-step prediction error of a linear "
                                 "dynamical system",
                            problem=ALIGNMENT["problem"], reference=ALIGNMENT["reference"],
                            rule="temporal_prediction"),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
