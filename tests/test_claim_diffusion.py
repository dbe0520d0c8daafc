"""claim-diffusion: Diffusion Evolution (Zhang, Hartl, Hazan & Levin 2025) against CMA-ES,
a GA, the (1+1)-ES and annealing; its step against the fitness-smoothed score (issue 19,
claim 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_seed_contract, experiment_module

ROOT = Path(__file__).resolve().parents[1]
TINY = ["population=24", "n_steps=20", "n_align=10", "n_grid=40", "sweep_populations=[8,24]",
        "sweep_etas=[0.0,1.0]", "sweep_seeds=2"]


def _module():
    return experiment_module("claim_diffusion")


def _run(cli, tmp_path, name, *sets):
    from plasticity.io.runfile import open_run

    out = tmp_path / f"{name}.h5"
    args = ["run", "claim-diffusion", "--quick", "--quiet", "--out", out]
    for s in (*TINY, *sets):
        args += ["--set", s]
    code, _, err = cli(*args)
    assert code == 0, err
    return open_run(out)


def test_population_score_is_the_gradient_of_the_log_density():
    """score() is grad log sum_j q_j N(z; sqrt(a) x_j, (1 - a) I), by central differences
    (a smooth function of scale 1 / (1 - a): truncation eps^2 / (1 - a)^2 ~ 1e-11)."""
    from plasticity.testing import check_grads

    mod = _module()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 2))
    log_q = rng.standard_normal(6)
    for alpha in (0.2, 0.7):
        for _ in range(3):
            z = rng.standard_normal(2)
            check_grads(lambda p, a=alpha: float(mod.log_density(p[None], x, log_q, a)[0]),
                        z, mod.score(z[None], x, log_q, alpha)[0], rtol=1e-6)


def test_landscape_gradients_and_known_optima():
    """The closed-form fitness gradients against central differences; the listed optima of
    Himmelblau are its minima (gradient zero, Hessian positive definite, value 0), and
    those of Rastrigin and the two peaks are stationary."""
    from plasticity.testing import check_grads

    mod = _module()
    rng = np.random.default_rng(1)
    for name, dim in (("two_peaks", 2), ("himmelblau", 2), ("rastrigin", 3)):
        land = mod.landscape(name, dim)
        for _ in range(3):
            p = rng.uniform(-2, 2, dim)
            # fitness up to ~1e3 (Himmelblau): the rounding floor scales with |f|
            check_grads(lambda q, f=land.fitness: float(f(q)), p, land.gradient(p),
                        rtol=1e-6)
    h = mod.landscape("himmelblau")
    assert h.optima.shape == (4, 2)
    np.testing.assert_allclose(h.optima[0], [3.0, 2.0], atol=1e-12)
    # gradient entries of order |x|^3 ~ 50 at the optima: rounding leaves ~1e-13
    assert np.max(np.abs(h.gradient(h.optima))) < 1e-10
    assert np.max(np.abs(h.fitness(h.optima))) < 1e-20
    for opt in h.optima:
        e = 1e-5
        hess = np.array([(h.gradient(opt + e * u) - h.gradient(opt - e * u)) / (2 * e)
                         for u in np.eye(2)])
        # fitness = -objective: a maximum of the fitness, a minimum of Himmelblau's function
        assert np.all(np.linalg.eigvalsh(-(hess + hess.T) / 2) > 1.0)
    r = mod.landscape("rastrigin", 2)
    assert r.optima.shape == (9, 2) and r.best == 0.0
    assert np.max(np.abs(r.gradient(r.optima))) < 1e-12
    # the exp(-d^2 / 2 w^2) overlap of the two peaks moves them by ~1e-11
    t = mod.landscape("two_peaks")
    assert np.max(np.abs(t.gradient(t.optima))) < 1e-9


def test_x0_estimate_is_the_exact_posterior_mean():
    """The origin estimate is E[x_0 | x_t = z] when x_0 is drawn from the population with
    probabilities q_j / sum q and x_t = sqrt(a) x_0 + sqrt(1 - a) eps."""
    from scipy.stats import multivariate_normal

    mod = _module()
    # two points in 1-D: the posterior mean is (u + v)/2 + (u - v)/2 tanh(l / 2), with the
    # log-odds l = log(q_u / q_v) + sqrt(a) (u - v) (z - sqrt(a) (u + v) / 2) / (1 - a)
    u, v, lq, a = 1.3, -0.4, np.array([0.7, -0.2]), 0.45
    for z in (-1.0, 0.2, 0.9):
        log_odds = lq[0] - lq[1] + np.sqrt(a) * (u - v) * (z - np.sqrt(a) * (u + v) / 2) / (1 - a)
        want = (u + v) / 2 + (u - v) / 2 * np.tanh(log_odds / 2)
        got = mod.x0_estimate(np.array([[z]]), np.array([[u], [v]]), lq, a)[0, 0]
        assert got == pytest.approx(want, rel=1e-12, abs=1e-14)
    # three points in 2-D: Bayes' rule with scipy's Gaussian densities
    rng = np.random.default_rng(2)
    x, lq, a = rng.standard_normal((3, 2)), rng.standard_normal(3), 0.6
    z = rng.standard_normal((4, 2))
    for zi, got in zip(z, mod.x0_estimate(z, x, lq, a), strict=True):
        like = np.array([multivariate_normal(np.sqrt(a) * xj, (1 - a) * np.eye(2)).pdf(zi)
                         for xj in x])
        post = np.exp(lq) * like / np.sum(np.exp(lq) * like)
        np.testing.assert_allclose(got, post @ x, rtol=1e-12, atol=1e-14)
    # the weights are a distribution over the population, and q only matters up to a factor
    w = mod.posterior_weights(z, x, lq, a)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(mod.posterior_weights(z, x, lq + 5.0, a), w, rtol=1e-12)


def test_ddim_step_deterministic_and_closed_form():
    """With s = 0: (i) for a fixed x0 the step keeps eps_hat, so every x_t lies on
    sqrt(a_t) x0 + sqrt(1 - a_t) eps; (ii) a population of one is its own x0 estimate, so
    x_{t-1} = c_t x_t with c_t = cos(th_{t-1} - th_t / 2) / cos(th_t / 2), where
    cos th_t = sqrt(a_t); the result does not depend on the noise drawn."""
    mod = _module()
    alphas = mod.alpha_schedule(30)
    assert alphas[0] > alphas[-1] and np.all(np.diff(alphas) <= 0)
    rng = np.random.default_rng(3)
    x0, eps = rng.standard_normal((1, 3)), rng.standard_normal((1, 3))
    x = np.sqrt(alphas[-1]) * x0 + np.sqrt(1 - alphas[-1]) * eps
    for t in range(30, 0, -1):
        x = mod.ddim_step(x, x0, alphas[t], alphas[t - 1], 0.0, rng.standard_normal((1, 3)))
        np.testing.assert_allclose(x, np.sqrt(alphas[t - 1]) * x0
                                   + np.sqrt(1 - alphas[t - 1]) * eps, rtol=1e-12, atol=1e-13)

    def one(noise_seed):
        r = np.random.default_rng(noise_seed)
        z = np.array([[0.8, -1.1]])
        for t in range(30, 0, -1):
            own = mod.x0_estimate(z, z, np.zeros(1), alphas[t])
            sigma = mod.ddim_sigma(alphas[t], alphas[t - 1], 0.0)
            z = mod.ddim_step(z, own, alphas[t], alphas[t - 1], sigma,
                              r.standard_normal((1, 2)))
        return z

    th = np.arccos(np.sqrt(alphas))
    factor = np.prod(np.cos(th[:-1] - th[1:] / 2) / np.cos(th[1:] / 2))
    np.testing.assert_array_equal(one(4), one(5))
    np.testing.assert_allclose(one(4)[0], factor * np.array([0.8, -1.1]), rtol=1e-12)


def test_step_is_a_dilation_plus_a_score_step_plus_noise():
    """x_{t-1} - x_t = a_t x_t + b_t score_pop(x_t) + s_t z exactly, with b_t > 0."""
    mod = _module()
    rng = np.random.default_rng(6)
    alphas = mod.alpha_schedule(20)
    x, lq = rng.standard_normal((7, 2)), rng.standard_normal(7)
    for t in (20, 12, 3):
        a, ap = alphas[t], alphas[t - 1]
        for eta in (0.0, 0.5, 1.0):
            sigma = mod.ddim_sigma(a, ap, eta)
            noise = rng.standard_normal(x.shape)
            new = mod.ddim_step(x, mod.x0_estimate(x, x, lq, a), a, ap, sigma, noise)
            ca, cb = mod.step_coefficients(a, ap, sigma)
            assert cb > 0 and ca > 0
            np.testing.assert_allclose(new - x, ca * x + cb * mod.score(x, x, lq, a)
                                       + sigma * noise, rtol=1e-10, atol=1e-12)


def test_vectorised_es_is_the_package_hill_climber():
    """One chain of the experiment's (1+1)-ES is HillClimbing(adapt=True) on the loss
    -fitness, draw for draw."""
    from plasticity.rules.selection import HillClimbing

    mod = _module()
    land = mod.landscape("himmelblau")

    class Cfg:
        n_steps = 40

    x, _, evals = mod._es_1p1(land, Cfg, 1, np.random.default_rng(7))
    assert evals == 40
    rng = np.random.default_rng(7)
    params = {"w": land.scale * rng.standard_normal(2)}
    rule = HillClimbing(sigma=0.3 * land.scale, adapt=True)
    state = rule.init(params)
    for _ in range(39):
        delta, state = rule.update({}, state, params, rng=rng,
                                   loss_fn=lambda p: -float(land.fitness(p["w"])))
        params = {"w": params["w"] + delta["w"]}
    np.testing.assert_allclose(x[0], params["w"], rtol=1e-12, atol=1e-12)


def test_count_optima():
    mod = _module()
    optima = np.array([[0.0, 0.0], [3.0, 0.0]])
    pts = np.array([[0.1, 0.0], [0.0, -0.2], [2.5, 0.0], [3.05, 0.0]])
    assert mod.count_optima(pts, optima, 0.3, 1) == 2
    assert mod.count_optima(pts, optima, 0.3, 2) == 1
    assert mod.count_optima(pts, optima, 0.01, 1) == 0


def test_cli_run_structure_seed_contract_and_verdict(cli, tmp_path):
    mod = _module()
    one = _run(cli, tmp_path, "one", "seeds=1")
    two = _run(cli, tmp_path, "two", "seeds=2")
    for land in mod.LANDSCAPES:
        assert_seed_contract(one, two, rule=f"{land}.diffusion")
    s = two.summary
    budget = s["evaluations_budget"]
    assert budget == 24 * 20
    for land in mod.LANDSCAPES:
        best = s[f"{land}.optimum_fitness"]
        for m in mod.METHODS:
            k = f"{land}.{m}"
            # every method but CMA-ES (which may stop early) spends exactly the budget
            if m == "cma_es":
                assert 0 < s[f"{k}.evaluations"] <= budget
            else:
                assert s[f"{k}.evaluations"] == budget
            assert 0 <= s[f"{k}.n_optima"] <= s[f"{land}.n_listed"]
            assert s[f"{k}.best_fitness"] <= best + 1e-9
        for q in ("cos_drift_true", "cos_step_pop", "cos_score_true", "cos_unweighted_true"):
            assert -1 <= s[f"{land}.diffusion.{q}_low"] <= s[f"{land}.diffusion.{q}"] \
                <= s[f"{land}.diffusion.{q}_high"] <= 1
    assert "sweep.pop8.cos_score_true" in s and "sweep.eta1.diversity" in s
    # the verdict is computed from the numbers: it changes when they do
    lands = list(mod.LANDSCAPES)
    assert mod.verdict(dict(s), lands, "himmelblau") == s["verdict"]
    doctored = dict(s, **{"himmelblau.diffusion.cos_ci_low": -0.1})
    assert mod.verdict(doctored, lands, "himmelblau").startswith("Not supported")
    doctored = dict(s, **{"himmelblau.diffusion.cos_ci_low": 0.1,
                          "himmelblau.diffusion.cos_score_true_low": 0.5,
                          "himmelblau.diffusion.cos_unweighted_true_high": 0.6})
    assert mod.verdict(doctored, lands, "himmelblau").startswith("Partly")


def test_bad_helper_input_is_refused():
    from plasticity.errors import InvalidParameterError

    mod = _module()
    with pytest.raises(InvalidParameterError, match="n_steps"):
        mod.alpha_schedule(0)
    with pytest.raises(InvalidParameterError, match="population"):
        mod.x0_estimate(np.zeros((1, 2)), np.zeros((3, 2)), np.zeros(2), 0.5)


@pytest.mark.parametrize("settings, words", [
    (["population=1"], ["population"]),
    (["n_steps=0"], ["n_steps"]),
    (["eta=1.5"], ["eta"]),
    (["min_share=1"], ["min_share"]),
    (["temperature_factor=0"], ["temperature_factor"]),
    (["landscapes=[]"], ["landscapes"]),
    (["landscapes=[sphere]"], ["landscapes"]),
    (["sweep_populations=[1]"], ["sweep_populations"]),
    (["sweep_seeds=1"], ["sweep_seeds"]),
])
def test_bad_input_is_refused(refuses, settings, words):
    refuses("claim-diffusion", settings, words)


def test_listed_with_its_first_docstring_line():
    from plasticity.registry import list_experiments

    assert list_experiments()["claim-diffusion"].startswith(
        "Claim: diffusion models are evolutionary algorithms")
