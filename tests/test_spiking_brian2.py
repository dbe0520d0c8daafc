"""The Brian2 backend against the Numba engine, on deterministic protocols (spike
generators, no Poisson): the same spikes at the same steps and the same weights."""

import sys

import numpy as np
import pytest

pytest.importorskip("brian2")

from plasticity.errors import InvalidParameterError  # noqa: E402
from plasticity.spiking import (  # noqa: E402
    LIF,
    Network,
    PairSTDP,
    PoissonGroup,
    Recording,
    SpikeGenerator,
    Synapses,
    TripletSTDP,
    simulator,
)
from plasticity.spiking.brian2 import Brian2Simulator  # noqa: E402
from plasticity.spiking.numba import NumbaSimulator  # noqa: E402
from plasticity.spiking.results import merge_results  # noqa: E402

RULES = {
    "pair-additive-all": PairSTDP(a_plus=0.02, a_minus=0.021),
    "pair-additive-nearest": PairSTDP(a_plus=0.02, a_minus=0.021, pairing="nearest"),
    "pair-multiplicative-all": PairSTDP(a_plus=0.05, a_minus=0.05, tau_minus_ms=30.0,
                                        weight_dependence="multiplicative"),
    "pair-multiplicative-nearest": PairSTDP(a_plus=0.05, a_minus=0.05, pairing="nearest",
                                            weight_dependence="multiplicative"),
    "triplet-all": TripletSTDP(a2_plus=5e-3, a3_plus=6e-3, a2_minus=7e-3, a3_minus=2e-3),
    "triplet-nearest": TripletSTDP(a2_plus=5e-3, a3_plus=6e-3, a2_minus=7e-3,
                                   a3_minus=2e-3, pairing="nearest"),
}
CONNECT = {"all": {"connect": "all"}, "random": {"connect": "random", "p": 0.5},
           "one_to_one": {"connect": "one_to_one"}}


def _train(rng, n, duration_ms, n_spikes, dt=0.1):
    """Random spike times on the time-step grid (ms) and source indices."""
    steps = rng.integers(0, int(duration_ms / dt), n_spikes)
    return rng.integers(0, n, n_spikes).tolist(), (steps * dt).round(6).tolist()


def protocol(kind, rule=None, connect="all", *, seed=0, duration_ms=150.0, dt_ms=0.1,
             model="conductance", t_ref_ms=0.0, delay_ms=0.0, n=6):
    """The shared deterministic protocols.

    ``"pairing"``: generator -> generator, each postsynaptic spike placed near a
    presynaptic one (-10..+10 ms, same step included), so plasticity is driven without
    neurons. ``"lif"``: 20 generator inputs (excitatory, plastic, delayed) and 5
    inhibitory ones onto LIF neurons (``n`` of them; one_to_one uses ``n`` inputs).
    """
    rng = np.random.default_rng(seed)
    conn = CONNECT[connect]
    if kind == "pairing":
        pre_i, pre_t = _train(rng, n, duration_ms - 20, 12 * n, dt_ms)
        shift = rng.integers(-100, 101, len(pre_t)) * dt_ms
        post_t = np.clip(np.asarray(pre_t) + 10 + shift, 0, None).round(6).tolist()
        post_i = rng.integers(0, n, len(pre_t)).tolist()
        groups = {"pre": SpikeGenerator(n=n, indices=pre_i, times_ms=pre_t),
                  "post": SpikeGenerator(n=n, indices=post_i, times_ms=post_t)}
        syn = [Synapses(source="pre", target="post", w_init=(0.3, 0.7), plasticity=rule,
                        delay_ms=delay_ms, **conn)]
        return Network(groups=groups, synapses=syn, dt_ms=dt_ms)
    n_in = n if connect == "one_to_one" else 20
    exc_i, exc_t = _train(rng, n_in, duration_ms, 30 * n_in, dt_ms)
    inh_i, inh_t = _train(rng, 5, duration_ms, 40, dt_ms)
    if model == "conductance":
        w_exc, w_inh = ((0.1, 0.4), 0.3) if connect == "one_to_one" else ((0.02, 0.1), 0.2)
    else:
        w_exc, w_inh = ((4.0, 8.0), 3.0) if connect == "one_to_one" else ((1.0, 3.0), 3.0)
    w_max = 10.0 if model == "current" else 1.0
    groups = {"exc": SpikeGenerator(n=n_in, indices=exc_i, times_ms=exc_t),
              "inh": SpikeGenerator(n=5, indices=inh_i, times_ms=inh_t),
              "out": LIF(n=n, model=model, t_ref_ms=t_ref_ms, v_init_mV=-60.0)}
    syn = [Synapses(source="exc", target="out", w_init=w_exc, w_max=w_max,
                    plasticity=rule, delay_ms=delay_ms, **conn),
           Synapses(source="inh", target="out", receptor="i", w_init=w_inh, w_max=w_max)]
    return Network(groups=groups, synapses=syn, dt_ms=dt_ms)


