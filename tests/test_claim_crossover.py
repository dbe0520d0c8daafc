"""claim-crossover: a GA with and without crossover against simulated annealing at matched
fitness evaluations, on royal-road and deceptive trap landscapes (issue 19, claim 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import experiment_module

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("ga_one_point", "ga_two_point", "ga_uniform", "ga_mutation", "annealing",
           "hill_climbing")
LANDSCAPES = ("royal-road", "trap", "trap-shuffled")
TINY = ("n_bits=12", "block=3", "budget=400", "population=20", "curve_points=8")


def _module():
    return experiment_module("claim_crossover")


@pytest.fixture(scope="module")
def mod():
    return _module()


def _run(cli, tmp_path, name, *sets):
    from plasticity.io.runfile import open_run

    out = tmp_path / f"{name}.h5"
    args = ["run", "claim-crossover", "--quick", "--quiet", "--out", out]
    for s in (*TINY, *sets):
        args += ["--set", s]
    code, _, err = cli(*args)
    assert code == 0, err
    return open_run(out)


# ---------------------------------------------------------------------- the landscapes

def test_trap_values_optimum_and_deceptive_attractor(mod):
    # g(u) = k - 1 - u below k, k at k (Deb and Goldberg's trap)
    np.testing.assert_array_equal(mod.block_table("trap", 4), [3, 2, 1, 0, 4])
    np.testing.assert_array_equal(mod.block_table("trap", 2), [1, 0, 2])
    np.testing.assert_array_equal(mod.block_table("royal-road", 3), [0, 0, 0, 3])
    np.testing.assert_array_equal(mod.block_table("onemax", 3), [0, 1, 2, 3])
    k, m = 4, 3
    land = mod.Landscape("trap", k * m, k)
    ones, zeros = np.ones(k * m, bool), np.zeros(k * m, bool)
    assert land.fitness(ones) == land.optimum == k * m
    assert land.fitness(zeros) == m * (k - 1)
    # brute force over all 2^12 strings: the optimum is unique, and the strings from
    # which every single-bit flip lowers the fitness are exactly those whose blocks are
    # all 0000 or 1111 (all zeros, the deceptive attractor, among them)
    x = ((np.arange(2 ** 12)[:, None] >> np.arange(12)) & 1).astype(bool)
    f = land.fitness(x)
    assert np.flatnonzero(f == f.max()).tolist() == [2 ** 12 - 1]
    neigh = np.stack([land.fitness(x ^ (np.arange(12) == i)) for i in range(12)], axis=1)
    local = np.flatnonzero((neigh < f[:, None]).all(axis=1))
    u = land.counts(x[local])
    assert local.size == 2 ** m and np.all((u == 0) | (u == k))
    assert land.evaluations == 2 + 2 ** 12 * 13


def test_shuffled_trap_is_the_trap_on_permuted_positions(mod):
    rng = np.random.default_rng(5)
    tight = mod.Landscape("trap", 20, 4)
    loose = mod.Landscape("trap-shuffled", 20, 4, np.random.default_rng(1))
    # each block still holds k positions, now scattered
    np.testing.assert_array_equal(np.bincount(loose.member), [4] * 5)
    assert not np.array_equal(loose.member, tight.member)
    x = rng.random((500, 20)) < 0.5
    order = np.argsort(loose.member, kind="stable")  # positions grouped by block
    np.testing.assert_array_equal(loose.fitness(x), tight.fitness(x[:, order]))
    assert loose.optimum == tight.optimum == 20


def test_single_flip_delta_matches_full_evaluation(mod):
    rng = np.random.default_rng(2)
    for name in ("royal-road", "trap", "trap-shuffled", "onemax"):
        land = mod.Landscape(name, 15, 3, np.random.default_rng(0))
        x = rng.random((64, 15)) < 0.5
        pos = rng.integers(0, 15, 64)
        before = land.evaluations
        delta, _, _ = land.flip_delta(land.counts(x), pos, x[np.arange(64), pos])
        assert land.evaluations == before + 64
        y = x.copy()
        y[np.arange(64), pos] ^= True
        np.testing.assert_array_equal(delta, land.fitness(y) - land.fitness(x))


# ------------------------------------------------------------------------ the operators

def test_crossover_children_take_every_bit_from_a_parent(mod):
    rng = np.random.default_rng(3)
    c, n = 400, 17
    mums, dads = rng.random((c, n)) < 0.5, rng.random((c, n)) < 0.5
    zeros, ones = np.zeros((c, n), bool), np.ones((c, n), bool)
    for kind in ("one_point", "two_point", "uniform"):
        kids = mod.crossover(mums, dads, kind, rng)
        assert np.all((kids == mums) | (kids == dads))
        # complementary parents show where each allele came from
        mask = mod.crossover(zeros, ones, kind, rng)
        switches = np.abs(np.diff(mask.astype(int), axis=1)).sum(axis=1)
        if kind == "one_point":
            # one cut in 1..n-1: mum's prefix (at least one bit), then dad's suffix
            assert np.all(switches == 1) and np.all(~mask[:, 0]) and np.all(mask[:, -1])
        elif kind == "two_point":
            assert np.all(switches <= 2) and np.all(~mask[:, 0])
        else:
            se = np.sqrt(0.25 / mask.size)
            assert abs(mask.mean() - 0.5) < 4 * se
        # rate 0: every child is its mum
        np.testing.assert_array_equal(mod.crossover(mums, dads, kind, rng, rate=0.0), mums)
    # rate r: a child is crossed with probability r (complementary parents: a crossed
    # one-point child always differs from its mum)
    crossed = mod.crossover(zeros, ones, "one_point", rng, rate=0.3).any(axis=1)
    assert abs(crossed.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / c)


def test_one_point_cut_position_is_uniform(mod):
    """The cut ``c`` (first position of dad's suffix) is uniform on 1..n-1, so a block of
    adjacent bits is cut with probability (k - 1) / (n - 1)."""
    rng = np.random.default_rng(4)
    n, c = 12, 22000
    mask = mod.crossover_mask("one_point", c, n, rng)
    cut = mask.argmax(axis=1)
    counts = np.bincount(cut, minlength=n)
    assert counts[0] == 0
    expected = c / (n - 1)
    assert np.all(np.abs(counts[1:] - expected) < 4 * np.sqrt(expected))
    # block 0..3 (k = 4) is cut when 1 <= c <= 3
    p = np.mean((cut >= 1) & (cut <= 3))
    assert abs(p - 3 / 11) < 4 * np.sqrt(3 / 11 * 8 / 11 / c)


# -------------------------------------------------------------- budgets and the methods

@pytest.mark.parametrize("kind", ["one_point", "two_point", "uniform"])
def test_ga_spends_exactly_the_budget(mod, kind):
    land = mod.Landscape("trap", 20, 4)
    budget = 1000  # not a multiple of population - 1 = 16: the last generation is cut
    res = mod.run_ga(land, budget, np.random.default_rng(0), population=17,
                     crossover_kind=kind, rate=0.9)
    assert res["evaluations"] == land.evaluations == budget
    assert res["trace"].shape == (budget,)
    # elitism: the best so far never drops, and it is the best string's fitness
    assert np.all(np.diff(res["trace"]) >= 0)
    assert res["trace"][-1] == res["best"] == land.table[res["best_counts"]].sum()
    hit = np.flatnonzero(res["trace"] == land.optimum)
    assert res["first_hit"] == (hit[0] + 1 if hit.size else 0)
    np.testing.assert_array_equal(res["curve"], res["trace"])


def test_annealing_spends_exactly_the_budget_per_chain(mod, monkeypatch):
    # small chunks of random draws, so that the run crosses their boundaries
    monkeypatch.setattr(mod, "_CHUNK", 64)
    land = mod.Landscape("royal-road", 12, 3)
    res = mod.run_annealing(land, 333, [np.random.default_rng([1, i]) for i in range(7)],
                            t0=1.0, t_final=0.1)
    assert res["evaluations"] == 333 and land.evaluations == 7 * 333
    assert res["curve"].shape == (7, 333)
    # the incrementally tracked fitness is the final strings' fitness
    np.testing.assert_array_equal(res["fitness"], land.fitness(res["final"]))
    # the best-so-far curve, the first hit of the optimum and the best agree
    assert np.all(np.diff(res["curve"], axis=1) >= 0)
    np.testing.assert_array_equal(res["curve"][:, -1], res["best"])
    hit = res["curve"] == land.optimum
    assert hit.any()
    np.testing.assert_array_equal(res["first_hit"], np.where(hit.any(axis=1),
                                                             hit.argmax(axis=1) + 1, 0))
    # a curve at a few points is the full curve there (the draws do not depend on them)
    few = mod.run_annealing(land, 333, [np.random.default_rng([1, i]) for i in range(7)],
                            t0=1.0, t_final=0.1, points=[1, 64, 65, 333])
    np.testing.assert_array_equal(few["curve"], res["curve"][:, [0, 63, 64, 332]])


def test_zero_temperature_is_hill_climbing_and_never_accepts_worse(mod):
    k, m, s = 3, 10, 300
    land = mod.Landscape("trap", k * m, k)
    rngs = [np.random.default_rng([2, i]) for i in range(s)]
    res = mod.run_annealing(land, 3000, rngs, t0=0.0, t_final=0.0)
    assert np.all(res["accepted_worse"] == 0)
    # on a trap every flip changes the fitness, and only improvements are taken: the
    # chain's fitness is its best so far, and it ends where it is best
    np.testing.assert_array_equal(res["fitness"], res["best"])
    assert np.all(np.diff(res["curve"], axis=1) >= 0)
    # every block is absorbed at u = 0 or u = k, solved with probability 2^(1 - k)
    u = land.counts(res["final"])
    assert np.all((u == 0) | (u == k))
    p = mod.hill_climbing_block_theory(k)
    assert p == 0.25
    solved = (u == k).mean()
    assert abs(solved - p) < 4 * np.sqrt(p * (1 - p) / u.size)
    # from the deceptive attractor hill climbing never moves
    stuck = mod.run_annealing(land, 500, rngs[:5], t0=0.0, t_final=0.0,
                              start=np.zeros((5, k * m), bool))
    assert np.all(stuck["accepted"] == 0) and np.all(stuck["best"] == m * (k - 1))


def test_infinitely_hot_schedule_accepts_everything(mod):
    land = mod.Landscape("trap", 12, 3)
    rngs = [np.random.default_rng([3, i]) for i in range(4)]
    res = mod.run_annealing(land, 400, rngs, t0=np.inf, t_final=np.inf)
    assert np.all(res["accepted"] == 399)
    assert np.all(res["accepted_worse"] > 0)


def test_chains_with_their_own_schedules_run_as_if_alone(mod):
    """Chains side by side, each with its own schedule, are the chains run alone: the
    vectorised loop neither mixes their streams nor their temperatures."""
    land = mod.Landscape("trap", 12, 3)
    seeds = ([5, 0], [5, 1], [5, 2])
    sched = ((0.0, 0.0), (1.0, 0.1), (np.inf, np.inf))
    both = mod.run_annealing(land, 700, [np.random.default_rng(x) for x in seeds],
                             t0=[a for a, _ in sched], t_final=[b for _, b in sched])
    for i, (x, (a, b)) in enumerate(zip(seeds, sched, strict=True)):
        alone = mod.run_annealing(land, 700, [np.random.default_rng(x)], t0=a, t_final=b)
        np.testing.assert_array_equal(both["curve"][i], alone["curve"][0])
        np.testing.assert_array_equal(both["final"][i], alone["final"][0])
        assert both["accepted"][i] == alone["accepted"][0]
    assert both["accepted_worse"][0] == 0 and both["accepted"][2] == 699


def test_metropolis_reaches_the_boltzmann_distribution_on_onemax(mod):
    """At a constant T, single-flip Metropolis has the stationary law exp(f / T) / Z; on
    OneMax (f = number of ones) the bits are then independent with P(1) = 1/(1 + e^(-1/T))."""
    n, s, temp = 20, 200, 1.0
    land = mod.Landscape("onemax", n, 2)
    rngs = [np.random.default_rng([4, i]) for i in range(s)]
    res = mod.run_annealing(land, 2000, rngs, t0=temp, t_final=temp)
    p = 1.0 / (1.0 + np.exp(-1.0 / temp))
    frac = res["final"].mean()
    assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / (n * s))
    # the uphill moves are exactly those Metropolis takes with probability < 1
    assert np.all(res["accepted_worse"] > 0)


def test_temperature_schedule(mod):
    t = mod.temperatures(2.0, 0.02, 5)
    assert t[0] == 2.0 and t[-1] == pytest.approx(0.02, rel=1e-12)
    np.testing.assert_allclose(t[1:] / t[:-1], 0.01 ** 0.25, rtol=1e-12)
    np.testing.assert_array_equal(mod.temperatures(0.0, 0.0, 3), 0.0)


# -------------------------------------------------------------------------- statistics

def test_wilson_newcombe_and_median_intervals(mod):
    from scipy.stats import binomtest

    ci = binomtest(7, 30).proportion_ci(method="wilson")
    assert mod.wilson(7, 30) == pytest.approx((7 / 30, ci.low, ci.high), rel=1e-12)
    # Newcombe (1998), Stat Med 17:873, example (a): 56/70 - 48/80, method 10
    d, low, high = mod.newcombe(56, 70, 48, 80)
    assert d == pytest.approx(0.2, rel=1e-12)
    assert low == pytest.approx(0.0524, abs=1e-4) and high == pytest.approx(0.3339, abs=1e-4)
    # order statistics: r = 5 has no 95% interval; r = 6 gives [min, max] (coverage
    # 1 - 2/64); r = 20 gives [x_(6), x_(15)] (P(Bin(20, 1/2) <= 5) = 0.0207)
    assert np.isnan(mod.median_interval(np.arange(5.0))[1])
    assert mod.median_interval(np.arange(6.0)) == (2.5, 0.0, 5.0)
    assert mod.median_interval(np.arange(1.0, 21.0)) == (10.5, 6.0, 15.0)
    assert all(np.isnan(mod.median_interval([])))


# ------------------------------------------------------------------------------ the CLI

def test_tiny_run_structure_and_invariants(cli, tmp_path, mod):
    run = _run(cli, tmp_path, "tiny", "seeds=4")
    s = run.summary
    assert s["verdict"].split(":")[0] in ("Supported", "Partly", "Not supported",
                                          "Unresolved")
    assert mod.verdict(dict(s), list(LANDSCAPES), list(METHODS)) == s["verdict"]
    for ls in LANDSCAPES:
        assert s[f"{ls}.optimum"] == 12
        for m in METHODS:
            k = f"{ls}.{m}"
            table = run.series[f"seeds/{ls}/{m}"]
            assert s[f"{k}.evaluations"] == 400
            np.testing.assert_array_equal(table["evaluations"], 400)
            succ = np.asarray(table["success"])
            assert s[f"{k}.n_success"] == succ.sum()
            assert s[f"{k}.success_low"] <= s[f"{k}.success"] <= s[f"{k}.success_high"]
            best = np.asarray(table["best"])
            assert np.all(best <= 12) and np.all((best == 12) == (succ == 1))
            ev = np.asarray(table["evals_to_success"])
            assert np.all((ev >= 1) == (succ == 1)) and np.all(ev <= 400)
            assert s[f"{k}.best_mean"] == pytest.approx(best.mean(), rel=1e-12)
            # the best-so-far curve ends at the mean best fitness over seeds
            curve = run.series[f"curve/{ls}/{m}"]
            assert curve["evaluations"][-1] == 400
            assert curve["best_mean"][-1] == pytest.approx(best.mean(), rel=1e-12)
        assert s[f"{ls}.hill_climbing.worse_accepted_mean"] == 0.0
        for m in ("ga_one_point", "ga_two_point", "ga_uniform"):
            d = s[f"{ls}.{m}.gain_vs_mutation"]
            assert d == pytest.approx(s[f"{ls}.{m}.success"] - s[f"{ls}.ga_mutation.success"])
            assert s[f"{ls}.{m}.gain_vs_mutation_low"] <= d
    assert s["trap.attractor"] == 8 and s["trap.theory_hc_blocks"] == pytest.approx(1.0)
    # annealing's schedule: the pilot's best (most successes, then best fitness)
    for ls in ("royal-road", "trap"):
        pilot = run.series[f"pilot/{ls}"]
        wins, fit = np.asarray(pilot["n_success"]), np.asarray(pilot["best_mean"])
        i = int(np.flatnonzero(np.asarray(pilot["chosen"]))[0])
        assert pilot["chosen"].sum() == 1 and len(wins) == 9
        assert wins[i] == wins.max() and fit[i] == fit[wins == wins.max()].max()
        assert (s[f"{ls}.annealing.t0"], s[f"{ls}.annealing.t_final"]) == (
            pilot["t0"][i], pilot["t_final"][i])
    # one choice for trap and trap-shuffled (the same landscape to annealing)
    assert "pilot/trap-shuffled" not in run.series
    assert s["trap-shuffled.annealing.t0"] == s["trap.annealing.t0"]
    assert s["trap-shuffled.annealing.t_final"] == s["trap.annealing.t_final"]
    for m in METHODS:
        d = s[f"trap-shuffled.{m}.loss_vs_trap"]
        assert d == pytest.approx(s[f"trap.{m}.success"] - s[f"trap-shuffled.{m}.success"])
        assert s[f"trap-shuffled.{m}.loss_vs_trap_low"] <= d
        assert d <= s[f"trap-shuffled.{m}.loss_vs_trap_high"]
    # the verdict is computed from the numbers: doctored numbers change it
    doctored = dict(s)
    for ls in LANDSCAPES:
        for key in ("ga_one_point.gain_vs_mutation", "ga_one_point.gain_vs_annealing"):
            doctored.update({f"{ls}.{key}": 0.5, f"{ls}.{key}_low": 0.2,
                             f"{ls}.{key}_high": 0.8})
        doctored.update({f"{ls}.ga_mutation.gain_vs_annealing_low": -0.3,
                         f"{ls}.ga_mutation.gain_vs_annealing_high": 0.1})
    assert mod.verdict(doctored, list(LANDSCAPES), list(METHODS)).startswith("Supported")
    for ls in LANDSCAPES:
        doctored[f"{ls}.ga_one_point.gain_vs_annealing_low"] = -0.1
        doctored[f"{ls}.ga_two_point.gain_vs_annealing_low"] = -0.1
        doctored[f"{ls}.ga_uniform.gain_vs_annealing_low"] = -0.1
    text = mod.verdict(doctored, list(LANDSCAPES), list(METHODS))
    # crossover still beats the mutation-only GA everywhere: annealing "kept up"
    assert text.startswith("Not supported") and "kept up" in text.split(". ")[0]
    doctored["trap.ga_one_point.gain_vs_annealing_low"] = 0.2
    text = mod.verdict(doctored, list(LANDSCAPES), list(METHODS))
    assert text.startswith("Partly: crossover set the GA apart from annealing")
    assert "but not on royal-road, trap-shuffled" in text
    assert mod.verdict(dict(s), ["trap"], ["annealing", "hill_climbing"]).startswith(
        "Unresolved")


def test_figure_draws_what_the_run_file_holds(cli, tmp_path, mod):
    from plasticity.plots.provenance import check_figure

    run = _run(cli, tmp_path, "fig", "seeds=2")
    check_figure(mod.plot(run), tmp_path / "fig.h5")


def test_seed_contract(cli, tmp_path):
    """Seed 0 draws from the same streams whatever the number of seeds (annealing chains
    run side by side, each from its own generator)."""
    one = _run(cli, tmp_path, "one", "seeds=1", "landscapes=[\"trap\"]")
    two = _run(cli, tmp_path, "two", "seeds=2", "landscapes=[\"trap\"]")
    for m in METHODS:
        a, b = one.series[f"seeds/trap/{m}"], two.series[f"seeds/trap/{m}"]
        for col in ("best", "evals_to_success", "blocks_solved"):
            assert a[col][0] == b[col][0]
    # one seed: the t-interval of the best fitness is undefined, the Wilson one is not
    s1 = one.summary
    assert np.isnan(s1["trap.annealing.best_low"])
    assert 0 <= s1["trap.annealing.success_low"] <= s1["trap.annealing.success_high"] <= 1
    # seeds are independent replicates, not copies
    rows = [[(two.series[f"seeds/trap/{m}"]["best"][i],
              two.series[f"seeds/trap/{m}"]["evals_to_success"][i]) for m in METHODS]
            for i in (0, 1)]
    assert rows[0] != rows[1]


@pytest.mark.parametrize("settings, words", [
    (["population=1"], ["population"]),
    (["crossover_rate=1.5"], ["crossover_rate"]),
    (["crossover_rate=-0.1"], ["crossover_rate"]),
    (["block=1"], ["block"]),
    (["n_bits=10", "block=4"], ["block", "n_bits"]),
    (["budget=100", "population=200"], ["budget", "population"]),
    (["schedules=[[0.1, 1.0]]"], ["schedules", "t_final", "t0"]),
    (["schedules=[[0.0, 0.0]]"], ["schedules"]),
    (["schedules=[]"], ["schedules"]),
    (["pilot_seeds=0"], ["pilot_seeds"]),
    (["tournament=1"], ["tournament"]),
    (["mutation=-1"], ["mutation"]),
    (["n_bits=12", "block=3", "mutation=13"], ["mutation", "n_bits"]),
    (["landscapes=[\"plateau\"]"], ["landscapes"]),
    (["methods=[\"annealing\", \"annealing\"]"], ["twice"]),
])
def test_bad_input_is_refused(refuses, settings, words):
    refuses("claim-crossover", settings, words)


def test_bad_arguments_of_the_functions_are_refused(mod):
    from plasticity.errors import PlasticityError

    land = mod.Landscape("trap", 12, 3)
    rng = np.random.default_rng(0)
    bad = [lambda: mod.Landscape("trap", 12, 1), lambda: mod.Landscape("trap", 10, 4),
           lambda: mod.Landscape("trap-shuffled", 12, 3),
           lambda: mod.block_table("plateau", 3),
           lambda: mod.run_ga(land, 100, rng, population=1),
           lambda: mod.run_ga(land, 100, rng, population=10, rate=1.5),
           lambda: mod.run_ga(land, 100, rng, population=10, rate=-0.5),
           lambda: mod.run_ga(land, 5, rng, population=10),
           lambda: mod.run_ga(land, 100, rng, population=10, crossover_kind="three_point"),
           lambda: mod.temperatures(0.1, 1.0, 10),
           lambda: mod.temperatures(1.0, 0.0, 10),
           lambda: land.fitness(np.zeros(11, bool))]
    for call in bad:
        with pytest.raises(PlasticityError):
            call()


def test_listed_with_its_first_docstring_line():
    from plasticity.registry import list_experiments

    assert list_experiments()["claim-crossover"].startswith("Claim: crossover")
