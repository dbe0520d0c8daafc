"""Panels of the gradient-field test, shared by the experiments that draw it
(``gradient-field`` and the Hebbian claim, ``claim-hebb``).

Every artist is traced to the run file (:mod:`plasticity.plots.provenance`), so that the
figure check can compare what is drawn with what was recorded.
"""

from __future__ import annotations

import numpy as np

from plasticity.plots.provenance import src, traced

__all__ = ["TINY", "asymmetry_dots", "threshold_line", "descent_panel"]

#: asymmetries are drawn on a log axis, clipped from below at this value
TINY = 1e-16


def _clip(v):
    return np.maximum(v, TINY)


def asymmetry_dots(ax, run, table, index_col, i, colour, jitter):
    """The per-state asymmetries of entry ``i`` of ``series/<table>`` as dots at x = i.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    run : Run
        The run file holding ``series/<table>`` with columns ``asymmetry`` and
        ``index_col``.
    table, index_col : str
    i : int
        The entry (rule or geometry) whose rows are drawn.
    colour : colour
    jitter : numpy.random.Generator
        Spreads the dots sideways (within +-0.15); their heights are the data.
    """
    t = run.series[table]
    vals = _clip(np.asarray(t["asymmetry"])[np.asarray(t[index_col]) == i])
    asym, index = src(f"series/{table}:asymmetry"), src(f"series/{table}:{index_col}")
    dx = jitter.uniform(-0.15, 0.15, vals.size)
    traced(ax.scatter(i + dx, vals, s=7, color=colour, zorder=3),
           x=i + dx, y=asym[index == i].map(_clip, "max_1e-16"))


def threshold_line(ax, tol):
    """The pass threshold ``summary:floor_tol`` (value ``tol``) as a dotted line, on a
    log y axis."""
    traced(ax.axhline(tol, color="0.55", lw=0.7, ls=":", label=f"pass threshold ({tol:.0e})"),
           y=src("summary:floor_tol"))
    ax.set_yscale("log")


def descent_panel(ax, run, names, labels, palette):
    """Bars of ``<name>.descent_frac`` (the flow's steps on which the candidate objective
    fell) with ticks at ``<name>.descent_pointwise_frac`` (the sampled states where
    grad f . F < 0), one per name.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    run : Run
    names : sequence of str
        The summary prefixes, in drawing order.
    labels : sequence of str
        Tick labels, one per name.
    palette : sequence of colours
        Colour ``i`` (cyclic) for name ``i``.
    """
    s = run.summary
    for i, name in enumerate(names):
        colour = palette[i % len(palette)]
        traced(ax.bar(i, float(s[f"{name}.descent_frac"]), width=0.6, color=colour,
                      alpha=0.5), x=i, height=src(f"summary:{name}.descent_frac"))
        traced(ax.plot([i], [float(s[f"{name}.descent_pointwise_frac"])], "k_", ms=8)[0],
               x=[i], y=src(f"summary:{name}.descent_pointwise_frac").map(
                   lambda v: [float(v)], "as_list"))
    ax.set_xticks(range(len(names)), labels, fontsize="xx-small", rotation=90)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction monotone (bar: flow steps,\n"
                  r"tick: sampled states, sign of $\nabla f\cdot F$)")
