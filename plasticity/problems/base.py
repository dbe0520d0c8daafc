"""The Problem protocol: a substrate, a task and its gradient oracle, in one object.

Every alignment measurement consumes a problem (optax's idea of one contract for every
transformation, applied to what a rule is judged against). A problem answers five
questions about parameters ``params`` (a flat ``dict[str, ndarray]``):

``batch(n, rng)``
    Draw ``n`` samples of the task's data (any object the problem understands).
``signals(params, batch)``
    The local signals a rule sees on that batch (``"input"``, ``"hidden"``, ``"output"``,
    ``"target"``, traces, spikes, ...; the substrate decides).
``loss(params, batch)``
    The task's loss on that batch (the quantity stated in the problem's docstring).
``batch_gradient(params, batch)``
    Its exact gradient, a dict with the keys and shapes of ``params`` (or of the subset
    the problem differentiates, :attr:`Problem.param_keys`).
``population_gradient(params)``
    The gradient of the *expected* loss, as ``(g, se)``: ``se`` is ``None`` where ``g``
    is exact or in closed form, and otherwise a dict of per-element standard errors of
    ``g`` (e.g. of the mean over a large fixed evaluation set, reused at every call so
    that successive updates are judged against the same reference).

The population gradient is the one reference for every headline number
(``docs/statistics.md``): the same-minibatch gradient is secondary.

A researcher's own problem is one subclass that fills these in (and ``init_params``);
:func:`check_problem` runs it through the contract, and the whole analysis
(:func:`plasticity.alignment.measure_problem`) then works on it.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import ProblemError

__all__ = ["Problem", "check_gradient", "check_problem"]


class Problem:
    """Base class of problems (substrate + task + oracle). Subclasses fill in the methods.

    Attributes
    ----------
    name : str
        Short identifier, recorded in run files and summaries (e.g. ``"teacher-student"``).
    substrate : str
        The kind of network: ``"feedforward"``, ``"recurrent"``, ``"spiking"``,
        ``"bandit"``, ``"sequence"``. Rules declare which substrates they apply to.
    param_keys : tuple of str or None
        The parameters the oracle differentiates; ``None`` means all of them.
    """

    name: str = "problem"
    substrate: str = "feedforward"
    param_keys: tuple[str, ...] | None = None

    def init_params(self, rng) -> dict:
        """Initial parameters, drawn from ``rng`` (a numpy Generator)."""
        raise NotImplementedError

    def batch(self, n, rng):
        """Draw a batch of ``n`` samples from ``rng``."""
        raise NotImplementedError

    def signals(self, params, batch) -> dict:
        """The local signals a rule sees on ``batch`` at ``params``."""
        raise NotImplementedError

    def loss(self, params, batch) -> float:
        """The task loss of ``batch`` at ``params`` (units as in the docstring)."""
        raise NotImplementedError

    def batch_gradient(self, params, batch) -> dict:
        """Exact gradient of :meth:`loss` on ``batch`` with respect to ``params``."""
        raise NotImplementedError

    def population_gradient(self, params) -> tuple[dict, dict | None]:
        """Gradient of the expected loss: ``(g, se)``, ``se`` None where ``g`` is exact."""
        raise NotImplementedError

    def population_loss(self, params) -> float:
        """The expected loss (or its estimate on the same evaluation set), if available."""
        raise NotImplementedError

    def loss_fn(self, batch):
        """``params -> loss(params, batch)``: the ``loss_fn`` a perturbation rule gets."""
        return lambda p: self.loss(p, batch)

    # -- shared checks of the concrete problems' input (one line each, naming the problem)
    def _fail(self, detail: str):
        raise ProblemError(f"Problem {self.name!r}{detail}")

    def _require(self, task, kind: type):
        """``task`` if it is a ``kind``, else one line naming what was given."""
        if not isinstance(task, kind):
            self._fail(f" needs a {kind.__name__}; got {type(task).__name__}.")
        return task

    def _non_negative(self, name: str, value) -> float:
        """``value`` as a finite float >= 0 (an initial scale, a noise level)."""
        value = float(value)
        if not (np.isfinite(value) and value >= 0):
            self._fail(f": {name} must be finite and >= 0; got {value!r}.")
        return value

    def _batch_size(self, n) -> int:
        """``n`` as a positive int (the ``n`` of :meth:`batch`)."""
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            self._fail(f": the batch size must be an integer >= 1; got {n!r}.")
        return int(n)

    def _trials(self, batch, kind: type):
        """``batch`` if it is a non-empty ``kind`` (made by :meth:`batch`)."""
        if not isinstance(batch, kind) or len(batch) < 1:
            self._fail(f": a batch must be {kind.__name__} of at least one trial "
                       f"(from batch()).")
        return batch

    def _weights(self, params, key: str, shape: tuple) -> dict:
        """``params`` if it is a dict holding ``key`` (of ``shape``, for the message)."""
        if not isinstance(params, dict) or key not in params:
            self._fail(f": params must be a dict with {key!r} of shape {shape}.")
        return params


def _who(problem) -> str:
    return getattr(problem, "name", None) or type(problem).__name__


def check_gradient(problem, grad, params, *, what="gradient", se=None) -> dict:
    """Validate a gradient (and its standard errors) against ``params``.

    Parameters
    ----------
    problem : Problem
        Named in the message.
    grad : dict of str to ndarray
        The gradient; its keys must be parameter names and its shapes theirs.
    params : dict of str to ndarray
    what : str
        ``"batch gradient"`` or ``"population gradient"`` for the message.
    se : dict of str to ndarray, optional
        Standard errors, with ``grad``'s keys and shapes, finite and non-negative.

    Returns
    -------
    dict of str to ndarray
        ``grad`` as float64 arrays.

    Raises
    ------
    ProblemError
        One line naming the problem, the array and what is wrong.
    """
    who = _who(problem)
    if not isinstance(grad, dict) or not grad:
        raise ProblemError(f"Problem {who!r}: the {what} must be a non-empty dict of arrays "
                           f"named after parameters; got {type(grad).__name__}.")
    out = {}
    for key, value in grad.items():
        if key not in params:
            raise ProblemError(f"Problem {who!r}: the {what} has an array {key!r} that is "
                               f"not a parameter (parameters: {', '.join(sorted(params))}).")
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != np.shape(params[key]):
            raise ProblemError(f"Problem {who!r}: the {what} of {key!r} has shape {arr.shape},"
                               f" the parameter has {np.shape(params[key])}.")
        if not np.all(np.isfinite(arr)):
            raise ProblemError(f"Problem {who!r}: the {what} of {key!r} contains NaN or "
                               f"infinity.")
        out[key] = arr
    if se is not None:
        if not isinstance(se, dict) or set(se) != set(out):
            raise ProblemError(f"Problem {who!r}: the standard errors of the {what} must "
                               f"have the gradient's keys ({', '.join(sorted(out))}).")
        for key, value in se.items():
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != out[key].shape or not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ProblemError(f"Problem {who!r}: the standard errors of the {what} of "
                                   f"{key!r} must be finite, non-negative and shaped like "
                                   f"the gradient {out[key].shape}.")
    return out


def check_problem(problem, *, seed=0, batch_size=4) -> dict:
    """Run ``problem`` through the Problem protocol once and return what it gave.

    Checks that :meth:`Problem.init_params`, :meth:`Problem.batch`,
    :meth:`Problem.signals`, :meth:`Problem.loss`, :meth:`Problem.batch_gradient` and
    :meth:`Problem.population_gradient` return values of the promised kinds: a finite
    scalar loss, gradients with the parameters' keys and shapes and finite values,
    standard errors that are ``None`` or match the gradient.

    Returns
    -------
    dict
        ``params``, ``batch``, ``signals``, ``loss``, ``batch_gradient``,
        ``population_gradient`` and ``population_se``.

    Raises
    ------
    ProblemError
        At the first broken promise, naming the problem and the method.
    """
    who = _who(problem)
    rng = np.random.default_rng(seed)
    for method in ("init_params", "batch", "signals", "loss", "batch_gradient",
                   "population_gradient"):
        if not callable(getattr(problem, method, None)):
            raise ProblemError(f"Problem {who!r} has no method {method}(); see "
                               f"plasticity.problems.Problem.")
    params = problem.init_params(rng)
    if not isinstance(params, dict) or not params:
        raise ProblemError(f"Problem {who!r}: init_params must return a non-empty dict of "
                           f"arrays.")
    batch = problem.batch(batch_size, rng)
    signals = problem.signals(params, batch)
    if not isinstance(signals, dict):
        raise ProblemError(f"Problem {who!r}: signals must return a dict; got "
                           f"{type(signals).__name__}.")
    loss = problem.loss(params, batch)
    if np.ndim(loss) != 0 or not np.isfinite(float(loss)):
        raise ProblemError(f"Problem {who!r}: loss must be a finite scalar; got {loss!r}.")
    gb = check_gradient(problem, problem.batch_gradient(params, batch), params,
                        what="batch gradient")
    result = problem.population_gradient(params)
    if not isinstance(result, tuple) or len(result) != 2:
        raise ProblemError(f"Problem {who!r}: population_gradient must return (g, se) with "
                           f"se None where g is exact.")
    gp = check_gradient(problem, result[0], params, what="population gradient", se=result[1])
    if set(gp) != set(gb):
        raise ProblemError(f"Problem {who!r}: the batch and population gradients differ in "
                           f"their arrays ({sorted(gb)} against {sorted(gp)}).")
    return {"params": params, "batch": batch, "signals": signals, "loss": float(loss),
            "batch_gradient": gb, "population_gradient": gp, "population_se": result[1]}
