"""Run a sweep's runs on a local pool of worker processes.

On Linux a worker is a *fork of the sweep process itself* when that is safe
(:func:`fork_hazards`): the sweep process has already imported NumPy, Numba, h5py,
pydantic, plasticity and the experiment, so a worker starts in milliseconds with all of it.
Forking is safe when the process runs no thread whose locks a child could inherit held:
no other Python thread, Numba's thread pool not started, and no native thread besides
OpenBLAS's own pthreads pool (which OpenBLAS stops before a fork and restarts after).
Otherwise, and on other platforms, workers fork from a *forkserver*: a server process
imports the same modules once (:data:`PRELOAD`, about a second, overlapped with the sweep's
planning) and every worker is a fork of it. ``PLASTICITY_SWEEP_START`` (``fork``,
``forkserver`` or ``spawn``) overrides the choice; ``spawn`` starts fresh interpreters.

Each worker is pinned to ``cores // jobs`` threads so that ``jobs`` CPU-bound runs do not
oversubscribe the machine. Thread pools are sized when their library loads (OpenBLAS, and
Numba's ``NUMBA_NUM_THREADS``), so for a forkserver or spawned workers the variables are
set in the environment the child starts with, before it imports NumPy or Numba; a worker
forked from the sweep process inherits loaded libraries and is pinned by
:func:`plasticity.sweep.worker.pin_threads` (``numba.set_num_threads`` and threadpoolctl).
The forkserver never calls a kernel: it only imports, so Numba's thread pool is not
started there (forking a process whose OpenMP or TBB pool is running leaves the child with
a pool whose threads do not exist). Each worker starts its own pool after the fork, so the
default threading layer is kept. A server is started for one environment; a sweep that
needs another thread count (or other variables) stops it and starts a new one.

Before it forks, the sweep process imports :data:`PRELOAD` and readies Numba's CPU target
(:func:`preload`): about 1 s, paid once per process instead of at every worker's first
run, and not at all by a later sweep of the same process (a notebook's, a benchmark's).
That runs no kernel and starts no thread, so the process can still be forked (checked
again after it).

Workers live for the whole sweep, so each loads the compiled kernels from Numba's on-disk
cache once, at its first run, and keeps them for its later runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import deque

from plasticity.errors import InvalidParameterError
from plasticity.sweep.worker import THREAD_VARIABLES, init_pool_worker, one_line, run_one

__all__ = ["run_local", "pinned_environ", "make_pool", "start_method", "resolve_start",
           "preload", "fork_hazards", "start_server", "stop_server", "PRELOAD", "START_ENV",
           "START_METHODS"]

#: environment variable choosing how workers start (one of :data:`START_METHODS`)
START_ENV = "PLASTICITY_SWEEP_START"
#: ``fork``: from the sweep process when :func:`fork_hazards` finds none, else from the
#: forkserver (Linux only); ``forkserver``; ``spawn``: fresh interpreters
START_METHODS = ("fork", "forkserver", "spawn")
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
    """How workers start: ``requested``, else ``$PLASTICITY_SWEEP_START``, else ``fork``
    on Linux, ``forkserver`` where the platform has one (macOS) and ``spawn`` elsewhere.
    (``fork`` falls back to the forkserver when the process is not safe to fork:
    :func:`resolve_start`.)

    Raises
    ------
    InvalidParameterError
        For a method not in :data:`START_METHODS`, ``fork`` off Linux (macOS's system
        libraries are not fork-safe), or ``forkserver`` where the platform has none.
    """
    import multiprocessing

    method = requested or os.environ.get(START_ENV, "").strip().lower() or None
    available = multiprocessing.get_all_start_methods()
    linux = sys.platform.startswith("linux")
    if method is None:
        if linux and "fork" in available:
            return "fork"
        return "forkserver" if "forkserver" in available else "spawn"
    if method not in START_METHODS:
        raise InvalidParameterError(
            f"{START_ENV} must be one of {', '.join(START_METHODS)} (got {method!r})")
    if method not in available or (method == "fork" and not linux):
        raise InvalidParameterError(f"worker start method {method!r} is not available on "
                                    "this platform; use 'spawn'")
    return method


def fork_hazards() -> list[str]:
    """Why this process cannot safely be forked now (empty: it can).

    A child of ``fork`` has only the thread that forked; a lock held by any other thread
    at that moment stays held in the child forever. So every thread of the process must
    be accounted for: the main Python thread, and the worker threads of OpenBLAS's
    pthreads pools (OpenBLAS stops them before a fork, ``pthread_atfork``). Any other
    Python thread (a progress bar's monitor, a Dask client), Numba's started thread pool,
    or a native thread of unknown origin is a hazard.

    Returns
    -------
    list of str
        One short reason per hazard, for messages and tests.
    """
    hazards = []
    if not sys.platform.startswith("linux"):
        return ["not Linux"]
    others = threading.active_count() - 1
    if others:
        hazards.append(f"{others} other Python thread(s) run")
    if "numba" in sys.modules:
        import numba

        try:
            hazards.append(f"Numba's {numba.threading_layer()} thread pool has started")
        except ValueError:  # "not initialized": no pool threads yet
            pass
    known = 1 + others
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_info
        except ImportError:  # a forked worker could not pin the BLAS pool it inherits
            return [*hazards, "threadpoolctl is not installed"]
        for pool in threadpool_info():
            if pool.get("internal_api") == "openblas" and \
                    pool.get("threading_layer") == "pthreads":
                known += max(0, int(pool["num_threads"]) - 1)
    try:
        running = len(os.listdir("/proc/self/task"))
    except OSError:
        return [*hazards, "cannot count this process's threads"]
    if running > known and not hazards:
        hazards.append(f"{running - known} native thread(s) of unknown origin run")
    return hazards


def preload() -> None:
    """Import :data:`PRELOAD` and ready Numba's CPU target in this process.

    The typing and target contexts load their registries at their first use (the first
    compilation or cache load: about 0.5 s); done here, before a fork, the workers
    inherit them ready and their first run costs about what their later ones do
    (song2000 quick: 0.76 s against 0.68 s, instead of 1.65 s). Runs no kernel and
    starts no thread, so :func:`fork_hazards` is unchanged by it.
    """
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()


def resolve_start(method: str | None = None) -> tuple[str, list[str]]:
    """The start method a pool made now would use, and why ``fork`` was not possible.

    Returns
    -------
    (method, hazards)
        ``method`` is :func:`start_method`'s, except that ``fork`` becomes ``forkserver``
        when :func:`fork_hazards` finds any (listed in ``hazards``).
    """
    method = start_method(method)
    if method == "fork":
        hazards = fork_hazards()
        if hazards:
            return "forkserver", hazards
    return method, []


@contextlib.contextmanager
def pinned_environ(threads: int, variables=THREAD_VARIABLES):
    """Set the thread ``variables`` in this process's environment while workers start: a
    spawned child or a forkserver copies it at start, before it imports anything (the
    initializer runs only after the child has unpickled its start-up data)."""
    saved = {var: os.environ.get(var) for var in variables}
    os.environ.update({var: str(threads) for var in variables})
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
    method : {"fork", "forkserver", "spawn"} or None
        How workers start (None: :func:`start_method`; ``fork`` only when
        :func:`fork_hazards` finds none, else the forkserver). Spawned workers copy this
        process's environment when they start (on the first submits), so submit inside
        :func:`pinned_environ`; the forkserver's copy the server's, pinned here; forked
        ones are pinned by their initializer.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method, _ = resolve_start(method)
    if method == "fork":
        preload()
        # an import must not have started a thread; if one did, the forkserver it is
        method, _ = resolve_start("fork")
    if method == "forkserver":
        ctx = _forkserver_context(threads)
    else:
        ctx = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=init_pool_worker,
                               initargs=(threads, os.getpid()))
    if method == "fork":
        # with ``fork`` the executor forks all its workers at the first submit, before it
        # starts its own thread: do it now, while the check above still holds
        pool.submit(os.getpid)
    return pool


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
    method : {"fork", "forkserver", "spawn"} or None
        How workers start (None: :func:`start_method`).
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = deque(tasks)
    inflight = {}
    method, _ = resolve_start(method)
    # a worker forked off this process inherits its loaded Numba, whose pool size must
    # not change under it (plasticity.sweep.worker.pin_threads); any later compile here
    # would re-read a pinned NUMBA_NUM_THREADS
    pinned = [v for v in THREAD_VARIABLES if method != "fork" or v != "NUMBA_NUM_THREADS"]
    with pinned_environ(threads, pinned):
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
    Does nothing where workers are spawned or forked from this process."""
    if resolve_start()[0] == "forkserver":
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
