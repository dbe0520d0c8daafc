"""Supervised tasks with a stated loss, and the exact gradient of that loss (the oracle).

Three tasks share one interface:

- :class:`LinearTeacher`: regression onto a random linear map, inputs ``x ~ N(0, I)``.
- :class:`TanhTeacher`: regression onto a random one-hidden-layer tanh network
  (teacher-student).
- :class:`Digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, loaded
  from the package, never downloaded), ten classes, softmax cross-entropy.

Each task has ``n_inputs``, ``n_outputs`` and ``loss_kind`` (``"mse"`` or
``"cross_entropy"``, the kinds of :meth:`FeedForward.loss`), draws batches with
:meth:`batch`, and judges a network with :meth:`loss`, whose exact gradient is
:meth:`gradient`. The loss a rule is judged against is the one stated in each class's
docstring, and both methods compute exactly that loss on exactly the given batch.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.substrates.feedforward import FeedForward
from plasticity.tasks.batch import Batch

__all__ = ["Digits", "LinearTeacher", "SupervisedTask", "TanhTeacher", "TASKS", "make_task"]


def _generator(rng):
    """``rng`` as a Generator (an int or None seeds a new one; a Generator is used as is)."""
    return np.random.default_rng(rng)


def _count(name, value, minimum=1):
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise InvalidParameterError(f"The '{name}' parameter must be an integer >= {minimum}. "
                                    f"Got {value!r}.")
    return int(value)


class SupervisedTask:
    """The interface every supervised task implements (subclasses fill in the data).

    Attributes
    ----------
    n_inputs, n_outputs : int
    loss_kind : {"mse", "cross_entropy"}
    """

    n_inputs: int
    n_outputs: int
    loss_kind: str

    def batch(self, n, rng) -> Batch:
        """Draw ``n`` training samples: ``Batch(x=(n, n_inputs), target=...)``."""
        raise NotImplementedError

    def evaluate(self, net, params, rng=None) -> dict:
        """Held-out performance; see the subclass."""
        raise NotImplementedError

    def loss(self, net: FeedForward, params: dict, batch: Batch) -> float:
        """The task loss of ``net`` with ``params`` on ``batch`` (dimensionless).

        Parameters
        ----------
        net : FeedForward
            A network with ``n_inputs`` inputs and ``n_outputs`` outputs.
        params : dict of str to ndarray
        batch : Batch
            ``x`` of shape ``(B, n_inputs)`` and the task's targets.

        Returns
        -------
        float
            The batch mean of the per-sample loss stated in the class docstring.
        """
        return net.loss(params, batch.x, batch.target, kind=self.loss_kind)

    def gradient(self, net: FeedForward, params: dict, batch: Batch) -> dict:
        """The exact gradient of :meth:`loss` at ``params`` on the same ``batch``.

        Returns
        -------
        dict of str to ndarray
            Same keys and shapes as ``params`` (units: loss per parameter unit).
        """
        return net.loss_and_grad(params, batch.x, batch.target, kind=self.loss_kind)[1]

    def loss_and_gradient(self, net, params, batch) -> tuple[float, dict]:
        """:meth:`loss` and :meth:`gradient` from one forward and backward pass."""
        return net.loss_and_grad(params, batch.x, batch.target, kind=self.loss_kind)

    def signals(self, net, params, batch) -> dict:
        """The network's local signals on ``batch.x`` plus ``"target"`` (``batch.target``).

        This is the ``signals(params, batch)`` callable the engine needs, once ``net`` is
        bound; supervised rules (backprop, feedback alignment, node perturbation) read
        ``signals["input"]`` and ``signals["target"]``.
        """
        out = net.signals(params, batch.x)
        out["target"] = batch.target
        return out

    def student(self, hidden=(), activation: str = "tanh", **kwargs) -> FeedForward:
        """A network that fits the task: ``sizes = [n_inputs, *hidden, n_outputs]``.

        Parameters
        ----------
        hidden : int or sequence of int
            Hidden layer widths (empty: a single linear layer).
        activation : str
            The hidden activation; the output layer is linear (for ``"cross_entropy"`` its
            pre-activation is the logits).
        **kwargs
            Passed to :class:`FeedForward` (``bias``, ``init_scale``).
        """
        hidden = [int(hidden)] if np.ndim(hidden) == 0 else [int(h) for h in hidden]
        sizes = [self.n_inputs, *hidden, self.n_outputs]
        acts = [activation] * len(hidden) + ["linear"]
        return FeedForward(sizes=sizes, activations=acts, **kwargs)

    def _check_net(self, net):
        sizes = list(getattr(net, "sizes", []))
        if not sizes or sizes[0] != self.n_inputs or sizes[-1] != self.n_outputs:
            raise InvalidParameterError(
                f"The network has sizes {sizes}; {type(self).__name__} needs "
                f"{self.n_inputs} inputs and {self.n_outputs} outputs.")


class _Teacher(SupervisedTask):
    """Regression onto a fixed random network ``teacher_net`` with ``teacher_params``.

    Loss: ``L = mean_b 0.5 * ||y_b - y*_b||^2`` with ``y`` the student's output and
    ``y* = teacher(x) + noise * N(0, I)``, ``x ~ N(0, I)``.
    """

    loss_kind = "mse"

    def _setup(self, teacher_net, rng, noise, n_eval):
        self.noise = float(noise)
        if not np.isfinite(self.noise) or self.noise < 0:
            raise InvalidParameterError(f"The 'noise' parameter must be >= 0. Got {noise!r}.")
        self.teacher_net = teacher_net
        self.teacher_params = teacher_net.init_params(rng)
        # The evaluation set gets its own stream, drawn after the teacher, so that its
        # size does not change the teacher a given seed produces.
        eval_rng = np.random.default_rng(rng.integers(2**63))
        self.eval_batch = self.batch(_count("n_eval", n_eval), eval_rng)

    def batch(self, n, rng) -> Batch:
        """Draw ``n`` samples ``x ~ N(0, I)`` with the teacher's (noisy) outputs.

        Returns
        -------
        Batch
            ``x`` of shape ``(n, n_inputs)``, ``target`` of shape ``(n, n_outputs)``.
        """
        n = _count("n", n)
        x = rng.standard_normal((n, self.n_inputs))
        y = self.teacher_net.forward(self.teacher_params, x).output
        if self.noise > 0:
            y = y + self.noise * rng.standard_normal(y.shape)
        return Batch(x=x, target=y)

    def evaluate(self, net, params, rng=None) -> dict:
        """The loss on the task's fixed evaluation set (``n_eval`` samples).

        Parameters
        ----------
        net, params
            The student.
        rng : ignored
            Accepted for a uniform interface; the evaluation set is fixed at construction.

        Returns
        -------
        dict
            ``{"loss": L}``, the loss of the class docstring on the evaluation set (its
            targets carry the same label noise as training batches).
        """
        self._check_net(net)
        return {"loss": self.loss(net, params, self.eval_batch)}


class LinearTeacher(_Teacher):
    """Linear teacher-student regression.

    The teacher is ``y* = W* x`` (no bias) with ``W*`` of shape ``(n_outputs, n_inputs)``
    drawn from ``N(0, 1/n_inputs)``, so each target has unit variance; inputs are
    ``x ~ N(0, I)``; targets get ``noise * N(0, I)`` added.

    Loss: ``L = mean_b 0.5 * ||y_b - y*_b||^2`` over a batch, ``y`` the student's output.
    A student ``FeedForward(sizes=[n_inputs, n_outputs], activations=["linear"])`` at
    ``teacher_params`` has zero loss when ``noise == 0``.

    Parameters
    ----------
    n_inputs, n_outputs : int
    rng : numpy.random.Generator or int
        Draws the teacher and then the fixed evaluation set.
    noise : float, default 0.0
        Standard deviation of the label noise (output units).
    n_eval : int, default 4096
        Size of the fixed evaluation set of :meth:`evaluate`.

    Attributes
    ----------
    teacher_net : FeedForward
    teacher_params : dict of str to ndarray
        ``{"W_out": W*, "b_out": zeros}``.
    eval_batch : Batch
    """

    def __init__(self, n_inputs, n_outputs, rng, noise=0.0, *, n_eval=4096):
        self.n_inputs = _count("n_inputs", n_inputs)
        self.n_outputs = _count("n_outputs", n_outputs)
        rng = _generator(rng)
        net = FeedForward(sizes=[self.n_inputs, self.n_outputs], activations=["linear"])
        self._setup(net, rng, noise, n_eval)


class TanhTeacher(_Teacher):
    """Nonlinear teacher-student regression: a random tanh network is the teacher.

    The teacher is ``y* = W2 tanh(W1 x)`` with ``W1`` of shape ``(n_hidden, n_inputs)``
    drawn from ``N(0, 1/n_inputs)`` and ``W2`` of shape ``(n_outputs, n_hidden)`` from
    ``N(0, 1/n_hidden)``, zero biases (so hidden pre-activations have unit variance and the
    tanh units work in their nonlinear range); inputs ``x ~ N(0, I)``.

    Loss: ``L = mean_b 0.5 * ||y_b - y*_b||^2`` over a batch. A student with the teacher's
    architecture (``teacher_net``) at ``teacher_params`` has zero loss when ``noise == 0``.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
    rng : numpy.random.Generator or int
        Draws the teacher and then the fixed evaluation set.
    noise : float, default 0.0
        Standard deviation of the label noise (output units).
    n_eval : int, default 4096
        Size of the fixed evaluation set of :meth:`evaluate`.

    Attributes
    ----------
    teacher_net : FeedForward
        ``FeedForward(sizes=[n_inputs, n_hidden, n_outputs], activations="tanh")``.
    teacher_params : dict of str to ndarray
    eval_batch : Batch
    """

    def __init__(self, n_inputs, n_hidden, n_outputs, rng, *, noise=0.0, n_eval=4096):
        self.n_inputs = _count("n_inputs", n_inputs)
        self.n_hidden = _count("n_hidden", n_hidden)
        self.n_outputs = _count("n_outputs", n_outputs)
        rng = _generator(rng)
        net = FeedForward(sizes=[self.n_inputs, self.n_hidden, self.n_outputs],
                          activations="tanh")
        self._setup(net, rng, noise, n_eval)


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


TASKS = {
    "linear-teacher": (LinearTeacher, {"n_inputs": 20, "n_outputs": 5}),
    "teacher-student": (TanhTeacher, {"n_inputs": 20, "n_hidden": 10, "n_outputs": 5}),
    "digits": (Digits, {}),
}
"""Task name -> (class, default keyword arguments) used by :func:`make_task`."""


def make_task(name: str, rng=0, **kwargs) -> SupervisedTask:
    """Build a supervised task by name.

    Parameters
    ----------
    name : {"linear-teacher", "teacher-student", "digits"}
        ``"teacher-student"`` is the tanh teacher (:class:`TanhTeacher`).
    rng : numpy.random.Generator or int, default 0
        The task's random source.
    **kwargs
        Constructor arguments overriding the defaults (linear-teacher: ``n_inputs=20,
        n_outputs=5``; teacher-student: ``n_inputs=20, n_hidden=10, n_outputs=5``).

    Raises
    ------
    InvalidParameterError
        For an unknown name (listing the known ones) or an unknown keyword.
    """
    if name not in TASKS:
        known = ", ".join(repr(k) for k in TASKS)
        raise InvalidParameterError(f"Unknown task {name!r}; known tasks: {known}.")
    cls, defaults = TASKS[name]
    allowed = [p for p in inspect.signature(cls).parameters if p != "rng"]
    for key in kwargs:
        if key not in allowed:
            raise InvalidParameterError(f"Unknown parameter {key!r} of task {name!r} "
                                        f"(known: {', '.join(allowed)}).")
    return cls(rng=rng, **{**defaults, **kwargs})
