"""plasticity: simulate biologically plausible learning rules and measure whether they
follow the gradient of a loss.

The top-level namespace is kept light (``plasticity --help`` must answer fast): the
notebook API below imports its dependencies on first use.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "alignment", "open_run", "open_runs", "check_rule"]


def open_run(path):
    """Open one run file read-only; see :func:`plasticity.io.runfile.open_run`."""
    from plasticity.io.runfile import open_run as _open_run

    return _open_run(path)


def open_runs(paths_or_dir):
    """One DataFrame row per run; see :func:`plasticity.io.runfile.open_runs`."""
    from plasticity.io.runfile import open_runs as _open_runs

    return _open_runs(paths_or_dir)


def check_rule(rule, **kwargs):
    """Run the rule-protocol contract checks on ``rule``; see
    :func:`plasticity.rules.checks.check_rule`."""
    from plasticity.rules.checks import check_rule as _check_rule

    return _check_rule(rule, **kwargs)


def __getattr__(name):
    # Submodules with heavy imports load on first attribute access, so that
    # ``import plasticity as pl; pl.alignment.measure(...)`` works without slowing down
    # ``plasticity --help``.
    if name in ("alignment",):
        import importlib

        return importlib.import_module(f"plasticity.{name}")
    raise AttributeError(f"module 'plasticity' has no attribute {name!r}")
