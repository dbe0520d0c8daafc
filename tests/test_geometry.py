"""The one cosine helper, plasticity.analysis.geometry.cosine: its contract.

Values are checked against hand-computed cosines of small integer vectors (exact up to
one rounding of a square root and a division: ``rel=1e-15``), and against
:func:`plasticity.analysis.align`, which must agree with it on the Euclidean cosine of an
update with the negative gradient.
"""

import numpy as np
import pytest

from plasticity.analysis import abs_cosine, align
from plasticity.analysis.geometry import cosine
from plasticity.errors import InvalidParameterError


def test_flat_vectors_against_hand_computed_values():
    # (1, 2, 2) . (2, 0, 1) = 4, norms 3 and sqrt(5)
    assert cosine([1.0, 2.0, 2.0], [2.0, 0.0, 1.0]) == pytest.approx(4 / (3 * np.sqrt(5)),
                                                                     rel=1e-15)
    assert cosine([1.0, 0.0], [0.0, 3.0]) == 0.0
    # shapes do not matter, only the number of elements (both are raveled)
    a = np.arange(1.0, 7.0)
    assert cosine(a.reshape(2, 3), a[::-1]) == pytest.approx(
        float(a @ a[::-1]) / float(a @ a), rel=1e-15)
    assert isinstance(cosine([1, 2], [3, 4]), float)  # integers are taken as floats


def test_dicts_are_flattened_in_sorted_key_order():
    a = {"b": np.array([1.0]), "W": np.array([[1.0, 0.0]])}
    b = {"W": np.array([[2.0, 0.0]]), "b": np.array([0.0])}
    assert cosine(a, b) == pytest.approx(1 / np.sqrt(2), rel=1e-15)
    # the same as the flat vectors in sorted order ("W" < "b")
    assert cosine(a, b) == pytest.approx(cosine([1.0, 0.0, 1.0], [2.0, 0.0, 0.0]),
                                         rel=1e-15)
    # insertion order is irrelevant
    assert cosine(dict(reversed(list(a.items()))), b) == pytest.approx(cosine(a, b),
                                                                       rel=1e-15)


def test_parallel_and_antiparallel_are_exactly_one_and_clipped():
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = rng.normal(size=7) * 10.0 ** rng.uniform(-5, 5)
        c = float(rng.uniform(0.1, 10))
        # sqrt(|u|^2 |v|^2) with v = c u: no rounding can leave [-1, 1]
        assert -1.0 <= cosine(v, -c * v) <= -1.0 + 4e-16
        assert 1.0 - 4e-16 <= cosine(v, c * v) <= 1.0
        assert -1.0 <= cosine(v, v + 1e-17 * rng.normal(size=7)) <= 1.0


def test_zero_vectors_give_the_undefined_value():
    assert np.isnan(cosine(np.zeros(3), [1.0, 2.0, 3.0]))
    assert np.isnan(cosine([1.0, 2.0, 3.0], np.zeros(3)))
    assert cosine(np.zeros(3), np.zeros(3), undefined=0.0) == 0.0
    assert cosine({"W": np.zeros(2)}, {"W": np.ones(2)}, undefined=-2.0) == -2.0
    # an array that is zero in one dict does not make the whole direction zero
    assert cosine({"W": np.zeros(2), "b": np.ones(1)},
                  {"W": np.ones(2), "b": np.ones(1)}) == pytest.approx(1 / np.sqrt(3))


@pytest.mark.parametrize("a, b, words", [
    ([1.0, 2.0], [1.0, 2.0, 3.0], "2 and 3 elements"),
    ({"W": np.ones(2)}, {"W": np.ones(3)}, "array 'W' has shape"),
    ({"W": np.ones((2, 1))}, {"W": np.ones((1, 2))}, "array 'W' has shape"),
    ({"W": np.ones(2)}, {"V": np.ones(2)}, "different arrays"),
    ({"W": np.ones(2)}, np.ones(2), "not a dict with a vector"),
    (np.ones(2), {"W": np.ones(2)}, "not a dict with a vector"),
])
def test_mismatches_raise_one_line(a, b, words):
    with pytest.raises(InvalidParameterError, match=words) as info:
        cosine(a, b)
    assert "\n" not in str(info.value)


def test_agrees_with_align_and_abs_cosine():
    rng = np.random.default_rng(1)
    for _ in range(20):
        d = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}
        g = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}
        # align's cosine is of the update with -grad: the same value (it sums per
        # array first, so the last bits may differ)
        minus_g = {k: -v for k, v in g.items()}
        assert cosine(d, minus_g) == pytest.approx(align(d, g)["total"]["cos"], rel=1e-14,
                                                   abs=1e-15)
        flat_d = np.concatenate([d["W"].ravel(), d["b"]])
        flat_g = np.concatenate([g["W"].ravel(), g["b"]])
        assert abs(cosine(flat_d, flat_g)) == pytest.approx(abs_cosine(flat_d, flat_g),
                                                            rel=1e-14)
