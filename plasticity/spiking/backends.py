"""The table of spiking backends, and :func:`simulator`, which builds one.

Each backend is a :class:`~plasticity.spiking.base.Simulator` subclass in its own
package: the Numba engine (:mod:`plasticity.spiking.numba`), Brian2
(:mod:`plasticity.spiking.brian2`) and NEST (:mod:`plasticity.spiking.nest`, an optional
extra). The table below names them explicitly (no collection by import side effects);
each entry imports its package on first use, so that ``import plasticity.spiking`` costs
neither Numba's, Brian2's nor NEST's import time. A new backend is one package and one
line here.
"""

from __future__ import annotations

import inspect

from plasticity.errors import InvalidParameterError

__all__ = ["BACKENDS", "EXTRA_BACKENDS", "backend_class", "simulator"]


def _numba():
    from plasticity.spiking.numba import NumbaSimulator

    return NumbaSimulator


def _brian2():
    from plasticity.spiking.brian2 import Brian2Simulator

    return Brian2Simulator


def _nest():
    from plasticity.spiking.nest import NestSimulator

    return NestSimulator


#: backend name -> the function returning its Simulator subclass
_TABLE = {"numba": _numba, "brian2": _brian2, "nest": _nest}
#: the backends the package's dependencies provide, the default first
BACKENDS = ("numba", "brian2")
#: the backends that need an optional install (NEST: pip install nest-simulator)
EXTRA_BACKENDS = ("nest",)


def backend_class(backend: str):
    """The :class:`~plasticity.spiking.base.Simulator` subclass of ``backend``."""
    loader = _TABLE.get(backend) if isinstance(backend, str) else None
    if loader is None:
        raise InvalidParameterError(f"The 'backend' must be one of "
                                    f"{', '.join(BACKENDS + EXTRA_BACKENDS)}. "
                                    f"Got {backend!r}.")
    return loader()


def simulator(net, *, backend="numba", seed=0, recording=None, **options):
    """A simulator of ``net`` on ``backend`` ("numba", "brian2" or "nest").

    Parameters
    ----------
    net : Network
    backend : {"numba", "brian2", "nest"}
        The Numba engine (fast default), Brian2 (the reference) or NEST (optional).
    seed : int or sequence of int
    recording : Recording, optional
    **options
        The backend's own options, e.g. Brian2's ``target="cython"|"numpy"|
        "cpp_standalone"``, NEST's ``threads``; the Numba engine has none.

    Returns
    -------
    Simulator
    """
    cls = backend_class(backend)
    known = set(inspect.signature(cls).parameters) - {"net", "seed", "recording"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidParameterError(f"the {backend} backend has no option "
                                    f"{', '.join(unknown)} (its options: "
                                    f"{', '.join(sorted(known)) or 'none'})")
    return cls(net, seed=seed, recording=recording, **options)
