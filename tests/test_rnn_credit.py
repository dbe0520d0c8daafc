"""The rnn-credit experiment: every online RNN rule on the Add task (issue 17)."""

import json

import numpy as np
import pytest

from plasticity.tasks import AddTask

TINY = ["--set", "n_hidden=4", "--set", "T=10", "--set", "n_updates=10", "--set",
        "record_every=2", "--set", "curve_every=5", "--set", "seeds=2", "--set",
        "n_eval=16", "--set", "expected_draws=3", "--set", "matrix_batches=2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from plasticity.cli import main
    from plasticity.io.runfile import open_run

    path = tmp_path_factory.mktemp("rnn-credit") / "tiny.h5"
    assert main(["run", "rnn-credit", "--quiet", *TINY, "--out", str(path)]) in (0, None)
    return open_run(path)


def test_reference_losses_are_the_tasks(tiny_run):
    refs = AddTask(T=10).reference_losses()
    s = tiny_run.summary
    # the same function of the same lags: copied, not recomputed
    assert s["loss_no_memory"] == refs["no_memory"]
    assert s["loss_t1_learned"] == refs["t1_learned"]
    assert s["loss_both_learned"] == refs["both_learned"]


def test_every_rule_has_its_keys(tiny_run):
    from experiments.rnn_credit import RULES

    s = tiny_run.summary
    for rule in RULES:
        for key in ("cos_mean", "cos_ci_low", "cos_ci_high", "expected_cos", "final_loss",
                    "final_loss_ci_low", "final_loss_ci_high", "n_measured"):
            assert f"{rule}.{key}" in s, (rule, key)
        # two seeds of 10 updates measured every 2nd: 5 per seed, less those whose
        # noise-corrected cosine is undefined (a 16-sequence reference is noisy)
        assert 0 < s[f"{rule}.n_measured"] <= 10
        assert np.isfinite(s[f"{rule}.final_loss"]), rule
    # the recurrent part of the update: defined wherever the rule changes W_rec
    assert np.isfinite(s["bptt.W_rec.cos_mean"]) and np.isfinite(s["uoro.W_rec.cos_mean"])
    assert np.isnan(s["readout_only.W_rec.cos_mean"])
    # exact rules: every update is the negative gradient of its batch
    for rule in ("bptt", "rtrl"):
        assert s[f"{rule}.cos_batch_mean"] == pytest.approx(1.0, abs=1e-9)


def test_pairwise_matrix_is_a_cosine_matrix(tiny_run):
    from experiments.rnn_credit import RULES

    m = tiny_run.series["matrix"]
    cols = ["gradient", *RULES]
    M = np.array([np.asarray(m[c]) for c in cols]).T
    assert M.shape == (len(cols), len(cols))
    finite = np.isfinite(M)
    # readout-only changes no recurrent parameter: its row and column are undefined
    ro = cols.index("readout_only")
    assert not finite[ro].any() and not finite[:, ro].any()
    keep = [i for i in range(len(cols)) if i != ro]
    sub = M[np.ix_(keep, keep)]
    assert np.allclose(sub, sub.T, atol=1e-12)
    assert np.allclose(np.diag(sub), 1.0, atol=1e-12)
    assert np.all(np.abs(sub) <= 1 + 1e-12)
    # BPTT and RTRL compute the same gradient of the same batch
    b, r = cols.index("bptt"), cols.index("rtrl")
    assert M[b, r] == pytest.approx(1.0, abs=1e-9)


def test_per_seed_final_losses_are_recorded(tiny_run):
    table = tiny_run.series["final_loss"]
    s = tiny_run.summary
    for rule in ("bptt", "uoro"):
        assert np.mean(table[rule]) == pytest.approx(s[f"{rule}.final_loss"], rel=1e-12)


@pytest.mark.parametrize("settings, words", [
    (["alpha=1.5"], ["alpha", "1"]),
    (["alpha=0"], ["alpha"]),
    (["T=8"], ["T=8", "t2=8"]),
    (["truncation=0"], ["truncation"]),
    (["rules=[bptt, eprop]"], ["eprop", "unknown"]),
])
def test_bad_input_is_refused(refuses, settings, words):
    refuses("rnn-credit", settings, words)


def test_a_recurrent_rule_on_a_feedforward_problem_is_refused(cli, tmp_path):
    """Task/rule mismatch from the command line: e-prop on the feedforward atlas."""
    out = tmp_path / "bad.h5"
    code, _, err = cli("run", "alignment-atlas", "--set", "rule=eprop", "--out", out)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "eprop" in err and "recurrent" in err and "feedforward" in err
    assert not out.exists()


@pytest.mark.slow
def test_add_task_bptt_learns_both_lags_and_short_truncation_does_not(cli, tmp_path):
    """Acceptance of issue 17: BPTT and RTRL end below the t1-learned reference loss,
    truncated BPTT with k = 2 < t1 = 3 does not (5 seeds, 95% t-intervals over seeds).

    Measured when written (quick preset, 5 seeds): BPTT 0.47-0.50 nats per seed, truncated
    BPTT 0.53-0.63, against the t1-learned reference 0.519.
    """
    out = tmp_path / "add.h5"
    code, _, err = cli("run", "rnn-credit", "--quick", "--quiet", "--set",
                       "rules=[bptt, rtrl, truncated_bptt]", "--set", "seeds=5",
                       "--out", out)
    assert code == 0, err
    s = json.loads(cli("info", out, "--json")[1])["summary"]
    t1 = s["loss_t1_learned"]
    for rule in ("bptt", "rtrl"):
        assert s[f"{rule}.final_loss_ci_high"] < t1, rule
    assert s["truncated_bptt.final_loss_ci_low"] > t1


@pytest.mark.parametrize("task", ["mimic", "flip_flop", "mnist1d"])
def test_other_tasks_run_without_add_references(cli, tmp_path, task):
    out = tmp_path / f"{task}.h5"
    code, _, err = cli("run", "rnn-credit", "--quiet", *TINY, "--set", f"task={task}",
                       "--set", "rules=[bptt, eprop_symmetric]", "--out", out)
    assert code == 0, err
    s = json.loads(cli("info", out, "--json")[1])["summary"]
    # the analytic references belong to the Add task only
    assert s["loss_no_memory"] is None or not np.isfinite(s["loss_no_memory"])
    assert np.isfinite(s["bptt.final_loss"])
