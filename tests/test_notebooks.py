"""The example notebooks in experiments/notebooks/ run top to bottom without an error.

Each notebook is executed with nbclient in a kernel of the interpreter running the tests
(a kernel spec pointing at ``sys.executable`` is put first on ``JUPYTER_PATH``, so that a
user-level ``python3`` kernel of another Python cannot be picked up). The notebooks write
only below ``$PLASTICITY_NOTEBOOK_OUT``, set here to the test's temporary directory. After
the notebook's own cells, one extra cell prints a few of its results as JSON, which the
test checks against what the notebook must have computed.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "experiments" / "notebooks"
MARK = "NOTEBOOK-RESULTS "


def _kernel_dir(root: Path) -> Path:
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tests)", "language": "python"}))
    return root


def execute(name, report, tmp_path, monkeypatch):
    """Run notebook ``name`` with a last cell printing ``report`` (an expression giving a
    dict) as JSON; return the executed notebook and that dict."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        f"{name} is committed with outputs; strip them"
    nb.cells.append(nbformat.v4.new_code_cell(
        f"import json, sys\nprint({MARK!r} + json.dumps({{'python': sys.executable, "
        f"**({report})}}))"))
    out = tmp_path / "out"
    monkeypatch.setenv("JUPYTER_PATH", str(_kernel_dir(tmp_path / "jupyter")))
    monkeypatch.setenv("PLASTICITY_NOTEBOOK_OUT", str(out))
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()        # raises CellExecutionError naming the cell on any error
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs
                   if o.get("output_type") == "stream")
    line = next(x for x in text.splitlines() if x.startswith(MARK))
    results = json.loads(line[len(MARK):])
    assert Path(results["python"]).resolve() == Path(sys.executable).resolve()
    # nothing written outside the notebook's output directory
    assert {p.name for p in tmp_path.iterdir()} == {"jupyter", "out"}
    return nb, results


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)


def test_notebooks_are_all_tested():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CASES)


def test_01_open_a_run(tmp_path, monkeypatch):
    nb, res = execute("01_open_a_run.ipynb", "{'rows': len(runs), 'status': sorted(set("
                      "runs['status'])), 'seeds': sorted(runs['seed'].tolist()), 'cos': "
                      "run.summary['cos_to_pc1'], 'n_series': len(run.series['training']"
                      "['step'])}", tmp_path, monkeypatch)
    assert res["rows"] == 3 and res["seeds"] == [0, 1, 2] and res["status"] == ["complete"]
    # quick preset, seed 0: Oja's rule at eta = 0.005 reaches |cos| 0.9997 (README); its
    # stationary jitter (notebook 2) keeps 1 - |cos| near 3e-3, so 0.99 is a safe floor
    assert res["cos"] > 0.99
    assert res["n_series"] == 200          # 20000 samples / window 100
    assert _images(nb) == 3


def test_02_sweep_across_seeds(tmp_path, monkeypatch):
    nb, res = execute("02_sweep_across_seeds.ipynb",
                      "{'rows': len(df), 'complete': int((df['status'] == 'complete').sum()),"
                      " 'grid': len(GRID['eta']), 'seeds': len(SEEDS), 'table': len(table), "
                      "'counts': table['count'].tolist(), 'files': len(list((SWEEP / 'runs')"
                      ".glob('*.h5')))}", tmp_path, monkeypatch)
    n = res["grid"] * res["seeds"]
    assert res["seeds"] == 5 and res["grid"] == 4
    assert res["rows"] == res["complete"] == res["files"] == n
    assert res["table"] == res["grid"] and res["counts"] == [5] * 4
    assert _images(nb) == 2


def test_03_your_own_rule(tmp_path, monkeypatch):
    nb, res = execute("03_your_own_rule.ipynb",
                      "{'delta_err': delta_theory_error, 'saved': [str(p) for p in saved], "
                      "'summary': summary[['cos_mean', 'cos_ci_low', 'cos_ci_high', "
                      "'sgd_ceiling', 'cos_batch_mean']]"
                      ".to_dict('index')}", tmp_path, monkeypatch)
    s = res["summary"]
    # the delta rule changes W_out along exactly its part of its minibatch's -grad L: that
    # cosine is 1 to rounding error (float64, arrays of <= 64 x 64)
    assert res["delta_err"] < 1e-12
    # backprop is its minibatch's -grad L: 1 against it, and exactly the SGD ceiling
    # against the population gradient (the same per-update cosines)
    assert s["backprop"]["cos_batch_mean"] == pytest.approx(1.0, abs=1e-9)
    assert s["backprop"]["cos_mean"] == pytest.approx(s["backprop"]["sgd_ceiling"], abs=1e-9)
    for name, row in s.items():
        assert row["cos_ci_low"] <= row["cos_mean"] <= row["cos_ci_high"], name
    # the figure the notebook promises, saved in its output directory
    assert [Path(p).suffix for p in res["saved"]] == [".png", ".pdf"]
    assert all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in res["saved"])
    assert all(Path(p).is_relative_to(tmp_path / "out") for p in res["saved"])
    assert _images(nb) == 1


