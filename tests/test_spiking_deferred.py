"""Stress tests of the engine's deferred potentiation on dense plastic projections.

A postsynaptic spike is only recorded in the projection's event ring and applied to a
weight row at that presynaptic neuron's next arrival (or at a flush: ring overflow,
readout, end of ``run``). These tests force tiny rings (many overflow flushes), long
presynaptic silences, high postsynaptic rates, weights pinned at the bounds while
potentiations are pending, triplet and nearest rules, delays and several dense
projections onto one target, and compare with the eager NumPy twin
(``tests/twins/spiking.py``).
"""

import numpy as np
import pytest

from plasticity._kernels import spiking as K
from plasticity.spiking import (
    LIF,
    Network,
    PairSTDP,
    Recording,
    SpikeGenerator,
    Synapses,
    TripletSTDP,
)
from plasticity.spiking.numba import NumbaSimulator
from plasticity.spiking.numba import pack as engine
from plasticity.spiking.results import merge_results

try:
    from tests.twins import spiking as twin
except ModuleNotFoundError:  # plain `pytest` puts tests/, not the repo root, on sys.path
    from twins import spiking as twin

TOL = {"rtol": 1e-10, "atol": 1e-12}
TRIP = {"a2_plus": 5e-3, "a3_plus": 6.2e-3, "a2_minus": 7e-3, "a3_minus": 2.3e-3}


@pytest.fixture(autouse=True)
def always_defer(monkeypatch):
    """Defer on every dense plastic projection, however few its targets."""
    monkeypatch.setattr(engine, "DEFER_MIN_POST", 1)


@pytest.fixture
def small_ring(monkeypatch):
    """Rings of the minimum size (one step's worth of events, rounded to a power of
    two), so that they overflow and flush all the time."""
    monkeypatch.setattr(engine, "POST_HISTORY_MIN", 1)
    monkeypatch.setattr(engine, "POST_HISTORY_PER_NEURON", 0)


def bernoulli(rng, n, rate_hz, duration_ms, dt, silent=()):
    """Bernoulli(rate*dt) trains per step; ``silent`` = [(start_ms, stop_ms), ...] spans
    without spikes (long presynaptic silences)."""
    steps = int(round(duration_ms / dt))
    fire = rng.random((steps, n)) < rate_hz * dt * 1e-3
    for a, b in silent:
        fire[int(a / dt):int(b / dt)] = False
    t, i = np.nonzero(fire)
    return SpikeGenerator(n=n, indices=i.tolist(), times_ms=(t * dt).tolist())


def compare(net, T, split=None):
    """Engine (optionally split into several runs) vs twin; returns the simulator."""
    lif = {name: list(range(g.n)) for name, g in net.groups.items() if g.kind == "lif"}
    sim = NumbaSimulator(net, seed=3,
                         recording=Recording(state=lif, state_every_ms=net.dt_ms))
    conn = {s.label: sim.connectivity(s.label) for s in net.synapses}
    w0 = {s.label: sim.weights(s.label) for s in net.synapses}
    spans = [T] if split is None else split
    assert abs(sum(spans) - T) < 1e-9
    res = merge_results([sim.run(s) for s in spans])
    ref = twin.simulate(net, conn, w0, T, record_v=lif)
    for name in net.groups:
        got_t, got_i = res.spikes[name]
        want_t, want_i = ref["spikes"][name]
        assert np.array_equal(got_i, want_i) and np.array_equal(got_t, want_t), name
    for syn in net.synapses:
        np.testing.assert_allclose(sim.weights(syn.label), ref["weights"][syn.label],
                                   **TOL, err_msg=syn.label)
        if syn.plasticity is not None:
            assert np.abs(sim.weights(syn.label) - w0[syn.label]).max() > 1e-3, syn.label
    return sim, w0


def ring_wrapped(sim, label):
    """True if the projection's event ring has wrapped around (overflow handling ran)."""
    pi = sim._proj_index[label]
    p = sim._proj[pi]
    return sim._defer[4][pi, K.E_COUNT] > p[K.P_EVCAP]


@pytest.mark.parametrize("rule", ["add", "mult", "triplet", "nearest", "trip_nearest"])
def test_long_silences_and_overflow(small_ring, rule):
    """Presynaptic neurons silent for long spans while the targets fire at high rates:
    far more pending postsynaptic spikes than the ring holds."""
    rng = np.random.default_rng(11)
    dt, T = 0.1, 600.0
    plast = {"add": PairSTDP(a_plus=0.02, a_minus=0.021),
             "mult": PairSTDP(a_plus=0.05, a_minus=0.05,
                              weight_dependence="multiplicative"),
             "triplet": TripletSTDP(**TRIP),
             "nearest": PairSTDP(a_plus=0.02, a_minus=0.021, pairing="nearest"),
             "trip_nearest": TripletSTDP(pairing="nearest", **TRIP)}[rule]
    net = Network(dt_ms=dt, groups={
        "pre": bernoulli(rng, 12, 20.0, T, dt, silent=[(50.0, 400.0)]),
        "post": bernoulli(rng, 9, 150.0, T, dt),
    }, synapses=[Synapses(source="pre", target="post", w_init=(0.2, 0.8),
                          plasticity=plast)])
    sim, _ = compare(net, T)
    assert ring_wrapped(sim, "pre_post")


