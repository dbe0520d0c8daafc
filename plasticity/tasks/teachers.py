"""Regression onto a fixed random network: :class:`LinearTeacher` (a linear map) and
:class:`TanhTeacher` (a one-hidden-layer tanh network, the teacher-student task); inputs
``x ~ N(0, I)``, loss ``mean_b 0.5 * ||y_b - y*_b||^2``.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.substrates.feedforward import FeedForward
from plasticity.tasks.batch import Batch
from plasticity.tasks.supervised_task import SupervisedTask, _count, _generator

__all__ = ["LinearTeacher", "TanhTeacher"]


class _Teacher(SupervisedTask):
    """Regression onto a fixed random network ``teacher_net`` with ``teacher_params``.

    Loss: ``L = mean_b 0.5 * ||y_b - y*_b||^2`` with ``y`` the student's output and
    ``y* = teacher(x) + noise * N(0, I)``, ``x ~ N(0, I)``.
    """

    loss_kind = "mse"

    def _setup(self, teacher_net, rng, noise, n_eval):
        self.noise = float(noise)
        if not np.isfinite(self.noise) or self.noise < 0:
            raise InvalidParameterError(f"The 'noise' parameter must be >= 0. Got {noise!r}.")
        self.teacher_net = teacher_net
        self.teacher_params = teacher_net.init_params(rng)
        # The evaluation set gets its own stream, drawn after the teacher, so that its
        # size does not change the teacher a given seed produces.
        eval_rng = np.random.default_rng(rng.integers(2**63))
        self.eval_batch = self.batch(_count("n_eval", n_eval), eval_rng)

    def batch(self, n, rng) -> Batch:
        """Draw ``n`` samples ``x ~ N(0, I)`` with the teacher's (noisy) outputs.

        Returns
        -------
        Batch
            ``x`` of shape ``(n, n_inputs)``, ``target`` of shape ``(n, n_outputs)``.
        """
        n = _count("n", n)
        x = rng.standard_normal((n, self.n_inputs))
        y = self.teacher_net.forward(self.teacher_params, x).output
        if self.noise > 0:
            y = y + self.noise * rng.standard_normal(y.shape)
        return Batch(x=x, target=y)

    def evaluate(self, net, params, rng=None) -> dict:
        """The loss on the task's fixed evaluation set (``n_eval`` samples).

        Parameters
        ----------
        net, params
            The student.
        rng : ignored
            Accepted for a uniform interface; the evaluation set is fixed at construction.

        Returns
        -------
        dict
            ``{"loss": L}``, the loss of the class docstring on the evaluation set (its
            targets carry the same label noise as training batches).
        """
        self._check_net(net)
        return {"loss": self.loss(net, params, self.eval_batch)}


class LinearTeacher(_Teacher):
    """Linear teacher-student regression.

    The teacher is ``y* = W* x`` (no bias) with ``W*`` of shape ``(n_outputs, n_inputs)``
    drawn from ``N(0, 1/n_inputs)``, so each target has unit variance; inputs are
    ``x ~ N(0, I)``; targets get ``noise * N(0, I)`` added.

    Loss: ``L = mean_b 0.5 * ||y_b - y*_b||^2`` over a batch, ``y`` the student's output.
    A student ``FeedForward(sizes=[n_inputs, n_outputs], activations=["linear"])`` at
    ``teacher_params`` has zero loss when ``noise == 0``.

    Parameters
    ----------
    n_inputs, n_outputs : int
    rng : numpy.random.Generator or int
        Draws the teacher and then the fixed evaluation set.
    noise : float, default 0.0
        Standard deviation of the label noise (output units).
    n_eval : int, default 4096
        Size of the fixed evaluation set of :meth:`evaluate`.

    Attributes
    ----------
    teacher_net : FeedForward
    teacher_params : dict of str to ndarray
        ``{"W_out": W*, "b_out": zeros}``.
    eval_batch : Batch
    """

    def __init__(self, n_inputs, n_outputs, rng, noise=0.0, *, n_eval=4096):
        self.n_inputs = _count("n_inputs", n_inputs)
        self.n_outputs = _count("n_outputs", n_outputs)
        rng = _generator(rng)
        net = FeedForward(sizes=[self.n_inputs, self.n_outputs], activations=["linear"])
        self._setup(net, rng, noise, n_eval)


class TanhTeacher(_Teacher):
    """Nonlinear teacher-student regression: a random tanh network is the teacher.

    The teacher is ``y* = W2 tanh(W1 x)`` with ``W1`` of shape ``(n_hidden, n_inputs)``
    drawn from ``N(0, 1/n_inputs)`` and ``W2`` of shape ``(n_outputs, n_hidden)`` from
    ``N(0, 1/n_hidden)``, zero biases (so hidden pre-activations have unit variance and the
    tanh units work in their nonlinear range); inputs ``x ~ N(0, I)``.

    Loss: ``L = mean_b 0.5 * ||y_b - y*_b||^2`` over a batch. A student with the teacher's
    architecture (``teacher_net``) at ``teacher_params`` has zero loss when ``noise == 0``.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
    rng : numpy.random.Generator or int
        Draws the teacher and then the fixed evaluation set.
    noise : float, default 0.0
        Standard deviation of the label noise (output units).
    n_eval : int, default 4096
        Size of the fixed evaluation set of :meth:`evaluate`.

    Attributes
    ----------
    teacher_net : FeedForward
        ``FeedForward(sizes=[n_inputs, n_hidden, n_outputs], activations="tanh")``.
    teacher_params : dict of str to ndarray
    eval_batch : Batch
    """

    def __init__(self, n_inputs, n_hidden, n_outputs, rng, *, noise=0.0, n_eval=4096):
        self.n_inputs = _count("n_inputs", n_inputs)
        self.n_hidden = _count("n_hidden", n_hidden)
        self.n_outputs = _count("n_outputs", n_outputs)
        rng = _generator(rng)
        net = FeedForward(sizes=[self.n_inputs, self.n_hidden, self.n_outputs],
                          activations="tanh")
        self._setup(net, rng, noise, n_eval)

