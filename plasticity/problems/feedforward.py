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

Cost: the oracle reuses what is already computed. :meth:`FeedForwardProblem.
batch_gradient_from_signals` and :meth:`~FeedForwardProblem.loss_from_signals` read the
minibatch's forward pass off the signals the rule gets (only the backward pass is run;
the loss it computes on the way is kept for the ``loss_from_signals`` call on the same
signals and parameters that a measured update makes next), and the evaluation set is
kept converted (inputs, targets, squared inputs) with its ``(n_eval, width)``
activations and errors written into resident buffers instead of fresh arrays at every
call. :meth:`~FeedForwardProblem.loss` (the loss after an update, which a measured run
evaluates at every update) runs the forward pass into resident buffers too and computes
the loss alone, not the output error beside it; the network's layout (names, shapes,
activations) is read once, not at every call. The arithmetic is the network's, in its
order: the numbers are the same to the last bit.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.problems.base import Problem
from plasticity.substrates.activations import get_activation
from plasticity.substrates.feedforward import FeedForward
from plasticity.substrates.output_loss import batch_targets, output_error

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
        self._eval_xt = None
        self._work = _Work()
        self._batch_work = _Work()  # a minibatch's forward pass and errors (loss, oracle)
        self._layout_cache = None
        # the minibatch loss the last backward pass computed beside the gradient, for
        # the loss_from_signals call that follows it (see batch_gradient_from_signals)
        self._signals_loss = None
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
        """``task.loss`` on ``batch`` (the loss of the task's docstring).

        The same number, from a forward pass into resident buffers and the loss alone
        (module docstring), where the task and the network are the stock ones; a task or
        network class with its own loss or forward pass gets it.
        """
        x = batch.x
        if (not _own(self, "loss") or type(self.task).loss is not _task_loss()
                or not isinstance(x, np.ndarray) or x.ndim != 2):
            return self.task.loss(self.net, params, batch)
        lay = self._layout()
        self._check_params(params, lay)
        x, _ = self.net._as_batch(x)
        kind = self.task.loss_kind
        t = batch_targets(batch.target, kind, lay.n_out, x.shape[0], False)
        pre, post = self._forward(params, x, self._batch_work, lay)
        return _output_loss(pre[-1], post[-1], t, kind)

    def batch_gradient(self, params, batch) -> dict:
        """``task.gradient``: the exact gradient of :meth:`loss` on ``batch``."""
        return self.task.gradient(self.net, params, batch)

    def batch_gradient_from_signals(self, params, batch, signals) -> dict:
        """:meth:`batch_gradient` from the forward pass already in ``signals``.

        ``signals`` must be :meth:`signals` ``(params, batch)`` at these very ``params``
        (as the engine hands a rule and its oracle): only the backward pass is run, with
        the arithmetic of :meth:`FeedForward.backprop`, so the result is the same
        to the last bit.

        Returns
        -------
        dict of str to ndarray
            Keys and shapes of ``params`` (units: loss per parameter unit).
        """
        if not _own(self, "signals", "batch_gradient"):
            return self.batch_gradient(params, batch)  # a subclass's own oracle or signals
        lay = self._layout()
        pre = [signals["u_" + n] for n in lay.names]
        post = [signals[n] for n in lay.names]
        x = signals["input"]
        if x.ndim != 2:  # one sample: let the network handle its shape convention
            return self.batch_gradient(params, batch)
        t = batch_targets(batch.target, self.task.loss_kind, lay.n_out, x.shape[0], False)
        loss, grads, _ = self._backward(params, x, t, pre, post, self._batch_work, lay)
        # The backward pass computes the loss on the way (output_error, the same bits as
        # _output_loss): kept for one loss_from_signals call on these very signals and
        # parameters, which a measured run makes next (saves a softmax per update).
        self._signals_loss = (signals, params, pre[-1], post[-1], batch.target, loss)
        return grads

    def loss_from_signals(self, params, batch, signals) -> float:
        """:meth:`loss` from the forward pass in ``signals`` (as for
        :meth:`batch_gradient_from_signals`): no forward pass is repeated.

        Right after :meth:`batch_gradient_from_signals` with these very ``signals``,
        ``params`` and targets (the same objects), the loss its backward pass computed
        is returned (the same bits as computing it again); the kept value is used once.
        """
        x = signals["input"]
        if x.ndim != 2 or not _own(self, "signals", "loss"):
            return self.loss(params, batch)
        lay = self._layout()
        last = lay.names[-1]
        u_out, y_out = signals["u_" + last], signals[last]
        cached, self._signals_loss = self._signals_loss, None
        if cached is not None and all(a is b for a, b in zip(
                cached[:-1], (signals, params, u_out, y_out, batch.target), strict=True)):
            return cached[-1]
        kind = self.task.loss_kind
        t = batch_targets(batch.target, kind, lay.n_out, x.shape[0], False)
        return _output_loss(u_out, y_out, t, kind)

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
        if _own(self, "eval_batch"):
            x, t = self._eval_arrays()
            # The same forward and backward arithmetic as net.backprop, minus the
            # per-call conversion of the fixed inputs and targets (see _eval_arrays).
            lay = self._layout()
            self._check_params(params, lay)
            work = self._work
            pre, post = self._forward(params, x, work, lay)
            _, grads, deltas = self._backward(params, x, t, pre, post, work, lay)
        else:  # a subclass's own evaluation set or network: its own backprop
            batch = self.eval_batch
            res = self.net.backprop(params, batch.x, batch.target, kind=self.task.loss_kind)
            grads, post = res.grads, res.activity.post
            deltas = [res.deltas[n] for n in self.net.layer_names()]
            x, work = np.asarray(batch.x, dtype=np.float64), None
        if self.reference == "population":
            return grads, None
        return grads, self._standard_errors(grads, deltas, post, x, work)

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

    def _eval_arrays(self):
        """The evaluation set as the forward pass wants it, converted once and kept:
        inputs as a float64 ``(n, n_in)`` array, targets as float64 ``(n, n_out)`` (one-hot
        for class labels), exactly what :meth:`FeedForward.backprop` makes of them at
        every call."""
        if self._eval_xt is None:
            batch = self.eval_batch
            x, _ = self.net._as_batch(batch.x)  # n_eval >= 2: always a batch
            t = batch_targets(batch.target, self.task.loss_kind, self.net.sizes[-1],
                              x.shape[0], False)
            self._eval_xt = (x, t)
        return self._eval_xt

    def _layout(self):
        """The network's names, shapes and activations (:class:`_Layout`), read once and
        read again only when the network (or one of its fields) is replaced."""
        net = self.net
        acts = net.activations
        key = (tuple(net.sizes), net.bias, acts if isinstance(acts, str) else tuple(acts))
        cached = self._layout_cache
        if cached is None or cached[0] is not net or cached[1] != key:
            acts = net.layer_activations()
            cached = self._layout_cache = (net, key, _Layout(
                weights=net.weight_names(), biases=net.bias_names(), acts=acts,
                names=net.layer_names(), shapes=net.param_shapes(), n_out=net.sizes[-1]))
        return cached[2]

    def _check_params(self, params, lay):
        """:meth:`FeedForward._check_params` (the same errors) with the layout's shapes."""
        if isinstance(params, dict):
            for name, shape in lay.shapes.items():
                p = params.get(name)
                if getattr(p, "shape", None) != shape:
                    break
            else:
                return
        self.net._check_params(params)

    def _forward(self, params, x, work, lay):
        """``(pre, post)`` of a ``(B, n_in)`` batch: :meth:`FeedForward._forward2d`'s
        operations, writing the ``(B, width)`` arrays into the resident buffers of
        ``work`` (element-wise and matrix products give the same bits whatever array
        they write to; fresh ~MB arrays at every update cost page faults). The arrays
        are overwritten by the next call with the same ``work``."""
        pre, post = [], []
        h = x
        biases = lay.biases
        for k, (w, act) in enumerate(zip(lay.weights, lay.acts, strict=True)):
            shape = (x.shape[0], params[w].shape[0])
            u = np.matmul(h, params[w].T, out=work(f"u{k}", shape))
            if biases:
                np.add(u, params[biases[k]], out=u)
            h = _apply(act, "f", u, work(f"h{k}", shape))
            pre.append(u)
            post.append(h)
        return pre, post

    def _backward(self, params, x, t, pre, post, work=None, lay=None):
        """``(loss, grads, deltas)`` of a ``(B, n_in)`` batch from its forward pass.

        The operations of :meth:`FeedForward.backprop` without feedback, in the same
        order, so that the gradient equals the network's to the last bit (tested in
        tests/test_alignment_cache.py); ``deltas`` lists each layer's error from the
        input side up. With ``work`` the hidden layers' errors are written into its
        resident arrays; the gradients are always fresh.
        """
        lay = self._layout() if lay is None else lay
        weights, biases, acts = lay.weights, lay.biases, lay.acts
        loss, delta = output_error(pre[-1], post[-1], t, self.task.loss_kind, acts[-1])
        n_layers = len(weights)
        grads, deltas = {}, [None] * n_layers
        for k in range(n_layers - 1, -1, -1):
            below = x if k == 0 else post[k - 1]
            grads[weights[k]] = delta.T @ below
            if biases:
                grads[biases[k]] = delta.sum(axis=0)
            deltas[k] = delta
            if k > 0:
                back = np.ascontiguousarray(params[weights[k]].T.T)
                shape = pre[k - 1].shape
                if work is None:
                    delta = (delta @ back) * acts[k - 1].df(pre[k - 1])
                else:
                    below_delta = np.matmul(delta, back, out=work(f"d{k - 1}", shape))
                    act = acts[k - 1]
                    if act.f is _TANH.f and act.df is _TANH.df:
                        # tanh' = 1 - tanh(u)^2 with tanh(u) the layer's activity, which
                        # the forward pass computed as np.tanh(u): the same bits as
                        # _tanh_df's second np.tanh, one transcendental pass fewer
                        h = post[k - 1]
                        df = np.multiply(h, h, out=work("tmp", shape))
                        df = np.subtract(1.0, df, out=df)
                    else:
                        df = _apply(act, "df", pre[k - 1], work("tmp", shape))
                    delta = np.multiply(below_delta, df, out=below_delta)
        return loss, {k: grads[k] for k in lay.shapes}, deltas

    def _standard_errors(self, grads, deltas, post, x, work=None):
        n = x.shape[0]
        net = self.net
        weights, biases = net.weight_names(), net.bias_names()
        if self._x2 is None:
            self._x2 = x * x  # the inputs never change: square them once
        se = {}
        for k, w in enumerate(weights):
            d = deltas[k]                       # (n, n_out), already divided by n
            out = None if work is None else work("tmp", d.shape)
            d2 = np.multiply(d, d, out=out)
            below2 = (self._x2 if k == 0 else
                      np.square(post[k - 1], out=None if work is None
                                else work("sq", post[k - 1].shape)))
            g = grads[w]
            # per-sample gradient n d_i (x) h_i: mean of squares n (d^2)^T (h^2)
            var = (n * (d2.T @ below2) - g * g) * (n / (n - 1.0))
            se[w] = np.sqrt(np.maximum(var, 0.0) / n)
            if biases:
                gb = grads[biases[k]]
                var_b = (n * d2.sum(axis=0) - gb * gb) * (n / (n - 1.0))
                se[biases[k]] = np.sqrt(np.maximum(var_b, 0.0) / n)
        return {k: se[k] for k in grads}

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


