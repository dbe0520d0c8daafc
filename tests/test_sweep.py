"""``plasticity sweep``: the grid x seeds product and its index, the local pool and Dask
giving the same runs, thread pinning, resume after a kill or a failure, and every bad
input (one line, exit 2, nothing written).

The toy experiment (tests/data/sweep_toy.py) has ``value = x + N(0, 1)`` from the seed's
generator, so every run's summary is known exactly.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from plasticity.io.runfile import open_run, open_runs
from plasticity.sweep import run_sweep
from plasticity.sweep.index import file_state
from plasticity.sweep.worker import usable_cores

TOY = Path(__file__).parent / "data" / "sweep_toy.py"
GRID = ["--grid", "x=0,1.5", "--grid", "diverge_seed=-1,1"]
SEEDS = [0, 1]


def _index(directory):
    return json.loads((Path(directory) / "sweep.json").read_text())


def _expected_value(x, seed):
    return x + np.random.default_rng(seed).standard_normal()


def _one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("plasticity: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory):
    """One sweep on the local pool with two workers: 2 x 2 grid x 2 seeds."""
    from plasticity.cli import main

    out = tmp_path_factory.mktemp("pool") / "sweep"
    code = main(["sweep", str(TOY), *GRID, "--seeds", "0,1", "--set", "report_threads=true",
                 "-j", "2", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_product_and_index(pool_sweep):
    doc = _index(pool_sweep)
    assert doc["schema"] == 1 and doc["experiment"] == "sweep-toy"
    assert doc["preset"] == "quick" and doc["sets"] == {"report_threads": True}
    assert doc["grid"] == {"x": [0, 1.5], "diverge_seed": [-1, 1]}
    assert list(doc["grid"]) == ["x", "diverge_seed"] and doc["seeds"] == SEEDS
    runs = doc["runs"]
    # first grid key slowest, seeds fastest
    want = [(x, d, s) for x in (0, 1.5) for d in (-1, 1) for s in SEEDS]
    assert [(r["params"]["x"], r["params"]["diverge_seed"], r["seed"]) for r in runs] == want
    assert [r["id"] for r in runs] == [f"r{i:04d}" for i in range(8)]
    for r in runs:
        assert r["file"].startswith(f"runs/{r['id']}-x=") and r["file"].endswith(
            f"-seed{r['seed']}.h5")
        diverges = r["params"]["diverge_seed"] == r["seed"]
        assert r["status"] == ("diverged" if diverges else "complete")
        assert r["error"] is None and r["wall_time_s"] > 0
        run = open_run(pool_sweep / r["file"])
        assert run.status == r["status"] and run.seed == r["seed"]
        assert run.config["x"] == r["params"]["x"] and run.config["report_threads"]
        assert run.summary["value"] == pytest.approx(_expected_value(r["params"]["x"],
                                                                     r["seed"]), abs=1e-12)
    table = open_runs(pool_sweep / "runs")
    assert len(table) == 8 and set(table["status"]) == {"complete", "diverged"}


def test_pool_workers_are_pinned(pool_sweep):
    # two workers share the cores; the variables were set before numba loaded, so even
    # numba's pool size (fixed at import) is the share
    share = max(1, usable_cores() // 2)
    for path in sorted((pool_sweep / "runs").glob("*.h5")):
        s = open_run(path).summary
        assert s["omp_threads"] == share and s["numba_threads"] == share
        assert s["numba_pool"] == share
        assert s["blas_threads"] in (-1, share)


def test_make_pool_pins_threads():
    from plasticity.sweep.pool import make_pool, pinned_environ
    from plasticity.sweep.worker import THREAD_VARIABLES, thread_report

    mine = {v: os.environ.get(v) for v in THREAD_VARIABLES}
    with pinned_environ(1):
        with make_pool(1, 1) as pool:
            report = pool.submit(thread_report).result(timeout=120)
    assert all(report[v] == "1" for v in THREAD_VARIABLES)
    assert report["numba"] == 1 and report["blas"] in (None, 1)
    assert {v: os.environ.get(v) for v in THREAD_VARIABLES} == mine


def test_dask_local_cluster_gives_the_same_runs(pool_sweep, cli, tmp_path):
    distributed = pytest.importorskip("distributed")

    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=2, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            nthreads = sum(w["nthreads"] for w in
                           client.scheduler_info(n_workers=-1)["workers"].values())
        code, stdout, err = cli("sweep", TOY, *GRID, "--seeds", "0,1", "--set",
                                "report_threads=true", "--scheduler",
                                cluster.scheduler_address, "--out", out, "--quiet")
    assert code == 0, err
    assert "8 runs, 6 complete, 2 diverged, 0 failed" in stdout
    local = {r["id"]: r for r in _index(pool_sweep)["runs"]}
    share = max(1, usable_cores() // nthreads)
    for r in _index(out)["runs"]:
        assert r["status"] == local[r["id"]]["status"]
        a = open_run(out / r["file"]).summary
        b = open_run(pool_sweep / local[r["id"]]["file"]).summary
        # exact: x plus the seed's first draw; the scheduler must not change one bit
        assert a["value"] == b["value"]
        assert a["omp_threads"] == share and a["numba_threads"] == share


def test_seeds_only_sweep_through_the_api(tmp_path):
    res = run_sweep(TOY, {}, seeds="3-4", out=tmp_path / "s", jobs=1)
    assert res.counts["complete"] == 2 and res.failed == 0 and res.skipped == 0
    assert [r["file"] for r in res.runs] == ["runs/r0000-seed3.h5", "runs/r0001-seed4.h5"]
    assert open_run(tmp_path / "s" / res.runs[1]["file"]).summary["value"] == \
        pytest.approx(_expected_value(0.0, 4), abs=1e-12)


def test_failed_runs_fail_the_sweep_and_rerun_on_resume(cli, tmp_path):
    flag = tmp_path / "failing"
    flag.touch()
    out = tmp_path / "sweep"
    args = ["sweep", TOY, "--grid", "x=0,2", "--seeds", "0-2", "--set", "fail_seed=1",
            "--set", f"fail_while={flag}", "-j", "2", "--out", out, "--quiet"]
    code, stdout, err = cli(*args)
    assert code == 1
    assert "6 runs, 4 complete, 0 diverged, 2 failed" in stdout
    failed = [r for r in _index(out)["runs"] if r["status"] == "failed"]
    assert [r["seed"] for r in failed] == [1, 1]
    assert all(r["error"] == "RuntimeError: toy failure for seed 1" for r in failed)
    assert err.count("toy failure for seed 1") == 2
    kept = {r["file"]: (out / r["file"]).stat().st_mtime_ns for r in _index(out)["runs"]
            if r["status"] == "complete"}

    flag.unlink()
    code, stdout, err = cli(*args)
    assert code == 0, err
    assert "6 runs, 6 complete, 0 diverged, 0 failed, 4 kept from before" in stdout
    assert all(r["status"] == "complete" for r in _index(out)["runs"])
    assert {f: (out / f).stat().st_mtime_ns for f in kept} == kept
    for r in failed:
        aside = out / (r["file"] + ".failed-1")
        assert open_run(aside).status == "failed"
        assert open_run(out / r["file"]).status == "complete"


def _children(pid):
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads worker pids from /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_resume_after_the_sweep_is_killed(cli, tmp_path, sig):
    out = tmp_path / "sweep"
    args = ["sweep", str(TOY), "--set", "sleep_s=0.4", "--seeds", "0-5", "-j", "1",
            "--out", str(out), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "plasticity", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    done = []
    while len(done) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
        try:
            done = [r for r in _index(out)["runs"] if r["status"] == "complete"]
        except (OSError, ValueError):
            continue
    workers = _children(proc.pid)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err
    # no worker outlives the sweep (SIGKILL: each notices its parent is gone)
    t_end = time.monotonic() + 30
    while any(_alive(w) for w in workers) and time.monotonic() < t_end:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)

    before = _index(out)["runs"]
    assert not any(r["status"] == "running" for r in before) or sig == signal.SIGKILL
    finished = {r["file"]: (out / r["file"]).stat().st_mtime_ns for r in before
                if r["status"] == "complete"}
    assert len(finished) >= 2
    created = {f: open_run(out / f).attrs["created"] for f in finished}

    code, stdout, err = cli(*args)
    assert code == 0, err
    after = _index(out)["runs"]
    assert all(r["status"] == "complete" for r in after)
    assert {f: (out / f).stat().st_mtime_ns for f in finished} == finished
    assert {f: open_run(out / f).attrs["created"] for f in finished} == created
    assert len(open_runs(out / "runs")) == 6
    for r in after:
        assert open_run(out / r["file"]).summary["value"] == pytest.approx(
            _expected_value(0.0, r["seed"]), abs=1e-12)
    # whatever a killed run left behind (a file marked running or interrupted, or one
    # killed while being created) was moved aside, not deleted or reused
    for aside in (out / "runs").glob("*.failed-*"):
        assert file_state(aside)[0] in ("running", "interrupted", None)


def test_resume_refuses_a_different_sweep(cli, pool_sweep):
    before = (pool_sweep / "sweep.json").read_bytes()
    listing = sorted(p.name for p in (pool_sweep / "runs").iterdir())
    variants = {
        "grid differs": [*GRID[:2], "--grid", "diverge_seed=-1,2", "--seeds", "0,1",
                         "--set", "report_threads=true"],
        "seeds differ": [*GRID, "--seeds", "0-2", "--set", "report_threads=true"],
        "sets differ": [*GRID, "--seeds", "0,1"],
        "preset differs": [*GRID, "--seeds", "0,1", "--set", "report_threads=true",
                           "--full"],
    }
    for phrase, args in variants.items():
        code, _, err = cli("sweep", TOY, *args, "--out", pool_sweep, "--quiet")
        _one_line_error(code, err, f"{pool_sweep} belongs to a different sweep", phrase)
    assert (pool_sweep / "sweep.json").read_bytes() == before
    assert sorted(p.name for p in (pool_sweep / "runs").iterdir()) == listing


def test_resume_refuses_another_experiments_sweep(cli, tmp_path):
    out = tmp_path / "other"
    out.mkdir()
    doc = {"schema": 1, "experiment": "oja-pca", "preset": "quick", "sets": {},
           "grid": {"x": [1]}, "seeds": [0], "runs": []}
    (out / "sweep.json").write_text(json.dumps(doc))
    code, _, err = cli("sweep", TOY, "--grid", "x=1", "--out", out)
    _one_line_error(code, err, "belongs to a different sweep", "experiment differs")
    assert json.loads((out / "sweep.json").read_text()) == doc


def test_refuses_a_directory_that_is_not_a_sweep(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = cli("sweep", TOY, "--grid", "x=1", "--out", tmp_path)
    _one_line_error(code, err, "not a sweep directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("args, needles", [
    (["--grid", "sleep=1,2"], ["--grid sleep=1", "'sleep'", "did you mean 'sleep_s'"]),
    (["--grid", "x=abc"], ["--grid x='abc'", "'x'"]),
    (["--grid", "x="], ["--grid x=", "no values"]),
    (["--grid", "x"], ["--grid 'x'", "key=value"]),
    (["--grid", "x=1,,2"], ["value 2 is empty"]),
    (["--grid", "x=1,1"], ["given twice"]),
    (["--grid", "x=1", "--set", "x=2"], ["--set and --grid both give x"]),
    (["--seeds", "5-2"], ["--seeds 5-2", "ends before it starts"]),
    (["--seeds", "a"], ["--seeds a", "'a'"]),
    (["--seeds", "1.5"], ["--seeds 1.5"]),
    (["--seeds", "0,0"], ["seed 0 is given twice"]),
    (["-j", "0"], ["-j", "0"]),
    (["--scheduler", "tcp://127.0.0.1:9", "--cluster", "slurm"], ["exclude each other"]),
    (["--cluster-opt", "cores=2"], ["--cluster-opt needs --cluster"]),
    (["--cluster", "slurm", "--cluster-opt", "nodes=2"], ["--cluster-opt nodes",
                                                          "unknown option"]),
])
def test_bad_input(cli, tmp_path, args, needles):
    out = tmp_path / "sweep"
    full = [*args] if any(a == "--grid" for a in args) else ["--grid", "x=1", *args]
    code, _, err = cli("sweep", TOY, *full, "--out", out)
    _one_line_error(code, err, *needles)
    assert not out.exists()


def test_unreachable_scheduler_fails_fast(cli, tmp_path):
    out = tmp_path / "sweep"
    t0 = time.monotonic()
    # port 1 on loopback: nothing listens there
    code, _, err = cli("sweep", TOY, "--grid", "x=1", "--scheduler", "tcp://127.0.0.1:1",
                       "--out", out)
    assert time.monotonic() - t0 < 15
    _one_line_error(code, err, "--scheduler tcp://127.0.0.1:1", "cannot connect")
    assert not out.exists()


def test_cluster_errors_are_one_line(cli, tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    code, _, err = cli("sweep", TOY, "--grid", "x=1", "--cluster", "slurm", "--out", out)
    _one_line_error(code, err, "dask-jobqueue", "plasticity[cluster]")
    monkeypatch.delitem(sys.modules, "dask_jobqueue")
    pytest.importorskip("dask_jobqueue")

    code, _, err = cli("sweep", TOY, "--grid", "x=1", "--cluster", "pbs", "--out", out)
    # no batch system here: refused before anything starts (else the class refuses: no cores)
    _one_line_error(code, err, "--cluster pbs", "qsub" if "qsub" in err else "cores")
    # with a submit command on the PATH, the cluster class's own check speaks
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text("#!/bin/sh\nexit 1\n")
    (bindir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    code, _, err = cli("sweep", TOY, "--grid", "x=1", "--cluster", "slurm", "--out", out)
    _one_line_error(code, err, "--cluster slurm", "cores")
    assert not out.exists()
