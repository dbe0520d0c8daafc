"""``plasticity plot SWEEP_DIR``: summary metrics against the swept parameter.

The fixture sweeps are written by hand (Recorder run files plus a sweep.json), so every
plotted number is known; the means and the Student-t bands read back from the figure are
checked against numpy and scipy.stats.t computed here.
"""

import itertools
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

from plasticity.errors import InvalidParameterError, RunFileError
from plasticity.io.recorder import Recorder
from plasticity.plots.sweep import plot_sweep, read_sweep, t_interval

# per-seed offsets of the fixture's metrics: a spread that makes the t-band non-trivial
OFFSET = {0: 0.30, 1: -0.10, 2: 0.55}
FAILED_VALUE = 1.0e6


def loss_of(params, seed):
    return 10.0 * params.get("eta", 1.0) + OFFSET.get(seed, 0.0) + params.get("n", 0)


def acc_of(params, seed):
    return 0.5 + 0.1 * OFFSET.get(seed, 0.0)


def write_sweep(root, grid, seeds, *, experiment="toy", extra_runs=(), summary=None,
                units=None):
    """A sweep directory: one complete run per grid point and seed, plus ``extra_runs``
    (``(params, seed, status_in_json, status_in_file or None for no file)``)."""
    summary = summary or (lambda p, s: {"loss": loss_of(p, s), "acc": acc_of(p, s),
                                        "label": "ok", "converged": True})
    (root / "runs").mkdir(parents=True)
    runs = []
    combos = [dict(zip(grid, c, strict=True)) for c in itertools.product(*grid.values())]
    plan = [(p, s, "complete", "complete") for p in combos for s in seeds]
    plan += list(extra_runs)
    for i, (params, seed, status, file_status) in enumerate(plan):
        rel = f"runs/r{i:04d}.h5"
        if file_status is not None:
            rec = Recorder(root / rel, experiment=experiment, seed=seed, config=params)
            values = summary(params, seed)
            if status == "failed":
                values = {k: FAILED_VALUE if isinstance(v, float) else v
                          for k, v in values.items()}
            rec.summary(**values)
            rec.close(file_status)
        runs.append({"id": f"r{i:04d}", "params": params, "seed": seed, "file": rel,
                     "status": status, "error": None, "wall_time_s": 0.1})
    doc = {"schema": 1, "experiment": experiment, "preset": "quick", "sets": {},
           "grid": grid, "seeds": list(seeds), "runs": runs}
    if units is not None:
        doc["units"] = units
    (root / "sweep.json").write_text(json.dumps(doc))
    return root


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def sweep(tmp_path):
    """eta in {0.01, 0.1} x seeds 0-2, plus one failed and one pending run."""
    return write_sweep(tmp_path / "sw", {"eta": [0.01, 0.1]}, [0, 1, 2],
                       extra_runs=[({"eta": 0.1}, 3, "failed", "failed"),
                                   ({"eta": 0.01}, 4, "pending", None)])


def panel(fig, metric):
    (ax,) = [a for a in fig.axes if a.get_ylabel() == metric]
    return ax


def by_gid(ax, gid):
    return [a for a in (*ax.lines, *ax.collections) if a.get_gid() == gid]


def band_limits(coll, xs):
    """Lower and upper edge of a fill_between band at each x."""
    verts = np.concatenate([p.vertices for p in coll.get_paths()])
    lo = [verts[np.isclose(verts[:, 0], x), 1].min() for x in xs]
    hi = [verts[np.isclose(verts[:, 0], x), 1].max() for x in xs]
    return np.array(lo), np.array(hi)


def test_t_interval_matches_scipy():
    x = np.array([1.0, 2.5, 0.7, 1.9])
    mean, lo, hi = t_interval(x)
    ref = stats.t.interval(0.95, df=3, loc=x.mean(), scale=stats.sem(x))
    np.testing.assert_allclose([mean, lo, hi], [x.mean(), *ref], rtol=1e-12)
    # the mean of one value is that value, exactly
    assert np.isnan(t_interval([3.0])[1]) and t_interval([3.0])[0] == 3.0


