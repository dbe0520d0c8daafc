"""A layered continuous Hopfield network: the energy-based substrate of equilibrium
propagation (Scellier & Bengio 2017).

Layers ``s_0 = x`` (the input, clamped) and ``s_1 .. s_L`` (free; ``s_L`` is the output)
interact through symmetric weights. For one sample the energy, the cost and the total
energy are

    E(s; theta) = 1/2 sum_{l>=1} |s_l|^2 - sum_{l>=1} rho(s_l)^T W_l rho(s_{l-1})
                  - sum_{l>=1} b_l^T rho(s_l),           rho(s_0) := x,
    C(s; y)     = 1/2 |s_L - y|^2,
    F           = E + beta C,

with ``W_l`` of shape ``(n_l, n_{l-1})`` (``W1 .. WL``, ``b1 .. bL``) and ``rho`` bounded
(:data:`ACTIVATIONS`), so ``E`` is bounded below and the gradient flow
``ds/dt = -dF/ds`` settles at a fixed point ``s^beta`` (a local minimum of ``F``). The
network's prediction is the free (``beta = 0``) fixed point's output ``s*_L``; the loss a
rule is judged against is ``L(theta) = mean_b C(s*_b(theta), y_b)``.

Its exact gradient is recurrent backpropagation (Almeida 1987, Pineda 1987; implicit
differentiation at the fixed point): ``ds*/dtheta = -H^{-1} d^2E/(ds dtheta)`` with
``H = d^2E/ds^2`` at ``s*``, so ``dL/dtheta = -lambda^T d^2E/(ds dtheta)`` where
``H lambda = dC/ds``. :meth:`EnergyNetwork.recurrent_backprop` solves for ``lambda`` by
the linearised relaxation ``lambda <- lambda - dt (H lambda - dC/ds)`` (the same step and
the same stability condition as the free phase) with Hessian-vector products, never
forming ``H``. For a weight, ``d^2E/(ds dW_l)`` applied to ``lambda`` gives

    dL/dW_l = mean_b [ (rho'(s_l) lambda_l) rho(s_{l-1})^T
                       + rho(s_l) (rho'(s_{l-1}) lambda_{l-1})^T ],
    dL/db_l = mean_b rho'(s_l) lambda_l,

with ``lambda_0 = 0`` (the input is clamped).

Equilibrium propagation estimates the same gradient from two (or three) fixed points
(:meth:`EnergyNetwork.energy_param_grad` gives ``dF/dtheta = dE/dtheta``):
``dL/dtheta = lim_{beta->0} (dF/dtheta(s^beta) - dF/dtheta(s^0)) / beta``, with error
``O(beta)``, and the symmetric difference ``(dF/dtheta(s^beta) - dF/dtheta(s^-beta)) /
(2 beta)`` (Laborieux et al. 2021) with error ``O(beta^2)``.

Units: states, inputs and targets are dimensionless rates; the relaxation time is in
units of the (unit) membrane time constant, ``dt`` its Euler step.

References
----------
Scellier, B. & Bengio, Y. (2017). Equilibrium propagation: bridging the gap between
    energy-based models and backpropagation. Front. Comput. Neurosci. 11:24.
Laborieux, A., Ernoult, M., Scellier, B., Bengio, Y., Grollier, J. & Querlioz, D. (2021).
    Scaling equilibrium propagation to deep ConvNets by drastically reducing its gradient
    estimator bias. Front. Neurosci. 15:633674.
Almeida, L. B. (1987); Pineda, F. J. (1987). Recurrent backpropagation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from plasticity.errors import InvalidParameterError
from plasticity.validation import Hyperparameters

__all__ = ["ACTIVATIONS", "EnergyNetwork", "Equilibrium", "NotConverged", "rho"]

#: The bounded activations ``rho`` (kernel codes): ``"sigmoid"`` is the logistic of
#: ``4 s - 2`` (a smooth hard sigmoid from 0 to 1 with slope 1 at ``s = 1/2``).
ACTIVATIONS = {"sigmoid": 0, "tanh": 1}


class NotConverged(InvalidParameterError):
    """A relaxation or adjoint solve did not reach its tolerance (raised only on request)."""


def rho(s, activation="sigmoid"):
    """``rho(s)``, ``rho'(s)`` and ``rho''(s)`` elementwise (arrays shaped like ``s``)."""
    if activation == "sigmoid":
        f = 1.0 / (1.0 + np.exp(-(4.0 * s - 2.0)))
        d1 = 4.0 * f * (1.0 - f)
        return f, d1, 4.0 * d1 * (1.0 - 2.0 * f)
    f = np.tanh(s)
    d1 = 1.0 - f * f
    return f, d1, -2.0 * f * d1


