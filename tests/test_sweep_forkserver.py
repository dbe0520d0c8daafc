"""Sweep workers forked from pre-imported processes (plasticity.sweep.pool).

On Linux the local pool forks its workers off the sweep process itself when no thread
forbids it, else from a forkserver that imported NumPy, Numba and plasticity once; the
runs must be the same as from spawned workers, each worker must still be pinned to its
share of the cores (Numba's pool, the BLAS pool and the engines' ``PLASTICITY_THREADS``),
and a worker keeps what it compiled for its later runs.
"""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from plasticity.io.runfile import open_run
from plasticity.sweep import run_sweep
from plasticity.sweep.worker import usable_cores

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the forkserver is the default on Linux")

# A toy experiment recording, from inside its worker, the worker's thread limits and
# whether its Numba kernel was compiled by an earlier run of the same worker.
PROBE = '''
import os

import numba
from pydantic import Field

from plasticity.experiment import Config, Experiment


@numba.njit
def _kernel(x):
    return 2.0 * x


class ProbeConfig(Config):
    x: float = Field(0.0, description="input of the kernel")


def run(cfg, ctx):
    from plasticity import _config

    compiled_before = len(_kernel.signatures) > 0
    try:
        from threadpoolctl import threadpool_info

        blas = max([p["num_threads"] for p in threadpool_info()] or [-1])
    except ImportError:
        blas = -1
    ctx.summary(pid=os.getpid(), ppid=os.getppid(), compiled_before=int(compiled_before),
                value=_kernel(cfg.x), numba_threads=numba.get_num_threads(),
                numba_pool=numba.config.NUMBA_NUM_THREADS, blas_threads=blas,
                engine_threads=_config.threads())


EXPERIMENT = Experiment(name="fork-probe", description="Reports its worker.",
                        config=ProbeConfig, run=run, presets={"quick": {}})
'''


@pytest.fixture
def probe(tmp_path):
    path = tmp_path / "fork_probe.py"
    path.write_text(PROBE)
    return path


def _summaries(directory):
    return [open_run(p).summary for p in sorted(Path(directory, "runs").glob("*.h5"))]


def _started_with(pid):
    # the module names in the process's memory are not visible from outside; its parent
    # and thread count are
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), len(list(Path(f"/proc/{pid}/task").iterdir()))


def _worker_state():
    import multiprocessing

    loaded = [m for m in ("numpy", "numba", "h5py", "plasticity.experiment")
              if m in sys.modules]
    return os.getpid(), os.getppid(), multiprocessing.parent_process().pid, loaded


def test_pool_forks_from_a_preimported_single_threaded_server(monkeypatch):
    from multiprocessing import forkserver

    from plasticity.sweep.pool import START_ENV, make_pool, start_method

    monkeypatch.setenv(START_ENV, "forkserver")
    assert start_method() == "forkserver"
    with make_pool(1, 1) as pool:
        pid, ppid, parent, loaded = pool.submit(_worker_state).result(timeout=120)
        server = forkserver._forkserver._forkserver_pid
        server_parent, server_threads = _started_with(server)
    # the worker is the server's child, reports to us, and found the modules imported
    # before its first task (the task imports none of them)
    assert ppid == server and parent == os.getpid() and server_parent == os.getpid()
    assert loaded == ["numpy", "numba", "h5py", "plasticity.experiment"]
    # one thread: importing started neither Numba's pool nor (pinned to 1) a BLAS pool,
    # so the fork copied no half-owned locks
    assert server_threads == 1

    # also when pinned to all the cores (thread pools sized larger, still not started)
    with make_pool(1, usable_cores()) as pool:
        pool.submit(_worker_state).result(timeout=120)
        assert _started_with(forkserver._forkserver._forkserver_pid)[1] == 1

    monkeypatch.setenv(START_ENV, "spawn")
    with make_pool(1, 1) as pool:
        _, ppid, _, loaded = pool.submit(_worker_state).result(timeout=120)
    assert ppid == os.getpid() and "plasticity.experiment" not in loaded


