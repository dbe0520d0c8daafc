"""Where a run came from: code version, interpreter, packages, host.

Cost: a run file is opened with this provenance, so it is part of every run's fixed cost.
What cannot change while a process runs (the interpreter, the platform, the host, the
versions of the packages it has loaded) is read once per process; the git state of the
working tree can change at any time (a file edited between two runs of one notebook), so
it is asked of git at every call, in one ``git status`` rather than two commands, which
:class:`GitQuery` runs in the background while the run starts.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from plasticity.io import mpi

PACKAGES = ("plasticity", "numpy", "scipy", "numba", "llvmlite", "h5py", "matplotlib",
            "brian2", "pydantic", "click", "scikit-learn")


def package_versions(names=PACKAGES) -> dict:
    """Installed version of each package (``"not installed"`` when absent), read from
    the package metadata so that nothing heavy is imported.

    Read once per process and tuple of names (parsing the metadata of eleven packages
    costs about 8 ms, a tenth of a short run); a fresh dict is returned at every call.
    A package upgraded while the process runs is not seen: the process keeps running
    the modules it loaded, so the version it first read is the one that describes them
    (at least for those loaded before the first run file was opened).
    """
    return dict(_package_versions(tuple(names)))


@functools.cache
def _package_versions(names) -> dict:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


_UNKNOWN = {"git_commit": "unknown", "git_dirty": None}


class GitQuery:
    """:func:`git_state` asked of git in the background: ``git status`` starts now (in
    its own process, about 4 ms that need not hold the caller up) and :meth:`result`
    waits for its answer.

    Parameters
    ----------
    path : Path, optional
        A directory inside the checkout (default: the one holding plasticity's source).
    """

    def __init__(self, path: Path | None = None):
        self._where = path or Path(__file__).resolve().parents[2]
        self._answer = None
        try:
            # One process for both: the "# branch.oid" header is `git rev-parse HEAD` and
            # the other lines are those of `git status --porcelain` (tracked files that
            # differ from HEAD); a git too old for --porcelain=v2 fails and takes the two
            # commands.
            self._proc = subprocess.Popen(
                ["git", "-C", str(self._where), "status", "--porcelain=v2", "--branch",
                 "--untracked-files=no"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True)
        except OSError:  # no git
            self._proc, self._answer = None, dict(_UNKNOWN)

    def result(self) -> dict:
        """``{"git_commit": sha or "unknown", "git_dirty": bool or None}`` (waits up to
        5 s for git; read once, then kept)."""
        if self._answer is None:
            self._answer = self._read()
        return dict(self._answer)

    def _read(self) -> dict:
        try:
            out, _ = self._proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            return dict(_UNKNOWN)
        try:
            if self._proc.returncode == 0:
                lines = out.splitlines()
                oid = [ln.split()[2] for ln in lines
                       if ln.startswith("# branch.oid ") and len(ln.split()) == 3]
                if oid and re.fullmatch(r"[0-9a-f]{40,64}", oid[0]):
                    return {"git_commit": oid[0],
                            "git_dirty": any(ln.strip() and not ln.startswith("#")
                                             for ln in lines)}
                if oid:  # "(initial)": a repository without a commit
                    return dict(_UNKNOWN)
            return _git_state_two_commands(self._where)
        except (OSError, subprocess.SubprocessError):
            return dict(_UNKNOWN)


def git_state(path: Path | None = None) -> dict:
    """The commit of the checkout that holds the plasticity source, where there is one.

    Returns ``{"git_commit": sha or "unknown", "git_dirty": bool or None}``.
    """
    return GitQuery(path).result()


def _git_state_two_commands(where) -> dict:
    sha = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"],
                         capture_output=True, text=True, timeout=5)
    if sha.returncode != 0:
        return dict(_UNKNOWN)
    dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain",
                            "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5)
    return {"git_commit": sha.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}


def provenance(git: bool = True) -> dict:
    """Everything needed to say which code, on which machine, made a run (without the
    git state with ``git=False``: a caller that asks for it with :class:`GitQuery`)."""
    info = {
        **_fixed(),
        "command": " ".join(sys.argv),
        "versions": package_versions(),
        # compiled engines' threads (set by `plasticity run --threads`; results do not
        # depend on it, speed does)
        "threads": os.environ.get("PLASTICITY_THREADS", "default"),
        # processes of an mpirun (NEST's results depend on ranks x threads)
        "mpi_ranks": mpi.world()[1],
    }
    if git:
        info.update(git_state())
    return info


@functools.cache
def _fixed() -> dict:
    """What a process cannot change about itself: interpreter, platform, host name.

    (The host name could be changed by an administrator while a process runs; the run
    is then still the process that started on the old name.)
    """
    return {"python_version": sys.version.split()[0], "platform": platform.platform(),
            "host": platform.node()}
