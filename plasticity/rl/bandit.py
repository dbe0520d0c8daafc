"""k-armed bandits and a softmax policy whose expected return has a closed-form gradient.

A bandit has ``k`` arms with reward means ``mu_a``. The policy is a linear layer
``W_out`` of shape ``(k, n_in)`` applied to a fixed context vector ``x`` (by default
``x = [1.0]``, a single context), followed by a softmax at inverse temperature ``beta``:

    u = W_out x,    pi_a = exp(beta u_a) / sum_b exp(beta u_b).

The expected return and its gradient are exact finite sums:

    R(W) = sum_a pi_a mu_a,
    dR/dW_out[i, j] = beta pi_i (mu_i - R) x_j,

which follows from ``d pi_a / d u_i = beta pi_a (delta_ai - pi_i)``. The loss the
alignment analysis compares updates with is ``L(W) = -R(W)``, so a rule that ascends the
expected return has positive cosine with ``-grad L = grad R``.

One trial (:meth:`BanditTask.trial`) draws an arm ``a ~ pi`` and a reward ``r`` from the
arm, and hands a rule the local signals

``{"input": x (n_in,), "action": a (int), "probs": pi (k,), "beta": beta (float)}``

together with ``reward=r`` (see :mod:`plasticity.rules.reward`).

References
----------
Sutton, R. S., & Barto, A. G. (2018). Reinforcement Learning: An Introduction, 2nd ed.,
    ch. 2 (k-armed bandits, gradient bandit algorithms, section 2.8). MIT Press.
Williams, R. J. (1992). Simple statistical gradient-following algorithms for
    connectionist reinforcement learning. Machine Learning 8, 229-256.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from plasticity.errors import InvalidParameterError
from plasticity.validation import Hyperparameters

__all__ = ["BanditTask", "BernoulliBandit", "GaussianBandit", "softmax"]

_Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Bandit(Hyperparameters):
    means: list[_Finite] = Field(..., min_length=2, description="reward mean of each arm")

    @property
    def k(self) -> int:
        """Number of arms."""
        return len(self.means)

    @property
    def mu(self) -> np.ndarray:
        """The arm means as a float64 array of shape (k,)."""
        return np.asarray(self.means, dtype=np.float64)

    def _arm(self, arm) -> int:
        if isinstance(arm, bool) or not isinstance(arm, int | np.integer) \
                or not 0 <= int(arm) < self.k:
            raise InvalidParameterError(f"{type(self).__name__}.pull: arm must be an integer "
                                        f"in [0, {self.k}); got {arm!r}.")
        return int(arm)


class GaussianBandit(_Bandit):
    """Arm ``a`` pays ``mu_a + sigma * N(0, 1)``.

    Parameters
    ----------
    means : list of float, at least 2
        Reward means ``mu_a`` (reward units).
    sigma : float >= 0, default 1.0
        Reward noise standard deviation, the same for every arm.
    """

    sigma: float = Field(1.0, ge=0, allow_inf_nan=False, description="reward noise std")

    def pull(self, arm, rng) -> float:
        """One reward from ``arm`` (an int in ``[0, k)``), drawn with ``rng``."""
        a = self._arm(arm)
        return float(self.means[a] + self.sigma * rng.standard_normal())


class BernoulliBandit(_Bandit):
    """Arm ``a`` pays 1 with probability ``mu_a`` and 0 otherwise.

    Parameters
    ----------
    means : list of float in [0, 1], at least 2
        Success probabilities (= reward means).
    """

    means: list[Annotated[float, Field(ge=0, le=1)]] = Field(
        ..., min_length=2, description="success probability of each arm")

    def pull(self, arm, rng) -> float:
        """One reward (0.0 or 1.0) from ``arm``, drawn with ``rng``."""
        a = self._arm(arm)
        return float(rng.random() < self.means[a])


def softmax(u, beta=1.0) -> np.ndarray:
    """``exp(beta u) / sum exp(beta u)`` along the last axis, overflow-safe."""
    z = beta * np.asarray(u, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class BanditTask:
    """A bandit played by a softmax policy over linear action preferences.

    Parameters
    ----------
    bandit : GaussianBandit or BernoulliBandit
    beta : float > 0, default 1.0
        Inverse temperature of the softmax.
    context : sequence of float, optional
        The fixed input ``x`` (shape ``(n_in,)``); default ``[1.0]``.

    Attributes
    ----------
    k, n_in : int
    x : ndarray, shape (n_in,)
    """

    def __init__(self, bandit, beta=1.0, context=None):
        if not isinstance(bandit, _Bandit):
            raise InvalidParameterError("BanditTask needs a GaussianBandit or "
                                        f"BernoulliBandit; got {type(bandit).__name__}.")
        beta = float(beta)
        if not np.isfinite(beta) or beta <= 0:
            raise InvalidParameterError(f"BanditTask: beta must be a finite number > 0; "
                                        f"got {beta!r}.")
        x = np.asarray([1.0] if context is None else context, dtype=np.float64)
        if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
            raise InvalidParameterError("BanditTask: context must be a non-empty 1-d "
                                        f"sequence of finite numbers; got shape {x.shape}.")
        self.bandit, self.beta, self.x = bandit, beta, x
        self.k, self.n_in = bandit.k, x.size

    # -- parameters -------------------------------------------------------------------
    def param_shapes(self) -> dict:
        """``{"W_out": (k, n_in)}``."""
        return {"W_out": (self.k, self.n_in)}

    def init_params(self, rng=None, scale=0.0) -> dict:
        """``W_out`` with i.i.d. ``N(0, scale^2)`` entries (zeros, a uniform policy, by
        default)."""
        shape = (self.k, self.n_in)
        if scale == 0.0:
            return {"W_out": np.zeros(shape)}
        return {"W_out": scale * np.random.default_rng(rng).standard_normal(shape)}

    def _w(self, params) -> np.ndarray:
        w = np.asarray(params["W_out"], dtype=np.float64)
        if w.shape != (self.k, self.n_in):
            raise InvalidParameterError(f"BanditTask: W_out has shape {w.shape}; expected "
                                        f"({self.k}, {self.n_in}).")
        return w

    # -- policy -----------------------------------------------------------------------
    def probs(self, params) -> np.ndarray:
        """The policy ``pi``, shape ``(k,)``."""
        return softmax(self._w(params) @ self.x, self.beta)

    def signals(self, params, action) -> dict:
        """The local signals of a trial in which ``action`` was chosen."""
        return {"input": self.x.copy(), "action": int(action), "probs": self.probs(params),
                "beta": self.beta}

    def trial(self, params, rng) -> tuple[dict, float]:
        """Draw ``a ~ pi`` and ``r`` from arm ``a``; return ``(signals, r)``."""
        pi = self.probs(params)
        a = int(rng.choice(self.k, p=pi))
        return self.signals(params, a), self.bandit.pull(a, rng)

    # -- objective --------------------------------------------------------------------
    def expected_return(self, params) -> float:
        """``R = sum_a pi_a mu_a`` (reward units)."""
        return float(self.probs(params) @ self.bandit.mu)

    def policy_gradient(self, params) -> dict:
        """``dR/dW_out = beta (pi * (mu - R)) x^T``, exact."""
        pi, mu = self.probs(params), self.bandit.mu
        r = float(pi @ mu)
        return {"W_out": self.beta * np.outer(pi * (mu - r), self.x)}

    def loss(self, params) -> float:
        """``-R``, the loss for the alignment analysis."""
        return -self.expected_return(params)

    def loss_gradient(self, params) -> dict:
        """``-dR/dW``."""
        return {"W_out": -self.policy_gradient(params)["W_out"]}

    def best_return(self) -> float:
        """``max_a mu_a``, the return of the optimal (greedy) policy."""
        return float(self.bandit.mu.max())
