"""Find experiments by name or path without importing them all.

Names map to files: ``oja-pca`` is ``oja_pca.py`` in one of :func:`experiment_dirs`.
``plasticity list`` reads only each file's docstring, so it stays fast.

Some run files are written by library calls rather than by an experiment (``pl.alignment.
measure`` writes ``alignment-measure`` runs); :func:`load_plottable` resolves those names
to a :class:`RunKind` that has a figure but is neither listed nor runnable.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from plasticity.errors import PlasticityError
from plasticity.validation import suggest


def experiment_dirs() -> list[Path]:
    """The repository's ``experiments/`` plus any in ``$PLASTICITY_EXPERIMENTS``
    (a path list, for a lab's own experiments)."""
    dirs = [Path(p) for p in os.environ.get("PLASTICITY_EXPERIMENTS", "").split(os.pathsep)
            if p]
    dirs.append(Path(__file__).resolve().parents[1] / "experiments")
    return [d for d in dirs if d.is_dir()]


def experiment_files() -> dict[str, Path]:
    """Every experiment file found, by name (``oja-pca`` -> ``.../oja_pca.py``); the
    first directory of :func:`experiment_dirs` that has a name wins."""
    seen = {}
    for d in experiment_dirs():
        for f in sorted(d.glob("*.py")):
            if not f.name.startswith("_"):
                seen.setdefault(f.stem.replace("_", "-"), f)
    return seen


def describe(path: Path) -> str:
    """The first line of a file's module docstring."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text()))
    except (OSError, SyntaxError):
        return "(unreadable)"
    return (doc or "").strip().splitlines()[0] if doc else ""


def list_experiments() -> dict[str, str]:
    """``{name: one-line description}`` for every experiment found."""
    return {name: describe(path) for name, path in experiment_files().items()}


def claim_experiments() -> list[str]:
    """Every experiment that declares claim metadata (``Experiment(claim=ClaimMeta(...))``),
    in the order of the claims' numbers: the sources of the ``claims`` atlas.

    Returns
    -------
    list of str
        Experiment names.
    """
    found = []
    for name in experiment_files():
        meta = getattr(load(name), "claim", None)
        if meta is not None:
            found.append((meta.number, name))
    return [name for _, name in sorted(found)]


def load_file(path: Path):
    """Import an experiment file and return its ``EXPERIMENT``."""
    path = Path(path)
    if not path.is_file():
        raise PlasticityError(f"experiment file {path} does not exist.")
    modname = f"plasticity_experiments.{path.stem}"
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    exp = getattr(module, "EXPERIMENT", None)
    if exp is None:
        raise PlasticityError(f"{path} defines no EXPERIMENT.")
    return exp


def load(name_or_path):
    """The experiment called ``name_or_path``, or defined in that ``.py`` file."""
    text = str(name_or_path)
    if text.endswith(".py"):
        return load_file(Path(text))
    files = experiment_files()
    key = text.replace("_", "-")
    if key not in files:
        raise PlasticityError(f"unknown experiment '{text}'{suggest(key, files)} "
                              "(see 'plasticity list').")
    return load_file(files[key])


@dataclass(frozen=True)
class RunKind:
    """A kind of run file written by a library function, not by an experiment.

    Attributes
    ----------
    name : str
        The run file's ``experiment`` attribute.
    description : str
    plot : callable
        ``plot(run_file) -> matplotlib.figure.Figure``.
    written_by : str
        The function that writes such runs (named when asked to run one).
    """

    name: str
    description: str
    plot: Callable
    written_by: str


def _plot_alignment_measure(run):
    # imported when drawn, so that the CLI's registry look-ups stay light
    from plasticity.alignment import plot

    return plot(run)


RUN_KINDS = {
    "alignment-measure": RunKind(
        "alignment-measure",
        "One rule's per-update alignment with the true loss gradient.",
        _plot_alignment_measure, "plasticity.alignment.measure"),
}


def load_plottable(name_or_path):
    """The :class:`RunKind` called ``name_or_path``, or else the experiment (:func:`load`):
    what draws a run file whose ``experiment`` attribute is that name."""
    kind = RUN_KINDS.get(str(name_or_path))
    return kind if kind is not None else load(name_or_path)
