"""claim-lottery: near-zero weights, iterative magnitude pruning with rewinding against
random re-initialisation, mask overlaps and relative weight change on MNIST-1D MLPs
(issue 19, claim 8)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import experiment_module

ROOT = Path(__file__).resolve().parents[1]
#: a run of a few seconds (most of it building MNIST-1D once per process)
TINY = ["widths=[8, 16]", "epochs=1", "batch_size=200", "rounds=2"]


@pytest.fixture(scope="module")
def mod():
    m = experiment_module("claim_lottery")
    yield m
    sys.modules.pop(m.__name__, None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs with one and two seeds: ``{1: RunFile, 2: RunFile}``."""
    from plasticity.cli import main
    from plasticity.io.runfile import open_run

    out = {}
    for seeds in (1, 2):
        path = tmp_path_factory.mktemp("claim-lottery") / f"seeds{seeds}.h5"
        args = ["run", "claim-lottery", "--quick", "--quiet", "--out", str(path)]
        for s in [*TINY, f"seeds={seeds}"]:
            args += ["--set", s]
        assert main(args) in (0, None)
        out[seeds] = open_run(path)
    return out


@pytest.mark.parametrize("law", ["gaussian", "uniform"])
def test_init_near_zero_fraction_is_the_closed_form(mod, law):
    """At init the weights are independent draws of std sqrt(2 / fan-in), so the count
    with |w| < c sigma is binomial with p = erf(c / sqrt 2) (Gaussian) or c / sqrt 3
    (uniform): within 4 binomial standard errors, at several thresholds."""
    net = mod.network(512)
    scale = mod.init_std(net)
    params = mod.init_params(net, np.random.default_rng(0), law)
    for w in mod.WEIGHTS:  # the declared std is the drawn one (relative SE ~ 1/sqrt(2n))
        assert params[w].std() == pytest.approx(scale[w], rel=4 / np.sqrt(2 * params[w].size))
    for c in (0.1, 0.5, 1.0):
        p = mod.near_zero_theory(c, law)
        count, n = mod.near_zero_count(params, scale, c)
        assert n == 512 * 50
        assert abs(count - n * p) < 4 * np.sqrt(n * p * (1 - p))
    # the closed forms at known points
    if law == "gaussian":
        assert mod.near_zero_theory(1.0, law) == pytest.approx(0.682689492137, rel=1e-11)
        assert mod.near_zero_theory(0.1, law) == pytest.approx(0.0796556745541, rel=1e-10)
    else:
        assert mod.near_zero_theory(np.sqrt(3.0), law) == 1.0
        assert mod.near_zero_theory(0.3, law) == pytest.approx(0.3 / np.sqrt(3.0), rel=1e-15)
        bound = np.sqrt(3.0) * max(scale.values())
        assert all(np.abs(params[w]).max() <= bound for w in mod.WEIGHTS)


def test_topk_mask_keeps_exactly_k_of_the_largest(mod):
    rng = np.random.default_rng(1)
    # integer scores: many ties, which must still give exactly k
    score = rng.integers(0, 5, size=(7, 13)).astype(float)
    allowed = rng.random((7, 13)) < 0.6
    for k in (1, 10, 30, int(allowed.sum())):
        m = mod.topk_mask(score, k, allowed=allowed)
        assert m.shape == score.shape and m.dtype == bool
        assert int(m.sum()) == k
        assert not np.any(m & ~allowed)  # pruning happens among the survivors only
        # every kept score is at least every dropped allowed score
        assert score[m].min() >= score[allowed & ~m].max(initial=-np.inf)
    with pytest.raises(ValueError):
        mod.topk_mask(score, 0)
    # the IMP schedule: per-layer counts round(n (1 - p)^r), nested masks
    sizes = {"W1": 40 * 16, "W_out": 16 * 10}
    shapes = {"W1": (16, 40), "W_out": (10, 16)}
    mask = {w: np.ones(shapes[w], dtype=bool) for w in shapes}
    for r in range(1, 6):
        counts = mod.kept_counts(sizes, 0.5 ** r)
        assert counts == {w: max(1, round(n * 0.5 ** r)) for w, n in sizes.items()}
        new = mod.layer_masks({w: rng.random(shapes[w]) for w in shapes}, counts, allowed=mask)
        for w in shapes:
            assert int(new[w].sum()) == counts[w]
            assert not np.any(new[w] & ~mask[w])
        mask = new


