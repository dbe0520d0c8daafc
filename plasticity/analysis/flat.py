"""Flat vectors from parameter dicts and back, for the analysis (metrics, fields).

The alignment metric, the expected-update field and the gradient-field test act on one
vector of all parameters. The layout is that of :mod:`plasticity.rules._flat` (arrays in
sorted name order, each raveled in C order), shared with the perturbation and selection
rules, so that a metric matrix or a field built once fits every flattening of the same
parameters whatever the dict's insertion order. This module is its public face.
"""

from __future__ import annotations

import numpy as np

from plasticity.rules._flat import flat_spec

__all__ = ["flatten", "unflatten"]


def flatten(params) -> np.ndarray:
    """Concatenate the arrays of ``params`` into one float64 vector.

    Parameters
    ----------
    params : dict of str to array_like
        The arrays; taken in sorted name order, each raveled in C order.

    Returns
    -------
    ndarray, shape (n,)
        ``n`` is the total number of elements.
    """
    return flat_spec(params).flatten(params)


def unflatten(vec, like) -> dict[str, np.ndarray]:
    """Split a flat vector into arrays shaped like those of ``like``.

    Parameters
    ----------
    vec : array_like, shape (n,)
        As made by :func:`flatten` from a dict with the names and shapes of ``like``.
    like : dict of str to array_like
        Gives the names and shapes (values are not read).

    Returns
    -------
    dict of str to ndarray
        Float64 copies (not views of ``vec``), keys in sorted order.

    Raises
    ------
    ValueError
        When ``vec`` does not have shape ``(n,)`` for the total size ``n`` of ``like``.
    """
    return flat_spec(like).unflatten(vec)
