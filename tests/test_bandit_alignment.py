"""The bandit-alignment experiment: REINFORCE and three-factor rules against the exact
policy gradient of a k-armed bandit (quick preset through the CLI)."""

import numpy as np
import pytest

import plasticity as pl

RULES = ("reinforce", "three_factor_centred", "three_factor_uncentred", "random_direction")
KEYS = ("cos_mean", "cos_ci_low", "cos_ci_high", "frac_positive", "expected_cos",
        "expected_cos_ci_low", "expected_cos_ci_high", "expected_cos_se", "return_first",
        "return_last")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    from plasticity.cli import main

    out = tmp_path_factory.mktemp("bandit") / "bandit.h5"
    assert main(["run", "bandit-alignment", "--quick", "--out", str(out)]) in (0, None)
    return pl.open_run(out)


def test_summary_keys_and_records(quick_run):
    run = quick_run
    assert run.status == "complete"
    s = run.summary
    for rule in RULES:
        for key in KEYS:
            assert f"{rule}.{key}" in s, f"{rule}.{key}"
            assert np.isfinite(s[f"{rule}.{key}"])
        assert s[f"{rule}.cos_ci_low"] <= s[f"{rule}.cos_mean"] <= s[f"{rule}.cos_ci_high"]
        assert f"{rule}/total" in run.alignment
        assert run.alignment[f"{rule}/total"]["cos"].shape == (run.config["n_updates"],)
    assert "random_direction.expected_cos_exact" not in s


def test_reinforce_expected_update_is_the_gradient(quick_run):
    s = quick_run.summary
    for rule in ("reinforce", "three_factor_centred"):
        # exact: E[delta] is eta grad R (centred three-factor: eta / beta grad R)
        assert s[f"{rule}.expected_cos_exact"] == pytest.approx(1.0, abs=1e-12)
        # Monte Carlo: with 20000 draws the cosine deficit of the mean is < 0.01 (module
        # docstring); the measured bootstrap SE is about 1e-3.
        assert s[f"{rule}.expected_cos"] > 0.98
        assert s[f"{rule}.expected_cos_se"] < 0.005
        assert s[f"{rule}.expected_cos_ci_high"] > 0.99
    # same draws, same direction (the centred rule is REINFORCE divided by beta)
    assert s["three_factor_centred.expected_cos"] == pytest.approx(
        s["reinforce.expected_cos"], abs=1e-9)


def test_uncentred_three_factor_is_biased(quick_run):
    run = quick_run
    s = run.summary
    # At the initial uniform policy with baseline 0 the uncentred rule's expected update
    # is eta mu / k, the gradient is proportional to mu - mean(mu): cos = |mu - mean| / |mu|.
    mu = np.asarray(run.config["means"])
    theory = np.linalg.norm(mu - mu.mean()) / np.linalg.norm(mu)
    assert s["three_factor_uncentred.expected_cos_exact"] == pytest.approx(theory, abs=1e-12)
    # Monte Carlo estimate within 5 of its bootstrap standard errors of the exact value
    se = s["three_factor_uncentred.expected_cos_se"]
    assert abs(s["three_factor_uncentred.expected_cos"] - theory) < 5 * se
    assert s["three_factor_uncentred.expected_cos_ci_high"] < s["reinforce.expected_cos_ci_low"]


def test_learning_and_random_baseline(quick_run):
    s = quick_run.summary
    best = s["best_return"]
    for rule in ("reinforce", "three_factor_centred", "three_factor_uncentred"):
        assert s[f"{rule}.return_first"] == pytest.approx(np.mean(quick_run.config["means"]))
        # 500 trials take all three rules most of the way from 0.52 to the best arm (0.9)
        assert s[f"{rule}.return_last"] > best - 0.05
    # an isotropic direction in D = 5 dimensions: per-update cosines have mean 0 and
    # standard deviation 1/sqrt(5), so the mean of 500 has SE 0.02; allow 4.5 SE
    assert abs(s["random_direction.cos_mean"]) < 0.09


def test_reference_is_the_problems_population_gradient(quick_run):
    # every rule starts at W_out = 0 (the uniform policy), where the exact population
    # gradient of -R is -beta (pi * (mu - R)) x^T with pi = 1/k: the first measured
    # update of each rule is judged against it
    from experiments.bandit_alignment import ALIGNMENT, EXPERIMENT, _problem

    run = quick_run
    problem = _problem(EXPERIMENT.build_config(overrides=run.config))
    g, se = problem.population_gradient(problem.init_params(None))
    assert se is None
    mu = np.asarray(run.config["means"])
    theory = run.config["beta"] * np.linalg.norm(mu - mu.mean()) / mu.size
    assert np.linalg.norm(g["W_out"]) == pytest.approx(theory, rel=1e-12)
    for rule in RULES:
        assert run.alignment[f"{rule}/total"]["grad_norm"][0] == pytest.approx(theory,
                                                                               rel=1e-12)
        assert isinstance(run.summary[f"{rule}.ci_method"], str)
        assert run.summary[f"{rule}.n_measured"] == run.config["n_updates"]
    assert ALIGNMENT["rules"] == list(RULES)
    assert ALIGNMENT["problem"] == problem.name == EXPERIMENT.alignment.problem
    assert ALIGNMENT["reference"] == EXPERIMENT.alignment.reference == "population"
    assert EXPERIMENT.alignment.baselines == ("random_direction",)


def test_plot(quick_run, cli, tmp_path):
    code, _, err = cli("plot", quick_run.path, "--format", "png", "--out", tmp_path)
    assert code == 0, err
    assert list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("settings, words", [
    (["means=[0.5]"], ["means", "at least 2"]),
    (["n_updates=0"], ["n_updates"]),
    (["bandit=bernoulli", "means=[0.2,1.5]"], ["bernoulli", "[0, 1]"]),
    (["bandit=poisson"], ["bandit"]),
])
def test_bad_input_exits_2_without_a_file(refuses, settings, words):
    refuses("bandit-alignment", settings, words)
