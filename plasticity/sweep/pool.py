"""Run a sweep's runs on a local pool of worker processes.

Workers start from a *forkserver* where the platform has one (Linux, macOS): a server
process imports NumPy, Numba, h5py, pydantic and plasticity's experiment machinery once
(:data:`PRELOAD`), and every worker is a fork of it, so that a worker starts in
milliseconds instead of paying the interpreter and the imports (about 0.7 s) again.
Elsewhere, or with ``PLASTICITY_SWEEP_START=spawn``, workers are spawned (fresh
interpreters) as before. Workers are never forked from the sweep process itself: it may
have started threads (the progress bar's, Numba's pool), and a fork copies a process with
its locks but without its threads.

Each worker is pinned to ``cores // jobs`` threads so that ``jobs`` CPU-bound runs do not
oversubscribe the machine. Thread pools are sized when their library loads (OpenBLAS, and
Numba's ``NUMBA_NUM_THREADS``), so the variables are set in the environment the server
starts with, before it imports NumPy or Numba, and a forked worker inherits them. The
server never calls a kernel: it only imports, so Numba's thread pool is not started
there (forking a process whose OpenMP or TBB pool is running leaves the child with a
pool whose threads do not exist). Each worker starts its own pool after the fork, so the
default threading layer (OpenMP here, TBB where installed, else workqueue) is kept. A
server is started for one environment; a sweep that needs another thread count (or other
variables) stops it and starts a new one.

Workers live for the whole sweep, so each loads the compiled kernels from Numba's on-disk
cache once, at its first run, and keeps them for its later runs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque

from plasticity.errors import InvalidParameterError
from plasticity.sweep.worker import THREAD_VARIABLES, init_pool_worker, one_line, run_one

__all__ = ["run_local", "pinned_environ", "make_pool", "start_method", "start_server",
           "stop_server", "PRELOAD",
           "START_ENV"]

#: environment variable choosing how workers start: ``forkserver`` or ``spawn``
START_ENV = "PLASTICITY_SWEEP_START"
#: modules the forkserver imports once, before it forks any worker (imports only: none
#: of them runs a Numba kernel at import). Besides plasticity's own, the Numba modules
#: that its CPU target imports on the first compile or cache load (about 0.5 s, SciPy's
#: BLAS lookup included), which every worker would otherwise pay at its first run.
PRELOAD = ("numpy", "numba", "h5py", "pydantic", "plasticity.errors",
           "plasticity.experiment", "plasticity.registry", "plasticity.engine",
           "plasticity.io.runfile", "plasticity._kernels.spiking",
           "plasticity.spiking.numba.simulator", "plasticity.sweep.worker",
           "numba.cpython.builtins", "numba.cpython.unicode", "numba.cpython.listobj",
           "numba.cpython.setobj", "numba.cpython.hashing", "numba.cpython.mathimpl",
           "numba.cpython.randomimpl", "numba.core.inline_closurecall", "numba.np.linalg",
           "numba.np.arraymath", "numba.np.arrayobj", "numba.np.npyimpl",
           "numba.np.npdatetime", "numba.np.random.generator_methods",
           "numba.np.polynomial.polynomial_functions", "numba.typed.dictimpl",
           "numba.typed.listobject", "numba.typed.setobject",
           "numba.experimental.jitclass", "numba.experimental.function_type")

# the environment the running forkserver was started with (None: not started by us)
_SERVER: dict = {"environ": None, "pid": None}
_SERVER_LOCK = threading.Lock()


def start_method(requested: str | None = None) -> str:
    """How workers start: ``requested``, else ``$PLASTICITY_SWEEP_START``, else
    ``forkserver`` where the platform has it and ``spawn`` elsewhere.

    Raises
    ------
    InvalidParameterError
        For a method other than ``forkserver`` or ``spawn``, or ``forkserver`` where the
        platform has none.
    """
    import multiprocessing

    method = requested or os.environ.get(START_ENV, "").strip().lower() or None
    available = multiprocessing.get_all_start_methods()
    if method is None:
        return "forkserver" if "forkserver" in available else "spawn"
    if method not in ("forkserver", "spawn"):
        raise InvalidParameterError(
            f"{START_ENV} must be 'forkserver' or 'spawn' (got {method!r})")
    if method not in available:
        raise InvalidParameterError(f"worker start method {method!r} is not available on "
                                    "this platform; use 'spawn'")
    return method


@contextlib.contextmanager
def pinned_environ(threads: int):
    """Set the thread variables in this process's environment while workers start: a
    spawned child or a forkserver copies it at start, before it imports anything (the
    initializer runs only after the child has unpickled its start-up data)."""
    saved = {var: os.environ.get(var) for var in THREAD_VARIABLES}
    os.environ.update({var: str(threads) for var in THREAD_VARIABLES})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _forkserver_context(threads: int):
    """The forkserver context, its server running with this process's environment pinned
    to ``threads`` (started, or restarted if it runs with another environment)."""
    import multiprocessing
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    with _SERVER_LOCK, pinned_environ(threads):
        wanted = dict(os.environ)
        server = forkserver._forkserver
        pid = getattr(server, "_forkserver_pid", None)
        if pid is not None and (_SERVER["pid"] != pid or _SERVER["environ"] != wanted):
            # started by someone else or for another thread count: its thread pools are
            # the wrong size. Stopping waits for the workers forked from it, which the
            # pools of earlier sweeps have already joined.
            server._stop()
        ctx.set_forkserver_preload(list(PRELOAD))
        server.ensure_running()  # also restarts a server that died
        _SERVER.update(environ=wanted, pid=server._forkserver_pid)
    return ctx


def make_pool(jobs: int, threads: int, method: str | None = None):
    """A ``ProcessPoolExecutor`` of ``jobs`` workers pinned to ``threads`` each.

    Parameters
    ----------
    jobs : int
        Worker processes.
    threads : int
        Numerical threads per worker.
    method : {"forkserver", "spawn"} or None
        How workers start (None: :func:`start_method`). Spawned workers copy this
        process's environment when they start (on the first submits), so submit inside
        :func:`pinned_environ`; forked ones copy the server's, pinned here.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = start_method(method)
    if method == "forkserver":
        ctx = _forkserver_context(threads)
    else:
        ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=init_pool_worker,
                               initargs=(threads, os.getpid()))


