"""Classification of scikit-learn's bundled 8x8 handwritten digits (:class:`Digits`),
softmax cross-entropy.
"""

from __future__ import annotations

import functools

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.tasks.batch import Batch
from plasticity.tasks.supervised_task import SupervisedTask, _count, _generator

__all__ = ["Digits"]


@functools.cache
def _load_digits():
    """The bundled digits as read-only arrays ``(X (1797, 64) in [0, 16], y (1797,))``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


class Digits(SupervisedTask):
    """Classification of scikit-learn's bundled 8x8 handwritten digits.

    The 1,797 images are read with :func:`sklearn.datasets.load_digits` (shipped with
    scikit-learn, never downloaded). Pixel values (0 to 16) are divided by 16 and then
    centred by subtracting the training set's mean image, so every input lies in
    ``[-1, 1]``. The train/test split is stratified by class and fixed by ``rng``.

    Loss: ``L = mean_b -log softmax(u_b)[label_b]``, the cross-entropy of the softmax of the
    network's output pre-activations ``u`` (logits, shape ``(B, 10)``) with the labels.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Draws the split (and nothing else).
    test_fraction : float in (0, 1), default 0.25
        Fraction of each class held out for testing.

    Attributes
    ----------
    x_train, x_test : ndarray, shape (n, 64)
    y_train, y_test : ndarray of int, shape (n,)
        Labels 0 to 9.
    train_index, test_index : ndarray of int
        Row indices into the 1,797 images.
    pixel_mean : ndarray, shape (64,)
        The training mean subtracted from every (scaled) image.
    """

    loss_kind = "cross_entropy"
    n_inputs = 64
    n_outputs = 10

    def __init__(self, rng, test_fraction=0.25):
        frac = float(test_fraction)
        if not 0.0 < frac < 1.0:
            raise InvalidParameterError("The 'test_fraction' parameter must be in (0, 1). "
                                        f"Got {test_fraction!r}.")
        self.test_fraction = frac
        rng = _generator(rng)
        X, y = _load_digits()
        test = []
        for label in range(self.n_outputs):
            rows = np.flatnonzero(y == label)
            rows = rows[rng.permutation(rows.size)]
            # At least one test and one training image of every class.
            n_test = min(max(1, round(frac * rows.size)), rows.size - 1)
            test.append(rows[:n_test])
        self.test_index = np.sort(np.concatenate(test))
        self.train_index = np.setdiff1d(np.arange(y.size), self.test_index)
        scaled = X / 16.0
        self.pixel_mean = scaled[self.train_index].mean(axis=0)
        self.x_train = scaled[self.train_index] - self.pixel_mean
        self.x_test = scaled[self.test_index] - self.pixel_mean
        self.y_train = y[self.train_index].copy()
        self.y_test = y[self.test_index].copy()

    def batch(self, n, rng) -> Batch:
        """Draw ``n`` training images (without replacement when ``n`` <= training size).

        Returns
        -------
        Batch
            ``x`` of shape ``(n, 64)``, ``target`` int labels of shape ``(n,)``.
        """
        n = _count("n", n)
        rows = rng.choice(self.y_train.size, size=n, replace=n > self.y_train.size)
        return Batch(x=self.x_train[rows], target=self.y_train[rows])

    def evaluate(self, net, params, rng=None) -> dict:
        """Loss and accuracy on the whole test set.

        Parameters
        ----------
        net, params
            The classifier; its output pre-activations are the logits.
        rng : ignored
            Accepted for a uniform interface; the test set is fixed.

        Returns
        -------
        dict
            ``{"loss", "test_loss", "test_accuracy"}``: ``loss`` and ``test_loss`` are the
            same number (the cross-entropy of the class docstring), accuracy is the
            fraction of test images whose largest logit is the true label, in [0, 1].
        """
        self._check_net(net)
        test = Batch(x=self.x_test, target=self.y_test)
        loss = self.loss(net, params, test)
        logits = net.forward(params, self.x_test).pre[-1]
        acc = float(np.mean(np.argmax(logits, axis=1) == self.y_test))
        return {"loss": loss, "test_loss": loss, "test_accuracy": acc}

