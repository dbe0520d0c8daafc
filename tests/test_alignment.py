"""Alignment of updates with the negative gradient: definitions, metric, the recording
wrapper and probe, and the random-direction baseline."""

import numpy as np
import pytest

from plasticity.analysis import (
    AlignmentProbe,
    RandomDirection,
    align,
    flatten,
    measured,
    random_direction,
    unflatten,
)
from plasticity.engine import Batch, train
from plasticity.errors import InvalidParameterError, RuleError
from plasticity.io import Recorder, open_run
from plasticity.substrates import FeedForward

SQ2 = np.sqrt(2.0)


def _rand_params(rng, shapes=None):
    shapes = shapes or {"W": (3, 4), "b": (3,), "V": (2, 3)}
    return {k: rng.standard_normal(s) for k, s in shapes.items()}


# --------------------------------------------------------------------------- align

def test_known_vectors():
    d = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 2.0])}
    g = {"a": np.array([-1.0, 1.0]), "b": np.array([1.0, 1.0])}
    out = align(d, g)
    assert out["a"]["inner"] == 1.0 and out["a"]["predicted_dloss"] == -1.0
    assert out["a"]["cos"] == pytest.approx(1 / SQ2, rel=1e-15)
    assert out["b"]["inner"] == -2.0
    assert out["b"]["cos"] == pytest.approx(-1 / SQ2, rel=1e-15)
    assert out["b"]["delta_norm"] == 2.0 and out["b"]["grad_norm"] == pytest.approx(SQ2)
    tot = out["total"]
    assert tot["inner"] == -1.0 and tot["predicted_dloss"] == 1.0
    assert tot["delta_norm"] == pytest.approx(np.sqrt(5.0)) and tot["grad_norm"] == 2.0
    assert tot["cos"] == pytest.approx(-1 / (2 * np.sqrt(5.0)), rel=1e-15)
    assert not any(row["zero_norm"] for row in out.values())


def test_minus_gradient_has_cosine_exactly_one():
    rng = np.random.default_rng(0)
    g = _rand_params(rng)
    out = align({k: -v for k, v in g.items()}, g)
    assert all(row["cos"] == 1.0 for row in out.values())
    assert out["total"]["inner"] == pytest.approx(sum(np.sum(v * v) for v in g.values()))
    # A positive multiple: 1 up to rounding.
    out = align({k: -3.7 * v for k, v in g.items()}, g)
    assert out["total"]["cos"] == pytest.approx(1.0, abs=1e-15)


def test_orthogonal_update_has_cosine_zero():
    rng = np.random.default_rng(1)
    g = _rand_params(rng)
    gv = flatten(g)
    dv = rng.standard_normal(gv.size)
    dv -= (dv @ gv) / (gv @ gv) * gv
    out = align(unflatten(dv, g), g)
    assert abs(out["total"]["cos"]) < 1e-14
    assert abs(out["total"]["inner"]) < 1e-12 * np.linalg.norm(dv) * np.linalg.norm(gv)


def test_missing_arrays_count_as_unchanged_and_zero_norms_are_flagged():
    rng = np.random.default_rng(2)
    g = _rand_params(rng)
    d = {"W": rng.standard_normal((3, 4))}
    out = align(d, g)
    padded = align({**d, "b": np.zeros(3), "V": np.zeros((2, 3))}, g)
    assert out["total"] == padded["total"]
    assert out["b"]["cos"] == 0.0 and out["b"]["zero_norm"] and out["b"]["delta_norm"] == 0
    zero_g = align(d, {k: np.zeros_like(v) for k, v in g.items()})
    assert zero_g["total"]["cos"] == 0.0 and zero_g["total"]["zero_norm"]


def test_bad_inputs():
    g = {"W": np.ones((2, 2))}
    with pytest.raises(ValueError, match="changes V"):
        align({"V": np.ones(2)}, g)
    with pytest.raises(ValueError, match="shape"):
        align({"W": np.ones(4)}, g)
    with pytest.raises(ValueError, match="'total'"):
        align({}, {"total": np.ones(2)})


def _spd(rng, n):
    a = rng.standard_normal((n, n))
    return a @ a.T + 0.5 * np.eye(n)


def test_identity_metric_equals_euclidean():
    rng = np.random.default_rng(3)
    g, d = _rand_params(rng), _rand_params(rng)
    n = flatten(g).size
    euclid = align(d, g)
    for metric in (np.eye(n), lambda v: v):
        got = align(d, g, metric=metric)
        for key in euclid:
            for col in ("inner", "cos", "delta_norm", "grad_norm", "predicted_dloss"):
                assert got[key][col] == pytest.approx(euclid[key][col], rel=1e-10,
                                                      abs=1e-13), (key, col)


