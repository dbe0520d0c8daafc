"""The Add task: a stochastic target that depends on two lagged inputs.

From Pitis (2016, "Recurrent neural networks in TensorFlow I") as used by Marschall, Cho &
Savin (2020, JMLR 21:135, "A unified framework of online learning algorithms for training
recurrent neural networks", Sec. 5). Inputs are independent fair coin flips
``x_t ~ Bernoulli(0.5)``; the target at step ``t`` is a Bernoulli variable with

    p_t = 0.5 + 0.5 x_{t-t1} - 0.25 x_{t-t2},        t1 = 3, t2 = 8 by default,

so a network that remembers nothing can at best predict ``E[p_t]``, one that remembers
``x_{t-t1}`` does better, and one that remembers both lags reaches the target's own
entropy. These three cross-entropies (:meth:`AddTask.reference_losses`) are the task's
landmarks: about 0.66, 0.52 and 0.45 nats.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.tasks.sequence_batch import SequenceBatch, SequenceTaskBase, check_count

__all__ = ["AddTask"]


def _bernoulli_cross_entropy(p, q):
    """``-p log q - (1-p) log(1-q)`` in nats, with ``0 log 0 = 0`` (``p``, ``q`` arrays)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, -p * np.log(q), 0.0)
        b = np.where(p < 1, -(1 - p) * np.log1p(-q), 0.0)
    return a + b


