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


def _parse_sets(items):
    import yaml

    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--set {item!r}: expected key=value.")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out[key.strip()] = value
    return out


def _read_config_file(path):
    import yaml

    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        _fail(f"--config {path}: {exc.strerror}.")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        _fail(f"--config {path}: malformed YAML{where}: {problem}.")
    if data is None:
        return {}
    if not isinstance(data, dict):
        _fail(f"--config {path}: expected a mapping of config keys to values, "
              f"got a {type(data).__name__}.")
    return data


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


def _do_run(experiment, preset, sets, config_file, seed, out, quiet):
    from plasticity.experiment import execute
    from plasticity.registry import load

    exp = load(experiment)
    values = _read_config_file(config_file) if config_file else {}
    cfg = exp.build_config(preset=preset, values=values, overrides=_parse_sets(sets))
    path, status = execute(exp, cfg, seed=seed, out=out, preset=preset or exp.default_preset,
                           quiet=quiet)
    from plasticity.io.runfile import open_run

    run = open_run(path)
    if status == "diverged":
        click.echo(f"{exp.name}: diverged ({run.attrs.get('message', '')})")
    keys = ", ".join(f"{k}={_fmt(v)}" for k, v in run.summary.items())
    click.echo(f"{exp.name} [{status}] {keys}")
    click.echo(f"wrote {path}")


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@cli.command("run")
@click.argument("experiment")
@_run_options
def run_cmd(experiment, preset, sets, config_file, seed, out, quiet):
    """Run EXPERIMENT (a name from 'plasticity list' or a path to a .py file)."""
    _do_run(experiment, preset, sets, config_file, seed, out, quiet)


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
@click.argument("run_file", type=click.Path())
@click.option("--format", "formats", default="pdf,svg,png", show_default=True,
              help="Comma-separated: pdf, svg, png.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for the figure (default: beside the run file).")
@click.option("--overwrite", is_flag=True, help="Replace existing figure files.")
def plot_cmd(run_file, formats, out_dir, overwrite):
    """Draw the experiment's figure from RUN_FILE."""
    from pathlib import Path

    from plasticity.io.runfile import open_run
    from plasticity.plots.style import FORMATS, save_figure
    from plasticity.registry import load

    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        _fail(f"--format: unknown format {', '.join(bad) or '(none)'} "
              f"(choose from {', '.join(FORMATS)}).")
    run = open_run(run_file)
    exp = load(run.experiment)
    if exp.plot is None:
        _fail(f"experiment {exp.name} has no figure.")
    target = Path(out_dir) if out_dir else Path(run_file).parent
    if not target.is_dir():
        _fail(f"--out {target}: directory does not exist.")
    fig = exp.plot(run)
    meta = {"description": f"{exp.name}: {exp.description}",
            "provenance": f"run={Path(run_file).name} seed={run.seed} "
                          f"commit={run.provenance.get('git_commit', 'unknown')}"}
    paths = save_figure(fig, target / Path(run_file).stem, fmts, metadata=meta,
                        overwrite=overwrite)
    for p in paths:
        click.echo(f"wrote {p}")


def main(argv=None):
    """Entry point: click in non-standalone mode so that errors are one line, exit 2."""
    from plasticity.errors import PlasticityError

    try:
        cli.main(args=argv, prog_name="plasticity", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"plasticity: error: {exc.format_message()}", err=True)
        return EXIT_USAGE
    except PlasticityError as exc:
        click.echo(f"plasticity: error: {exc}", err=True)
        return EXIT_USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("plasticity: interrupted", err=True)
        return 130
    except BaseException as exc:
        from plasticity.experiment import Interrupted

        if isinstance(exc, Interrupted):
            click.echo("plasticity: terminated", err=True)
            return 143
        raise
    return 0


def run_file_main(path, argv=None):
    """``python experiments/NAME.py [--quick|--full] [--set ...]`` runs that file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["run", str(path), *argv])


if __name__ == "__main__":
    sys.exit(main())


def console():
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())