def test_metric_steepest_descent_has_cosine_one():
    rng = np.random.default_rng(4)
    g = _rand_params(rng)
    gv = flatten(g)
    m = _spd(rng, gv.size)
    d = unflatten(-0.3 * np.linalg.solve(m, gv), g)
    assert align(d, g, metric=m)["total"]["cos"] == pytest.approx(1.0, abs=1e-12)
    # ... while its Euclidean cosine is not 1 (the metric matters).
    assert align(d, g)["total"]["cos"] < 0.99


def test_metric_formula_matrix_and_callable_agree():
    rng = np.random.default_rng(5)
    g, d = _rand_params(rng), _rand_params(rng)
    gv, dv = flatten(g), flatten(d)
    m = _spd(rng, gv.size)
    want = -dv @ gv / (np.sqrt(dv @ m @ dv) * np.sqrt(gv @ np.linalg.solve(m, gv)))
    by_matrix = align(d, g, metric=m)
    by_callable = align(d, g, metric=lambda v: m @ v)
    assert by_matrix["total"]["cos"] == pytest.approx(want, rel=1e-10)
    assert by_matrix["total"]["inner"] == pytest.approx(-dv @ gv, rel=1e-12)
    for key in by_matrix:
        assert by_callable[key]["cos"] == pytest.approx(by_matrix[key]["cos"], rel=1e-8)
    # Per array: the diagonal block of the metric (array "V" comes first in sorted order).
    sl = slice(0, 6)
    mb = m[sl, sl]
    dvb, gvb = d["V"].ravel(), g["V"].ravel()
    want_v = -dvb @ gvb / (np.sqrt(dvb @ mb @ dvb) * np.sqrt(gvb @ np.linalg.solve(mb, gvb)))
    assert by_matrix["V"]["cos"] == pytest.approx(want_v, rel=1e-10)


@pytest.mark.parametrize("make, match", [
    (lambda n: -np.eye(n), "not positive definite"),
    (lambda n: np.diag(np.r_[np.ones(n - 1), 0.0]), "not positive definite"),
    (lambda n: np.eye(n) + np.triu(np.ones((n, n)), 1), "not symmetric"),
    (lambda n: np.eye(n + 1), "shape"),
    (lambda n: np.full((n, n), np.nan), "NaN"),
])
def test_bad_metric_rejected(make, match):
    g = {"W": np.ones((2, 2)), "b": np.ones(2)}
    with pytest.raises(InvalidParameterError, match=match):
        align(g, g, metric=make(6))


# --------------------------------------------------------------------------- wrapper

NET = FeedForward(sizes=[3, 4, 2])


def _batch(step):
    rng = np.random.default_rng([7, step])
    x = rng.standard_normal((5, 3))
    return Batch(x=x, target=np.tanh(x[:, :2]))


def _signals(params, batch):
    sig = dict(NET.signals(params, batch.x))
    sig["target"] = batch.target
    return sig


def _grad(params, signals):
    return NET.loss_and_grad(params, signals["input"], signals["target"])[1]


def _loss(params, batch):
    return NET.loss(params, batch.x, batch.target)


class NoisyDescent:
    """Gradient descent plus noise from the rng, counting its calls in the state (it may
    cheat and compute the gradient: it is a test rule)."""

    name = "noisy-descent"
    eta = 0.2

    def init(self, params):
        return 0

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        g = _grad(params, signals)
        return ({k: -self.eta * v + 0.05 * rng.standard_normal(v.shape)
                 for k, v in g.items()}, state + 1)


def _train(rule, n=12, probes=()):
    params = NET.init_params(0)
    return train(rule, params, n_updates=n, next_batch=_batch, signals=_signals,
                 loss=_loss, rng=np.random.default_rng(3), probes=probes)


def _reference_rows(n=12):
    """(step, delta, params before) of every update, from a plain run."""
    seen, before = [], {"p": NET.init_params(0)}

    def watch(step, params, state, delta, batch):
        seen.append((step, delta, before["p"], batch))
        before["p"] = params

    from plasticity.engine import Probe
    _train(NoisyDescent(), n=n, probes=[Probe(watch)])
    return seen


