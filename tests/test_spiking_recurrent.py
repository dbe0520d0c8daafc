"""The recurrent escape-noise network: kernel = NumPy twin, and its oracle = the exact
gradient of the expected loss, computed by enumerating every spike pattern.

The twin gets the same uniforms as the kernel, so the spikes must be identical (a spike
flips only if a uniform falls within rounding error of its probability) and every other
output agrees to rounding (``rtol=1e-10``). The oracle is checked on a network small
enough (2 neurons, 3 steps: 64 spike patterns) that the expected loss is a finite sum
``sum_z P(z | W) l(z)``; its gradient, ``sum_z P(z) [l(z) S(z)]`` for ``W_in``/``W_rec``
and ``sum_z P(z) dl/dW_out(z)``, is first checked against central differences of that
sum (the shared checker), and the oracle's estimate must then lie within its standard
errors of it.
"""

import itertools

import numpy as np
import pytest

from plasticity.errors import InvalidParameterError, ProblemError
from plasticity.problems import RecurrentSpikingProblem, check_problem
from plasticity.spiking.recurrent_escape import (
    PatternTask,
    RecurrentEscapeNet,
    RecurrentEscapeOracle,
)
from plasticity.testing import check_grads

try:
    from tests.twins import recurrent_escape as twin
except ModuleNotFoundError:  # plain `pytest` puts tests/, not the repo root, on sys.path
    from twins import recurrent_escape as twin

# (n_in, n_rec, n_out, n_adaptive, T, K): mixed LIF/ALIF, all ALIF, one step, one neuron
SHAPES = [(5, 8, 2, 4, 60, 3), (3, 4, 1, 4, 40, 2), (2, 3, 2, 0, 1, 4), (4, 1, 1, 1, 30, 5)]


