"""What a pass through a layered rate network returns: the forward pass's
:class:`Activity` and the backward pass's :class:`Backprop`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Activity", "Backprop"]


@dataclass(frozen=True)
class Activity:
    """The result of a forward pass: every layer's pre-activation and activity.

    Attributes
    ----------
    inputs : ndarray, shape (n_in,) or (B, n_in)
        The input, as float64.
    pre : tuple of ndarray
        ``pre[l]`` is the pre-activation ``u = W h + b`` of layer ``l + 1``, shape
        ``(n_{l+1},)`` or ``(B, n_{l+1})``.
    post : tuple of ndarray
        ``post[l] = f(pre[l])``, the activity of layer ``l + 1``, same shape as ``pre[l]``.
    names : tuple of str
        The signal name of each layer: ``("hidden1", ..., "output")``.
    """

    inputs: np.ndarray
    pre: tuple[np.ndarray, ...]
    post: tuple[np.ndarray, ...]
    names: tuple[str, ...]

    @property
    def output(self) -> np.ndarray:
        """The network output ``post[-1]``, shape ``(n_out,)`` or ``(B, n_out)``."""
        return self.post[-1]


@dataclass(frozen=True)
class Backprop:
    """The result of a backward pass.

    Attributes
    ----------
    loss : float
        The loss, averaged over the batch.
    grads : dict of str to ndarray
        One array per parameter, same keys and shapes as the parameters. Without
        ``feedback`` this is the exact gradient of ``loss``; with ``feedback`` it is the
        update direction that the substituted feedback matrices produce (equal to the
        gradient only in the output layer).
    deltas : dict of str to ndarray
        ``dL/du`` of each layer's pre-activation, keyed by the layer's signal name
        (``"hidden1"``, ..., ``"output"``), shape ``(n_l,)`` or ``(B, n_l)``. Because the
        loss is a batch mean, each row carries the factor ``1/B``, so that
        ``grads[W] = deltas[post].T @ signals[pre]`` for batches.
    activity : Activity
        The forward pass the deltas were computed from.
    """

    loss: float
    grads: dict[str, np.ndarray]
    deltas: dict[str, np.ndarray]
    activity: Activity
