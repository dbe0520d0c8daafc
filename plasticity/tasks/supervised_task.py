"""The interface of a supervised task: data, a stated loss and its exact gradient.

Subclasses (:mod:`plasticity.tasks.teachers`, :mod:`plasticity.tasks.digits`) fill in the
data; the loss a rule is judged against is the one stated in each class's docstring.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.substrates.feedforward import FeedForward
from plasticity.tasks.batch import Batch

__all__ = ["SupervisedTask"]


def _generator(rng):
    """``rng`` as a Generator (an int or None seeds a new one; a Generator is used as is)."""
    return np.random.default_rng(rng)


def _count(name, value, minimum=1):
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise InvalidParameterError(f"The '{name}' parameter must be an integer >= {minimum}. "
                                    f"Got {value!r}.")
    return int(value)


class SupervisedTask:
    """The interface every supervised task implements (subclasses fill in the data).

    Attributes
    ----------
    n_inputs, n_outputs : int
    loss_kind : {"mse", "cross_entropy"}
    """

    n_inputs: int
    n_outputs: int
    loss_kind: str

    def batch(self, n, rng) -> Batch:
        """Draw ``n`` training samples: ``Batch(x=(n, n_inputs), target=...)``."""
        raise NotImplementedError

    def evaluate(self, net, params, rng=None) -> dict:
        """Held-out performance; see the subclass."""
        raise NotImplementedError

    def loss(self, net: FeedForward, params: dict, batch: Batch) -> float:
        """The task loss of ``net`` with ``params`` on ``batch`` (dimensionless).

        Parameters
        ----------
        net : FeedForward
            A network with ``n_inputs`` inputs and ``n_outputs`` outputs.
        params : dict of str to ndarray
        batch : Batch
            ``x`` of shape ``(B, n_inputs)`` and the task's targets.

        Returns
        -------
        float
            The batch mean of the per-sample loss stated in the class docstring.
        """
        return net.loss(params, batch.x, batch.target, kind=self.loss_kind)

    def gradient(self, net: FeedForward, params: dict, batch: Batch) -> dict:
        """The exact gradient of :meth:`loss` at ``params`` on the same ``batch``.

        Returns
        -------
        dict of str to ndarray
            Same keys and shapes as ``params`` (units: loss per parameter unit).
        """
        return net.loss_and_grad(params, batch.x, batch.target, kind=self.loss_kind)[1]

    def loss_and_gradient(self, net, params, batch) -> tuple[float, dict]:
        """:meth:`loss` and :meth:`gradient` from one forward and backward pass."""
        return net.loss_and_grad(params, batch.x, batch.target, kind=self.loss_kind)

    def signals(self, net, params, batch) -> dict:
        """The network's local signals on ``batch.x`` plus ``"target"`` (``batch.target``).

        This is the ``signals(params, batch)`` callable the engine needs, once ``net`` is
        bound; supervised rules (backprop, feedback alignment, node perturbation) read
        ``signals["input"]`` and ``signals["target"]``.
        """
        out = net.signals(params, batch.x)
        out["target"] = batch.target
        return out

    def student(self, hidden=(), activation: str = "tanh", **kwargs) -> FeedForward:
        """A network that fits the task: ``sizes = [n_inputs, *hidden, n_outputs]``.

        Parameters
        ----------
        hidden : int or sequence of int
            Hidden layer widths (empty: a single linear layer).
        activation : str
            The hidden activation; the output layer is linear (for ``"cross_entropy"`` its
            pre-activation is the logits).
        **kwargs
            Passed to :class:`FeedForward` (``bias``, ``init_scale``).
        """
        hidden = [int(hidden)] if np.ndim(hidden) == 0 else [int(h) for h in hidden]
        sizes = [self.n_inputs, *hidden, self.n_outputs]
        acts = [activation] * len(hidden) + ["linear"]
        return FeedForward(sizes=sizes, activations=acts, **kwargs)

    def _check_net(self, net):
        sizes = list(getattr(net, "sizes", []))
        if not sizes or sizes[0] != self.n_inputs or sizes[-1] != self.n_outputs:
            raise InvalidParameterError(
                f"The network has sizes {sizes}; {type(self).__name__} needs "
                f"{self.n_inputs} inputs and {self.n_outputs} outputs.")