def run_both(net, duration_ms=150.0, *, seed=0, recording=None, target="numpy"):
    a = NumbaSimulator(net, seed=seed, recording=recording)
    b = Brian2Simulator(net, seed=seed, recording=recording, target=target)
    return a, a.run(duration_ms), b, b.run(duration_ms)


def assert_same_result(ra, rb):
    """Same spikes (same steps), counts, rates and sampled state; same shapes/dtypes."""
    assert (ra.t_start_ms, ra.t_stop_ms) == (rb.t_start_ms, rb.t_stop_ms)
    assert ra.counts == rb.counts
    assert ra.spikes.keys() == rb.spikes.keys()
    for key, (t, i) in ra.spikes.items():
        tb, ib = rb.spikes[key]
        assert tb.dtype == np.float64 and ib.dtype == np.int64
        np.testing.assert_array_equal(tb, t, err_msg=key)
        np.testing.assert_array_equal(ib, i, err_msg=key)
    assert ra.rates.keys() == rb.rates.keys()
    for key, (starts, rate) in ra.rates.items():
        np.testing.assert_array_equal(rb.rates[key][0], starts)
        np.testing.assert_allclose(rb.rates[key][1], rate, rtol=1e-12)
    assert ra.state.keys() == rb.state.keys()
    for key, st in ra.state.items():
        np.testing.assert_array_equal(rb.state[key]["t_ms"], st["t_ms"])
        for var in ("v", "g_e"):
            assert rb.state[key][var].shape == st[var].shape
            np.testing.assert_allclose(rb.state[key][var], st[var], rtol=0, atol=1e-9)


def assert_same_weights(a, b, net):
    for syn in net.synapses:
        pa, qa = a.connectivity(syn.label)
        pb, qb = b.connectivity(syn.label)
        np.testing.assert_array_equal(pb, pa)
        np.testing.assert_array_equal(qb, qa)
        np.testing.assert_allclose(b.weights(syn.label), a.weights(syn.label), rtol=1e-9,
                                   atol=1e-12, err_msg=syn.label)


@pytest.mark.parametrize("connect", list(CONNECT))
@pytest.mark.parametrize("rule", list(RULES))
def test_pairing_protocol_weights_match_engine(rule, connect):
    net = protocol("pairing", RULES[rule], connect, seed=1)
    a, ra, b, rb = run_both(net)
    assert ra.counts["pre"] > 30 and ra.counts["post"] > 30
    assert_same_result(ra, rb)
    assert_same_weights(a, b, net)
    w0 = NumbaSimulator(net, seed=0).weights("pre_post")
    assert np.abs(b.weights("pre_post") - w0).max() > 1e-3  # plasticity did act


@pytest.mark.parametrize("rule,connect", [(r, "all") for r in RULES]
                         + [("pair-additive-all", "random"),
                            ("triplet-nearest", "random"),
                            ("pair-multiplicative-all", "one_to_one"),
                            ("triplet-all", "one_to_one")])
