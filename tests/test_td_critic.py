"""The TD critic: kernel vs its NumPy twin, Monte-Carlo limit, TD(0) fixed point, errors."""

import numpy as np
import pytest

from plasticity._kernels import td as k
from plasticity.errors import InvalidParameterError
from plasticity.rl import CompleteSerialCompound, TDCritic

try:
    from tests.twins import td as twin
except ModuleNotFoundError:  # plain `pytest` puts tests/, not the repo root, on sys.path
    from twins import td as twin

TOL = {"rtol": 1e-12, "atol": 1e-14}


@pytest.mark.parametrize("T,n", [(1, 3), (12, 5), (40, 31), (7, 1)])
@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("lam,neg", [(0.0, 1.0), (0.7, 0.4), (1.0, 1.0)])
@pytest.mark.parametrize("learn", [True, False])
def test_kernel_matches_twin(T, n, mode, lam, neg, learn):
    rng = np.random.default_rng(T * 100 + n)
    X = rng.normal(size=(T, n))
    r = rng.normal(size=T)
    w0 = rng.normal(size=n) / np.sqrt(n)
    w = w0.copy()
    deltas = np.empty(T)
    k.td_trial(w, X, r, 0.9, 0.05, lam, mode, neg, learn, deltas)
    d_ref, w_ref = twin.td_trial(w0, X, r, 0.9, 0.05, lam, mode, neg, learn)
    np.testing.assert_allclose(deltas, d_ref, **TOL)
    np.testing.assert_allclose(w, w_ref, **TOL)


def test_run_trial_leaves_inputs_and_matches_twin():
    rng = np.random.default_rng(3)
    X, r, w = rng.normal(size=(10, 4)), rng.normal(size=10), rng.normal(size=4)
    w_copy = w.copy()
    c = TDCritic(gamma=0.95, eta=0.2, lam=0.5, negative_scale=0.5)
    d, w_new = c.run_trial(X, r, w)
    np.testing.assert_array_equal(w, w_copy)
    d_ref, w_ref = twin.td_trial(w, X, r, 0.95, 0.2, 0.5, 0, 0.5, True)
    np.testing.assert_allclose(d, d_ref, **TOL)
    np.testing.assert_allclose(w_new, w_ref, **TOL)
    d0, w0 = c.run_trial(X, r, w, learn=False)
    np.testing.assert_array_equal(w0, w)
    assert np.all(d0[d0 < 0] <= 0)
    np.testing.assert_allclose(c.firing(d0), d0)


def test_td1_gamma1_is_monte_carlo():
    """lam = gamma = 1: the deltas telescope to G - V(x_0), and with one-hot (CSC)
    features each weight moves by eta (G_t - V_t), the Monte-Carlo update."""
    rng = np.random.default_rng(7)
    c = TDCritic(gamma=1.0, lam=1.0, eta=0.3)
    # general features, weights fixed: sum of deltas = return - V(start)
    X, r, w = rng.normal(size=(15, 6)), rng.normal(size=15), rng.normal(size=6)
    d, _ = c.run_trial(X, r, w, learn=False)
    assert d.sum() == pytest.approx(r.sum() - w @ X[0], rel=1e-12, abs=1e-12)
    # one-hot features: the online update is exactly the Monte-Carlo one
    csc = CompleteSerialCompound(n_steps=20, cs_step=0)
    X = csc.features()
    r = rng.normal(size=20)
    w = rng.normal(size=csc.n_features)
    d, w_new = c.run_trial(X, r, w)
    G = np.cumsum(r[::-1])[::-1]  # return from each step
    np.testing.assert_allclose(w_new - w, 0.3 * (G - w), rtol=1e-12, atol=1e-12)
    assert d.sum() == pytest.approx(G[0] - w[0], rel=1e-12)


def test_td0_chain_converges_to_discounted_reward():
    gamma, R = 0.9, 14
    csc = CompleteSerialCompound(n_steps=20, cs_step=3)
    X = csc.features()
    r = np.zeros(20)
    r[R] = 1.0
    c = TDCritic(gamma=gamma, eta=0.5)
    w = np.zeros(csc.n_features)
    for _ in range(400):
        _, w = c.run_trial(X, r, w)
    t = np.arange(3, 20)
    truth = np.where(t <= R, gamma ** (R - t).clip(0), 0.0)
    np.testing.assert_allclose(w, truth, atol=1e-10)


