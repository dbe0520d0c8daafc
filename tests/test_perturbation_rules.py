"""Node and weight perturbation: unbiasedness and the cosine law, from known answers.

Every tolerance is a multiple of a standard error computed from the samples themselves,
so the assertions do not depend on the seeds chosen.
"""

import numpy as np
import pytest
from scipy.special import gammaln
from scipy.stats import norm

from plasticity.errors import RuleError
from plasticity.rules import NodePerturbation, WeightPerturbation
from plasticity.rules._flat import flat_spec
from plasticity.substrates import FeedForward
from plasticity.tasks import make_task

Z = 4.0  # standard errors allowed


def quadratic_case(sizes=(6, 3), n_batch=5, seed=0, activations=None, kind="mse"):
    """A network, parameters, batch and its exact gradient; linear layers by default."""
    rng = np.random.default_rng(seed)
    acts = activations or ["linear"] * (len(sizes) - 1)
    net = FeedForward(sizes=list(sizes), activations=acts)
    params = net.init_params(rng)
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in params.items()}
    x = rng.standard_normal((n_batch, sizes[0]))
    if kind == "mse":
        target = rng.standard_normal((n_batch, sizes[-1]))
    else:
        target = rng.integers(0, sizes[-1], size=n_batch)
    loss, grad = net.loss_and_grad(params, x, target, kind)
    return net, params, x, target, grad


def estimates(rule, params, n_draws, seed, **kw):
    """``n_draws`` independent gradient estimates ``-delta / eta``, shape (n_draws, D)."""
    rng = np.random.default_rng(seed)
    spec = flat_spec(params)
    out = np.empty((n_draws, spec.size))
    for i in range(n_draws):
        delta, _ = rule.update(kw.get("signals", {}), None, params, rng=rng,
                               loss_fn=kw.get("loss_fn"))
        out[i] = -spec.flatten(delta) / rule.eta
    return out


def assert_unbiased(samples, truth):
    """The mean estimate agrees with the truth, within standard errors from the samples.

    Two checks: the projection ``g_hat . g / |g|^2`` averages to 1 within Z standard
    errors (sensitive to a wrong scale), and every component's mean lies within z
    standard errors of the truth, z = max(Z, Bonferroni bound for a family-wise false
    alarm rate of 1e-4 over the D components).
    """
    m, d = samples.shape
    proj = samples @ truth / (truth @ truth)
    assert abs(proj.mean() - 1.0) <= Z * proj.std(ddof=1) / np.sqrt(m)
    z = max(Z, norm.isf(1e-4 / (2 * d)))
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(m)
    assert np.all(np.abs(mean - truth) <= z * se + 1e-12), (
        f"max |mean - truth| / se = {np.max(np.abs(mean - truth) / (se + 1e-300)):.2f}")


@pytest.mark.parametrize("antithetic", [True, False])
def test_weight_perturbation_is_unbiased_on_a_quadratic(antithetic):
    net, params, x, target, grad = quadratic_case()
    # A large sigma: for a quadratic loss the estimator is exact in expectation anyway.
    rule = WeightPerturbation(eta=0.5, sigma=0.3, n_samples=1, antithetic=antithetic)
    samples = estimates(rule, params, 3000, seed=1,
                        loss_fn=lambda p: net.loss(p, x, target))
    assert_unbiased(samples, flat_spec(params).flatten(grad))


@pytest.mark.parametrize("sizes, acts, sigma, antithetic", [
    ((6, 3), None, 0.5, True),                       # single linear layer: exact
    ((6, 3), None, 0.5, False),                      # one-sided: still exact in mean
    ((5, 4, 3), None, 0.5, True),                    # deep linear: loss quadratic in noise
    ((5, 4, 3), ["tanh", "linear"], 1e-3, True),     # nonlinear: bias O(sigma^2), tiny
])
def test_node_perturbation_is_unbiased(sizes, acts, sigma, antithetic):
    net, params, x, target, grad = quadratic_case(sizes=sizes, activations=acts)
    rule = NodePerturbation(net=net, eta=0.1, sigma=sigma, n_samples=1,
                            antithetic=antithetic)
    samples = estimates(rule, params, 3000, seed=2,
                        signals={"input": x, "target": target})
    assert_unbiased(samples, flat_spec(params).flatten(grad))


def test_node_perturbation_cross_entropy_is_unbiased_for_small_sigma():
    net, params, x, target, grad = quadratic_case(sizes=(6, 4), kind="cross_entropy")
    rule = NodePerturbation(net=net, eta=0.1, sigma=1e-3, n_samples=2,
                            loss_kind="cross_entropy")
    samples = estimates(rule, params, 3000, seed=3,
                        signals={"input": x, "target": target})
    assert_unbiased(samples, flat_spec(params).flatten(grad))


