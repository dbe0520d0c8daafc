"""The package's imports point down DESIGN.md's layers (scripts/layers.py reads them).

Imports inside functions count: a cycle hidden in a function is still a cycle.
"""

import importlib.util
import sys

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("layers", ROOT / "scripts" / "layers.py")
layers = importlib.util.module_from_spec(spec)
sys.modules["layers"] = layers
spec.loader.exec_module(layers)


@pytest.fixture(scope="module")
def edges():
    return layers.imports(layers.modules())


def test_the_reader_sees_imports_inside_functions(edges):
    # engine.train finds the checkpointer with an import inside the function
    assert ("plasticity.engine", "plasticity.io.checkpoint", "current_checkpointer") in {
        (a, b, n) for a, b, n, _ in edges}


def test_every_part_has_a_layer(edges):
    parts = {layers.part(m) for m in layers.modules()} - {""}
    assert parts <= set(layers.LAYERS), sorted(parts - set(layers.LAYERS))


def test_no_import_cycles(edges):
    assert layers.cycles(edges) == []


def test_no_upward_imports(edges):
    assert layers.upward(edges) == []


def test_nothing_imports_the_cli(edges):
    # only the CLI's own entry point (python -m plasticity) may
    assert [e for e in edges if e[1].startswith("plasticity.cli") and
            layers.layer(e[0]) != layers.LAYERS["cli"]] == []


def test_no_private_names_across_packages(edges):
    assert layers.private(edges) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    planted = [("plasticity.a.x", "plasticity.b.y", "", 1),
               ("plasticity.b.y", "plasticity.c.z", "f", 2),
               ("plasticity.c.z", "plasticity.a.x", "", 3),
               ("plasticity.c.z", "plasticity.io.w", "", 4)]
    assert layers.cycles(planted) == [["plasticity.a.x", "plasticity.b.y", "plasticity.c.z"]]
    assert layers.upward([("plasticity.io.w", "plasticity.cli", "", 9)]) == [
        ("plasticity.io.w", "plasticity.cli", 9)]
    assert layers.private([("plasticity.sweep.a", "plasticity.cli", "_helper", 3),
                           ("plasticity.sweep.a", "plasticity.sweep.b", "_same", 4)]) == [
        ("plasticity.sweep.a", "plasticity.cli", "_helper", 3)]


def test_architecture_doc_is_generated_from_the_code(edges):
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text[text.index(layers.BEGIN):text.index(layers.END) + len(layers.END)]
    assert block == layers.picture(edges), \
        "docs/architecture.md is stale: run python scripts/layers.py --write"
