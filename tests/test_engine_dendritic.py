"""The Urbanczik-Senn two-compartment neuron and dendritic prediction in the spiking engine.

* The engine agrees with the plain-NumPy twin on small randomized networks (dense and
  sparse dendritic projections, static and plastic, with and without the filter, somatic
  conductance synapses with STDP, a timed teacher, split runs): identical spikes, weights
  and ``U``/``V*`` to rounding.
* The engine reproduces the dedicated trial kernel :mod:`plasticity._kernels.dendritic`:
  the engine's step ``t`` is the kernel's step ``t`` when the kernel's inputs of step ``t``
  are the engine's arrivals of step ``t - 1`` (an arrival enters ``V_w`` from the next
  step on) and the kernel's noise is the engine's stream of uniform numbers; then ``U``,
  ``V*``, the somatic spikes and, with learning, the weights agree to rounding.
* Learning: in the Urbanczik & Senn setting the dendrite comes to predict the soma.
* Validation, state recording, ``set_weights`` and the Brian2 refusal.
"""

from __future__ import annotations

import numpy as np
import pytest

from plasticity.errors import InvalidParameterError
from plasticity.rules.dendritic_prediction import DendriticPredictionTrial as TrialRule
from plasticity.rules.dendritic_prediction import simulate_trial
from plasticity.spiking import (
    DendriticPrediction,
    Network,
    PairSTDP,
    Recording,
    SpikeGenerator,
    Synapses,
    TwoCompartment,
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


def _net(rng, T, dt):
    period = 37  # steps; not a divisor of the run, so the teacher wraps mid-run
    return Network(dt_ms=dt, groups={
        "inp": _train(rng, 30, 40.0, T, dt),
        "exc": _train(rng, 4, 30.0, T, dt),
        "tc": TwoCompartment(n=3, g_E_timed=rng.uniform(0.0, 0.6, (period, 3)),
                             g_I_timed=rng.uniform(0.0, 0.3, period), U_init=0.3),
        "tc2": TwoCompartment(n=2, phi_max=0.3, beta=3.0, tau_L_ms=12.0, tau_s_ms=2.0),
    }, synapses=[
        Synapses(source="inp", target="tc", compartment="dendrite", w_init=(-1.0, 2.0),
                 plasticity=DendriticPrediction(eta=0.3)),
        Synapses(source="inp", target="tc2", compartment="dendrite", connect="random",
                 p=0.5, w_init=(-0.5, 1.5), w_min=-1.0, w_max=1.6, delay_ms=1.0,
                 plasticity=DendriticPrediction(eta=0.5, tau_delta_ms=4.0)),
        Synapses(name="static", source="exc", target="tc2", compartment="dendrite",
                 w_init=(0.5, 2.0)),
        Synapses(source="exc", target="tc", w_init=(0.1, 0.5),
                 plasticity=PairSTDP(a_plus=0.05, a_minus=0.05)),
        Synapses(source="tc", target="tc2", receptor="i", w_init=0.4),
    ])


@pytest.mark.parametrize("dt,split", [(0.2, None), (0.1, 47.3)])
def test_twin_agreement(dt, split):
    T = 300.0
    rng = np.random.default_rng([11, int(dt * 100)])
    net = _net(rng, T, dt)
    rec = {"tc": [0, 1, 2], "tc2": [1]}
    sim = NumbaSimulator(net, seed=4, recording=Recording(state=rec, state_every_ms=dt))
    conn = {s.label: sim.connectivity(s.label) for s in net.synapses}
    w0 = {s.label: sim.weights(s.label) for s in net.synapses}
    res = sim.run(T) if split is None else merge_results([sim.run(split),
                                                          sim.run(T - split)])
    ref = twin.simulate(net, conn, w0, T, record_v=rec, seed=4)
    for name in net.groups:
        assert np.array_equal(res.spikes[name][1], ref["spikes"][name][1]), name
        assert np.array_equal(res.spikes[name][0], ref["spikes"][name][0]), name
    for name in ("tc", "tc2"):
        assert res.spikes[name][0].size > 10, f"'{name}' hardly fired; the test is vacuous"
        np.testing.assert_allclose(res.state[name]["U"], ref["v"][name], **TOL)
        np.testing.assert_allclose(res.state[name]["V_star"], ref["g_e"][name], **TOL)
    for syn in net.synapses:
        np.testing.assert_allclose(sim.weights(syn.label), ref["weights"][syn.label], **TOL,
                                   err_msg=syn.label)
    for label in ("inp_tc", "inp_tc2", "exc_tc"):
        assert np.abs(sim.weights(label) - w0[label]).max() > 1e-2, label
    assert np.array_equal(sim.weights("static"), w0["static"])
    lo, hi = net.synapses[1].bounds
    assert sim.weights("inp_tc2").min() >= lo and sim.weights("inp_tc2").max() <= hi


# -- against the dedicated trial kernel --------------------------------------------------
def _kernel_setup(learn, *, tau_delta=0.0, n=40, T_steps=3000, dt=0.2, seed=3):
    """The same neuron on both simulators. Returns (engine result, engine weights, kernel
    trial)."""
    rng = np.random.default_rng(seed)
    X = (rng.random((T_steps, n)) < 20.0 * 1e-3 * dt).astype(float)
    X[0] = 0.0  # the engine's inputs of step t - 1 are the kernel's of step t
    g_E = rng.uniform(0.0, 1.0, T_steps)
    g_I = rng.uniform(0.0, 0.5, T_steps)
    w0 = rng.normal(0.5, 1.0, n)
    rule = TrialRule(eta=0.5, dt=dt, tau_delta=tau_delta)
    t, i = np.nonzero(X[1:])
    net = Network(dt_ms=dt, groups={
        "inp": SpikeGenerator(n=n, indices=i.tolist(), times_ms=(t * dt).tolist()),
        "tc": TwoCompartment(n=1, g_E_timed=g_E, g_I_timed=g_I, g_L=rule.g_L,
                             g_D=rule.g_D, tau_L_ms=rule.tau_L, tau_s_ms=rule.tau_s),
    }, synapses=[Synapses(source="inp", target="tc", compartment="dendrite", w_init=0.0,
                          plasticity=DendriticPrediction(eta=rule.eta,
                                                         tau_delta_ms=tau_delta)
                          if learn else None)])
    sim = NumbaSimulator(net, seed=seed, recording=Recording(state={"tc": [0]},
                                                             state_every_ms=dt))
    sim.set_weights("inp_tc", w0)
    res = sim.run(T_steps * dt)
    # the engine's uniform numbers: its run generator, drawn once per step
    noise = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1]).random(T_steps)
    trial = simulate_trial(rule, w0, X, g_E, g_I, noise=noise, learn=learn)
    return res, sim.weights("inp_tc"), trial, w0


