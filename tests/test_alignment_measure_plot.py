"""The figure of a researcher's own rule: ``pl.alignment.plot`` on the run file
``pl.alignment.measure`` writes, and ``plasticity plot`` / ``plasticity figure`` on it."""

import h5py
import numpy as np
import pytest
from fixtures_rules import SignHebb

import plasticity as pl
from plasticity.plots.provenance import FigureDataMismatch, check_figure

SMALL = {"hidden": 8, "n_updates": 60, "batch_size": 16, "expected_draws": 3}


def _scatter_points(ax):
    (coll,) = [c for c in ax.collections if c.get_label() == "each update"]
    return np.asarray(coll.get_offsets())


@pytest.fixture
def own_run(tmp_path):
    return pl.alignment.measure(SignHebb(), seed=0, out=tmp_path / "runs" / "own.h5",
                                **SMALL)


def test_own_rule_figure_shows_the_run_file(own_run):
    fig = pl.alignment.plot(own_run)
    # 2 scatters, moving mean, CI span, mean, SGD ceiling, expected, zero; identity, zero
    assert check_figure(fig, own_run) == 10
    assert "SignHebb" in fig._suptitle.get_text()
    ax_a, ax_b = fig.axes
    assert len(_scatter_points(ax_a)) == own_run.summary["n_measured"]
    assert len(_scatter_points(ax_b)) == SMALL["n_updates"]
    # a 60-point series gets a window of 3: 58 full windows
    (mean_line,) = [ln for ln in ax_a.lines if ln.get_label() == "moving mean"]
    assert len(mean_line.get_ydata()) == SMALL["n_updates"] - 2


def test_figure_check_fails_when_the_file_says_otherwise(own_run):
    fig = pl.alignment.plot(own_run)
    with h5py.File(own_run.path, "r+") as h5:
        h5["alignment/total/cos"][0] += 0.5
    with pytest.raises(FigureDataMismatch, match="alignment/total:cos"):
        check_figure(fig, own_run)


def test_backprop_panels_match_theory(tmp_path):
    # backprop's update is -eta * (batch gradient): its cosine with the batch gradient is
    # 1, with the population gradient exactly the SGD cosine (the same vector up to its
    # scale), and for a small step the measured loss change on the batch equals the
    # first-order prediction up to O(eta^2) terms
    run = pl.alignment.measure("backprop", seed=1, out=tmp_path / "bp.h5", **SMALL)
    fig = pl.alignment.plot(run)
    check_figure(fig, run)
    total = run.alignment["total"]
    np.testing.assert_allclose(total["cos_batch"], 1.0, atol=1e-9)
    np.testing.assert_allclose(total["cos"], total["sgd_cos"], rtol=1e-9, atol=1e-12)
    ax_a, ax_b = fig.axes
    (mean_line,) = [ln for ln in ax_a.lines if ln.get_label() == "moving mean"]
    # a batch of 16 points only partly along the population gradient
    assert np.all(mean_line.get_ydata() < 0.95)
    (ceiling,) = [ln for ln in ax_a.lines if ln.get_label().startswith("SGD ceiling")]
    assert ceiling.get_ydata()[0] == pytest.approx(run.summary["cos_mean"], abs=1e-12)
    pred, act = _scatter_points(ax_b).T
    assert np.all(pred < 0)
    # with d = -eta g the remainder is eta^2 g.Hg / 2, so |act - pred| / |pred| =
    # eta (g.Hg / g.g) / 2: at Backprop's eta = 0.05, 0.1 allows a curvature of 4 along
    # the gradient, well above the O(1) of a tanh student's squared loss at unit scale
    assert np.median(np.abs(act - pred) / np.abs(pred)) < 0.1


def test_zero_norm_updates_are_left_out_of_panel_a(tmp_path):
    # hill climbing rejects some proposals: those updates are zero, their angle undefined
    run = pl.alignment.measure("hill_climbing", seed=0, out=tmp_path / "hc.h5", **SMALL)
    n = run.summary["n_measured"]
    assert 0 < n < SMALL["n_updates"]
    fig = pl.alignment.plot(run)
    check_figure(fig, run)
    assert len(_scatter_points(fig.axes[0])) == n


def test_diverged_run_is_drawn(tmp_path):
    class Explodes:
        def init(self, params):
            return None

        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            return {"W_out": 1e3 * params["W_out"]}, state

    run = pl.alignment.measure(Explodes(), seed=0, out=tmp_path / "boom.h5", **SMALL)
    assert run.status == "diverged"
    fig = pl.alignment.plot(run)
    check_figure(fig, run)
    assert "[diverged]" in fig._suptitle.get_text()


def test_plot_refuses_other_runs(own_run):
    import dataclasses

    from plasticity.errors import InvalidParameterError

    other = dataclasses.replace(own_run, experiment="oja-pca")
    with pytest.raises(InvalidParameterError, match="oja-pca"):
        pl.alignment.plot(other)


def test_cli_plot_and_figure(own_run, tmp_path, cli):
    out = tmp_path / "figs"
    out.mkdir()
    code, stdout, err = cli("plot", own_run.path, "--out", out, "--format", "png,svg")
    assert code == 0, err
    assert (out / "own.png").stat().st_size > 0 and (out / "own.svg").stat().st_size > 0

    code, stdout, err = cli("figure", "alignment-measure", "--from", own_run.path,
                            "--out", out, "--format", "pdf")
    assert code == 0, err
    assert "10 data artists checked" in stdout
    assert (out / "alignment-measure.pdf").stat().st_size > 0


def test_cli_figure_without_a_run_file_refuses(tmp_path, cli):
    code, _, err = cli("figure", "alignment-measure", "--out", tmp_path)
    assert code == 2
    assert "plasticity.alignment.measure" in err and "--from" in err
    assert not list(tmp_path.iterdir())


def test_alignment_measure_is_not_a_listed_experiment(cli):
    code, out, _ = cli("list")
    assert code == 0
    assert "alignment-measure" not in [ln.split()[0] for ln in out.splitlines()]
