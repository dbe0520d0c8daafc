"""The field builders of plasticity.analysis.mean_field against closed forms."""

import numpy as np
import pytest

from plasticity.analysis.flat import flatten
from plasticity.analysis.mean_field import batch_field, sample_mean_field, states_around
from plasticity.rules.gradient import Backprop
from plasticity.rules.hebbian import Hebb, Oja
from plasticity.substrates import FeedForward


def _data(m=200, n=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n)) @ rng.standard_normal((n, n))
    return X - X.mean(axis=0)


@pytest.mark.parametrize("rule, formula", [
    (Oja(eta=0.1), lambda C, w: 0.1 * (C @ w - (w @ C @ w) * w)),
    (Hebb(eta=0.1), lambda C, w: 0.1 * C @ w),
])
def test_sample_mean_field_is_the_closed_form_mean_field(rule, formula):
    X = _data()
    C = X.T @ X / len(X)
    w = np.random.default_rng(1).standard_normal(X.shape[1])
    got = sample_mean_field(rule, X, w.reshape(1, -1))[0]
    # the same sums in another order: rounding of m = 200 terms, ~m * 1e-16 relative
    np.testing.assert_allclose(got, formula(C, w), rtol=1e-12, atol=1e-13)


def test_batch_field_of_backprop_is_minus_eta_times_the_gradient():
    net = FeedForward(sizes=[3, 4, 2])
    rng = np.random.default_rng(2)
    like = net.init_params(rng)
    x, target = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    rule = Backprop(net=net, eta=0.05)

    def signals_of(p):
        return {**net.signals(p, x), "target": target}

    field = batch_field(rule, rule.init(like), like, signals_of)
    theta = flatten(like)
    grad = flatten(net.loss_and_grad(like, x, target)[1])
    np.testing.assert_allclose(field(theta), -0.05 * grad, rtol=1e-12, atol=1e-15)
    assert field(theta).shape == theta.shape


def test_states_around_have_the_stated_spread():
    theta0 = np.full(50, 2.0)  # RMS 2
    states = states_around(theta0, 400, 0.5, np.random.default_rng(3))
    assert states.shape == (400, 50)
    # each coordinate's deviation is N(0, (0.5 * 2)^2); 20,000 draws: SE of the SD ~0.5 %
    sd = np.std(states - theta0)
    assert abs(sd - 1.0) < 0.03
    # a zero centre takes scale 1
    assert np.std(states_around(np.zeros(50), 400, 0.5, np.random.default_rng(3))) == \
        pytest.approx(0.5, rel=0.03)
