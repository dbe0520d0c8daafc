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


# --------------------------------------------------------------------------------------
# Metric- and manifold-aware tests, the descent check and the verdicts.
#
# Floor of the finite-difference tests (eps = 1e-5, unit-scale states): each Jacobian
# entry has truncation error h^2 |d^3 omega| / 6 ~ 2e-11 |d^3 omega| and rounding error
# ~ macheps |omega| / h ~ 2e-11 |omega| (omega the covector G F); for the fields below,
# whose values and third derivatives are within a factor ~10 of their first derivatives,
# the asymmetry of an exact gradient is ~1e-10 at most. "At the floor" is asserted as
# < 1e-8 (100 times that); "not at the floor" by comparison with the exact value or a
# derived lower bound, never by a tuned number.

from plasticity.analysis import field_metric as fm  # noqa: E402
from plasticity.analysis.field_descent import (  # noqa: E402
    Geometry,
    descent_along_flow,
    field_verdict,
    pointwise_descent,
)
from plasticity.errors import InvalidParameterError, PlasticityError  # noqa: E402

FLOOR = 1e-8


def _asym(m):
    return np.linalg.norm(m - m.T) / 2 / np.linalg.norm(m)


def _smooth_objective(rng, n):
    """f = sum log cosh(B x) + x.Q x / 2, its gradient and Hessian."""
    b, q = rng.standard_normal((3, n)), _spd(rng, n)

    def f(x):
        return float(np.sum(np.log(np.cosh(b @ x))) + 0.5 * x @ q @ x)

    def grad(x):
        return b.T @ np.tanh(b @ x) + q @ x

    def hess(x):
        return (b.T * (1.0 - np.tanh(b @ x) ** 2)) @ b + q

    return f, grad, hess


def test_natural_gradient_field_passes_the_metric_test_only():
    rng = np.random.default_rng(10)
    f, grad, hess = _smooth_objective(rng, N)

    def metric(x):  # a non-constant, non-diagonal metric: G = I + x x^T
        return np.eye(N) + np.outer(x, x)

    def field(x):  # F = -G^{-1} grad f: steepest descent of f in G
        return -np.linalg.solve(metric(x), grad(x))

    for x in rng.standard_normal((3, N)):
        assert fm.metric_field_asymmetry(field, metric, x) < FLOOR
        # the Euclidean Jacobian, exactly: differentiating G F = -grad f gives
        # (d_j G) F + G d_j F = -H e_j with (d_j G) F = e_j (x.F) + x F_j
        F = field(x)
        jac = -np.linalg.solve(metric(x), hess(x) + (x @ F) * np.eye(N) + np.outer(x, F))
        want = _asym(jac)
        assert field_asymmetry(field, x) == pytest.approx(want, abs=FLOOR)
        assert want > 100 * FLOOR  # G and H do not commute: far from the floor
        # G J is not the covector's Jacobian for this metric: its asymmetry is not 0
        assert _asym(metric(x) @ jac) > 100 * FLOOR
    # with G = I the metric test is the Euclidean one
    x = rng.standard_normal(N)
    assert fm.metric_field_asymmetry(field, lambda t: np.eye(N), x) == pytest.approx(
        field_asymmetry(field, x), abs=1e-12)


def _oja(c):
    return lambda w: c @ w - (w @ c @ w) * w


def test_oja_is_a_gradient_on_the_sphere_not_in_euclidean_coordinates():
    rng = np.random.default_rng(11)
    c = _spd(rng, N) / N
    field, sph = _oja(c), fm.sphere(N)
    for w in [sph.retract(z) for z in rng.standard_normal((3, N))]:
        assert fm.manifold_field_asymmetry(field, sph, w) < FLOOR
        assert fm.tangency_defect(field, sph, w) < 1e-14  # tangent up to rounding
        # Euclidean: A = (C w w^T - w w^T C) / 2 against J = C - (w.Cw) I - 2 w w^T C
        jac = c - (w @ c @ w) * np.eye(N) - 2 * np.outer(w, w @ c)
        assert field_asymmetry(field, w) == pytest.approx(_asym(jac), abs=FLOOR)
        assert _asym(jac) > 1e-3
    # the Rayleigh quotient is the potential: F is its steepest ascent on the sphere
    starts = np.array([sph.retract(z) for z in rng.standard_normal((3, N))])
    out = pointwise_descent(field, lambda w: 0.5 * w @ c @ w / (w @ w), starts,
                            ascent=True, manifold=sph)
    assert out["frac"] == 1.0
    assert out["cos_min"] == pytest.approx(1.0, abs=1e-9)  # FD gradient: ~1e-10


