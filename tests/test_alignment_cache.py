"""The shared forward pass and the resident evaluation set give the oracle's numbers.

The oracle's batch gradient and the loss before an update are read off the forward pass
the signals already hold, and the population gradient reuses the evaluation set converted
once. The arithmetic is the network's own, in the same order, so the results agree to
rounding (rtol 1e-12, far below the 1e-9 of the golden summaries).
"""

from __future__ import annotations

import numpy as np
import pytest

from plasticity.analysis import measured
from plasticity.engine import train
from plasticity.problems.feedforward import FeedForwardProblem
from plasticity.rules import Backprop, FeedbackAlignment
from plasticity.rules._flat import flat_spec
from plasticity.tasks.supervised import Digits, TanhTeacher

RTOL = 1e-12


def _problems():
    teacher = TanhTeacher(5, 4, 2, rng=0)
    yield FeedForwardProblem(teacher, teacher.student((8, 6)), n_eval=64)
    # an activation without resident buffers (computed by the network's own function)
    yield FeedForwardProblem(teacher, teacher.student(7, activation="relu"), n_eval=64)
    digits = Digits(rng=0)
    yield FeedForwardProblem(digits, digits.student(12))


@pytest.mark.parametrize("problem", list(_problems()), ids=lambda p: p.name)
def test_batch_gradient_and_loss_from_signals_match_the_network(problem):
    params = problem.init_params(np.random.default_rng(1))
    batch = problem.batch(16, np.random.default_rng(2))
    signals = problem.signals(params, batch)
    want = problem.batch_gradient(params, batch)
    got = problem.batch_gradient_from_signals(params, batch, signals)
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=0)
    assert problem.loss_from_signals(params, batch, signals) == pytest.approx(
        problem.loss(params, batch), rel=RTOL, abs=0)


@pytest.mark.parametrize("problem", list(_problems()), ids=lambda p: p.name)
def test_loss_kept_from_the_backward_pass_is_used_once_and_only_for_its_signals(problem):
    params = problem.init_params(np.random.default_rng(1))
    batch = problem.batch(16, np.random.default_rng(2))
    signals = problem.signals(params, batch)
    fresh = problem.loss_from_signals(params, batch, signals)  # nothing kept yet
    problem.batch_gradient_from_signals(params, batch, signals)
    assert problem.loss_from_signals(params, batch, signals) == fresh  # the kept loss
    # other signals (another batch) right after a backward pass: their own loss
    other = problem.batch(16, np.random.default_rng(5))
    other_signals = problem.signals(params, other)
    problem.batch_gradient_from_signals(params, batch, signals)
    assert problem.loss_from_signals(params, other, other_signals) == pytest.approx(
        problem.loss(params, other), rel=RTOL, abs=0)
    assert problem.loss_from_signals(params, other, other_signals) != fresh
    # signals whose arrays were replaced after the backward pass are read again
    problem.batch_gradient_from_signals(params, batch, signals)
    last = problem.net.layer_names()[-1]
    # (scaled, not shifted: a softmax loss does not change when every logit is shifted)
    changed = dict(signals, **{"u_" + last: signals["u_" + last] * 2.0,
                              last: signals[last] * 2.0})
    assert problem._signals_loss is not None
    assert problem.loss_from_signals(params, batch, changed) == pytest.approx(
        problem.loss_from_signals(params, batch, changed), rel=RTOL)
    assert problem.loss_from_signals(params, batch, changed) != fresh


@pytest.mark.parametrize("problem", list(_problems()), ids=lambda p: p.name)
def test_population_gradient_is_backprop_on_the_evaluation_set(problem):
    params = problem.init_params(np.random.default_rng(3))
    ev = problem.eval_batch
    want = problem.net.backprop(params, ev.x, ev.target, kind=problem.task.loss_kind).grads
    first = None
    for _ in range(2):  # the second call uses the resident arrays
        got, se = problem.population_gradient(params)
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=0)
        first = first or (got, se, {k: v.copy() for k, v in got.items()},
                          None if se is None else {k: v.copy() for k, v in se.items()})
    # a later call at other parameters leaves what an earlier one returned untouched
    problem.population_gradient({k: 0.5 * v for k, v in params.items()})
    for key in want:
        np.testing.assert_allclose(first[0][key], first[2][key], rtol=0, atol=0)
        if first[1] is not None:
            np.testing.assert_allclose(first[1][key], first[3][key], rtol=0, atol=0)


