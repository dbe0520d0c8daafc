"""Pair STDP is one rule: one declaration of its window, one compiled weight change.

* The compiled change (:mod:`plasticity._kernels.stdp`) agrees with its plain-NumPy twin
  (``tests/twins/stdp.py``) and with the formulas of its docstring.
* The network kinds (:class:`PairSTDP`, :class:`RewardSTDP`) and the trial rule
  (:class:`PairSTDPTrial`) take their window from :class:`PairSTDPWindow`: the same
  constraints and the same one-line errors.
* The network engine and the trial rule give the same weight change on the same spike
  trains (additive, all-to-all, ``w_max = 1``, no clipping).
"""

from __future__ import annotations

import numpy as np
import pytest

from plasticity._kernels import stdp as kernel
from plasticity.errors import InvalidParameterError
from plasticity.rules import PairSTDPTrial
from plasticity.spiking import Network, PairSTDP, RewardSTDP, SpikeGenerator, Synapses
from plasticity.spiking.numba import NumbaSimulator
from plasticity.spiking.synapses import PairSTDPWindow

try:
    from tests.twins import stdp as twin
except ModuleNotFoundError:  # plain `pytest` puts tests/, not the repo root, on sys.path
    from twins import stdp as twin

WINDOW = ("tau_plus_ms", "tau_minus_ms", "a_plus", "a_minus")


@pytest.mark.parametrize("multiplicative", [False, True])
def test_kernel_agrees_with_twin_and_formula(multiplicative):
    rng = np.random.default_rng(5)
    w, x, y = rng.uniform(0, 2, 50), rng.uniform(0, 3, 50), rng.uniform(0, 3, 50)
    a_plus, a_minus, w_max = 0.013, 0.0171, 2.5
    got_d = np.array([kernel.pair_depression(wi, a_minus, w_max, yi, multiplicative)
                      for wi, yi in zip(w, y, strict=True)])
    got_p = np.array([kernel.pair_potentiation(wi, a_plus, w_max, xi, multiplicative)
                      for wi, xi in zip(w, x, strict=True)])
    # the same three products in the same order: equal up to a few ulps
    np.testing.assert_allclose(got_d, twin.pair_depression(w, a_minus, w_max, y,
                                                           multiplicative), rtol=1e-14)
    np.testing.assert_allclose(got_p, twin.pair_potentiation(w, a_plus, w_max, x,
                                                             multiplicative), rtol=1e-14)
    scale_d, scale_p = (w, w_max - w) if multiplicative else (w_max, w_max)
    np.testing.assert_allclose(got_d, -a_minus * scale_d * y, rtol=1e-14)
    np.testing.assert_allclose(got_p, a_plus * scale_p * x, rtol=1e-14)
    assert np.all(got_d <= 0) and np.all(got_p >= 0)


def test_window_is_declared_once():
    for cls in (PairSTDP, RewardSTDP, PairSTDPTrial):
        assert issubclass(cls, PairSTDPWindow)
        for key in WINDOW:
            assert cls.model_fields[key].metadata == PairSTDPWindow.model_fields[key].metadata
            assert (cls.model_fields[key].description
                    == PairSTDPWindow.model_fields[key].description)
    # the trial rule keeps its own defaults (Bi & Poo fits); the network kinds Song et al.'s
    assert PairSTDPTrial().stdp_params() == {"tau_plus_ms": 17.0, "tau_minus_ms": 34.0,
                                             "a_plus": 0.01, "a_minus": 0.0055}
    assert PairSTDP().stdp_params() == PairSTDPWindow().stdp_params()


@pytest.mark.parametrize("cls", [PairSTDP, RewardSTDP, PairSTDPTrial])
@pytest.mark.parametrize("key, value, words", [
    ("tau_plus_ms", 0.0, "greater than 0"),
    ("tau_minus_ms", float("inf"), "finite"),
    ("a_plus", -0.1, "greater than or equal to 0"),
    ("a_minus", float("nan"), "finite"),
])
def test_window_constraints_are_checked_alike(cls, key, value, words):
    with pytest.raises(InvalidParameterError,
                       match=f"The '{key}' parameter of {cls.__name__} must be .*{words}"):
        cls(**{key: value})


def test_network_engine_and_trial_rule_change_weights_alike():
    """Random pre and post trains (3 x 2 synapses, 1000 steps of 0.5 ms, pre and post
    spikes sometimes in the same step) drive generator groups of the engine with
    ``PairSTDP`` and the trial rule with the same window; the engine's additive change
    with ``w_max = 1`` is the trial rule's net change. Tolerance: the engine's deferred
    potentiation takes trace powers instead of repeated products (~1e-16 relative per
    step of difference, module docstring of the kernel), far below 1e-9 of changes of
    order 1e-2, and the weights stay inside [0, 1] (no clipping)."""
    rng = np.random.default_rng(11)
    dt, T, n_pre, n_post = 0.5, 1000, 3, 2
    pre = (rng.random((T, n_pre)) < 0.02).astype(float)
    post = (rng.random((T, n_post)) < 0.02).astype(float)
    pre[-5:] = post[-5:] = 0.0  # every spike inside the simulated span
    assert np.any(pre.astype(bool)[:, :, None] & post.astype(bool)[:, None, :])

    def generator(spikes):
        steps, idx = np.nonzero(spikes)
        return SpikeGenerator(n=spikes.shape[1], indices=idx.tolist(),
                              times_ms=(steps * dt).tolist())

    rule = PairSTDPTrial(tau_plus_ms=15.0, tau_minus_ms=25.0, a_plus=0.003, a_minus=0.0035)
    net = Network(dt_ms=dt, groups={"pre": generator(pre), "post": generator(post)},
                  synapses=[Synapses(source="pre", target="post", w_init=0.5, w_max=1.0,
                                     plasticity=PairSTDP(**rule.stdp_params()))])
    sim = NumbaSimulator(net, seed=0)
    w0 = sim.weights("pre_post")
    res = sim.run(T * dt)
    assert res.counts["pre"] == pre.sum() and res.counts["post"] == post.sum()
    i_pre, i_post = sim.connectivity("pre_post")
    engine = np.zeros((n_post, n_pre))
    engine[i_post, i_pre] = sim.weights("pre_post") - w0
    assert np.all(np.abs(engine) < 0.5)  # no synapse reached a bound
    delta, _ = rule.update({"pre_spikes": pre, "post_spikes": post, "dt_ms": dt}, None,
                           {"W_out": np.zeros((n_post, n_pre))})
    assert np.abs(delta["W_out"]).max() > 1e-3
    np.testing.assert_allclose(engine, delta["W_out"], rtol=1e-9, atol=1e-13)