def test_rotation_fails_the_sphere_test_and_the_circle_is_refused():
    rng = np.random.default_rng(12)
    r = _antisym(rng, N)
    x = rng.standard_normal(N)
    sph = fm.sphere(N, radius=None)  # a rotation is tangent to every sphere about 0
    assert fm.tangency_defect(lambda t: r @ t, sph, x) < 1e-14
    # P R P is antisymmetric: asymmetry 1 up to rounding
    assert fm.manifold_field_asymmetry(lambda t: r @ t, sph, x) == pytest.approx(1.0,
                                                                                abs=1e-8)
    with pytest.raises(InvalidParameterError, match="n must be >= 3"):
        fm.sphere(2)


def _sanger(c, k):
    def field(t):
        w = t.reshape(k, -1)
        return (w @ c - np.tril(w @ c @ w.T) @ w).ravel()
    return field


def _sanger_cross_block(c, w):
    """dF_2/dw_1 of GHA with two rows (dF_1/dw_2 is 0)."""
    w1, w2 = w
    return -((w2 @ c @ w1) * np.eye(len(w1)) + np.outer(w1, c @ w2))


def test_sanger_fails_euclidean_and_both_manifolds():
    rng = np.random.default_rng(13)
    n, k = 5, 2
    c = _spd(rng, n) / n
    field = _sanger(c, k)
    spheres, stief = fm.product_of_spheres(k, n), fm.stiefel(k, n)
    for z in rng.standard_normal((3, k * n)):
        w = z.reshape(k, n)
        jac = jacobian(field, z)
        # block lower-triangular J: ||A||_F >= ||dF_2/dw_1||_F / sqrt(2), ||J|| as computed
        bound = np.linalg.norm(_sanger_cross_block(c, w)) / np.sqrt(2) / np.linalg.norm(jac)
        assert field_asymmetry(field, z) >= bound - FLOOR
        assert bound > 100 * FLOOR
        # product of spheres: normal part of row i is (w_i . F_i) w_i for unit rows
        ws = spheres.retract(z)
        f = field(ws).reshape(k, n)
        wr = ws.reshape(k, n)
        normal = np.sqrt(np.sum(np.sum(wr * f, axis=1) ** 2)) / np.linalg.norm(f)
        assert fm.tangency_defect(field, spheres, ws) == pytest.approx(normal, rel=1e-10)
        assert normal > 100 * FLOOR
        # its tangent part keeps the triangle: with P_i the row projectors,
        # ||P A P|| >= ||P_2 (dF_2/dw_1) P_1|| / sqrt(2) and ||P J P|| <= ||J||
        p1, p2 = (np.eye(n) - np.outer(v, v) for v in wr)
        cross = p2 @ _sanger_cross_block(c, wr) @ p1
        bound = np.linalg.norm(cross) / np.sqrt(2) / np.linalg.norm(jacobian(field, ws))
        assert fm.manifold_field_asymmetry(field, spheres, ws) >= bound - FLOOR
        assert bound > 100 * FLOOR
        # Stiefel: the constraint w_1.w_2 = 0 has normal (w_2, w_1) of norm sqrt(2), and
        # <(w_2, w_1), F> = (W F^T + F W^T)_12 = w_1.C w_2, so the normal part is at least
        # |w_1.C w_2| / (sqrt(2) |F|)
        wt = stief.retract(z)
        w1, w2 = wt.reshape(k, n)
        bound = abs(w1 @ c @ w2) / np.sqrt(2) / np.linalg.norm(field(wt))
        assert fm.tangency_defect(field, stief, wt) >= bound - 1e-14
        assert bound > 100 * FLOOR
        # no derived bound for the Stiefel tangent part: well above the pass threshold
        assert fm.manifold_field_asymmetry(field, stief, wt) > 1e3 * FLOOR


