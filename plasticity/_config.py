"""Compiler flags for every Numba kernel, in one place.

Kernels are compiled with ``cache=True`` so that a second run reuses the machine code
written to ``__pycache__``; ``fastmath`` stays off because the tests compare kernels with
their NumPy twins to floating-point precision and reassociation would break that.
"""

JIT_OPTIONS = {"nopython": True, "cache": True, "nogil": True, "fastmath": False}


def jit(fn):
    """Compile ``fn`` with the project's Numba options (numba is imported lazily here)."""
    import numba

    return numba.jit(**JIT_OPTIONS)(fn)
