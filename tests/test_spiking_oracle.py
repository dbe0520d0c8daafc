"""The spiking gradient oracle against a closed form, and its standard error.

The closed-form case: neurons without reset on fixed input spikes. The per-step spike
probabilities ``p_t`` are then deterministic functions of ``W``, the spikes independent
Bernoulli(``p_t``), and ``E[(N - c)^2] = sum_t p_t (1 - p_t) + (sum_t p_t - c)^2``, whose
gradient follows from the chain rule (:meth:`SpikeCountTask.exact_loss_and_gradient`).
That gradient is itself checked against central finite differences of the closed-form
loss.

Calibration of the standard error. With ``n`` components,
``z_a = (g_hat_a - g_a) / se_a`` is approximately standard normal (central limit over
``K`` trials), so ``E[z_a^2] = 1``. The components of one estimate come from the same
trials and are strongly correlated (correlation ``r_ab``, through the shared trial loss
and overlapping eligibility traces); for jointly Gaussian ``z``,
``Var(mean_a z_a^2) = (2 / n^2) sum_ab r_ab^2``, the chi-square value ``2/n`` only for
independent components. Two tests use this:

* over ``R`` independent oracle evaluations, ``mean z^2`` has variance
  ``(2 / (R n^2)) sum_ab r_ab^2`` (``r`` estimated from the per-trial terms); it must lie
  within 4.5 of its standard deviations of 1 (false alarm ~1e-5; with the values here the
  tolerance is about 0.5, so an SE wrong by a factor 1.5, which moves ``mean z^2`` to
  0.44 or 2.25, fails);
* for one evaluation, with the full covariance ``C`` of the estimate estimated from the
  same trials (its diagonal is the oracle's ``se^2``), ``d' C^-1 d ~ chi2(n)`` for the
  error ``d``; it must lie between the chi-square(n) quantiles 1e-5 and 1 - 1e-5.
"""

import numpy as np
import pytest
from scipy.stats import chi2

from plasticity.errors import InvalidParameterError
from plasticity.spiking.oracle import SpikingGradientOracle, lr_gradient
from plasticity.tasks.spiking import EscapeLIF, SpikeCountTask
from plasticity.testing import check_grads


def _task(reset=False, **kw):
    args = {"n_inputs": 15, "n_outputs": 2, "n_patterns": 2, "duration_ms": 150.0,
            "rate_hz": 25.0, "neuron": EscapeLIF(reset=reset), "rng": 3}
    args.update(kw)
    return SpikeCountTask(**args)


def _params(task, seed=4):
    return task.init_params(seed, mean_mv=4.0, sd_mv=2.0)


def test_closed_form_gradient_matches_central_differences():
    task = _task()
    p = _params(task)
    loss, grad = task.exact_loss_and_gradient(p)
    assert loss > 0
    # step 1e-4 (mV): truncation (eps^2 / 6) |f'''| ~ 2e-9 |f'''| and rounding
    # ~ u (1 + |f|) / eps ~ 1e-11 (measured worst error 1e-10 of the largest entry).
    # Allowed: 1e-7 of the largest entry + the rounding floor 16 u (1 + |f|) / eps
    # (2e-10 here), inside the old max |fd - grad| < 1e-6 max |grad|.
    check_grads(lambda q: task.exact_loss_and_gradient(q)[0], p, grad, eps=1e-4, rtol=1e-7)


def test_closed_form_loss_matches_simulation():
    task = _task()
    p = _params(task)
    loss, _ = task.exact_loss_and_gradient(p)
    est = SpikingGradientOracle(task, n_trials=4000, seed=0).estimate(p)
    assert abs(est.loss - loss) < 4.5 * est.loss_se


def test_closed_form_needs_no_reset():
    task = _task(reset=True)
    with pytest.raises(InvalidParameterError, match="without reset"):
        task.exact_loss_and_gradient(_params(task))


def _per_trial_terms(task, params, K, seed):
    """The oracle's per-trial terms ``y_k`` (K, n) for each pattern, same draws as it."""
    rng = np.random.default_rng(seed)
    ys = []
    for m in range(task.n_patterns):
        out = task.simulate(params, m, K, rng)
        loo = (out["loss"].sum() - out["loss"]) / (K - 1)
        ys.append((out["loss"] - loo)[:, None] * out["score"].reshape(K, -1))
    return ys


