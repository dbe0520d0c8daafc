"""Issue 18's acceptance: backprop on MNIST-1D with the package's MLP recipe reaches the
published MLP baseline (68% test accuracy, mnist1d's README) within the interval over
seeds.

The recipe is the package's own (its ``notebooks/train.py``): Adam at learning rate 0.01,
batches of 100, 200 epochs of the 4,000 training samples, hidden width 256. With plain
SGD the same network levels off near 65-66% (the feedback-family full preset), which is
why the comparison with the published number uses the published recipe.

Measured when written: 69.3% [66.8, 71.9] over 5 seeds (about 2 minutes).
"""

import json

import pytest


@pytest.mark.slow
def test_backprop_reaches_the_published_mlp_baseline(cli, tmp_path):
    out = tmp_path / "baseline.h5"
    code, _, err = cli("run", "feedback-family", "--quiet", "--set", "rules=[backprop]",
                       "--set", "optimizer=adam", "--set", "eta=0.01", "--set", "epochs=200",
                       "--set", "seeds=5", "--set", "datasets=[mnist1d]", "--set",
                       "measure_every=400", "--set", "eval_every=10", "--out", out)
    assert code == 0, err
    s = json.loads(cli("info", out, "--json")[1])["summary"]
    assert s["mnist1d.backprop.acc_n"] == 5
    baseline = s["mlp_baseline_acc"]
    # reaching the baseline: the published number is not above the interval over seeds
    assert s["mnist1d.backprop.acc_high"] >= baseline
    # and the run is a faithful MLP, not a different model: not far beyond it either
    # (the package's CNN reaches 94%)
    assert s["mnist1d.backprop.acc_low"] <= baseline + 0.1