def test_kernel_agreement_without_learning():
    res, w, trial, w0 = _kernel_setup(learn=False)
    np.testing.assert_allclose(res.state["tc"]["U"][:, 0], trial.U, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.state["tc"]["V_star"][:, 0], trial.V_star, rtol=0,
                               atol=1e-12)
    steps = np.rint(res.spikes["tc"][0] / 0.2).astype(int)
    assert np.array_equal(steps, np.flatnonzero(trial.S))
    assert steps.size > 20 and np.std(trial.V_star) > 0.1  # neither side is trivial
    assert np.array_equal(w, w0)


@pytest.mark.parametrize("tau_delta", [0.0, 5.0])
def test_kernel_agreement_with_learning(tau_delta):
    """Same uniform numbers and (to rounding) the same U: the same somatic spikes, so
    the weight trajectories are the same computation; they agree to rounding."""
    res, w, trial, w0 = _kernel_setup(learn=True, tau_delta=tau_delta)
    steps = np.rint(res.spikes["tc"][0] / 0.2).astype(int)
    assert np.array_equal(steps, np.flatnonzero(trial.S))
    np.testing.assert_allclose(res.state["tc"]["U"][:, 0], trial.U, rtol=0, atol=1e-12)
    np.testing.assert_allclose(w, trial.w, rtol=0, atol=1e-12)
    assert np.abs(trial.w - w0).max() > 0.1  # learning did something


