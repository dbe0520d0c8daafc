"""The feedback family: substitutes for the transposed forward weights in the backward pass.

Each rule computes the same forward pass and output error as backprop and differs only in
the matrices that carry the error down:

:class:`DirectFeedbackAlignment`
    The output error goes straight to every hidden layer through its own fixed random
    matrix (Nokland 2016).
:class:`SignSymmetry`
    The feedback has the forward weights' signs and uniform (uSF), per-update random
    (brSF) or fixed random (frSF) magnitudes (Liao, Leibo & Poggio 2016; Moskovitz,
    Litwin-Kumar & Abbott 2018; the variants as named by BioTorch, Sanfiz & Akrout 2021).
:class:`KolenPollack`
    The feedback receives the transposed update of the forward weights and the same
    weight decay, so ``W - B.T`` decays geometrically (Kolen & Pollack 1994; Akrout et
    al. 2019).
:class:`WeightMirror`
    The feedback learns ``W.T`` from noise sent through the forward weights in a mirror
    phase, with its own rate and decay (Akrout et al. 2019).

Every feedback matrix lives in the rule's state (``state["feedback"]``), drawn in
:meth:`init` from the rule's ``seed``, so the angle between each layer's forward weights
and its feedback can be read from the state
(:func:`plasticity.analysis.layer_metrics.weight_feedback_angles`). Feedback for the
weight ``W`` (shape ``(n_out, n_in)``) has ``W.T``'s shape ``(n_in, n_out)`` and sends the
error of the layer ``W`` feeds down to the layer below, as in
:meth:`~plasticity.substrates.FeedForward.backprop`'s ``feedback=``; DFA's matrices are
keyed by the hidden layer they reach (``"hidden1"``, ...) instead, with shape
``(n_layer, n_output)``.

All rules read ``signals["input"]`` and ``signals["target"]``, as
:class:`~plasticity.rules.gradient.FeedbackAlignment` does.

References
----------
Akrout, M., Wilson, C., Humphreys, P. C., Lillicrap, T., & Tweed, D. (2019). Deep learning
    without weight transport. NeurIPS 32.
Kolen, J. F., & Pollack, J. B. (1994). Backpropagation without weight transport. IEEE
    International Conference on Neural Networks, 1375-1380.
Liao, Q., Leibo, J. Z., & Poggio, T. (2016). How important is weight symmetry in
    backpropagation? AAAI.
Moskovitz, T. H., Litwin-Kumar, A., & Abbott, L. F. (2018). Feedback alignment in deep
    convolutional networks. arXiv:1812.06488.
Nokland, A. (2016). Direct feedback alignment provides learning in deep neural networks.
    NeurIPS 29.
Sanfiz, A. J., & Akrout, M. (2021). Benchmarking the accuracy and robustness of feedback
    alignment algorithms. arXiv:2108.13446.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.errors import RuleError
from plasticity.rules.base import Rule
from plasticity.rules.gradient import _batch
from plasticity.substrates.feedforward import FeedForward
from plasticity.substrates.output_loss import batch_targets, output_error

__all__ = ["DirectFeedbackAlignment", "KolenPollack", "SignSymmetry", "WeightMirror",
           "random_feedback"]


def random_feedback(net, seed, scale=1.0, *, names=None):
    """Fixed random feedback for every weight above the first layer (FA's statistics).

    Parameters
    ----------
    net : FeedForward
    seed : int or sequence of int
        Seeds the draw.
    scale : float
        Entries are ``N(0, scale**2 / n_in)``, ``n_in`` the fan-in of the weight.
    names : sequence of str, optional
        The weights to draw feedback for; default ``net.weight_names()[1:]``.

    Returns
    -------
    dict of str to ndarray
        ``{W: B}`` with ``B`` of shape ``params[W].T.shape`` = ``(n_in, n_out)``.
    """
    rng = np.random.default_rng(seed)
    shapes = net.param_shapes()
    names = net.weight_names()[1:] if names is None else names
    out = {}
    for w in names:
        n_out, n_in = shapes[w]
        out[w] = rng.standard_normal((n_in, n_out)) * (scale / np.sqrt(n_in))
    return out


def _need_state(rule, state, *keys):
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise RuleError(f"Rule {rule.name} expects the state made by init(params), a dict "
                        f"with key(s) {', '.join(repr(k) for k in keys)}.")
    return state


def _check_shapes(rule, mats, shapes, what):
    """RuleError naming the first matrix of ``mats`` whose key or shape is not expected."""
    missing = sorted(set(shapes) - set(mats))
    if missing:
        raise RuleError(f"Rule {rule.name}: {what} lacks {', '.join(missing)} (expected "
                        f"keys: {', '.join(shapes)}).")
    for key, mat in mats.items():
        if key not in shapes:
            raise RuleError(f"Rule {rule.name}: {what} names '{key}', which is not one of "
                            f"{', '.join(shapes)}.")
        if np.shape(mat) != tuple(shapes[key]):
            raise RuleError(f"Rule {rule.name}: {what}['{key}'] has shape {np.shape(mat)}; "
                            f"expected {tuple(shapes[key])}.")


def _fa_shapes(net):
    """The shapes of FA-style feedback: ``W.T`` for every weight above the first."""
    shapes = net.param_shapes()
    return {w: shapes[w][::-1] for w in net.weight_names()[1:]}


def _backward(rule, params, signals, feedback):
    """The gradient-like direction with ``feedback`` in place of ``W.T``; the substrate's
    own backward pass (:meth:`FeedForward.backprop`), its ValueErrors as RuleErrors."""
    x, target = _batch(rule, signals)
    try:
        return rule.net.backprop(params, x, target, kind=rule.loss_kind, feedback=feedback)
    except ValueError as exc:
        raise RuleError(f"Rule {rule.name}: {exc}") from None


class _Feedback(Rule):
    """Shared fields: the network, the learning rate and the loss."""

    substrates: ClassVar[tuple[str, ...]] = ("feedforward",)

    net: FeedForward
    eta: float = Field(0.05, gt=0, allow_inf_nan=False, description="learning rate")
    seed: int = Field(0, ge=0, description="seed of the feedback matrices drawn in init")
    scale: float = Field(1.0, gt=0, allow_inf_nan=False,
                         description="scale of the feedback entries (x 1/sqrt(fan-in))")
    loss_kind: Literal["mse", "cross_entropy"] = "mse"


# ---------------------------------------------------------------------------- DFA


class DirectFeedbackAlignment(_Feedback):
    """Direct feedback alignment (Nokland 2016).

    With ``e = dL/du_out`` the output layer's error (batch rows, already divided by the
    batch size), every hidden layer ``l`` receives ``delta_l = (e @ D_l.T) * f'(u_l)``
    through its own fixed random matrix ``D_l`` of shape ``(n_l, n_out)``, drawn once from
    ``N(0, scale**2 / n_out)``; the output layer receives ``e`` itself. The update is
    ``-eta * delta_l.T @ h_{l-1}`` for each weight (and ``-eta * sum delta_l`` for each
    bias), so the output layer's update is backprop's, and for a network with a single
    hidden layer DFA is feedback alignment with ``B_FA["W_out"] = D_1``.

    Parameters
    ----------
    net : FeedForward
    eta : float > 0, default 0.05
    seed : int, default 0
        Seeds the draw of the ``D_l`` in :meth:`init`.
    scale : float > 0, default 1.0
    loss_kind : {"mse", "cross_entropy"}, default "mse"

    Notes
    -----
    State: ``{"feedback": {"hidden1": D_1, ...}}``, never changed by :meth:`update`. The
    backward pass is one matrix product per hidden layer from the output error, with no
    pass through the layers in between (no ``W.T`` and no product of derivatives).
    """

    name: ClassVar[str] = "dfa"

    def feedback_shapes(self) -> dict[str, tuple[int, int]]:
        """``{"hidden<l>": (n_l, n_out)}`` for every hidden layer."""
        n_out = self.net.sizes[-1]
        return {name: (n, n_out) for name, n in zip(self.net.layer_names()[:-1],
                                                    self.net.sizes[1:-1], strict=True)}

    def init(self, params):
        """Draw the fixed direct feedback matrices: ``{"feedback": {layer: D}}``."""
        rng = np.random.default_rng(self.seed)
        n_out = self.net.sizes[-1]
        return {"feedback": {name: rng.standard_normal(shape) * (self.scale / np.sqrt(n_out))
                             for name, shape in self.feedback_shapes().items()}}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * the DFA direction, state)``."""
        feedback = _need_state(self, state, "feedback")["feedback"]
        _check_shapes(self, feedback, self.feedback_shapes(), "state['feedback']")
        x, target = _batch(self, signals)
        net = self.net
        try:
            act = net.forward(params, x)
            X = np.atleast_2d(act.inputs)
            pre = [np.atleast_2d(u) for u in act.pre]
            post = [np.atleast_2d(h) for h in act.post]
            t = batch_targets(target, self.loss_kind, net.sizes[-1], X.shape[0],
                              np.ndim(x) == 1)
        except ValueError as exc:
            raise RuleError(f"Rule {self.name}: {exc}") from None
        acts = net.layer_activations()
        _, e = output_error(pre[-1], post[-1], t, self.loss_kind, acts[-1])
        weights, biases, names = net.weight_names(), net.bias_names(), net.layer_names()
        delta = {}
        for k, w in enumerate(weights):
            if k == len(weights) - 1:
                d = e
            else:
                d = (e @ feedback[names[k]].T) * acts[k].df(pre[k])
            below = X if k == 0 else post[k - 1]
            delta[w] = -self.eta * (d.T @ below)
            if biases:
                delta[biases[k]] = -self.eta * d.sum(axis=0)
        return {k: delta[k] for k in net.param_shapes()}, state


