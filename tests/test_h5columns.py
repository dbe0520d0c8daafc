"""The run file's columns made through h5py's low-level API (plasticity.io.h5columns) are
the datasets h5py's high-level calls make: same datatypes, chunks, maximum shapes, values,
dimension scales and units, read back the same by h5py and by xarray's HDF5 reader."""

import h5py
import numpy as np
import pytest

from plasticity.io.h5columns import ColumnMaker
from plasticity.io.recorder import Recorder

COLUMNS = {
    "f64": np.linspace(0.0, 1.0, 7),
    "f32": np.arange(7, dtype=np.float32) / 3,
    "i64": np.arange(7, dtype=np.int64) - 3,
    "u8": np.arange(7, dtype=np.uint8),
    "flag": np.arange(7) % 2 == 0,
    "vec": np.arange(21.0).reshape(7, 3),
    "empty": np.zeros((0, 2)),
}


def _tables(path, low_level):
    with h5py.File(path, "w") as f:
        grp = f.create_group("t")
        scale = grp.create_dataset("step", data=np.arange(7.0), maxshape=(None,),
                                   chunks=(1024,))
        scale.make_scale("step")
        maker = ColumnMaker(scale)
        for name, data in COLUMNS.items():
            chunks = (16, *data.shape[1:])
            units = f"u-{name}" if name != "f64" else ""
            if low_level:
                maker.filled(grp, name, data, chunks, units)
            else:
                ds = grp.create_dataset(name, data=data, maxshape=(None, *data.shape[1:]),
                                        chunks=chunks)
                ds.dims[0].attach_scale(scale)
                ds.attrs["units"] = units


def test_low_level_columns_are_the_high_level_ones(tmp_path):
    _tables(tmp_path / "low.h5", True)
    _tables(tmp_path / "high.h5", False)
    with h5py.File(tmp_path / "low.h5", "r") as lo, h5py.File(tmp_path / "high.h5", "r") as hi:
        for name in COLUMNS:
            a, b = lo["t"][name], hi["t"][name]
            assert a.dtype == b.dtype and a.shape == b.shape, name
            assert a.chunks == b.chunks and a.maxshape == b.maxshape, name
            # the same HDF5 datatype class (bool is h5py's enum in both)
            assert a.id.get_type().get_class() == b.id.get_type().get_class(), name
            np.testing.assert_array_equal(a[()], b[()])
            assert a.attrs["units"] == b.attrs["units"], name
            assert type(a.attrs["units"]) is type(b.attrs["units"]) is str
            assert a.dims[0].label == b.dims[0].label
            assert [s.name for s in a.dims[0].values()] == ["/t/step"], name
            assert (a.id.get_create_plist().get_obj_track_times()
                    == b.id.get_create_plist().get_obj_track_times())
        assert sorted(lo["t"]["step"].attrs.keys()) == sorted(hi["t"]["step"].attrs.keys())
        # the scale knows its columns in both files
        assert len(lo["t"]["step"].attrs["REFERENCE_LIST"]) == len(COLUMNS)


def test_columns_of_a_recorder_extend_and_open_in_xarray(tmp_path):
    rec = Recorder(tmp_path / "r.h5", experiment="t", seed=0, config={})
    for i in range(3):
        rec.append("/tab", i, units={"x": "mV"}, x=float(i), n=i, ok=bool(i % 2))
    rec.flush()
    rec.append("/tab", 3, x=3.0, n=3, ok=True)
    rec.close("complete")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        g = f["tab"]
        np.testing.assert_array_equal(g["x"][()], [0.0, 1.0, 2.0, 3.0])
        np.testing.assert_array_equal(g["n"][()], [0, 1, 2, 3])
        np.testing.assert_array_equal(g["ok"][()], [False, True, False, True])
        assert g["x"].attrs["units"] == "mV" and g["n"].attrs["units"] == ""
        assert g["x"].maxshape == (None,)
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    ds = xr.open_dataset(tmp_path / "r.h5", group="tab", engine="h5netcdf",
                         phony_dims="access")
    assert list(ds["x"].dims) == ["step"] and ds["x"].attrs["units"] == "mV"
    np.testing.assert_array_equal(ds["step"].values, [0, 1, 2, 3])
