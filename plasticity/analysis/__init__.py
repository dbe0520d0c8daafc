"""Analysis of learned weights and of updates (alignment with the gradient comes here)."""

from plasticity.analysis.geometry import abs_cosine, subspace_cosines

__all__ = ["abs_cosine", "subspace_cosines"]