def test_lif_protocol_spikes_and_weights_match_engine(rule, connect):
    net = protocol("lif", RULES[rule], connect, seed=2, delay_ms=1.0, n=3)
    rec = Recording(state={"out": [0, 2]}, state_every_ms=0.5, rate_bin_ms=25.0)
    a, ra, b, rb = run_both(net, recording=rec)
    assert ra.counts["out"] >= 5
    assert_same_result(ra, rb)
    assert_same_weights(a, b, net)


@pytest.mark.parametrize("model", ["conductance", "current"])
def test_lif_neurons_match_engine(model):
    """Excitatory (delayed) and inhibitory receptors, static synapses, state sampled."""
    net = protocol("lif", None, seed=3, delay_ms=0.5, model=model, n=4)
    rec = Recording(state={"out": [0, 1, 2, 3]}, state_every_ms=0.1, rate_bin_ms=10.0)
    a, ra, b, rb = run_both(net, 200.0, recording=rec)
    assert ra.counts["out"] >= 10
    assert_same_result(ra, rb)
    # the inhibitory input does act: without it the neurons fire more
    c = Brian2Simulator(net, seed=0, target="numpy")
    c.set_weights("inh_out", np.zeros(c.weights("inh_out").size))
    assert c.run(200.0).counts["out"] > ra.counts["out"]


@pytest.mark.parametrize("model", ["conductance", "current"])
def test_refractory_lif_matches_engine(model):
    net = protocol("lif", RULES["pair-additive-all"], seed=3, delay_ms=1.0, model=model,
                   t_ref_ms=2.0, n=3)
    rec = Recording(state={"out": [0]}, state_every_ms=0.1)
    a, ra, b, rb = run_both(net, recording=rec)
    assert ra.counts["out"] >= 5
    assert_same_result(ra, rb)
    assert_same_weights(a, b, net)


def test_refractory_period_brian2_semantics():
    """Brian2 (the reference) holds v at v_reset for exactly t_ref_ms after the spike."""
    net = Network(groups={"n": LIF(n=1, model="current", v_rest_mV=-40.0, v_th_mV=-54.0,
                                   v_reset_mV=-60.0, t_ref_ms=1.0, v_init_mV=-53.0)})
    rec = Recording(state={"n": [0]}, state_every_ms=0.1)
    res = Brian2Simulator(net, recording=rec, target="numpy").run(3.0)
    v = res.state["n"]["v"][:, 0]
    assert res.spikes["n"][0][0] == 0.0
    # v_reset goes to Brian2 in volts and comes back in mV: two roundings, not exact
    held = np.flatnonzero(np.abs(v - (-60.0)) < 1e-9)
    np.testing.assert_array_equal(held, np.arange(10))  # steps 0..9 = 1 ms at dt 0.1


def test_run_twice_equals_one_run():
    net = protocol("lif", RULES["triplet-all"], seed=4, delay_ms=1.0, n=3)
    rec = Recording(state={"out": [1]}, state_every_ms=0.3, rate_bin_ms=20.0)
    one = Brian2Simulator(net, seed=5, recording=rec, target="numpy")
    r_one = one.run(150.0)
    two = Brian2Simulator(net, seed=5, recording=rec, target="numpy")
    parts = [two.run(73.3), two.run(76.7)]
    assert two.step == one.step == 1500 and two.t_ms == pytest.approx(150.0)
    assert parts[1].t_start_ms == pytest.approx(73.3)
    merged = merge_results(parts)
    for key in r_one.spikes:
        np.testing.assert_array_equal(merged.spikes[key][0], r_one.spikes[key][0])
        np.testing.assert_array_equal(merged.spikes[key][1], r_one.spikes[key][1])
    assert merged.counts == r_one.counts
    np.testing.assert_allclose(merged.state["out"]["v"], r_one.state["out"]["v"], atol=1e-9)
    np.testing.assert_array_equal(merged.state["out"]["t_ms"], r_one.state["out"]["t_ms"])
    np.testing.assert_array_equal(two.weights("exc_out"), one.weights("exc_out"))
    # and each segment is the engine's segment (bins relative to the segment start)
    eng = NumbaSimulator(net, seed=5, recording=rec)
    for part, dur in zip(parts, (73.3, 76.7), strict=True):
        assert_same_result(eng.run(dur), part)


