"""Difference target propagation (Lee, Zhang, Fischer & Bengio 2015).

Each hidden layer learns to move its activity toward a target, by a layer-local delta
rule; the targets travel down through learned approximate inverses of the layers instead
of through the transposed forward weights.

References
----------
Lee, D.-H., Zhang, S., Fischer, A., & Bengio, Y. (2015). Difference target propagation.
    ECML PKDD, LNCS 9284, 498-515.
Bartunov, S., Santoro, A., Richards, B. A., Marris, L., Hinton, G. E., & Lillicrap, T.
    (2018). Assessing the scalability of biologically-motivated deep learning algorithms
    and architectures. NeurIPS 31.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules.base import Rule
from plasticity.rules.feedback import _check_shapes, _need_state
from plasticity.rules.gradient import _batch
from plasticity.substrates.feedforward import FeedForward
from plasticity.substrates.output_loss import batch_targets, output_error

__all__ = ["DifferenceTargetProp"]


class DifferenceTargetProp(Rule):
    """Difference target propagation with noise-trained inverses (Lee et al. 2015).

    With hidden activities ``h_1, ..., h_{L-1}`` (``h_0`` the input) and ``e = dL/du_out``
    the output error of the batch-mean loss (rows already divided by the batch size
    ``n``):

    * the output layer learns by the loss gradient: ``dW_out = -eta * e.T @ h_{L-1}``;
    * the last hidden layer's target is a gradient step on the sample's own loss,
      ``t_{L-1} = h_{L-1} - target_step * n * (e @ W_out)``;
    * lower targets use the learned inverse ``g_l(h) = f_{l-1}(h @ V_l.T + c_l)`` of layer
      ``l`` with the difference correction, ``t_{l-1} = h_{l-1} + g_l(t_l) - g_l(h_l)``,
      which cancels the inverse's reconstruction error at ``h_l`` (so ``t = h`` where the
      error vanishes);
    * each hidden layer descends its local loss ``mean_b 0.5 ||h_l - t_l||^2`` through its
      own nonlinearity only: ``dW_l = -eta * d_l.T @ h_{l-1}`` with
      ``d_l = (h_l - t_l) * f_l'(u_l) / n``;
    * each inverse ``g_l`` (``2 <= l <= L-1``) learns to reconstruct noise-corrupted
      activity: with ``h~ = h_{l-1} + sigma * eps`` it descends
      ``mean_b 0.5 ||g_l(f_l(h~)) - h~||^2`` with rate ``eta_inverse``.

    With one hidden layer there is no inverse, and the hidden update is
    ``target_step`` times backprop's: ``h_1 - t_1 = target_step * n * dL/dh_1``.

    Parameters
    ----------
    net : FeedForward
    eta : float > 0, default 0.05
        Learning rate of the forward weights.
    eta_inverse : float > 0, default 0.05
        Learning rate of the inverses.
    target_step : float > 0, default 1.0
        Step size of the top hidden target (``eta_hat`` in Lee et al.).
    sigma : float >= 0, default 0.1
        Standard deviation of the corruption noise of inverse learning (needs ``rng``
        when positive).
    seed : int, default 0
        Seeds the initial inverse weights, ``V_l ~ N(0, scale**2 / n_l)``, ``c_l = 0``.
    scale : float > 0, default 1.0
    loss_kind : {"mse", "cross_entropy"}, default "mse"

    Notes
    -----
    State: ``{"feedback": {W_l: V_l}, "feedback_bias": {W_l: c_l}}`` for the hidden
    weights ``W_2, ..., W_{L-1}``; ``V_l`` has ``W_l.T``'s shape ``(n_{l-1}, n_l)``, so the
    angle between ``W_l`` and ``V_l.T`` is read like any feedback's. :meth:`update`
    returns the state after one inverse-learning step (on the inverses the targets of
    this update were computed with).
    """

    name: ClassVar[str] = "dtp"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward",)

    net: FeedForward
    eta: float = Field(0.05, gt=0, allow_inf_nan=False, description="learning rate")
    eta_inverse: float = Field(0.05, gt=0, allow_inf_nan=False,
                               description="learning rate of the inverses")
    target_step: float = Field(1.0, gt=0, allow_inf_nan=False,
                               description="step size of the top hidden target")
    sigma: float = Field(0.1, ge=0, allow_inf_nan=False,
                         description="corruption noise of inverse learning")
    seed: int = Field(0, ge=0, description="seed of the initial inverses")
    scale: float = Field(1.0, gt=0, allow_inf_nan=False, description="scale of V")
    loss_kind: Literal["mse", "cross_entropy"] = "mse"

    # ------------------------------------------------------------------ structure

    def inverse_shapes(self) -> dict[str, tuple[int, int]]:
        """``{W_l: (n_{l-1}, n_l)}`` for the hidden weights above the first."""
        shapes = self.net.param_shapes()
        return {w: shapes[w][::-1] for w in self.net.weight_names()[1:-1]}

    def init(self, params):
        """Draw the initial inverses (class docstring)."""
        rng = np.random.default_rng(self.seed)
        feedback, bias = {}, {}
        for w, (n_below, n_l) in self.inverse_shapes().items():
            feedback[w] = rng.standard_normal((n_below, n_l)) * (self.scale / np.sqrt(n_l))
            bias[w] = np.zeros(n_below)
        return {"feedback": feedback, "feedback_bias": bias}

    def _inverses(self, state):
        _need_state(self, state, "feedback", "feedback_bias")
        shapes = self.inverse_shapes()
        _check_shapes(self, state["feedback"], shapes, "state['feedback']")
        _check_shapes(self, state["feedback_bias"], {w: (s[0],) for w, s in shapes.items()},
                      "state['feedback_bias']")
        return state["feedback"], state["feedback_bias"]

    def _index(self, w):
        return self.net.weight_names().index(w)

    def inverse(self, state, w, h):
        """``g_l(h) = f_{l-1}(h @ V_l.T + c_l)``, the inverse of the layer ``w`` feeds.

        Parameters
        ----------
        state : dict
            As made by :meth:`init`.
        w : str
            A hidden weight above the first (a key of :meth:`inverse_shapes`).
        h : ndarray, shape (B, n_l)
            Activity of the layer ``w`` feeds.

        Returns
        -------
        ndarray, shape (B, n_{l-1})
        """
        V, c = self._inverses(state)
        act = self.net.layer_activations()[self._index(w) - 1]
        return act.f(h @ V[w].T + c[w])

    def reconstruction_error(self, params, state, x, *, rng=None, sigma=0.0):
        """Mean reconstruction loss of each inverse on the activity of ``x``.

        Parameters
        ----------
        params, state
            Forward parameters and the rule's state.
        x : ndarray, shape (B, n_in)
        rng : numpy.random.Generator, optional
            Needed when ``sigma > 0``.
        sigma : float
            Corruption noise (0: the clean reconstruction).

        Returns
        -------
        dict of str to float
            ``{W_l: mean_b 0.5 ||g_l(f_l(h~)) - h~||^2}`` with ``h~`` the (corrupted)
            activity below ``W_l`` (squared activity units).
        """
        post = [np.atleast_2d(h) for h in self.net.forward(params, x).post]
        X = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = {}
        for w in self.inverse_shapes():
            _, _, rec, h_tilde = self._reconstruct(params, state, w, X, post, rng, sigma)
            out[w] = float(0.5 * np.mean(np.sum((rec - h_tilde) ** 2, axis=1)))
        return out

    def _reconstruct(self, params, state, w, X, post, rng, sigma):
        """``(u_g, f~, g(f~), h~)`` of inverse ``w`` on corrupted activity below it."""
        k = self._index(w)
        acts = self.net.layer_activations()
        below = X if k == 0 else post[k - 1]
        h_tilde = below + sigma * rng.standard_normal(below.shape) if sigma > 0 else below
        u = h_tilde @ params[w].T
        if self.net.bias:
            u = u + params[self.net.bias_names()[k]]
        f_tilde = acts[k].f(u)
        V, c = self._inverses(state)
        u_g = f_tilde @ V[w].T + c[w]
        return u_g, f_tilde, acts[k - 1].f(u_g), h_tilde

    # ------------------------------------------------------------------ update

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(the DTP update, state after one inverse-learning step)``."""
        self._inverses(state)
        if self.sigma > 0 and self.inverse_shapes() and rng is None:
            raise RuleError(f"Rule {self.name} corrupts the inverses' training data with "
                            "noise and needs rng (a numpy.random.Generator).")
        x, target = _batch(self, signals)
        net = self.net
        try:
            act = net.forward(params, x)
            t = batch_targets(target, self.loss_kind, net.sizes[-1],
                              np.atleast_2d(act.inputs).shape[0], np.ndim(x) == 1)
        except ValueError as exc:
            raise RuleError(f"Rule {self.name}: {exc}") from None
        X = np.atleast_2d(act.inputs)
        pre = [np.atleast_2d(u) for u in act.pre]
        post = [np.atleast_2d(h) for h in act.post]
        n = X.shape[0]
        acts = net.layer_activations()
        weights, biases = net.weight_names(), net.bias_names()
        L = net.n_layers
        _, e = output_error(pre[-1], post[-1], t, self.loss_kind, acts[-1])

        # layer deltas d_k (dL_k/du_k of each layer's own loss), output first
        d = {L - 1: e}
        if L > 1:
            target_h = post[L - 2] - self.target_step * n * (e @ params[weights[-1]])
            for k in range(L - 2, -1, -1):
                d[k] = (post[k] - target_h) * acts[k].df(pre[k]) / n
                if k > 0:  # difference correction through the inverse of layer k
                    w = weights[k]
                    target_h = (post[k - 1] + self.inverse(state, w, target_h)
                                - self.inverse(state, w, post[k]))
        delta = {}
        for k, w in enumerate(weights):
            below = X if k == 0 else post[k - 1]
            delta[w] = -self.eta * (d[k].T @ below)
            if biases:
                delta[biases[k]] = -self.eta * d[k].sum(axis=0)

        # inverse learning on noise-corrupted activity (forward weights before this update)
        V, c = state["feedback"], state["feedback_bias"]
        new_V, new_c = {}, {}
        for w in self.inverse_shapes():
            u_g, f_tilde, rec, h_tilde = self._reconstruct(params, state, w, X, post, rng,
                                                           self.sigma)
            dg = (rec - h_tilde) * acts[self._index(w) - 1].df(u_g) / n
            new_V[w] = V[w] - self.eta_inverse * (dg.T @ f_tilde)
            new_c[w] = c[w] - self.eta_inverse * dg.sum(axis=0)
        new_state = {**state, "feedback": new_V, "feedback_bias": new_c}
        return {k: delta[k] for k in net.param_shapes()}, new_state
