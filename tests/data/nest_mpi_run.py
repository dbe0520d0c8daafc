"""Run two small plastic networks on the nest backend and save what the backend gathers.

Used by tests/test_nest_mpi.py, once under ``mpirun -np 2`` with one thread per rank
and once as a single process with two threads: NEST's results depend only on the number
of virtual processes (ranks x threads), so both must save the same arrays. Usage::

    [mpirun -np RANKS] python nest_mpi_run.py THREADS OUT.npz

Only rank 0 writes ``OUT.npz``: spikes of every group (steps and ids), the weights of
both projections after the run, the eligibility and the modulator of the dopamine one,
and ``ranks``, the number of MPI processes NEST saw.
"""

import os
import sys

import numpy as np

os.environ.setdefault("PYNEST_QUIET", "1")

from plasticity.spiking import (  # noqa: E402
    LIF,
    Network,
    PairSTDP,
    PoissonGroup,
    RewardSTDP,
    Synapses,
    simulator,
)


def pair_network():
    return Network(dt_ms=0.1, groups={
        "in": PoissonGroup(n=300, rate_hz=20.0),
        "out": LIF(n=24, model="current", t_ref_ms=2.0)},
        synapses=[Synapses(source="in", target="out", w_init=(0.0, 1.2), w_max=1.2,
                           plasticity=PairSTDP())])


def dopamine_network():
    rule = RewardSTDP(a_plus=0.03, a_minus=0.036, tau_c_ms=200.0, tau_d_ms=50.0, eta=0.02,
                      d_tonic=0.0, d_jump=0.5, modulator="da")
    return Network(dt_ms=0.1, groups={
        "in": PoissonGroup(n=200, rate_hz=20.0), "da": PoissonGroup(n=4, rate_hz=3.0),
        "out": LIF(n=10, model="current", t_ref_ms=2.0)},
        synapses=[Synapses(source="in", target="out", connect="random", p=0.5,
                           w_init=(0.0, 4.0), w_max=4.0, plasticity=rule)])


def main(threads, out):
    saved = {}
    for tag, net in (("pair", pair_network()), ("da", dopamine_network())):
        sim = simulator(net, backend="nest", seed=3, threads=threads)
        try:
            if tag == "da":
                # set before the first run, from the full array, on every rank's own
                # connections
                w = sim.weights("in_out")
                sim.set_weights("in_out", w[::-1].copy())
            for part in range(2):
                res = sim.run(500.0)
                for group, (times, ids) in res.spikes.items():
                    saved[f"{tag}_{part}_{group}_t"] = np.rint(times / 0.1).astype(np.int64)
                    saved[f"{tag}_{part}_{group}_i"] = ids
            saved[f"{tag}_w"] = sim.weights("in_out")
            if tag == "da":
                saved["da_c"] = sim.eligibility("in_out")
                saved["da_d"] = np.array([sim.modulator("in_out")])
        finally:
            sim.close()
    import nest  # imported already by the backend

    if nest.Rank() == 0:
        np.savez(out, ranks=nest.NumProcesses(), **saved)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
