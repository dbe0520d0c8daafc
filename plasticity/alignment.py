"""Measure any rule against the true gradient in one call: ``pl.alignment.measure``.

This is the researcher's entry point of the alignment analysis: give it a rule (a built-in
name, an import path, or one's own object) and a task (or one's own
:class:`~plasticity.problems.Problem`), and it trains the rule through the engine, records
every update's alignment (:func:`plasticity.analysis.measured`), summarises the cosines
with a confidence interval (:func:`plasticity.analysis.summarize`) and measures the cosine
of the *expected* update at the initial state
(:func:`plasticity.analysis.expected_cosine`).

One reference
-------------
Every primary number (``cos_mean``, ``cos_ci_low``, ``cos_ci_high``, ``frac_positive``,
``expected_cos``) is against the *population* gradient, the gradient of the expected loss
(:meth:`Problem.population_gradient`): exact where the problem has it in closed form or
the population is finite, otherwise the mean over a fixed evaluation set, with the
cosine's denominator corrected for that estimate's noise
(:func:`plasticity.analysis.align`). Beside it, per update: ``cos_batch``, the cosine with
the gradient of the same minibatch the rule saw (secondary: 1 for backprop by
construction), and ``sgd_cos``, the cosine of the exact minibatch gradient itself with the
population gradient; its mean, ``sgd_ceiling``, is what plain SGD reaches at the same
states and batch size, the best a rule that sees one minibatch can expect.

:func:`measure_problem` is the measurement on any problem, writing into an open recorder
under a prefix; :func:`measure_into` is the same for a supervised task and its student
(it builds a :class:`~plasticity.problems.FeedForwardProblem`); the ``alignment-atlas``
experiment runs them for many rules, widths and seeds in one run file.

:func:`plot` draws the figure of a run file :func:`measure` wrote (``plasticity plot
RUN.h5`` calls it too).
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path

import numpy as np

from plasticity.errors import Diverged, InvalidParameterError, PlasticityError

__all__ = ["SUMMARY_KEYS", "measure", "measure_into", "measure_problem", "plot"]

#: The results of a measurement (:func:`measure_problem`), all against the population
#: gradient unless named ``batch``: ``ci_method`` and ``reference`` are strings
#: (``reference`` is ``"population"``, ``"population-estimated"`` or
#: ``"exact-closed-form"``), ``n_measured`` an int, the rest floats.
SUMMARY_KEYS = ("cos_mean", "cos_ci_low", "cos_ci_high", "ci_method", "cos_batch_mean",
                "sgd_ceiling", "sgd_ceiling_ci_low", "sgd_ceiling_ci_high", "frac_positive",
                "expected_cos", "n_measured", "final_loss", "reference")

#: Keys :func:`plasticity.analysis.expected_cosine` may add, passed through when present.
EXPECTED_KEYS = ("expected_cos_raw", "expected_cos_ci_low", "expected_cos_ci_high",
                 "expected_snr")

# Of those, the cosines: their denominator holds |g|, so they take the same noise
# correction as expected_cos when the reference is estimated.
_EXPECTED_COSINES = ("expected_cos", "expected_cos_raw", "expected_cos_ci_low",
                     "expected_cos_ci_high")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidParameterError(f"The {name!r} parameter must be an integer >= 1. "
                                    f"Got {value!r}.")
    return int(value)


def resolve_seeded(spec, *, net, loss_kind="mse", seed=None):
    """:func:`~plasticity.rules.resolve.resolve_rule`, handing it ``seed`` (an int derived
    from the run's seed stream, for feedback matrices and the like) where it takes one."""
    from plasticity.rules.resolve import resolve_rule

    if seed is not None and "seed" in inspect.signature(resolve_rule).parameters:
        seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
        return resolve_rule(spec, net=net, loss_kind=loss_kind, seed=seed)
    return resolve_rule(spec, net=net, loss_kind=loss_kind)


class _FreshBatches:
    """A rule that draws its own batch from ``rng`` before every update: one draw of the
    update over both the data and the rule's own noise, for the expected update."""

    def __init__(self, rule, problem, batch_size):
        from plasticity.rules.base import rule_name

        self.rule, self.problem, self.batch_size = rule, problem, batch_size
        self.name = rule_name(rule)

    def init(self, params):
        return self.rule.init(params)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        batch = self.problem.batch(self.batch_size, rng)
        return self.rule.update(self.problem.signals(params, batch), state, params,
                                reward=getattr(batch, "reward", None),
                                loss_fn=self.problem.loss_fn(batch), rng=rng)


def _reference(problem, params):
    """The problem's population gradient at ``params``, checked: ``(g, se)``."""
    from plasticity.errors import ProblemError
    from plasticity.problems.base import check_gradient

    out = problem.population_gradient(params)
    if not isinstance(out, tuple) or len(out) != 2:
        name = getattr(problem, "name", None) or type(problem).__name__
        raise ProblemError(f"Problem {name!r}: population_gradient must return (g, se) "
                           f"with se None where g is exact.")
    g = check_gradient(problem, out[0], params, what="population gradient", se=out[1])
    return g, out[1]


def _noise_factor(g, se):
    """``|g_hat| / sqrt(|g_hat|^2 - sum(se^2))``, the factor that corrects a cosine with
    an estimated ``g`` for the estimate's noise (1 when exact or unresolved)."""
    if se is None:
        return 1.0
    gg = sum(float(np.vdot(v, v)) for v in g.values())
    ss = sum(float(np.vdot(np.asarray(v), np.asarray(v))) for v in se.values())
    return float(np.sqrt(gg / (gg - ss))) if gg > ss else 1.0


def measure_problem(rule, problem, params, *, n_updates, batch_size, seed, recorder=None,
                    prefix="/alignment", expected_draws=100, record_every=1,
                    record_tables=None):
    """Train ``rule`` on ``problem`` from ``params`` and measure its alignment.

    Every measured update ``d`` is compared with the population gradient ``g`` at the
    parameters before it (primary columns ``inner``, ``cos``, ... and ``grad_se`` where
    ``g`` is estimated; the cosine noise-corrected, ``cos_raw`` not), with the gradient of
    the same batch (``cos_batch``), and the exact minibatch step with ``g`` (``sgd_cos``).

    Parameters
    ----------
    rule : object with ``init`` and ``update``
        Already resolved (see :func:`plasticity.rules.resolve.resolve_rule`).
    problem : plasticity.problems.Problem
        Supplies batches, signals, the loss and both gradients.
    params : dict of str to ndarray
        Initial parameters (not modified).
    n_updates, batch_size : int
        Updates of training, samples per update.
    seed : int or sequence of int
        Seeds the batches, the rule's noise and the expected-update draws (separate
        streams, so changing ``expected_draws`` does not change the training run).
    recorder : plasticity.io.recorder.Recorder, optional
        Per-update rows go to ``<prefix>/<array>`` and ``<prefix>/total``.
    prefix : str
    expected_draws : int
        Draws for ``expected_cos``: each draw is one update from the initial parameters
        and rule state on a fresh batch with fresh rule noise, so their mean estimates
        the update expected over data and noise (Richards & Kording's criterion), judged
        against the population gradient there.
    record_every : int
        Measure every ``record_every``-th update.
    record_tables : collection of str, optional
        The tables written to ``recorder`` (e.g. ``("total",)``); all when None.

    Returns
    -------
    dict
        :data:`SUMMARY_KEYS`, every further key :func:`plasticity.analysis.summarize`
        returns (e.g. ``n_eff``), and those of :data:`EXPECTED_KEYS` that
        :func:`~plasticity.analysis.expected_cosine` returns. Updates of zero norm (e.g.
        rejected hill-climbing proposals) are left out of the statistics because their
        angle is undefined; ``n_measured`` counts the others. ``final_loss`` is the
        population loss after training (:meth:`Problem.population_loss`, NaN if the
        problem has none).

    Raises
    ------
    RuleError
        When the rule breaks the protocol (the message names the rule and the array).
    ProblemError
        When a gradient of the problem has the wrong keys or shapes, or NaN.
    Diverged
        When the parameters blow up during training.
    """
    from threadpoolctl import threadpool_limits

    # The arrays here (at most the evaluation set times a layer's width) are too small
    # for threaded BLAS to pay: on the 2-core test machine under load, two BLAS threads
    # made a 200-update backprop measurement 7x slower (13.6 s against 1.9 s).
    with threadpool_limits(limits=1, user_api="blas"):
        return _measure_problem(rule, problem, params, n_updates=n_updates,
                                batch_size=batch_size, seed=seed, recorder=recorder,
                                prefix=prefix, expected_draws=expected_draws,
                                record_every=record_every, record_tables=record_tables)


def _measure_problem(rule, problem, params, *, n_updates, batch_size, seed, recorder,
                     prefix, expected_draws, record_every, record_tables):
    from plasticity.analysis import expected_cosine, measured
    from plasticity.engine import train
    from plasticity.problems.base import check_gradient

    seeds = np.random.SeedSequence(seed).spawn(4)
    # the third stream (a fixed batch before) is left unused so the others stay put
    data_rng, rule_rng, _, draw_rng = (np.random.default_rng(s) for s in seeds)

    # The expected update first, at the initial state: a rule that breaks the protocol
    # fails here, before training, with check_delta's message naming the array.
    g0, se0 = _reference(problem, params)
    exp = expected_cosine(_FreshBatches(rule, problem, batch_size), {}, rule.init(params),
                          params, g0, n_draws=expected_draws, rng=draw_rng)
    # expected_cosine's cosines have |g_hat| in the denominator: correct them as align
    # does per update (and keep them cosines: the debiased estimate is clipped already)
    factor = _noise_factor(g0, se0)
    expected = {k: float(np.clip(exp[k] * factor, -1.0, 1.0)) if k in _EXPECTED_COSINES
                else float(exp[k]) for k in ("expected_cos", *EXPECTED_KEYS) if k in exp}

    current = {}

    def next_batch(step):
        current["batch"] = problem.batch(batch_size, data_rng)
        return current["batch"]

    def batch_gradient(p, signals):
        return check_gradient(problem, problem.batch_gradient(p, current["batch"]), p,
                              what="batch gradient")

    wrapped = measured(rule, batch_gradient, every=record_every, recorder=recorder,
                       prefix=prefix, reference_fn=lambda p: _reference(problem, p),
                       record_tables=record_tables)
    final, _ = train(wrapped, params, n_updates=n_updates, next_batch=next_batch,
                     signals=problem.signals, loss=problem.loss, rng=rule_rng)
    try:
        final_loss = float(problem.population_loss(final))
    except NotImplementedError:
        final_loss = float("nan")
    reference = getattr(problem, "reference", None) or (
        "population" if se0 is None else "population-estimated")
    return _summary(wrapped.records, expected, final_loss, reference)


def measure_into(rule, task, net, params, *, n_updates, batch_size, seed, recorder=None,
                 prefix="/alignment", expected_draws=100, record_every=1, n_eval=None,
                 eval_seed=None):
    """:func:`measure_problem` on ``FeedForwardProblem(task, net)``.

    Parameters
    ----------
    rule : object with ``init`` and ``update``
    task : plasticity.tasks.supervised.SupervisedTask
    net : FeedForward
        The student network ``params`` belong to.
    params, n_updates, batch_size, seed, recorder, prefix, expected_draws, record_every
        As in :func:`measure_problem`.
    n_eval : int, optional
        Evaluation-set size of an estimated population gradient (default
        :data:`plasticity.problems.feedforward.DEFAULT_N_EVAL`).
    eval_seed : int or sequence of int, optional
        Seeds the evaluation set; default ``[*seed, 4]`` style, derived from ``seed``.

    Returns
    -------
    dict
        As :func:`measure_problem`.
    """
    from plasticity.problems.feedforward import DEFAULT_N_EVAL, FeedForwardProblem

    if eval_seed is None:
        eval_seed = np.random.SeedSequence(seed).spawn(5)[4]
    problem = FeedForwardProblem(task, net, n_eval=n_eval or DEFAULT_N_EVAL,
                                 eval_seed=eval_seed)
    return measure_problem(rule, problem, params, n_updates=n_updates,
                           batch_size=batch_size, seed=seed, recorder=recorder,
                           prefix=prefix, expected_draws=expected_draws,
                           record_every=record_every)


def _summary(records, expected, final_loss, reference):
    from plasticity.analysis import summarize

    total = records.get("total")
    if total is None or total.size == 0:
        cos = inner = cos_batch = sgd = np.zeros(0)
    else:
        keep = ~total["zero_norm"]
        cos, inner = total["cos"][keep], total["inner"][keep]
        cos_batch, sgd = total["cos_batch"][keep], total["sgd_cos"][keep]
    stats = dict(summarize(cos, inner, rng=0))
    n = stats.pop("n")
    stats.setdefault("ci_method", "percentile bootstrap over updates")
    ceiling = summarize(sgd, sgd, rng=0)
    return {**stats, "cos_batch_mean": float(np.mean(cos_batch)) if n else float("nan"),
            "sgd_ceiling": ceiling["cos_mean"], "sgd_ceiling_ci_low": ceiling["cos_ci_low"],
            "sgd_ceiling_ci_high": ceiling["cos_ci_high"], **expected, "n_measured": int(n),
            "final_loss": float(final_loss), "reference": reference}


def measure(rule, *, task="teacher-student", hidden=64, n_updates=500, batch_size=32,
            seed=0, out=None, expected_draws=100, record_every=1, problem=None):
    """Measure how a learning rule's updates relate to the true loss gradient.

    Builds ``task`` and a tanh student with one hidden layer of ``hidden`` units (or takes
    ``problem``), trains ``rule`` for ``n_updates`` updates of ``batch_size`` samples,
    records every update's inner product, cosine and norms against the population
    gradient (the gradient of the expected loss) at the parameters before the update,
    with the same-batch cosine and the exact minibatch gradient's cosine beside them,
    and summarises them (:func:`measure_problem`).

    Parameters
    ----------
    rule : str, rule object or (init, update) pair
        A built-in name (``"backprop"``, ``"oja"``, ...), an import path
        ``"package.module:Name"``, or the researcher's own rule. Its ``update`` sees the
        signals ``"input"``, ``"hidden"``, ``"output"`` (activities of the student),
        ``"target"`` (the teacher's outputs), the pre-activations ``"u_hidden"`` and
        ``"u_output"``, ``loss_fn`` (the task loss on the current batch) and ``rng``.
        Rules that need the network (e.g. :class:`~plasticity.rules.Backprop`) are best
        named as built-ins, which get the student network.
    task : {"teacher-student", "linear-teacher", "digits"}
        The task; its expected loss (stated in its docstring) is what the rule is judged
        against (:class:`~plasticity.problems.FeedForwardProblem`).
    hidden : int
        Hidden units of the student.
    n_updates, batch_size : int
    seed : int
        Seeds the task, the student's initial weights and every random stream.
    out : str or Path, optional
        The run file to write (experiment ``"alignment-measure"``; its directory is
        created; an existing file is never overwritten). With ``None`` the run is written
        to a temporary file that is loaded into memory and deleted, so nothing is left on
        disk; the returned object then has ``path`` pointing at a file that no longer
        exists.
    expected_draws : int
        Draws of the update at the fixed initial state for ``expected_cos``.
    record_every : int
        Measure every ``record_every``-th update.
    problem : plasticity.problems.Problem, optional
        One's own problem (substrate, task and gradient oracle) instead of ``task`` and
        ``hidden``, which are then ignored; its ``init_params`` draws the start. A
        built-in rule name gets the problem's ``net`` (if it has one).

    Returns
    -------
    plasticity.io.runfile.RunFile
        ``.summary`` holds the :data:`SUMMARY_KEYS` (``cos_mean`` with its 95% interval
        ``cos_ci_low``, ``cos_ci_high`` by ``ci_method``; ``cos_batch_mean``;
        ``sgd_ceiling`` with its interval; ``frac_positive``; ``expected_cos``;
        ``n_measured``; ``final_loss``; ``reference``); ``.alignment`` the per-update
        rows (``total`` and one table per parameter array); ``.status`` is ``complete``
        or ``diverged``.

    Raises
    ------
    RuleError
        For a rule that cannot be resolved or breaks the protocol (the run file, when one
        is written, is marked ``failed`` first).
    InvalidParameterError
        For a bad argument.

    Examples
    --------
    >>> import plasticity as pl
    >>> run = pl.alignment.measure("backprop", hidden=8, n_updates=5, expected_draws=2)
    >>> round(run.summary["cos_batch_mean"], 9)  # backprop's step is the batch gradient
    1.0
    >>> bool(run.summary["cos_mean"] < 1.0)  # ... not the population gradient
    True
    """
    from plasticity.io.paths import check_out
    from plasticity.io.recorder import Recorder
    from plasticity.io.runfile import open_run
    from plasticity.problems.feedforward import FeedForwardProblem
    from plasticity.rules.base import rule_name
    from plasticity.tasks.supervised import make_task

    hidden = _positive_int("hidden", hidden)
    n_updates = _positive_int("n_updates", n_updates)
    batch_size = _positive_int("batch_size", batch_size)
    expected_draws = _positive_int("expected_draws", expected_draws)
    record_every = _positive_int("record_every", record_every)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"The seed must be a non-negative integer. Got {seed!r}.")
    seed = int(seed)
    task_rng, init_rng = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    if problem is None:
        the_task = make_task(task, rng=task_rng)
        net = the_task.student(hidden)
        problem = FeedForwardProblem(the_task, net, eval_seed=[seed, 5])
        loss_kind = the_task.loss_kind
    else:
        from plasticity.problems.base import check_problem

        check_problem(problem, seed=seed)
        net = getattr(problem, "net", None)
        loss_kind = getattr(getattr(problem, "task", None), "loss_kind", "mse")
        task = getattr(problem, "name", None) or type(problem).__name__
        hidden = None
    resolved = resolve_seeded(rule, net=net, loss_kind=loss_kind, seed=[seed, 4])
    params = problem.init_params(init_rng)
    config = {"rule": rule if isinstance(rule, str) else rule_name(resolved), "task": task,
              "n_updates": n_updates, "batch_size": batch_size,
              "expected_draws": expected_draws, "record_every": record_every,
              "reference": getattr(problem, "reference", "")}
    if hidden is not None:
        config["hidden"] = hidden

    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="plasticity-measure-")
        path = Path(tmp.name) / "alignment-measure.h5"
    else:
        path = check_out(Path(out), create_parent=True)
    try:
        rec = Recorder(path, experiment="alignment-measure", seed=seed, config=config,
                       preset="")
        status, message = "failed", None
        try:
            summary = measure_problem(resolved, problem, params, n_updates=n_updates,
                                      batch_size=batch_size, seed=[seed, 3], recorder=rec,
                                      expected_draws=expected_draws,
                                      record_every=record_every)
            rec.summary(**summary)
            status = "complete"
        except Diverged as div:
            status, message = "diverged", str(div)
            rec.summary(diverged_at_step=div.step)
        except PlasticityError as exc:
            message = str(exc)
            raise
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            rec.close(status, message)
        return open_run(path)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _kept(values, zero_norm):
    """``values`` of the updates whose cosine is defined (non-zero update and gradient)."""
    return np.asarray(values, dtype=float)[~np.asarray(zero_norm, dtype=bool)]


