"""Hyperparameter validation: one readable line per problem, naming the key."""

from typing import Literal

import pytest
from pydantic import Field

from plasticity.errors import InvalidParameterError
from plasticity.validation import Hyperparameters


class Toy(Hyperparameters):
    eta: float = Field(0.1, gt=0)
    n_inputs: int = Field(3, ge=1)
    mode: Literal["a", "b"] = "a"


def test_defaults_and_keyword_only():
    t = Toy(eta=0.5)
    assert t.eta == 0.5 and t.n_inputs == 3
    with pytest.raises(TypeError):
        Toy(0.5)


@pytest.mark.parametrize("kwargs, expected", [
    ({"eta": -1}, "The 'eta' parameter of Toy must be greater than 0. Got -1."),
    ({"n_inputs": 0}, "The 'n_inputs' parameter of Toy must be greater than or equal to 1. "
                      "Got 0."),
    ({"n_inputs": "abc"}, "The 'n_inputs' parameter of Toy must be a valid integer"),
    ({"mode": "c"}, "The 'mode' parameter of Toy must be 'a' or 'b'. Got 'c'."),
    ({"etaa": 1}, "Unknown parameter 'etaa' of Toy; did you mean 'eta'?"),
])
def test_messages(kwargs, expected):
    with pytest.raises(InvalidParameterError) as info:
        Toy(**kwargs)
    msg = str(info.value)
    assert msg.startswith(expected), msg
    assert "\n" not in msg


def test_assignment_is_validated():
    t = Toy()
    with pytest.raises(InvalidParameterError, match="greater than 0"):
        t.eta = 0.0
