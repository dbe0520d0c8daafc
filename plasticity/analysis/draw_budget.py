"""How many draws an expected-update measurement needs: the predicted standard error of
the debiased ``expected_cos`` for a number of draws, and its inverse (derivations in
docs/statistics-expected.md).
"""

from __future__ import annotations

import math

import numpy as np

from plasticity.errors import InvalidParameterError

__all__ = ["cos_se_for_draws", "draws_for_snr"]


def _check_design(snr, cos, noise_dims):
    if not (isinstance(snr, (int, float, np.floating)) and math.isfinite(snr) and snr > 0):
        raise InvalidParameterError(f"snr must be a finite number > 0; got {snr!r}.")
    if not (isinstance(cos, (int, float, np.floating)) and -1 <= cos <= 1):
        raise InvalidParameterError(f"cos must be in [-1, 1]; got {cos!r}.")
    if not (isinstance(noise_dims, (int, float, np.integer, np.floating))
            and math.isfinite(noise_dims) and noise_dims >= 1):
        raise InvalidParameterError(f"noise_dims must be a finite number >= 1; got "
                                    f"{noise_dims!r}.")


def cos_se_for_draws(n_draws, snr, *, cos=0.0, noise_dims=1.0) -> float:
    """Predicted standard error of the debiased ``expected_cos`` from ``n_draws`` draws.

    To second order in the noise of the mean (docs/statistics-expected.md),

    ``Var(expected_cos) ~ (1 - c^2) / (D n snr) + 1 / (2 D (n snr)^2)``

    with ``c`` the true cosine, ``snr = |E d|^2 / tr(Cov d)`` (in the metric of the
    cosine) and ``D`` the effective number of noise dimensions: ``D = P`` for isotropic
    noise in ``P`` parameters; ``D = 1`` (all the noise along one direction perpendicular
    to the mean) is the worst case, ``Var ~ 1 / (n snr)`` when ``n snr`` is large. The
    formula is for the unclipped estimate (clipping at 1 only shrinks the spread).

    Parameters
    ----------
    n_draws : int >= 2
    snr : float > 0
        Signal-to-noise ratio of one draw (``expected_snr``).
    cos : float in [-1, 1], default 0.0
        The true cosine (0: the worst case of the first-order term).
    noise_dims : float >= 1, default 1.0
        ``D`` above.

    Returns
    -------
    float

    Raises
    ------
    InvalidParameterError
        When an argument is out of range.
    """
    _check_design(snr, cos, noise_dims)
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 2:
        raise InvalidParameterError(f"n_draws must be an integer >= 2; got {n_draws!r}.")
    x = n_draws * snr
    return math.sqrt((1.0 - cos * cos) / (noise_dims * x) + 0.5 / (noise_dims * x * x))


def draws_for_snr(snr, target_cos_se, *, cos=0.0, noise_dims=1.0) -> int:
    """Draws the debiased ``expected_cos`` needs for a given standard error.

    Inverts :func:`cos_se_for_draws`: with ``x = n snr``, ``A = (1 - c^2) / D`` and
    ``B = 1 / (2 D)``, ``se^2 x^2 - A x - B = 0``.

    Parameters
    ----------
    snr : float > 0
        Signal-to-noise ratio of one draw (``expected_snr``).
    target_cos_se : float > 0
        Wanted standard error of ``expected_cos``.
    cos : float in [-1, 1], default 0.0
    noise_dims : float >= 1, default 1.0
        As in :func:`cos_se_for_draws` (the defaults are the worst case).

    Returns
    -------
    int
        The smallest ``n >= 2`` whose predicted standard error is at most the target.

    Raises
    ------
    InvalidParameterError
        When an argument is out of range.

    Examples
    --------
    >>> draws_for_snr(0.01, 0.1)
    10050
    """
    _check_design(snr, cos, noise_dims)
    if not (isinstance(target_cos_se, (int, float, np.floating))
            and math.isfinite(target_cos_se) and target_cos_se > 0):
        raise InvalidParameterError(f"target_cos_se must be a finite number > 0; got "
                                    f"{target_cos_se!r}.")
    a = (1.0 - cos * cos) / noise_dims
    b = 0.5 / noise_dims
    se2 = target_cos_se ** 2
    x = (a + math.sqrt(a * a + 4.0 * se2 * b)) / (2.0 * se2)
    return max(2, math.ceil(x / snr - 1e-9))
