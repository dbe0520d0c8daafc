"""Angles between learned weights and known directions or subspaces, and the cosine
between two directions (vectors or dicts of arrays)."""

from __future__ import annotations

import numpy as np


def abs_cosine(a, b) -> float:
    """|cos| of the angle between two vectors (sign-free: PCA directions have no sign).

    Returns 0 when either vector is zero.
    """
    a, b = np.ravel(a), np.ravel(b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return float(abs(a @ b) / (na * nb))


def subspace_cosines(a, b) -> np.ndarray:
    """Cosines of the principal angles between the row spaces of ``a`` and ``b``.

    Parameters
    ----------
    a, b : ndarray, shape (k, n)
        Rows span the two subspaces.

    Returns
    -------
    ndarray, shape (k,)
        Descending; the last is the cosine of the largest angle.
    """
    from scipy.linalg import subspace_angles

    angles = subspace_angles(np.atleast_2d(a).T, np.atleast_2d(b).T)
    return np.sort(np.cos(angles))[::-1]


def cosine(a, b, *, undefined=np.nan) -> float:
    """Cosine of the angle between two directions: flat vectors or dicts of arrays.

    The one cosine helper of the package, for comparing two directions of the same kind
    (two rules' updates, two gradients, an update and the negative of a gradient). To
    judge an update against a loss gradient, with the sign convention, per-array rows and
    an optional metric, use :func:`plasticity.analysis.align` instead.

    Parameters
    ----------
    a, b : array_like or dict of str to array_like
        Two vectors of the same size (raveled), or two dicts with the same keys whose
        arrays have the same shapes (flattened in sorted key order, as
        :func:`plasticity.analysis.flatten` does).
    undefined : float, default NaN
        Returned when either direction is zero (the angle is undefined).

    Returns
    -------
    float
        ``a.b / (|a| |b|)``, clipped into ``[-1, 1]`` against rounding.

    Raises
    ------
    InvalidParameterError
        When one argument is a dict and the other not, the dicts' keys or shapes
        differ, or the sizes of two vectors differ.

    Examples
    --------
    >>> cosine({"W": np.array([1.0, 0.0]), "b": np.array([1.0])},
    ...        {"W": np.array([2.0, 0.0]), "b": np.array([0.0])})
    0.7071067811865475
    """
    from plasticity.errors import InvalidParameterError

    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)):
            raise InvalidParameterError("cosine: compare two dicts of arrays or two "
                                        "vectors, not a dict with a vector.")
        if set(a) != set(b):
            raise InvalidParameterError(f"cosine: the dicts have different arrays "
                                        f"({sorted(a)} against {sorted(b)}).")
        keys = sorted(a)
        for k in keys:
            if np.shape(a[k]) != np.shape(b[k]):
                raise InvalidParameterError(f"cosine: array {k!r} has shape "
                                            f"{np.shape(a[k])} in one and "
                                            f"{np.shape(b[k])} in the other.")
        u = np.concatenate([np.ravel(a[k]) for k in keys]).astype(np.float64)
        v = np.concatenate([np.ravel(b[k]) for k in keys]).astype(np.float64)
    else:
        u = np.ravel(np.asarray(a, dtype=np.float64))
        v = np.ravel(np.asarray(b, dtype=np.float64))
        if u.size != v.size:
            raise InvalidParameterError(f"cosine: the vectors have {u.size} and {v.size} "
                                        f"elements.")
    # sqrt(|u|^2 |v|^2), not |u| |v|: for v = c u this gives exactly 1 (as align does)
    den = float(np.sqrt(float(u @ u) * float(v @ v)))
    if den == 0.0:
        return float(undefined)
    return float(min(1.0, max(-1.0, float(u @ v) / den)))
