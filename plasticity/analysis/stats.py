"""Statistics over many updates: confidence intervals and the summary of a run.

Within a run, successive updates are correlated, so :func:`summarize` by default uses
batch means sized from the measured autocorrelation (:mod:`plasticity.analysis.intervals`,
:mod:`plasticity.analysis.autocorr`); the i.i.d. percentile bootstrap
:func:`bootstrap_ci` stays for values that really are independent (e.g. one value per
seed, or per independent draw at a fixed state). docs/statistics.md says which to use when.

The percentile bootstrap
------------------------
For ``n`` values ``x_1..x_n`` and a statistic ``T`` (the mean by default), draw
``n_boot`` resamples of size ``n`` with replacement, compute ``T`` on each, and report
the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of those ``n_boot`` numbers. It
makes no distributional assumption; its coverage approaches ``level`` as ``n`` grows and
is a little below it for small ``n`` (for the mean of Gaussian data it behaves like a
z-interval with the ``1/n`` variance, e.g. about 94.2% nominal-95% coverage at n = 50).
On correlated updates it is too narrow by about ``sqrt(tau)`` (it covered 45-50% of
AR(1) means with ``tau = 9``).
"""

from __future__ import annotations

import numpy as np

from plasticity.analysis.autocorr import (
    autocorrelation,
    effective_sample_size,
    integrated_autocorr_time,
)
from plasticity.analysis.intervals import (
    Interval,
    batch_means_ci,
    block_bootstrap_ci,
    seeds_interval,
    seeds_summary,
)
from plasticity.errors import InvalidParameterError

__all__ = [
    "CI_METHODS",
    "Interval",
    "autocorrelation",
    "batch_means_ci",
    "block_bootstrap_ci",
    "bootstrap_ci",
    "effective_sample_size",
    "integrated_autocorr_time",
    "seeds_interval",
    "seeds_summary",
    "summarize",
]

#: The interval methods of :func:`summarize`; the first is the default.
CI_METHODS = ("batch_means", "block_bootstrap", "iid_bootstrap")

# Resampled indices are generated in blocks of at most this many elements, so that the
# memory of a bootstrap stays bounded whatever n and n_boot are.
_BLOCK_ELEMENTS = 1 << 22


def _vectorised(stat, sample):
    """``stat`` applied to each row of ``sample`` (shape (k, n)), shape (k,)."""
    try:
        out = np.asarray(stat(sample, axis=1), dtype=np.float64)
        if out.shape == (sample.shape[0],):
            return out
    except TypeError:
        pass
    return np.array([float(stat(row)) for row in sample])


