"""How updates relate to the gradient of the loss: the alignment analysis, gathered.

This module keeps the old import path; the pieces live in small modules:

* :mod:`plasticity.analysis.update_alignment`: the per-update arithmetic, :func:`align`
  (inner product, cosine, norms, the noise-corrected cosine), with its definitions;
* :mod:`plasticity.analysis.metric`: the positive-definite metric ``align`` accepts;
* :mod:`plasticity.analysis.alignment_log`: the run log and one measurement at one update;
* :mod:`plasticity.analysis.measured_rule`: :func:`measured`, a rule wrapped so that its
  updates are measured as it learns;
* :mod:`plasticity.analysis.alignment_probe`: :class:`AlignmentProbe`, the same as an
  engine probe.

Measuring during training
-------------------------
The engine hands probes the parameters *after* an update, while the gradient that judges
the update is the one *before* it. :func:`measured` wraps a rule so that every
``every``-th update is measured at the right parameters on the same batch, recorded into
``<prefix>/<array>`` and ``<prefix>/total`` tables of a run file and kept in memory.
:class:`AlignmentProbe` does the same as an ordinary engine probe, reconstructing the
pre-update parameters as ``p_after - d`` (exact up to one rounding of the parameters).
"""

from plasticity.analysis.alignment_probe import AlignmentProbe
from plasticity.analysis.measured_rule import MeasuredRule, measured
from plasticity.analysis.update_alignment import COLUMNS, UNITS, align

__all__ = ["COLUMNS", "UNITS", "AlignmentProbe", "MeasuredRule", "align", "measured"]
