"""The Brian2 backend: the reference the Numba engine is checked against.

- :mod:`.simulator`: :class:`Brian2Simulator` (building the ``brian2.Network``,
  running it in chunks or as one C++ standalone program, weights and modulators);
- :mod:`.neurons`: the Brian2 model of each neuron group kind;
- :mod:`.synapses`: the equations of each projection kind (pair, triplet and
  reward-modulated STDP), the dopamine group, and the memory a projection takes;
- :mod:`.record`: the monitors of a run and the :class:`SimResult` made from them;
- :mod:`.targets`: importing Brian2, its code-generation targets, running it quietly;
- :mod:`.streams`: object names and random streams shared by simulators in one process;
- :mod:`.escape`: trials of the escape-noise neurons of the ``spiking-alignment``
  experiment (not a network simulator).

Nothing here imports Brian2 until a simulator is built.
"""

from plasticity.spiking.brian2.simulator import Brian2Simulator
from plasticity.spiking.brian2.synapses import brian2_synapse_bytes
from plasticity.spiking.brian2.targets import TARGETS

__all__ = ["Brian2Simulator", "TARGETS", "brian2_synapse_bytes"]
