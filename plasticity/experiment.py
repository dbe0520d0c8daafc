"""Experiments: a validated config with presets, a ``run`` function, a summary, a figure.

An experiment file (``experiments/NAME.py``) defines ``EXPERIMENT = Experiment(...)``.
:func:`execute` is the one code path that runs it, from the CLI, from Python or from a
worker: config layering, the run file, statuses, and the seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from plasticity.errors import Diverged, InvalidParameterError, PlasticityError, RunFileError
from plasticity.io.checkpoint import CHECKPOINTER, current_checkpointer
from plasticity.io.interrupts import Interrupted, raise_if_terminated, sigterm_as_interrupt
from plasticity.io.paths import check_out, default_out
from plasticity.validation import Config, format_validation_error

# Config, Interrupted, default_out, check_out, current_checkpointer and
# raise_if_terminated live in lower layers (validation, io) so that the loops and the
# library can use them without importing this module; they are re-exported here.
__all__ = ["AlignmentMeta", "ClaimMeta", "Config", "Experiment", "RunContext", "Interrupted",
           "execute", "default_out", "check_out", "current_checkpointer", "parse_sets",
           "raise_if_terminated", "resume_problem", "run_sources"]

@dataclass(frozen=True)
class AlignmentMeta:
    """What an experiment that measures alignment declares about its numbers, so that
    ``alignment-summary`` reads them without knowing the experiment by name.

    Parameters
    ----------
    substrate : str
        ``"rate"``, ``"spiking"``, ``"bandit"``, ``"recurrent"`` (rate RNNs) or
        ``"recurrent_spiking"``: the row group in the summary.
    loss : str
        The loss every rule's update is judged against (its population gradient is the
        reference), in words, e.g. ``"teacher-student squared error"``.
    problem : str
        The name of the :class:`~plasticity.problems.Problem` (or oracle) measured.
    reference : str
        ``"population"`` (exact), ``"population-estimated"`` (with standard errors), or
        for legacy sources ``"batch"`` (the same minibatch; shown but marked).
    rule : str, optional
        For a run that holds one rule with unprefixed keys (``cos_mean``), its name;
        otherwise keys are ``<rule>.cos_mean`` and the rules are read from the summary.
    baselines : tuple of str
        Rules that are baselines (a random direction, accept-if-better search).
    prefix : str
        A prefix of every alignment key in the summary (e.g. ``"align_"`` for old runs).
    """

    substrate: str
    loss: str
    problem: str
    reference: str = "population"
    rule: str | None = None
    baselines: tuple = ()
    prefix: str = ""


@dataclass(frozen=True)
class ClaimMeta:
    """What an experiment that tests a claim of the debate declares, so that the
    ``claims`` atlas reads its run without knowing the experiment by name.

    Parameters
    ----------
    number : int
        The claim's place on the atlas page (issue 19's numbering, 1-10; experiments that
        joined the page later take 11 and up).
    claim : str
        The claim as its proponents put it, in quotation-free plain words, e.g.
        ``"Simulated annealing's updates also have positive inner product with the
        gradient."``
    headline : str
        The summary key of the one number that answers the claim (e.g.
        ``"annealing.cos_mean"``).
    label : str
        What the headline number is, short and with units, e.g. ``"cos(accepted SA step,
        -grad)"``.
    low, high : str, optional
        Summary keys of the headline's 95% interval (over seeds where the run has several).
    verdict : str or callable
        The summary key holding the plain-words verdict (default ``"verdict"``), or, for an
        experiment that predates the atlas, a function ``verdict(summary) -> str`` that
        words one from its summary. Its first sentence is the verdict in brief
        ("Supported: ...", "Not supported: ...", "Partly: ...", "Unresolved: ..."); the
        atlas page shows that sentence.
    null : float or str, optional
        What the headline is read against (drawn as a dashed line): a number (0 for a
        cosine) or the summary key of a theory's value.
    """

    number: int
    claim: str
    headline: str
    label: str
    low: str | None = None
    high: str | None = None
    verdict: str | Callable[[dict], str] = "verdict"
    null: float | str | None = None

    def verdict_of(self, summary) -> str:
        """The verdict of a run whose summary is ``summary`` (a mapping of summary keys)."""
        if callable(self.verdict):
            return str(self.verdict(summary))
        return str(summary[self.verdict])


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
    resumable : bool or callable
        Whether a stopped run can be resumed from its checkpoint: the experiment's loops
        are :func:`~plasticity.engine.train` or
        :func:`~plasticity.spiking.runner.simulate_into` and every other state they
        change is tracked with ``ctx.checkpointer.track``. A callable gets the config and
        returns None when it can, or the reason it cannot (e.g. a backend).
    alignment : AlignmentMeta, optional
        Declared by experiments whose summary holds alignment numbers under the key
        scheme of docs/statistics.md; ``alignment-summary`` collects every such one.
    claim : ClaimMeta, optional
        Declared by experiments that test a claim of the debate; the ``claims`` atlas
        collects every such one.
    memory : callable, optional
        ``memory(cfg) -> MemoryEstimate`` (:mod:`plasticity.io.memory`): the dominant
        arrays the config needs. :func:`execute` refuses a config whose estimate exceeds
        the memory available before the run file is created. Declared by experiments
        whose arrays grow with their config (a product of sizes, a size squared, a
        long recording); None means nothing the config can make large.
    check : callable, optional
        ``check(cfg) -> None``: refuses, with an
        :class:`~plasticity.errors.InvalidParameterError` of one line, a config whose
        fields each validate but which cannot run (e.g. a network the chosen spiking
        backend does not simulate, or a backend that is not installed). :func:`execute`
        calls it after the memory check, before the run file is created or a resumed one
        reopened. It must not allocate what the run will (no synapses, no simulator):
        it looks at the description the run would build. None: nothing to check beyond
        the config's own validation.
    """

    name: str
    description: str
    config: type
    run: Callable[[Any, RunContext], None]
    presets: dict = field(default_factory=dict)
    plot: Callable | None = None
    default_preset: str = "quick"
    resumable: bool | Callable = False
    alignment: AlignmentMeta | None = None
    claim: ClaimMeta | None = None
    memory: Callable[[Any], Any] | None = None
    check: Callable[[Any], None] | None = None

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
    checkpointer : plasticity.io.checkpoint.Checkpointer or None
        Saves the loops' state; ``ctx.checkpointer.track(...)`` adds the experiment's own.
    """

    seed: int
    rng: np.random.Generator
    recorder: Any
    quiet: bool = False
    checkpointer: Any = None
    _children: int = 0
    # every generator handed out, in order: a checkpoint saves their states
    _rngs: list = field(default_factory=list)

    def __post_init__(self):
        self._rngs.append(self.rng)

    def child_rng(self):
        """An independent generator (numpy SeedSequence spawning), reproducible by seed."""
        self._children += 1
        gen = np.random.default_rng([self.seed, self._children])
        self._rngs.append(gen)
        return gen

    def progress(self, total, desc):
        """A progress bar on stderr (tqdm); silent when quiet or not a terminal."""
        # the plain text bar: tqdm.auto would want ipywidgets inside notebooks
        from tqdm.std import tqdm

        return tqdm(total=total, desc=desc, disable=True if self.quiet else None,
                    leave=False, mininterval=0.5, unit="upd")

    def summary(self, **values):
        """Record the experiment's scalar results."""
        self.recorder.summary(**values)