class _Layout(NamedTuple):
    """What the passes need to know of the network (names from input to output)."""

    weights: tuple
    biases: tuple
    acts: tuple
    names: tuple
    shapes: dict
    n_out: int


def _output_loss(u_out, y_out, t, kind) -> float:
    """The loss of :func:`output_error` alone, with its arithmetic (same bits), without
    the error ``dL/du_out`` beside it (tested against it in
    tests/test_alignment_cache.py)."""
    n_batch = u_out.shape[0]
    if kind == "mse":
        diff = y_out - t
        return float(0.5 * np.sum(diff * diff) / n_batch)
    z = u_out - u_out.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
    logp = z - log_norm
    return float(-np.sum(t * logp) / n_batch)


@functools.cache
def _task_loss():
    from plasticity.tasks.supervised_task import SupervisedTask

    return SupervisedTask.loss


class _Work:
    """Resident float64 arrays by name, reallocated only when the shape changes (one
    problem per thread: the arrays are overwritten at every call)."""

    def __init__(self):
        self._arrays = {}

    def __call__(self, name, shape):
        arr = self._arrays.get(name)
        if arr is None or arr.shape != shape:
            arr = self._arrays[name] = np.empty(shape)
        return arr


_TANH, _LINEAR = get_activation("tanh"), get_activation("linear")


