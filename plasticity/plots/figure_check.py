"""Checking a figure against its run file: every traced artist's drawn data must equal its
sources read back from disk, and every data artist must be traced.
"""

from __future__ import annotations

import numpy as np

from plasticity.plots.sources import _Reader
from plasticity.plots.tracing import _ATTR, _CHILD_ATTR, _children, _data_artists

__all__ = ["FigureDataMismatch", "check_figure"]


class FigureDataMismatch(AssertionError):
    """A figure's drawn data differ from the run file's, or an artist has no source."""


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