def test_means_band_and_seed_dots_are_the_data(sweep):
    fig = plot_sweep(sweep)
    etas = [0.01, 0.1]
    for metric, fn in (("loss", loss_of), ("acc", acc_of)):
        ax = panel(fig, metric)
        vals = {e: np.array([fn({"eta": e}, s) for s in (0, 1, 2)]) for e in etas}
        (mean,) = by_gid(ax, "mean")
        np.testing.assert_allclose(mean.get_xdata(), etas)
        np.testing.assert_allclose(mean.get_ydata(), [vals[e].mean() for e in etas],
                                   rtol=1e-12)
        (band,) = by_gid(ax, "ci")
        lo, hi = band_limits(band, etas)
        ref = np.array([stats.t.interval(0.95, df=2, loc=vals[e].mean(),
                                         scale=stats.sem(vals[e])) for e in etas])
        np.testing.assert_allclose(lo, ref[:, 0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(hi, ref[:, 1], rtol=1e-10, atol=1e-12)
        (dots,) = by_gid(ax, "seeds")
        got = sorted(zip(dots.get_xdata(), dots.get_ydata(), strict=True))
        want = sorted((e, v) for e in etas for v in vals[e])
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # only real scalars are metrics: the string and the boolean summaries are not drawn
    assert sorted(a.get_ylabel() for a in fig.axes) == ["acc", "loss"]
    assert all(a.get_xlabel() == "eta" and a.get_xscale() == "linear" for a in fig.axes)


def test_failed_and_missing_runs_are_left_out_and_reported(sweep):
    table = read_sweep(sweep)
    assert table.n_runs == 8 and len(table.rows) == 6
    assert table.left_out == {"failed": 1, "pending": 1}
    fig = plot_sweep(table)
    for ax in fig.axes:
        for line in ax.lines:
            assert FAILED_VALUE not in np.asarray(line.get_ydata())
    title = fig._suptitle.get_text()
    assert "toy: 6 runs, seeds 0-2" in title
    assert "1 failed, 1 pending runs left out" in title


def test_run_file_status_wins_over_stale_sweep_json(tmp_path):
    # sweep.json says complete, but the run file was killed while running
    root = write_sweep(tmp_path / "sw", {"eta": [0.01, 0.1]}, [0, 1],
                       extra_runs=[({"eta": 0.1}, 7, "complete", "interrupted"),
                                   ({"eta": 0.1}, 8, "diverged", "diverged")])
    table = read_sweep(root)
    assert table.left_out == {"interrupted": 1}
    assert sorted(r["seed"] for r in table.rows) == [0, 0, 1, 1, 8]
    title = plot_sweep(table)._suptitle.get_text()
    assert "1 diverged" in title and "1 interrupted run left out" in title


def test_log_axis_only_for_wide_positive_spans(tmp_path):
    wide = plot_sweep(write_sweep(tmp_path / "a", {"eta": [0.001, 0.01, 0.1]}, [0, 1]))
    assert {a.get_xscale() for a in wide.axes} == {"log"}
    narrow = plot_sweep(write_sweep(tmp_path / "b", {"eta": [0.01, 0.2]}, [0, 1]))
    assert {a.get_xscale() for a in narrow.axes} == {"linear"}


def test_categorical_x_gets_one_tick_per_value(tmp_path):
    root = write_sweep(tmp_path / "c", {"rule": ["oja", "hebb", "bcm"]}, [0, 1])
    ax = panel(plot_sweep(root, metrics=["loss"]), "loss")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["oja", "hebb", "bcm"]
    (mean,) = by_gid(ax, "mean")
    np.testing.assert_allclose(mean.get_xdata(), [0, 1, 2])


def test_second_grid_key_becomes_lines(tmp_path):
    root = write_sweep(tmp_path / "d", {"eta": [0.01, 0.1], "n": [2, 4]}, [0, 1, 2])
    fig = plot_sweep(root, metrics=["loss"])
    ax = panel(fig, "loss")
    means = by_gid(ax, "mean")
    assert [m.get_label() for m in means] == ["n=2", "n=4"]
    assert means[0].get_color() != means[1].get_color()
    for m, n in zip(means, (2, 4), strict=True):
        want = [np.mean([loss_of({"eta": e, "n": n}, s) for s in (0, 1, 2)])
                for e in (0.01, 0.1)]
        np.testing.assert_allclose(m.get_ydata(), want, rtol=1e-12)
    assert len(by_gid(ax, "ci")) == 2
    # the other key on x
    swapped = panel(plot_sweep(root, metrics=["loss"], x="n"), "loss")
    assert [m.get_label() for m in by_gid(swapped, "mean")] == ["eta=0.01", "eta=0.1"]
    np.testing.assert_allclose(by_gid(swapped, "mean")[0].get_xdata(), [2, 4])


def test_one_seed_draws_points_only_and_says_so(tmp_path):
    fig = plot_sweep(write_sweep(tmp_path / "e", {"eta": [0.01, 0.1]}, [0]))
    ax = panel(fig, "loss")
    assert by_gid(ax, "ci") == [] and by_gid(ax, "seeds") == []
    (mean,) = by_gid(ax, "mean")
    assert mean.get_linestyle() == "None"
    np.testing.assert_allclose(mean.get_ydata(), [loss_of({"eta": e}, 0) for e in (0.01, 0.1)])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("one seed" in t for t in legend)


def test_default_metrics_capped_at_six(tmp_path):
    def summary(params, seed):
        return {"n_samples": 2000, **{f"m{i}": i + seed + params["eta"] for i in range(9)}}

    root = write_sweep(tmp_path / "f", {"eta": [0.01, 0.1]}, [0, 1], summary=summary)
    fig = plot_sweep(root)
    # the constant n_samples is no metric of the sweep
    assert [a.get_ylabel() for a in fig.axes] == [f"m{i}" for i in range(6)]
    assert "6 of 9 metrics" in fig._suptitle.get_text()
    # unless asked for by name
    assert [a.get_ylabel() for a in plot_sweep(root, metrics=["n_samples"]).axes] \
        == ["n_samples"]


def test_units_from_the_config_field_description(tmp_path):
    # dendritic-prediction declares input_rate with description "input rate (Hz)"; the
    # sweep runner records that unit in sweep.json, and the figure reads it from there
    from plasticity.registry import load
    from plasticity.sweep.runner import config_units

    unit = config_units(load("dendritic-prediction"), "input_rate")
    assert unit == "Hz"
    root = write_sweep(tmp_path / "g", {"input_rate": [5.0, 10.0]}, [0, 1],
                       experiment="dendritic-prediction", units={"input_rate": unit})
    assert panel(plot_sweep(root), "loss").get_xlabel() == "input_rate (Hz)"
    # an index without units (written before units were recorded): a bare label
    bare = write_sweep(tmp_path / "b", {"input_rate": [5.0, 10.0]}, [0, 1],
                       experiment="dendritic-prediction")
    assert panel(plot_sweep(bare), "loss").get_xlabel() == "input_rate"


def test_bad_inputs_raise(tmp_path, sweep):
    with pytest.raises(InvalidParameterError, match="'los'.*did you mean 'loss'"):
        plot_sweep(sweep, metrics=["los"])
    with pytest.raises(InvalidParameterError, match="'label' is not numeric"):
        plot_sweep(sweep, metrics=["label"])
    with pytest.raises(InvalidParameterError, match="not a grid key"):
        plot_sweep(sweep, x="seed")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunFileError, match="without sweep.json"):
        read_sweep(tmp_path / "plain")
    none = write_sweep(tmp_path / "h", {"eta": [0.1]}, [],
                       extra_runs=[({"eta": 0.1}, 0, "failed", "failed")])
    with pytest.raises(InvalidParameterError, match="no complete run"):
        plot_sweep(none)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "sweep.json").write_text("{not json")
    with pytest.raises(RunFileError, match="malformed JSON"):
        read_sweep(tmp_path / "bad")