def test_04_spiking_rasters_and_weights(tmp_path, monkeypatch):
    nb, res = execute("04_spiking_rasters_and_weights.ipynb",
                      "{'n_out': int(t_out.size), 'from_rates': spikes_from_rates, "
                      "'n_snap': int(w_rel.shape[0]), 'n_syn': int(w_rel.shape[1]), "
                      "'hist_total': hists.sum(axis=1).tolist(), 'summary': run.summary}",
                      tmp_path, monkeypatch)
    # 1-s bins of integer spike counts: the rates sum back to the count exactly
    assert res["from_rates"] == pytest.approx(res["n_out"], abs=1e-9)
    # 20 s with a snapshot every 2 s, including t = 0 and the end
    assert res["n_snap"] == 11 and res["n_syn"] == 1000
    # every weight stays in [0, gmax], so each histogram counts every synapse
    assert res["hist_total"] == [1000] * 11
    s = res["summary"]
    # the weights start uniform on [0, gmax]: 10% +- 1% (binomial, n = 1000) below
    # 0.1 gmax; STDP's competition must have pushed clearly more there
    assert s["frac_w_low"] > 0.15
    # and the output rate falls as the weights split (55.8 -> 40.1 Hz at seed 0)
    assert s["rate_last_10s"] < s["rate_first_10s"]
    assert _images(nb) == 4


def test_05_temporal_credit(tmp_path, monkeypatch):
    nb, res = execute("05_temporal_credit.ipynb",
                      "{'ref_err': reference_error, 'refs': refs, 'rules': RULES, "
                      "'diag': [matrix.loc[r, r] for r in matrix.index], "
                      "'asym': float(np.nanmax(np.abs(matrix.to_numpy() - "
                      "matrix.to_numpy().T))), 'share': w_out_share, "
                      "'n_spk': len(SPIKING_RULES)}", tmp_path, monkeypatch)
    # the run file's reference losses are entropies of the Add task's target: the
    # notebook's closed form gives the same numbers to rounding (a few ulp of ~0.5)
    assert res["ref_err"] < 1e-12
    r = res["refs"]
    assert r["loss_both_learned"] < r["loss_t1_learned"] < r["loss_no_memory"]
    # a cosine of an update with itself is 1 (rounding only); readout-only changes no
    # recurrent parameter, so its diagonal entry is undefined (NaN)
    diag = dict(zip(["gradient", *res["rules"]], res["diag"], strict=True))
    assert math.isnan(diag.pop("readout_only"))
    assert all(abs(v - 1.0) < 1e-9 for v in diag.values())
    # the mean over batches of cos(a, b) is symmetric in a and b
    assert res["asym"] < 1e-9
    assert 0.0 < res["share"] < 1.0
    assert _images(nb) == 3


def test_06_claims_atlas(tmp_path, monkeypatch):
    nb, res = execute("06_claims_atlas.ipynb",
                      "{'order': order, 'copied': copied, 'names': names, "
                      "'outcomes': [s[f'{n}.outcome'] for n in order]}",
                      tmp_path, monkeypatch)
    # the four runs, in claim order (momentum 1, TD 2, SA 4, replicator 12)
    assert res["order"] == ["claim-momentum", "claim-td", "claim-sa", "replicator-selection"]
    # every number and verdict on the page is its source's own, unchanged
    assert all(res["copied"].values())
    assert set(res["order"]) <= set(res["names"])
    assert all(o in ("supported", "not supported", "partly", "unresolved")
               for o in res["outcomes"])
    assert _images(nb) == 1


CASES = ["01_open_a_run.ipynb", "02_sweep_across_seeds.ipynb", "03_your_own_rule.ipynb",
         "04_spiking_rasters_and_weights.ipynb", "05_temporal_credit.ipynb",
         "06_claims_atlas.ipynb"]
