"""A rule wrapped so that its updates are measured against the gradient as it learns.

:func:`measured` (and its class :class:`MeasuredRule`) evaluates the gradient and the loss
*before* the inner rule runs, at exactly the parameters and signals the rule sees, and
logs :func:`~plasticity.analysis.update_alignment.align`'s row for every ``every``-th
update (:mod:`plasticity.analysis.alignment_log`).

A rule whose update is a function of the exact batch gradient (backprop: ``-eta`` times
it) offers ``delta_from_gradient(grad, state)``; at a measured update the wrapper then
takes the update from the gradient its oracle has just computed instead of letting the
rule compute that gradient again. The result is checked against the rule's own
``update``, bit for bit, at the 1st, 2nd, 4th, 8th, ... shared update; at the first
difference the wrapper stops sharing for good and returns the rule's own result.
"""

from __future__ import annotations

import time

import numpy as np

from plasticity.analysis.alignment_log import _call_gradient, _call_reference, _Log, _measure
from plasticity.analysis.metric import _as_metric
from plasticity.errors import InvalidParameterError
from plasticity.rules.base import check_delta, check_protocol, rule_name

__all__ = ["MeasuredRule", "measured"]


def _structurally_valid(rule, delta, params):
    """``delta`` if its names, shapes and dtypes fit ``params``, else raise RuleError.

    The engine runs the full :func:`check_delta` (finiteness included) right after the
    update; repeating the finiteness scan here would cost more than the alignment itself,
    and a NaN only makes this update's row NaN before the engine stops the run. A
    malformed delta, though, must fail here with the engine's message rather than as an
    obscure error inside the alignment arithmetic.
    """
    if isinstance(delta, dict):
        for key, value in delta.items():
            target = params.get(key)
            kind = getattr(getattr(value, "dtype", None), "kind", "")
            if target is None or kind not in "fiu" or not kind or value.shape != target.shape:
                break
        else:
            return delta
    return check_delta(rule, delta, params)


