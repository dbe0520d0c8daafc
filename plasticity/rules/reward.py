"""Reward-modulated rules for a softmax policy: REINFORCE and three-factor rules.

The substrate is a linear layer ``W_out`` (shape ``(k, n_in)``) whose outputs are the
action preferences ``u = W_out x`` of a softmax policy ``pi = softmax(beta u)``; see
:class:`plasticity.rl.bandit.BanditTask`. After each trial a rule gets the signals

``input``
    ``x``, the presynaptic activity, shape ``(n_in,)``.
``action``
    ``a``, the chosen action (int in ``[0, k)``); the postsynaptic activity is the one-hot
    vector ``e_a``.
``probs``
    ``pi``, the policy's action probabilities, shape ``(k,)``.
``beta``
    The inverse temperature (optional, default 1.0; only :class:`Reinforce` uses it).

and the scalar ``reward=r``. Both rules keep a running-mean reward baseline ``b`` in their
state (``b <- b + rho (r - b)`` after each trial, starting at ``baseline_init``) and use
the baseline from *before* the trial, so within a trial ``b`` is a constant.

What they follow in expectation
-------------------------------
With ``mu_a`` the arm means and ``R = sum_a pi_a mu_a`` the expected reward, the exact
policy gradient is ``grad R = beta (pi * (mu - R)) x^T`` and, for a fixed ``b``:

* :class:`Reinforce` ``delta = eta (r - b) beta (e_a - pi) x^T`` (``= eta (r - b)
  d log pi_a / dW``): ``E[delta] = eta grad R`` for *any* constant ``b`` (Williams 1992);
  the baseline changes only the variance.
* :class:`ThreeFactor` with ``post_centered=True``, ``delta = eta (r - b) (e_a - pi)
  x^T``: the same rule with the factor ``beta`` left out, ``E[delta] = (eta / beta) grad
  R``; unbiased.
* :class:`ThreeFactor` with ``post_centered=False`` (the classic reward-modulated Hebbian
  rule, ``delta = eta (r - b) e_a x^T``): ``E[delta] = eta (pi * (mu - b)) x^T =
  (eta / beta) grad R + eta (R - b) pi x^T``. **Biased**: the second term, a
  rich-get-richer push along the current policy, vanishes only when the modulator is
  exactly centred, ``b = R`` (Fremaux, Sprekeler & Gerstner 2010: reward-modulated
  plasticity needs a reward prediction; Fremaux & Gerstner 2016). A running mean reaches
  ``R`` only asymptotically and lags it while the policy changes.

References
----------
Williams, R. J. (1992). Simple statistical gradient-following algorithms for
    connectionist reinforcement learning. Machine Learning 8, 229-256.
Fremaux, N., Sprekeler, H., & Gerstner, W. (2010). Functional requirements for
    reward-modulated spike-timing-dependent plasticity. J. Neurosci. 30, 13326-13337.
Fremaux, N., & Gerstner, W. (2016). Neuromodulated spike-timing-dependent plasticity, and
    theory of three-factor learning rules. Frontiers in Neural Circuits 9, 85.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules.base import Rule

__all__ = ["Reinforce", "ThreeFactor"]


def _trial(rule, signals, params, reward):
    """Validated ``(x, a, pi, beta, r)`` from the signals and the reward."""
    if reward is None:
        raise RuleError(f"Rule {rule.name} needs reward= (the scalar reward of the trial).")
    r = np.asarray(reward, dtype=np.float64)
    if r.size != 1 or not np.isfinite(r).all():
        raise RuleError(f"Rule {rule.name}: reward must be one finite number; got "
                        f"{reward!r}.")
    missing = [k for k in ("input", "action", "probs") if k not in signals]
    if missing:
        raise RuleError(f"Rule {rule.name} needs the signal(s) {', '.join(missing)} "
                        "(input x, chosen action a, policy probabilities pi).")
    if "W_out" not in params:
        raise RuleError(f"Rule {rule.name} updates the parameter 'W_out' (the policy's "
                        f"action preferences); the parameters are {', '.join(sorted(params))}.")
    k, n_in = np.shape(params["W_out"])
    x = np.asarray(signals["input"], dtype=np.float64)
    pi = np.asarray(signals["probs"], dtype=np.float64)
    if x.shape != (n_in,):
        raise RuleError(f"Rule {rule.name}: signal 'input' has shape {x.shape}; expected "
                        f"({n_in},).")
    if pi.shape != (k,):
        raise RuleError(f"Rule {rule.name}: signal 'probs' has shape {pi.shape}; expected "
                        f"({k},).")
    a = signals["action"]
    if isinstance(a, bool) or not isinstance(a, int | np.integer) or not 0 <= a < k:
        raise RuleError(f"Rule {rule.name}: signal 'action' must be an int in [0, {k}); "
                        f"got {a!r}.")
    beta = float(signals.get("beta", 1.0))
    return x, int(a), pi, beta, float(r.reshape(()))


class _RewardRule(Rule):
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")
    baseline_rate: float = Field(0.1, ge=0, le=1, description="rho, rate of the running-"
                                 "mean reward baseline (0: fixed at baseline_init)")
    baseline_init: float = Field(0.0, allow_inf_nan=False, description="initial baseline "
                                 "(reward units)")

    def init(self, params):
        """``{"baseline": baseline_init}``."""
        return {"baseline": float(self.baseline_init)}

    def _baseline(self, state):
        if not isinstance(state, dict) or "baseline" not in state:
            raise RuleError(f"Rule {self.name} needs the state returned by init() "
                            f"(a dict with 'baseline'); got {type(state).__name__}.")
        return float(state["baseline"])

    def _next(self, b, r):
        return {"baseline": b + self.baseline_rate * (r - b)}

    def _post(self, a, pi, beta):
        raise NotImplementedError

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(eta (r - b) post x^T, new_state)``; see the class docstring for
        ``post``."""
        x, a, pi, beta, r = _trial(self, signals, params, reward)
        b = self._baseline(state)
        delta = self.eta * (r - b) * np.outer(self._post(a, pi, beta), x)
        return {"W_out": delta}, self._next(b, r)


