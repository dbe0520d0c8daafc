"""Dopamine-modulated STDP (RewardSTDP) and Izhikevich's integration options in the Brian2
backend, against the Numba engine.

* On deterministic protocols (spike generators, no noise) Brian2 fires at the same steps
  and ends with the same weights, eligibility traces and dopamine as the engine, to
  rounding: dense and sparse (random, one_to_one) reward-modulated projections, all and
  nearest pairing, a delay, a modulator group, periodic weight updates
  (``update_every_ms``), tonic dopamine without a modulator, ``set_modulator`` between
  runs, and Izhikevich neurons with ``method="izhikevich2007"`` and/or delta synapses.
  Measured (NumPy target): weights within 1.2e-14, eligibility within 2e-15, dopamine
  bitwise equal, Izhikevich ``v`` within 6e-10 mV over 200 ms (1e-8 over 300 ms: Brian2
  computes in volts, and the dynamics amplify the rounding near the spike peaks).
* Izhikevich's uniform current noise drawn by Brian2's ``rand()`` has the mean and the
  variance of the uniform distribution (statistical, not bitwise, agreement).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

try:
    from tests.test_reward_stdp import _reward_net
except ImportError:  # pragma: no cover - run from inside tests/
    from test_reward_stdp import _reward_net

pytest.importorskip("brian2")

from plasticity.errors import InvalidParameterError  # noqa: E402
from plasticity.spiking import (  # noqa: E402
    LIF,
    Izhikevich,
    Network,
    Recording,
    RewardSTDP,
    SpikeGenerator,
    Synapses,
)
from plasticity.spiking.brian2 import Brian2Simulator  # noqa: E402
from plasticity.spiking.numba import NumbaSimulator  # noqa: E402
from plasticity.spiking.results import merge_results  # noqa: E402

try:
    from tests.conftest import bernoulli_trains as _train
except ImportError:  # pragma: no cover - run from inside tests/
    from conftest import bernoulli_trains as _train

TOL = {"rtol": 1e-9, "atol": 1e-12}


def neuron_network(seed, T, dt):
    """The twin-agreement network of ``tests/test_reward_stdp.py``: generator inputs onto
    Izhikevich neurons (Izhikevich's scheme, delta synapses; dense delayed reward
    projection) and LIF neurons (sparse, nearest pairing, updates every 2 ms), Izhikevich
    -> LIF with tonic dopamine only, and a modulator group."""
    return _reward_net(np.random.default_rng(seed), T, dt)


def pairing_network(connect, pairing, update_every_ms, seed=0, T=200.0, dt=0.1):
    """Generator -> generator: plasticity without neurons (every post spike near a pre
    spike, same step included), dopamine from a generator."""
    rng = np.random.default_rng(seed)
    n = 5
    pre_steps = rng.integers(0, int((T - 20) / dt), 60)
    post_steps = np.clip(pre_steps + rng.integers(-100, 101, pre_steps.size), 0, None)
    rule = RewardSTDP(a_plus=0.03, a_minus=0.035, tau_c_ms=50.0, tau_d_ms=20.0, eta=0.2,
                      d_tonic=-0.01, d_jump=0.8, modulator="da", pairing=pairing,
                      update_every_ms=update_every_ms)
    kwargs = {"connect": connect, "p": 0.5} if connect == "random" else {"connect": connect}
    return Network(dt_ms=dt, groups={
        "pre": SpikeGenerator(n=n, indices=rng.integers(0, n, pre_steps.size).tolist(),
                              times_ms=(pre_steps * dt).round(6).tolist()),
        "post": SpikeGenerator(n=n, indices=rng.integers(0, n, post_steps.size).tolist(),
                               times_ms=(post_steps * dt).round(6).tolist()),
        "da": _train(rng, 2, 40.0, T, dt),
    }, synapses=[Synapses(source="pre", target="post", w_init=(0.3, 0.7), delay_ms=0.5,
                          plasticity=rule, **kwargs)])


def assert_same_spikes(ra, rb, net):
    for g in net.groups:
        np.testing.assert_array_equal(rb.spikes[g][0], ra.spikes[g][0], err_msg=g)
        np.testing.assert_array_equal(rb.spikes[g][1], ra.spikes[g][1], err_msg=g)
    assert ra.counts == rb.counts


def assert_same_plasticity(a, b, net):
    """Same weights, eligibility and dopamine; returns the largest differences."""
    diffs = {"w": 0.0, "c": 0.0, "d": 0.0}
    for syn in net.synapses:
        label = syn.label
        np.testing.assert_allclose(b.weights(label), a.weights(label), **TOL,
                                   err_msg=label)
        np.testing.assert_allclose(b.eligibility(label), a.eligibility(label), **TOL,
                                   err_msg=label)
        assert b.modulator(label) == pytest.approx(a.modulator(label), rel=1e-12,
                                                   abs=1e-15)
        diffs["w"] = max(diffs["w"], np.abs(b.weights(label) - a.weights(label)).max())
        diffs["c"] = max(diffs["c"],
                         np.abs(b.eligibility(label) - a.eligibility(label)).max())
        diffs["d"] = max(diffs["d"], abs(b.modulator(label) - a.modulator(label)))
    return diffs


@pytest.mark.parametrize("connect", ["all", "random", "one_to_one"])
@pytest.mark.parametrize("pairing,update_every_ms", [("all", None), ("nearest", 1.5)])
def test_pairing_protocol_matches_engine(connect, pairing, update_every_ms):
    net = pairing_network(connect, pairing, update_every_ms, seed=1)
    a, b = NumbaSimulator(net, seed=2), Brian2Simulator(net, seed=2, target="numpy")
    w0 = a.weights("pre_post")
    ra, rb = a.run(200.0), b.run(200.0)
    assert ra.counts["da"] > 5
    assert_same_spikes(ra, rb, net)
    assert_same_plasticity(a, b, net)
    assert np.abs(a.weights("pre_post") - w0).max() > 1e-3  # the rule did act
    assert np.abs(a.eligibility("pre_post")).max() > 1e-4


@pytest.mark.parametrize("dt", [0.5, 0.25])
def test_neuron_network_matches_engine(dt):
    """Izhikevich2007 + delta synapses, LIF, dense and sparse reward projections, a
    modulator, periodic updates; the run is split and the dopamine set in between."""
    T, split = 200.0, 83.0
    net = neuron_network([7, int(dt * 100)], T, dt)
    rec = Recording(state={"izh": list(range(8))}, state_every_ms=dt)
    a = NumbaSimulator(net, seed=3, recording=rec)
    b = Brian2Simulator(net, seed=3, recording=rec, target="numpy")
    w0 = {s.label: a.weights(s.label) for s in net.synapses}
    parts_a, parts_b = [a.run(split)], [b.run(split)]
    for sim in (a, b):
        sim.set_modulator("pre_izh", -0.5)
        sim.set_modulator("izh_lif", 1.5)
    parts_a.append(a.run(T - split))
    parts_b.append(b.run(T - split))
    ra, rb = merge_results(parts_a), merge_results(parts_b)
    assert_same_spikes(ra, rb, net)
    for name in ("izh", "lif"):
        assert ra.counts[name] > 5, f"'{name}' hardly fired; the test is vacuous"
    np.testing.assert_allclose(rb.state["izh"]["v"], ra.state["izh"]["v"], rtol=1e-8,
                               atol=1e-8)
    # delta synapses: g_e holds the step's arrivals, used up in the next step
    np.testing.assert_allclose(rb.state["izh"]["g_e"], ra.state["izh"]["g_e"], rtol=1e-12,
                               atol=1e-12)
    assert_same_plasticity(a, b, net)
    for syn in net.synapses:
        assert np.abs(a.weights(syn.label) - w0[syn.label]).max() > 1e-2, syn.label


@pytest.mark.parametrize("method,synapse", [("euler", "delta"),
                                            ("izhikevich2007", "exponential")])
def test_izhikevich_options_match_engine(method, synapse):
    """The other two combinations of the integration scheme and the synapse model: RS
    neurons driven by generators, intrinsically bursting ones (c = -55, d = 4) driven by
    the RS neurons and the generators. (Fast-spiking neurons firing tonically are
    avoided: their limit cycle amplifies rounding differences ~1e4-fold per 100 ms, see
    tests/test_izhikevich.py.)"""
    dt, T = 0.5, 300.0
    rng = np.random.default_rng(11)
    net = Network(dt_ms=dt, groups={
        "exc": _train(rng, 20, 50.0, T, dt),
        "inh": _train(rng, 5, 40.0, T, dt),
        "rs": Izhikevich(n=3, method=method, synapse=synapse, i_ext=3.0),
        "ib": Izhikevich(n=2, preset="custom", a=0.02, b=0.2, c=-55.0, d=4.0,
                         method=method, synapse=synapse),
    }, synapses=[
        Synapses(source="exc", target="rs", w_init=(1.0, 3.0), w_max=4.0, delay_ms=1.0),
        Synapses(source="inh", target="rs", receptor="i", w_init=2.0, w_max=4.0),
        Synapses(source="rs", target="ib", w_init=(5.0, 8.0), w_max=10.0),
        Synapses(source="exc", target="ib", connect="random", p=0.5, w_init=3.5,
                 w_max=4.0),
        Synapses(source="exc", target="ib", name="dense", w_init=1.0),
    ])
    rec = Recording(state={"rs": [0, 1, 2], "ib": [0, 1]}, state_every_ms=dt)
    ra = NumbaSimulator(net, recording=rec).run(T)
    rb = Brian2Simulator(net, recording=rec, target="numpy").run(T)
    assert_same_spikes(ra, rb, net)
    assert ra.counts["rs"] > 5 and ra.counts["ib"] > 5
    for g in ("rs", "ib"):
        np.testing.assert_allclose(rb.state[g]["v"], ra.state[g]["v"], rtol=1e-8,
                                   atol=1e-8)
        np.testing.assert_allclose(rb.state[g]["g_e"], ra.state[g]["g_e"], rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("method", ["euler", "izhikevich2007"])
def test_izhikevich_noise_statistics(method):
    """One step from rest with noise width s. Euler: v1 - v0 = dt (f(v0) - u0 +
    s (U - 1/2)), variance (dt s)^2 / 12. Half steps: the first moves v by
    h (f(v0) - u0 + xi) with h = dt/2, the second by h (f(v') - u0 + xi), so v1 is a
    quadratic in xi, whose mean and variance are computed here exactly (moments of the
    uniform), and compared with the sample's (five standard errors)."""
    n, s, dt = 20_000, 13.0, 0.5
    net = Network(dt_ms=dt, groups={"izh": Izhikevich(n=n, noise=s, method=method)})
    rec = Recording(state={"izh": list(range(n))}, state_every_ms=dt)
    v1 = Brian2Simulator(net, seed=5, recording=rec, target="numpy").run(dt) \
        .state["izh"]["v"][0]
    g = net.groups["izh"]
    v0, u0 = g.v0, g.u0

    def f(v):
        return 0.04 * v * v + 5 * v + 140 - u0

    # v1 as a polynomial in the noise xi ~ U(-s/2, s/2), by exact polynomial arithmetic
    if method == "euler":
        poly = np.polynomial.Polynomial([v0 + dt * f(v0), dt])
    else:
        h = 0.5 * dt
        vh = np.polynomial.Polynomial([v0 + h * f(v0), h])
        poly = vh + h * (0.04 * vh * vh + 5 * vh + 140 - u0) + h * np.polynomial.Polynomial(
            [0.0, 1.0])
    # moments of xi: E[xi^k] = (s/2)^k / (k+1) for even k, 0 for odd k
    moment = [0.0 if k % 2 else (s / 2) ** k / (k + 1) for k in range(9)]

    def expect(p):
        return sum(c * moment[k] for k, c in enumerate(p.coef))

    mean = expect(poly)
    var = expect(poly * poly) - mean ** 2
    m4 = expect((poly - mean) ** 4)
    assert v1.size == n and np.unique(v1).size > n // 2  # drawn per neuron
    assert abs(v1.mean() - mean) < 5 * math.sqrt(var / n)
    # the standard error of a sample variance: sqrt((m4 - var^2) / n)
    assert abs(v1.var() - var) < 5 * math.sqrt((m4 - var * var) / n)
    # the same seed draws the same noise; another seed other noise
    again = Brian2Simulator(net, seed=5, recording=rec, target="numpy").run(dt)
    np.testing.assert_array_equal(again.state["izh"]["v"][0], v1)
    other = Brian2Simulator(net, seed=6, recording=rec, target="numpy").run(dt)
    assert not np.array_equal(other.state["izh"]["v"][0], v1)


def test_modulator_api():
    net = pairing_network("all", "all", None, T=50.0)
    sim = Brian2Simulator(net, target="numpy")
    assert sim.modulator("pre_post") == 0.0
    np.testing.assert_array_equal(sim.eligibility("pre_post"), np.zeros(25))
    sim.set_modulator("pre_post", 2.0)
    assert sim.modulator("pre_post") == 2.0
    sim.run(1.0)
    # ten steps of decay (and whatever the modulator released), as in the engine
    eng = NumbaSimulator(net)
    eng.set_modulator("pre_post", 2.0)
    eng.run(1.0)
    assert sim.modulator("pre_post") == pytest.approx(eng.modulator("pre_post"), rel=1e-12)
    with pytest.raises(InvalidParameterError, match="finite"):
        sim.set_modulator("pre_post", float("inf"))
    with pytest.raises(InvalidParameterError, match="no projection named"):
        sim.eligibility("nope")
    plain = Network(groups={"a": SpikeGenerator(n=1), "b": LIF(n=1)},
                    synapses=[Synapses(source="a", target="b")])
    other = Brian2Simulator(plain, target="numpy")
    for call in (lambda: other.modulator("a_b"), lambda: other.eligibility("a_b"),
                 lambda: other.set_modulator("a_b", 1.0)):
        with pytest.raises(InvalidParameterError, match="not reward-modulated"):
            call()


def test_empty_reward_projection():
    """A random projection that drew no synapse still keeps (and decays) its dopamine."""
    net = Network(dt_ms=0.1, groups={
        "a": SpikeGenerator(n=2, indices=[0], times_ms=[1.0]),
        "b": LIF(n=2), "da": SpikeGenerator(n=1, indices=[0, 0], times_ms=[2.0, 3.0])},
        synapses=[Synapses(source="a", target="b", connect="random", p=0.0,
                           plasticity=RewardSTDP(modulator="da"))])
    a, b = NumbaSimulator(net), Brian2Simulator(net, target="numpy")
    a.run(10.0)
    b.run(10.0)
    assert b.eligibility("a_b").shape == (0,) and b.weights("a_b").shape == (0,)
    assert b.modulator("a_b") == pytest.approx(a.modulator("a_b"), rel=1e-12)
    assert a.modulator("a_b") > 0.5


@pytest.mark.slow
def test_cpp_standalone_matches_runtime():
    net = pairing_network("random", "nearest", 1.5, seed=4)
    sa = Brian2Simulator(net, seed=1, target="cpp_standalone")
    eng = NumbaSimulator(net, seed=1)
    for sim in (sa, eng):
        sim.set_modulator("pre_post", 0.3)
    assert sa.modulator("pre_post") == 0.3
    ra, rb = eng.run(200.0), sa.run(200.0)
    assert_same_spikes(ra, rb, net)
    assert_same_plasticity(eng, sa, net)
    with pytest.raises(InvalidParameterError, match="already"):
        sa.set_modulator("pre_post", 1.0)
