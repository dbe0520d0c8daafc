"""claim-sa: the accepted steps of annealing, (1+1)-ES and hill climbing against the
population gradient, with a random-walk null (issue 19, claim 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_seed_contract, experiment_module

ROOT = Path(__file__).resolve().parents[1]


def _module():
    return experiment_module("claim_sa")


def _run(cli, tmp_path, name, *sets):
    from plasticity.io.runfile import open_run

    out = tmp_path / f"{name}.h5"
    args = ["run", "claim-sa", "--quick", "--quiet", "--out", out]
    for s in sets:
        args += ["--set", s]
    code, _, err = cli(*args)
    assert code == 0, err
    return open_run(out)


def test_accepted_cosine_theory_against_monte_carlo():
    """E[c | c > 0] for a uniform direction in R^D, against sampling and its large-D form."""
    mod = _module()
    rng = np.random.default_rng(0)
    for d in (3, 50):
        u = rng.standard_normal((200_000, d))
        c = u[:, 0] / np.linalg.norm(u, axis=1)
        pos = c[c > 0]
        se = pos.std() / np.sqrt(pos.size)
        assert abs(pos.mean() - mod.accepted_cos_theory(d)) < 4 * se
    # D = 3: c is uniform on [-1, 1] (Archimedes), so E[c | c > 0] = 1/2
    assert mod.accepted_cos_theory(3) == pytest.approx(0.5, rel=1e-12)
    # large D: sqrt(2 / (pi D)) with relative error O(1/D)
    d = 10**6
    assert mod.accepted_cos_theory(d) == pytest.approx(np.sqrt(2 / (np.pi * d)), rel=1e-5)


def test_convex_quadratic_every_accepted_step_points_downhill(cli, tmp_path):
    """Linear teacher, decisions on the exact population loss L = |W - W*|^2 / 2 + const:
    L(w + d) - L(w) = g.d + |d|^2 / 2, so a step that lowers L has g.d < 0 (a theorem)."""
    run = _run(cli, tmp_path, "linear", "task=linear", "batch_size=0", "n_updates=200",
               "seeds=4", "n_inputs=10", "n_outputs=2", "step_norm=0.01")
    s = run.summary
    assert s["reference"] == "exact-closed-form"
    for m in ("es_1p1", "hill_climbing"):
        assert s[f"{m}.n_measured"] > 0
        assert s[f"{m}.frac_positive"] == 1.0
        assert s[f"{m}.uphill_frac"] == 0.0
    # the random walk takes every proposal: its accepted steps are its proposals
    assert s["random_walk.accept_rate"] == 1.0
    assert s["random_walk.cos_mean"] == pytest.approx(s["random_walk.proposal_cos"],
                                                      rel=1e-12)
    # small steps on the exact loss: hill climbing keeps the proposals with
    # -g.xi > |xi| s / (2 |g|), a threshold far below the cosines' spread here, so its mean
    # accepted cosine is the theory's E[c | c > 0]; tolerance: 4 standard errors over seeds
    per_seed = np.asarray(run.series["seeds/hill_climbing"]["cos_mean"])
    se = per_seed.std(ddof=1) / np.sqrt(per_seed.size)
    assert abs(s["hill_climbing.cos_mean"] - s["theory_accept_cos"]) < 4 * se
    assert se < 0.02  # the check has power: the theory is 0.17 here
    # proposals are isotropic: their mean cosine is 0 within its interval's reach
    for m in ("annealing", "hill_climbing", "random_walk"):
        assert s[f"{m}.proposal_cos_low"] < 0.02 and s[f"{m}.proposal_cos_high"] > -0.02


def test_seed_contract_and_verdict(cli, tmp_path):
    one = _run(cli, tmp_path, "one", "n_updates=60", "seeds=1", "n_eval=256")
    two = _run(cli, tmp_path, "two", "n_updates=60", "seeds=2", "n_eval=256")
    for m in ("annealing", "es_1p1", "hill_climbing", "random_walk"):
        assert_seed_contract(one, two, rule=m)
    s = two.summary
    # annealing accepts some uphill moves only while it is hot; the others never do
    assert s["hill_climbing.uphill_frac"] == 0.0 and s["es_1p1.uphill_frac"] == 0.0
    assert 0 < s["annealing.accept_rate"] < 1
    # the verdict is computed from the numbers: it changes when they do
    mod = _module()
    assert mod.verdict(dict(s), 2) == s["verdict"]
    doctored = dict(s, **{"annealing.cos_ci_low": -0.01, "annealing.cos_ci_high": 0.01})
    text = mod.verdict(doctored, 2)
    assert text.startswith("Not shown") and "indistinguishable from 0" in text
    assert s["verdict"].startswith("Supported" if s["annealing.cos_ci_low"] > 0
                                   else "Not shown")


@pytest.mark.parametrize("settings, words", [
    (["n_updates=1"], ["n_updates"]),
    (["task=quadratic"], ["task"]),
    (["batch_size=-1"], ["batch_size"]),
    (["t_final_ratio=0"], ["t_final_ratio"]),
])
def test_bad_input_is_refused(refuses, settings, words):
    refuses("claim-sa", settings, words)


def test_listed_with_its_first_docstring_line():
    from plasticity.registry import list_experiments

    assert list_experiments()["claim-sa"].startswith("Claim: simulated annealing")