def _moving_mean(values, zero_norm):
    """Mean over a sliding window of about 1/20 of the defined values (at least 1), over
    the full windows only, so that its ends are not biased toward zero."""
    x = _kept(values, zero_norm)
    window = max(1, x.size // 20)
    if x.size == 0:
        return x
    return np.convolve(x, np.ones(window) / window, mode="valid")


def _span(a, b):
    """``[lo, hi]`` covering the finite values of ``a`` and ``b`` (``[0, 0]`` if none)."""
    v = np.concatenate([np.ravel(a), np.ravel(b)]).astype(float)
    v = v[np.isfinite(v)]
    return np.array([v.min(), v.max()]) if v.size else np.zeros(2)


def plot(run):
    """The figure of an ``alignment-measure`` run file (written by :func:`measure`).

    Panel a: each update's cosine with the negative population gradient against the
    update number (dots), its moving mean, the mean over training with its 95% interval,
    the SGD ceiling (the mean cosine of the exact minibatch gradient with the population
    gradient), the cosine of the expected update at the initial state, and zero. Panel
    b: each update's first-order predicted loss change on its batch, ``g_batch . d``,
    against the measured one on the same batch, with the identity line; points below
    zero are updates that lowered the loss. Updates of zero norm (undefined angle) are left out
    of panel a, as they are of the summary. Every datum is traced to the run file.

    Parameters
    ----------
    run : plasticity.io.runfile.RunFile
        A run of experiment ``"alignment-measure"``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import apply, src, traced

    if run.experiment != "alignment-measure":
        raise InvalidParameterError(f"plot draws alignment-measure runs; {run.path} is a "
                                    f"run of {run.experiment}.")
    fig, (ax1, ax2) = figure("double", height_ratio=0.36, ncols=2)
    s, cfg = run.summary, run.config
    t = run.alignment.get("total", {})
    # runs before the population reference predicted the loss change with the batch
    # gradient in predicted_dloss; now that column is the population prediction
    pred_key = "predicted_dloss_batch" if "predicted_dloss_batch" in t else "predicted_dloss"
    col = {k: src(f"alignment/total:{k}") for k in
           ("step", "cos", "zero_norm", pred_key, "actual_dloss")}
    zero = np.asarray(t.get("zero_norm", np.zeros(0, bool)), dtype=bool)
    step, cos = (np.asarray(t.get(k, np.zeros(0)), dtype=float) for k in ("step", "cos"))

    traced(ax1.scatter(_kept(step, zero), _kept(cos, zero), s=2, color=PALETTE[5],
                       alpha=0.5, lw=0, label="each update"),
           x=apply(_kept, col["step"], col["zero_norm"], name="kept"),
           y=apply(_kept, col["cos"], col["zero_norm"], name="kept"))
    traced(ax1.plot(_moving_mean(step, zero), _moving_mean(cos, zero), color=PALETTE[0],
                    label="moving mean")[0],
           x=apply(_moving_mean, col["step"], col["zero_norm"], name="moving_mean"),
           y=apply(_moving_mean, col["cos"], col["zero_norm"], name="moving_mean"))
    if "cos_mean" in s:
        traced(ax1.axhspan(s["cos_ci_low"], s["cos_ci_high"], color=PALETTE[0], alpha=0.2,
                           lw=0, label=f"mean {s['cos_mean']:.3f} [{s['cos_ci_low']:.3f}, "
                                       f"{s['cos_ci_high']:.3f}] (95% CI)"),
               low=src("summary:cos_ci_low"), high=src("summary:cos_ci_high"))
        traced(ax1.axhline(s["cos_mean"], color=PALETTE[0], lw=0.8),
               y=src("summary:cos_mean"))
    if "sgd_ceiling" in s and np.isfinite(s["sgd_ceiling"]):
        traced(ax1.axhline(s["sgd_ceiling"], color="0.2", lw=0.8, ls=(0, (1, 1)),
                           label=f"SGD ceiling ({s['sgd_ceiling']:.3f})"),
               y=src("summary:sgd_ceiling"))
    if "expected_cos" in s:
        traced(ax1.axhline(s["expected_cos"], color=PALETTE[1], lw=0.8, ls="--",
                           label=f"expected update at start ({s['expected_cos']:.3f})"),
               y=src("summary:expected_cos"))
    traced(ax1.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax1.set_xlabel("update")
    ax1.set_ylabel(r"cos(update, $-\nabla L_{\mathrm{pop}}$)")
    ax1.set_ylim(-1.05, 1.05)
    # the legend goes to the half of the panel the cosines mostly leave empty
    mostly_up = _kept(cos, zero).size == 0 or np.nanmean(_kept(cos, zero)) >= 0
    ax1.legend(loc="lower right" if mostly_up else "upper right", framealpha=0.8,
               frameon=True, edgecolor="none")
    ax1.set_title("a  alignment with the population gradient", loc="left")

    pred, act = (np.asarray(t.get(k, np.zeros(0)), dtype=float)
                 for k in (pred_key, "actual_dloss"))
    lims = _span(pred, act)
    traced(ax2.scatter(pred, act, s=3, color=PALETTE[0], alpha=0.6, lw=0,
                       label="each update"),
           x=col[pred_key], y=col["actual_dloss"])
    lims_src = apply(_span, col[pred_key], col["actual_dloss"], name="span")
    traced(ax2.plot(lims, lims, color="0.4", lw=0.6, ls="--",
                    label="actual = predicted")[0], x=lims_src, y=lims_src)
    traced(ax2.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax2.set_xlabel(r"predicted $\Delta L = \nabla L_{\mathrm{batch}} \cdot \Delta\theta$")
    ax2.set_ylabel(r"actual $\Delta L = L(\theta+\Delta\theta)-L(\theta)$")
    ax2.legend(loc="upper left")
    ax2.set_title("b  loss change per update (same batch)", loc="left")

    status = "" if run.status == "complete" else f" [{run.status}]"
    fig.suptitle(f"{cfg.get('rule', '?')} on {cfg.get('task', '?')} "
                 f"(hidden {cfg.get('hidden', '?')}, {cfg.get('n_updates', '?')} updates, "
                 f"batch {cfg.get('batch_size', '?')}, seed {run.seed}){status}", fontsize=8)
    return fig