@dataclass(frozen=True)
class Equilibrium:
    """A relaxed state of a batch.

    Attributes
    ----------
    layers : list of ndarray
        ``s_1 .. s_L``, each ``(B, n_l)``.
    steps : int
        Euler steps taken.
    residual : float
        ``max |dF/ds|`` over the batch at the returned state (the fixed-point residual).
    beta : float
        The nudging strength it was relaxed with.
    """

    layers: list
    steps: int
    residual: float
    beta: float

    @property
    def output(self) -> np.ndarray:
        """``s_L``, shape ``(B, n_L)``."""
        return self.layers[-1]


class EnergyNetwork(Hyperparameters):
    """A layered continuous Hopfield network (module docstring), relaxed by Euler steps.

    Parameters
    ----------
    sizes : list of int
        ``[n_0, n_1, ..., n_L]``: input width, free layer widths, output width (L >= 1).
    activation : {"sigmoid", "tanh"}, default "sigmoid"
        ``rho`` of the free layers (the input enters as it is).
    init_scale : float > 0, default 1.0
        ``W_l ~ N(0, init_scale^2 / n_{l-1})``; biases start at zero.
    dt : float in (0, 1], default 0.25
        Euler step of the relaxation (and of the adjoint solve). The step is stable while
        ``dt`` < 2 / (largest eigenvalue of ``d^2F/ds^2``); 0.5 made the free phase of a
        64-64-10 sigmoid network oscillate on a batch of Gaussian inputs (measured), 0.3
        converged.
    max_steps : int >= 1, default 1000
        Most relaxation steps per phase.
    tol : float > 0, default 1e-8
        A phase stops when ``max |dF/ds| < tol``.
    """

    sizes: list[int] = Field(min_length=2)
    activation: Literal["sigmoid", "tanh"] = "sigmoid"
    init_scale: float = Field(1.0, gt=0, allow_inf_nan=False)
    dt: float = Field(0.25, gt=0, le=1, allow_inf_nan=False)
    max_steps: int = Field(1000, ge=1)
    tol: float = Field(1e-8, gt=0, allow_inf_nan=False)

    @field_validator("sizes")
    @classmethod
    def _positive(cls, value):
        if any(n < 1 for n in value):
            raise ValueError(f"must be layer widths >= 1; got {value}")
        return value

    # ------------------------------------------------------------------ parameters

    @property
    def n_layers(self) -> int:
        """``L``, the number of free layers (the output included)."""
        return len(self.sizes) - 1

    def weight_names(self) -> tuple[str, ...]:
        return tuple(f"W{k}" for k in range(1, self.n_layers + 1))

    def bias_names(self) -> tuple[str, ...]:
        return tuple(f"b{k}" for k in range(1, self.n_layers + 1))

    def param_shapes(self) -> dict[str, tuple]:
        """``{"W1": (n_1, n_0), ..., "b1": (n_1,), ...}``."""
        shapes = {w: (self.sizes[k + 1], self.sizes[k])
                  for k, w in enumerate(self.weight_names())}
        shapes.update({b: (self.sizes[k + 1],) for k, b in enumerate(self.bias_names())})
        return shapes

    def init_params(self, rng) -> dict[str, np.ndarray]:
        """``W_l ~ N(0, init_scale^2 / n_{l-1})`` and zero biases, from ``rng``."""
        rng = np.random.default_rng(rng)
        params = {w: rng.standard_normal((self.sizes[k + 1], self.sizes[k]))
                  * (self.init_scale / np.sqrt(self.sizes[k]))
                  for k, w in enumerate(self.weight_names())}
        params.update({b: np.zeros(self.sizes[k + 1]) for k, b in enumerate(self.bias_names())})
        return params

    def check_params(self, params) -> None:
        """Raise InvalidParameterError unless ``params`` has every array in its shape."""
        if not isinstance(params, dict):
            raise InvalidParameterError(f"params must be a dict of arrays; got "
                                        f"{type(params).__name__}.")
        for key, shape in self.param_shapes().items():
            if np.shape(params.get(key)) != shape:
                raise InvalidParameterError(f"params[{key!r}] has shape "
                                            f"{np.shape(params.get(key))}; expected {shape}.")

    def _inputs(self, x, target=None):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.sizes[0] or x.shape[0] < 1:
            raise InvalidParameterError(f"x has shape {np.shape(x)}; expected "
                                        f"({self.sizes[0]},) or (B, {self.sizes[0]}).")
        if target is None:
            return x, None
        t = np.asarray(target)
        n_out = self.sizes[-1]
        if t.dtype.kind in "iu" and t.shape == (x.shape[0],):
            if t.min() < 0 or t.max() >= n_out:
                raise InvalidParameterError(f"labels must be in 0..{n_out - 1}.")
            t = np.eye(n_out)[t]
        t = np.asarray(t, dtype=np.float64)
        if t.ndim == 1:
            t = t[None, :]
        if t.shape != (x.shape[0], n_out):
            raise InvalidParameterError(f"target has shape {np.shape(target)}; expected "
                                        f"({x.shape[0]}, {n_out}) or integer labels "
                                        f"({x.shape[0]},).")
        return x, t

    # ------------------------------------------------------------------ dynamics

    def relax(self, params, x, *, beta=0.0, target=None, start=None, n_steps=None,
              tol=None, require=False) -> Equilibrium:
        """Relax to a fixed point of ``ds/dt = -dF/ds`` (compiled loop).

        Parameters
        ----------
        params : dict of str to ndarray
        x : array_like, shape (B, n_0) or (n_0,)
            The clamped input.
        beta : float, default 0.0
            Nudging strength (any sign: ``-beta`` is the symmetric estimate's second
            phase).
        target : array_like, shape (B, n_L) or int labels (B,)
            Needed when ``beta != 0``.
        start : Equilibrium or list of ndarray, optional
            The initial state (e.g. the free fixed point for a nudged phase); default 0.
        n_steps, tol : optional
            Override :attr:`max_steps` and :attr:`tol`.
        require : bool, default False
            Raise :class:`NotConverged` when the residual stays above ``tol``.

        Returns
        -------
        Equilibrium
        """
        from plasticity._kernels import energy as kern

        self.check_params(params)
        x, t = self._inputs(x, target)
        beta = float(beta)
        if not np.isfinite(beta):
            raise InvalidParameterError(f"beta must be finite; got {beta!r}.")
        if beta != 0.0 and t is None:
            raise InvalidParameterError("a nudged phase (beta != 0) needs a target.")
        n_batch, sizes = x.shape[0], self.sizes[1:]
        if start is None:
            st = np.zeros((sum(sizes), n_batch))
        else:
            layers = start.layers if isinstance(start, Equilibrium) else start
            if [np.shape(v) for v in layers] != [(n_batch, n) for n in sizes]:
                raise InvalidParameterError(f"start has layer shapes "
                                            f"{[np.shape(v) for v in layers]}; expected "
                                            f"{[(n_batch, n) for n in sizes]}.")
            st = np.ascontiguousarray(np.concatenate(layers, axis=1).T, dtype=np.float64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        w = [np.asarray(params[k], dtype=np.float64) for k in self.weight_names()]
        w_offsets = np.concatenate([[0], np.cumsum([a.size for a in w])[:-1]]).astype(np.int64)
        tt = (np.zeros((sizes[-1], n_batch)) if t is None
              else np.ascontiguousarray(t.T))
        n_steps = self.max_steps if n_steps is None else int(n_steps)
        tol = self.tol if tol is None else float(tol)
        steps, residual = kern.relax(
            st, np.ascontiguousarray(x.T), offsets, np.concatenate([a.ravel() for a in w]),
            w_offsets, np.concatenate([np.asarray(params[k], dtype=np.float64)
                                       for k in self.bias_names()]),
            ACTIVATIONS[self.activation], tt, beta, float(self.dt), n_steps, tol)
        if require and not residual < tol:
            raise NotConverged(f"the relaxation (beta={beta:g}) stopped at residual "
                               f"{residual:.3g} after {steps} steps (tol {tol:g}); raise "
                               "max_steps or lower dt.")
        split = np.cumsum(sizes)[:-1]
        return Equilibrium(layers=[np.ascontiguousarray(v)
                                   for v in np.split(st.T, split, axis=1)],
                           steps=int(steps), residual=float(residual), beta=beta)

    def _drive(self, params, x, layers, r):
        """``a_l = W_l rho(s_{l-1}) + W_{l+1}^T rho(s_{l+1}) + b_l`` for every free layer."""
        W = [params[k] for k in self.weight_names()]
        out = []
        for k in range(self.n_layers):
            below = x if k == 0 else r[k - 1]
            a = below @ W[k].T + params[self.bias_names()[k]]
            if k + 1 < self.n_layers:
                a = a + r[k + 1] @ W[k + 1]
            out.append(a)
        return out

    def state_grad(self, params, x, layers, *, beta=0.0, target=None) -> list:
        """``dF/ds_l`` for every free layer (list of ``(B, n_l)``), NumPy."""
        x, t = self._inputs(x, target)
        r = [rho(s, self.activation)[:2] for s in layers]
        a = self._drive(params, x, layers, [f for f, _ in r])
        g = [s - d1 * ak for s, (_, d1), ak in zip(layers, r, a, strict=True)]
        if beta != 0.0:
            g[-1] = g[-1] + beta * (layers[-1] - t)
        return g

    def energy(self, params, x, layers) -> np.ndarray:
        """``E`` of every sample, shape ``(B,)``."""
        x, _ = self._inputs(x)
        r = [rho(s, self.activation)[0] for s in layers]
        e = sum(0.5 * np.sum(s * s, axis=1) for s in layers)
        for k, (w, b) in enumerate(zip(self.weight_names(), self.bias_names(), strict=True)):
            below = x if k == 0 else r[k - 1]
            e = e - np.sum((below @ params[w].T) * r[k], axis=1) - r[k] @ params[b]
        return e

    def cost(self, layers, target) -> np.ndarray:
        """``C = 1/2 |s_L - y|^2`` of every sample, shape ``(B,)``."""
        d = layers[-1] - target
        return 0.5 * np.sum(d * d, axis=1)

    def energy_param_grad(self, params, x, layers) -> dict:
        """``dF/dtheta = dE/dtheta`` at ``layers``, averaged over the batch.

        ``dE/dW_l = -mean_b rho(s_l) rho(s_{l-1})^T`` and ``dE/db_l = -mean_b rho(s_l)``:
        the quantities equilibrium propagation contrasts between phases (local: the
        product of the two rates a synapse connects).
        """
        x, _ = self._inputs(x)
        n = x.shape[0]
        r = [rho(s, self.activation)[0] for s in layers]
        out = {}
        for k, (w, b) in enumerate(zip(self.weight_names(), self.bias_names(), strict=True)):
            below = x if k == 0 else r[k - 1]
            out[w] = -(r[k].T @ below) / n
            out[b] = -r[k].mean(axis=0)
        return out

    def hessian_vector(self, params, x, layers, v) -> list:
        """``H v`` with ``H = d^2E/ds^2`` at ``layers`` (per sample), ``v`` a list like it.

        ``(H v)_l = v_l - rho''_l a_l v_l - rho'_l (W_l (rho'_{l-1} v_{l-1}) + W_{l+1}^T
        (rho'_{l+1} v_{l+1}))`` with ``v_0 = 0`` (the input is clamped).
        """
        x, _ = self._inputs(x)
        d = [rho(s, self.activation) for s in layers]
        a = self._drive(params, x, layers, [f for f, _, _ in d])
        W = [params[k] for k in self.weight_names()]
        u = [d1 * vk for (_, d1, _), vk in zip(d, v, strict=True)]  # rho' v
        out = []
        for k in range(self.n_layers):
            hv = v[k] - d[k][2] * a[k] * v[k]
            coupling = 0.0 if k == 0 else u[k - 1] @ W[k].T
            if k + 1 < self.n_layers:
                coupling = coupling + u[k + 1] @ W[k + 1]
            out.append(hv - d[k][1] * coupling)
        return out

    def recurrent_backprop(self, params, x, free, target, *, n_steps=None, tol=None,
                           require=False):
        """The exact gradient of ``mean_b C(s*_b)`` by recurrent backpropagation.

        Solves ``H lambda = dC/ds`` at the free fixed point ``free`` by
        ``lambda <- lambda - dt (H lambda - dC/ds)`` from zero, then applies
        ``-d^2E/(ds dtheta)`` (module docstring).

        Parameters
        ----------
        params, x
        free : Equilibrium
            The free fixed point (``beta = 0``), converged.
        target : array_like, shape (B, n_L) or int labels (B,)
        n_steps, tol : optional
            Iterations and tolerance on ``max |H lambda - dC/ds|`` (default the
            network's ``max_steps`` and ``tol``).
        require : bool, default False
            Raise :class:`NotConverged` when the solve does not reach ``tol``.

        Returns
        -------
        grad : dict of str to ndarray
            Keys and shapes of ``params``; units of ``C`` per parameter unit.
        info : dict
            ``steps`` and ``residual`` of the adjoint solve.
        """
        x, t = self._inputs(x, target)
        layers = free.layers if isinstance(free, Equilibrium) else free
        n = x.shape[0]
        d = [rho(s, self.activation) for s in layers]
        a = self._drive(params, x, layers, [f for f, _, _ in d])
        W = [params[k] for k in self.weight_names()]
        g = [np.zeros_like(s) for s in layers]
        g[-1] = layers[-1] - t
        lam = [np.zeros_like(s) for s in layers]
        n_steps = self.max_steps if n_steps is None else int(n_steps)
        tol = self.tol if tol is None else float(tol)
        dt = float(self.dt)
        diag = [1.0 - d2 * ak for (_, _, d2), ak in zip(d, a, strict=True)]
        residual, step = np.inf, 0
        for step in range(n_steps + 1):
            u = [d1 * lk for (_, d1, _), lk in zip(d, lam, strict=True)]
            r = []
            for k in range(self.n_layers):
                coupling = 0.0 if k == 0 else u[k - 1] @ W[k].T
                if k + 1 < self.n_layers:
                    coupling = coupling + u[k + 1] @ W[k + 1]
                r.append(diag[k] * lam[k] - d[k][1] * coupling - g[k])
            residual = max(float(np.max(np.abs(rk))) for rk in r)
            if not np.isfinite(residual) or residual < tol or step == n_steps:
                break
            lam = [lk - dt * rk for lk, rk in zip(lam, r, strict=True)]
        if require and not residual < tol:
            raise NotConverged(f"the recurrent-backprop solve stopped at residual "
                               f"{residual:.3g} after {step} steps (tol {tol:g}).")
        grad = {}
        for k, (w, b) in enumerate(zip(self.weight_names(), self.bias_names(), strict=True)):
            up = d[k][1] * lam[k]
            below = x if k == 0 else d[k - 1][0]
            gw = up.T @ below
            if k > 0:
                gw = gw + d[k][0].T @ (d[k - 1][1] * lam[k - 1])
            grad[w] = gw / n
            grad[b] = up.mean(axis=0)
        return grad, {"steps": int(step), "residual": float(residual)}

    # ------------------------------------------------------------------ convenience

    def loss(self, params, x, target, **relax_kw) -> float:
        """``mean_b C(s*_b, y_b)`` at the free fixed point."""
        x, t = self._inputs(x, target)
        free = self.relax(params, x, **relax_kw)
        return float(np.mean(self.cost(free.layers, t)))

    def loss_and_grad(self, params, x, target, **relax_kw):
        """The free-phase cost and its exact gradient (recurrent backprop).

        Returns
        -------
        (float, dict, Equilibrium)
        """
        x, t = self._inputs(x, target)
        free = self.relax(params, x, **relax_kw)
        grad, _ = self.recurrent_backprop(params, x, free, t)
        return float(np.mean(self.cost(free.layers, t))), grad, free

    def predict(self, params, x) -> np.ndarray:
        """Class labels: the argmax of the free fixed point's output, shape ``(B,)``."""
        return np.argmax(self.relax(params, x).output, axis=1)