def test_set_weights_and_progress():
    net = protocol("pairing", RULES["pair-additive-all"], "random", seed=6)
    a = NumbaSimulator(net, seed=1)
    b = Brian2Simulator(net, seed=1, target="numpy")
    w = np.linspace(0.2, 0.8, a.weights("pre_post").size)
    a.set_weights("pre_post", w)
    b.set_weights("pre_post", w)
    np.testing.assert_array_equal(b.weights("pre_post"), w)
    seen = []
    a.run(100.0)
    b.run(100.0, progress=seen.append)
    assert sum(seen) == pytest.approx(100.0)
    assert_same_weights(a, b, net)
    assert_same_result(a.run(0.0), b.run(0.0))  # an empty segment has the same format
    with pytest.raises(InvalidParameterError, match="shape"):
        b.set_weights("pre_post", w[:-1])
    with pytest.raises(InvalidParameterError, match="no projection"):
        b.weights("nope")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_no_magic_collection():
    """Brian2 objects and names in the caller's frame neither join nor break the run."""
    import brian2

    net = protocol("lif", RULES["pair-additive-all"], seed=7, n=3)
    a = Brian2Simulator(net, seed=0, target="numpy")
    ra = a.run(100.0)

    def boom():
        raise AssertionError("a stray network_operation was collected")

    stray_group = brian2.NeuronGroup(3, "dv/dt = -v / (1*ms) : 1", threshold="v > -1",  # noqa: F841
                                     name="stray_group_for_test")
    stray_op = brian2.network_operation(boom, name="stray_op_for_test")  # noqa: F841
    v_th = 1000 * brian2.mV  # noqa: F841 - would silence the neurons if looked up here
    tau_m = 1 * brian2.second  # noqa: F841
    dt_before = brian2.defaultclock.dt
    target_before = brian2.prefs["codegen.target"]
    state_before = np.random.get_state()[1].copy()  # noqa: NPY002
    b = Brian2Simulator(net, seed=0, target="numpy")
    rb = b.run(100.0)
    assert_same_result(ra, rb)
    np.testing.assert_array_equal(b.weights("exc_out"), a.weights("exc_out"))
    assert brian2.defaultclock.dt == dt_before
    assert brian2.prefs["codegen.target"] == target_before
    np.testing.assert_array_equal(np.random.get_state()[1], state_before)  # noqa: NPY002


def test_coexisting_simulators_and_poisson():
    """Interleaved simulators keep their own objects and random streams."""
    net = Network(groups={"in": PoissonGroup(n=200, rate_hz=20.0), "out": LIF(n=2)},
                  synapses=[Synapses(source="in", target="out", w_init=(0.0, 0.02),
                                     plasticity=RULES["pair-additive-all"])])
    s1 = Brian2Simulator(net, seed=11, target="numpy")
    s2 = Brian2Simulator(net, seed=11, target="numpy")
    s3 = Brian2Simulator(net, seed=12, target="numpy")
    assert len({s._prefix for s in (s1, s2, s3)}) == 3
    r1 = [s1.run(250.0), s3.run(250.0), s1.run(250.0)]
    r2 = [s2.run(250.0), s2.run(250.0)]
    for x, y in zip((r1[0], r1[2]), r2, strict=True):
        np.testing.assert_array_equal(x.spikes["in"][0], y.spikes["in"][0])
        np.testing.assert_array_equal(x.spikes["in"][1], y.spikes["in"][1])
    np.testing.assert_array_equal(s1.weights("in_out"), s2.weights("in_out"))
    assert not np.array_equal(r1[1].spikes["in"][1], r2[0].spikes["in"][1])
    # Poisson rate: 200 sources x 20 Hz x 0.5 s = 2000 spikes (sd ~ 45)
    total = r1[0].counts["in"] + r1[2].counts["in"]
    assert abs(total - 2000) < 5 * 45
    # the engine with the same seed draws the same connectivity and initial weights
    eng = NumbaSimulator(net, seed=11)
    np.testing.assert_array_equal(Brian2Simulator(net, seed=11, target="numpy")
                                  .weights("in_out"), eng.weights("in_out"))


