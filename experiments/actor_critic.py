"""An actor-critic with three-factor rules learns CartPole-v1 and a gridworld: rate-based
(``agent = "rate"``, the default) or spiking with TD-LTP (``agent = "spiking"``, gridworld
only).

Reproduces: the actor-critic of A. G. Barto, R. S. Sutton & C. W. Anderson (1983),
"Neuronlike adaptive elements that can solve difficult learning control problems", IEEE
Trans. Syst. Man Cybern. 13:834-846 (the pole-balancing task, here gymnasium's CartPole),
with dopamine-gated three-factor rules; the spiking agent follows the TD-LTP of N.
Fremaux, H. Sprekeler & W. Gerstner (2013), "Reinforcement learning using a continuous
time actor-critic framework with spiking neurons", PLoS Comput. Biol. 9:e1003024.

Rate agent.
The agent is :class:`plasticity.rl.actor_critic.ActorCritic`: fixed features ``phi(s)``
(one-hot for the gridworld's discrete states; an order-3 Fourier basis of the squashed
observation for CartPole, 256 features), a critic ``V = v . phi`` learned by TD(lambda)
whose prediction error ``delta`` is the dopamine signal, and an actor with action
preferences ``W phi`` and a softmax policy whose weights follow the three-factor rule
``dW = eta_actor delta E``, ``E = gamma lam_actor E + (e_a - pi) phi^T`` (presynaptic
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
500``, ``eta_critic = eta_actor = 0.5``, ``gamma = 0.9``), seeds 0-4: ``return_last50``
= 1 (optimal), ``steps_last50`` = 8.96, 8.78, 9.0, 9.0, 9.0 (optimal 8), ``return_random``
= 0.35, 0.30, 0.41, 0.36, 0.21.

Spiking agent (``agent = "spiking"``): :class:`plasticity.rl.spiking_actor_critic.
SpikingActorCritic`, simulated by the Numba engine: each state is presented for 40 ms
through its place cells (8 LIF cells at about 100 Hz, gated Poisson input), a critic of
20 LIF neurons gives ``V(s)`` from its spike count, 4 populations of 10 actor neurons with
lateral inhibition vote for the action (the most active wins), and the synapses from the
place cells carry an STDP (LTP-only) eligibility trace that the discrete TD error
``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)``, computed from the critic's spike counts,
turns into weight change as the engine's modulator (TD-LTP, Fremaux, Sprekeler &
Gerstner 2013; details in that module). All the agent's hyperparameters are config keys
(``eta_critic``, ``eta_actor``, ``t_present_ms``, ...); with ``agent = "spiking"``,
``gamma`` defaults to 0.9 and ``n_episodes`` to 250 (quick) unless given; ``agent =
"spiking"`` with any other environment is a config error (exit 2). The summary adds
``agent`` (both agents) and ``sim_time_s`` (simulated network time). The weights of the
plastic projections are recorded in ``/snapshots/w_critic`` and ``/snapshots/w_actor``
(place cell x neuron, mV). Measured (quick preset: 250 episodes, 9-12 s wall each run
alone, 60-70 s with three runs sharing 2 cores; 210-250 s of simulated network time),
seeds 0-2:
``return_last50`` = 1, 1, 1, ``steps_last50`` = 11.3, 8.4, 9.3 (optimal 8; the random
policy needs 43.6 steps on average and reaches the goal in about 35% of the episodes),
``return_random`` = 0.35, 0.30, 0.41.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.experiment import Config, Experiment
from plasticity.rl.actor_critic import ActorCriticParams
from plasticity.rl.spiking_actor_critic import SpikingActorCriticParams

#: defaults of the spiking agent where they differ from the rate agent's (or the
#: experiment's), filled in when
#: ``agent = "spiking"`` and the key is not given (preset, config file or --set)
# The spiking agent's defaults where the two agents share a key: its discount and
# episodes, and its learning rates (the rate agent's eta_* default to 0.01).
SPIKING_DEFAULTS = {"gamma": 0.9, "n_episodes": 250, "eta_critic": 1.0, "eta_actor": 1.0}


class ActorCriticConfig(ActorCriticParams, SpikingActorCriticParams, Config):
    # the rate agent's hyperparameters (gamma, lambdas, learning rates, beta,
    # fourier_order) come from ActorCriticParams, the spiking agent's (all but gamma,
    # which both share) from SpikingActorCriticParams; these are the experiment's own
    agent: Literal["rate", "spiking"] = Field(
        "rate", description="'rate' (three-factor rate rules) or 'spiking' (TD-LTP; "
                            "gridworld only)")
    env: str = Field("CartPole-v1", description="'gridworld' or a gymnasium id with "
                                                "discrete actions")
    n_episodes: int = Field(150, ge=1, description="learning episodes")
    n_random_episodes: int = Field(100, ge=1, description="episodes of the random policy")

    @model_validator(mode="before")
    @classmethod
    def _spiking_defaults(cls, data):
        if isinstance(data, dict) and data.get("agent") == "spiking":
            data = {**SPIKING_DEFAULTS, **data}
        return data

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

    @model_validator(mode="after")
    def _spiking_needs_gridworld(self):
        if self.agent == "spiking" and self.env.lower() != "gridworld":
            raise ValueError(f"agent='spiking' runs on env='gridworld' only (its input is "
                             f"one place-cell population per discrete state); got "
                             f"env={self.env!r}. Use --set env=gridworld, or agent='rate'.")
        return self


def run(cfg: ActorCriticConfig, ctx):
    from plasticity.rl.actor_critic import random_return
    from plasticity.rl.envs import GridWorld, make_env

    env = make_env(cfg.env)
    seed0 = int(ctx.child_rng().integers(2**30))
    action_rng = ctx.child_rng()
    r_random = random_return(env, cfg.n_random_episodes, ctx.child_rng(), seed=seed0)
    ctx.summary(env=cfg.env, agent=cfg.agent, return_random=r_random)
    if isinstance(env, GridWorld):
        ctx.summary(return_optimal=env.optimal_return, steps_optimal=env.shortest_path)
    if cfg.agent == "spiking":
        episode, finish = _spiking_agent(cfg, env, ctx)
    else:
        episode, finish = _rate_agent(cfg, env, ctx)
    rets = np.empty(cfg.n_episodes)
    steps = np.empty(cfg.n_episodes)
    rec = ctx.recorder
    units = {"ret": "reward", "steps": "step"}
    with ctx.progress(cfg.n_episodes, "actor-critic") as bar:
        for ep in range(cfg.n_episodes):
            rets[ep], steps[ep] = episode(action_rng, seed0 + cfg.n_random_episodes + ep)
            rec.append("returns", ep + 1, units=units, index="episode",
                       index_units="episode", ret=rets[ep], steps=steps[ep])
            bar.update(1)
    env.close()
    finish()
    last = float(rets[-50:].mean())
    ctx.summary(return_last50=last, steps_last50=float(steps[-50:].mean()),
                ratio=last / r_random if r_random != 0 else float("nan"))


def _rate_agent(cfg, env, ctx):
    """``(episode(rng, seed), finish())`` of the rate-based agent."""
    from plasticity.rl.actor_critic import ActorCritic

    agent = ActorCritic(**{k: getattr(cfg, k) for k in ActorCriticParams.model_fields})
    features, v, W = agent.init(env)

    def episode(rng, seed):
        return agent.run_episode(env, features, v, W, rng, seed=seed)

    def finish():
        rec = ctx.recorder
        rec.snapshot("v", cfg.n_episodes, v, index="episode", index_units="episode")
        rec.snapshot("W", cfg.n_episodes, W, index="episode", index_units="episode")
        ctx.summary(feature_map=features.kind, n_features=features.n_features)

    return episode, finish


def _spiking_agent(cfg, env, ctx):
    """``(episode(rng, seed), finish())`` of the spiking agent (TD-LTP)."""
    from plasticity.rl.spiking_actor_critic import SpikingActorCritic

    agent = SpikingActorCritic(**{k: getattr(cfg, k)
                                  for k in SpikingActorCriticParams.model_fields})
    agent.build(env, seed=int(ctx.child_rng().integers(2**31)))

    def episode(rng, seed):
        return agent.run_episode(env, rng, seed=seed)

    def finish():
        # the two place-cell copies share their weights; record copy a's, as matrices
        # (presynaptic place cell, postsynaptic neuron), in mV
        rec, sim = ctx.recorder, agent.simulator
        n_in = env.observation_space.n * cfg.cells_per_state
        for kind in ("critic", "actor"):
            w = sim.weights(f"{kind}_a").reshape(n_in, -1)
            rec.snapshot(f"w_{kind}", cfg.n_episodes, w, units="mV", index="episode",
                         index_units="episode")
        ctx.summary(sim_time_s=sim.t_ms * 1e-3)

    return episode, finish


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, ax = figure("single")
    d = run.series["returns"]
    s = run.summary
    ep, ret = d["episode"], d["ret"]
    ep_src, ret_src = src("series/returns:episode"), src("series/returns:ret")
    traced(ax.plot(ep, ret, color=PALETTE[0], lw=0.6, alpha=0.5, label="episode return")[0],
           x=ep_src, y=ret_src)
    k = min(20, len(ret))
    if k > 1:
        smooth = np.convolve(ret, np.ones(k) / k, mode="valid")
        traced(ax.plot(ep[k - 1:], smooth, color=PALETTE[0], label=f"mean of {k}")[0],
               x=ep_src[k - 1:],
               y=ret_src.map(lambda r: np.convolve(r, np.ones(k) / k, mode="valid"),
                             f"moving_mean_{k}"))
    traced(ax.axhline(s["return_random"], color=PALETTE[1], ls="--", lw=0.8,
                      label="random policy"), y=src("summary:return_random"))
    if "return_optimal" in s:
        traced(ax.axhline(s["return_optimal"], color="0.5", ls=":", lw=0.8, label="optimal"),
               y=src("summary:return_optimal"))
    ax.set_xlabel("episode")
    ax.set_ylabel("return")
    ax.set_title(f"{s.get('agent', 'rate')} actor-critic on {s['env']}", loc="left")
    ax.legend()
    return fig


EXPERIMENT = Experiment(
    name="actor-critic",
    description="Actor-critic with three-factor (dopamine-gated) rules: rate-based on "
                "CartPole-v1 or a gridworld, spiking (TD-LTP) on the gridworld.",
    config=ActorCriticConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"n_episodes": 500}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
