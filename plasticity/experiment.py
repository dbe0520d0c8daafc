"""Experiments: a validated config with presets, a ``run`` function, a summary, a figure.

An experiment file (``experiments/NAME.py``) defines ``EXPERIMENT = Experiment(...)``.
:func:`execute` is the one code path that runs it, from the CLI, from Python or from a
worker: config layering, the run file, statuses, and the seed.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from plasticity.errors import Diverged, InvalidParameterError, PlasticityError, RunFileError
from plasticity.validation import Hyperparameters, format_validation_error

__all__ = ["Config", "Experiment", "RunContext", "Interrupted", "execute", "default_out"]


class Config(Hyperparameters):
    """Base class of experiment configs: declare fields with ``Field(default, ...)``."""


class Interrupted(BaseException):  # noqa: N818 - mirrors KeyboardInterrupt
    """Raised on SIGTERM so that a terminated run is marked ``interrupted``."""


@dataclass(frozen=True)
class Experiment:
    """A named, runnable study.

    Parameters
    ----------
    name : str
        Used on the command line and in the run file (``oja-pca``).
    description : str
        One line for ``plasticity list``.
    config : type[Config]
        The config model; its field defaults are the base every preset starts from.
    run : callable
        ``run(cfg, ctx)``: does the work, records through ``ctx.recorder`` and sets the
        summary with ``ctx.summary(...)``.
    presets : dict
        ``{"quick": {...}, "full": {...}}`` overrides of the defaults.
    plot : callable, optional
        ``plot(run_file) -> matplotlib.figure.Figure``.
    default_preset : str
        Used when neither ``--quick`` nor ``--full`` is given.
    """

    name: str
    description: str
    config: type
    run: Callable[[Any, RunContext], None]
    presets: dict = field(default_factory=dict)
    plot: Callable | None = None
    default_preset: str = "quick"

    def build_config(self, *, preset=None, values=None, overrides=None):
        """Layer defaults <- preset <- ``values`` (config file) <- ``overrides`` (--set)
        and validate the result once.

        Raises
        ------
        InvalidParameterError
            Naming the key: unknown (with the closest known one), wrong type, or out of
            range.
        """
        preset = preset or self.default_preset
        if preset not in self.presets and preset != "default":
            raise InvalidParameterError(f"Experiment {self.name} has no preset '{preset}' "
                                        f"(it has: {', '.join(self.presets)}).")
        merged = dict(self.presets.get(preset, {}))
        merged.update(values or {})
        merged.update(overrides or {})
        try:
            return self.config.model_validate(merged)
        except ValidationError as exc:
            raise InvalidParameterError(
                format_validation_error(exc, self.name, self.config.model_fields)) from None


@dataclass
class RunContext:
    """What an experiment's ``run`` gets besides its config.

    Attributes
    ----------
    seed : int
    rng : numpy.random.Generator
        Seeded from ``seed``; derive further streams with :meth:`child_rng`.
    recorder : plasticity.io.Recorder
    quiet : bool
        No progress bars.
    """

    seed: int
    rng: np.random.Generator
    recorder: Any
    quiet: bool = False
    _children: int = 0

    def child_rng(self):
        """An independent generator (numpy SeedSequence spawning), reproducible by seed."""
        self._children += 1
        return np.random.default_rng([self.seed, self._children])

    def progress(self, total, desc):
        """A progress bar on stderr (tqdm); silent when quiet or not a terminal."""
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=True if self.quiet else None,
                    leave=False, mininterval=0.5, unit="upd")

    def summary(self, **values):
        """Record the experiment's scalar results."""
        self.recorder.summary(**values)


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
    import os

    if not os.access(parent, os.W_OK):
        raise RunFileError(f"--out {out}: directory {parent} is not writable.")
    return out


@contextlib.contextmanager
def _sigterm_as_interrupt():
    def handler(signum, frame):
        raise Interrupted()

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. a worker thread): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def execute(exp: Experiment, cfg, *, seed=0, out=None, preset=None, quiet=False):
    """Run ``exp`` with a validated ``cfg`` and write one run file.

    Returns
    -------
    (Path, str)
        The run file and its final status (``complete`` or ``diverged``).

    Raises
    ------
    PlasticityError
        For bad input discovered during the run (a broken rule); the file is marked
        ``failed`` first. KeyboardInterrupt and SIGTERM mark it ``interrupted``; any other
        exception marks it ``failed`` and propagates.
    """
    from plasticity.io.recorder import Recorder

    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"The seed must be a non-negative integer. Got {seed!r}.")
    path = check_out(Path(out), create_parent=False) if out is not None else \
        check_out(default_out(exp.name, seed), create_parent=True)
    rec = Recorder(path, experiment=exp.name, seed=seed, config=cfg.get_params(),
                   preset=preset or exp.default_preset)
    ctx = RunContext(seed=int(seed), rng=np.random.default_rng(int(seed)), recorder=rec,
                     quiet=quiet)
    status = "failed"
    message = None
    try:
        with _sigterm_as_interrupt():
            try:
                exp.run(cfg, ctx)
                status = "complete"
            except Diverged as div:
                status, message = "diverged", str(div)
                rec.summary(diverged_at_step=div.step)
            except (KeyboardInterrupt, Interrupted):
                status, message = "interrupted", "interrupted by signal"
                raise
            except PlasticityError as exc:
                message = str(exc)
                raise
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                raise
    finally:
        rec.close(status, message)
    return path, status
