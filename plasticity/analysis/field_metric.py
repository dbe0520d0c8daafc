"""The gradient-field test in a declared metric and on a submanifold.

:func:`plasticity.analysis.field.field_asymmetry` asks whether a mean update field
``F(theta)`` is a gradient field in the *Euclidean* geometry of the weight coordinates. A
rule can fail that test and still be a gradient flow in another geometry: Oja's field is
the Riemannian gradient of the Rayleigh quotient on the unit sphere, the replicator field
the gradient of mean fitness in the Shahshahani metric. This module tests those cases.
The geometries (:class:`Manifold`, :func:`sphere`, ..., :func:`shahshahani_metric`) live
in :mod:`plasticity.analysis.manifolds` and are re-exported here.

A declared metric
-----------------
Let ``G(theta)`` be a Riemannian metric on an open set of ``R^n`` (symmetric positive
definite, smooth). ``F`` is a gradient flow of ``f`` in that metric, ``F = -G^{-1} grad f``,
iff the covector field (the 1-form) ``omega = G F`` equals ``-grad f``. A 1-form on a
simply connected open set is a gradient iff it is closed (Poincare's lemma), and
``d omega = 0`` means that ``K = d(G F)/dtheta`` is symmetric, because
``d omega(u, v) = u^T (K^T - K) v`` for ``omega = sum_i omega_i dtheta_i``. So the
metric-aware test is the asymmetry ``||K - K^T||_F / (2 ||K||_F)`` of ``K``, the same
measure as the Euclidean test (which is the case ``G = I``). No Christoffel symbols
appear: the exterior derivative of a 1-form needs no connection. Note that ``G J``
(with ``J = dF/dtheta``) is *not* the right matrix for a general metric: ``K = G J +
sum_k (dG/dtheta)_{.k.} F_k``, and the second term is symmetric only for special metrics
(e.g. Hessian metrics in their affine coordinates, as the Shahshahani metric is).

A submanifold
-------------
Let ``M`` be a submanifold of ``R^n`` (the unit sphere for Oja, the simplex for the
replicator, a product of spheres or the Stiefel manifold for several outputs), with the
metric ``G`` restricted to its tangent spaces (``G = I``: the induced Euclidean metric,
e.g. the round sphere). Extend ``F`` and ``G`` off ``M`` in any smooth way (a rule's field
formula already is such an extension) and let ``omega~ = (G F) . dtheta`` be the ambient
1-form. Its pull-back to ``M`` is ``omega(v) = (G F) . v`` for tangent ``v``: the covector
of the ``G``-orthogonal tangent part of ``F`` (for a tangent field, of ``F`` itself).
Pull-back commutes with ``d``, so for tangent ``u, v`` at ``theta`` in ``M``

    d omega(u, v) = u^T (K^T - K) v,     K = d(G F)/dtheta (ambient Jacobian).

With ``U`` an orthonormal basis of the tangent space ``T_theta M`` (columns), the
tangent part of ``F`` is a gradient field on ``M`` (locally; globally where ``M`` is
simply connected) iff ``U^T K U`` is symmetric at every point. The test is its asymmetry
``||A||_F / ||U^T K U||_F``; ``||U^T K U||_F = ||P K P||_F`` with ``P = U U^T`` the
projector, so this is the "projected Jacobian" ``P J P`` of the sphere case. The result
does not depend on the extension: two extensions differ by ``D`` with ``D = 0`` on ``M``,
so ``dD/dtheta`` vanishes along tangent directions (``(dD/dtheta) U = 0``) and
``U^T (dD/dtheta) U = 0``. For the induced Euclidean metric ``P J P`` acting on tangent
vectors is the Levi-Civita covariant derivative ``nabla F`` of a tangent field (the
tangential part of the ambient derivative), so the test asks whether ``nabla F`` is
self-adjoint, which is the Riemannian statement of "a gradient".

Oja on the sphere, worked out. ``F(w) = eta (C w - (w^T C w) w)`` with ``C`` symmetric.
On ``|w| = 1`` it is tangent (``w . F = eta (w^T C w)(1 - |w|^2) = 0``) and equals
``eta P C w`` with ``P = I - w w^T``, the Riemannian gradient of
``R(w) = w^T C w / 2`` restricted to the sphere (the Euclidean gradient ``C w``
projected on the tangent space): Oja's rule is gradient *ascent* of ``R`` on the sphere.
Its ambient Jacobian ``J = eta (C - (w^T C w) I - 2 w w^T C)`` has antisymmetric part
``eta (C w w^T - w w^T C) / 2``, not zero unless ``w`` is an eigenvector (the Euclidean
test fails), but ``P J P = eta (P C P - (w^T C w) P)`` (since ``P w = 0``) is symmetric:
it is ``eta`` times the Riemannian Hessian of ``R`` on the sphere. So the sphere test is
at the finite-difference floor at every point of the sphere.

Caveats. The test is local: a closed 1-form on a manifold that is not simply connected
(the circle ``S^1``, i.e. the sphere in ``R^2``) need not be exact, and on a
one-dimensional manifold every 1-form is closed, so the sphere test is vacuous for
``n = 2`` (a rotation of the plane passes it). :func:`sphere` refuses ``n < 3``. A field
that is not tangent to ``M`` is not a flow on ``M`` at all: check :func:`tangency_defect`
before reading the manifold asymmetry as a statement about the flow. Where ``U^T K U`` is
zero in exact arithmetic (a constant covector field, e.g. the replicator under constant
fitness), its finite-difference value is rounding noise and the ratio is meaningless.
"""

