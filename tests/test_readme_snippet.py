"""The README's example of a researcher's own rule runs as printed."""

import re

from conftest import ROOT

HEADING = "## Your own rule under the alignment analysis"


def _snippet(heading=HEADING):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert heading in text, "README section missing"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "no python block in the README section"
    return match.group(1)


def test_readme_rule_snippet_runs(tmp_path, monkeypatch, capsys):
    code = _snippet()
    assert len(code.strip().splitlines()) <= 15   # "a dozen lines"
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    numbers = [float(v) for v in capsys.readouterr().out.split()]
    assert len(numbers) == 3
    low, mean = numbers[1], numbers[0]
    assert low <= mean
    assert (tmp_path / "data" / "runs" / "signhebb.h5").exists()
    assert (tmp_path / "data" / "runs" / "signhebb.png").stat().st_size > 0  # the figure


def test_readme_spiking_snippet_runs():
    namespace = {"__name__": "__readme__"}
    exec(compile(_snippet("## Spiking networks"), "README.md", "exec"), namespace)
    res, sim = namespace["res"], namespace["sim"]
    # the Song et al. network's first 10 s: a high rate (about 55-65 Hz, see song2000)
    assert 40 < res.rate_hz("neuron", 1) < 80
    assert sim.weights("input_neuron").shape == (1000,)


def test_readme_task_example_runs(capsys):
    exec(compile(_snippet("## Adding a task"), "README.md", "exec"), {"__name__": "__readme__"})
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    cos = {name: (float(c), float(ceiling), float(batch)) for name, c, ceiling, batch in rows}
    # backprop's update is the negative minibatch gradient: against the same minibatch it
    # is 1, and against the population gradient it is exactly the SGD ceiling (the same
    # per-update cosines; rounding only)
    mean, ceiling, batch = cos["backprop"]
    assert abs(batch - 1.0) < 1e-9 and abs(mean - ceiling) < 1e-9 and 0 < mean < 1
    assert 0 < cos["feedback_alignment"][0] < 1


def test_readme_experiment_example_runs(cli, tmp_path):
    path = tmp_path / "oja_speed.py"
    path.write_text(_snippet("## Adding an experiment"), encoding="utf-8")
    out = tmp_path / "run.h5"
    code, text, err = cli("run", path, "--set", "ratio=1.5", "--out", out, "--quiet")
    assert code == 0, err
    code, text, _ = cli("info", out, "--json")
    import json

    doc = json.loads(text)
    assert doc["status"] == "complete"
    # Oja's fixed point is PC1; around it the angle jitters with rms
    # sqrt(eta l1 l2 / (2 (l1 - l2))) = 0.12 rad here, so cos > 0.9 (0.45 rad, 3.7 rms)
    assert doc["summary"]["cos_to_pc1"] > 0.9
