"""The geometries the gradient-field test can be asked about: embedded submanifolds of
``R^n`` (the sphere, a product of spheres, the Stiefel manifold, the simplex) with their
tangent spaces, and the Shahshahani metric. The tests themselves are in
:mod:`plasticity.analysis.field_metric`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from plasticity.errors import InvalidParameterError

__all__ = ["Manifold", "product_of_spheres", "shahshahani_metric", "simplex", "sphere",
           "stiefel", "tangent_basis"]

# A point is "on" a manifold when its constraint residual is below this (relative to the
# scale of the point): far above rounding, far below any step a user would call a state.
_ON_MANIFOLD = 1e-8


@dataclass(frozen=True)
class Manifold:
    """An embedded submanifold ``{theta : c(theta) = 0}`` of ``R^n``.

    Attributes
    ----------
    name : str
        How a verdict names it, with its article ("the sphere").
    normals : callable
        ``theta (n,) -> (c, n)``: rows spanning the normal space at ``theta`` (the
        gradients of the constraints ``c``).
    retract : callable
        ``theta (n,) -> (n,)``: a nearby point of the manifold (to place sampled states
        on it).
    residual : callable
        ``theta (n,) -> float``: how far ``theta`` is from the manifold, relative to its
        scale (0 on it).
    """

    name: str
    normals: Callable
    retract: Callable
    residual: Callable


def tangent_basis(manifold, theta) -> np.ndarray:
    """Orthonormal basis of the tangent space of ``manifold`` at ``theta``.

    Parameters
    ----------
    manifold : Manifold
    theta : array_like, shape (n,)
        A point of the manifold.

    Returns
    -------
    ndarray, shape (n, m)
        Columns orthonormal (Euclidean), spanning ``{v : N v = 0}`` with ``N`` the
        normals; ``m = n - rank(N)``.
    """
    theta = _vector(theta)
    res = float(manifold.residual(theta))
    if not res <= _ON_MANIFOLD:
        raise InvalidParameterError(
            f"theta is not on {manifold.name} (relative residual {res:.2e} > "
            f"{_ON_MANIFOLD:.0e}); place it there with manifold.retract(theta).")
    normals = np.atleast_2d(np.asarray(manifold.normals(theta), dtype=np.float64))
    if normals.shape[1] != theta.size:
        raise InvalidParameterError(f"{manifold.name}: normals have shape {normals.shape}; "
                                    f"expected (c, {theta.size}).")
    _, s, vt = np.linalg.svd(normals)
    rank = int(np.sum(s > 1e-12 * max(float(s[0]), 1e-300))) if s.size else 0
    if rank == 0:
        raise InvalidParameterError(f"{manifold.name} is degenerate at theta (no normal "
                                    "direction), e.g. the sphere at the origin.")
    return vt[rank:].T


def sphere(n, radius=1.0) -> Manifold:
    """The sphere ``|theta| = radius`` in ``R^n`` (``n >= 3``), with the round metric.

    Parameters
    ----------
    n : int, >= 3
        Ambient dimension. For ``n = 2`` the sphere is a circle, on which every 1-form is
        closed, so the test would pass any tangent field: refused.
    radius : float > 0 or None
        ``None``: the sphere through each point tested (every sphere centred at 0), for
        fields such as rotations that are tangent to all of them.

    Returns
    -------
    Manifold
    """
    if int(n) < 3:
        raise InvalidParameterError(f"sphere: n must be >= 3 (got {n}): on the circle every "
                                    "tangent field passes the closedness test.")
    if radius is not None and not radius > 0:
        raise InvalidParameterError(f"sphere: radius must be positive; got {radius}.")

    def residual(theta):
        r = float(np.linalg.norm(theta))
        return 0.0 if radius is None else abs(r - radius) / radius

    def retract(theta):
        r = float(np.linalg.norm(theta))
        if r == 0.0:
            raise InvalidParameterError("sphere: cannot place the origin on the sphere.")
        return theta * ((radius if radius is not None else r) / r)

    return Manifold("the sphere", lambda theta: theta[None, :], retract, residual)


def product_of_spheres(k, n) -> Manifold:
    """``k`` unit spheres in ``R^n``: ``theta`` is a ``(k, n)`` matrix, C-order flattened,
    each row of unit norm (``n >= 3``; see :func:`sphere`)."""
    k, n = int(k), int(n)
    if k < 1 or n < 3:
        raise InvalidParameterError(f"product_of_spheres: need k >= 1 and n >= 3; got "
                                    f"k={k}, n={n}.")

    def normals(theta):
        W = theta.reshape(k, n)
        out = np.zeros((k, k * n))
        for i in range(k):
            out[i, i * n:(i + 1) * n] = W[i]
        return out

    def residual(theta):
        return float(np.max(np.abs(np.linalg.norm(theta.reshape(k, n), axis=1) - 1.0)))

    def retract(theta):
        W = theta.reshape(k, n)
        return (W / np.linalg.norm(W, axis=1, keepdims=True)).ravel()

    return Manifold("the product of spheres", normals, retract, residual)


def stiefel(k, n) -> Manifold:
    """The Stiefel manifold of ``(k, n)`` matrices with orthonormal rows (``k <= n``),
    C-order flattened, with the metric induced by the Frobenius inner product."""
    k, n = int(k), int(n)
    if not 1 <= k <= n:
        raise InvalidParameterError(f"stiefel: need 1 <= k <= n; got k={k}, n={n}.")
    pairs = [(i, j) for i in range(k) for j in range(i, k)]

    def normals(theta):
        # the gradient of the constraint w_i . w_j - delta_ij: w_j in block i, w_i in block j
        W = theta.reshape(k, n)
        out = np.zeros((len(pairs), k * n))
        for row, (i, j) in enumerate(pairs):
            out[row, i * n:(i + 1) * n] += W[j]
            out[row, j * n:(j + 1) * n] += W[i]
        return out

    def residual(theta):
        W = theta.reshape(k, n)
        return float(np.max(np.abs(W @ W.T - np.eye(k))))

    def retract(theta):
        # the polar factor: the nearest matrix with orthonormal rows
        u, _, vt = np.linalg.svd(theta.reshape(k, n), full_matrices=False)
        return (u @ vt).ravel()

    return Manifold("the Stiefel manifold", normals, retract, residual)


def simplex(n) -> Manifold:
    """The open probability simplex ``{x : sum x = 1, x > 0}`` in ``R^n`` (``n >= 2``)."""
    n = int(n)
    if n < 2:
        raise InvalidParameterError(f"simplex: need n >= 2; got {n}.")

    def residual(x):
        return abs(float(np.sum(x)) - 1.0) if np.all(x > 0) else np.inf

    def retract(x):
        if not np.all(x > 0):
            raise InvalidParameterError("simplex: frequencies must be positive.")
        return x / np.sum(x)

    return Manifold("the simplex", lambda x: np.ones((1, x.size)), retract, residual)


def shahshahani_metric(x) -> np.ndarray:
    """The Shahshahani metric ``G(x) = diag(1 / x)`` (Fisher information of the
    categorical distribution ``x``), shape ``(n, n)``; ``x`` must be positive."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(x > 0):
        raise InvalidParameterError("shahshahani_metric: frequencies must be positive.")
    return np.diag(1.0 / x)


def _vector(theta):
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 1:
        raise InvalidParameterError(f"theta must be a vector; got shape {theta.shape}.")
    return theta

