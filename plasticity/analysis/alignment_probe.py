"""An engine probe measuring alignment from the parameters after each update.

It rebuilds the parameters before the update as ``p_after - d`` and measures as
:func:`~plasticity.analysis.measured_rule.measured` does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from plasticity.analysis.alignment_log import _call_gradient, _Log, _measure
from plasticity.analysis.metric import _as_metric
from plasticity.engine import Probe

__all__ = ["AlignmentProbe"]


class AlignmentProbe(Probe):
    """An engine probe measuring alignment from the parameters after each update.

    The probe sees ``p_after = p_before + d`` and rebuilds ``p_before = p_after - d``
    (differing from the true value by at most one rounding of each parameter), then
    measures as :func:`measured` does. Prefer :func:`measured`, which needs no
    reconstruction and sees the signals; the probe suits code that already builds a
    probe list.

    Parameters
    ----------
    gradient_fn : callable
        ``gradient_fn(params, batch) -> dict of ndarray`` (or ``(grad, se)``), with
        ``batch`` the engine's :class:`~plasticity.engine.Batch`.
    loss_fn : callable or None
        ``loss_fn(params, batch) -> float`` (the engine's ``loss``); None leaves
        ``actual_dloss`` NaN.
    recorder : Recorder, optional
    every : int, default 1
        Passed to the engine (it also calls probes after the last update).
    metric : None, ndarray or callable, optional
        As in :func:`align`.
    prefix : str, default "/alignment"
    gradient_se_fn : callable, optional
        ``gradient_se_fn(params, batch) -> dict`` of per-element standard errors.
    array_dloss : bool, default False
        As in :func:`measured`.

    Attributes
    ----------
    records : dict of str to ndarray
        As :attr:`MeasuredRule.records`.
    """

    def __init__(self, gradient_fn: Callable, loss_fn: Callable | None, recorder=None,
                 every=1, metric=None, prefix="/alignment", *, gradient_se_fn=None,
                 array_dloss=False):
        super().__init__(fn=self._observe, every=every)
        self.gradient_fn, self.loss_fn = gradient_fn, loss_fn
        self.gradient_se_fn, self.metric = gradient_se_fn, metric
        self.array_dloss = bool(array_dloss)
        self._log = _Log(recorder, prefix)
        self._metric_cache = None

    @property
    def records(self) -> dict[str, np.ndarray]:
        return self._log.records

    def get_checkpoint_state(self):
        """The measured rows, for a resumable run."""
        return self._log.get_checkpoint_state()

    def set_checkpoint_state(self, state):
        self._log.set_checkpoint_state(state)

    def _observe(self, step, params, state, delta, batch):
        before = dict(params)
        for k, d in delta.items():
            before[k] = params[k] - d
        grad, se = _call_gradient(self.gradient_fn, self.gradient_se_fn, before, batch)
        loss_of = None
        if self.loss_fn is not None:
            def loss_of(p):
                return self.loss_fn(p, batch)
        loss_before = float(loss_of(before)) if loss_of is not None else np.nan
        if self.metric is not None and self._metric_cache is None:
            self._metric_cache = _as_metric(self.metric, sorted(grad), grad)
        keys_dloss = sorted(grad) if self.array_dloss else ()
        _measure(self._log, step, before, delta, grad, se, loss_before, loss_of,
                 self._metric_cache, keys_dloss)
