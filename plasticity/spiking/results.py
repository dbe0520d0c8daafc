"""What a simulation returns, whichever backend ran it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SimResult", "Recording", "merge_results"]


@dataclass(frozen=True)
class Recording:
    """What to record during a simulation (every backend honours the same request).

    Parameters
    ----------
    spikes : tuple of str or "all"
        Groups whose spikes are kept (times and ids). Population rates are kept for every
        group regardless.
    state : dict of str to sequence of int
        LIF group -> neuron indices whose membrane potential ``v`` (mV) and excitatory
        synaptic variable ``g_e`` are sampled.
    state_every_ms : float
        Sampling interval of the state variables (ms).
    rate_bin_ms : float
        Bin width of the population rates (ms).
    """

    spikes: tuple[str, ...] | str = "all"
    state: dict = field(default_factory=dict)
    state_every_ms: float = 1.0
    rate_bin_ms: float = 100.0

    def __post_init__(self):
        # a single group name is a one-group tuple, not a string to search in
        if isinstance(self.spikes, str) and self.spikes != "all":
            object.__setattr__(self, "spikes", (self.spikes,))

    def records_spikes(self, group: str) -> bool:
        return self.spikes == "all" or group in self.spikes


@dataclass
class SimResult:
    """One simulated segment ``[t_start_ms, t_stop_ms)``.

    Attributes
    ----------
    spikes : dict of str to (ndarray, ndarray)
        Group -> ``(times_ms, node_ids)``, sorted by time (then id), float64 and int64.
    rates : dict of str to (ndarray, ndarray)
        Group -> ``(bin_start_ms, rate_hz)``: population rate per bin.
    counts : dict of str to int
        Group -> number of spikes in the segment (recorded or not).
    state : dict of str to dict
        Group -> ``{"t_ms": (S,), "v": (S, n_rec), "g_e": (S, n_rec)}``.
    """

    t_start_ms: float
    t_stop_ms: float
    spikes: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)

    def rate_hz(self, group: str, n: int) -> float:
        """Mean rate of ``group`` (``n`` neurons) over the segment (Hz)."""
        span_s = (self.t_stop_ms - self.t_start_ms) * 1e-3
        return self.counts[group] / (n * span_s) if span_s > 0 else float("nan")


def merge_results(parts: list[SimResult]) -> SimResult:
    """Concatenate consecutive segments into one."""
    if not parts:
        raise ValueError("nothing to merge")
    out = SimResult(parts[0].t_start_ms, parts[-1].t_stop_ms)
    for key in parts[0].spikes:
        out.spikes[key] = tuple(np.concatenate([p.spikes[key][i] for p in parts])
                                for i in range(2))
    for key in parts[0].rates:
        out.rates[key] = tuple(np.concatenate([p.rates[key][i] for p in parts])
                               for i in range(2))
    for key in parts[0].counts:
        out.counts[key] = int(sum(p.counts[key] for p in parts))
    for key, first in parts[0].state.items():
        out.state[key] = {var: np.concatenate([p.state[key][var] for p in parts])
                          for var in first}
    return out