def test_wrapper_returns_the_same_objects_and_name():
    inner = NoisyDescent()
    calls = []

    class Spy:
        name = "spy"

        def init(self, params):
            return inner.init(params)

        def update(self, *args, **kw):
            out = inner.update(*args, **kw)
            calls.append(out)
            return out

    rule = measured(Spy(), _grad)
    assert rule.name == "spy"
    params = NET.init_params(0)
    sig = _signals(params, _batch(1))
    delta, state = rule.update(sig, 0, params, rng=np.random.default_rng(0),
                               loss_fn=lambda p: _loss(p, _batch(1)))
    assert delta is calls[0][0] and state == calls[0][1]
    # The inner rule's hyperparameters are readable through the wrapper.
    assert measured(NoisyDescent(), _grad).eta == 0.2


def test_wrapper_records_to_file_and_leaves_the_run_unchanged(tmp_path):
    plain_params, plain_state = _train(NoisyDescent())
    path = tmp_path / "run.h5"
    rec = Recorder(path, experiment="toy", seed=0, config={}, checkpoint_s=0.0)
    rule = measured(NoisyDescent(), _grad, every=2, recorder=rec)
    params, state = _train(rule)
    rec.close("complete")
    for k in plain_params:
        np.testing.assert_array_equal(params[k], plain_params[k])
    assert state == plain_state == 12

    recs = rule.records
    assert set(recs) == {"W1", "b1", "W_out", "b_out", "total"}
    np.testing.assert_array_equal(recs["total"]["step"], [2, 4, 6, 8, 10, 12])
    run = open_run(path)
    for table in recs:
        on_file = run.alignment[table]
        for col in ("step", "inner", "cos", "delta_norm", "grad_norm", "predicted_dloss",
                    "actual_dloss", "zero_norm"):
            np.testing.assert_array_equal(on_file[col], recs[table][col])
    assert np.all(np.isnan(recs["W1"]["actual_dloss"]))  # per array only on request

    # The values are those of align() at the parameters before each update.
    for step, delta, before, batch in _reference_rows():
        if step % 2:
            continue
        want = align(delta, _grad(before, _signals(before, batch)))
        i = step // 2 - 1
        for table, row in want.items():
            for col in ("inner", "cos", "delta_norm", "grad_norm"):
                assert recs[table][col][i] == pytest.approx(row[col], rel=1e-12)
        actual = _loss({k: before[k] + delta[k] for k in before}, batch) - _loss(before,
                                                                                  batch)
        assert recs["total"]["actual_dloss"][i] == pytest.approx(actual, rel=1e-12)


def test_probe_matches_wrapper():
    wrapped = measured(NoisyDescent(), _grad)
    _train(wrapped)
    probe = AlignmentProbe(lambda p, b: _grad(p, _signals(p, b)), _loss)
    _train(NoisyDescent(), probes=[probe])
    a, b = wrapped.records, probe.records
    for table in a:
        np.testing.assert_array_equal(a[table]["step"], b[table]["step"])
        for col in ("inner", "cos", "delta_norm", "grad_norm", "actual_dloss"):
            # The probe rebuilds p_before = p_after - delta: equal up to rounding.
            np.testing.assert_allclose(b[table][col], a[table][col], rtol=1e-8,
                                       atol=1e-12)


class StepAlong:
    """delta = s * u for a fixed direction u (to compare predicted and actual changes)."""

    def __init__(self, u, s):
        self.u, self.s = u, s

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {k: self.s * v for k, v in self.u.items()}, state


def test_predicted_and_actual_dloss_agree_to_second_order_on_a_quadratic():
    rng = np.random.default_rng(8)
    n = 7
    h = _spd(rng, n)
    c = rng.standard_normal(n)
    p = {"w": rng.standard_normal(n)}
    u = {"w": rng.standard_normal(n)}

    def loss(q, _sig):
        return 0.5 * q["w"] @ h @ q["w"] - c @ q["w"]

    def grad(q, _sig):
        return {"w": h @ q["w"] - c}

    errors = []
    for s in (1e-1, 1e-2, 1e-3):
        rule = measured(StepAlong(u, s), grad, loss_fn=loss, array_dloss=True)
        rule.update({}, None, p)
        row = rule.records["total"]
        err = row["actual_dloss"][0] - row["predicted_dloss"][0]
        # On a quadratic the remainder is exactly the second-order term.
        curvature = 0.5 * s * s * u["w"] @ h @ u["w"]
        assert err == pytest.approx(curvature, rel=1e-6)
        assert rule.records["w"]["actual_dloss"][0] == row["actual_dloss"][0]
        errors.append(abs(err))
    np.testing.assert_allclose(np.array(errors[:-1]) / np.array(errors[1:]), 100.0, rtol=1e-4)