class MeasuredRule:
    """A rule that measures the alignment of its inner rule's updates; see :func:`measured`.

    Attributes
    ----------
    rule : object
        The inner rule.
    step : int
        The number of updates seen so far (the engine's step of the last update).
    timing : dict of str to float
        Seconds spent in the inner rule (``rule_s``, including its update taken from the
        gradient), in the gradient and loss evaluations (``oracle_s``) and in the
        alignment bookkeeping (``overhead_s``).
    gradient_shared : bool or None
        Whether measured updates take the rule's update from the oracle's gradient
        (True: offered, and equal to the rule's own so far; False: not offered, switched
        off, or found to differ; None: offered but not yet tried).
    """

    def __init__(self, rule, gradient_fn, loss_fn=None, every=1, metric=None,
                 recorder=None, prefix="/alignment", *, gradient_se_fn=None,
                 array_dloss=False, reference_fn=None, record_tables=None,
                 loss_before_fn=None, share_gradient=True):
        check_protocol(rule)
        if int(every) < 1:
            raise InvalidParameterError(f"The 'every' parameter of measured must be >= 1. "
                                        f"Got {every!r}.")
        if not callable(gradient_fn):
            raise InvalidParameterError("gradient_fn must be callable: "
                                        "gradient_fn(params, signals) -> dict of arrays.")
        self.rule = rule
        self.gradient_fn, self.loss_fn = gradient_fn, loss_fn
        if reference_fn is not None and not callable(reference_fn):
            raise InvalidParameterError("reference_fn must be callable: "
                                        "reference_fn(params) -> (grad, se).")
        if loss_before_fn is not None and not callable(loss_before_fn):
            raise InvalidParameterError("loss_before_fn must be callable: "
                                        "loss_before_fn(params, signals) -> float.")
        self.gradient_se_fn, self.reference_fn = gradient_se_fn, reference_fn
        self.loss_before_fn = loss_before_fn
        self.every, self.metric, self.array_dloss = int(every), metric, bool(array_dloss)
        self._log = _Log(recorder, prefix, record_tables)
        self._metric_cache = None
        # Looked up on the class: a wrapper that forwards attributes to its inner rule
        # (another MeasuredRule) must not hand out the inner rule's method, which would
        # skip the wrapper's own update.
        offered = callable(getattr(type(rule), "delta_from_gradient", None))
        self._from_gradient = rule.delta_from_gradient if offered and share_gradient else None
        self.gradient_shared = None if self._from_gradient is not None else False
        self._n_shared = 0
        self.step = 0
        self.timing = {"rule_s": 0.0, "oracle_s": 0.0, "overhead_s": 0.0}

    @property
    def name(self) -> str:
        """The inner rule's name (summary keys stay those of the rule)."""
        return rule_name(self.rule)

    @property
    def records(self) -> dict[str, np.ndarray]:
        """The measured rows so far: table name (array name or ``"total"``) -> a NumPy
        structured array with fields ``step``, the :data:`COLUMNS`, ``zero_norm``,
        ``actual_dloss``, (with standard errors) ``grad_se`` and ``cos_raw``, and (with a
        ``reference_fn``) ``cos_batch``, ``sgd_cos`` and ``predicted_dloss_batch``;
        ``records["total"]["cos"]`` is the cosine of every measured update."""
        return self._log.records

    def __getattr__(self, name):
        # Hyperparameters (eta, ...) of the inner rule stay readable through the wrapper.
        if name == "rule":
            raise AttributeError(name)
        return getattr(self.rule, name)

    def init(self, params):
        """The inner rule's initial state."""
        return self.rule.init(params)

    def get_checkpoint_state(self):
        """Update count, timings and measured rows (and the inner rule's own checkpoint
        state, if it has one), for a resumable run."""
        inner = getattr(self.rule, "get_checkpoint_state", None)
        return {"step": self.step, "timing": dict(self.timing),
                "log": self._log.get_checkpoint_state(),
                "rule": inner() if callable(inner) else None}

    def set_checkpoint_state(self, state):
        self.step = int(state["step"])
        self.timing = dict(state["timing"])
        self._log.set_checkpoint_state(state["log"])
        if state["rule"] is not None:
            self.rule.set_checkpoint_state(state["rule"])

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """The inner rule's ``(delta, state)``, unchanged; measures every ``every``-th call.

        The gradient and the loss before the update are evaluated *before* the inner rule
        runs, so they see exactly the parameters and signals the rule sees.
        """
        self.step += 1
        if self.step % self.every:
            t0 = time.perf_counter()
            out = self.rule.update(signals, state, params, reward=reward, loss_fn=loss_fn,
                                   rng=rng)
            self.timing["rule_s"] += time.perf_counter() - t0
            return out

        t0 = time.perf_counter()
        grad, se = _call_gradient(self.gradient_fn, self.gradient_se_fn, params, signals)
        reference = (None if self.reference_fn is None
                     else _call_reference(self.reference_fn, params))
        if self.loss_fn is not None:
            def loss_of(p, _s=signals):
                return self.loss_fn(p, _s)
        else:
            loss_of = loss_fn
        if loss_of is None:
            loss_before = np.nan
        elif self.loss_before_fn is not None:
            # the same number from the forward pass the signals already hold
            loss_before = float(self.loss_before_fn(params, signals))
        else:
            loss_before = float(loss_of(params))
        t1 = time.perf_counter()
        if self.gradient_shared is not False and se is None:
            delta, new_state = self._shared_update(grad, signals, state, params,
                                                   reward=reward, loss_fn=loss_fn, rng=rng)
        else:
            delta, new_state = self.rule.update(signals, state, params, reward=reward,
                                                loss_fn=loss_fn, rng=rng)
        t2 = time.perf_counter()
        checked = _structurally_valid(self.rule, delta, params)
        t3 = time.perf_counter()
        metric = self._metric(grad)
        keys_dloss = sorted(grad) if self.array_dloss else ()
        oracle_before = self.timing["oracle_s"]
        _measure(self._log, self.step, params, checked, grad, se, loss_before,
                 _timed(loss_of, self.timing), metric, keys_dloss, reference)
        t4 = time.perf_counter()
        loss_s = self.timing["oracle_s"] - oracle_before
        self.timing["oracle_s"] += t1 - t0
        self.timing["rule_s"] += t2 - t1
        self.timing["overhead_s"] += (t3 - t2) + (t4 - t3 - loss_s)
        return delta, new_state

    def _shared_update(self, grad, signals, state, params, **kwargs):
        """The inner rule's ``(delta, state)`` from the oracle's gradient ``grad``.

        Checked against the rule's own ``update`` at the 1st, 2nd, 4th, ... call (a
        logarithmic number of extra updates): same arrays to the bit and the same state
        object, else sharing stops and the rule's own result is returned. A gradient
        with standard errors (an estimate) is never shared (the caller checks).
        """
        shared = self._from_gradient(grad, state)
        self._n_shared += 1
        if self._n_shared & (self._n_shared - 1):  # not a power of two: trusted
            return shared
        own = self.rule.update(signals, state, params, **kwargs)
        self.gradient_shared = _same_update(own, shared)
        return own

    def _metric(self, grad):
        if self.metric is None:
            return None
        if self._metric_cache is None:
            # Factorise a matrix metric once, not at every measured update.
            self._metric_cache = _as_metric(self.metric, sorted(grad), grad)
        return self._metric_cache


