"""The 100-million-synapse STDP experiment (experiments/big_stdp.py) on small networks:
its summary and streamed data, its memory estimate (refusal and accuracy) and resuming.

The full network itself (1e8 synapses, about 1 GiB) is measured by hand, not here:
``/usr/bin/time -v plasticity run big-stdp --full --threads 2``.
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from conftest import experiment_module

from plasticity.io.runfile import open_run

#: a network small enough to build and run in well under a second once compiled, large
#: enough (600 targets) for the engine's two-block multithreaded path
TINY = ["n_inputs=300", "n_neurons=600", "duration_s=1", "segment_s=0.5"]
SUMMARY_KEYS = {"n_synapses", "gmax_mV", "bytes_per_synapse_arrays",
                "bytes_per_synapse_peak_rss", "sim_s_per_wall_s", "rate_first_window_hz",
                "rate_last_window_hz", "rate_mean_hz", "input_rate_hz", "frac_w_low",
                "frac_w_high", "mean_w_rel", "hist_counts", "threads", "backend"}


def _sets(settings):
    return [a for s in settings for a in ("--set", s)]


@pytest.fixture(scope="module")
def mod():
    return experiment_module("big_stdp")


def test_tiny_run_summary_and_streamed_data(cli, tmp_path):
    out = tmp_path / "tiny.h5"
    code, _, err = cli("run", "big-stdp", "--quiet", "--out", out, *_sets(TINY))
    assert code == 0, err
    run = open_run(out)
    s = run.summary
    assert SUMMARY_KEYS <= set(s)
    n_syn = 300 * 600
    assert s["n_synapses"] == n_syn
    assert s["threads"] >= 1 and s["backend"] == "numba"
    # 300 inputs x 15 Hz x 1 s = 4500 Poisson spikes: the measured rate's standard error
    # is sqrt(4500) / 300 = 0.22 Hz; five of them
    assert abs(s["input_rate_hz"] - 15.0) < 5 * math.sqrt(4500) / 300
    assert s["rate_mean_hz"] > 0
    assert sum(s["hist_counts"]) == n_syn
    assert 0 <= s["frac_w_low"] <= 1 and 0 <= s["frac_w_high"] <= 1
    # initially uniform on [0, gmax]: after 1 s the mean has moved by a few A+ at most
    assert abs(s["mean_w_rel"] - 0.5) < 0.1
    # the weights' arrays are at least the 8 bytes of each weight
    assert s["bytes_per_synapse_arrays"] >= 8
    # streamed: a histogram and a sample at 0 and after each of the two segments
    hist = run.snapshots["w_hist"]
    assert np.allclose(hist["time"], [0.0, 500.0, 1000.0])
    assert (hist["value"].sum(axis=1) == n_syn).all()
    samp = run.snapshots["w_sample"]["value"]
    assert samp.shape[0] == 3 and 0 < samp.shape[1] <= 1000
    assert (samp >= 0).all() and (samp <= s["gmax_mV"]).all()
    assert run.series["rates/neuron"]["rate"].size == 10  # 100 ms bins
    # never the weight matrix: no dataset in the file is as large as the synapses
    sizes = []
    with h5py.File(out, "r") as h5:
        h5.visititems(lambda _, o: sizes.append(o.size) if isinstance(o, h5py.Dataset)
                      else None)
    assert max(sizes) < n_syn / 10


def test_memory_estimate_refuses_a_network_too_big(refuses, monkeypatch):
    monkeypatch.setenv("PLASTICITY_MEMORY_LIMIT", "1.5GiB")
    # 40,000 x 5,000 float64 synapses: 1.49 GiB, more than the network's own bound (80 %
    # of what is available), checked when the config is read
    refuses("big-stdp", ["n_inputs=40000", "n_neurons=5000"],
            ["the synapses need about 1.5 GiB", "1.2 GiB of the memory available"])
    # 10 x 300,000: 24 MB of synapses but 1.6 GiB of the engine's per-neuron buffers,
    # more than 90 % of 1.5 GiB: the experiment's estimate refuses it
    refuses("big-stdp", ["n_inputs=10", "n_neurons=300000"],
            ["big-stdp needs 1.6 GiB for the engine's buffers", "1.5 GiB available"])


def test_memory_estimate_matches_measured_bytes_per_synapse(cli, tmp_path, mod):
    settings = ["n_inputs=2000", "n_neurons=1000", "duration_s=0.2", "segment_s=0.1"]
    out = tmp_path / "moderate.h5"
    code, _, err = cli("run", "big-stdp", "--quiet", "--out", out, *_sets(settings))
    assert code == 0, err
    measured = open_run(out).summary["bytes_per_synapse_arrays"]
    cfg = mod.BigSTDPConfig(**dict(s.split("=") for s in settings))
    est = mod.memory(cfg)
    n_syn = 2000 * 1000
    # the estimate against what the engine allocated: an upper bound, within a factor 2
    # (checkpoints add nothing: written from the engine's arrays, restored into them)
    assert measured <= est.total / n_syn <= 2 * measured


def test_resume_after_interruption_is_bit_identical(cli, tmp_path, monkeypatch):
    from plasticity.cli import main
    from plasticity.io.checkpoint import Checkpointer

    settings = ["n_inputs=300", "n_neurons=600", "duration_s=1", "segment_s=0.25"]
    ref, cut = tmp_path / "ref.h5", tmp_path / "cut.h5"
    code, _, err = cli("run", "big-stdp", "--quiet", "--out", ref, *_sets(settings))
    assert code == 0, err
    save = Checkpointer.save

    def save_then_stop(self, *args, **kwargs):
        save(self, *args, **kwargs)
        raise KeyboardInterrupt  # as Ctrl-C right after the first checkpoint

    monkeypatch.setattr(Checkpointer, "save", save_then_stop)
    code = main(["run", "big-stdp", "--quiet", "--checkpoint-every", "0", "--out", str(cut),
                 *_sets(settings)])
    assert code not in (0, None)
    monkeypatch.setattr(Checkpointer, "save", save)
    assert open_run(cut).status == "interrupted"
    code, _, err = cli("run", "big-stdp", "--quiet", "--resume", cut)
    assert code == 0, err
    a, b = open_run(ref), open_run(cut)
    assert b.status == "complete" and b.attrs["resumed_count"] == 1
    assert 1 <= b.attrs["resumed_from_step"] < 10_000
    for name in ("w_hist", "w_sample", "w_sample_index"):
        for col in ("time", "value"):
            assert np.array_equal(a.snapshots[name][col], b.snapshots[name][col]), name
    for table in ("rates/neuron", "rates/input"):
        for col in ("time", "rate"):
            assert np.array_equal(a.series[table][col], b.series[table][col]), table
    # measured speed and memory differ between sessions; the results do not
    timing = {"sim_s_per_wall_s", "bytes_per_synapse_arrays", "bytes_per_synapse_peak_rss"}
    for key in SUMMARY_KEYS - timing:
        assert np.array_equal(a.summary[key], b.summary[key]), key