def test_gradient_standard_error_is_recorded():
    g = {"a": np.ones(4), "b": np.ones(2)}
    se = {"a": np.full(4, 0.5), "b": np.array([0.3, 0.4])}
    rule = measured(StepAlong({"a": -np.ones(4)}, 1.0), lambda p, s: g,
                    gradient_se_fn=lambda p, s: se)
    rule.update({}, None, {"a": np.zeros(4), "b": np.zeros(2)})
    recs = rule.records
    assert recs["a"]["grad_se"][0] == pytest.approx(1.0)
    assert recs["b"]["grad_se"][0] == pytest.approx(0.5)
    assert recs["total"]["grad_se"][0] == pytest.approx(np.sqrt(1.25))
    # The same through a gradient_fn that returns (grad, se).
    rule = measured(StepAlong({"a": -np.ones(4)}, 1.0), lambda p, s: (g, se))
    rule.update({}, None, {"a": np.zeros(4), "b": np.zeros(2)})
    assert rule.records["total"]["grad_se"][0] == pytest.approx(np.sqrt(1.25))


# --------------------------------------------------------------------------- estimated g

def test_noise_correction_formula():
    # g_hat = (3, 4), |g_hat|^2 = 25, sum(se^2) = 9: corrected |g| = 4
    g = {"w": np.array([3.0, 4.0])}
    se = {"w": np.array([np.sqrt(4.5), np.sqrt(4.5)])}
    d = {"w": np.array([-1.0, 0.0])}
    row = align(d, g, se=se)["total"]
    assert row["grad_norm"] == pytest.approx(4.0, rel=1e-12)
    assert row["cos_raw"] == pytest.approx(3.0 / 5.0, rel=1e-12)
    assert row["cos"] == pytest.approx(3.0 / 4.0, rel=1e-12)
    assert row["inner"] == pytest.approx(3.0, rel=1e-12) and not row["zero_norm"]
    # per array and with a scalar se (the same for every element)
    assert align(d, g, se={"w": np.sqrt(4.5)})["w"]["cos"] == pytest.approx(0.75, rel=1e-12)
    # noise as large as the estimate: the gradient is not resolved, the angle undefined
    row = align(d, g, se={"w": np.full(2, 4.0)})["total"]
    assert row["zero_norm"] and row["cos"] == row["cos_raw"]
    with pytest.raises(InvalidParameterError, match="Euclidean"):
        align(d, g, metric=np.eye(2), se=se)


def test_noise_correction_removes_the_bias_of_the_cosine():
    # d fixed, g_hat = g + e with e ~ N(0, se^2): raw cosines shrink by
    # sqrt(|g|^2 / (|g|^2 + sum se^2)) = 1/sqrt(2) here; corrected ones are unbiased up
    # to the O(var |g_hat|^2 / |g|^4) = O(1.5%) Jensen term of the square root
    rng = np.random.default_rng(0)
    n, reps = 400, 2000
    g = rng.standard_normal(n)
    g /= np.linalg.norm(g)
    d = -(0.6 * g + 0.8 * np.linalg.qr(np.c_[g, rng.standard_normal(n)])[0][:, 1])
    true = 0.6
    se = np.full(n, 1.0 / np.sqrt(n))           # sum(se^2) = |g|^2 = 1
    cos, raw = [], []
    for _ in range(reps):
        row = align({"w": d}, {"w": g + se * rng.standard_normal(n)}, se={"w": se})["total"]
        cos.append(row["cos"])
        raw.append(row["cos_raw"])
    sem = np.std(cos, ddof=1) / np.sqrt(reps)
    assert abs(np.mean(cos) - true) < 0.015 + 4 * sem
    assert np.mean(raw) == pytest.approx(true / np.sqrt(2.0), abs=0.01)


