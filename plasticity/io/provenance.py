"""Where a run came from: code version, interpreter, packages, host."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("plasticity", "numpy", "scipy", "numba", "llvmlite", "h5py", "matplotlib",
            "brian2", "pydantic", "click", "scikit-learn")


def package_versions(names=PACKAGES) -> dict:
    """Installed version of each package (``"not installed"`` when absent), read from
    the package metadata so that nothing heavy is imported."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state(path: Path | None = None) -> dict:
    """The commit of the checkout that holds the plasticity source, where there is one.

    Returns ``{"git_commit": sha or "unknown", "git_dirty": bool or None}``.
    """
    where = path or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return {"git_commit": "unknown", "git_dirty": None}
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return {"git_commit": sha.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": None}


def provenance() -> dict:
    """Everything needed to say which code, on which machine, made a run."""
    info = {
        "python_version": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "command": " ".join(sys.argv),
        "versions": package_versions(),
        # compiled engines' threads (set by `plasticity run --threads`; results do not
        # depend on it, speed does)
        "threads": os.environ.get("PLASTICITY_THREADS", "default"),
    }
    info.update(git_state())
    return info
