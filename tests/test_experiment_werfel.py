"""werfel-scaling: measured learning-rate ratios against the exact linear-network
prediction derived in the experiment's docstring (the issue's tolerance: 20 %)."""

import json

import pytest

from plasticity.registry import load


def test_predicted_rates_follow_the_scaling_laws():
    mod = load("werfel-scaling").run.__globals__
    rate = mod["predicted_rate"]
    n, m, k = 50, 20, 1
    # GD / NP grows like M and NP / WP like N (Werfel, Xie & Seung 2005)
    assert rate("gd", n, m, k) / rate("np", n, m, k) == pytest.approx((m + 2), rel=0.05)
    assert rate("np", n, m, k) / rate("wp", n, m, k) == pytest.approx((m * n + 2) / (m + 2),
                                                                      rel=0.05)


@pytest.mark.slow
def test_quick_preset_matches_theory(cli, tmp_path):
    out = tmp_path / "w.h5"
    code, _, err = cli("run", "werfel-scaling", "--quick", "--quiet", "--out", out)
    assert code == 0, err
    s = json.loads(cli("info", out, "--json")[1])["summary"]
    assert s["ratio_gd_np_rel_error"] < 0.2
    assert s["ratio_np_wp_rel_error"] < 0.2