# ---------------------------------------------------------------------------- sign symmetry


class SignSymmetry(_Feedback):
    """Sign-concordant feedback: ``B = M * sign(W.T)`` (Liao, Leibo & Poggio 2016).

    The error is sent down as in backprop, with ``W.T`` replaced by a matrix with the
    forward weights' signs. The magnitudes ``M`` depend on the variant (BioTorch's
    definitions, Sanfiz & Akrout 2021, after Liao et al. 2016 and Moskovitz et al. 2018):

    ``"uSF"`` (uniform)
        ``M = scale / sqrt(n_in)`` for every entry (``n_in`` the fan-in of ``W``): the
        direction of ``sign(W.T)``, at the typical size of an initial weight.
    ``"brSF"`` (batchwise random magnitude)
        ``M = |R|``, ``R`` drawn from ``N(0, scale**2 / n_in)`` afresh at every update
        from the ``rng`` the update is given.
    ``"frSF"`` (fixed random magnitude)
        ``M = |R|``, ``R`` drawn once in :meth:`init` from ``seed`` and kept.

    Since the feedback follows ``W``'s signs as ``W`` learns, there is no alignment phase:
    each entry's sign agrees with the forward weight's. The output layer's update is
    backprop's; with ``W`` whose entries all have magnitude ``M`` (e.g. binary weights
    ``+-scale / sqrt(n_in)`` under uSF), ``B = W.T`` and the update is backprop's exactly.
    The magnitudes enter the angle between ``W`` and ``B.T`` but not its sign structure;
    the angle is read from ``state["feedback"]``, the feedback of the last update.

    Parameters
    ----------
    net : FeedForward
    variant : {"uSF", "brSF", "frSF"}, default "uSF"
    eta : float > 0, default 0.05
    seed : int, default 0
        Seeds frSF's fixed magnitudes (unused otherwise).
    scale : float > 0, default 1.0
    loss_kind : {"mse", "cross_entropy"}, default "mse"

    Notes
    -----
    State: ``{"feedback": {W: B}}``, the feedback of the parameters the state was made or
    last updated at, and for frSF ``"magnitude": {W: |R|}``. brSF needs ``rng``.
    """

    name: ClassVar[str] = "sign_symmetry"

    variant: Literal["uSF", "brSF", "frSF"] = "uSF"

    def _magnitudes(self, state, rng):
        shapes = _fa_shapes(self.net)
        if self.variant == "uSF":
            return {w: self.scale / np.sqrt(s[0]) for w, s in shapes.items()}
        if self.variant == "frSF":
            mags = _need_state(self, state, "magnitude")["magnitude"]
            _check_shapes(self, mags, shapes, "state['magnitude']")
            return mags
        if rng is None:
            raise RuleError(f"Rule {self.name} (brSF) draws new magnitudes at every update "
                            "and needs rng (a numpy.random.Generator).")
        return {w: np.abs(rng.standard_normal(s)) * (self.scale / np.sqrt(s[0]))
                for w, s in shapes.items()}

    def feedback(self, params, magnitudes) -> dict[str, np.ndarray]:
        """``{W: magnitude * sign(params[W].T)}`` for every weight above the first."""
        return {w: m * np.sign(params[w].T) for w, m in magnitudes.items()}

    def init(self, params):
        """The feedback at ``params`` (and frSF's fixed magnitudes)."""
        state = {}
        if self.variant == "frSF":
            state["magnitude"] = {w: np.abs(b) for w, b in
                                  random_feedback(self.net, self.seed, self.scale).items()}
        # brSF's first feedback: a draw from the rule's own seed (updates use their rng)
        mags = self._magnitudes(state, np.random.default_rng(self.seed))
        state["feedback"] = self.feedback(params, mags)
        return state

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * the sign-symmetric direction, state with this feedback)``."""
        _need_state(self, state, "feedback")
        feedback = self.feedback(params, self._magnitudes(state, rng))
        result = _backward(self, params, signals, feedback)
        new_state = dict(state)
        new_state["feedback"] = feedback
        return {k: -self.eta * g for k, g in result.grads.items()}, new_state


# ---------------------------------------------------------------------------- Kolen-Pollack


class KolenPollack(_Feedback):
    """Kolen-Pollack learning: the feedback receives the forward weights' update.

    The error travels down through ``B`` as in feedback alignment, giving for each weight
    the direction ``G_W`` (``delta.T @ h_below``). Forward weights and feedback then change
    by the same amount, transposed, with the same weight decay ``lam`` (Akrout et al. 2019,
    after Kolen & Pollack 1994)::

        dW = -eta * (G_W + lam * W)        dB = -eta * (G_W.T + lam * B)

    so ``W - B.T`` is multiplied by exactly ``1 - eta * lam`` at every update, whatever
    the data: it decays geometrically, and the angle between ``W`` and ``B.T`` goes to 0
    as long as ``W`` does not shrink as fast. Biases get ``-eta * G_b`` without decay.
    The feedback starts as in feedback alignment, from ``N(0, scale**2 / n_in)``.

    Parameters
    ----------
    net : FeedForward
    eta : float > 0, default 0.05
    decay : float >= 0, default 0.1
        ``lam``, the weight decay of forward and feedback weights (per unit of ``eta``);
        ``eta * decay`` must be below 1.
    seed : int, default 0
    scale : float > 0, default 1.0
    loss_kind : {"mse", "cross_entropy"}, default "mse"

    Notes
    -----
    State: ``{"feedback": {W: B}}`` for every weight above the first; :meth:`update`
    returns the state with ``B + dB`` (the returned delta must be applied unchanged for
    ``W - B.T`` to keep decaying: a scaled or clipped delta breaks the symmetry).
    """

    name: ClassVar[str] = "kolen_pollack"

    decay: float = Field(0.1, ge=0, allow_inf_nan=False,
                         description="weight decay of W and B (per unit of eta)")

    @model_validator(mode="after")
    def _contracting(self):
        if self.eta * self.decay >= 1.0:
            raise ValueError(f"eta * decay must be below 1 (got {self.eta} * {self.decay}); "
                             "W - B.T is multiplied by 1 - eta * decay at every update")
        return self

    def init(self, params):
        """Draw the initial feedback: ``{"feedback": {W: B}}``."""
        return {"feedback": random_feedback(self.net, self.seed, self.scale)}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(dW, state with B + dB)`` (class docstring)."""
        feedback = _need_state(self, state, "feedback")["feedback"]
        _check_shapes(self, feedback, _fa_shapes(self.net), "state['feedback']")
        grads = _backward(self, params, signals, feedback).grads
        weights = set(self.net.weight_names())
        delta = {k: -self.eta * (g + self.decay * params[k]) if k in weights
                 else -self.eta * g for k, g in grads.items()}
        new_feedback = {w: b - self.eta * (grads[w].T + self.decay * b)
                        for w, b in feedback.items()}
        return delta, {**state, "feedback": new_feedback}


