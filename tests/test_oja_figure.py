"""The oja-pca figure: its input-index axis carries integer ticks only (an input is a
whole number; a tick at 1.5 would name no input)."""

import pytest


@pytest.mark.parametrize("n_inputs", [3, 5, 20])
def test_input_index_ticks_are_integers(tmp_path, n_inputs):
    import matplotlib.pyplot as plt
    import numpy as np

    from plasticity.experiment import execute
    from plasticity.io.runfile import open_run
    from plasticity.registry import load

    exp = load("oja-pca")
    cfg = exp.build_config(preset="quick",
                           overrides={"n_inputs": n_inputs, "n_samples": 1000})
    path, status = execute(exp, cfg, seed=0, out=tmp_path / "oja.h5", preset="quick",
                           quiet=True)
    assert status == "complete"
    fig = exp.plot(open_run(path))
    try:
        fig.canvas.draw()  # the locator places the ticks for the final axes size
        (ax,) = [a for a in fig.axes if a.get_xlabel() == "input index"]
        lo, hi = ax.get_xlim()
        ticks = np.array([t for t in ax.get_xticks() if lo <= t <= hi])
        assert ticks.size >= 2, ticks
        # tick positions are whole numbers as placed by the locator (no arithmetic)
        assert np.all(ticks == np.round(ticks)), ticks
        labels = [t.get_text().replace("\N{MINUS SIGN}", "-") for t in ax.get_xticklabels()
                  if t.get_text()]
        assert all(lbl.lstrip("-").isdigit() for lbl in labels), labels
    finally:
        plt.close(fig)
