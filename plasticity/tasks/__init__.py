"""Tasks: the inputs a substrate sees and, where there is one, the loss that defines good."""

from plasticity.tasks.inputs import CorrelatedGaussian, PatternSet

__all__ = ["CorrelatedGaussian", "PatternSet"]
