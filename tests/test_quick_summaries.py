"""Every experiment's quick-preset summary (seed 0) matches its golden values
(tests/data/quick_summaries.json, made by scripts/quick_summaries.py; docs/regression.md).

Integers, strings and bools must be equal; floats agree to rtol 1e-9 (atol 1e-12): the
runs are deterministic, so with the golden file's Numba they reproduce to the last bit or
to ~1e-14 (measured across Python 3.11/3.13 and NumPy 2.3/2.5, docs/regression.md), and
any change of behaviour moves a value by far more. With another Numba the spiking runs
need not be bit-reproducible, so there each comparison is skipped with the reason. Wall
times and paths are not compared.

The experiments of :data:`FAST` (quick presets under 5 s) run in the fast suite; the rest
are marked slow.
"""

import importlib.util
import math

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("quick_summaries",
                                              ROOT / "scripts" / "quick_summaries.py")
qs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qs)

GOLDEN = qs.load()
ENTRIES = GOLDEN["experiments"]
#: The experiments checked in the fast suite: those whose quick preset (the whole command,
#: interpreter start included) took under 5 s on the busy 2-core machine when the golden
#: values were made (2.1-4.8 s; 1-2 s when it is idle). A fixed list, because the recorded
#: ``run_s`` follows the machine's load: temporal-prediction took 13.3 s busy and 4.4 s idle.
FAST = ("bcm-selectivity", "feedback-alignment", "hebb-instability", "oja-pca",
        "replicator-selection", "stdp-window", "td-conditioning", "triplet-frequency")
SLOW = sorted(n for n in ENTRIES if n not in FAST)


def _check(name, tmp_path):
    entry = ENTRIES[name]
    reason = qs.env_mismatch(entry["generated"])
    if reason:
        pytest.skip(f"{name}: {reason}")
    diffs = qs.compare_entries(entry, qs.run_quick(name, tmp_path))
    versions = qs.env_differences(entry["generated"])
    assert not diffs, (f"{name}'s quick summary differs from the golden values made at "
                       f"{entry['generated']['commit']}"
                       f"{f' (other versions here: {versions})' if versions else ''}; "
                       f"regenerate only on purpose (docs/regression.md):\n"
                       + "\n".join(diffs))


@pytest.mark.parametrize("name", FAST)
def test_quick_summary_fast(name, tmp_path):
    _check(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_quick_summary(name, tmp_path):
    _check(name, tmp_path)


def test_golden_file_covers_every_experiment():
    assert set(FAST) <= set(ENTRIES), sorted(set(FAST) - set(ENTRIES))
    names = qs.experiment_names()
    assert sorted(ENTRIES) == sorted(names), (
        "experiments without golden values (python scripts/quick_summaries.py --only NAME): "
        f"{sorted(set(names) - set(ENTRIES))}; golden values of no experiment: "
        f"{sorted(set(ENTRIES) - set(names))}")
    for name, entry in ENTRIES.items():
        assert entry["generated"]["git_dirty"] is False, f"{name}: made from a dirty tree"
        assert not any(qs.is_excluded(k) for k in entry["summary"]), name


def test_excluded_keys_are_wall_times_and_paths():
    assert qs.is_excluded("wall_time_s")
    assert qs.is_excluded("rate.backprop.source")
    assert qs.is_excluded("sources")
    assert qs.is_excluded("numba_wall_s")
    assert not qs.is_excluded("sim_time_s")
    assert not qs.is_excluded("rate.backprop.cos_mean")
    assert not qs.is_excluded("resource_ratio")
    assert qs.is_excluded("bytes_per_synapse_peak_rss") and qs.is_excluded("threads")
    assert not qs.is_excluded("bytes_per_synapse_arrays")


def test_compare_flags_each_kind_of_difference():
    gold = {"n": 3, "name": "oja", "ok": True, "x": 0.5, "nan": math.nan, "tiny": 0.0,
            "xs": [1.0, 2.0], "wall_time_s": 1.0}
    assert qs.compare(gold, dict(gold)) == []
    # within the tolerance: a few ulp of summation order, and cancellation to ~0
    assert qs.compare(gold, {**gold, "x": 0.5 * (1 + 1e-12), "tiny": 1e-15,
                             "wall_time_s": 99.0}) == []
    # two round-off residuals (zero in theory, e.g. a finite-difference asymmetry) agree
    # anywhere below the floor, but not with a value above it
    residual = {**gold, "tiny": 2.9e-11}
    assert qs.compare(residual, {**residual, "tiny": 2.6e-11}) == []
    assert qs.compare(residual, {**residual, "tiny": -5e-9}) == []
    cases = {"x": 0.5 * (1 + 1e-8), "n": 4, "name": "hebb", "ok": False, "nan": 0.0,
             "xs": [1.0, 2.1], "tiny": 2 * qs.FLOOR}
    for key, value in cases.items():
        diffs = qs.compare(gold, {**gold, key: value})
        assert len(diffs) == 1 and diffs[0].startswith(f"{key}:"), (key, diffs)
    # an integer that became a float (or a bool that became an int) is a change
    assert qs.compare(gold, {**gold, "n": 3.0}) != []
    assert qs.compare(gold, {**gold, "ok": 1}) != []
    missing = {k: v for k, v in gold.items() if k != "x"}
    assert qs.compare(gold, missing) == ["x: missing (golden 0.5)"]
    assert qs.compare(gold, {**gold, "y": 1}) == ["y: new key (1)"]
    # a run that used to diverge (hebb-instability's result) and now completes
    entry = {"status": "diverged", "summary": gold}
    assert qs.compare_entries(entry, dict(entry)) == []
    assert qs.compare_entries(entry, {**entry, "status": "complete"}) == [
        "status: golden 'diverged', now 'complete'"]


def test_env_mismatch_names_the_version():
    env = qs.environment()
    assert qs.env_mismatch(dict(env), env) is None
    # NumPy, SciPy and Python were measured not to matter; Numba decides
    assert qs.env_mismatch({**env, "numpy": "1.0.0", "python": "3.99"}, env) is None
    reason = qs.env_mismatch({**env, "numba": "0.1.0"}, env)
    assert "numba 0.1.0" in reason and f"numba {env['numba']}" in reason
    # another kind of CPU picks other vector kernels: measured to change results
    reason = qs.env_mismatch({**env, "cpu": "x86_64 GenuineIntel avx2"}, env)
    assert "cpu x86_64 GenuineIntel avx2" in reason
    assert qs.env_differences({**env, "numpy": "1.0.0"}, env) == f"numpy 1.0.0 -> {env['numpy']}"


def test_tree_dirty_ignores_the_golden_file_only(tmp_path, monkeypatch):
    import subprocess

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    golden = tmp_path / "tests" / "data" / "quick_summaries.json"
    golden.parent.mkdir(parents=True)
    golden.write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setattr(qs, "ROOT", tmp_path)
    monkeypatch.setattr(qs, "GOLDEN", golden)
    assert qs.tree_dirty() is False
    golden.write_text('{"experiments": {}}')  # a regeneration's own output
    assert qs.tree_dirty() is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert qs.tree_dirty() is True
