"""The claims atlas (issue 19): every claim experiment declares what the atlas reads, and
the atlas collects it unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import experiment_module

from plasticity.registry import claim_experiments

ROOT = Path(__file__).resolve().parents[1]
#: The CLI names of issue 19's ten claims, by claim number.
ISSUE_CLAIMS = {1: "claim-momentum", 2: "claim-td", 3: "claim-hebb", 4: "claim-sa",
                5: "claim-best-of-lambda", 6: "claim-diffusion", 7: "claim-crossover",
                8: "claim-lottery", 9: "claim-es", 10: "claim-binary"}


def _module():
    return experiment_module("claims")


def _golden():
    with open(ROOT / "tests" / "data" / "quick_summaries.json") as f:
        return json.load(f)["experiments"]


def test_the_ten_claims_are_experiments_with_metadata():
    """Each of issue 19's ten claims is an experiment under its CLI name, declaring claim
    metadata with its number; the atlas finds them in claim order."""
    from plasticity.registry import load

    names = claim_experiments()
    for number, name in ISSUE_CLAIMS.items():
        meta = load(name).claim
        assert meta is not None, name
        assert meta.number == number, name
    numbers = [load(n).claim.number for n in names]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers), "two experiments claim the same number"
    assert set(ISSUE_CLAIMS.values()) <= set(names)


def test_metadata_points_at_keys_the_quick_runs_have():
    """For every claim experiment with a golden quick summary, the declared headline,
    interval and null keys exist there, the interval holds the headline, and the verdict
    opens with one of the outcome words (so the atlas can say which way it went)."""
    from plasticity.registry import load

    mod = _module()
    golden = _golden()
    checked = 0
    for name in claim_experiments():
        if name not in golden:
            continue
        s, meta = golden[name]["summary"], load(name).claim
        assert meta.headline in s, (name, meta.headline)
        for key in (meta.low, meta.high):
            if key is not None:
                assert key in s, (name, key)
        if meta.low is not None and meta.high is not None:
            assert s[meta.low] <= s[meta.headline] <= s[meta.high], name
        if isinstance(meta.null, str):
            assert meta.null in s, (name, meta.null)
        verdict = meta.verdict_of(s)
        assert mod.outcome(verdict) != "see verdict", (name, verdict[:80])
        assert len(mod.brief(verdict)) < len(verdict) or "." not in verdict[:-1], name
        checked += 1
    assert checked >= 7


@pytest.mark.parametrize("text,first", [
    ("Supported: a 0.055 [0.053, 0.058] cosine (5 seeds). Mean cosine: e.g. x. More.",
     "Supported: a 0.055 [0.053, 0.058] cosine (5 seeds)."),
    ("Partly: one, e.g. Fisher. Then (a) more.", "Partly: one, e.g. Fisher."),
    ("No full stop here", "No full stop here"),
    ("Not supported: ends here.", "Not supported: ends here."),
])
def test_brief_is_the_first_sentence(text, first):
    assert _module().brief(text) == first


@pytest.mark.parametrize("text,kind", [
    ("Supported: x.", "supported"), ("Not supported: x.", "not supported"),
    ("Not shown: x.", "not supported"), ("Partly: x.", "partly"),
    ("Unresolved: x.", "unresolved"), ("at every kappa ...", "see verdict"),
])
def test_outcome_words(text, kind):
    assert _module().outcome(text) == kind


def test_collects_runs_unchanged(cli, tmp_path):
    """from_runs: the atlas's numbers are the sources' summary values, its verdicts their
    verdicts, in claim order, without running anything."""
    from plasticity.io.runfile import open_run
    from plasticity.registry import load

    runs = {}
    for name, sets in (("claim-td", ["gammas=[0.5,0.9]", "n_seeds=2"]),
                       ("claim-sa", ["n_updates=20", "seeds=2", "n_eval=128"])):
        out = tmp_path / f"{name}.h5"
        args = ["run", name, "--quick", "--quiet", "--out", out]
        for s in sets:
            args += ["--set", s]
        code, _, err = cli(*args)
        assert code == 0, err
        runs[name] = out
    out = tmp_path / "claims.h5"
    code, _, err = cli("run", "claims", "--set",
                       f"from_runs=[{runs['claim-sa']},{runs['claim-td']}]", "--out", out,
                       "--quiet")
    assert code == 0, err
    s = open_run(out).summary
    assert s["experiments"] == "claim-td,claim-sa"
    assert s["n_claims"] == 2
    for name, path in runs.items():
        src, meta = open_run(path).summary, load(name).claim
        assert s[f"{name}.value"] == src[meta.headline]
        assert s[f"{name}.verdict"] == src["verdict"]
        assert s[f"{name}.number"] == meta.number
        assert s[f"{name}.source"] == str(path.resolve())
        assert s[f"{name}.verdict"].startswith(s[f"{name}.verdict_brief"])
    assert s["claim-sa.low"] == open_run(runs["claim-sa"]).summary["annealing.cos_ci_low"]
    assert np.isnan(s["claim-td.low"])  # an exact asymmetry has no interval
    assert s["claim-td.null"] == 0.0


@pytest.mark.parametrize("settings,words", [
    (["sources=[oja-pca]"], ["oja-pca", "claim metadata"]),
    (["sources=[claim-td]", "sets={claim-sa: {seeds: 2}}"], ["sets", "claim-sa",
                                                             "not a source"]),
    (["sources=[claim-td,claim-td]"], ["twice"]),
])
def test_refuses_bad_sources(refuses, settings, words):
    refuses("claims", settings, words)


def test_refuses_a_run_of_another_experiment(cli, tmp_path, refuses):
    out = tmp_path / "oja.h5"
    code, _, err = cli("run", "oja-pca", "--quick", "--quiet", "--set", "n_samples=200",
                       "--out", out)
    assert code == 0, err
    refuses("claims", [f"from_runs=[{out}]"], ["oja-pca", "declares no claim metadata"])
