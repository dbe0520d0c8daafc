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

The pieces: :mod:`plasticity.plots.sources` (the expressions and their paths),
:mod:`plasticity.plots.tracing` (:func:`traced`, :func:`has_traces`) and
:mod:`plasticity.plots.figure_check` (:func:`check_figure`); this module gathers them
under the old import path.

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

from plasticity.plots.figure_check import FigureDataMismatch, check_figure
from plasticity.plots.sources import Src, apply, const, src, stack
from plasticity.plots.tracing import has_traces, traced

__all__ = ["FigureDataMismatch", "Src", "apply", "check_figure", "const", "has_traces",
           "src", "stack", "traced"]
