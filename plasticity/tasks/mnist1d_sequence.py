"""MNIST-1D (Greydanus & Kobak 2024, ICML, "Scaling down deep learning with MNIST-1D") as a
40-step sequence classification task for recurrent networks.

Each example is a 1-D signal of 40 samples (a digit template shifted, scaled, sheared
and noised); the network reads one sample per step and names the class (10 classes)
at the end. The data are generated offline, deterministically, by the ``mnist1d``
package's own generator with its default arguments (``make_dataset(get_dataset_args())``,
seed 42): 4000 training and 1000 test sequences, already centred and scaled to unit
standard deviation over the whole set. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import random

import numpy as np
from pydantic import Field

from plasticity.tasks.sequence_batch import SequenceBatch, SequenceTaskBase, check_count

__all__ = ["MNIST1DSequence", "mnist1d_arrays"]

N_CLASSES = 10
SEQUENCE_LENGTH = 40


@functools.lru_cache(maxsize=1)
def mnist1d_arrays():
    """The MNIST-1D data set from the package's generator, built once per process.

    ``make_dataset`` seeds NumPy's global random state and Python's ``random`` module
    (``mnist1d.utils.set_seed``); both are saved before and restored after the call, so
    building the data set does not change any other code's random numbers. Building takes
    about 1.5 s; the result is cached.

    Returns
    -------
    x : ndarray, shape (4000, 40)
        Training signals (float64, read-only).
    y : ndarray, shape (4000,)
        Training labels in 0..9 (int64, read-only).
    x_test : ndarray, shape (1000, 40)
    y_test : ndarray, shape (1000,)
    """
    from mnist1d.data import get_dataset_args, make_dataset

    # the legacy global state is exactly what make_dataset reseeds, so it is what we keep
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    out = (np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.int64),
           np.asarray(data["x_test"], dtype=np.float64),
           np.asarray(data["y_test"], dtype=np.int64))
    for arr in out:
        arr.flags.writeable = False  # shared by every caller through the cache
    return out


class MNIST1DSequence(SequenceTaskBase):
    """MNIST-1D classification read one sample per step (``n_in = 1``, ``T = 40``).

    The target at every step is the one-hot vector of the class (a valid probability
    vector everywhere), but only the final ``last_k`` steps carry mask 1: by default only
    the last step, where the whole signal has been seen, counts. ``last_k > 1`` asks for
    the class already while the end of the signal is still arriving (a denser learning
    signal for online rules, at the price of a loss that rewards guessing early).

    Loss: ``loss = "cross_entropy"``, the softmax cross-entropy (nats) against the one-hot
    class, averaged over the counted steps.

    Training batches (:meth:`batch`) are drawn uniformly with replacement from the 4000
    training sequences, so the task's expected loss is the training-set mean loss; the
    1000 held-out sequences are :meth:`test_set`.

    Parameters
    ----------
    last_k : int in [1, 40], default 1
        The number of final steps whose prediction enters the loss.

    Examples
    --------
    >>> task = MNIST1DSequence()
    >>> b = task.batch(5, 0)
    >>> b.x.shape, b.target.shape, b.mask.sum(axis=1).tolist(), b.labels.shape
    ((5, 40, 1), (5, 40, 10), [1.0, 1.0, 1.0, 1.0, 1.0], (5,))
    """

    loss = "cross_entropy"
    name = "mnist1d-sequence"

    last_k: int = Field(1, ge=1, le=SEQUENCE_LENGTH)

    @property
    def T(self) -> int:  # noqa: N802 - the sequence length's conventional name
        """40: MNIST-1D's signal length."""
        return SEQUENCE_LENGTH

    @property
    def n_in(self) -> int:
        """1: one signal sample per step."""
        return 1

    @property
    def n_out(self) -> int:
        """10 classes."""
        return N_CLASSES

    def _sequences(self, x, y) -> SequenceBatch:
        n = x.shape[0]
        target = np.zeros((n, SEQUENCE_LENGTH, N_CLASSES))
        target[np.arange(n), :, y] = 1.0
        mask = np.zeros((n, SEQUENCE_LENGTH))
        mask[:, SEQUENCE_LENGTH - self.last_k:] = 1.0
        return SequenceBatch(x=x[..., None], target=target, mask=mask, labels=y)

    def batch(self, n, rng) -> SequenceBatch:
        """``n`` training sequences drawn uniformly with replacement.

        Parameters
        ----------
        n : int, >= 1
        rng : numpy.random.Generator or int
            Draws the indices into the training set.

        Returns
        -------
        SequenceBatch
            ``x`` (n, 40, 1), ``target`` (n, 40, 10) one-hot, ``mask`` (n, 40) with ones
            on the last ``last_k`` steps, ``labels`` (n,) the classes.
        """
        n = check_count("n", n)
        x, y, _, _ = mnist1d_arrays()
        idx = self._rng(rng).integers(0, x.shape[0], size=n)
        return self._sequences(x[idx], y[idx])

    def train_set(self) -> SequenceBatch:
        """All 4000 training sequences in the generator's order."""
        x, y, _, _ = mnist1d_arrays()
        return self._sequences(x, y)

    def test_set(self) -> SequenceBatch:
        """The fixed 1000 held-out sequences in the generator's order."""
        _, _, x_test, y_test = mnist1d_arrays()
        return self._sequences(x_test, y_test)
