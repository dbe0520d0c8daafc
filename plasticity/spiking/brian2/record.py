"""What a Brian2 run records: its monitors, chunk by chunk, gathered into the same
:class:`~plasticity.spiking.results.SimResult` as the Numba engine's (times as steps,
rates from the counts per bin)."""

from __future__ import annotations

import numpy as np

from plasticity.spiking.results import SimResult

__all__ = ["Accumulator", "monitors_for", "all_monitors"]


def monitors_for(b2, groups, recording, every, dt, name):
    """Fresh monitors for one chunk: population rates of every group, spikes of the
    recorded ones, and ``v`` and ``ge`` of the sampled neurons every ``every`` steps
    (``name(kind, index)`` names them).

    Returns
    -------
    dict
        ``{"spikes": {group: SpikeMonitor}, "rates": {group: PopulationRateMonitor},
        "state": {group: StateMonitor}}``.
    """
    mons = {"spikes": {}, "rates": {}, "state": {}}
    for gi, (gname, grp) in enumerate(groups.items()):
        mons["rates"][gname] = b2.PopulationRateMonitor(grp, name=name("rate", gi))
        if recording.records_spikes(gname):
            mons["spikes"][gname] = b2.SpikeMonitor(grp, record=True,
                                                    name=name("spikes", gi))
    if recording.state:
        mclock = b2.Clock(dt=every * dt * b2.ms, name=name("mclock", 0))
        for si, (gname, idx) in enumerate(recording.state.items()):
            idx = np.asarray(idx, dtype=np.int64)
            if idx.size:
                mons["state"][gname] = b2.StateMonitor(
                    groups[gname], ["v", "ge"], record=idx.astype(np.int32),
                    when="end", clock=mclock, name=name("state", si))
    return mons


def all_monitors(mons):
    """The monitors of :func:`monitors_for` in one list."""
    return [m for kind in mons.values() for m in kind.values()]


class Accumulator:
    """Gathers one :meth:`Brian2Simulator.run` segment, steps ``[t0, t1)``, from the
    monitors of its chunks (:func:`monitors_for`), into the engine's
    :class:`SimResult`."""

    def __init__(self, net, recording, t0, t1, bin_steps, every):
        self.net, self.recording, self.t0, self.t1 = net, recording, t0, t1
        self.bin_steps, self.every = bin_steps, every
        names = list(net.groups)
        self.names = names
        self.n_bins = -(-(t1 - t0) // bin_steps)  # 0 for an empty run, as the engine
        self.rate_counts = np.zeros((self.n_bins, len(names)), dtype=np.int64)
        self.first = -(-t0 // every)
        self.n_samples = max(0, (t1 - 1) // every - self.first + 1) if t1 > t0 else 0
        self.spikes = {name: ([], []) for name in names if recording.records_spikes(name)}
        self.state = {}
        for gname, idx in recording.state.items():
            n = len(np.asarray(idx).reshape(-1))
            self.state[gname] = (np.zeros((self.n_samples, n)),
                                 np.zeros((self.n_samples, n)))

    def collect(self, mons):
        """Add what the monitors of one chunk saw."""
        net, dt = self.net, self.net.dt_ms
        for gi, name in enumerate(self.names):
            mon = mons["rates"][name]
            t_s = np.asarray(mon.t_, dtype=np.float64)
            if t_s.size:
                steps = np.rint(t_s * 1e3 / dt).astype(np.int64)
                n = net.groups[name].n
                counts = np.rint(np.asarray(mon.rate_, dtype=np.float64) * n * dt * 1e-3) \
                    .astype(np.int64)
                np.add.at(self.rate_counts[:, gi], (steps - self.t0) // self.bin_steps,
                          counts)
        for name, mon in mons["spikes"].items():
            steps = np.rint(np.asarray(mon.t_, dtype=np.float64) * 1e3 / dt) \
                .astype(np.int64)
            self.spikes[name][0].append(steps)
            self.spikes[name][1].append(np.asarray(mon.i[:], dtype=np.int64))
        for gname, mon in mons["state"].items():
            t_s = np.asarray(mon.t_, dtype=np.float64)
            if not t_s.size:
                continue
            rows = np.rint(t_s * 1e3 / (dt * self.every)).astype(np.int64) - self.first
            g = net.groups[gname]
            scale_g = 1e3 if g.kind == "izhikevich" or g.model == "current" else 1.0
            v_out, g_out = self.state[gname]
            v_out[rows] = np.asarray(mon.v_, dtype=np.float64).T * 1e3
            g_out[rows] = np.asarray(mon.ge_, dtype=np.float64).T * scale_g

    def result(self) -> SimResult:
        """The segment."""
        net, dt = self.net, self.net.dt_ms
        t0, t1 = self.t0, self.t1
        res = SimResult(t0 * dt, t1 * dt)
        starts = t0 + self.bin_steps * np.arange(self.n_bins)
        widths = np.minimum(starts + self.bin_steps, t1) - starts
        for gi, name in enumerate(self.names):
            g = net.groups[name]
            res.counts[name] = int(self.rate_counts[:, gi].sum())
            with np.errstate(invalid="ignore", divide="ignore"):
                res.rates[name] = (starts * dt,
                                   self.rate_counts[:, gi] / (g.n * widths * dt * 1e-3))
            if name in self.spikes:
                parts_t, parts_i = self.spikes[name]
                st = np.concatenate(parts_t) if parts_t else np.zeros(0, np.int64)
                si = np.concatenate(parts_i) if parts_i else np.zeros(0, np.int64)
                order = np.lexsort((si, st))
                res.spikes[name] = (st[order] * dt, si[order])
        times = (self.first + np.arange(self.n_samples)) * self.every * dt
        for gname, (v, ge) in self.state.items():
            res.state[gname] = {"t_ms": times, "v": v, "g_e": ge}
        return res