@pytest.mark.parametrize("weight_dependence", ["additive", "multiplicative"])
def test_clipping_while_pending(small_ring, weight_dependence):
    """Large amplitudes: weights hit w_max (and w_min) repeatedly within one pending
    batch, so each potentiation's clip must be applied in turn."""
    rng = np.random.default_rng(5)
    dt, T = 0.1, 400.0
    net = Network(dt_ms=dt, groups={
        "pre": bernoulli(rng, 10, 15.0, T, dt, silent=[(100.0, 250.0)]),
        "post": bernoulli(rng, 7, 200.0, T, dt),
    }, synapses=[Synapses(source="pre", target="post", w_init=(0.1, 0.9), w_min=0.1,
                          w_max=0.9, plasticity=PairSTDP(
                              a_plus=0.4, a_minus=0.45,
                              weight_dependence=weight_dependence))])
    sim, _ = compare(net, T)
    w = sim.weights("pre_post")
    assert np.any(w == 0.1)
    if weight_dependence == "additive":  # multiplicative potentiation approaches w_max
        assert np.any(w == 0.9)
    assert ring_wrapped(sim, "pre_post")


def _lif_net(rng, T, dt):
    """Two plastic dense projections (pair, triplet; one delayed) and a static one onto
    the same LIF target, a dense plastic recurrent projection with a delay, and a
    second plastic projection from the same source onto another target."""
    return Network(dt_ms=dt, groups={
        "a": bernoulli(rng, 30, 30.0, T, dt, silent=[(60.0, 180.0)]),
        "b": bernoulli(rng, 20, 40.0, T, dt),
        "out": LIF(n=10, model="current", tau_m_ms=12.0, tau_e_ms=4.0, t_ref_ms=1.0),
        "gen": bernoulli(rng, 6, 120.0, T, dt),
    }, synapses=[
        Synapses(source="a", target="out", w_init=(5.0, 15.0), w_max=20.0,
                 plasticity=PairSTDP(a_plus=0.05, a_minus=0.055)),
        Synapses(source="b", target="out", w_init=(2.0, 10.0), w_max=15.0, delay_ms=1.3,
                 plasticity=TripletSTDP(**TRIP)),
        Synapses(name="b_out_inh", source="b", target="out", receptor="i",
                 w_init=(0.0, 1.0)),
        Synapses(source="out", target="out", w_init=(0.0, 0.5), w_max=1.0, delay_ms=0.5,
                 plasticity=PairSTDP(a_plus=0.05, a_minus=0.05, pairing="nearest",
                                     weight_dependence="multiplicative")),
        Synapses(source="a", target="gen", w_init=(0.2, 0.8), delay_ms=2.0,
                 plasticity=TripletSTDP(pairing="nearest", **TRIP)),
    ])


@pytest.mark.parametrize("dt", [0.1, 0.25])
def test_several_projections_delays_lif(small_ring, dt):
    rng = np.random.default_rng([7, int(dt * 100)])
    T = 500.0
    net = _lif_net(rng, T, dt)
    sim, _ = compare(net, T)
    assert sim.run(0.0).counts["out"] == 0  # an empty run is harmless
    assert ring_wrapped(sim, "a_out")


def test_default_ring_several_projections():
    """The same network with the default (large, never overflowing) rings."""
    rng = np.random.default_rng(8)
    dt, T = 0.1, 400.0
    compare(_lif_net(rng, T, dt), T)


@pytest.mark.parametrize("spans", [[123.4, 176.6, 200.0], [0.1, 299.9, 100.0, 100.0]])
def test_split_runs_against_twin(small_ring, spans):
    rng = np.random.default_rng(9)
    dt, T = 0.1, 500.0
    compare(_lif_net(rng, T, dt), T, split=spans)


def _weights_after(spans, readouts, cap_small=True):
    """Final weights and spikes of a fixed network run in ``spans``, reading (or
    rewriting, unchanged) the weights between runs if ``readouts``."""
    rng = np.random.default_rng(4)
    dt, T = 0.1, 400.0
    net = _lif_net(rng, T, dt)
    sim = NumbaSimulator(net, seed=1, recording=Recording(spikes=("out",)))
    out = []
    for s in spans:
        out.append(sim.run(s).spikes["out"])
        if readouts:
            for syn in net.synapses:
                sim.set_weights(syn.label, sim.weights(syn.label))
    return {s.label: sim.weights(s.label) for s in net.synapses}, out