from __future__ import annotations

import numpy as np

from plasticity.analysis.field import _asymmetry, jacobian
from plasticity.analysis.manifolds import (
    Manifold,
    _vector,
    product_of_spheres,
    shahshahani_metric,
    simplex,
    sphere,
    stiefel,
    tangent_basis,
)
from plasticity.errors import InvalidParameterError

__all__ = ["Manifold", "geometry_asymmetry_over", "manifold_field_asymmetry",
           "metric_field_asymmetry", "product_of_spheres", "shahshahani_metric", "simplex",
           "sphere", "stiefel", "tangency_defect", "tangent_basis"]


def _checked_metric(metric_fn, theta):
    """``G(theta)``, checked: finite, shape (n, n), symmetric, positive definite."""
    n = theta.size
    G = np.asarray(metric_fn(theta), dtype=np.float64)
    if G.shape != (n, n) or not np.all(np.isfinite(G)):
        raise InvalidParameterError(f"metric returned shape {G.shape} (or non-finite "
                                    f"values); expected a finite ({n}, {n}) matrix.")
    if np.max(np.abs(G - G.T)) > 1e-10 * np.max(np.abs(G)):
        raise InvalidParameterError("metric is not symmetric at theta.")
    try:
        np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        raise InvalidParameterError("metric is not positive definite at theta.") from None
    return G


def _covector_jacobian(field_fn, metric_fn, theta, eps):
    """``K = d(G F)/dtheta`` at theta (``G = I`` when ``metric_fn`` is None)."""
    if metric_fn is None:
        return jacobian(field_fn, theta, eps)
    _checked_metric(metric_fn, theta)

    def covector(t):
        return np.asarray(metric_fn(t), dtype=np.float64) @ np.asarray(field_fn(t),
                                                                        dtype=np.float64)
    return jacobian(covector, theta, eps)


def metric_field_asymmetry(field_fn, metric_fn, theta, eps=1e-5) -> float:
    """Asymmetry of ``d(G F)/dtheta``: 0 iff ``F`` is a gradient flow in the metric ``G``.

    Parameters
    ----------
    field_fn : callable
        Vector field ``(n,) -> (n,)``, deterministic.
    metric_fn : callable
        ``theta (n,) -> G (n, n)``, symmetric positive definite (checked at ``theta``).
    theta : array_like, shape (n,)
    eps : float, default 1e-5
        Relative finite-difference step, as in :func:`~plasticity.analysis.field.jacobian`.

    Returns
    -------
    float
        ``||K - K^T||_F / (2 ||K||_F)`` in ``[0, 1]`` with ``K = d(G F)/dtheta``; 0 (up to
        the finite-difference floor) iff ``G F`` is locally a gradient, i.e.
        ``F = -G^{-1} grad f``; see the module docstring.

    Examples
    --------
    A natural-gradient field ``F = -G^{-1} grad f`` with ``f = |x|^2 / 2`` and
    ``G = diag(1 + x^2)``:

    >>> import numpy as np
    >>> G = lambda x: np.diag(1 + x**2)
    >>> F = lambda x: -x / (1 + x**2)
    >>> metric_field_asymmetry(F, G, np.array([0.3, -1.2, 2.0])) < 1e-9
    True
    """
    theta = _vector(theta)
    return _asymmetry(_covector_jacobian(field_fn, metric_fn, theta, eps))


