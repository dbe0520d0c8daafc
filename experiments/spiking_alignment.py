"""STDP and node perturbation on a supervised spiking task, judged by a gradient oracle.

The task (:class:`plasticity.tasks.spiking.SpikeCountTask`): ``n_outputs`` escape-noise
LIF neurons receive one of ``n_patterns`` frozen Poisson input patterns per trial and must
fire a target number of spikes for each; the loss is the expected squared count error,
averaged over the patterns. Each rule learns for ``n_updates`` trials from the same
initial weights, one update per trial (the net weight change over the trial). By default
the initial mean weight is matched so that the mean output count equals the mean target
count (``w_mean_mv`` in the summary): the loss can then only fall by firing differently for
different patterns, not by firing more or less overall, which would otherwise hand an
unsupervised rule whose drift happens to have the right sign a spurious alignment.

``stdp``
    Additive all-to-all pair STDP (Song, Miller & Abbott 2000), unsupervised: it never
    sees the target. Nothing is expected of its alignment; the run reports what it is.
``spike_node_perturbation``
    The neurons' own escape noise as the perturbation, correlated with the reward
    through the score (Xie & Seung 2004; Fiete & Seung 2006): an unbiased stochastic
    gradient step, so its mean cosine must be positive and its loss must fall.
``random_direction``
    The same-budget baseline: node perturbation's step norm, an isotropic random
    direction (:class:`plasticity.analysis.baselines.RandomDirection`), trained as a run
    of its own.

Backends
--------
``backend`` (with ``brian2_target``) chooses the simulator of the rules' learning trials:
the Numba kernel (:mod:`plasticity._kernels.escape`) or Brian2
(:mod:`plasticity.spiking.escape_brian2`: the same neurons as a ``NeuronGroup`` with the
escape noise as its threshold, driven by the frozen input trains through a
``SpikeGeneratorGroup``, one reused ``Network``; runtime targets only, ``cpp_standalone``
is refused because a standalone build runs once and every update needs a new trial with
new weights). On Brian2 the score (node perturbation, random direction) and the STDP
change are computed from the recorded spikes, of which they are deterministic functions
given the inputs and the weights (:func:`plasticity._kernels.escape.score_given_spikes`,
:func:`plasticity.rules.spiking.stdp_pair_change`). The oracle, which estimates the true
gradient, and the matching of the initial mean weight stay on the validated Numba kernel
on both backends (``oracle_backend="numba"``): for one seed both backends start from the
same weights and are judged by the same reference, and only the learning trials' spikes
differ (Brian2 draws its own random numbers). ``backend``, ``oracle_backend`` and
``brian2_target_used`` ("n/a" on Numba) are in the summary and the run file's attributes.

Every ``record_every``-th update, the problem's oracle
(:class:`plasticity.problems.SpikingEscapeProblem`, whose population gradient is the
estimate of :class:`plasticity.spiking.oracle.SpikingGradientOracle`: likelihood ratio with
a leave-one-out baseline, ``n_trials`` trials per pattern) estimates the gradient at the
pre-update weights with its standard error, and :func:`plasticity.analysis.measured`
records the alignment under ``/alignment/<rule>/`` (``grad_se`` next to the cosine). The
oracle draws fresh neuron noise at every record (``noise="fresh"``), so the reference's
errors are independent from record to record and the interval over records includes them;
with common noise one shared error would move every record's cosine alike.
``actual_dloss`` is measured with common random numbers (the same neuron noise before and
after the update). The loss estimated from the oracle's
trials goes to ``/series/loss/<rule>`` with its standard error.

How much of the spread is the oracle's: the measured cosine is against an estimate
``g + e``, not ``g``. ``oracle_self_cos`` is the cosine between two independent oracle
estimates at the initial weights: for isotropic noise it is about
``|g|^2 / (|g|^2 + E|e|^2)``, and a rule's true cosine is attenuated by about
``sqrt(oracle_self_cos)`` (``oracle_cos_attenuation``). ``oracle_rel_se`` is the median
over records of ``|se| / |grad estimate|``.

Summary per rule: ``<rule>.cos_mean``, ``<rule>.cos_ci_low``, ``<rule>.cos_ci_high``
(the interval of :func:`plasticity.analysis.summarize` over the recorded updates, named by
``<rule>.ci_method``, with every further key it returns), ``<rule>.frac_positive``,
``<rule>.n_measured``, ``<rule>.loss_first``, ``<rule>.loss_last`` (oracle estimates at
the initial and final weights) and ``<rule>.loss_last_se``. Further keys:
``oracle_self_cos``, ``oracle_cos_attenuation``, ``oracle_rel_se``, ``oracle_n_trials``,
``loss_first_se``, ``w_mean_mv``, ``n_records_per_rule``, ``n_parameters``, ``backend``,
``oracle_backend``, ``brian2_target_used``. The
``actual_dloss`` column uses ``n_loss_trials`` trials per pattern.

Observed (quick preset, seeds 0-3): node perturbation aligns weakly (mean cosine
0.04-0.12 per single-trial update, CI above 0 for every seed, lower end 0.007-0.07) and
lowers the loss for seeds 0-2 (by 6-26 %; for seed 3 it is unchanged within its SE); additive
STDP potentiates the causal inputs, the output rates run away from the targets and its
cosine is clearly negative; the random direction's mean is within about 0.02 of 0.
``oracle_self_cos`` ranged from 0.61 to 0.99 over those seeds (the gradient at the
matched initial weights is small for some draws of the targets); raise ``n_trials``
where it is low.

Observed on Brian2 (quick preset, seeds 0-3, same initial weights and oracle as on Numba
for each seed): node perturbation's mean cosine 0.065-0.165 (Numba: 0.044-0.123), CI
above 0 for every seed (lower end 0.025-0.12); the loss falls by 21, 5 and 24 % for seeds
0-2 (Numba: 20, 6 and 26 %) and is unchanged within its SE for seed 3 (as on Numba);
STDP's cosine -0.29 to -0.39 (Numba: -0.31 to -0.38); the random direction's mean within
0.02 of 0. Seed 0: node perturbation 0.165 [0.119, 0.210] against 0.107 [0.058, 0.154],
loss 8.90 -> 7.03 (SE 0.17) against 8.90 -> 7.10 (SE 0.17). The differences between the
backends are those of different random spikes (the CIs overlap). A Brian2 trial costs
about 45 ms of Python and code-object set-up in runtime mode (Cython), so the quick
preset takes about 1 min of CPU on Brian2 against 17 s on Numba.

References
----------
Song, S., Miller, K. D., & Abbott, L. F. (2000). Nat. Neurosci. 3, 919-926.
Xie, X., & Seung, H. S. (2004). Learning in neural networks by reinforcement of irregular
    spiking. Phys. Rev. E 69, 041909.
Fiete, I. R., & Seung, H. S. (2006). Phys. Rev. Lett. 97, 048104.
Williams, R. J. (1992). Machine Learning 8, 229-256 (the likelihood-ratio estimator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field, field_validator

from plasticity.engine import Batch
from plasticity.experiment import AlignmentMeta, Experiment
from plasticity.spiking.runner import SpikingConfig

RULES = ("stdp", "spike_node_perturbation", "random_direction")

#: What this experiment's alignment numbers are (read by alignment-summary): every rule is
#: judged against the spiking problem's population gradient, estimated with standard
#: errors; the interval method is that of :func:`plasticity.analysis.summarize`
#: (``<rule>.ci_method``).
ALIGNMENT = {"reference": "population-estimated", "problem": "spike-count",
             "ci_method": "batch_means", "rules": list(RULES), "substrate": "spiking"}


class SpikingAlignmentConfig(SpikingConfig):
    """The task, the rules and the oracle; ``backend`` simulates the rules' learning trials
    (the oracle and the initial-weight matching use the Numba kernel on both)."""

    n_inputs: int = Field(20, ge=1, description="input spike trains")
    n_outputs: int = Field(2, ge=1, description="output neurons")
    n_patterns: int = Field(3, ge=1, description="input patterns (classes)")
    duration_ms: float = Field(200.0, gt=0, description="trial length (ms)")
    rate_hz: float = Field(20.0, gt=0, le=500, description="input rate (Hz)")
    n_updates: int = Field(400, ge=1, description="trials of learning per rule")
    record_every: int = Field(2, ge=1, description="measure every k-th update")
    n_trials: int = Field(200, ge=2, description="oracle trials per pattern")
    n_loss_trials: int = Field(100, ge=1, description="trials per pattern for the "
                               "actual loss change (common random numbers)")
    target_rate_low_hz: float = Field(2.0, ge=0, description="lowest target rate (Hz)")
    target_rate_high_hz: float = Field(40.0, gt=0, description="highest target rate (Hz)")
    eta_np: float = Field(0.01, gt=0, description="node-perturbation learning rate")
    baseline_rate: float = Field(0.2, gt=0, le=1, description="NP reward-baseline rate")
    stdp_eta: float = Field(1.0, gt=0, description="scale of the STDP amplitudes")
    w_mean_mv: float | None = Field(None, description="mean initial weight (mV); None: "
                                    "matched so that the mean output count equals the "
                                    "mean target count")
    w_sd_mv: float = Field(1.0, ge=0, description="sd of the initial weights (mV)")
    n_boot: int = Field(2000, ge=100, description="bootstrap resamples")

    @field_validator("brian2_target")
    @classmethod
    def _runtime_target(cls, value):
        if value == "cpp_standalone":
            # the CLI reads this as "The 'brian2_target' parameter ... must be <this>"
            raise ValueError("one of auto, cython, numpy (every update runs a short Brian2 "
                             "trial with new weights; a C++ standalone build runs only once)")
        return value


@dataclass
class _Trial(Batch):
    """One trial to run: the pattern (``x`` its input trains, ``target`` its counts), the
    seed of the neuron noise and the update number. The trial itself is simulated with
    the current weights by ``signals``, which also sets ``reward``."""

    pattern: int = 0
    seed: int = 0
    step: int = 0


def _rules(cfg):
    from plasticity.analysis.baselines import RandomDirection
    from plasticity.rules.spiking import PairSTDPTrial, SpikeNodePerturbation

    stdp = PairSTDPTrial(eta=cfg.stdp_eta)
    np_rule = SpikeNodePerturbation(eta=cfg.eta_np, baseline_rate=cfg.baseline_rate)
    return {"stdp": stdp, "spike_node_perturbation": np_rule,
            "random_direction": RandomDirection(SpikeNodePerturbation(
                eta=cfg.eta_np, baseline_rate=cfg.baseline_rate))}


def _matched_mean(task, spread, rng, n_trials=100):
    """The mean weight (mV) at which the mean output count equals the mean target count.

    Then the loss is not reduced by firing more or less overall, only by firing
    differently for different patterns, which an unsupervised rule cannot know of.
    Bisection on [-20, 40] mV with common random numbers (the mean count increases with
    the mean weight for each fixed set of uniforms).
    """
    U = rng.random((task.n_patterns, n_trials, task.n_steps, task.n_outputs))
    want = float(task.targets.mean())

    def mean_count(w):
        return np.mean([task.neuron.run(w + spread, task.patterns[m], U[m])["counts"].mean()
                        for m in range(task.n_patterns)])

    lo, hi = -20.0, 40.0
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if mean_count(mid) < want:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _stats_summary(stats, prefix):
    """Every key of :func:`plasticity.analysis.summarize` under ``prefix`` (``ci_method``,
    ``n_eff``, ...; its ``n`` as ``n_measured``)."""
    return {f"{prefix}{'n_measured' if k == 'n' else k}": v for k, v in stats.items()}


def run(cfg: SpikingAlignmentConfig, ctx):
    from plasticity.analysis import measured, summarize
    from plasticity.analysis.geometry import cosine
    from plasticity.engine import train
    from plasticity.problems import SpikingEscapeProblem
    from plasticity.rules.spiking import PairSTDPTrial
    from plasticity.spiking.escape_brian2 import brian2_trial
    from plasticity.spiking.oracle import SpikingGradientOracle
    from plasticity.tasks.spiking import SpikeCountTask

    task = SpikeCountTask(n_inputs=cfg.n_inputs, n_outputs=cfg.n_outputs,
                          n_patterns=cfg.n_patterns, duration_ms=cfg.duration_ms,
                          rate_hz=cfg.rate_hz, rng=ctx.child_rng(),
                          target_rate_hz=(cfg.target_rate_low_hz, cfg.target_rate_high_hz))
    rng0 = ctx.child_rng()
    spread = rng0.normal(0.0, cfg.w_sd_mv, size=(cfg.n_outputs, cfg.n_inputs))
    w_mean = cfg.w_mean_mv
    if w_mean is None:
        w_mean = _matched_mean(task, spread, ctx.child_rng())
    params0 = {"W_out": w_mean + spread}
    # the reference: fresh oracle noise at every call (see the module docstring)
    problem = SpikingEscapeProblem(task, n_trials=cfg.n_trials, noise="fresh",
                                   seed=ctx.child_rng())
    trials = None
    if cfg.backend == "brian2":
        from plasticity.spiking.escape_brian2 import Brian2EscapeTrials

        trials = Brian2EscapeTrials(task.neuron, task.n_inputs, task.n_outputs,
                                    task.n_steps, target=cfg.brian2_target)
    backend_info = {"backend": cfg.backend, "oracle_backend": "numba",
                    "brian2_target_used": getattr(trials, "target_used", "n/a")}
    ctx.recorder.set_attrs(**backend_info)
    loss_oracle = SpikingGradientOracle(task, n_trials=max(cfg.n_loss_trials, 2))

    # How noisy is the reference itself: two independent estimates at the same weights.
    first, second = problem.estimate(params0), problem.estimate(params0)
    self_cos = cosine(first.grad, second.grad, undefined=0.0)
    loss_first = 0.5 * (first.loss + second.loss)
    loss_first_se = 0.5 * float(np.hypot(first.loss_se, second.loss_se))

    summary = {}
    rel_se = []
    n_rec = cfg.n_updates // cfg.record_every
    with ctx.progress(len(RULES) * cfg.n_updates, "spiking-alignment") as bar:
        for name, rule in _rules(cfg).items():
            seeds = np.random.SeedSequence([ctx.seed, 7, RULES.index(name)]).spawn(3)
            data_rng, rule_rng, crn_seed = (np.random.default_rng(s) for s in seeds)
            crn_root = int(crn_seed.integers(2**62))
            stdp_params = rule.stdp_params() if isinstance(rule, PairSTDPTrial) else None

            def next_batch(step, _rng=data_rng):
                m = int(_rng.integers(task.n_patterns))
                return _Trial(x=task.patterns[m], target=task.targets[m], pattern=m,
                              seed=int(_rng.integers(2**62)), step=step)

            def signals(p, batch, _sp=stdp_params):
                if trials is None:
                    trial = task.trial(p, batch.seed, pattern=batch.pattern, stdp=_sp)
                else:
                    # Brian2 draws the spikes; score and STDP follow from them
                    trial = brian2_trial(task, trials, p, batch.pattern, batch.seed)
                batch.reward = trial.reward  # the engine hands batch.reward to the rule
                return {**trial.signals, "step": batch.step}

            def gradient_fn(p, s, _name=name):
                # the problem's population gradient with its SE, and the loss from the
                # same trials for the loss curve
                est = problem.estimate(p)
                ctx.recorder.append(f"loss/{_name}", s["step"] - 1,
                                    units={"loss": "spikes^2", "loss_se": "spikes^2"},
                                    loss=est.loss, loss_se=est.loss_se)
                return est.grad, est.se

            def loss_fn(p, s, _root=crn_root):
                # The same neuron noise before and after an update (common random numbers)
                return loss_oracle.loss(p, rng=[_root, s["step"]])

            wrapped = measured(rule, gradient_fn, loss_fn=loss_fn, every=cfg.record_every,
                               recorder=ctx.recorder, prefix=f"/alignment/{name}")

            final, _ = train(wrapped, params0, n_updates=cfg.n_updates,
                             next_batch=next_batch, signals=signals, rng=rule_rng,
                             progress=bar)
            total = wrapped.records["total"]
            keep = ~total["zero_norm"]
            stats = summarize(total["cos"][keep], total["inner"][keep], n_boot=cfg.n_boot,
                              rng=0)
            last = problem.estimate(final)
            ctx.recorder.append(f"loss/{name}", cfg.n_updates,
                                units={"loss": "spikes^2", "loss_se": "spikes^2"},
                                loss=last.loss, loss_se=last.loss_se)
            rel_se.extend(total["grad_se"] / np.maximum(total["grad_norm"], 1e-300))
            summary.update({**_stats_summary(stats, f"{name}."),
                            f"{name}.loss_first": loss_first,
                            f"{name}.loss_last": last.loss,
                            f"{name}.loss_last_se": last.loss_se})
            ctx.recorder.snapshot(f"W_out/{name}", cfg.n_updates, final["W_out"], units="mV")
    ctx.summary(**summary, oracle_self_cos=self_cos, w_mean_mv=float(w_mean),
                oracle_cos_attenuation=float(np.sqrt(max(self_cos, 0.0))),
                oracle_rel_se=float(np.median(rel_se)) if rel_se else float("nan"),
                oracle_n_trials=cfg.n_trials, loss_first_se=loss_first_se,
                n_records_per_rule=n_rec, n_parameters=cfg.n_inputs * cfg.n_outputs,
                **backend_info)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    fig, (ax_cos, ax_loss) = figure("double", height_ratio=0.4, ncols=2)
    for i, rule in enumerate(RULES):
        table = run.alignment.get(f"{rule}/total")
        color = "0.45" if rule == "random_direction" else PALETTE[i % len(PALETTE)]
        if table is not None and len(table["cos"]):
            cos = np.asarray(table["cos"])[~np.asarray(table["zero_norm"], bool)]
            parts = ax_cos.violinplot([cos], positions=[i], widths=0.7, showextrema=False)
            a_cos = src(f"alignment/{rule}/total:cos")
            kept = a_cos[~src(f"alignment/{rule}/total:zero_norm")]
            for body in parts["bodies"]:
                body.set_facecolor(color)
                body.set_alpha(0.35)
                traced(body, values=kept, position=i, width=0.7)
        mean = s.get(f"{rule}.cos_mean", np.nan)
        low, high = s.get(f"{rule}.cos_ci_low", np.nan), s.get(f"{rule}.cos_ci_high", np.nan)
        traced(ax_cos.errorbar([i], [mean], yerr=[[mean - low], [high - mean]], fmt="o",
                               ms=3, color=color, capsize=3),
               x=[i], **{k: stack([src(f"summary:{rule}.{key}", default=np.nan)])
                         for k, key in (("y", "cos_mean"), ("ylow", "cos_ci_low"),
                                        ("yhigh", "cos_ci_high"))})
        loss = run.series.get(f"loss/{rule}")
        if loss is not None:
            step, val, se = (np.asarray(loss[k]) for k in ("step", "loss", "loss_se"))
            t = f"series/loss/{rule}"
            traced(ax_loss.plot(step, val, color=color, lw=1.0, label=rule)[0],
                   x=src(f"{t}:step"), y=src(f"{t}:loss"))
            traced(ax_loss.fill_between(step, val - se, val + se, color=color, alpha=0.2,
                                        lw=0),
                   x=src(f"{t}:step"), y1=src(f"{t}:loss") - src(f"{t}:loss_se"),
                   y2=src(f"{t}:loss") + src(f"{t}:loss_se"))
    traced(ax_cos.axhline(0.0, color="0.6", lw=0.6), y=0.0)
    ax_cos.set_xticks(range(len(RULES)), RULES)
    ax_cos.set_ylabel("cosine with -gradient (per update)")
    ax_cos.set_title(f"mean and 95% CI; oracle self-cosine {s.get('oracle_self_cos', np.nan):.2f}",
                     loc="left")
    ax_loss.set_xlabel("update (trial)")
    ax_loss.set_ylabel("expected trial loss (spikes$^2$)")
    ax_loss.legend(fontsize="small")
    ax_loss.set_title("loss, oracle estimate $\\pm$ SE", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="spiking-alignment",
    description="STDP and node perturbation on a supervised spiking task, cosine with "
                "the likelihood-ratio gradient oracle and its CI.",
    config=SpikingAlignmentConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"n_inputs": 50, "n_outputs": 3, "n_patterns": 4, "n_updates": 2000,
                      "record_every": 10, "n_trials": 1000}},
    alignment=AlignmentMeta(substrate=ALIGNMENT["substrate"],
                            loss="expected squared spike-count error",
                            problem=ALIGNMENT["problem"], reference=ALIGNMENT["reference"],
                            baselines=("random_direction",)),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
