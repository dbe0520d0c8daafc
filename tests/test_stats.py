"""Confidence intervals (i.i.d., batch means, block bootstrap, across seeds) and the summary
of many updates, against known answers."""

import numpy as np
import pytest
from scipy import stats

from plasticity.analysis.stats import (
    autocorrelation,
    batch_means_ci,
    block_bootstrap_ci,
    bootstrap_ci,
    effective_sample_size,
    integrated_autocorr_time,
    seeds_interval,
    seeds_summary,
    summarize,
)
from plasticity.errors import PlasticityError


def test_coverage_of_the_mean_of_gaussian_samples():
    # The percentile bootstrap of the mean behaves like xbar +- z * s_n / sqrt(n), with
    # s_n the 1/n standard deviation, so its coverage is close to
    # P(|t_{n-1}| < z sqrt((n-1)/n)) (0.9419 at n = 50), a little below the nominal 95%.
    n, reps, level = 50, 1000, 0.95
    z = stats.norm.ppf(0.5 + level / 2)
    expected = 2 * stats.t.cdf(z * np.sqrt((n - 1) / n), n - 1) - 1
    rng = np.random.default_rng(2024)
    hits = 0
    for _ in range(reps):
        lo, hi = bootstrap_ci(rng.standard_normal(n), n_boot=1000, level=level, rng=rng)
        hits += lo <= 0.0 <= hi
    se = np.sqrt(expected * (1 - expected) / reps)
    # Four binomial standard errors, plus a margin for the finite n_boot (its quantile
    # noise widens or narrows each interval by ~1%, changing coverage by < 0.005).
    assert abs(hits / reps - expected) < 4 * se + 0.005


def test_interval_width_matches_the_standard_error():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(400) * 3.0
    lo, hi = bootstrap_ci(x, n_boot=4000, rng=rng)
    # Width ~ 2 * 1.96 * s_n / sqrt(n); the bootstrap quantiles add ~1.5% (1 SE) noise.
    want = 2 * stats.norm.ppf(0.975) * x.std() / np.sqrt(x.size)
    assert hi - lo == pytest.approx(want, rel=0.1)
    assert lo < x.mean() < hi


def test_constant_sample_gives_a_degenerate_interval():
    lo, hi = bootstrap_ci(np.full(30, 0.7), rng=0)
    assert lo == hi == pytest.approx(0.7, rel=1e-15)


def test_reproducible_given_the_rng():
    x = np.random.default_rng(1).standard_normal(40)
    assert bootstrap_ci(x, rng=3) == bootstrap_ci(x, rng=3)
    assert bootstrap_ci(x, rng=np.random.default_rng(3)) == bootstrap_ci(x, rng=3)
    assert bootstrap_ci(x, rng=3) != bootstrap_ci(x, rng=4)


def test_statistic_without_axis_argument_gives_the_same_interval():
    x = np.random.default_rng(2).standard_normal(25)
    fast = bootstrap_ci(x, stat=np.median, n_boot=500, rng=7)
    slow = bootstrap_ci(x, stat=lambda v: float(np.median(v)), n_boot=500, rng=7)
    assert fast == pytest.approx(slow, rel=1e-15)


def test_edge_cases_and_bad_input():
    assert all(np.isnan(bootstrap_ci([], rng=0)))
    assert bootstrap_ci([2.5], rng=0) == (2.5, 2.5)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([1.0, np.nan])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0, 2.0], level=1.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        bootstrap_ci(np.ones((2, 2)))


def test_summarize():
    rng = np.random.default_rng(3)
    cos = np.clip(0.3 + 0.1 * rng.standard_normal(200), -1, 1)
    inner = np.r_[np.ones(150), -np.ones(50)]
    out = summarize(cos, inner, rng=0, method="iid_bootstrap")
    assert out["n"] == 200 and out["frac_positive"] == 0.75
    assert out["cos_mean"] == pytest.approx(cos.mean(), rel=1e-15)
    assert (out["cos_ci_low"], out["cos_ci_high"]) == bootstrap_ci(cos, rng=0)
    out = summarize(cos, inner, rng=0)                   # the default, batch means
    assert out["cos_ci_low"] < 0.3 < out["cos_ci_high"]
    # Zero inner products are not positive.
    assert summarize([0.0, 0.5], [0.0, 1.0], rng=0)["frac_positive"] == 0.5
    empty = summarize([], [])
    assert empty["n"] == 0 and np.isnan(empty["cos_mean"])
    with pytest.raises(ValueError, match="differ in length"):
        summarize([0.1], [0.1, 0.2])


