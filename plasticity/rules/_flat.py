"""Flatten a parameter dict to one vector and back, in a deterministic key order.

Perturbation and selection rules search in the space of all parameters at once: they draw
one Gaussian vector of the total size, or keep a population of such vectors. The order is
the sorted key order, so the same dict always maps to the same layout, whatever order the
substrate built it in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["FlatSpec", "flat_spec"]


@dataclass(frozen=True)
class FlatSpec:
    """The layout of a flattened parameter dict.

    Attributes
    ----------
    keys : tuple of str
        Parameter names, sorted.
    shapes : tuple of tuple of int
        The shape of each array, in the order of ``keys``.
    """

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    # Computed once per layout (flatten/unflatten run at every update of a perturbation
    # or selection rule); cached_property writes the instance dict, which a frozen
    # dataclass allows, and the fields it derives from never change.
    @cached_property
    def sizes(self) -> tuple[int, ...]:
        """The number of entries of each array."""
        return tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    @cached_property
    def size(self) -> int:
        """The total number of parameters ``D``."""
        return int(sum(self.sizes))

    def flatten(self, params: dict) -> np.ndarray:
        """Concatenate ``params`` into one float64 vector of shape ``(D,)``.

        Raises
        ------
        ValueError
            When ``params`` lacks a key of the layout or an array has another shape.
        """
        parts = []
        for key, shape in zip(self.keys, self.shapes, strict=True):
            if key not in params:
                raise ValueError(f"params lacks '{key}', which the flat layout expects.")
            arr = np.asarray(params[key], dtype=np.float64)
            if arr.shape != shape:
                raise ValueError(f"params['{key}'] has shape {arr.shape}; the flat layout "
                                 f"expects {shape}.")
            parts.append(arr.ravel())
        if not parts:
            return np.zeros(0)
        return np.concatenate(parts)

    def unflatten(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        """Split a ``(D,)`` vector into a dict of fresh arrays with the layout's shapes."""
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (self.size,):
            raise ValueError(f"vector has shape {vector.shape}; the flat layout expects "
                             f"({self.size},).")
        out = {}
        start = 0
        for key, shape, n in zip(self.keys, self.shapes, self.sizes, strict=True):
            # Copies, so that a caller modifying a returned array cannot alias the vector.
            out[key] = vector[start:start + n].reshape(shape).copy()
            start += n
        return out


def flat_spec(params: dict) -> FlatSpec:
    """The :class:`FlatSpec` of a parameter dict (keys sorted, shapes as given)."""
    keys = tuple(sorted(params))
    return FlatSpec(keys=keys, shapes=tuple(tuple(np.shape(params[k])) for k in keys))
