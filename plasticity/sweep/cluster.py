"""Run a sweep's runs on a Dask cluster: an existing scheduler or a batch-queue cluster.

The workers run the same :func:`plasticity.sweep.worker.run_one` as the local pool and
write their run files *directly* into the sweep directory, by its absolute path. That
directory must therefore be on a filesystem every worker sees under the same path: true
for a ``LocalCluster`` and for a batch cluster's shared home or project filesystem, not
for a node's local disk. The workers also need plasticity installed and, for an
experiment given as a ``.py`` path, that file at the same path. Only this process writes
the index.
"""

from __future__ import annotations

import shutil
import uuid

from plasticity.errors import InvalidParameterError
from plasticity.sweep.options import CLUSTER_KINDS
from plasticity.sweep.worker import one_line, run_one, usable_cores

__all__ = ["CONNECT_TIMEOUT_S", "connect", "run_dask", "thread_shares"]

#: Seconds to wait for a scheduler before giving up.
CONNECT_TIMEOUT_S = 8


def _quiet_distributed():
    # distributed logs connection retries and shutdown chatter to stderr; a user error
    # must stay one line
    import logging

    for name in ("distributed", "distributed.client", "distributed.comm",
                 "distributed.core", "distributed.batched", "distributed.worker",
                 "distributed.nanny", "distributed.scheduler"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _probe(address: str) -> None:
    # One comm handshake before building a Client: a Client that fails half-way (something
    # else listens on that port) waits twice its timeout to close at garbage collection.
    # In a thread of its own so that it also works under a running event loop (Jupyter).
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect as comm_connect

    async def handshake():
        comm = await asyncio.wait_for(comm_connect(address, timeout=CONNECT_TIMEOUT_S),
                                      CONNECT_TIMEOUT_S + 1)
        await comm.close()

    with ThreadPoolExecutor(1) as ex:
        ex.submit(asyncio.run, handshake()).result()


def connect(scheduler: str | None = None, cluster: str | None = None,
            cluster_opts: dict | None = None):
    """A connected ``distributed.Client`` and the cluster this sweep created (or None).

    Raises
    ------
    InvalidParameterError
        Unreachable scheduler (after :data:`CONNECT_TIMEOUT_S`), dask-jobqueue missing,
        or options the cluster class refuses.
    """
    _quiet_distributed()
    from distributed import Client

    if scheduler is not None:
        try:
            _probe(scheduler)
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except Exception as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            if not isinstance(exc, OSError):
                reason = f"no Dask scheduler answers there: {type(exc).__name__}: {reason}"
            raise InvalidParameterError(f"--scheduler {scheduler}: cannot connect "
                                        f"({reason}).") from None
        return client, None
    if cluster not in CLUSTER_KINDS:
        raise InvalidParameterError(f"--cluster {cluster}: choose from "
                                    f"{', '.join(CLUSTER_KINDS)}.")
    try:
        import dask_jobqueue
    except ImportError:
        raise InvalidParameterError(
            f"--cluster {cluster} needs dask-jobqueue, which is not installed "
            "(pip install 'plasticity[cluster]').") from None
    opts = dict(cluster_opts or {})
    jobs = opts.pop("jobs", 1)
    cls = getattr(dask_jobqueue, CLUSTER_KINDS[cluster])
    submit = cls.job_cls.submit_command.split()[0]
    if shutil.which(submit) is None:
        # otherwise the cluster starts, every job submission fails in the background and
        # the sweep waits for workers forever
        raise InvalidParameterError(f"--cluster {cluster}: '{submit}' is not on the PATH "
                                    "(run the sweep on a login node of that cluster).")
    try:
        batch = cls(**opts)
    except Exception as exc:
        raise InvalidParameterError(f"--cluster {cluster}: {one_line(exc)}") from None
    try:
        batch.scale(jobs=jobs)
        client = Client(batch, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except Exception as exc:
        batch.close()
        raise InvalidParameterError(f"--cluster {cluster}: {one_line(exc)}") from None
    return client, batch


def thread_shares(client) -> dict:
    """``{worker address: threads}``: each host's cores divided among the threads of all
    the workers on that host (so two one-thread workers on two cores get one each)."""
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        cores = client.run(usable_cores)
    except Exception:  # no workers yet (a batch cluster still queueing): decided per task
        return {}
    per_host = {}
    for info in workers.values():
        per_host[info["host"]] = per_host.get(info["host"], 0) + info["nthreads"]
    return {addr: max(1, cores[addr] // max(1, per_host[info["host"]]))
            for addr, info in workers.items() if addr in cores}


def run_dask(client, tasks, *, on_start, on_done) -> None:
    """Submit every task and record results as they complete.

    Parameters
    ----------
    client : distributed.Client
    tasks : list of (str, dict)
        ``(run id, task)`` pairs for :func:`plasticity.sweep.worker.run_one`.
    on_start, on_done : callable
        As for :func:`plasticity.sweep.pool.run_local`; here "started" means submitted.
    """
    from distributed import as_completed

    shares = thread_shares(client)
    token = uuid.uuid4().hex[:8]
    futures = {}
    try:
        for run_id, task in tasks:
            fut = client.submit(run_one, {**task, "threads": shares}, pure=False,
                                key=f"plasticity-sweep-{token}-{run_id}")
            futures[fut] = run_id
            on_start(run_id)
        for fut in as_completed(list(futures), loop=client.loop):
            run_id = futures[fut]
            if fut.status == "finished":
                result = fut.result()
            elif fut.status == "cancelled":
                result = ("failed", "cancelled by the scheduler", None)
            else:
                result = ("failed", one_line(fut.exception()), None)
            on_done(run_id, tuple(result))
    except BaseException:
        # runs already executing on a worker cannot be stopped from here; their files end
        # complete or failed, and a resume trusts the file
        client.cancel(list(futures), force=True)
        raise
