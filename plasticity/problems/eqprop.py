"""The problem equilibrium propagation is judged on: the free-phase cost of an energy-based
network (:class:`~plasticity.substrates.energy.EnergyNetwork`) on a classification
training set, with recurrent backpropagation as its exact gradient.

Loss: ``L(theta; B) = mean_{b in B} 1/2 |s*_L(x_b; theta) - onehot(y_b)|^2``, ``s*`` the
free fixed point (``beta = 0``) of the network on input ``x_b``. Its gradient is exact
up to the relaxation's and the adjoint solve's tolerances (implicit differentiation at
the fixed point, :meth:`~plasticity.substrates.energy.EnergyNetwork.recurrent_backprop`);
``tests/test_eqprop.py`` checks it against central differences of the free-phase cost
with :func:`plasticity.testing.check_grads`. The population is the training set itself
(every minibatch is a uniform draw from it), so the population gradient is exact too
(``se`` is ``None``); the test set plays no part in it.
"""

from __future__ import annotations

import numpy as np

from plasticity.problems.base import Problem

__all__ = ["EqPropProblem"]


class EqPropProblem(Problem):
    """Free-phase squared output error of an energy network on a training set.

    Parameters
    ----------
    net : plasticity.substrates.energy.EnergyNetwork
        Its input width must match ``x_train``'s columns and its output width the number
        of classes.
    x_train : array_like, shape (n, n_0)
    y_train : array_like of int, shape (n,)
        Labels ``0 .. n_L - 1``.
    x_test, y_test : array_like, optional
        A held-out set for :meth:`accuracy` (not part of the oracle).
    name : str, default "energy-squared-error"
        Recorded in run files and summaries.

    Notes
    -----
    ``batch(n, rng)`` draws ``n`` training rows (without replacement where possible) as a
    :class:`~plasticity.tasks.batch.Batch` (``x`` (n, n_0), int labels ``target`` (n,));
    ``signals`` are ``{"input": x, "target": onehot}``. Losses are dimensionless.
    """

    substrate = "energy"

    def __init__(self, net, x_train, y_train, *, x_test=None, y_test=None,
                 name="energy-squared-error"):
        self.name = str(name)
        self.net = net
        x = np.asarray(x_train, dtype=np.float64)
        y = np.asarray(y_train)
        n_out = net.sizes[-1]
        if x.ndim != 2 or x.shape[1] != net.sizes[0] or x.shape[0] < 1:
            self._fail(f": x_train has shape {x.shape}; the network has {net.sizes[0]} "
                       "inputs.")
        if y.shape != (x.shape[0],) or y.dtype.kind not in "iu" or y.min() < 0 \
                or y.max() >= n_out:
            self._fail(f": y_train must be {x.shape[0]} integer labels in 0..{n_out - 1}.")
        self.x_train, self.y_train = x, y.astype(np.int64)
        self.x_test = None if x_test is None else np.asarray(x_test, dtype=np.float64)
        self.y_test = None if y_test is None else np.asarray(y_test, dtype=np.int64)
        self._eye = np.eye(n_out)

    @classmethod
    def from_task(cls, net, task, **kw):
        """From a task with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (e.g.
        :class:`~plasticity.tasks.Digits`)."""
        return cls(net, task.x_train, task.y_train, x_test=task.x_test, y_test=task.y_test,
                   **kw)

    def _onehot(self, target):
        t = np.asarray(target)
        return self._eye[t] if t.ndim == 1 else np.asarray(t, dtype=np.float64)

    def init_params(self, rng) -> dict:
        return self.net.init_params(rng)

    def batch(self, n, rng):
        from plasticity.tasks.batch import Batch

        n = self._batch_size(n)
        rows = rng.choice(self.y_train.size, size=n, replace=n > self.y_train.size)
        return Batch(x=self.x_train[rows], target=self.y_train[rows])

    def signals(self, params, batch) -> dict:
        return {"input": batch.x, "target": self._onehot(batch.target)}

    def loss(self, params, batch) -> float:
        return self.net.loss(params, batch.x, self._onehot(batch.target))

    def batch_gradient(self, params, batch) -> dict:
        return self.net.loss_and_grad(params, batch.x, self._onehot(batch.target))[1]

    def population_gradient(self, params) -> tuple[dict, None]:
        """Recurrent backprop over the whole training set: exact, so ``se`` is ``None``."""
        return self.net.loss_and_grad(params, self.x_train, self._eye[self.y_train])[1], None

    def population_loss(self, params) -> float:
        return self.net.loss(params, self.x_train, self._eye[self.y_train])

    def accuracy(self, params, which="test") -> float:
        """Fraction of ``which`` ("test" or "train") samples classified right, in [0, 1]."""
        x, y = (self.x_test, self.y_test) if which == "test" else (self.x_train,
                                                                    self.y_train)
        if x is None:
            self._fail(": no test set was given.")
        return float(np.mean(self.net.predict(params, x) == y))