# --- Autocorrelation-aware intervals -------------------------------------------------------


def _ar1(phi, n, reps, rng):
    """``reps`` stationary AR(1) series of length ``n`` with mean 0 (shape (reps, n))."""
    from scipy import signal

    e = rng.standard_normal((reps, n))
    e[:, 0] /= np.sqrt(1.0 - phi**2)          # start in the stationary distribution
    return signal.lfilter([1.0], [1.0, -phi], e, axis=1)


# Binomial standard error of a coverage of 0.95 over 1,000 replicates:
# sqrt(0.95 * 0.05 / 1000) = 0.0069, so +-0.03 is more than 4 SE.
REPS = 1000
COVER_TOL = 0.03


def _coverage(intervals, truth=0.0):
    return float(np.mean([iv[1] <= truth <= iv[2] for iv in intervals]))


@pytest.mark.parametrize("phi", [0.5, 0.8])
def test_default_interval_covers_the_mean_of_correlated_series(phi):
    # AR(1) with tau = (1 + phi) / (1 - phi) = 3 and 9; n = 400 gives n_eff ~ 133 and 44.
    # Batch means cover ~0.945 here (docs/statistics.md), so 2,000 replicates (SE 0.0049)
    # keep the +-0.03 band more than 4 SE from where the coverage sits.
    x = _ar1(phi, 400, 2 * REPS, np.random.default_rng(11))
    rows = [summarize(r, r, rng=0) for r in x]
    assert {r["ci_method"] for r in rows} == {"batch_means"}
    cover = float(np.mean([r["cos_ci_low"] <= 0.0 <= r["cos_ci_high"] for r in rows]))
    assert abs(cover - 0.95) < COVER_TOL, cover
    # The same series under the i.i.d. bootstrap: too narrow by ~sqrt(tau), it covers
    # about 2 Phi(1.96 / sqrt(tau)) - 1 (0.74 and 0.49); fewer replicates suffice to see
    # that it is below 0.92 (binomial SE <= 0.03 at 300 replicates; 0.92 is > 5 SE away).
    rng = np.random.default_rng(12)
    iid = [(0.0,) + bootstrap_ci(r, n_boot=300, rng=rng) for r in x[:300]]
    assert _coverage(iid) < 0.92 - 0.05


@pytest.mark.parametrize("phi", [0.5, 0.8])
def test_block_bootstrap_covers_the_mean_of_correlated_series(phi):
    # 2,000 replicates (binomial SE 0.0049): the block bootstrap's coverage sits a little
    # under nominal (0.94-0.95 measured at n = 200-1000), so +-0.03 must be > 4 SE from
    # where it sits, not only from 0.95. Each call costs O(n_boot * n / l), so it is fast.
    x = _ar1(phi, 400, 2 * REPS, np.random.default_rng(13))
    rng = np.random.default_rng(14)
    ivs = [block_bootstrap_ci(r, n_boot=400, rng=rng) for r in x]
    assert {iv.method for iv in ivs} == {"block_bootstrap"}
    # The finite n_boot adds quantile noise of ~2% to each bound; it moved coverage by
    # < 0.006 against n_boot = 2000 on the same series.
    assert abs(_coverage(ivs) - 0.95) < COVER_TOL, _coverage(ivs)


def test_intervals_cover_the_mean_of_independent_data():
    x = _ar1(0.0, 200, REPS, np.random.default_rng(15)) + 0.3
    rng = np.random.default_rng(16)
    bm = [batch_means_ci(r) for r in x]
    cb = [block_bootstrap_ci(r, n_boot=400, rng=rng) for r in x]
    assert abs(_coverage(bm, 0.3) - 0.95) < COVER_TOL
    assert abs(_coverage(cb, 0.3) - 0.95) < COVER_TOL
    # Independent data need short batches: tau ~ 1, so batches of ~8 and n_eff ~ n.
    assert np.median([iv.block_length for iv in bm]) <= 16
    assert np.median([iv.n_eff for iv in bm]) == pytest.approx(200, rel=0.2)


