"""Measure any rule against the true gradient in one call: ``pl.alignment.measure``.

This is the researcher's entry point of the alignment analysis: give it a rule (a built-in
name, an import path, or one's own object) and it builds the task and a student network,
trains the rule through the engine, records every update's alignment with the task loss
gradient (:func:`plasticity.analysis.measured`), summarises the cosines with a bootstrap
confidence interval (:func:`plasticity.analysis.summarize`) and measures the cosine of the
*expected* update at the initial state (:func:`plasticity.analysis.expected_cosine`).

:func:`measure_into` is the same measurement writing into an open recorder under a prefix;
the ``alignment-atlas`` experiment runs it for many rules and widths in one run file.

:func:`plot` draws the figure of a run file :func:`measure` wrote (``plasticity plot
RUN.h5`` calls it too).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from plasticity.errors import Diverged, InvalidParameterError, PlasticityError

__all__ = ["SUMMARY_KEYS", "measure", "measure_into", "plot"]

#: The per-rule results of a measurement.
SUMMARY_KEYS = ("cos_mean", "cos_ci_low", "cos_ci_high", "frac_positive", "expected_cos")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidParameterError(f"The {name!r} parameter must be an integer >= 1. "
                                    f"Got {value!r}.")
    return int(value)


def measure_into(rule, task, net, params, *, n_updates, batch_size, seed, recorder=None,
                 prefix="/alignment", expected_draws=100, record_every=1):
    """Train ``rule`` on ``task`` from ``params`` and measure its alignment.

    Parameters
    ----------
    rule : object with ``init`` and ``update``
        Already resolved (see :func:`plasticity.rules.resolve.resolve_rule`).
    task : plasticity.tasks.supervised.SupervisedTask
        Supplies batches, the loss the rule is judged against and its exact gradient.
    net : FeedForward
        The student network ``params`` belong to.
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
        Draws of the update at the fixed initial state for ``expected_cos``.
    record_every : int
        Measure every ``record_every``-th update.

    Returns
    -------
    dict
        :data:`SUMMARY_KEYS` plus ``n_measured`` (updates whose cosine is defined; updates
        of zero norm, e.g. rejected hill-climbing proposals, are left out of the
        statistics because their angle is undefined) and ``final_loss``.

    Raises
    ------
    RuleError
        When the rule breaks the protocol (the message names the rule and the array).
    Diverged
        When the parameters blow up during training.
    """
    from plasticity.analysis import expected_cosine, measured
    from plasticity.engine import Batch, train

    seeds = np.random.SeedSequence(seed).spawn(4)
    data_rng, rule_rng, fixed_rng, draw_rng = (np.random.default_rng(s) for s in seeds)

    def gradient(p, signals):
        return task.gradient(net, p, Batch(x=signals["input"], target=signals["target"]))

    # The expected update first, at the initial state: a rule that breaks the protocol
    # fails here, before training, with check_delta's message naming the array.
    fixed = task.batch(batch_size, fixed_rng)
    state0 = rule.init(params)
    exp = expected_cosine(rule, task.signals(net, params, fixed), state0, params,
                          task.gradient(net, params, fixed), n_draws=expected_draws,
                          rng=draw_rng, loss_fn=lambda p: task.loss(net, p, fixed))

    wrapped = measured(rule, gradient, every=record_every, recorder=recorder, prefix=prefix)
    final, _ = train(wrapped, params, n_updates=n_updates,
                     next_batch=lambda step: task.batch(batch_size, data_rng),
                     signals=lambda p, b: task.signals(net, p, b),
                     loss=lambda p, b: task.loss(net, p, b), rng=rule_rng)
    return _summary(wrapped.records, exp, task.evaluate(net, final)["loss"])


def _summary(records, exp, final_loss):
    from plasticity.analysis import summarize

    total = records.get("total")
    if total is None or total.size == 0:
        cos = inner = np.zeros(0)
    else:
        keep = ~total["zero_norm"]
        cos, inner = total["cos"][keep], total["inner"][keep]
    stats = summarize(cos, inner, rng=0)
    return {"cos_mean": stats["cos_mean"], "cos_ci_low": stats["cos_ci_low"],
            "cos_ci_high": stats["cos_ci_high"], "frac_positive": stats["frac_positive"],
            "expected_cos": float(exp["expected_cos"]), "n_measured": stats["n"],
            "final_loss": float(final_loss)}


def measure(rule, *, task="teacher-student", hidden=64, n_updates=500, batch_size=32,
            seed=0, out=None, expected_draws=100, record_every=1):
    """Measure how a learning rule's updates relate to the true loss gradient.

    Builds ``task`` and a tanh student with one hidden layer of ``hidden`` units, trains
    ``rule`` for ``n_updates`` updates of ``batch_size`` samples, records every update's
    inner product, cosine and norms against the exact gradient of the task loss at the
    parameters before the update, and summarises them.

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
        The task; its loss (stated in its docstring) is what the rule is judged against.
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

    Returns
    -------
    plasticity.io.runfile.RunFile
        ``.summary`` holds ``cos_mean``, ``cos_ci_low``, ``cos_ci_high`` (95% bootstrap
        interval of the mean cosine), ``frac_positive``, ``expected_cos``, ``n_measured``
        and ``final_loss``; ``.alignment`` the per-update rows (``total`` and one table
        per parameter array); ``.status`` is ``complete`` or ``diverged``.

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
    >>> round(run.summary["cos_mean"], 9)
    1.0
    """
    from plasticity.io.paths import check_out
    from plasticity.io.recorder import Recorder
    from plasticity.io.runfile import open_run
    from plasticity.rules.base import rule_name
    from plasticity.rules.resolve import resolve_rule
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
    the_task = make_task(task, rng=task_rng)
    net = the_task.student(hidden)
    resolved = resolve_rule(rule, net=net, loss_kind=the_task.loss_kind)
    params = net.init_params(init_rng)
    config = {"rule": rule if isinstance(rule, str) else rule_name(resolved), "task": task,
              "hidden": hidden, "n_updates": n_updates, "batch_size": batch_size,
              "expected_draws": expected_draws, "record_every": record_every}

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
            summary = measure_into(resolved, the_task, net, params, n_updates=n_updates,
                                   batch_size=batch_size, seed=[seed, 3], recorder=rec,
                                   expected_draws=expected_draws, record_every=record_every)
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

    Panel a: each update's cosine with the negative loss gradient against the update
    number (dots), its moving mean, the mean over training with its 95% bootstrap
    interval, the cosine of the expected update at the initial state, and zero. Panel b:
    each update's first-order predicted loss change ``-<update, -grad>`` against the
    measured one on the same batch, with the identity line; points below zero are
    updates that lowered the loss. Updates of zero norm (undefined angle) are left out
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
    col = {k: src(f"alignment/total:{k}") for k in
           ("step", "cos", "zero_norm", "predicted_dloss", "actual_dloss")}
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
    if "expected_cos" in s:
        traced(ax1.axhline(s["expected_cos"], color=PALETTE[1], lw=0.8, ls="--",
                           label=f"expected update at start ({s['expected_cos']:.3f})"),
               y=src("summary:expected_cos"))
    traced(ax1.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax1.set_xlabel("update")
    ax1.set_ylabel(r"cos(update, $-\nabla L$)")
    ax1.set_ylim(-1.05, 1.05)
    # the legend goes to the half of the panel the cosines mostly leave empty
    mostly_up = _kept(cos, zero).size == 0 or np.nanmean(_kept(cos, zero)) >= 0
    ax1.legend(loc="lower right" if mostly_up else "upper right", framealpha=0.8,
               frameon=True, edgecolor="none")
    ax1.set_title("a  alignment with the loss gradient", loc="left")

    pred, act = (np.asarray(t.get(k, np.zeros(0)), dtype=float)
                 for k in ("predicted_dloss", "actual_dloss"))
    lims = _span(pred, act)
    traced(ax2.scatter(pred, act, s=3, color=PALETTE[0], alpha=0.6, lw=0,
                       label="each update"),
           x=col["predicted_dloss"], y=col["actual_dloss"])
    lims_src = apply(_span, col["predicted_dloss"], col["actual_dloss"], name="span")
    traced(ax2.plot(lims, lims, color="0.4", lw=0.6, ls="--",
                    label="actual = predicted")[0], x=lims_src, y=lims_src)
    traced(ax2.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax2.set_xlabel(r"predicted $\Delta L = \nabla L \cdot \Delta\theta$")
    ax2.set_ylabel(r"actual $\Delta L = L(\theta+\Delta\theta)-L(\theta)$")
    ax2.legend(loc="upper left")
    ax2.set_title("b  loss change per update (same batch)", loc="left")

    status = "" if run.status == "complete" else f" [{run.status}]"
    fig.suptitle(f"{cfg.get('rule', '?')} on {cfg.get('task', '?')} "
                 f"(hidden {cfg.get('hidden', '?')}, {cfg.get('n_updates', '?')} updates, "
                 f"batch {cfg.get('batch_size', '?')}, seed {run.seed}){status}", fontsize=8)
    return fig
