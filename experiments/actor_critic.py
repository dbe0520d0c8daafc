"""A rate-based actor-critic with three-factor rules learns CartPole-v1 and a gridworld.

The agent is :class:`plasticity.rl.actor_critic.ActorCritic`: fixed features ``phi(s)``
(one-hot for the gridworld's discrete states; an order-3 Fourier basis of the squashed
observation for CartPole, 256 features), a critic ``V = v . phi`` learned by TD(lambda)
whose prediction error ``delta`` is the dopamine signal, and an actor with action
preferences ``W phi`` and a softmax policy whose weights follow the three-factor rule
``dW = alpha_actor delta E``, ``E = gamma lam_actor E + (e_a - pi) phi^T`` (presynaptic
features x centred postsynaptic action, gated by dopamine). Everything is online, one
update per environment step, from zero weights (a uniform random policy).

Environments: ``env = "CartPole-v1"`` (or any gymnasium id with discrete actions and a
``Discrete`` or 1-D ``Box`` observation space, through ``gymnasium.make``) or
``"gridworld"`` (:class:`plasticity.rl.envs.GridWorld`: 5 x 5, start top-left, goal
bottom-right, reward 1 at the goal and 0 otherwise, truncated after 50 steps; the optimal
return is 1 in 8 steps). The environment is checked when the config is built, so an
unknown id or an unusable action space fails before any run file is written.

Run: first the uniform random policy for ``n_random_episodes`` episodes
(``return_random``, its mean return), then ``n_episodes`` learning episodes, each
episode's return and length recorded in ``/series/returns`` (index: episode, 1-based).
Episode ``i`` of the whole run is reset with ``seed = s0 + i``, ``s0`` drawn from the
run's seed; actions are sampled from another child generator.

Summary: ``return_last50`` (mean return of the last 50 learning episodes, or of all if
fewer), ``steps_last50`` (their mean length), ``return_random``, ``ratio =
return_last50 / return_random`` (NaN if ``return_random`` is 0), ``env``, and for the
gridworld ``return_optimal`` and ``steps_optimal`` (the shortest path).

Measured (quick preset, CartPole-v1, 150 episodes, 8-16 s each on 2 cores), seeds 0-4:
``return_last50`` = 500 (the time limit) for every seed, ``return_random`` = 22.9, 21.5,
22.3, 21.1, 23.1, ``ratio`` = 21.8, 23.3, 22.4, 23.7, 21.6. Gridworld (``n_episodes =
500``, ``alpha_critic = alpha_actor = 0.5``, ``gamma = 0.9``), seeds 0-4: ``return_last50``
= 1 (optimal), ``steps_last50`` = 8.96, 8.78, 9.0, 9.0, 9.0 (optimal 8), ``return_random``
= 0.35, 0.30, 0.41, 0.36, 0.21.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from plasticity.experiment import Config, Experiment
from plasticity.rl.actor_critic import ActorCriticParams


class ActorCriticConfig(ActorCriticParams, Config):
    # the agent's hyperparameters (gamma, lambdas, learning rates, beta, fourier_order)
    # come from ActorCriticParams; these are the experiment's own
    env: str = Field("CartPole-v1", description="'gridworld' or a gymnasium id with "
                                                "discrete actions")
    n_episodes: int = Field(150, ge=1, description="learning episodes")
    n_random_episodes: int = Field(100, ge=1, description="episodes of the random policy")

    @field_validator("env")
    @classmethod
    def _env_usable(cls, value):
        from plasticity.errors import InvalidParameterError
        from plasticity.rl.envs import make_env

        try:
            make_env(value).close()
        except InvalidParameterError as exc:
            raise ValueError(f"is not usable: {exc}") from None
        return value


def run(cfg: ActorCriticConfig, ctx):
    from plasticity.rl.actor_critic import ActorCritic, random_return
    from plasticity.rl.envs import GridWorld, make_env

    env = make_env(cfg.env)
    agent = ActorCritic(**{k: getattr(cfg, k) for k in ActorCriticParams.model_fields})
    seed0 = int(ctx.child_rng().integers(2**30))
    action_rng = ctx.child_rng()
    r_random = random_return(env, cfg.n_random_episodes, ctx.child_rng(), seed=seed0)
    ctx.summary(env=cfg.env, return_random=r_random)
    if isinstance(env, GridWorld):
        ctx.summary(return_optimal=env.optimal_return, steps_optimal=env.shortest_path)
    features, v, W = agent.init(env)
    rets = np.empty(cfg.n_episodes)
    steps = np.empty(cfg.n_episodes)
    rec = ctx.recorder
    units = {"ret": "reward", "steps": "step"}
    with ctx.progress(cfg.n_episodes, "actor-critic") as bar:
        for ep in range(cfg.n_episodes):
            rets[ep], steps[ep] = agent.run_episode(
                env, features, v, W, action_rng, seed=seed0 + cfg.n_random_episodes + ep)
            rec.append("returns", ep + 1, units=units, index="episode",
                       index_units="episode", ret=rets[ep], steps=steps[ep])
            bar.update(1)
    env.close()
    rec.snapshot("v", cfg.n_episodes, v, index="episode", index_units="episode")
    rec.snapshot("W", cfg.n_episodes, W, index="episode", index_units="episode")
    last = float(rets[-50:].mean())
    ctx.summary(return_last50=last, steps_last50=float(steps[-50:].mean()),
                ratio=last / r_random if r_random != 0 else float("nan"),
                feature_map=features.kind, n_features=features.n_features)


def plot(run):
    from plasticity.plots import PALETTE, figure

    fig, ax = figure("single")
    d = run.series["returns"]
    s = run.summary
    ep, ret = d["episode"], d["ret"]
    ax.plot(ep, ret, color=PALETTE[0], lw=0.6, alpha=0.5, label="episode return")
    k = min(20, len(ret))
    if k > 1:
        smooth = np.convolve(ret, np.ones(k) / k, mode="valid")
        ax.plot(ep[k - 1:], smooth, color=PALETTE[0], label=f"mean of {k}")
    ax.axhline(s["return_random"], color=PALETTE[1], ls="--", lw=0.8, label="random policy")
    if "return_optimal" in s:
        ax.axhline(s["return_optimal"], color="0.5", ls=":", lw=0.8, label="optimal")
    ax.set_xlabel("episode")
    ax.set_ylabel("return")
    ax.set_title(f"actor-critic on {s['env']}", loc="left")
    ax.legend()
    return fig


EXPERIMENT = Experiment(
    name="actor-critic",
    description="Rate-based actor-critic with three-factor (dopamine-gated) rules on "
                "CartPole-v1 or a gridworld.",
    config=ActorCriticConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"n_episodes": 500}},
)

if __name__ == "__main__":
    from plasticity.cli import run_file_main

    raise SystemExit(run_file_main(__file__))