def test_replicator_is_a_shahshahani_gradient_on_the_simplex():
    rng = np.random.default_rng(14)
    k = 4
    m = rng.standard_normal((k, k))
    a = 0.5 * (m + m.T)
    rps = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])

    def replicator(payoff):
        def field(x):
            f = payoff @ x
            return x * (f - x @ f)
        return field

    x = rng.dirichlet(np.ones(k)) * 0.8 + 0.2 / k
    simplex = fm.simplex(k)
    partnership = replicator(a)
    # G F = A x - fbar 1, whose tangent Jacobian is U^T A U: symmetric
    assert fm.manifold_field_asymmetry(partnership, simplex, x,
                                       fm.shahshahani_metric) < FLOOR
    assert fm.manifold_field_asymmetry(partnership, simplex, x) > 100 * FLOOR
    # RPS: U^T RPS U is antisymmetric, asymmetry 1
    x3 = rng.dirichlet(np.ones(3)) * 0.8 + 0.2 / 3
    assert fm.manifold_field_asymmetry(replicator(rps), fm.simplex(3), x3,
                                       fm.shahshahani_metric) == pytest.approx(1.0, abs=1e-8)
    # V = x.Ax/2 increases: dV/dt = Var_x(A x) >= 0, and F is its Shahshahani gradient
    starts = rng.dirichlet(np.ones(k), size=3) * 0.8 + 0.2 / k
    out = pointwise_descent(partnership, lambda y: 0.5 * y @ a @ y, starts, ascent=True,
                            grad_fn=lambda y: a @ y, manifold=simplex,
                            metric_fn=fm.shahshahani_metric)
    assert out["frac"] == 1.0
    assert out["cos_min"] == pytest.approx(1.0, abs=1e-12)  # exact gradient: rounding


def test_descent_check_passes_a_gradient_flow():
    rng = np.random.default_rng(15)
    f, grad, hess = _smooth_objective(rng, N)
    starts = rng.standard_normal((3, N))
    rho = max(np.linalg.norm(hess(s), 2) for s in starts)
    out = descent_along_flow(lambda x: -grad(x), f, starts, step=0.1 / rho, n_steps=100)
    assert out["frac"] == 1.0 and out["n_violations"] == 0
    assert out["max_violation"] == 0.0
    assert out["values"].shape == (3, 101)
    assert np.all(out["values"][:, -1] < out["values"][:, 0])
    point = pointwise_descent(lambda x: -grad(x), f, starts)
    assert point["frac"] == 1.0
    assert point["cos_min"] == pytest.approx(1.0, abs=1e-9)  # FD gradient: ~1e-10


def test_descent_check_fails_a_rotation():
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    d = np.diag([1.0, 3.0])

    def f(x):
        return 0.5 * x @ d @ x

    # On the unit circle f(angle) = 1/2 + sin^2(angle): it rises on (0, pi/2) and
    # (pi, 3 pi/2), falls on the rest. 64 RK4 steps of 2 pi / 64 hit the turning points
    # exactly, so exactly 32 steps rise; RK4's amplitude loss (h^6 / 72 per step, 1e-9)
    # is far below the smallest change of f per step (sin^2 h ~ 1e-2).
    out = descent_along_flow(lambda x: rot @ x, f, np.array([[1.0, 0.0]]),
                             step=2 * np.pi / 64, n_steps=64)
    assert out["n_violations"] == 32
    assert out["frac"] == pytest.approx(0.5)
    assert out["max_violation"] > 0.01
    # pointwise: grad f . F = 2 sin(2 angle) / 2 > 0 on half the angles (none at a zero)
    angles = (np.arange(16) + 0.5) * 2 * np.pi / 16
    states = np.column_stack([np.cos(angles), np.sin(angles)])
    point = pointwise_descent(lambda x: rot @ x, f, states, grad_fn=lambda x: d @ x)
    assert point["frac"] == pytest.approx(0.5)
    # |x|^2 / 2 is conserved: never increases, but F is orthogonal to its gradient
    point = pointwise_descent(lambda x: rot @ x, lambda x: 0.5 * x @ x, states,
                              grad_fn=lambda x: x)
    assert point["frac"] == 1.0
    assert np.max(np.abs(point["cos"])) < 1e-15