def test_set_weights_keeps_dendrite_consistent():
    """Replacing the weights mid-run moves V_w to the new w . PSP at once: a run in two
    halves with new weights in between equals the twin given the same replacement."""
    dt, T = 0.2, 100.0
    rng = np.random.default_rng(5)
    net = Network(dt_ms=dt, groups={"inp": _train(rng, 10, 50.0, T, dt),
                                    "tc": TwoCompartment(n=1)},
                  synapses=[Synapses(source="inp", target="tc", compartment="dendrite",
                                     w_init=1.0)])
    rec = Recording(state={"tc": [0]}, state_every_ms=dt)
    sim = NumbaSimulator(net, seed=0, recording=rec)
    sim.run(T / 2)
    w_new = rng.normal(0.0, 2.0, 10)
    sim.set_weights("inp_tc", w_new)
    late = sim.run(T / 2)
    # reference: the static projection with w_new from the start has the same PSPs
    net2 = net.model_copy()
    sim2 = NumbaSimulator(net2, seed=0, recording=rec)
    sim2.set_weights("inp_tc", w_new)
    full = sim2.run(T)
    n = int(round(T / 2 / dt))
    np.testing.assert_allclose(late.state["tc"]["V_star"], full.state["tc"]["V_star"][n:],
                               rtol=1e-12, atol=1e-12)


# -- learning ----------------------------------------------------------------------------
def test_dendrite_learns_to_predict_soma():
    """Urbanczik & Senn's setting (200 inputs at 10 Hz, a frozen 200 ms pattern repeated,
    a teacher from a target weight vector w*): the engine's V* comes to follow U.

    Shorter than the experiment's quick preset (400 presentations at eta = 0.25 instead
    of 4000 at 0.2; with 3 engine seeds this gave corr 0.987-0.992 and a 21-27 fold lower
    error). The issue's criterion is corr(V*, U) > 0.8 over the last presentations, the
    experiment's an error reduction of at least 5."""
    from experiments.dendritic_prediction import (
        DendriticPredictionConfig,
        engine_network,
        setup,
    )

    cfg = DendriticPredictionConfig(n_reps=400, final_reps=20, eta=0.25, simulator="engine")
    X, _, _, g_E, g_I, w0 = setup(cfg, *np.random.default_rng(0).spawn(3))
    net = engine_network(cfg, X, g_E, g_I)
    sim = NumbaSimulator(net, seed=1, recording=Recording(
        spikes=(), state={"neuron": [0]}, state_every_ms=cfg.dt))
    sim.set_weights("input_neuron", w0)
    sim.run(cfg.dt)  # the engine lags the pattern by one step
    first = sim.run(cfg.pattern_ms).state["neuron"]
    sim.run(cfg.pattern_ms * (cfg.n_reps - 1 - cfg.final_reps))
    last = sim.run(cfg.pattern_ms * cfg.final_reps).state["neuron"]
    corr0 = np.corrcoef(first["U"][:, 0], first["V_star"][:, 0])[0, 1] \
        if np.std(first["V_star"]) > 0 else 0.0
    corr = np.corrcoef(last["U"][:, 0], last["V_star"][:, 0])[0, 1]
    mse0 = np.mean((first["U"] - first["V_star"]) ** 2)
    mse = np.mean((last["U"] - last["V_star"]) ** 2)
    assert corr > 0.8, (corr0, corr)
    assert mse0 / mse > 5.0


