"""The command line under ``mpirun`` (plasticity.io.mpi; the run itself on 2 ranks is in
tests/test_nest_mpi.py, which needs an MPI build of NEST): the rank comes from the
launcher's environment, and a world the process cannot join is refused in one line."""

import os
import subprocess
import sys

import pytest

from plasticity.io import mpi


@pytest.mark.parametrize("env,expected", [
    ({}, (0, 1)),
    ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4"}, (1, 4)),
    ({"PMI_RANK": "0", "PMI_SIZE": "2"}, (0, 2)),
    ({"MV2_COMM_WORLD_RANK": "3", "MV2_COMM_WORLD_SIZE": "8"}, (3, 8)),
    ({"PMI_RANK": "x", "PMI_SIZE": "2"}, (0, 1)),  # not a launcher's value
])
def test_world_reads_the_launchers_environment(monkeypatch, env, expected):
    for rank, size in mpi._LAUNCHERS:
        monkeypatch.delenv(rank, raising=False)
        monkeypatch.delenv(size, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert mpi.world() == expected


def test_a_world_without_mpi4py_is_refused_before_any_file(tmp_path, monkeypatch):
    """Two ranks named by the environment, but no mpi4py (or one that sees another
    world): one line, exit status 2, no run file; rank 1 says nothing."""
    import importlib.util

    if importlib.util.find_spec("mpi4py") is not None:
        pytest.skip("mpi4py is installed: this process would join a world of one")
    out = tmp_path / "r.h5"
    for rank, said in (("0", True), ("1", False)):
        env = {"OMPI_COMM_WORLD_RANK": rank, "OMPI_COMM_WORLD_SIZE": "2"}
        proc = subprocess.run(
            [sys.executable, "-m", "plasticity", "run", "oja-pca", "--quick", "--out",
             str(out)], capture_output=True, text=True, timeout=300,
            env={**os.environ, **env})
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert (lines == [] if not said else
                (len(lines) == 1 and "needs mpi4py" in lines[0])), proc.stderr
        assert not out.exists()


def test_resume_is_refused_under_mpi(tmp_path):
    env = {"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "plasticity", "run", "oja-pca", "--resume",
         str(tmp_path / "x.h5")], capture_output=True, text=True, timeout=300,
        env={**os.environ, **env})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "plasticity: error: --resume under MPI (2 ranks) is not supported; resume without "
        "mpirun, or start the run again."]