def _apply(act, which, u, out):
    """``act.f(u)`` or ``act.df(u)`` (``which``), written into ``out`` for tanh and the
    identity with the registry's own formulas (same bits); other activations allocate."""
    if act.f is _TANH.f and act.df is _TANH.df:
        if which == "f":
            return np.tanh(u, out=out)
        t = np.tanh(u, out=out)                    # 1 - tanh(u)^2, as _tanh_df
        return np.subtract(1.0, np.multiply(t, t, out=t), out=t)
    if act.f is _LINEAR.f and act.df is _LINEAR.df:
        if which == "f":
            np.copyto(out, u)
            return out
        out.fill(1.0)
        return out
    return getattr(act, which)(u)


def _own(problem, *methods) -> bool:
    """Whether ``problem`` uses :class:`FeedForwardProblem`'s own ``methods`` (a subclass
    that overrides its signals, loss or gradient gets those, not the shared pass)."""
    return _own_classes(type(problem), type(problem.net), methods)


@functools.cache
def _own_classes(cls, net, methods) -> bool:
    # Asked at every update, answered once per pair of classes (classes are not changed
    # after their definition). The shared pass repeats FeedForward's own arithmetic: a
    # network class that changes it keeps its own methods.
    return (all(getattr(cls, m) is getattr(FeedForwardProblem, m) for m in methods)
            and all(getattr(net, m, None) is getattr(FeedForward, m)
                    for m in ("_forward2d", "backprop", "loss", "signals", "forward")))


def _is_linear(net) -> bool:
    """Whether every layer of ``net`` is the identity (checked on two points)."""
    x = np.array([-1.5, 0.3, 2.0])
    return all(np.allclose(act.f(x), x) and np.allclose(act.df(x), 1.0)
               for act in net.layer_activations())
