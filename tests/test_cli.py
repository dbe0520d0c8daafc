"""The command line: list, run, info, plot, and every bad input of the foundation issue:
one line on stderr naming the problem, exit status 2, no traceback, no complete run file."""

import json
import os
import time

import h5py
import pytest

SMALL = ["--set", "n_samples=2000", "--set", "n_inputs=5", "--quiet"]


def _one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("plasticity: error: ")
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def test_help_lists_commands(cli_proc):
    # its speed is measured in benchmarks/ (bench_hebbian.py), never asserted in a test
    res = cli_proc("--help")
    assert res.returncode == 0
    for cmd in ("list", "run", "info", "plot"):
        assert cmd in res.stdout


def test_list(cli):
    code, out, _ = cli("list")
    assert code == 0
    names = [ln.split()[0] for ln in out.splitlines()]
    for exp in ("oja-pca", "gha-subspace", "bcm-selectivity", "hebb-instability"):
        assert exp in names


def test_run_info_plot(cli, tmp_path):
    out_file = tmp_path / "oja.h5"
    code, out, err = cli("run", "oja-pca", *SMALL, "--seed", "3", "--out", out_file)
    assert code == 0, err
    assert f"wrote {out_file}" in out
    code, out, _ = cli("info", out_file, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["experiment"] == "oja-pca" and doc["status"] == "complete"
    assert doc["seed"] == 3 and doc["config"]["n_inputs"] == 5
    assert {"cos_to_pc1", "weight_norm"} <= set(doc["summary"])
    assert doc["provenance"]["versions"]["numpy"]
    code, out, _ = cli("info", out_file)
    assert code == 0 and "cos_to_pc1" in out
    code, out, err = cli("plot", out_file, "--format", "pdf,png", "--out", tmp_path)
    assert code == 0, err
    pdf = tmp_path / "oja.pdf"
    assert pdf.exists() and (tmp_path / "oja.png").exists()
    # TrueType (Type 42) fonts are embedded, never Type 3
    data = pdf.read_bytes()
    assert b"/FontFile2" in data and b"/Type3" not in data
    code, _, err = cli("plot", out_file, "--format", "png", "--out", tmp_path)
    _one_line_error(code, err, "already exists", "--overwrite")
    # a directory that does not exist yet is made (as `figure --out` does)
    code, _, err = cli("plot", out_file, "--format", "png", "--out", tmp_path / "a" / "b")
    assert code == 0, err
    assert (tmp_path / "a" / "b" / "oja.png").exists()
    # a file where the directory should be is refused in one line
    (tmp_path / "f").write_text("a user's file")
    code, _, err = cli("plot", out_file, "--format", "png", "--out", tmp_path / "f")
    _one_line_error(code, err, "is a file")


def test_default_output_location(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("run", "oja-pca", *SMALL, "--seed", "4")
    assert code == 0, err
    files = list((tmp_path / "data" / "runs" / "oja-pca").glob("*-seed4.h5"))
    assert len(files) == 1


def test_config_file_and_set_precedence(cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n_inputs: 4\neta: 0.01\nn_samples: 1000\n")
    out_file = tmp_path / "r.h5"
    code, _, err = cli("run", "oja-pca", "--config", cfg, "--set", "eta=0.02", "--quiet",
                       "--out", out_file)
    assert code == 0, err
    with h5py.File(out_file) as f:
        c = json.loads(f.attrs["config"])
    assert c["n_inputs"] == 4 and c["eta"] == 0.02 and c["n_samples"] == 1000


def _no_complete_run_files(root):
    for p in root.rglob("*.h5"):
        if not h5py.is_hdf5(p):
            continue
        with h5py.File(p) as f:
            assert f.attrs.get("status") != "complete", p


@pytest.mark.parametrize("args, needles", [
    (["run", "oja-pcaa"], ["unknown experiment 'oja-pcaa'", "did you mean 'oja-pca'"]),
    (["run", "oja-pca", "--set", "etta=0.1"], ["Unknown parameter 'etta'",
                                              "did you mean 'eta'"]),
    (["run", "oja-pca", "--set", "n_inputs=abc"], ["'n_inputs'", "integer", "'abc'"]),
    (["run", "oja-pca", "--set", "n_inputs=2.5"], ["'n_inputs'", "integer"]),
    (["run", "oja-pca", "--set", "eta=0"], ["'eta'", "greater than 0", "Got 0"]),
    (["run", "oja-pca", "--set", "eta=-1"], ["'eta'", "greater than 0", "Got -1"]),
    (["run", "oja-pca", "--set", "n_inputs=0"], ["'n_inputs'", "greater than or equal to 1"]),
    (["run", "oja-pca", "--set", "eta"], ["expected key=value"]),
    (["run", "gha-subspace", "--set", "n_components=30"], ["n_components (30) must be <= "
                                                          "n_inputs (20)"]),
    (["run", "oja-pca", "--seed", "-1"], ["--seed"]),
    (["run", "oja-pca", "--bogus"], ["--bogus"]),
    (["frobnicate"], ["frobnicate"]),
])
def test_bad_run_input(cli, tmp_path, monkeypatch, args, needles):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*args)
    _one_line_error(code, err, *needles)
    assert not list(tmp_path.rglob("*.h5"))


def test_malformed_yaml(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("eta: [0.1\nn_inputs: 3\n")
    code, _, err = cli("run", "oja-pca", "--config", bad)
    _one_line_error(code, err, "bad.yaml", "malformed YAML", "line")
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    code, _, err = cli("run", "oja-pca", "--config", lst)
    _one_line_error(code, err, "expected a mapping")
    code, _, err = cli("run", "oja-pca", "--config", tmp_path / "missing.yaml")
    _one_line_error(code, err, "missing.yaml")
    assert not list(tmp_path.rglob("*.h5"))


def test_bad_out(cli, tmp_path):
    code, _, err = cli("run", "oja-pca", *SMALL, "--out", tmp_path / "nodir" / "r.h5")
    _one_line_error(code, err, "does not exist", "nodir")
    code, _, err = cli("run", "oja-pca", *SMALL, "--out", tmp_path / "r.txt")
    _one_line_error(code, err, ".h5")
    existing = tmp_path / "mine.h5"
    existing.write_bytes(b"a user's file")
    code, _, err = cli("run", "oja-pca", *SMALL, "--out", existing)
    _one_line_error(code, err, "already exists")
    assert existing.read_bytes() == b"a user's file"
    _no_complete_run_files(tmp_path)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_unwritable_out_dir(cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    target = ro / "r.h5" if not os.access(ro, os.W_OK) else "/proc/plasticity-test.h5"
    code, _, err = cli("run", "oja-pca", *SMALL, "--out", target)
    _one_line_error(code, err, str(target))


def test_info_on_bad_files(cli, tmp_path):
    txt = tmp_path / "notes.h5"
    txt.write_text("hello")
    code, _, err = cli("info", txt)
    _one_line_error(code, err, "not a readable HDF5 file")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    code, _, err = cli("info", other, "--json")
    _one_line_error(code, err, "not a plasticity run file")
    code, _, err = cli("info", tmp_path / "missing.h5")
    _one_line_error(code, err, "no such file")
    code, _, err = cli("plot", txt)
    _one_line_error(code, err, "not a readable HDF5 file")


def test_same_seed_same_results(cli, tmp_path):
    runs = []
    for i in range(2):
        p = tmp_path / f"r{i}.h5"
        assert cli("run", "oja-pca", *SMALL, "--seed", "11", "--out", p)[0] == 0
        with h5py.File(p) as f:
            runs.append((dict(f["summary"].attrs), f["series/training/cos_to_pc1"][()],
                         f["snapshots/W_out/value"][()]))
    # exact: the same seed on the same machine repeats the same arithmetic
    assert runs[0][0] == runs[1][0]
    assert (runs[0][1] == runs[1][1]).all() and (runs[0][2] == runs[1][2]).all()
    p = tmp_path / "other_seed.h5"
    assert cli("run", "oja-pca", *SMALL, "--seed", "12", "--out", p)[0] == 0
    with h5py.File(p) as f:
        assert not (f["snapshots/W_out/value"][()] == runs[0][2]).all()


def _start_long_run(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "long.h5"
    proc = subprocess.Popen([sys.executable, "-m", "plasticity", "run", "oja-pca", "--quiet",
                             "--set", "n_samples=1000000000", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # let it compute a while
    assert proc.poll() is None, proc.communicate()
    return proc, out


@pytest.mark.parametrize("sig, status, code", [("SIGTERM", "interrupted", 143),
                                               ("SIGINT", "interrupted", 130),
                                               ("SIGKILL", "running", -9)])
def test_killed_run_leaves_a_readable_file(tmp_path, sig, status, code):
    import signal

    from plasticity import open_run

    proc, out = _start_long_run(tmp_path)
    assert open_run(out).status == "running"  # readable while being written
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    run = open_run(out)
    assert run.status == status  # never "complete"
    assert run.experiment == "oja-pca"


# ------------------------------------------------------------------ plasticity figure --out


@pytest.fixture(scope="module")
def oja_run(tmp_path_factory):
    """A small oja-pca run file to draw figures from."""
    from plasticity.cli import main

    out = tmp_path_factory.mktemp("oja-figure") / "oja.h5"
    assert main(["run", "oja-pca", *SMALL, "--out", str(out)]) in (0, None)
    return out


def test_figure_out_creates_a_missing_directory(cli, oja_run, tmp_path):
    target = tmp_path / "new" / "nested"
    code, out, err = cli("figure", "oja-pca", "--from", oja_run, "--out", target,
                         "--format", "png")
    assert code == 0, err
    assert (target / "oja-pca.png").stat().st_size > 0
    assert f"wrote {target / 'oja-pca.png'}" in out
    # the directory now exists with the figure in it: no silent overwrite
    code, _, err = cli("figure", "oja-pca", "--from", oja_run, "--out", target,
                       "--format", "png")
    _one_line_error(code, err, "already exists", "--overwrite")
    code, _, err = cli("figure", "oja-pca", "--from", oja_run, "--out", target,
                       "--format", "png", "--overwrite")
    assert code == 0, err


def test_figure_out_refusals(cli, oja_run, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("a user's file")
    code, _, err = cli("figure", "oja-pca", "--from", oja_run, "--out", a_file)
    _one_line_error(code, err, str(a_file))
    code, _, err = cli("figure", "oja-pca", "--from", oja_run, "--out", a_file / "sub")
    _one_line_error(code, err, str(a_file), "not a directory")
    assert a_file.read_text() == "a user's file"
    # a command refused after the --out check (here: a run of another experiment)
    # leaves no directory behind
    fresh = tmp_path / "fresh"
    code, _, err = cli("figure", "bcm-selectivity", "--from", oja_run, "--out", fresh)
    _one_line_error(code, err, "a run of oja-pca")
    assert not fresh.exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_figure_out_unwritable(cli, oja_run, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        # root may write anywhere (os.access says yes, so the refusal comes from mkdir
        # when saving); /proc refuses everyone
        parent = ro if not os.access(ro, os.W_OK) else "/proc"
        target = f"{parent}/figs"
        code, _, err = cli("figure", "oja-pca", "--from", oja_run, "--out", target)
        _one_line_error(code, err, target)
        assert not os.path.exists(target)
    finally:
        ro.chmod(0o700)
