"""The run-file contract of shared/DESIGN.md, on files written by the Recorder."""

import json

import h5py
import numpy as np
import pytest

import plasticity
from plasticity.errors import RunFileError
from plasticity.io import STATUSES, Recorder, open_run

ROOT_ATTRS = ("experiment", "status", "seed", "config", "schema_version",
              "plasticity_version", "created", "wall_time_s", "git_commit",
              "python_version", "versions", "host")


def _write(path, n=25, status="complete", seed=7):
    rec = Recorder(path, experiment="toy", seed=seed, config={"eta": 0.1, "n": 3},
                   checkpoint_s=0.0)
    for step in range(1, n + 1):
        rec.append("training", step, units={"loss": "nats"}, loss=1.0 / step,
                   w=np.arange(3.0) * step)
        if step % 10 == 0:
            rec.snapshot("W", step, np.eye(2) * step, units="nS")
    rec.summary(final_loss=1.0 / n, converged=True, n_steps=n)
    rec.close(status)
    return path


def test_root_attributes_and_summary(tmp_path):
    p = _write(tmp_path / "r.h5")
    with h5py.File(p, "r") as f:
        for key in ROOT_ATTRS:
            assert key in f.attrs, key
        assert f.attrs["status"] == "complete"
        assert json.loads(f.attrs["config"]) == {"eta": 0.1, "n": 3}
        assert f.attrs["schema_version"] == 1
        assert f.attrs["plasticity_version"] == plasticity.__version__
        assert "numpy" in json.loads(f.attrs["versions"])
        assert f["summary"].attrs["final_loss"] == pytest.approx(0.04)


def test_series_are_extendable_with_dimension_scales(tmp_path):
    p = _write(tmp_path / "r.h5")
    with h5py.File(p, "r") as f:
        grp = f["series/training"]
        step = grp["step"]
        assert step.is_scale and step.attrs["units"] == "update"
        np.testing.assert_array_equal(step[()], np.arange(1, 26))
        for name in ("loss", "w"):
            ds = grp[name]
            assert ds.maxshape[0] is None and ds.chunks is not None
            assert ds.dims[0][0] == step
        assert grp["loss"].attrs["units"] == "nats"
        assert grp["w"].shape == (25, 3)
        snap = f["snapshots/W"]
        np.testing.assert_array_equal(snap["step"][()], [10, 20])
        assert snap["value"].shape == (2, 2, 2) and snap["value"].attrs["units"] == "nS"


def test_open_run_and_open_runs(tmp_path):
    _write(tmp_path / "a.h5", seed=1)
    _write(tmp_path / "b.h5", seed=2, status="diverged")
    run = plasticity.open_run(tmp_path / "a.h5")
    assert run.experiment == "toy" and run.status == "complete" and run.seed == 1
    assert run.summary["converged"] is True and run.summary["n_steps"] == 25
    np.testing.assert_allclose(run.series["training"]["loss"], 1.0 / np.arange(1, 26))
    assert run.snapshots["W"]["value"].shape == (2, 2, 2)
    df = plasticity.open_runs(tmp_path)
    assert list(df["seed"]) == [1, 2]
    assert list(df["status"]) == ["complete", "diverged"]
    assert "config.eta" in df and "summary.final_loss" in df


def test_xarray_view(tmp_path):
    pytest.importorskip("xarray")
    ds = open_run(_write(tmp_path / "a.h5")).to_xarray("training")
    assert ds["loss"].dims == ("step",) and ds.sizes["step"] == 25


def test_refuses_to_overwrite(tmp_path):
    p = _write(tmp_path / "a.h5")
    before = p.read_bytes()
    with pytest.raises(RunFileError, match="already exists"):
        Recorder(p, experiment="toy", seed=0, config={})
    assert p.read_bytes() == before


def test_unfinished_file_is_readable_and_says_so(tmp_path):
    import subprocess
    import sys

    p = tmp_path / "a.h5"
    rec = Recorder(p, experiment="toy", seed=0, config={}, checkpoint_s=0.0)
    rec.append("training", 1, loss=1.0)
    rec.flush()
    # the writer is still open (as if killed); another process reads a run that says it
    # did not finish (HDF5 refuses a second open of the same file within one process)
    code = (f"import plasticity as pl; r = pl.open_run({str(p)!r}); "
            "print(r.status, r.series['training']['loss'].tolist())")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.stdout.split() == ["running", "[1.0]"], res.stderr
    rec.close("interrupted", "test")
    assert open_run(p).status == "interrupted"
    assert set(STATUSES) == {"running", "complete", "failed", "interrupted", "diverged"}


