"""Dopamine-modulated STDP (RewardSTDP) and Izhikevich's integration options in the engine.

* The engine agrees with the plain-NumPy twin on generator-driven networks with dense and
  sparse reward-modulated projections, a modulator group, periodic weight updates,
  Izhikevich neurons with delta synapses and Izhikevich's half-step scheme (identical
  spikes; weights, eligibility traces and dopamine to rounding).
* One pre-post pairing followed by one dopamine spike changes the weight by the
  three-factor integral ``eta * c0 * d_jump * exp(-(t_d - t_post)/tau_c) /
  (1/tau_c + 1/tau_d)``, to the discretisation error O(dt/tau).
* Without dopamine nothing changes; the eligibility trace keeps the STDP window.
* Izhikevich's uniform current noise has the variance of its uniform distribution.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from plasticity.errors import InvalidParameterError
from plasticity.spiking import (
    LIF,
    Izhikevich,
    Network,
    Recording,
    RewardSTDP,
    SpikeGenerator,
    Synapses,
)
from plasticity.spiking.numba import NumbaSimulator
from plasticity.spiking.results import merge_results

try:
    from tests.twins import spiking as twin
except ImportError:  # pragma: no cover - run from inside tests/
    from twins import spiking as twin

try:
    from tests.conftest import bernoulli_trains as _train
except ImportError:  # pragma: no cover - run from inside tests/
    from conftest import bernoulli_trains as _train

TOL = {"rtol": 1e-10, "atol": 1e-12}


def _reward_net(rng, T, dt):
    rule = RewardSTDP(a_plus=0.05, a_minus=0.06, tau_c_ms=80.0, tau_d_ms=30.0, eta=0.05,
                      d_tonic=0.01, d_jump=0.7, modulator="da")
    return Network(dt_ms=dt, groups={
        "pre": _train(rng, 25, 60.0, T, dt),
        "izh": Izhikevich(n=8, method="izhikevich2007", synapse="delta", i_ext=4.0),
        "lif": LIF(n=6, model="current", tau_m_ms=15.0, t_ref_ms=2.0),
        "da": _train(rng, 3, 15.0, T, dt),
    }, synapses=[
        Synapses(source="pre", target="izh", w_init=(0.0, 3.0), w_max=4.0, delay_ms=1.0,
                 plasticity=rule),
        Synapses(source="pre", target="lif", connect="random", p=0.6, w_init=(2.0, 6.0),
                 w_max=8.0, plasticity=rule.model_copy(update={"pairing": "nearest",
                                                                 "update_every_ms": 2.0})),
        Synapses(source="izh", target="lif", w_init=0.5,
                 plasticity=rule.model_copy(update={"modulator": None, "d_tonic": 0.2})),
    ])


@pytest.mark.parametrize("dt,split", [(0.5, None), (0.25, 61.0)])
def test_twin_agreement(dt, split):
    T = 300.0
    rng = np.random.default_rng([7, int(dt * 100)])
    net = _reward_net(rng, T, dt)
    sim = NumbaSimulator(net, seed=3, recording=Recording(
        state={"izh": list(range(8))}, state_every_ms=dt))
    conn = {s.label: sim.connectivity(s.label) for s in net.synapses}
    w0 = {s.label: sim.weights(s.label) for s in net.synapses}
    res = sim.run(T) if split is None else merge_results([sim.run(split),
                                                          sim.run(T - split)])
    ref = twin.simulate(net, conn, w0, T, record_v={"izh": list(range(8))})
    for name in net.groups:
        assert np.array_equal(res.spikes[name][1], ref["spikes"][name][1]), name
        assert np.array_equal(res.spikes[name][0], ref["spikes"][name][0]), name
    for name in ("izh", "lif"):
        assert res.spikes[name][0].size > 5, f"'{name}' hardly fired; the test is vacuous"
    np.testing.assert_allclose(res.state["izh"]["v"], ref["v"]["izh"], **TOL)
    for syn in net.synapses:
        label = syn.label
        np.testing.assert_allclose(sim.weights(label), ref["weights"][label], **TOL,
                                   err_msg=label)
        np.testing.assert_allclose(sim.eligibility(label), ref["eligibility"][label],
                                   **TOL, err_msg=label)
        assert sim.modulator(label) == pytest.approx(ref["dopamine"][label], rel=1e-10)
        assert np.abs(sim.weights(label) - w0[label]).max() > 1e-2, label


def _pairing(dt, lag_ms, t_da_ms, *, update_every_ms=None, d_tonic=0.0, T=None):
    rule = RewardSTDP(a_plus=0.02, a_minus=0.03, tau_c_ms=500.0, tau_d_ms=100.0, eta=0.4,
                      d_tonic=d_tonic, d_jump=0.5, modulator="da",
                      update_every_ms=update_every_ms)
    t_pre = 10.0
    net = Network(dt_ms=dt, groups={
        "pre": SpikeGenerator(n=1, indices=[0], times_ms=[t_pre]),
        "post": SpikeGenerator(n=1, indices=[0], times_ms=[t_pre + lag_ms]),
        "da": SpikeGenerator(n=1, indices=[0] if t_da_ms is not None else [],
                             times_ms=[t_da_ms] if t_da_ms is not None else []),
    }, synapses=[Synapses(source="pre", target="post", w_init=0.5, w_max=1.0,
                          plasticity=rule)])
    sim = NumbaSimulator(net)
    sim.run(T if T is not None else 4000.0)
    return sim, rule


@pytest.mark.parametrize("lag_ms", [5.0, 20.0])
def test_distal_reward_closed_form(lag_ms):
    """Pre at 10 ms, post ``lag`` later: c jumps by a_plus*w_max*exp(-lag/tau_plus); a
    dopamine spike 1 s later converts what is left of it into weight."""
    dt, t_da = 0.1, 1010.0 + lag_ms
    sim, r = _pairing(dt, lag_ms, t_da)
    t_post = 10.0 + lag_ms
    c0 = r.a_plus * 1.0 * math.exp(-lag_ms / r.tau_plus_ms)
    c_at_da = c0 * math.exp(-(t_da - t_post) / r.tau_c_ms)
    # the integral to 4 s (the remaining tail of exp(-(1/tau_c+1/tau_d) t) is 1e-14)
    rate = 1.0 / r.tau_c_ms + 1.0 / r.tau_d_ms
    dw = r.eta * c_at_da * r.d_jump / rate * (1 - math.exp(-rate * (4000.0 - t_da)))
    got = sim.weights("pre_post")[0] - 0.5
    # per-step Euler sum versus the integral: relative error about dt * rate / 2
    assert got == pytest.approx(dw, rel=dt * rate)
    assert got > 0.0


def test_update_interval_matches_continuous_limit():
    """Updating every 10 ms (Izhikevich) approximates the per-step rule to O(T/tau)."""
    fine, r = _pairing(0.1, 5.0, 600.0)
    coarse, _ = _pairing(0.1, 5.0, 600.0, update_every_ms=10.0)
    w_fine, w_coarse = fine.weights("pre_post")[0] - 0.5, coarse.weights("pre_post")[0] - 0.5
    assert w_coarse == pytest.approx(w_fine, rel=10.0 * (1 / r.tau_c_ms + 1 / r.tau_d_ms))


def test_no_dopamine_no_change_and_depression_window():
    sim, r = _pairing(0.1, -8.0, None, T=200.0)  # post before pre
    # exact: without dopamine d stays 0.0, so every weight increment c d is 0.0
    assert sim.weights("pre_post")[0] == 0.5
    c = sim.eligibility("pre_post")[0]
    expected = -r.a_minus * math.exp(-8.0 / r.tau_minus_ms) \
        * math.exp(-(200.0 - 10.0) / r.tau_c_ms)
    assert c == pytest.approx(expected, rel=2e-3)  # c decays per step: O(dt/tau_c)
    assert sim.modulator("pre_post") == 0.0


def test_tonic_dopamine_and_set_modulator():
    sim, r = _pairing(0.1, 5.0, None, d_tonic=0.05, T=50.0)
    assert sim.weights("pre_post")[0] > 0.5  # tonic dopamine turns c into weight
    sim.set_modulator("pre_post", -2.0)
    assert sim.modulator("pre_post") == -2.0
    w = sim.weights("pre_post")[0]
    sim.run(1.0)
    assert sim.weights("pre_post")[0] < w  # a negative TD error depresses
    assert sim.modulator("pre_post") == pytest.approx(-2.0 * math.exp(-1.0 / r.tau_d_ms))


def test_modulator_api_errors():
    net = Network(groups={"a": SpikeGenerator(n=1), "b": LIF(n=1)},
                  synapses=[Synapses(source="a", target="b")])
    sim = NumbaSimulator(net)
    with pytest.raises(InvalidParameterError, match="not reward-modulated"):
        sim.modulator("a_b")
    with pytest.raises(InvalidParameterError, match="no projection named"):
        sim.eligibility("nope")
    sim2, _ = _pairing(0.1, 5.0, None, T=1.0)
    with pytest.raises(InvalidParameterError, match="finite"):
        sim2.set_modulator("pre_post", float("nan"))


@pytest.mark.parametrize("bad,match", [
    ({"modulator": "nowhere"}, "modulator 'nowhere' is not a group"),
    ({"update_every_ms": 0.25}, "whole number of time steps"),
    ({"tau_c_ms": 0.05}, "tau_c_ms"),
])
def test_invalid_reward_rule(bad, match):
    with pytest.raises(InvalidParameterError, match=match):
        Network(dt_ms=0.1, groups={"a": SpikeGenerator(n=1), "b": LIF(n=1)},
                synapses=[Synapses(source="a", target="b",
                                   plasticity=RewardSTDP(**bad))])


def test_izhikevich_noise_variance():
    """One step from rest with noise width s: v1 - v0 = dt * (f(v0) - u0 + s (U - 1/2)),
    so its variance is (dt s)^2 / 12 and its mean dt * (f(v0) - u0)."""
    n, s, dt = 40_000, 13.0, 0.5
    net = Network(dt_ms=dt, groups={"izh": Izhikevich(n=n, noise=s)})
    sim = NumbaSimulator(net, seed=5, recording=Recording(state={"izh": list(range(n))},
                                                          state_every_ms=dt))
    v1 = sim.run(dt).state["izh"]["v"][0]
    g = net.groups["izh"]
    v0, u0 = g.v0, g.u0
    mean = v0 + dt * (0.04 * v0 * v0 + 5 * v0 + 140 - u0)
    var = (dt * s) ** 2 / 12
    assert abs(v1.mean() - mean) < 5 * math.sqrt(var / n)
    # the variance of a sample variance of a uniform: (m4 - var^2) / n, m4 = 9/5 var^2
    assert abs(v1.var() - var) < 5 * math.sqrt(0.8 * var * var / n)
    # a second simulator with the same seed draws the same noise
    again = NumbaSimulator(net, seed=5, recording=Recording(state={"izh": [0, 1, 2]},
                                                            state_every_ms=dt))
    assert np.array_equal(again.run(dt).state["izh"]["v"][0], v1[:3])