def bootstrap_ci(values, stat=np.mean, n_boot=2000, level=0.95, rng=None):
    """Percentile-bootstrap confidence interval of ``stat(values)``.

    Parameters
    ----------
    values : array_like, shape (n,)
        The sample (e.g. the cosines of ``n`` updates); must be finite.
    stat : callable, default numpy.mean
        The statistic. Called as ``stat(resamples, axis=1)`` on a (k, n) array when it
        accepts ``axis`` (fast), else once per resample on a (n,) array.
    n_boot : int, default 2000
        Number of resamples.
    level : float, default 0.95
        Nominal coverage, in (0, 1).
    rng : numpy.random.Generator or int, optional
        The random source; the same generator state (or seed) gives the same interval.

    Returns
    -------
    (float, float)
        ``(low, high)``; ``(nan, nan)`` for an empty sample, and ``(v, v)`` when every
        resample gives the same value ``v`` (e.g. a constant sample).

    Raises
    ------
    InvalidParameterError
        (a ValueError) when ``values`` is not one-dimensional or not finite, ``n_boot < 1`` or
        ``level`` is outside (0, 1).

    Examples
    --------
    >>> low, high = bootstrap_ci([1.0, 1.0, 1.0], rng=0)
    >>> (low, high)
    (1.0, 1.0)
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise InvalidParameterError(f"values must be one-dimensional; got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise InvalidParameterError("values contain NaN or infinity; drop undefined entries first.")
    if int(n_boot) < 1:
        raise InvalidParameterError(f"n_boot must be >= 1; got {n_boot}.")
    if not 0.0 < float(level) < 1.0:
        raise InvalidParameterError(f"level must lie in (0, 1); got {level}.")
    n, n_boot = x.size, int(n_boot)
    if n == 0:
        return (np.nan, np.nan)
    rng = np.random.default_rng(rng)
    boots = np.empty(n_boot)
    rows = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n_boot, rows):
        k = min(rows, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        boots[start:start + k] = _vectorised(stat, x[idx])
    alpha = (1.0 - float(level)) / 2.0
    low, high = np.quantile(boots, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def summarize(cosines, inners, *, method="batch_means", n_boot=2000, level=0.95,
              rng=None) -> dict:
    """Summarise the alignment of many updates of one run.

    Parameters
    ----------
    cosines : array_like, shape (n,)
        Per-update cosines with the negative gradient, in update order (the order matters:
        the interval measures their autocorrelation). Non-finite entries are an error;
        leave out updates whose cosine is undefined (``zero_norm`` rows) beforehand.
    inners : array_like, shape (n,)
        Per-update inner products with the negative gradient (units: loss).
    method : {"batch_means", "block_bootstrap", "iid_bootstrap"}, default "batch_means"
        The interval of the mean cosine: :func:`batch_means_ci` (default; the best
        calibrated on correlated series of 50-1000 updates), :func:`block_bootstrap_ci`,
        or :func:`bootstrap_ci` (i.i.d.; only for updates that really are independent).
    n_boot : int, default 2000
        Resamples of the two bootstrap methods (unused by batch means).
    level : float, default 0.95
        Nominal coverage, in (0, 1).
    rng : numpy.random.Generator or int, optional
        Random source of the bootstrap methods.

    Returns
    -------
    dict
        ``cos_mean`` (float), ``cos_ci_low`` and ``cos_ci_high`` (the interval of the
        mean cosine), ``ci_method`` (str: the method used; ``"iid_t_short_series"`` when
        fewer than 10 updates left the autocorrelation unmeasurable), ``frac_positive``
        (fraction of updates with ``inner > 0``), ``n`` (int), ``n_eff`` (float: the
        effective sample size ``n / tau`` measured on the cosines) and ``block_length``
        (int: batch size, block length, or 1 for i.i.d. methods). With ``n == 0`` the
        floats are NaN and ``block_length`` is 0.

    Raises
    ------
    InvalidParameterError
        (a ValueError) when the two arrays differ in length or are not finite, or
        ``method`` is unknown.
    """
    if method not in CI_METHODS:
        raise InvalidParameterError(
            f"method must be one of {', '.join(CI_METHODS)}; got {method!r}.")
    cos = np.asarray(cosines, dtype=np.float64).ravel()
    inn = np.asarray(inners, dtype=np.float64).ravel()
    if cos.size != inn.size:
        raise InvalidParameterError(
            f"cosines ({cos.size}) and inners ({inn.size}) differ in length.")
    if not (np.all(np.isfinite(cos)) and np.all(np.isfinite(inn))):
        raise InvalidParameterError("cosines or inners contain NaN or infinity.")
    n = int(cos.size)
    if n == 0:
        return {"cos_mean": np.nan, "cos_ci_low": np.nan, "cos_ci_high": np.nan,
                "ci_method": method, "frac_positive": np.nan, "n": 0, "n_eff": np.nan,
                "block_length": 0}
    if method == "batch_means":
        iv = batch_means_ci(cos, level=level)
    elif method == "block_bootstrap":
        iv = block_bootstrap_ci(cos, level=level, n_boot=n_boot, rng=rng)
    else:
        low, high = bootstrap_ci(cos, n_boot=n_boot, level=level, rng=rng)
        iv = Interval(float(cos.mean()), low, high, float(effective_sample_size(cos)), 1,
                      "iid_bootstrap")
    return {"cos_mean": float(cos.mean()), "cos_ci_low": float(iv.low),
            "cos_ci_high": float(iv.high), "ci_method": iv.method,
            "frac_positive": float(np.mean(inn > 0)), "n": n, "n_eff": float(iv.n_eff),
            "block_length": int(iv.block_length)}
