"""Where run files go, and the checks before one is created (never overwrite)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from plasticity.errors import RunFileError

__all__ = ["check_out", "default_out"]


def default_out(name, seed, root="data/runs") -> Path:
    """``data/runs/NAME/<timestamp>-seed<N>.h5`` (relative to the working directory)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return Path(root) / name / f"{stamp}-seed{seed}.h5"


def check_out(out: Path, *, create_parent: bool) -> Path:
    """Refuse a path whose directory is missing or unwritable, or that already exists."""
    out = Path(out)
    if out.suffix not in (".h5", ".hdf5"):
        raise RunFileError(f"--out {out}: a run file must end in .h5 or .hdf5.")
    if out.exists():
        raise RunFileError(f"--out {out} already exists; refusing to overwrite it.")
    parent = out.parent
    if create_parent:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFileError(f"cannot create directory {parent}: {exc.strerror}.") from None
    if not parent.is_dir():
        raise RunFileError(f"--out {out}: directory {parent} does not exist.")
    if not os.access(parent, os.W_OK):
        raise RunFileError(f"--out {out}: directory {parent} is not writable.")
    return out
