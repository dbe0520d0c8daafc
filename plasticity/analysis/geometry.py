"""Angles between learned weights and known directions or subspaces."""

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