def test_standard_errors_equal_those_of_the_per_sample_gradients():
    teacher = TanhTeacher(3, 4, 2, rng=0)
    problem = FeedForwardProblem(teacher, teacher.student(5), n_eval=40)
    params = problem.init_params(np.random.default_rng(4))
    _, se = problem.population_gradient(params)
    ev = problem.eval_batch
    per = [problem.net.loss_and_grad(params, ev.x[i:i + 1], ev.target[i:i + 1])[1]
           for i in range(40)]
    for key in se:
        stack = np.stack([g[key] for g in per])
        np.testing.assert_allclose(se[key], stack.std(axis=0, ddof=1) / np.sqrt(40),
                                   rtol=1e-8, atol=1e-14)


class _Scaled(FeedForwardProblem):
    """Signals that are not the forward pass."""

    def signals(self, params, batch):
        out = super().signals(params, batch)
        out["u_output"] = 2.0 * out["u_output"]
        out["output"] = 2.0 * out["output"]
        return out


class _OwnOracle(FeedForwardProblem):
    """A gradient and a loss of its own (here: of twice the task loss)."""

    def batch_gradient(self, params, batch):
        return {k: 2.0 * g for k, g in super().batch_gradient(params, batch).items()}

    def loss(self, params, batch):
        return 2.0 * super().loss(params, batch)


@pytest.mark.parametrize("cls", [_Scaled, _OwnOracle])
def test_a_subclass_with_its_own_signals_or_oracle_gets_them(cls):
    teacher = TanhTeacher(3, 4, 2, rng=0)
    problem = cls(teacher, teacher.student(5), n_eval=8)
    params = problem.init_params(np.random.default_rng(5))
    batch = problem.batch(8, np.random.default_rng(6))
    signals = problem.signals(params, batch)
    want = problem.batch_gradient(params, batch)
    got = problem.batch_gradient_from_signals(params, batch, signals)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=0)
    assert problem.loss_from_signals(params, batch, signals) == pytest.approx(
        problem.loss(params, batch), rel=RTOL, abs=0)


@pytest.mark.parametrize("rule_cls", [Backprop, FeedbackAlignment])
def test_measured_records_are_the_same_with_the_shared_forward_pass(rule_cls):
    teacher = TanhTeacher(5, 4, 2, rng=0)
    problem = FeedForwardProblem(teacher, teacher.student(8), n_eval=64)
    rule = rule_cls(net=problem.net, eta=0.1)
    params = problem.init_params(np.random.default_rng(7))

    def run(shared):
        current, data = {}, np.random.default_rng(8)

        def next_batch(step):
            current["b"] = problem.batch(16, data)
            return current["b"]

        if shared:
            wrapped = measured(
                rule, lambda p, s: problem.batch_gradient_from_signals(p, current["b"], s),
                loss_before_fn=lambda p, s: problem.loss_from_signals(p, current["b"], s),
                reference_fn=problem.population_gradient)
        else:
            wrapped = measured(rule, lambda p, s: problem.batch_gradient(p, current["b"]),
                               reference_fn=problem.population_gradient)
        train(wrapped, params, n_updates=20, next_batch=next_batch, signals=problem.signals,
              loss=problem.loss, rng=np.random.default_rng(9))
        return wrapped.records

    a, b = run(False), run(True)
    assert sorted(a) == sorted(b)
    for table in a:
        for col in a[table].dtype.names:
            if col == "zero_norm":
                assert np.array_equal(a[table][col], b[table][col])
            else:
                np.testing.assert_allclose(b[table][col], a[table][col], rtol=1e-9,
                                           atol=1e-15)
    assert np.all(np.isfinite(a["total"]["actual_dloss"]))


def test_measured_rejects_a_loss_before_fn_that_is_not_callable():
    from plasticity.errors import PlasticityError

    with pytest.raises(PlasticityError, match="loss_before_fn"):
        measured(Backprop(net=TanhTeacher(3, 4, 2, rng=0).student(5)), lambda p, s: {},
                 loss_before_fn=1.0)


def test_flat_spec_sizes_are_computed_once_and_right():
    spec = flat_spec({"b": np.zeros(4), "a": np.zeros((2, 3))})
    assert spec.sizes == (6, 4) and spec.size == 10
    assert spec.sizes is spec.sizes  # cached, not rebuilt at every flatten
    vec = np.arange(10.0)
    np.testing.assert_allclose(spec.flatten(spec.unflatten(vec)), vec, rtol=0, atol=0)
    assert spec == flat_spec({"a": np.ones((2, 3)), "b": np.ones(4)})


