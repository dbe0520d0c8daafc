"""song2000 on both backends gives statistically the same result.

The two backends share the model, connectivity and initial weights but not the Poisson
inputs (each draws its own), so they are compared as two samples of the same process,
with the issue's tolerances: mean output rate within 15 %, mean relative weight within
0.05, and a two-sample Kolmogorov-Smirnov test on the final weights that does not reject
equality at the 1 % level. The run is shortened to 20 s (Brian2's runtime target needs
about a minute for it here); by then the weights have already moved a long way from their
uniform start (the fraction below 0.1 gmax doubles), so the comparison is of learning, not
of the initial condition.
"""

import numpy as np
import pytest
from scipy import stats

import plasticity as pl

pytest.importorskip("brian2")

ARGS = ["--set", "duration_s=20", "--set", "snapshot_every_s=20", "--seed", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from plasticity.cli import main

    out = {}
    for backend in ("numba", "brian2"):
        path = tmp_path_factory.mktemp(backend) / "song.h5"
        assert main(["run", "song2000", "--out", str(path), "--set", f"backend={backend}",
                     *ARGS]) in (0, None)
        out[backend] = pl.open_run(path)
    return out


def test_both_complete_with_the_backend_recorded(runs):
    for backend, run in runs.items():
        assert run.status == "complete"
        assert run.summary["backend"] == backend
    assert runs["brian2"].summary["brian2_target_used"] in ("cython", "numpy")


def test_rates_agree_within_15_percent(runs):
    rates = {b: r.spikes["neuron"]["timestamps"].size / 20.0 for b, r in runs.items()}
    assert abs(rates["brian2"] - rates["numba"]) <= 0.15 * rates["numba"], rates


def test_weights_agree(runs):
    w = {b: r.snapshots["input_neuron"]["value"][-1] / r.config["gmax_mV"]
         for b, r in runs.items()}
    assert abs(w["brian2"].mean() - w["numba"].mean()) < 0.05
    p = stats.ks_2samp(w["numba"], w["brian2"]).pvalue
    assert p > 0.01, p
    # learning happened on both: many more weights near zero than the uniform 10 %
    for b in w:
        assert np.mean(w[b] < 0.1) > 0.15, b


@pytest.mark.slow
@pytest.mark.parametrize("name,check", [
    # Brian2 evaluates its traces lazily with exp(): agreement to rounding, not bitwise
    ("stdp-window", lambda s: s["max_rel_error"] < 1e-9),
    ("triplet-frequency", lambda s: s["max_abs_error_vs_closed_form"] < 1e-9
     and 20 < s["crossover_hz"] < 40),
])
def test_protocol_experiments_on_brian2(cli, tmp_path, name, check):
    out = tmp_path / "b.h5"
    code, _, err = cli("run", name, "--out", out, "--set", "backend=brian2")
    assert code == 0, err
    run = pl.open_run(out)
    assert run.summary["backend"] == "brian2" and check(run.summary), run.summary


@pytest.mark.slow
def test_song2000_in_cpp_standalone_runs_in_one_segment(cli, tmp_path):
    # C++ standalone can run only once: the experiment must not split the run
    out = tmp_path / "st.h5"
    code, _, err = cli("run", "song2000", "--out", out, "--set", "backend=brian2",
                       "--set", "brian2_target=cpp_standalone", "--set", "duration_s=5")
    assert code == 0, err
    run = pl.open_run(out)
    assert run.summary["brian2_target_used"] == "cpp_standalone"
    assert run.snapshots["input_neuron"]["value"].shape == (2, 1000)
