"""Pairing protocols and the closed-form weight changes they should produce.

Used by the ``stdp-window`` and ``triplet-frequency`` experiments and their tests: a
protocol is a set of independent synapses, each between one presynaptic and one
postsynaptic spike source (``SpikeGenerator`` groups connected one-to-one), so every
synapse sees exactly the spike trains it was given. The event-driven reference
(:func:`stdp_change`) evaluates the traces in closed form at the spike times, independently
of any time-stepped simulation.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["pairing_network", "stdp_change"]


def pairing_network(trains, plasticity, *, dt_ms, w_init, w_max):
    """A network of independent pre/post pairs driven by given spike trains.

    Parameters
    ----------
    trains : list of (array_like, array_like)
        Per synapse ``(pre_times_ms, post_times_ms)``.
    plasticity : PairSTDP or TripletSTDP
    dt_ms, w_init, w_max : float

    Returns
    -------
    Network
        Groups ``pre`` and ``post`` (generators), projection ``pairs`` (one-to-one).
    """
    from plasticity.spiking import Network, SpikeGenerator, Synapses

    def generator(which):
        idx = [k for k, tr in enumerate(trains) for _ in tr[which]]
        times = [float(t) for tr in trains for t in tr[which]]
        return SpikeGenerator(n=len(trains), indices=idx, times_ms=times)

    return Network(dt_ms=dt_ms, groups={"pre": generator(0), "post": generator(1)},
                   synapses=[Synapses(name="pairs", source="pre", target="post",
                                      connect="one_to_one", w_init=w_init, w_max=w_max,
                                      plasticity=plasticity)])


def stdp_change(pre_ms, post_ms, rule, *, w_max=1.0):
    """Net weight change of one synapse from its spike trains, event by event.

    Traces are evaluated in closed form at each spike; a presynaptic and a postsynaptic
    spike at the same time count as pre before post (as in both backends). No clipping:
    choose ``w_init`` and ``w_max`` so that the protocol stays inside the bounds.

    Parameters
    ----------
    pre_ms, post_ms : array_like
        Spike times (ms).
    rule : PairSTDP or TripletSTDP
        Additive forms only (the change does not depend on ``w``).
    w_max : float
        The amplitudes' scale (weights change by ``w_max`` times the rule's amplitudes).

    Returns
    -------
    float
    """
    if rule.kind == "pair" and rule.weight_dependence != "additive":
        raise ValueError("the closed form is for additive rules")
    events = sorted([(float(t), 0) for t in pre_ms] + [(float(t), 1) for t in post_ms])
    nearest = rule.pairing == "nearest"
    if rule.kind == "pair":
        taus = (rule.tau_plus_ms, rule.tau_plus_ms, rule.tau_minus_ms, rule.tau_minus_ms)
    else:
        taus = (rule.tau_plus_ms, rule.tau_x_ms, rule.tau_minus_ms, rule.tau_y_ms)
    tr = [0.0, 0.0, 0.0, 0.0]  # r1, r2 (pre); o1, o2 (post)
    last = 0.0
    dw = 0.0
    for t, side in events:
        tr = [v * math.exp(-(t - last) / tau) for v, tau in zip(tr, taus, strict=True)]
        last = t
        r1, r2, o1, o2 = tr
        if side == 0:
            if rule.kind == "pair":
                dw -= w_max * rule.a_minus * o1
            else:
                dw -= w_max * o1 * (rule.a2_minus + rule.a3_minus * r2)
            tr[0] = 1.0 if nearest else r1 + 1.0
            tr[1] = 1.0 if nearest else r2 + 1.0
        else:
            if rule.kind == "pair":
                dw += w_max * rule.a_plus * r1
            else:
                dw += w_max * r1 * (rule.a2_plus + rule.a3_plus * o2)
            tr[2] = 1.0 if nearest else o1 + 1.0
            tr[3] = 1.0 if nearest else o2 + 1.0
    return dw


def window(lags_ms, rule, *, w_max=1.0):
    """The configured pair window at ``lags_ms`` (post minus pre; 0 potentiates)."""
    lags = np.asarray(lags_ms, dtype=float)
    return np.where(lags >= 0, w_max * rule.a_plus * np.exp(-lags / rule.tau_plus_ms),
                    -w_max * rule.a_minus * np.exp(lags / rule.tau_minus_ms))
