"""The escape-noise LIF kernel agrees with its NumPy twin; its STDP is the pair sum.

Both get the same uniform numbers, so the output spikes must be identical (a spike flips
only if a uniform falls within rounding error of its probability, which does not happen
with these draws); score and STDP agree to ``rtol=1e-10``.
"""

import numpy as np
import pytest

from plasticity._kernels import escape as k
from plasticity.rules.spiking import stdp_pair_change

try:
    from tests.twins import escape as twin
except ModuleNotFoundError:  # plain `pytest` puts tests/, not the repo root, on sys.path
    from twins import escape as twin

TOL = {"rtol": 1e-10, "atol": 1e-13}
NEURON = {"dt": 1.0, "tau_m": 10.0, "tau_s": 5.0, "v_rest": -70.0, "v_reset": -72.0,
          "v_th": -55.0, "delta_u": 3.0, "rho0": 0.05}
STDP = {"tau_plus": 17.0, "tau_minus": 34.0, "a_plus": 0.01, "a_minus": 0.0055}
# (n_out, n_in, T, K): several outputs, a single input, a single step, odd sizes
SHAPES = [(1, 5, 100, 4), (3, 7, 150, 3), (2, 1, 80, 5), (4, 12, 1, 6), (2, 20, 200, 2)]


def _data(shape, seed):
    n_out, n_in, T, K = shape
    rng = np.random.default_rng(seed)
    X = (rng.random((T, n_in)) < 0.05).astype(float)
    W = rng.normal(6.0, 3.0, size=(n_out, n_in))
    U = rng.random((K, T, n_out))
    return W, X, U


def _kernel(W, X, U, reset, do_stdp=True, neuron=NEURON, stdp=STDP):
    K, T, n_out = U.shape
    spikes = np.zeros((K, T, n_out), dtype=np.uint8)
    score = np.zeros((K, n_out, W.shape[1]))
    out = np.zeros_like(score)
    n = neuron
    k.simulate(W, X, U, n["dt"], n["tau_m"], n["tau_s"], n["v_rest"], n["v_reset"],
               n["v_th"], n["delta_u"], n["rho0"], reset, do_stdp, stdp["tau_plus"],
               stdp["tau_minus"], stdp["a_plus"], stdp["a_minus"], spikes, score, out)
    return spikes, score, out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reset", [True, False])
def test_simulate_matches_twin(shape, reset):
    W, X, U = _data(shape, 1)
    spikes, score, stdp = _kernel(W, X, U, reset)
    n = NEURON
    want = twin.simulate(W, X, U, n["dt"], n["tau_m"], n["tau_s"], n["v_rest"],
                         n["v_reset"], n["v_th"], n["delta_u"], n["rho0"], reset,
                         STDP["tau_plus"], STDP["tau_minus"], STDP["a_plus"],
                         STDP["a_minus"])
    np.testing.assert_array_equal(spikes, want[0])
    np.testing.assert_allclose(score, want[1], **TOL)
    np.testing.assert_allclose(stdp, want[2], **TOL)


def test_the_data_exercise_both_spike_outcomes():
    W, X, U = _data(SHAPES[-1], 1)
    spikes, _, _ = _kernel(W, X, U, True)
    assert 0 < spikes.mean() < 0.5


def test_stdp_off_leaves_the_buffer_and_the_spikes_unchanged():
    W, X, U = _data(SHAPES[1], 2)
    on = _kernel(W, X, U, True)
    off = _kernel(W, X, U, True, do_stdp=False)
    np.testing.assert_array_equal(on[0], off[0])
    np.testing.assert_array_equal(on[1], off[1])
    assert not off[2].any()


def _pair_sum(pre, post, dt, tau_plus, tau_minus, a_plus, a_minus):
    """The closed-form pair sum, pair by pair (times are step indices times dt)."""
    out = np.zeros((post.shape[1], pre.shape[1]))
    for i in range(post.shape[1]):
        for j in range(pre.shape[1]):
            for tj in np.flatnonzero(pre[:, j]):
                for ti in np.flatnonzero(post[:, i]):
                    n = pre[tj, j] * post[ti, i]
                    if ti >= tj:
                        out[i, j] += n * a_plus * np.exp(-(ti - tj) * dt / tau_plus)
                    else:
                        out[i, j] -= n * a_minus * np.exp(-(tj - ti) * dt / tau_minus)
    return out


