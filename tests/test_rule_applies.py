"""A rule meets only the kinds of problem it declares (``substrates``): one clear line."""

import numpy as np
import pytest

from plasticity.alignment import measure_problem
from plasticity.errors import RuleError
from plasticity.rules.base import check_applies
from plasticity.rules.gradient import Backprop
from plasticity.substrates import FeedForward


class _Undeclared:
    """A researcher's rule that declares no substrates: it applies anywhere."""

    name = "mine"


def test_undeclared_rule_applies_anywhere():
    check_applies(_Undeclared(), "recurrent")


def test_declared_substrate_passes_and_others_are_refused():
    rule = Backprop(net=FeedForward(sizes=[2, 1]), eta=0.1)
    check_applies(rule, "feedforward")
    with pytest.raises(RuleError) as err:
        check_applies(rule, "recurrent", "problem 'add'")
    message = str(err.value)
    assert "\n" not in message
    assert "backprop" in message and "feedforward" in message and "recurrent" in message


def test_measure_problem_refuses_a_mismatch_before_training():
    from plasticity.problems.recurrent import RecurrentProblem

    class Toy:
        n_in, n_out, loss, name = 1, 1, "mse", "toy"

        def batch(self, n, rng):  # never reached: the refusal comes first
            raise AssertionError("measure_problem trained before checking the substrate")

    problem = RecurrentProblem(Toy(), n_hidden=3)
    rule = Backprop(net=FeedForward(sizes=[1, 1]), eta=0.1)
    params = problem.init_params(np.random.default_rng(0))
    with pytest.raises(RuleError, match="recurrent problem"):
        measure_problem(rule, problem, params, n_updates=1, batch_size=1, seed=0)