def parse_sets(items) -> dict:
    """``["key=value", ...]`` (the ``--set`` arguments) as a dict of parsed values.

    Values are read as YAML scalars or lists (``0.1`` is a float, ``true`` a bool,
    ``[8, 32]`` a list); text that is not valid YAML stays a string.

    Raises
    ------
    InvalidParameterError
        For an item without ``=`` or with an empty key.
    """
    import yaml

    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(f"--set {item!r}: expected key=value.")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out[key.strip()] = value
    return out


def resume_problem(exp: Experiment, cfg):
    """None if runs of ``exp`` with ``cfg`` can resume, else why not (one sentence)."""
    ok = exp.resumable(cfg) if callable(exp.resumable) else \
        (None if exp.resumable else "it does not save checkpoints")
    if ok is None or ok is True:
        return None
    return f"experiment {exp.name} cannot resume a run: {ok}."


def _open_for_resume(exp, cfg, seed, path, checkpoint_s):
    """Check that ``path`` is an unfinished run of ``exp`` with ``cfg`` and ``seed`` and a
    checkpoint, and reopen it (nothing is written before every check has passed)."""
    import h5py

    from plasticity.io.checkpoint import has_checkpoint
    from plasticity.io.recorder import Recorder
    from plasticity.io.runfile import open_run

    run = open_run(path)
    if run.experiment != exp.name:
        raise RunFileError(f"--resume {path}: a run of {run.experiment}, not of {exp.name}.")
    if run.status == "complete":
        raise RunFileError(f"--resume {path}: the run is already complete.")
    if run.status not in ("running", "interrupted", "failed"):
        raise RunFileError(f"--resume {path}: the run ended {run.status}; nothing to resume.")
    problem = resume_problem(exp, cfg)
    if problem:
        raise InvalidParameterError(problem)
    if run.seed != int(seed):
        raise InvalidParameterError(f"--resume {path}: the run's seed is {run.seed}, "
                                    f"not {seed}.")
    diff = sorted(k for k in set(run.config) | set(cfg.get_params())
                  if run.config.get(k) != _plain_json(cfg.get_params().get(k)))
    if diff:
        k = diff[0]
        raise InvalidParameterError(f"--resume {path}: {k}={cfg.get_params().get(k)!r} "
                                    f"differs from the run's {k}={run.config.get(k)!r}.")
    with h5py.File(path, "r", locking=False) as h5:
        if not has_checkpoint(h5):
            raise RunFileError(f"--resume {path}: the run stopped before its first "
                               "checkpoint; nothing to resume.")
    return Recorder.reopen(path, checkpoint_s=checkpoint_s)