def test_autocorrelation_matches_the_direct_sum():
    x = np.random.default_rng(17).standard_normal(37)
    d = x - x.mean()
    want = np.array([np.dot(d[:x.size - k], d[k:]) for k in range(6)]) / np.dot(d, d)
    assert autocorrelation(x, max_lag=5) == pytest.approx(want, rel=1e-10, abs=1e-12)
    # Along the last axis for many series at once.
    many = np.stack([x, 2.0 * x + 1.0])
    assert autocorrelation(many, 5) == pytest.approx(np.stack([want, want]), abs=1e-12)


def test_autocorrelation_time_of_ar1():
    # rho_k = phi^k, tau = (1 + phi) / (1 - phi) = 4 at phi = 0.6. Over 40 series of 5,000
    # values the mean estimate has SE ~ tau * sqrt(2 (2M + 1) / n) / sqrt(40) ~ 0.06 and
    # a low bias ~ tau (2M + 1) / n ~ 2%; 10% is > 4 SE plus the bias.
    x = _ar1(0.6, 5000, 40, np.random.default_rng(18))
    rho = autocorrelation(x, max_lag=3).mean(axis=0)
    assert rho == pytest.approx(0.6 ** np.arange(4), abs=0.02)
    for method in ("ips", "sokal"):
        tau = integrated_autocorr_time(x, method=method)
        assert tau.shape == (40,)
        assert tau.mean() == pytest.approx(4.0, rel=0.1)
    assert effective_sample_size(x[0]) == pytest.approx(5000 / integrated_autocorr_time(x[0]))


def test_batch_size_follows_the_autocorrelation_time():
    x = _ar1(0.8, 1000, 1, np.random.default_rng(19))[0]
    iv = batch_means_ci(x)
    tau = integrated_autocorr_time(x)
    assert iv.block_length == int(np.ceil(8 * tau))
    assert iv.n_eff == pytest.approx(1000 / tau)
    # A forced number of batches is honoured, and the interval is the t-interval of the
    # batch means computed by hand.
    forced = batch_means_ci(x, n_batches=10)
    means = x.reshape(10, 100).mean(axis=1)
    half = stats.t.ppf(0.975, 9) * means.std(ddof=1) / np.sqrt(10)
    assert forced.block_length == 100
    assert (forced.low, forced.high) == pytest.approx((x.mean() - half, x.mean() + half),
                                                      rel=1e-12)


def test_circular_block_bootstrap_variance_matches_its_closed_form():
    # With blocks of l dividing n, the resampled mean is the average of n/l independent
    # circular block means, so Var* = (l / n) * mean_s (B_s - xbar)^2 exactly. With
    # 20,000 resamples the variance's relative SE is sqrt(2 / 20000) = 1%; 5% is 5 SE.
    from plasticity.analysis.intervals import _cbb_means

    x = _ar1(0.7, 120, 1, np.random.default_rng(20))[0]
    block, n = 12, 120
    wrapped = np.concatenate((x, x[:block]))
    blocks = np.array([wrapped[s:s + block].mean() for s in range(n)])
    want = block / n * np.mean((blocks - x.mean()) ** 2)
    boots = _cbb_means(x, block, 20000, np.random.default_rng(21))
    assert boots.var() == pytest.approx(want, rel=0.05)
    assert abs(boots.mean() - x.mean()) < 4 * np.sqrt(want / 20000)
    # A block that does not divide n: the last block is cut, the mean is still unbiased.
    boots = _cbb_means(x, 50, 20000, np.random.default_rng(22))
    assert abs(boots.mean() - x.mean()) < 4 * boots.std() / np.sqrt(20000)


def test_block_bootstrap_is_reproducible_given_the_rng():
    x = _ar1(0.5, 300, 1, np.random.default_rng(23))[0]
    assert block_bootstrap_ci(x, rng=3) == block_bootstrap_ci(x, rng=3)
    assert block_bootstrap_ci(x, rng=3) != block_bootstrap_ci(x, rng=4)