def test_bad_start_method(monkeypatch):
    from plasticity.errors import PlasticityError
    from plasticity.sweep.pool import START_ENV, start_method

    monkeypatch.setenv(START_ENV, "thread")
    with pytest.raises(PlasticityError, match=START_ENV):
        start_method()


def test_forkserver_and_spawn_give_the_same_runs(tmp_path, monkeypatch):
    from plasticity.sweep.pool import START_ENV

    monkeypatch.setenv(START_ENV, "forkserver")
    a = run_sweep("oja-pca", {"n_inputs": [4, 6]}, seeds="0",
                  out=tmp_path / "fork", jobs=2)
    monkeypatch.setenv(START_ENV, "spawn")
    b = run_sweep("oja-pca", {"n_inputs": [4, 6]}, seeds="0",
                  out=tmp_path / "spawn", jobs=2)
    assert a.failed == 0 and b.failed == 0
    fork, spawn = _summaries(tmp_path / "fork"), _summaries(tmp_path / "spawn")
    assert len(fork) == len(spawn) == 2
    for s, t in zip(fork, spawn, strict=True):
        assert s.keys() == t.keys()
        numeric = [k for k in s if isinstance(s[k], (int, float, np.number))]
        assert numeric
        # the same code on the same inputs in one thread: equal up to the last bits
        np.testing.assert_allclose([s[k] for k in numeric], [t[k] for k in numeric],
                                   rtol=1e-12, atol=0)
        assert [s[k] for k in s if k not in numeric] == [t[k] for k in t if k not in numeric]


