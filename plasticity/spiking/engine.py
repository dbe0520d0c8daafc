"""Deprecated: the Numba engine moved to :mod:`plasticity.spiking.numba` (its
connectivity helpers to :mod:`plasticity.spiking.connectivity`). This module re-exports
the old names for one release and warns when imported; build simulators with
:func:`plasticity.spiking.simulator` or import
:class:`plasticity.spiking.numba.NumbaSimulator`. The constants are copies: the packing
reads them from :mod:`plasticity.spiking.numba.pack`, so set them there.
"""

import warnings

from plasticity.spiking.connectivity import build_connectivity, initial_weights
from plasticity.spiking.numba.pack import (
    DEFER_MIN_POST,
    POST_HISTORY_MIN,
    POST_HISTORY_PER_NEURON,
    POW_TABLE_LEN,
    step_response,
)
from plasticity.spiking.numba.simulator import CHUNK_STEPS, NumbaSimulator

__all__ = ["NumbaSimulator", "build_connectivity", "initial_weights", "step_response",
           "CHUNK_STEPS", "DEFER_MIN_POST", "POST_HISTORY_MIN", "POST_HISTORY_PER_NEURON",
           "POW_TABLE_LEN"]

warnings.warn("plasticity.spiking.engine is deprecated; use plasticity.spiking.numba "
              "(NumbaSimulator) or plasticity.spiking.simulator(net, backend='numba')",
              DeprecationWarning, stacklevel=2)
