"""The spiking experiments from the CLI on the Numba engine: their checks and bad input.

Tolerances: the STDP window and the triplet protocol are deterministic, so the engine must
match the closed forms to floating-point precision (traces decay by repeated
multiplication: relative error ~ steps x 1e-16). song2000 is stochastic: the checks are the
qualitative results of Song et al. 2000 (a U-shaped weight histogram, a falling rate) with
margins measured over seeds 0-9 (final 10-s rate 21.0-27.6 Hz, mean 24.1 Hz; first 10 s
54.9-63.2 Hz; docs/song2000-rates.md).
"""

import math

import h5py
import numpy as np
import pytest

import plasticity as pl


def _run(cli, tmp_path, name, *args, stem=None):
    out = tmp_path / f"{stem or name}.h5"
    code, stdout, err = cli("run", name, "--out", out, *args)
    assert code == 0, err
    return pl.open_run(out), out


def test_song2000_bimodal_weights_and_falling_rate(cli, tmp_path):
    run, path = _run(cli, tmp_path, "song2000")
    s = run.summary
    assert run.status == "complete"
    assert s["u_shaped"]
    counts = np.asarray(s["hist_counts"])
    assert counts[0] > counts[1:-1].max() and counts[-1] > counts[1:-1].max()
    assert s["frac_w_low"] > 0.2 and s["frac_w_high"] > 0.1
    assert 0.3 < s["mean_w_rel"] < 0.55
    assert 45 < s["rate_first_10s"] < 75
    assert s["rate_last_10s"] < 32 and s["rate_last_10s"] < 0.6 * s["rate_first_10s"]
    # SONATA spike layout, snapshots indexed by time
    with h5py.File(path, "r") as h5:
        grp = h5["spikes/neuron"]
        assert grp.attrs["sorting"] == "by_time"
        assert grp["timestamps"].attrs["units"] == "ms"
        t = grp["timestamps"][()]
        assert np.all(np.diff(t) >= 0) and t.max() < 100_000
        assert np.all(grp["node_ids"][()] == 0)
        assert "time" in h5["snapshots/input_neuron"]
    assert run.snapshots["input_neuron"]["value"].shape == (11, 1000)


def test_song2000_same_seed_same_result(cli, tmp_path):
    a, _ = _run(cli, tmp_path, "song2000", "--set", "duration_s=5", "--seed", "3", stem="a")
    b, _ = _run(cli, tmp_path, "song2000", "--set", "duration_s=5", "--seed", "3")
    np.testing.assert_array_equal(a.spikes["neuron"]["timestamps"],
                                  b.spikes["neuron"]["timestamps"])
    np.testing.assert_array_equal(a.snapshots["input_neuron"]["value"],
                                  b.snapshots["input_neuron"]["value"])


def test_stdp_window_to_floating_point_precision(cli, tmp_path):
    run, _ = _run(cli, tmp_path, "stdp-window")
    s = run.summary
    assert s["max_rel_error"] < 1e-12
    assert math.isclose(s["tau_plus_fit"], 20.0, rel_tol=1e-9)
    assert math.isclose(s["tau_minus_fit"], 20.0, rel_tol=1e-9)
    assert math.isclose(s["peak_ltp"], 0.01, rel_tol=1e-12)  # lag 0 counts as LTP
    w = run.series["window"]
    assert w["lag"].size == 101


def test_triplet_frequency_crossover(cli, tmp_path):
    run, _ = _run(cli, tmp_path, "triplet-frequency")
    s = run.summary
    assert s["max_abs_error_vs_closed_form"] < 1e-9
    # Sjostrom et al. 2001: post-pre pairing (-10 ms) depresses at 0.1-20 Hz and
    # potentiates at 40-50 Hz, so the crossover lies between 20 and 40 Hz
    assert s["dw_post_pre_low"] < 0 < s["dw_post_pre_high"]
    assert 20 < s["crossover_hz"] < 40
    t = run.series["frequency"]
    assert np.all(np.diff(t["dw_pre_post"]) > 0)  # pre-post LTP grows with frequency


@pytest.mark.parametrize("name,args,needle", [
    ("song2000", ["--set", "dt_ms=6"], "dt_ms (6.0) must be smaller than every time constant"),
    ("song2000", ["--set", "tau_m_ms=-10"], "'tau_m_ms'"),
    ("song2000", ["--set", "n_inputs=10000000000"], "GiB"),
    ("song2000", ["--set", "backend=neuron"], "'backend'"),
    ("song2000", ["--set", "nest_threads=0"], "'nest_threads'"),
    ("stdp-window", ["--set", "interval_ms=100"], "interval_ms"),
    ("stdp-window", ["--set", "n_pairings=100"], "never reach a bound"),
    ("triplet-frequency", ["--set", "lag_ms=15"], "lag_ms"),
    ("triplet-frequency", ["--set", "dt_ms=20"], "dt_ms"),
])
def test_bad_input_exits_2_before_simulating(cli, tmp_path, name, args, needle):
    out = tmp_path / "bad.h5"
    code, _, err = cli("run", name, "--out", out, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert not out.exists()
