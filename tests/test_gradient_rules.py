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


# -- feedback matrices from the run's seed stream ------------------------------------------

def _feedback(rule, params):
    return rule.init(params)["feedback"]


def test_resolved_feedback_alignment_draws_its_feedback_from_the_seed():
    from plasticity.rules.resolve import builtin_rule, resolve_rule

    _, net, params, _ = setup()
    b0 = _feedback(resolve_rule("feedback_alignment", net=net, seed=0), params)
    b1 = _feedback(resolve_rule("feedback_alignment", net=net, seed=1), params)
    again = _feedback(builtin_rule("feedback_alignment", net=net, seed=0), params)
    for w in b0:
        # independent N(0, 1/fan-in) draws: equal only if the seed were ignored
        assert not np.allclose(b0[w], b1[w])
        np.testing.assert_array_equal(b0[w], again[w])
    # no seed keeps the class default (seed 0), as before seeds were passed
    default = _feedback(resolve_rule("feedback_alignment", net=net), params)
    explicit = _feedback(FeedbackAlignment(net=net, seed=0), params)
    for w in b0:
        np.testing.assert_array_equal(default[w], explicit[w])
    # a Generator (e.g. a run's child stream) gives one integer draw of [0, 2**31)
    want = int(np.random.default_rng(5).integers(2**31))
    rule = resolve_rule("feedback_alignment", net=net, seed=np.random.default_rng(5))
    assert rule.seed == want
    # rules without random matrices ignore the seed
    assert resolve_rule("backprop", net=net, seed=3) == Backprop(net=net, eta=0.05)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_rule_seed_is_refused(seed):
    from plasticity.rules.resolve import resolve_rule

    _, net, _, _ = setup()
    with pytest.raises(InvalidParameterError, match="rule seed must be a non-negative"):
        resolve_rule("feedback_alignment", net=net, seed=seed)


def test_a_class_that_takes_a_seed_gets_it():
    from plasticity.rules.resolve import resolve_rule

    class Seeded:
        def __init__(self, seed=0):
            self.seed = seed

        def init(self, params):
            return None

        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            return {}, state

    class Unseeded(Seeded):
        def __init__(self):
            super().__init__(seed=-7)

    _, net, _, _ = setup()
    assert resolve_rule(Seeded, net=net, seed=11).seed == 11
    assert resolve_rule(Seeded, net=net).seed == 0
    assert resolve_rule(Unseeded, net=net, seed=11).seed == -7


def test_feedback_alignment_experiment_draws_feedback_per_run_seed(cli, tmp_path,
                                                                   monkeypatch):
    # The experiment builds FA itself, with a seed drawn from the run's stream: runs with
    # seeds 0 and 1 must use different feedback matrices, reruns of a seed the same.
    drawn = {}
    original = FeedbackAlignment.init

    def spy(self, params):
        state = original(self, params)
        drawn.setdefault(current, state["feedback"]["W_out"].copy())
        return state

    monkeypatch.setattr(FeedbackAlignment, "init", spy)
    for current in ("seed0", "seed1", "seed0-again"):
        seed = current[4]
        code, _, err = cli("run", "feedback-alignment", "--quiet", "--seed", seed,
                           "--set", "n_updates=51", "--out", tmp_path / f"{current}.h5")
        assert code == 0, err
    assert drawn["seed0"].shape == (20, 10)  # B for W_out (10 x 20) has W_out.T's shape
    assert not np.allclose(drawn["seed0"], drawn["seed1"])
    np.testing.assert_array_equal(drawn["seed0"], drawn["seed0-again"])
