"""The Simulator base class and the backend table: every backend implements the whole
base, the shared validation answers the same on every backend, unknown backends and
options are refused in one line, and the old module paths still work (and warn)."""

import importlib
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

import plasticity.spiking as sp
from plasticity.errors import InvalidParameterError
from plasticity.spiking import (
    BACKENDS,
    LIF,
    Network,
    PairSTDP,
    Recording,
    RewardSTDP,
    SimResult,
    Simulator,
    SpikeGenerator,
    Synapses,
    backend_class,
    simulator,
)

#: per backend, the options of a quick build (Brian2's NumPy target compiles nothing)
OPTIONS = {"numba": {}, "brian2": {"target": "numpy"}}


def _net():
    """Two generators driving two LIF neurons: a plain dense projection with pair STDP
    and a reward-modulated sparse one (deterministic inputs, so both backends agree)."""
    return Network(groups={
        "a": SpikeGenerator(n=3, indices=[0, 1, 2, 0], times_ms=[1.0, 2.0, 3.0, 6.0]),
        "b": LIF(n=2),
    }, synapses=[
        Synapses(source="a", target="b", w_init=(0.1, 0.4), plasticity=PairSTDP()),
        Synapses(name="rew", source="a", target="b", connect="random", p=0.7,
                 w_init=0.2, plasticity=RewardSTDP()),
    ])


def _needs(backend):
    if backend == "brian2":
        pytest.importorskip("brian2")


@pytest.fixture(scope="module", params=BACKENDS)
def sim(request):
    _needs(request.param)
    return simulator(_net(), backend=request.param, seed=4,
                     recording=Recording(state={"b": [1]}), **OPTIONS[request.param])


# -- every backend implements the whole base ---------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_implements_the_base(backend):
    cls = backend_class(backend)
    assert issubclass(cls, Simulator) and not inspect.isabstract(cls)
    assert cls.backend == backend
    assert Simulator.__abstractmethods__  # the base declares hooks
    for hook in Simulator.__abstractmethods__:
        assert getattr(cls, hook) is not getattr(Simulator, hook), hook
    assert cls.group_kinds >= {"lif", "izhikevich", "poisson", "generator"}
    assert set(cls.state_kinds) <= cls.group_kinds


def test_missing_hook_cannot_be_built():
    class Half(Simulator):
        backend = "half"
        group_kinds = frozenset({"generator"})
        state_kinds = ()

        def _run(self, t0, t1, progress):
            return SimResult(t0 * self.dt, t1 * self.dt)

    with pytest.raises(TypeError, match="abstract"):
        Half(Network(groups={"a": SpikeGenerator()}))


@pytest.mark.parametrize("backend", BACKENDS)
def test_public_interface(backend):
    _needs(backend)
    sim = simulator(_net(), backend=backend, seed=4, recording=Recording(state={"b": [1]}),
                    **OPTIONS[backend])
    assert sim.backend == backend and sim.t_ms == 0.0 and sim.step == 0
    res = sim.run(10.0)
    assert isinstance(res, SimResult)
    assert res.t_start_ms == 0.0 and res.t_stop_ms == pytest.approx(10.0)
    assert sim.step == 100 and sim.t_ms == pytest.approx(10.0)
    assert res.counts["a"] == 4  # the generator's four spikes
    assert res.state["b"]["v"].shape == (10, 1)
    pre, post = sim.connectivity("a_b")
    assert pre.dtype == np.int64 and post.dtype == np.int64
    np.testing.assert_array_equal(pre, np.repeat(np.arange(3), 2))
    np.testing.assert_array_equal(post, np.tile(np.arange(2), 3))
    w = sim.weights("a_b")
    assert w.shape == (6,) and w.dtype == np.float64
    w[:] = -1.0  # a copy: the simulator's weights are unchanged
    assert np.all(sim.weights("a_b") >= 0.0)
    new = np.linspace(0.0, 0.5, 6)
    sim.set_weights("a_b", new)
    np.testing.assert_array_equal(sim.weights("a_b"), new)
    n_rew = sim.connectivity("rew")[0].size
    assert sim.eligibility("rew").shape == (n_rew,)
    sim.set_modulator("rew", 0.75)
    assert sim.modulator("rew") == 0.75
    assert sim.standalone is False


