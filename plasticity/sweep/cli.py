"""``plasticity sweep``: the command-line face of :func:`plasticity.sweep.run_sweep`."""

from __future__ import annotations

import click

__all__ = ["sweep_cmd"]


@click.command("sweep")
@click.argument("experiment")
@click.option("--quick", "preset", flag_value="quick", help="Short preset (default).")
@click.option("--full", "preset", flag_value="full", help="The paper-size preset.")
@click.option("--grid", "grids", multiple=True, metavar="KEY=V1,V2,...",
              help="Values of one config key to sweep (repeatable; the runs are the "
                   "product of all grids and the seeds).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Fix one config value for every run (repeatable).")
@click.option("--seeds", default="0", show_default=True, metavar="0-9|0,3,5",
              help="Seeds of every combination: a range, a list, or both.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Local worker processes (default: the number of cores).")
@click.option("--out", type=click.Path(file_okay=False),
              help="Sweep directory (default data/sweeps/NAME/<time>/). Give an existing "
                   "sweep's directory to resume it.")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Run on this Dask scheduler's workers. They write the run files "
                   "directly, so --out must be on a filesystem they share.")
@click.option("--cluster", type=click.Choice(["slurm", "pbs", "sge"]),
              help="Start a dask-jobqueue cluster (the 'cluster' extra); --out must be on "
                   "the cluster's shared filesystem.")
@click.option("--cluster-opt", "cluster_opts", multiple=True, metavar="KEY=VALUE",
              help="cores, processes, memory, queue, account, walltime, interface, "
                   "local_directory, jobs (number of jobs to start).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep_cmd(experiment, preset, grids, sets, seeds, jobs, out, scheduler, cluster,
              cluster_opts, quiet):
    """Run EXPERIMENT over a grid of config values and seeds, one run file per run.

    Writes OUT/sweep.json (the index: every run's parameters, seed, file and status) and
    OUT/runs/*.h5. Running the same command again with --out OUT resumes: finished runs
    are kept, failed or unfinished ones run again. Exit status 1 if a run failed.
    """
    from plasticity import _config
    from plasticity.experiment import parse_sets
    from plasticity.sweep.options import parse_cluster_opts, parse_grid, parse_seeds

    _config.check_layer()  # (every worker would fail on it, inside its run)
    from plasticity.sweep.runner import run_sweep

    grid = parse_grid(grids)
    seed_list = parse_seeds(seeds)
    fixed = parse_sets(sets)
    copts = parse_cluster_opts(cluster_opts)
    result = run_sweep(experiment, grid, seeds=seed_list, sets=fixed, preset=preset, out=out,
                       jobs=jobs, scheduler=scheduler, cluster=cluster, cluster_opts=copts,
                       quiet=quiet)
    for run in result.runs:
        if run["status"] not in ("complete", "diverged"):
            where = ", ".join(f"{k}={v}" for k, v in run["params"].items())
            click.echo(f"{run['id']} ({where}, seed {run['seed']}) {run['status']}: "
                       f"{run['error']}", err=True)
    c = result.counts
    again = f", {result.skipped} kept from before" if result.skipped else ""
    click.echo(f"{result.experiment}: {len(result.runs)} runs, {c['complete']} complete, "
               f"{c['diverged']} diverged, {result.failed} failed{again} -> "
               f"{result.directory}")
    if result.failed:
        raise click.exceptions.Exit(1)
