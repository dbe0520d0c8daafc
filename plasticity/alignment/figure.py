"""The figure of an ``alignment-measure`` run file (``pl.alignment.plot``; ``plasticity
plot RUN.h5`` calls it too).
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError

__all__ = ["plot"]


def _kept(values, zero_norm):
    """``values`` of the updates whose cosine is defined (non-zero update and gradient)."""
    return np.asarray(values, dtype=float)[~np.asarray(zero_norm, dtype=bool)]


def _moving_mean(values, zero_norm):
    """Mean over a sliding window of about 1/20 of the defined values (at least 1), over
    the full windows only, so that its ends are not biased toward zero."""
    x = _kept(values, zero_norm)
    window = max(1, x.size // 20)
    if x.size == 0:
        return x
    return np.convolve(x, np.ones(window) / window, mode="valid")


def _span(a, b):
    """``[lo, hi]`` covering the finite values of ``a`` and ``b`` (``[0, 0]`` if none)."""
    v = np.concatenate([np.ravel(a), np.ravel(b)]).astype(float)
    v = v[np.isfinite(v)]
    return np.array([v.min(), v.max()]) if v.size else np.zeros(2)


def plot(run):
    """The figure of an ``alignment-measure`` run file (written by :func:`measure`).

    Panel a: each update's cosine with the negative population gradient against the
    update number (dots), its moving mean, the mean over training with its 95% interval,
    the SGD ceiling (the mean cosine of the exact minibatch gradient with the population
    gradient), the cosine of the expected update at the initial state, and zero. Panel
    b: each update's first-order predicted loss change on its batch, ``g_batch . d``,
    against the measured one on the same batch, with the identity line; points below
    zero are updates that lowered the loss. Updates of zero norm (undefined angle) are left out
    of panel a, as they are of the summary. Every datum is traced to the run file.

    Parameters
    ----------
    run : plasticity.io.runfile.RunFile
        A run of experiment ``"alignment-measure"``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import apply, src, traced

    if run.experiment != "alignment-measure":
        raise InvalidParameterError(f"plot draws alignment-measure runs; {run.path} is a "
                                    f"run of {run.experiment}.")
    fig, (ax1, ax2) = figure("double", height_ratio=0.36, ncols=2)
    s, cfg = run.summary, run.config
    t = run.alignment.get("total", {})
    # runs before the population reference predicted the loss change with the batch
    # gradient in predicted_dloss; now that column is the population prediction
    pred_key = "predicted_dloss_batch" if "predicted_dloss_batch" in t else "predicted_dloss"
    col = {k: src(f"alignment/total:{k}") for k in
           ("step", "cos", "zero_norm", pred_key, "actual_dloss")}
    zero = np.asarray(t.get("zero_norm", np.zeros(0, bool)), dtype=bool)
    step, cos = (np.asarray(t.get(k, np.zeros(0)), dtype=float) for k in ("step", "cos"))

    traced(ax1.scatter(_kept(step, zero), _kept(cos, zero), s=2, color=PALETTE[5],
                       alpha=0.5, lw=0, label="each update"),
           x=apply(_kept, col["step"], col["zero_norm"], name="kept"),
           y=apply(_kept, col["cos"], col["zero_norm"], name="kept"))
    traced(ax1.plot(_moving_mean(step, zero), _moving_mean(cos, zero), color=PALETTE[0],
                    label="moving mean")[0],
           x=apply(_moving_mean, col["step"], col["zero_norm"], name="moving_mean"),
           y=apply(_moving_mean, col["cos"], col["zero_norm"], name="moving_mean"))
    if "cos_mean" in s:
        traced(ax1.axhspan(s["cos_ci_low"], s["cos_ci_high"], color=PALETTE[0], alpha=0.2,
                           lw=0, label=f"mean {s['cos_mean']:.3f} [{s['cos_ci_low']:.3f}, "
                                       f"{s['cos_ci_high']:.3f}] (95% CI)"),
               low=src("summary:cos_ci_low"), high=src("summary:cos_ci_high"))
        traced(ax1.axhline(s["cos_mean"], color=PALETTE[0], lw=0.8),
               y=src("summary:cos_mean"))
    if "sgd_ceiling" in s and np.isfinite(s["sgd_ceiling"]):
        traced(ax1.axhline(s["sgd_ceiling"], color="0.2", lw=0.8, ls=(0, (1, 1)),
                           label=f"SGD ceiling ({s['sgd_ceiling']:.3f})"),
               y=src("summary:sgd_ceiling"))
    if "expected_cos" in s:
        traced(ax1.axhline(s["expected_cos"], color=PALETTE[1], lw=0.8, ls="--",
                           label=f"expected update at start ({s['expected_cos']:.3f})"),
               y=src("summary:expected_cos"))
    traced(ax1.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax1.set_xlabel("update")
    ax1.set_ylabel(r"cos(update, $-\nabla L_{\mathrm{pop}}$)")
    ax1.set_ylim(-1.05, 1.05)
    # the legend goes to the half of the panel the cosines mostly leave empty
    mostly_up = _kept(cos, zero).size == 0 or np.nanmean(_kept(cos, zero)) >= 0
    ax1.legend(loc="lower right" if mostly_up else "upper right", framealpha=0.8,
               frameon=True, edgecolor="none")
    ax1.set_title("a  alignment with the population gradient", loc="left")

    pred, act = (np.asarray(t.get(k, np.zeros(0)), dtype=float)
                 for k in (pred_key, "actual_dloss"))
    lims = _span(pred, act)
    traced(ax2.scatter(pred, act, s=3, color=PALETTE[0], alpha=0.6, lw=0,
                       label="each update"),
           x=col[pred_key], y=col["actual_dloss"])
    lims_src = apply(_span, col[pred_key], col["actual_dloss"], name="span")
    traced(ax2.plot(lims, lims, color="0.4", lw=0.6, ls="--",
                    label="actual = predicted")[0], x=lims_src, y=lims_src)
    traced(ax2.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax2.set_xlabel(r"predicted $\Delta L = \nabla L_{\mathrm{batch}} \cdot \Delta\theta$")
    ax2.set_ylabel(r"actual $\Delta L = L(\theta+\Delta\theta)-L(\theta)$")
    ax2.legend(loc="upper left")
    ax2.set_title("b  loss change per update (same batch)", loc="left")

    status = "" if run.status == "complete" else f" [{run.status}]"
    fig.suptitle(f"{cfg.get('rule', '?')} on {cfg.get('task', '?')} "
                 f"(hidden {cfg.get('hidden', '?')}, {cfg.get('n_updates', '?')} updates, "
                 f"batch {cfg.get('batch_size', '?')}, seed {run.seed}){status}", fontsize=8)
    return fig
