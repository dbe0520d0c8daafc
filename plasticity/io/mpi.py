"""Which MPI rank this process is, for a command run under ``mpirun`` (the nest backend
on several processes, docs/nest.md).

Every rank runs the same command: the same config and seed build the same network,
NEST places each neuron on one rank, and the backend gathers the results onto every
rank (:class:`plasticity.spiking.nest.kernel.Comm`). So every rank computes the same
summaries, and only rank 0 writes the run file the user named; the others write theirs
to a temporary folder that is removed (:func:`plasticity.launch.launch`) and print
nothing.

The rank is read from the launcher's environment (Open MPI, MPICH and Intel MPI's Hydra,
MVAPICH), without importing mpi4py, whose import would initialise MPI in every command;
mpi4py is imported only when that environment names more than one rank.
"""

from __future__ import annotations

import os

__all__ = ["world", "comm"]

#: (rank, size) environment variables of the launchers
_LAUNCHERS = (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
              ("PMI_RANK", "PMI_SIZE"),
              ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"))


def world() -> tuple[int, int]:
    """``(rank, size)`` of this process in the launcher's world, ``(0, 1)`` outside one."""
    for rank, size in _LAUNCHERS:
        r, n = os.environ.get(rank, ""), os.environ.get(size, "")
        if r.isdigit() and n.isdigit() and int(n) > 0:
            return int(r), int(n)
    return 0, 1


def comm():
    """mpi4py's ``COMM_WORLD`` (for a broadcast from rank 0), or None when mpi4py is not
    installed."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD
