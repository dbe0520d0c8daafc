"""The dopamine response moves from the reward to the CS as TD learning proceeds.

Reproduces the TD account of midbrain dopamine neurons of W. Schultz, P. Dayan &
P. R. Montague (1997), "A neural substrate of prediction and reward", Science
275:1593-1599 (Fig. 1 and the model of Montague, Dayan & Sejnowski 1996). A trial has
``n_steps = 40`` steps; the conditioned stimulus (CS) comes on at step ``cs_step = 9``
(0-based index 9) and the reward ``reward`` is delivered ``reward_delay = 10`` steps later,
at step ``R = cs_step + reward_delay = 19``. The stimulus is a complete serial compound
(one feature per step since CS onset, none before), the value is linear and learned by
TD(0) (``lam = 0``) with ``gamma = 0.98`` (:class:`plasticity.rl.TDCritic`).

Conventions (those of :mod:`plasticity.rl.critic`): ``delta_t = r_t + gamma V_{t+1} -
V_t`` with ``V = 0`` after the last step, and the dopamine at step ``t`` is ``delta_t``.
Before the CS every feature is 0, so ``V_t = 0`` for ``t < cs_step`` and cannot be learned
(the CS is unpredictable). **The CS response is read at step ``cs_step - 1``**, the step
just before CS onset, whose error is the transition into the CS state:
``delta_{cs-1} = gamma V_cs - 0``. The reward response is read at step ``R``.

Closed forms (TD(0), ``lam = 0``, ``negative_scale = 1``). At convergence
``V_t = reward gamma^(R - t)`` for ``cs_step <= t <= R`` and 0 after ``R``, hence

* ``delta_cs -> reward gamma^(reward_delay + 1)`` (the exponent is ``reward_delay + 1``:
  ``reward_delay`` steps from the CS state to the reward plus the pre-CS step);
* ``delta_reward -> 0``;
* omission probe (reward withheld, no learning): ``delta_R = -V_R -> -reward``.

Finite training: with one-hot features and online updates, each state's error after
``k`` trials obeys ``e_j(k+1) = (1 - eta) e_j(k) + eta gamma e_{j-1}(k)`` (``j``
steps before the reward), which from ``w = 0`` gives ``e_j(k) = -reward gamma^j
P[Bin(k, eta) <= j]``. The reward node's residual decays like ``(1 - eta)^k``; the
CS node's (``j = reward_delay``) like a binomial tail. The values recorded on trial
``k`` (1-based) use the weights after ``k - 1`` trials, so

    delta_cs(k)     = reward gamma^(D+1) (1 - P[Bin(k-1, eta) <= D]),   D = reward_delay
    delta_reward(k) = reward (1 - eta)^(k-1)
    delta_omission  = -reward (1 - (1 - eta)^n_trials).

Summary: ``delta_cs_final`` and ``delta_reward_final`` (last training trial),
``delta_omission`` (the omission probe at step ``R``), ``trial_cs_half`` (first 1-based
trial whose CS response reaches half of ``delta_cs_final``; -1 if there is no positive CS
response), and the asymptotes ``delta_cs_theory``, ``delta_reward_theory`` and
``delta_omission_theory`` (``-reward negative_scale``: a negative error is scaled), valid
for ``dopamine = "td"``. With ``dopamine = "reward_minus_expected"`` (no temporal
difference) the CS response stays 0: the response does not transfer.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import Config, Experiment


class TDConfig(Config):
    n_steps: int = Field(40, ge=2, description="steps per trial")
    cs_step: int = Field(9, ge=1, description="0-based step of CS onset (>= 1, so that "
                                              "the CS response can be read before it)")
    reward_delay: int = Field(10, ge=0, description="steps from CS onset to the reward")
    reward: float = Field(1.0, description="reward magnitude")
    gamma: float = Field(0.98, ge=0, le=1, description="discount per step")
    eta: float = Field(0.1, gt=0, le=1, description="learning rate (old name: alpha, "
                                                     "deprecated)")
    lam: float = Field(0.0, ge=0, le=1, description="eligibility-trace decay (0: TD(0))")
    n_trials: int = Field(300, ge=1, description="training trials")
    dopamine: Literal["td", "reward_minus_expected"] = Field(
        "td", description="prediction error carried by dopamine")
    negative_scale: float = Field(1.0, gt=0, le=1, description="factor on negative errors")

    @model_validator(mode="before")
    @classmethod
    def _old_learning_rate_name(cls, data):
        # --set alpha=... and config files of earlier runs keep working for one release
        from plasticity.validation import renamed_field

        return renamed_field(data, "alpha", "eta", "td-conditioning",
                             hint=" (the full preset sets eta: use --set eta=...)")

    @model_validator(mode="after")
    def _reward_inside(self):
        if self.cs_step + self.reward_delay >= self.n_steps:
            raise ValueError(f"the reward step cs_step + reward_delay = "
                             f"{self.cs_step + self.reward_delay} must be less than n_steps "
                             f"({self.n_steps})")
        return self


def run(cfg: TDConfig, ctx):
    from plasticity.rl import CompleteSerialCompound, TDCritic

    csc = CompleteSerialCompound(n_steps=cfg.n_steps, cs_step=cfg.cs_step)
    critic = TDCritic(gamma=cfg.gamma, eta=cfg.eta, lam=cfg.lam, dopamine=cfg.dopamine,
                      negative_scale=cfg.negative_scale)
    X = csc.features()
    r_step = cfg.cs_step + cfg.reward_delay
    cs_read = cfg.cs_step - 1
    rewards = np.zeros(cfg.n_steps)
    rewards[r_step] = cfg.reward
    w = np.zeros(csc.n_features)
    ctx.summary(cs_read_step=cs_read, reward_step=r_step,
                delta_cs_theory=cfg.reward * cfg.gamma ** (cfg.reward_delay + 1),
                delta_reward_theory=0.0,
                delta_omission_theory=-cfg.reward * cfg.negative_scale)
    rec = ctx.recorder
    units = {"delta": "1", "delta_cs": "1", "delta_reward": "1"}
    cs_trace = np.empty(cfg.n_trials)
    with ctx.progress(cfg.n_trials, "td-conditioning") as bar:
        for trial in range(1, cfg.n_trials + 1):
            deltas, w = critic.run_trial(X, rewards, w, learn=True)
            cs_trace[trial - 1] = deltas[cs_read]
            rec.append("delta", trial, units=units, index_units="trial", delta=deltas,
                       delta_cs=deltas[cs_read], delta_reward=deltas[r_step])
            bar.update(1)
    rec.snapshot("w", cfg.n_trials, w)
    omission, _ = critic.run_trial(X, np.zeros(cfg.n_steps), w, learn=False)
    rec.append("omission", cfg.n_trials, units={"delta": "1"}, index_units="trial",
               delta=omission)
    final = float(cs_trace[-1])
    if final > 0:
        half = int(np.argmax(cs_trace >= 0.5 * final)) + 1
    else:
        half = -1
    ctx.summary(delta_cs_final=final, delta_reward_final=float(deltas[r_step]),
                delta_omission=float(omission[r_step]), trial_cs_half=half)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2) = figure("double", height_ratio=0.33, ncols=2)
    d = run.series["delta"]
    delta = src("series/delta:delta")
    steps_src = delta.map(lambda d: np.arange(d.shape[1]), "column_index")
    s = run.summary
    trials = d["step"]
    steps = np.arange(d["delta"].shape[1])
    half = s["trial_cs_half"]
    picks = [(0, "trial 1 (early)")]
    if half > 1:
        picks.append((int(half) - 1, f"trial {int(half)}"))
    picks.append((len(trials) - 1, f"trial {int(trials[-1])} (late)"))
    for c, (i, label) in enumerate(picks):
        traced(ax1.plot(steps, d["delta"][i], color=PALETTE[c], label=label)[0],
               x=steps_src, y=delta[i])
    traced(ax1.plot(steps, run.series["omission"]["delta"][0], color=PALETTE[3], ls="--",
                    label="omission probe")[0],
           x=steps_src, y=src("series/omission:delta")[0])
    # the CS response is read at cs_step - 1: the transition into the CS state
    for x, name in ((s["cs_read_step"], "CS"), (s["reward_step"], "reward")):
        traced(ax1.axvline(x, color="0.6", lw=0.6, ls=":"),
               x=src("summary:cs_read_step" if name == "CS" else "summary:reward_step"))
        ax1.annotate(name, (x, 0.02), xycoords=("data", "axes fraction"), ha="left",
                     va="bottom", xytext=(2, 0), textcoords="offset points")
    ax1.set_xlabel(r"step $t$ ($\delta_t = r_t + \gamma V_{t+1} - V_t$)")
    ax1.set_ylabel(r"dopamine $\delta_t$")
    ax1.set_title("a  response across a trial", loc="left")
    ax1.legend()
    trials_src = src("series/delta:step")
    traced(ax2.plot(trials, d["delta_cs"], color=PALETTE[0], label="at CS")[0],
           x=trials_src, y=src("series/delta:delta_cs"))
    traced(ax2.plot(trials, d["delta_reward"], color=PALETTE[1], label="at reward")[0],
           x=trials_src, y=src("series/delta:delta_reward"))
    traced(ax2.axhline(s["delta_cs_theory"], color="0.5", ls="--", lw=0.8,
                       label=r"$r\gamma^{D+1}$"), y=src("summary:delta_cs_theory"))
    ax2.set_xlabel("trial")
    ax2.set_ylabel(r"$\delta$")
    ax2.set_title("b  transfer from reward to CS", loc="left")
    ax2.legend()
    return fig


EXPERIMENT = Experiment(
    name="td-conditioning",
    description="TD learning moves the dopamine response from the reward to the CS "
                "(Schultz, Dayan & Montague 1997).",
    config=TDConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"n_trials": 1000, "eta": 0.05}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
