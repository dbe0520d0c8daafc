"""check_rule: a good rule passes; each broken promise is a RuleError naming the rule
and the check."""

import numpy as np
import pytest

import plasticity
from plasticity.errors import RuleError
from plasticity.rules.checks import check_rule


class GoodHebb:
    """Noisy Hebbian output-layer rule with a step counter in its state."""

    name = "good-hebb"

    def init(self, params):
        return {"t": 0, "trace": np.zeros_like(params["W_out"])}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        pre, post = signals["hidden"], signals["output"]
        hebb = post.T @ pre / pre.shape[0]
        trace = 0.9 * state["trace"] + hebb
        noise = 1e-3 * rng.standard_normal(params["W_out"].shape)
        return ({"W_out": 0.01 * trace + noise},
                {"t": state["t"] + 1, "trace": trace})


def test_good_rule_passes_and_reports():
    report = check_rule(GoodHebb())
    assert report["rule"] == "good-hebb"
    assert report["passed"] == [
        "protocol", "init", "keywords", "update", "returns (delta, state)", "delta",
        "params not mutated", "signals not mutated", "state not mutated", "deterministic",
        "state threading", "delta not reused"]
    assert report["delta_keys"] == ["W_out"]
    assert report["problem"] == "default" and report["state_compared"]
    # The top-level forwarder gives the same.
    assert plasticity.check_rule(GoodHebb()) == report


def test_rule_using_loss_fn_and_reward_passes():
    class Perturb:
        def init(self, params):
            return None

        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            xi = {k: 1e-3 * rng.standard_normal(v.shape) for k, v in params.items()}
            dl = loss_fn({k: params[k] + xi[k] for k in params}) - loss_fn(params)
            return {k: -(dl + 0.0 * reward) * v for k, v in xi.items()}, state

    assert check_rule(Perturb())["rule"] == "Perturb"


def test_given_params_and_signals():
    class Decay:
        def init(self, params):
            return None

        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            return {"w": -0.1 * params["w"] * signals["gain"]}, state

    report = check_rule(Decay(), {"w": np.ones(3)}, {"gain": 2.0})
    assert report["problem"] == "given"
    with pytest.raises(ValueError, match="both params and signals"):
        check_rule(Decay(), {"w": np.ones(3)})


def _rule(update, init=lambda self, params: None, name="bad-rule"):
    return type("Bad", (), {"name": name, "init": init, "update": update})()


def _expect(rule, check, detail):
    with pytest.raises(RuleError) as info:
        check_rule(rule)
    msg = str(info.value)
    assert msg.startswith(f"Rule bad-rule failed the '{check}' check:"), msg
    assert detail in msg, msg


def test_mutating_params_in_place():
    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        params["W_out"] += 0.1
        return {}, state

    _expect(_rule(update), "params not mutated", "params['W_out']")


def test_mutating_signals_in_place():
    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        signals["hidden"] *= 2
        return {}, state

    _expect(_rule(update), "signals not mutated", "signals['hidden")  # or its alias hidden1


def test_mutating_state_in_place():
    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        state["n"] += 1
        return {}, state

    _expect(_rule(update, init=lambda self, params: {"n": 0}), "state not mutated",
            "state['n']")


@pytest.mark.parametrize("delta, detail", [
    ({"W_out": np.zeros((5, 3))}, "shape (5, 3); the parameter has shape (3, 5)"),
    ({"W_out": np.full((3, 5), np.nan)}, "'W_out' containing NaN"),
    ({"W9": np.zeros(2)}, "'W9', which is not a parameter"),
    ({"W_out": np.zeros((3, 5), dtype=complex)}, "dtype complex128"),
    (np.zeros(3), "returned a ndarray as its delta"),
])
def test_bad_deltas(delta, detail):
    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return delta, state

    _expect(_rule(update), "delta", detail)


def test_missing_methods():
    bad = type("NoUpdate", (), {"name": "bad-rule", "init": lambda self, p: None})()
    _expect(bad, "protocol", "lacks the method(s) update")
    with pytest.raises(RuleError, match="failed the 'protocol' check: got the class GoodHebb"):
        check_rule(GoodHebb)


def test_nondeterministic_given_the_rng():
    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        noise = np.random.default_rng().standard_normal(params["b_out"].shape)
        return {"b_out": noise}, state

    _expect(_rule(update), "deterministic", "different delta['b_out']")


def test_hidden_memory_outside_the_state_is_nondeterminism():
    calls = []

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        calls.append(1)
        return {"b_out": np.full(3, float(len(calls)))}, state

    _expect(_rule(update), "deterministic", "keep all memory in the state")


def test_missing_keywords():
    def update(self, signals, state, params):
        return {}, state

    _expect(_rule(update), "keywords", "reward=, loss_fn= and rng=")


def test_update_that_raises_and_wrong_return():
    def raises(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return signals["no-such-signal"]

    _expect(_rule(raises), "update", "KeyError")

    def only_delta(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {"b_out": np.zeros(3)}

    _expect(_rule(only_delta), "returns (delta, state)", "update returned a dict")


def test_init_that_raises_or_mutates():
    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {}, state

    def init_raises(self, params):
        raise RuntimeError("boom")

    _expect(_rule(update, init=init_raises), "init", "RuntimeError: boom")

    def init_mutates(self, params):
        params["b1"][:] = 1.0

    _expect(_rule(update, init=init_mutates), "init", "params['b1']")


def test_state_that_breaks_the_next_update():
    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {"b_out": np.zeros(3) + state}, None

    _expect(_rule(update, init=lambda self, params: 0.0), "state threading", "TypeError")


def test_reused_delta_buffer():
    def init(self, params):
        self.buf = np.zeros(3)
        return 0

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        self.buf[:] = state + 1.0  # overwrites the array handed out last time
        return {"b_out": self.buf}, state + 1

    _expect(_rule(update, init=init), "delta not reused", "delta['b_out']")


class Baseline:
    """Reward minus a running baseline times a fixed direction; init sets no baseline."""

    name = "bad-rule"

    def init(self, params):
        return {"b": None}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        b = reward if state["b"] is None else state["b"]
        return {"b_out": (reward - b) * np.ones(3)}, {"b": b + 0.5 * (reward - b)}


def test_given_state_is_where_the_updates_start():
    warm = check_rule(Baseline(), reward=1.0, state={"b": 0.25})
    assert warm["passed"][-1] == "delta not reused" and warm["state_compared"]

    # a rule that needs a warm state fails from init's and passes from the given one
    class NeedsBaseline(Baseline):
        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            if state["b"] is None:
                raise ValueError("no baseline yet")
            return super().update(signals, state, params, reward=reward)

    _expect(NeedsBaseline(), "update", "ValueError: no baseline yet")
    assert check_rule(NeedsBaseline(), reward=1.0, state={"b": 0.25})["passed"] == \
        warm["passed"]

    # the given state is the one checked: a rule that mutates it in place is caught
    class Mutating(Baseline):
        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            state["b"] = 0.0
            return {"b_out": np.ones(3)}, state

    with pytest.raises(RuleError, match="'state not mutated' check: .*state\\['b'\\]"):
        check_rule(Mutating(), reward=1.0, state={"b": 0.25})

    # init is still called and checked when a state is given
    class BrokenInit(Baseline):
        def init(self, params):
            raise RuntimeError("boom")

    with pytest.raises(RuleError, match="'init' check: .*RuntimeError: boom"):
        check_rule(BrokenInit(), reward=1.0, state={"b": 0.25})
