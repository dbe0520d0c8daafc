"""actor-critic: GridWorld dynamics, the actor's three-factor eligibility, and the CLI runs.

Tolerances
----------
* CartPole-v1, quick preset (150 episodes): ``return_last50 >= 5 return_random`` (the
  issue's criterion; random CartPole returns about 22, so this needs >= ~110; measured
  ratios for seeds 0-4: 21.8, 23.3, 22.4, 23.7, 21.6, return_last50 = 500 each).
* gridworld (5 x 5, optimal return 1 in 8 steps, truncated after 50 steps): after 500
  episodes with ``eta = 0.5``, ``gamma = 0.9``, every one of the last 50 episodes
  reaches the goal up to one miss (``return_last50 >= 0.98``) and the mean episode length
  is within 25% of the shortest path (``steps_last50 <= 10``; the softmax policy keeps
  exploring, measured 8.78-9.0 over seeds 0-4).
"""

import numpy as np
import pytest

import plasticity
from plasticity.errors import InvalidParameterError
from plasticity.rl.actor_critic import ActorCritic, actor_trace_step, feature_map, softmax
from plasticity.rl.envs import GridWorld, make_env
from plasticity.testing import check_grads

# --- GridWorld ---------------------------------------------------------------------------


def test_gridworld_dynamics():
    env = GridWorld()
    obs, info = env.reset(seed=3)
    assert obs == 0 and info == {}
    assert env.observation_space.n == 25 and env.action_space.n == 4
    # walls: up and left from the corner stay in place
    for a in (0, 3):
        obs, r, term, trunc, _ = env.step(a)
        assert (obs, r, term, trunc) == (0, 0.0, False, False)
    obs, *_ = env.step(1)  # right
    assert obs == 1
    obs, *_ = env.step(2)  # down
    assert obs == 6
    # shortest path from the start: 4 right, 4 down
    env.reset()
    path = [1, 1, 1, 1, 2, 2, 2]
    for a in path:
        obs, r, term, trunc, _ = env.step(a)
        assert r == 0.0 and not term and not trunc
    obs, r, term, trunc, _ = env.step(2)
    assert (obs, r, term, trunc) == (24, 1.0, True, False)
    assert env.shortest_path == 8 and env.optimal_return == 1.0


def test_gridworld_truncates_and_step_cost():
    env = GridWorld(size=3, max_steps=4, step_cost=0.1)
    env.reset()
    for t in range(4):
        obs, r, term, trunc, _ = env.step(0)  # bump into the wall
        assert obs == 0 and r == pytest.approx(-0.1) and not term
        assert trunc == (t == 3)
    assert env.optimal_return == pytest.approx(1.0 - 0.4)
    with pytest.raises(InvalidParameterError, match="action"):
        env.step(4)


def test_make_env_errors():
    assert isinstance(make_env("gridworld"), GridWorld)
    with pytest.raises(InvalidParameterError, match="unknown environment 'NoSuchEnv-v0'"):
        make_env("NoSuchEnv-v0")
    with pytest.raises(InvalidParameterError, match="Pendulum-v1.*action space Box"):
        make_env("Pendulum-v1")
    env = make_env("CartPole-v1")
    assert env.action_space.n == 2
    env.close()


# --- the actor's three-factor eligibility ------------------------------------------------


def test_actor_trace_hand_example():
    E = np.array([[1.0, -2.0], [0.5, 4.0]])
    phi = np.array([1.0, 2.0])
    pi = np.array([0.25, 0.75])
    out = actor_trace_step(E.copy(), phi, 0, pi, 0.5)
    # 0.5 E + (e_0 - pi) phi^T = 0.5 E + [0.75, -0.75]^T [1, 2]
    expected = np.array([[0.5 + 0.75, -1.0 + 1.5], [0.25 - 0.75, 2.0 - 1.5]])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)


