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
