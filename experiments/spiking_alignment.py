"""STDP and node perturbation on a supervised spiking task, judged by a gradient oracle.

One file (over 400 lines) by design: DESIGN.md keeps each experiment in one file so that
the study reads top to bottom; its problem (:mod:`plasticity.problems.spiking`), oracle
and rules live in the library, and what stays here is the study: config, seeds, figure.

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
(:mod:`plasticity.spiking.brian2.escape`: the same neurons as a ``NeuronGroup`` with the
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

Seeds. ``seeds`` independent replicates share the task (its frozen input patterns and
target counts, drawn from the run's seed, like alignment-atlas's teacher) and differ in
everything else: each seed has its own initial weights (spread and matched mean), its own
oracle noise, and for each rule its own trial stream (patterns and neuron noise of the
learning trials), rule noise and common random numbers of ``actual_dloss``. Seed 0 draws
them from the run's seed stream exactly as the single-seed run did; each further seed
``k`` from later generators of the stream and from ``SeedSequence([seed, 7, rule, k])``.
Every seed learns ``n_updates`` trials per rule and measures every ``record_every``-th.

Summary per rule, as in alignment-atlas: with several seeds ``<rule>.cos_mean``,
``<rule>.cos_ci_low``, ``<rule>.cos_ci_high`` are the mean over seeds of each seed's mean
cosine and its t-interval (:func:`plasticity.analysis.seeds_summary`), the same numbers
as ``<rule>.seeds_cos_mean``, ``.seeds_cos_low``, ``.seeds_cos_high`` (``.seeds_cos_n``
seeds), and ``<rule>.ci_method`` says so; ``<rule>.n_measured`` is summed over seeds;
``<rule>.frac_positive``, ``<rule>.n_eff``, ``<rule>.loss_first`` and
``<rule>.loss_last`` (oracle estimates at the initial and final weights) are averaged
over seeds, and ``<rule>.loss_last_se`` is the oracle's standard error of that average.
With ``seeds=1`` the keys are that seed's (the within-run interval of
:func:`plasticity.analysis.summarize` over its recorded updates, with every further key
it returns) and ``.seeds_cos_low``/``.seeds_cos_high`` are NaN. Each seed's own values,
with its within-run interval, are the rows of ``/series/seeds/<rule>``; its initial
weights' matched mean, oracle self-cosine and initial loss those of
``/series/seed_setup``. Seed 0 records under ``/alignment/<rule>/``,
``/series/loss/<rule>`` and ``/snapshots/W_out/<rule>``; seed ``k`` its ``total`` table
under ``/alignment/seed<k>/<rule>/`` and its loss curve under
``/series/loss/seed<k>/<rule>``. Further keys: ``oracle_self_cos`` (the mean over seeds),
``oracle_cos_attenuation`` (its square root), ``oracle_rel_se`` (median over every
seed's records), ``oracle_n_trials``, ``loss_first_se`` (of the averaged initial loss),
``w_mean_mv`` (mean over seeds), ``n_records_per_rule`` (per seed), ``n_seeds``,
``n_parameters``, ``backend``, ``oracle_backend``, ``brian2_target_used``. The
``actual_dloss`` column uses ``n_loss_trials`` trials per pattern.

Cost: the oracle (an estimate and two loss evaluations per record) is almost all of a
run's time, the learning trials little. The quick preset therefore runs 5 seeds and
measures every 10th update, 40 records per rule and seed, 200 in all, as many as the
single seed measured before (every 2nd of its 400 updates); the full preset runs 5 seeds
of 2,000 updates measured every 20th.

Observed (quick preset, run seeds 0-3, 5 seeds each; intervals over seeds): node
perturbation aligns weakly, ``cos_mean`` 0.097 [0.002, 0.192], 0.072 [0.019, 0.126],
0.116 [0.067, 0.165] and 0.074 [0.035, 0.112], the interval above 0 for every run seed;
its 20 per-seed means range from -0.025 to 0.166 (the spread between initial weights is
larger than a seed's own within-run interval on 40 records), and the loss falls on
average for every run seed (7.66 -> 6.56, 5.37 -> 5.12, 5.23 -> 4.20, 6.10 -> 5.60; by up
to 29 % for single seeds, for three of the 20 it is unchanged within about 3 %).
Additive STDP potentiates the causal inputs, the output rates run away from the targets
and its cosine is clearly negative: -0.352 [-0.379, -0.324], -0.407 [-0.443, -0.372],
-0.297 [-0.355, -0.238], -0.300 [-0.336, -0.264]. The random direction's interval holds 0
for every run seed (means -0.023 to 0.015). ``oracle_self_cos`` (mean over seeds) was
0.93, 0.76, 0.96 and 0.93, 0.61 to 0.99 for single seeds (the gradient at the matched
initial weights is small for some of them); raise ``n_trials`` where it is low. A run
takes 12.5-13.5 s of CPU.

Observed on Brian2 (quick preset, run seed 0, 5 seeds with the same initial weights and
oracles as on Numba): node perturbation 0.117 [0.052, 0.181] against 0.097 [0.002, 0.192]
on Numba (per seed 0.060-0.188 against -0.025-0.155), loss 7.66 -> 6.52 against 7.66 ->
6.56 (mean over seeds); STDP -0.361 [-0.414, -0.309] against -0.352 [-0.379, -0.324]; the
random direction -0.002 [-0.034, 0.030] against -0.003 [-0.037, 0.031]. The differences
between the backends are those of different random spikes (the intervals overlap). A
Brian2 trial costs about 25-45 ms of Python and code-object set-up in runtime mode
(Cython), and every seed learns its own 3 x 400 trials, so the quick preset takes about
2.8 min of CPU on Brian2 (1 min with the single seed it had before) against 13 s on Numba.

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
from plasticity.errors import InvalidParameterError
from plasticity.experiment import AlignmentMeta, Experiment
from plasticity.spiking.backends import check_backend
from plasticity.spiking.runner import SpikingConfig

RULES = ("stdp", "spike_node_perturbation", "random_direction")

#: What this experiment's alignment numbers are (read by alignment-summary): every rule is
#: judged against the spiking problem's population gradient, estimated with standard
#: errors; within a seed the interval method is that of
#: :func:`plasticity.analysis.summarize`, over seeds a t-interval (``<rule>.ci_method``
#: names the one its ``cos_ci_*`` hold).
ALIGNMENT = {"reference": "population-estimated", "problem": "spike-count",
             "ci_method": "batch_means", "seeds_ci_method": "t",
             "seeds": {"quick": 5, "full": 5}, "rules": list(RULES), "substrate": "spiking"}


class SpikingAlignmentConfig(SpikingConfig):
    """The task, the rules and the oracle; ``backend`` simulates the rules' learning trials
    (the oracle and the initial-weight matching use the Numba kernel on both)."""

    n_inputs: int = Field(20, ge=1, description="input spike trains")
    n_outputs: int = Field(2, ge=1, description="output neurons")
    n_patterns: int = Field(3, ge=1, description="input patterns (classes)")
    duration_ms: float = Field(200.0, gt=0, description="trial length (ms)")
    rate_hz: float = Field(20.0, gt=0, le=500, description="input rate (Hz)")
    n_updates: int = Field(400, ge=1, description="trials of learning per rule")
    record_every: int = Field(10, ge=1, description="measure every k-th update")
    seeds: int = Field(5, ge=1, le=100, description="independent seeds (initial weights, "
                       "oracle noise, trial streams; the task is the run's)")
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


#: Per-seed results averaged over seeds (the cosine's interval is recomputed).
_AVERAGED = ("frac_positive", "n_eff", "loss_first", "loss_last")

_SEED_UNITS = {"cos_mean": "1", "cos_ci_low": "1", "cos_ci_high": "1",
               "frac_positive": "1", "n_measured": "1", "loss_first": "spikes^2",
               "loss_last": "spikes^2", "loss_last_se": "spikes^2"}

_SETUP_UNITS = {"w_mean_mv": "mV", "oracle_self_cos": "1", "loss_first": "spikes^2",
                "loss_first_se": "spikes^2"}


def _over_seeds(per_seed):
    """One rule's result from its per-seed results: :func:`plasticity.analysis.combine_seeds`
    (the t-interval over seeds first), averaging :data:`_AVERAGED` (and ``loss_last_se``, the
    oracle's standard error of the averaged ``loss_last``)."""
    from plasticity.analysis import combine_seeds

    out = combine_seeds(per_seed, _AVERAGED)
    if len(per_seed) > 1:
        se = np.array([r["loss_last_se"] for r in per_seed])
        out["loss_last_se"] = float(np.sqrt(np.sum(se ** 2)) / se.size)
    return out


def _one_seed(cfg, ctx, task, trials, loss_oracle, index, bar):
    """One seed: initial weights, oracle and every rule's learning run.

    Seed 0 draws its initial weights, the matching of their mean and its oracle's noise
    from the run's seed stream as the single-seed run did, and its rules' trial streams
    from ``SeedSequence([seed, 7, rule])``; a further seed ``k`` draws the same things
    from later generators of the stream and ``SeedSequence([seed, 7, rule, k])``. Seed 0
    records under ``/alignment/<rule>/``, ``/series/loss/<rule>`` and
    ``/snapshots/W_out/<rule>``; seed ``k`` its ``total`` table under
    ``/alignment/seed<k>/<rule>/`` and its loss curve under ``/series/loss/seed<k>/<rule>``.

    Returns
    -------
    setup : dict
        ``w_mean_mv``, ``oracle_self_cos``, ``loss_first``, ``loss_first_se`` (at the
        seed's initial weights).
    per_rule : dict of str to dict
        Per rule the keys of :func:`plasticity.analysis.summarize` (``n`` as
        ``n_measured``), ``loss_first``, ``loss_last``, ``loss_last_se``.
    rel_se : list of float
        ``|se| / |grad estimate|`` of every record.
    """
    from plasticity.analysis import measured, summarize
    from plasticity.analysis.geometry import cosine
    from plasticity.engine import train
    from plasticity.problems import SpikingEscapeProblem
    from plasticity.rules.spiking import PairSTDPTrial
    from plasticity.spiking.brian2.escape import brian2_trial

    spread = ctx.child_rng().normal(0.0, cfg.w_sd_mv, size=(cfg.n_outputs, cfg.n_inputs))
    w_mean = cfg.w_mean_mv
    if w_mean is None:
        w_mean = _matched_mean(task, spread, ctx.child_rng())
    params0 = {"W_out": w_mean + spread}
    # the reference: fresh oracle noise at every call (see the module docstring)
    problem = SpikingEscapeProblem(task, n_trials=cfg.n_trials, noise="fresh",
                                   seed=ctx.child_rng())
    # How noisy is the reference itself: two independent estimates at the same weights.
    first, second = problem.estimate(params0), problem.estimate(params0)
    setup = {"w_mean_mv": float(w_mean),
             "oracle_self_cos": cosine(first.grad, second.grad, undefined=0.0),
             "loss_first": 0.5 * (first.loss + second.loss),
             "loss_first_se": 0.5 * float(np.hypot(first.loss_se, second.loss_se))}
    sub = "" if index == 0 else f"seed{index}/"

    per_rule, rel_se = {}, []
    for name, rule in _rules(cfg).items():
        entropy = [ctx.seed, 7, RULES.index(name)] + ([index] if index else [])
        seeds = np.random.SeedSequence(entropy).spawn(3)
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
            ctx.recorder.append(f"loss/{sub}{_name}", s["step"] - 1,
                                units={"loss": "spikes^2", "loss_se": "spikes^2"},
                                loss=est.loss, loss_se=est.loss_se)
            return est.grad, est.se

        def loss_fn(p, s, _root=crn_root):
            # The same neuron noise before and after an update (common random numbers)
            return loss_oracle.loss(p, rng=[_root, s["step"]])

        wrapped = measured(rule, gradient_fn, loss_fn=loss_fn, every=cfg.record_every,
                           recorder=ctx.recorder, prefix=f"/alignment/{sub}{name}",
                           record_tables=None if index == 0 else ("total",))

        final, _ = train(wrapped, params0, n_updates=cfg.n_updates,
                         next_batch=next_batch, signals=signals, rng=rule_rng,
                         progress=bar)
        total = wrapped.records["total"]
        keep = ~total["zero_norm"]
        stats = summarize(total["cos"][keep], total["inner"][keep], n_boot=cfg.n_boot,
                          rng=0)
        last = problem.estimate(final)
        ctx.recorder.append(f"loss/{sub}{name}", cfg.n_updates,
                            units={"loss": "spikes^2", "loss_se": "spikes^2"},
                            loss=last.loss, loss_se=last.loss_se)
        rel_se.extend(total["grad_se"] / np.maximum(total["grad_norm"], 1e-300))
        per_rule[name] = {**_stats_summary(stats, ""), "loss_first": setup["loss_first"],
                          "loss_last": last.loss, "loss_last_se": last.loss_se}
        if index == 0:
            ctx.recorder.snapshot(f"W_out/{name}", cfg.n_updates, final["W_out"],
                                  units="mV")
    return setup, per_rule, rel_se


def check(cfg: SpikingAlignmentConfig):
    """Refuse, before a run file exists, a backend the learning trials cannot run on: NEST
    (the escape-noise neurons have no NEST model; without this the run would fall back to
    the Numba kernel and still say ``backend=nest``), and Brian2 when it is not installed
    or its ``brian2_target`` cannot be used
    (:func:`plasticity.spiking.backends.check_backend` without a network)."""
    if cfg.backend == "nest":
        raise InvalidParameterError("spiking-alignment: the escape-noise neurons have no "
                                    "NEST model; use backend=numba or backend=brian2")
    if cfg.backend == "brian2":
        check_backend(None, "brian2", target=cfg.brian2_target)


def run(cfg: SpikingAlignmentConfig, ctx):
    from plasticity.spiking.oracle import SpikingGradientOracle
    from plasticity.tasks.spiking import SpikeCountTask

    # the task (patterns and targets) is the run's, shared by every seed
    task = SpikeCountTask(n_inputs=cfg.n_inputs, n_outputs=cfg.n_outputs,
                          n_patterns=cfg.n_patterns, duration_ms=cfg.duration_ms,
                          rate_hz=cfg.rate_hz, rng=ctx.child_rng(),
                          target_rate_hz=(cfg.target_rate_low_hz, cfg.target_rate_high_hz))
    trials = None
    if cfg.backend == "brian2":
        from plasticity.spiking.brian2.escape import Brian2EscapeTrials

        trials = Brian2EscapeTrials(task.neuron, task.n_inputs, task.n_outputs,
                                    task.n_steps, target=cfg.brian2_target)
    backend_info = {"backend": cfg.backend, "oracle_backend": "numba",
                    "brian2_target_used": getattr(trials, "target_used", "n/a")}
    ctx.recorder.set_attrs(**backend_info)
    loss_oracle = SpikingGradientOracle(task, n_trials=max(cfg.n_loss_trials, 2))

    setups, per_seed, rel_se = [], {name: [] for name in RULES}, []
    with ctx.progress(len(RULES) * cfg.n_updates * cfg.seeds, "spiking-alignment") as bar:
        for k in range(cfg.seeds):
            setup, per_rule, rel = _one_seed(cfg, ctx, task, trials, loss_oracle, k, bar)
            setups.append(setup)
            rel_se.extend(rel)
            ctx.recorder.append("seed_setup", k, index="seed", index_units="1",
                                units=_SETUP_UNITS, **setup)
            for name, res in per_rule.items():
                per_seed[name].append(res)
                ctx.recorder.append(f"seeds/{name}", k, index="seed", index_units="1",
                                    units=_SEED_UNITS, **{c: res[c] for c in _SEED_UNITS})
    summary = {f"{name}.{key}": value for name in RULES
               for key, value in _over_seeds(per_seed[name]).items()}
    self_cos = float(np.mean([st["oracle_self_cos"] for st in setups]))
    se_first = np.array([st["loss_first_se"] for st in setups])
    ctx.summary(**summary, oracle_self_cos=self_cos,
                w_mean_mv=float(np.mean([st["w_mean_mv"] for st in setups])),
                oracle_cos_attenuation=float(np.sqrt(max(self_cos, 0.0))),
                oracle_rel_se=float(np.median(rel_se)) if rel_se else float("nan"),
                oracle_n_trials=cfg.n_trials,
                loss_first_se=float(np.sqrt(np.sum(se_first ** 2)) / se_first.size),
                n_records_per_rule=cfg.n_updates // cfg.record_every, n_seeds=cfg.seeds,
                n_parameters=cfg.n_inputs * cfg.n_outputs, **backend_info)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    n_seeds = int(s.get("n_seeds", 1))
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
        # the across-seed interval where the run has several seeds, else the within-run one
        over_seeds = np.isfinite(s.get(f"{rule}.seeds_cos_low", np.nan))
        keys = (("seeds_cos_mean", "seeds_cos_low", "seeds_cos_high") if over_seeds
                else ("cos_mean", "cos_ci_low", "cos_ci_high"))
        mean, low, high = (s.get(f"{rule}.{k}", np.nan) for k in keys)
        traced(ax_cos.errorbar([i], [mean], yerr=[[mean - low], [high - mean]], fmt="o",
                               ms=3, color=color, capsize=3),
               x=[i], **{c: stack([src(f"summary:{rule}.{k}", default=np.nan)])
                         for c, k in zip(("y", "ylow", "yhigh"), keys, strict=True)})
        seeds = run.series.get(f"seeds/{rule}") if over_seeds else None
        if seeds is not None:
            # each seed's own mean cosine, beside the interval over them
            per = np.asarray(seeds["cos_mean"])
            x = np.full(per.size, i + 0.2)
            traced(ax_cos.plot(x, per, ls="none", marker="_", ms=6, mew=1.2, color=color,
                               label="per-seed means" if i == 0 else None)[0],
                   x=x, y=src(f"series/seeds/{rule}:cos_mean"))
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
    ax_cos.set_ylabel("cosine with -gradient (per update" +
                      ("; violins: seed 0)" if n_seeds > 1 else ")"))
    what = f"mean and 95% CI over {n_seeds} seeds" if n_seeds > 1 else "mean and 95% CI"
    ax_cos.set_title(f"{what}; oracle self-cosine {s.get('oracle_self_cos', np.nan):.2f}",
                     loc="left")
    if n_seeds > 1:
        ax_cos.legend(fontsize="small", loc="lower left")
    ax_loss.set_xlabel("update (trial)" + (", seed 0" if n_seeds > 1 else ""))
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
    check=check,
    presets={"quick": {},
             "full": {"n_inputs": 50, "n_outputs": 3, "n_patterns": 4, "n_updates": 2000,
                      "record_every": 20, "n_trials": 1000, "seeds": 5}},
    alignment=AlignmentMeta(substrate=ALIGNMENT["substrate"],
                            loss="expected squared spike-count error",
                            problem=ALIGNMENT["problem"], reference=ALIGNMENT["reference"],
                            baselines=("random_direction",)),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
