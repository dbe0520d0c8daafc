"""The figure regression check: every experiment's figure is drawn from a real run file
and its drawn data are compared with the data in that file (plasticity.plots.provenance).

Runs are made once per session on the quick preset, shrunk with --set overrides where the
quick preset takes more than a few seconds: the check is about what the figure draws,
not about the science, so any complete run of the experiment serves.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from plasticity.plots.provenance import FigureDataMismatch, check_figure, src, traced

# Overrides that keep each run short; every experiment must appear here (checked below).
SETTINGS = {
    "actor-critic": {"env": "gridworld", "n_episodes": 20, "n_random_episodes": 10},
    "alignment-atlas": {"n_updates": 10, "expected_draws": 5},
    "alignment-summary": {"sets": {
        "alignment-atlas": {"n_updates": 10, "expected_draws": 5},
        "spiking-alignment": {"n_updates": 10, "n_trials": 20, "n_loss_trials": 10,
                              "n_boot": 200},
        "bandit-alignment": {"n_updates": 50, "expected_draws": 500, "n_boot": 200},
        "pc-vs-backprop": {"n_updates": 100, "eval_every": 50, "steps_grid": [1, 10, 50],
                           "betas": [1.0, 0.01], "n_cos_batches": 2},
        "temporal-prediction": {"n_samples": 2000, "expected_draws": 2000,
                                "record_every": 20},
        "dendritic-prediction": {"n_reps": 100, "final_reps": 10},
        "rnn-credit": {"n_hidden": 4, "T": 10, "n_updates": 10, "record_every": 2,
                       "curve_every": 5, "seeds": 2, "n_eval": 16, "expected_draws": 3,
                       "matrix_batches": 2},
        "eprop-spiking": {"n_rec": 8, "n_adaptive": 4, "n_inputs": 5, "n_steps": 30,
                          "n_updates": 10, "record_every": 2, "n_trials": 300,
                          "rate_hz": 60}}},
    "bandit-alignment": {"n_updates": 100, "expected_draws": 1000, "n_boot": 200},
    "bcm-selectivity": {"n_samples": 20000},
    "claim-binary": {"seeds": 2, "max_evals": 1000, "n_bits": 3, "n_hidden": 4,
                     "population": 10},
    "claim-crossover": {"n_bits": 12, "block": 3, "budget": 400, "population": 20, "seeds": 2,
                        "curve_points": 8, "pilot_seeds": 2},
    "claim-diffusion": {"population": 32, "n_steps": 12, "seeds": 2, "n_align": 4,
                        "n_grid": 30, "sweep_populations": [8, 32], "sweep_etas": [0.0, 1.0],
                        "sweep_seeds": 2},
    "claim-es": {"ns": [3, 30], "dims": [5, 200], "budget": 200000, "max_draws": 200,
                 "runs": 20, "iterations": 300, "sigmas": [0.01, 1.0]},
    "claim-hebb": {"seeds": 2, "n_states": 2, "flow_steps": 20, "n_samples": 50,
                   "flow_starts": 1},
    "big-stdp": {"n_inputs": 300, "n_neurons": 600, "duration_s": 1.0, "segment_s": 0.5},
    "claim-best-of-lambda": {"dims": [5, 100], "lambdas": [1, 10, 100], "trials": 4, "seeds": 2},
    "claim-lottery": {"widths": [8, 16], "epochs": 1, "batch_size": 200, "rounds": 2,
                      "seeds": 2},
    "claim-momentum": {"dim": 4, "n_seeds": 2, "kappas": [10.0, 100.0], "network": False},
    "claim-sa": {"n_updates": 30, "seeds": 2, "n_eval": 256},
    "claim-td": {"n_seeds": 2, "n_states": 4, "n_features": 2, "gammas": [0.5, 0.9]},
    # the atlas runs every claim experiment, each with its own entry here (figure_run)
    "claims": {},
    "dendritic-prediction": {"n_reps": 100, "final_reps": 10},
    "depth-scaling": {"dataset": "digits", "depths": [1, 2, 3], "width": 8, "epochs": 3,
                      "measure_every": 4, "seeds": 2},
    "eprop-spiking": {"n_rec": 8, "n_adaptive": 4, "n_inputs": 5, "n_steps": 30,
                      "n_updates": 10, "record_every": 2, "n_trials": 300, "rate_hz": 60},
    "eqprop": {"n_updates": 4, "eval_every": 2, "seeds": 2, "gdu_batch": 4,
               "train_max_steps": 30, "hidden": [8]},
    "distal-reward": {"duration_s": 20.0, "record_every_s": 1.0},
    "feedback-alignment": {"n_updates": 200},
    "feedback-family": {"datasets": ["digits"], "hidden": [16, 16], "epochs": 3,
                        "measure_every": 3, "seeds": 2},
    "gha-subspace": {"n_samples": 10000},
    "gradient-field": {"n_states": 2, "pc_states": 2, "pc_inference": 100, "tp_pairs": 50,
                       "n_batch": 64},
    "hebb-instability": {},
    "oja-pca": {"n_samples": 5000},
    "pc-vs-backprop": {"n_updates": 100, "eval_every": 50, "steps_grid": [1, 10, 50],
                       "betas": [1.0, 0.01], "n_cos_batches": 2},
    "perturbation-cosine": {"dims": [10, 100], "k_values": [1, 4], "n_draws": 500},
    "replicator-selection": {},
    "rnn-credit": {"n_hidden": 4, "T": 10, "n_updates": 10, "record_every": 2,
                   "curve_every": 5, "seeds": 2, "n_eval": 16, "expected_draws": 3,
                   "matrix_batches": 2},
    "selection-vs-gradient": {"sizes": [4, 8], "parity_restarts": 3, "n_boot": 200,
                              "smooth_pairs": 200, "parity_updates": 100},
    "song2000": {"duration_s": 5.0, "snapshot_every_s": 5.0},
    "spiking-alignment": {"n_updates": 20, "n_trials": 20, "n_loss_trials": 10,
                          "n_boot": 200},
    "stdp-window": {},
    "td-conditioning": {"n_trials": 150},
    "temporal-prediction": {"n_samples": 2000, "expected_draws": 2000, "record_every": 20},
    "triplet-frequency": {"frequencies_hz": [1.0, 20.0, 50.0], "n_pairings": 20},
    "werfel-scaling": {"n_inputs": 4, "n_outputs": 2, "n_reps": 4, "search_reps": 2},
}


@pytest.fixture(scope="session")
def figure_run(tmp_path_factory):
    """``figure_run(name) -> Path``: a run file of ``name``, made on first use."""
    from plasticity.experiment import execute
    from plasticity.registry import load

    root = tmp_path_factory.mktemp("figure-runs")
    cache = {}

    def get(name):
        if name not in cache:
            exp = load(name)
            overrides = SETTINGS[name]
            if name == "claims":
                from plasticity.registry import claim_experiments

                sources = claim_experiments()
                overrides = {"sets": {n: SETTINGS[n] for n in sources}}
            cfg = exp.build_config(preset="quick", overrides=overrides)
            path, status = execute(exp, cfg, seed=0, out=root / f"{name}.h5",
                                   preset="quick", quiet=True)
            assert status in ("complete", "diverged")
            cache[name] = path
        return cache[name]

    return get


def _draw(name, path):
    from plasticity.io.runfile import open_run
    from plasticity.registry import load

    run = open_run(path)
    return load(name).plot(run), run


def test_every_experiment_is_covered():
    from plasticity.registry import list_experiments

    assert set(list_experiments()) == set(SETTINGS)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_figure_draws_the_run_files_data(name, figure_run):
    import matplotlib.pyplot as plt

    fig, run = _draw(name, figure_run(name))
    try:
        n = check_figure(fig, run)
        # every panel shows data (a figure with nothing traced would pass vacuously)
        assert n >= len(fig.axes)
        for ax in fig.axes:
            assert ax.has_data(), f"{name}: an empty panel"
    finally:
        plt.close(fig)


def _copy(path, tmp_path, name="copy.h5"):
    out = tmp_path / name
    shutil.copy(path, out)
    return out


def test_tampered_series_is_caught(figure_run, tmp_path):
    import matplotlib.pyplot as plt

    path = figure_run("oja-pca")
    fig, _ = _draw("oja-pca", path)
    tampered = _copy(path, tmp_path)
    with h5py.File(tampered, "r+") as h5:
        ds = h5["series/training/cos_to_pc1"]
        values = ds[()]
        values[-1] *= 1.001  # a change far below what the eye sees on the page
        ds[...] = values
    assert check_figure(fig, path) > 0
    with pytest.raises(FigureDataMismatch, match=r"series/training:cos_to_pc1.*1 of"):
        check_figure(fig, tampered)
    plt.close(fig)


def test_tampered_summary_and_snapshot_are_caught(figure_run, tmp_path):
    import matplotlib.pyplot as plt

    path = figure_run("bcm-selectivity")
    fig, _ = _draw("bcm-selectivity", path)
    tampered = _copy(path, tmp_path)
    with h5py.File(tampered, "r+") as h5:
        h5["summary"].attrs["predicted_response"] += 1e-6
    with pytest.raises(FigureDataMismatch, match="summary:predicted_response"):
        check_figure(fig, tampered)
    plt.close(fig)

    path = figure_run("oja-pca")
    fig, _ = _draw("oja-pca", path)
    tampered = _copy(path, tmp_path, "copy2.h5")
    with h5py.File(tampered, "r+") as h5:
        ds = h5["snapshots/pc1/value"]
        ds[...] = -ds[()]
    with pytest.raises(FigureDataMismatch, match="snapshots/pc1:value"):
        check_figure(fig, tampered)
    plt.close(fig)


def test_figure_of_another_run_is_caught(figure_run, tmp_path):
    """A figure checked against a different run (a stale figure) fails."""
    import matplotlib.pyplot as plt

    from plasticity.experiment import execute
    from plasticity.registry import load

    exp = load("oja-pca")
    cfg = exp.build_config(preset="quick", overrides=SETTINGS["oja-pca"])
    other, _ = execute(exp, cfg, seed=1, out=tmp_path / "seed1.h5", quiet=True)
    fig, _ = _draw("oja-pca", figure_run("oja-pca"))
    with pytest.raises(FigureDataMismatch):
        check_figure(fig, other)
    plt.close(fig)


def test_untraced_and_missing_sources_are_caught(figure_run):
    import matplotlib.pyplot as plt

    path = figure_run("oja-pca")
    fig, _ = _draw("oja-pca", path)
    fig.axes[0].plot([0, 1], [0, 1], label="sneaked in")
    with pytest.raises(FigureDataMismatch, match="untraced Line2D 'sneaked in'"):
        check_figure(fig, path)
    plt.close(fig)

    fig, _ = _draw("oja-pca", path)
    traced(fig.axes[0].plot([0, 1], [0, 1])[0], x=[0, 1], y=src("series/training:nope"))
    with pytest.raises(FigureDataMismatch, match="cannot read its sources"):
        check_figure(fig, path)
    plt.close(fig)


def test_check_compares_each_artist_kind():
    """Each kind of artist is compared with its sources, and a wrong value is reported
    (literal sources, so no run file is read)."""
    import matplotlib.pyplot as plt

    from plasticity.plots.style import figure

    x = np.array([1.0, 2.0, 3.0])
    y = np.array([0.5, -0.2, 0.9])
    fig, ax = figure()
    traced(ax.plot(x, y)[0], x=x, y=y)
    traced(ax.scatter(x, y), x=x, y=y)
    traced(ax.errorbar(x, y, yerr=[y - (y - 0.1), 0.2 + 0 * y]), x=x, y=y, ylow=y - 0.1,
           yhigh=y + 0.2)
    traced(ax.bar(x, y, width=0.3), x=x, height=y)
    traced(ax.fill_between(x, y - 1, y + 1), x=x, y1=y - 1, y2=y + 1)
    traced(ax.axhline(0.25), y=0.25)
    traced(ax.axhspan(0.1, 0.3), low=0.1, high=0.3)
    assert check_figure(fig, "unused.h5") == 7
    plt.close(fig)

    cases = [
        lambda ax: traced(ax.plot(x, y)[0], x=x, y=y + 1e-6),
        lambda ax: traced(ax.scatter(x, y), x=x, y=y[::-1]),
        lambda ax: traced(ax.errorbar(x, y, yerr=0.1), x=x, y=y, ylow=y - 0.1,
                          yhigh=y + 0.2),
        lambda ax: traced(ax.bar(x, y), x=x, height=y[:2]),
        lambda ax: traced(ax.fill_between(x, y - 1, y + 1), x=x, y1=y - 1, y2=y + 2),
        lambda ax: traced(ax.axhline(0.25), y=0.3),
        lambda ax: traced(ax.axhspan(0.1, 0.3), low=0.1, high=0.31),
        lambda ax: traced(ax.imshow(np.eye(2)), array=np.ones((2, 2))),
    ]
    for draw in cases:
        fig, ax = figure()
        draw(ax)
        with pytest.raises(FigureDataMismatch):
            check_figure(fig, "unused.h5")
        plt.close(fig)


# ------------------------------------------------------------------ plasticity figure


def test_figure_command_from_run(cli, figure_run, tmp_path):
    path = figure_run("oja-pca")
    code, out, err = cli("figure", "oja-pca", "--from", path, "--out", tmp_path,
                         "--format", "pdf,png,svg")
    assert code == 0, err
    assert "data artists checked" in out
    pdf = (tmp_path / "oja-pca.pdf").read_bytes()
    assert f"run={path}".encode() in pdf and b"seed=0" in pdf
    assert b"/FontFile2" in pdf  # embedded TrueType
    assert b"seed=0" in (tmp_path / "oja-pca.png").read_bytes()
    assert "seed=0" in (tmp_path / "oja-pca.svg").read_text()
    # no silent overwrite; --overwrite replaces
    code, _, err = cli("figure", "oja-pca", "--from", path, "--out", tmp_path)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("figure", "oja-pca", "--from", path, "--out", tmp_path, "--overwrite")
    assert code == 0, err


@pytest.mark.parametrize("args, words", [
    (["figure", "bcm-selectivity", "--from", "RUN"], ["a run of oja-pca", "bcm-selectivity"]),
    (["figure", "oja-pca", "--from", "missing.h5"], ["missing.h5"]),
    (["figure", "oja-pca", "--from", "RUN", "--format", "gif"], ["gif"]),
    (["figure", "oja-pcaa"], ["unknown experiment", "oja-pca"]),
    # a missing --out directory is created (tests/test_cli.py); a file in the way is not
    (["figure", "oja-pca", "--from", "RUN", "--out", "RUN"], ["--out", "is a file"]),
])
def test_figure_command_refuses(cli, figure_run, tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    path = str(figure_run("oja-pca"))
    code, _, err = cli(*[path if a == "RUN" else a for a in args])
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for w in words:
        assert w in err
    assert not (tmp_path / "data" / "figures").exists()


def test_figure_command_runs_the_quick_preset(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("figure", "td-conditioning", "--format", "png", "--seed", "2")
    assert code == 0, err
    runs = list((tmp_path / "data" / "runs" / "td-conditioning").glob("*-seed2.h5"))
    assert len(runs) == 1
    assert (tmp_path / "data" / "figures" / "td-conditioning" / "td-conditioning.png").exists()
    assert runs[0].name in out


def test_figure_command_from_sweep(cli, tmp_path):
    sweep = tmp_path / "sweep"
    code, _, err = cli("sweep", "oja-pca", "--grid", "eta=0.002,0.005", "--set",
                       "n_samples=2000", "--seeds", "0-1", "-j", "1", "--out", sweep,
                       "--quiet")
    assert code == 0, err
    code, out, err = cli("figure", "oja-pca", "--from", sweep, "--out", tmp_path,
                         "--format", "svg")
    assert code == 0, err
    assert "4 of 4 runs" in out
    assert "runs=4 of 4" in (tmp_path / "oja-pca-sweep.svg").read_text()
    code, _, err = cli("figure", "bcm-selectivity", "--from", sweep, "--out", tmp_path)
    assert code == 2 and "a sweep of oja-pca" in err


# ------------------------------------------------------------------ alignment-summary


def test_alignment_summary_collects_every_rule(figure_run):
    """The summary holds each source run's numbers unchanged, read through the metadata
    each source declares, on every substrate, with the baselines flagged."""
    from plasticity.io.runfile import open_run

    summary = open_run(figure_run("alignment-summary")).summary
    labels = summary["rules"].split(",")
    assert summary["n_rules"] == len(labels)
    sources = {open_run(p).experiment: open_run(p) for p in summary["sources"].split(",")}
    assert set(sources) == {"alignment-atlas", "spiking-alignment", "bandit-alignment",
                            "pc-vs-backprop", "temporal-prediction", "dendritic-prediction",
                            "rnn-credit", "eprop-spiking"}
    atlas, spiking = sources["alignment-atlas"].summary, sources["spiking-alignment"].summary
    atlas_rules = {k.rsplit(".", 1)[0] for k in atlas if k.endswith(".cos_mean")}
    assert len(atlas_rules) >= 11
    for rule in atlas_rules:
        for key in ("cos_mean", "cos_ci_low", "cos_ci_high", "expected_cos", "sgd_ceiling"):
            assert summary[f"rate.{rule}.{key}"] == atlas[f"{rule}.{key}"]
        assert summary[f"rate.{rule}.reference"] == "population-estimated"
    for rule in ("stdp", "spike_node_perturbation", "random_direction"):
        assert summary[f"spiking.{rule}.cos_mean"] == spiking[f"{rule}.cos_mean"]
        assert np.isnan(summary[f"spiking.{rule}.expected_cos"])
    baselines = {lb for lb in labels if summary[f"{lb}.baseline"]}
    assert baselines == {"rate.random_direction", "rate.hill_climbing",
                         "spiking.random_direction", "bandit.random_direction",
                         "recurrent.readout_only", "recurrent_spiking.random_direction"}
    # against the population gradient backprop is no longer 1 by construction: it sits at
    # the SGD ceiling (the minibatch gradient's own cosine), which is below 1
    assert summary["rate.backprop.cos_mean"] < 1.0
    pc, tp = sources["pc-vs-backprop"].summary, sources["temporal-prediction"].summary
    dp = sources["dendritic-prediction"].summary
    assert summary["rate.predictive_coding.cos_mean"] == pc["predictive_coding.cos_mean"]
    assert summary["rate.predictive_coding.sgd_ceiling"] == pc["predictive_coding.sgd_ceiling"]
    assert summary["rate.temporal_prediction.cos_ci_low"] == tp["cos_ci_low"]
    assert summary["rate.temporal_prediction.expected_cos"] == tp["expected_cos"]
    assert summary["spiking.dendritic_prediction.cos_mean"] == dp["dendritic_prediction.cos_mean"]
    assert summary["spiking.dendritic_prediction.own_cos_mean"] == \
        dp["dendritic_prediction.own_cos_mean"]
    assert "spike noise" in summary["spiking.dendritic_prediction.loss"]


def test_alignment_summary_from_runs(figure_run, tmp_path, cli):
    """``from_runs`` collects given run files without running anything; a run of an
    experiment without alignment metadata is refused before a run file is written."""
    from plasticity.io.runfile import open_run

    tp = figure_run("temporal-prediction")
    pc = figure_run("pc-vs-backprop")
    dp = figure_run("dendritic-prediction")
    out = tmp_path / "s.h5"
    code, _, err = cli("run", "alignment-summary", "--set", f"from_runs=[{tp},{pc},{dp}]",
                       "--out", out, "--quiet")
    assert code == 0, err
    s = open_run(out).summary
    assert s["rules"] == ("rate.predictive_coding,rate.temporal_prediction,"
                          "spiking.dendritic_prediction")
    assert s["spiking.dendritic_prediction.cos_mean"] == \
        open_run(dp).summary["dendritic_prediction.cos_mean"]
    assert s["rate.temporal_prediction.cos_mean"] == open_run(tp).summary["cos_mean"]
    assert s["rate.predictive_coding.cos_ci_low"] == \
        open_run(pc).summary["predictive_coding.cos_ci_low"]
    assert not (tmp_path / "s-sources").exists()
    bad = tmp_path / "bad.h5"
    code, _, err = cli("run", "alignment-summary", "--set",
                       f"from_runs=[{figure_run('oja-pca')}]", "--out", bad)
    assert code == 2 and "oja-pca" in err and len(err.strip().splitlines()) == 1
    assert not bad.exists()


TINY = '''
"""A one-number experiment for the figure command's tests."""
from pydantic import Field