def test_csc_features():
    X = CompleteSerialCompound(n_steps=6, cs_step=2).features()
    assert X.shape == (6, 4)
    assert not X[:2].any()
    np.testing.assert_array_equal(X[2:], np.eye(4))


@pytest.mark.parametrize("kwargs,needle", [
    ({"gamma": 1.5}, "The 'gamma' parameter of TDCritic must be less than or equal to 1. "
                     "Got 1.5."),
    ({"eta": 0}, "'eta' parameter of TDCritic must be greater than 0"),
    ({"lam": -0.1}, "'lam' parameter of TDCritic"),
    ({"negative_scale": 0}, "'negative_scale' parameter of TDCritic"),
    ({"dopamine": "rpe"}, "'dopamine' parameter of TDCritic"),
])
def test_bad_hyperparameters(kwargs, needle):
    with pytest.raises(InvalidParameterError) as info:
        TDCritic(**kwargs)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_bad_arrays():
    c = TDCritic()
    X = np.zeros((10, 3))
    with pytest.raises(InvalidParameterError, match="rewards have shape"):
        c.run_trial(X, np.zeros(9), np.zeros(3))
    with pytest.raises(InvalidParameterError, match="w has shape"):
        c.run_trial(X, np.zeros(10), np.zeros(4))
    with pytest.raises(InvalidParameterError, match="features have shape"):
        c.run_trial(np.zeros(10), np.zeros(10), np.zeros(3))
    with pytest.raises(InvalidParameterError, match="NaN"):
        c.run_trial(X, np.full(10, np.nan), np.zeros(3))
    with pytest.raises(InvalidParameterError, match="cs_step"):
        CompleteSerialCompound(n_steps=5, cs_step=5)


def test_old_learning_rate_name_alpha_still_works_for_one_release():
    with pytest.warns(DeprecationWarning, match="'alpha' is deprecated.*use 'eta'"):
        old = TDCritic(gamma=0.9, alpha=0.3)
    assert old.eta == 0.3 and "alpha" not in old.get_params()
    X = CompleteSerialCompound(n_steps=8, cs_step=2).features()
    r = np.zeros(8)
    r[-1] = 1.0
    # the same critic under either name: the same trial, bit for bit
    d_old, w_old = old.run_trial(X, r, np.zeros(X.shape[1]))
    d_new, w_new = TDCritic(gamma=0.9, eta=0.3).run_trial(X, r, np.zeros(X.shape[1]))
    np.testing.assert_array_equal(w_old, w_new)
    np.testing.assert_array_equal(d_old, d_new)
    assert w_new[-1] == pytest.approx(0.3)  # one step of eta * delta on the reward state
    # the old name is still validated as the learning rate
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidParameterError,
                                                         match="'eta' parameter"):
        TDCritic(alpha=0)


def test_old_and_new_learning_rate_names_together_are_refused():
    with pytest.raises(InvalidParameterError) as info:
        TDCritic(alpha=0.1, eta=0.2)
    msg = str(info.value)
    assert "give 'eta' only ('alpha' is its deprecated old name), not both" in msg
    assert "\n" not in msg


def test_td_conditioning_config_key_alpha_is_a_deprecated_alias_of_eta():
    from plasticity.registry import load

    exp = load("td-conditioning")
    assert exp.build_config(preset="full").eta == 0.05
    with pytest.warns(DeprecationWarning, match="td-conditioning: 'alpha' is deprecated"):
        cfg = exp.build_config(preset="quick", overrides={"alpha": 0.2})
    assert cfg.eta == 0.2 and "alpha" not in cfg.get_params()
    # the full preset sets eta, so the old name on top of it is refused, saying why
    with pytest.raises(InvalidParameterError, match=r"not both \(the full preset sets eta"):
        exp.build_config(preset="full", overrides={"alpha": 0.2})
