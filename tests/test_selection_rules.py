"""Selection-based search: accept-if-better, Metropolis, ES direction, GA elitism, budgets.

Statistical assertions use standard errors computed from the samples, not tuned margins.
"""

import math

import numpy as np
import pytest
from scipy.stats import norm

from plasticity.engine import apply_delta
from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules import (
    EvolutionStrategies,
    GeneticAlgorithm,
    HillClimbing,
    SimulatedAnnealing,
)
from plasticity.rules._flat import flat_spec
from plasticity.rules.selection import centred_ranks
from plasticity.substrates import FeedForward

Z = 4.0  # standard errors allowed


def quadratic(seed=0, sizes=(5, 3), n_batch=8):
    """``(params, loss_fn, grad_fn)`` of a linear layer with squared error (a quadratic)."""
    rng = np.random.default_rng(seed)
    net = FeedForward(sizes=list(sizes), activations=["linear"])
    params = net.init_params(rng)
    x = rng.standard_normal((n_batch, sizes[0]))
    t = rng.standard_normal((n_batch, sizes[-1]))
    return (params, lambda p: net.loss(p, x, t),
            lambda p: net.loss_and_grad(p, x, t)[1])


def tanh_problem(seed=0):
    """A nonlinear loss: a small tanh network on a fixed batch."""
    rng = np.random.default_rng(seed)
    net = FeedForward(sizes=[4, 6, 2], activations="tanh")
    params = net.init_params(rng)
    x = rng.standard_normal((10, 4))
    t = rng.standard_normal((10, 2))
    return params, lambda p: net.loss(p, x, t)


def run(rule, params, loss_fn, n, seed=0):
    """Apply ``n`` updates; return the losses before each and after the last, and deltas."""
    rng = np.random.default_rng(seed)
    state = rule.init(params)
    losses, deltas = [loss_fn(params)], []
    for _ in range(n):
        delta, state = rule.update({}, state, params, loss_fn=loss_fn, rng=rng)
        params = apply_delta(params, delta)
        deltas.append(delta)
        losses.append(loss_fn(params))
    return np.array(losses), deltas, state


@pytest.mark.parametrize("adapt", [False, True])
def test_hill_climbing_never_increases_the_loss(adapt):
    params, loss_fn = tanh_problem()
    rule = HillClimbing(sigma=0.05, adapt=adapt)
    losses, deltas, state = run(rule, params, loss_fn, 200)
    # Exact: the applied p + delta is bit for bit the vector that was tested.
    assert np.all(np.diff(losses) <= 0.0)
    moved = [i for i, d in enumerate(deltas) if any(np.any(v != 0) for v in d.values())]
    assert all(losses[i + 1] < losses[i] for i in moved)
    assert len(moved) == state["n_accepted"] > 0 and state["n_updates"] == 200
    assert losses[-1] < losses[0]
    if adapt:
        # The 1/5th rule: sigma * 1.5**(successes - failures / 4).
        fails = 200 - state["n_accepted"]
        expected = 0.05 * 1.5 ** (state["n_accepted"] - fails / 4)
        assert state["sigma"] == pytest.approx(expected, rel=1e-9)
    else:
        assert state["sigma"] == 0.05


def test_annealing_at_zero_temperature_is_hill_climbing():
    params, loss_fn = tanh_problem(1)
    _, hc, _ = run(HillClimbing(sigma=0.05), params, loss_fn, 100, seed=3)
    _, sa, state = run(SimulatedAnnealing(sigma=0.05, t0=0.0, cooling=0.9), params,
                       loss_fn, 100, seed=3)
    # exact: both draw the same numbers and share _propose, so the same steps are kept
    for a, b in zip(hc, sa, strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert state["temperature"] == 0.0


def test_annealing_acceptance_tends_to_hill_climbing_as_temperature_falls():
    # Fresh streams per step, since annealing draws an extra uniform when T > 0.
    params, loss_fn = tanh_problem(2)
    hc, sa = HillClimbing(sigma=0.05), SimulatedAnnealing(sigma=0.05, t0=1e-300)
    for step in range(50):
        d_hc, _ = hc.update({}, hc.init(params), params, loss_fn=loss_fn,
                            rng=np.random.default_rng(step))
        d_sa, _ = sa.update({}, sa.init(params), params, loss_fn=loss_fn,
                            rng=np.random.default_rng(step))
        for k in d_hc:
            np.testing.assert_array_equal(d_hc[k], d_sa[k])


def test_annealing_metropolis_acceptance_rate():
    # A linear loss L(p) = c . p: dL = sigma c . xi ~ N(0, s^2) with s = sigma |c|, so
    # P(accept) = 1/2 + E[exp(-dL/T); dL > 0] = 1/2 + exp(s^2 / (2 T^2)) Phi(-s / T).
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal(7)}
    c = rng.standard_normal(7)
    sigma, temperature = 0.1, 0.2
    s = sigma * np.linalg.norm(c)
    expected = 0.5 + math.exp(s**2 / (2 * temperature**2)) * norm.cdf(-s / temperature)
    rule = SimulatedAnnealing(sigma=sigma, t0=temperature, cooling=1.0)
    n = 4000
    accepted = 0
    state = rule.init(params)
    for _ in range(n):
        delta, state = rule.update({}, state, params, loss_fn=lambda p: float(c @ p["w"]),
                                   rng=rng)
        accepted += bool(np.any(delta["w"] != 0))
    assert state["n_accepted"] == accepted and state["temperature"] == temperature
    se = math.sqrt(expected * (1 - expected) / n)
    assert abs(accepted / n - expected) < Z * se


