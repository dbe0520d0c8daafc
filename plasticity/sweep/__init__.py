"""Sweeps: one experiment over a grid of config values and seeds, locally or on Dask.

``plasticity sweep NAME --grid eta=0.01,0.1 --seeds 0-9`` (or :func:`run_sweep`) runs the
product of the grid values and the seeds, one run file per run, into a sweep directory
``DIR/sweep.json`` + ``DIR/runs/*.h5`` (layout in :mod:`plasticity.sweep.index`). Running
the same sweep again with ``--out DIR`` resumes it.

Locally the runs go to a pool of spawned worker processes, each limited to its share of
the cores. With ``--scheduler tcp://HOST:PORT`` or ``--cluster slurm|pbs|sge`` they go to
Dask workers, which write their run files directly into DIR: DIR must be on a filesystem
that every worker sees under the same path (a LocalCluster does; on a batch cluster use the
shared home or project filesystem, not a node's local disk).

The package namespace stays light (no NumPy at import) so that spawned workers can pin
their thread pools before NumPy and Numba load.
"""

from __future__ import annotations

from plasticity.sweep.runner import SweepResult, run_sweep

__all__ = ["run_sweep", "SweepResult"]
