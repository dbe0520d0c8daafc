"""Predictive coding against backprop: the update converges to backprop's.

One file (over 400 lines) by design: DESIGN.md keeps each experiment in one file so that
the study reads top to bottom; its problem (the digits squared error, exact over the
training set) lives in :mod:`plasticity.problems.predictive_coding`, its rule and kernel
in the library.

Reproduces the central claim of J. C. R. Whittington & R. Bogacz (2017), "An
approximation of the error backpropagation algorithm in a predictive coding network with
local Hebbian synaptic plasticity", Neural Comput. 29:1229. A predictive coding (PC)
network (:class:`~plasticity.rules.predictive_coding.PredictiveCoding`) relaxes its
activities to minimise the energy ``F = sum_l 0.5 pi_l |x_l - mu_l|^2`` and then changes
its weights by the local product ``eps_l phi(x_{l-1})^T``. With the output weakly nudged
towards the target (strength ``beta``) and inference run to convergence, the relaxed errors
are ``-beta`` times backprop's deltas to first order in ``beta``, so the PC update points
along backprop's; with the output clamped it approximates it.

Part 1 (the curve): from one state of a ``sizes`` network on digits batches, the cosine
between PC's update (all weights and biases, flattened) and backprop's
(``-dL/dparams``, ``L = mean 0.5 |y - onehot|^2``, the squared output error of the
feedforward pass) for every number of inference steps in ``steps_grid`` and every nudging
strength in ``betas``, and with the output clamped. After ``k`` synchronous steps the
output error has reached ``k`` layers down, so few steps give a partial update.

Part 2 (learning): the same network, from the same initial parameters and on the same
batches, trained on scikit-learn's bundled digits by PC and by backprop with the same
loss; test accuracy of both.

Summary: ``cos_converged`` (most steps, weakest nudging; theory 1), ``cos_one_step``
(one step, weakest nudging), ``cos_clamped`` (most steps, output clamped), ``beta_weakest``
and ``steps_max`` (where ``cos_converged`` was taken), ``acc_pc``, ``acc_bp`` (final test
accuracy), ``acc_gap_pp`` (``acc_bp - acc_pc`` in percentage points), ``acc_initial``
(before training) and ``cos_pc_bp_final_params`` (cosine between the two networks' total
parameter changes over training).

Series: ``/series/cosine`` (index ``inference_steps``; columns ``beta``, ``clamped`` (1 for
the clamped output, whose ``beta`` is 0) and ``cos``, averaged over ``n_cos_batches``
batches); ``/series/training_pc`` and ``/series/training_bp`` (index ``step``;
``test_accuracy``, ``test_loss`` = the squared output error on the test set).

Alignment (``/alignment``), the training-time counterpart of part 1 (at ``n_inference``
steps and ``train_beta`` nudging along a training trajectory rather than at one state):
every ``align_every``-th PC training update is compared, by
:func:`plasticity.analysis.measured`, with the gradient of the loss PC descends, the
squared output error, on its *population*
(:class:`~plasticity.problems.predictive_coding.DigitsSquaredError`). Batches are uniform
draws from the finite training set, so the population is that set and its gradient is
exact (no standard error). The tables ``/alignment/<array>`` and ``/alignment/total`` hold
the measured rows: ``cos``, ``inner``, ``predicted_dloss`` (against the population
gradient), ``actual_dloss`` (the change of the training-set loss), and the secondary
``cos_batch`` (against the gradient of the update's own minibatch) and ``sgd_cos`` (the
exact minibatch gradient's own cosine with the population gradient: what SGD with the
same batch size reaches at the same state). Summary, rule ``predictive_coding``:

* ``predictive_coding.cos_mean``, ``.cos_ci_low``, ``.cos_ci_high``: mean cosine with
  the population gradient and its interval, made by ``.ci_method``
  (:func:`plasticity.analysis.summarize`; ``.n`` updates, ``.n_eff`` effective);
  ``.frac_positive``: fraction of updates that decrease the population loss to first
  order;
* ``predictive_coding.cos_batch_mean``: mean cosine with the same minibatch's gradient;
* ``predictive_coding.sgd_ceiling``: mean of ``sgd_cos``, the best any minibatch rule
  could do at this batch size;
* with ``seeds`` >= 2: ``predictive_coding.seeds_cos_mean``, ``.seeds_cos_low``,
  ``.seeds_cos_high`` (t-interval over the per-seed ``cos_mean``), ``.seeds_cos_n``.
  Seed 0 is the training run above; every further seed trains PC alone (alignment
  only: no backprop, no test evaluation) from its own split, initial parameters and
  batches, drawn from the run's seed stream. ``/series/seeds`` (index ``seed``) has each
  seed's ``cos_mean``, ``cos_batch_mean`` and ``sgd_ceiling``. The quick preset runs
  three seeds, the full preset five. Each further seed costs one more PC training (1,000
  updates of 30 inference steps in the quick preset: about 1.5 s of CPU since the
  inference kernel vectorises across the batch, 5-9 s before), so the quick run with
  three seeds takes less time than it did with one (8.1-8.8 s of CPU against 11.1-11.5 s,
  paired runs on the busy 2-core machine).

Deprecated (kept for one release so that old readers work; same-minibatch meaning, as
before the population reference): ``align_cos_mean``, ``align_cos_ci_low``,
``align_cos_ci_high`` and ``align_frac_positive`` are the cosine with the gradient of the
update's own minibatch (now ``predictive_coding.cos_batch_mean``); ``align_n`` is
``predictive_coding.n``.

Part 1's cosine stays against the same batch's backprop update by design: it compares two
update directions computed on one batch (how close PC's update is to backprop's), not an
update with the loss it should descend. Cosines of two directions come from
:func:`plasticity.analysis.geometry.cosine`. :data:`ALIGNMENT` declares the alignment
metadata that ``alignment-summary`` reads.

Training by nudging uses the PC learning rate ``eta / train_beta``, since PC's update is
``beta`` times backprop's direction to first order; a divergence of the inference
dynamics (too large ``gamma``) ends the run with status ``diverged``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.experiment import AlignmentMeta, Config, Experiment

N_PIXELS, N_CLASSES = 64, 10

#: The rule's name in the summary keys (``<rule>.<key>``).
RULE = "predictive_coding"

#: Alignment metadata (a draft read by alignment-summary): what the primary cosine is
#: measured against, on which problem, how its interval is made, and its summary keys.
ALIGNMENT = {
    "reference": "population",
    "problem": "digits-squared-error (plasticity.problems.predictive_coding."
               "DigitsSquaredError): mean 0.5 |y - onehot|^2 over the digits training set, "
               "exact",
    "ci_method": "batch_means",
    "seeds_ci_method": "t",
    "seeds": {"quick": 3, "full": 5},
    "rules": [RULE],
    "substrate": "rate",
    "keys": {k: f"{RULE}.{k}" for k in (
        "cos_mean", "cos_ci_low", "cos_ci_high", "ci_method", "cos_batch_mean",
        "sgd_ceiling", "frac_positive", "n", "n_eff", "seeds_cos_mean", "seeds_cos_low",
        "seeds_cos_high", "seeds_cos_n")},
    # same-minibatch cosine under the old names, for one release (module docstring)
    "deprecated_keys": ["align_cos_mean", "align_cos_ci_low", "align_cos_ci_high",
                        "align_frac_positive", "align_n"],
}


class PCvsBackpropConfig(Config):
    sizes: list[int] = Field([64, 32, 24, 10], description="layer widths: 64 pixels in, "
                             "10 classes out")
    activation: str = Field("tanh", description="hidden activation")
    precisions: float | list[float] = Field(1.0, description="precision pi_l > 0 of each "
                                            "predicted layer (one value for all)")
    gamma: float = Field(0.2, gt=0, description="inference rate")
    steps_grid: list[int] = Field([1, 2, 3, 5, 10, 20, 50, 100, 200],
                                  description="inference steps at which the cosine is taken")
    betas: list[float] = Field([1.0, 0.1, 0.01, 0.001], description="nudging strengths")
    cos_batch: int = Field(64, ge=1, description="samples per cosine measurement")
    n_cos_batches: int = Field(4, ge=1, description="batches averaged for the cosine")
    n_updates: int = Field(1000, ge=1, description="training updates of each network")
    batch_size: int = Field(32, ge=1, description="samples per training update")
    eta: float = Field(0.1, gt=0, description="backprop learning rate")
    train_output: str = Field("nudge", pattern="^(clamp|nudge)$",
                              description="how PC training sees the target")
    train_beta: float = Field(0.1, gt=0, description="nudging strength in training "
                              "(PC learning rate eta / train_beta when nudged)")
    n_inference: int = Field(30, ge=1, description="inference steps per training update")
    eval_every: int = Field(100, ge=1, description="updates between test evaluations")
    energy_limit: float = Field(1e8, gt=0, description="energy that counts as diverged")
    align_every: int = Field(10, ge=1, description="PC training updates between alignment "
                             "measurements")
    seeds: int = Field(3, ge=1, le=100, description="independent seeds of the alignment "
                       "part (seed 0 is the main run; each further one trains PC alone)")

    @field_validator("steps_grid")
    @classmethod
    def _steps(cls, value):
        if not value or any(v < 1 for v in value):
            raise ValueError("must be a non-empty list of integers >= 1")
        return sorted(set(value))

    @field_validator("betas")
    @classmethod
    def _betas(cls, value):
        if not value or any(not np.isfinite(v) or v <= 0 for v in value):
            raise ValueError("must be a non-empty list of numbers > 0")
        return sorted(set(value), reverse=True)

    @field_validator("precisions")
    @classmethod
    def _precisions(cls, value):
        values = [value] if isinstance(value, float | int) else value
        if not values or any(not np.isfinite(v) or v <= 0 for v in values):
            raise ValueError("must be finite and greater than 0")
        return value

    @model_validator(mode="after")
    def _fits_data(self):
        if len(self.sizes) < 2 or any(n < 1 for n in self.sizes):
            raise ValueError(f"sizes {self.sizes} must have at least 2 entries >= 1")
        if self.sizes[0] != N_PIXELS or self.sizes[-1] != N_CLASSES:
            raise ValueError(f"sizes {self.sizes} do not match the digits data: the first "
                             f"must be {N_PIXELS} (pixels), the last {N_CLASSES} (classes)")
        if isinstance(self.precisions, list) and len(self.precisions) != len(self.sizes) - 1:
            raise ValueError(f"precisions needs {len(self.sizes) - 1} entries (one per "
                             f"layer above the input), got {len(self.precisions)}")
        return self


def _accuracy(net, params, x, y):
    return float(np.mean(np.argmax(net.forward(params, x).post[-1], axis=1) == y))


def _measured_pc(pc, problem, cfg, recorder=None):
    """``pc`` wrapped by :func:`~plasticity.analysis.measured`: every ``align_every``-th
    update against the population gradient of ``problem`` (primary), the same
    minibatch's gradient (``cos_batch``) and the exact minibatch step (``sgd_cos``)."""
    from plasticity.analysis import measured
    from plasticity.tasks.batch import Batch

    def batch_gradient(p, s):
        return problem.batch_gradient(p, Batch(x=s["input"], target=s["target"]))

    # actual_dloss is the change of the population loss, the loss predicted_dloss
    # (against the population gradient) predicts to first order
    return measured(pc, batch_gradient, loss_fn=lambda p, s: problem.population_loss(p),
                    reference_fn=problem.population_gradient, every=cfg.align_every,
                    recorder=recorder, prefix="/alignment")


