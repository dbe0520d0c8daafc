"""The problem predictive coding is judged on: a feedforward network's squared output
error on scikit-learn's digits, whose population is the finite training set.

A predictive coding network (:class:`~plasticity.rules.predictive_coding.PredictiveCoding`)
with the output weakly nudged towards the target descends, to first order in the nudging
strength, the squared output error of its feedforward pass,

    L(params; B) = mean_{b in B} 0.5 |y_b(params) - onehot(label_b)|^2,

not the task's own cross-entropy (:class:`~plasticity.tasks.Digits`). This problem states
that loss and its oracle. The population is the training set itself (a finite set: every
minibatch is a uniform draw from it), so the population loss is ``L`` on all training
images and its gradient is exact (``se`` is ``None``); the test set plays no part.
"""

from __future__ import annotations

import functools

import numpy as np

from plasticity.errors import ProblemError
from plasticity.problems.base import Problem

__all__ = ["DigitsSquaredError"]


@functools.cache
def _blas():
    """The process's BLAS thread pools (threadpoolctl, which scikit-learn, and so the
    digits task, depends on), inspected once."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class DigitsSquaredError(Problem):
    """Squared output error of a feedforward network on the digits training set.

    Parameters
    ----------
    task : plasticity.tasks.Digits
        The data (its fixed train/test split); batches are drawn from ``task.x_train``.
    net : plasticity.substrates.FeedForward
        The network; its output must have ``task.n_outputs`` (10) units and a linear
        output activation is what predictive coding assumes (not checked here).

    Notes
    -----
    ``batch`` is the task's :meth:`~plasticity.tasks.Digits.batch` (``x`` of shape
    ``(n, 64)``, int labels ``target`` of shape ``(n,)``); the methods also accept a
    batch whose ``target`` is already one-hot, shape ``(n, 10)``, as the rules' signals
    carry it. ``signals`` are ``{"input": x, "target": onehot}``. Losses are
    dimensionless (squared output units); gradients are per parameter unit.
    """

    name = "digits-squared-error"
    substrate = "feedforward"

    def __init__(self, task, net):
        n_out = int(task.n_outputs)
        if net.sizes[0] != task.n_inputs or net.sizes[-1] != n_out:
            raise ProblemError(f"Problem {self.name!r}: the network's sizes {net.sizes} do "
                               f"not fit the digits ({task.n_inputs} inputs, {n_out} "
                               f"classes).")
        self.task, self.net = task, net
        self._eye = np.eye(n_out)
        self._x_pop = task.x_train
        self._t_pop = self._eye[task.y_train]

    def _onehot(self, target):
        t = np.asarray(target)
        if t.ndim == 1:
            return self._eye[t]
        return np.asarray(t, dtype=np.float64)

    def init_params(self, rng) -> dict:
        return self.net.init_params(rng)

    def batch(self, n, rng):
        return self.task.batch(n, rng)

    def signals(self, params, batch) -> dict:
        return {"input": batch.x, "target": self._onehot(batch.target)}

    def loss(self, params, batch) -> float:
        return float(self.net.loss(params, batch.x, self._onehot(batch.target), kind="mse"))

    def batch_gradient(self, params, batch) -> dict:
        return self.net.loss_and_grad(params, batch.x, self._onehot(batch.target),
                                      kind="mse")[1]

    # The population passes run BLAS on one thread: their products (1,347 x 64 by 64 x 32
    # and smaller) are too small to gain from threads, and on a busy 2-core machine
    # OpenBLAS's spinning threads made one gradient cost 36 ms instead of 2.9 ms
    # (measured), which tripled pc-vs-backprop's quick run.

    def population_gradient(self, params) -> tuple[dict, None]:
        """The gradient over the whole training set: exact, so ``se`` is ``None``."""
        with _blas().limit(limits=1, user_api="blas"):
            grad = self.net.loss_and_grad(params, self._x_pop, self._t_pop, kind="mse")[1]
        return grad, None

    def population_loss(self, params) -> float:
        with _blas().limit(limits=1, user_api="blas"):
            return float(self.net.loss(params, self._x_pop, self._t_pop, kind="mse"))
