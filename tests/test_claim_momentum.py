"""claim-momentum: heavy ball's iteration matrix against its closed forms, a tiny run, bad
input."""

import sys

import numpy as np
import pytest

from plasticity.registry import load


@pytest.fixture(scope="module")
def mod():
    return sys.modules[load("claim-momentum").run.__module__]


def _quadratic(rng, lams):
    Q, _ = np.linalg.qr(rng.standard_normal((len(lams), len(lams))))
    return Q @ np.diag(lams) @ Q.T


def test_eigenvalues_match_the_closed_form(mod):
    rng = np.random.default_rng(0)
    # a spectrum strictly inside [1, kappa]: every pair is complex and simple, so the
    # eigenvalues of the (non-symmetric) matrix are well conditioned
    kappa = 100.0
    lams = np.sort(np.exp(rng.uniform(0.1, np.log(kappa) - 0.1, 8)))
    p = mod.polyak(kappa)
    M = mod.iteration_matrix(_quadratic(rng, lams), p["hb_a"], p["hb_b"])
    eig = np.linalg.eigvals(M)
    closed = mod.block_roots(lams, p["hb_a"], p["hb_b"]).ravel()
    assert np.all(np.abs(closed.imag) > 1e-3)
    assert mod._match_error(eig, closed) < 1e-9
    # the product of a complex pair's roots is b: every modulus is sqrt(b)
    np.testing.assert_allclose(np.abs(eig), np.sqrt(p["hb_b"]), rtol=1e-9)


def test_polyak_rates_are_the_spectral_radii(mod):
    rng = np.random.default_rng(1)
    kappa = 50.0
    lams = np.concatenate([[1.0, kappa], np.exp(rng.uniform(0, np.log(kappa), 6))])
    H = _quadratic(rng, lams)
    p = mod.polyak(kappa)
    # the end modes are double roots (Jordan blocks): eigvals errs by ~sqrt(macheps)
    rho = np.max(np.abs(np.linalg.eigvals(mod.iteration_matrix(H, p["hb_a"], p["hb_b"]))))
    assert rho == pytest.approx(p["hb_rate"], abs=1e-6)
    assert np.max(np.abs(1 - p["gd_a"] * lams)) == pytest.approx(p["gd_rate"], rel=1e-12)


def test_field_asymmetry_matches_its_closed_form(mod):
    from plasticity.analysis.field import field_asymmetry

    rng = np.random.default_rng(2)
    lams = np.array([1.0, 3.0, 7.0, 10.0])
    H = _quadratic(rng, lams)
    p = mod.polyak(10.0)
    M = mod.iteration_matrix(H, p["hb_a"], p["hb_b"])
    measured = field_asymmetry(lambda z: M @ z - z, rng.standard_normal(8))
    # a linear field: central differences are exact up to rounding (~1e-11 relative)
    assert measured == pytest.approx(mod.asymmetry_closed_form(H, p["hb_a"], p["hb_b"]),
                                     abs=1e-8)
    # a planted check of the formula itself: b = 0, a H = I gives J = [[-I, 0], [-I, -I]]
    assert mod.asymmetry_closed_form(np.eye(2), 1.0, 0.0) == pytest.approx(
        np.sqrt(2 / 2) / np.sqrt(2 * 2 + 2), rel=1e-12)


def test_real_spectrum_optimum_is_gd_for_kappa_above_two(mod):
    lams = np.array([1.0, 4.0, 30.0, 100.0])
    a, b, rate = mod.real_spectrum_best(lams, 500)
    p = mod.polyak(100.0)
    assert b == 0.0 and rate == pytest.approx(p["gd_rate"], rel=1e-12)
    # the grid's candidates with b > 0 really have a real spectrum
    s = 0.3
    roots = mod.block_roots(np.linspace(1, 100, 200), (1 - s) ** 2 / 100, s**2)
    assert np.all(roots.imag == 0)


def test_gd_iterations_count_exactly(mod):
    # one mode: ||x_k|| = |1 - a lam|^k ||x_0||, so the count is the first k below tol
    lam, a, tol = 2.0, 0.1, 1e-6
    k = mod.iterations(np.array([[lam]]), np.array([3.0]), a, 0.0, tol, 10_000)
    assert k == int(np.ceil(np.log(tol) / np.log(1 - a * lam)))


def test_tiny_run(cli, tmp_path):
    from plasticity.io.runfile import open_run

    out = tmp_path / "m.h5"
    code, _, err = cli("run", "claim-momentum", "--set", "dim=6", "--set", "n_seeds=2",
                       "--set", "kappas=[10, 1000]", "--set", "network=false", "--quiet",
                       "--out", out)
    assert code == 0, err
    s = open_run(out).summary
    for lab in ("kappa10", "kappa1000"):
        assert s[f"{lab}.hb_asymmetry_closed_form_error"] < 1e-8
        assert s[f"{lab}.hb_complex_frac"] > 0 and s[f"{lab}.gd_complex_frac"] == 0
        # Jordan end modes: finite-difference error 1e-10 moves them by ~1e-5
        assert s[f"{lab}.hb_modulus_error_max"] < 1e-3
        assert s[f"{lab}.hb_iters_low"] <= s[f"{lab}.hb_iters_mean"] <= s[f"{lab}.hb_iters_high"]
    # Polyak: ~ln(1e6) sqrt(kappa)/2 = 218 against ~ln(1e6) kappa/2 = 6900 at kappa 1000;
    # a factor of 5 either way leaves room for the Jordan and projection effects
    assert s["kappa1000.hb_iters_mean"] * 5 < s["kappa1000.gd_iters_mean"]
    assert 0.3 < s["hb_slope_mean"] < 0.7 and 0.8 < s["gd_slope_mean"] < 1.2
    assert "complex eigenvalues" in s["verdict"]


def test_tiny_network_run(cli, tmp_path):
    from plasticity.io.runfile import open_run

    out = tmp_path / "net.h5"
    code, _, err = cli("run", "claim-momentum", "--set", "dim=3", "--set", "n_seeds=2",
                       "--set", "kappas=[10]", "--set", "net_hidden=2", "--set",
                       "net_steps=[0.5, 1.0, 2.0]", "--set", "net_momenta=[0.5, 0.8]",
                       "--set", "net_max_iter=400", "--set", "net_tol=0.05", "--quiet",
                       "--out", out)
    assert code == 0, err
    s = open_run(out).summary
    # the joint field is asymmetric for both (the coordinates), far above the 1e-6 floor
    assert s["net.hb_asymmetry"] > 1e-3 and s["net.gd_asymmetry"] > 1e-3
    # I + J at v = 0 has exactly the 2x2 blocks of the (finite-difference) Hessian: the
    # closed-form roots agree up to the asymmetry of that Hessian (~1e-10) and rounding
    assert s["net.hb_eig_error_max"] < 1e-4
    assert s["net.speedup_low"] <= s["net.speedup_geomean"] <= s["net.speedup_high"]
    assert 0 <= s["net.hb_reached"] <= 2 and "tanh network" in s["verdict"]


def test_kappa_below_one_is_refused(refuses):
    refuses("claim-momentum", ["kappas=[0.5, 10]"], ["kappas"])