def _alignment_stats(records):
    """The summary of one run's measured updates (``records`` of a measured rule).

    Returns
    -------
    dict
        ``primary`` (:func:`~plasticity.analysis.summarize` against the population
        gradient), ``batch`` (the same against the minibatch gradient) and
        ``sgd_ceiling`` (mean ``sgd_cos``), over the updates whose cosine is defined.
    """
    from plasticity.analysis import summarize

    total = records["total"]
    keep = ~total["zero_norm"]
    return {"primary": summarize(total["cos"][keep], total["inner"][keep], rng=0),
            # inner against the minibatch gradient = -predicted_dloss_batch
            "batch": summarize(total["cos_batch"][keep],
                               -total["predicted_dloss_batch"][keep], rng=0),
            "sgd_ceiling": float(np.mean(total["sgd_cos"][keep])) if keep.any()
            else float("nan")}


def _seed_replicate(cfg, net, pc_kw, rng, bar, where):
    """One further seed of the alignment part: a new split, initial parameters and
    batches from ``rng``; PC trained alone for ``n_updates``. Returns
    :func:`_alignment_stats` of its measured updates. ``where["step"]`` follows the
    update being computed (for a divergence report)."""
    from plasticity.engine import train
    from plasticity.problems.predictive_coding import DigitsSquaredError
    from plasticity.rules.predictive_coding import PredictiveCoding
    from plasticity.tasks import Digits

    task = Digits(rng)
    problem = DigitsSquaredError(task, net)
    params = net.init_params(rng)
    rule = _measured_pc(PredictiveCoding(net=net, **pc_kw), problem, cfg)
    train(rule, params, n_updates=cfg.n_updates,
          next_batch=lambda s: where.update(step=s) or task.batch(cfg.batch_size, rng),
          signals=problem.signals,
          progress=bar, rng=np.random.default_rng(0))
    return _alignment_stats(rule.records)


