"""Sequence batches and the interface every sequence task implements.

A sequence task hands a recurrent network ``B`` independent sequences of ``T`` steps
(:class:`SequenceBatch`): inputs ``x[b, t]``, a target ``target[b, t]`` per step and a
weight ``mask[b, t]`` per step. The loss a rule is judged against is the network's
per-step loss (``"mse"``: ``1/2 ||y_t - target_t||^2`` summed over output units;
``"cross_entropy"``: ``-sum_k target_tk log softmax(y_t)_k`` in nats) averaged over the
steps with a nonzero mask and weighted by it; steps whose target is undefined (e.g. the
first ``t2`` steps of the Add task) carry mask 0 and a placeholder target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.validation import Hyperparameters

__all__ = ["SEQUENCE_LOSSES", "SequenceBatch", "SequenceTask", "SequenceTaskBase"]

SEQUENCE_LOSSES = ("mse", "cross_entropy")


def _frozen_float(name, value):
    """``value`` as a read-only float64 copy; refuse what is not real and finite."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"SequenceBatch.{name} must hold real numbers.") from None
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"SequenceBatch.{name} contains NaN or infinity.")
    arr.flags.writeable = False  # a rule and the oracle see the same batch: no edits
    return arr


@dataclass(frozen=True)
class SequenceBatch:
    """``B`` independent sequences of ``T`` steps: inputs, per-step targets and weights.

    Parameters
    ----------
    x : array_like, shape (B, T, n_in)
        Inputs (task units), stored as a read-only float64 copy.
    target : array_like, shape (B, T, n_out)
        Per-step targets: a probability vector over the ``n_out`` classes for
        cross-entropy tasks, a value per output unit for mse tasks. Steps with mask 0
        hold a placeholder that enters no loss.
    mask : array_like, shape (B, T)
        Non-negative weight of each step in the loss (1 where the step counts, 0 where
        not); at least one weight must be positive.
    labels : array_like, optional
        Anything indexed by sequence (first dimension ``B``), e.g. MNIST-1D's class
        labels, shape (B,); ``None`` where the task has none.

    Raises
    ------
    InvalidParameterError
        For wrong ranks, mismatched ``B`` or ``T``, non-finite values, negative mask
        weights or an all-zero mask (one line naming the field and the shapes).
    """

    x: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self):
        x = _frozen_float("x", self.x)
        target = _frozen_float("target", self.target)
        mask = _frozen_float("mask", self.mask)
        if x.ndim != 3:
            raise InvalidParameterError(f"SequenceBatch.x must have shape (B, T, n_in); got "
                                        f"shape {x.shape}.")
        if target.ndim != 3 or target.shape[:2] != x.shape[:2]:
            raise InvalidParameterError(
                f"SequenceBatch.target must have shape (B, T, n_out) = {x.shape[:2] + ('n_out',)}"
                f" to match x {x.shape}; got shape {target.shape}.")
        if mask.shape != x.shape[:2]:
            raise InvalidParameterError(f"SequenceBatch.mask must have shape (B, T) = "
                                        f"{x.shape[:2]} to match x; got shape {mask.shape}.")
        if np.any(mask < 0) or not np.any(mask > 0):
            raise InvalidParameterError("SequenceBatch.mask must be >= 0 with at least one "
                                        "positive weight (no step would enter the loss).")
        labels = self.labels
        if labels is not None:
            labels = np.array(labels)
            if labels.ndim < 1 or labels.shape[0] != x.shape[0]:
                raise InvalidParameterError(f"SequenceBatch.labels must have first dimension "
                                            f"B = {x.shape[0]}; got shape {labels.shape}.")
            labels.flags.writeable = False
        # frozen: the coerced copies are set once, here, through object.__setattr__
        for name, value in (("x", x), ("target", target), ("mask", mask), ("labels", labels)):
            object.__setattr__(self, name, value)

    def __len__(self):
        return self.x.shape[0]

    @property
    def T(self) -> int:  # noqa: N802 - the sequence length's conventional name
        """Number of time steps per sequence."""
        return self.x.shape[1]

    @property
    def n_in(self) -> int:
        """Input dimension."""
        return self.x.shape[2]

    @property
    def n_out(self) -> int:
        """Output (target) dimension."""
        return self.target.shape[2]


@runtime_checkable
class SequenceTask(Protocol):
    """What a recurrent problem needs from a task (duck-typed: a researcher's own task
    needs no base class).

    Attributes
    ----------
    n_in, n_out : int
        Input and output dimensions.
    loss : {"mse", "cross_entropy"}
        The per-step loss (module docstring) the network's outputs are judged by.
    T : int
        Steps per sequence.
    """

    n_in: int
    n_out: int
    loss: str
    T: int

    def batch(self, n, rng) -> SequenceBatch:
        """``n`` independent sequences drawn with ``rng`` (a Generator or a seed)."""
        ...


def check_count(name, value, minimum=1):
    """``value`` as an int >= ``minimum``, else InvalidParameterError (one line)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(f"The '{name}' parameter must be an integer >= {minimum}. "
                                    f"Got {value!r}.")
    return int(value)


class SequenceTaskBase(Hyperparameters):
    """Shared base of the project's sequence tasks: declared, validated hyperparameters
    (keyword-only, one-line errors) and the :class:`SequenceTask` interface.

    Subclasses declare their fields, set ``loss`` and ``name`` (the short name a problem
    and a run file show) and provide ``n_in``, ``n_out``, ``T`` and :meth:`batch`.
    """

    loss: ClassVar[str]
    name: ClassVar[str]

    def batch(self, n, rng) -> SequenceBatch:
        """``n`` independent sequences; see the subclass."""
        raise NotImplementedError

    @staticmethod
    def _rng(rng):
        """``rng`` as a Generator (an int seeds a new one; a Generator is used as is)."""
        return np.random.default_rng(rng)
