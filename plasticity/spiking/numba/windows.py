"""Which networks the engine runs in windows on several threads, and the windows' arrays.

The windows (:func:`plasticity._kernels.spiking.ff_windows`) need a network whose
neurons interact only through delays: within a window, each unit (a target block of a
LIF group) runs on its own, and the units meet once per window. These functions read the
packed network (:mod:`.pack`) and decide; :class:`.simulator.NumbaSimulator` runs them.
"""

from __future__ import annotations

import numpy as np

from plasticity._kernels import spiking as K
from plasticity.spiking.numba.pack import target_blocks

__all__ = ["FF_WINDOW", "FF_BUFFER", "window_steps", "on_one_thread", "units", "buffers"]

#: steps per window at most (the threads meet once per window; its spike flags take
#: FF_WINDOW bytes per LIF neuron); a delay between LIF groups shortens it
FF_WINDOW = 2048
#: entries of its buffers of source spikes and arrivals (at least one step's worth)
FF_BUFFER = 1 << 18


def window_steps(groups, proj) -> int:
    """Steps per window of the multithreaded path, or 0 for the step loop.

    Windows need a network whose neurons interact only through delays, split into units
    that run a whole window on their own (:func:`plasticity._kernels.spiking.ff_prepass`):
    LIF groups and spike sources (Poisson groups, generators) only; every projection onto
    a LIF group's soma, static or pair/triplet STDP, plastic ones dense with deferred
    potentiation (static ones dense or sparse); from a source, or from a LIF group with a
    delay of at least one step; and at least two units (:func:`units`). A window is at
    most the shortest delay from a LIF group (and :data:`FF_WINDOW`): every arrival of a
    window was sent before it.

    Parameters
    ----------
    groups : ndarray of int64, shape (n_groups, 6)
        The group table (columns ``K.G_*``).
    proj : ndarray of int64, shape (n_proj, K.N_PCOLS)
        The projection table (columns ``K.P_*``).
    """
    kinds = groups[:, K.G_KIND]
    if proj.shape[0] == 0 or np.any((kinds != K.LIF) & (kinds != K.POISSON)
                                    & (kinds != K.GENERATOR)):
        return 0
    lif = set(groups[kinds == K.LIF, K.G_OFF].tolist())
    window = FF_WINDOW
    for row in proj:
        plastic = row[K.P_PLASTIC]
        if (row[K.P_TGT] not in lif or row[K.P_COMP] or plastic not in (0, K.PAIR, K.TRIPLET)
                or (plastic and (row[K.P_SPARSE] or row[K.P_EVCAP] == 0))):
            return 0
        n_tgt = int(groups[groups[:, K.G_OFF] == row[K.P_TGT], K.G_N][0])
        if not row[K.P_SPARSE] and row[K.P_NBLK] != target_blocks(n_tgt):
            return 0  # (not made by pack_projections: its blocks are not the units')
        if row[K.P_SRC] in lif:
            if row[K.P_DELAY] < 1:
                return 0
            window = min(window, int(row[K.P_DELAY]))
    return window if units(groups).shape[0] >= 2 else 0


def on_one_thread(groups, proj) -> bool:
    """Whether one thread runs the windows too (the same result as the step loop): for
    feed-forward networks (no projection from a LIF group), whose blocks then run from
    cache, not for recurrent ones, which gained 2-4% or lost 7% (benchmarks/README.md,
    "Recurrent networks on threads")."""
    lif = groups[groups[:, K.G_KIND] == K.LIF, K.G_OFF]
    return not np.isin(proj[:, K.P_SRC], lif).any()


def units(groups):
    """The windows' units, rows ``K.U_*`` (int64, shape (n_units, K.N_UCOLS)): each LIF
    group's target blocks (:func:`~plasticity.spiking.numba.pack.target_blocks`, as its
    dense projections have them), in group and block order."""
    rows = []
    for grp in groups[groups[:, K.G_KIND] == K.LIF]:
        n = int(grp[K.G_N])
        nb = target_blocks(n)
        bw = -(-n // nb)
        rows += [(grp[K.G_OFF], grp[K.G_LIF], b * bw, min(n, (b + 1) * bw), b)
                 for b in range(nb) if b * bw < n]
    return np.array(rows, dtype=np.int64).reshape(-1, K.N_UCOLS)


def buffers(groups, proj, n_ids, n_lif) -> dict:
    """The windows' scratch arrays, by the names of the arguments of
    :func:`~plasticity._kernels.spiking.ff_windows`: source spikes and arrivals of a
    window (at least :data:`FF_BUFFER` entries, twice a step's worth: ``n_ids`` neurons
    of all groups, every projection's sources), the spike flags of a window (``n_lif``
    each), the units, their row-prefetch sinks and the merge's progress."""
    n_src = int(proj[:, K.P_NSRC].sum())
    n_buf = max(FF_BUFFER, 2 * int(n_ids), 2 * n_src)
    u = units(groups)
    return {"src_ids": np.zeros(n_buf, np.int64),
            "src_ptr": np.zeros(FF_WINDOW + 1, np.int64),
            "arr_j": np.zeros(n_buf, np.int64), "arr_r2": np.zeros(n_buf),
            "arr_xa": np.zeros(n_buf),
            "arr_ptr": np.zeros(FF_WINDOW * proj.shape[0] + 1, np.int64),
            "fired": np.zeros((FF_WINDOW, n_lif), np.uint8), "units": u,
            "touch": np.zeros((u.shape[0], int(proj[:, K.P_NBLK].max()) + 1)),
            "merged": np.zeros(2, np.int64)}
