"""Spiking actor-critic with TD-LTP (plasticity.rl.spiking_actor_critic) on the gridworld.

Tolerances
----------
* Learning (5 x 5 gridworld, optimal 8 steps, truncated at 50, default hyperparameters):
  over the last 50 of 250 episodes the agent reaches the goal in ``>= 90%`` of the
  episodes and its mean episode length is below half the random policy's (43.6 steps
  measured over 2000 episodes; the random policy reaches the goal in about 35% of them).
  Measured through the CLI (same agent, other seeds of the environment): ``steps_last50``
  11.3, 8.4, 9.3 and ``return_last50`` 1 for seeds 0-2, so the bound (about 22 steps)
  leaves room for the spiking noise, which is also the exploration. The fast test runs
  seed 0 (about 20 s), the slow one seeds 1 and 2.
* The TD error is exact arithmetic on the recorded values (``rel=1e-12``).
"""

import numpy as np
import pytest

import plasticity
from plasticity.errors import InvalidParameterError
from plasticity.registry import load as load_experiment
from plasticity.rl.envs import GridWorld, make_env
from plasticity.rl.spiking_actor_critic import SpikingActorCritic, td_error


def _random_steps(env, n, rng):
    total = 0
    for _ in range(n):
        env.reset()
        while True:
            _, _, term, trunc, _ = env.step(int(rng.integers(4)))
            total += 1
            if term or trunc:
                break
    return total / n


def _learn(seed, n_episodes=250):
    env = GridWorld()
    agent = SpikingActorCritic()
    rng = np.random.default_rng(seed)
    out = np.array([agent.run_episode(env, rng, seed=i) for i in range(n_episodes)])
    random_steps = _random_steps(env, 200, np.random.default_rng(100 + seed))
    return out[-50:, 0].mean(), out[-50:, 1].mean(), random_steps


def _check_learned(seed):
    ret, steps, random_steps = _learn(seed)
    assert ret >= 0.9, (seed, ret, steps)
    assert steps < 0.5 * random_steps, (seed, steps, random_steps)


def test_learns_gridworld_fast():
    _check_learned(0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])  # with the fast test: seeds 0-2
def test_learns_gridworld_seeds(seed):
    _check_learned(seed)


def test_td_error_is_r_plus_gamma_v_next_minus_v():
    assert td_error(0.5, 0.2, 0.4, 0.9, False) == pytest.approx(0.5 + 0.9 * 0.4 - 0.2)
    assert td_error(1.0, 0.3, 7.0, 0.9, True) == pytest.approx(0.7)  # terminal: V' = 0
    agent = SpikingActorCritic(gamma=0.8)
    env = GridWorld()
    rng = np.random.default_rng(1)
    for i in range(3):
        agent.run_episode(env, rng, seed=i)
        log = agent.last_td_errors
        assert log, "no transitions were logged"
        for (r, v, v_next, term, delta) in log:
            want = r + (0.0 if term else 0.8 * v_next) - v
            assert delta == pytest.approx(want, rel=1e-12, abs=1e-15)
        # consecutive transitions: V(s') of one is V(s) of the next (one measurement)
        for prev, nxt in zip(log[:-1], log[1:], strict=True):
            assert prev[2] == nxt[1]
    # values are read from the critic's spiking: not all equal
    assert len({v for _, v, *_ in agent.last_td_errors}) > 1


def test_modulator_cleared_and_copies_share_weights():
    agent = SpikingActorCritic()
    env = GridWorld()
    rng = np.random.default_rng(0)
    agent.run_episode(env, rng, seed=0)
    sim = agent.simulator
    for kind in ("critic", "actor"):
        w_a, w_b = sim.weights(f"{kind}_a"), sim.weights(f"{kind}_b")
        np.testing.assert_array_equal(w_a, w_b)
        assert np.abs(w_a - getattr(agent, f"w_init_{kind}")).max() > 0, kind
        for c in ("a", "b"):
            assert sim.modulator(f"{kind}_{c}") == 0.0


def test_no_learning_keeps_weights():
    agent = SpikingActorCritic()
    env = GridWorld()
    agent.build(env, seed=3)
    before = agent.simulator.weights("actor_a")
    agent.run_episode(env, np.random.default_rng(0), seed=0, learn=False)
    np.testing.assert_array_equal(agent.simulator.weights("actor_a"), before)


def test_validation():
    with pytest.raises(InvalidParameterError, match="t_present_ms"):
        SpikingActorCritic(t_present_ms=42.0, update_ms=5.0)
    with pytest.raises(InvalidParameterError, match="w_init_critic"):
        SpikingActorCritic(w_init_critic=30.0, w_max=20.0)
    with pytest.raises(InvalidParameterError, match="gamma"):
        SpikingActorCritic(gamma=1.5)
    with pytest.raises(InvalidParameterError):
        SpikingActorCritic(n_critc=3)  # unknown key
    with pytest.raises(TypeError):
        SpikingActorCritic(0.9)  # keyword-only
    env = make_env("CartPole-v1")
    try:
        with pytest.raises(InvalidParameterError, match="Discrete observation"):
            SpikingActorCritic().run_episode(env, np.random.default_rng(0))
    finally:
        env.close()


def test_experiment_config_agent_key():
    exp = load_experiment("actor-critic")
    cfg = exp.build_config(preset="quick", overrides={"env": "gridworld",
                                                      "agent": "spiking"})
    assert cfg.agent == "spiking" and cfg.gamma == 0.9 and cfg.n_episodes == 250
    cfg = exp.build_config(preset="quick", overrides={"env": "gridworld", "agent": "spiking",
                                                      "gamma": 0.95, "n_episodes": 7})
    assert cfg.gamma == 0.95 and cfg.n_episodes == 7
    assert exp.build_config(preset="quick").agent == "rate"
    assert exp.build_config(preset="quick").gamma == 0.99
    with pytest.raises(InvalidParameterError, match="gridworld"):
        exp.build_config(preset="quick", overrides={"agent": "spiking"})
    with pytest.raises(InvalidParameterError, match="agent"):
        exp.build_config(preset="quick", overrides={"agent": "spiky"})


def test_cli_spiking_cartpole_exits_2(cli, tmp_path):
    out = tmp_path / "x.h5"
    code, _, err = cli("run", "actor-critic", "--set", "agent=spiking", "--out", out)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "gridworld" in err and "spiking" in err
    assert not out.exists()


def test_cli_spiking_gridworld_short(cli, tmp_path):
    out = tmp_path / "sac.h5"
    code, _, err = cli("run", "actor-critic", "--set", "env=gridworld", "--set",
                       "agent=spiking", "--set", "n_episodes=5", "--set",
                       "n_random_episodes=5", "--quiet", "--out", out)
    assert code == 0, err
    run = plasticity.open_run(out)
    s = run.summary
    for key in ("return_last50", "steps_last50", "return_random", "return_optimal",
                "steps_optimal"):
        assert key in s, key
    assert s["agent"] == "spiking"
    assert len(run.series["returns"]["ret"]) == 5
    assert run.snapshots["w_actor"]["value"].shape[1:] == (200, 40)
