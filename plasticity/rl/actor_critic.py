"""A rate-based actor-critic whose two halves learn with three-factor rules.

Features
--------
The state reaches the network as a fixed feature vector ``phi(s)``:

* ``Discrete(n)`` observations (e.g. :class:`~plasticity.rl.envs.GridWorld`): one-hot,
  ``n`` features;
* 1-D ``Box`` observations (e.g. CartPole-v1): each coordinate is first squashed into
  ``[0, 1]`` -- linearly between the space's bounds when both are finite and below
  ``1e6`` in magnitude, otherwise ``(1 + tanh(s_i / scale_i)) / 2`` with ``scale_i =
  1`` -- then expanded in the Fourier basis of order ``k`` (Konidaris, Osentoski &
  Thomas 2011): ``phi_j(s) = cos(pi c_j . u)`` for every integer vector ``c_j`` in
  ``{0..k}^d``, ``(k + 1)^d`` features (256 for CartPole with ``k = 3``), including the
  constant ``c = 0``. If ``(k + 1)^d`` exceeds 4096 the uncoupled basis (one
  coordinate per feature, ``d k + 1`` features) is used instead. Learning rates are
  scaled per feature by ``1 / max(1, |c_j|)`` (Konidaris et al.), so the high
  frequencies learn more slowly. The map is deterministic: no random projection.

Critic (value neurons)
----------------------
``V(s) = v . phi(s)``, learned by TD(lambda) with accumulating traces, the conventions of
:mod:`plasticity.rl.critic`: the dopamine signal at step ``t`` is

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t)

with ``V(s_{t+1}) = 0`` when the episode *terminated* (but the bootstrapped value when it
was only *truncated* by a time limit), and

    z_t = gamma lam_critic z_{t-1} + phi_t,      v <- v + eta_critic delta_t z_t.

Actor (action neurons)
----------------------
Action preferences ``h = W phi`` (``W``: ``(n_actions, n_features)``), policy ``pi =
softmax(beta h)``. The actor's eligibility trace is pre x centred post,

    E_t = gamma lam_actor E_{t-1} + (e_{a_t} - pi_t) phi_t^T,

and the third factor, the same dopamine ``delta_t``, turns it into a weight change,
``W <- W + eta_actor delta_t E_t``. Since ``d log pi_a / dW = beta (e_a - pi) phi^T``
the trace is ``1 / beta`` times the REINFORCE eligibility, and the rule is the
actor-critic policy-gradient step with eligibility traces (Sutton & Barto 2018, sec. 13.5,
without the ``gamma^t`` factor, as is usual in practice). Both traces are reset at the
start of each episode; weights start at zero (uniform policy, zero value).

References
----------
Barto, A. G., Sutton, R. S., & Anderson, C. W. (1983). Neuronlike adaptive elements that
    can solve difficult learning control problems. IEEE Trans. SMC 13, 834-846.
Konidaris, G., Osentoski, S., & Thomas, P. (2011). Value function approximation in
    reinforcement learning using the Fourier basis. AAAI.
Fremaux, N., & Gerstner, W. (2016). Neuromodulated spike-timing-dependent plasticity, and
    theory of three-factor learning rules. Frontiers in Neural Circuits 9, 85.
"""

from __future__ import annotations

import itertools

import numpy as np
from pydantic import Field, model_validator

from plasticity.errors import InvalidParameterError
from plasticity.rl.bandit import softmax
from plasticity.validation import Hyperparameters, renamed_field

__all__ = ["ActorCritic", "FeatureMap", "feature_map", "softmax", "actor_trace_step"]

_MAX_COUPLED = 4096
_LARGE = 1e6


def actor_trace_step(E, phi, a, pi, decay):
    """One step of the actor's eligibility: ``decay E + (e_a - pi) phi^T`` (in place).

    Parameters
    ----------
    E : ndarray, shape (n_actions, n_features)
    phi : ndarray, shape (n_features,)
    a : int
    pi : ndarray, shape (n_actions,)
    decay : float
        ``gamma lam_actor``.
    """
    post = -pi.copy()
    post[a] += 1.0
    E *= decay
    E += np.outer(post, phi)
    return E


class FeatureMap:
    """A fixed feature map ``phi(obs)`` (module docstring).

    Attributes
    ----------
    n_features : int
    lr_scale : ndarray, shape (n_features,)
        Per-feature learning-rate factors (1 for one-hot features).
    kind : str
        ``"one-hot"``, ``"fourier"`` or ``"fourier-uncoupled"``.
    """

    def __init__(self, kind, n_features, lr_scale, fn):
        self.kind = kind
        self.n_features = int(n_features)
        self.lr_scale = np.asarray(lr_scale, dtype=np.float64)
        self._fn = fn

    def __call__(self, obs):
        return self._fn(obs)