def _plain_json(value):
    import json

    from plasticity.io.recorder import jsonable

    return json.loads(json.dumps(value, default=jsonable))


def execute(exp: Experiment, cfg, *, seed=0, out=None, preset=None, quiet=False,
            resume=None, checkpoint_s=None):
    """Run ``exp`` with a validated ``cfg`` and write one run file.

    With ``resume`` (the path of an unfinished run file of ``exp`` with the same ``cfg``
    and ``seed``, holding a checkpoint) the run continues in that file instead.
    ``checkpoint_s`` is the wall time between checkpoints (default 5 s).

    Returns
    -------
    (Path, str)
        The run file and its final status (``complete`` or ``diverged``).

    Raises
    ------
    TooBigForMachine
        Before anything is written, when ``exp.memory(cfg)`` exceeds the memory
        available (:func:`plasticity.io.memory.check_memory`).
    InvalidParameterError
        Before anything is written, when ``exp.check(cfg)`` refuses the config.
    PlasticityError
        For bad input discovered during the run (a broken rule); the file is marked
        ``failed`` first. KeyboardInterrupt and SIGTERM mark it ``interrupted``; any other
        exception marks it ``failed`` and propagates.
    """
    from plasticity.io.checkpoint import Checkpointer
    from plasticity.io.recorder import Recorder

    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"The seed must be a non-negative integer. Got {seed!r}.")
    checkpoint_s = 5.0 if checkpoint_s is None else float(checkpoint_s)
    if not checkpoint_s >= 0:
        raise InvalidParameterError(f"checkpoint_s must be >= 0. Got {checkpoint_s!r}.")
    if exp.memory is not None:
        # before the run file exists: a config that cannot fit leaves nothing behind
        from plasticity.io.memory import check_memory

        check_memory(exp.memory(cfg), exp.name)
    if exp.check is not None:
        # likewise: a config the run would refuse (a backend's refusal) leaves no file
        exp.check(cfg)
    saved = None
    if resume is not None:
        if out is not None:
            raise InvalidParameterError("--out cannot be combined with --resume (the run "
                                        "continues in the resumed file).")
        rec, info, state = _open_for_resume(exp, cfg, seed, Path(resume), checkpoint_s)
        path, saved = Path(resume), (info, state)
    else:
        path = check_out(Path(out), create_parent=False) if out is not None else \
            check_out(default_out(exp.name, seed), create_parent=True)
        rec = Recorder(path, experiment=exp.name, seed=seed, config=cfg.get_params(),
                       preset=preset or exp.default_preset, checkpoint_s=checkpoint_s)
    ctx = RunContext(seed=int(seed), rng=np.random.default_rng(int(seed)), recorder=rec,
                     quiet=quiet)
    ctx.checkpointer = Checkpointer(rec, enabled=resume_problem(exp, cfg) is None,
                                    resume=saved, rngs=ctx._rngs)
    token = CHECKPOINTER.set(ctx.checkpointer)
    status = "failed"
    message = None
    try:
        with sigterm_as_interrupt():
            try:
                exp.run(cfg, ctx)
                ctx.checkpointer.finish()
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
        CHECKPOINTER.reset(token)
        rec.close(status, message)
    return path, status


def run_sources(names, ctx, *, sets=None, preset="quick", who="this run"):
    """Run the experiments ``names`` for a collecting run (``alignment-summary``,
    ``claims``), each into ``<stem>-sources/<name>.h5`` beside the collecting run's file.

    Parameters
    ----------
    names : sequence of str
        Experiment names, run in this order.
    ctx : RunContext
        The collecting run's context: its seed, its run file's folder, ``quiet``.
    sets : dict, optional
        ``{experiment: {key: value}}``, per-source overrides of ``preset``.
    preset : str
        The sources' preset.
    who : str
        The collecting experiment's name, for the refusal's message.

    Returns
    -------
    list of Path
        The sources' run files, in the order of ``names``.

    Raises
    ------
    InvalidParameterError
        When a source does not complete (the collecting run cannot claim its numbers).
    """
    from plasticity.registry import load

    rec_path = Path(ctx.recorder.path)
    folder = rec_path.parent / f"{rec_path.stem}-sources"
    folder.mkdir(exist_ok=True)
    paths = []
    for name in names:
        exp = load(name)
        sub = exp.build_config(preset=preset, overrides=(sets or {}).get(name, {}))
        path, status = execute(exp, sub, seed=ctx.seed, out=folder / f"{name}.h5",
                               preset=preset, quiet=ctx.quiet)
        if status != "complete":
            raise InvalidParameterError(f"{who}: the {name} run ended {status} ({path}).")
        paths.append(path)
    return paths
