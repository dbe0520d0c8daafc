"""A sequence task and its leaky rate RNN as a :class:`~plasticity.problems.Problem`.

The loss is the task's per-step loss (``mse`` or ``cross_entropy``, as the task declares)
averaged over the masked steps of a batch of sequences (:mod:`plasticity.substrates.rnn`).
Its exact batch gradient is BPTT. The population gradient, the one reference of every
headline cosine, is the BPTT gradient of the mean loss over a fixed evaluation set of
``n_eval`` sequences drawn once from ``eval_seed`` and reused at every call (so that
successive updates are judged against the same reference), with per-element standard
errors ``sqrt(s^2 / n_eval)`` from the unbiased variance ``s^2`` of the per-sequence
gradients.

The per-sequence gradients weight every sequence by its own masked steps; the batch loss
weights steps equally over the whole batch. The two coincide when every sequence has the
same number of masked steps (as in the Add, Mimic, flip-flop and MNIST-1D tasks); the
standard error assumes that.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.problems.base import Problem

__all__ = ["DEFAULT_N_EVAL_SEQUENCES", "RecurrentProblem"]

#: Sequences behind the population gradient. The cost of a call is one BPTT pass over
#: them (about 20 ms for 256 sequences of 40 steps at n = 32).
DEFAULT_N_EVAL_SEQUENCES = 256


class RecurrentProblem(Problem):
    """A sequence task (``batch(n, rng)`` of ``x``, ``target``, ``mask``) and its RNN.

    Parameters
    ----------
    task
        A sequence task: ``n_in``, ``n_out``, ``loss`` (``"mse"`` or ``"cross_entropy"``),
        ``name`` (optional) and ``batch(n, rng)`` returning an object with ``x``
        (B, T, n_in), ``target`` (B, T, n_out) and ``mask`` (B, T).
    n_hidden : int, default 32
        Hidden units of the :class:`~plasticity.substrates.rnn.RateRNN`.
    alpha : float in (0, 1], default 1.0
        Its leak ``dt / tau``.
    activation : str, default "tanh"
    g : float, default 1.0
        Gain of the initial recurrent weights (:meth:`RateRNN.init_params`).
    n_eval : int, default :data:`DEFAULT_N_EVAL_SEQUENCES`
        Sequences of the fixed evaluation set, >= 2.
    eval_seed : int or sequence of int, default 0
        Seeds the evaluation set (drawn once, lazily, at the first call).

    Attributes
    ----------
    task, net : the task and the :class:`RateRNN`
    reference : str
        ``"population-estimated"``.
    """

    substrate = "recurrent"
    reference = "population-estimated"

    def __init__(self, task, *, n_hidden=32, alpha=1.0, activation="tanh", g=1.0,
                 n_eval=DEFAULT_N_EVAL_SEQUENCES, eval_seed=0):
        from plasticity.substrates.rnn import RateRNN

        for attr in ("n_in", "n_out", "loss", "batch"):
            if not hasattr(task, attr):
                raise InvalidParameterError(
                    f"A recurrent problem needs a sequence task (with n_in, n_out, loss and "
                    f"batch); {type(task).__name__} has no {attr!r}.")
        if isinstance(n_eval, bool) or int(n_eval) != n_eval or int(n_eval) < 2:
            raise InvalidParameterError(
                f"The 'n_eval' parameter must be an integer >= 2. Got {n_eval!r}.")
        self.task = task
        self.net = RateRNN(n_in=task.n_in, n_hidden=n_hidden, n_out=task.n_out,
                           alpha=alpha, activation=activation, loss=task.loss)
        self.g = self._non_negative("g", g)
        self.name = getattr(task, "name", None) or type(task).__name__
        self.n_eval = int(n_eval)
        self.eval_seed = eval_seed
        self._eval = None

    # ------------------------------------------------------------------ protocol

    def init_params(self, rng) -> dict:
        """Initial RNN parameters (:meth:`RateRNN.init_params` with gain ``g``)."""
        return self.net.init_params(rng, g=self.g)

    def batch(self, n, rng):
        """``task.batch(n, rng)``: ``n`` independent sequences."""
        return self.task.batch(self._batch_size(n), rng)

    def signals(self, params, batch) -> dict:
        """:meth:`RateRNN.signals <plasticity.substrates.rnn.RateRNN.signals>` of ``batch``:
        the forward pass and the output error, everything an online rule reads."""
        return self.net.signals(params, batch.x, batch.target, batch.mask)

    def loss(self, params, batch) -> float:
        """The mask-weighted mean per-step loss on ``batch`` (task's units)."""
        return self.net.loss_value(self.net.forward(params, batch.x).y, batch.target,
                                   batch.mask)

    def batch_gradient(self, params, batch) -> dict:
        """The exact gradient of :meth:`loss` on ``batch`` (BPTT)."""
        return self.net.loss_and_grad(params, batch.x, batch.target, batch.mask)[1]

    def loss_and_gradient(self, params, batch):
        """:meth:`loss` and :meth:`batch_gradient` from one forward and backward pass."""
        return self.net.loss_and_grad(params, batch.x, batch.target, batch.mask)

    def population_gradient(self, params):
        """BPTT gradient of the evaluation set's mean loss, and its standard errors.

        Returns
        -------
        g : dict of str to ndarray
            Keys and shapes of ``params`` (loss units per parameter unit).
        se : dict of str to ndarray
            Per-element standard errors of ``g`` over the evaluation sequences.
        """
        batch = self.eval_batch
        net = self.net
        rnn_pass = net.forward(params, batch.x)
        error = net.output_error(rnn_pass.y, batch.target, batch.mask)
        grad, delta = net.backward(params, rnn_pass, error)
        from plasticity.substrates.activations import get_activation

        n = batch.x.shape[0]
        da = net.alpha * get_activation(net.activation).df(rnn_pass.a) * delta
        # per-sequence gradients, scaled so that their mean is the batch gradient
        per = {
            "W_in": np.einsum("bti,btj->bij", da, rnn_pass.x),
            "W_rec": np.einsum("bti,btj->bij", da, rnn_pass.h_prev),
            "b": da.sum(axis=1),
            "W_out": np.einsum("bto,btj->boj", error, rnn_pass.h),
            "c": error.sum(axis=1),
        }
        se = {k: np.sqrt(np.var(n * v, axis=0, ddof=1) / n) for k, v in per.items()}
        return grad, se

    def population_loss(self, params) -> float:
        """The mean loss on the evaluation set (the estimate of the expected loss)."""
        return self.loss(params, self.eval_batch)

    @property
    def eval_batch(self):
        """The fixed evaluation sequences (drawn once, then reused)."""
        if self._eval is None:
            self._eval = self.task.batch(self.n_eval, np.random.default_rng(self.eval_seed))
        return self._eval