def manifold_field_asymmetry(field_fn, manifold, theta, metric_fn=None, eps=1e-5) -> float:
    """Asymmetry of ``U^T d(G F)/dtheta U`` on the tangent space of a submanifold.

    Parameters
    ----------
    field_fn : callable
        Vector field ``(n,) -> (n,)``, deterministic, defined in a neighbourhood of the
        manifold (any smooth extension: the result does not depend on it).
    manifold : Manifold
        E.g. :func:`sphere`, :func:`product_of_spheres`, :func:`stiefel`, :func:`simplex`.
    theta : array_like, shape (n,)
        A point on the manifold (checked).
    metric_fn : callable or None
        The ambient metric ``theta -> G (n, n)`` whose restriction is the manifold's
        metric; None for the induced Euclidean metric (``G = I``).
    eps : float, default 1e-5
        As in :func:`~plasticity.analysis.field.jacobian`.

    Returns
    -------
    float
        In ``[0, 1]``; 0 (up to the finite-difference floor) iff the ``G``-orthogonal
        tangent part of ``F`` is locally a gradient field on the manifold in that
        metric. Whether ``F`` is tangent at all is :func:`tangency_defect`.
    """
    theta = _vector(theta)
    U = tangent_basis(manifold, theta)
    K = _covector_jacobian(field_fn, metric_fn, theta, eps)
    return _asymmetry(U.T @ K @ U)


def tangency_defect(field_fn, manifold, theta) -> float:
    """``|F - P F| / |F|`` at ``theta``: the part of the field normal to the manifold.

    Parameters
    ----------
    field_fn : callable
    manifold : Manifold
    theta : array_like, shape (n,)
        A point on the manifold.

    Returns
    -------
    float
        In ``[0, 1]``: 0 for a field tangent to the manifold (up to rounding, about
        ``1e-16``), 0 also where ``F = 0``. Tangency is metric-free; the ratio is
        Euclidean.
    """
    theta = _vector(theta)
    U = tangent_basis(manifold, theta)
    F = np.asarray(field_fn(theta), dtype=np.float64)
    norm = float(np.linalg.norm(F))
    if norm == 0.0:
        return 0.0
    return float(np.linalg.norm(F - U @ (U.T @ F))) / norm


def geometry_asymmetry_over(field_fn, thetas, *, manifold=None, metric_fn=None,
                            eps=1e-5) -> dict:
    """The metric- or manifold-aware asymmetry (and tangency) at several states.

    Parameters
    ----------
    field_fn : callable
    thetas : array_like, shape (k, n)
        States; on the manifold when one is given (place them with ``manifold.retract``).
    manifold : Manifold or None
        None: the metric test on an open set of ``R^n`` (:func:`metric_field_asymmetry`).
    metric_fn : callable or None
        None: Euclidean (with ``manifold=None`` as well, this is the Euclidean test).
    eps : float

    Returns
    -------
    dict
        ``mean``, ``max`` (floats) and ``values`` (ndarray (k,)) of the asymmetry;
        ``tangency`` (the largest :func:`tangency_defect`, 0 without a manifold).
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    if thetas.ndim != 2 or thetas.shape[0] == 0:
        raise InvalidParameterError(f"thetas must have shape (k, n) with k >= 1; got "
                                    f"{thetas.shape}.")
    if manifold is None:
        values = np.array([_asymmetry(_covector_jacobian(field_fn, metric_fn, t, eps))
                           for t in thetas])
        tangency = 0.0
    else:
        values = np.array([manifold_field_asymmetry(field_fn, manifold, t, metric_fn, eps)
                           for t in thetas])
        tangency = max(tangency_defect(field_fn, manifold, t) for t in thetas)
    return {"mean": float(values.mean()), "max": float(values.max()), "values": values,
            "tangency": float(tangency)}