def _stop(pool) -> None:
    # SIGTERM each worker so that a run in progress marks its file "interrupted", then
    # make sure none outlives us. ProcessPoolExecutor has no public way to reach its
    # processes before Python 3.14.
    procs = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)


def run_local(tasks, *, jobs: int, threads: int, on_start, on_done,
              method: str | None = None) -> None:
    """Run ``tasks`` on ``jobs`` worker processes, at most ``jobs`` at a time.

    Parameters
    ----------
    tasks : list of (str, dict)
        ``(run id, task)`` pairs; the task is :func:`plasticity.sweep.worker.run_one`'s.
    jobs : int
        Worker processes.
    threads : int
        Numerical threads per worker.
    on_start, on_done : callable
        ``on_start(run_id)`` when a run is handed to a worker, ``on_done(run_id,
        (status, error, wall_time_s))`` when it ends; called in this process.
    method : {"forkserver", "spawn"} or None
        How workers start (None: :func:`start_method`).
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = deque(tasks)
    inflight = {}
    with pinned_environ(threads):
        pool = make_pool(jobs, threads, method)
        try:
            while queue or inflight:
                # only as many runs handed out as there are workers, so that "running"
                # in the index means running
                while queue and len(inflight) < jobs:
                    run_id, task = queue.popleft()
                    inflight[pool.submit(run_one, task)] = run_id
                    on_start(run_id)
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    run_id = inflight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        result = ("failed", "a worker process died (killed, or out of "
                                  "memory?)", None)
                    except Exception as exc:
                        result = ("failed", one_line(exc), None)
                    on_done(run_id, result)
                if broken:
                    # a dead worker breaks the whole pool and ends the runs of the others
                    # too; they are failed (a resume re-runs them), the rest get a new pool
                    for fut in wait(inflight).done:
                        on_done(inflight.pop(fut), ("failed", "a worker process died "
                                                    "(killed, or out of memory?)", None))
                    pool.shutdown(wait=True)
                    pool = make_pool(jobs, threads, method)
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True)


def start_server(threads: int) -> None:
    """Start the forkserver for workers of ``threads`` threads now, without waiting for
    its imports (a later :func:`make_pool` with the same ``threads`` reuses it): a caller
    that knows its thread share early overlaps the server's start-up with its own work.
    Does nothing where workers are spawned."""
    if start_method() == "forkserver":
        _forkserver_context(threads)


def stop_server() -> None:
    """Stop the forkserver started by :func:`make_pool` (if any): the next pool starts a
    fresh one and pays its imports again. Call only when no pool of it is running (it
    waits for the workers forked from the server to end)."""
    from multiprocessing import forkserver

    with _SERVER_LOCK:
        if _SERVER["pid"] is not None and forkserver._forkserver._forkserver_pid == \
                _SERVER["pid"]:
            forkserver._forkserver._stop()
        _SERVER.update(environ=None, pid=None)
