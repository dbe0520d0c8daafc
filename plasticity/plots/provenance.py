"""Where each datum of a figure came from, and a check that it still says so.

An experiment's ``plot`` marks every data artist it draws with :func:`traced`, naming
the run-file data behind each coordinate as a source expression::

    t = src("series/training:samples")
    traced(ax.plot(...)[0], x=t, y=src("series/training:cos_to_pc1"))
    traced(ax.axhline(...), y=src("summary:predicted_response"))
    traced(ax.bar(...), x=..., height=src("snapshots/pc1:value")[0])

:func:`check_figure` then reads those sources back from the run file on disk (not from
the in-memory :class:`~plasticity.io.runfile.RunFile` the plot used), evaluates the
expressions and compares them with the coordinates the artists hold. It also fails on
any data artist that is not traced, so a curve added without a source cannot slip into a
figure unchecked.

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

__all__ = ["FigureDataMismatch", "Src", "apply", "check_figure", "const", "has_traces",
           "src", "stack", "traced"]

_ATTR = "_plasticity_trace"
_CHILD_ATTR = "_plasticity_traced_by"


class FigureDataMismatch(AssertionError):
    """A figure's drawn data differ from the run file's, or an artist has no source."""


# --------------------------------------------------------------------------- sources


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


# --------------------------------------------------------------------------- tracing

# The keys each kind of artist needs; optional ones in the second tuple.
_KINDS = {
    "line": (("y",), ("x",)),
    "scatter": (("x", "y"), ()),
    "errorbar": (("x", "y"), ("ylow", "yhigh", "xlow", "xhigh")),
    "bar": (("x", "height"), ("bottom", "ylow", "yhigh")),
    "fill_between": (("x", "y1", "y2"), ()),
    "violin": (("values", "position", "width"), ()),
    "image": (("array",), ()),
    "span": (("low", "high"), ()),
}


def traced(artist, **sources):
    """Record where ``artist``'s coordinates come from; return ``artist``.

    Parameters
    ----------
    artist : matplotlib artist or container
        A ``Line2D`` (``x``, ``y``; ``x`` may be omitted only for ``axhline``, ``y``
        for ``axvline`` via the single key ``x``), a scatter ``PathCollection``
        (``x``, ``y``), an ``ErrorbarContainer`` (``x``, ``y``, and ``ylow``/``yhigh``,
        the absolute ends of the bars), a ``BarContainer`` (``x`` the bar centres,
        ``height``, optional ``bottom`` and ``ylow``/``yhigh`` of its error bars; also
        what ``hist`` returns), a ``fill_between`` collection (``x``, ``y1``, ``y2``), one
        violin body (``values``, ``position``, ``width``), an ``AxesImage`` (``array``)
        or an ``axhspan``/``axvspan`` patch (``low``, ``high``).
    **sources : Src, number or array
        Expressions from :func:`src` (run-file data) or literals (constants).
    """
    kind = _kind(artist, sources)
    need, optional = _KINDS[kind]
    if kind == "line" and "y" not in sources and "x" in sources:
        need = ("x",)
    missing = [k for k in need if k not in sources]
    unknown = [k for k in sources if k not in need + optional and not
               (kind == "line" and k in ("x", "y"))]
    if missing or unknown:
        raise ValueError(f"traced({kind}): missing {missing}, unknown {unknown}.")
    trace = {"kind": kind, "sources": {k: v if isinstance(v, Src) else const(v)
                                       for k, v in sources.items()}}
    setattr(artist, _ATTR, trace)
    for child in _children(artist):
        setattr(child, _CHILD_ATTR, artist)
    return artist


def _kind(artist, sources):
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.container import BarContainer, ErrorbarContainer
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if isinstance(artist, Line2D):
        return "line"
    if isinstance(artist, ErrorbarContainer):
        return "errorbar"
    if isinstance(artist, BarContainer):
        return "bar"
    if isinstance(artist, PathCollection):
        return "scatter"
    if isinstance(artist, PolyCollection):
        return "violin" if "values" in sources else "fill_between"
    if isinstance(artist, AxesImage):
        return "image"
    if isinstance(artist, Patch):
        return "span"
    raise TypeError(f"traced: cannot trace a {type(artist).__name__}.")


def _children(artist):
    from matplotlib.container import Container

    if not isinstance(artist, Container):
        return []
    out = []
    for c in artist:
        if c is None:
            continue
        if isinstance(c, (list, tuple)):
            out.extend(x for x in c if x is not None)
        else:
            out.append(c)
    if getattr(artist, "errorbar", None) is not None:  # bar(..., yerr=...)
        out.extend([artist.errorbar, *_children(artist.errorbar)])
    return out


# --------------------------------------------------------------------------- checking


def has_traces(fig):
    """Whether any artist of ``fig`` was marked with :func:`traced` (figures of
    experiments written without tracing are not checked by the CLI)."""
    return any(hasattr(a, _ATTR) for ax in fig.axes
               for a in [*ax.containers, *_data_artists(ax)])


def _data_artists(ax):
    """The artists of ``ax`` that show data (text, legends and spines are not data)."""
    return [*ax.lines, *ax.collections, *ax.patches, *ax.images]


def check_figure(fig, run, *, rtol=1e-9, atol=1e-12):
    """Check every traced artist of ``fig`` against the run file ``run``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    run : RunFile or path
        The run file the figure claims to show; its data are read again from disk.
    rtol, atol : float
        Tolerances of the comparison: drawn data are the stored float64 values, or
        values derived from them by the same arithmetic, so they agree to rounding.

    Returns
    -------
    int
        The number of traced artists checked.

    Raises
    ------
    FigureDataMismatch
        Listing every artist whose data differ from its sources, whose sources cannot be
        read, or that has no source at all.
    """
    path = getattr(run, "path", run)
    reader = _Reader(path)
    problems, checked = [], 0
    for a_i, ax in enumerate(fig.axes):
        where = f"axes {a_i} ({ax.get_title(loc='left') or ax.get_title() or 'untitled'})"
        seen = set()
        # an untraced container (errorbar, bars) is reported once, not per child
        owner = {id(c): cont for cont in ax.containers for c in _children(cont)}
        for artist in [*ax.containers, *_data_artists(ax)]:
            if hasattr(artist, _CHILD_ATTR):
                continue  # checked through its container
            artist = owner.get(id(artist), artist)
            if id(artist) in seen:
                continue
            seen.add(id(artist))
            trace = getattr(artist, _ATTR, None)
            if trace is None:
                problems.append(f"{where}: untraced {_describe(artist)}")
                continue
            checked += 1
            try:
                values = {k: s.evaluate(reader) for k, s in trace["sources"].items()}
            except Exception as exc:  # a missing dataset or key is a finding, not a crash
                problems.append(f"{where}: {trace['kind']} {_sources_text(trace)}: "
                                f"cannot read its sources ({type(exc).__name__}: {exc})")
                continue
            for msg in _CHECKS[trace["kind"]](artist, values, ax, rtol, atol):
                problems.append(f"{where}: {trace['kind']} {_sources_text(trace)}: {msg}")
    if problems:
        raise FigureDataMismatch(f"{len(problems)} problem(s) in the figure of {path}:\n  "
                                 + "\n  ".join(problems))
    return checked


def _describe(artist):
    label = artist.get_label() if hasattr(artist, "get_label") else ""
    return f"{type(artist).__name__}" + (f" {label!r}" if label and
                                          not str(label).startswith("_") else "")


def _sources_text(trace):
    return "{" + ", ".join(f"{k}={s.text}" for k, s in trace["sources"].items()) + "}"


def _compare(name, drawn, expected, rtol, atol):
    drawn = np.ma.filled(np.ma.asarray(drawn, dtype=float), np.nan)
    expected = np.asarray(expected, dtype=float)
    if expected.ndim == 0 and drawn.ndim > 0:
        expected = np.full(drawn.shape, float(expected))
    if drawn.shape != expected.shape:
        return [f"{name}: drawn shape {drawn.shape}, data shape {expected.shape}"]
    if not np.allclose(drawn, expected, rtol=rtol, atol=atol, equal_nan=True):
        bad = ~np.isclose(drawn, expected, rtol=rtol, atol=atol, equal_nan=True)
        i = np.unravel_index(np.argmax(bad), bad.shape)
        return [f"{name}: {int(bad.sum())} of {bad.size} values differ (e.g. at {i}: "
                f"drawn {drawn[i]!r}, data {expected[i]!r})"]
    return []


def _line_axes_coords(line, ax):
    """Which of a line's coordinates are in axes units (axhline: x, axvline: y)."""
    t = line.get_transform()
    if t == ax.get_yaxis_transform(which="grid"):
        return {"x"}
    if t == ax.get_xaxis_transform(which="grid"):
        return {"y"}
    return set()