# -- validation and backends ---------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda: TwoCompartment(tau_s_ms=12.0), "tau_s_ms"),
    (lambda: TwoCompartment(E_I=5.0), "E_I"),
    (lambda: TwoCompartment(phi_max=0.0), "phi_max"),
    (lambda: TwoCompartment(n=2, g_E_timed=np.ones((4, 3))), "g_E_timed"),
    (lambda: TwoCompartment(g_I_timed=[-1.0, 0.0]), "g_I_timed"),
    (lambda: Network(dt_ms=0.5, groups={"tc": TwoCompartment()}), "somatic time constant"),
    (lambda: Network(dt_ms=0.2, groups={"a": SpikeGenerator(), "tc": TwoCompartment()},
                     synapses=[Synapses(source="a", target="tc", compartment="dendrite",
                                        plasticity=DendriticPrediction(tau_delta_ms=0.1))]),
     "tau_delta_ms"),
    (lambda: Synapses(source="a", target="b", plasticity=DendriticPrediction()),
     "compartment='dendrite'"),
    (lambda: Synapses(source="a", target="b", compartment="dendrite",
                      plasticity=PairSTDP()), "DendriticPrediction only"),
    (lambda: Synapses(source="a", target="b", compartment="dendrite", w_init=2.0,
                      w_max=1.0), "w_init"),
    (lambda: Synapses(source="a", target="b", w_min=-0.5), "w_min"),
    (lambda: Network(groups={"a": SpikeGenerator(), "b": TwoCompartment(n=1)} | {
        "c": SpikeGenerator()}, synapses=[Synapses(source="a", target="c",
                                                   compartment="dendrite")]),
     "without one"),
    (lambda: DendriticPrediction(eta=0.0), "eta"),
])
def test_invalid(make, match):
    with pytest.raises(InvalidParameterError, match=match):
        make()


def test_record_two_compartment_state():
    net = Network(groups={"a": SpikeGenerator(), "tc": TwoCompartment(n=2)})
    sim = NumbaSimulator(net, recording=Recording(state={"tc": [1]}))
    res = sim.run(5.0)
    assert set(res.state["tc"]) == {"t_ms", "U", "V_star"}
    assert res.state["tc"]["U"].shape == (5, 1)
    # exact: with no input every term of the update is 0.0 times something finite
    assert np.all(res.state["tc"]["V_star"] == 0.0)  # no dendritic input
    # U relaxes from 0 towards 0: stays at rest
    assert np.all(res.state["tc"]["U"] == 0.0)


def test_brian2_refuses():
    pytest.importorskip("brian2")
    from plasticity.spiking import simulator

    net = Network(groups={"tc": TwoCompartment()})
    with pytest.raises(InvalidParameterError, match="Numba engine only"):
        simulator(net, backend="brian2", target="numpy")


# -- the experiment on the engine ----------------------------------------------------------
def test_experiment_engine_refuses_rate(refuses):
    refuses("dendritic-prediction", ["model=rate", "simulator=engine"],
            ["simulator", "spiking"])


def test_experiment_engine_short_run(cli, tmp_path):
    """The CLI path of ``simulator=engine`` end to end (a short run: the quick preset's
    numbers are in the report, ~15 s)."""
    import json

    out = tmp_path / "engine.h5"
    code, _, err = cli("run", "dendritic-prediction", "--set", "simulator=engine", "--set",
                       "n_reps=40", "--set", "final_reps=5", "--set", "eta=0.5", "--quiet",
                       "--out", out)
    assert code == 0, err
    code, text, _ = cli("info", out, "--json")
    s = json.loads(text)["summary"]
    assert s["simulator"] == "engine"
    assert s["error_reduction"] > 1.0  # (12.7 at seed 0: learning is under way)
    assert s["corr_dendrite_soma_final"] > s["corr_dendrite_soma_initial"]
