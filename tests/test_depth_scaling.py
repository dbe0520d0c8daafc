"""The depth-scaling experiment on a tiny config: it runs from the CLI, every rule has its
per-depth cosines, accuracies and first-layer slope, backprop's numbers obey their
identities, the figure draws the run file's data, and bad input is one line with exit
status 2."""

import numpy as np
import pytest

import plasticity

RULES = ("backprop", "feedback_alignment", "dfa", "sign_symmetry_uSF", "kolen_pollack",
         "dtp")
# depths 1-3 of width 8 on digits, 3 epochs of 14 updates, 10 measured per run
TINY = ["--set", "dataset=digits", "--set", "depths=[1,2,3]", "--set", "width=8",
        "--set", "epochs=3", "--set", "measure_every=4", "--set", "seeds=2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from plasticity.cli import main

    path = tmp_path_factory.mktemp("depth") / "d.h5"
    assert main(["run", "depth-scaling", "--quick", "--quiet", *TINY, "--out",
                 str(path)]) in (0, None)
    return plasticity.open_run(path)


def test_summary_keys_and_identities(run):
    assert run.status == "complete"
    s = run.summary
    for rule in RULES:
        for d in (1, 2, 3):
            p = f"{rule}.d{d}."
            for key in ("cos_mean", "cos_low", "cos_high", "W1.cos_mean", "W1.cos_low",
                        "W1.cos_high", "acc_mean", "acc_low", "acc_high", "sgd_ceiling"):
                assert np.isfinite(s[p + key]), (rule, d, key)
            assert s[p + "cos_low"] <= s[p + "cos_mean"] <= s[p + "cos_high"]
        for key in ("W1_cos_slope", "W1_cos_slope_se", "W1_cos_slope_vs_bp"):
            assert np.isfinite(s[f"{rule}.{key}"]), (rule, key)
        assert len(run.series[f"depth/{rule}"]["depth"]) == 3
        # one row per layer: depth d has d + 1 weight matrices
        assert len(run.series[f"layers/{rule}/d3"]["layer"]) == 4
    for d in (1, 2, 3):
        # backprop's update is the scaled minibatch gradient: its cosine with the
        # population gradient is the SGD ceiling itself, and positive on average
        assert s[f"backprop.d{d}.cos_mean"] == pytest.approx(s[f"backprop.d{d}.sgd_ceiling"],
                                                            rel=1e-9)
        assert s[f"backprop.d{d}.cos_mean"] > 0
        # with one hidden layer DTP's hidden update is backprop's times target_step = 1
        # (no inverse), from the same weights and batches: the same run
    assert s["dtp.d1.cos_mean"] == pytest.approx(s["backprop.d1.cos_mean"], rel=1e-9)
    assert s["backprop.W1_cos_slope_vs_bp"] == 0.0


def test_figure_draws_the_run_files_data(run):
    import matplotlib.pyplot as plt

    from plasticity.plots.provenance import check_figure
    from plasticity.registry import load

    fig = load("depth-scaling").plot(run)
    try:
        assert check_figure(fig, run) >= len(fig.axes)
        assert all(ax.has_data() for ax in fig.axes)
    finally:
        plt.close(fig)


@pytest.mark.parametrize(("settings", "words"), [
    (["depths=[0,1]"], ["depths"]),
    (["depths=[2]"], ["depths"]),
    (["width=0"], ["width"]),
    (["dataset=mnist2d"], ["dataset", "mnist2d", "mnist1d"]),
    (["dataset=teacher-student"], ["dataset", "classification"]),
    (["kp_decay=20"], ["kp_decay"]),
    (["eta=-0.1"], ["eta"]),
    (["rules=[weight_mirror]"], ["rules", "weight_mirror"]),
])
def test_bad_input_is_one_line(refuses, settings, words):
    refuses("depth-scaling", settings, words)
