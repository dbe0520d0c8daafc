"""Temporal prediction as a problem: a linear one-step predictor of a linear dynamical system.

The substrate is one layer of prediction units with weights ``W`` (shape ``(n, n)``) that
predicts the next state from the current one, ``x_hat_{t+1} = W x_t``; the task is a
stable linear dynamical system ``x_{t+1} = A x_t + xi_t`` observed in its stationary
regime (:class:`plasticity.tasks.sequences.LinearDynamics`). Its oracle is exact:

    L(W) = E[1/2 ||x_{t+1} - W x_t||^2] = 1/2 tr((A - W) P (A - W)^T) + 1/2 tr(Q),
    dL/dW = -(A - W) P,

with ``P`` the stationary covariance (units: state^2, and state^2 per unit of ``W``).

A batch is what an online rule such as :class:`plasticity.rules.TemporalPrediction` sees:
``n`` *consecutive* one-step pairs of one stationary sequence (``n + 1`` states), not
``n`` independent pairs. Every pair is stationary, so the batch loss is an unbiased
estimate of ``L`` and its gradient one of ``dL/dW``; the pairs are correlated along the
sequence, which matters for the variance of those estimates, not for their mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plasticity.errors import ProblemError
from plasticity.problems.base import Problem

__all__ = ["SequenceBatch", "TemporalPredictionProblem"]


def _count(who, name, value):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ProblemError(f"Problem {who!r}: {name} must be an integer >= 1; got {value!r}.")
    return int(value)


@dataclass
class SequenceBatch:
    """``n`` consecutive one-step pairs of a sequence.

    Attributes
    ----------
    x : ndarray, shape (n + 1, d)
        The states ``x_0, ..., x_n`` in order; pair ``t`` is ``(x[t], x[t + 1])``.
    """

    x: np.ndarray

    @property
    def prev(self) -> np.ndarray:
        """The presynaptic states ``x_0 .. x_{n-1}``, shape (n, d)."""
        return self.x[:-1]

    @property
    def nxt(self) -> np.ndarray:
        """The states to predict ``x_1 .. x_n``, shape (n, d)."""
        return self.x[1:]

    def __len__(self) -> int:
        return self.x.shape[0] - 1


class TemporalPredictionProblem(Problem):
    """One-step prediction of a :class:`~plasticity.tasks.sequences.LinearDynamics`.

    Parameters
    ----------
    task : plasticity.tasks.sequences.LinearDynamics
        The system; its ``A``, ``P`` and ``Q`` give the exact loss and gradient.
    init_std : float >= 0, default 0.0
        :meth:`init_params` draws ``W ~ N(0, init_std^2 / n)`` element-wise (zeros by
        default), as the ``temporal-prediction`` experiment does.

    Notes
    -----
    ``batch(n, rng)`` starts a fresh stationary sequence (``x_0 ~ N(0, P)``) and returns
    ``n`` consecutive pairs; ``batch(n, rng, x0=x)`` continues a sequence from ``x``.
    ``signals`` hands the rule the whole window ``{"input": x}`` (shape ``(n + 1, d)``):
    a rule whose presynaptic trace starts empty (state ``None``) uses ``x_0`` only as the
    trace and so learns from exactly the batch's ``n`` pairs.

    ``loss(params, batch)`` is the batch mean ``(1/n) sum_t 1/2 ||x_{t+1} - W x_t||^2``
    and ``batch_gradient`` its exact gradient ``-(1/n) sum_t (x_{t+1} - W x_t) x_t^T``;
    ``population_gradient`` is ``(-(A - W) P, None)`` and ``population_loss`` ``L(W)``,
    both exact.
    """

    name = "temporal-prediction"
    substrate = "sequence"
    param_keys = ("W",)

    def __init__(self, task, *, init_std=0.0):
        from plasticity.tasks.sequences import LinearDynamics

        self.task = self._require(task, LinearDynamics)
        self.init_std = self._non_negative("init_std", init_std)

    @property
    def n(self) -> int:
        """The state dimension ``d``."""
        return self.task.n

    def _W(self, params) -> np.ndarray:
        if not isinstance(params, dict) or "W" not in params:
            raise ProblemError(f"Problem {self.name!r}: params must be a dict with the "
                               f"predictor 'W' of shape ({self.n}, {self.n}).")
        W = np.asarray(params["W"], dtype=np.float64)
        if W.shape != (self.n, self.n):
            raise ProblemError(f"Problem {self.name!r}: 'W' has shape {W.shape}; expected "
                               f"({self.n}, {self.n}).")
        return W

    def _batch(self, batch) -> SequenceBatch:
        if not isinstance(batch, SequenceBatch) or batch.x.ndim != 2 \
                or batch.x.shape[0] < 2 or batch.x.shape[1] != self.n:
            raise ProblemError(f"Problem {self.name!r}: a batch must be a SequenceBatch of "
                               f"at least 2 states of dimension {self.n} (from batch()).")
        return batch

    # -- the protocol ---------------------------------------------------------------------
    def init_params(self, rng) -> dict:
        """``{"W": (n, n)}`` with i.i.d. ``N(0, init_std^2 / n)`` entries."""
        n = self.n
        return {"W": np.random.default_rng(rng).normal(0.0, self.init_std / np.sqrt(n),
                                                       (n, n))}

    def batch(self, n, rng, x0=None) -> SequenceBatch:
        """``n`` consecutive pairs: a stationary start (or ``x0``) and the next ``n`` states.

        Parameters
        ----------
        n : int >= 1
            Number of pairs.
        rng : numpy.random.Generator
            Draws the start (when ``x0`` is None) and the process noise.
        x0 : ndarray, shape (d,), optional
            Continue a sequence from this state instead of a fresh stationary draw.
        """
        n = _count(self.name, "the batch size", n)
        rng = np.random.default_rng(rng)
        start = self.task.initial(rng) if x0 is None else np.asarray(x0, dtype=np.float64)
        if start.shape != (self.n,):
            raise ProblemError(f"Problem {self.name!r}: x0 has shape {start.shape}; expected "
                               f"({self.n},).")
        return SequenceBatch(x=np.vstack([start, self.task.simulate(n, rng, start)]))

    def signals(self, params, batch) -> dict:
        """``{"input": x}``, the window of ``n + 1`` states, shape (n + 1, d)."""
        return {"input": self._batch(batch).x}

    def loss(self, params, batch) -> float:
        """Mean ``1/2 ||x_{t+1} - W x_t||^2`` over the batch's pairs (state^2)."""
        b = self._batch(batch)
        err = b.nxt - b.prev @ self._W(params).T
        return 0.5 * float(np.mean(np.sum(err * err, axis=1)))

    def batch_gradient(self, params, batch) -> dict:
        """``{"W": -(1/n) sum_t (x_{t+1} - W x_t) x_t^T}``, exact."""
        b = self._batch(batch)
        err = b.nxt - b.prev @ self._W(params).T
        return {"W": -(err.T @ b.prev) / len(b)}

    def population_gradient(self, params) -> tuple[dict, None]:
        """``({"W": -(A - W) P}, None)``: exact."""
        return {"W": self.task.gradient(self._W(params))}, None

    def population_loss(self, params) -> float:
        """``L(W) = 1/2 tr((A - W) P (A - W)^T) + 1/2 tr(Q)``, exact (state^2)."""
        return self.task.loss(self._W(params))