@pytest.mark.parametrize("content", [b"not hdf5 at all", None])
def test_not_a_run_file(tmp_path, content):
    p = tmp_path / "x.h5"
    if content is None:
        with h5py.File(p, "w") as f:
            f["a"] = 1
        match = "not a plasticity run file"
    else:
        p.write_bytes(content)
        match = "not a readable HDF5 file"
    with pytest.raises(RunFileError, match=match):
        open_run(p)
    with pytest.raises(RunFileError, match="no such file"):
        open_run(tmp_path / "missing.h5")


def test_columns_of_mixed_values_and_later_flushes(tmp_path):
    # Rows are turned into columns in one pass; the columns must be those of one
    # np.asarray per value (dtype promotion included), across several flushes, with a
    # column that starts in a later flush holding the fill value before.
    rec = Recorder(tmp_path / "m.h5", experiment="t", seed=0, config={})
    rows = [dict(a=1, b=True, c=np.float32(0.5), v=np.arange(2.0)),
            dict(a=2.5, b=np.bool_(False), c=np.float32(1.5), v=np.ones(2))]
    for i, row in enumerate(rows):
        rec.append("/mixed", i, **row)
    rec.append("/one", 0, x=1.0)
    rec.flush()
    rec.append("/mixed", 2, a=3, b=True, c=np.float32(2.5), v=np.zeros(2), late=7.0)
    rec.append("/one", 1, x=2.0)
    rec.close("complete")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        g = f["mixed"]
        np.testing.assert_array_equal(g["step"][()], [0, 1, 2])
        assert g["a"].dtype == np.float64 and g["b"].dtype == np.bool_
        assert g["c"].dtype == np.float32 and g["v"].shape == (3, 2)
        np.testing.assert_array_equal(g["a"][()], [1.0, 2.5, 3.0])
        np.testing.assert_array_equal(g["b"][()], [True, False, True])
        np.testing.assert_array_equal(g["v"][()], [[0, 1], [1, 1], [0, 0]])
        np.testing.assert_array_equal(g["late"][()], [0.0, 0.0, 7.0])
        assert g["late"].dims[0][0] == g["step"] and g["a"].maxshape == (None,)
        np.testing.assert_array_equal(f["one/x"][()], [1.0, 2.0])


def test_git_state_in_one_command_is_that_of_two(tmp_path):
    # in a repository of its own (the shared checkout changes under other engineers)
    import shutil
    import subprocess

    from plasticity.io import provenance

    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c",
                        "user.email=t@t", *args], check=True, capture_output=True)

    git("init", "-q")
    assert provenance.git_state(tmp_path) == {"git_commit": "unknown", "git_dirty": None}
    (tmp_path / "f.txt").write_text("a\n")
    git("add", "f.txt")
    git("commit", "-q", "-m", "first")
    clean = provenance.git_state(tmp_path)
    assert clean == provenance._git_state_two_commands(tmp_path)
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] is False
    (tmp_path / "f.txt").write_text("b\n")
    (tmp_path / "untracked.txt").write_text("u\n")  # not counted, as before
    dirty = provenance.git_state(tmp_path)
    assert dirty == provenance._git_state_two_commands(tmp_path)
    assert dirty == {"git_commit": clean["git_commit"], "git_dirty": True}
    assert provenance.package_versions() is not provenance.package_versions()  # copies


def test_git_state_is_written_at_the_first_checkpoint(tmp_path, monkeypatch):
    # git answers in the background; a file read before the first checkpoint says
    # "unknown", one flushed or closed holds the state git gave when the run started
    from plasticity.io import provenance, recorder

    asked = []

    class Query(provenance.GitQuery):
        def __init__(self, path=None):
            super().__init__(path)
            asked.append(self)

    monkeypatch.setattr(recorder, "GitQuery", Query)
    rec = Recorder(tmp_path / "g.h5", experiment="t", seed=0, config={})
    # (HDF5 opens a file once per process: read through the recorder's handle)
    assert rec.h5.attrs["git_commit"] == "unknown" and rec.h5.attrs["git_dirty"] == "unknown"
    rec.flush()
    expected = asked[0].result()
    rec.close("complete")
    with h5py.File(tmp_path / "g.h5", "r") as f:
        assert f.attrs["git_commit"] == expected["git_commit"]
        dirty = expected["git_dirty"]
        assert f.attrs["git_dirty"] == ("unknown" if dirty is None else dirty)
    assert len(asked) == 1
    assert expected == provenance.git_state()