def test_same_synapses_on_every_backend():
    """The base draws connectivity and initial weights: the same for every backend."""
    built = []
    for backend in BACKENDS:
        _needs(backend)
        built.append(simulator(_net(), backend=backend, seed=9, **OPTIONS[backend]))
    for other in built[1:]:
        for label in ("a_b", "rew"):
            for x, y in zip(built[0].connectivity(label), other.connectivity(label),
                            strict=True):
                np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(built[0].weights(label), other.weights(label))


# -- the shared validation -----------------------------------------------------------------
BAD_CALLS = {
    "negative duration": (lambda s: s.run(-1.0), "duration_ms must be >= 0"),
    "unknown projection": (lambda s: s.weights("nope"), "no projection named 'nope'"),
    "unknown projection (set)": (lambda s: s.set_weights("nope", np.zeros(6)),
                                 "no projection named 'nope'"),
    "weights of a wrong shape": (lambda s: s.set_weights("a_b", np.zeros(5)),
                                 r"must have shape \(6,\)"),
    "modulator of a plain projection": (lambda s: s.modulator("a_b"),
                                        "not reward-modulated"),
    "eligibility of a plain projection": (lambda s: s.eligibility("a_b"),
                                          "not reward-modulated"),
    "infinite modulator": (lambda s: s.set_modulator("rew", float("inf")), "finite"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_calls_refused_alike(sim, case):
    call, message = BAD_CALLS[case]
    with pytest.raises(InvalidParameterError, match=message) as info:
        call(sim)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_construction_refused(backend):
    _needs(backend)
    net, opts = _net(), OPTIONS[backend]
    with pytest.raises(InvalidParameterError, match="expected a Network"):
        simulator({"groups": {}}, backend=backend, **opts)
    with pytest.raises(InvalidParameterError, match="expected a Recording"):
        simulator(net, backend=backend, recording={"spikes": "all"}, **opts)
    with pytest.raises(InvalidParameterError, match="seed"):
        simulator(net, backend=backend, seed=-1, **opts)
    bad = simulator(net, backend=backend, recording=Recording(state={"a": [0]}), **opts)
    with pytest.raises(InvalidParameterError, match="cannot record the state of 'a'"):
        bad.run(1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_checkpoint_capability(backend):
    _needs(backend)
    sim = simulator(_net(), backend=backend, **OPTIONS[backend])
    if sim.can_checkpoint:
        state = sim.get_state()
        sim.run(5.0)
        w = sim.weights("a_b")
        fresh = simulator(_net(), backend=backend, **OPTIONS[backend])
        fresh.set_state(state)
        fresh.run(5.0)
        np.testing.assert_array_equal(fresh.weights("a_b"), w)
    else:
        with pytest.raises(InvalidParameterError, match="cannot save its state"):
            sim.get_state()
        with pytest.raises(InvalidParameterError, match="cannot save its state"):
            sim.set_state({})


# -- the table -------------------------------------------------------------------------------
def test_table_dispatches():
    assert BACKENDS[0] == "numba"
    from plasticity.spiking.numba import NumbaSimulator

    assert backend_class("numba") is NumbaSimulator
    assert type(simulator(_net(), seed=1)) is NumbaSimulator


@pytest.mark.parametrize("name", ["neuron", "Numba", "", None])
def test_unknown_backend_is_one_line(name):
    with pytest.raises(InvalidParameterError, match="must be one of numba, brian2") as info:
        simulator(_net(), backend=name)
    assert "\n" not in str(info.value)


def test_unknown_option_refused():
    with pytest.raises(InvalidParameterError, match="has no option target"):
        simulator(_net(), backend="numba", target="numpy")


def test_simulator_name_is_the_function():
    # the base lives in plasticity.spiking.base: no module shadows the function
    assert callable(sp.simulator) and not inspect.ismodule(sp.simulator)
    assert sp.simulator is simulator


# -- old module paths ------------------------------------------------------------------------
OLD = {
    "plasticity.spiking.engine": ("NumbaSimulator", "plasticity.spiking.numba"),
    "plasticity.spiking.brian2_backend": ("Brian2Simulator", "plasticity.spiking.brian2"),
    "plasticity.spiking.escape_brian2": ("Brian2EscapeTrials",
                                         "plasticity.spiking.brian2.escape"),
}


@pytest.mark.parametrize("old", sorted(OLD))
def test_old_paths_reexport_and_warn(old, monkeypatch):
    name, new = OLD[old]
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_old_engine_helpers_still_there(monkeypatch):
    monkeypatch.delitem(sys.modules, "plasticity.spiking.engine", raising=False)
    with pytest.warns(DeprecationWarning):
        engine = importlib.import_module("plasticity.spiking.engine")
    from plasticity.spiking import connectivity
    from plasticity.spiking.numba import pack

    assert engine.build_connectivity is connectivity.build_connectivity
    assert engine.initial_weights is connectivity.initial_weights
    assert engine.step_response is pack.step_response
    assert engine.POW_TABLE_LEN == pack.POW_TABLE_LEN


def test_network_module_names_the_whole_description():
    from plasticity.spiking import network, neurons, synapses

    for name in ("LIF", "Izhikevich", "IZHIKEVICH_PRESETS", "TwoCompartment",
                 "PoissonGroup", "SpikeGenerator"):
        assert getattr(network, name) is getattr(neurons, name)
    for name in ("PairSTDP", "TripletSTDP", "RewardSTDP", "DendriticPrediction", "Synapses"):
        assert getattr(network, name) is getattr(synapses, name)
    assert set(network.__all__) >= {"Network", "available_memory", "synapse_bytes"}


def test_spiking_files_are_small():
    """The issue's rule: no source file over about 400 lines unless its first lines say
    why it is one piece."""
    root = Path(sp.__file__).parent
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 400:
            head = " ".join(lines[:10]).lower()
            assert "one piece" in head, f"{path.relative_to(root)}: {len(lines)} lines"


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_without_a_copy(backend):
    """``weights(label, copy=False)`` holds the same values as the copy; on the Numba
    engine it is a read-only view that follows the next run, elsewhere a copy."""
    _needs(backend)
    sim = simulator(_net(), backend=backend, seed=4, **OPTIONS[backend])
    sim.run(5.0)
    label = "a_b"  # the dense projection's default name
    view, copy = sim.weights(label, copy=False), sim.weights(label)
    np.testing.assert_array_equal(view, copy)  # same stored values, no arithmetic
    if backend == "numba":
        assert not view.flags.writeable
        with pytest.raises(ValueError):
            view[0] = 0.0
        sim.set_weights(label, copy + 0.01)
        np.testing.assert_array_equal(view, sim.weights(label))


def test_state_without_a_copy_continues_the_run():
    """``get_state(copy=False)`` (what a checkpoint writes) hands out the engine's own
    arrays read-only, so a 10^8-synapse network is not held twice while its checkpoint
    is written; a state built from such views (copied out, as the run file does)
    continues the run exactly as one built from copies."""
    sim = simulator(_net(), backend="numba", seed=3)
    sim.run(5.0)
    views, copies = sim.get_state(copy=False), sim.get_state()
    w = sim.weights("a_b", copy=False)
    shared = [a for a in views["arrays"].values()
              if isinstance(a, np.ndarray) and np.shares_memory(a, w)]
    assert shared and not any(a.flags.writeable for a in shared)
    assert not any(isinstance(a, np.ndarray) and np.shares_memory(a, w)
                   for a in copies["arrays"].values())
    saved = {**views, "arrays": {k: ([a.copy() for a in v] if isinstance(v, list)
                                     else v.copy()) for k, v in views["arrays"].items()}}
    sim.run(5.0)
    fresh = simulator(_net(), backend="numba", seed=3)
    fresh.set_state(saved)
    fresh.run(5.0)
    np.testing.assert_array_equal(fresh.weights("a_b"), sim.weights("a_b"))
