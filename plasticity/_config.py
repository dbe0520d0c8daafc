"""Compiler flags for every Numba kernel, in one place.

Kernels are compiled with ``cache=True`` so that a second run reuses the machine code
written to ``__pycache__``. ``fastmath`` is off by default; reductions (dot products over
a weight row) may use :func:`jit_reduce`, which allows only reassociation and fused
multiply-add: without ``reassoc`` LLVM must add a dot product's terms in source order,
which keeps it scalar and about twice as slow (benchmarks/README.md). ``nnan``/``ninf``
stay off, so NaN and infinity still propagate to the delta, where the engine catches
them. The rounding changes at the 1e-16 relative level, far inside the twin tests'
tolerance.

:func:`jit_parallel` adds ``parallel=True`` for the few small kernels whose ``prange``
loop splits independent work among Numba's threads (each iteration writes its own
elements, so that the result does not depend on the thread count). It is kept to small
functions: the parallel compiler is slow and would also turn array expressions elsewhere
into parallel regions. The thread count is :func:`threads` (``PLASTICITY_THREADS``, set by
``plasticity run --threads N``; default: the cores this process may run on), applied by
the callers with ``numba.set_num_threads``.
"""

import os
import sys

#: the pip wheel's TBB library (it lies in the environment's ``lib``, which the loader
#: does not search: loaded here by path, Numba's ``tbb`` layer then finds it loaded)
TBB_LIBRARY = "libtbb.so.12"
#: layers that Numba may resolve to ``tbb``
_TBB_LAYERS = (None, "tbb", "default", "safe", "threadsafe", "forksafe")


def _load_tbb() -> bool:
    """True if the TBB library is loaded now and Numba has its ``tbb`` pool module
    (checked without importing Numba; the pool module's own version check follows in
    :func:`_use_layer`)."""
    import ctypes
    import importlib.util

    spec = importlib.util.find_spec("numba")
    if spec is None or not spec.submodule_search_locations:
        return False
    ufunc = os.path.join(spec.submodule_search_locations[0], "np", "ufunc")
    if not os.path.isdir(ufunc) or not any(f.startswith("tbbpool") for f in os.listdir(ufunc)):
        return False
    for path in (TBB_LIBRARY, os.path.join(sys.prefix, "lib", TBB_LIBRARY)):
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            return True
        except OSError:
            continue
    return False


_tbb = os.environ.get("NUMBA_THREADING_LAYER") in _TBB_LAYERS and _load_tbb()
#: Numba's threading layer for the parallel kernels, when the user has not chosen one
#: (``NUMBA_THREADING_LAYER``): ``tbb`` (Intel's oneTBB, the ``tbb`` wheel) where it
#: loads, else ``workqueue`` (Numba's own scheduler). Not OpenMP: with the ``omp``
#: layer's pool started, NEST's kernel (its own OpenMP runtime, in the same process in
#: the cross-checks and for users who drive both) crashed in ``ResetKernel`` (a
#: segmentation fault, tests/test_nest_dopamine.py). ``tbb`` before ``workqueue``
#: because the engine meets its threads once per window, and a recurrent network's
#: window is its shortest delay, often one step: a parallel region costs about 1.3 us
#: with ``tbb`` and 77 us with ``workqueue`` here (benchmarks/README.md). Results do not
#: depend on the layer (no reduction follows the schedule). A user's own
#: ``NUMBA_THREADING_LAYER`` is respected (and inherited by the processes this one starts,
#: as ours is, which load TBB the same way).
THREADING_LAYER = os.environ.setdefault("NUMBA_THREADING_LAYER",
                                        "tbb" if _tbb else "workqueue")

#: the names Numba accepts in NUMBA_THREADING_LAYER
KNOWN_LAYERS = ("default", "safe", "threadsafe", "forksafe", "tbb", "omp", "workqueue")

