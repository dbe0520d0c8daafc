"""The cosine law of a K-sample Gaussian perturbation (or ES) gradient estimate.

For ``g_hat = K^-1 sum_k (g.z_k) z_k`` with ``z_k ~ N(0, I_N)``: the ratio of moments
``E[g_hat.g] / (|g| sqrt(E|g_hat|^2))`` is ``sqrt(K / (N + K + 1))`` exactly, and the mean
cosine follows ``cos^2 ~ Beta(K/2, (N-1)/2)``. Used by the ``perturbation-cosine`` and
``claim-es`` experiments (their docstrings derive both).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mean_cosine_theory", "ratio_and_se", "ratio_cosine_theory"]


def ratio_cosine_theory(n, k):
    """``E[g_hat.g] / (|g| sqrt(E|g_hat|^2)) = sqrt(K / (N + K + 1))``, exact.

    Parameters
    ----------
    n : int >= 1
        ``N``, the number of parameters.
    k : int >= 1
        ``K``, the number of perturbations averaged in one estimate.
    """
    return float(np.sqrt(k / (n + k + 1)))


def mean_cosine_theory(n, k):
    """``E[cos(g_hat, g)] = B(K/2 + 1/2, (N-1)/2) / B(K/2, (N-1)/2)`` (dimensionless).

    From ``cos^2 ~ Beta(K/2, (N-1)/2)``; ``n >= 2`` (for ``N = 1`` the cosine is 1).
    """
    from scipy.special import betaln

    a, b = k / 2.0, (n - 1) / 2.0
    return float(np.exp(betaln(a + 0.5, b) - betaln(a, b)))


def ratio_and_se(proj, sq):
    """``mean(proj) / sqrt(mean(sq))`` and its delta-method standard error.

    Parameters
    ----------
    proj, sq : ndarray, shape (M,)
        Per estimate, ``g_hat.g / |g|^2`` and ``|g_hat|^2 / |g|^2``. The two are strongly
        correlated, so the covariance term of the delta method matters.

    Returns
    -------
    (float, float)
        The ratio-of-moments cosine and its standard error.
    """
    proj, sq = np.asarray(proj, dtype=float), np.asarray(sq, dtype=float)
    m = proj.size
    a, b = proj.mean(), sq.mean()
    cov = np.cov(np.vstack([proj, sq]), ddof=1) / m
    # d rho / d a = 1 / sqrt(b);  d rho / d b = -a / (2 b^1.5)
    grad = np.array([1.0 / np.sqrt(b), -a / (2.0 * b**1.5)])
    return float(a / np.sqrt(b)), float(np.sqrt(max(grad @ cov @ grad, 0.0)))
