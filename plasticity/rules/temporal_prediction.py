"""A local, error-driven rule that learns to predict the next input of a sequence.

A layer of prediction units receives the input ``x`` through weights ``W`` (shape
``(n, n)``) with a one-step delay: unit ``i`` predicts ``x_hat_{t,i} = (W x_{t-1})_i``.
When ``x_t`` arrives, the prediction error at the unit, ``e_t = x_t - W x_{t-1}``, and the
presynaptic activity one step back set the change

    dW = eta e_t x_{t-1}^T.

Synapse ``(i, j)`` uses only the error of its own postsynaptic unit ``i`` and a memory
trace of its own presynaptic input ``j`` (the input one step ago): local in space, and
in time up to that one-step trace. It is the delta rule (LMS, Widrow & Hoff 1960) in time,
an auto-regressive predictor of the kind proposed for cortical prediction of input
sequences.

Expected update: for sequences where ``x_t = A x_{t-1} + xi`` with ``xi`` independent of
``x_{t-1}`` (:class:`~plasticity.tasks.sequences.LinearDynamics`) and ``x_{t-1}`` of
covariance ``P``, ``E[dW] = eta (A - W) P = -eta dL/dW`` for the one-step prediction loss
``L(W) = E[1/2 ||x_t - W x_{t-1}||^2]``: the rule is stochastic gradient descent on that
loss, exactly, not only to first order.

References
----------
Widrow, B., & Hoff, M. E. (1960). Adaptive switching circuits. IRE WESCON Convention
    Record 4, 96-104.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules.base import Rule

__all__ = ["TemporalPrediction", "mean_update"]


class TemporalPrediction(Rule):
    """One-step temporal prediction, ``dW = eta (x_t - W x_{t-1}) x_{t-1}^T`` per sample.

    ``signals[pre]`` holds a window of consecutive inputs, shape ``(T, n)`` (or ``(n,)``
    for one), processed in order; each sample is predicted with the weights as they are
    at that sample. The state is the presynaptic memory trace: the last input seen
    (shape ``(n,)``), or ``None`` before any input, in which case the window's first
    sample only fills the trace. Windows must follow each other in the sequence.

    Parameters
    ----------
    eta : float, > 0
        Learning rate per sample (units: 1 / state^2).
    target : str
        The prediction weights ``params[target]``, shape ``(n, n)``.
    pre : str
        The signal holding the input window.

    Notes
    -----
    :meth:`update` returns ``({target: W_after - W_before}, x_last)`` and modifies
    neither ``params`` nor ``state``. Each step is one vectorised NumPy expression, so
    the loop over a window stays in Python (a Numba kernel would gain little at the
    window sizes used here).
    """

    name: ClassVar[str] = "temporal_prediction"
    substrates: ClassVar[tuple[str, ...]] = ("sequence",)
    eta: float = Field(0.002, gt=0, allow_inf_nan=False,
                       description="learning rate, per sample")
    target: str = Field("W", description="the prediction weights, shape (n, n)")
    pre: str = Field("input", description="signal holding the input window (T, n)")

    def _who(self):
        return type(self).__name__

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Process the window ``signals[pre]``; return ``({target: dW}, last input)``."""
        who = self._who()
        if self.target not in params:
            raise RuleError(f"Rule {who}: the target parameter '{self.target}' is not among "
                            f"the parameters (known: {', '.join(sorted(params)) or 'none'}).")
        W0 = np.asarray(params[self.target], dtype=np.float64)
        if W0.ndim != 2 or W0.shape[0] != W0.shape[1]:
            raise RuleError(f"Rule {who}: parameter '{self.target}' has shape {W0.shape}; "
                            "expected a square (n, n) matrix (it predicts the input from "
                            "the input).")
        n = W0.shape[0]
        if self.pre not in signals:
            raise RuleError(f"Rule {who}: the signals lack the input signal '{self.pre}' "
                            f"(available: {', '.join(sorted(signals)) or 'none'}).")
        X = np.asarray(signals[self.pre], dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != n:
            raise RuleError(f"Rule {who}: signal '{self.pre}' has shape "
                            f"{np.shape(signals[self.pre])}; expected (T, {n}) or ({n},) to "
                            f"match parameter '{self.target}' of shape {W0.shape}.")
        if state is not None:
            prev = np.asarray(state, dtype=np.float64)
            if prev.shape != (n,):
                raise RuleError(f"Rule {who}: state (the presynaptic trace) has shape "
                                f"{prev.shape}; expected ({n},).")
        if X.shape[0] == 0:
            return {self.target: np.zeros_like(W0)}, state
        W = W0.copy()
        start = 0
        if state is None:
            prev, start = X[0], 1  # the first input only fills the trace
        for x in X[start:]:
            W += self.eta * np.outer(x - W @ prev, prev)
            prev = x
        return {self.target: W - W0}, X[-1].copy()


def mean_update(rule: TemporalPrediction, prev, nxt, W) -> np.ndarray:
    """The rule's mean update at ``W`` over fixed pairs, flattened: the average of its
    single-sample updates ``rule.update({pre: nxt[k]}, prev[k], {target: W})``, each from
    the same ``W`` (so the mean field exactly, ``eta (C10 - W C00)`` with the pairs'
    moments, not a sequential run).

    Parameters
    ----------
    rule : TemporalPrediction
    prev, nxt : ndarray, shape (K, n)
        The pairs ``(x_t, x_{t+1})``.
    W : ndarray, shape (n, n) or (n * n,)

    Returns
    -------
    ndarray, shape (n * n,)
    """
    n = prev.shape[1]
    params = {rule.target: np.reshape(W, (n, n))}
    acc = np.zeros(n * n)
    for a, b in zip(prev, nxt, strict=True):
        acc += rule.update({rule.pre: b}, a, params)[0][rule.target].ravel()
    return acc / len(prev)
