"""RewardSTDP against NEST's ``stdp_dopamine_synapse`` (benchmark extra: skipped without NEST).

One synapse, driven by the same presynaptic, postsynaptic and dopamine spike trains in both
simulators (4 s: ~160 pre, ~120 post and ~20 dopamine spikes, seeded), must follow the same
weight trajectory, once with wide bounds (the weight rises in the reward-rich and falls in
the reward-poor phases) and once with narrow ones (it sits at both bounds for a while).

NEST's rule (``stdp_dopamine_synapse.h``, NEST 3.10; Potjans, Morrison & Diesmann 2010)::

    on post (at the synapse)  c += A_plus * K_plus      on pre   c -= A_minus * K_minus
    dc/dt = -c / tau_c     dn/dt = -n / tau_n, n += 1/tau_n per dopamine spike
    dw/dt = c * (n - b),   w clipped to [Wmin, Wmax]

with all-to-all traces ``K_plus`` (``tau_plus``, a synapse parameter) and ``K_minus``
(``tau_minus``, a parameter of the postsynaptic neuron). NEST integrates ``w`` exactly, but
only when the synapse is touched: at presynaptic spikes and whenever the volume transmitter
delivers (every ``deliver_interval`` min-delays), clipping at the end of every integrated
piece (pieces end at pre, post and dopamine spikes).

Parameter mapping (``RewardSTDP`` <- NEST)::

    a_plus = A_plus / Wmax     a_minus = A_minus / Wmax     pairing = "all"
    tau_plus = tau_plus        tau_minus = tau_minus of the post neuron
    tau_c = tau_c              tau_d = tau_n                d_jump = 1 / tau_n
    eta = 1 (per ms)           d_tonic = -b                 w_min, w_max = Wmin, Wmax
    update_every_ms = None (every step)

Timing. The times ``t_pre``, ``t_post``, ``t_da`` are those at the synapse. The engine's
delay is axonal (a pre spike acts ``delay_ms`` after it is sent); NEST's is dendritic (a
pre spike acts when sent, a post spike ``delay`` after it is emitted), and the volume
transmitter stamps a dopamine spike with its arrival. Spike generators feed parrot neurons
through ``D0``; the plastic synapse pre-parrot -> post-parrot (port 1, so that the post
parrot does not repeat what it receives) has delay ``DS``; dopamine parrot -> volume
transmitter has ``DV``; the engine's projection has ``delay_ms = DS``::

    engine generators:  pre at t_pre - DS,   post at t_post,             dopamine at t_da
    NEST generators:    pre at t_pre - D0,   post at t_post - D0 - DS,   dopamine at t_da - D0 - DV

(checked on one pairing and one dopamine spike: NEST's weight is the closed-form integral
for exactly these times, to 1e-12). Pre spikes lie on even steps and post spikes on odd
ones, so no pair coincides at the synapse (the engine counts a coincident post as after
the pre, NEST as neither). All NEST delays are one step, so that min_delay = dt: with a
longer min_delay, NEST 3.10 counts a pairing twice when the post spike reaches the synapse
between a pre spike and the end of that spike's min-delay slice (the volume transmitter's
update at the slice end handles the post spike before the pre spike is delivered; ``send``
then rewinds the synapse to the pre spike and the next update handles the post spike again).
E.g. delays 1 ms, pre at 24.0 and 28.1 ms, post at 28.35 ms (at the synapse):
``c = 2.597 A_plus`` instead of ``exp(-4.35/20) + exp(-0.25/20) = 1.792``. A deliver
interval longer than the run avoids it too.

Compared times: NEST's weight at every presynaptic spike (its ``weight_recorder``: the
weight integrated up to ``t_pre``) against the engine's weight after the ``t_pre / dt``
steps before it.

Tolerance. Pairings, traces and jumps are exact in both on the time grid. The engine adds
``dt * eta * (d + d_tonic) * c`` with the values at the start of every step where NEST
integrates the exponentials over it: a relative error of at most
``eps = dt/2 * (1/tau_c + 1/tau_n) = 3e-4`` (``dt = 0.05`` ms) of every step's change, so
the weights differ by at most ``eps`` times the weight's total variation since they last
sat together at a bound (``V`` ~ 1 = Wmax - Wmin with wide bounds; a few spans with narrow
ones). NEST's clipping only at the ends of its pieces does not matter here: it updates at
every step once dopamine has arrived (``deliver_interval`` 1 x min_delay = dt), as the
engine does. Measured over seeds 11-20: max |w_ours - w_nest| <= 4.0e-4 (Wmax - Wmin) with
wide and <= 7.3e-4 (Wmax - Wmin) with narrow bounds, and the difference halves exactly when
the engine's step halves (pure first-order quadrature error). Asserted:
``2e-3 (Wmax - Wmin)``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("PYNEST_QUIET", "1")  # no banner
nest = pytest.importorskip("nest")
if hasattr(nest, "VerbosityLevel"):  # NEST >= 3.9
    nest.verbosity = nest.VerbosityLevel.ERROR
else:  # pragma: no cover
    nest.set_verbosity("M_ERROR")

from plasticity.spiking import Network, RewardSTDP, SpikeGenerator, Synapses  # noqa: E402
from plasticity.spiking.numba import NumbaSimulator  # noqa: E402

DT = 0.05  # ms, both simulators
D0 = DS = DV = DT  # NEST delays: generator -> parrot, plastic synapse, parrot -> vt
NEST_PAR = {"A_plus": 0.01, "A_minus": 0.0105, "tau_plus": 20.0, "tau_c": 500.0,
            "tau_n": 100.0, "b": 0.006}
TAU_MINUS = 20.0  # the postsynaptic parrot's tau_minus
T_MS, W0, SEED = 4000.0, 0.5, 11
TOL = 2e-3  # max |w_ours - w_nest| / (Wmax - Wmin), see the module docstring


def _trains(seed, T, dt):
    """Pre, post and dopamine spike times at the synapse (ms, on the grid of ``dt``).

    Pre spikes at 40 Hz on even steps; post spikes on odd steps: after half the pre spikes
    (2-10 ms later) plus 10 Hz background, so pre-before-post pairings dominate ``c``.
    Dopamine at 10 Hz in the reward-rich phases (0-1 s, 2-3 s: ``n`` near 0.01 > b) and
    1 Hz in the reward-poor ones (1-2 s, 3-4 s: ``n < b``)."""
    rng = np.random.default_rng(seed)
    lo, hi = int(round(5.0 / dt)) // 2, int(round((T - 20.0) / dt)) // 2
    pre = 2 * np.unique(rng.integers(lo, hi, size=int(40 * T / 1000)))
    caused = pre[rng.random(pre.size) < 0.5]
    caused = caused + 2 * rng.integers(int(round(1.0 / dt)), int(round(5.0 / dt)),
                                       size=caused.size)
    background = 2 * rng.integers(lo, hi, size=int(10 * T / 1000))
    post = np.unique(np.concatenate([caused, background])) + 1
    da = [rng.integers(int(round((t0 + 5.0) / dt)), int(round((t0 + 995.0) / dt)),
                       size=rng.poisson(10 if int(t0 // 1000) % 2 == 0 else 1))
          for t0 in np.arange(0.0, T, 1000.0)]
    da = np.unique(np.concatenate(da))
    return pre * dt, post * dt, da * dt


def _nest_weights(pre, post, da, par, T):
    """NEST's weight at every presynaptic spike (its weight recorder)."""
    nest.ResetKernel()
    nest.set(resolution=DT, print_time=False)
    gens = nest.Create("spike_generator", 3, params=[
        {"spike_times": np.round(pre - D0, 6).tolist()},
        {"spike_times": np.round(post - D0 - DS, 6).tolist()},
        {"spike_times": np.round(da - D0 - DV, 6).tolist()}])
    parrots = nest.Create("parrot_neuron", 3)
    nest.Connect(gens, parrots, "one_to_one", {"delay": D0})
    parrots[1].set(tau_minus=TAU_MINUS)
    vt = nest.Create("volume_transmitter")  # deliver_interval 1 (x min_delay = DT)
    nest.Connect(parrots[2], vt, syn_spec={"delay": DV})
    wr = nest.Create("weight_recorder")
    nest.CopyModel("stdp_dopamine_synapse", "da_syn_test",
                   {"volume_transmitter": vt, "weight_recorder": wr, **par})
    nest.Connect(parrots[0], parrots[1], syn_spec={
        "synapse_model": "da_syn_test", "weight": W0, "delay": DS, "receptor_type": 1})
    sr = nest.Create("spike_recorder")
    nest.Connect(parrots, sr)
    nest.Simulate(T)
    spikes = sr.get("events")
    for k, want in enumerate((pre, post - DS, da - DV)):  # the parrots fire as intended
        got = np.sort(spikes["times"][spikes["senders"] == parrots[k].global_id])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    ev = wr.get("events")
    return np.asarray(ev["times"]), np.asarray(ev["weights"])


