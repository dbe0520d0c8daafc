"""Spiking networks: one model description, two backends (Numba engine and Brian2).

Build a :class:`Network` from groups (:class:`LIF`, :class:`Izhikevich`,
:class:`TwoCompartment`, :class:`PoissonGroup`, :class:`SpikeGenerator`) and projections
(:class:`Synapses`, plastic with :class:`PairSTDP`, :class:`TripletSTDP`, the
dopamine-modulated :class:`RewardSTDP` or, onto a dendrite, :class:`DendriticPrediction`),
then simulate it with :func:`simulator`
(``backend="numba"``, the fast default, or ``"brian2"``, the reference).
"""

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

__all__ = ["LIF", "Izhikevich", "Network", "PairSTDP", "PoissonGroup", "RewardSTDP",
           "SpikeGenerator", "Synapses", "TripletSTDP", "TwoCompartment", "DendriticPrediction",
           "Recording", "SimResult", "simulator", "BACKENDS"]

BACKENDS = ("numba", "brian2")


def simulator(net, *, backend="numba", seed=0, recording=None, **options):
    """A simulator of ``net`` on ``backend`` ("numba" or "brian2"; Brian2 options such as
    ``target="cython"|"numpy"|"cpp_standalone"`` pass through)."""
    if backend == "numba":
        from plasticity.spiking.engine import NumbaSimulator

        if options:
            raise TypeError(f"unexpected options for the numba backend: {sorted(options)}")
        return NumbaSimulator(net, seed=seed, recording=recording)
    if backend == "brian2":
        from plasticity.spiking.brian2_backend import Brian2Simulator

        return Brian2Simulator(net, seed=seed, recording=recording, **options)
    from plasticity.errors import InvalidParameterError

    raise InvalidParameterError(f"The 'backend' must be one of {', '.join(BACKENDS)}. "
                                f"Got {backend!r}.")