def test_node_perturbation_on_a_single_sample_and_task_signals():
    task = make_task("teacher-student", rng=0, n_inputs=4, n_hidden=3, n_outputs=2)
    net = task.student(hidden=5)
    params = net.init_params(0)
    batch = task.batch(1, np.random.default_rng(0))
    rule = NodePerturbation(net=net, sigma=1e-4, n_samples=3)
    sig = {"input": batch.x[0], "target": batch.target[0]}
    delta, state = rule.update(sig, None, params, rng=np.random.default_rng(0))
    assert state is None
    assert {k: v.shape for k, v in delta.items()} == {k: v.shape for k, v in params.items()}
    delta2, _ = rule.update(task.signals(net, params, batch), None, params,
                            rng=np.random.default_rng(0))
    for k in delta:
        np.testing.assert_allclose(delta[k], delta2[k], rtol=1e-10, atol=1e-14)


def expected_cosine(k, d):
    """E[cos(g_hat, g)] for one K-sample antithetic estimate on a quadratic in D dims.

    Rotate so that g = |g| e_1. The estimate is proportional to sum_k a_k xi_k with
    a_k = xi_k1, so its first coordinate is |a|^2 and the other D - 1 coordinates are
    |a| times an independent N(0, I_{D-1}) vector. Hence cos = sqrt(A / (A + C)) with
    A ~ chi2_K and C ~ chi2_{D-1} independent, i.e. cos^2 ~ Beta(K/2, (D-1)/2), and
    E[cos] = E[X^(1/2)] = B(a + 1/2, b) / B(a, b).
    """
    a, b = k / 2, (d - 1) / 2
    return float(np.exp(gammaln(a + 0.5) + gammaln(a + b) - gammaln(a) - gammaln(a + b + 0.5)))


def test_expected_cosine_formula_by_exact_monte_carlo():
    # The closed form against a direct simulation of g_hat = (1/K) Xi^T Xi g.
    rng = np.random.default_rng(0)
    k, d, m = 4, 21, 20000
    g = rng.standard_normal(d)
    xi = rng.standard_normal((m, k, d))
    g_hat = np.einsum("mkd,mk->md", xi, xi @ g) / k
    cos = g_hat @ g / (np.linalg.norm(g_hat, axis=1) * np.linalg.norm(g))
    se = cos.std(ddof=1) / np.sqrt(m)
    assert abs(cos.mean() - expected_cosine(k, d)) < Z * se
    assert abs(np.mean(cos**2) - k / (k + d - 1)) < Z * (cos**2).std(ddof=1) / np.sqrt(m)


@pytest.mark.parametrize("k", [1, 4])
def test_weight_perturbation_cosine_law(k):
    net, params, x, target, grad = quadratic_case(sizes=(6, 3))
    g = flat_spec(params).flatten(grad)
    d = g.size
    rule = WeightPerturbation(eta=1.0, sigma=0.2, n_samples=k)
    samples = estimates(rule, params, 1500, seed=4,
                        loss_fn=lambda p: net.loss(p, x, target))
    cos = samples @ g / (np.linalg.norm(samples, axis=1) * np.linalg.norm(g))
    se = cos.std(ddof=1) / np.sqrt(cos.size)
    assert abs(cos.mean() - expected_cosine(k, d)) < Z * se
    # The rough law quoted in the literature sits close to the exact one.
    assert abs(expected_cosine(k, d) - np.sqrt(k / (d + k + 1))) < 0.1


@pytest.mark.parametrize("antithetic", [True, False])
def test_weight_perturbation_counts_its_evaluations(antithetic):
    net, params, x, target, _ = quadratic_case()
    calls = []

    def loss_fn(p):
        calls.append(1)
        return net.loss(p, x, target)

    rule = WeightPerturbation(n_samples=3, antithetic=antithetic)
    rule.update({}, None, params, loss_fn=loss_fn, rng=np.random.default_rng(0))
    assert len(calls) == rule.evaluations_per_update() == (6 if antithetic else 4)
    assert NodePerturbation(net=net, n_samples=3).evaluations_per_update() == 6


def test_rules_do_not_touch_their_inputs():
    net, params, x, target, _ = quadratic_case(sizes=(5, 4, 3))
    copy = {k: v.copy() for k, v in params.items()}
    sig = {"input": x, "target": target}
    NodePerturbation(net=net).update(sig, None, params, rng=np.random.default_rng(0))
    WeightPerturbation().update(sig, None, params, rng=np.random.default_rng(0),
                                loss_fn=lambda p: net.loss(p, x, target))
    for k in params:
        np.testing.assert_array_equal(params[k], copy[k])


def test_errors():
    net, params, x, target, _ = quadratic_case()
    sig = {"input": x, "target": target}
    with pytest.raises(RuleError, match="needs rng"):
        NodePerturbation(net=net).update(sig, None, params)
    with pytest.raises(RuleError, match="needs rng"):
        WeightPerturbation().update(sig, None, params, loss_fn=lambda p: 0.0)
    with pytest.raises(RuleError, match="needs loss_fn"):
        WeightPerturbation().update(sig, None, params, rng=np.random.default_rng(0))
    with pytest.raises(RuleError, match="signal 'target'"):
        NodePerturbation(net=net).update({"input": x}, None, params,
                                         rng=np.random.default_rng(0))
    assert NodePerturbation.name == "node_perturbation"
    assert WeightPerturbation.name == "weight_perturbation"