def _check_line(line, v, ax, rtol, atol):
    out = []
    axes_coords = _line_axes_coords(line, ax)
    for key, drawn in (("x", line.get_xdata()), ("y", line.get_ydata())):
        if key in v:
            out += _compare(key, drawn, v[key], rtol, atol)
        elif key not in axes_coords:
            out.append(f"{key} has no source (only axhline/axvline may omit one)")
    return out


def _check_scatter(coll, v, ax, rtol, atol):
    off = np.asarray(coll.get_offsets())
    n = np.broadcast(np.asarray(v["x"]), np.asarray(v["y"])).shape
    expected = np.column_stack([np.broadcast_to(v["x"], n).ravel(),
                                np.broadcast_to(v["y"], n).ravel()])
    return _compare("offsets", off, expected, rtol, atol)


def _segments_y(coll):
    segs = coll.get_segments()
    return (np.array([s[0][0] for s in segs]), np.array([s[0][1] for s in segs]),
            np.array([s[-1][1] for s in segs]))


def _check_errorbar(cont, v, ax, rtol, atol):
    line, _caps, bars = cont.lines
    x, y = np.atleast_1d(v["x"]), np.atleast_1d(v["y"])
    out = []
    if line is not None:
        out += _compare("x", line.get_xdata(), x, rtol, atol)
        out += _compare("y", line.get_ydata(), y, rtol, atol)
    # matplotlib draws the x error bars first, then the y error bars
    bars = list(bars)
    for axis, at in (("x", y), ("y", x)):
        lo_key, hi_key = f"{axis}low", f"{axis}high"
        if lo_key not in v and hi_key not in v:
            continue
        if not bars:
            return out + [f"no {axis} error bars drawn, but {lo_key}/{hi_key} given"]
        segs = bars.pop(0).get_segments()
        i, j = (0, 1) if axis == "x" else (1, 0)  # i: along the bar, j: its position
        b0 = np.array([sg[0][i] for sg in segs])
        b1 = np.array([sg[-1][i] for sg in segs])
        out += _compare(f"{axis} bar position", [sg[0][j] for sg in segs], at, rtol, atol)
        centre = x if axis == "x" else y
        out += _compare(lo_key, np.minimum(b0, b1), np.atleast_1d(v.get(lo_key, centre)),
                        rtol, atol)
        out += _compare(hi_key, np.maximum(b0, b1), np.atleast_1d(v.get(hi_key, centre)),
                        rtol, atol)
    if bars:
        out.append("error bars drawn without xlow/xhigh or ylow/yhigh sources")
    return out


