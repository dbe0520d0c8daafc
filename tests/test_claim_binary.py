"""claim-binary: hard threshold units on parity; GA and ES against straight-through
gradient descent, and the smoothed network's exact gradient (issue 19, claim 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_seed_contract, experiment_module

from plasticity.errors import InvalidParameterError
from plasticity.testing import check_grads, fd_grads

ROOT = Path(__file__).resolve().parents[1]


def _module():
    return experiment_module("claim_binary")


mod = _module()


def _run(cli, tmp_path, name, *sets):
    from plasticity.io.runfile import open_run

    out = tmp_path / f"{name}.h5"
    args = ["run", "claim-binary", "--quick", "--quiet", "--out", out]
    for s in sets:
        args += ["--set", s]
    code, _, err = cli(*args)
    assert code == 0, err
    return open_run(out)


def _random_point(rng, n_bits=4, n_hidden=6, margin=1e-3):
    """Random weights and their truth table, with every pre-activation at least ``margin``
    from the threshold (so a finite-difference step of 1e-6 never crosses one: the
    "almost everywhere" of the claim, made explicit)."""
    X, t = mod.truth_table(n_bits)
    while True:
        p = mod.init_params(n_bits, n_hidden, rng, scale=1.5)
        p["c"] = rng.standard_normal(1)
        if np.min(np.abs(mod.forward(p, X)[0])) > margin:
            return p, X, t


def _parity_network(n):
    """The textbook solution: h_k = H(sum_i b_i - k + 1/2), k = 1..n, with readout
    weights alternating +2, -2 and bias -1, so that y = 2 * parity - 1 = t exactly."""
    k = np.arange(1, n + 1)
    # x = 2 b - 1, so sum_i b_i = (sum_i x_i + n) / 2
    return {"W": np.full((n, n), 0.5), "b": n / 2 - k + 0.5,
            "v": 2.0 * (-1.0) ** (k + 1), "c": np.array([-1.0])}


# ------------------------------------------------------------------ exact identities

@pytest.mark.parametrize("n", [2, 3, 5])
def test_truth_table_is_parity(n):
    X, t = mod.truth_table(n)
    assert X.shape == (2 ** n, n) and t.shape == (2 ** n,)
    assert set(np.unique(X)) == {-1.0, 1.0}
    # every pattern exactly once, and the target is the parity of its number of ones
    bits = ((X + 1) / 2).astype(int)
    assert len({tuple(r) for r in bits}) == 2 ** n
    assert np.array_equal(t, np.where(bits.sum(axis=1) % 2 == 1, 1.0, -1.0))
    # parity is balanced and flips with every single bit
    assert t.sum() == 0
    assert np.all(mod.truth_table(n)[1][np.arange(2 ** n) ^ 1] == -t)


@pytest.mark.parametrize("n", [2, 4, 6])
def test_the_textbook_network_solves_parity(n):
    X, t = mod.truth_table(n)
    p = _parity_network(n)
    assert mod.accuracy(p, X, t) == 1.0
    assert mod.hard_loss(p, X, t) == pytest.approx(0.0, abs=1e-15)
    counter = mod.FitnessCounter(X, t)
    counter(p)
    assert counter.first_success == 1 and counter.best_accuracy == 1.0


def test_one_bit_is_refused():
    with pytest.raises(InvalidParameterError, match="n_bits"):
        mod.truth_table(1)
    p, X, t = _random_point(np.random.default_rng(0))
    for sigma in (0.0, -1.0, np.nan):
        with pytest.raises(InvalidParameterError, match="sigma"):
            mod.smoothed_loss(p, X, t, sigma)
        with pytest.raises(InvalidParameterError, match="sigma"):
            mod.smoothed_grad(p, X, t, sigma)


def test_hard_network_gradient_is_zero_in_the_hidden_layer():
    """Finite differences of the hard loss at random weights: exactly 0 for W and b (no
    step crosses a threshold), the least-squares gradient for the readout, which is what
    hard_grads(..., "exact") claims; the 0-1 error's differences are 0 everywhere."""
    rng = np.random.default_rng(1)
    for _ in range(5):
        p, X, t = _random_point(rng)
        fd = fd_grads(lambda q, X=X, t=t: mod.hard_loss(q, X, t), p)
        assert np.all(fd["W"] == 0.0) and np.all(fd["b"] == 0.0)
        assert np.linalg.norm(fd["v"]) > 1e-3  # the readout does have a gradient
        exact = mod.hard_grads(p, X, t, "exact")
        assert np.all(exact["W"] == 0.0) and np.all(exact["b"] == 0.0)
        check_grads(lambda q, X=X, t=t: mod.hard_loss(q, X, t), p, exact)
        err = fd_grads(lambda q, X=X, t=t: 1.0 - mod.accuracy(q, X, t), p)
        assert all(np.all(g == 0.0) for g in err.values())


