"""Pointwise activation functions of rate neurons, with their derivatives.

Every activation ``f`` comes with its derivative ``f'`` written as a function of the
pre-activation ``u`` (not of the activity ``f(u)``): backpropagation and the local rules
then need to keep only ``u``, and the derivative of ``relu`` cannot be recovered from its
output at ``u = 0`` anyway.

Each activation also has a small integer ``code``: compiled kernels receive this code
instead of a Python callable (kernels take arrays and scalars only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from plasticity.errors import InvalidParameterError

__all__ = ["ACTIVATIONS", "Activation", "activation_names", "get_activation"]


class Activation(NamedTuple):
    """A pointwise nonlinearity and its derivative.

    Attributes
    ----------
    name : str
        The registry key, e.g. ``"tanh"``.
    f : callable
        ``f(u) -> ndarray``, the activity for pre-activation ``u`` (any shape, float64).
    df : callable
        ``df(u) -> ndarray``, the derivative ``f'(u)``, same shape as ``u``.
    code : int
        The integer code compiled kernels use for this activation.
    """

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    code: int


def _linear(u):
    return np.array(u, dtype=np.float64, copy=True)


def _linear_df(u):
    return np.ones_like(u, dtype=np.float64)


def _tanh(u):
    return np.tanh(u)


def _tanh_df(u):
    t = np.tanh(u)
    return 1.0 - t * t


def _sigmoid(u):
    # Written through tanh because 1 / (1 + exp(-u)) overflows exp for u << 0; the same
    # formula is used by the kernels so that they agree with NumPy to rounding.
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def _sigmoid_df(u):
    s = _sigmoid(u)
    return s * (1.0 - s)


def _relu(u):
    return np.maximum(u, 0.0)


def _relu_df(u):
    # The subgradient at exactly u = 0 is taken as 0 (a silent unit does not learn).
    return (np.asarray(u) > 0.0).astype(np.float64)


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation("linear", _linear, _linear_df, 0),
    "tanh": Activation("tanh", _tanh, _tanh_df, 1),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_df, 2),
    "relu": Activation("relu", _relu, _relu_df, 3),
}


def activation_names() -> tuple[str, ...]:
    """The names of the known activations, in registry order."""
    return tuple(ACTIVATIONS)


def get_activation(name: str) -> Activation:
    """Look up an activation by name.

    Parameters
    ----------
    name : str
        One of :func:`activation_names` (``"linear"``, ``"tanh"``, ``"sigmoid"``,
        ``"relu"``).

    Returns
    -------
    Activation

    Raises
    ------
    InvalidParameterError
        When ``name`` is unknown; the message lists the known names.
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(k) for k in ACTIVATIONS)
        raise InvalidParameterError(
            f"Unknown activation {name!r}; known activations: {known}."
        ) from None
