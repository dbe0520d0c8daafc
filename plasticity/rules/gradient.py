"""Gradient-based reference rules: backpropagation (SGD) and feedback alignment.

Backpropagation is the reference every other rule is compared with: its update is exactly
``-eta`` times the gradient of the task loss on the current batch. Feedback alignment
(Lillicrap et al. 2016) computes the same forward pass and the same output error, but
sends the error down through fixed random matrices ``B`` instead of the transposed forward
weights; its last-layer update is therefore the true gradient step, and its hidden-layer
updates follow the gradient only insofar as the forward weights come to align with ``B``.

Both read the batch from the local signals ``signals["input"]`` (shape ``(B, n_in)`` or
``(n_in,)``) and ``signals["target"]`` (the task's targets), which
:meth:`plasticity.tasks.supervised.SupervisedTask.signals` provides.

References
----------
Rumelhart, D. E., Hinton, G. E., & Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature 323, 533-536.
Lillicrap, T. P., Cownden, D., Tweed, D. B., & Akerman, C. J. (2016). Random synaptic
    feedback weights support error backpropagation for deep learning. Nature
    Communications 7, 13276.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules.base import Rule
from plasticity.substrates.feedforward import FeedForward

__all__ = ["Backprop", "FeedbackAlignment"]


def _batch(rule, signals):
    """``(x, target)`` from the signals, or a RuleError naming the missing signal."""
    for key in ("input", "target"):
        if key not in signals or signals[key] is None:
            known = ", ".join(sorted(signals)) or "none"
            raise RuleError(f"Rule {rule.name} needs the signal '{key}' (available: "
                            f"{known}); build signals with task.signals(net, params, batch).")
    return signals["input"], signals["target"]


class Backprop(Rule):
    """Stochastic gradient descent with the exact gradient (backpropagation).

    ``delta = -eta * dL/dparams`` with ``L`` the batch-mean loss of kind ``loss_kind`` on
    ``(signals["input"], signals["target"])``, computed by
    :meth:`FeedForward.loss_and_grad`.

    Parameters
    ----------
    net : FeedForward
        The substrate whose loss is differentiated.
    eta : float > 0, default 0.05
        Learning rate (parameter units per unit of gradient).
    loss_kind : {"mse", "cross_entropy"}, default "mse"
        The task's loss (``task.loss_kind``).

    Notes
    -----
    State: ``None``. One forward and one backward pass of the batch per update.
    """

    name: ClassVar[str] = "backprop"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward",)

    net: FeedForward
    eta: float = Field(0.05, gt=0, allow_inf_nan=False, description="learning rate")
    loss_kind: Literal["mse", "cross_entropy"] = "mse"

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``({name: -eta * grad[name]}, state)``."""
        x, target = _batch(self, signals)
        _, grad = self.net.loss_and_grad(params, x, target, kind=self.loss_kind)
        return self.delta_from_gradient(grad, state)

    def delta_from_gradient(self, grad, state):
        """:meth:`update`'s result from the gradient it computes, ``({name: -eta *
        grad[name]}, state)``.

        :func:`plasticity.analysis.measured` calls it with its oracle's exact batch
        gradient (the same gradient at the same parameters), so that a measured run does
        not compute it twice; it checks that the result equals :meth:`update`'s.
        """
        return {k: -self.eta * g for k, g in grad.items()}, state


class FeedbackAlignment(Rule):
    """Feedback alignment: the error travels down through fixed random matrices.

    For each weight ``W`` above the first layer, a matrix ``B`` of ``W.T``'s shape
    ``(n_in, n_out)`` is drawn once, from ``N(0, scale**2 / n_in)`` (``n_in`` being ``W``'s
    fan-in; with ``scale = 1`` ``B`` has the statistics of a freshly initialised
    ``W.T``), and replaces ``W.T`` in the backward pass:
    ``delta_below = (delta @ B.T) * f'(u_below)``. The update is ``-eta`` times the
    resulting direction, so the output layer's update equals backprop's and hidden layers
    receive ``B``-projected errors.

    Parameters
    ----------
    net : FeedForward
    eta : float > 0, default 0.05
        Learning rate.
    seed : int, default 0
        Seeds the draw of ``B`` in :meth:`init` (the feedback is part of the rule's
        identity, not of the per-update noise, so it has its own seed). A run should
        derive it from its own seed stream, so that runs over seeds draw different ``B``:
        experiments pass e.g. ``int(ctx.child_rng().integers(2**31))``, and
        :func:`~plasticity.rules.resolve.resolve_rule` passes its ``seed`` argument.
    scale : float > 0, default 1.0
        Scale of the feedback entries (see above).
    loss_kind : {"mse", "cross_entropy"}, default "mse"

    Notes
    -----
    State: ``{"feedback": {W: B}}`` for ``W`` in ``net.weight_names()[1:]``; it is never
    changed by :meth:`update`. A state whose ``B`` are the transposed forward weights
    reproduces backprop exactly.
    """

    name: ClassVar[str] = "feedback_alignment"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward",)

    net: FeedForward
    eta: float = Field(0.05, gt=0, allow_inf_nan=False, description="learning rate")
    seed: int = Field(0, ge=0, description="seed of the fixed random feedback matrices")
    scale: float = Field(1.0, gt=0, allow_inf_nan=False,
                         description="scale of the feedback entries")
    loss_kind: Literal["mse", "cross_entropy"] = "mse"

    def init(self, params):
        """Draw the fixed feedback matrices.

        Returns
        -------
        dict
            ``{"feedback": {W: ndarray of shape params[W].T.shape}}`` for every weight
            above the first layer.
        """
        rng = np.random.default_rng(self.seed)
        shapes = self.net.param_shapes()
        feedback = {}
        for w in self.net.weight_names()[1:]:
            n_out, n_in = shapes[w]
            feedback[w] = rng.standard_normal((n_in, n_out)) * (self.scale / np.sqrt(n_in))
        return {"feedback": feedback}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * the feedback-alignment direction, state)``."""
        if not isinstance(state, dict) or "feedback" not in state:
            raise RuleError(f"Rule {self.name} expects the state made by init(params), a "
                            "dict with key 'feedback'.")
        x, target = _batch(self, signals)
        try:
            result = self.net.backprop(params, x, target, kind=self.loss_kind,
                                       feedback=state["feedback"])
        except ValueError as exc:
            raise RuleError(f"Rule {self.name}: {exc}") from None
        return {k: -self.eta * g for k, g in result.grads.items()}, state