from plasticity.experiment import Config, Experiment


class TinyConfig(Config):
    mode: str = Field("traced", description="traced, wrong or untraced")


def run(cfg, ctx):
    ctx.summary(x=0.25)


def plot(run):
    from plasticity.plots import figure
    from plasticity.plots.provenance import src, traced

    fig, ax = figure()
    line = ax.axhline(run.summary["x"])
    if run.config["mode"] != "untraced":
        traced(line, y=src("summary:x") if run.config["mode"] == "traced" else 0.5)
    return fig


EXPERIMENT = Experiment(name="tiny", description="one number", config=TinyConfig, run=run,
                        plot=plot, presets={"quick": {}})
'''


@pytest.mark.parametrize("mode, code_expected, words", [
    ("traced", 0, ["1 data artists checked"]),
    ("untraced", 0, ["drawn unchecked"]),
    ("wrong", 2, ["does not show", "{y=0.5}", "1 problem(s)"]),
])
def test_figure_command_checks_before_saving(cli, tmp_path, mode, code_expected, words):
    exp = tmp_path / "tiny.py"
    exp.write_text(TINY)
    run = tmp_path / f"{mode}.h5"
    code, _, err = cli("run", exp, "--set", f"mode={mode}", "--out", run, "--quiet")
    assert code == 0, err
    code, out, err = cli("figure", exp, "--from", run, "--out", tmp_path, "--format", "png")
    assert code == code_expected, err
    for w in words:
        assert w in out + err
    assert (tmp_path / "tiny.png").exists() == (code_expected == 0)
