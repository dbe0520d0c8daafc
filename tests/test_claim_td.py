"""claim-td: expected TD(0) against its closed forms, a tiny run, bad input."""

import sys

import numpy as np
import pytest

from plasticity.registry import load


@pytest.fixture(scope="module")
def mod():
    return sys.modules[load("claim-td").run.__module__]


def test_expected_td_update_matches_the_closed_form(mod):
    rng = np.random.default_rng(0)
    P, d = mod.reversible_chain(rng, 5)
    r, Phi, theta = rng.standard_normal(5), rng.standard_normal((5, 3)), rng.standard_normal(3)
    A, b = mod.td_matrices(P, d, r, 0.9, Phi)
    # a sum of 25 transitions of unit-scale terms: rounding only (~1e-15)
    np.testing.assert_allclose(mod.expected_td_update(P, d, r, 0.9, Phi, theta), A @ theta + b,
                               atol=1e-12)
    # and by hand for one transition of the 3-cycle, state 0 -> 1 with weight 1/3
    eye = np.eye(3)
    v = np.array([1.0, 2.0, 4.0])
    F = mod.expected_td_update(mod.CYCLE, np.full(3, 1 / 3), np.array([1.0, 0.0, 0.0]), 0.5,
                               eye, v)
    assert F[0] == pytest.approx((1.0 + 0.5 * 2.0 - 1.0) / 3, rel=1e-12)


def test_reversible_chain_satisfies_detailed_balance(mod):
    P, d = mod.reversible_chain(np.random.default_rng(1), 6)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(d @ P, d, atol=1e-14)
    DP = d[:, None] * P
    np.testing.assert_allclose(DP, DP.T, atol=1e-15)


def test_field_asymmetry_closed_forms(mod):
    from plasticity.analysis.field import field_asymmetry

    rng = np.random.default_rng(2)
    eye = np.eye(3)
    for gamma in (0.5, 0.9, 0.99):
        r = rng.standard_normal(3)
        measured = field_asymmetry(
            lambda th, g=gamma, r=r: mod.expected_td_update(mod.CYCLE, np.full(3, 1 / 3), r, g,
                                                            eye, th),
            rng.standard_normal(3))
        # an affine field: central differences exact up to rounding (~1e-11 relative)
        assert measured == pytest.approx(mod.cycle_asymmetry(gamma), abs=1e-8)
        A, _ = mod.td_matrices(mod.CYCLE, np.full(3, 1 / 3), r, gamma, eye)
        # eigenvalues (gamma omega - 1) / 3 with omega the cube roots of unity
        omega = np.exp(2j * np.pi * np.arange(3) / 3)
        np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(A)),
                                   np.sort_complex((gamma * omega - 1) / 3), atol=1e-12)
    P, d = mod.reversible_chain(rng, 5)
    A, _ = mod.td_matrices(P, d, rng.standard_normal(5), 0.9, np.eye(5))
    np.testing.assert_allclose(A, A.T, atol=1e-15)


def test_fixed_points(mod):
    rng = np.random.default_rng(3)
    P, d = mod.reversible_chain(rng, 6)
    r = rng.standard_normal(6)
    # tabular: both fixed points are the true values
    fp = mod.fixed_points(P, d, r, 0.9, np.eye(6))
    np.testing.assert_allclose(fp["theta_td"], fp["v_true"], atol=1e-10)
    np.testing.assert_allclose(fp["theta_rg"], fp["v_true"], atol=1e-10)
    np.testing.assert_allclose(fp["v_true"], r + 0.9 * P @ fp["v_true"], atol=1e-10)
    # features: TD's expected update vanishes at its fixed point, RG's gradient at its own
    Phi = rng.standard_normal((6, 2))
    fp = mod.fixed_points(P, d, r, 0.9, Phi)
    assert np.max(np.abs(mod.expected_td_update(P, d, r, 0.9, Phi, fp["theta_td"]))) < 1e-10
    Psi = (np.eye(6) - 0.9 * P) @ Phi
    assert np.max(np.abs(Psi.T @ (d * (r - Psi @ fp["theta_rg"])))) < 1e-10
    # the best fit is at least as good as either, in the D-norm
    err = {k: np.sqrt(d @ (Phi @ fp[f"theta_{k}"] - fp["v_true"]) ** 2) for k in
           ("td", "rg", "best")}
    assert err["best"] <= min(err["td"], err["rg"]) + 1e-12


def test_tiny_run(cli, tmp_path):
    from plasticity.io.runfile import open_run

    out = tmp_path / "td.h5"
    code, _, err = cli("run", "claim-td", "--set", "n_seeds=2", "--set", "n_states=4",
                       "--set", "n_features=2", "--set", "gammas=[0.5, 0.99]", "--quiet",
                       "--out", out)
    assert code == 0, err
    s = open_run(out).summary
    assert s["td_field_error_max"] < 1e-12
    for g in ("gamma0p5", "gamma0p99"):
        assert s[f"reversible.{g}.asymmetry_max"] < s["floor_tol"]
        assert s[f"cycle.{g}.asymmetry_closed_form_error"] < 1e-8
        assert s[f"cycle.{g}.imag_ratio"] > 0.1
        for c in ("reversible", "cycle"):
            assert s[f"{c}.{g}.rg_asymmetry_max"] < s["floor_tol"]
            lo, m, hi = (s[f"{c}.{g}.td_value_error_{q}"] for q in ("low", "mean", "high"))
            assert lo <= m <= hi
    assert "3-cycle it is not" in s["verdict"]


@pytest.mark.parametrize("gamma", ["1.0", "-0.1"])
def test_gamma_outside_unit_interval_is_refused(refuses, gamma):
    refuses("claim-td", [f"gammas=[0.5, {gamma}]"], ["gammas"])
