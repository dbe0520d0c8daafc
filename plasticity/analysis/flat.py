"""Flat vectors from parameter dicts and back, in one deterministic key order.

The alignment metric, the expected-update field and the gradient-field test all act on
one vector of all parameters. The order of the arrays in that vector is the sorted order
of their names, so that a metric matrix built once fits every later flattening of the
same parameters, whatever the dict's insertion order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["flat_keys", "flatten", "unflatten"]


def flat_keys(params) -> list[str]:
    """The names of the arrays in flattening order (sorted).

    Parameters
    ----------
    params : dict of str to array_like

    Returns
    -------
    list of str
    """
    return sorted(params)


def flatten(params, keys=None) -> np.ndarray:
    """Concatenate the arrays of ``params`` into one float64 vector.

    Parameters
    ----------
    params : dict of str to array_like
        The arrays; each is raveled in C order.
    keys : sequence of str, optional
        The arrays to take, in this order. Default: all of them, sorted by name.

    Returns
    -------
    ndarray, shape (n,)
        ``n`` is the total number of elements of the chosen arrays.
    """
    keys = flat_keys(params) if keys is None else list(keys)
    if not keys:
        return np.zeros(0)
    return np.concatenate([np.asarray(params[k], dtype=np.float64).ravel() for k in keys])


def unflatten(vec, like, keys=None) -> dict[str, np.ndarray]:
    """Split a flat vector into arrays shaped like those of ``like``.

    Parameters
    ----------
    vec : array_like, shape (n,)
        As made by :func:`flatten` with the same ``like`` and ``keys``.
    like : dict of str to array_like
        Gives the shapes (values are not read).
    keys : sequence of str, optional
        The arrays, in the order they were flattened. Default: sorted names of ``like``.

    Returns
    -------
    dict of str to ndarray
        Float64 copies, one per key.

    Raises
    ------
    ValueError
        When ``vec`` is not one-dimensional of the total size of the arrays.
    """
    keys = flat_keys(like) if keys is None else list(keys)
    vec = np.asarray(vec, dtype=np.float64)
    shapes = [np.shape(like[k]) for k in keys]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    if vec.ndim != 1 or vec.size != sum(sizes):
        raise ValueError(f"vector of shape {vec.shape} does not fit the arrays "
                         f"{', '.join(keys)} ({sum(sizes)} elements in total).")
    out, start = {}, 0
    for key, shape, size in zip(keys, shapes, sizes, strict=True):
        out[key] = vec[start:start + size].reshape(shape).copy()
        start += size
    return out
