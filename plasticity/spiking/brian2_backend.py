"""Deprecated: the Brian2 backend moved to the package :mod:`plasticity.spiking.brian2`.
This module re-exports the old names for one release and warns when imported; build
simulators with :func:`plasticity.spiking.simulator` or import
:class:`plasticity.spiking.brian2.Brian2Simulator`.
"""

import warnings

from plasticity.spiking.brian2.simulator import CHUNK_STEPS, Brian2Simulator
from plasticity.spiking.brian2.synapses import brian2_synapse_bytes
from plasticity.spiking.brian2.targets import TARGETS
from plasticity.spiking.brian2.targets import import_brian2 as _import_brian2  # noqa: F401
from plasticity.spiking.brian2.targets import prefs as _prefs  # noqa: F401
from plasticity.spiking.brian2.targets import quiet as _quiet  # noqa: F401
from plasticity.spiking.brian2.targets import resolve_target as _resolve_target  # noqa: F401

__all__ = ["Brian2Simulator", "brian2_synapse_bytes", "TARGETS", "CHUNK_STEPS"]

warnings.warn("plasticity.spiking.brian2_backend is deprecated; use plasticity.spiking.brian2 "
              "(Brian2Simulator) or plasticity.spiking.simulator(net, backend='brian2')",
              DeprecationWarning, stacklevel=2)
