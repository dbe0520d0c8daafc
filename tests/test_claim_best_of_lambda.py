"""claim-best-of-lambda: the best of lambda random unit steps against the gradient
direction, and its exact theory (issue 19, claim 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import experiment_module

ROOT = Path(__file__).resolve().parents[1]


def _module():
    return experiment_module("claim_best_of_lambda")


def test_expected_max_of_normals_closed_forms():
    mod = _module()
    assert mod.expected_max_normal(1) == 0.0
    # E max(Z1, Z2) = 1/sqrt(pi), E max(Z1, Z2, Z3) = 3/(2 sqrt(pi))
    assert mod.expected_max_normal(2) == pytest.approx(1 / np.sqrt(np.pi), rel=1e-8)
    assert mod.expected_max_normal(3) == pytest.approx(1.5 / np.sqrt(np.pi), rel=1e-8)
    # the asymptotic form overestimates at practical lambda, and the ratio tends to 1
    m = [mod.expected_max_normal(lam) for lam in (10, 10**4, 10**8)]
    asym = [np.sqrt(2 * np.log(lam)) for lam in (10, 10**4, 10**8)]
    assert all(a > b for a, b in zip(asym, m, strict=True))
    assert asym[2] / m[2] < asym[1] / m[1] < asym[0] / m[0]


def test_expected_max_cosine_closed_form_and_large_d_limit():
    mod = _module()
    # d = 3: the cosine is uniform on [-1, 1], so E[max of lambda] = (lambda-1)/(lambda+1)
    for lam in (1, 2, 7, 1000):
        assert mod.expected_max_cosine(lam, 3) == pytest.approx((lam - 1) / (lam + 1),
                                                                rel=1e-8, abs=1e-12)
    # large d: sqrt(d) E[max cos] -> E[max of lambda normals], error O(1/d)
    d = 100_000
    for lam in (3, 100):
        assert np.sqrt(d) * mod.expected_max_cosine(lam, d) == pytest.approx(
            mod.expected_max_normal(lam), rel=1e-3)
    # d = 3: P(c > 0.5) = 1/4, so cosine 0.5 needs about 4 candidates
    assert mod.lambda_for_cosine(0.5, 3) == pytest.approx(np.log10(4), rel=1e-10)


def test_selection_matches_the_exact_expectation():
    """The experiment's own selection (full candidate vectors on the quadratic) has the
    exact expected cosine, within 4 standard errors; and the exact-loss choice equals the
    first-order one for a vanishing step."""
    mod = _module()
    rng = np.random.default_rng(3)
    d, lam, n = 20, 50, 1500
    h = 100.0 ** -np.linspace(1.0, 0.0, d)
    out = np.array([mod._trial_cosines(rng, d, lam, h, 1e-9) for _ in range(n)])
    fo, ex = out[:, 0], out[:, 1]
    np.testing.assert_array_equal(fo, ex)
    se = fo.std(ddof=1) / np.sqrt(n)
    assert abs(fo.mean() - mod.expected_max_cosine(lam, d)) < 4 * se
    # a large step lets the curvature reorder the candidates: the exact choice then
    # trades alignment for less curvature, so it is no better aligned on average
    big = np.array([mod._trial_cosines(rng, d, lam, h, 2.0) for _ in range(n)])
    assert big[:, 1].mean() < big[:, 0].mean() - 4 * big[:, 0].std() / np.sqrt(n)


def test_tiny_run_via_cli(cli, tmp_path):
    from plasticity.io.runfile import open_run

    def run(name, seeds):
        out = tmp_path / f"{name}.h5"
        code, _, err = cli("run", "claim-best-of-lambda", "--quick", "--quiet", "--out", out,
                           "--set", "dims=[5, 50]", "--set", "lambdas=[1, 10, 100]",
                           "--set", "trials=40", "--set", f"seeds={seeds}")
        assert code == 0, err
        return open_run(out)

    two, one = run("two", 2), run("one", 1)
    s = two.summary
    assert s["n_cells"] == 6 and s["lambda_max"] == 100
    # measured against the exact theory, every cell within the Bonferroni bound
    assert s["z_max"] <= s["z_bound"]
    for d in (5, 50):
        t = two.series[f"curve/d{d}"]
        # lambda = 1 is a random direction: theory exactly 0; the cosine grows with lambda
        assert t["theory_exact"][0] == 0.0
        assert np.all(np.diff(t["cos_mean"]) > 0)
        assert s[f"d{d}.seeds_cos_n"] == 2 and np.isfinite(s[f"d{d}.seeds_cos_low"])
    # larger d: further from the gradient at the same lambda
    assert s["d50.cos_mean"] < s["d5.cos_mean"]
    # one seed: the within-seed interval, no interval over seeds
    assert np.isnan(one.summary["d5.seeds_cos_low"]) and one.summary["d5.seeds_cos_n"] == 1
    assert one.summary["d5.ci_method"] == "t over independent trials"
    # the verdict follows the numbers
    mod = _module()
    assert mod.verdict(dict(s), [5, 50], 100) == s["verdict"]
    bad = dict(s, z_max=s["z_bound"] + 1.0)
    assert "deviate from" in mod.verdict(bad, [5, 50], 100)


@pytest.mark.parametrize("settings, words", [
    (["lambdas=[0, 10]"], ["lambdas"]),
    (["lambdas=[-3]"], ["lambdas"]),
    (["dims=[1, 10]"], ["dims"]),
    (["trials=1"], ["trials"]),
])
def test_bad_input_is_refused(refuses, settings, words):
    refuses("claim-best-of-lambda", settings, words)


def test_listed_with_its_first_docstring_line():
    from plasticity.registry import list_experiments

    assert list_experiments()["claim-best-of-lambda"].startswith("Claim: GD is selection")
