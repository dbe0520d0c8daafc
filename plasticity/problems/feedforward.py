"""A supervised task and its feedforward student as a :class:`~plasticity.problems.Problem`.

The population gradient (the gradient of the *expected* loss, the one reference of every
headline cosine) comes in one of three kinds, recorded as :attr:`FeedForwardProblem.reference`:

``"exact-closed-form"``
    :class:`~plasticity.tasks.supervised.LinearTeacher` with a linear student (one
    layer, linear output). With ``x ~ N(0, I)``, label noise of standard deviation
    ``sigma`` and ``A = W - W*``, ``c = b - b*``::

        L(W, b) = E 0.5 ||W x + b - W* x - b* - sigma eps||^2
                = 0.5 (||A||_F^2 + ||c||^2 + n_out sigma^2),

    so ``dL/dW = A``, ``dL/db = c`` exactly (``se`` is None).
``"population"``
    :class:`~plasticity.tasks.supervised.Digits`: batches are drawn from the finite
    training set, so the population is that set and its mean gradient is exact
    (``se`` is None).
``"population-estimated"``
    Any other task (the tanh teacher-student): the mean gradient over a fixed evaluation
    set of ``n_eval`` samples drawn once from ``eval_seed`` and reused at every call, so
    that every update is judged against the same reference. ``se`` holds the standard
    error of that mean per element, ``sqrt(s^2 / n_eval)`` with ``s^2`` the unbiased
    variance of the per-sample gradients over the set. For a dense layer the per-sample
    gradient is ``n_eval * d_i (x) h_i`` (``d_i`` the back-propagated error of sample
    ``i``, already divided by ``n_eval``, ``h_i`` the layer's input), so the sum of
    squares over samples is ``n_eval^2 (d^2)^T (h^2)``: one extra matrix product per
    layer, no per-sample loop.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.problems.base import Problem

__all__ = ["DEFAULT_N_EVAL", "FeedForwardProblem"]

#: Evaluation-set size of the estimated population gradient. Measured on the
#: teacher-student task with backprop (batches of 16): se/|g| (the root-sum-square of
#: the standard errors over the gradient norm) is 0.07 at the start of training for
#: widths 8 to 64, 0.16-0.28 after 100 updates and 0.36-0.44 after 500, as |g| shrinks;
#: a call costs about 0.5 ms at width 8 and 2-3 ms at width 32 (one thread). With 1024
#: samples the ratios double (0.14 at the start, up to 0.9 after 500 updates) at a quarter
#: of the cost; the noise correction keeps the cosine's denominator unbiased either way
#: (mean cosines against 512 and 16,384 samples agree within 0.005; see
#: tests/test_problems_feedforward.py).
DEFAULT_N_EVAL = 4096

_NAMES = {"LinearTeacher": "linear-teacher", "TanhTeacher": "teacher-student",
          "Digits": "digits", "MNIST1D": "mnist1d"}


class FeedForwardProblem(Problem):
    """A :class:`~plasticity.tasks.supervised.SupervisedTask` with its student network.

    Parameters
    ----------
    task : SupervisedTask
        Supplies batches, the loss (stated in its docstring) and the exact batch gradient.
    net : FeedForward
        The student; its sizes must fit the task.
    n_eval : int, default :data:`DEFAULT_N_EVAL`
        Size of the fixed evaluation set of the estimated population gradient (unused
        where the gradient is exact).
    eval_seed : int or sequence of int, default 0
        Seeds the evaluation set (drawn once, lazily, at the first call).

    Attributes
    ----------
    task, net
    reference : {"exact-closed-form", "population", "population-estimated"}
        How :meth:`population_gradient` is obtained (module docstring).
    n_eval : int
        Samples behind the population gradient (the training-set size for digits,
        0 for the closed form).
    """

    substrate = "feedforward"

    def __init__(self, task, net, *, n_eval=DEFAULT_N_EVAL, eval_seed=0):
        from plasticity.tasks.supervised import Digits, LinearTeacher

        if isinstance(n_eval, bool) or int(n_eval) != n_eval or int(n_eval) < 2:
            raise InvalidParameterError(f"The 'n_eval' parameter must be an integer >= 2. "
                                        f"Got {n_eval!r}.")
        sizes = list(getattr(net, "sizes", []))
        if not sizes or sizes[0] != task.n_inputs or sizes[-1] != task.n_outputs:
            raise InvalidParameterError(
                f"The network has sizes {sizes}; {type(task).__name__} needs "
                f"{task.n_inputs} inputs and {task.n_outputs} outputs.")
        self.task, self.net = task, net
        self.name = _NAMES.get(type(task).__name__, type(task).__name__)
        self.eval_seed = eval_seed
        self._eval = None
        self._x2 = None
        if isinstance(task, LinearTeacher) and net.n_layers == 1 and _is_linear(net):
            self.reference, self.n_eval = "exact-closed-form", 0
        elif isinstance(task, Digits):
            self.reference = "population"
            self.n_eval = int(task.y_train.size)
        else:
            self.reference, self.n_eval = "population-estimated", int(n_eval)

    # ------------------------------------------------------------------ protocol

    def init_params(self, rng) -> dict:
        """The student's initial parameters (:meth:`FeedForward.init_params`)."""
        return self.net.init_params(rng)

    def batch(self, n, rng):
        """``task.batch(n, rng)``."""
        return self.task.batch(n, rng)

    def signals(self, params, batch) -> dict:
        """``task.signals``: the student's activities, pre-activations and ``"target"``."""
        return self.task.signals(self.net, params, batch)

    def loss(self, params, batch) -> float:
        """``task.loss`` on ``batch`` (the loss of the task's docstring)."""
        return self.task.loss(self.net, params, batch)

    def batch_gradient(self, params, batch) -> dict:
        """``task.gradient``: the exact gradient of :meth:`loss` on ``batch``."""
        return self.task.gradient(self.net, params, batch)

    def loss_and_gradient(self, params, batch):
        """:meth:`loss` and :meth:`batch_gradient` from one forward and backward pass."""
        return self.task.loss_and_gradient(self.net, params, batch)

    def population_gradient(self, params):
        """The gradient of the expected loss at ``params``: ``(g, se)``.

        Returns
        -------
        g : dict of str to ndarray
            Keys and shapes of ``params`` (units: loss per parameter unit).
        se : dict of str to ndarray or None
            Per-element standard errors of ``g`` (``"population-estimated"``), else None.
        """
        if self.reference == "exact-closed-form":
            return self._closed_form(params)[1], None
        batch = self.eval_batch
        res = self.net.backprop(params, batch.x, batch.target, kind=self.task.loss_kind)
        if self.reference == "population":
            return res.grads, None
        return res.grads, self._standard_errors(res, batch)

    def population_loss(self, params) -> float:
        """The expected loss: closed form, the training-set mean (digits), or its estimate
        on the evaluation set."""
        if self.reference == "exact-closed-form":
            return self._closed_form(params)[0]
        return self.task.loss(self.net, params, self.eval_batch)

    # ------------------------------------------------------------------ internals

    @property
    def eval_batch(self):
        """The fixed set behind the population gradient (drawn once, then reused)."""
        if self._eval is None:
            from plasticity.tasks.batch import Batch

            if self.reference == "population":
                self._eval = Batch(x=self.task.x_train, target=self.task.y_train)
            elif self.reference == "population-estimated":
                self._eval = self.task.batch(self.n_eval,
                                             np.random.default_rng(self.eval_seed))
            else:
                raise AttributeError("the closed form needs no evaluation set")
        return self._eval

    def _standard_errors(self, res, batch):
        n = batch.x.shape[0]
        net = self.net
        weights, biases, names = net.weight_names(), net.bias_names(), net.layer_names()
        if self._x2 is None:
            self._x2 = batch.x * batch.x  # the inputs never change: square them once
        se = {}
        for k, w in enumerate(weights):
            d = res.deltas[names[k]]            # (n, n_out), already divided by n
            below2 = self._x2 if k == 0 else np.square(res.activity.post[k - 1])
            d2 = d * d
            g = res.grads[w]
            # per-sample gradient n d_i (x) h_i: mean of squares n (d^2)^T (h^2)
            var = (n * (d2.T @ below2) - g * g) * (n / (n - 1.0))
            se[w] = np.sqrt(np.maximum(var, 0.0) / n)
            if biases:
                gb = res.grads[biases[k]]
                var_b = (n * d2.sum(axis=0) - gb * gb) * (n / (n - 1.0))
                se[biases[k]] = np.sqrt(np.maximum(var_b, 0.0) / n)
        return {k: se[k] for k in res.grads}

    def _closed_form(self, params):
        """``(L, grad)`` of the linear student on the linear teacher (module docstring)."""
        for key, shape in self.net.param_shapes().items():
            if np.shape(params.get(key)) != shape:
                raise InvalidParameterError(f"params[{key!r}] has shape "
                                            f"{np.shape(params.get(key))}; expected {shape}.")
        teacher = self.task.teacher_params
        a = params["W_out"] - teacher["W_out"]
        loss = 0.5 * float(np.sum(a * a))
        grad = {"W_out": a}
        if "b_out" in params:
            c = params["b_out"] - teacher.get("b_out", 0.0)
            loss += 0.5 * float(np.sum(c * c))
            grad["b_out"] = c
        loss += 0.5 * self.task.n_outputs * self.task.noise ** 2
        return loss, {k: grad[k] for k in params}


def _is_linear(net) -> bool:
    """Whether every layer of ``net`` is the identity (checked on two points)."""
    x = np.array([-1.5, 0.3, 2.0])
    return all(np.allclose(act.f(x), x) and np.allclose(act.df(x), 1.0)
               for act in net.layer_activations())