@pytest.mark.parametrize("problem", list(_problems()), ids=["tanh", "relu", "digits"])
def test_problem_loss_and_loss_from_signals_are_the_task_loss(problem):
    params = problem.init_params(np.random.default_rng(11))
    for n in (2, 9):
        batch = problem.batch(n, np.random.default_rng(12 + n))
        want = problem.task.loss(problem.net, params, batch)
        assert problem.loss(params, batch) == pytest.approx(want, rel=RTOL, abs=0)
        signals = problem.signals(params, batch)
        assert problem.loss_from_signals(params, batch, signals) == pytest.approx(
            want, rel=RTOL, abs=0)


def test_problem_loss_refuses_misshapen_params_with_the_network_message():
    teacher = TanhTeacher(3, 4, 2, rng=0)
    problem = FeedForwardProblem(teacher, teacher.student(5), n_eval=8)
    params = problem.init_params(np.random.default_rng(0))
    params["W1"] = params["W1"][:, :2]
    with pytest.raises(ValueError, match="W1"):
        problem.loss(params, problem.batch(4, np.random.default_rng(1)))


def _measured_run(problem, rule, gradient_fn, share, n_updates=20):
    current, data = {}, np.random.default_rng(8)

    def next_batch(step):
        current["b"] = problem.batch(16, data)
        return current["b"]

    wrapped = measured(rule, lambda p, s: gradient_fn(p, current["b"], s),
                       reference_fn=problem.population_gradient, share_gradient=share)
    final, _ = train(wrapped, problem.init_params(np.random.default_rng(7)),
                     n_updates=n_updates, next_batch=next_batch, signals=problem.signals,
                     loss=problem.loss, rng=np.random.default_rng(9))
    return wrapped, final


def test_backprop_takes_its_update_from_the_oracle_gradient_with_the_same_run(monkeypatch):
    teacher = TanhTeacher(5, 4, 2, rng=0)
    problem = FeedForwardProblem(teacher, teacher.student(8), n_eval=64)
    rule = Backprop(net=problem.net, eta=0.1)
    calls = []
    own_update = Backprop.update

    def counted(self, *args, **kwargs):
        calls.append(1)
        return own_update(self, *args, **kwargs)

    monkeypatch.setattr(Backprop, "update", counted)
    own, final_own = _measured_run(problem, rule, problem.batch_gradient_from_signals, False)
    n_own = len(calls)
    shared, final_shared = _measured_run(problem, rule, problem.batch_gradient_from_signals,
                                         True)
    n_shared = len(calls) - n_own
    assert own.gradient_shared is False and shared.gradient_shared is True
    # the same updates, so the same trajectory and the same records
    for key in final_own:
        np.testing.assert_allclose(final_shared[key], final_own[key], rtol=RTOL, atol=0)
    for table in own.records:
        for col in own.records[table].dtype.names:
            np.testing.assert_allclose(shared.records[table][col].astype(float),
                                       own.records[table][col].astype(float),
                                       rtol=RTOL, atol=0)
    # the shared run computes the rule's own update (its backprop) only to check the
    # shared one, at the 1st, 2nd, 4th, 8th and 16th of its 20 updates (counted, not
    # timed: a timed assertion fails on a loaded machine)
    assert n_own == 20 and n_shared == 5


def test_sharing_stops_when_the_oracle_is_not_the_rule_gradient():
    teacher = TanhTeacher(5, 4, 2, rng=0)
    problem = FeedForwardProblem(teacher, teacher.student(8), n_eval=64)
    rule = Backprop(net=problem.net, eta=0.1)

    def doubled(p, batch, s):  # not backprop's gradient: its -eta * g is not the update
        return {k: 2.0 * g for k, g in problem.batch_gradient_from_signals(p, batch,
                                                                            s).items()}

    wrapped, final = _measured_run(problem, rule, doubled, True)
    assert wrapped.gradient_shared is False
    _, plain = _measured_run(problem, rule, problem.batch_gradient_from_signals, False)
    for key in final:  # the rule's own updates throughout
        np.testing.assert_allclose(final[key], plain[key], rtol=RTOL, atol=0)


def test_a_wrapper_does_not_hand_out_its_inner_rule_method():
    teacher = TanhTeacher(3, 4, 2, rng=0)
    rule = Backprop(net=teacher.student(5), eta=0.1)
    inner = measured(rule, lambda p, s: {})
    outer = measured(inner, lambda p, s: {})
    assert inner.gradient_shared is None and outer.gradient_shared is False
    assert measured(rule, lambda p, s: {}, share_gradient=False).gradient_shared is False
