"""Deterministic mean update fields of rules, and states to test them at.

The gradient-field tests (:mod:`plasticity.analysis.field`,
:mod:`plasticity.analysis.field_metric`) differentiate a field ``theta -> F(theta)`` by
finite differences, so the field must be a deterministic function of the state: a rule on
a fixed batch (:func:`batch_field`), or the exact mean of a per-sample rule's one-sample
steps over a fixed data set (:func:`sample_mean_field`). :func:`states_around` draws the
states around a point.
"""

from __future__ import annotations

import numpy as np

from plasticity.analysis.flat import flatten, unflatten

__all__ = ["batch_field", "sample_mean_field", "states_around"]


def states_around(theta0, n, radius, rng) -> np.ndarray:
    """``n`` states ``theta0 + radius * rms(theta0) * z`` with ``z ~ N(0, I)``.

    Parameters
    ----------
    theta0 : ndarray, shape (p,)
        The centre (its RMS sets the scale; 1 when it is zero).
    n : int
        Number of states.
    radius : float
        Spread relative to the RMS of ``theta0``.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n, p)
    """
    scale = float(np.sqrt(np.mean(theta0 ** 2))) or 1.0
    return theta0 + radius * scale * rng.standard_normal((n, theta0.size))


def sample_mean_field(rule, X, W, state=None, *, signal="input", target="W_out"):
    """The exact mean field of a per-sample rule over the data set ``X`` at weights ``W``.

    The rule is called once per sample, every time from the same ``W`` and ``state`` (a
    one-sample window is one exact step), and the deltas of ``target`` are averaged:
    ``F(W) = mean_x delta(x; W)``. An online pass over the same samples would give this
    only to first order in the learning rate.

    Parameters
    ----------
    rule : object with ``update``
    X : ndarray, shape (m, n)
        The samples, read by the rule as ``signals[signal]`` (one row each).
    W : ndarray
        The weights, passed as ``params[target]``.
    state : object, optional
        The rule state every call starts from.

    Returns
    -------
    ndarray, shape of ``W``
    """
    total = np.zeros_like(W)
    for x in X:
        total += rule.update({signal: x}, state, {target: W})[0][target]
    return total / len(X)


def batch_field(rule, state, like, signals_of):
    """The field ``theta -> flatten(delta)`` of ``rule`` on fixed signals, in the flat
    coordinates of :func:`~plasticity.analysis.flat.flatten`.

    Parameters
    ----------
    rule : object with ``update``
    state : object
        The rule state every evaluation starts from.
    like : dict of str to ndarray
        Names and shapes of the parameters.
    signals_of : callable
        ``signals_of(params) -> dict``, the signals at ``params`` (e.g. a forward pass
        on a fixed batch).

    Returns
    -------
    callable
        ``field(theta (p,)) -> (p,)``; arrays the rule leaves unchanged count as 0.
    """
    def field(theta):
        p = unflatten(theta, like)
        delta, _ = rule.update(signals_of(p), state, p)
        return flatten({k: delta.get(k, np.zeros_like(v)) for k, v in p.items()})
    return field
