"""The description of a spiking network, shared by every backend.

A :class:`Network` is plain, validated data: neuron groups (:mod:`.neurons`:
:class:`LIF`, :class:`Izhikevich`, :class:`TwoCompartment`, :class:`PoissonGroup`,
:class:`SpikeGenerator`), projections between them (:mod:`.synapses`: :class:`Synapses`,
optionally plastic with :class:`PairSTDP`, :class:`TripletSTDP`, :class:`RewardSTDP` or,
onto the dendrite of a two-compartment neuron, :class:`DendriticPrediction`) and the time
step. Every backend (:mod:`plasticity.spiking.numba`, :mod:`plasticity.spiking.brian2`)
builds from it, so one config gives the same model on all of them (the two-compartment
neuron runs on the Numba engine only). Everything that can be checked before a
simulation starts is checked here: time constants, a time step larger than a time
constant, delays shorter than the time step, probabilities outside [0, 1], weight
bounds, and whether the synapses fit in memory. This module also re-exports the groups
and projections, so ``plasticity.spiking.network`` names the whole description.

Units are in the field names: ms, mV, Hz.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from plasticity.io.memory import format_bytes
from plasticity.spiking.neurons import (
    IZHIKEVICH_PRESETS,
    LIF,
    Group,
    Izhikevich,
    PoissonGroup,
    SpikeGenerator,
    TwoCompartment,
)
from plasticity.spiking.synapses import (
    DendriticPrediction,
    PairSTDP,
    Plasticity,
    RewardSTDP,
    Synapses,
    TripletSTDP,
)
from plasticity.validation import Hyperparameters

__all__ = ["LIF", "Izhikevich", "IZHIKEVICH_PRESETS", "TwoCompartment", "PoissonGroup",
           "SpikeGenerator", "PairSTDP", "TripletSTDP", "RewardSTDP", "DendriticPrediction",
           "Synapses", "Network", "available_memory", "synapse_bytes", "Group", "Plasticity"]

#: bytes per stored synapse in the Numba engine: float64 weight, plus (sparse) an int32
#: target index, plus (sparse and plastic) the int32 pair of the transposed index; a
#: reward-modulated rule adds a float64 eligibility trace, and the dendritic prediction rule
#: with ``tau_delta_ms > 0`` a float64 filtered change (it needs no transposed index).
DENSE_BYTES = 8
SPARSE_BYTES = 12
SPARSE_PLASTIC_BYTES = 20
ELIGIBILITY_BYTES = 8


def available_memory() -> int:
    """Bytes of memory available to a new allocation: the one estimate of the package
    (:func:`plasticity.io.memory.available_bytes`: ``$PLASTICITY_MEMORY_LIMIT``, else
    MemAvailable within the cgroup's limit), or ``2**62`` when nothing can be read."""
    from plasticity.io.memory import available_bytes

    found = available_bytes()
    return int(found) if found is not None else 1 << 62


def synapse_bytes(syn: Synapses, n_pre: int, n_post: int) -> int:
    """Bytes the Numba engine needs to store one projection's synapses (an estimate
    for ``"random"``: the expected count plus five standard deviations)."""
    kind = getattr(syn.plasticity, "kind", None)
    filtered = kind == "dendritic" and syn.plasticity.tau_delta_ms > 0
    extra = ELIGIBILITY_BYTES if kind == "reward" or filtered else 0
    if syn.connect == "all":
        return (DENSE_BYTES + extra) * n_pre * n_post
    if syn.connect == "one_to_one":
        count = n_pre
    else:
        mean = n_pre * n_post * syn.p
        count = mean + 5 * math.sqrt(mean * (1 - syn.p)) + 1
    per = SPARSE_PLASTIC_BYTES if kind not in (None, "dendritic") else SPARSE_BYTES
    return int((per + extra) * count + 8 * (n_pre + n_post + 2))


class Network(Hyperparameters):
    """Groups, projections and the time step of one spiking network.

    Parameters
    ----------
    groups : dict of str to LIF, Izhikevich, TwoCompartment, PoissonGroup or SpikeGenerator
        Named populations, simulated in this order.
    synapses : list of Synapses
        Projections; their presynaptic pathways run in this order within a step.
    dt_ms : float
        Time step (ms); must be smaller than every time constant of the model, and at
        most 1 ms when there are Izhikevich groups.
    memory_fraction : float
        The largest fraction of currently available memory the synapses may take.
    """

    groups: dict[str, Group]
    synapses: list[Synapses] = Field(default_factory=list)
    dt_ms: float = Field(0.1, gt=0, description="time step (ms)")
    memory_fraction: float = Field(0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self):
        if not self.groups:
            raise ValueError("the network has no groups")
        dt = self.dt_ms
        for name, g in self.groups.items():
            for key, tau in g.time_constants().items():
                if tau <= dt:
                    raise ValueError(f"dt_ms ({dt}) must be smaller than every time "
                                     f"constant; {key} of group '{name}' is {tau}")
            if g.kind == "izhikevich" and dt > 1.0:
                raise ValueError(f"dt_ms ({dt}) must be at most 1 ms with Izhikevich "
                                 f"neurons (group '{name}'; forward Euler)")
            if g.kind == "poisson" and g.rate_hz * dt * 1e-3 > 1:
                raise ValueError(f"group '{name}': rate_hz * dt is "
                                 f"{g.rate_hz * dt * 1e-3:g}, a spike probability "
                                 f"per step above 1; lower dt_ms or the rate")
        labels = set()
        total = 0
        for syn in self.synapses:
            label = syn.label
            if label in labels:
                raise ValueError(f"two projections are named '{label}'; give them names")
            labels.add(label)
            for end in (syn.source, syn.target):
                if end not in self.groups:
                    raise ValueError(f"projection '{label}' refers to group '{end}', "
                                     f"which does not exist (groups: "
                                     f"{', '.join(self.groups)})")
            pre, post = self.groups[syn.source], self.groups[syn.target]
            if syn.compartment == "dendrite" and post.kind != "two_compartment":
                raise ValueError(f"projection '{label}' targets the dendrite, but group "
                                 f"'{syn.target}' is a '{post.kind}' group without one "
                                 f"(use a TwoCompartment group or compartment='soma')")
            if syn.connect == "one_to_one" and pre.n != post.n:
                raise ValueError(f"projection '{label}' is one_to_one but its groups have "
                                 f"{pre.n} and {post.n} neurons")
            if 0 < syn.delay_ms < dt:
                raise ValueError(f"projection '{label}': delay_ms ({syn.delay_ms}) is "
                                 f"shorter than dt_ms ({dt}); use 0 or at least one step")
            mod = getattr(syn.plasticity, "modulator", None)
            if mod is not None and mod not in self.groups:
                raise ValueError(f"projection '{label}': modulator '{mod}' is not a group "
                                 f"(groups: {', '.join(self.groups)})")
            every = getattr(syn.plasticity, "update_every_ms", None)
            if every is not None and abs(every / dt - round(every / dt)) > 1e-6 * every / dt:
                raise ValueError(f"projection '{label}': update_every_ms ({every}) must be "
                                 f"a whole number of time steps (dt_ms = {dt})")
            if syn.plasticity is not None:
                for key, tau in syn.plasticity.time_constants().items():
                    if tau <= dt:
                        raise ValueError(f"dt_ms ({dt}) must be smaller than every time "
                                         f"constant; {key} of projection '{label}' is "
                                         f"{tau}")
            total += synapse_bytes(syn, pre.n, post.n)
        budget = self.memory_fraction * available_memory()
        if total > budget:
            raise ValueError(f"the synapses need about {format_bytes(total)}, more than "
                             f"{format_bytes(budget)} of the memory available; make the "
                             f"network smaller or sparser")
        return self

    def delay_steps(self, syn: Synapses) -> int:
        """The projection's delay in whole time steps."""
        return int(round(syn.delay_ms / self.dt_ms))

    def update_steps(self, syn: Synapses) -> int:
        """Steps between the weight updates of a reward-modulated projection (1 for
        every step)."""
        every = getattr(syn.plasticity, "update_every_ms", None)
        return 1 if every is None else max(1, int(round(every / self.dt_ms)))

    def offsets(self) -> dict[str, int]:
        """Global index of each group's first neuron (groups in declaration order)."""
        out, start = {}, 0
        for name, g in self.groups.items():
            out[name] = start
            start += g.n
        return out