def test_independent_masks_overlap_by_the_kept_fraction(mod):
    """|A & B| of two independent uniform k-subsets of n is hypergeometric with mean
    k^2 / n: the overlap fraction |A & B| / k has mean k / n (the chance level), per layer
    and pooled as sum k_l^2 / n_l / sum k_l; tolerance 4 standard errors of the mean."""
    rng = np.random.default_rng(2)
    shapes = {"W1": (16, 40), "W_out": (10, 16)}
    sizes = {w: int(np.prod(s)) for w, s in shapes.items()}
    counts = mod.kept_counts(sizes, 0.2)
    chance = mod.overlap_chance(sizes, counts)
    assert chance == pytest.approx(sum(counts[w] ** 2 / sizes[w] for w in sizes)
                                   / sum(counts.values()), rel=1e-15)
    assert chance == pytest.approx(0.2, abs=1 / sum(counts.values()))
    draws = np.array([mod.overlap(mod.random_masks(shapes, counts, rng),
                                  mod.random_masks(shapes, counts, rng))
                      for _ in range(2000)])
    # the hypergeometric variance of each layer's intersection, summed
    var = sum(counts[w] * (counts[w] / sizes[w]) * (1 - counts[w] / sizes[w])
              * (sizes[w] - counts[w]) / (sizes[w] - 1) for w in sizes) \
        / sum(counts.values()) ** 2
    assert draws.std() == pytest.approx(np.sqrt(var), rel=0.1)  # SE of an SD: 1/sqrt(2n)
    assert abs(draws.mean() - chance) < 4 * np.sqrt(var / draws.size)
    # a mask overlaps itself fully
    a = mod.random_masks(shapes, counts, rng)
    assert mod.overlap(a, a) == 1.0


def test_masked_gradient_passes_check_grads(mod):
    """The gradient of the loss of the masked network, by backprop through the mask,
    against central differences (ReLU kinks are almost surely farther than eps away)."""
    from plasticity.testing import check_grads

    rng = np.random.default_rng(3)
    net = mod.network(6)
    params = mod.init_params(net, rng)
    params["b1"] = 0.1 * rng.standard_normal(6)
    params["b_out"] = 0.1 * rng.standard_normal(10)
    masks = {w: rng.random(params[w].shape) < 0.5 for w in mod.WEIGHTS}
    x = rng.standard_normal((12, 40))
    y = rng.integers(0, 10, size=12)
    loss, grad = mod.masked_loss_and_grad(net, params, masks, x, y)
    check_grads(lambda p: mod.masked_loss_and_grad(net, p, masks, x, y)[0], params, grad,
                relative_to="array")
    for w in mod.WEIGHTS:  # pruned weights get no gradient at all
        assert not np.any(grad[w][~masks[w]])
    # dense: the substrate's own gradient
    check_grads(lambda p: mod.masked_loss_and_grad(net, p, None, x, y)[0], params,
                mod.masked_loss_and_grad(net, params, None, x, y)[1], relative_to="array")


def test_pruned_weights_stay_zero_through_training(mod):
    from plasticity.tasks import MNIST1D

    task = MNIST1D()
    rng = np.random.default_rng(4)
    net = mod.network(16)
    p0 = mod.init_params(net, rng)
    masks = {w: rng.random(p0[w].shape) < 0.3 for w in mod.WEIGHTS}
    schedule = mod.batch_schedule(1, 200, rng)
    assert schedule.shape == (20, 200)
    assert all(np.unique(row).size == 200 for row in schedule)  # no repeats in a batch
    pT, snap = mod.train(net, p0, masks, task.x_train, task.y_train, schedule, 0.1,
                         snapshot_at=5)
    for w in mod.WEIGHTS:
        # exact zeros: a pruned entry starts at 0.0 and only ever has 0.0 subtracted
        assert np.all(pT[w][~masks[w]] == 0.0) and np.all(snap[w][~masks[w]] == 0.0)
        assert np.any(pT[w][masks[w]] != p0[w][masks[w]])  # the survivors trained
    # training continued from the snapshot over the rest of the schedule is the same run
    # (the same arithmetic in the same order: equal to rounding)
    resumed, _ = mod.train(net, snap, masks, task.x_train, task.y_train, schedule, 0.1,
                           start=5)
    for k in pT:
        np.testing.assert_allclose(resumed[k], pT[k], rtol=1e-12, atol=1e-15)


