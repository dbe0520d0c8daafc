"""Source expressions: lazy references to a run file's data, for figure provenance.

:func:`src` names a datum of the run file; arithmetic, indexing, comparisons and
:func:`apply` build expressions over such data that :mod:`plasticity.plots.figure_check`
evaluates against the file on disk.

Source paths
------------
``series/<table>:<column>``, ``alignment/<table>:<column>``, ``snapshots/<name>:value``
(or ``:step``), ``spikes/<group>:timestamps``, ``summary:<key>``, ``config:<key>``.
Tables may contain ``/`` (``series/rates/neuron:rate``); the column follows the last
``:``. Expressions support indexing (also by boolean masks that are themselves
expressions), arithmetic, comparisons, ``&``, ``|``, ``~`` and :meth:`Src.map` /
:func:`apply` for named derivations (a moving mean, a histogram); plain numbers and
arrays are literal constants (a reference line at 1.0, bar positions).
"""

from __future__ import annotations

import json
import operator
from pathlib import Path

import numpy as np

__all__ = ["Src", "apply", "const", "src", "stack"]


class Src:
    """A lazy expression over a run file's data.

    Parameters
    ----------
    fn : callable
        ``fn(reader) -> value``.
    text : str
        How the expression reads in error messages.
    """

    __hash__ = None  # comparisons build expressions

    def __init__(self, fn, text):
        self._fn, self.text = fn, text

    def evaluate(self, reader):
        """The value of the expression for the run file behind ``reader``."""
        return self._fn(reader)

    def __repr__(self):
        return f"Src({self.text})"

    def __getitem__(self, index):
        def fn(r):
            return np.asarray(self.evaluate(r))[_resolve(index, r)]

        return Src(fn, f"{self.text}[{_index_text(index)}]")

    def map(self, func, name=None):
        """``func(value)``, named ``name`` (default: the function's name)."""
        return apply(func, self, name=name)

    def _binary(self, other, op, sym, reverse=False):
        def fn(r):
            a, b = _value(self, r), _value(other, r)
            return op(b, a) if reverse else op(a, b)

        a, b = self.text, _text(other)
        return Src(fn, f"({b} {sym} {a})" if reverse else f"({a} {sym} {b})")

    def __add__(self, o):
        return self._binary(o, operator.add, "+")

    def __radd__(self, o):
        return self._binary(o, operator.add, "+", True)

    def __sub__(self, o):
        return self._binary(o, operator.sub, "-")

    def __rsub__(self, o):
        return self._binary(o, operator.sub, "-", True)

    def __mul__(self, o):
        return self._binary(o, operator.mul, "*")

    def __rmul__(self, o):
        return self._binary(o, operator.mul, "*", True)

    def __truediv__(self, o):
        return self._binary(o, operator.truediv, "/")

    def __rtruediv__(self, o):
        return self._binary(o, operator.truediv, "/", True)

    def __eq__(self, o):
        return self._binary(o, lambda a, b: np.asarray(a) == b, "==")

    def __ne__(self, o):
        return self._binary(o, lambda a, b: np.asarray(a) != b, "!=")

    def __lt__(self, o):
        return self._binary(o, operator.lt, "<")

    def __le__(self, o):
        return self._binary(o, operator.le, "<=")

    def __gt__(self, o):
        return self._binary(o, operator.gt, ">")

    def __ge__(self, o):
        return self._binary(o, operator.ge, ">=")

    def __and__(self, o):
        return self._binary(o, lambda a, b: np.asarray(a, bool) & np.asarray(b, bool), "&")

    def __or__(self, o):
        return self._binary(o, lambda a, b: np.asarray(a, bool) | np.asarray(b, bool), "|")

    def __neg__(self):
        return apply(operator.neg, self, name="-")

    def __invert__(self):
        return apply(lambda a: ~np.asarray(a, bool), self, name="~")


def src(path, default=None):
    """The run-file data at ``path`` (see the module docstring), as an expression.

    ``default`` is used for a missing ``summary:`` key (plots that draw NaN for a rule
    absent from a run).
    """
    path = str(path)
    if path.startswith(("summary:", "config:")):
        group, _, key = path.partition(":")
    else:
        group, sep, key = path.rpartition(":")
        if not sep or "/" not in group:
            raise ValueError(f"source {path!r}: expected GROUP/NAME:KEY, summary:KEY or "
                             "config:KEY.")

    def fn(r):
        return r.read(group, key, default)

    return Src(fn, path)


def const(value, name=None):
    """A literal value (a reference line, bar positions), checked as drawn."""
    return Src(lambda r: value, name or _text(value))


def apply(func, *args, name=None):
    """``func(*values)`` of expressions (or literals), named ``name``."""
    label = name or getattr(func, "__name__", "f")

    def fn(r):
        return func(*(_value(a, r) for a in args))

    return Src(fn, f"{label}({', '.join(_text(a) for a in args)})")


def stack(items, name="stack"):
    """An array of the values of ``items`` (expressions or literals), in order."""
    items = list(items)
    return apply(lambda *v: np.asarray(v, dtype=float), *items, name=name)


def _value(x, r):
    return x.evaluate(r) if isinstance(x, Src) else x


def _resolve(index, r):
    if isinstance(index, tuple):
        return tuple(_resolve(i, r) for i in index)
    return np.asarray(index.evaluate(r)) if isinstance(index, Src) else index


def _text(x):
    if isinstance(x, Src):
        return x.text
    if isinstance(x, np.ndarray):
        return f"array{x.shape}"
    if isinstance(x, (list, tuple)) and len(x) > 4:
        return f"list[{len(x)}]"
    return repr(x)


def _index_text(index):
    if isinstance(index, tuple):
        return ", ".join(_index_text(i) for i in index)
    if isinstance(index, slice):
        parts = ["" if v is None else str(v) for v in (index.start, index.stop)]
        return ":".join(parts) + (f":{index.step}" if index.step is not None else "")
    return _text(index)


class _Reader:
    """Reads sources straight from the HDF5 run file (cached per path)."""

    def __init__(self, path):
        self.path = Path(path)
        self._cache = {}

    def read(self, group, key, default=None):
        ck = (group, key)
        if ck in self._cache:
            return self._cache[ck]
        import h5py

        with h5py.File(self.path, "r", locking=False) as h5:
            if group == "summary":
                attrs = h5["summary"].attrs if "summary" in h5 else {}
                if key not in attrs:
                    if default is not None:
                        return default
                    raise KeyError(f"summary:{key} is not in {self.path}")
                value = _plain(attrs[key])
            elif group == "config":
                value = json.loads(h5.attrs["config"])[key]
            else:
                ds = h5.get(f"{group}/{key}")
                if ds is None:
                    raise KeyError(f"{group}:{key} is not in {self.path}")
                value = ds[()]
        self._cache[ck] = value
        return value


def _plain(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v