def test_surrogates_share_the_readout_gradient_and_differ_in_the_hidden_layer():
    p, X, t = _random_point(np.random.default_rng(2))
    grads = {bw: mod.hard_grads(p, X, t, bw) for bw in mod.BACKWARDS}
    for bw in mod.BACKWARDS:
        np.testing.assert_array_equal(grads[bw]["v"], grads["exact"]["v"])
        np.testing.assert_array_equal(grads[bw]["c"], grads["exact"]["c"])
    # identity STE: dL/dW = (delta v^T)^T X with delta = (y - t) / P, written out
    a, h, y = mod.forward(p, X)
    delta = (y - t) / t.size
    np.testing.assert_allclose(grads["identity"]["W"], np.outer(p["v"], delta @ X),
                               rtol=1e-12, atol=1e-15)
    # clipped and identity agree exactly when every |a| <= 1 (weights scaled down)
    small = dict(p, W=p["W"] * 1e-3, b=p["b"] * 1e-3)
    assert np.max(np.abs(mod.forward(small, X)[0])) <= 1
    g_id, g_cl = (mod.hard_grads(small, X, t, bw) for bw in ("identity", "clipped"))
    for k in p:
        np.testing.assert_array_equal(g_id[k], g_cl[k])
    with pytest.raises(InvalidParameterError, match="backward"):
        mod.hard_grads(p, X, t, "tanh")


@pytest.mark.parametrize("sigma", [0.2, 1.0, 3.0])
def test_smoothed_gradient_against_finite_differences(sigma):
    """L_sigma is smooth (Phi and polynomials): central differences at eps = 1e-6 are
    off by eps^2 / 6 |L'''| ~ 1e-13 relative (truncation) plus rounding, the default
    atol of check_grads."""
    rng = np.random.default_rng(3)
    for _ in range(3):
        p, X, t = _random_point(rng)
        check_grads(lambda q, X=X, t=t: mod.smoothed_loss(q, X, t, sigma), p,
                    mod.smoothed_grad(p, X, t, sigma), rtol=1e-6)


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_smoothed_loss_is_the_monte_carlo_expectation(sigma):
    """The closed form against sampling the unit noise: within 4 standard errors, and
    the estimator has the power to see the variance term (dropping it is rejected)."""
    rng = np.random.default_rng(4)
    p, X, t = _random_point(rng)
    exact = mod.smoothed_loss(p, X, t, sigma)
    mc, se = mod.smoothed_loss_mc(p, X, t, sigma, 40_000, rng)
    assert abs(mc - exact) < 4 * se
    # the same loss without the output variance sum_j v_j^2 p_j (1 - p_j)
    from scipy.special import ndtr

    q = ndtr(mod.forward(p, X)[0] / sigma)
    mean_only = 0.5 * np.mean((q @ p["v"] + p["c"][0] - t) ** 2)
    assert abs(mc - mean_only) > 8 * se


def test_smoothed_loss_tends_to_the_hard_loss():
    """|p - H(a)| <= Phi(-min|a| / sigma), so the gap closes as sigma -> 0; at sigma = 1
    it is not small (the test can fail)."""
    rng = np.random.default_rng(5)
    for _ in range(3):
        p, X, t = _random_point(rng, margin=0.05)
        hard = mod.hard_loss(p, X, t)
        gaps = [abs(mod.smoothed_loss(p, X, t, s) - hard) for s in (1.0, 0.1, 0.01, 1e-3)]
        assert gaps[0] > 1e-3
        # Phi(-0.05 / 1e-3) = Phi(-50) underflows: the two losses agree to rounding
        assert gaps[-1] < 1e-12 * (1 + hard)
        assert gaps[2] <= gaps[1] + 1e-12


