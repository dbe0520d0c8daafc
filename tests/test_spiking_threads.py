"""The Numba engine gives the same result bit for bit on any number of threads.

Exact equality is the contract tested here (not a tolerance): the multithreaded path
(:func:`plasticity._kernels.spiking.ff_windows`: ``ff_prepass``, the target blocks,
``ff_merge``) must compute every value with the same expressions in the same order as the
one-thread step loop, so that a seed names one result whatever the machine. The networks
are song2000-like (Poisson inputs onto LIF neurons with STDP), wide enough to be split
into target blocks, the same with recurrent excitation and inhibition (windows as long as
the shortest recurrent delay), and a reward-modulated (dopamine) network, which runs the
step loop on any thread count.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from plasticity import _config
from plasticity.errors import InvalidParameterError
from plasticity.spiking import (
    LIF,
    Izhikevich,
    Network,
    PairSTDP,
    PoissonGroup,
    Recording,
    RewardSTDP,
    SpikeGenerator,
    Synapses,
    TripletSTDP,
)
from plasticity.spiking.numba import NumbaSimulator
from plasticity.spiking.numba import pack as engine
from tests.networks import recurrent_net

ROOT = Path(__file__).resolve().parents[1]
TWO = numba.config.NUMBA_NUM_THREADS >= 2
needs_two = pytest.mark.skipif(not TWO, reason="Numba's pool has a single thread")


def song_like(rule="add", n_in=1500, n_out=600, model="current"):
    """Poisson inputs (15 Hz) and a generator onto LIF neurons: a plastic projection with
    a delay and a static one from the generator (two arrival streams per target, summed
    in a fixed order)."""
    rng = np.random.default_rng(4)
    plast = {"add": PairSTDP(a_plus=0.01, a_minus=0.0105),
             "mult_nearest": PairSTDP(a_plus=0.02, a_minus=0.021, pairing="nearest",
                                      weight_dependence="multiplicative"),
             "triplet": TripletSTDP(a2_plus=5e-3, a3_plus=6.2e-3, a2_minus=7e-3,
                                    a3_minus=2.3e-3)}[rule]
    t_gen = np.sort(rng.uniform(0.0, 400.0, 300))
    gmax = 0.6 * 1000 / n_in * 1.6 if model == "current" else 0.02
    lif = LIF(n=n_out, model=model, tau_m_ms=10.0, v_rest_mV=-74.0, v_reset_mV=-60.0,
              v_th_mV=-54.0, tau_e_ms=5.0, t_ref_ms=1.0)
    return Network(dt_ms=0.1, groups={
        "input": PoissonGroup(n=n_in, rate_hz=15.0),
        "neuron": lif,
        "gen": SpikeGenerator(n=40, indices=rng.integers(0, 40, t_gen.size).tolist(),
                              times_ms=t_gen.tolist()),
    }, synapses=[
        Synapses(name="syn", source="input", target="neuron", w_init=(0.0, gmax),
                 w_min=0.0, w_max=gmax, delay_ms=0.3, plasticity=plast),
        # onto the same receptor: each target's input is a sum over both projections,
        # whose order must be kept
        Synapses(name="gen", source="gen", target="neuron",
                 w_init=(0.0, 0.5 if model == "current" else 0.05)),
    ])


def simulate(net, threads, spans, seed=7, step_loop=False, windows=False):
    """Spikes of every group, sampled state, rates and final weights after ``spans``
    (``step_loop``: through the one-thread step loop, not the windows; ``windows``: the
    windows even on one thread for a recurrent network)."""
    rec = Recording(spikes=tuple(net.groups), state={"neuron": [0, 17, 333]},
                    state_every_ms=0.5, rate_bin_ms=50.0)
    sim = NumbaSimulator(net, seed=seed, recording=rec, threads=threads)
    if step_loop:
        sim._window_steps = lambda: 0
    if windows:
        sim._windows_on_one_thread = lambda: True
    out = {}
    for n, span in enumerate(spans):
        res = sim.run(span)
        for g in net.groups:
            out[f"{n}/{g}/t"], out[f"{n}/{g}/i"] = res.spikes[g]
            out[f"{n}/{g}/rates"] = np.asarray(res.rates[g])
        for key, val in res.state["neuron"].items():
            out[f"{n}/state/{key}"] = np.asarray(val)
    for s in net.synapses:
        out[f"w/{s.label}"] = sim.weights(s.label)
    return sim, out


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        # bit for bit: the result must not depend on the thread count
        assert a[key].shape == b[key].shape and np.array_equal(a[key], b[key]), key


@needs_two
@pytest.mark.parametrize("rule,model", [("add", "current"), ("mult_nearest", "current"),
                                        ("triplet", "conductance")])
def test_feed_forward_one_and_two_threads(rule, model):
    net = song_like(rule, model=model)
    _, loop = simulate(net, 1, [400.0], step_loop=True)
    _, one = simulate(net, 1, [200.0, 200.0])
    sim, two = simulate(net, 2, [200.0, 200.0])
    # the run took the multithreaded path (two target blocks shared by two threads)
    assert sim._window_steps() and hasattr(sim, "_ff_scratch")
    assert sim._proj[0, engine.K.P_NBLK] == 2
    assert_identical(one, two)
    # and both equal the step loop (one 400 ms run: a split changes nothing either)
    for key in ("w/syn", "w/gen"):
        assert np.array_equal(loop[key], two[key]), key
    for g in net.groups:
        for part in ("t", "i"):
            both = np.concatenate([two[f"0/{g}/{part}"], two[f"1/{g}/{part}"]])
            assert np.array_equal(loop[f"0/{g}/{part}"], both), (g, part)
    # not a vacuous comparison: the targets fired and the weights learned
    n_out = sum(one[f"{n}/neuron/i"].size for n in range(2))
    assert n_out > 600
    w0 = NumbaSimulator(net, seed=7).weights("syn")
    assert np.abs(two["w/syn"] - w0).max() > 1e-3 * net.synapses[0].bounds[1]


@needs_two
@pytest.mark.parametrize("delay_ee_ms,delay_ie_ms,window", [(1.0, 0.5, 5), (0.1, 2.0, 1)])
def test_recurrent_one_and_two_threads(delay_ee_ms, delay_ie_ms, window):
    """Recurrent projections with delays: windows of the shortest recurrent delay (5
    steps, and 1: a window per step), bit-identical to the step loop on 1 and 2 threads,
    and the recurrent weights learn."""
    net = recurrent_net(delay_ee_ms, delay_ie_ms)
    _, loop = simulate(net, 1, [300.0], step_loop=True)
    _, one = simulate(net, 1, [150.0, 150.0], windows=True)
    sim, two = simulate(net, 2, [150.0, 150.0])
    assert sim._window_steps() == window and hasattr(sim, "_ff_scratch")
    assert_identical(one, two)
    for s in net.synapses:
        assert np.array_equal(loop[f"w/{s.label}"], two[f"w/{s.label}"]), s.label
    for g in net.groups:
        for part in ("t", "i"):
            both = np.concatenate([two[f"0/{g}/{part}"], two[f"1/{g}/{part}"]])
            assert np.array_equal(loop[f"0/{g}/{part}"], both), (g, part)
    # not vacuous: the neurons fired (so recurrent spikes arrived: at least 5 Hz) and
    # the recurrent weights moved
    assert sum(one[f"{n}/neuron/i"].size for n in range(2)) > 5.0 * 600 * 0.3
    w0 = NumbaSimulator(net, seed=7).weights("ee")
    assert np.abs(two["w/ee"] - w0).max() > 1e-3 * net.synapses[1].bounds[1]


def test_recurrence_without_delay_runs_the_step_loop():
    """A recurrent projection without delay couples the blocks within a step: no
    windows; nor with a sparse plastic projection (its eager potentiation reads the
    presynaptic traces of the step); a sparse static one is fine."""
    assert NumbaSimulator(recurrent_net(0.0, 0.5), seed=1)._window_steps() == 0
    assert NumbaSimulator(recurrent_net(1.0, 0.0), seed=1)._window_steps() == 0
    assert NumbaSimulator(recurrent_net(1.0, 0.5), seed=1)._window_steps() == 5
    # one thread runs a recurrent network's step loop (faster or nearly), a feed-forward
    # one's windows (faster)
    for net, windows in ((recurrent_net(1.0, 0.5), False), (song_like(n_out=520), True)):
        sim = NumbaSimulator(net, seed=1, threads=1)
        sim.run(1.0)
        assert hasattr(sim, "_ff_scratch") is windows
    net = recurrent_net(1.0, 0.5)
    for k, window in ((2, 5), (1, 0)):
        syn = list(net.synapses)
        syn[k] = syn[k].model_copy(update={"connect": "random", "p": 0.1})
        sparse = net.model_copy(update={"synapses": syn})
        assert NumbaSimulator(sparse, seed=1)._window_steps() == window


def excitatory_inhibitory_net():
    """Two LIF groups (E and I) driven by Poisson inputs, coupled both ways with delays:
    dense plastic E -> E and inputs -> E, sparse static E -> I, I -> E, I -> I and
    inputs -> I. E is split into 4 target blocks, I is one: five units. E fires near
    25 Hz and I near 19 Hz (with the inhibition weaker, E runs away to ~900 Hz)."""
    gmax = 0.6 * 1000 / 1000 * 1.6
    lif = dict(model="current", tau_m_ms=10.0, v_rest_mV=-74.0, v_reset_mV=-60.0,
               v_th_mV=-54.0, tau_e_ms=5.0, t_ref_ms=1.0)
    stdp = PairSTDP(a_plus=0.01, a_minus=0.0105)
    return Network(dt_ms=0.1, groups={
        "input": PoissonGroup(n=1000, rate_hz=15.0), "E": LIF(n=1100, **lif),
        "I": LIF(n=300, **lif),
    }, synapses=[
        Synapses(name="in_E", source="input", target="E", w_init=(0.0, 0.8 * gmax),
                 w_min=0.0,
                 w_max=gmax, delay_ms=0.3, plasticity=stdp),
        Synapses(name="in_I", source="input", target="I", connect="random", p=0.5,
                 w_init=(0.0, gmax)),
        Synapses(name="EE", source="E", target="E", w_init=(0.0, 0.05 * gmax), w_min=0.0,
                 w_max=gmax, delay_ms=1.0, plasticity=stdp),
        Synapses(name="EI", source="E", target="I", connect="random", p=0.2,
                 w_init=(0.0, 0.3), delay_ms=0.5),
        Synapses(name="IE", source="I", target="E", connect="random", p=0.5, receptor="i",
                 w_init=(0.0, 1.5), w_max=1.5, delay_ms=0.8),
        Synapses(name="II", source="I", target="I", connect="random", p=0.5, receptor="i",
                 w_init=(0.0, 0.3), delay_ms=0.6),
    ])


@needs_two
def test_two_groups_one_and_two_threads():
    """E and I groups coupled by sparse and dense projections run in windows of the
    shortest delay between them (E -> I, 5 steps), bit-identical to the step loop."""
    net = excitatory_inhibitory_net()
    rec = Recording(spikes=tuple(net.groups), state={"E": [0, 700], "I": [5]},
                    state_every_ms=0.5, rate_bin_ms=50.0)
    outs = []
    for threads, loop in ((1, True), (1, False), (2, False)):
        sim = NumbaSimulator(net, seed=5, recording=rec, threads=threads)
        if loop:
            sim._window_steps = lambda: 0
        else:
            sim._windows_on_one_thread = lambda: True
            assert sim._window_steps() == 5 and sim._units().shape[0] == 5
        out = {}
        for n, span in enumerate((150.0, 150.0)):
            res = sim.run(span)
            for g in net.groups:
                out[f"{n}/{g}/t"], out[f"{n}/{g}/i"] = res.spikes[g]
            for g in ("E", "I"):
                for key, val in res.state[g].items():
                    out[f"{n}/{g}/{key}"] = np.asarray(val)
        for s in net.synapses:
            out[f"w/{s.label}"] = sim.weights(s.label)
        outs.append(out)
    assert_identical(outs[0], outs[1])
    assert_identical(outs[1], outs[2])
    # not vacuous: both groups fired at more than 2 Hz (so the recurrent and cross
    # projections delivered spikes) and the recurrent weights moved
    for g, n in (("E", 1100), ("I", 300)):
        assert sum(outs[2][f"{k}/{g}/i"].size for k in range(2)) > 2.0 * n * 0.3, g
    w0 = NumbaSimulator(net, seed=5).weights("EE")
    assert np.abs(outs[2]["w/EE"] - w0).max() > 1e-3 * net.synapses[2].bounds[1]


@needs_two
def test_checkpoint_moves_between_thread_counts():
    """A state saved by a two-thread run continues in the one-thread step loop exactly
    as an uninterrupted run of the step loop (the target blocks are part of the
    network, not of the thread count)."""
    net = song_like("add", n_in=1000, n_out=520)
    _, ref = simulate(net, 1, [150.0, 150.0], step_loop=True)
    rec = Recording(spikes=tuple(net.groups), state={"neuron": [0, 17, 333]},
                    state_every_ms=0.5, rate_bin_ms=50.0)
    first = NumbaSimulator(net, seed=7, recording=rec, threads=2)
    first.run(150.0)
    state = first.get_state()
    second = NumbaSimulator(net, seed=7, recording=rec, threads=1)
    second._window_steps = lambda: 0
    second.set_state(state)
    res = second.run(150.0)
    for g in net.groups:
        t, i = res.spikes[g]
        assert np.array_equal(t, ref[f"1/{g}/t"]) and np.array_equal(i, ref[f"1/{g}/i"]), g
    assert np.array_equal(second.weights("syn"), ref["w/syn"])


def dopamine_net():
    """Izhikevich neurons with reward-modulated STDP (a modulator group releasing
    dopamine), recurrent: the step loop runs it on any thread count."""
    rng = np.random.default_rng(2)
    rule = RewardSTDP(a_plus=0.05, a_minus=0.06, tau_c_ms=80.0, tau_d_ms=30.0, eta=0.05,
                      d_tonic=0.01, d_jump=0.7, modulator="da")
    t_da = np.sort(rng.uniform(0.0, 500.0, 20))
    return Network(dt_ms=0.5, groups={
        "pre": PoissonGroup(n=200, rate_hz=20.0),
        "izh": Izhikevich(n=600, method="izhikevich2007", synapse="delta", i_ext=4.0,
                          noise=3.0),
        "da": SpikeGenerator(n=1, indices=[0] * t_da.size, times_ms=t_da.tolist()),
    }, synapses=[
        Synapses(source="pre", target="izh", w_init=(0.0, 3.0), w_max=4.0, delay_ms=1.0,
                 plasticity=rule),
        Synapses(source="izh", target="izh", connect="random", p=0.05, w_init=(0.0, 2.0),
                 w_max=4.0, plasticity=rule.model_copy(update={"update_every_ms": 2.0})),
    ])


@needs_two
def test_dopamine_network_one_and_two_threads():
    net = dopamine_net()
    outs = []
    for threads in (1, 2):
        sim = NumbaSimulator(net, seed=3, recording=Recording(spikes=("izh",)),
                             threads=threads)
        res = sim.run(500.0)
        t, i = res.spikes["izh"]
        outs.append({"t": t, "i": i, "dop": np.array([sim.modulator("pre_izh")]),
                     **{f"w/{s.label}": sim.weights(s.label) for s in net.synapses},
                     **{f"c/{s.label}": sim.eligibility(s.label) for s in net.synapses}})
    assert sim._window_steps() == 0
    assert_identical(*outs)
    assert outs[0]["i"].size > 100


SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
from tests.test_spiking_threads import simulate, song_like
net = song_like("triplet", n_in=800, n_out=1100)
digest = {{}}
for threads in (1, 3, 4):
    sim, out = simulate(net, threads, [120.0])
    digest[threads] = [sim._window_steps() > 0, int(sim._proj[0, 29]),
                       {{k: v.tobytes().hex() for k, v in out.items()}}]
print("RESULT " + json.dumps(digest))
"""