def test_verdicts_say_what_was_shown():
    tol = 1e-6
    v = field_verdict(4e-11, tol=tol, objective="L", flow_frac=1.0, pointwise_frac=1.0)
    assert v.startswith("Euclidean gradient field in weight coordinates (asymmetry 4.0e-11")
    assert "L decreases along the mean flow" in v
    v = field_verdict(0.38, tol=tol, geometries=[Geometry("on the sphere", 3e-11, 1e-16,
                                                          1.0, "the sphere")],
                      objective="R", ascent=True, flow_frac=1.0, pointwise_frac=1.0)
    assert v == ("not a Euclidean gradient field in weight coordinates (asymmetry 0.38); "
                 "a gradient flow of R on the sphere (asymmetry 3.0e-11 at the "
                 "finite-difference floor, <= 1e-06); R increases along the mean flow")
    # symmetric but the objective not shown to be the potential
    v = field_verdict(0.38, tol=tol, geometries=[Geometry("on the sphere", 3e-11)])
    assert "a gradient flow on the sphere" in v and "potential not identified" in v
    v = field_verdict(1.0, tol=tol, geometries=[Geometry("on the sphere", 1.0)])
    assert v.endswith("no gradient structure found in the metrics tested (Euclidean, on "
                      "the sphere)")
    v = field_verdict(0.4, tol=tol, geometries=[Geometry("on the Stiefel manifold", 0.3,
                                                         0.4, None, "the Stiefel manifold")],
                      objective="T", ascent=True, flow_frac=0.9, pointwise_frac=0.5)
    assert "not tangent to the Stiefel manifold (normal part 0.4 of |F|)" in v
    assert "T is not monotone along the mean flow (it increases on 90% of the steps)" in v
    # every flow passes but a sampled state fails: the verdict names the failing test
    v = field_verdict(0.4, tol=tol, objective="T", ascent=True, flow_frac=1.0,
                      pointwise_frac=0.75)
    assert ("T increases along every mean flow followed, but not at every state sampled "
            "(it does not move the wrong way at 75% of them)") in v
    assert "not monotone" not in v
    for text in (v, field_verdict(1.0, tol=tol)):
        assert "no objective" not in text and "follows no" not in text


def test_geometry_bad_input():
    sph = fm.sphere(3)
    with pytest.raises(InvalidParameterError, match="not on the sphere"):
        fm.manifold_field_asymmetry(lambda w: w, sph, np.array([2.0, 0.0, 0.0]))
    with pytest.raises(InvalidParameterError, match="not symmetric"):
        fm.metric_field_asymmetry(lambda x: x, lambda x: np.triu(np.ones((3, 3))),
                                  np.ones(3))
    with pytest.raises(InvalidParameterError, match="positive definite"):
        fm.metric_field_asymmetry(lambda x: x, lambda x: -np.eye(3), np.ones(3))
    with pytest.raises(InvalidParameterError, match="step"):
        descent_along_flow(lambda x: x, lambda x: 0.0, np.ones((1, 3)), step=0.0, n_steps=1)
    with pytest.raises(InvalidParameterError, match="finite range"), \
            np.errstate(over="ignore", invalid="ignore"):
        descent_along_flow(lambda x: x**2, lambda x: 0.0, np.ones((1, 3)), step=10.0,
                           n_steps=50)
    with pytest.raises(PlasticityError, match="frequencies must be positive"):
        fm.shahshahani_metric(np.array([0.5, 0.5, 0.0]))
