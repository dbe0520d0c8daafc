"""The Numba backend: the project's compiled spiking engine.

- :mod:`.simulator`: :class:`NumbaSimulator`, running the compiled step loop and holding
  the state (weights, modulators, checkpoints);
- :mod:`.pack`: the network packed into the loop's flat arrays (and the memory each
  projection takes);
- :mod:`.record`: the buffers one run fills and the :class:`SimResult` made from them.
"""

from plasticity.spiking.numba.simulator import NumbaSimulator

__all__ = ["NumbaSimulator"]
