"""The feedback-family experiment on a tiny config: it runs from the CLI, its summary has
every rule's accuracy, alignment and angle keys, Kolen-Pollack and the weight mirror lower
the weight-feedback angle, backprop's numbers obey their identities, the seeds follow the
across-seed contract, the figure draws the run file's data, and bad input is one line with
exit status 2."""

import numpy as np
import pytest
from conftest import assert_seed_contract

import plasticity

RULES = ("backprop", "feedback_alignment", "dfa", "sign_symmetry_uSF", "sign_symmetry_brSF",
         "sign_symmetry_frSF", "kolen_pollack", "weight_mirror", "dtp")
# 3 epochs of 14 updates of a 64-16-16-10 MLP on digits, 14 measured (>= 10: the
# batch-means interval)
TINY = ["--set", "datasets=[digits]", "--set", "hidden=[16,16]", "--set", "epochs=3",
        "--set", "measure_every=3"]
#: The rules of the one-seed run (the contract is checked on them)
ONE_SEED = ("backprop", "kolen_pollack", "dtp")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from plasticity.cli import main

    out = {}
    for seeds in (1, 2):
        path = tmp_path_factory.mktemp("ff") / f"s{seeds}.h5"
        rules = ["--set", f"rules=[{','.join(ONE_SEED)}]"] if seeds == 1 else []
        assert main(["run", "feedback-family", "--quick", "--quiet", *TINY, *rules,
                     "--set", f"seeds={seeds}", "--out", str(path)]) in (0, None)
        out[seeds] = plasticity.open_run(path)
    return out


def test_summary_keys_and_identities(runs):
    run = runs[2]
    assert run.status == "complete"
    s = run.summary
    for rule in RULES:
        p = f"digits.{rule}."
        for key in ("acc_mean", "acc_low", "acc_high", "cos_mean", "cos_ci_low",
                    "cos_ci_high", "seeds_cos_mean", "sgd_ceiling", "train_loss",
                    "W1.cos_mean", "W2.cos_mean", "W_out.cos_mean", "W1.norm_ratio"):
            assert np.isfinite(s[p + key]), (rule, key)
        assert s[p + "n_measured"] == 2 * 14
        assert s[p + "acc_low"] <= s[p + "acc_mean"] <= s[p + "acc_high"]
    # backprop's update is -eta times the minibatch gradient: its same-batch cosine is 1,
    # and its cosine with the population gradient is the SGD ceiling itself
    assert s["digits.backprop.cos_batch_mean"] == pytest.approx(1.0, abs=1e-9)
    assert s["digits.backprop.cos_mean"] == pytest.approx(
        s["digits.backprop.sgd_ceiling"], rel=1e-9)
    # every rule's output layer learns by backprop's formula from the output error:
    # positive alignment there
    for rule in RULES:
        assert s[f"digits.{rule}.W_out.cos_mean"] > 0, rule
    # the feedback matrices: FA-style keys for the weights above the first, DFA's per
    # hidden layer, none for backprop
    assert "digits.backprop.W_out.angle_final_deg" not in s
    assert np.isfinite(s["digits.dfa.hidden1.angle_initial_deg"])
    assert s["mlp_baseline_acc"] == 0.68


def test_weight_mirror_lowers_the_angle(runs):
    s = runs[2].summary
    for w in ("W2", "W_out"):
        # a fresh random matrix in 16 x 16 or 10 x 16 dimensions is 90 +- ~5 degrees from W
        for rule in ("kolen_pollack", "weight_mirror", "feedback_alignment"):
            assert s[f"digits.{rule}.{w}.angle_initial_deg"] == pytest.approx(90, abs=15)
        # B relaxes toward W^T at 0.1 per update: after 42 updates the initial matrix is
        # 0.9^42 = 1.2% of it; the residual is the mirror noise (10 degrees on MNIST-1D)
        assert s[f"digits.weight_mirror.{w}.angle_final_deg"] < 30
    angles = np.asarray(runs[2].series["angles/digits/weight_mirror"]["W_out"])
    assert angles[-1] < angles[0] - 45


@pytest.mark.slow
def test_kolen_pollack_angle_falls_on_the_quick_settings(cli, tmp_path):
    """Kolen-Pollack's angle falls once the learned part of W outgrows the decayed
    initial weights: W - B^T is multiplied by 1 - eta * decay per update, and so are the
    initial parts of W and B^T, so the angle falls at the pace of learning (on the tiny
    config above it barely moves in 40 updates). On the quick preset's settings (240
    updates of the 40-256-256-10 MLP) the output layer's angle fell from 89.5 to 36.5
    degrees, the mirror's from 90 to 33."""
    out = tmp_path / "kp.h5"
    code, _, err = cli("run", "feedback-family", "--quick", "--quiet", "--set",
                       "datasets=[mnist1d]", "--set", "rules=[kolen_pollack,weight_mirror]",
                       "--set", "seeds=1", "--out", out)
    assert code == 0, err
    s = plasticity.open_run(out).summary
    assert s["mnist1d.kolen_pollack.W_out.angle_final_deg"] < 50
    assert s["mnist1d.weight_mirror.W_out.angle_final_deg"] < 45
    angles = plasticity.open_run(out).series["angles/mnist1d/kolen_pollack"]
    assert np.all(np.diff(np.asarray(angles["W_out"])) < 0)  # a monotone fall


def test_seed_contract(runs):
    for rule in ONE_SEED:
        assert_seed_contract(runs[1], runs[2], f"digits.{rule}")
    # accuracy intervals need two seeds
    assert np.isnan(runs[1].summary["digits.backprop.acc_low"])
    assert np.isfinite(runs[2].summary["digits.backprop.acc_low"])


def test_figure_draws_the_run_files_data(runs):
    import matplotlib.pyplot as plt

    from plasticity.plots.provenance import check_figure
    from plasticity.registry import load

    fig = load("feedback-family").plot(runs[2])
    try:
        assert check_figure(fig, runs[2]) >= len(fig.axes)
        assert all(ax.has_data() for ax in fig.axes)
    finally:
        plt.close(fig)


def test_make_task_knows_mnist1d_and_refuses_unknown_names():
    from plasticity.errors import InvalidParameterError
    from plasticity.tasks import MNIST1D, make_task

    assert isinstance(make_task("mnist1d"), MNIST1D)
    with pytest.raises(InvalidParameterError) as err:
        make_task("mnist2d")
    msg = str(err.value)
    assert len(msg.splitlines()) == 1 and "'mnist2d'" in msg and "'mnist1d'" in msg


@pytest.mark.parametrize(("settings", "words"), [
    (["datasets=[mnist2d]"], ["datasets", "mnist2d", "mnist1d"]),
    (["datasets=[digits,mnist2d]"], ["datasets", "mnist2d"]),
    (["datasets=[teacher-student]"], ["datasets", "classification"]),
    (["hidden=[]"], ["hidden"]),
    (["hidden=[16,0]"], ["hidden"]),
    (["eta=0"], ["eta"]),
    (["kp_decay=20"], ["kp_decay"]),
    (["kp_decay=-1"], ["kp_decay"]),
    (["wm_decay=1.5"], ["wm_decay"]),
    (["rules=[backprop,hebb]"], ["rules", "hebb"]),
    (["optimizer=rmsprop"], ["optimizer"]),
])
def test_bad_input_is_one_line(refuses, settings, words):
    refuses("feedback-family", settings, words)
