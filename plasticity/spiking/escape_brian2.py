"""Deprecated: the Brian2 escape-noise trials moved to
:mod:`plasticity.spiking.brian2.escape`. This module re-exports them for one release and
warns when imported.
"""

import warnings

from plasticity.spiking.brian2.escape import (
    RUNTIME_TARGETS,
    Brian2EscapeTrials,
    brian2_trial,
    score_of_spikes,
)

__all__ = ["Brian2EscapeTrials", "RUNTIME_TARGETS", "brian2_trial", "score_of_spikes"]

warnings.warn("plasticity.spiking.escape_brian2 is deprecated; use "
              "plasticity.spiking.brian2.escape", DeprecationWarning, stacklevel=2)
