"""Checkpointed runs and ``plasticity run NAME --resume FILE.h5``.

A run stopped by SIGTERM (status ``interrupted``) or SIGKILL (status left ``running``)
and resumed with the same seed must end bit-identical to an uninterrupted run: summary,
series, snapshots, alignment tables and spikes compared with ``np.array_equal``.
"""

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from plasticity.io.checkpoint import CheckpointError, decode, encode
from plasticity.io.runfile import open_run

CASES = {
    "oja-pca": ["n_samples=100000"],
    "feedback-alignment": ["n_updates=3000", "eval_every=100"],
    "song2000": ["duration_s=10", "snapshot_every_s=0.5"],
}


def _sets(settings):
    return [a for s in settings for a in ("--set", s)]


def _cmd(*args):
    return [sys.executable, "-m", "plasticity", "run", *map(str, args)]


def _has_checkpoint(path):
    try:
        with h5py.File(path, "r", locking=False) as h5:
            grp = h5.get("checkpoint")
            return grp is not None and any(grp[s].attrs.get("complete", False) for s in grp)
    except (OSError, KeyError, RuntimeError):
        return False  # the writer is in the middle of creating the file


def _interrupted(name, settings, out, sig):
    """Start a run checkpointing after every update/segment, stop it with ``sig`` as soon
    as its first checkpoint is in the file."""
    proc = subprocess.Popen(_cmd(name, "--quiet", "--checkpoint-every", 0, "--out", out,
                                 *_sets(settings)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not _has_checkpoint(out):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no checkpoint appeared: {proc.communicate()[1][-2000:]}")
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _assert_same(a, b, where):
    if isinstance(a, dict):
        assert set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            _assert_same(a[k], b[k], f"{where}/{k}")
    else:
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where


def _resumed_equals_uninterrupted(cli_proc, tmp_path, name, sig):
    settings = CASES[name]
    ref, cut = tmp_path / "ref.h5", tmp_path / "cut.h5"
    proc = cli_proc("run", name, "--quiet", "--out", ref, *_sets(settings))
    assert proc.returncode == 0, proc.stderr
    code, err = _interrupted(name, settings, cut, sig)
    stopped = open_run(cut)  # read-only, whatever state the stop left it in
    if sig == signal.SIGTERM:
        assert code == 143, err
        assert stopped.status == "interrupted"
    else:
        assert code == -signal.SIGKILL
        assert stopped.status == "running"
    proc = cli_proc("run", name, "--quiet", "--resume", cut)
    assert proc.returncode == 0, proc.stderr
    a, b = open_run(ref), open_run(cut)
    assert b.status == "complete"
    assert b.attrs["resumed_count"] == 1
    assert 1 <= b.attrs["resumed_from_step"]
    for group in ("summary", "series", "snapshots", "alignment", "spikes"):
        _assert_same(getattr(a, group), getattr(b, group), group)
    assert a.config == b.config and a.seed == b.seed
    with h5py.File(cut, "r") as h5:
        assert "checkpoint" not in h5  # a complete run keeps no state
    return a, b


def test_oja_resume_after_sigterm_is_bit_identical(cli_proc, tmp_path):
    a, _ = _resumed_equals_uninterrupted(cli_proc, tmp_path, "oja-pca", signal.SIGTERM)
    assert a.series["training"]["step"].size == 1000


def test_feedback_alignment_resume_after_sigkill_is_bit_identical(cli_proc, tmp_path):
    a, b = _resumed_equals_uninterrupted(cli_proc, tmp_path, "feedback-alignment",
                                         signal.SIGKILL)
    assert a.series["training"]["step"].size == 3001


def test_song2000_resume_after_sigterm_is_bit_identical(cli_proc, tmp_path):
    a, b = _resumed_equals_uninterrupted(cli_proc, tmp_path, "song2000", signal.SIGTERM)
    assert a.spikes["neuron"]["timestamps"].size > 0
    # one weight snapshot at t = 0 and one per 0.5 s segment
    assert a.snapshots["input_neuron"]["time"].size == 21


# ----------------------------------------------------------------- refusals
def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def oja_files(tmp_path_factory):
    """A complete oja-pca run file and a copy marked ``interrupted`` (no checkpoint)."""
    d = tmp_path_factory.mktemp("resume")
    done = d / "done.h5"
    proc = subprocess.run(_cmd("oja-pca", "--quiet", "--seed", 3, "--out", done,
                               "--set", "n_samples=500"), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    stopped = d / "stopped.h5"
    shutil.copy(done, stopped)
    with h5py.File(stopped, "r+") as h5:
        h5.attrs["status"] = "interrupted"
    return done, stopped


def _refused(cli, tmp_path, src, args, words):
    path = tmp_path / src.name
    shutil.copy(src, path)
    before = _digest(path)
    code, _, err = cli("run", *args, "--resume", path)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err
    assert _digest(path) == before  # untouched
    assert not (tmp_path / "data").exists()


def test_resume_of_complete_run_refused(cli, tmp_path, oja_files):
    _refused(cli, tmp_path, oja_files[0], ["oja-pca"], ["already complete"])


def test_resume_without_checkpoint_refused(cli, tmp_path, oja_files):
    _refused(cli, tmp_path, oja_files[1], ["oja-pca"], ["checkpoint"])


def test_resume_with_other_seed_refused(cli, tmp_path, oja_files):
    _refused(cli, tmp_path, oja_files[1], ["oja-pca", "--seed", 4], ["seed", "3"])


def test_resume_with_other_setting_refused(cli, tmp_path, oja_files):
    _refused(cli, tmp_path, oja_files[1], ["oja-pca", "--set", "eta=0.01"],
             ["eta", "differs"])


def test_resume_with_other_preset_refused(cli, tmp_path, oja_files):
    _refused(cli, tmp_path, oja_files[1], ["oja-pca", "--full"], ["preset"])


def test_resume_of_other_experiment_refused(cli, tmp_path, oja_files):
    _refused(cli, tmp_path, oja_files[1], ["feedback-alignment"], ["oja-pca"])


def test_resume_with_out_refused(cli, tmp_path, oja_files):
    _refused(cli, tmp_path, oja_files[1], ["oja-pca", "--out", tmp_path / "x.h5"],
             ["--out"])


def test_resume_of_experiment_without_checkpoints_refused(cli, tmp_path, oja_files):
    # an oja-pca file relabelled as a run of an experiment that cannot resume
    path = tmp_path / "src" / "run.h5"
    path.parent.mkdir()
    shutil.copy(oja_files[1], path)
    with h5py.File(path, "r+") as h5:
        h5.attrs["experiment"] = "hebb-instability"
        h5.attrs["config"] = json.dumps({})
    _refused(cli, tmp_path, path, ["hebb-instability"], ["cannot resume"])


def test_resume_on_brian2_refused(cli, tmp_path, oja_files):
    path = tmp_path / "src" / "run.h5"
    path.parent.mkdir()
    shutil.copy(oja_files[1], path)
    with h5py.File(path, "r+") as h5:
        h5.attrs["experiment"] = "song2000"
        h5.attrs["config"] = json.dumps({"backend": "brian2"})
    _refused(cli, tmp_path, path, ["song2000"], ["brian2"])


def test_resume_of_missing_file_refused(cli, tmp_path):
    code, _, err = cli("run", "oja-pca", "--resume", tmp_path / "none.h5")
    assert code == 2 and "no such file" in err


# ----------------------------------------------------------------- state trees
def test_state_tree_round_trip_is_exact(tmp_path):
    from plasticity.io.checkpoint import read_checkpoint, write_checkpoint

    gen = np.random.default_rng(5)
    gen.normal(size=3)
    mt = np.random.Generator(np.random.MT19937(2))
    tree = {"w": np.arange(6.0).reshape(2, 3) / 7, "n": 3, "x": 0.1 + 0.2, "nan": np.nan,
            "s": "txt", "none": None, "flag": True, "f32": np.float32(1 / 3),
            "i8": np.int8(-4), "t": (1, [np.zeros((0, 2)), {"k": np.bool_(True)}]),
            1: "int key", "rng": gen, "mt": mt, "empty": np.zeros(0),
            "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
    with h5py.File(tmp_path / "c.h5", "w") as h5:
        write_checkpoint(h5, {"step": 1}, {"other": np.ones(4)}, {})
        write_checkpoint(h5, {"step": 2}, tree, {"series/x": 3})
        write_checkpoint(h5, {"step": 3}, tree, {"series/x": 4})  # reuses slot datasets
        info, back, lengths = read_checkpoint(h5)
    assert info["step"] == 3 and lengths == {"series/x": 4}
    assert list(back) == list(tree)
    assert back["fortran"].flags.f_contiguous and np.array_equal(back["fortran"],
                                                                 tree["fortran"])
    assert back["w"].dtype == np.float64 and np.array_equal(back["w"], tree["w"])
    assert back["x"] == tree["x"] and np.isnan(back["nan"])
    assert type(back["f32"]) is np.float32 and back["f32"] == tree["f32"]
    assert type(back["i8"]) is np.int8 and back["i8"] == -4
    assert isinstance(back["t"], tuple) and back["t"][1][0].shape == (0, 2)
    assert back["t"][1][1]["k"] is np.True_ and back[1] == "int key"
    assert np.array_equal(back["rng"].normal(size=4), gen.normal(size=4))
    assert np.array_equal(back["mt"].integers(1 << 30, size=4), mt.integers(1 << 30, size=4))


def test_in_place_arrays_stay_in_the_file_until_read_into(tmp_path):
    """Arrays saved :class:`InPlace` come back unread (:class:`StoredArray`) and are read
    straight into their destination, whatever its memory order; the others are read."""
    from plasticity.io.checkpoint import (
        InPlace,
        StoredArray,
        in_place,
        read_checkpoint,
        write_checkpoint,
    )

    w = np.arange(12.0).reshape(3, 4) / 7
    f = np.asfortranarray(w)
    tree = {"sim": in_place({"w": w, "parts": [np.arange(3), np.zeros(0)], "step": 5}),
            "f": InPlace(f), "plain": w}
    with h5py.File(tmp_path / "c.h5", "w") as h5:
        write_checkpoint(h5, {"step": 1}, tree, {})
        _, back, _ = read_checkpoint(h5)
        assert isinstance(back["sim"]["w"], StoredArray) and back["sim"]["step"] == 5
        assert type(back["plain"]) is np.ndarray and np.array_equal(back["plain"], w)
        dst = np.empty_like(w)
        back["sim"]["w"].read_into(dst)
        assert np.array_equal(dst, w)
        dst_f = np.empty_like(f)
        back["f"].read_into(dst_f)
        assert np.array_equal(dst_f, f) and np.asarray(back["f"]).flags.f_contiguous
        ints, empty = back["sim"]["parts"]
        assert np.array_equal(np.asarray(ints), np.arange(3)) and ints.dtype == np.int64
        empty.read_into(np.zeros(0))
        with pytest.raises(CheckpointError, match=r"shape \(3, 4\) \(float64\) does not fit"):
            back["sim"]["w"].read_into(np.empty((3, 4), np.float32))


def test_resumed_simulator_never_holds_its_weights_twice(tmp_path):
    """A simulator restored from a checkpoint reads its weights from the file into its
    own array: NumPy allocates far less than one copy of them while it is restored
    (tracemalloc's NumPy domain), and the run goes on bit for bit."""
    import tracemalloc

    from plasticity.io.checkpoint import in_place, read_checkpoint, write_checkpoint
    from plasticity.spiking import LIF, Network, PairSTDP, PoissonGroup, Synapses
    from plasticity.spiking.numba import NumbaSimulator

    net = Network(groups={"in": PoissonGroup(n=4000, rate_hz=10.0), "out": LIF(n=50)},
                  synapses=[Synapses(source="in", target="out", w_init=(0.0, 0.01),
                                     w_max=0.01, plasticity=PairSTDP())])
    whole = NumbaSimulator(net, seed=2)
    whole.run(20.0)
    with h5py.File(tmp_path / "c.h5", "w") as h5:
        write_checkpoint(h5, {"step": 1}, {"sim": in_place(whole.get_state(copy=False))}, {})
    rest = whole.run(20.0)
    fresh = NumbaSimulator(net, seed=2)
    weight_bytes = fresh.weights("in_out", copy=False).nbytes  # 4000 x 50 x 8 B
    with h5py.File(tmp_path / "c.h5", "r") as h5:
        tracemalloc.start()
        try:
            _, state, _ = read_checkpoint(h5)
            fresh.set_state(state["sim"])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # an eager read would allocate the whole weight array (1.6 MB) once more
    assert peak < weight_bytes / 4
    again = fresh.run(20.0)
    assert np.array_equal(again.spikes["out"][0], rest.spikes["out"][0])
    assert np.array_equal(fresh.weights("in_out"), whole.weights("in_out"))


def test_unserialisable_state_refused_with_its_path():
    with pytest.raises(CheckpointError, match=r"state\['rule'\]\[0\].*object"):
        encode({"rule": [object()]}, [])


def test_numba_state_restores_into_fresh_simulator():
    from plasticity.spiking import LIF, Network, PairSTDP, PoissonGroup, Synapses
    from plasticity.spiking.numba import NumbaSimulator

    net = Network(groups={"in": PoissonGroup(n=50, rate_hz=30.0), "out": LIF(n=2)},
                  synapses=[Synapses(source="in", target="out", w_init=(0.0, 1.0),
                                     w_max=1.0, plasticity=PairSTDP())])
    whole = NumbaSimulator(net, seed=1)
    whole.run(200.0)
    rest = whole.run(300.0)
    first = NumbaSimulator(net, seed=1)
    first.run(200.0)
    state = first.get_state()
    first.run(50.0)  # the saved state must not follow the simulator afterwards
    fresh = NumbaSimulator(net, seed=1)
    fresh.set_state(state)
    again = fresh.run(300.0)
    assert np.array_equal(again.spikes["out"][0], rest.spikes["out"][0])
    assert np.array_equal(again.spikes["in"][1], rest.spikes["in"][1])
    assert np.array_equal(fresh.weights("in_out"), whole.weights("in_out"))


def test_reopen_cuts_data_written_after_the_checkpoint(tmp_path):
    from plasticity.io.checkpoint import Checkpointer
    from plasticity.io.recorder import Recorder

    path = tmp_path / "run.h5"
    rec = Recorder(path, experiment="x", seed=0, config={}, checkpoint_s=0.0)
    ck = Checkpointer(rec, enabled=True)
    for step in range(3):
        rec.append("t", step, a=float(step))
    rec.spikes("pop", [1.0, 2.0], [0, 1])
    ck.save(0, "train", 3, {"w": np.ones(2)})
    ck.save(0, "train", 4, {"w": np.full(2, 2.0)})  # the newer slot
    rec.append("t", 4, a=4.0)
    rec.append("late", 4, b=1.0)  # a table created after the checkpoint
    rec.spikes("pop", [3.0], [2])
    rec.close("interrupted", "stopped")
    with h5py.File(path, "r+") as h5:  # a kill in the middle of writing the newest slot
        newest = max(h5["checkpoint"].values(), key=lambda g: g.attrs["seq"])
        newest.attrs["complete"] = False
    rec, info, state = Recorder.reopen(path)
    assert info["step"] == 3 and np.array_equal(state["loop"]["w"], np.ones(2))
    rec.replaying = False
    rec.close("complete")
    run = open_run(path)
    assert run.status == "complete" and "message" not in run.attrs
    assert list(run.series) == ["t"] and np.array_equal(run.series["t"]["a"], [0.0, 1.0, 2.0])
    assert np.array_equal(run.spikes["pop"]["timestamps"], [1.0, 2.0])
    assert run.attrs["resumed_from_step"] == 3 and run.attrs["resumed_count"] == 1


def test_alignment_measurements_survive_a_checkpoint():
    from plasticity.analysis.alignment import AlignmentProbe, measured
    from plasticity.engine import Batch

    class Noisy:  # descent plus noise, so that every measured cosine differs
        def init(self, params):
            return None

        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            return {"w": -0.1 * params["w"] + 0.05 * rng.normal(size=3)}, state

    def grad(p, s):
        return {"w": p["w"]}

    def loss(p, s):
        return 0.5 * float(p["w"] @ p["w"])

    def drive(rule, probe, params, rng, steps):
        for step in steps:
            delta, _ = rule.update({}, None, params, rng=rng)
            params = {"w": params["w"] + delta["w"]}
            probe.fn(step, params, None, delta, Batch(x=np.zeros((1, 1))))
        return params

    whole, whole_probe = measured(Noisy(), grad, loss_fn=loss), AlignmentProbe(grad, loss)
    drive(whole, whole_probe, {"w": np.ones(3)}, np.random.default_rng(0), range(1, 9))

    first, first_probe = measured(Noisy(), grad, loss_fn=loss), AlignmentProbe(grad, loss)
    rng = np.random.default_rng(0)
    params = drive(first, first_probe, {"w": np.ones(3)}, rng, range(1, 5))
    arrays = []
    desc = json.loads(json.dumps(encode(
        [first.get_checkpoint_state(), first_probe.get_checkpoint_state(), params, rng],
        arrays)))
    rule_state, probe_state, params, rng = decode(desc, arrays)
    second, second_probe = measured(Noisy(), grad, loss_fn=loss), AlignmentProbe(grad, loss)
    second.set_checkpoint_state(rule_state)
    second_probe.set_checkpoint_state(probe_state)
    drive(second, second_probe, params, rng, range(5, 9))
    assert second.step == 8
    for a, b in ((whole.records, second.records), (whole_probe.records, second_probe.records)):
        assert set(a) == {"w", "total"} and set(a) == set(b)
        for table in a:
            assert a[table].dtype == b[table].dtype and a[table].size == 8
            for col in a[table].dtype.names:
                assert np.array_equal(a[table][col], b[table][col], equal_nan=True), col