def test_stdp_pair_change_on_hand_made_trains():
    dt = 0.5
    pre = np.zeros((40, 3))
    post = np.zeros((40, 2))
    pre[[2, 10, 30], 0] = 1      # before, before and after the post spikes
    pre[[12], 1] = 1             # simultaneous with a post spike: potentiates
    pre[[20, 21], 2] = 1
    post[[12, 25], 0] = 1
    post[[5], 1] = 1
    args = (dt, 17.0, 34.0, 0.01, 0.0055)
    got = stdp_pair_change(pre, post, *args)
    want = _pair_sum(pre, post, *args)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got, twin.stdp_pair_change(pre, post, *args), rtol=1e-12,
                               atol=1e-15)
    # by hand, one synapse: pre at 1 ms and 5 ms, post at 6 and 12.5 ms; pre at 15 ms
    # comes after both posts
    a_p, a_m, tp, tm = 0.01, 0.0055, 17.0, 34.0
    hand = (a_p * (np.exp(-5.0 / tp) + np.exp(-1.0 / tp) + np.exp(-11.5 / tp)
                   + np.exp(-7.5 / tp))
            - a_m * (np.exp(-9.0 / tm) + np.exp(-2.5 / tm)))
    assert got[0, 0] == pytest.approx(hand, rel=1e-12)
    assert got[0, 1] == pytest.approx(a_p * 1.0 + a_p * np.exp(-6.5 / tp), rel=1e-12)
    assert got[1, 1] == pytest.approx(-a_m * np.exp(-3.5 / tm), rel=1e-12)


def test_stdp_in_the_simulation_is_the_pair_sum_of_its_spikes():
    W, X, U = _data((3, 8, 200, 3), 5)
    spikes, _, stdp = _kernel(W, X, U, True)
    assert spikes.sum() > 5
    for trial in range(U.shape[0]):
        want = _pair_sum(X, spikes[trial].astype(float), NEURON["dt"], *STDP.values())
        np.testing.assert_allclose(stdp[trial], want, rtol=1e-10, atol=1e-14)


def test_stdp_pair_change_rejects_bad_input():
    with pytest.raises(ValueError, match="same T"):
        stdp_pair_change(np.zeros((5, 2)), np.zeros((4, 1)), 1.0, 10.0, 10.0, 0.1, 0.1)
    with pytest.raises(ValueError, match="tau_plus_ms must be a finite number > 0"):
        stdp_pair_change(np.zeros((5, 2)), np.zeros((5, 1)), 1.0, 0.0, 10.0, 0.1, 0.1)


def test_score_has_zero_mean():
    """E[score] = 0 (the likelihood-ratio identity's premise), with and without reset."""
    W, X, _ = _data((2, 6, 150, 1), 7)
    U = np.random.default_rng(8).random((6000, 150, 2))
    for reset in (True, False):
        _, score, _ = _kernel(W, X, U, reset, do_stdp=False)
        z = score.mean(axis=0) / (score.std(axis=0, ddof=1) / np.sqrt(len(score)))
        assert np.all(np.abs(z) < 4.5), z


def _score_given(W, X, spikes, reset, neuron=NEURON):
    n = neuron
    score = np.zeros((spikes.shape[0], W.shape[0], W.shape[1]))
    k.score_given_spikes(W, X, spikes, n["dt"], n["tau_m"], n["tau_s"], n["v_rest"],
                         n["v_reset"], n["v_th"], n["delta_u"], n["rho0"], reset, score)
    return score


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reset", [True, False])
def test_score_given_spikes_matches_twin(shape, reset):
    """Arbitrary given trains (not the kernel's own), so the replay cannot lean on U."""
    W, X, U = _data(shape, 3)
    spikes = (U < 0.1).astype(np.uint8)
    got = _score_given(W, X, spikes, reset)
    n = NEURON
    want = twin.score_given_spikes(W, X, spikes, n["dt"], n["tau_m"], n["tau_s"],
                                   n["v_rest"], n["v_reset"], n["v_th"], n["delta_u"],
                                   n["rho0"], reset)
    np.testing.assert_allclose(got, want, **TOL)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reset", [True, False])
def test_score_of_simulated_spikes_is_the_simulated_score(shape, reset):
    """What a Brian2 trial relies on: the score is a function of (W, X, spikes) alone,
    so the score replayed from the recorded spikes is the one the simulation computed
    (the same operations in the same order: equal to rounding)."""
    W, X, U = _data(shape, 4)
    spikes, score, _ = _kernel(W, X, U, reset, do_stdp=False)
    np.testing.assert_allclose(_score_given(W, X, spikes, reset), score, rtol=1e-12,
                               atol=1e-15)
