"""MNIST-1D (Greydanus & Kobak 2024) as a supervised task for feedforward networks
(:class:`MNIST1D`), softmax cross-entropy.

The data are the package's own (``mnist1d.data.make_dataset(get_dataset_args())``), built
offline and cached once per process by
:func:`plasticity.tasks.mnist1d_sequence.mnist1d_arrays`; nothing is downloaded.

References
----------
Greydanus, S., & Kobak, D. (2024). Scaling down deep learning with MNIST-1D. ICML.
    The package's published test accuracies (its README): logistic regression 32%,
    MLP 68%, CNN 94%.
"""

from __future__ import annotations

import numpy as np

from plasticity.tasks.digits import Digits
from plasticity.tasks.mnist1d_sequence import mnist1d_arrays

__all__ = ["MNIST1D"]


class MNIST1D(Digits):
    """Classification of the 40-sample MNIST-1D signals into 10 classes.

    The 4,000 training and 1,000 test signals of the package's default data set are used
    as they come (the generator already centres them and scales them to unit standard
    deviation over the whole set). Batches (:meth:`batch`) are drawn from the 4,000
    training signals, so the population whose expected loss every cosine refers to is the
    training set, and its mean gradient is exact: the class reuses :class:`Digits`'
    sampling and test evaluation, and
    :class:`~plasticity.problems.FeedForwardProblem` treats it, as a ``Digits``, with the
    ``"population"`` reference (the full training-set gradient, ``se`` None).

    Loss: ``L = mean_b -log softmax(u_b)[label_b]`` (nats), the cross-entropy of the
    softmax of the network's output pre-activations ``u`` (logits, shape ``(B, 10)``) with
    the labels.

    Parameters
    ----------
    rng : ignored
        Accepted for the interface of :func:`~plasticity.tasks.make_task`; the split is
        the package's fixed one.

    Attributes
    ----------
    x_train : ndarray, shape (4000, 40)
    x_test : ndarray, shape (1000, 40)
    y_train : ndarray of int, shape (4000,)
    y_test : ndarray of int, shape (1000,)
        Labels 0 to 9.
    train_index : ndarray of int, shape (4000,)
    test_index : ndarray of int, shape (1000,)
        Row indices into the package's training and test arrays (all of them, in order).

    Examples
    --------
    >>> task = MNIST1D()
    >>> task.x_train.shape, task.x_test.shape, task.n_outputs
    ((4000, 40), (1000, 40), 10)
    """

    loss_kind = "cross_entropy"
    n_inputs = 40
    n_outputs = 10

    def __init__(self, rng=None):
        # Digits.__init__ draws a split of scikit-learn's digits; none is needed here.
        x, y, x_test, y_test = mnist1d_arrays()
        self.test_fraction = x_test.shape[0] / (x.shape[0] + x_test.shape[0])
        self.train_index = np.arange(x.shape[0])
        self.test_index = np.arange(x_test.shape[0])
        self.pixel_mean = np.zeros(self.n_inputs)
        # read-only views of the cached arrays: shared by every instance, never copied
        self.x_train, self.y_train = x, y
        self.x_test, self.y_test = x_test, y_test