def _setup(shape, seed):
    n_in, n_rec, n_out, n_ad, T, K = shape
    net = RecurrentEscapeNet(n_in=n_in, n_rec=n_rec, n_out=n_out, n_adaptive=n_ad)
    task = PatternTask(net, n_steps=T, rate_hz=150.0, rng=seed, mask_from=T // 3)
    params = net.init_params(seed + 1, in_mean_mv=3.0, rec_sd_mv=4.0)
    U = np.random.default_rng(seed + 2).random((K, T, n_rec))
    return net, task, params, U


@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_matches_twin(shape):
    net, task, params, U = _setup(shape, seed=sum(shape))
    out = task.trials(params, 0, U, record=True)
    ref = twin.simulate(params["W_in"], params["W_rec"], params["W_out"], task.inputs[0],
                        task.targets[0], task.mask, U, net.alpha, net.rho, net.kappa,
                        net.v_th_mv, net.beta(), net.delta_u_mv, net.rho0_per_ms, net.dt_ms)
    np.testing.assert_array_equal(out["spikes"], ref["spikes"])
    if U.shape[1] > 1:  # both spikes and silences are exercised (one step may be silent)
        assert 0 < out["spikes"].mean() < 1
    got = {"loss": out["loss"], "score_in": out["score"]["W_in"],
           "score_rec": out["score"]["W_rec"], "grad_out": out["grad_out"], "v": out["v"],
           "a": out["a"], "y": out["y"]}
    for key, value in got.items():
        scale = max(float(np.max(np.abs(ref[key]))), 1e-300)
        np.testing.assert_allclose(value, ref[key], rtol=1e-10, atol=1e-12 * scale,
                                   err_msg=key)
    # replay of the same spikes gives the same membrane, adaptation and readout
    rep = net.replay(params, task.inputs[0], out["spikes"], task.targets[0], task.mask)
    for key in ("v", "a", "y", "loss"):
        np.testing.assert_allclose(rep[key], out[key] if key != "loss" else out["loss"],
                                   rtol=1e-10, atol=1e-12)


# -- the oracle against exact enumeration ---------------------------------------------

TINY = {"n_in": 2, "n_rec": 2, "n_out": 1, "n_adaptive": 1, "beta_mv": 2.0}


def _tiny(seed=0):
    net = RecurrentEscapeNet(**TINY)
    task = PatternTask(net, n_steps=3, rate_hz=500.0, rng=seed, amplitude=1.0)
    params = {"W_in": np.array([[6.0, 4.0], [3.0, 7.0]]),
              "W_rec": np.array([[0.0, 5.0], [-4.0, 2.0]]),
              "W_out": np.array([[0.8, -0.5]])}
    return net, task, params


def _patterns(T, n):
    return np.array(list(itertools.product([0, 1], repeat=T * n)),
                    dtype=np.float64).reshape(-1, T, n)


def _exact_loss(net, task, params):
    z = _patterns(task.n_steps, net.n_rec)
    rep = net.replay(params, task.inputs[0], z, task.targets[0], task.mask)
    return float(np.sum(np.exp(rep["log_likelihood"]) * rep["loss"]))


def _exact_grad(net, task, params):
    """``sum_z P(z) l(z) S(z)`` and ``sum_z P(z) dl/dW_out(z)``, with the kernel's score
    and readout gradient of each pattern (forced by uniforms 0 for a spike and just
    below 1 for none)."""
    z = _patterns(task.n_steps, net.n_rec)
    U = np.where(z > 0, 0.0, np.nextafter(1.0, 0.0))
    out = task.trials(params, 0, U)
    np.testing.assert_array_equal(out["spikes"], z)
    prob = np.exp(net.replay(params, task.inputs[0], z)["log_likelihood"])
    assert prob.sum() == pytest.approx(1.0, abs=1e-12)
    w = prob * out["loss"]
    return {"W_in": np.einsum("k,kji->ji", w, out["score"]["W_in"]),
            "W_rec": np.einsum("k,kji->ji", w, out["score"]["W_rec"]),
            "W_out": np.einsum("k,kji->ji", prob, out["grad_out"])}


def test_exact_gradient_by_enumeration_matches_finite_differences():
    net, task, params = _tiny()
    grad = _exact_grad(net, task, params)
    # The expected loss is smooth (exponential escape); central differences with
    # eps = 1e-5 are off by ~eps^2 f''' (truncation) plus the rounding floor.
    check_grads(lambda p: _exact_loss(net, task, p), params, grad, eps=1e-5, rtol=1e-6,
                relative_to="array")


def test_oracle_is_within_its_standard_error_of_the_exact_gradient():
    net, task, params = _tiny()
    exact = _exact_grad(net, task, params)
    est = RecurrentEscapeOracle(task, n_trials=40_000).estimate(params, rng=11)
    z = np.concatenate([((est.grad[k] - exact[k]) / est.se[k]).ravel() for k in exact])
    # 10 components; each z ~ N(0, 1) for a calibrated, unbiased estimator: the largest
    # |z| over 10 exceeds 4 with probability ~6e-4, and sum z^2 ~ chi2(10) exceeds 35
    # with probability ~1e-4.
    assert np.max(np.abs(z)) < 4.0, z
    assert float(np.sum(z ** 2)) < 35.0, z
    # the estimate resolves the gradient (a test that could not fail otherwise)
    for k in exact:
        assert np.linalg.norm(exact[k]) > 5 * np.linalg.norm(est.se[k]), k
    assert est.loss == pytest.approx(_exact_loss(net, task, params), abs=4 * est.loss_se)


# -- the problem ----------------------------------------------------------------------

def _problem(noise="common", n_trials=200):
    net = RecurrentEscapeNet(n_in=4, n_rec=5, n_out=2, n_adaptive=2)
    task = PatternTask(net, n_steps=30, n_patterns=2, rate_hz=100.0, rng=3)
    return RecurrentSpikingProblem(task, n_trials=n_trials, noise=noise, seed=4,
                                   init={"in_mean_mv": 2.0})


def test_problem_follows_the_protocol():
    problem = _problem()
    out = check_problem(problem, seed=0, batch_size=3)
    sig = out["signals"]
    assert sig["spikes"].shape == (3, 30, 5) and sig["output_error"].shape == (3, 30, 2)
    assert problem.substrate == "recurrent_spiking"
    # the output error is the derivative of the trial loss with respect to the readout
    err = sig["readout"] - sig["target"]
    norm = problem.task.mask.sum() * 2
    np.testing.assert_allclose(sig["trial_loss"],
                               np.einsum("kto,t->k", err ** 2, problem.task.mask) / norm,
                               rtol=1e-12)
    np.testing.assert_allclose(sig["output_error"], 2 * err / norm, rtol=1e-12)
    assert out["loss"] == pytest.approx(float(sig["trial_loss"].mean()), rel=1e-12)
    # common noise: the same reference at the same weights
    g1, _ = problem.population_gradient(out["params"])
    g2, _ = problem.population_gradient(out["params"])
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])
    fresh = _problem("fresh")
    f1, _ = fresh.population_gradient(out["params"])
    f2, _ = fresh.population_gradient(out["params"])
    assert not np.array_equal(f1["W_in"], f2["W_in"])


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(InvalidParameterError, match="n_adaptive"):
        RecurrentEscapeNet(n_in=2, n_rec=2, n_adaptive=3)
    with pytest.raises(ProblemError, match="needs a PatternTask"):
        RecurrentSpikingProblem(object())
    problem = _problem()
    with pytest.raises(ProblemError, match="n_trials"):
        RecurrentSpikingProblem(problem.task, n_trials=1)
    params = problem.init_params(0)
    with pytest.raises(ProblemError, match="'W_rec' has shape"):
        problem.loss({**params, "W_rec": np.zeros((2, 2))}, problem.batch(1, 0))
    with pytest.raises(InvalidParameterError, match="mask_from"):
        PatternTask(problem.net, n_steps=5, mask_from=5)
