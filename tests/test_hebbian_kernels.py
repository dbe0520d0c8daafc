"""The Hebbian Numba kernels agree with their plain-NumPy twins to rounding error.

The kernels fuse passes and let the compiler reassociate the dot products, so the two
differ by a few ulps per sample; over the short windows used here that stays far below
``rtol=1e-12``.
"""

import numpy as np
import pytest

from plasticity._kernels import hebbian as k

try:
    from tests.twins import hebbian as twin
except ModuleNotFoundError:  # plain `pytest` puts tests/, not the repo root, on sys.path
    from twins import hebbian as twin

TOL = {"rtol": 1e-12, "atol": 1e-14}

# (n_out, n_in, T): a single output, several outputs, odd sizes, a single sample
SHAPES = [(1, 5, 30), (3, 7, 40), (4, 33, 25), (2, 6, 1), (5, 1, 10)]


def _data(shape, seed, nonneg=False):
    n_out, n_in, T = shape
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, n_in))
    if nonneg:
        X = np.abs(X)
    W = rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
    Y = rng.normal(size=(T, n_out))
    return W, X, Y


def _empty(W):
    return np.empty((0, W.shape[0]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("norm", [0, 1, 2])
@pytest.mark.parametrize("given", [False, True])
def test_hebb(shape, norm, given):
    W, X, Y = _data(shape, 1)
    got = W.copy()
    k.hebb(got, X, Y if given else _empty(W), given, 0.01, norm)
    np.testing.assert_allclose(got, twin.hebb(W, X, Y if given else None, 0.01, norm), **TOL)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("given", [False, True])
def test_oja(shape, given):
    W, X, Y = _data(shape, 2)
    got = W.copy()
    k.oja(got, X, Y if given else _empty(W), given, 0.02)
    np.testing.assert_allclose(got, twin.oja(W, X, Y if given else None, 0.02), **TOL)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("given", [False, True])
def test_gha(shape, given):
    W, X, Y = _data(shape, 3)
    got = W.copy()
    k.gha(got, X, Y if given else _empty(W), given, 0.02)
    np.testing.assert_allclose(got, twin.gha(W, X, Y if given else None, 0.02), **TOL)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rectify", [False, True])
@pytest.mark.parametrize("given", [False, True])
def test_bcm(shape, rectify, given):
    W, X, Y = _data(shape, 4, nonneg=True)
    theta = np.linspace(0.1, 1.0, W.shape[0])
    got_w, got_theta = W.copy(), theta.copy()
    k.bcm(got_w, got_theta, X, Y if given else _empty(W), given, 0.01, 7.0, rectify)
    want_w, want_theta = twin.bcm(W, theta, X, Y if given else None, 0.01, 7.0, rectify)
    np.testing.assert_allclose(got_w, want_w, **TOL)
    np.testing.assert_allclose(got_theta, want_theta, **TOL)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("given", [False, True])
def test_covariance(shape, given):
    W, X, Y = _data(shape, 5)
    X = X + 0.5  # nonzero means, so that the running means matter
    rng = np.random.default_rng(6)
    xbar, ybar = rng.normal(size=W.shape[1]), rng.normal(size=W.shape[0])
    got = W.copy(), xbar.copy(), ybar.copy()
    k.covariance(*got, X, Y if given else _empty(W), given, 0.01, 5.0)
    want = twin.covariance(W, xbar, ybar, X, Y if given else None, 0.01, 5.0)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, **TOL)


def test_empty_window_changes_nothing():
    W, X, _ = _data((2, 4, 3), 7)
    got = W.copy()
    theta = np.ones(2)
    k.oja(got, X[:0], _empty(W), False, 0.1)
    k.bcm(got, theta, X[:0], _empty(W), False, 0.1, 5.0, True)
    np.testing.assert_array_equal(got, W)
    np.testing.assert_array_equal(theta, np.ones(2))


def test_long_window_agrees_with_twin():
    # Many samples with one output: rounding differences must not grow along the window.
    W, X, _ = _data((1, 50, 2000), 8)
    X /= np.sqrt(50)
    got = W.copy()
    k.oja(got, X, _empty(W), False, 0.01)
    np.testing.assert_allclose(got, twin.oja(W, X, None, 0.01), rtol=1e-10, atol=1e-13)