def test_actor_trace_is_reinforce_eligibility():
    """With no decay the trace is (1 / beta) d log pi_a / dW (finite differences)."""
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 4))
    phi = rng.normal(size=4)
    beta, a = 1.7, 2
    pi = softmax(W @ phi, beta)
    E = actor_trace_step(np.zeros_like(W), phi, a, pi, 0.0)
    # step 1e-6: truncation (eps^2 / 6) |f'''| ~ 1e-12 (|f'''| <~ beta^3 |phi|^3 ~ 10),
    # rounding ~ u (1 + |log pi_a|) / eps ~ 2e-10. Allowed per entry of the gradient
    # beta E: 1e-6 of itself + 1e-8 beta, the old |E - fd / beta| <= 1e-8 + 1e-6 |fd / beta|.
    check_grads(lambda w: np.log(softmax(w @ phi, beta)[a]), W, beta * E, eps=1e-6,
                rtol=1e-6, atol=1e-8 * beta, relative_to="entry")


def test_features_and_hyperparameters():
    env = make_env("CartPole-v1")
    f = feature_map(env.observation_space, 3)
    assert f.kind == "fourier" and f.n_features == 256
    x = f(np.zeros(4, dtype=np.float32))
    assert x.shape == (256,) and x[0] == 1.0 and np.all(np.abs(x) <= 1)
    g = feature_map(GridWorld().observation_space)
    np.testing.assert_array_equal(g(7), np.eye(25)[7])
    for bad in ({"gamma": 1.5}, {"lam_actor": -0.1}, {"eta_critic": 0},
                {"eta_actor": -1}, {"beta": 0}):
        with pytest.raises(InvalidParameterError):
            ActorCritic(**bad)


# --- CLI ---------------------------------------------------------------------------------


def _run(cli, path, *sets):
    args = ["run", "actor-critic", "--quiet", "--out", path]
    for s in sets:
        args += ["--set", s]
    code, _, err = cli(*args)
    assert code == 0, err
    return plasticity.open_run(path)


def test_cartpole_quick_learns(cli, tmp_path):
    run = _run(cli, tmp_path / "cp.h5")
    s = run.summary
    assert run.status == "complete"
    assert s["env"] == "CartPole-v1"
    assert 15 < s["return_random"] < 30
    assert s["ratio"] >= 5, s
    assert s["ratio"] == pytest.approx(s["return_last50"] / s["return_random"])
    assert len(run.series["returns"]["ret"]) == run.config["n_episodes"]


def test_gridworld_learns(cli, tmp_path):
    run = _run(cli, tmp_path / "gw.h5", "env=gridworld", "n_episodes=500",
               "eta_critic=0.5", "eta_actor=0.5", "gamma=0.9")
    s = run.summary
    assert s["env"] == "gridworld" and s["return_optimal"] == 1.0 and s["steps_optimal"] == 8
    assert s["return_last50"] >= 0.98, s
    assert s["steps_last50"] <= 10, s
    assert s["return_random"] < 0.6


@pytest.mark.parametrize("env, words", [("NoSuchEnv-v0", ["NoSuchEnv-v0", "unknown"]),
                                        ("Pendulum-v1", ["Pendulum-v1", "action space",
                                                         "Box"])])
def test_bad_env(cli, tmp_path, env, words):
    out = tmp_path / "bad.h5"
    code, _, err = cli("run", "actor-critic", "--out", out, "--set", f"env={env}")
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err
    assert not out.exists()


def test_old_learning_rate_names_still_work_with_a_warning():
    from plasticity.rl.actor_critic import ActorCriticParams

    with pytest.warns(DeprecationWarning, match="'alpha_(critic|actor)' is deprecated"):
        old = ActorCriticParams(alpha_critic=0.3, alpha_actor=0.2)
    assert (old.eta_critic, old.eta_actor) == (0.3, 0.2)
    with pytest.raises(Exception, match="give 'eta_actor' only"):
        ActorCriticParams(alpha_actor=0.2, eta_actor=0.2)
