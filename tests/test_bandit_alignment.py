"""The bandit-alignment experiment: REINFORCE and three-factor rules against the exact
policy gradient of a k-armed bandit (quick preset through the CLI)."""

import numpy as np
import pytest
from conftest import assert_seed_contract

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
    # an isotropic direction in D = 5 dimensions: per-update cosines are independent with
    # mean 0 and standard deviation 1/sqrt(5), so the mean over all seeds' n updates has
    # SE 1/sqrt(5 n) (0.009 for 5 x 500); allow 4.5 SE
    n = s["random_direction.n_measured"]
    assert n == quick_run.config["seeds"] * quick_run.config["n_updates"]
    assert abs(s["random_direction.cos_mean"]) < 4.5 / np.sqrt(5 * n)


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
        assert run.summary[f"{rule}.n_measured"] == (run.config["seeds"]
                                                     * run.config["n_updates"])
    assert ALIGNMENT["rules"] == list(RULES)
    assert ALIGNMENT["problem"] == problem.name == EXPERIMENT.alignment.problem
    assert ALIGNMENT["reference"] == EXPERIMENT.alignment.reference == "population"
    assert EXPERIMENT.alignment.baselines == ("random_direction",)


def test_seeds_are_independent_replicates_and_summarised(quick_run):
    """At least three seeds in the quick preset: each rule's primary keys are the
    t-interval over the per-seed means recorded in /series/seeds/<rule>, each of which is
    the mean of that seed's own per-update cosines."""
    from scipy import stats

    run = quick_run
    s, k = run.summary, run.config["seeds"]
    assert k >= 3 and s["n_seeds"] == k
    for rule in RULES:
        seeds = run.series[f"seeds/{rule}"]
        assert list(seeds["seed"]) == list(range(k)) and s[f"{rule}.seeds_cos_n"] == k
        per = np.asarray(seeds["cos_mean"])
        for i in range(k):
            table = run.alignment[f"{rule}/total" if i == 0 else f"seed{i}/{rule}/total"]
            cos = np.asarray(table["cos"])[~np.asarray(table["zero_norm"], bool)]
            assert cos.size == seeds["n_measured"][i] == run.config["n_updates"]
            assert per[i] == pytest.approx(cos.mean(), rel=1e-12, abs=1e-15)
        assert s[f"{rule}.seeds_cos_mean"] == pytest.approx(per.mean(), rel=1e-12, abs=1e-15)
        half = stats.t.ppf(0.975, k - 1) * per.std(ddof=1) / np.sqrt(k)
        assert s[f"{rule}.seeds_cos_low"] == pytest.approx(per.mean() - half, rel=1e-9)
        assert s[f"{rule}.seeds_cos_high"] == pytest.approx(per.mean() + half, rel=1e-9)
        # as in alignment-atlas, the primary keys are the across-seed ones
        assert [s[f"{rule}.{c}"] for c in ("cos_mean", "cos_ci_low", "cos_ci_high")] == [
            s[f"{rule}.seeds_cos_{c}"] for c in ("mean", "low", "high")]
        assert s[f"{rule}.ci_method"].startswith(f"t over {k} seeds")
        assert s[f"{rule}.return_last"] == pytest.approx(seeds["return_last"].mean())
        # independent trial streams: no two seeds end with the same policy
        assert len(set(np.round(seeds["return_last"], 12))) == k
    # the rules of one seed share its trials (common random numbers), so REINFORCE and the
    # centred three-factor rule, equal up to the factor beta at equal parameters, have the
    # same cosine on the first update of every seed (both start at W_out = 0)
    for i in range(k):
        tab = "{}/total" if i == 0 else f"seed{i}/{{}}/total"
        a, b = (run.alignment[tab.format(r)]["cos"][0]
                for r in ("reinforce", "three_factor_centred"))
        assert a == pytest.approx(b, rel=1e-9)


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """Short runs with one and with two seeds: ``{1: run, 2: run}``."""
    from plasticity.cli import main

    root = tmp_path_factory.mktemp("bandit-small")
    runs = {}
    for k in (1, 2):
        out = root / f"b{k}.h5"
        assert main(["run", "bandit-alignment", "--quiet", "--set", "n_updates=200", "--set",
                     "expected_draws=100", "--set", "n_boot=100", "--set", f"seeds={k}",
                     "--out", str(out)]) in (0, None)
        runs[k] = pl.open_run(out)
    return runs


def test_one_seed_has_no_interval_over_seeds_and_seed_0_is_unchanged(small_runs):
    for rule in RULES:
        assert_seed_contract(small_runs[1], small_runs[2], rule)
        one = small_runs[1].summary
        assert one[f"{rule}.cos_ci_low"] < one[f"{rule}.cos_mean"] < one[f"{rule}.cos_ci_high"]


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