def test_relative_change_and_its_slope(mod):
    rng = np.random.default_rng(5)
    p0 = {w: rng.standard_normal((3, 4)) for w in mod.WEIGHTS}
    pT = {w: 1.5 * v for w, v in p0.items()}  # every weight grows by half
    assert mod.rel_change(p0, pT) == pytest.approx(0.5, rel=1e-14)
    widths = np.array([8, 32, 128, 512])
    assert mod.loglog_slope(widths, 3.0 * widths ** -0.5) == pytest.approx(-0.5, rel=1e-12)


def test_tiny_run_structure(mod, runs):
    s = runs[2].summary
    cfg = mod.ClaimLotteryConfig(**runs[2].config)
    assert cfg.widths == [8, 16] and cfg.seeds == 2 and cfg.rounds == 2
    assert s["theory_near_zero_init"] == pytest.approx(mod.near_zero_theory(0.1), rel=1e-14)
    assert s["n_steps"] == 20
    for width in (8, 16):
        tag = f"w{width}"
        assert s[f"{tag}.n_weights"] == 50 * width
        # the pooled init count against the closed form: a 4-sigma check
        assert abs(s[f"{tag}.near_zero_init_z"]) < 4
        assert s[f"{tag}.near_zero_init_low"] <= s[f"{tag}.near_zero_init"] \
            <= s[f"{tag}.near_zero_init_high"]
        for q in ("near_zero_trained", "dense_acc", "overlap_init", "overlap_update",
                  "rel_change"):
            assert s[f"{tag}.{q}_low"] <= s[f"{tag}.{q}"] <= s[f"{tag}.{q}_high"]
        sizes = {"W1": 40 * width, "W_out": 10 * width}
        assert s[f"{tag}.overlap_chance"] == pytest.approx(
            mod.overlap_chance(sizes, mod.kept_counts(sizes, 0.1)), rel=1e-14)
        imp = runs[2].series[f"imp/{tag}"]
        assert len(imp["round"]) == 4  # seeds x rounds
        for r in (1, 2):
            rt = f"{tag}.r{r}"
            # the kept fraction is the schedule's, exactly in counts
            assert s[f"{rt}.keep"] * 50 * width == pytest.approx(
                sum(mod.kept_counts(sizes, 0.5 ** r).values()), rel=1e-14)
            for a in mod.ARMS:
                assert 0 <= s[f"{rt}.{a}.acc"] <= 1
            # paired differences are the differences of the per-seed accuracies
            rows = np.asarray(imp["round"]) == r
            diff = np.asarray(imp["ticket_acc"])[rows] - np.asarray(imp["reinit_acc"])[rows]
            assert s[f"{rt}.ticket_minus_reinit"] == pytest.approx(diff.mean(), abs=1e-12)
    assert s["lottery.ticket_minus_reinit"] == s["w16.r2.ticket_minus_reinit"]
    assert s["lottery.keep"] == s["w16.r2.keep"]
    assert np.isfinite(s["rel_change_slope_low"]) and np.isfinite(s["rel_change_slope_high"])
    # the headline the atlas reads is in the summary
    meta = mod.EXPERIMENT.claim
    assert meta.number == 8
    for key in (meta.headline, meta.low, meta.high):
        assert np.isfinite(s[key])


def test_verdict_is_computed_from_the_numbers(mod, runs):
    s = runs[2].summary
    cfg = mod.ClaimLotteryConfig(**runs[2].config)
    assert mod.verdict(dict(s), cfg) == s["verdict"]
    for part in ("(1) 'Most weights are zero", "(2) 'GD selects pre-existing",
                 "(3) 'Lottery tickets'"):
        assert part in s["verdict"]
    doctored = dict(s)
    for w in (8, 16):
        doctored.update({f"w{w}.near_zero_trained": 0.7, f"w{w}.near_zero_trained_low": 0.6,
                         f"w{w}.near_zero_trained_high": 0.8})
    assert "(1) 'Most weights are zero after training' - Supported" in \
        mod.verdict(doctored, cfg)
    for w in (8, 16):
        doctored.update({f"w{w}.near_zero_trained_low": 0.01,
                         f"w{w}.near_zero_trained_high": 0.2,
                         f"w{w}.r2.ticket_minus_reinit_low": -0.2,
                         f"w{w}.r2.ticket_minus_reinit_high": -0.1})
    text = mod.verdict(doctored, cfg)
    assert "(1) 'Most weights are zero after training' - Not supported" in text
    assert "(3) 'Lottery tickets' - Not supported" in text
    assert "(2) 'GD selects pre-existing circuits' - Not supported" in text
    # overlap above chance and tickets above re-init, but no more overlap than updates
    # unrelated to w0 keep (inertia): selection is then only partly shown
    for w in (8, 16):
        doctored.update({f"w{w}.overlap_init": 0.5, f"w{w}.overlap_init_low": 0.45,
                         f"w{w}.overlap_init_high": 0.55, f"w{w}.overlap_shuffled": 0.5,
                         f"w{w}.r2.ticket_minus_reinit_low": 0.05,
                         f"w{w}.r2.ticket_minus_reinit_high": 0.1})
    text = mod.verdict(doctored, cfg)
    assert "(2) 'GD selects pre-existing circuits' - Partly" in text and "inertia" in text
    for w in (8, 16):
        doctored[f"w{w}.overlap_shuffled"] = 0.3
    assert "(2) 'GD selects pre-existing circuits' - Supported" in mod.verdict(doctored, cfg)
    # one seed: no interval, nothing resolved
    one = runs[1].summary
    assert one["verdict"].startswith("Unresolved")


