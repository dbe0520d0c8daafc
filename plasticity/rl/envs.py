"""Environments for the reinforcement-learning experiments.

:class:`GridWorld` is a small deterministic grid with gymnasium's API; :func:`make_env`
returns it for ``"gridworld"`` and otherwise calls ``gymnasium.make(env_id)``, checking
that the agent can handle the spaces (discrete actions; a ``Discrete`` or 1-D ``Box``
observation space). Every problem is one line, an
:class:`~plasticity.errors.InvalidParameterError` naming the id or the space.
"""

from __future__ import annotations

from plasticity.errors import InvalidParameterError

__all__ = ["GridWorld", "make_env", "check_spaces"]

# actions: 0 up (row - 1), 1 right (col + 1), 2 down (row + 1), 3 left (col - 1)
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))


class GridWorld:
    """A ``size x size`` deterministic grid: walk from ``start`` to ``goal``.

    States are numbered ``row * size + col``; the observation is that index, in a
    ``gymnasium.spaces.Discrete(size * size)`` observation space (the agent one-hot
    encodes it). Four actions, ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left; a move into
    the border leaves the agent in place. Each step gives reward ``-step_cost``, and
    reaching the goal gives ``goal_reward - step_cost`` and terminates the episode; after
    ``max_steps`` steps without reaching it the episode is truncated.

    With the defaults (5 x 5, start top-left, goal bottom-right) the shortest path has
    ``2 (size - 1) = 8`` steps, so the optimal return is ``goal_reward - 8 step_cost =
    0.92``.

    The dynamics are deterministic; ``reset(seed=...)`` is accepted for API compatibility.
    """

    metadata = {"render_modes": []}

    def __init__(self, size=5, start=(0, 0), goal=None, goal_reward=1.0, step_cost=0.0,
                 max_steps=50):
        import gymnasium

        if size < 2:
            raise InvalidParameterError(f"GridWorld: size must be at least 2. Got {size}.")
        if max_steps < 1:
            raise InvalidParameterError(f"GridWorld: max_steps must be at least 1. "
                                        f"Got {max_steps}.")
        self.size = int(size)
        self.start = tuple(int(v) for v in start)
        self.goal = tuple(int(v) for v in goal) if goal is not None else (size - 1, size - 1)
        for what, cell in (("start", self.start), ("goal", self.goal)):
            if len(cell) != 2 or not all(0 <= v < size for v in cell):
                raise InvalidParameterError(f"GridWorld: {what} {cell} is outside the "
                                            f"{size} x {size} grid.")
        if self.start == self.goal:
            raise InvalidParameterError("GridWorld: start and goal must differ.")
        self.goal_reward = float(goal_reward)
        self.step_cost = float(step_cost)
        self.max_steps = int(max_steps)
        self.observation_space = gymnasium.spaces.Discrete(self.size * self.size)
        self.action_space = gymnasium.spaces.Discrete(4)
        self._pos = self.start
        self._t = 0

    @property
    def shortest_path(self) -> int:
        """Number of steps of the shortest path from start to goal (Manhattan distance)."""
        return abs(self.goal[0] - self.start[0]) + abs(self.goal[1] - self.start[1])

    @property
    def optimal_return(self) -> float:
        """Undiscounted return of a shortest path."""
        return self.goal_reward - self.step_cost * self.shortest_path

    def _obs(self):
        return int(self._pos[0] * self.size + self._pos[1])

    def reset(self, *, seed=None, options=None):
        """Put the agent at ``start``; returns ``(obs, info)``."""
        self._pos = self.start
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        """Move; returns ``(obs, reward, terminated, truncated, info)``."""
        if not self.action_space.contains(action):
            raise InvalidParameterError(f"GridWorld: action must be an int in [0, 4). "
                                        f"Got {action!r}.")
        dr, dc = _MOVES[int(action)]
        r = min(max(self._pos[0] + dr, 0), self.size - 1)
        c = min(max(self._pos[1] + dc, 0), self.size - 1)
        self._pos = (r, c)
        self._t += 1
        terminated = self._pos == self.goal
        reward = -self.step_cost + (self.goal_reward if terminated else 0.0)
        truncated = (not terminated) and self._t >= self.max_steps
        return self._obs(), reward, terminated, truncated, {}

    def close(self):
        pass


def check_spaces(env, env_id):
    """Raise :class:`InvalidParameterError` unless the action space is ``Discrete`` and the
    observation space is ``Discrete`` or a 1-D ``Box``."""
    from gymnasium import spaces

    act, obs = env.action_space, env.observation_space
    if not isinstance(act, spaces.Discrete):
        raise InvalidParameterError(
            f"environment '{env_id}' has action space {act}; the actor-critic needs a "
            "discrete action space (gymnasium.spaces.Discrete).")
    if not (isinstance(obs, spaces.Discrete)
            or (isinstance(obs, spaces.Box) and len(obs.shape) == 1)):
        raise InvalidParameterError(
            f"environment '{env_id}' has observation space {obs}; the actor-critic needs "
            "a Discrete or a 1-D Box observation space.")


def make_env(env_id):
    """``"gridworld"`` -> :class:`GridWorld`; otherwise ``gymnasium.make(env_id)``.

    Raises
    ------
    InvalidParameterError
        Unknown id (one line naming it), or spaces the agent cannot handle
        (:func:`check_spaces`).
    """
    if not isinstance(env_id, str) or not env_id:
        raise InvalidParameterError(f"unknown environment {env_id!r}: expected 'gridworld' "
                                    "or a gymnasium id such as 'CartPole-v1'.")
    if env_id.lower() == "gridworld":
        return GridWorld()
    import gymnasium

    try:
        env = gymnasium.make(env_id)
    except gymnasium.error.Error as exc:
        why = " ".join(str(exc).split())
        raise InvalidParameterError(
            f"unknown environment '{env_id}' (not 'gridworld' and not a registered "
            f"gymnasium environment: {why})") from None
    except ImportError as exc:  # a registered environment whose extra is not installed
        why = " ".join(str(exc).split())
        raise InvalidParameterError(
            f"environment '{env_id}' cannot be created: {why}") from None
    try:
        check_spaces(env, env_id)
    except InvalidParameterError:
        env.close()
        raise
    return env
