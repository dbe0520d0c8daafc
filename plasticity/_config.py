"""Compiler flags for every Numba kernel, in one place.

Kernels are compiled with ``cache=True`` so that a second run reuses the machine code
written to ``__pycache__``. ``fastmath`` is off by default; reductions (dot products over
a weight row) may use :func:`jit_reduce`, which allows only reassociation and fused
multiply-add: without ``reassoc`` LLVM must add a dot product's terms in source order,
which keeps it scalar and about twice as slow (benchmarks/README.md). ``nnan``/``ninf``
stay off, so NaN and infinity still propagate to the delta, where the engine catches
them. The rounding changes at the 1e-16 relative level, far inside the twin tests'
tolerance.
"""

JIT_OPTIONS = {"nopython": True, "cache": True, "nogil": True, "fastmath": False}
REDUCE_OPTIONS = {**JIT_OPTIONS, "fastmath": {"reassoc", "contract"}}


def jit(fn):
    """Compile ``fn`` with the project's Numba options (numba is imported lazily here)."""
    import numba

    return numba.jit(**JIT_OPTIONS)(fn)


def jit_reduce(fn):
    """Compile ``fn`` with :data:`REDUCE_OPTIONS` (for kernels dominated by dot products)."""
    import numba

    return numba.jit(**REDUCE_OPTIONS)(fn)