def test_seed_contract(runs):
    """Seed 0 draws from the same streams whatever the number of seeds; with one seed
    the intervals over seeds are NaN, with two they are finite."""
    one, two = runs[1], runs[2]
    for width in (8, 16):
        a, b = one.series[f"seeds/w{width}"], two.series[f"seeds/w{width}"]
        for col in ("near_zero_trained", "rel_change", "dense_acc", "overlap_init"):
            assert b[col][0] == a[col][0]
        assert b["rel_change"][1] != b["rel_change"][0]  # independent replicates
        for key in ("near_zero_trained", "r2.ticket_minus_reinit", "overlap_init"):
            assert np.isnan(one.summary[f"w{width}.{key}_low"])
            assert np.isfinite(two.summary[f"w{width}.{key}_low"])
        # the init fraction's Clopper-Pearson interval exists with one seed too
        assert np.isfinite(one.summary[f"w{width}.near_zero_init_low"])
    # one seed, three widths would give the fit's own interval; two widths: none
    assert np.isnan(one.summary["rel_change_slope_low"])


def test_late_rewinding_runs(cli, tmp_path):
    """Rewinding to step 5 instead of w0: the tickets start elsewhere, the rest agrees."""
    from plasticity.io.runfile import open_run

    out = {}
    for k in (0, 5):
        path = tmp_path / f"rewind{k}.h5"
        args = ["run", "claim-lottery", "--quick", "--quiet", "--out", path]
        for s in [*TINY, "seeds=1", f"rewind_step={k}"]:
            args += ["--set", s]
        code, _, err = cli(*args)
        assert code == 0, err
        out[k] = open_run(path)
    a, b = out[0].series["imp/w16"], out[5].series["imp/w16"]
    # the dense training and the one-shot overlaps do not depend on the rewind point
    assert out[0].summary["w16.dense_acc"] == out[5].summary["w16.dense_acc"]
    assert np.array_equal(a["overlap_init"], b["overlap_init"])
    # the re-initialised control starts from a fresh draw either way; the first round's
    # mask is the same, so its re-init run is the same
    assert a["reinit_acc"][0] == b["reinit_acc"][0]


def test_figure_draws_the_run_files_data(mod, runs):
    import matplotlib.pyplot as plt

    from plasticity.plots.provenance import check_figure

    for run in runs.values():
        fig = mod.plot(run)
        try:
            assert check_figure(fig, run) >= len(fig.axes)
            assert all(ax.has_data() for ax in fig.axes)
        finally:
            plt.close(fig)


@pytest.mark.parametrize("settings, words", [
    (["prune_rate=0"], ["prune_rate"]),
    (["prune_rate=1"], ["prune_rate"]),
    (["prune_rate=1.5"], ["prune_rate"]),
    (["sparsity=0"], ["sparsity"]),
    (["sparsity=1"], ["sparsity"]),
    (["sparsity=-0.2"], ["sparsity"]),
    (["widths=[8]"], ["widths"]),
    (["widths=[8, 8]"], ["widths"]),
    (["widths=[1, 8]"], ["widths"]),
    (["rewind_step=400"], ["rewind_step"]),
    (["near_zero=0"], ["near_zero"]),
    (["init=normal"], ["init"]),
    (["rounds=0"], ["rounds"]),
])
def test_bad_input_is_refused(refuses, settings, words):
    refuses("claim-lottery", ["epochs=1", *settings], words)


def test_listed_with_its_first_docstring_line():
    from plasticity.registry import list_experiments

    assert list_experiments()["claim-lottery"].startswith(
        "Claim: GD selects pre-existing circuits")