def _engine_weights(pre, post, da, par, times, dt):
    """The engine's weight after the steps before each of ``times``."""
    wmin, wmax = par["Wmin"], par["Wmax"]
    rule = RewardSTDP(a_plus=par["A_plus"] / wmax, a_minus=par["A_minus"] / wmax,
                      pairing="all", tau_plus_ms=par["tau_plus"], tau_minus_ms=TAU_MINUS,
                      tau_c_ms=par["tau_c"], tau_d_ms=par["tau_n"], eta=1.0,
                      d_tonic=-par["b"], d_jump=1.0 / par["tau_n"], modulator="da")
    gen = lambda t: SpikeGenerator(n=1, indices=[0] * t.size, times_ms=t.tolist())  # noqa: E731
    net = Network(dt_ms=dt, groups={"pre": gen(pre - DS), "post": gen(post), "da": gen(da)},
                  synapses=[Synapses(source="pre", target="post", w_init=W0, w_min=wmin,
                                     w_max=wmax, delay_ms=DS, plasticity=rule)])
    sim = NumbaSimulator(net, seed=1)
    out, done = [], 0
    for t in times:
        steps = int(round(t / dt)) - done
        if steps > 0:
            sim.run(steps * dt)
            done += steps
        out.append(sim.weights("pre_post")[0])
    return np.asarray(out)


