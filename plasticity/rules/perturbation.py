"""Perturbation rules: estimate the gradient from the loss change that random noise causes.

Node perturbation jitters the pre-activations of every neuron and correlates each
neuron's noise with the change of the loss (Williams 1992; Werfel, Xie & Seung 2005;
Fiete & Seung 2006). Weight perturbation jitters every parameter at once and correlates
the parameter noise with the loss change (Jabri & Flower 1992; Werfel et al. 2005). Both
use antithetic pairs (``+xi`` and ``-xi``) by default, which cancel the even-order terms of
the loss around the current point.

What the estimators estimate
----------------------------
With ``xi ~ N(0, I)`` and ``L_sigma(p) = E_xi L(p + sigma xi)`` the Gaussian-smoothed loss,
Stein's lemma gives ``E[(L(p + sigma xi) - L(p - sigma xi)) / (2 sigma) xi] =
grad L_sigma(p) = grad L(p) + O(sigma^2)``. So the weight-perturbation update has
expectation ``-eta grad L_sigma(p)``: exactly ``-eta grad L(p)`` when ``L`` is quadratic in
the parameters (a linear-output network with squared error), biased by ``O(sigma^2)``
otherwise. Its variance falls as ``1/K``; for a quadratic the cosine of one estimate with
the gradient is distributed as ``sqrt(Beta(K/2, (D-1)/2))`` for ``D`` parameters, so
``E[cos^2] = K / (K + D - 1)``: weight perturbation degrades with network size.

Node perturbation applies the same identity per sample ``b`` and per layer ``l`` to the
pre-activations ``u_lb``: its estimate of ``dL/du_lb`` has expectation the derivative of
the smoothed per-sample loss with respect to an offset of ``u_lb``, equal to backprop's
``delta_lb + O(sigma^2)`` and exact when the per-sample loss is quadratic in the
pre-activations (linear layers, squared error). The weight update multiplies that
estimate by the clean presynaptic activity exactly as backprop multiplies ``delta``, so
its expectation is ``-eta (grad L + O(sigma^2))``; its variance scales with the number of
neurons rather than the number of weights.

References
----------
Williams, R. J. (1992). Simple statistical gradient-following algorithms for
    connectionist reinforcement learning. Machine Learning 8, 229-256.
Jabri, M., & Flower, B. (1992). Weight perturbation: an optimal architecture and learning
    technique for analog VLSI feedforward and recurrent multilayer networks. IEEE Trans.
    Neural Networks 3, 154-157.
Werfel, J., Xie, X., & Seung, H. S. (2005). Learning curves for stochastic gradient
    descent in linear feedforward networks. Neural Computation 17, 2699-2718.
Fiete, I. R., & Seung, H. S. (2006). Gradient learning in spiking neural networks by
    dynamic perturbation of conductances. Physical Review Letters 97, 048104.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules._flat import flat_spec
from plasticity.rules.base import Rule
from plasticity.substrates.feedforward import FeedForward

__all__ = ["NodePerturbation", "WeightPerturbation"]


def _need_rng(rule, rng):
    if rng is None:
        raise RuleError(f"Rule {rule.name} draws its own noise and needs rng (a "
                        "numpy.random.Generator); the engine passes it when train(..., "
                        "rng=...) is given one.")
    return rng


def _need_loss(rule, loss_fn):
    if loss_fn is None or not callable(loss_fn):
        raise RuleError(f"Rule {rule.name} needs loss_fn(params) -> float; the engine "
                        "passes it when train(..., loss=...) is given the task loss.")
    return loss_fn


def _scalar_loss(rule, loss_fn, params):
    """``loss_fn(params)`` as a float; NaN counts as +inf (a blown-up candidate)."""
    value = float(loss_fn(params))
    return np.inf if np.isnan(value) else value


class WeightPerturbation(Rule):
    """Weight perturbation: correlate a random jitter of all parameters with the loss change.

    Per update, ``K`` vectors ``xi_k ~ N(0, I_D)`` over all ``D`` parameters (flattened in
    sorted key order) are drawn and

    ``g = (1/K) sum_k (L(p + sigma xi_k) - L(p - sigma xi_k)) / (2 sigma) xi_k``

    (antithetic), or ``g = (1/K) sum_k (L(p + sigma xi_k) - L(p)) / sigma xi_k`` (one-sided);
    the update is ``delta = -eta g``. ``E[g]`` is the gradient of the Gaussian-smoothed loss
    (see the module docstring): unbiased for a quadratic loss when antithetic.

    Parameters
    ----------
    eta : float > 0, default 0.05
        Learning rate.
    sigma : float > 0, default 1e-3
        Perturbation size (parameter units).
    n_samples : int >= 1, default 1
        ``K``, perturbations averaged per update.
    antithetic : bool, default True

    Notes
    -----
    Uses only ``loss_fn`` (the task loss on the current batch) and ``rng``. State: ``None``.
    Loss evaluations per update: ``2K`` (antithetic) or ``K + 1``.
    """

    name: ClassVar[str] = "weight_perturbation"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward", "recurrent", "sequence")

    eta: float = Field(0.05, gt=0, allow_inf_nan=False, description="learning rate")
    sigma: float = Field(1e-3, gt=0, allow_inf_nan=False, description="perturbation size")
    n_samples: int = Field(1, ge=1, description="perturbations per update (K)")
    antithetic: bool = True

    def evaluations_per_update(self) -> int:
        """Calls of ``loss_fn`` per update: ``2K`` antithetic, else ``K + 1``."""
        return 2 * self.n_samples if self.antithetic else self.n_samples + 1

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * g, state)`` with ``g`` the estimate in the class docstring."""
        rng = _need_rng(self, rng)
        loss_fn = _need_loss(self, loss_fn)
        spec = flat_spec(params)
        p = spec.flatten(params)
        base = None if self.antithetic else _scalar_loss(self, loss_fn, spec.unflatten(p))
        g = np.zeros(spec.size)
        for _ in range(self.n_samples):
            xi = rng.standard_normal(spec.size)
            up = _scalar_loss(self, loss_fn, spec.unflatten(p + self.sigma * xi))
            if self.antithetic:
                down = _scalar_loss(self, loss_fn, spec.unflatten(p - self.sigma * xi))
                g += (up - down) / (2.0 * self.sigma) * xi
            else:
                g += (up - base) / self.sigma * xi
        g /= self.n_samples
        return spec.unflatten(-self.eta * g), state


