"""A spiking backend's refusal known from the config alone is bad input (issue 20): one
line on stderr, exit status 2, no traceback, and no run file, because the experiment's
``check`` hook (:func:`plasticity.spiking.backends.check_config`) runs the backend's
static check before :func:`plasticity.experiment.execute` creates the file.

Before the hook, ``run triplet-frequency --set backend=nest`` printed the same line but
left a run file marked ``failed`` (NEST refused only when the simulator was built inside
the run); the no-file assertions below are what fails without it. A missing NEST or
Brian2 is simulated with ``sys.modules[name] = None``, which makes both the check's
lookup and a real import fail, whether the package is installed or not.
"""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest

from plasticity.errors import InvalidParameterError
from plasticity.registry import load
from plasticity.spiking import LIF, Izhikevich, Network, PoissonGroup, Synapses, TwoCompartment
from plasticity.spiking.backends import check_backend


def _refused(cli, tmp_path, experiment, sets, *words):
    """Run ``experiment`` with ``--set`` items ``sets`` into ``tmp_path``; assert exit 2,
    exactly one line on stderr holding every word, no traceback, and nothing written."""
    out = tmp_path / "run.h5"
    args = ["run", experiment, "--quiet", "--out", out]
    for s in sets:
        args += ["--set", s]
    code, stdout, err = cli(*args)
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("plasticity: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]
    assert not out.exists()
    # nor a temporary or partial file beside it
    assert list(tmp_path.iterdir()) == []
    assert "wrote" not in stdout


def test_triplet_on_nest_refused_without_run_file(cli, tmp_path):
    _refused(cli, tmp_path, "triplet-frequency", ["backend=nest"],
             "projection 'pairs'", "triplet STDP is not mapped onto NEST")


def test_brian2_memory_refused_without_run_file(cli, tmp_path, monkeypatch):
    # 10^6 plastic synapses: 8 MB on the Numba engine (its estimate, 24 MB with the
    # initial draw and a snapshot, fits in 90 % of 100 MiB), 92 MiB as Brian2 stores them
    # (80 B per synapse and 16 B per neuron), above 80 % of 100 MiB (80 MiB)
    monkeypatch.setenv("PLASTICITY_MEMORY_LIMIT", "100MiB")
    _refused(cli, tmp_path, "song2000", ["backend=brian2", "n_inputs=1000000"],
             "the brian2 backend needs about 92 MiB", "80 MiB")


def test_same_config_on_numba_passes_the_check(monkeypatch):
    # the refusal above is Brian2's own, not the general memory check
    from plasticity.io.memory import check_memory

    monkeypatch.setenv("PLASTICITY_MEMORY_LIMIT", "100MiB")
    exp = load("song2000")
    cfg = exp.build_config(overrides={"n_inputs": 1_000_000})
    check_memory(exp.memory(cfg), exp.name)
    assert exp.check(cfg) is None


def test_missing_nest_refused_without_run_file(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nest", None)
    _refused(cli, tmp_path, "song2000", ["backend=nest"], "needs NEST",
             "pip install nest-simulator")


def test_missing_brian2_refused_without_run_file(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "brian2", None)
    _refused(cli, tmp_path, "stdp-window", ["backend=brian2"], "needs brian2")


def test_spiking_alignment_on_nest_refused(cli, tmp_path):
    # its escape-noise trials have no NEST model; without the check the run fell back to
    # the Numba kernel and still recorded backend=nest
    _refused(cli, tmp_path, "spiking-alignment", ["backend=nest"], "no NEST model")


def test_resume_checks_before_reopening(tmp_path):
    # the check comes before --resume opens its file: a file that does not exist is not
    # reported, the backend's refusal is
    from plasticity.experiment import execute

    exp = load("triplet-frequency")
    cfg = exp.build_config(overrides={"backend": "nest"})
    with pytest.raises(InvalidParameterError, match="triplet STDP"):
        execute(exp, cfg, resume=tmp_path / "missing.h5", quiet=True)


def _lif_net(group):
    return Network(groups={"in": PoissonGroup(n=3), "n": group},
                   synapses=[Synapses(source="in", target="n")])


@pytest.mark.parametrize(("backend", "group"), [("nest", Izhikevich(n=1)),
                                                ("brian2", TwoCompartment(n=1))])
def test_group_refusal_is_the_constructors(backend, group):
    # the simulator refuses a group kind in its base constructor, before importing its
    # simulator library, so both refusals can be compared here
    from plasticity.spiking.backends import backend_class

    net = Network(groups={"n": group})
    with pytest.raises(InvalidParameterError) as static:
        check_backend(net, backend)
    with pytest.raises(InvalidParameterError) as built:
        backend_class(backend)(net)
    assert str(static.value) == str(built.value)
    assert str(static.value).startswith("group 'n': ")


def test_unknown_option_refused():
    with pytest.raises(InvalidParameterError, match="the nest backend has no option target"):
        check_backend(_lif_net(LIF()), "nest", target="numpy")
    with pytest.raises(InvalidParameterError, match="threads must be an int >= 1"):
        check_backend(_lif_net(LIF()), "nest", threads=0)


def test_supported_configs_pass_without_allocating(monkeypatch):
    pytest.importorskip("nest")
    monkeypatch.setenv("PLASTICITY_MEMORY_LIMIT", "unlimited")
    song = load("song2000")
    assert song.check(song.build_config(preset="quick", overrides={"backend": "nest"})) \
        is None
    # big-stdp full: 20,000 x 5,000 synapses, 800 MB of float64 weights on any backend;
    # the check reads the description only, so it allocates a tiny fraction of that
    big = load("big-stdp")
    for backend in ("nest", "brian2"):
        cfg = big.build_config(preset="full", overrides={"backend": backend})
        assert cfg.n_synapses == 10**8
        tracemalloc.start()
        try:
            assert big.check(cfg) is None
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * 10**6, peak  # < 1 % of the weights


# NEST's tic is 0.001 ms: steps off that grid are refused by NEST's kernel, and now by
# the preflight before anything is imported or written
TIC_CASES = [0.1, 0.05, 0.001, 0.3, 0.1 + 0.2, 2.0, 0.25, 1e5, 1e7 + 0.001,
             0.0005, 0.0009999999, 0.0015, 0.1234, 1 / 3, 0.1 + 1e-13, 0.1 + 1e-9,
             0.1 - 1e-9, 0.001 + 1e-10]


def test_resolution_check_agrees_with_nest():
    """:func:`check_resolution` accepts exactly the steps NEST's kernel accepts: the
    listed edge cases (one tic, below it, rounding residues of 1e-13 to 1e-9) and 200
    random steps, half of them on the grid of tics."""
    pytest.importorskip("nest")
    from plasticity.spiking.nest.kernel import import_nest
    from plasticity.spiking.nest.mapping import check_resolution

    nest = import_nest()
    rng = np.random.default_rng(0)
    on_grid = rng.integers(1, 100_000, 100) * 0.001
    off_grid = rng.uniform(0.0, 100.0, 100)
    disagree = []
    for dt in [*TIC_CASES, *on_grid, *off_grid]:
        try:
            check_resolution(float(dt))
            ours = True
        except InvalidParameterError:
            ours = False
        nest.ResetKernel()
        try:
            nest.set(resolution=float(dt))
            theirs = True
        except Exception:  # NEST's KernelException
            theirs = False
        if ours != theirs:
            disagree.append((dt, ours, theirs))
    nest.ResetKernel()
    assert disagree == []


def test_resolution_check_without_nest():
    from plasticity.spiking.nest.mapping import check_resolution

    for dt in (0.1, 0.001, 0.1 + 0.2, 2.0):
        check_resolution(dt)
    with pytest.raises(InvalidParameterError, match="shorter than NEST's tic"):
        check_resolution(0.0005)
    for dt in (0.1234, 1 / 3, 0.1 + 1e-9):
        with pytest.raises(InvalidParameterError, match="not a multiple of NEST's tic"):
            check_resolution(dt)


def test_step_off_nests_tic_grid_refused_without_run_file(cli, tmp_path):
    _refused(cli, tmp_path, "song2000", ["backend=nest", "dt_ms=0.1234"],
             "dt_ms (0.1234)", "not a multiple of NEST's tic")
