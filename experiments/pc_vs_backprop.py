"""Predictive coding against backprop: the update converges to backprop's.

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

Alignment (``/alignment``): every ``align_every``-th PC training update is compared with
the exact gradient of the batch's squared output error, the loss PC minimises, by
:func:`plasticity.analysis.measured`; summary ``align_cos_mean`` with its bootstrap
interval (``align_cos_ci_low``, ``align_cos_ci_high``), ``align_frac_positive`` and
``align_n``. This is the training-time counterpart of part 1: at ``n_inference`` steps
and ``train_beta`` nudging along a training trajectory rather than at one state.

Training by nudging uses the PC learning rate ``eta / train_beta``, since PC's update is
``beta`` times backprop's direction to first order; a divergence of the inference
dynamics (too large ``gamma``) ends the run with status ``diverged``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.experiment import Config, Experiment

N_PIXELS, N_CLASSES = 64, 10


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


def cosine(a, b):
    """Cosine between two parameter dicts, flattened (NaN when either is zero)."""
    keys = sorted(a)
    u = np.concatenate([np.ravel(a[k]) for k in keys])
    v = np.concatenate([np.ravel(b[k]) for k in keys])
    den = np.linalg.norm(u) * np.linalg.norm(v)
    return float(u @ v / den) if den > 0 else float("nan")


def _accuracy(net, params, x, y):
    return float(np.mean(np.argmax(net.forward(params, x).post[-1], axis=1) == y))


def run(cfg: PCvsBackpropConfig, ctx):
    from plasticity.analysis import measured, summarize
    from plasticity.engine import Probe, train
    from plasticity.errors import Diverged
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
    onehot = np.eye(N_CLASSES)

    def signals(p, b):
        return {"input": b.x, "target": onehot[b.target]}

    eta_pc = cfg.eta if cfg.train_output == "clamp" else cfg.eta / cfg.train_beta
    rules = {"pc": pc_rule(eta=eta_pc, n_inference=cfg.n_inference,
                           output=cfg.train_output, beta=cfg.train_beta),
             "bp": Backprop(net=net, eta=cfg.eta, loss_kind="mse")}
    pc = rules["pc"]
    rules["pc"] = measured(
        pc, lambda p, s: pc.loss_and_grad(p, s["input"], s["target"])[1],
        loss_fn=lambda p, s: pc.loss_and_grad(p, s["input"], s["target"])[0],
        every=cfg.align_every, recorder=rec, prefix="/alignment")
    curves = {}
    finals = {}
    units = {"test_accuracy": "1", "test_loss": "1"}
    where = {"step": 0}  # the update being computed, for a divergence report
    for name, rule in rules.items():
        data_rng = np.random.default_rng([ctx.seed, 99])  # the same batches for both
        curves[name] = rows = []

        def record(step, p, state, delta, batch, rows=rows):
            if step % cfg.eval_every == 0 or step == cfg.n_updates:
                rows.append((step, _accuracy(net, p, task.x_test, task.y_test),
                             net.loss(p, task.x_test, onehot[task.y_test], kind="mse")))

        rows.append((0, _accuracy(net, params0, task.x_test, task.y_test),
                     net.loss(params0, task.x_test, onehot[task.y_test], kind="mse")))
        with ctx.progress(cfg.n_updates, f"pc-vs-backprop ({name})") as bar:
            try:
                finals[name], _ = train(
                    rule, params0, n_updates=cfg.n_updates,
                    next_batch=lambda s, r=data_rng: where.update(step=s) or
                    task.batch(cfg.batch_size, r),
                    signals=signals, probes=[Probe(record)], progress=bar,
                    rng=np.random.default_rng(0))
            except InferenceDiverged as exc:
                raise Diverged(where["step"], f"{exc.reason} ({name} training, update "
                                              f"{where['step']})") from None
        for step, acc, loss in rows:
            rec.append(f"training_{name}", step, units=units, test_accuracy=acc,
                       test_loss=loss)

    acc_pc, acc_bp = curves["pc"][-1][1], curves["bp"][-1][1]
    total = rules["pc"].records.get("total")
    keep = ~total["zero_norm"]
    align = summarize(total["cos"][keep], total["inner"][keep], rng=0)
    ctx.summary(cos_converged=float(cos[weakest, -1]), cos_one_step=float(cos[weakest, 0]),
                cos_clamped=float(cos[-1, -1]), beta_weakest=float(cfg.betas[-1]),
                steps_max=int(n_max), acc_pc=float(acc_pc), acc_bp=float(acc_bp),
                acc_gap_pp=float(100.0 * (acc_bp - acc_pc)),
                acc_initial=float(curves["bp"][0][1]),
                align_cos_mean=align["cos_mean"], align_cos_ci_low=align["cos_ci_low"],
                align_cos_ci_high=align["cos_ci_high"],
                align_frac_positive=align["frac_positive"], align_n=align["n"],
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
                      "eval_every": 200}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
