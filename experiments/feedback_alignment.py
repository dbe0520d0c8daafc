"""Feedback alignment: a 30-20-10 linear network learns a linear map with random feedback.

Reproduces: T. P. Lillicrap, D. Cownden, D. B. Tweed & C. J. Akerman (2016), "Random
synaptic feedback weights support error backpropagation for deep learning", Nat. Commun.
7:13276. The hidden layer of a network trained by feedback alignment (FA) receives the
output error through a fixed random matrix ``B`` instead of ``W_out^T``. At first its
update is unrelated to backprop's (the angle between them is near 90 degrees); the output
weights then grow along ``B^T`` (their updates are ``e h^T`` with ``h`` driven by
``B``-shaped hidden changes), and the FA update comes within 90 degrees of backprop's and
stays there: the network "learns to learn" from its random feedback.

Measured at every update, at the same parameters and batch: the angle between FA's and
backprop's hidden-layer updates (``dW1``), the angle between ``W_out^T`` and ``B`` (the
alignment of forward and feedback weights), and the population loss
``0.5 |W_out W1 - W*|_F^2`` (exact for ``x ~ N(0, I)`` and a noise-free teacher); the loss
on the task's held-out set (``task.evaluate``) every ``eval_every`` updates as a check.

Why the first angle is near 90 degrees, and how near
-----------------------------------------------------
With ``E`` the batch's output errors and ``X`` its inputs, ``M = E^T X`` (10 x 30) and
``C = M M^T``, backprop's hidden update is along ``W_out^T M`` and FA's along ``B M``. Over
the draw of ``B`` (independent of everything at update 1, entries ``N(0, s^2)``) the inner
product ``tr(W_out B C)`` has mean 0 and variance ``s^2 |W_out^T C|_F^2``, while
``|B M|^2 ~ s^2 n_h tr C``, so the cosine is about normal with mean 0 and

    sd = |W_out^T C|_F / sqrt(n_h tr(C) tr(W_out W_out^T C)) ~ 1 / sqrt(n_h r_eff),

``r_eff = (tr C)^2 / tr(C^2)`` the effective rank of the error-input correlation (at most
10, about 7.5 for a random 10 x 30 error map). With ``n_h = 20`` hidden units the angle
is ``90 +- ~5`` degrees; the run records this standard deviation, computed exactly from
``W_out`` and the first batch, as ``angle_initial_sd_deg``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from plasticity.experiment import Config, Experiment


class FeedbackAlignmentConfig(Config):
    n_inputs: int = Field(30, ge=1, description="inputs")
    n_hidden: int = Field(20, ge=1, description="hidden units (linear)")
    n_outputs: int = Field(10, ge=1, description="outputs")
    n_updates: int = Field(1000, ge=51, description="updates")
    batch_size: int = Field(64, ge=1, description="samples per update")
    eta: float = Field(0.02, gt=0, description="learning rate")
    init_scale: float = Field(0.1, ge=0, description="student weights ~ N(0, scale^2 / "
                                                    "fan-in): small, as in the paper")
    warmup: int = Field(50, ge=0, description="updates before angle_max_after_50 counts")
    eval_every: int = Field(50, ge=1, description="updates between held-out evaluations")


def angle_deg(a, b):
    """Angle between two arrays, flattened, in degrees (90 when either is zero)."""
    from plasticity.analysis.geometry import cosine

    return float(np.degrees(np.arccos(cosine(a, b, undefined=0.0))))


def initial_angle_sd_deg(w_out, deltas_out, x):
    """Standard deviation of the FA/backprop hidden-update angle over the draw of ``B``.

    Parameters
    ----------
    w_out : ndarray, shape (n_out, n_hidden)
    deltas_out : ndarray, shape (B, n_out)
        ``dL/du`` of the output layer on the batch.
    x : ndarray, shape (B, n_in)

    Returns
    -------
    float
        ``degrees(|W_out^T C|_F / sqrt(n_h tr C tr(W_out W_out^T C)))``, ``C = M M^T``,
        ``M = deltas_out^T x`` (see the module docstring; small-angle approximation).
    """
    m = deltas_out.T @ x
    c = m @ m.T
    n_h = w_out.shape[1]
    num = np.linalg.norm(w_out.T @ c)
    den = np.sqrt(n_h * np.trace(c) * np.trace(w_out @ w_out.T @ c))
    return float(np.degrees(num / den)) if den > 0 else float("nan")


class _Compared:
    """Feedback alignment, also asking backprop for its update at the same point.

    The FA update is the one applied; backprop's is computed from the same parameters
    and signals only to measure the angle between the two hidden-layer updates.
    """

    def __init__(self, fa, bp, hidden):
        self.fa, self.bp, self.hidden = fa, bp, hidden
        self.last = {}

    def init(self, params):
        return self.fa.init(params)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        delta, state = self.fa.update(signals, state, params, rng=rng)
        ref, _ = self.bp.update(signals, None, params, rng=rng)
        self.last = {"fa": delta[self.hidden], "bp": ref[self.hidden], "params": params,
                     "signals": signals}
        return delta, state


def run(cfg: FeedbackAlignmentConfig, ctx):
    from plasticity.engine import Probe, train
    from plasticity.rules.gradient import Backprop, FeedbackAlignment
    from plasticity.tasks.supervised import LinearTeacher

    task = LinearTeacher(cfg.n_inputs, cfg.n_outputs, ctx.child_rng())
    net = task.student(hidden=cfg.n_hidden, activation="linear", bias=False,
                       init_scale=cfg.init_scale)
    hidden, out = net.weight_names()
    params = net.init_params(ctx.child_rng())
    data_rng = ctx.child_rng()
    feedback_seed = int(ctx.child_rng().integers(2**31))
    fa = FeedbackAlignment(net=net, eta=cfg.eta, seed=feedback_seed)
    rule = _Compared(fa, Backprop(net=net, eta=cfg.eta), hidden)
    rec = ctx.recorder
    angles = np.empty(cfg.n_updates)
    first = {}
    w_star = task.teacher_params["W_out"]
    ctx.checkpointer.track("angles", angles, first)

    def population_loss(p):
        # exact E_x 0.5 |W_out W1 x - W* x|^2 for x ~ N(0, I) and a noise-free teacher:
        # cheap enough for every update, unlike the held-out set
        return 0.5 * float(np.sum((p[out] @ p[hidden] - w_star) ** 2))

    units = {"loss": "1", "angle_fa_bp_deg": "deg", "angle_wout_b_deg": "deg"}
    loss0 = task.evaluate(net, params)["loss"]
    b0 = fa.init(params)["feedback"][out]
    rec.append("training", 0, units=units, loss=population_loss(params),
               angle_fa_bp_deg=np.nan, angle_wout_b_deg=angle_deg(params[out].T, b0))
    rec.append("heldout", 0, units={"loss": "1"}, loss=loss0)

    def record(step, p, state, delta, batch):
        last = rule.last
        angle = angle_deg(last["fa"], last["bp"])
        angles[step - 1] = angle
        if step == 1:
            # the spread expected over the draw of B, from the pre-update state
            res = net.backprop(last["params"], batch.x, batch.target)
            first["sd"] = initial_angle_sd_deg(last["params"][out], res.deltas["output"],
                                               batch.x)
        rec.append("training", step, units=units, loss=population_loss(p),
                   angle_fa_bp_deg=angle,
                   angle_wout_b_deg=angle_deg(p[out].T, state["feedback"][out]))
        if step % cfg.eval_every == 0 or step == cfg.n_updates:
            rec.append("heldout", step, units={"loss": "1"},
                       loss=task.evaluate(net, p)["loss"])

    with ctx.progress(cfg.n_updates, "feedback-alignment") as bar:
        params, state = train(rule, params, n_updates=cfg.n_updates,
                              next_batch=lambda s: task.batch(cfg.batch_size, data_rng),
                              signals=lambda p, b: task.signals(net, p, b),
                              probes=[Probe(record)], progress=bar)
    after = angles[cfg.warmup:] if cfg.warmup < cfg.n_updates else angles[-1:]
    tail = angles[-max(1, cfg.n_updates // 10):]
    ctx.summary(angle_initial_deg=float(angles[0]), angle_final_deg=float(angles[-1]),
                angle_final_mean_deg=float(tail.mean()),
                angle_max_after_50=float(after.max()),
                angle_initial_sd_deg=first.get("sd", float("nan")),
                angle_wout_b_final_deg=angle_deg(params[out].T, state["feedback"][out]),
                loss_initial=float(loss0),
                loss_final=float(task.evaluate(net, params)["loss"]))


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.33, ncols=2)
    t = run.series["training"]
    step = np.asarray(t["step"])
    step_src = src("series/training:step")
    traced(ax1.plot(step, t["angle_fa_bp_deg"], color=PALETTE[0], lw=0.6,
                    label=r"$\Delta W_1$: FA vs backprop")[0],
           x=step_src, y=src("series/training:angle_fa_bp_deg"))
    traced(ax1.plot(step, t["angle_wout_b_deg"], color=PALETTE[1], lw=0.8,
                    label=r"$W_{out}^T$ vs $B$")[0],
           x=step_src, y=src("series/training:angle_wout_b_deg"))
    traced(ax1.axhline(90.0, color="0.5", lw=0.6, ls="--"), y=90.0)
    ax1.set_xlabel("update")
    ax1.set_ylabel("angle (deg)")
    ax1.set_ylim(0, 120)
    ax1.legend(loc="upper right")
    s = run.summary
    ax1.set_title(f"a  alignment (max after warm-up {s['angle_max_after_50']:.1f} deg)",
                  loc="left")
    traced(ax2.semilogy(step, t["loss"], color=PALETTE[2], label="population (exact)")[0],
           x=step_src, y=src("series/training:loss"))
    h = run.series["heldout"]
    traced(ax2.semilogy(h["step"], h["loss"], "o", ms=2, color=PALETTE[3],
                        label="held-out set")[0],
           x=src("series/heldout:step"), y=src("series/heldout:loss"))
    ax2.set_xlabel("update")
    ax2.set_ylabel("loss")
    ax2.legend()
    ax2.set_title("b  learning (feedback alignment)", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="feedback-alignment",
    description="Random feedback weights teach a 30-20-10 linear network; the FA hidden "
                "update aligns with backprop's (Lillicrap et al. 2016).",
    config=FeedbackAlignmentConfig,
    run=run,
    plot=plot,
    resumable=True,
    presets={"quick": {}, "full": {"n_updates": 20000, "batch_size": 128, "eta": 0.01,
                                   "eval_every": 100}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
