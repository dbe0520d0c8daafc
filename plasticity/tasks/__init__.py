"""Tasks: the inputs a substrate sees and, where there is one, the loss that defines good."""

from plasticity.tasks.inputs import CorrelatedGaussian, PatternSet
from plasticity.tasks.supervised import (
    TASKS,
    Digits,
    LinearTeacher,
    SupervisedTask,
    TanhTeacher,
    make_task,
)

__all__ = ["TASKS", "CorrelatedGaussian", "Digits", "LinearTeacher", "PatternSet",
           "SupervisedTask", "TanhTeacher", "make_task"]
