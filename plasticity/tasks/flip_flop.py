"""The flip-flop memory task of Sussillo & Barak (2013, Neural Computation 25:626,
"Opening the black box", Sec. 3.1): ``n`` independent bits, each set or reset by sparse
pulses and held in between, so the network must store ``2^n`` states in its dynamics.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from plasticity.tasks.sequence_batch import SequenceBatch, SequenceTaskBase, check_count

__all__ = ["FlipFlopTask"]


class FlipFlopTask(SequenceTaskBase):
    """An ``n_channels``-bit flip-flop.

    At each step and channel, independently, a pulse arrives with probability
    ``pulse_prob``; its sign is +1 or -1 with probability 1/2 each, and the input is 0
    without a pulse. The target of a channel is the sign of its most recent pulse,
    including one at the current step (the network's output ``y_t`` sees ``x_t``), and 0
    before the channel's first pulse. So at step ``t`` (0-based) a channel's target is 0
    with probability ``(1 - pulse_prob)^(t+1)`` and otherwise ±1 with equal probability.

    Loss: ``loss = "mse"``, ``1/2 ||y_t - target_t||^2`` summed over the channels and
    averaged over all steps (every step has mask 1). ``n_in = n_out = n_channels``.

    Parameters
    ----------
    n_channels : int, >= 1, default 3
        Independent bits (Sussillo & Barak's 3-bit flip-flop by default).
    T : int, >= 1, default 100
        Steps per sequence.
    pulse_prob : float in (0, 1), default 0.05
        Probability of a pulse per step and channel (mean gap between pulses
        ``1 / pulse_prob`` steps, so the state must be held for tens of steps).

    Examples
    --------
    >>> b = FlipFlopTask().batch(2, 0)
    >>> b.x.shape, b.target.shape, float(b.mask.min())
    ((2, 100, 3), (2, 100, 3), 1.0)
    """

    loss = "mse"
    name = "flip-flop"

    n_channels: int = Field(3, ge=1)
    T: int = Field(100, ge=1)
    pulse_prob: float = Field(0.05, gt=0.0, lt=1.0, allow_inf_nan=False)

    @property
    def n_in(self) -> int:
        """One input per channel."""
        return self.n_channels

    @property
    def n_out(self) -> int:
        """One output per channel."""
        return self.n_channels

    @staticmethod
    def held_sign(x):
        """The sign of the most recent nonzero input per channel, 0 before the first.

        Parameters
        ----------
        x : ndarray, shape (B, T, n)
            Pulses (0 or ±1).

        Returns
        -------
        ndarray, shape (B, T, n)
        """
        x = np.asarray(x, dtype=np.float64)
        B, T, n = x.shape
        steps = np.broadcast_to(np.arange(T)[None, :, None], x.shape)
        # index of the latest pulse up to each step (-1 before the first): a running max
        last = np.maximum.accumulate(np.where(x != 0, steps, -1), axis=1)
        held = np.take_along_axis(x, np.maximum(last, 0), axis=1)
        return np.where(last >= 0, np.sign(held), 0.0)

    def batch(self, n, rng) -> SequenceBatch:
        """``n`` independent sequences of pulses and held bits.

        Parameters
        ----------
        n : int, >= 1
        rng : numpy.random.Generator or int
            Draws the pulse times, then their signs.

        Returns
        -------
        SequenceBatch
            ``x`` and ``target`` (n, T, n_channels), ``mask`` (n, T) of ones,
            ``labels`` None.
        """
        n = check_count("n", n)
        rng = self._rng(rng)
        shape = (n, self.T, self.n_channels)
        pulses = rng.random(shape) < self.pulse_prob
        signs = np.where(rng.random(shape) < 0.5, 1.0, -1.0)
        x = np.where(pulses, signs, 0.0)
        return SequenceBatch(x=x, target=self.held_sign(x), mask=np.ones((n, self.T)))
