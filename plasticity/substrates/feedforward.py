"""Layered rate networks ``y = f_L(W_out f_{L-1}(... f_1(W1 x + b1) ...) + b_out)``.

The substrate holds no state: parameters travel as a flat ``dict[str, ndarray]`` (float64)
so that rules return deltas against the same names and the gradient oracle returns a
gradient with the same keys and shapes.

Names
-----
A network with ``sizes = [n_in, n_1, ..., n_out]`` has ``L = len(sizes) - 1`` layers.
Hidden layer ``l`` (``1 <= l < L``) has weights ``W{l}`` of shape ``(n_l, n_{l-1})`` and
bias ``b{l}`` of shape ``(n_l,)``; the last layer has ``W_out`` and ``b_out``. A
single-layer network has only ``W_out`` (and ``b_out``). The local signals a rule may see
are the activities ``input``, ``hidden1``, ..., ``output`` and the pre-activations
``u_hidden1``, ..., ``u_output``.

Batches are row-major: ``x`` is ``(n_in,)`` for one sample or ``(B, n_in)`` for ``B``
samples, and every signal keeps that convention.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from plasticity.substrates.activations import ACTIVATIONS, Activation, get_activation
from plasticity.substrates.output_loss import (
    LOSS_KINDS,
    batch_targets,
    check_loss_kind,
    output_error,
)
from plasticity.substrates.pass_results import Activity, Backprop
from plasticity.validation import Hyperparameters

__all__ = ["LOSS_KINDS", "Activity", "Backprop", "FeedForward"]


class FeedForward(Hyperparameters):
    """A feedforward rate network with exact backpropagation.

    Parameters
    ----------
    sizes : list of int
        Layer widths ``[n_in, n_1, ..., n_out]``: at least 2 entries, each >= 1.
    activations : str or list of str, default "tanh"
        A single name is the activation of every hidden layer, and the output layer is
        then linear (the usual regression network). A list gives one name per layer,
        output included, and must have ``len(sizes) - 1`` entries. Known names:
        ``"linear"``, ``"tanh"``, ``"sigmoid"``, ``"relu"``.
    bias : bool, default True
        Whether each layer has a bias vector (``b1``, ..., ``b_out``).
    init_scale : float, default 1.0
        Weights are drawn from ``N(0, init_scale**2 / n_in)`` with ``n_in`` the layer's
        fan-in; biases start at zero.

    Examples
    --------
    >>> import numpy as np
    >>> net = FeedForward(sizes=[3, 8, 2])
    >>> params = net.init_params(np.random.default_rng(0))
    >>> sorted(params)
    ['W1', 'W_out', 'b1', 'b_out']
    >>> net.signals(params, np.ones(3))["hidden"].shape
    (8,)
    """

    sizes: list[int]
    activations: list[str] | str = "tanh"
    bias: bool = True
    init_scale: float = Field(1.0, ge=0.0, allow_inf_nan=False)

    @field_validator("sizes", mode="before")
    @classmethod
    def _no_bools(cls, value):
        # pydantic's lax mode would read True as 1 unit, which is never meant.
        if isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value):
            raise ValueError("must be a list of integers")
        return value

    @field_validator("sizes")
    @classmethod
    def _check_sizes(cls, value, info: ValidationInfo):
        if len(value) < 2:
            raise ValueError("must have at least 2 entries (the input and output sizes)")
        if any(v < 1 for v in value):
            raise ValueError("must have entries >= 1")
        # On assignment the activations are already known and must still fit.
        acts = info.data.get("activations")
        if isinstance(acts, list) and len(acts) != len(value) - 1:
            raise ValueError(f"must have {len(acts) + 1} entries to match the "
                             f"{len(acts)} activations")
        return value

    @field_validator("activations")
    @classmethod
    def _check_activations(cls, value, info: ValidationInfo):
        names = [value] if isinstance(value, str) else value
        for name in names:
            if name not in ACTIVATIONS:
                known = ", ".join(repr(k) for k in ACTIVATIONS)
                raise ValueError(f"must name known activations ({name!r} is not one of "
                                 f"{known})")
        sizes = info.data.get("sizes")
        if isinstance(value, list) and sizes is not None and len(value) != len(sizes) - 1:
            raise ValueError(f"must have one entry per layer ({len(sizes) - 1} for sizes "
                             f"{sizes}), or be a single name for the hidden layers")
        return value

    # ------------------------------------------------------------------ structure

    @property
    def n_layers(self) -> int:
        """The number of weight layers, ``len(sizes) - 1``."""
        return len(self.sizes) - 1

    def weight_names(self) -> tuple[str, ...]:
        """The weight names from input to output: ``("W1", ..., "W_out")``."""
        return tuple(f"W{k}" for k in range(1, self.n_layers)) + ("W_out",)

    def bias_names(self) -> tuple[str, ...]:
        """The bias names from input to output (empty when ``bias`` is False)."""
        if not self.bias:
            return ()
        return tuple(f"b{k}" for k in range(1, self.n_layers)) + ("b_out",)

    def layer_names(self) -> tuple[str, ...]:
        """The signal name of each layer's activity: ``("hidden1", ..., "output")``."""
        return tuple(f"hidden{k}" for k in range(1, self.n_layers)) + ("output",)

    def layer_activations(self) -> tuple[Activation, ...]:
        """The activation of each layer, from the first hidden layer to the output."""
        if isinstance(self.activations, str):
            names = [self.activations] * (self.n_layers - 1) + ["linear"]
        else:
            names = list(self.activations)
        return tuple(get_activation(n) for n in names)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every parameter array, keyed by name."""
        shapes: dict[str, tuple[int, ...]] = {}
        for k, w in enumerate(self.weight_names()):
            shapes[w] = (self.sizes[k + 1], self.sizes[k])
        for k, b in enumerate(self.bias_names()):
            shapes[b] = (self.sizes[k + 1],)
        return shapes

    def synapses(self) -> dict[str, tuple[str, str]]:
        """Map each weight name to the names of its (presynaptic, postsynaptic) signals.

        Returns
        -------
        dict of str to (str, str)
            E.g. ``{"W1": ("input", "hidden1"), "W_out": ("hidden1", "output")}``; a
            local rule for ``W`` reads ``signals[pre]`` and ``signals[post]``.
        """
        sources = ("input",) + self.layer_names()[:-1]
        return {w: (pre, post)
                for w, pre, post in zip(self.weight_names(), sources, self.layer_names(),
                                        strict=True)}

    def init_params(self, rng) -> dict[str, np.ndarray]:
        """Draw initial parameters.

        Parameters
        ----------
        rng : numpy.random.Generator or int
            The random source (an int is used as a seed).

        Returns
        -------
        dict of str to ndarray
            ``W`` of shape ``(n_out, n_in)`` drawn from ``N(0, init_scale**2 / n_in)``,
            ``b`` of shape ``(n_out,)`` set to zero, all float64.
        """
        rng = np.random.default_rng(rng)
        params: dict[str, np.ndarray] = {}
        for k, w in enumerate(self.weight_names()):
            n_in, n_out = self.sizes[k], self.sizes[k + 1]
            params[w] = rng.standard_normal((n_out, n_in)) * (self.init_scale / np.sqrt(n_in))
        for k, b in enumerate(self.bias_names()):
            params[b] = np.zeros(self.sizes[k + 1])
        return params

    # ------------------------------------------------------------------ checks

    def _check_params(self, params):
        if not isinstance(params, dict):
            raise ValueError(f"params must be a dict of arrays, got {type(params).__name__}.")
        for name, shape in self.param_shapes().items():
            if name not in params:
                raise ValueError(f"params lacks '{name}' (expected keys: "
                                 f"{', '.join(self.param_shapes())}).")
            got = np.shape(params[name])
            if got != shape:
                raise ValueError(f"params['{name}'] has shape {got}; expected {shape}.")

    def _as_batch(self, x):
        """Return ``(X, single)``: ``x`` as a float64 ``(B, n_in)`` array and whether it
        was one sample."""
        x = np.asarray(x, dtype=np.float64)
        n_in = self.sizes[0]
        if x.ndim == 1 and x.shape[0] == n_in:
            return x[None, :], True
        if x.ndim == 2 and x.shape[1] == n_in:
            return x, False
        raise ValueError(f"x has shape {x.shape}; expected ({n_in},) or (B, {n_in}).")

    # ------------------------------------------------------------------ forward

    def _forward2d(self, params, X):
        pre, post = [], []
        h = X
        biases = self.bias_names()
        for k, (w, act) in enumerate(zip(self.weight_names(), self.layer_activations(),
                                         strict=True)):
            u = h @ params[w].T
            if biases:
                u = u + params[biases[k]]
            h = act.f(u)
            pre.append(u)
            post.append(h)
        return pre, post

    def _activity(self, X, pre, post, single):
        def fmt(a):
            return a[0] if single else a
        return Activity(inputs=fmt(X), pre=tuple(fmt(u) for u in pre),
                        post=tuple(fmt(h) for h in post), names=self.layer_names())

    def forward(self, params, x) -> Activity:
        """Run the network.

        Parameters
        ----------
        params : dict of str to ndarray
            As returned by :meth:`init_params`.
        x : array_like, shape (n_in,) or (B, n_in)
            One sample or a batch.

        Returns
        -------
        Activity
            Pre-activations and activities of every layer, in the shape convention of
            ``x``.
        """
        self._check_params(params)
        X, single = self._as_batch(x)
        pre, post = self._forward2d(params, X)
        return self._activity(X, pre, post, single)

    def signals(self, params, x) -> dict[str, np.ndarray]:
        """The local signals a rule may read, after a forward pass on ``x``.

        Returns
        -------
        dict of str to ndarray
            ``"input"``, ``"hidden1"``, ..., ``"output"`` (activities) and
            ``"u_hidden1"``, ..., ``"u_output"`` (pre-activations), each ``(n,)`` or
            ``(B, n)`` like ``x``. With exactly one hidden layer, ``"hidden"`` and
            ``"u_hidden"`` are aliases of ``"hidden1"`` and ``"u_hidden1"``.
        """
        act = self.forward(params, x)
        out = {"input": act.inputs}
        for name, u, h in zip(act.names, act.pre, act.post, strict=True):
            out[name] = h
            out["u_" + name] = u
        if self.n_layers == 2:
            out["hidden"] = out["hidden1"]
            out["u_hidden"] = out["u_hidden1"]
        return out

    # ------------------------------------------------------------------ losses

    def loss(self, params, x, target, kind: str = "mse") -> float:
        """The loss of the network on ``(x, target)``, averaged over the batch.

        Parameters
        ----------
        params : dict of str to ndarray
        x : array_like, shape (n_in,) or (B, n_in)
        target : array_like
            For ``"mse"``: the desired output, shape ``(n_out,)`` or ``(B, n_out)``
            (``(B,)`` is accepted when ``n_out == 1``). For ``"cross_entropy"``: integer
            class labels, shape ``()`` or ``(B,)``, or float one-hot (or probability)
            rows shaped like the output. Integer dtype means labels.
        kind : {"mse", "cross_entropy"}
            ``"mse"``: ``mean_b 0.5 * ||y_b - target_b||^2`` with ``y`` the output
            activity. ``"cross_entropy"``: ``mean_b -sum_k target_bk log softmax(u_b)_k``
            with ``u`` the output pre-activation (logits).

        Returns
        -------
        float
            The loss (dimensionless).
        """
        check_loss_kind(kind)
        self._check_params(params)
        X, single = self._as_batch(x)
        t = batch_targets(target, kind, self.sizes[-1], X.shape[0], single)
        pre, post = self._forward2d(params, X)
        return output_error(pre[-1], post[-1], t, kind, self.layer_activations()[-1])[0]

    def backprop(self, params, x, target, kind: str = "mse", feedback=None) -> Backprop:
        """Forward and backward pass, with optional substitute feedback weights.

        Parameters
        ----------
        params, x, target, kind
            As in :meth:`loss`.
        feedback : dict of str to ndarray, optional
            Maps a weight name to a matrix of that weight's transposed shape
            ``(n_in, n_out)``, used in place of ``W.T`` when the error is sent from the
            layer ``W`` feeds down to the layer below it (feedback alignment uses a fixed
            random matrix here). Weights without an entry use their own transpose. An
            entry for the first layer is accepted and unused, since no error is sent
            below the input.

        Returns
        -------
        Backprop
            Loss, gradient (or its feedback substitute), per-layer deltas and activity.
        """
        check_loss_kind(kind)
        self._check_params(params)
        feedback = self._check_feedback(feedback, params)
        X, single = self._as_batch(x)
        t = batch_targets(target, kind, self.sizes[-1], X.shape[0], single)
        pre, post = self._forward2d(params, X)
        loss, delta = output_error(pre[-1], post[-1], t, kind, self.layer_activations()[-1])

        weights, biases = self.weight_names(), self.bias_names()
        acts, names = self.layer_activations(), self.layer_names()
        grads: dict[str, np.ndarray] = {}
        deltas: dict[str, np.ndarray] = {}
        for k in range(self.n_layers - 1, -1, -1):
            below = X if k == 0 else post[k - 1]
            grads[weights[k]] = delta.T @ below
            if biases:
                grads[biases[k]] = delta.sum(axis=0)
            deltas[names[k]] = delta[0] if single else delta
            if k > 0:
                back = feedback.get(weights[k], params[weights[k]].T)
                # Both the default W.T and a user's copy of it are brought to the same
                # C-ordered (n_out, n_in) layout, so that B = W.T reproduces backprop
                # bit for bit instead of through a differently ordered BLAS call.
                delta = (delta @ np.ascontiguousarray(back.T)) * acts[k - 1].df(pre[k - 1])
        grads = {k: grads[k] for k in self.param_shapes()}
        deltas = {k: deltas[k] for k in names}
        return Backprop(loss=loss, grads=grads, deltas=deltas,
                        activity=self._activity(X, pre, post, single))

    def _check_feedback(self, feedback, params):
        if feedback is None:
            return {}
        if not isinstance(feedback, dict):
            raise ValueError(f"feedback must be a dict of arrays, got "
                             f"{type(feedback).__name__}.")
        out = {}
        for name, mat in feedback.items():
            if name not in params or name not in self.weight_names():
                raise ValueError(f"feedback names '{name}', which is not a weight (known: "
                                 f"{', '.join(self.weight_names())}).")
            mat = np.asarray(mat, dtype=np.float64)
            want = params[name].shape[::-1]
            if mat.shape != want:
                raise ValueError(f"feedback['{name}'] has shape {mat.shape}; expected "
                                 f"{want}, the shape of {name}.T.")
            out[name] = mat
        return out

    def loss_and_grad(self, params, x, target, kind: str = "mse"):
        """The loss and its exact gradient with respect to every parameter.

        Parameters
        ----------
        params, x, target, kind
            As in :meth:`loss`.

        Returns
        -------
        loss : float
            The batch-mean loss.
        grad : dict of str to ndarray
            Same keys and shapes as ``params``.
        """
        result = self.backprop(params, x, target, kind)
        return result.loss, result.grads