def _same_update(own, shared) -> bool:
    """Whether two ``(delta, state)`` results are the same: the same state object and
    delta arrays of the same names, dtypes, shapes and bits (-0.0 differs from 0.0, and
    NaN equals itself only with the same payload)."""
    (d1, s1), (d2, s2) = own, shared
    if s1 is not s2 or not isinstance(d1, dict) or not isinstance(d2, dict):
        return False
    if list(d1) != list(d2):
        return False
    for key, a in d1.items():
        a, b = np.asarray(a), np.asarray(d2[key])
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            return False
    return True


def _timed(fn, timing):
    """``fn`` with its run time added to ``timing["oracle_s"]`` (None stays None)."""
    if fn is None:
        return None

    def call(p):
        t0 = time.perf_counter()
        try:
            return fn(p)
        finally:
            timing["oracle_s"] += time.perf_counter() - t0
    return call


def measured(rule, gradient_fn, loss_fn=None, every=1, metric=None, recorder=None,
             prefix="/alignment", *, gradient_se_fn=None, array_dloss=False,
             reference_fn=None, record_tables=None, loss_before_fn=None,
             share_gradient=True) -> MeasuredRule:
    """Wrap ``rule`` so that its updates are compared with the true gradient as it learns.

    The wrapper follows the rule protocol and has the rule's ``name``; its ``update``
    returns exactly the inner rule's delta and state (the same objects, or with
    ``share_gradient`` the same arrays to the bit), so training with it gives the same
    run. Every ``every``-th update it evaluates, at the parameters and on
    the signals the rule sees, the gradient and the loss before and after the update,
    and records :func:`align`'s quantities plus ``actual_dloss``.

    Parameters
    ----------
    rule : object with ``init`` and ``update``
        Any rule.
    gradient_fn : callable
        ``gradient_fn(params, signals) -> dict of ndarray``, the gradient of the task
        loss, same keys and shapes as ``params``. It may instead return ``(grad, se)``
        with ``se`` the per-element standard errors of an estimated gradient.
    loss_fn : callable, optional
        ``loss_fn(params, signals) -> float``. When omitted, the ``loss_fn`` the engine
        passes to ``update`` (the task loss bound to the current batch) is used; when
        neither exists ``actual_dloss`` is NaN.
    every : int, default 1
        Measure the updates whose step (counted from 1) is a multiple of ``every``.
    metric : None, ndarray or callable, optional
        As in :func:`align`; fixed for the whole run (a matrix is factorised once).
    recorder : plasticity.io.recorder.Recorder, optional
        Rows go to the tables ``<prefix>/<array>`` and ``<prefix>/total``.
    prefix : str, default "/alignment"
        Group of the tables (a path starting with "/" is absolute in the run file).
    gradient_se_fn : callable, optional
        ``gradient_se_fn(params, signals) -> dict`` of per-element standard errors of the
        gradient (arrays shaped like the gradient, or scalars). Recorded as ``grad_se``,
        the root-sum-square of the per-element errors over the array (comparable with
        ``grad_norm``, in the Euclidean metric).
    array_dloss : bool, default False
        Also measure the loss change of each array's update alone (one loss evaluation
        per array); otherwise the per-array ``actual_dloss`` is NaN.
    reference_fn : callable, optional
        ``reference_fn(params) -> (grad, se)``: the population (expected-loss) gradient
        and its per-element standard errors (``se`` None where exact), e.g.
        :meth:`plasticity.problems.Problem.population_gradient`. When given, the primary
        columns (``inner``, ``cos``, ``grad_norm``, ``predicted_dloss``, ``grad_se``)
        are against it, with the cosine corrected for its noise (``cos_raw`` uncorrected,
        see :func:`align`), and ``gradient_fn`` is the same-batch gradient, which gives
        ``cos_batch`` (the update's cosine with it), ``predicted_dloss_batch`` and
        ``sgd_cos`` (the cosine of the exact minibatch step ``-gradient_fn`` with the
        reference: what plain SGD reaches at the same state and batch). The metric then
        applies to ``cos_batch`` only when ``se`` is given (the noise correction is
        Euclidean).
    record_tables : collection of str, optional
        The tables (array names and/or ``"total"``) streamed to ``recorder``; all when
        None. ``.records`` keeps every table in memory either way.
    loss_before_fn : callable, optional
        ``loss_before_fn(params, signals) -> float``: the loss before the update, equal
        to the one ``loss_fn`` (or the engine's) gives at ``params``, but read from the
        forward pass the signals already hold (e.g.
        :meth:`plasticity.problems.FeedForwardProblem.loss_from_signals`), which saves
        one forward pass per measured update. Only used where a loss is measured.
    share_gradient : bool, default True
        When the rule offers ``delta_from_gradient(grad, state)`` (its update as a
        function of the exact batch gradient, e.g. backprop's ``-eta * grad``), measured
        updates take it from ``gradient_fn``'s gradient instead of calling the rule's
        ``update``, which would compute the same gradient again. The shared result is
        checked bit for bit against ``update``'s at the 1st, 2nd, 4th, ... shared update;
        at the first difference (``gradient_fn`` is not the rule's gradient) sharing
        stops and every later update is the rule's own. ``gradient_shared`` says which.

    Returns
    -------
    MeasuredRule
        Rule-like; ``.records`` holds the measurements, ``.timing`` where time went.

    Examples
    --------
    >>> import numpy as np
    >>> class Descent:
    ...     def init(self, params):
    ...         return None
    ...     def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
    ...         return {"w": -0.1 * params["w"]}, state
    >>> rule = measured(Descent(), lambda p, s: {"w": p["w"]},
    ...                 loss_fn=lambda p, s: 0.5 * float(p["w"] @ p["w"]))
    >>> _ = rule.update({}, None, {"w": np.ones(3)})
    >>> float(rule.records["total"]["cos"][0])
    1.0
    """
    return MeasuredRule(rule, gradient_fn, loss_fn, every, metric, recorder, prefix,
                        gradient_se_fn=gradient_se_fn, array_dloss=array_dloss,
                        reference_fn=reference_fn, record_tables=record_tables,
                        loss_before_fn=loss_before_fn, share_gradient=share_gradient)
