"""Connectivity and initial weights of a projection, drawn the same way on every backend
(so that for deterministic inputs the backends simulate exactly the same synapses)."""

from __future__ import annotations

import numpy as np

__all__ = ["build_connectivity", "initial_weights"]


def build_connectivity(syn, n_pre, n_post, rng):
    """Presynaptic and postsynaptic indices of a projection, sorted by (pre, post).

    ``"all"`` gives every pair, ``"one_to_one"`` the diagonal, ``"random"`` each pair
    independently with probability ``p`` (a binomial count per presynaptic neuron, then
    that many distinct targets).

    Parameters
    ----------
    syn : Synapses
    n_pre, n_post : int
        Sizes of the source and target groups.
    rng : numpy.random.Generator
        Drawn from only for ``"random"``.

    Returns
    -------
    pre, post : ndarray of int64, shape (n_synapses,)
    """
    if syn.connect == "all":
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
    elif syn.connect == "one_to_one":
        pre = post = np.arange(n_pre, dtype=np.int64)
    else:
        counts = rng.binomial(n_post, syn.p, size=n_pre)
        post = np.concatenate([np.sort(rng.choice(n_post, c, replace=False))
                               for c in counts] or [np.zeros(0, np.int64)]).astype(np.int64)
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), counts)
    return pre, post


def initial_weights(syn, size, rng):
    """``size`` initial weights (float64): ``w_init``, or uniform in ``w_init = (low,
    high)`` drawn from ``rng``."""
    if isinstance(syn.w_init, tuple):
        return rng.uniform(syn.w_init[0], syn.w_init[1], size)
    return np.full(size, float(syn.w_init))
