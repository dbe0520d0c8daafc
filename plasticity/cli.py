"""The ``plasticity`` command line.

Heavy packages (numpy, numba, h5py, matplotlib) are imported inside the commands so that
``plasticity --help`` and ``plasticity list`` answer fast. Every user error ends as one
line on stderr and exit status 2 (see :func:`main`).
"""

from __future__ import annotations

import json
import sys

import click

EXIT_USAGE = 2


def _fail(message):
    raise click.ClickException(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="plasticity")
def cli():
    """Simulate learning rules and measure whether they follow the gradient."""


@cli.command("list")
def list_cmd():
    """List the experiments, one line each."""
    from plasticity.registry import list_experiments

    exps = list_experiments()
    width = max((len(n) for n in exps), default=0)
    for name, desc in exps.items():
        click.echo(f"{name:<{width}}  {desc}")


def _run_options(fn):
    decorators = [
        click.option("--quick", "preset", flag_value="quick", help="Short preset (default)."),
        click.option("--full", "preset", flag_value="full", help="The paper-size preset."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override one config value (repeatable)."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="YAML file of config values."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Master seed."),
        click.option("--out", type=click.Path(dir_okay=False),
                     help="Run file to write (default data/runs/NAME/<time>-seed<N>.h5)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for dec in reversed(decorators):
        fn = dec(fn)
    return fn


def _do_run(experiment, preset, sets, config_file, seed, out, quiet, *, resume=None,
            checkpoint_s=None, seed_given=True):
    from plasticity.launch import launch, report_lines

    exp, path, status = launch(experiment, preset=preset, sets=sets, config_file=config_file,
                               seed=seed, out=out, quiet=quiet, resume=resume,
                               checkpoint_s=checkpoint_s, seed_given=seed_given)
    if path is not None:  # (None on MPI ranks other than 0: they print nothing)
        for line in report_lines(exp, path, status):
            click.echo(line)


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@cli.command("run")
@click.argument("experiment")
@_run_options
@click.option("--resume", type=click.Path(dir_okay=False), metavar="FILE.h5",
              help="Continue the stopped run in FILE.h5 from its checkpoint (same config "
                   "and seed, taken from the file).")
@click.option("--checkpoint-every", "checkpoint_s", type=click.FloatRange(min=0),
              default=None, metavar="SECONDS",
              help="Wall time between checkpoints of resumable experiments (default 5; "
                   "0: after every update or segment).")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
              help="Threads of the compiled spiking engine (default: the cores available); "
                   "results are the same for any N.")
def run_cmd(experiment, preset, sets, config_file, seed, out, quiet, resume, checkpoint_s,
            threads):
    """Run EXPERIMENT (a name from 'plasticity list' or a path to a .py file)."""
    from plasticity import _config

    # before anything imports numba, so that Numba's pool can hold N threads; recorded
    # in the run file's provenance (PLASTICITY_THREADS)
    _config.set_threads(threads if threads is not None else _config.available_cores())
    source = click.get_current_context().get_parameter_source("seed")
    _do_run(experiment, preset, sets, config_file, seed, out, quiet, resume=resume,
            checkpoint_s=checkpoint_s,
            seed_given=source is not click.core.ParameterSource.DEFAULT)


@cli.command("info")
@click.argument("run_file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def info_cmd(run_file, as_json):
    """Status, config, provenance and summary of a run file."""
    from plasticity.io.runfile import open_run

    run = open_run(run_file)
    doc = {"experiment": run.experiment, "status": run.status, "seed": run.seed,
           "preset": run.attrs.get("preset", ""), "config": run.config,
           "summary": run.summary, "provenance": run.provenance,
           "created": run.attrs.get("created"), "wall_time_s": run.attrs.get("wall_time_s"),
           "schema_version": run.attrs.get("schema_version"),
           "plasticity_version": run.attrs.get("plasticity_version")}
    if "message" in run.attrs:
        doc["message"] = run.attrs["message"]
    if as_json:
        click.echo(json.dumps(doc, default=str))
        return
    click.echo(f"{run_file}: {run.experiment} [{run.status}] seed {run.seed}, "
               f"{doc['wall_time_s']:.2f} s, created {doc['created']}")
    if "message" in doc:
        click.echo(f"message: {doc['message']}")
    click.echo("config:")
    for k, v in run.config.items():
        click.echo(f"  {k} = {v}")
    click.echo("summary:")
    for k, v in run.summary.items():
        click.echo(f"  {k} = {_fmt(v)}")
    click.echo("provenance:")
    for k, v in run.provenance.items():
        click.echo(f"  {k} = {v}")


@cli.command("plot")
@click.argument("run_file", metavar="RUN.h5|SWEEP_DIR", type=click.Path())
@click.option("--format", "formats", default="pdf,svg,png", show_default=True,
              help="Comma-separated: pdf, svg, png.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for the figure (default: beside the run file, or the sweep "
                   "directory).")
@click.option("--overwrite", is_flag=True, help="Replace existing figure files.")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="Sweeps: a summary key to draw, one panel each (repeatable; default: "
                   "the numeric ones, at most 6).")
@click.option("--x", "x_key", metavar="KEY",
              help="Sweeps: the grid key on the x axis (default: the first).")
def plot_cmd(run_file, formats, out_dir, overwrite, metrics, x_key):
    """Draw the experiment's figure from RUN.h5, or a sweep's summary metrics against
    the swept parameter from SWEEP_DIR (saved there as sweep.pdf/svg/png)."""
    from pathlib import Path

    from plasticity.io.runfile import open_run
    from plasticity.plots.style import FORMATS, save_figure
    from plasticity.registry import load_plottable

    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        _fail(f"--format: unknown format {', '.join(bad) or '(none)'} "
              f"(choose from {', '.join(FORMATS)}).")
    if Path(run_file).is_dir():
        _plot_sweep_cmd(Path(run_file), fmts, out_dir, overwrite, metrics, x_key)
        return
    if metrics or x_key:
        _fail(f"--{'metric' if metrics else 'x'} applies to a sweep directory; "
              f"{run_file} is a run file.")
    run = open_run(run_file)
    exp = load_plottable(run.experiment)
    if exp.plot is None:
        _fail(f"experiment {exp.name} has no figure.")
    target = Path(out_dir) if out_dir else Path(run_file).parent
    # as `figure --out`: a directory that does not exist yet is made
    _check_figure_dir(target, "--out")
    fig = exp.plot(run)
    _make_figure_dir(target)
    meta = {"description": f"{exp.name}: {exp.description}",
            "provenance": f"run={Path(run_file).name} seed={run.seed} "
                          f"commit={run.provenance.get('git_commit', 'unknown')}"}
    paths = save_figure(fig, target / Path(run_file).stem, fmts, metadata=meta,
                        overwrite=overwrite)
    for p in paths:
        click.echo(f"wrote {p}")


def _plot_sweep_cmd(sweep_dir, fmts, out_dir, overwrite, metrics, x_key):
    from pathlib import Path

    from plasticity.plots.style import save_figure
    from plasticity.plots.sweep import plot_sweep, read_sweep, sweep_metadata

    target = Path(out_dir) if out_dir else sweep_dir
    _check_figure_dir(target, "--out")
    table = read_sweep(sweep_dir)
    fig = plot_sweep(table, metrics=list(metrics) or None, x=x_key)
    _make_figure_dir(target)
    paths = save_figure(fig, target / "sweep", fmts, metadata=sweep_metadata(table),
                        overwrite=overwrite)
    click.echo(f"{table.experiment}: {len(table.rows)} of {table.n_runs} runs plotted")
    for p in paths:
        click.echo(f"wrote {p}")


@cli.command("figure")
@click.argument("name")
@click.option("--from", "source", type=click.Path(), metavar="RUN.h5|SWEEP_DIR",
              help="Draw from this run file (a run of NAME) or sweep directory instead of "
                   "running the quick preset.")
@click.option("--format", "formats", default="pdf,svg,png", show_default=True,
              help="Comma-separated: pdf, svg, png.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for the figure files, created if missing "
                   "(default data/figures/NAME/).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the quick run (without --from).")
@click.option("--overwrite", is_flag=True, help="Replace existing figure files.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def figure_cmd(name, source, formats, out_dir, seed, overwrite, quiet):
    """The paper figure of experiment NAME, saved as NAME.pdf/svg/png (NAME-sweep.* from
    a sweep). Without --from it first runs NAME's quick preset into data/runs/NAME/."""
    from pathlib import Path

    from plasticity.plots.style import FORMATS
    from plasticity.registry import RunKind, load_plottable

    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        _fail(f"--format: unknown format {', '.join(bad) or '(none)'} "
              f"(choose from {', '.join(FORMATS)}).")
    exp = load_plottable(name)
    if exp.plot is None:
        _fail(f"experiment {exp.name} has no figure.")
    if source is None and isinstance(exp, RunKind):
        _fail(f"{exp.name} runs are written by {exp.written_by}(..., out=RUN.h5), not by "
              f"an experiment; draw one with --from RUN.h5.")
    if source is not None and not Path(source).exists():
        _fail(f"--from {source}: no such file or directory.")
    sweep = source is not None and Path(source).is_dir()
    target = Path(out_dir) if out_dir else Path("data/figures") / exp.name
    stem = target / (f"{exp.name}-sweep" if sweep else exp.name)
    # every refusal comes before a simulation is started; a missing directory is
    # created only when the figure is saved, so a refused command leaves nothing behind
    _check_figure_dir(target, "--out" if out_dir else "figure directory")
    existing = [p for p in (stem.with_name(f"{stem.name}.{f}") for f in fmts) if p.exists()]
    if existing and not overwrite:
        _fail(f"{existing[0]} already exists; pass --overwrite to replace it.")
    if sweep:
        _figure_from_sweep(exp, Path(source), stem, fmts)
        return
    if source is None:
        from plasticity.experiment import execute

        cfg = exp.build_config(preset="quick")
        source, status = execute(exp, cfg, seed=seed, preset="quick", quiet=quiet)
        click.echo(f"{exp.name} [{status}] wrote {source}")
    _figure_from_run(exp, Path(source), stem, fmts)


def _check_figure_dir(target, what):
    """Refuse ``target`` unless it is a writable directory or can be created as one.

    Parameters
    ----------
    target : pathlib.Path
        Directory for the figure files; it need not exist yet.
    what : str
        How the error names it (e.g. ``"--out"``).
    """
    import os

    if target.exists():
        if not target.is_dir():
            _fail(f"{what} {target}: exists and is not a directory.")
        if not os.access(target, os.W_OK | os.X_OK):
            _fail(f"{what} {target}: directory is not writable.")
        return
    # the nearest existing ancestor decides whether the missing part can be created
    ancestor = target.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        _fail(f"{what} {target}: cannot create it, {ancestor} is not a directory.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        _fail(f"{what} {target}: cannot create it, {ancestor} is not writable.")


def _make_figure_dir(directory):
    """Create ``directory`` (and its parents) or fail in one line."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot create directory {directory}: {exc.strerror}.")


def _figure_from_run(exp, path, stem, fmts):
    from plasticity import __version__
    from plasticity.io.runfile import open_run
    from plasticity.plots.provenance import FigureDataMismatch, check_figure, has_traces
    from plasticity.plots.style import save_figure

    run = open_run(path)
    if run.experiment != exp.name:
        _fail(f"--from {path}: a run of {run.experiment}, not of {exp.name}.")
    fig = exp.plot(run)
    # the figure is saved only if everything it draws is what the run file holds
    # (an experiment whose plot traces nothing, e.g. a lab's own, is drawn unchecked)
    n = None
    if has_traces(fig):
        try:
            n = check_figure(fig, run)
        except FigureDataMismatch as exc:
            lines = str(exc).splitlines()
            _fail(f"the figure of {exp.name} does not show {path}'s data: "
                  f"{lines[1].strip()} ({len(lines) - 1} problem(s)).")
    _make_figure_dir(stem.parent)
    meta = {"description": f"{exp.name}: {exp.description}",
            "provenance": f"run={path} seed={run.seed} status={run.status} "
                          f"preset={run.attrs.get('preset', '')} "
                          f"commit={run.provenance.get('git_commit', 'unknown')} "
                          f"plasticity={run.attrs.get('plasticity_version', __version__)} "
                          f"drawn-with={__version__}"}
    paths = save_figure(fig, stem, fmts, metadata=meta, overwrite=True)
    click.echo(f"{exp.name}: {n} data artists checked against {path}" if n is not None
               else f"{exp.name}: drawn unchecked (its plot traces no data)")
    for p in paths:
        click.echo(f"wrote {p}")


def _figure_from_sweep(exp, sweep_dir, stem, fmts):
    from plasticity import __version__
    from plasticity.plots.style import save_figure
    from plasticity.plots.sweep import plot_sweep, read_sweep, sweep_metadata

    table = read_sweep(sweep_dir)
    if table.experiment != exp.name:
        _fail(f"--from {sweep_dir}: a sweep of {table.experiment}, not of {exp.name}.")
    fig = plot_sweep(table)
    meta = sweep_metadata(table)
    meta["provenance"] = f"{meta.get('provenance', '')} plasticity={__version__}".strip()
    _make_figure_dir(stem.parent)
    paths = save_figure(fig, stem, fmts, metadata=meta, overwrite=True)
    click.echo(f"{exp.name}: {len(table.rows)} of {table.n_runs} runs plotted")
    for p in paths:
        click.echo(f"wrote {p}")


from plasticity.sweep.cli import sweep_cmd  # noqa: E402 - registered once the group exists

cli.add_command(sweep_cmd)


def main(argv=None):
    """Entry point: click in non-standalone mode so that errors are one line, exit 2."""
    from plasticity.errors import PlasticityError
    from plasticity.io.mpi import world

    # under mpirun every rank meets the same refusal: rank 0 says it
    say = (lambda msg: None) if world()[0] > 0 else (lambda msg: click.echo(msg, err=True))

    try:
        # non-standalone click returns the code of a command's click.exceptions.Exit
        # (sweep exits 1 when a run failed) instead of raising it
        code = cli.main(args=argv, prog_name="plasticity", standalone_mode=False)
        if isinstance(code, int):
            return code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        say(f"plasticity: error: {exc.format_message()}")
        return EXIT_USAGE
    except PlasticityError as exc:
        say(f"plasticity: error: {exc}")
        return EXIT_USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        say("plasticity: interrupted")
        return 130
    except BaseException as exc:
        from plasticity.io.interrupts import Interrupted

        if isinstance(exc, Interrupted):
            say("plasticity: terminated")
            return 143
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())


def console():
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())