class AddTask(SequenceTaskBase):
    """The Add task of Pitis (2016) and Marschall, Cho & Savin (2020).

    Each sequence has ``T`` steps of inputs ``x_t ~ Bernoulli(0.5)``, independent across
    steps and sequences. The target at step ``t`` (0-based) is the two-class probability
    vector ``(p_t, 1 - p_t)`` with ``p_t = 0.5 + 0.5 x_{t-t1} - 0.25 x_{t-t2}``. Steps
    ``t < t2`` have no defined target (``x_{t-t2}`` precedes the sequence) and carry mask
    0; every later step carries mask 1. (Marschall et al.'s code wraps the lags around one
    long sequence instead; masking keeps independent sequences free of that artefact.)

    Loss: the softmax cross-entropy (``loss = "cross_entropy"``, ``n_out = 2``, nats per
    counted step) ``-p_t log q_t - (1-p_t) log(1-q_t)``, with ``q_t`` the network's
    softmax probability of the first class, averaged over counted steps. Cross-entropy
    is linear in the target, so the probability-vector target has the same expected loss
    and gradient as a sampled one-hot Bernoulli target, with less variance; set
    ``sample_targets=True`` for the sampled target of the original task.

    Parameters
    ----------
    t1 : int, >= 1, default 3
        The lag (steps) of the input that raises the probability.
    t2 : int, > t1, default 8
        The lag (steps) of the input that lowers it.
    T : int, > t2, default 40
        Steps per sequence; ``T - t2`` of them enter the loss.
    encoding : {"one_hot", "scalar"}, default "one_hot"
        ``"one_hot"``: ``n_in = 2`` with input ``(x_t, 1 - x_t)``, Marschall et al.'s
        encoding, in which both coin outcomes drive the network through their own input
        weights (a 0 input is not "silence"), so results compare with theirs.
        ``"scalar"``: ``n_in = 1`` with input ``x_t``.
    sample_targets : bool, default False
        Replace the target by a one-hot Bernoulli(``p_t``) sample (see above).

    Raises
    ------
    InvalidParameterError
        For ``t1 < 1``, ``t2 <= t1`` or ``T <= t2`` (one line).

    Examples
    --------
    >>> task = AddTask()
    >>> b = task.batch(4, 0)
    >>> b.x.shape, b.target.shape, b.mask.shape
    ((4, 40, 2), (4, 40, 2), (4, 40))
    >>> {k: round(v, 3) for k, v in task.reference_losses().items()}
    {'no_memory': 0.662, 't1_learned': 0.519, 'both_learned': 0.454}
    """

    loss = "cross_entropy"
    name = "add"

    t1: int = Field(3, ge=1)
    t2: int = 8
    T: int = 40
    encoding: Literal["one_hot", "scalar"] = "one_hot"
    sample_targets: bool = False

    @model_validator(mode="after")
    def _check_lags(self):
        if self.t2 <= self.t1:
            raise ValueError(f"t2={self.t2} must be greater than t1={self.t1} (the second "
                             "lag is the longer one)")
        if self.T <= self.t2:
            raise ValueError(f"sequence length T={self.T} must be longer than t2={self.t2} "
                             "(no step would have a defined target)")
        return self

    @property
    def n_in(self) -> int:
        """2 for the one-hot encoding, 1 for the scalar one."""
        return 2 if self.encoding == "one_hot" else 1

    @property
    def n_out(self) -> int:
        """2: the probabilities of the two outcomes."""
        return 2

    def probability(self, bits):
        """``p_t`` for coin flips ``bits`` of shape (B, T); NaN where ``t < t2``.

        Returns
        -------
        ndarray, shape (B, T)
            The probability of the first class at each step.
        """
        bits = np.asarray(bits, dtype=np.float64)
        p = np.full(bits.shape, np.nan)
        t1, t2 = self.t1, self.t2
        p[:, t2:] = 0.5 + 0.5 * bits[:, t2 - t1:-t1] - 0.25 * bits[:, :-t2]
        return p

    def batch(self, n, rng) -> SequenceBatch:
        """``n`` independent sequences of ``T`` steps.

        Parameters
        ----------
        n : int, >= 1
        rng : numpy.random.Generator or int
            Draws the coin flips (then the sampled targets, if ``sample_targets``).

        Returns
        -------
        SequenceBatch
            ``x`` (n, T, n_in); ``target`` (n, T, 2) = ``(p_t, 1-p_t)`` (or a one-hot
            sample), ``(0.5, 0.5)`` as the placeholder where ``t < t2``; ``mask``
            (n, T), 0 for ``t < t2`` and 1 after; ``labels`` None.
        """
        n = check_count("n", n)
        rng = self._rng(rng)
        bits = rng.integers(0, 2, size=(n, self.T)).astype(np.float64)
        p = self.probability(bits)
        counted = np.arange(self.T) >= self.t2
        p[:, ~counted] = 0.5
        if self.sample_targets:
            p = (rng.random(p.shape) < p).astype(np.float64)
        x = np.stack([bits, 1.0 - bits], axis=-1) if self.encoding == "one_hot" \
            else bits[..., None]
        target = np.stack([p, 1.0 - p], axis=-1)
        mask = np.broadcast_to(counted.astype(np.float64), (n, self.T))
        return SequenceBatch(x=x, target=target, mask=mask)

    def reference_losses(self) -> dict[str, float]:
        """The three analytic cross-entropies (nats per counted step) of Marschall et al.

        Computed exactly by enumerating the four equally likely lagged inputs
        ``(a, b) = (x_{t-t1}, x_{t-t2})`` with ``p(a, b) = 0.5 + 0.5 a - 0.25 b``:

        - ``"no_memory"``: the best constant prediction ``q = E[p]``, loss
          ``E[CE(p, q)] = H(E[p])``;
        - ``"t1_learned"``: the best prediction from ``a`` only, ``q_a = E[p | a]``,
          loss ``E[CE(p, q_a)]``;
        - ``"both_learned"``: ``q = p``, loss ``E[H(p)]``, the target's own entropy and
          the minimum any predictor can reach.

        Each is the minimum of the expected loss over predictors that see that much of
        the past (cross-entropy is minimised by the conditional mean), so they do not
        depend on ``sample_targets``.

        Returns
        -------
        dict of str to float
            ``{"no_memory": ..., "t1_learned": ..., "both_learned": ...}``, nats, in
            decreasing order (about 0.662, 0.519, 0.454).
        """
        a, b = np.meshgrid([0.0, 1.0], [0.0, 1.0], indexing="ij")  # a along axis 0
        p = 0.5 + 0.5 * a - 0.25 * b  # each of the four cells has probability 1/4
        q_a = p.mean(axis=1, keepdims=True)
        return {
            "no_memory": float(np.mean(_bernoulli_cross_entropy(p, p.mean()))),
            "t1_learned": float(np.mean(_bernoulli_cross_entropy(p, q_a))),
            "both_learned": float(np.mean(_bernoulli_cross_entropy(p, p))),
        }
