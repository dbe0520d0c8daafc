"""A discrete-time leaky rate RNN with a linear readout, its loss, and its exact gradient.

The network (Marschall, Cho & Savin 2020, JMLR 21:135, eq. 1, and Murray 2019) is

    a_t = W_rec h_{t-1} + W_in x_t + b              pre-activation, (n,)
    h_t = (1 - alpha) h_{t-1} + alpha f(a_t)        hidden state, h_0 = 0
    y_t = W_out h_t + c                             output, (n_out,)

for ``t = 1..T``, with ``alpha`` in ``(0, 1]`` (``alpha = dt / tau``; ``alpha = 1`` is the
vanilla RNN). The loss of a batch of ``B`` sequences is the mask-weighted mean of a
per-step loss ``l``:

    L = sum_{b,t} m_bt l(y_bt, target_bt) / sum_{b,t} m_bt

with ``l = 1/2 ||y - target||^2`` (``loss="mse"``) or the cross-entropy of
``softmax(y)`` against a target probability vector (``loss="cross_entropy"``, in nats).
The mask ``m`` says which steps count (e.g. no target exists before the task's longest
lag).

The exact gradient is computed by backpropagation through time (:meth:`RateRNN.backward`),
which also returns ``delta_t = dL/dh_t``, the total derivative of the loss with respect
to each hidden state: the "ideal learning signal" against which the online rules'
approximations are judged (Bellec et al. 2020, eq. 3). With ``e_t = dL/dy_t``:

    delta_t = W_out^T e_t + (1 - alpha) delta_{t+1} + W_rec^T (alpha f'(a_{t+1}) * delta_{t+1})
    dL/da_t = alpha f'(a_t) * delta_t
    dL/dW_rec = sum_t dL/da_t h_{t-1}^T,  dL/dW_in = sum_t dL/da_t x_t^T,  dL/db = sum_t dL/da_t
    dL/dW_out = sum_t e_t h_t^T,          dL/dc = sum_t e_t

Parameters are a flat dict: ``W_in`` (n, n_in), ``W_rec`` (n, n), ``b`` (n,),
``W_out`` (n_out, n), ``c`` (n_out,). All arrays carry a leading batch axis ``B`` and a
time axis ``T``: ``x`` is (B, T, n_in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from plasticity.errors import InvalidParameterError
from plasticity.substrates.activations import ACTIVATIONS, get_activation
from plasticity.validation import Hyperparameters

__all__ = ["RNNPass", "RateRNN", "RECURRENT_KEYS"]

#: The parameters whose gradient flows through the recurrence (the online rules'
#: business); ``W_out`` and ``c`` have an exact local gradient at every step.
RECURRENT_KEYS: tuple[str, ...] = ("W_in", "W_rec", "b")


@dataclass(frozen=True)
class RNNPass:
    """The forward pass of a batch of sequences, everything the rules and BPTT need.

    Attributes
    ----------
    x : ndarray, shape (B, T, n_in)
        Inputs.
    a : ndarray, shape (B, T, n)
        Pre-activations ``a_t``.
    h : ndarray, shape (B, T, n)
        Hidden states ``h_t``.
    h_prev : ndarray, shape (B, T, n)
        ``h_{t-1}`` for each step (``h_0 = 0`` at ``t = 1``).
    y : ndarray, shape (B, T, n_out)
        Outputs ``y_t`` (logits for the cross-entropy loss).
    """

    x: np.ndarray
    a: np.ndarray
    h: np.ndarray
    h_prev: np.ndarray
    y: np.ndarray


def _softmax(y):
    z = y - y.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class RateRNN(Hyperparameters):
    """A leaky rate RNN with a linear readout (see the module docstring for the equations).

    Parameters
    ----------
    n_in, n_hidden, n_out : int
        Input, hidden and output sizes, each >= 1.
    alpha : float in (0, 1], default 1.0
        Leak ``dt / tau``: the fraction of the hidden state replaced at each step.
    activation : str, default "tanh"
        ``f``: one of :data:`plasticity.substrates.activations.ACTIVATIONS`.
    loss : {"mse", "cross_entropy"}, default "mse"
        The per-step loss ``l``.

    Examples
    --------
    >>> import numpy as np
    >>> net = RateRNN(n_in=1, n_hidden=8, n_out=2, alpha=0.5, loss="cross_entropy")
    >>> params = net.init_params(np.random.default_rng(0))
    >>> net.forward(params, np.zeros((3, 10, 1))).y.shape
    (3, 10, 2)
    """

    n_in: int = Field(ge=1)
    n_hidden: int = Field(ge=1)
    n_out: int = Field(ge=1)
    alpha: float = Field(default=1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    activation: str = "tanh"
    loss: Literal["mse", "cross_entropy"] = "mse"

    @field_validator("activation")
    @classmethod
    def _check_activation(cls, value):
        if value not in ACTIVATIONS:
            known = ", ".join(repr(k) for k in ACTIVATIONS)
            raise ValueError(f"must be one of {known}")
        return value

    # -- parameters ---------------------------------------------------------------------
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every parameter array."""
        n, n_in, n_out = self.n_hidden, self.n_in, self.n_out
        return {"W_in": (n, n_in), "W_rec": (n, n), "b": (n,), "W_out": (n_out, n),
                "c": (n_out,)}

    def init_params(self, rng, g: float = 1.0) -> dict[str, np.ndarray]:
        """Draw initial parameters.

        ``W_rec ~ N(0, g^2 / n)`` (gain ``g`` of the recurrent Jacobian's bulk spectrum),
        ``W_in ~ N(0, 1 / n_in)``, ``W_out ~ N(0, 1 / n)``, biases zero.
        """
        n = self.n_hidden
        return {
            "W_in": rng.normal(0.0, 1.0 / np.sqrt(self.n_in), (n, self.n_in)),
            "W_rec": rng.normal(0.0, g / np.sqrt(n), (n, n)),
            "b": np.zeros(n),
            "W_out": rng.normal(0.0, 1.0 / np.sqrt(n), (self.n_out, n)),
            "c": np.zeros(self.n_out),
        }

    def check_params(self, params) -> dict:
        """``params`` if every array has its shape, else one line naming the first that
        does not."""
        if not isinstance(params, dict):
            raise InvalidParameterError(
                f"RateRNN params must be a dict of arrays; got {type(params).__name__}.")
        for key, shape in self.param_shapes().items():
            if key not in params:
                raise InvalidParameterError(f"RateRNN params lack {key!r} (shape {shape}).")
            if np.shape(params[key]) != shape:
                raise InvalidParameterError(
                    f"RateRNN params[{key!r}] has shape {np.shape(params[key])}; "
                    f"expected {shape}.")
        return params

    def _inputs(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 3 or x.shape[2] != self.n_in:
            raise InvalidParameterError(
                f"RateRNN inputs must have shape (B, T, n_in={self.n_in}); got {x.shape}.")
        return x

    # -- forward ------------------------------------------------------------------------
    def forward(self, params, x, noise=None) -> RNNPass:
        """Run the network on a batch of sequences ``x`` of shape (B, T, n_in).

        ``noise`` (B, T, n), optional, is added to the pre-activations ``a_t`` (node
        perturbation); ``RNNPass.a`` then holds the perturbed pre-activations.
        """
        self.check_params(params)
        x = self._inputs(x)
        B, T, _ = x.shape
        if noise is not None and np.shape(noise) != (B, T, self.n_hidden):
            raise InvalidParameterError(
                f"RateRNN noise must have shape (B, T, n) = {(B, T, self.n_hidden)}; "
                f"got {np.shape(noise)}.")
        # This stays in NumPy: its per-step matmul over the batch (BLAS) and vectorised
        # activation are as fast as the compiled kernel at n = 32 and up to 2x faster at
        # n = 64 (plasticity._kernels.rnn.rnn_forward; benchmarks/rnn_kernels.py).
        f = get_activation(self.activation).f
        n = self.n_hidden
        a = np.empty((B, T, n))
        h = np.empty((B, T, n))
        h_prev = np.empty((B, T, n))
        # the input drive of every step at once (one matmul), then the recurrence
        drive = x @ params["W_in"].T + params["b"]
        if noise is not None:
            drive = drive + noise
        state = np.zeros((B, n))
        for t in range(T):
            h_prev[:, t] = state
            a[:, t] = state @ params["W_rec"].T + drive[:, t]
            state = (1.0 - self.alpha) * state + self.alpha * f(a[:, t])
            h[:, t] = state
        y = h @ params["W_out"].T + params["c"]
        return RNNPass(x=x, a=a, h=h, h_prev=h_prev, y=y)

    # -- loss ---------------------------------------------------------------------------
    def _targets(self, y, target, mask):
        target = np.asarray(target, dtype=float)
        if target.shape != y.shape:
            raise InvalidParameterError(
                f"RateRNN targets must have the outputs' shape {y.shape}; got {target.shape}.")
        mask = np.ones(y.shape[:2]) if mask is None else np.asarray(mask, dtype=float)
        if mask.shape != y.shape[:2]:
            raise InvalidParameterError(
                f"RateRNN mask must have shape (B, T) = {y.shape[:2]}; got {mask.shape}.")
        total = mask.sum()
        if not total > 0:
            raise InvalidParameterError("RateRNN mask selects no step (its sum is 0).")
        return target, mask, total

    def step_losses(self, y, target) -> np.ndarray:
        """The per-step loss ``l(y_bt, target_bt)``, shape (B, T)."""
        if self.loss == "mse":
            return 0.5 * np.sum((y - target) ** 2, axis=-1)
        z = y - y.max(axis=-1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        return -np.sum(target * log_p, axis=-1)

    def loss_value(self, y, target, mask=None) -> float:
        """The mask-weighted mean loss ``L`` of outputs ``y`` (B, T, n_out)."""
        target, mask, total = self._targets(y, target, mask)
        return float(np.sum(mask * self.step_losses(y, target)) / total)

    def output_error(self, y, target, mask=None) -> np.ndarray:
        """``e_t = dL/dy_t``, shape (B, T, n_out) (mask and normalisation included).

        For the cross-entropy the targets must be probability vectors (they sum to 1),
        which makes ``dl/dy = softmax(y) - target``.
        """
        target, mask, total = self._targets(y, target, mask)
        if self.loss == "mse":
            d = y - target
        else:
            d = _softmax(y) - target
        return d * (mask / total)[..., None]

    # -- backward -----------------------------------------------------------------------
    def backward(self, params, rnn_pass: RNNPass, error) -> tuple[dict, np.ndarray]:
        """Backpropagation through time.

        Parameters
        ----------
        params : dict of str to ndarray
        rnn_pass : RNNPass
            The forward pass at ``params``.
        error : ndarray, shape (B, T, n_out)
            ``dL/dy_t`` (from :meth:`output_error`).

        Returns
        -------
        grad : dict of str to ndarray
            ``dL/dparams``, every key of :meth:`param_shapes`.
        delta : ndarray, shape (B, T, n)
            ``dL/dh_t``, the total derivative through all later steps.
        """
        # The batch loop runs in a compiled kernel (benchmarks/rnn_kernels.py: 1.3-3x
        # faster than BLAS over the batch at B = 16..256, n = 32..64); f'(a) is computed
        # here, where NumPy's vectorised tanh is several times faster than a scalar loop.
        from plasticity._kernels.rnn import rnn_backward

        self.check_params(params)
        B, T, n = rnn_pass.h.shape
        # the kernel does not check bounds: every array must match before it runs
        if (n != self.n_hidden or rnn_pass.x.shape != (B, T, self.n_in)
                or rnn_pass.a.shape != (B, T, n) or rnn_pass.h_prev.shape != (B, T, n)):
            raise InvalidParameterError(
                f"RateRNN.backward needs the forward pass of this network (n = "
                f"{self.n_hidden}, n_in = {self.n_in}); got h {rnn_pass.h.shape}, "
                f"x {rnn_pass.x.shape}.")
        error = np.ascontiguousarray(error, dtype=np.float64)
        if error.shape != (B, T, self.n_out):
            raise InvalidParameterError(
                f"RateRNN error must have shape (B, T, n_out) = {(B, T, self.n_out)}; "
                f"got {error.shape}.")
        c64 = np.ascontiguousarray
        fprime = get_activation(self.activation).df(rnn_pass.a)
        g_in, g_rec, g_b, g_out, g_c, delta = rnn_backward(
            c64(params["W_rec"], dtype=np.float64), c64(params["W_out"], dtype=np.float64),
            c64(rnn_pass.x), c64(fprime), c64(rnn_pass.h), c64(rnn_pass.h_prev), error,
            float(self.alpha))
        grad = {"W_in": g_in, "W_rec": g_rec, "b": g_b, "W_out": g_out, "c": g_c}
        return grad, delta

    def signals(self, params, x, target, mask=None) -> dict:
        """The local signals of one batch of sequences: everything an online rule reads.

        Returns
        -------
        dict
            ``"input"`` x (B, T, n_in), ``"preact"`` a (B, T, n), ``"hidden"`` h (B, T, n),
            ``"hidden_prev"`` h_{t-1} (B, T, n), ``"output"`` y (B, T, n_out),
            ``"error"`` dL/dy_t (B, T, n_out; mask and normalisation included),
            ``"target"`` (B, T, n_out) and ``"mask"`` (B, T).
        """
        rnn_pass = self.forward(params, x)
        mask = np.ones(rnn_pass.y.shape[:2]) if mask is None else mask
        return {"input": rnn_pass.x, "preact": rnn_pass.a, "hidden": rnn_pass.h,
                "hidden_prev": rnn_pass.h_prev, "output": rnn_pass.y,
                "error": self.output_error(rnn_pass.y, target, mask),
                "target": target, "mask": mask}

    def loss_and_grad(self, params, x, target, mask=None) -> tuple[float, dict]:
        """``(L, dL/dparams)`` on one batch of sequences, by BPTT."""
        rnn_pass = self.forward(params, x)
        loss = self.loss_value(rnn_pass.y, target, mask)
        grad, _ = self.backward(params, rnn_pass, self.output_error(rnn_pass.y, target, mask))
        return loss, grad