def test_flushes_do_not_change_results(small_ring):
    """Splitting a run, reading the weights and writing them back between runs: all
    bit-for-bit identical to one run (a flush applies each pending event exactly as the
    next arrival would)."""
    w_one, s_one = _weights_after([400.0], False)
    for spans, readouts in [([150.0, 250.0], False), ([100.0, 0.3, 99.7, 200.0], True)]:
        w, s = _weights_after(spans, readouts)
        for k in w_one:
            assert np.array_equal(w[k], w_one[k]), k
        assert np.array_equal(np.concatenate([t for t, _ in s]), s_one[0][0])


def test_set_weights_discards_nothing_pending():
    """Pending potentiations precede a set_weights: the new weights are kept as given,
    and later potentiations act on them."""
    dt = 0.1
    # pre 0 fires at 1 ms, post 0 at 3 ms and 5 ms: two potentiations pending on row 0
    net = Network(dt_ms=dt, groups={
        "pre": SpikeGenerator(n=1, indices=[0], times_ms=[1.0]),
        "post": SpikeGenerator(n=1, indices=[0, 0], times_ms=[3.0, 5.0]),
    }, synapses=[Synapses(source="pre", target="post", w_init=0.5,
                          plasticity=PairSTDP(a_plus=0.01, a_minus=0.0))])
    sim = NumbaSimulator(net, seed=0)
    sim.run(4.0)
    w_mid = sim.weights("pre_post")[0]
    x = np.exp(-20 * dt / 20.0)
    assert w_mid == pytest.approx(0.5 + 0.01 * x, rel=1e-12)
    sim.set_weights("pre_post", np.array([0.25]))
    sim.run(6.0)
    x2 = np.exp(-40 * dt / 20.0)
    assert sim.weights("pre_post")[0] == pytest.approx(0.25 + 0.01 * x2, rel=1e-12)


def test_same_step_ordering():
    """A post spike in the step of an arrival counts as after it; with a delay, the
    arrival (not the emission) is what counts."""
    dt = 0.1
    rule = PairSTDP(a_plus=0.01, a_minus=0.012, tau_plus_ms=20.0, tau_minus_ms=20.0)
    for delay in (0.0, 0.5):
        # pre sent at 1.0 ms (arrives 1.0 + delay); post exactly at the arrival, and
        # again at the next arrival (3.0 + delay), where it is not pending yet
        arr1, arr2 = 1.0 + delay, 3.0 + delay
        net = Network(dt_ms=dt, groups={
            "pre": SpikeGenerator(n=1, indices=[0, 0], times_ms=[1.0, 3.0]),
            "post": SpikeGenerator(n=1, indices=[0, 0], times_ms=[arr1, arr2]),
        }, synapses=[Synapses(source="pre", target="post", w_init=0.5, delay_ms=delay,
                              plasticity=rule)])
        sim = NumbaSimulator(net, seed=0)
        conn, w0 = sim.connectivity("pre_post"), sim.weights("pre_post")
        sim.run(10.0)
        ref = twin.simulate(net, {"pre_post": conn}, {"pre_post": w0}, 10.0)
        np.testing.assert_allclose(sim.weights("pre_post"), ref["weights"]["pre_post"],
                                   **TOL)
        # by hand: +a (x = 1 at arr1), then at arr2: -a_minus * y(20 steps), then the
        # post spike at arr2 sees x = 1 + exp(-20 steps)
        d = np.exp(-20 * dt / 20.0)
        w = 0.5 + 0.01 * 1.0
        w = w - 0.012 * 1.0 * d
        w = w + 0.01 * (1.0 + d)
        assert sim.weights("pre_post")[0] == pytest.approx(w, rel=1e-12)


def test_memory_is_not_per_synapse():
    """Deferral adds O(n_pre + n_post * capacity), nothing per synapse."""
    net = Network(groups={"in": SpikeGenerator(n=2000, indices=[], times_ms=[]),
                          "out": LIF(n=300)},
                  synapses=[Synapses(source="in", target="out", w_init=0.1,
                                     plasticity=PairSTDP())])
    sim = NumbaSimulator(net, seed=0)
    extra = sum(a.nbytes for a in sim._defer)
    cap = int(sim._proj[0, K.P_EVCAP])
    assert cap >= 300 and cap & (cap - 1) == 0
    assert extra <= 28 * cap + 24 * 2000 + 8 * engine.POW_TABLE_LEN + 64
    assert extra < 2 * sim._W.nbytes


def test_eager_dense_path(monkeypatch):
    """Narrow dense projections (fewer than ``DEFER_MIN_POST`` targets) potentiate
    eagerly; that path agrees with the twin too."""
    monkeypatch.setattr(engine, "DEFER_MIN_POST", 10**9)
    rng = np.random.default_rng(12)
    dt, T = 0.1, 400.0
    sim, _ = compare(_lif_net(rng, T, dt), T)
    assert (sim._proj[:, K.P_EVCAP] == 0).all()
