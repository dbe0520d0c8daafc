"""The training loop: deltas applied, checked, divergence caught, probes called."""

import numpy as np
import pytest

from plasticity.engine import Batch, Probe, train
from plasticity.errors import Diverged, RuleError


class AddConstant:
    """A rule that adds ``c`` to W every update (and counts its calls in the state)."""

    def __init__(self, c):
        self.c = c

    def init(self, params):
        return 0

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {"W": np.full_like(params["W"], self.c)}, state + 1


def _run(rule, n=5, **kw):
    params = {"W": np.zeros((2, 3)), "b": np.ones(2)}
    return train(rule, params, n_updates=n, next_batch=lambda s: Batch(x=np.zeros((1, 3))),
                 signals=lambda p, b: {"input": b.x}, **kw)


def test_applies_deltas_and_threads_state():
    params, state = _run(AddConstant(0.5), n=4)
    np.testing.assert_array_equal(params["W"], np.full((2, 3), 2.0))  # 4 x 0.5: exact
    np.testing.assert_array_equal(params["b"], np.ones(2))
    assert state == 4


def test_probes_called_on_interval_and_last():
    seen = []
    _run(AddConstant(1.0), n=7, probes=[Probe(lambda s, *a: seen.append(s), every=3)])
    assert seen == [3, 6, 7]


def test_divergence_raises_with_step():
    with pytest.raises(Diverged) as info:
        _run(AddConstant(10.0), n=100, divergence_limit=35.0)
    assert info.value.step == 4


@pytest.mark.parametrize("delta, match", [
    ({"W": np.zeros((3, 2))}, "'W' of shape \\(3, 2\\); the parameter has shape \\(2, 3\\)"),
    ({"W": np.full((2, 3), np.nan)}, "'W' containing NaN"),
    ({"V": np.zeros(2)}, "'V', which is not a parameter"),
    ({"W": np.zeros((2, 3), dtype=complex)}, "'W' of dtype complex128"),
    ([1, 2], "returned a list"),
])
def test_bad_deltas_name_rule_and_array(delta, match):
    class Bad:
        name = "bad-rule"

        def init(self, params):
            return None

        def update(self, signals, state, params, **kw):
            return delta, state

    with pytest.raises(RuleError, match="Rule bad-rule") as info:
        _run(Bad())
    assert info.match(match)


def test_rule_without_protocol():
    class NoUpdate:
        def init(self, params):
            return None

    with pytest.raises(RuleError, match="lacks the protocol method\\(s\\) update"):
        _run(NoUpdate())
