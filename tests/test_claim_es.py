"""claim-es: the ES cosine law sqrt(n/(n+d+1)) and the basin ES ends in against GD as
sigma grows, against the Gaussian-smoothed loss (issue 19, claim 9)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from plasticity.analysis.perturbation_law import ratio_and_se
from plasticity.errors import InvalidParameterError

TINY = ["ns=[3, 30]", "dims=[5, 200]", "budget=200000", "max_draws=200", "runs=20",
        "iterations=300", "sigmas=[0.01, 1.0]"]


@pytest.fixture(scope="module")
def mod():
    from plasticity.registry import load

    return sys.modules[load("claim-es").run.__module__]


def _black_box(F):
    """``F`` on points as the ``f(theta, sigma, eps)`` of :func:`es_estimates`."""
    return lambda th, s, e: F(th + s * e)


def _quadratic(d, rng, cond=10.0):
    a = cond ** -np.linspace(1.0, 0.0, d)
    xstar = rng.standard_normal(d)
    theta = rng.standard_normal(d)

    def F(x):
        return 0.5 * ((x - xstar) ** 2) @ a

    return F, theta, a * (theta - xstar), a


def _draws(mod, f, theta, sigma, n, form, m, seed):
    rng = np.random.default_rng(seed)
    return np.array([mod.es_gradient(f, theta, sigma, n, rng, form) for _ in range(m)])


def test_second_moment_against_monte_carlo(mod):
    """E|g_hat|^2 of every form against the exact formula (Isserlis), and the ratio law
    sqrt(n/(n+d+1)) against the measured ratio of moments, within 4 standard errors."""
    d, n, m = 5, 3, 20000
    rng = np.random.default_rng(11)
    F, theta, g, a = _quadratic(d, rng)
    g2, tr_a, tr_a2 = float(g @ g), float(a.sum()), float((a**2).sum())
    sigma = 0.5  # large enough that the curvature and offset terms are sizeable
    c = float(F(theta))
    cases = [("plain", {"c": c, "tr_a": tr_a, "tr_a2": tr_a2}),
             ("baseline", {"tr_a": tr_a, "tr_a2": tr_a2}),
             ("antithetic", {})]
    for form, kw in cases:
        est = _draws(mod, _black_box(F), theta, sigma, n, form, m, [3, len(form)])
        sq = np.einsum("ij,ij->i", est, est)
        theory = mod.es_second_moment(n, d, g2=g2, sigma=sigma, **kw)
        se = sq.std(ddof=1) / np.sqrt(m)
        assert abs(sq.mean() - theory) < 4 * se, (form, sq.mean(), theory, se)
        # the check has power: leaving out the extra terms would be caught
        assert abs(theory - g2 * (n + d + 1) / n) > 4 * se or form == "antithetic"
        ratio, ratio_se = ratio_and_se(est @ g / g2, sq / g2)
        assert abs(ratio - mod.ratio_cosine(n, d, g2=g2, sigma=sigma, **kw)) < 4 * ratio_se
    # the antithetic form is the claim's law exactly, and resolves it from its neighbours
    law = mod.cosine_law(n, d)
    assert law == pytest.approx(np.sqrt(n / (n + d + 1)), rel=1e-15)
    assert abs(ratio - law) < 4 * ratio_se
    assert abs(np.sqrt(n / (n + d - 1)) - law) > 4 * ratio_se


def test_linear_law_and_mean_cosine_against_monte_carlo(mod):
    """Plain ES on a linear f with f(theta) = 0: ratio of moments = sqrt(n/(n+d+1)) and
    mean cosine = the Beta law, within 4 standard errors; d = 1 has cosine 1 exactly."""
    for d, n in ((4, 2), (50, 2)):  # the Beta law is 10% above, then 9% below the law
        rng = np.random.default_rng([5, d])
        g = rng.standard_normal(d)
        est = _draws(mod, _black_box(lambda x, g=g: x @ g), np.zeros(d), 0.3, n, "plain",
                     20000, [6, d])
        proj, sq = est @ g / (g @ g), np.einsum("ij,ij->i", est, est) / (g @ g)
        ratio, ratio_se = ratio_and_se(proj, sq)
        assert abs(ratio - mod.cosine_law(n, d)) < 4 * ratio_se
        cos = proj / np.sqrt(sq)
        se = cos.std(ddof=1) / np.sqrt(cos.size)
        assert abs(cos.mean() - mod.mean_cosine_exact(n, d)) < 4 * se
        # the check has power: at these small n and d the mean cosine is not the law
        # (module docstring: about 5/(4(n+d)) - 1/(4n) apart), and the test resolves that
        assert abs(mod.mean_cosine_exact(n, d) - mod.cosine_law(n, d)) > 4 * se
    est = _draws(mod, _black_box(lambda x: 2.0 * x[:, 0]), np.zeros(1), 0.1, 4, "plain",
                 50, 7)
    assert np.all(est[:, 0] > 0) and mod.mean_cosine_exact(4, 1) == 1.0


def test_unbiased_by_averaging(mod):
    """E[g_hat] = g on a quadratic for every form (Hotelling's T^2 against its chi^2
    limit), and the test would see a 10% bias."""
    from scipy.stats import chi2

    d, n, m = 6, 4, 20000
    F, theta, g, _ = _quadratic(d, np.random.default_rng(2))
    bound = chi2.ppf(1 - 1e-4, d)
    for form in mod.FORMS:
        est = _draws(mod, _black_box(F), theta, 0.4, n, form, m, [8, len(form)])
        mean, cov = est.mean(axis=0), np.cov(est, rowvar=False) / m

        def t2(target, mean=mean, cov=cov):
            diff = mean - target
            return float(diff @ np.linalg.solve(cov, diff))

        assert t2(g) < bound, form
        assert t2(0.9 * g) > bound, form


def test_blocks_are_bounded_and_change_nothing(mod):
    """Directions are drawn in blocks of at most ``chunk`` numbers, and the estimate does
    not depend on the block size (the generator fills the same stream)."""

    class Recording:
        def __init__(self, seed):
            self.rng, self.shapes = np.random.default_rng(seed), []

        def standard_normal(self, shape):
            self.shapes.append(shape)
            return self.rng.standard_normal(shape)

    d, n = 50, 37
    F, theta, _, _ = _quadratic(d, np.random.default_rng(4))
    out = []
    for chunk in (10**6, 120, 1):
        rec = Recording(9)
        out.append(mod.es_gradient(_black_box(F), theta, 0.2, n, rec, "baseline", chunk))
        assert all(r * c <= max(chunk, d) for r, c in rec.shapes)
        assert sum(r for r, _ in rec.shapes) == n
    np.testing.assert_allclose(out[1], out[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[2], out[0], rtol=1e-12, atol=1e-12)


def test_structured_functions_are_the_functions(mod):
    """Part 1's linear and quadratic evaluations without forming the points equal the
    functions at the points; the antithetic quadratic estimate is the linear one."""
    cfg = mod.ClaimESConfig()
    f = mod._functions(cfg, 40, 0)
    assert np.linalg.norm(f.g) == pytest.approx(1.0, rel=1e-12)
    rng = np.random.default_rng(1)
    eps = rng.standard_normal((7, 40))
    x = f.theta_q + f.sigma_q * eps
    direct = 0.5 * ((x - f.xstar) ** 2) @ f.a
    np.testing.assert_allclose(f.quadratic(f.theta_q, f.sigma_q, eps), direct, rtol=1e-12)
    np.testing.assert_allclose(f.linear_offset(np.zeros(40), 0.1, eps),
                               f.c + (0.1 * eps) @ f.g, rtol=1e-12)
    # the quadratic's gradient at theta_q is g
    np.testing.assert_allclose(f.a * (f.theta_q - f.xstar), f.g, rtol=1e-12)
    est = mod.es_estimates(f.specs(), 25, np.random.default_rng(3))
    np.testing.assert_allclose(est[3], est[0], rtol=1e-9, atol=1e-12)


def test_smoothed_loss_closed_form_against_quadrature(mod):
    from scipy.integrate import quad
    from scipy.stats import norm

    land = mod.TwoWells.from_config(mod.ClaimESConfig())
    for sigma in (0.05, 0.3, 1.0):
        for x in (-1.0, 0.0, 0.2, 1.3, 2.5):
            num = quad(lambda z, x=x, s=sigma: float(land.value(x + s * z)) * norm.pdf(z),
                       -12, 12, points=[(m - x) / sigma for m in land.centers], limit=400,
                       epsabs=1e-13, epsrel=1e-12)[0]
            assert float(land.smoothed(x, sigma)) == pytest.approx(num, rel=1e-9, abs=1e-12)
    np.testing.assert_array_equal(land.smoothed(np.array([0.3, 1.0]), 0.0),
                                  land.value(np.array([0.3, 1.0])))


def test_smoothed_gradient_and_es_follows_it(mod):
    """f_sigma' (closed form) passes check_grads; the antithetic ES estimate's mean in 1-D
    is f_sigma' (Stein), not f', within 4 standard errors."""
    from plasticity.testing import check_grads

    land = mod.TwoWells.from_config(mod.ClaimESConfig())
    for sigma in (0.0, 0.1, 0.5):
        for x in (-0.7, 0.05, 0.4, 2.0):
            check_grads(lambda p, s=sigma: float(land.smoothed(p, s)), np.array(x),
                        land.smoothed_grad(np.array(x), sigma))
    sigma, x, m = 0.3, 0.2, 200000
    eps = np.random.default_rng(5).standard_normal(m)
    ghat = (land.value(x + sigma * eps) - land.value(x - sigma * eps)) * eps / (2 * sigma)
    se = ghat.std(ddof=1) / np.sqrt(m)
    assert abs(ghat.mean() - float(land.smoothed_grad(x, sigma))) < 4 * se
    assert abs(float(land.smoothed_grad(x, 0.0)) - float(land.smoothed_grad(x, sigma))) \
        > 10 * se


def test_sigma_star_and_sigma_vanish(mod):
    cfg = mod.ClaimESConfig()
    land = mod.TwoWells.from_config(cfg)
    x_max = land.boundary()
    assert float(land.smoothed_grad(x_max)) == pytest.approx(0.0, abs=1e-10)
    s_star = land.sigma_star(x_max)
    # at sigma* the two sides' lowest smoothed losses are equal; before it the narrow side
    # is lower, after it the wide one
    assert abs(land._side_gap(s_star, x_max)) < 1e-9
    assert land._side_gap(0.9 * s_star, x_max) < 0 < land._side_gap(1.1 * s_star, x_max)
    s_v = land.sigma_vanish(x_max)
    assert s_v > s_star

    def narrow_minima(sigma):
        return [m for m in land.critical_points(sigma)[0] if m < x_max]

    assert narrow_minima(s_v - 1e-4) and not narrow_minima(s_v + 1e-4)
    # the separated formula is equal smoothed depths A w / sqrt(w^2 + sigma^2)
    s = land.sigma_star_separated()
    (an, aw), (wn, ww) = land.depths, land.widths
    assert an * wn / np.hypot(wn, s) == pytest.approx(aw * ww / np.hypot(ww, s), rel=1e-12)
    # and it is the exact sigma* when the wells are far apart and there is no bowl
    far = mod.TwoWells(land.depths, land.widths, (0.0, 30.0), 0.0, 15.0)
    assert far.sigma_star(far.boundary()) == pytest.approx(s, rel=1e-6)
    # GD's prediction: the starts below x_max
    assert land.flow_narrow_fraction(0.0, cfg.init_low, cfg.init_high, x_max) == \
        pytest.approx((x_max - cfg.init_low) / (cfg.init_high - cfg.init_low), rel=1e-12)


def test_bad_arguments_of_the_estimator(mod):
    f = _black_box(lambda x: x.sum(axis=1))
    rng = np.random.default_rng(0)
    for n, sigma, theta, word in ((0, 0.1, np.zeros(3), "n "), (2, 0.0, np.zeros(3), "sigma"),
                                  (2, -1.0, np.zeros(3), "sigma"), (2, 0.1, np.zeros(0), "d ")):
        with pytest.raises(InvalidParameterError, match=word):
            mod.es_gradient(f, theta, sigma, n, rng)
    with pytest.raises(InvalidParameterError, match="form"):
        mod.es_gradient(f, np.zeros(3), 0.1, 2, rng, form="central")
    with pytest.raises(InvalidParameterError, match="n "):
        mod.cosine_law(0, 10)
    with pytest.raises(InvalidParameterError, match="d "):
        mod.es_second_moment(3, 0)


def _run(cli, tmp_path, name, *sets):
    from plasticity.io.runfile import open_run

    out = tmp_path / f"{name}.h5"
    args = ["run", "claim-es", "--quick", "--quiet", "--out", out]
    for s in sets:
        args += ["--set", s]
    code, _, err = cli(*args)
    assert code == 0, err
    return open_run(out)


def test_tiny_run_structure_invariants_and_seeds(cli, tmp_path, mod):
    two = _run(cli, tmp_path, "two", *TINY)
    one = _run(cli, tmp_path, "one", *[s for s in TINY if not s.startswith("runs")],
               "runs=1")
    s = two.summary
    assert s["n_points"] == 4 and s["headline_d"] == 200 and s["headline_n"] == 30
    for m in mod.METHODS:
        t = two.series[f"cosine/{m}"]
        law = np.sqrt(np.asarray(t["n"]) / (np.asarray(t["n"]) + np.asarray(t["d"]) + 1))
        np.testing.assert_allclose(t["law"], law, rtol=1e-14)
        assert np.all(np.asarray(t["cos_low"]) <= np.asarray(t["cos_mean"]))
        assert np.all(np.asarray(t["cos_mean"]) <= np.asarray(t["cos_high"]))
        assert np.all(np.asarray(t["draws"]) >= 20)
        assert s[f"{m}.cos_ci_low"] <= s[f"{m}.cos_mean"] <= s[f"{m}.cos_ci_high"]
    # the offset can only add to E|g_hat|^2: its predicted ratio is below the law
    assert s["linear_offset.ratio_theory"] < s["linear.law"]
    b = two.series["basins"]
    np.testing.assert_allclose(np.asarray(b["narrow_frac"]) + np.asarray(b["wide_frac"]), 1.0)
    assert np.all(np.asarray(b["narrow_frac_low"]) <= np.asarray(b["narrow_frac"]))
    assert np.all(np.asarray(b["narrow_frac"]) <= np.asarray(b["narrow_frac_high"]))
    runs = two.series["runs"]
    # eta * max f'' <= 1 here, so the GD map is monotone and fixes x_max: every GD run
    # ends in the basin it started in (a theorem for this landscape and step)
    np.testing.assert_array_equal(np.asarray(runs["gd_narrow"]),
                                  (np.asarray(runs["x0"]) < s["x_max"]).astype(int))
    assert s["gd.narrow_frac"] == pytest.approx(np.mean(runs["gd_narrow"]), rel=1e-12)
    # seed contract: run 0 draws from the same streams whatever the number of runs
    r1 = one.series["runs"]
    for col in ("x0", "gd_end", "es_end"):
        np.testing.assert_array_equal(np.asarray(r1[col])[0], np.asarray(runs[col])[0])
    np.testing.assert_array_equal(one.series["cosine/linear"]["cos_mean"],
                                  two.series["cosine/linear"]["cos_mean"])
    # the verdict is computed from the numbers and follows them
    assert mod.verdict(dict(s)) == s["verdict"]
    assert s["verdict"].split(":")[0] in ("Supported", "Partly", "Not supported")
    bad = dict(s, **{"linear.max_abs_z": s["z_bound"] + 1.0})
    assert "law sqrt(n/(n+d+1)) fails" in mod.verdict(bad)
    same = dict(s, es_departs_sigma=float("nan"))
    assert "ES never ends in the narrow basin less often than GD" in mod.verdict(same)
    assert not mod.verdict(same).startswith("Supported")


def test_draw_streams_do_not_depend_on_the_number_of_draws(mod):
    f = mod._functions(mod.ClaimESConfig(), 30, 0)
    p2, q2 = mod._point(f, 5, 2, 0)
    p3, q3 = mod._point(f, 5, 3, 0)
    np.testing.assert_array_equal(p2, p3[:, :2])
    np.testing.assert_array_equal(q2, q3[:, :2])


@pytest.mark.parametrize("settings, words", [
    (["ns=[0, 10]"], ["ns"]),
    (["dims=[0]"], ["dims"]),
    (["sigma=0"], ["sigma"]),
    (["quad_sigma=-0.1"], ["quad_sigma"]),
    (["sigmas=[0.0, 0.5]"], ["sigmas"]),
    (["pop=0"], ["pop"]),
    (["min_draws=50", "max_draws=10"], ["max_draws"]),
    (["init_low=2", "init_high=1"], ["init_high"]),
    (["narrow_width=2"], ["narrow"]),
])
def test_bad_input_is_refused(refuses, settings, words):
    refuses("claim-es", settings, words)


def test_listed_with_its_first_docstring_line():
    from plasticity.registry import list_experiments

    assert list_experiments()["claim-es"].startswith("Claim: ES is a stochastic")