# ---------------------------------------------------------------------------- weight mirror


class WeightMirror(_Feedback):
    """Weight mirrors: the feedback learns ``W.T`` from noise in a mirror phase.

    Every update has two phases (Akrout et al. 2019). In the engaged phase the error
    travels down through ``B`` as in feedback alignment and the forward weights change by
    ``dW = -eta * G_W``. In the mirror phase each layer's input units fire noise
    ``xi ~ N(0, sigma**2 I)`` (``n_mirror`` samples, shape ``(n_mirror, n_in)``), the
    layer above receives ``y = xi @ W.T``, and the feedback learns by a Hebbian rule with
    decay::

        dB = eta_mirror * xi.T @ y / n_mirror - decay * B

    Since ``E[xi.T @ xi] / n_mirror = sigma**2 I``, ``E dB = eta_mirror sigma**2 W.T -
    decay B``: ``B`` relaxes toward ``(eta_mirror sigma**2 / decay) W.T`` at rate
    ``decay`` per update, with noise of relative size ``~1 / sqrt(n_mirror)`` per step,
    so the angle between ``W`` and ``B.T`` falls (Akrout et al.'s Fig. 2). The mirror
    phase uses the forward weights before this update's change.

    Parameters
    ----------
    net : FeedForward
    eta : float > 0, default 0.05
        Learning rate of the forward weights.
    eta_mirror : float > 0, default 0.1
        Learning rate of the feedback.
    decay : float in [0, 1), default 0.1
        Decay of the feedback per update.
    sigma : float > 0, default 1.0
        Standard deviation of the mirror-phase noise.
    n_mirror : int >= 1, default 32
        Noise samples per mirror phase.
    seed : int, default 0
        Seeds the initial feedback.
    scale : float > 0, default 1.0
    loss_kind : {"mse", "cross_entropy"}, default "mse"

    Notes
    -----
    State: ``{"feedback": {W: B}}``; :meth:`update` returns it after the mirror phase.
    Needs ``rng`` (the mirror noise).
    """

    name: ClassVar[str] = "weight_mirror"

    eta_mirror: float = Field(0.1, gt=0, allow_inf_nan=False,
                              description="learning rate of the feedback")
    decay: float = Field(0.1, ge=0, lt=1, allow_inf_nan=False,
                         description="decay of the feedback per update")
    sigma: float = Field(1.0, gt=0, allow_inf_nan=False, description="mirror noise sd")
    n_mirror: int = Field(32, ge=1, description="noise samples per mirror phase")

    def init(self, params):
        """Draw the initial feedback: ``{"feedback": {W: B}}``."""
        return {"feedback": random_feedback(self.net, self.seed, self.scale)}

    def mirror(self, feedback, params, rng) -> dict[str, np.ndarray]:
        """One mirror phase: the feedback after learning from noise through ``params``."""
        out = {}
        for w, b in feedback.items():
            xi = rng.standard_normal((self.n_mirror, b.shape[0])) * self.sigma
            y = xi @ params[w].T
            out[w] = b + self.eta_mirror * (xi.T @ y) / self.n_mirror - self.decay * b
        return out

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * the FA direction through B, state after a mirror phase)``."""
        feedback = _need_state(self, state, "feedback")["feedback"]
        _check_shapes(self, feedback, _fa_shapes(self.net), "state['feedback']")
        if rng is None:
            raise RuleError(f"Rule {self.name} draws the mirror noise and needs rng (a "
                            "numpy.random.Generator).")
        grads = _backward(self, params, signals, feedback).grads
        delta = {k: -self.eta * g for k, g in grads.items()}
        return delta, {**state, "feedback": self.mirror(feedback, params, rng)}