def feature_map(observation_space, order=3):
    """Build the :class:`FeatureMap` for a ``Discrete`` or 1-D ``Box`` space."""
    from gymnasium import spaces

    if isinstance(observation_space, spaces.Discrete):
        n, start = int(observation_space.n), int(observation_space.start)
        eye = np.eye(n)

        def one_hot(obs):
            return eye[int(obs) - start]

        return FeatureMap("one-hot", n, np.ones(n), one_hot)
    if not (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 1):
        raise InvalidParameterError(f"the actor-critic cannot featurise observation space "
                                    f"{observation_space}; it needs Discrete or a 1-D Box.")
    d = observation_space.shape[0]
    lo = np.asarray(observation_space.low, dtype=np.float64)
    hi = np.asarray(observation_space.high, dtype=np.float64)
    bounded = np.isfinite(lo) & np.isfinite(hi) & (np.abs(lo) < _LARGE) & (np.abs(hi) < _LARGE)
    lo_b = np.where(bounded, lo, 0.0)
    width = np.where(bounded, hi - lo, 1.0)
    width = np.where(width > 0, width, 1.0)

    def squash(obs):
        s = np.asarray(obs, dtype=np.float64).reshape(d)
        lin = np.clip((s - lo_b) / width, 0.0, 1.0)
        return np.where(bounded, lin, 0.5 * (1.0 + np.tanh(s)))

    if (order + 1) ** d <= _MAX_COUPLED:
        C = np.array(list(itertools.product(range(order + 1), repeat=d)), dtype=np.float64)
        kind = "fourier"
    else:
        rows = [np.zeros(d)]
        for i in range(d):
            for k in range(1, order + 1):
                c = np.zeros(d)
                c[i] = k
                rows.append(c)
        C = np.array(rows)
        kind = "fourier-uncoupled"
    piC = np.pi * C
    norms = np.linalg.norm(C, axis=1)
    lr_scale = 1.0 / np.maximum(norms, 1.0)

    def fourier(obs):
        return np.cos(piC @ squash(obs))

    return FeatureMap(kind, C.shape[0], lr_scale, fourier)


class ActorCriticParams(Hyperparameters):
    """The actor-critic's hyperparameters, declared once (experiments extend them).

    Parameters
    ----------
    gamma : float in [0, 1]
        Discount per step.
    lam_critic, lam_actor : float in [0, 1]
        Trace decays of the critic and the actor.
    eta_critic, eta_actor : float > 0
        Learning rates (before the per-feature scaling of the Fourier basis); the old
        names ``alpha_critic`` and ``alpha_actor`` are accepted for one release, with a
        DeprecationWarning.
    beta : float > 0
        Inverse temperature of the softmax policy.
    fourier_order : int >= 1
        Order of the Fourier basis for ``Box`` observations.
    """

    gamma: float = Field(0.99, ge=0, le=1, description="discount per step")
    lam_critic: float = Field(0.8, ge=0, le=1, description="critic trace decay")
    lam_actor: float = Field(0.8, ge=0, le=1, description="actor trace decay")
    eta_critic: float = Field(0.01, gt=0, allow_inf_nan=False,
                              description="critic learning rate")
    eta_actor: float = Field(0.01, gt=0, allow_inf_nan=False,
                             description="actor learning rate")
    beta: float = Field(1.0, gt=0, allow_inf_nan=False, description="inverse temperature")
    fourier_order: int = Field(3, ge=1, le=10, description="Fourier basis order (Box obs)")

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data):
        # eta is every learning rate's name; the old alpha_* keep working for one release
        data = renamed_field(data, "alpha_critic", "eta_critic", cls.__name__)
        return renamed_field(data, "alpha_actor", "eta_actor", cls.__name__)


class ActorCritic(ActorCriticParams):
    """Actor-critic with TD(lambda) critic and a three-factor actor (module docstring);
    hyperparameters as in :class:`ActorCriticParams`."""

    def init(self, env):
        """Feature map and zero weights for ``env``: ``(features, v, W)``."""
        phi = feature_map(env.observation_space, self.fourier_order)
        n_actions = int(env.action_space.n)
        return phi, np.zeros(phi.n_features), np.zeros((n_actions, phi.n_features))

    def run_episode(self, env, features, v, W, rng, *, seed=None, learn=True):
        """Run one episode, updating ``v`` and ``W`` in place when ``learn``.

        Returns
        -------
        ret : float
            Undiscounted return.
        steps : int
        """
        n_actions = W.shape[0]
        lr_v = self.eta_critic * features.lr_scale
        lr_w = self.eta_actor * features.lr_scale
        gl_v = self.gamma * self.lam_critic
        gl_w = self.gamma * self.lam_actor
        z = np.zeros_like(v)
        E = np.zeros_like(W)
        obs, _ = env.reset(seed=seed)
        phi = features(obs)
        value = float(v @ phi)
        ret, steps = 0.0, 0
        while True:
            pi = softmax(W @ phi, self.beta)
            a = int(rng.choice(n_actions, p=pi)) if n_actions > 1 else 0
            obs, r, terminated, truncated, _ = env.step(a)
            ret += float(r)
            steps += 1
            phi_next = features(obs)
            value_next = 0.0 if terminated else float(v @ phi_next)
            if learn:
                delta = float(r) + self.gamma * value_next - value
                z *= gl_v
                z += phi
                actor_trace_step(E, phi, a, pi, gl_w)
                v += (delta * lr_v) * z
                W += delta * (E * lr_w)
                value_next = 0.0 if terminated else float(v @ phi_next)
            if terminated or truncated:
                return ret, steps
            phi, value = phi_next, value_next


def random_return(env, n_episodes, rng, *, seed=0):
    """Mean undiscounted return of the uniform random policy over ``n_episodes``
    (episode ``i`` reset with ``seed + i``; actions from ``rng``)."""
    n_actions = int(env.action_space.n)
    total = 0.0
    for i in range(n_episodes):
        env.reset(seed=seed + i)
        while True:
            _, r, terminated, truncated, _ = env.step(int(rng.integers(n_actions)))
            total += float(r)
            if terminated or truncated:
                break
    return total / n_episodes
