"""Rate substrates: feedforward and recurrent rate networks and their activations.

Importing this package does not import Numba; the recurrent kernel is compiled on the
first call of :meth:`RecurrentRate.run`.
"""

from plasticity.substrates.activations import (
    ACTIVATIONS,
    Activation,
    activation_names,
    get_activation,
)
from plasticity.substrates.energy import EnergyNetwork
from plasticity.substrates.feedforward import LOSS_KINDS, Activity, Backprop, FeedForward
from plasticity.substrates.recurrent import RecurrentRate

__all__ = [
    "ACTIVATIONS",
    "LOSS_KINDS",
    "Activation",
    "Activity",
    "Backprop",
    "EnergyNetwork",
    "FeedForward",
    "RecurrentRate",
    "activation_names",
    "get_activation",
]