# ------------------------------------------------------------------ evaluation counting

def test_fitness_counter_charges_each_new_point_once():
    p, X, t = _random_point(np.random.default_rng(6))
    counter = mod.FitnessCounter(X, t)
    loss = counter(p)
    assert counter.n_evals == 1 and loss == mod.hard_loss(p, X, t)
    assert counter(p) == loss and counter.n_evals == 1  # known: not re-measured
    assert counter(mod.pack(p)) == loss  # the packed vector is a different key
    assert counter.n_evals == 2
    q = dict(p, c=p["c"] + 0.1)
    counter(q)
    assert counter.n_evals == 3
    np.testing.assert_array_equal(mod.pack(mod.unpack(mod.pack(p)["theta"], 4, 6))["theta"],
                                  mod.pack(p)["theta"])


def test_gradient_descent_charges_two_evaluations_per_step():
    from types import SimpleNamespace

    X, t = mod.truth_table(4)
    init = mod.init_params(4, 2, np.random.default_rng(7))
    # two hidden units cannot solve 4-bit parity (it needs n_hidden >= n_bits)
    cfg = SimpleNamespace(max_evals=41, ste_lr=0.1)
    for bw in ("clipped", "exact"):
        res = mod.run_gradient(init, X, t, cfg, bw, 0.5)
        assert res["counter"].first_success is None
        assert res["counter"].n_evals == 40  # 20 steps of forward + backward
        assert res["cos"].size == 20


def test_selection_budgets_are_counted():
    from types import SimpleNamespace

    X, t = mod.truth_table(4)
    init = mod.init_params(4, 2, np.random.default_rng(8))
    cfg = mod.ClaimBinaryConfig(population=6, max_evals=100)
    rules = mod._selection_rules(cfg)
    rng = np.random.default_rng(9)
    # (1+1)-ES: the parent is known, so each update costs one evaluation (its proposal)
    res = mod.run_selection(rules["es_1p1"], init, X, t, SimpleNamespace(max_evals=100), rng)
    assert res["counter"].n_evals == 100
    # OpenAI ES: the start, then per update 6 perturbations and the new mean
    res = mod.run_selection(rules["es"], init, X, t, SimpleNamespace(max_evals=100), rng,
                            align_sigma=0.5, mean_search=True)
    n = res["counter"].n_evals
    assert (n - 1) % 7 == 0 and 100 <= n < 107
    assert res["cos"].size == (n - 1) // 7
    # GA: at most a population per generation; carried-over elites are not re-charged
    res = mod.run_selection(rules["ga"], init, X, t, SimpleNamespace(max_evals=100), rng)
    assert 100 <= res["counter"].n_evals < 106


def test_success_and_median_intervals():
    from scipy.stats import binomtest

    s, lo, hi = mod.success_interval(3, 10)
    ci = binomtest(3, 10).proportion_ci()
    assert s == 0.3 and lo == ci.low and hi == ci.high
    assert mod.success_interval(10, 10)[2] == 1.0 and mod.success_interval(0, 10)[1] == 0.0
    # order statistics: for n = 10 the 95% interval of the median is [x_(2), x_(9)]
    med, lo, hi = mod.median_interval(np.arange(1.0, 11.0))
    assert med == 5.5 and lo == 2.0 and hi == 9.0
    # more than half failed: the median is beyond the budget, reported as NaN
    assert np.isnan(mod.median_interval([1.0, 2.0, np.inf, np.inf, np.inf])[0])


# ------------------------------------------------------------------ the run

