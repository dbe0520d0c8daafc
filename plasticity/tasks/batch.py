"""One update's worth of task data, the unit the training loop hands to rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Batch"]


@dataclass
class Batch:
    """One update's worth of task data.

    Attributes
    ----------
    x : ndarray, shape (T, n_in)
        Inputs (a window of T samples, processed in order by online rules).
    target : ndarray, optional
        Supervised targets, shape (T, n_out) or (T,) class labels.
    reward : float or ndarray, optional
        A modulator for reward-driven rules.
    """

    x: np.ndarray
    target: np.ndarray | None = None
    reward: Any = None
