"""The Euclidean gradient-field test: is a rule's mean update a gradient in weight coordinates?

Let ``F(theta)`` be a rule's mean update as a function of the (flattened) parameters. If
``F = -grad f`` for some smooth ``f``, its Jacobian ``J = dF/dtheta`` is ``-Hessian(f)``,
which is symmetric; conversely, a field whose Jacobian is symmetric everywhere on a
simply connected region is a gradient field there (Poincare's lemma). Split
``J = S + A`` with ``S = (J + J^T)/2`` and ``A = (J - J^T)/2``. Because symmetric and
antisymmetric matrices are orthogonal in the Frobenius inner product,
``||J||_F^2 = ||S||_F^2 + ||A||_F^2``, and the asymmetry used here is

    asymmetry = ||A||_F / ||J||_F = ||A||_F / sqrt(||S||_F^2 + ||A||_F^2),

the sine of the angle between ``J`` and the space of symmetric matrices. It lies in
``[0, 1]``: 0 exactly when ``J`` is symmetric (as for every gradient field), 1 exactly for
a purely antisymmetric ``J`` (a rotation field ``F(x) = R x`` with ``R^T = -R``). For
``J = -s I + w R`` with ``R`` antisymmetric it is
``|w| ||R||_F / sqrt(s^2 n + w^2 ||R||_F^2)``.

What it shows, and what not. A symmetric Jacobian over a region shows that the field is a
*Euclidean* gradient field in these weight coordinates there. A clearly asymmetric one
shows only that it is not one: the same flow can still be a gradient flow in another
metric or on a submanifold (Oja's rule is the Riemannian gradient of the Rayleigh
quotient on the sphere; the replicator equation is a Shahshahani gradient), and a field
with no gradient structure at all can still improve an objective (a Lyapunov function).
Those are tested by :mod:`plasticity.analysis.field_metric` and
:mod:`plasticity.analysis.field_descent`, and :func:`~plasticity.analysis.field_descent.
field_verdict` words the result.

One point only tests a necessary condition; evaluate over a region of states
(:func:`field_asymmetry_over`). The Jacobian is taken by central finite differences, so
``field_fn`` must be deterministic: estimate a stochastic rule's mean update with the
same random numbers at every point (common random numbers), or the differences measure
the noise.

Numerical floor. With relative step ``eps`` (``h = eps`` for unit-scale coordinates) the
error of each Jacobian entry is ``h^2 |d^3 F| / 6`` (truncation) plus about
``macheps |F| / h`` (rounding, ``macheps = 2.2e-16``); for ``eps = 1e-5`` and fields whose
values and third derivatives are of the order of their first derivatives both are about
``1e-11`` relative to the entries, so the asymmetry of an exact gradient field is
``1e-11`` to ``1e-10`` (measured: 7e-12 to 5e-10 in the gradient-field experiment). An
asymmetry below ``1e-6`` is at the floor with four orders of margin.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError

__all__ = ["field_asymmetry", "field_asymmetry_over", "jacobian"]


def jacobian(field_fn, theta, eps=1e-5) -> np.ndarray:
    """Jacobian of a vector field by central finite differences.

    Parameters
    ----------
    field_fn : callable
        Maps a vector of shape (n,) to a vector of shape (n,) (e.g. the mean update of a
        rule at those flattened parameters; see :mod:`plasticity.analysis.flat`).
    theta : array_like, shape (n,)
        The point.
    eps : float, default 1e-5
        Relative step: coordinate ``j`` moves by ``h_j = eps * max(1, |theta_j|)``. The
        error is ``O(h^2)`` from truncation plus ``O(machine eps * |F| / h)`` from
        rounding; 1e-5 balances the two for smooth fields of unit scale.

    Returns
    -------
    ndarray, shape (n, n)
        ``J[i, j] = dF_i / dtheta_j``. Costs ``2 n`` evaluations of ``field_fn``.

    Raises
    ------
    InvalidParameterError
        (a ``ValueError``) for a ``theta`` that is not a vector, a non-positive ``eps`` or
        a field of the wrong shape.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 1:
        raise InvalidParameterError(f"theta must be a vector; got shape {theta.shape}.")
    if not eps > 0:
        raise InvalidParameterError(f"eps must be positive; got {eps}.")
    n = theta.size
    jac = np.empty((n, n))
    for j in range(n):
        h = eps * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        # Dividing by the step actually taken (after rounding of theta +- h) removes one
        # source of error.
        fu = np.asarray(field_fn(up), dtype=np.float64)
        fd = np.asarray(field_fn(down), dtype=np.float64)
        if fu.shape != (n,) or fd.shape != (n,):
            raise InvalidParameterError(f"field_fn returned shape {fu.shape}; expected "
                                        f"({n},), the shape of theta.")
        jac[:, j] = (fu - fd) / (up[j] - down[j])
    return jac


def field_asymmetry(field_fn, theta, eps=1e-5) -> float:
    """Relative antisymmetric part ``||A||_F / ||J||_F`` of the field's Jacobian at theta.

    Parameters
    ----------
    field_fn : callable
        Vector field ``(n,) -> (n,)``, deterministic.
    theta : array_like, shape (n,)
    eps : float, default 1e-5
        As in :func:`jacobian`.

    Returns
    -------
    float
        In ``[0, 1]``: 0 for a Euclidean gradient field (up to finite-difference error),
        1 for a pure rotation field; see the module docstring. 0 when the Jacobian is
        zero (a constant field is the gradient of a linear function).

    Examples
    --------
    >>> import numpy as np
    >>> rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    >>> round(field_asymmetry(lambda x: rot @ x, np.ones(2)), 12)
    1.0
    >>> round(field_asymmetry(lambda x: -x, np.ones(2)), 12)
    0.0
    """
    return _asymmetry(jacobian(field_fn, theta, eps))


def _asymmetry(jac) -> float:
    total = float(np.linalg.norm(jac))
    if total == 0.0:
        return 0.0
    anti = 0.5 * (jac - jac.T)
    return float(np.linalg.norm(anti)) / total


def field_asymmetry_over(field_fn, thetas, eps=1e-5) -> dict:
    """The asymmetry at several points of a region of states.

    Parameters
    ----------
    field_fn : callable
        Vector field ``(n,) -> (n,)``, deterministic.
    thetas : array_like, shape (k, n)
        The points (e.g. parameters sampled along training or around an initial state).
    eps : float, default 1e-5
        As in :func:`jacobian`.

    Returns
    -------
    dict
        ``mean`` and ``max`` (floats) and ``values`` (ndarray of shape (k,)).
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    if thetas.ndim != 2 or thetas.shape[0] == 0:
        raise InvalidParameterError(f"thetas must have shape (k, n) with k >= 1; got "
                                    f"{thetas.shape}.")
    values = np.array([field_asymmetry(field_fn, t, eps) for t in thetas])
    return {"mean": float(values.mean()), "max": float(values.max()), "values": values}