def test_tiny_run_structure_and_invariants(cli, tmp_path):
    run = _run(cli, tmp_path, "tiny", "seeds=6", "max_evals=800", "n_bits=3",
               "n_hidden=4", "population=10")
    s = run.summary
    assert s["n_patterns"] == 8 and s["n_params"] == 4 * 5 + 1
    for m in mod.METHODS:
        table = run.series[f"seeds/{m}"]
        ok = np.asarray(table["success"])
        ev = np.asarray(table["evals_to_success"])
        acc = np.asarray(table["accuracy"])
        assert ok.size == 6 and s[f"{m}.n_success"] == ok.sum()
        assert s[f"{m}.success_low"] <= s[f"{m}.success"] <= s[f"{m}.success_high"]
        # a solved seed returned a network with 100% accuracy within the budget
        assert np.all(acc[ok == 1] == 1.0) and np.all(acc[ok == 0] < 1.0)
        assert np.all(ev[ok == 1] <= 800) and np.all(np.isnan(ev[ok == 0]))
        assert 0 <= s[f"{m}.accuracy_low"] <= s[f"{m}.accuracy"] <= s[f"{m}.accuracy_high"]
    for m in mod.ALIGNED:
        assert -1 <= s[f"{m}.cos_mean"] <= 1
    assert 0 <= s["ste_vs_ga_p"] <= 1
    mod_s = dict(s)
    assert mod.verdict(mod_s) == s["verdict"]
    # the verdict is computed from the numbers: it changes when they do
    doctored = dict(mod_s, **{f"{m}.n_success": 0 for m in mod.METHODS})
    assert mod.verdict(doctored).startswith("Unresolved")
    doctored = dict(mod_s, **{"ste.n_success": 0, "ga.n_success": 6})
    assert mod.verdict(doctored).startswith("Supported at this size")
    doctored = dict(mod_s, **{f"{m}.n_success": 0 for m in mod.EVOLUTION},
                    **{"ste.n_success": 3})
    assert mod.verdict(doctored).startswith("Not supported")


def test_seed_contract(cli, tmp_path):
    sets = ("max_evals=600", "n_bits=3", "n_hidden=4", "population=10", "ste_lr=0.05")
    one = _run(cli, tmp_path, "one", "seeds=1", *sets)
    two = _run(cli, tmp_path, "two", "seeds=2", *sets)
    for m in mod.ALIGNED:
        assert_seed_contract(one, two, rule=m)
    # seed 0's outcome is the same whatever the number of seeds
    for m in mod.METHODS:
        assert two.series[f"seeds/{m}"]["evals_used"][0] == \
            one.series[f"seeds/{m}"]["evals_used"][0]


@pytest.mark.parametrize("settings, words", [
    (["n_bits=1"], ["n_bits"]),
    (["sigma=0"], ["sigma"]),
    (["sigma=-0.5"], ["sigma"]),
    (["population=1"], ["population"]),
    (["population=7"], ["population"]),
    (["tournament_size=1"], ["tournament_size"]),
    (["max_evals=0"], ["max_evals"]),
    (["ste_backward=tanh"], ["ste_backward"]),
])
def test_bad_input_is_refused(refuses, settings, words):
    refuses("claim-binary", settings, words)


def test_listed_with_its_first_docstring_line():
    from plasticity.registry import list_experiments

    assert list_experiments()["claim-binary"].startswith("Claim: backprop cannot")


def test_smoothed_gradient_tends_to_the_hard_readout_gradient():
    """As sigma -> 0 away from every threshold, p -> H(a) and p (1 - p) -> 0, so the
    smoothed gradient's readout block is the hard network's exact readout gradient and
    its hidden block vanishes (phi(a / sigma) / sigma -> 0); the cosine helper then
    gives the exact gradient descent step cosine 1 with it (sign convention: -grad)."""
    p, X, t = _random_point(np.random.default_rng(10), margin=0.05)
    g = mod.smoothed_grad(p, X, t, 1e-3)
    exact = mod.hard_grads(p, X, t, "exact")
    for k in p:
        np.testing.assert_allclose(g[k], exact[k], rtol=1e-12, atol=1e-14)
    step = {k: -0.3 * exact[k] for k in exact}
    assert mod._cos(step, g)[0] == pytest.approx(1.0, abs=1e-12)
    assert mod._cos({k: -v for k, v in step.items()}, g)[0] == pytest.approx(-1.0, abs=1e-12)