def test_auto_target_matches_engine():
    """Runtime Cython when it compiles (else NumPy), on a small network."""
    net = protocol("pairing", RULES["triplet-all"], "all", seed=8, n=3)
    rec = Recording(spikes=("post",), rate_bin_ms=50.0)
    sim = simulator(net, backend="brian2", seed=0, recording=rec, target="auto")
    assert sim.backend == "brian2" and sim.target_used in ("cython", "numpy")
    eng = NumbaSimulator(net, seed=0, recording=rec)
    assert_same_result(eng.run(150.0), sim.run(150.0))
    assert_same_weights(eng, sim, net)


@pytest.mark.slow
def test_cpp_standalone_matches_runtime():
    import brian2

    net = protocol("lif", RULES["pair-multiplicative-all"], seed=9, delay_ms=1.0, n=3)
    rec = Recording(state={"out": [0, 1]}, state_every_ms=1.0, rate_bin_ms=50.0)
    runtime = Brian2Simulator(net, seed=0, recording=rec, target="numpy")
    sa = Brian2Simulator(net, seed=0, recording=rec, target="cpp_standalone")
    assert sa.target_used == "cpp_standalone"
    w = sa.weights("exc_out") * 0.9
    sa.set_weights("exc_out", w)
    runtime.set_weights("exc_out", w)
    r_runtime = runtime.run(150.0)
    assert_same_result(r_runtime, sa.run(150.0))
    assert_same_weights(runtime, sa, net)
    with pytest.raises(InvalidParameterError, match="only once"):
        sa.run(10.0)
    with pytest.raises(InvalidParameterError, match="already"):
        sa.set_weights("exc_out", w)
    # the device is back to runtime: later simulations work
    assert type(brian2.get_device()).__name__ == "RuntimeDevice"
    again = Brian2Simulator(net, seed=0, recording=rec, target="numpy")
    again.set_weights("exc_out", w)
    assert_same_result(r_runtime, again.run(150.0))


def test_errors(monkeypatch):
    net = protocol("pairing", RULES["pair-additive-all"], seed=0)
    with pytest.raises(InvalidParameterError, match="target"):
        Brian2Simulator(net, target="gpu")
    with pytest.raises(InvalidParameterError, match="Network"):
        Brian2Simulator({"groups": {}})
    sim = Brian2Simulator(net, target="numpy")
    with pytest.raises(InvalidParameterError, match="duration"):
        sim.run(-1.0)
    bad = Brian2Simulator(net, target="numpy", recording=Recording(state={"pre": [0]}))
    with pytest.raises(InvalidParameterError, match="not a LIF group"):
        bad.run(1.0)
    big = Network(groups={"a": PoissonGroup(n=300), "b": LIF(n=300)},
                  synapses=[Synapses(source="a", target="b", w_init=0.01,
                                     plasticity=PairSTDP())])
    import plasticity.spiking.brian2.simulator as backend

    monkeypatch.setattr(backend, "available_memory", lambda: 1_000_000)
    # 90,000 plastic synapses need MiBs, more than (a share of) the 1 MB made available
    with pytest.raises(InvalidParameterError,
                       match=r"needs about [\d.]+ MiB for the synapses, more than [\d.]+ KiB"):
        Brian2Simulator(big, target="numpy")
    monkeypatch.setitem(sys.modules, "brian2", None)
    with pytest.raises(InvalidParameterError, match="pip install brian2"):
        Brian2Simulator(net, target="numpy")
