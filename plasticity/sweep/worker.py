"""What runs inside a sweep worker: thread pinning and one run.

This module is imported by freshly spawned worker processes before anything else of
plasticity, so it must not import NumPy, Numba or h5py at module level: the thread-count
environment variables only take effect if they are set before those libraries load. (A
forkserver imports it with those libraries, in an environment already pinned:
plasticity.sweep.pool.)
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from plasticity._config import THREADS_ENV  # os and sys only: safe before NumPy loads

__all__ = ["THREAD_VARIABLES", "usable_cores", "pin_threads", "thread_report", "run_one"]

#: Environment variables read by the BLAS/OpenMP/Numba thread pools when they load, and
#: by plasticity's compiled engines at each run (``PLASTICITY_THREADS``, see
#: :func:`plasticity._config.threads`).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", THREADS_ENV)

_LOADED: dict = {}
_LOAD_LOCK = threading.Lock()
# True while run_one works in a pool worker (read by the SIGTERM handler)
_IN_RUN = [False]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports it, which
    respects a batch job's cpuset; otherwise ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def pin_threads(n: int) -> None:
    """Limit this process's numerical thread pools to ``n`` threads.

    Sets the :data:`THREAD_VARIABLES` (effective for libraries not yet imported) and, for
    those already loaded, calls ``numba.set_num_threads`` and threadpoolctl.

    Parameters
    ----------
    n : int
        Threads per worker, at least 1.
    """
    n = max(1, int(n))
    for var in THREAD_VARIABLES:
        os.environ[var] = str(n)
    if "numba" in sys.modules:
        import numba

        # NUMBA_NUM_THREADS was fixed when numba loaded (a worker forked off a process
        # that had loaded it); Numba re-reads the variable at each compile and refuses a
        # value other than its pool's once the pool runs, so it keeps that value, and
        # set_num_threads cannot exceed it
        pool = numba.config.NUMBA_NUM_THREADS
        os.environ["NUMBA_NUM_THREADS"] = str(pool)
        numba.set_num_threads(min(n, pool))
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional: without it the environment variables must do
            return
        # applied for the rest of the process (not as a context): a worker's share is fixed
        threadpool_limits(limits=n)


def thread_report() -> dict:
    """What this process's thread pools are limited to (used to test the pinning).

    Returns
    -------
    dict
        ``{variable: value or None}`` for :data:`THREAD_VARIABLES`, plus ``numba`` (its
        current thread count) and ``blas`` (the largest BLAS/OpenMP pool, or None).
    """
    report = {var: os.environ.get(var) for var in THREAD_VARIABLES}
    import numba
    import numpy  # noqa: F401 - loads the BLAS that threadpoolctl inspects

    report["numba"] = int(numba.get_num_threads())
    try:
        from threadpoolctl import threadpool_info

        pools = [p["num_threads"] for p in threadpool_info()]
        report["blas"] = max(pools) if pools else None
    except ImportError:
        report["blas"] = None
    return report


def _parent_alive(parent_pid: int):
    """A function telling whether the sweep process still runs.

    A forkserver's worker is the server's child, not the sweep's, so ``os.getppid()``
    cannot tell; multiprocessing gives both kinds of worker a sentinel of the process
    that started them (its end closes when that process dies, whatever killed it)."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid == parent_pid and parent.sentinel is not None:
        return parent.is_alive
    return lambda: os.getppid() == parent_pid


def _watch_parent(parent_pid: int, poll_s: float = 1.0, grace_s: float = 10.0) -> None:
    # A pool worker blocks forever on its task queue if the parent is SIGKILLed. Once
    # orphaned, SIGTERM ourselves: a run in progress then marks its file ``interrupted``
    # (plasticity.experiment.execute), an idle worker just ends.
    alive = _parent_alive(parent_pid)
    while alive():
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_s)
    os._exit(1)


def _on_sigterm(signum, frame):
    # Python-level, so it never lands inside an HDF5 write: a run being set up (its file
    # half-initialised, before execute installs its own handler) unwinds and closes the
    # file; an idle worker just ends.
    if _IN_RUN[0]:
        from plasticity.experiment import Interrupted

        raise Interrupted()
    os._exit(128 + signum)


def init_pool_worker(threads: int, parent_pid: int) -> None:
    """``ProcessPoolExecutor`` initializer: pin threads, ignore Ctrl-C (the parent stops
    the workers with SIGTERM so that their runs are marked ``interrupted``), and end the
    worker if the parent dies."""
    pin_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="plasticity-parent-watch").start()


def _load(source: str):
    with _LOAD_LOCK:
        if source not in _LOADED:
            from plasticity.registry import load

            _LOADED[source] = load(source)
        return _LOADED[source]


def one_line(exc: BaseException) -> str:
    """A one-line description of ``exc``: user errors by their message, others prefixed
    with their type."""
    from plasticity.errors import PlasticityError

    text = str(exc) if isinstance(exc, PlasticityError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "..."


def _dask_share(threads: dict) -> int:
    from distributed import get_worker

    worker = get_worker()
    if worker.address in threads:
        return threads[worker.address]
    # a worker that joined after the sweep started (a batch job): its own cores shared
    # among its own threads
    return max(1, usable_cores() // max(1, worker.state.nthreads))


def run_one(task: dict) -> tuple[str, str | None, float]:
    """Run one sweep run; never raises for a failing run.

    Parameters
    ----------
    task : dict
        ``source`` (experiment name or absolute ``.py`` path), ``preset``, ``overrides``
        (the fixed ``--set`` values and this run's grid values), ``seed``, ``out``
        (absolute run-file path, which must not exist), and ``threads``: None when the
        process is already pinned (local pool), an int, or ``{worker address: int}`` for
        Dask workers.

    Returns
    -------
    (status, error, wall_time_s)
        ``status`` is ``complete``, ``diverged``, ``failed`` or ``interrupted``; ``error``
        a one-line message or None; ``wall_time_s`` in seconds.
    """
    t0 = time.perf_counter()
    threads = task.get("threads")
    if isinstance(threads, dict):
        threads = _dask_share(threads)
    if threads is not None:
        pin_threads(threads)
    from plasticity.experiment import Interrupted, execute

    _IN_RUN[0] = True
    try:
        exp = _load(task["source"])
        cfg = exp.build_config(preset=task["preset"], overrides=task["overrides"])
        _, status = execute(exp, cfg, seed=int(task["seed"]), out=task["out"],
                            preset=task["preset"], quiet=True)
        return status, None, time.perf_counter() - t0
    except (KeyboardInterrupt, Interrupted):
        return "interrupted", "interrupted by signal", time.perf_counter() - t0
    except Exception as exc:
        return "failed", one_line(exc), time.perf_counter() - t0
    finally:
        _IN_RUN[0] = False