def test_seeds_interval_is_the_t_interval():
    v = np.array([0.12, 0.31, 0.25, 0.40, 0.18])
    mean, low, high = seeds_interval(v, level=0.9)
    half = stats.t.ppf(0.95, 4) * np.std(v, ddof=1) / np.sqrt(5)
    assert mean == pytest.approx(0.252, rel=1e-12)
    assert (low, high) == pytest.approx((0.252 - half, 0.252 + half), rel=1e-12)
    one = seeds_interval([0.4])
    assert one[0] == 0.4 and np.isnan(one[1]) and np.isnan(one[2])
    assert all(np.isnan(seeds_interval([])))
    keys = seeds_summary(v)
    assert keys["seeds_cos_mean"] == pytest.approx(0.252) and keys["seeds_cos_n"] == 5
    assert keys["seeds_cos_low"] < 0.252 < keys["seeds_cos_high"]
    with pytest.raises(ValueError, match="NaN"):
        seeds_interval([0.1, np.nan])


def test_edge_cases_of_the_within_run_intervals():
    for iv in (batch_means_ci(np.full(50, 0.7)), block_bootstrap_ci(np.full(50, 0.7), rng=0)):
        assert iv.low == pytest.approx(0.7, rel=1e-12) and iv.high == pytest.approx(0.7, rel=1e-12)
    out = summarize(np.full(50, 0.7), np.ones(50))
    assert out["cos_ci_low"] == pytest.approx(0.7) and out["cos_ci_high"] == pytest.approx(0.7)
    # One value: no interval, and the method says why.
    for iv in (batch_means_ci([0.3]), block_bootstrap_ci([0.3], rng=0)):
        assert iv.mean == 0.3 and np.isnan(iv.low) and np.isnan(iv.high)
        assert iv.method == "iid_t_short_series"
    single = summarize([0.3], [1.0])
    assert single["ci_method"] == "iid_t_short_series" and np.isnan(single["cos_ci_low"])
    # Short series (n < 10) fall back to the i.i.d. t-interval.
    v = np.array([0.1, 0.5, 0.3, 0.2, 0.6])
    iv = batch_means_ci(v)
    half = stats.t.ppf(0.975, 4) * v.std(ddof=1) / np.sqrt(5)
    assert iv.method == "iid_t_short_series"
    assert (iv.low, iv.high) == pytest.approx((v.mean() - half, v.mean() + half), rel=1e-12)
    for bad in ([0.1, np.nan, 0.2], [np.inf] * 20):
        for f in (batch_means_ci, block_bootstrap_ci, autocorrelation):
            with pytest.raises(PlasticityError, match="NaN"):
                f(bad)
        with pytest.raises(ValueError, match="NaN"):
            summarize(bad, np.ones(len(bad)))
    with pytest.raises(ValueError, match="empty"):
        batch_means_ci([])
    with pytest.raises(ValueError, match="n_batches"):
        batch_means_ci(np.ones(20), n_batches=1)
    with pytest.raises(ValueError, match="block_length"):
        block_bootstrap_ci(np.ones(20), block_length=21)
    with pytest.raises(ValueError, match="level"):
        batch_means_ci(np.ones(20), level=0.0)


def test_summarize_methods_and_keys():
    x = _ar1(0.8, 300, 1, np.random.default_rng(24))[0] * 0.1 + 0.3
    inner = np.sign(x)
    keys = {"cos_mean", "cos_ci_low", "cos_ci_high", "ci_method", "frac_positive", "n",
            "n_eff", "block_length"}
    out = {m: summarize(x, inner, method=m, rng=1, n_boot=500)
           for m in ("batch_means", "block_bootstrap", "iid_bootstrap")}
    for m, o in out.items():
        assert set(o) == keys and o["ci_method"] == m and o["n"] == 300
        assert o["cos_mean"] == pytest.approx(x.mean(), rel=1e-12)
        assert o["cos_ci_low"] < o["cos_mean"] < o["cos_ci_high"]
    assert out["iid_bootstrap"]["block_length"] == 1
    # tau ~ 9 here: the autocorrelation-aware intervals are ~sqrt(9) = 3 times wider than
    # the i.i.d. one (within the noise of one series' variance estimates: a factor 1.7).
    width = {m: o["cos_ci_high"] - o["cos_ci_low"] for m, o in out.items()}
    assert width["batch_means"] > 1.7 * width["iid_bootstrap"]
    assert width["block_bootstrap"] > 1.7 * width["iid_bootstrap"]
    assert out["batch_means"]["n_eff"] < 300 / 3
    assert summarize(x, inner)["ci_method"] == "batch_means"          # the default
    with pytest.raises(ValueError, match="method"):
        summarize(x, inner, method="jackknife")