def test_three_and_four_threads_in_a_larger_pool():
    """Thread counts that do not divide the blocks (4 blocks on 3 threads) and more
    threads than cores, in a process whose Numba pool holds 4 threads."""
    env = dict(os.environ, NUMBA_NUM_THREADS="4")
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT))], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, proc.stderr[-2000:]
    digest = json.loads(line[0][7:])
    assert digest["3"][:2] == [True, 4]
    assert digest["1"][2] == digest["3"][2] == digest["4"][2]


def test_thread_count_validation(monkeypatch):
    net = song_like("add", n_in=10, n_out=2)
    for bad in (0, -1, 1.5, True, numba.config.NUMBA_NUM_THREADS + 1):
        with pytest.raises(InvalidParameterError, match="threads"):
            NumbaSimulator(net, threads=bad)
    with pytest.raises(InvalidParameterError, match="at least 1"):
        _config.set_threads(0)
    with pytest.raises(InvalidParameterError, match="NUMBA_NUM_THREADS"):
        _config.set_threads(numba.config.NUMBA_NUM_THREADS + 1)
    monkeypatch.setenv(_config.THREADS_ENV, "1")
    assert _config.threads() == 1
    monkeypatch.delenv(_config.THREADS_ENV)
    assert _config.threads() == min(_config.available_cores(),
                                    numba.config.NUMBA_NUM_THREADS)


