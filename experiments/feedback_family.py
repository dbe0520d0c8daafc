"""The feedback family on real data: which substitutes for W^T still carry the gradient?

Every rule of the feedback family learns the same multilayer perceptron (by default
40-256-256-10 with ReLU hidden layers, softmax cross-entropy) on MNIST-1D (Greydanus &
Kobak 2024; the ``mnist1d`` package's 4,000 training and 1,000 test signals, built
offline) and on scikit-learn's 8x8 digits, from the same initial weights and on the same
minibatches (epochs of shuffled batches), by plain SGD:

``backprop``
    the exact minibatch gradient (the reference);
``feedback_alignment``
    fixed random feedback (Lillicrap et al. 2016);
``dfa``
    direct feedback alignment (Nokland 2016);
``sign_symmetry_uSF``, ``sign_symmetry_brSF``, ``sign_symmetry_frSF``
    sign-concordant feedback with uniform, batchwise random and fixed random magnitudes
    (Liao et al. 2016; Moskovitz et al. 2018; BioTorch's variants, Sanfiz & Akrout 2021);
``kolen_pollack``
    feedback that receives the forward weights' transposed update and the same decay
    (Kolen & Pollack 1994; Akrout et al. 2019);
``weight_mirror``
    feedback that learns ``W^T`` from noise in a mirror phase (Akrout et al. 2019);
``dtp``
    difference target propagation (Lee et al. 2015).

What is measured
----------------
* **Accuracy**: test accuracy every ``eval_every`` epochs (the learning curves) and at the
  end; per rule and data set the mean over seeds with a 95% t-interval
  (:func:`plasticity.analysis.seeds_summary`). The ``mnist1d`` package publishes 68% for
  its MLP (``mlp_baseline_acc``); its recipe is Adam (learning rate 0.01), batches of 100,
  8,000 steps, hidden width 256 and a residual second layer. ``optimizer="adam"``
  applies Adam to every rule's update (the rule's direction ``-delta / eta``; Kolen-Pollack's
  and the mirror's feedback still learn by their own rules, so ``W - B^T`` no longer decays
  exactly under Adam); the presets use plain SGD, the setting of the rules' papers.
* **Alignment per layer**: every ``measure_every``-th update, the rule's update is compared
  with the *population* gradient, the exact gradient of the mean loss over the whole
  training set at the parameters before the update (:func:`plasticity.analysis.measured`
  with :meth:`FeedForwardProblem.population_gradient`; the set is finite, so no standard
  error). The other updates train at full speed. Per array ``W`` (and in total) the
  summary gives the mean cosine (docs/statistics.md key scheme ``<array>.cos_mean``),
  the update-to-gradient norm ratio and, for the total, the SGD ceiling (what the exact
  minibatch gradient itself reaches against the population gradient at the same states).
* **Weight-feedback angles** (BioTorch's layer alignment,
  :func:`plasticity.analysis.layer_metrics.weight_feedback_angles`): the angle between
  each layer's forward weights and the feedback it sends the error through, at the
  measured updates; DFA's matrices are compared with the product of the forward weights
  above their layer, DTP's inverses with ``W``. Kolen-Pollack drives the angle toward 0
  (``W - B^T`` shrinks by ``1 - eta * kp_decay`` per update), the weight mirror lowers it
  (``B`` relaxes toward ``eta_mirror sigma^2 / decay W^T``), fixed feedback stays near
  90 degrees apart from what the forward weights learn.

Summary keys, per data set ``D`` and rule ``R`` (prefix ``D.R.``): ``acc_mean``,
``acc_low``, ``acc_high``, ``acc_n`` (final test accuracy, t over seeds); ``cos_mean``,
``cos_ci_low``, ``cos_ci_high``, ``ci_method``, ``seeds_cos_mean``, ``seeds_cos_low``,
``seeds_cos_high``, ``seeds_cos_n``, ``n_measured`` (the total cosine: t over the seeds'
means; with one seed the within-run batch-means interval), ``sgd_ceiling``,
``cos_batch_mean``, ``frac_positive``, ``train_loss`` (population loss at the end),
``test_loss`` (means over seeds); per array ``W``: ``W.cos_mean``, ``W.cos_ci_low``,
``W.cos_ci_high`` (t over seeds, or within-run with one seed), ``W.norm_ratio`` (mean
``|delta_W| / |g_W|`` over measured updates, in units of a learning rate); per feedback
matrix ``F`` (a weight name, or ``hidden<l>`` for DFA): ``F.angle_initial_deg``,
``F.angle_final_deg`` (mean over seeds). Top level: ``mlp_baseline_acc`` (0.68),
``n_seeds``, ``n_rules``. Series: ``seeds/D.R`` (one row per seed: ``cos_mean``,
``acc``, the per-array cosines), ``curve/D/R`` (index epoch: ``test_accuracy``,
``train_loss``, means over seeds), ``angles/D/R`` (index update: the angle of every
feedback matrix, mean over seeds); ``/alignment/D/R/s<k>/...`` the per-update records.

References
----------
Akrout et al. (2019) NeurIPS 32; Bartunov et al. (2018) NeurIPS 31; Greydanus & Kobak
(2024) ICML; Kolen & Pollack (1994) IEEE ICNN; Lee et al. (2015) ECML PKDD; Liao, Leibo &
Poggio (2016) AAAI; Lillicrap et al. (2016) Nat. Commun. 7:13276; Moskovitz,
Litwin-Kumar & Abbott (2018) arXiv:1812.06488; Nokland (2016) NeurIPS 29; Sanfiz &
Akrout (2021) arXiv:2108.13446.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.experiment import Config, Experiment

#: The rules, in plotting order.
RULES = ("backprop", "feedback_alignment", "dfa", "sign_symmetry_uSF", "sign_symmetry_brSF",
         "sign_symmetry_frSF", "kolen_pollack", "weight_mirror", "dtp")

LABELS = {"backprop": "backprop", "feedback_alignment": "FA", "dfa": "DFA",
          "sign_symmetry_uSF": "uSF", "sign_symmetry_brSF": "brSF",
          "sign_symmetry_frSF": "frSF", "kolen_pollack": "Kolen-Pollack",
          "weight_mirror": "weight mirror", "dtp": "DTP"}

#: Classification data sets (names of :func:`plasticity.tasks.make_task`).
DATASETS = ("mnist1d", "digits")

#: The package's published MLP test accuracy on MNIST-1D (its README).
MLP_BASELINE = 0.68

_AVERAGED = ("sgd_ceiling", "cos_batch_mean", "frac_positive", "train_loss", "test_loss")


class FeedbackFamilyConfig(Config):
    datasets: list[str] = Field(list(DATASETS), min_length=1,
                                description="data sets: 'mnist1d', 'digits'")
    rules: list[str] = Field(list(RULES), min_length=1, description="rules to run")
    hidden: list[int] = Field([256, 256], min_length=1,
                              description="hidden widths (at least one hidden layer)")
    activation: Literal["relu", "tanh"] = Field("relu", description="hidden activation")
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="how updates are applied")
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")
    epochs: int = Field(6, ge=1, description="passes over the training set")
    batch_size: int = Field(100, ge=1, description="samples per update")
    seeds: int = Field(3, ge=1, le=100, description="independent seeds (initial weights, "
                       "batch order, feedback, digits split)")
    measure_every: int = Field(20, ge=1, description="updates between alignment "
                               "measurements (population gradient, angles)")
    eval_every: int = Field(1, ge=1, description="epochs between test evaluations")
    kp_decay: float = Field(0.05, ge=0, allow_inf_nan=False,
                            description="Kolen-Pollack weight decay (per unit of eta)")
    wm_eta_mirror: float = Field(0.1, gt=0, allow_inf_nan=False,
                                 description="weight mirror: feedback learning rate")
    wm_decay: float = Field(0.1, gt=0, lt=1, allow_inf_nan=False,
                            description="weight mirror: feedback decay per update")
    wm_sigma: float = Field(1.0, gt=0, allow_inf_nan=False,
                            description="weight mirror: mirror noise sd")
    dtp_eta_inverse: float = Field(0.05, gt=0, allow_inf_nan=False,
                                   description="DTP: learning rate of the inverses")
    dtp_sigma: float = Field(0.1, ge=0, allow_inf_nan=False,
                             description="DTP: corruption noise of inverse learning")

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, value):
        from plasticity.tasks.supervised import TASKS, make_task

        for name in value:
            if name not in TASKS:
                try:
                    make_task(name)  # its one-line refusal, listing the known tasks
                except ValueError as exc:
                    raise ValueError(str(exc)) from None
            if name not in DATASETS:
                raise ValueError(f"{name!r} is not a classification data set; use one of "
                                 f"{', '.join(DATASETS)}")
        return list(dict.fromkeys(value))

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value):
        for name in value:
            if name not in RULES:
                raise ValueError(f"unknown rule {name!r}; known: {', '.join(RULES)}")
        return list(dict.fromkeys(value))

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, value):
        if any(w < 1 for w in value):
            raise ValueError("every hidden width must be >= 1")
        return value

    @model_validator(mode="after")
    def _contracting(self):
        if self.eta * self.kp_decay >= 1.0:
            raise ValueError(f"eta * kp_decay must be below 1 (got {self.eta} * "
                             f"{self.kp_decay}): Kolen-Pollack multiplies W - B^T by "
                             "1 - eta * kp_decay at every update")
        return self


def make_rule(name, net, cfg, seed):
    """The rule ``name`` of :data:`RULES` for ``net`` with the config's settings.

    Parameters
    ----------
    name : str
    net : FeedForward
    cfg : FeedbackFamilyConfig or a config with the same rule fields
    seed : int or sequence of int
        Seeds the rule's feedback matrices (hashed to one int).
    """
    from plasticity.rules.feedback import (
        DirectFeedbackAlignment,
        KolenPollack,
        SignSymmetry,
        WeightMirror,
    )
    from plasticity.rules.gradient import Backprop, FeedbackAlignment
    from plasticity.rules.target_prop import DifferenceTargetProp

    seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    common = {"net": net, "eta": cfg.eta, "loss_kind": "cross_entropy"}
    if name == "backprop":
        return Backprop(**common)
    if name == "feedback_alignment":
        return FeedbackAlignment(**common, seed=seed)
    if name == "dfa":
        return DirectFeedbackAlignment(**common, seed=seed)
    if name.startswith("sign_symmetry_"):
        return SignSymmetry(**common, seed=seed, variant=name.rsplit("_", 1)[1])
    if name == "kolen_pollack":
        return KolenPollack(**common, seed=seed, decay=cfg.kp_decay)
    if name == "weight_mirror":
        return WeightMirror(**common, seed=seed, eta_mirror=cfg.wm_eta_mirror,
                            decay=cfg.wm_decay, sigma=cfg.wm_sigma)
    return DifferenceTargetProp(**common, seed=seed, eta_inverse=cfg.dtp_eta_inverse,
                                sigma=cfg.dtp_sigma)


class _Adam:
    """Adam (Kingma & Ba 2015) on a rule's direction ``-delta / eta``, as a rule.

    The inner rule's state (its feedback) evolves by the rule's own update; only the
    forward parameters' step is Adam's ``-lr * m_hat / (sqrt(v_hat) + eps)`` with
    ``lr = eta``, ``beta1 = 0.9``, ``beta2 = 0.999``, ``eps = 1e-8`` (PyTorch's defaults,
    the ``mnist1d`` recipe).
    """

    def __init__(self, rule, eta):
        self.rule, self.eta, self.name = rule, eta, getattr(rule, "name", "rule")
        self.m, self.v, self.t = {}, {}, 0

    def init(self, params):
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0
        return self.rule.init(params)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        delta, state = self.rule.update(signals, state, params, reward=reward,
                                        loss_fn=loss_fn, rng=rng)
        self.t += 1
        out = {}
        for k, d in delta.items():
            g = -d / self.eta
            self.m[k] = 0.9 * self.m[k] + 0.1 * g
            self.v[k] = 0.999 * self.v[k] + 0.001 * g * g
            m_hat = self.m[k] / (1.0 - 0.9 ** self.t)
            v_hat = self.v[k] / (1.0 - 0.999 ** self.t)
            out[k] = -self.eta * m_hat / (np.sqrt(v_hat) + 1e-8)
        return out, state


def train_one(cfg, task, net, name, *, init_seed, data_seed, rule_seed, noise_seed,
              recorder=None, prefix=None, record_tables=None, progress=None):
    """Train rule ``name`` on ``task`` with ``net`` and measure it.

    Parameters
    ----------
    cfg : config
        Rule settings, ``eta``, ``optimizer``, ``epochs``, ``batch_size``,
        ``measure_every``, ``eval_every``.
    task : Digits or MNIST1D
    net : FeedForward
    name : str
        One of :data:`RULES`.
    init_seed, data_seed, rule_seed, noise_seed : int or sequence of int
        The initial weights, the batch order, the feedback matrices, the rule's noise.
    recorder, prefix, record_tables
        Where :func:`plasticity.analysis.measured` streams its per-update records.
    progress : tqdm-like, optional
        Advanced by one per update.

    Returns
    -------
    dict
        ``stats`` (:func:`plasticity.analysis.summarize` of the total cosines, with
        ``n_measured``), ``arrays`` (per weight: ``cos`` array of measured cosines,
        ``norm_ratio`` mean), ``sgd_ceiling``, ``cos_batch_mean``, ``curve`` (list of
        ``(epoch, test_accuracy, train_loss)``), ``angles`` (list of ``(update, {key:
        degrees})``), ``acc``, ``test_loss``, ``train_loss``, ``diverged`` (bool).
    """
    from plasticity.analysis import measured, summarize
    from plasticity.analysis.layer_metrics import rule_feedback, weight_feedback_angles
    from plasticity.engine import Probe, train
    from plasticity.errors import Diverged
    from plasticity.problems import FeedForwardProblem
    from plasticity.tasks.batch import Batch

    problem = FeedForwardProblem(task, net)
    params = net.init_params(np.random.default_rng(init_seed))
    rule = make_rule(name, net, cfg, rule_seed)
    n_train = task.y_train.size
    per_epoch = -(-n_train // cfg.batch_size)
    n_updates = cfg.epochs * per_epoch
    data_rng = np.random.default_rng(data_seed)
    current = {}

    def next_batch(step):
        k = (step - 1) % per_epoch
        if k == 0:
            current["order"] = data_rng.permutation(n_train)
        rows = current["order"][k * cfg.batch_size:(k + 1) * cfg.batch_size]
        current["batch"] = Batch(x=task.x_train[rows], target=task.y_train[rows])
        return current["batch"]

    wrapped = measured(rule, lambda p, s: problem.batch_gradient(p, current["batch"]),
                       every=cfg.measure_every, recorder=recorder,
                       prefix=prefix or "/alignment",
                       reference_fn=problem.population_gradient,
                       record_tables=record_tables)
    # plain SGD unless the config asks for Adam (depth-scaling has no such field)
    adam = getattr(cfg, "optimizer", "sgd") == "adam"
    runner = _Adam(wrapped, cfg.eta) if adam else wrapped

    def point(p):
        ev = task.evaluate(net, p)
        return ev["test_accuracy"], ev["loss"], problem.population_loss(p)

    acc0, _, loss0 = point(params)
    curve = [(0, acc0, loss0)]
    state0 = rule.init(params)
    angles = []
    fb0 = rule_feedback(state0)
    if fb0:
        angles.append((0, weight_feedback_angles(params, fb0, net)))

    def on_measure(step, p, state, delta, batch):
        fb = rule_feedback(state)
        if fb:
            angles.append((step, weight_feedback_angles(p, fb, net)))

    def on_epoch(step, p, state, delta, batch):
        acc, _, loss = point(p)
        curve.append((step / per_epoch, acc, loss))

    diverged = False
    try:
        final, _ = train(runner, params, n_updates=n_updates, next_batch=next_batch,
                         signals=problem.signals, rng=np.random.default_rng(noise_seed),
                         state=state0, progress=progress,
                         probes=[Probe(on_measure, every=cfg.measure_every),
                                 Probe(on_epoch, every=per_epoch * cfg.eval_every)])
        acc, test_loss, train_loss = point(final)
    except Diverged:
        diverged = True
        acc = test_loss = train_loss = float("nan")
    records = wrapped.records
    total = records.get("total")
    out = {"diverged": diverged, "curve": curve, "angles": angles, "acc": acc,
           "test_loss": test_loss, "train_loss": train_loss, "arrays": {},
           "n_updates": n_updates}
    if total is None or total.size == 0:
        out.update(stats={"cos_mean": np.nan, "cos_ci_low": np.nan, "cos_ci_high": np.nan,
                          "ci_method": "none", "frac_positive": np.nan, "n_measured": 0},
                   sgd_ceiling=np.nan, cos_batch_mean=np.nan)
        return out
    keep = ~total["zero_norm"]
    stats = dict(summarize(total["cos"][keep], total["inner"][keep], rng=0))
    stats["n_measured"] = int(stats.pop("n"))
    out.update(stats=stats, sgd_ceiling=float(np.mean(total["sgd_cos"][keep])),
               cos_batch_mean=float(np.mean(total["cos_batch"][keep])))
    for w in net.weight_names():
        tab = records[w]
        ok = ~tab["zero_norm"]
        cos = np.asarray(tab["cos"][ok], float)
        ratio = np.asarray(tab["delta_norm"][ok] / tab["grad_norm"][ok], float)
        ci = (summarize(cos, tab["inner"][ok], rng=0) if cos.size >= 2
              else {"cos_ci_low": np.nan, "cos_ci_high": np.nan})
        out["arrays"][w] = {"cos_mean": float(np.mean(cos)) if cos.size else np.nan,
                            "cos_ci_low": ci["cos_ci_low"], "cos_ci_high": ci["cos_ci_high"],
                            "norm_ratio": float(np.mean(ratio)) if ratio.size else np.nan}
    return out


def combine(results, weights):
    """One rule's summary (keys without the ``D.R.`` prefix) from its per-seed results."""
    from plasticity.analysis import combine_seeds, seeds_summary

    per_seed = [{**r["stats"], "sgd_ceiling": r["sgd_ceiling"],
                 "cos_batch_mean": r["cos_batch_mean"], "train_loss": r["train_loss"],
                 "test_loss": r["test_loss"]} for r in results]
    out = combine_seeds(per_seed, _AVERAGED)
    accs = [r["acc"] for r in results if np.isfinite(r["acc"])]
    out.update(seeds_summary(accs, prefix="acc") if accs else
               {"acc_mean": np.nan, "acc_low": np.nan, "acc_high": np.nan, "acc_n": 0})
    out["n_diverged"] = int(sum(r["diverged"] for r in results))
    for w in weights:
        cos = [r["arrays"][w]["cos_mean"] for r in results
               if w in r["arrays"] and np.isfinite(r["arrays"][w]["cos_mean"])]
        if len(cos) >= 2:
            s = seeds_summary(cos, prefix="c")
            low, high = s["c_low"], s["c_high"]
        elif cos:
            low = results[0]["arrays"][w]["cos_ci_low"]
            high = results[0]["arrays"][w]["cos_ci_high"]
        else:
            low = high = np.nan
        out[f"{w}.cos_mean"] = float(np.mean(cos)) if cos else np.nan
        out[f"{w}.cos_ci_low"], out[f"{w}.cos_ci_high"] = low, high
        ratios = [r["arrays"][w]["norm_ratio"] for r in results if w in r["arrays"]]
        out[f"{w}.norm_ratio"] = float(np.nanmean(ratios)) if ratios else np.nan
    keys = sorted({k for r in results for _, a in r["angles"] for k in a})
    for key in keys:
        first = [r["angles"][0][1][key] for r in results if r["angles"]]
        last = [r["angles"][-1][1][key] for r in results if r["angles"]]
        out[f"{key}.angle_initial_deg"] = float(np.mean(first))
        out[f"{key}.angle_final_deg"] = float(np.mean(last))
    return out


