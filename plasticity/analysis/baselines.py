"""Same-budget baselines: what a direction with no information about the gradient scores.

A rule's positive mean cosine means little until compared with updates that know nothing
of the loss but take steps of the same size. :func:`random_direction` draws such a step
(isotropic, so its expected cosine with any fixed direction is 0, with spread about
``1/sqrt(n)`` for ``n`` parameters); :class:`RandomDirection` turns any rule into that
baseline, step by step. The accept-if-better random search ((1+1)-ES), which does
decrease the loss without a gradient, is a rule of its own in :mod:`plasticity.rules`.
"""

from __future__ import annotations

import numpy as np

from plasticity.rules.base import check_delta, check_protocol, rule_name

__all__ = ["RandomDirection", "random_direction"]


def random_direction(like_delta, rng) -> dict[str, np.ndarray]:
    """An isotropic Gaussian direction with the same total norm as ``like_delta``.

    Parameters
    ----------
    like_delta : dict of str to array_like
        Gives the arrays (names and shapes) and the total Euclidean norm
        ``sqrt(sum_a |d_a|^2)`` of the step (units: parameter units).
    rng : numpy.random.Generator or int
        The random source; arrays are drawn in sorted-name order, so the result does not
        depend on the dict's insertion order.

    Returns
    -------
    dict of str to ndarray
        Same keys and shapes, float64; the concatenated vector is uniformly distributed on
        the sphere of radius ``|like_delta|``. All zeros when ``like_delta`` is zero.
    """
    rng = np.random.default_rng(rng)
    keys = sorted(like_delta)
    arrays = {k: np.asarray(like_delta[k], dtype=np.float64) for k in keys}
    norm = np.sqrt(sum(float(np.vdot(a, a)) for a in arrays.values()))
    draws = {k: rng.standard_normal(arrays[k].shape) for k in keys}
    znorm = np.sqrt(sum(float(np.vdot(z, z)) for z in draws.values()))
    if norm == 0.0 or znorm == 0.0:
        return {k: np.zeros(a.shape) for k, a in arrays.items()}
    scale = norm / znorm
    return {k: z * scale for k, z in draws.items()}


class RandomDirection:
    """Replace a rule's updates by random isotropic steps of the same norm.

    Each update calls the inner rule (so its state evolves as it would, and the step size
    follows the rule's own), then returns a :func:`random_direction` over the same arrays
    with the same total norm instead of its delta.

    Parameters
    ----------
    rule : object with ``init`` and ``update``
        The rule whose step sizes set the budget.
    seed : int or numpy.random.Generator, optional
        Source of the directions when the engine passes no ``rng``. With an ``rng``, the
        direction is drawn from it after the inner rule has drawn its own noise, so a run
        is reproducible from the engine's seed alone.

    Attributes
    ----------
    name : str
        ``"random_<inner name>"``.
    """

    def __init__(self, rule, seed=None):
        check_protocol(rule)
        self.rule = rule
        self._rng = np.random.default_rng(seed)

    @property
    def name(self) -> str:
        return f"random_{rule_name(self.rule)}"

    def init(self, params):
        """The inner rule's initial state."""
        return self.rule.init(params)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """A random step with the inner rule's norm, and the inner rule's new state."""
        delta, state = self.rule.update(signals, state, params, reward=reward,
                                        loss_fn=loss_fn, rng=rng)
        delta = check_delta(self.rule, delta, params)
        return random_direction(delta, rng if rng is not None else self._rng), state