def _one_line_error(code, err, *needles):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("plasticity: error: ") and "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def test_cli_writes_the_sweep_figure(cli, sweep, tmp_path):
    code, out, err = cli("plot", sweep)
    assert code == 0, err
    for fmt in ("pdf", "svg", "png"):
        assert (sweep / f"sweep.{fmt}").stat().st_size > 0
        assert f"wrote {sweep / f'sweep.{fmt}'}" in out
    assert "6 of 8 runs plotted" in out
    # provenance goes into the file's metadata, as for a single run
    assert "sweep=sw runs=6 of 8 commit=" in (sweep / "sweep.svg").read_text()
    code, _, err = cli("plot", sweep)
    _one_line_error(code, err, "already exists", "--overwrite")
    assert cli("plot", sweep, "--overwrite", "--format", "png")[0] == 0
    out_dir = tmp_path / "figs"
    out_dir.mkdir()
    code, out, err = cli("plot", sweep, "--out", out_dir, "--format", "svg",
                         "--metric", "loss")
    assert code == 0, err
    assert (out_dir / "sweep.svg").exists() and not (out_dir / "sweep.pdf").exists()


def test_cli_bad_inputs_exit_2_with_one_line(cli, sweep, tmp_path):
    (tmp_path / "plain").mkdir()
    _one_line_error(*cli("plot", tmp_path / "plain")[::2], "without sweep.json")
    _one_line_error(*cli("plot", sweep, "--metric", "nope")[::2], "metric 'nope'")
    _one_line_error(*cli("plot", sweep, "--x", "zeta")[::2], "x 'zeta'")
    # a missing --out directory is made (as figure --out does); a file there is refused
    (tmp_path / "a_file").write_text("a user's file")
    _one_line_error(*cli("plot", sweep, "--out", tmp_path / "a_file")[::2], "is a file")
    code, _, err = cli("plot", sweep, "--out", tmp_path / "new" / "dir", "--format", "svg")
    assert code == 0, err
    assert (tmp_path / "new" / "dir" / "sweep.svg").exists()
    none = write_sweep(tmp_path / "h", {"eta": [0.1]}, [],
                       extra_runs=[({"eta": 0.1}, 0, "failed", "failed")])
    _one_line_error(*cli("plot", none)[::2], "no complete run", "1 failed")
    _one_line_error(*cli("plot", sweep / "runs" / "r0000.h5", "--metric", "loss")[::2],
                    "--metric applies to a sweep directory")
    assert not list(tmp_path.rglob("sweep.pdf"))
