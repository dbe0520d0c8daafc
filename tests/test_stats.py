"""Bootstrap confidence intervals and the summary of many updates, against known answers."""

import numpy as np
import pytest
from scipy import stats

from plasticity.analysis import bootstrap_ci, summarize


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
    out = summarize(cos, inner, rng=0)
    assert out["n"] == 200 and out["frac_positive"] == 0.75
    assert out["cos_mean"] == pytest.approx(cos.mean(), rel=1e-15)
    assert (out["cos_ci_low"], out["cos_ci_high"]) == bootstrap_ci(cos, rng=0)
    assert out["cos_ci_low"] < 0.3 < out["cos_ci_high"]
    # Zero inner products are not positive.
    assert summarize([0.0, 0.5], [0.0, 1.0], rng=0)["frac_positive"] == 0.5
    empty = summarize([], [])
    assert empty["n"] == 0 and np.isnan(empty["cos_mean"])
    with pytest.raises(ValueError, match="differ in length"):
        summarize([0.1], [0.1, 0.2])