def test_oracle_agrees_with_the_closed_form_within_its_se():
    task = _task()
    p = _params(task)
    _, exact = task.exact_loss_and_gradient(p)
    K, seed = 3000, 11
    grad, se = SpikingGradientOracle(task, n_trials=K).gradient(p, rng=seed)
    z = ((grad["W_out"] - exact["W_out"]) / se["W_out"]).ravel()
    n = z.size
    assert n == 30
    assert np.all(np.abs(z) < 4.5), z
    # correlation of the component errors: covariance of the pattern-mean estimate
    ys = _per_trial_terms(task, p, K, seed)
    np.testing.assert_allclose(np.mean([y.mean(axis=0) for y in ys], axis=0),
                               grad["W_out"].ravel(), rtol=1e-12)
    # covariance of the pattern mean (1/M) sum_m g_m
    cov = sum(np.cov(y, rowvar=False) / K for y in ys) / task.n_patterns**2
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(sd, se["W_out"].ravel(), rtol=1e-10)
    d = grad["W_out"].ravel() - exact["W_out"].ravel()
    stat = float(d @ np.linalg.solve(cov, d))
    assert chi2.ppf(1e-5, n) < stat < chi2.ppf(1 - 1e-5, n), stat

    r = cov / np.outer(sd, sd)
    R, K = 30, 1000
    oracle = SpikingGradientOracle(task, n_trials=K, seed=12)
    z2 = []
    for _ in range(R):
        g, s = oracle.gradient(p)
        z2.append(((g["W_out"] - exact["W_out"]) / s["W_out"]) ** 2)
    tol = 4.5 * np.sqrt(2.0 * np.sum(r * r) / R) / n
    assert tol < 0.6
    assert abs(np.mean(z2) - 1.0) < tol, (np.mean(z2), tol)


def test_se_shrinks_like_one_over_sqrt_trials():
    task = _task()
    p = _params(task)
    small = SpikingGradientOracle(task, n_trials=400).gradient(p, rng=1)[1]["W_out"]
    large = SpikingGradientOracle(task, n_trials=1600).gradient(p, rng=2)[1]["W_out"]
    ratio = np.linalg.norm(small) / np.linalg.norm(large)
    assert ratio == pytest.approx(2.0, rel=0.1)


def test_oracle_with_reset_matches_common_random_number_differences():
    """With reset there is no closed form: compare with central differences of the
    realised loss under common random numbers (bias O(h^2), variance O(1/h) because a
    spike flips discontinuously), both within their combined standard error."""
    task = SpikeCountTask(n_inputs=3, n_outputs=1, n_patterns=1, duration_ms=100.0,
                          rate_hz=60.0, target_counts=[[2.0]], rng=5)
    p = {"W_out": np.array([[6.0, 4.0, 8.0]])}
    K, h = 40000, 0.25
    grad, se = SpikingGradientOracle(task, n_trials=K).gradient(p, rng=6)
    U = np.random.default_rng(7).random((K, task.n_steps, 1))
    for j in range(3):
        up, down = p["W_out"].copy(), p["W_out"].copy()
        up[0, j] += h
        down[0, j] -= h
        lu = task.trial_losses(task.neuron.run(up, task.patterns[0], U)["counts"], 0)
        ld = task.trial_losses(task.neuron.run(down, task.patterns[0], U)["counts"], 0)
        diff = (lu - ld) / (2 * h)
        fd, fd_se = diff.mean(), diff.std(ddof=1) / np.sqrt(K)
        both = np.hypot(fd_se, se["W_out"][0, j])
        assert abs(fd - grad["W_out"][0, j]) < 4.5 * both, (j, fd, grad["W_out"][0, j], both)
        assert abs(grad["W_out"][0, j]) > 3 * se["W_out"][0, j]  # the test has power


def test_lr_gradient_is_the_sample_covariance():
    rng = np.random.default_rng(0)
    losses, scores = rng.normal(size=50), rng.normal(size=(50, 3, 2))
    g, se = lr_gradient(losses, scores)
    want = np.einsum("k,kab->ab", losses - losses.mean(), scores) / 49
    np.testing.assert_allclose(g, want, rtol=1e-12)
    assert se.shape == (3, 2) and np.all(se > 0)
    with pytest.raises(InvalidParameterError, match="at least 2 trials"):
        lr_gradient(losses[:1], scores[:1])


@pytest.mark.parametrize("bad", [0, 1, 2.5, True, "10"])
def test_oracle_rejects_bad_trial_counts(bad):
    with pytest.raises(InvalidParameterError, match="'n_trials' parameter of "
                                                    "SpikingGradientOracle"):
        SpikingGradientOracle(_task(), n_trials=bad)


def test_oracle_is_reproducible_and_has_measured_signatures():
    task = _task()
    p = _params(task)
    a = SpikingGradientOracle(task, n_trials=50, seed=3)
    b = SpikingGradientOracle(task, n_trials=50, seed=3)
    ga, sa = a.gradient_fn(p, {})
    gb, sb = b.gradient(p)
    np.testing.assert_array_equal(ga["W_out"], gb["W_out"])
    np.testing.assert_array_equal(sa["W_out"], sb["W_out"])
    assert a.loss_fn(p, {}) == b.loss(p)
    assert a.loss(p, rng=9) == a.loss(p, rng=9)
