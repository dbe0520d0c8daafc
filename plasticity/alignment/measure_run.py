"""``pl.alignment.measure``: measure a rule against the true gradient in one call, into a
run file (the researcher's entry point; :mod:`plasticity.alignment` has the overview).
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path

import numpy as np

from plasticity.alignment.on_problem import measure_problem
from plasticity.errors import Diverged, InvalidParameterError, PlasticityError

__all__ = ["measure", "resolve_seeded"]


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