JIT_OPTIONS = {"nopython": True, "cache": True, "nogil": True, "fastmath": False}
REDUCE_OPTIONS = {**JIT_OPTIONS, "fastmath": {"reassoc", "contract"}}
PARALLEL_OPTIONS = {**JIT_OPTIONS, "parallel": True}
#: environment variable holding the thread count (inherited by worker processes)
THREADS_ENV = "PLASTICITY_THREADS"


def jit(fn):
    """Compile ``fn`` with the project's Numba options (numba is imported lazily here)."""
    import numba

    return numba.jit(**JIT_OPTIONS)(fn)


def jit_reduce(fn):
    """Compile ``fn`` with :data:`REDUCE_OPTIONS` (for kernels dominated by dot products)."""
    import numba

    return numba.jit(**REDUCE_OPTIONS)(fn)


def _use_layer(numba) -> None:
    # the environment variable acts only if Numba was imported after this module; set the
    # layer on Numba's config too (effective until its thread pool first starts), and fall
    # back to workqueue if Numba refuses this TBB (older than its minimum)
    global THREADING_LAYER
    if THREADING_LAYER == "tbb":
        try:
            import numba.np.ufunc.tbbpool  # noqa: F401
        except ImportError:
            THREADING_LAYER = "workqueue"
    numba.config.THREADING_LAYER = THREADING_LAYER


def jit_parallel(fn):
    """Compile ``fn`` with :data:`PARALLEL_OPTIONS` (a ``prange`` loop over independent
    blocks)."""
    import numba

    _use_layer(numba)
    return numba.jit(**PARALLEL_OPTIONS)(fn)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def threads() -> int:
    """Threads the compiled engines may use: ``PLASTICITY_THREADS`` when set, otherwise
    :func:`available_cores`, and never more than Numba's thread pool holds."""
    raw = os.environ.get(THREADS_ENV, "")
    n = int(raw) if raw.strip().isdigit() and int(raw) > 0 else available_cores()
    if "numba" in sys.modules:
        import numba

        n = min(n, numba.config.NUMBA_NUM_THREADS)
    return n


def check_layer() -> None:
    """Refuse, in one line, a ``NUMBA_THREADING_LAYER`` Numba does not know (it would
    fail only when the engine first starts its threads, inside a run).

    Raises
    ------
    InvalidParameterError
        If :data:`THREADING_LAYER` is not one of :data:`KNOWN_LAYERS`.
    """
    from plasticity.errors import InvalidParameterError

    if THREADING_LAYER not in KNOWN_LAYERS:
        raise InvalidParameterError(
            f"NUMBA_THREADING_LAYER={THREADING_LAYER!r} is not a Numba threading layer "
            f"(one of {', '.join(KNOWN_LAYERS)}; unset it for the engine's choice)")


def set_threads(n: int) -> None:
    """Let the compiled engines use ``n`` threads (this process and those it starts).

    Raises
    ------
    InvalidParameterError
        If the threading layer is unknown (:func:`check_layer`), ``n`` is below 1, or
        above the size of Numba's thread pool once Numba has started it
        (``NUMBA_NUM_THREADS``, by default the machine's cores).
    """
    from plasticity.errors import InvalidParameterError

    check_layer()
    n = int(n)
    if n < 1:
        raise InvalidParameterError(f"threads must be at least 1 (got {n})")
    if "numba" in sys.modules:
        import numba

        _use_layer(numba)
        if n > numba.config.NUMBA_NUM_THREADS:
            raise InvalidParameterError(
                f"threads={n} is more than Numba's {numba.config.NUMBA_NUM_THREADS} "
                "(set NUMBA_NUM_THREADS before starting Python for more)")
    elif n > (os.cpu_count() or 1):
        # Numba sizes its pool from this when it is first imported
        pool = os.environ.get("NUMBA_NUM_THREADS", "")
        os.environ["NUMBA_NUM_THREADS"] = str(max(n, int(pool) if pool.isdigit() else 0))
    os.environ[THREADS_ENV] = str(n)