def run(cfg: PCvsBackpropConfig, ctx):
    from plasticity.analysis.geometry import cosine
    from plasticity.engine import Probe, train
    from plasticity.errors import Diverged
    from plasticity.problems.predictive_coding import DigitsSquaredError
    from plasticity.rules.gradient import Backprop
    from plasticity.rules.predictive_coding import InferenceDiverged, PredictiveCoding
    from plasticity.substrates import FeedForward
    from plasticity.tasks import Digits

    task = Digits(ctx.child_rng())
    net = FeedForward(sizes=cfg.sizes, activations=cfg.activation)
    params0 = net.init_params(ctx.child_rng())
    rec = ctx.recorder

    def pc_rule(**kw):
        return PredictiveCoding(net=net, gamma=cfg.gamma, precisions=cfg.precisions,
                                energy_limit=cfg.energy_limit, **kw)

    # -- part 1: cosine against backprop, by inference steps and nudging strength ------
    # (two update directions on the same batch, by design: see the module docstring)
    cos_rng = ctx.child_rng()
    modes = [("nudge", b) for b in cfg.betas] + [("clamp", 0.0)]
    n_max = cfg.steps_grid[-1]
    cos = np.zeros((len(modes), len(cfg.steps_grid)))
    for _ in range(cfg.n_cos_batches):
        batch = task.batch(cfg.cos_batch, cos_rng)
        rule = pc_rule(n_inference=n_max)
        _, grad = rule.loss_and_grad(params0, batch.x, batch.target)
        minus_grad = {k: -g for k, g in grad.items()}
        for i, (mode, beta) in enumerate(modes):
            for j, n in enumerate(cfg.steps_grid):
                try:
                    relaxed = rule.relax(params0, batch.x, batch.target, n_steps=n,
                                         beta=beta, output=mode)
                except InferenceDiverged as exc:
                    raise Diverged(0, f"{exc.reason} (cosine measurement, {mode}, beta={beta}, "
                                      f"{n} steps)") from None
                cos[i, j] += cosine(rule.delta_from(relaxed), minus_grad) / cfg.n_cos_batches
    for i, (mode, beta) in enumerate(modes):
        for j, n in enumerate(cfg.steps_grid):
            rec.append("cosine", n, index="inference_steps", index_units="step",
                       units={"beta": "1", "clamped": "1", "cos": "1"}, beta=beta,
                       clamped=int(mode == "clamp"), cos=cos[i, j])
    weakest = len(cfg.betas) - 1

    # -- part 2: digits, PC and backprop from the same state on the same batches -------
    problem = DigitsSquaredError(task, net)
    eta_pc = cfg.eta if cfg.train_output == "clamp" else cfg.eta / cfg.train_beta
    pc_kw = {"gamma": cfg.gamma, "precisions": cfg.precisions,
             "energy_limit": cfg.energy_limit, "eta": eta_pc, "n_inference": cfg.n_inference,
             "output": cfg.train_output, "beta": cfg.train_beta}
    rules = {"pc": _measured_pc(PredictiveCoding(net=net, **pc_kw), problem, cfg, rec),
             "bp": Backprop(net=net, eta=cfg.eta, loss_kind="mse")}
    onehot = np.eye(N_CLASSES)
    curves = {}
    finals = {}
    units = {"test_accuracy": "1", "test_loss": "1"}
    where = {"step": 0, "what": ""}  # the update being computed, for a divergence report
    try:
        for name, rule in rules.items():
            where["what"] = f"{name} training"
            data_rng = np.random.default_rng([ctx.seed, 99])  # the same batches for both
            curves[name] = rows = []

            def record(step, p, state, delta, batch, rows=rows):
                if step % cfg.eval_every == 0 or step == cfg.n_updates:
                    rows.append((step, _accuracy(net, p, task.x_test, task.y_test),
                                 net.loss(p, task.x_test, onehot[task.y_test], kind="mse")))

            rows.append((0, _accuracy(net, params0, task.x_test, task.y_test),
                         net.loss(params0, task.x_test, onehot[task.y_test], kind="mse")))
            with ctx.progress(cfg.n_updates, f"pc-vs-backprop ({name})") as bar:
                finals[name], _ = train(
                    rule, params0, n_updates=cfg.n_updates,
                    next_batch=lambda s, r=data_rng: where.update(step=s) or
                    task.batch(cfg.batch_size, r),
                    signals=problem.signals, probes=[Probe(record)], progress=bar,
                    rng=np.random.default_rng(0))
            for step, acc, loss in rows:
                rec.append(f"training_{name}", step, units=units, test_accuracy=acc,
                           test_loss=loss)

        # -- further seeds of the alignment part (PC alone) ----------------------------
        per_seed = [_alignment_stats(rules["pc"].records)]
        if cfg.seeds > 1:
            with ctx.progress(cfg.n_updates * (cfg.seeds - 1),
                              "pc-vs-backprop (seeds)") as bar:
                for k in range(1, cfg.seeds):
                    where["what"] = f"PC training of seed {k}"
                    # one generator per seed, after part 1's and 2's: seed 0 is unchanged
                    per_seed.append(_seed_replicate(cfg, net, pc_kw, ctx.child_rng(), bar,
                                                    where))
    except InferenceDiverged as exc:
        raise Diverged(where["step"], f"{exc.reason} ({where['what']}, update "
                                      f"{where['step']})") from None
    for k, st in enumerate(per_seed):
        rec.append("seeds", k, index="seed", index_units="1",
                   units={"cos_mean": "1", "cos_batch_mean": "1", "sgd_ceiling": "1"},
                   cos_mean=st["primary"]["cos_mean"],
                   cos_batch_mean=st["batch"]["cos_mean"], sgd_ceiling=st["sgd_ceiling"])

    acc_pc, acc_bp = curves["pc"][-1][1], curves["bp"][-1][1]
    main, same = per_seed[0]["primary"], per_seed[0]["batch"]
    align = {f"{RULE}.{k}": main[k] for k in ("cos_mean", "cos_ci_low", "cos_ci_high",
                                              "frac_positive", "n")}
    align.update({f"{RULE}.ci_method": main["ci_method"],
                  f"{RULE}.n_eff": main["n_eff"],
                  f"{RULE}.cos_batch_mean": same["cos_mean"],
                  f"{RULE}.sgd_ceiling": per_seed[0]["sgd_ceiling"]})
    if cfg.seeds > 1:
        from plasticity.analysis import seeds_summary

        align.update(seeds_summary([st["primary"]["cos_mean"] for st in per_seed],
                                   prefix=f"{RULE}.seeds_cos"))
    ctx.summary(cos_converged=float(cos[weakest, -1]), cos_one_step=float(cos[weakest, 0]),
                cos_clamped=float(cos[-1, -1]), beta_weakest=float(cfg.betas[-1]),
                steps_max=int(n_max), acc_pc=float(acc_pc), acc_bp=float(acc_bp),
                acc_gap_pp=float(100.0 * (acc_bp - acc_pc)),
                acc_initial=float(curves["bp"][0][1]), **align,
                # deprecated (one release): the same-minibatch cosine, as before
                align_cos_mean=same["cos_mean"], align_cos_ci_low=same["cos_ci_low"],
                align_cos_ci_high=same["cos_ci_high"],
                align_frac_positive=same["frac_positive"], align_n=same["n"],
                cos_pc_bp_final_params=cosine(
                    {k: finals["pc"][k] - params0[k] for k in params0},
                    {k: finals["bp"][k] - params0[k] for k in params0}))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.33, ncols=2)
    c = run.series["cosine"]
    steps_src, cos_src = src("series/cosine:inference_steps"), src("series/cosine:cos")
    beta_src, clamped_src = src("series/cosine:beta"), src("series/cosine:clamped")
    steps = np.asarray(c["inference_steps"])
    beta, clamped, cos = (np.asarray(c[k]) for k in ("beta", "clamped", "cos"))
    nudged = sorted(set(beta[clamped == 0]), reverse=True)
    for i, b in enumerate(nudged):
        sel = (clamped == 0) & (beta == b)
        sel_src = (clamped_src == 0) & (beta_src == b)
        traced(ax1.semilogx(steps[sel], cos[sel], "o-", ms=2, lw=0.8,
                            color=PALETTE[i % len(PALETTE)],
                            label=rf"nudged, $\beta$ = {b:g}")[0],
               x=steps_src[sel_src], y=cos_src[sel_src])
    sel = clamped == 1
    traced(ax1.semilogx(steps[sel], cos[sel], "s--", ms=2, lw=0.8, color="0.3",
                        label="output clamped")[0],
           x=steps_src[clamped_src == 1], y=cos_src[clamped_src == 1])
    traced(ax1.axhline(1.0, color="0.5", lw=0.6, ls=":"), y=1.0)
    ax1.set_xlabel("inference steps")
    ax1.set_ylabel("cos(PC update, backprop update)")
    ax1.set_ylim(0, 1.05)
    ax1.legend(loc="lower right")
    s = run.summary
    ax1.set_title(f"a  PC converges to backprop (cos {s['cos_converged']:.4f})", loc="left")
    for i, (name, label) in enumerate((("bp", "backprop"), ("pc", "predictive coding"))):
        t = run.series[f"training_{name}"]
        traced(ax2.plot(t["step"], 100 * np.asarray(t["test_accuracy"]), "o-" if i else "-",
                        ms=2, lw=0.8, color=PALETTE[i + 2], label=label)[0],
               x=src(f"series/training_{name}:step"),
               y=100 * src(f"series/training_{name}:test_accuracy"))
    ax2.set_xlabel("update")
    ax2.set_ylabel("test accuracy (%)")
    ax2.legend(loc="lower right")
    ax2.set_title(f"b  digits: PC {100 * s['acc_pc']:.1f} %, backprop "
                  f"{100 * s['acc_bp']:.1f} %", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="pc-vs-backprop",
    description="A predictive coding network's local update converges to backprop's with "
                "weak nudging and converged inference (Whittington & Bogacz 2017).",
    config=PCvsBackpropConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"steps_grid": [1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150,
                                     200, 300, 500],
                      "betas": [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001],
                      "n_cos_batches": 16, "n_updates": 6000, "n_inference": 60,
                      "eval_every": 200, "seeds": 5}},
    alignment=AlignmentMeta(substrate="rate", loss="squared output error over the digits "
                            "training set", problem="digits-squared-error"),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
