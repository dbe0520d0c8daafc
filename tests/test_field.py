"""The gradient-field test: asymmetry of a mean-update field's Jacobian."""

import numpy as np
import pytest

from plasticity.analysis import (
    field_asymmetry,
    field_asymmetry_over,
    flatten,
    jacobian,
    unflatten,
)

N = 6


def _spd(rng, n):
    a = rng.standard_normal((n, n))
    return a @ a.T + np.eye(n)


def _antisym(rng, n):
    a = rng.standard_normal((n, n))
    return a - a.T


def test_quadratic_gradient_field_is_symmetric():
    rng = np.random.default_rng(0)
    h, c = _spd(rng, N), rng.standard_normal(N)

    def field(x):
        return -(h @ x - c)

    np.testing.assert_allclose(jacobian(field, rng.standard_normal(N)), -h, atol=1e-8)
    for _ in range(3):
        assert field_asymmetry(field, 3 * rng.standard_normal(N)) < 1e-8


def test_rotation_field_is_maximally_asymmetric():
    rng = np.random.default_rng(1)
    r = _antisym(rng, N)
    assert field_asymmetry(lambda x: r @ x, rng.standard_normal(N)) == pytest.approx(
        1.0, abs=1e-8)


def test_mixture_gives_the_derived_value():
    rng = np.random.default_rng(2)
    r = _antisym(rng, N)
    s, w = 0.7, 0.3

    def field(x):
        return -s * x + w * (r @ x)

    # J = -s I + w R: ||A|| = |w| ||R||, ||S|| = s sqrt(N), and ||J||^2 = ||S||^2 + ||A||^2.
    nr = np.linalg.norm(r)
    want = w * nr / np.sqrt(s**2 * N + w**2 * nr**2)
    assert field_asymmetry(field, rng.standard_normal(N)) == pytest.approx(want, abs=1e-8)
    # A general matrix: ||A|| / sqrt(||S||^2 + ||A||^2).
    j = rng.standard_normal((N, N))
    sym, anti = (j + j.T) / 2, (j - j.T) / 2
    want = np.linalg.norm(anti) / np.hypot(np.linalg.norm(sym), np.linalg.norm(anti))
    assert field_asymmetry(lambda x: j @ x, np.zeros(N)) == pytest.approx(want, abs=1e-8)


def test_nonlinear_gradient_field_is_symmetric_at_several_points():
    rng = np.random.default_rng(3)
    b = rng.standard_normal((4, N))
    q = _spd(rng, N)

    # f(x) = sum log cosh(B x) + 0.25 sum x^4 + 0.5 x.Q x, F = -grad f.
    def field(x):
        return -(b.T @ np.tanh(b @ x) + x**3 + q @ x)

    thetas = rng.standard_normal((5, N))
    out = field_asymmetry_over(field, thetas)
    # Central differences: O(eps^2) truncation and O(1e-16 |F| / eps) rounding, ~1e-10
    # relative at these scales.
    assert out["max"] < 1e-7
    assert out["values"].shape == (5,)
    np.testing.assert_array_equal(out["values"], [field_asymmetry(field, t) for t in thetas])
    assert out["mean"] == pytest.approx(out["values"].mean())


def test_nonlinear_non_gradient_field_is_asymmetric():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((N, N))  # asymmetric couplings: no energy function

    def field(x):
        return -x + np.tanh(w @ x)

    # Near 0, J ~ -I + W: ||A|| ~ ||W - W^T|| / 2 ~ N / sqrt(2) against ||J|| ~ N, so
    # the asymmetry is of order 0.5 for a Gaussian W, far from 0.
    values = field_asymmetry_over(field, 0.3 * rng.standard_normal((3, N)))["values"]
    assert np.all(values > 0.1)


def test_constant_field_and_bad_input():
    assert field_asymmetry(lambda x: np.ones(N), np.zeros(N)) == 0.0
    with pytest.raises(ValueError, match="shape"):
        field_asymmetry(lambda x: np.ones(N + 1), np.zeros(N))
    with pytest.raises(ValueError, match="vector"):
        field_asymmetry(lambda x: x, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\(k, n\)"):
        field_asymmetry_over(lambda x: x, np.zeros(3))


def test_flatten_round_trip_in_sorted_order():
    params = {"b": np.arange(2.0), "W": np.arange(6.0).reshape(2, 3)}
    vec = flatten(params)
    np.testing.assert_array_equal(vec, [0, 1, 2, 3, 4, 5, 0, 1])  # "W" < "b"
    back = unflatten(vec, params)
    assert list(back) == ["W", "b"]
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])
    with pytest.raises(ValueError, match="flat layout expects"):
        unflatten(vec[:-1], params)
