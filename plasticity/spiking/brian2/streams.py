"""What Brian2 simulators share in one process: the names of their objects and the
random stream of Brian2's runtime device (NumPy's legacy global generator)."""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

__all__ = ["claim_prefix", "random_state"]

#: simulators alive, by the index in their object names
_live = weakref.WeakValueDictionary()
#: the simulator whose random stream Brian2's runtime device currently holds
_rng_owner = [None]


def claim_prefix(sim):
    """The name prefix of a new simulator: ``plasticity<k>`` with the smallest ``k`` no
    living simulator uses. Names are unique among coexisting simulators, and a later
    simulator of the same network generates the same code as an earlier one (Brian2's
    generated code contains the object names), so Cython's compiled modules are reused.
    """
    k = 0
    while k in _live:
        k += 1
    _live[k] = sim
    return f"plasticity{k}"


@contextlib.contextmanager
def random_state(sim):
    """Run with ``sim``'s random stream; give the process its own back after.

    ``sim`` keeps its NumPy state between runs in ``sim._np_state`` (None before the
    first run, which seeds Brian2 with ``sim._b2_seed``).
    """
    # Brian2's runtime draws from NumPy's legacy global generator
    b2 = sim._b2
    outer = np.random.get_state()  # noqa: NPY002
    dev = b2.get_device()
    mine = _rng_owner[0] is sim and sim._np_state is not None
    if sim._np_state is None:
        b2.seed(sim._b2_seed)
    else:
        np.random.set_state(sim._np_state)  # noqa: NPY002
        if not mine and hasattr(dev, "rand_buffer_index"):
            # another simulator used Brian2's buffered random numbers: refill from ours
            dev.rand_buffer_index[:] = 0
            dev.randn_buffer_index[:] = 0
    _rng_owner[0] = sim
    try:
        yield
    finally:
        sim._np_state = np.random.get_state()  # noqa: NPY002
        np.random.set_state(outer)  # noqa: NPY002
