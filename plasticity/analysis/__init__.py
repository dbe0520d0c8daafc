"""Analysis of learned weights and of updates: alignment with the gradient, statistics,
the expected update, same-budget baselines and the gradient-field test.

Everything here works on any rule through the rule protocol. Imports stay light (NumPy;
SciPy only inside the functions that need it).
"""

from plasticity.analysis.alignment import AlignmentProbe, MeasuredRule, align, measured
from plasticity.analysis.autocorr import (
    autocorrelation,
    effective_sample_size,
    integrated_autocorr_time,
)
from plasticity.analysis.baselines import RandomDirection, random_direction
from plasticity.analysis.expected import (
    cos_se_for_draws,
    draws_for_snr,
    expected_cosine,
    expected_update,
)
from plasticity.analysis.field import field_asymmetry, field_asymmetry_over, jacobian
from plasticity.analysis.field_descent import (
    Geometry,
    descent_along_flow,
    field_verdict,
    pointwise_descent,
)
from plasticity.analysis.field_metric import (
    geometry_asymmetry_over,
    manifold_field_asymmetry,
    metric_field_asymmetry,
    product_of_spheres,
    shahshahani_metric,
    simplex,
    sphere,
    stiefel,
    tangency_defect,
)
from plasticity.analysis.flat import flatten, unflatten
from plasticity.analysis.geometry import abs_cosine, cosine, subspace_cosines
from plasticity.analysis.intervals import (
    batch_means_ci,
    block_bootstrap_ci,
    combine_seeds,
    seeds_interval,
    seeds_summary,
)
from plasticity.analysis.stats import bootstrap_ci, summarize

__all__ = [
    "Geometry",
    "descent_along_flow",
    "field_verdict",
    "pointwise_descent",
    "geometry_asymmetry_over",
    "manifold_field_asymmetry",
    "metric_field_asymmetry",
    "product_of_spheres",
    "shahshahani_metric",
    "simplex",
    "sphere",
    "stiefel",
    "tangency_defect",
    "AlignmentProbe",
    "MeasuredRule",
    "RandomDirection",
    "abs_cosine",
    "align",
    "cosine",
    "autocorrelation",
    "batch_means_ci",
    "block_bootstrap_ci",
    "bootstrap_ci",
    "combine_seeds",
    "cos_se_for_draws",
    "draws_for_snr",
    "effective_sample_size",
    "expected_cosine",
    "expected_update",
    "field_asymmetry",
    "field_asymmetry_over",
    "flatten",
    "integrated_autocorr_time",
    "jacobian",
    "measured",
    "random_direction",
    "seeds_interval",
    "seeds_summary",
    "subspace_cosines",
    "summarize",
    "unflatten",
]
