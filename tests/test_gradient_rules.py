"""Backprop and feedback alignment against the exact gradient oracle."""

import numpy as np
import pytest

from plasticity.engine import train
from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules import Backprop, FeedbackAlignment
from plasticity.substrates import FeedForward
from plasticity.tasks import make_task


def setup(name="teacher-student", hidden=(5, 4), seed=0):
    kwargs = {"digits": {}}.get(name, {"n_inputs": 6, "n_outputs": 3})
    task = make_task(name, rng=seed, **kwargs)
    net = task.student(hidden=list(hidden))
    params = net.init_params(np.random.default_rng(seed + 1))
    batch = task.batch(10, np.random.default_rng(seed + 2))
    return task, net, params, batch


@pytest.mark.parametrize("name", ["teacher-student", "digits"])
def test_backprop_is_minus_eta_times_the_gradient(name):
    task, net, params, batch = setup(name)
    rule = Backprop(net=net, eta=0.3, loss_kind=task.loss_kind)
    signals = task.signals(net, params, batch)
    delta, state = rule.update(signals, None, params)
    grad = task.gradient(net, params, batch)
    assert state is None and sorted(delta) == sorted(params)
    for k in params:
        np.testing.assert_array_equal(delta[k], -0.3 * grad[k])


def test_feedback_alignment_state_layout():
    _, net, params, _ = setup()
    rule = FeedbackAlignment(net=net, eta=0.1, seed=3, scale=2.0)
    state = rule.init(params)
    assert sorted(state["feedback"]) == ["W2", "W_out"]
    for w, B in state["feedback"].items():
        assert B.shape == params[w].T.shape
    # The feedback is fixed by the seed, not by anything else.
    again = FeedbackAlignment(net=net, eta=0.5, seed=3, scale=2.0).init(params)
    for w in state["feedback"]:
        np.testing.assert_array_equal(state["feedback"][w], again["feedback"][w])
    # Scale 1 gives the statistics of a fresh W.T: variance 1/fan-in (loose 5-sigma check).
    wide = FeedForward(sizes=[6, 300, 200, 3])
    big = FeedbackAlignment(net=wide, seed=0).init(wide.init_params(0))["feedback"]["W2"]
    assert abs(big.var() * 300 - 1.0) < 5 * np.sqrt(2 / big.size)


@pytest.mark.parametrize("name", ["teacher-student", "digits"])
def test_feedback_alignment_with_transposed_weights_is_backprop(name):
    task, net, params, batch = setup(name)
    fa = FeedbackAlignment(net=net, eta=0.2, loss_kind=task.loss_kind)
    bp = Backprop(net=net, eta=0.2, loss_kind=task.loss_kind)
    signals = task.signals(net, params, batch)
    state = {"feedback": {w: params[w].T.copy() for w in fa.init(params)["feedback"]}}
    d_fa, _ = fa.update(signals, state, params)
    d_bp, _ = bp.update(signals, None, params)
    for k in params:
        np.testing.assert_array_equal(d_fa[k], d_bp[k])


def test_feedback_alignment_last_layer_equals_backprop():
    task, net, params, batch = setup()
    fa = FeedbackAlignment(net=net, eta=0.2, seed=7)
    bp = Backprop(net=net, eta=0.2)
    signals = task.signals(net, params, batch)
    state = fa.init(params)
    d_fa, new_state = fa.update(signals, state, params)
    d_bp, _ = bp.update(signals, None, params)
    assert new_state is state
    np.testing.assert_array_equal(d_fa["W_out"], d_bp["W_out"])
    np.testing.assert_array_equal(d_fa["b_out"], d_bp["b_out"])
    # Below the output the random feedback makes a different update.
    assert not np.allclose(d_fa["W1"], d_bp["W1"])


def test_rules_train_in_the_engine():
    task, net, params, _ = setup("teacher-student", hidden=(8,))
    rng = np.random.default_rng(0)
    before = task.evaluate(net, params)["loss"]
    for rule in (Backprop(net=net, eta=0.1), FeedbackAlignment(net=net, eta=0.1)):
        final, _ = train(rule, params, n_updates=300,
                         next_batch=lambda s: task.batch(16, rng),
                         signals=lambda p, b: task.signals(net, p, b))
        assert task.evaluate(net, final)["loss"] < 0.7 * before


def test_errors():
    _, net, params, _ = setup()
    with pytest.raises(InvalidParameterError, match="'eta' parameter of Backprop"):
        Backprop(net=net, eta=-1)
    with pytest.raises(RuleError, match="needs the signal 'target'"):
        Backprop(net=net).update({"input": np.zeros((1, 6))}, None, params)
    with pytest.raises(RuleError, match="state made by init"):
        FeedbackAlignment(net=net).update({}, None, params)
    assert Backprop.name == "backprop" and FeedbackAlignment.name == "feedback_alignment"