def test_blocks_are_a_function_of_the_network():
    """Target blocks: a power of two, at least BLOCK_MIN_POST targets each (so narrow
    projections keep one ring), at most MAX_BLOCKS."""
    m = engine.BLOCK_MIN_POST
    assert [engine.target_blocks(n) for n in (1, m, 2 * m - 1, 2 * m, 3 * m, 5 * m)] \
        == [1, 1, 1, 2, 2, 4]
    assert engine.target_blocks(10**9) == engine.MAX_BLOCKS


LAYER_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import numba
from plasticity import _config
from tests.networks import recurrent_net
from plasticity.spiking.numba import NumbaSimulator
NumbaSimulator(recurrent_net(), seed=1, threads=2).run(5.0)
print("RESULT", _config.THREADING_LAYER, numba.threading_layer())
"""


@needs_two
def test_threading_layer_is_tbb_where_its_wheel_is():
    """Without the user's NUMBA_THREADING_LAYER the engine uses TBB when the tbb wheel
    is installed (a parallel region costs ~1 us, not workqueue's ~77 us), and a user's
    choice is kept; never OpenMP by default (it crashed NEST in the same process)."""
    from importlib import metadata

    try:
        metadata.version("tbb")
        expected = "tbb"
    except metadata.PackageNotFoundError:
        expected = "workqueue"
    for env_layer, want in ((None, expected), ("workqueue", "workqueue")):
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
        if env_layer:
            env["NUMBA_THREADING_LAYER"] = env_layer
        proc = subprocess.run([sys.executable, "-c", LAYER_SCRIPT.format(root=str(ROOT))],
                              env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        assert line, proc.stderr[-2000:]
        assert line[0].split()[1:] == [want, want]


@pytest.mark.parametrize("command", [["run", "song2000", "--quick", "--out", "r.h5"],
                                     ["sweep", "song2000", "--seeds", "0-1", "--out", "s"]])
def test_unknown_threading_layer_is_refused_before_any_file(tmp_path, command):
    """A NUMBA_THREADING_LAYER Numba does not know: one line, exit status 2, no file
    (Numba itself would raise only when the engine starts its threads, inside the run)."""
    env = {**os.environ, "NUMBA_THREADING_LAYER": "bogus"}
    proc = subprocess.run([sys.executable, "-m", "plasticity", *command], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "plasticity: error: NUMBA_THREADING_LAYER='bogus' is not a Numba threading layer "
        "(one of default, safe, threadsafe, forksafe, tbb, omp, workqueue; unset it for "
        "the engine's choice)"]
    assert list(tmp_path.iterdir()) == []
