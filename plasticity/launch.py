"""Run an experiment from command-line values: the one code path behind ``plasticity run``
and ``python experiments/NAME.py``.

The CLI (the top layer) and the experiment files (which nothing above them may be
imported by) both call :func:`launch`; an experiment file's ``__main__`` block calls
:func:`run_file_main`, which parses the same options with :mod:`argparse`, so an
experiment never imports the CLI.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from plasticity.errors import InvalidParameterError, PlasticityError, RunFileError
from plasticity.experiment import Interrupted, execute, parse_sets
from plasticity.io import mpi
from plasticity.io.paths import check_out, default_out

__all__ = ["launch", "read_config_file", "report_lines", "run_file_main"]

EXIT_USAGE = 2


def read_config_file(path) -> dict:
    """The mapping of config values in the YAML file ``path`` (``--config``).

    Raises
    ------
    InvalidParameterError
        For an unreadable file, malformed YAML, or YAML that is not a mapping.
    """
    import yaml

    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise InvalidParameterError(f"--config {path}: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InvalidParameterError(f"--config {path}: malformed YAML{where}: "
                                    f"{problem}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameterError(f"--config {path}: expected a mapping of config keys to "
                                    f"values, got a {type(data).__name__}.")
    return data


def _resume_config(exp, path, preset, values, overrides, seed, seed_given):
    """The config and seed of the run file ``path``; --preset/--config/--set/--seed may
    only repeat them (execute refuses a config or seed that differs)."""
    from plasticity.io.runfile import open_run

    run = open_run(path)
    if run.experiment != exp.name:
        raise RunFileError(f"--resume {path}: a run of {run.experiment}, not of {exp.name}.")
    if preset is not None and preset != run.attrs.get("preset", preset):
        raise InvalidParameterError(f"--resume {path}: the run used the "
                                    f"{run.attrs.get('preset')} preset, not {preset}.")
    cfg = exp.build_config(preset=run.attrs.get("preset") or None,
                           values={**run.config, **values}, overrides=overrides)
    return cfg, (seed if seed_given else run.seed)


def launch(experiment, *, preset=None, sets=(), config_file=None, seed=0, out=None,
           quiet=False, resume=None, checkpoint_s=None, seed_given=True):
    """Build the config of ``experiment`` from layered values and run it.

    Parameters
    ----------
    experiment : str
        A name from ``plasticity list`` or a path to an experiment file.
    preset : {"quick", "full"} or None
        None: the experiment's default preset.
    sets : sequence of str
        ``key=value`` overrides (``--set``), applied last.
    config_file : str, optional
        A YAML file of values, applied after the preset.
    seed : int
    out : str, optional
        The run file (default ``data/runs/NAME/<time>-seed<N>.h5``).
    quiet : bool
        No progress bar.
    resume : str, optional
        Continue this unfinished run file from its checkpoint.
    checkpoint_s : float, optional
        Wall time between checkpoints of resumable experiments.
    seed_given : bool
        Whether ``seed`` was given explicitly (a resumed run otherwise takes the file's).

    Returns
    -------
    (Experiment, Path, str)
        The experiment, the run file and its final status.
    """
    from plasticity.registry import load

    exp = load(experiment)
    values = read_config_file(config_file) if config_file else {}
    rank, size = mpi.world()
    if size > 1 and resume is not None:
        raise InvalidParameterError(f"--resume under MPI ({size} ranks) is not supported; "
                                    "resume without mpirun, or start the run again.")
    if resume is not None:
        cfg, seed = _resume_config(exp, resume, preset, values, parse_sets(sets), seed,
                                   seed_given)
    else:
        cfg = exp.build_config(preset=preset, values=values, overrides=parse_sets(sets))
    preset = preset or exp.default_preset
    if size > 1:
        return _launch_rank(exp, cfg, rank, size, seed=seed, out=out, preset=preset,
                            quiet=quiet, checkpoint_s=checkpoint_s)
    path, status = execute(exp, cfg, seed=seed, out=out, preset=preset, quiet=quiet,
                           resume=resume, checkpoint_s=checkpoint_s)
    return exp, path, status


def _launch_rank(exp, cfg, rank, size, *, seed, out, preset, quiet, checkpoint_s):
    """One rank's part of a command run under ``mpirun`` (:mod:`plasticity.io.mpi`):
    rank 0 checks the run file's path and tells the others (so that a refusal stops every
    rank, not rank 0 alone while the others wait for it in NEST), then runs into it;
    the other ranks run the same into a temporary file, removed after, quietly. Returns
    what :func:`launch` returns, the path None on ranks other than 0."""
    communicator = mpi.comm()
    if communicator is None or communicator.Get_size() != size:
        raise InvalidParameterError(
            f"running under MPI ({size} ranks) needs mpi4py built for the MPI that "
            "mpirun belongs to (docs/nest.md, 'Beyond one machine')")
    refusal, path = None, None
    if rank == 0:
        try:
            path = check_out(Path(out), create_parent=False) if out is not None else \
                check_out(default_out(exp.name, seed), create_parent=True)
        except PlasticityError as exc:
            refusal = str(exc)
    refusal = communicator.bcast(refusal, root=0)
    if refusal is not None:
        raise RunFileError(refusal)
    if rank == 0:
        path, status = execute(exp, cfg, seed=seed, out=path, preset=preset, quiet=quiet,
                               checkpoint_s=checkpoint_s)
        return exp, path, status
    with tempfile.TemporaryDirectory(prefix=f"plasticity-rank{rank}-") as tmp:
        _, status = execute(exp, cfg, seed=seed, out=Path(tmp) / "run.h5", preset=preset,
                            quiet=True, checkpoint_s=checkpoint_s)
    return exp, None, status


#: Strings longer than this are cut in the one-line summary (verdicts are shown whole on
#: a line of their own; the run file always holds every value whole).
_MAX_INLINE = 80


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    text = str(v)
    return text if len(text) <= _MAX_INLINE else text[:_MAX_INLINE - 3] + "..."


def report_lines(exp, path, status) -> list[str]:
    """What a finished run prints: its status and summary, and where the file went."""
    from plasticity.io.runfile import open_run

    run = open_run(path)
    lines = []
    if status == "diverged":
        lines.append(f"{exp.name}: diverged ({run.attrs.get('message', '')})")
    keys = ", ".join(f"{k}={_fmt(v)}" for k, v in run.summary.items())
    lines.append(f"{exp.name} [{status}] {keys}")
    if "verdict" in run.summary:
        lines.append(f"verdict: {run.summary['verdict']}")
    lines.append(f"wrote {path}")
    return lines


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line and exit status 2, as the CLI gives, instead of argparse's usage dump.
        raise InvalidParameterError(message)


def _parser(prog) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Run this experiment (as 'plasticity run').")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--quick", dest="preset", action="store_const", const="quick",
                       help="Short preset (default).")
    group.add_argument("--full", dest="preset", action="store_const", const="full",
                       help="The paper-size preset.")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="Override one config value (repeatable).")
    p.add_argument("--config", dest="config_file", help="YAML file of config values.")
    p.add_argument("--seed", type=int, default=None, help="Master seed (default 0).")
    p.add_argument("--out", help="Run file to write.")
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    p.add_argument("--resume", metavar="FILE.h5", help="Continue a stopped run.")
    p.add_argument("--checkpoint-every", dest="checkpoint_s", type=float, default=None,
                   metavar="SECONDS", help="Wall time between checkpoints.")
    return p


def run_file_main(path, argv=None) -> int:
    """``python experiments/NAME.py [--quick|--full] [--set ...]`` runs that file.

    Returns the exit status: 0, 2 for bad input (one line on stderr), 130 for Ctrl-C,
    143 for SIGTERM.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # under mpirun every rank meets the same refusal: rank 0 says it
    err = sys.stderr if mpi.world()[0] == 0 else None
    try:
        args = _parser(str(path)).parse_args(argv)
        if args.seed is not None and args.seed < 0:
            raise InvalidParameterError(f"--seed must be >= 0; got {args.seed}.")
        if args.checkpoint_s is not None and args.checkpoint_s < 0:
            raise InvalidParameterError(f"--checkpoint-every must be >= 0; got "
                                        f"{args.checkpoint_s}.")
        exp, out, status = launch(
            str(path), preset=args.preset, sets=args.sets, config_file=args.config_file,
            seed=args.seed or 0, out=args.out, quiet=args.quiet, resume=args.resume,
            checkpoint_s=args.checkpoint_s, seed_given=args.seed is not None)
        if out is not None:  # (None on MPI ranks other than 0: they print nothing)
            print("\n".join(report_lines(exp, out, status)))
        return 0
    except PlasticityError as exc:
        if err:
            print(f"plasticity: error: {exc}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if err:
            print("plasticity: interrupted", file=err)
        return 130
    except Interrupted:
        if err:
            print("plasticity: terminated", file=err)
        return 143
