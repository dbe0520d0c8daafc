"""Create the extendable columns of a run file's tables quickly.

A run's tables (series, alignment records) are written at checkpoints; the first write of
a table creates one chunked, extendable dataset per column, attaches the table's index
(a dimension scale) to it and labels its units. Through h5py's high-level
``create_dataset``, ``dims[0].attach_scale`` and ``attrs`` that costs about 0.3 ms per
column, most of it in Python (argument checks, property lists rebuilt per call): the 40
columns of an alignment log took 12 ms, a tenth of a 500-update backprop run. The same
HDF5 calls made through h5py's low-level API (``h5d``, ``h5ds``, ``h5a``), with the
link and attribute property lists made once per table write, take about half of that and
produce the same file: the same datatypes, chunks, maximum shapes, dimension-scale
references and string attributes (tests/test_h5columns.py compares them with the
high-level calls).
"""

from __future__ import annotations

import h5py
import numpy as np

__all__ = ["ColumnMaker"]

# numeric kinds whose HDF5 type h5py makes with h5t.py_create (bool: h5py's enum)
_NUMERIC = "biuf"


class ColumnMaker:
    """Creates the new columns of one table write (one set of property lists).

    Parameters
    ----------
    scale : h5py.Dataset
        The table's index, already a dimension scale; every new column gets it as the
        scale of its first dimension.
    """

    def __init__(self, scale: h5py.Dataset):
        self.scale = scale
        self._lcpl = h5py.h5p.create(h5py.h5p.LINK_CREATE)
        # link names in UTF-8, as h5py's high-level API writes them
        self._lcpl.set_char_encoding(h5py.h5t.CSET_UTF8)
        self._str_type = h5py.h5t.py_create(h5py.string_dtype(), logical=True)
        self._scalar = h5py.h5s.create(h5py.h5s.SCALAR)

    def filled(self, group: h5py.Group, name: str, data: np.ndarray, chunks: tuple,
               units: str) -> h5py.Dataset:
        """``group.create_dataset(name, data=data, maxshape=(None, *data.shape[1:]),
        chunks=chunks)``, its first dimension's scale attached and ``attrs["units"]``
        set.

        Parameters
        ----------
        group : h5py.Group
            Where the column goes (the scale's group).
        name : str
            The column's name (no ``/``).
        data : ndarray, shape (n_rows, ...)
            Its first rows.
        chunks : tuple of int
            Chunk shape, ``(rows, *data.shape[1:])``.
        units : str
            The column's units (may be empty).
        """
        data = np.ascontiguousarray(data)
        if data.dtype.kind not in _NUMERIC or "/" in name or data.ndim == 0:
            ds = group.create_dataset(name, data=data, maxshape=(None, *data.shape[1:]),
                                      chunks=chunks)
            ds.dims[0].attach_scale(self.scale)
            ds.attrs["units"] = units
            return ds
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk(tuple(chunks))
        dcpl.set_obj_track_times(False)  # h5py's default: no timestamps in the file
        space = h5py.h5s.create_simple(data.shape, (h5py.h5s.UNLIMITED, *data.shape[1:]))
        dsid = h5py.h5d.create(group.id, name.encode(), h5py.h5t.py_create(data.dtype,
                                                                           logical=True),
                               space, dcpl=dcpl, lcpl=self._lcpl)
        if data.size:
            dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
        h5py.h5ds.attach_scale(dsid, self.scale.id, 0)
        attr = h5py.h5a.create(dsid, b"units", self._str_type, self._scalar)
        attr.write(np.array(units, dtype=h5py.string_dtype()))
        return h5py.Dataset(dsid)