def test_wrapper_with_a_reference_records_batch_and_sgd_cosines():
    g_pop, g_batch = {"a": np.array([1.0, 0.0])}, {"a": np.array([1.0, 1.0])}
    rule = measured(StepAlong({"a": np.array([-1.0, 0.0])}, 1.0), lambda p, s: g_batch,
                    reference_fn=lambda p: (g_pop, None))
    rule.update({}, None, {"a": np.zeros(2)})
    row = rule.records["total"][0]
    assert row["cos"] == pytest.approx(1.0)              # the update is -g_pop
    assert row["cos_batch"] == pytest.approx(1.0 / SQ2)  # against the batch gradient
    assert row["sgd_cos"] == pytest.approx(1.0 / SQ2)    # -g_batch against g_pop
    assert row["predicted_dloss"] == pytest.approx(-1.0)
    assert row["predicted_dloss_batch"] == pytest.approx(-1.0)
    with pytest.raises(InvalidParameterError, match="reference_fn"):
        measured(StepAlong({}, 1.0), lambda p, s: g_batch, reference_fn=3)


def test_backprop_against_the_population_gradient():
    # Issue 15's acceptance: width 32, batches of 16, teacher-student. Backprop's update
    # IS the minibatch gradient: cosine 1 with it by construction, and with the
    # population gradient exactly the SGD cosine (same vector, same noise correction).
    import plasticity as pl

    run = pl.alignment.measure("backprop", hidden=32, batch_size=16, n_updates=60,
                               expected_draws=20, seed=0)
    s, total = run.summary, run.alignment["total"]
    assert s["cos_batch_mean"] == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(total["cos"], total["sgd_cos"], rtol=1e-9, atol=1e-12)
    assert s["reference"] == "population-estimated" and np.all(total["grad_se"] > 0)
    # the means agree within their standard error (the interval's half-width / 1.96)
    half = (s["cos_ci_high"] - s["cos_ci_low"]) / 2
    assert abs(s["cos_mean"] - s["sgd_ceiling"]) < half / 1.96
    # and the primary cosine is well below the batch one: a batch of 16 is noisy
    assert s["cos_ci_high"] < 0.9
    assert 0.0 < s["cos_ci_low"]


def test_wrapper_raises_rule_error_for_a_bad_delta():
    rule = measured(StepAlong({"w": np.ones(3)}, 1.0), lambda p, s: {"w": np.ones(2)})
    with pytest.raises(RuleError, match="shape"):
        rule.update({}, None, {"w": np.zeros(2)})


# --------------------------------------------------------------------------- baselines

def test_random_direction_has_the_norm_and_is_isotropic():
    rng = np.random.default_rng(9)
    like = {"W": rng.standard_normal((10, 20)), "b": rng.standard_normal(10)}
    g = {"W": rng.standard_normal((10, 20)), "b": rng.standard_normal(10)}
    n = 210
    cosines = []
    for _ in range(2000):
        d = random_direction(like, rng)
        assert set(d) == set(like)
        assert np.sqrt(sum(np.sum(v * v) for v in d.values())) == pytest.approx(
            np.sqrt(sum(np.sum(v * v) for v in like.values())), rel=1e-12)
        cosines.append(align(d, g)["total"]["cos"])
    cosines = np.array(cosines)
    # Uniform on the sphere: E cos = 0 and Var cos = 1/n exactly.
    se = np.sqrt(1 / n / cosines.size)
    assert abs(cosines.mean()) < 4 * se
    # Var of the sample variance of cos: about 2/n^2/N (cos is nearly Gaussian).
    assert cosines.var() == pytest.approx(1 / n, abs=4 * np.sqrt(2 / cosines.size) / n)
    zero = random_direction({"W": np.zeros(3)}, rng)
    np.testing.assert_array_equal(zero["W"], np.zeros(3))
    assert random_direction(like, 5)["W"].tolist() == random_direction(
        dict(reversed(like.items())), 5)["W"].tolist()


def test_random_direction_rule_keeps_the_budget():
    inner = NoisyDescent()
    rule = RandomDirection(inner, seed=1)
    assert rule.name == "random_noisy-descent"
    params = NET.init_params(0)
    sig = _signals(params, _batch(1))
    d_inner, s_inner = inner.update(sig, 0, params, rng=np.random.default_rng(4))
    d, s = rule.update(sig, 0, params, rng=np.random.default_rng(4))
    assert s == s_inner and set(d) == set(d_inner)
    assert flatten(d) @ flatten(d) == pytest.approx(flatten(d_inner) @ flatten(d_inner))


class Shrink:
    """A generic noisy rule, for the contract check of the baseline wrapper."""

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {k: -0.1 * v + 0.01 * rng.standard_normal(v.shape)
                for k, v in params.items()}, state


def test_random_direction_rule_passes_the_contract_checks():
    from plasticity import check_rule

    report = check_rule(RandomDirection(Shrink(), seed=0))
    assert report["rule"] == "random_Shrink"
