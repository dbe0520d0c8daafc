"""Spiking networks: one model description, several backends.

Build a :class:`Network` from groups (:class:`LIF`, :class:`Izhikevich`,
:class:`TwoCompartment`, :class:`PoissonGroup`, :class:`SpikeGenerator`) and projections
(:class:`Synapses`, plastic with :class:`PairSTDP`, :class:`TripletSTDP`, the
dopamine-modulated :class:`RewardSTDP` or, onto a dendrite, :class:`DendriticPrediction`),
then simulate it with :func:`simulator` (``backend="numba"``, the fast default, or
``"brian2"``, the reference). Every backend is a :class:`Simulator` subclass in its own
package (:mod:`plasticity.spiking.numba`, :mod:`plasticity.spiking.brian2`), listed in
:mod:`plasticity.spiking.backends`.
"""

# The base class first: importing the module plasticity.spiking.simulator sets this
# package's attribute "simulator" to that module, and the function imported below must
# replace it (``plasticity.spiking.simulator`` is the function).
from plasticity.spiking.base import Simulator  # noqa: I001

from plasticity.spiking.backends import BACKENDS, backend_class, simulator
from plasticity.spiking.network import (
    LIF,
    DendriticPrediction,
    Izhikevich,
    Network,
    PairSTDP,
    PoissonGroup,
    RewardSTDP,
    SpikeGenerator,
    Synapses,
    TripletSTDP,
    TwoCompartment,
)
from plasticity.spiking.results import Recording, SimResult
from plasticity._config import threads as engine_threads

__all__ = ["LIF", "Izhikevich", "Network", "PairSTDP", "PoissonGroup", "RewardSTDP",
           "SpikeGenerator", "Synapses", "TripletSTDP", "TwoCompartment", "DendriticPrediction",
           "Recording", "SimResult", "Simulator", "simulator", "backend_class", "BACKENDS",
           "engine_threads"]
