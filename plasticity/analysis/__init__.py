"""Analysis of learned weights and of updates: alignment with the gradient, statistics,
the expected update, same-budget baselines and the gradient-field test.

Everything here works on any rule through the rule protocol. Imports stay light (NumPy;
SciPy only inside the functions that need it).
"""

from plasticity.analysis.alignment import AlignmentProbe, MeasuredRule, align, measured
from plasticity.analysis.baselines import RandomDirection, random_direction
from plasticity.analysis.expected import expected_cosine, expected_update
from plasticity.analysis.field import field_asymmetry, field_asymmetry_over, jacobian
from plasticity.analysis.flat import flatten, unflatten
from plasticity.analysis.geometry import abs_cosine, subspace_cosines
from plasticity.analysis.stats import bootstrap_ci, summarize

__all__ = [
    "AlignmentProbe",
    "MeasuredRule",
    "RandomDirection",
    "abs_cosine",
    "align",
    "bootstrap_ci",
    "expected_cosine",
    "expected_update",
    "field_asymmetry",
    "field_asymmetry_over",
    "flatten",
    "jacobian",
    "measured",
    "random_direction",
    "subspace_cosines",
    "summarize",
    "unflatten",
]
