"""Equilibrium propagation (Scellier & Bengio 2017; symmetric nudging, Laborieux et al.
2021).

An energy-based network (:class:`~plasticity.substrates.energy.EnergyNetwork`) relaxes
twice or three times on the same input: freely (``beta = 0``, fixed point ``s^0``) and
with its output nudged towards the target (``F = E + beta C``, fixed points ``s^beta``
and, for symmetric nudging, ``s^-beta``; both start from ``s^0``). Each synapse then
changes by the difference of the product of the two rates it connects between phases:

    positive:   delta[W_l] = eta / beta     (rho(s_l) rho(s_{l-1})^T |_{s^beta}
                                             - rho(s_l) rho(s_{l-1})^T |_{s^0})
    symmetric:  delta[W_l] = eta / (2 beta) (rho(s_l) rho(s_{l-1})^T |_{s^beta}
                                             - rho(s_l) rho(s_{l-1})^T |_{s^-beta})

(batch means; biases with ``rho(s_l)``), i.e. ``-eta`` times the contrast of
``dF/dtheta``. Loss it minimises: the free-phase cost ``L = mean_b 1/2 |s*_L - y_b|^2``
(:class:`~plasticity.problems.eqprop.EqPropProblem`); the update is ``-eta dL/dtheta``
plus a bias of order ``beta`` (positive) or ``beta^2`` (symmetric), where ``dL/dtheta``
is the recurrent-backprop gradient (Scellier & Bengio 2017, Theorem 1; Laborieux et al.
2021, eq. 7). That the EqProp update equals that gradient in the limit, for the fixed
point reached by the same dynamics, is the endpoint of Ernoult et al.'s (2019) GDU
property, which ``tests/test_eqprop.py`` measures.

References
----------
Scellier, B. & Bengio, Y. (2017). Equilibrium propagation: bridging the gap between
    energy-based models and backpropagation. Front. Comput. Neurosci. 11:24.
Laborieux, A. et al. (2021). Scaling equilibrium propagation to deep ConvNets by
    drastically reducing its gradient estimator bias. Front. Neurosci. 15:633674.
Ernoult, M., Grollier, J., Querlioz, D., Bengio, Y. & Scellier, B. (2019). Updates of
    equilibrium prop match gradients of backprop through time in an RNN with static
    input. NeurIPS 32.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules.base import Rule
from plasticity.substrates.energy import EnergyNetwork

__all__ = ["EquilibriumPropagation"]


class EquilibriumPropagation(Rule):
    """Equilibrium propagation: contrast of ``rho(post) rho(pre)`` between nudged phases.

    Parameters
    ----------
    net : EnergyNetwork
        The network (its relaxation step, step limit and tolerance are used).
    beta : float > 0, default 0.1
        Nudging strength. Bad input: ``beta <= 0`` raises
        :class:`~plasticity.errors.InvalidParameterError`.
    nudging : {"symmetric", "positive"}, default "symmetric"
        ``+beta`` and ``-beta`` phases (bias ``O(beta^2)``), or the free and ``+beta``
        phases (bias ``O(beta)``).
    eta : float > 0, default 0.05
        Learning rate (the update is ``-eta`` times the gradient estimate).
    n_free, n_nudged : int >= 1, optional
        Most relaxation steps of the free and of each nudged phase (default: the
        network's ``max_steps``; every phase also stops at the network's ``tol``).

    Notes
    -----
    Signals: ``input`` (B, n_0) and ``target`` (B, n_L) (one-hot for classification) or
    int labels (B,). State: ``None``.
    """

    name: ClassVar[str] = "eqprop"
    substrates: ClassVar[tuple[str, ...]] = ("energy",)

    net: EnergyNetwork
    beta: float = Field(0.1, gt=0, allow_inf_nan=False, description="nudging strength")
    nudging: Literal["symmetric", "positive"] = "symmetric"
    eta: float = Field(0.05, gt=0, allow_inf_nan=False, description="learning rate")
    n_free: int | None = Field(None, ge=1, description="free-phase steps")
    n_nudged: int | None = Field(None, ge=1, description="steps of each nudged phase")

    def gradient_estimate(self, params, x, target, free=None) -> dict:
        """The EqProp estimate of ``dL/dtheta`` (keys and shapes of ``params``).

        ``free`` (an :class:`~plasticity.substrates.energy.Equilibrium`) skips the free
        phase when it is already known.
        """
        net = self.net
        if free is None:
            free = net.relax(params, x, n_steps=self.n_free)
        plus = net.relax(params, x, beta=self.beta, target=target, start=free,
                         n_steps=self.n_nudged)
        g_plus = net.energy_param_grad(params, x, plus.layers)
        if self.nudging == "symmetric":
            minus = net.relax(params, x, beta=-self.beta, target=target, start=free,
                              n_steps=self.n_nudged)
            g_ref, scale = net.energy_param_grad(params, x, minus.layers), 2.0 * self.beta
        else:
            g_ref, scale = net.energy_param_grad(params, x, free.layers), self.beta
        return {k: (g_plus[k] - g_ref[k]) / scale for k in g_plus}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Relax on ``(signals["input"], signals["target"])``; return ``-eta`` times the
        estimate."""
        for key in ("input", "target"):
            if signals.get(key) is None:
                known = ", ".join(sorted(signals)) or "none"
                raise RuleError(f"Rule {self.name} needs the signal '{key}' (available: "
                                f"{known}).")
        est = self.gradient_estimate(params, signals["input"], signals["target"])
        return {k: -self.eta * g for k, g in est.items()}, state
