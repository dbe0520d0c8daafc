"""The NEST backend: the same :class:`~plasticity.spiking.network.Network` on NEST.

- :mod:`.simulator`: :class:`NestSimulator` (building the NEST network in the
  process-global kernel, running it, weights, dopamine);
- :mod:`.mapping`: what maps onto NEST's models (LIF -> ``iaf_psc_exp`` /
  ``iaf_cond_exp``, sources -> parrot neurons, pair STDP -> ``stdp_synapse``, RewardSTDP
  -> ``stdp_dopamine_synapse``), with the one-line refusal of what does not.

Nothing here imports NEST until a simulator is built.
"""

from plasticity.spiking.nest.simulator import NestSimulator

__all__ = ["NestSimulator"]