class Reinforce(_RewardRule):
    """REINFORCE with a running-mean reward baseline (Williams 1992).

    ``delta = eta (r - b) d log pi_a / dW_out = eta (r - b) beta (e_a - pi) x^T``;
    ``E[delta] = eta grad R`` exactly (module docstring).

    Parameters
    ----------
    eta : float > 0, default 0.1
        Learning rate (parameter units per reward unit).
    baseline_rate : float in [0, 1], default 0.1
    baseline_init : float, default 0.0

    Notes
    -----
    Reads ``input``, ``action``, ``probs`` and ``beta`` (default 1.0) and needs
    ``reward``; no ``rng``, no ``loss_fn``. State: ``{"baseline": b}``.
    """

    name: ClassVar[str] = "reinforce"
    substrates: ClassVar[tuple[str, ...]] = ("bandit",)

    def _post(self, a, pi, beta):
        post = -beta * pi
        post[a] += beta
        return post


class ThreeFactor(_RewardRule):
    """Three-factor rule: eligibility ``pre x post`` gated by the modulator ``M = r - b``.

    ``delta = eta M e``, ``e = f(pre) g(post) = (e_a - c pi) x^T`` with ``c = 1`` when
    ``post_centered`` (then the rule is REINFORCE with ``eta / beta``: unbiased) and
    ``c = 0`` otherwise (the classic reward-modulated Hebbian rule: biased by ``eta (R - b)
    pi x^T`` in expectation, see the module docstring).

    Parameters
    ----------
    eta : float > 0, default 0.1
    post_centered : bool, default False
        Subtract the expected postsynaptic activity ``pi`` from the one-hot ``e_a``.
    baseline_rate : float in [0, 1], default 0.1
    baseline_init : float, default 0.0

    Notes
    -----
    Reads ``input``, ``action``, ``probs``; needs ``reward``. State: ``{"baseline": b}``.
    """

    name: ClassVar[str] = "three_factor"
    substrates: ClassVar[tuple[str, ...]] = ("bandit",)

    post_centered: bool = False

    def _post(self, a, pi, beta):
        post = -pi if self.post_centered else np.zeros_like(pi)
        post[a] += 1.0
        return post