def _as_targets(rule, net, x, target, kind):
    """``(X (B, n_in), T (B, n_out))`` as float64; integer class labels become one-hot."""
    n_in, n_out = net.sizes[0], net.sizes[-1]
    X = np.asarray(x, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != n_in:
        raise RuleError(f"Rule {rule.name}: signal 'input' has shape {np.shape(x)}; "
                        f"expected ({n_in},) or (B, {n_in}).")
    n_batch = X.shape[0]
    t = np.asarray(target)
    if kind == "cross_entropy" and t.dtype.kind in "iu":
        labels = t.reshape(-1)
        if labels.size != n_batch or (labels.size and (labels.min() < 0
                                                       or labels.max() >= n_out)):
            raise RuleError(f"Rule {rule.name}: signal 'target' must hold {n_batch} class "
                            f"labels in [0, {n_out}); got shape {t.shape}.")
        T = np.zeros((n_batch, n_out))
        T[np.arange(n_batch), labels] = 1.0
        return X, T
    T = t.astype(np.float64)
    if T.size != n_batch * n_out or (T.ndim == 2 and T.shape != (n_batch, n_out)):
        raise RuleError(f"Rule {rule.name}: signal 'target' has shape {t.shape}; expected "
                        f"({n_batch}, {n_out}).")
    return X, T.reshape(n_batch, n_out)


def _forward(net, params, X, noise=None):
    """Forward pass with additive pre-activation noise.

    Parameters
    ----------
    net : FeedForward
    params : dict of str to ndarray
    X : ndarray, shape (B, n_in)
    noise : list of ndarray, optional
        ``noise[l]`` of shape ``(S, B, n_l)`` is added to layer ``l``'s pre-activation, for
        ``S`` noisy copies of the batch at once.

    Returns
    -------
    pre, post : list of ndarray
        Per layer, shape ``(B, n_l)`` without noise, ``(S, B, n_l)`` with it.
    """
    biases = net.bias_names()
    pre, post = [], []
    h = X
    for k, (w, act) in enumerate(zip(net.weight_names(), net.layer_activations(),
                                     strict=True)):
        u = h @ params[w].T
        if biases:
            u = u + params[biases[k]]
        if noise is not None:
            u = u + noise[k]
        h = act.f(u)
        pre.append(u)
        post.append(h)
    return pre, post


def _sample_losses(u_out, y_out, T, kind):
    """Per-sample loss (no batch average), shape ``u_out.shape[:-1]``.

    ``"mse"``: ``0.5 ||y - t||^2``; ``"cross_entropy"``: ``-sum_k t_k log softmax(u)_k``, the
    per-sample terms whose batch mean is :meth:`FeedForward.loss`.
    """
    if kind == "mse":
        diff = y_out - T
        return 0.5 * np.sum(diff * diff, axis=-1)
    # Shifting by the maximum keeps exp from overflowing; the softmax is unchanged.
    z = u_out - u_out.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -np.sum(T * logp, axis=-1)


class NodePerturbation(Rule):
    """Node perturbation: correlate noise in each neuron's input with the loss change.

    For each of ``K`` draws, every layer's pre-activation of every sample ``b`` of the
    batch gets independent noise ``sigma xi`` (``xi ~ N(0, I)``), the whole network is run
    forward with ``+sigma xi`` and with ``-sigma xi``, and the per-sample loss change
    estimates backprop's error signal:

    ``d_lb = (1/B) (1/K) sum_k (l_b(+sigma xi_k) - l_b(-sigma xi_k)) / (2 sigma) xi_klb``

    (one-sided: ``(l_b(+sigma xi_k) - l_b) / sigma``). The update is
    ``dW_l = -eta d_l^T h_{l-1}`` and ``db_l = -eta sum_b d_lb`` with ``h_{l-1}`` the clean
    (noise-free) presynaptic activity, ``h_0`` the input: the same products and batch
    average as the true gradient, so ``E[delta] = -eta (grad L + O(sigma^2))``, exact for
    linear layers with squared error (see the module docstring).

    Parameters
    ----------
    net : FeedForward
        The substrate; its own forward pass is rerun here with noise added.
    eta : float > 0, default 0.05
        Learning rate.
    sigma : float > 0, default 1e-3
        Noise standard deviation (pre-activation units).
    n_samples : int >= 1, default 1
        ``K``, noise draws averaged per update.
    antithetic : bool, default True
    loss_kind : {"mse", "cross_entropy"}, default "mse"
        The task's loss; for ``"cross_entropy"`` the last layer's pre-activations are the
        logits.

    Notes
    -----
    Reads ``signals["input"]`` and ``signals["target"]`` and needs ``rng``; does not call
    ``loss_fn``. State: ``None``. Noisy forward passes of the batch per update (each gives
    every sample's loss): ``2K`` antithetic, else ``K`` (plus the clean pass both need).
    """

    name: ClassVar[str] = "node_perturbation"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward",)

    net: FeedForward
    eta: float = Field(0.05, gt=0, allow_inf_nan=False, description="learning rate")
    sigma: float = Field(1e-3, gt=0, allow_inf_nan=False, description="noise std")
    n_samples: int = Field(1, ge=1, description="noise draws per update (K)")
    antithetic: bool = True
    loss_kind: Literal["mse", "cross_entropy"] = "mse"

    def evaluations_per_update(self) -> int:
        """Loss evaluations of the batch per update: ``2K`` antithetic, else ``K + 1``."""
        return 2 * self.n_samples if self.antithetic else self.n_samples + 1

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(delta, state)`` with ``delta`` as in the class docstring."""
        rng = _need_rng(self, rng)
        for key in ("input", "target"):
            if key not in signals or signals[key] is None:
                raise RuleError(f"Rule {self.name} needs the signal '{key}' (available: "
                                f"{', '.join(sorted(signals)) or 'none'}).")
        for key, shape in self.net.param_shapes().items():
            if key not in params or np.shape(params[key]) != shape:
                raise RuleError(f"Rule {self.name}: parameter '{key}' is missing or not of "
                                f"shape {shape}, as the rule's network expects.")
        X, T = _as_targets(self, self.net, signals["input"], signals["target"],
                           self.loss_kind)
        n_batch, K, sigma = X.shape[0], self.n_samples, self.sigma
        widths = self.net.sizes[1:]
        pre, post = _forward(self.net, params, X)
        xi = [rng.standard_normal((K, n_batch, n)) for n in widths]
        if self.antithetic:
            # Both signs in one stacked pass: rows [0, K) are +xi, rows [K, 2K) are -xi.
            noise = [np.concatenate([sigma * z, -sigma * z]) for z in xi]
            u, y = _forward(self.net, params, X, noise)
            losses = _sample_losses(u[-1], y[-1], T, self.loss_kind)
            coef = (losses[:K] - losses[K:]) / (2.0 * sigma)
        else:
            u, y = _forward(self.net, params, X, [sigma * z for z in xi])
            losses = _sample_losses(u[-1], y[-1], T, self.loss_kind)
            clean = _sample_losses(pre[-1], post[-1], T, self.loss_kind)
            coef = (losses - clean) / sigma
        below = [X, *post[:-1]]
        weights, biases = self.net.weight_names(), self.net.bias_names()
        delta = {}
        for k, (w, z) in enumerate(zip(weights, xi, strict=True)):
            # (B, n_l): the estimate of dL/du for the batch-mean loss, hence the 1/B.
            d = np.einsum("kb,kbn->bn", coef, z) / (K * n_batch)
            delta[w] = -self.eta * (d.T @ below[k])
            if biases:
                delta[biases[k]] = -self.eta * d.sum(axis=0)
        return {k: delta[k] for k in self.net.param_shapes()}, state