def _check_bar(cont, v, ax, rtol, atol):
    rects = list(cont.patches)
    centre = np.array([r.get_x() + r.get_width() / 2 for r in rects])
    height = np.array([r.get_height() for r in rects])
    bottom = np.array([r.get_y() for r in rects])
    out = _compare("x", centre, np.atleast_1d(v["x"]), rtol, atol)
    out += _compare("height", height, np.atleast_1d(v["height"]), rtol, atol)
    out += _compare("bottom", bottom, np.atleast_1d(v.get("bottom", 0.0)) + 0 * height,
                    rtol, atol)
    eb = getattr(cont, "errorbar", None)
    if eb is not None:
        if "ylow" not in v or "yhigh" not in v:
            return out + ["error bars drawn without ylow/yhigh sources"]
        _, b0, b1 = _segments_y(eb.lines[2][0])
        out += _compare("ylow", np.minimum(b0, b1), np.atleast_1d(v["ylow"]), rtol, atol)
        out += _compare("yhigh", np.maximum(b0, b1), np.atleast_1d(v["yhigh"]), rtol, atol)
    return out


def _scratch_axes():
    from matplotlib.figure import Figure

    return Figure().add_subplot()


def _compare_paths(drawn, expected, rtol, atol):
    dp, ep = drawn.get_paths(), expected.get_paths()
    if len(dp) != len(ep):
        return [f"{len(dp)} drawn polygons, data give {len(ep)}"]
    out = []
    for i, (a, b) in enumerate(zip(dp, ep, strict=True)):
        out += _compare(f"polygon {i} vertices", a.vertices, b.vertices, rtol, atol)
    return out


def _check_fill(coll, v, ax, rtol, atol):
    ref = _scratch_axes().fill_between(np.asarray(v["x"], float), v["y1"], v["y2"])
    return _compare_paths(coll, ref, rtol, atol)


def _check_violin(coll, v, ax, rtol, atol):
    parts = _scratch_axes().violinplot([np.asarray(v["values"], float)],
                                       positions=[v["position"]], widths=v["width"],
                                       showextrema=False)
    return _compare_paths(coll, parts["bodies"][0], rtol, atol)


def _check_image(im, v, ax, rtol, atol):
    return _compare("array", im.get_array(), v["array"], rtol, atol)


def _check_span(patch, v, ax, rtol, atol):
    ext = patch.get_path().transformed(patch.get_patch_transform()).vertices
    t = patch.get_data_transform()
    # axhspan spans the y data; axvspan the x data
    col = 1 if t == ax.get_yaxis_transform(which="grid") else 0
    return _compare("span", [ext[:, col].min(), ext[:, col].max()],
                    [v["low"], v["high"]], rtol, atol)


_CHECKS = {"line": _check_line, "scatter": _check_scatter, "errorbar": _check_errorbar,
           "bar": _check_bar, "fill_between": _check_fill, "violin": _check_violin,
           "image": _check_image, "span": _check_span}