def _compare(wmin, wmax):
    pre, post, da = _trains(SEED, T_MS, DT)
    par = {**NEST_PAR, "Wmin": wmin, "Wmax": wmax}
    t_nest, w_nest = _nest_weights(pre, post, da, par, T_MS)
    np.testing.assert_allclose(t_nest, pre, rtol=0, atol=1e-9)
    return pre, post, da, par, t_nest, w_nest


def test_unclipped_trajectory_matches_nest():
    """Up in the reward-rich, down in the reward-poor phases; the difference is the
    engine's O(dt) quadrature error (it halves with the step)."""
    wmin, wmax = 0.0, 1.0
    pre, post, da, par, t, w_nest = _compare(wmin, wmax)
    w_phase = np.interp([0.0, 1000.0, 2000.0, 3000.0, 4000.0], t, w_nest)
    assert np.all(np.diff(w_phase) * [1, -1, 1, -1] > 0.05), w_phase
    assert wmin < w_nest.min() and w_nest.max() < wmax
    diff = np.abs(_engine_weights(pre, post, da, par, t, DT) - w_nest).max()
    assert diff < TOL * (wmax - wmin), f"max |w_ours - w_nest| = {diff:.2e}"
    half = np.abs(_engine_weights(pre, post, da, par, t, DT / 2) - w_nest).max()
    assert 0.4 < half / diff < 0.6, (diff, half)


def test_clipped_trajectory_matches_nest():
    """Narrow bounds: the weight sits at both of them for a while."""
    wmin, wmax = 0.45, 0.6
    pre, post, da, par, t, w_nest = _compare(wmin, wmax)
    assert (w_nest == wmax).sum() > 5 and (w_nest == wmin).sum() > 5
    w_ours = _engine_weights(pre, post, da, par, t, DT)
    diff = np.abs(w_ours - w_nest).max()
    assert diff < TOL * (wmax - wmin), f"max |w_ours - w_nest| = {diff:.2e}"
