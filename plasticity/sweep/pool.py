"""Run a sweep's runs on a local pool of worker processes.

Workers are *spawned* (not forked: Numba's threading layers and forked children do not
mix) and pinned to ``cores // jobs`` threads each before they import NumPy or Numba, so
``jobs`` CPU-bound runs do not oversubscribe the machine.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque

from plasticity.sweep.worker import THREAD_VARIABLES, init_pool_worker, one_line, run_one

__all__ = ["run_local", "pinned_environ", "make_pool"]


@contextlib.contextmanager
def pinned_environ(threads: int):
    """Set the thread variables in this process's environment while workers are spawned:
    a spawned child copies it at start, before it imports anything (the initializer runs
    only after the child has unpickled its start-up data)."""
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


def make_pool(jobs: int, threads: int):
    """A ``ProcessPoolExecutor`` of ``jobs`` spawned workers pinned to ``threads`` each.
    Spawn the workers inside :func:`pinned_environ` (they start on the first submits)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_pool_worker, initargs=(threads, os.getpid()))


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


def run_local(tasks, *, jobs: int, threads: int, on_start, on_done) -> None:
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
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = deque(tasks)
    inflight = {}
    with pinned_environ(threads):
        pool = make_pool(jobs, threads)
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
                    pool = make_pool(jobs, threads)
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True)
