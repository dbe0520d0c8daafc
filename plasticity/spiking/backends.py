"""The table of spiking backends, and :func:`simulator`, which builds one.

Each backend is a :class:`~plasticity.spiking.base.Simulator` subclass in its own
package. The table below names them explicitly (no collection by import side effects);
each entry imports its package on first use, so that ``import plasticity.spiking`` costs
neither Numba's nor Brian2's import time. A new backend (NEST) is one package and one
line here.
"""

from __future__ import annotations

import inspect

from plasticity.errors import InvalidParameterError

__all__ = ["BACKENDS", "backend_class", "simulator"]


def _numba():
    from plasticity.spiking.numba import NumbaSimulator

    return NumbaSimulator


def _brian2():
    from plasticity.spiking.brian2 import Brian2Simulator

    return Brian2Simulator


#: backend name -> the function returning its Simulator subclass
_TABLE = {"numba": _numba, "brian2": _brian2}
#: the backends' names, the default first
BACKENDS = tuple(_TABLE)


def backend_class(backend: str):
    """The :class:`~plasticity.spiking.base.Simulator` subclass of ``backend``."""
    loader = _TABLE.get(backend) if isinstance(backend, str) else None
    if loader is None:
        raise InvalidParameterError(f"The 'backend' must be one of {', '.join(BACKENDS)}. "
                                    f"Got {backend!r}.")
    return loader()


def simulator(net, *, backend="numba", seed=0, recording=None, **options):
    """A simulator of ``net`` on ``backend`` ("numba" or "brian2").

    Parameters
    ----------
    net : Network
    backend : {"numba", "brian2"}
        The Numba engine (fast default) or Brian2 (the reference).
    seed : int or sequence of int
    recording : Recording, optional
    **options
        The backend's own options, e.g. Brian2's ``target="cython"|"numpy"|
        "cpp_standalone"``; the Numba engine has none.

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
