"""Confidence intervals for the mean of a correlated series, and across seeds.

Within a run, successive updates are correlated (the weights drift), so an interval that
treats them as independent is too narrow by about ``sqrt(tau)``, with ``tau`` the
integrated autocorrelation time (:mod:`plasticity.analysis.autocorr`). Two intervals
account for it, both sized from the measured ``tau``:

- :func:`batch_means_ci` (the default of :func:`plasticity.analysis.stats.summarize`):
  non-overlapping batch means with a t-quantile on ``b - 1`` degrees of freedom.
- :func:`block_bootstrap_ci`: the circular block bootstrap (percentile interval).

Across independent seeds, :func:`seeds_interval` is the t-interval over per-seed means.
The choices, their biases and the measured coverages are in docs/statistics.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from plasticity.analysis.autocorr import integrated_autocorr_time
from plasticity.errors import InvalidParameterError

__all__ = [
    "Interval",
    "batch_means_ci",
    "batch_size",
    "block_bootstrap_ci",
    "combine_seeds",
    "seeds_interval",
    "seeds_summary",
]

#: A batch (or block) spans this many integrated autocorrelation times. The batch-means
#: variance is low by a relative ~ (sum_k 2 k rho_k) / (tau * m), about 1 / (2 c) for an
#: exponentially decaying correlation (c = 8: -6%, i.e. -3% on the standard error).
BATCH_TAUS = 8.0
#: Never fewer batches than this (t_3 quantile 3.18 at 95%); fewer gives useless widths.
MIN_BATCHES = 4
#: Below this many values the autocorrelation cannot be measured; intervals fall back to
#: the i.i.d. t-interval and say so in ``method``.
MIN_SERIES = 10
#: Block length of the circular block bootstrap, in integrated autocorrelation times
#: (the same bias argument as for batches; shorter blocks under-covered: at tau = 9,
#: n = 400-500, 4 tau gave 0.92, 8 tau 0.94, 12 tau 0.95).
BLOCK_TAUS = 12.0

SHORT_METHOD = "iid_t_short_series"

# Bootstrap resamples are drawn in chunks of at most this many block starts, so memory
# stays bounded whatever n and n_boot are.
_CHUNK_ELEMENTS = 1 << 22


class Interval(NamedTuple):
    """A confidence interval for the mean of a series, with how it was made.

    Attributes
    ----------
    mean : float
        The sample mean of all ``n`` values (the point estimate).
    low, high : float
        The interval; NaN when it cannot be formed (a single value).
    n_eff : float
        Effective sample size ``n / tau`` (``tau`` by Geyer's initial monotone sequence).
    block_length : int
        Batch size (batch means), block length (block bootstrap) or 1 (i.i.d. fallback).
    method : str
        ``"batch_means"``, ``"block_bootstrap"`` or ``"iid_t_short_series"``.
    """

    mean: float
    low: float
    high: float
    n_eff: float
    block_length: int
    method: str


def _check_level(level):
    if not 0.0 < float(level) < 1.0:
        raise InvalidParameterError(f"level must lie in (0, 1); got {level}.")
    return float(level)


def _series(values, name="values"):
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise InvalidParameterError(f"{name} must be one-dimensional; got shape {x.shape}.")
    if x.size == 0:
        raise InvalidParameterError(f"{name} is empty; an interval needs at least one value.")
    if not np.all(np.isfinite(x)):
        raise InvalidParameterError(f"{name} contain NaN or infinity; drop those entries.")
    return x


def _t_quantile(level, dof):
    # scipy.special's inverse t CDF: the same quantile as scipy.stats.t.ppf without
    # importing scipy.stats (about 0.45 s of start-up per run).
    from scipy.special import stdtrit

    return float(stdtrit(dof, 0.5 + level / 2.0))


def _iid_t(x, level):
    """The i.i.d. t-interval, for series too short to measure their autocorrelation."""
    n = x.size
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, np.nan, np.nan, float(n), 1, SHORT_METHOD)
    half = _t_quantile(level, n - 1) * float(x.std(ddof=1)) / float(np.sqrt(n))
    return Interval(mean, mean - half, mean + half, float(n), 1, SHORT_METHOD)


def batch_size(n, tau, n_batches=None):
    """Batch size and number of batches for ``n`` values with autocorrelation time ``tau``.

    ``m = ceil(BATCH_TAUS * tau)`` values per batch, ``b = n // m`` batches, but at least
    ``MIN_BATCHES`` (then ``m = n // b``). With ``n_batches`` given, ``b = n_batches``.

    Returns
    -------
    (int, int)
        ``(m, b)`` with ``m * b <= n``.
    """
    if n_batches is not None:
        b = int(n_batches)
        if not 2 <= b <= n:
            raise InvalidParameterError(f"n_batches must lie in [2, {n}]; got {n_batches}.")
        return n // b, b
    m = max(1, int(np.ceil(BATCH_TAUS * float(tau))))
    b = n // m
    if b < MIN_BATCHES:
        b = min(MIN_BATCHES, n)
        m = n // b
    return m, b


def batch_means_ci(x, level=0.95, n_batches=None) -> Interval:
    """Batch-means confidence interval for the mean of a correlated series.

    The series is cut into ``b`` consecutive, non-overlapping batches of ``m`` values
    (the first ``n - b m`` values, fewer than ``m``, are left out of the variance; they
    are the earliest, most transient updates). If the batches are long compared with the
    correlation, the batch means are nearly independent and Gaussian, so

        mean +- t_{b-1} * sd(batch means) / sqrt(b)

    has the nominal coverage whatever ``b`` is (Flegal & Jones 2010). The batch size is
    ``m = ceil(8 * tau_hat)`` (at least 4 batches) with ``tau_hat`` the measured
    integrated autocorrelation time; the fixed ``floor(sqrt(n))`` rule of Flegal & Jones is
    consistent but too short for strongly correlated series of a few hundred updates (it
    covered 91% at tau = 9, n = 200).

    Parameters
    ----------
    x : array_like, shape (n,)
        The series (e.g. per-update cosines), in update order; finite.
    level : float, default 0.95
        Nominal coverage, in (0, 1).
    n_batches : int, optional
        Force this many batches (2 <= n_batches <= n) instead of the automatic choice.

    Returns
    -------
    Interval
        ``(mean, low, high, n_eff, block_length=m, method="batch_means")``; centred on the
        mean of all ``n`` values. With ``n < 10`` (and no ``n_batches``) the i.i.d.
        t-interval, ``method="iid_t_short_series"``; NaN bounds for ``n = 1``. A constant
        series gives ``low == high == mean``.

    Raises
    ------
    InvalidParameterError
        (a ValueError) on an empty, non-finite or non-1-D series or a bad ``level``.

    Notes
    -----
    Bias: the batch-means variance is low by a relative ``(sum_k 2 k rho_k) / (tau m)``,
    about ``1 / (2 * 8) = 6%`` for an exponentially decaying correlation, so coverage is
    about 0.5-1 point under nominal; measured numbers are in docs/statistics.md.

    Examples
    --------
    >>> iv = batch_means_ci(np.sin(np.arange(200) / 10.0) + 1.0)
    >>> iv.method, iv.low < 1.0 < iv.high
    ('batch_means', True)
    """
    x = _series(x, "x")
    level = _check_level(level)
    n = x.size
    if n < MIN_SERIES and n_batches is None:
        return _iid_t(x, level)
    tau = integrated_autocorr_time(x)
    m, b = batch_size(n, tau, n_batches)
    means = x[n - m * b:].reshape(b, m).mean(axis=1)
    mean = float(x.mean())
    half = _t_quantile(level, b - 1) * float(means.std(ddof=1)) / float(np.sqrt(b))
    return Interval(mean, mean - half, mean + half, float(n / tau), int(m), "batch_means")


def _cbb_means(x, block, n_boot, rng):
    """Means of ``n_boot`` circular-block-bootstrap resamples of ``x`` (shape (n_boot,)).

    A resample is ``k = ceil(n / block)`` blocks of consecutive values (wrapping around
    the end) with uniform random starts, cut to ``n`` values. Only the resample's sum is
    needed, so each block contributes a difference of prefix sums: O(k) per resample.
    """
    n = x.size
    centre = x.mean()
    d = x - centre                       # centred, so the prefix sums lose no precision
    k = -(-n // block)
    last = n - (k - 1) * block           # length of the final, cut block
    prefix = np.concatenate(([0.0], np.cumsum(np.concatenate((d, d[:block])))))
    out = np.empty(n_boot)
    rows = max(1, _CHUNK_ELEMENTS // k)
    for start in range(0, n_boot, rows):
        r = min(rows, n_boot - start)
        s = rng.integers(0, n, size=(r, k))
        total = (prefix[s[:, :-1] + block] - prefix[s[:, :-1]]).sum(axis=1)
        total += prefix[s[:, -1] + last] - prefix[s[:, -1]]
        out[start:start + r] = total
    return centre + out / n


def block_bootstrap_ci(x, level=0.95, n_boot=2000, block_length=None, rng=None) -> Interval:
    """Circular block bootstrap interval for the mean of a correlated series.

    Resamples are made of blocks of ``block_length`` consecutive values with uniform
    random starts, wrapping around the end of the series (Politis & Romano 1992), which,
    unlike the moving-block bootstrap (Kunsch 1989), weights every value equally, so the
    resampled means are centred on the sample mean. The block length defaults to
    ``ceil(12 * tau_hat)`` (at most ``n // 4``), ``tau_hat`` the measured integrated
    autocorrelation time: longer than the batches of :func:`batch_means_ci` because the
    overlapping blocks leave more information per block. The percentile
    deviations from the mean are then scaled by ``sqrt(n / (n - l)) * t_dof / z`` with
    ``dof = 1.5 (n / l - 1)``: the first factor removes the ``(1 - l/n)`` downward bias
    of the block-bootstrap variance (the mean is estimated from the same blocks), the
    second turns a z-like interval from a few blocks into a t-like one. Without it the
    interval covered 83-91% at ``tau = 9``, ``n = 200-1000``.

    Parameters
    ----------
    x : array_like, shape (n,)
        The series, in update order; finite.
    level : float, default 0.95
        Nominal coverage, in (0, 1).
    n_boot : int, default 2000
        Number of resamples.
    block_length : int, optional
        Force this block length (1 <= block_length <= n). With 1 no calibration is
        applied and the result is the plain i.i.d. percentile bootstrap of the mean.
    rng : numpy.random.Generator or int, optional
        The random source; the same generator state (or seed) gives the same interval.

    Returns
    -------
    Interval
        ``(mean, low, high, n_eff, block_length, method="block_bootstrap")``. With
        ``n < 10`` (and no ``block_length``) the i.i.d. t-interval,
        ``method="iid_t_short_series"``.

    Raises
    ------
    InvalidParameterError
        (a ValueError) on bad input, as :func:`batch_means_ci`, or ``n_boot < 1``.

    Notes
    -----
    Bias: as for batch means, the block variance is low by about
    ``(sum_k 2 k rho_k) / (tau l)`` (~4% for ``l = 12 tau``). Memory: resamples are drawn
    in chunks of at most 4 Mi block starts; each costs ``O(n / l)`` through prefix sums.
    Measured coverages are in docs/statistics.md.
    """
    x = _series(x, "x")
    level = _check_level(level)
    if int(n_boot) < 1:
        raise InvalidParameterError(f"n_boot must be >= 1; got {n_boot}.")
    n = x.size
    if n < MIN_SERIES and block_length is None:
        return _iid_t(x, level)
    tau = integrated_autocorr_time(x)
    if block_length is None:
        # BLOCK_TAUS autocorrelation times, but leaving at least MIN_BATCHES blocks.
        block = max(1, min(int(np.ceil(BLOCK_TAUS * tau)), n // MIN_BATCHES))
    else:
        block = int(block_length)
        if not 1 <= block <= n:
            raise InvalidParameterError(f"block_length must lie in [1, {n}]; got {block_length}.")
    boots = _cbb_means(x, block, int(n_boot), np.random.default_rng(rng))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boots, [alpha, 1.0 - alpha])
    # Small-sample calibration, so that the interval matches a batch-means t-interval
    # rather than a z-interval with a low variance: the circular-block variance of the
    # mean is low by the factor (1 - l/n) (the sample mean is estimated from the same
    # blocks; batch means fix it with ddof=1), and with n/l blocks its spread is as
    # uncertain as a variance on 1.5 (n/l - 1) degrees of freedom (overlapping batch
    # means, Meketon & Schmeiser 1984), so the percentile deviations are scaled by
    # sqrt(n / (n - l)) * t_dof / z.
    centre = float(x.mean())
    if 1 < block < n:
        dof = max(1.0, 1.5 * (n / block - 1.0))
        scale = float(np.sqrt(n / (n - block)))
        scale *= _t_quantile(level, dof) / _t_quantile(level, np.inf)
        low, high = centre - scale * (centre - low), centre + scale * (high - centre)
    # Rounding in the prefix sums can put a constant series' quantiles a few ulp off.
    low, high = min(float(low), centre), max(float(high), centre)
    return Interval(centre, low, high, float(n / tau), block, "block_bootstrap")


def seeds_interval(per_seed_means, level=0.95):
    """t-interval over independent per-seed means.

    Parameters
    ----------
    per_seed_means : array_like, shape (s,)
        One value per independent seed (e.g. each run's ``cos_mean``); finite.
    level : float, default 0.95

    Returns
    -------
    (float, float, float)
        ``(mean, low, high)`` with ``mean +- t_{s-1} * sd / sqrt(s)``; NaN bounds for a
        single seed, all NaN for none.

    Raises
    ------
    InvalidParameterError
        (a ValueError) on NaN or infinite values, a non-1-D input or a bad ``level``.

    Examples
    --------
    >>> seeds_interval([0.5])
    (0.5, nan, nan)
    """
    x = np.asarray(per_seed_means, dtype=np.float64)
    if x.ndim != 1:
        raise InvalidParameterError(
            f"per_seed_means must be one-dimensional; got shape {x.shape}.")
    level = _check_level(level)
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    if not np.all(np.isfinite(x)):
        raise InvalidParameterError("per_seed_means contain NaN or infinity.")
    iv = _iid_t(x, level)
    return (iv.mean, iv.low, iv.high)


def seeds_summary(per_seed_means, level=0.95, prefix="seeds_cos") -> dict:
    """:func:`seeds_interval` as summary keys ``<prefix>_mean``, ``_low``, ``_high``, ``_n``.

    Examples
    --------
    >>> sorted(seeds_summary([0.2, 0.4]))
    ['seeds_cos_high', 'seeds_cos_low', 'seeds_cos_mean', 'seeds_cos_n']
    """
    mean, low, high = seeds_interval(per_seed_means, level)
    return {f"{prefix}_mean": mean, f"{prefix}_low": low, f"{prefix}_high": high,
            f"{prefix}_n": int(np.asarray(per_seed_means).size)}


def combine_seeds(per_seed, averaged=()) -> dict:
    """One rule's summary from its per-seed summaries: the across-seed interval first.

    Parameters
    ----------
    per_seed : sequence of dict
        Each with ``cos_mean``, ``ci_method`` and ``n_measured`` (the keys of one seed's
        measurement), and the keys named in ``averaged``.
    averaged : sequence of str
        Per-seed values reported as their mean over seeds.

    Returns
    -------
    dict
        With several seeds: ``cos_mean``, ``cos_ci_low``, ``cos_ci_high`` are the
        t-interval over the seeds' finite ``cos_mean`` (:func:`seeds_summary`, also as
        ``seeds_cos_*``), ``ci_method`` says so and names the within-seed method,
        ``n_measured`` is summed and the ``averaged`` keys are averaged. With one seed:
        that seed's own keys (its within-run interval) and ``seeds_cos_*`` with NaN
        bounds.

    Examples
    --------
    >>> out = combine_seeds([{"cos_mean": 0.2, "ci_method": "batch_means", "n_measured": 5},
    ...                      {"cos_mean": 0.4, "ci_method": "batch_means", "n_measured": 5}])
    >>> round(out["cos_mean"], 3), out["n_measured"], out["ci_method"]
    (0.3, 10, 't over 2 seeds (within each: batch_means)')
    """
    per_seed = list(per_seed)
    cos = [r["cos_mean"] for r in per_seed if np.isfinite(r["cos_mean"])]
    seeds = seeds_summary(cos)
    if len(per_seed) == 1:
        return {**per_seed[0], **seeds}
    return {"cos_mean": seeds["seeds_cos_mean"], "cos_ci_low": seeds["seeds_cos_low"],
            "cos_ci_high": seeds["seeds_cos_high"],
            "ci_method": f"t over {len(cos)} seeds (within each: "
                         f"{per_seed[0]['ci_method']})",
            "n_measured": int(sum(r["n_measured"] for r in per_seed)), **seeds,
            **{k: float(np.mean([r[k] for r in per_seed])) for k in averaged}}