def record_means(rec, table, rows, index, index_units, units):
    """Append the mean over seeds of aligned rows: ``rows[seed] = [(x, {col: value})]``."""
    n = min(len(r) for r in rows)
    for j in range(n):
        x = rows[0][j][0]
        cols = {c: float(np.nanmean([r[j][1][c] for r in rows])) for c in rows[0][j][1]}
        rec.append(table, x, index=index, index_units=index_units,
                   units={c: units for c in cols}, **cols)


def run(cfg: FeedbackFamilyConfig, ctx):
    from threadpoolctl import threadpool_limits

    from plasticity.tasks.supervised import make_task

    rec = ctx.recorder
    summary = {}
    total = 0
    for d in cfg.datasets:
        n_train = 1347 if d == "digits" else 4000
        total += cfg.epochs * -(-n_train // cfg.batch_size) * cfg.seeds * len(cfg.rules)
    # one BLAS thread: the matrices (batch x 256) are too small for threads to pay, and
    # the summation order (hence the golden summary) does not depend on the machine
    with threadpool_limits(limits=1, user_api="blas"), \
            ctx.progress(total, "feedback-family") as bar:
        for d_index, dataset in enumerate(cfg.datasets):
            per_rule = {name: [] for name in cfg.rules}
            net = None
            for k in range(cfg.seeds):
                # seed k's split (digits) and streams do not depend on the number of seeds
                task = make_task(dataset, rng=np.random.default_rng([ctx.seed, 5000, k]))
                net = task.student(cfg.hidden, activation=cfg.activation)
                for name in cfg.rules:
                    r_index = RULES.index(name)
                    res = train_one(
                        cfg, task, net, name, init_seed=[ctx.seed, 1000, d_index, k],
                        data_seed=[ctx.seed, 2000, d_index, k],
                        rule_seed=[ctx.seed, 3000, d_index, r_index, k],
                        noise_seed=[ctx.seed, 4000, d_index, r_index, k], recorder=rec,
                        prefix=f"/alignment/{dataset}/{name}/s{k}",
                        record_tables=None if k == 0 else ("total",), progress=bar)
                    per_rule[name].append(res)
                    cols = {"cos_mean": res["stats"]["cos_mean"], "acc": res["acc"],
                            **{f"{w}_cos_mean": a["cos_mean"]
                               for w, a in res["arrays"].items()}}
                    rec.append(f"seeds/{dataset}.{name}", k, index="seed", index_units="1",
                               units={c: "1" for c in cols}, **cols)
            weights = net.weight_names()
            for name, results in per_rule.items():
                out = combine(results, weights)
                summary.update({f"{dataset}.{name}.{key}": v for key, v in out.items()})
                record_means(rec, f"curve/{dataset}/{name}",
                             [[(e, {"test_accuracy": a, "train_loss": lo})
                               for e, a, lo in r["curve"]] for r in results],
                             "epoch", "epochs", "1")
                if results[0]["angles"]:
                    record_means(rec, f"angles/{dataset}/{name}",
                                 [r["angles"] for r in results], "update", "updates",
                                 "deg")
    ctx.summary(**summary, mlp_baseline_acc=MLP_BASELINE, n_seeds=cfg.seeds,
                n_rules=len(cfg.rules))


def _interval(s, prefix, mean, low, high):
    m, lo, hi = (s.get(f"{prefix}.{k}", np.nan) for k in (mean, low, high))
    return m, lo, hi


def memory(cfg: FeedbackFamilyConfig):
    """The dominant arrays (:mod:`plasticity.io.memory`): per rule about 8 copies of the
    network's P parameters (weights, update, batch and population gradient, feedback or
    inverse matrices, Adam's moments), and the forward and backward pass of the whole
    training set for the population gradient (4 arrays per layer), for the larger data
    set (MNIST-1D: 40 inputs, 4000 signals; digits: 64 inputs, 1347 images)."""
    from plasticity.io.memory import MemoryEstimate, array_bytes

    est = MemoryEstimate()
    worst = None
    for d in cfg.datasets:
        n_in, n_train = (40, 4000) if d == "mnist1d" else (64, 1347)
        sizes = [n_in, *cfg.hidden, 10]
        p = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        cost = (8 * array_bytes(p), 4 * array_bytes(n_train, sum(sizes)))
        worst = cost if worst is None or sum(cost) > sum(worst) else worst
    return (est.add("the weights, updates, gradients, feedback and optimizer state",
                    "8 x P float64 (P ~ products of consecutive hidden widths)", worst[0])
            .add("the training set's forward and backward pass",
                 "4 x n_train x sum(hidden) float64", worst[1]))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    cfg = run.config
    datasets = list(cfg["datasets"])
    rules = [r for r in RULES if any(f"{d}.{r}.acc_mean" in s for d in datasets)]
    main = datasets[0]
    colors = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(RULES)}
    styles = {r: "-" if i < len(PALETTE) else "--" for i, r in enumerate(RULES)}
    fig, axes = figure("double", height_ratio=0.72, ncols=2, nrows=2)
    (ax1, ax2), (ax3, ax4) = axes
    n_seeds = int(s.get("n_seeds", 1))

    # a: learning curves on the first data set
    for r in rules:
        t = f"curve/{main}/{r}"
        c = run.series[t]
        traced(ax1.plot(c["epoch"], 100 * np.asarray(c["test_accuracy"]), lw=0.9,
                        color=colors[r], ls=styles[r], label=LABELS[r])[0],
               x=src(f"series/{t}:epoch"), y=100 * src(f"series/{t}:test_accuracy"))
    if main == "mnist1d":
        traced(ax1.axhline(100 * s["mlp_baseline_acc"], color="0.3", lw=0.7, ls=":",
                           label="published MLP (Adam)"),
               y=100 * src("summary:mlp_baseline_acc"))
    ax1.set_xlabel("epoch")
    ax1.set_ylabel(f"test accuracy (%, mean of {n_seeds} seeds)")
    ax1.legend(fontsize=4.5, ncol=2, loc="lower right")
    ax1.set_title(f"a  learning on {main}", loc="left")

    # b: final accuracy with t-intervals, every data set
    for j, d in enumerate(datasets):
        xs, ys, lo, hi, srcs = [], [], [], [], {"y": [], "ylow": [], "yhigh": []}
        for i, r in enumerate(rules):
            # with one seed the bounds are NaN and no bar is drawn
            m, a, b = _interval(s, f"{d}.{r}", "acc_mean", "acc_low", "acc_high")
            xs.append(i + 0.2 * (j - (len(datasets) - 1) / 2))
            ys.append(100 * m)
            lo.append(100 * (m - a))
            hi.append(100 * (b - m))
            srcs["y"].append(100 * src(f"summary:{d}.{r}.acc_mean"))
            srcs["ylow"].append(100 * src(f"summary:{d}.{r}.acc_low", default=np.nan))
            srcs["yhigh"].append(100 * src(f"summary:{d}.{r}.acc_high", default=np.nan))
        traced(ax2.errorbar(xs, ys, yerr=[lo, hi], fmt="osD^"[j % 4], ms=3, capsize=2,
                            lw=0.8, color=PALETTE[j], label=d),
               x=xs, y=stack(srcs["y"]), ylow=stack(srcs["ylow"]),
               yhigh=stack(srcs["yhigh"]))
    ax2.set_xticks(range(len(rules)), [LABELS[r] for r in rules], rotation=45, ha="right",
                   fontsize=5)
    ax2.set_ylim(0, 100)  # a t-interval over few seeds can pass 100%
    ax2.set_ylabel("final test accuracy (%, 95% CI)")
    ax2.legend(fontsize=5, loc="lower left")
    ax2.set_title("b  accuracy over seeds", loc="left")

    # c: per-layer alignment with the population gradient
    weights = sorted({k.split(".")[2] for k in s if k.startswith(f"{main}.")
                      and k.endswith(".norm_ratio")},
                     key=lambda w: (w == "W_out", int(w[1:]) if w[1:].isdigit() else 0))
    x = np.arange(len(weights))
    for i, r in enumerate(rules):
        keys = [f"{main}.{r}.{w}.cos_mean" for w in weights]
        ys = np.array([s.get(k, np.nan) for k in keys], float)
        traced(ax3.plot(x + 0.04 * (i - len(rules) / 2), ys, marker="osD^v<>p*"[i % 9],
                        ms=3, lw=0.8, color=colors[r], ls=styles[r], label=LABELS[r])[0],
               x=x + 0.04 * (i - len(rules) / 2),
               y=stack([src(f"summary:{k}", default=np.nan) for k in keys]))
    traced(ax3.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax3.set_xticks(x, weights)
    ax3.set_xlabel("layer (input to output)")
    ax3.set_ylabel(r"cos(update, $-\nabla L_{pop}$)")
    ax3.legend(fontsize=4.5, ncol=2, loc="lower left")
    ax3.set_title(f"c  per-layer alignment ({main})", loc="left")

    # d: weight-feedback angles over training
    for r in rules:
        t = f"angles/{main}/{r}"
        if t not in run.series:
            continue
        a = run.series[t]
        cols = [c for c in a.keys() if c != "update"]
        strong = r in ("kolen_pollack", "weight_mirror")
        for c in cols:
            traced(ax4.plot(a["update"], a[c], color=colors[r], lw=1.1 if strong else 0.5,
                            alpha=1.0 if strong else 0.6,
                            ls="-" if c in ("W_out", f"hidden{len(weights) - 1}") else "--",
                            label=LABELS[r] if c == cols[-1] else None)[0],
                   x=src(f"series/{t}:update"), y=src(f"series/{t}:{c}"))
    ax4.set_xlabel("update")
    ax4.set_ylabel("angle(W, B^T) (deg; solid: top layer)")
    ax4.set_ylim(0, 100)
    ax4.legend(fontsize=4.5, ncol=2, loc="lower left")
    ax4.set_title("d  weight-feedback angle", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="feedback-family",
    description="FA, DFA, sign symmetry, Kolen-Pollack, weight mirror and DTP on MNIST-1D and "
                "digits: accuracy over seeds, per-layer alignment, weight-feedback angles.",
    config=FeedbackFamilyConfig,
    run=run,
    plot=plot,
    memory=memory,
    presets={"quick": {},
             "full": {"epochs": 100, "seeds": 5, "measure_every": 40, "eval_every": 2}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
