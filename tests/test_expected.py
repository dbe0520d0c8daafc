"""The expected update at a fixed state: convergence, bias against noise, speed."""

import time

import numpy as np
import pytest
from scipy import special, stats

from plasticity.analysis import (
    align,
    expected_cosine,
    expected_update,
    flatten,
    unflatten,
)
from plasticity.errors import RuleError
from plasticity.substrates import FeedForward

P_TAIL = 1e-6  # two-sided tail probability of the statistical checks below


class GradPlusNoise:
    """``delta = -eta g + sigma xi`` with ``xi ~ N(0, I)``: unbiased, noisy."""

    def __init__(self, g, eta, sigma):
        self.g, self.eta, self.sigma = g, eta, sigma

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {k: -self.eta * v + self.sigma * rng.standard_normal(v.shape)
                for k, v in self.g.items()}, state


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((6, 5)), "b": rng.standard_normal(6)}
    g = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    return params, g


def mean_cosine_closed_form(a, n):
    """E[v_1 / |v|] for v ~ N(a e_1, I_n): the mean per-draw cosine of an unbiased rule
    whose mean step is a noise standard deviations long along -g.

    a Gamma((n+1)/2) / (sqrt(2) Gamma(n/2 + 1)) 1F1(1/2; n/2 + 1; -a^2/2), from
    1/|v| = pi^{-1/2} int_0^inf t^{-1/2} exp(-t |v|^2) dt and Gaussian integrals.
    """
    log_ratio = special.gammaln((n + 1) / 2) - special.gammaln(n / 2 + 1)
    return a * np.exp(log_ratio) / np.sqrt(2) * special.hyp1f1(0.5, n / 2 + 1, -a * a / 2)


def test_closed_form_against_monte_carlo():
    rng = np.random.default_rng(11)
    for a, n in ((1.0, 3), (2.0, 36)):
        v = rng.standard_normal((100_000, n))
        v[:, 0] += a
        c = v[:, 0] / np.linalg.norm(v, axis=1)
        assert abs(c.mean() - mean_cosine_closed_form(a, n)) < 5 * c.std() / np.sqrt(c.size)


def test_expected_update_converges_to_minus_eta_g():
    params, g = _problem()
    eta, sigma, n_draws = 0.1, 0.3, 4000
    mean, summary = expected_update(GradPlusNoise(g, eta, sigma), {}, None, params,
                                    n_draws=n_draws, rng=0)
    n = flatten(g).size
    err = flatten(mean) + eta * flatten(g)
    # n_draws |mean - E d|^2 / sigma^2 ~ chi2(n) exactly.
    chi = n_draws * (err @ err) / sigma**2
    assert stats.chi2.ppf(P_TAIL / 2, n) < chi < stats.chi2.ppf(1 - P_TAIL / 2, n)
    # (N - 1) noise_var / sigma^2 ~ chi2(n (N - 1)): a sum of n independent sample variances.
    dof = n * (n_draws - 1)
    chi_v = (n_draws - 1) * summary["noise_var"] / sigma**2
    assert stats.chi2.ppf(P_TAIL / 2, dof) < chi_v < stats.chi2.ppf(1 - P_TAIL / 2, dof)
    assert summary["n_draws"] == n_draws
    assert summary["mean_se_norm"] == pytest.approx(np.sqrt(summary["noise_var"] / n_draws))


def test_expected_cosine_separates_bias_from_noise():
    params, g = _problem(1)
    eta, sigma, n_draws = 0.1, 0.3, 4000
    gv = flatten(g)
    n, a = gv.size, eta * np.linalg.norm(gv) / sigma
    out = expected_cosine(GradPlusNoise(g, eta, sigma), {}, None, params, g,
                          n_draws=n_draws, rng=1)
    # Mean per-draw cosine: the closed form, within 4 standard errors.
    want = mean_cosine_closed_form(a, n)
    assert want < 0.5
    assert abs(out["mean_cos"] - want) < 4 * out["mean_cos_se"]
    # The mean update is N(-eta g, sigma^2 I / N): its cosine is that of a vector with
    # a' = a sqrt(N). With v_1 > a' - 5 and the other n - 1 coordinates' squared norm
    # below the chi2 tail quantile (together probability > 1 - 1e-6), the cosine is
    # at least the bound below (about 0.995 here, so it does approach 1).
    a_mean = a * np.sqrt(n_draws)
    q = stats.chi2.ppf(1 - P_TAIL, n - 1)
    bound = (a_mean - 5) / np.sqrt((a_mean - 5) ** 2 + q)
    assert bound > 0.99
    assert bound < out["expected_cos"] <= 1.0
    # Fraction of draws with a positive inner product: P(a + z > 0) = Phi(a).
    p = stats.norm.cdf(a)
    assert abs(out["frac_positive"] - p) < 5 * np.sqrt(p * (1 - p) / n_draws)
    # Consistency with align() on the returned mean update.
    assert out["expected_cos"] == align(out["mean_delta"], g)["total"]["cos"]
    assert out["grad_norm"] == pytest.approx(np.linalg.norm(gv), rel=1e-12)


