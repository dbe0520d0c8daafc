"""Predictive coding networks (Rao & Ballard 1999; Whittington & Bogacz 2017).

Every layer ``x_l`` (value nodes) is predicted from the layer below,
``mu_l = W_l phi(x_{l-1}) + b_l``, and error nodes report the precision-weighted mismatch
``eps_l = pi_l (x_l - mu_l)`` (``pi_l = 1 / Sigma_l > 0``, one scalar per layer). The
network minimises the energy ``F = sum_l 0.5 eps_l^T Sigma_l eps_l`` twice over: quickly in
the activities (inference, ``dx_l = gamma (-eps_l + phi'(x_l) * W_{l+1}^T eps_{l+1})``, a
compiled loop in :mod:`plasticity._kernels.predictive_coding`) and slowly in the weights,
with the local update ``dW_l = eta eps_l phi(x_{l-1})^T`` (error times presynaptic
activity) at the relaxed state.

The layout matches :class:`~plasticity.substrates.FeedForward`: ``x_0`` is the input
(clamped), ``x_l`` for ``l >= 1`` is the pre-activation of layer ``l``, the input enters
``W1`` as it is and hidden layers through their activations; the output activation must
be linear, so that ``x_L`` is the network's output. Before inference ``x`` is set to the
feedforward pass, where every hidden error is zero.

Supervision: the output is clamped to the target (``output="clamp"``) or nudged towards it
(``output="nudge"``: ``dx_L = gamma (-eps_L + beta (target - x_L))``). With weak nudging
the relaxed errors are ``eps_l = -beta * dL/dx_l + O(beta^2)``, ``L`` the squared output
error of the feedforward pass, so the PC update is ``eta * beta`` times backprop's step
(Whittington & Bogacz 2017, and the equilibrium-propagation argument of Scellier & Bengio
2017); with the output clamped it is an approximation, exact for the output layer at the
first step. With the output free (``last_mode="free"``) and the input clamped, inference
just returns to the feedforward pass (all errors zero): nothing is learnt. Unsupervised,
generative use (Rao & Ballard) orders the layers from cause to data: :func:`relax` with
``clamp_first=False`` (the top cause ``x_0`` free, under a zero-mean Gaussian prior of
precision ``pi_0``) and ``last_mode="clamp"`` (the data ``x_L`` clamped); the same local
update then learns to predict the data from inferred causes.

References
----------
Rao, R. P. N. & Ballard, D. H. (1999). Predictive coding in the visual cortex. Nature
    Neuroscience 2, 79-87.
Whittington, J. C. R. & Bogacz, R. (2017). An approximation of the error backpropagation
    algorithm in a predictive coding network with local Hebbian synaptic plasticity.
    Neural Computation 29, 1229-1262.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.errors import Diverged, InvalidParameterError, RuleError
from plasticity.rules.base import Rule
from plasticity.substrates.activations import get_activation
from plasticity.substrates.feedforward import FeedForward

__all__ = ["InferenceDiverged", "PredictiveCoding", "Relaxed", "relax"]

_MODES = {"free": 0, "nudge": 1, "clamp": 2}


class InferenceDiverged(Diverged):
    """The inference dynamics blew up (energy non-finite or above the limit).

    ``step`` is the inference step at which it was seen; an experiment re-raises it as a
    :class:`~plasticity.errors.Diverged` with its own update count.
    """


@dataclass(frozen=True)
class Relaxed:
    """The state of a predictive coding network after inference.

    Attributes
    ----------
    x : list of ndarray
        ``x[l]``, shape ``(B, n_l)``: the value nodes, ``l = 0 .. L``.
    eps : list of ndarray
        ``eps[l]``, shape ``(B, n_l)``: the error nodes (``eps[0]`` is zero when the first
        layer is clamped).
    energies : ndarray, shape (n_steps + 1,)
        The batch-mean energy ``F`` before every step and at the end.
    steps : int
        Steps taken.
    """

    x: list
    eps: list
    energies: np.ndarray
    steps: int


def _as_2d(name, a, width):
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width or arr.shape[0] < 1:
        raise InvalidParameterError(f"{name} has shape {np.shape(a)}; expected ({width},) "
                                    f"or (B, {width}) with B >= 1.")
    return arr


def relax(weights, biases, activations, x_init, *, precisions=1.0, target=None,
          last_mode="nudge", clamp_first=True, beta=0.1, gamma=0.1, n_steps=50,
          energy_limit=1e8):
    """Run the inference dynamics of a predictive coding network (validated).

    Parameters
    ----------
    weights : sequence of ndarray
        ``W_1 .. W_L``, ``W_l`` of shape ``(n_l, n_{l-1})``.
    biases : sequence of ndarray or None
        ``b_1 .. b_L`` of shapes ``(n_l,)``; None for none.
    activations : sequence of str
        ``phi_0 .. phi_{L-1}``, the function each layer passes up (``"linear"`` for an
        input that enters as it is).
    x_init : sequence of array_like
        ``x_0 .. x_L``, each ``(n_l,)`` or ``(B, n_l)``: the initial state; clamped layers
        keep these values.
    precisions : float or sequence of float, default 1.0
        ``pi_0 .. pi_L > 0`` (one value for all layers); ``pi_0`` matters only when the
        first layer is free (zero-mean Gaussian prior).
    target : array_like, shape (n_L,) or (B, n_L), optional
        Needed when ``last_mode == "nudge"``.
    last_mode : {"nudge", "clamp", "free"}
    clamp_first : bool, default True
    beta : float >= 0
        Nudging strength.
    gamma : float > 0
        Inference rate (Euler step).
    n_steps : int >= 0
    energy_limit : float > 0
        Batch-mean energy above which the dynamics count as diverged.

    Returns
    -------
    Relaxed

    Raises
    ------
    InvalidParameterError
        Shapes that do not fit, a precision <= 0, an unknown mode or activation.
    InferenceDiverged
        When the energy becomes non-finite or exceeds ``energy_limit``.
    """
    from plasticity._kernels import predictive_coding as kern

    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    n_layers = len(weights)
    if n_layers < 1 or any(w.ndim != 2 for w in weights):
        raise InvalidParameterError("weights must be a non-empty sequence of 2-d arrays.")
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    for k in range(1, n_layers):
        if weights[k].shape[1] != sizes[k]:
            raise InvalidParameterError(f"W_{k + 1} has shape {weights[k].shape}; its "
                                        f"layer below has {sizes[k]} units.")
    if biases is None:
        biases = [np.zeros(n) for n in sizes[1:]]
    biases = [np.asarray(b, dtype=np.float64) for b in biases]
    if [b.shape for b in biases] != [(n,) for n in sizes[1:]]:
        raise InvalidParameterError(f"biases have shapes {[b.shape for b in biases]}; "
                                    f"expected {[(n,) for n in sizes[1:]]}.")
    if len(activations) != n_layers:
        raise InvalidParameterError(f"activations needs {n_layers} entries (phi_0 .. "
                                    f"phi_L-1); got {len(activations)}.")
    codes = np.array([get_activation(a).code for a in activations] + [0], dtype=np.int64)
    pis = np.broadcast_to(np.asarray(precisions, dtype=np.float64), (n_layers + 1,)) \
        if np.ndim(precisions) == 0 else np.asarray(precisions, dtype=np.float64)
    if pis.shape != (n_layers + 1,):
        raise InvalidParameterError(f"precisions needs {n_layers + 1} entries (pi_0 .. "
                                    f"pi_L) or one value; got {pis.size}.")
    if not np.all(np.isfinite(pis)) or np.any(pis <= 0):
        raise InvalidParameterError(f"precisions must be finite and > 0; got "
                                    f"{pis.tolist()}.")
    if last_mode not in _MODES:
        raise InvalidParameterError(f"Unknown last_mode {last_mode!r}; known: "
                                    f"{', '.join(map(repr, _MODES))}.")
    for name, value, low in (("gamma", gamma, 0.0), ("energy_limit", energy_limit, 0.0)):
        if not np.isfinite(value) or value <= low:
            raise InvalidParameterError(f"The '{name}' parameter must be finite and > 0. "
                                        f"Got {value!r}.")
    if not np.isfinite(beta) or beta < 0:
        raise InvalidParameterError(f"The 'beta' parameter must be finite and >= 0. "
                                    f"Got {beta!r}.")
    if int(n_steps) != n_steps or n_steps < 0:
        raise InvalidParameterError(f"The 'n_steps' parameter must be an integer >= 0. "
                                    f"Got {n_steps!r}.")
    if len(x_init) != n_layers + 1:
        raise InvalidParameterError(f"x_init needs {n_layers + 1} layers; got "
                                    f"{len(x_init)}.")
    xs = [_as_2d(f"x_init[{k}]", x, n) for k, (x, n) in enumerate(zip(x_init, sizes,
                                                                       strict=True))]
    n_batch = max(x.shape[0] for x in xs)
    if any(x.shape[0] not in (1, n_batch) for x in xs):
        raise InvalidParameterError(f"x_init layers have batch sizes "
                                    f"{[x.shape[0] for x in xs]}; expected {n_batch} (or 1, "
                                    "shared by the batch).")
    xs = [np.broadcast_to(x, (n_batch, x.shape[1])) for x in xs]
    if target is None:
        if last_mode == "nudge":
            raise InvalidParameterError("last_mode='nudge' needs a target.")
        tgt = np.zeros((n_batch, sizes[-1]))
    else:
        tgt = np.ascontiguousarray(np.broadcast_to(_as_2d("target", target, sizes[-1]),
                                                   (n_batch, sizes[-1])))

    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    w_sizes = [w.size for w in weights]
    w_offsets = np.concatenate([[0], np.cumsum(w_sizes)[:-1]]).astype(np.int64)
    x = np.ascontiguousarray(np.concatenate(xs, axis=1))
    eps = np.zeros_like(x)
    energies = np.empty(int(n_steps) + 1)
    status, steps = kern.relax(x, offsets, np.concatenate([w.ravel() for w in weights]),
                               w_offsets, np.concatenate(biases), codes,
                               np.ascontiguousarray(pis), tgt, float(beta),
                               _MODES[last_mode], bool(clamp_first), float(gamma),
                               int(n_steps), float(energy_limit), eps, energies)
    if status != 0:
        raise InferenceDiverged(steps, f"predictive-coding inference diverged at inference "
                                f"step {steps} (energy {energies[steps]:.3g}, limit "
                                f"{energy_limit:.3g}); lower the inference rate gamma")
    split = np.cumsum(sizes)[:-1]
    return Relaxed(x=np.split(x, split, axis=1), eps=np.split(eps, split, axis=1),
                   energies=energies, steps=int(steps))


def _one_hot_or_float(target, n_batch, n_out):
    t = np.asarray(target)
    if t.dtype.kind in "iu" and t.shape == (n_batch,) and n_out > 1:
        onehot = np.zeros((n_batch, n_out))
        onehot[np.arange(n_batch), t] = 1.0
        return onehot
    t = t.astype(np.float64)
    if t.shape == (n_out,):
        t = t[None, :]
    if t.shape != (n_batch, n_out):
        raise RuleError(f"Rule predictive_coding: target has shape {np.shape(target)}; "
                        f"expected ({n_batch}, {n_out}) or integer labels ({n_batch},).")
    return t


class PredictiveCoding(Rule):
    """Supervised predictive coding: relax the activities, then ``dW = eta eps pre^T``.

    For every layer ``l`` (names of :class:`FeedForward`: ``W1 .. W_out``, ``b1 ..
    b_out``), with the relaxed errors ``eps_l`` and presynaptic activities
    ``phi(x_{l-1})`` (``x_0`` the input), averaged over the batch of ``B`` samples:

        delta[W_l] = eta * eps_l^T phi(x_{l-1}) / B,   delta[b_l] = eta * mean_b eps_l.

    Loss it minimises: the squared output error of the feedforward pass,
    ``L = mean_b 0.5 |y_b - target_b|^2`` (``net.loss(..., kind="mse")``, the loss
    :class:`~plasticity.rules.gradient.Backprop` with ``loss_kind="mse"`` descends). With
    weak nudging and converged inference the update is ``-eta * beta * dL/dparams`` to first
    order in ``beta`` (so pick ``eta`` about ``eta_backprop / beta``); clamped, it
    approximates that direction with ``beta`` replaced by the output precision.

    Parameters
    ----------
    net : FeedForward
        The network; its output activation must be linear.
    eta : float > 0, default 0.05
        Learning rate.
    gamma : float > 0, default 0.1
        Inference rate (Euler step of the relaxation, in units of the time constant).
    n_inference : int >= 0, default 100
        Inference steps per update.
    output : {"nudge", "clamp"}, default "nudge"
        How the target enters.
    beta : float > 0, default 0.1
        Nudging strength (unused when clamped).
    precisions : float or list of float, each > 0, default 1.0
        ``pi_1 .. pi_L`` (inverse variances) of the predicted layers; one value for all.
    energy_limit : float > 0, default 1e8
        Batch-mean energy beyond which inference counts as diverged.

    Notes
    -----
    Signals: ``input`` (B, n_in) and ``target`` (B, n_out) floats or (B,) integer labels
    (read as one-hot). State: ``None``. Raises :class:`InferenceDiverged` (a
    :class:`~plasticity.errors.Diverged`) when the relaxation blows up.
    """

    name: ClassVar[str] = "predictive_coding"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward",)

    net: FeedForward
    eta: float = Field(0.05, gt=0, allow_inf_nan=False, description="learning rate")
    gamma: float = Field(0.1, gt=0, allow_inf_nan=False, description="inference rate")
    n_inference: int = Field(100, ge=0, description="inference steps per update")
    output: Literal["nudge", "clamp"] = "nudge"
    beta: float = Field(0.1, gt=0, allow_inf_nan=False, description="nudging strength")
    precisions: float | list[float] = Field(1.0, description="precision of each layer")
    energy_limit: float = Field(1e8, gt=0, allow_inf_nan=False)

    @field_validator("precisions")
    @classmethod
    def _positive(cls, value):
        values = [value] if isinstance(value, float | int) else value
        if not values or any(not np.isfinite(v) or v <= 0 for v in values):
            raise ValueError("must be finite and greater than 0")
        return value

    @model_validator(mode="after")
    def _fits_net(self):
        if self.net.layer_activations()[-1].name != "linear":
            raise ValueError("predictive coding needs a linear output layer (x_L is the "
                             "output)")
        if isinstance(self.precisions, list) and len(self.precisions) != self.net.n_layers:
            raise ValueError(f"precisions needs {self.net.n_layers} entries (one per "
                             f"layer above the input), got {len(self.precisions)}")
        return self

    def layer_precisions(self) -> np.ndarray:
        """``pi_0 .. pi_L`` as an array of shape (L + 1,) (``pi_0`` unused: clamped)."""
        pis = np.broadcast_to(np.asarray(self.precisions, dtype=float), (self.net.n_layers,))
        return np.concatenate([[1.0], pis])

    def relax(self, params, x, target, n_steps=None, beta=None, output=None) -> Relaxed:
        """Inference from the feedforward pass on ``x`` (B, n_in) towards ``target``.

        ``n_steps``, ``beta`` and ``output`` override the rule's values for this call.
        """
        act = self.net.forward(params, x)
        inputs = np.atleast_2d(act.inputs)
        xs = [inputs] + [np.atleast_2d(u) for u in act.pre]
        t = _one_hot_or_float(target, inputs.shape[0], self.net.sizes[-1])
        output = output or self.output
        if output == "clamp":
            xs[-1] = t
        acts = ["linear"] + [a.name for a in self.net.layer_activations()[:-1]]
        biases = [params[b] for b in self.net.bias_names()] or None
        return relax([params[w] for w in self.net.weight_names()], biases, acts, xs,
                     precisions=self.layer_precisions(), target=t, last_mode=output,
                     beta=self.beta if beta is None else beta, gamma=self.gamma,
                     n_steps=self.n_inference if n_steps is None else n_steps,
                     energy_limit=self.energy_limit)

    def delta_from(self, relaxed: Relaxed) -> dict:
        """The local update ``eta eps_l phi(x_{l-1})^T / B`` from a relaxed state."""
        acts = [get_activation("linear")] + list(self.net.layer_activations()[:-1])
        n_batch = relaxed.x[0].shape[0]
        delta = {}
        for k, w in enumerate(self.net.weight_names()):
            pre = acts[k].f(relaxed.x[k])
            delta[w] = self.eta * relaxed.eps[k + 1].T @ pre / n_batch
        for k, b in enumerate(self.net.bias_names()):
            delta[b] = self.eta * relaxed.eps[k + 1].mean(axis=0)
        return delta

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Relax on ``(signals["input"], signals["target"])``; return the local update."""
        for key in ("input", "target"):
            if signals.get(key) is None:
                known = ", ".join(sorted(signals)) or "none"
                raise RuleError(f"Rule {self.name} needs the signal '{key}' (available: "
                                f"{known}).")
        relaxed = self.relax(params, signals["input"], signals["target"])
        return self.delta_from(relaxed), state

    def loss_and_grad(self, params, x, target):
        """The loss the rule is judged against and its exact gradient.

        Returns
        -------
        (float, dict)
            ``mean_b 0.5 |y_b - target_b|^2`` of the feedforward pass and its gradient
            (keys and shapes of ``params``).
        """
        n_batch = np.atleast_2d(np.asarray(x)).shape[0]
        t = _one_hot_or_float(target, n_batch, self.net.sizes[-1])
        return self.net.loss_and_grad(params, np.atleast_2d(x), t, kind="mse")
