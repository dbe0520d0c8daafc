"""The shared finite-difference checker (plasticity.testing): its error model, its three
ways of scaling the tolerance, its messages and its input checks.

Cubics make the error model exact: for ``f = sum c x^3`` the central difference of step
``h`` is ``3 c x^2 + c h^2`` (the truncation term ``h^2 f''' / 6`` with ``f''' = 6 c``, and
no higher terms), so a test can ask for that bias to within rounding.
"""

import numpy as np
import pytest

from plasticity.testing import UNIT_ROUNDOFF, check_grads, fd_grads, rounding_floor


def _cubic(c):
    return lambda p: float(sum(np.sum(c[k] * p[k] ** 3) for k in p))


def _cubic_grad(c, p):
    return {k: 3 * c[k] * p[k] ** 2 for k in p}


def _point():
    rng = np.random.default_rng(0)
    p = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=2), "s": np.array(0.7)}
    c = {"W": rng.uniform(0.5, 2, size=(3, 4)), "b": np.array([1.0, 1e-3]),
         "s": np.array(2.0)}
    return p, c


def test_truncation_error_is_h_squared_f_third_over_six():
    p, c = _point()
    f = _cubic(c)
    for h in (1e-2, 1e-3):
        fd = fd_grads(f, p, eps=h)
        g = _cubic_grad(c, p)
        floor = rounding_floor(f(p), h)
        for k in p:
            # bias c h^2 (f''' = 6 c), to within the rounding floor
            np.testing.assert_allclose(fd[k] - g[k], c[k] * h * h, rtol=0, atol=floor)
            assert fd[k].shape == np.shape(p[k])


def test_exact_gradient_passes_and_reports_its_relative_error():
    p, c = _point()
    rel = check_grads(_cubic(c), p, _cubic_grad(c, p), eps=1e-6, rtol=1e-8)
    # truncation c h^2 ~ 2e-12 and rounding ~ u |f| / h ~ 1e-9 against max |g| ~ 10
    assert 0 <= rel < 1e-8
    # the caller's arrays are not perturbed in place
    assert np.array_equal(p["W"], _point()[0]["W"])


def test_a_wrong_entry_is_named_with_its_array_and_index():
    p, c = _point()
    g = _cubic_grad(c, p)
    g["W"][1, 2] += 1e-4
    with pytest.raises(AssertionError, match=r"gradient of 'W' at \(1, 2\) is .* central "
                                             r"differences \(eps=1e-06\) give"):
        check_grads(_cubic(c), p, g, rtol=1e-6)


def test_relative_to_array_catches_an_error_in_a_small_array():
    p, c = _point()
    g = _cubic_grad(c, p)
    # b[1]'s gradient is ~1e-3; an error of 1e-3 of it is invisible against max |g| ~ 10
    # at rtol 1e-5 (allowance 1e-4) but not against b's own largest entry
    g["b"][1] *= 1.0 + 1e-3
    check_grads(_cubic(c), p, g, rtol=1e-5)
    small = {"W": p["W"], "b": p["b"][1:]}
    gs = {"W": g["W"], "b": g["b"][1:]}
    cs = {"W": c["W"], "b": c["b"][1:]}
    with pytest.raises(AssertionError, match=r"'b' at \(0,\).*max \|fd\| of 'b'"):
        check_grads(_cubic(cs), small, gs, rtol=1e-5, relative_to="array")


def test_relative_to_entry_is_assert_allclose_per_entry():
    p, c = _point()
    g = _cubic_grad(c, p)
    # within 1e-6 of itself + 1e-12: passes with "entry" at rtol 1e-5 ...
    g["b"][1] *= 1.0 + 5e-6
    check_grads(_cubic(c), p, g, rtol=1e-5, atol=1e-12, relative_to="entry")
    # ... but not at rtol 1e-6, although 5e-9 is nothing against max |fd|
    with pytest.raises(AssertionError, match=r"'b' at \(1,\).*\|fd\|"):
        check_grads(_cubic(c), p, g, rtol=1e-6, atol=1e-12, relative_to="entry")
    check_grads(_cubic(c), p, g, rtol=1e-6, atol=1e-12)


def test_per_array_tolerances():
    p, c = _point()
    g = _cubic_grad(c, p)
    g["s"] = g["s"] + 1e-5
    with pytest.raises(AssertionError, match="'s'"):
        check_grads(_cubic(c), p, g, rtol=0.0, atol=1e-6)
    check_grads(_cubic(c), p, g, rtol=0.0, atol={"W": 1e-6, "b": 1e-6, "s": 2e-5})
    with pytest.raises(AssertionError, match="atol is given for arrays"):
        check_grads(_cubic(c), p, g, atol={"W": 1e-6})


def test_default_atol_is_the_rounding_floor():
    x = np.array([0.3, -1.2])

    def f(v):
        return float(np.sum(v**3))

    exact = 3 * x**2
    floor = rounding_floor(f(x), 1e-6)
    assert floor == pytest.approx(16 * UNIT_ROUNDOFF * (1 + abs(f(x))) / 1e-6)
    # an error of 3 floors fails with rtol 0 and the default atol; 0.1 floor passes
    with pytest.raises(AssertionError, match="atol"):
        check_grads(f, x, exact + np.array([3 * floor, 0.0]), rtol=0.0)
    check_grads(f, x, exact + np.array([0.1 * floor, 0.0]), rtol=0.0)


def test_bare_arrays_and_zero_d_arrays():
    x = np.arange(6.0).reshape(2, 3) / 5
    fd = fd_grads(lambda v: float(np.sum(np.sin(v))), x)
    assert isinstance(fd, np.ndarray) and fd.shape == (2, 3)
    check_grads(lambda v: float(np.sum(np.sin(v))), x, np.cos(x), rtol=1e-8)
    with pytest.raises(AssertionError, match=r"gradient of 'x' at \(1, 0\)"):
        check_grads(lambda v: float(np.sum(np.sin(v))), x, np.cos(x) + np.eye(2, 3)[::-1],
                    rtol=1e-8)
    check_grads(lambda p: float(np.exp(p["a"])), {"a": np.array(0.5)},
                {"a": np.array(np.exp(0.5))}, rtol=1e-8)


@pytest.mark.parametrize("grad, words", [
    ({"W": np.zeros((3, 4))}, "gradient keys"),
    ({"W": np.zeros((4, 3)), "b": np.zeros(2), "s": np.array(0.0)}, "shape"),
])
def test_mismatched_gradients_are_refused(grad, words):
    p, c = _point()
    with pytest.raises(AssertionError, match=words):
        check_grads(_cubic(c), p, grad)


def test_unknown_relative_to_is_refused():
    p, c = _point()
    with pytest.raises(ValueError, match="relative_to"):
        check_grads(_cubic(c), p, _cubic_grad(c, p), relative_to="norm")