def test_annealing_temperature_schedule():
    params, loss_fn = tanh_problem()
    _, _, state = run(SimulatedAnnealing(sigma=0.01, t0=2.0, cooling=0.5), params, loss_fn, 6)
    # exact: halving is exact in binary floating point
    assert state["temperature"] == 2.0 * 0.5**6 and state["n_updates"] == 6


def test_centred_ranks():
    r = centred_ranks(np.array([3.0, -1.0, 10.0, 0.5]))
    np.testing.assert_allclose(r, [1 / 6, -0.5, 0.5, -1 / 6])
    assert centred_ranks(np.ones(5)).sum() == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("antithetic, rank_shaping", [(True, True), (False, True),
                                                      (True, False), (False, False)])
def test_es_moves_the_mean_downhill_on_average(antithetic, rank_shaping):
    params, loss_fn, grad_fn = quadratic()
    spec = flat_spec(params)
    g = spec.flatten(grad_fn(params))
    rule = EvolutionStrategies(eta=0.1, sigma=0.1, population=10, antithetic=antithetic,
                               rank_shaping=rank_shaping)
    rng = np.random.default_rng(5)
    m = 400
    inner = np.empty(m)
    for i in range(m):
        delta, _ = rule.update({}, None, params, loss_fn=loss_fn, rng=rng)
        inner[i] = spec.flatten(delta) @ -g
    assert inner.mean() - Z * inner.std(ddof=1) / np.sqrt(m) > 0


def test_es_without_shaping_is_unbiased_on_a_quadratic():
    # For a quadratic the smoothed gradient is the gradient, so E[delta] = -eta * grad:
    # checked through the projection onto the gradient.
    params, loss_fn, grad_fn = quadratic(1)
    spec = flat_spec(params)
    g = spec.flatten(grad_fn(params))
    rule = EvolutionStrategies(eta=0.2, sigma=0.3, population=4, rank_shaping=False)
    rng = np.random.default_rng(6)
    proj = np.array([spec.flatten(rule.update({}, None, params, loss_fn=loss_fn,
                                              rng=rng)[0]) @ g / (-0.2 * (g @ g))
                     for _ in range(1500)])
    assert abs(proj.mean() - 1.0) < Z * proj.std(ddof=1) / np.sqrt(proj.size)


@pytest.mark.parametrize("selection", ["truncation", "tournament"])
def test_genetic_params_never_get_worse(selection):
    params, loss_fn = tanh_problem(3)
    rule = GeneticAlgorithm(population=12, sigma=0.05, elite=2, selection=selection)
    losses, _, state = run(rule, params, loss_fn, 60)
    # p + (best - p) can differ from best by rounding only.
    assert np.all(np.diff(losses) <= 1e-12 * np.abs(losses[:-1]))
    assert losses[-1] < losses[0]
    assert state["population"].shape == (12, flat_spec(params).size)
    assert state["generation"] == 60
    assert state["best_loss"] == pytest.approx(losses[-2], rel=1e-12)


def test_genetic_update_is_the_change_of_the_elite():
    params, loss_fn = tanh_problem(4)
    rule = GeneticAlgorithm(population=8, sigma=0.1)
    spec = flat_spec(params)
    rng = np.random.default_rng(0)
    state = rule.init(params)
    assert state["population"] is None
    delta, state = rule.update({}, state, params, loss_fn=loss_fn, rng=rng)
    # The elite (row 0 of the next generation) is where the parameters move to.
    np.testing.assert_allclose(spec.flatten(apply_delta(params, delta)),
                               state["population"][0], rtol=0, atol=1e-15)
    old = state["population"].copy()
    rule.update({}, state, apply_delta(params, delta), loss_fn=loss_fn, rng=rng)
    np.testing.assert_array_equal(state["population"], old)  # state not mutated


@pytest.mark.parametrize("rule", [
    EvolutionStrategies(population=6),
    EvolutionStrategies(population=5, antithetic=False),
    EvolutionStrategies(population=6, rank_shaping=False),
    EvolutionStrategies(population=5, antithetic=False, rank_shaping=False),
    HillClimbing(), HillClimbing(adapt=True),
    SimulatedAnnealing(), SimulatedAnnealing(t0=0.0),
    GeneticAlgorithm(population=7, elite=3),
    GeneticAlgorithm(population=7, selection="tournament", crossover="none"),
], ids=repr)
def test_evaluations_per_update_match_loss_calls(rule):
    params, loss_fn = tanh_problem()
    calls = []

    def counted(p):
        calls.append(1)
        return loss_fn(p)

    rng = np.random.default_rng(0)
    state = rule.init(params)
    for step in range(1, 4):
        delta, state = rule.update({}, state, params, loss_fn=counted, rng=rng)
        params = apply_delta(params, delta)
        assert len(calls) == step * rule.evaluations_per_update()


def test_names_and_errors():
    assert (EvolutionStrategies.name, HillClimbing.name, SimulatedAnnealing.name,
            GeneticAlgorithm.name) == ("es", "hill_climbing", "annealing", "genetic")
    with pytest.raises(InvalidParameterError, match="population must be even"):
        EvolutionStrategies(population=5)
    with pytest.raises(InvalidParameterError, match="elite"):
        GeneticAlgorithm(population=4, elite=4)
    with pytest.raises(InvalidParameterError, match="'cooling' parameter"):
        SimulatedAnnealing(cooling=1.5)
    params, loss_fn = tanh_problem()
    for rule in (EvolutionStrategies(), HillClimbing(), SimulatedAnnealing(),
                 GeneticAlgorithm()):
        with pytest.raises(RuleError, match="needs rng"):
            rule.update({}, rule.init(params), params, loss_fn=loss_fn)
        with pytest.raises(RuleError, match="needs loss_fn"):
            rule.update({}, rule.init(params), params, rng=np.random.default_rng(0))
