"""The nest backend under MPI (docs/nest.md, "Beyond one machine: MPI, step by step").

The same two plastic networks (pair STDP, 300 -> 24 all-to-all; a dopamine network with
weights set from the full array before the run) run on 2 MPI ranks of 1 thread and on
1 process of 2 threads (tests/data/nest_mpi_run.py). NEST's results depend only on the
number of virtual processes (ranks x threads): each neuron lives on one of them and
draws from its random stream. So every array the backend gathers from the ranks
(``kernel.Comm``: spikes, weights in (pre, post) order with their pending potentiation,
eligibility) and the modulator it reconstructs must be identical, bit for bit, to the
single process's; a rank's local connections or spikes dropped, duplicated or misplaced
would show.

Skipped unless NEST was built with MPI and ``mpirun`` and mpi4py are there: the PyPI
wheel has no MPI, so CI skips it (a plain skip: conftest.py fails a "could not import"
skip under CI, which is for the peers the test extra installs). Run here against NEST
3.10.0 built from its PyPI sdist with ``-Dwith-mpi=ON`` (Debian's OpenMPI 4.1.4;
docs/nest.md).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parent / "data" / "nest_mpi_run.py"


def _nest_has_mpi() -> bool:
    code = ("import os; os.environ['PYNEST_QUIET'] = '1'; import nest; "
            "print(bool(nest.build_info.get('have_mpi')))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip().endswith("True")


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mpirun():
    # not importorskip: under CI a missing import fails (conftest.py), but an MPI build of
    # NEST is no pip install away, so its absence is a reason to skip everywhere
    exe = shutil.which("mpirun")
    if importlib.util.find_spec("mpi4py") is None or exe is None or not _nest_has_mpi():
        pytest.skip("needs NEST built with MPI, mpirun and mpi4py (the PyPI wheel of NEST "
                    "has no MPI)")
    return exe


def test_two_ranks_equal_one_process_of_two_threads(mpirun, tmp_path):
    env = {**os.environ, "OMPI_MCA_rmaps_base_oversubscribe": "1",
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    mpi, single = tmp_path / "mpi.npz", tmp_path / "single.npz"
    done = subprocess.run([mpirun, "-np", "2", sys.executable, str(SCRIPT), "1", str(mpi)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run([sys.executable, str(SCRIPT), "2", str(single)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = np.load(mpi), np.load(single)
    assert int(a["ranks"]) == 2 and int(b["ranks"]) == 1
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        if key == "ranks":
            continue
        assert a[key].shape == b[key].shape, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # the runs did something: spikes in every part, weights moved by STDP
    for tag in ("pair", "da"):
        for part in (0, 1):
            assert a[f"{tag}_{part}_out_t"].size > 10
    assert np.abs(a["da_c"]).max() > 0


def _env():
    return {**os.environ, "OMPI_MCA_rmaps_base_oversubscribe": "1",
            "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def test_command_line_under_mpirun(mpirun, tmp_path):
    """``mpirun -np 2 plasticity run ...`` (plasticity.io.mpi): one run file, written by
    rank 0, one report, equal to a single process of 2 threads (the same virtual
    processes) bit for bit in its summary and spike record; the ranks' own files are
    gone. An --out that exists is refused once, on every rank, without hanging."""
    from plasticity.io.runfile import open_run

    cmd = [sys.executable, "-m", "plasticity", "run", "song2000", "--quick", "--seed", "3",
           "--quiet", "--set", "backend=nest"]
    mpi_out, single_out = tmp_path / "mpi.h5", tmp_path / "single.h5"
    env = {**_env(), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    done = subprocess.run([mpirun, "-np", "2", *cmd, "--set", "nest_threads=1", "--out",
                           str(mpi_out)], capture_output=True, text=True, timeout=900,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1, done.stdout
    done = subprocess.run([*cmd, "--set", "nest_threads=2", "--out", str(single_out)],
                          capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mpi.h5", "single.h5", "tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []  # the other rank's file was removed
    a, b = open_run(mpi_out), open_run(single_out)
    assert a.status == b.status == "complete"
    assert a.provenance["mpi_ranks"] == 2 and b.provenance["mpi_ranks"] == 1
    # the same virtual processes: the same numbers
    assert a.summary.keys() == b.summary.keys()
    for key in a.summary:
        assert np.array_equal(a.summary[key], b.summary[key]), key
    assert a.summary["rate_first_10s"] > 0 and a.summary["backend"] == "nest"
    # an existing --out: one refusal (rank 0's), exit status 2, no hang, file untouched
    before = mpi_out.stat().st_mtime_ns
    done = subprocess.run([mpirun, "-np", "2", *cmd, "--out", str(mpi_out)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("already exists") == 1, done.stderr
    assert mpi_out.stat().st_mtime_ns == before
