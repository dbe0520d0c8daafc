"""song2000 on both backends gives statistically the same result.

The two backends share the model, connectivity and initial weights but not the Poisson
inputs (each draws its own), so they are compared as two samples of the same process,
with the issue's tolerances: mean output rate within 15 %, mean relative weight within
0.05, and a two-sample Kolmogorov-Smirnov test on the final weights that does not reject
equality at the 1 % level. The run is shortened to 20 s (Brian2's runtime target needs
about a minute for it here); by then the weights have already moved a long way from their
uniform start (the fraction below 0.1 gmax doubles), so the comparison is of learning, not
of the initial condition.

The output rate of one 20-s run varies from seed to seed with a standard deviation of
about 2.7 Hz around 50 Hz (Numba engine, seeds 0-19: 45.6-57.9 Hz; Brian2, seeds 1-5:
48.1-51.7 Hz), so two single runs differ by more than 15 % for about 6 % of seed pairs
(12 of 190 Numba-Numba pairs). The issue's 15 % is therefore checked on means over four
seeds per backend (slow test: the difference then has a standard deviation of about
1.9 Hz, 15 % is 3.9 of them). The fast test compares the one Brian2 run with a
prediction interval from ten Numba seeds (about 1 s each). The weights need no such
care: the KS p-value of same-seed Numba-Brian2 pairs was 0.65-0.94 (seeds 1-5), and of
Numba-Numba pairs never below 0.15 (190 pairs).
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


def _rate(run):
    return run.spikes["neuron"]["timestamps"].size / 20.0


def _numba_rates(tmp_path_factory, seeds):
    from plasticity.cli import main

    rates = []
    for seed in seeds:
        path = tmp_path_factory.mktemp(f"numba{seed}") / "song.h5"
        assert main(["run", "song2000", "--out", str(path), "--quiet", "--set",
                     "backend=numba", *ARGS[:4], "--seed", str(seed)]) in (0, None)
        rates.append(_rate(pl.open_run(path)))
    return np.array(rates)


def test_brian2_rate_within_the_numba_spread(runs, tmp_path_factory):
    """The Brian2 rate is a plausible draw from the Numba runs' distribution: inside the
    two-sided 99.9 % normal prediction interval of ten Numba seeds (t quantile, 9 degrees
    of freedom): +-9.7 Hz around 49.1 Hz at these seeds; Brian2 was 1.1 Hz off."""
    rates = np.append(_numba_rates(tmp_path_factory, (0, 2, 3, 4, 5, 6, 7, 8, 9)),
                      _rate(runs["numba"]))
    k = rates.size
    half = stats.t.ppf(1 - 0.0005, k - 1) * rates.std(ddof=1) * np.sqrt(1 + 1 / k)
    assert abs(_rate(runs["brian2"]) - rates.mean()) <= half, (rates, _rate(runs["brian2"]))


@pytest.mark.slow
def test_mean_rates_agree_within_15_percent(runs, tmp_path_factory):
    """The issue's tolerance, on the mean rate of seeds 1-4 on each backend."""
    from plasticity.cli import main

    brian2 = [_rate(runs["brian2"])]
    for seed in (2, 3, 4):
        path = tmp_path_factory.mktemp(f"brian2-{seed}") / "song.h5"
        assert main(["run", "song2000", "--out", str(path), "--quiet", "--set",
                     "backend=brian2", *ARGS[:4], "--seed", str(seed)]) in (0, None)
        brian2.append(_rate(pl.open_run(path)))
    numba = [_rate(runs["numba"]), *_numba_rates(tmp_path_factory, (2, 3, 4))]
    assert abs(np.mean(brian2) - np.mean(numba)) <= 0.15 * np.mean(numba), (brian2, numba)


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
