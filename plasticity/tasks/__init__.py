"""Tasks: the inputs a substrate sees and, where there is one, the loss that defines good."""

from plasticity.tasks.add_task import AddTask
from plasticity.tasks.flip_flop import FlipFlopTask
from plasticity.tasks.inputs import CorrelatedGaussian, PatternSet
from plasticity.tasks.mimic import MimicTask
from plasticity.tasks.mnist1d import MNIST1D
from plasticity.tasks.mnist1d_sequence import MNIST1DSequence
from plasticity.tasks.sequence_batch import SequenceBatch, SequenceTask, SequenceTaskBase
from plasticity.tasks.supervised import (
    TASKS,
    Digits,
    LinearTeacher,
    SupervisedTask,
    TanhTeacher,
    make_task,
)

__all__ = ["TASKS", "AddTask", "CorrelatedGaussian", "Digits", "FlipFlopTask", "LinearTeacher",
           "MNIST1D", "MNIST1DSequence", "MimicTask", "PatternSet", "SequenceBatch", "SequenceTask",
           "SequenceTaskBase", "SupervisedTask", "TanhTeacher", "make_task"]
