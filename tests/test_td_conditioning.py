"""td-conditioning (Schultz, Dayan & Montague 1997) meets its closed forms, from the CLI.

With TD(0), one-hot (CSC) features and online updates from w = 0, the value ``j`` steps
before the reward after ``k`` trials is ``reward gamma^j (1 - P[Bin(k, eta) <= j])``
(derivation in the experiment's docstring). Trial ``k`` (1-based) is recorded with the
weights after ``k - 1`` trials, so

    delta_cs(k)     = reward gamma^(D+1) (1 - P[Bin(k-1, eta) <= D])
    delta_reward(k) = reward (1 - eta)^(k-1)
    delta_omission  = -reward (1 - (1 - eta)^n).

The run is deterministic, so it must match these to rounding (1e-9); the distance to
the asymptotes (reward gamma^(D+1), 0, -reward) is then exactly the binomial tail or
(1 - eta)^k residual, which for the quick preset (eta = 0.1, 300 trials, D = 10) is
below 1.2e-4 at the CS and 1e-13 at the reward.
"""

import math

import numpy as np

import plasticity


def _binom_cdf(j, n, p):
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(min(j, n) + 1))


def _run(cli, tmp_path, *args, name="td.h5"):
    out = tmp_path / name
    code, _, err = cli("run", "td-conditioning", "--quiet", "--out", out, *args)
    assert code == 0, err
    return plasticity.open_run(out)


def test_quick_meets_closed_forms(cli, tmp_path):
    run = _run(cli, tmp_path)
    assert run.status == "complete"
    c, s = run.config, run.summary
    r, g, a, D, n = c["reward"], c["gamma"], c["eta"], c["reward_delay"], c["n_trials"]
    assert (c["n_steps"], c["cs_step"], D, g, c["lam"]) == (40, 9, 10, 0.98, 0.0)
    assert s["cs_read_step"] == 8 and s["reward_step"] == 19

    cs_inf = r * g ** (D + 1)
    assert s["delta_cs_theory"] == cs_inf  # exact: the experiment's same expression
    # exact finite-training values
    tail = _binom_cdf(D, n - 1, a)
    assert abs(s["delta_cs_final"] - cs_inf * (1 - tail)) <= 1e-9
    assert abs(s["delta_reward_final"] - r * (1 - a) ** (n - 1)) <= 1e-9
    assert abs(s["delta_omission"] - (-r * (1 - (1 - a) ** n))) <= 1e-9
    # against the asymptotes, with the derived residuals as tolerances
    assert tail < 1.2e-4
    assert abs(s["delta_cs_final"] - cs_inf) <= cs_inf * tail + 1e-12
    assert abs(s["delta_reward_final"]) <= r * (1 - a) ** (n - 1) + 1e-12
    assert s["delta_omission"] < 0
    assert abs(s["delta_omission"] + r) <= r * (1 - a) ** n + 1e-12

    # the whole learning curve, trial by trial
    d = run.series["delta"]
    k = d["step"].astype(int)
    np.testing.assert_array_equal(k, np.arange(1, n + 1))
    cs_curve = np.array([cs_inf * (1 - _binom_cdf(D, j - 1, a)) for j in k])
    np.testing.assert_allclose(d["delta_cs"], cs_curve, atol=1e-9)
    np.testing.assert_allclose(d["delta_reward"], r * (1 - a) ** (k - 1), atol=1e-9)
    assert d["delta"].shape == (n, 40)
    np.testing.assert_array_equal(d["delta"][:, 8], d["delta_cs"])
    assert run.series["omission"]["delta"].shape == (1, 40)

    half = s["trial_cs_half"]
    assert np.isfinite(half) and half >= 1
    assert d["delta_cs"][half - 1] >= 0.5 * s["delta_cs_final"]
    assert half == 1 or d["delta_cs"][half - 2] < 0.5 * s["delta_cs_final"]


def test_reward_minus_expected_does_not_transfer(cli, tmp_path):
    s = _run(cli, tmp_path, "--set", "dopamine=reward_minus_expected").summary
    # exact: nothing precedes the CS, so its prediction error is 0 - 0 * w at every trial
    assert s["delta_cs_final"] == 0.0
    assert s["trial_cs_half"] == -1
    assert abs(s["delta_reward_final"]) < 1e-9
    assert s["delta_omission"] < -0.99


def test_plot(cli, tmp_path):
    import matplotlib.pyplot as plt

    from plasticity.registry import load

    run = _run(cli, tmp_path, "--set", "n_trials=50")
    fig = load("td-conditioning").plot(run)
    assert len(fig.axes) == 2
    plt.close(fig)


def test_bad_input_exits_2_without_file(cli, tmp_path):
    for setting, needle in (("gamma=1.5", "gamma"), ("cs_step=35", "reward step")):
        out = tmp_path / "bad.h5"
        code, _, err = cli("run", "td-conditioning", "--quiet", "--set", setting,
                           "--out", out)
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], err
        assert "Traceback" not in err
        assert not out.exists()
