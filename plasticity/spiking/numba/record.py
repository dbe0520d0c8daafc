"""What one :meth:`NumbaSimulator.run` records: the buffers the compiled loop fills
(spikes, spike counts per rate bin, sampled state) and the :class:`SimResult` made from
them."""

from __future__ import annotations

import numpy as np

from plasticity._kernels import spiking as K
from plasticity.spiking.results import SimResult

__all__ = ["RunRecord"]


class RunRecord:
    """The recording buffers of steps ``[t0, t1)``.

    Parameters
    ----------
    net : Network
    recording : Recording
        Checked already (:meth:`Simulator.run`).
    groups : ndarray, shape (n_groups, K.N_GCOLS)
        The packed groups (which record spikes, and their sizes).
    lif_off : dict of str to int
        Group -> index of its first neuron in the per-neuron arrays.
    t0, t1 : int
        First step and the step after the last.

    Attributes
    ----------
    rate_counts : ndarray, shape (n_bins, n_groups), int64
        Spikes per rate bin and group.
    mon_idx : ndarray of int64
        Per-neuron indices of the sampled neurons; ``mon_v``, ``mon_g`` (shape
        (n_samples, n_sampled)) receive ``v`` and ``g_e`` (or ``U`` and ``V*``) every
        ``every`` steps, the first at step ``first * every``.
    out_t, out_id, out_cnt : ndarray
        The loop's spike buffer (steps, global ids, fill level), emptied by
        :meth:`collect` after every compiled chunk.
    """

    def __init__(self, net, recording, groups, lif_off, t0, t1):
        dt = net.dt_ms
        self.net, self.recording, self.t0, self.t1 = net, recording, t0, t1
        self.names = list(net.groups)
        self.bin_steps = max(1, int(round(recording.rate_bin_ms / dt)))
        n_bins = -(-(t1 - t0) // self.bin_steps)  # 0 for an empty run: no bins, no rates
        self.rate_counts = np.zeros((n_bins, len(self.names)), dtype=np.int64)
        self.every = max(1, int(round(recording.state_every_ms / dt)))
        mon_idx, self.mon_groups = [], []
        for gname, idx in recording.state.items():
            idx = np.asarray(idx, dtype=np.int64)
            mon_idx.append(lif_off[gname] + idx)
            self.mon_groups.append((gname, idx.size))
        self.mon_idx = np.concatenate(mon_idx) if mon_idx else np.zeros(0, np.int64)
        self.first = -(-t0 // self.every)
        n_samples = max(0, (t1 - 1) // self.every - self.first + 1) if t1 > t0 else 0
        self.mon_v = np.zeros((n_samples, self.mon_idx.size))
        self.mon_g = np.zeros((n_samples, self.mon_idx.size))
        n_rec = int(groups[groups[:, K.G_RECORD] == 1, K.G_N].sum())
        cap = max(1 << 16, 4 * n_rec)
        self.out_t = np.zeros(cap, np.int64)
        self.out_id = np.zeros(cap, np.int64)
        self.out_cnt = np.zeros(1, np.int64)
        self._got_t, self._got_id = [], []

    def collect(self):
        """Move the spikes of the last compiled chunk out of the loop's buffer."""
        n = int(self.out_cnt[0])
        if n:
            self._got_t.append(self.out_t[:n].copy())
            self._got_id.append(self.out_id[:n].copy())
            self.out_cnt[0] = 0

    def result(self) -> SimResult:
        """The segment: spikes of the recorded groups, rates and counts of every group,
        sampled state (``"U"`` and ``"V_star"`` for two-compartment groups)."""
        net, dt, t0, t1 = self.net, self.net.dt_ms, self.t0, self.t1
        all_t = np.concatenate(self._got_t) if self._got_t else np.zeros(0, np.int64)
        all_id = np.concatenate(self._got_id) if self._got_id else np.zeros(0, np.int64)
        res = SimResult(t0 * dt, t1 * dt)
        offsets = net.offsets()
        bin_steps, rate_counts = self.bin_steps, self.rate_counts
        starts = t0 + bin_steps * np.arange(rate_counts.shape[0])
        widths = np.minimum(starts + bin_steps, t1) - starts
        for gi_, name in enumerate(self.names):
            g = net.groups[name]
            res.counts[name] = int(rate_counts[:, gi_].sum())
            res.rates[name] = (starts * dt, rate_counts[:, gi_] / (g.n * widths * dt * 1e-3))
            if self.recording.records_spikes(name):
                sel = (all_id >= offsets[name]) & (all_id < offsets[name] + g.n)
                res.spikes[name] = (all_t[sel] * dt, all_id[sel] - offsets[name])
        col = 0
        times = (self.first + np.arange(self.mon_v.shape[0])) * self.every * dt
        for gname, n in self.mon_groups:
            keys = ("U", "V_star") if net.groups[gname].kind == "two_compartment" \
                else ("v", "g_e")
            res.state[gname] = {"t_ms": times, keys[0]: self.mon_v[:, col:col + n],
                                keys[1]: self.mon_g[:, col:col + n]}
            col += n
        return res