def test_forked_workers_are_pinned_and_keep_their_kernels(tmp_path, probe, monkeypatch):
    from plasticity.sweep.pool import START_ENV

    monkeypatch.setenv(START_ENV, "forkserver")
    # two workers: each gets its share of the cores, fixed before numba loaded
    share = max(1, usable_cores() // 2)
    res = run_sweep(probe, {"x": [1.0, 2.0]}, seeds="0,1", out=tmp_path / "two", jobs=2)
    assert res.failed == 0
    for s in _summaries(tmp_path / "two"):
        assert s["numba_threads"] == share and s["numba_pool"] == share
        assert s["engine_threads"] == share
        assert s["blas_threads"] in (-1, share)
    # one worker runs all three: it compiles its kernel once and keeps it
    res = run_sweep(probe, {}, seeds="0-2", out=tmp_path / "one", jobs=1)
    assert res.failed == 0
    runs = sorted(res.runs, key=lambda r: r["seed"])
    done = [open_run(tmp_path / "one" / r["file"]).summary for r in runs]
    assert len({s["pid"] for s in done}) == 1
    assert [s["compiled_before"] for s in done] == [0, 1, 1]
    assert done[0]["numba_pool"] == usable_cores()


def test_bad_start_method_is_refused_before_the_sweep_is_written(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PLASTICITY_SWEEP_START", "thread")
    out = tmp_path / "sw"
    code, _, err = cli("sweep", "oja-pca", "--grid", "eta=0.001,0.002", "--out", out,
                       "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "PLASTICITY_SWEEP_START" in err or "thread" in err
    assert not out.exists()


def test_fork_hazards_name_the_threads_that_forbid_a_fork():
    import numba

    from plasticity.sweep.pool import fork_hazards, resolve_start

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        hazards = fork_hazards()
        assert any("Python thread" in h for h in hazards), hazards
        assert resolve_start("fork") == ("forkserver", hazards)
    finally:
        stop.set()
        other.join()
    # setting the thread count starts Numba's pool (a no-op if an earlier test did)
    numba.set_num_threads(numba.get_num_threads())
    assert any("Numba's" in h for h in fork_hazards())
    assert resolve_start("spawn") == ("spawn", [])


# Runs in a fresh interpreter, whose only threads are the main one and OpenBLAS's: the
# pool forks its workers off it. Prints what it saw as JSON.
FORK_SWEEP = """
import json, os, sys, warnings
from plasticity.sweep import run_sweep
from plasticity.sweep.pool import resolve_start

if __name__ == "__main__":
    probe, out = sys.argv[1], sys.argv[2]
    before = resolve_start()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        two = run_sweep(probe, {"x": [1.0, 2.0]}, seeds="0,1", out=out + "/two", jobs=2)
        one = run_sweep(probe, {}, seeds="0-2", out=out + "/one", jobs=1)
        oja = run_sweep("oja-pca", {"n_inputs": [4, 6]}, seeds="0", out=out + "/oja",
                        jobs=2)
    print(json.dumps({"pid": os.getpid(), "method": before[0], "hazards": before[1],
                      "failed": two.failed + one.failed + oja.failed,
                      "fork_warnings": [str(w.message) for w in seen
                                        if "fork" in str(w.message)]}))
"""


def test_workers_fork_off_a_clean_sweep_process(tmp_path, probe, monkeypatch):
    from plasticity.sweep.pool import START_ENV

    monkeypatch.delenv(START_ENV, raising=False)
    script = tmp_path / "fork_sweep.py"
    script.write_text(FORK_SWEEP)
    proc = subprocess.run([sys.executable, str(script), str(probe), str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["method"] == "fork" and seen["hazards"] == [] and seen["failed"] == 0
    # Python 3.12+ warns at a fork of a process running a second Python thread
    assert seen["fork_warnings"] == []

    # two workers, children of the sweep process itself, each pinned to its share
    share = max(1, usable_cores() // 2)
    two = _summaries(tmp_path / "two")
    assert len(two) == 4 and {s["ppid"] for s in two} == {seen["pid"]}
    assert len({s["pid"] for s in two}) == 2
    for s in two:
        assert s["numba_threads"] == share and s["engine_threads"] == share
        # the inherited BLAS pool, limited by threadpoolctl after the fork
        assert s["blas_threads"] in (-1, share)
    # one worker runs all three and keeps its kernel
    one = sorted(_summaries(tmp_path / "one"), key=lambda s: s["pid"])
    assert len({s["pid"] for s in one}) == 1
    assert sorted(s["compiled_before"] for s in one) == [0, 1, 1]
    assert one[0]["numba_threads"] == usable_cores()

    # the same runs as from spawned workers
    monkeypatch.setenv(START_ENV, "spawn")
    spawned = run_sweep("oja-pca", {"n_inputs": [4, 6]}, seeds="0", out=tmp_path / "sp",
                        jobs=2)
    assert spawned.failed == 0
    forked, spawn = _summaries(tmp_path / "oja"), _summaries(tmp_path / "sp")
    assert len(forked) == len(spawn) == 2
    for s, t in zip(forked, spawn, strict=True):
        numeric = [k for k in s if isinstance(s[k], (int, float, np.number))]
        assert numeric and s.keys() == t.keys()
        np.testing.assert_allclose([s[k] for k in numeric], [t[k] for k in numeric],
                                   rtol=1e-12, atol=0)


PRELOAD_CHECK = r"""
import json, sys
from plasticity.sweep.pool import PRELOAD, fork_hazards, preload
before = fork_hazards()
preload()
print(json.dumps({"before": before, "after": fork_hazards(),
                  "missing": [m for m in PRELOAD if m not in sys.modules]}))
"""


def test_preload_readies_numba_and_leaves_the_process_safe_to_fork():
    """What a sweep process does before it forks its workers: every module of
    :data:`PRELOAD` imported and Numba's CPU target readied, with no thread started (so
    :func:`fork_hazards` still finds none). What it saves each worker's first run is
    measured in benchmarks/bench_sweep.py."""
    proc = subprocess.run([sys.executable, "-c", PRELOAD_CHECK], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["before"] == [] and seen["after"] == [] and seen["missing"] == []