def test_deterministic_rule_has_no_noise():
    params, g = _problem(2)
    rule = GradPlusNoise(g, 0.5, 0.0)
    out = expected_cosine(rule, {}, None, params, g, n_draws=10, rng=0)
    # a cosine of a vector with itself carries rounding of order n * eps
    assert out["expected_cos"] == pytest.approx(1.0, abs=1e-12)
    assert out["mean_cos"] == pytest.approx(1.0, abs=1e-12)
    assert out["noise_var"] == pytest.approx(0.0, abs=1e-25)
    assert out["mean_cos_se"] == pytest.approx(0.0, abs=1e-7)


def test_metric_cosine():
    params, g = _problem(4)
    gv = flatten(g)
    rng = np.random.default_rng(4)
    a = rng.standard_normal((gv.size, gv.size))
    m = a @ a.T + np.eye(gv.size)
    natural = {k: -v for k, v in unflatten(np.linalg.solve(m, gv), g).items()}

    class Natural:
        def init(self, params):
            return None

        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            return natural, state

    out = expected_cosine(Natural(), {}, None, params, g, n_draws=3, rng=0, metric=m)
    assert out["expected_cos"] == pytest.approx(1.0, abs=1e-12)
    assert out["mean_cos"] == pytest.approx(1.0, abs=1e-12)
    euclid = expected_cosine(Natural(), {}, None, params, g, n_draws=3, rng=0)
    assert euclid["mean_cos"] == pytest.approx(align(natural, g)["total"]["cos"], rel=1e-12)
    assert euclid["mean_cos"] < 0.99


def test_draws_are_reproducible_independent_and_kept_on_request():
    params, g = _problem(3)
    rule = GradPlusNoise(g, 0.1, 1.0)
    m1, draws = expected_update(rule, {}, None, params, n_draws=50, rng=5, keep_draws=True)
    m2, _ = expected_update(rule, {}, None, params, n_draws=50, rng=5)
    for k in g:
        assert draws[k].shape == (50, *g[k].shape)
        np.testing.assert_allclose(draws[k].mean(axis=0), m1[k], rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(m1[k], m2[k])
    flat = np.concatenate([draws[k].reshape(50, -1) for k in sorted(g)], axis=1)
    assert len({row.tobytes() for row in flat}) == 50  # every draw had its own generator
    m3, _ = expected_update(rule, {}, None, params, n_draws=50, rng=6)
    assert not np.array_equal(m1["W"], m3["W"])


def test_same_state_for_every_draw():
    seen = []

    class Recording:
        def init(self, params):
            return {"t": 0}

        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            seen.append(state["t"])
            return {"w": np.ones(2)}, {"t": state["t"] + 1}

    expected_update(Recording(), {}, {"t": 3}, {"w": np.zeros(2)}, n_draws=5, rng=0)
    assert seen == [3, 3, 3, 3, 3]


@pytest.mark.parametrize("bad, match", [
    ({"w": np.full(2, np.nan)}, "NaN"),
    ({"w": np.ones(3)}, "shape"),
    ({"v": np.ones(2)}, "not a parameter"),
])
def test_bad_draw_raises_rule_error(bad, match):
    class LaterBad:
        name = "later-bad"

        def init(self, params):
            return None

        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            # Good on the first draw (fully checked), bad on some later draws.
            return (bad if rng.random() < 0.5 else {"w": np.ones(2)}), state

    with pytest.raises(RuleError, match="later-bad") as info:
        expected_update(LaterBad(), {}, None, {"w": np.zeros(2)}, n_draws=200, rng=0)
    assert info.match(match)


class NodePerturbation:
    """Node perturbation on a one-hidden-layer tanh network with linear outputs and MSE:
    perturb every unit's pre-activation by sigma xi, and move each weight against the
    loss change times its unit's perturbation and its input (a benchmark rule)."""

    name = "node-perturbation"

    def __init__(self, eta=0.1, sigma=1e-3):
        self.eta, self.sigma = eta, sigma

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        x, t = signals["input"], signals["target"]
        xi1 = self.sigma * rng.standard_normal(signals["u_hidden"].shape)
        xi2 = self.sigma * rng.standard_normal(signals["u_output"].shape)
        h = np.tanh(signals["u_hidden"] + xi1)
        y = h @ params["W_out"].T + params["b_out"] + xi2
        lp = 0.5 * np.sum((y - t) ** 2, axis=1)
        lc = 0.5 * np.sum((signals["output"] - t) ** 2, axis=1)
        c = -(self.eta / self.sigma**2) * (lp - lc) / x.shape[0]
        e1, e2 = xi1 * c[:, None], xi2 * c[:, None]
        return ({"W1": e1.T @ x, "b1": e1.sum(axis=0), "W_out": e2.T @ h,
                 "b_out": e2.sum(axis=0)}, state)


def test_node_perturbation_benchmark_under_two_seconds():
    net = FeedForward(sizes=[64, 100, 10])
    params = net.init_params(0)
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((16, 64)), rng.standard_normal((16, 10))
    signals = dict(net.signals(params, x), target=t)
    g = net.loss_and_grad(params, x, t)[1]
    t0 = time.perf_counter()
    out = expected_cosine(NodePerturbation(), signals, None, params, g, n_draws=1000, rng=0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0
    # Node perturbation is unbiased to first order in sigma but each draw probes one
    # random direction of 110 units: the mean update aligns far better than single draws.
    assert out["expected_cos"] > out["mean_cos"] + 20 * out["mean_cos_se"]
    assert out["expected_inner"] > 0
