"""Marking a figure's data artists with the run-file sources of their coordinates.

:func:`traced` attaches source expressions (:mod:`plasticity.plots.sources`) to a
matplotlib artist; :func:`has_traces` tells whether a figure carries any.
"""

from __future__ import annotations

from plasticity.plots.sources import Src, const

__all__ = ["has_traces", "traced"]

_ATTR = "_plasticity_trace"
_CHILD_ATTR = "_plasticity_traced_by"

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


def has_traces(fig):
    """Whether any artist of ``fig`` was marked with :func:`traced` (figures of
    experiments written without tracing are not checked by the CLI)."""
    return any(hasattr(a, _ATTR) for ax in fig.axes
               for a in [*ax.containers, *_data_artists(ax)])


def _data_artists(ax):
    """The artists of ``ax`` that show data (text, legends and spines are not data)."""
    return [*ax.lines, *ax.collections, *ax.patches, *ax.images]
