"""Temporal credit assignment: every online learning rule for RNNs on the Add task.

One file (over 300 lines) by design: DESIGN.md keeps each experiment in one file so that
the study reads top to bottom; the network (:mod:`plasticity.substrates.rnn`), the
problem (:class:`plasticity.problems.RecurrentProblem`), the task
(:class:`plasticity.tasks.AddTask`) and the rules live in the library, and what stays
here is the study: config, seeds, the pairwise matrix, the figure.

After Marschall, Cho & Savin (2020, JMLR 21:135, "A unified framework of online learning
algorithms for training recurrent neural networks"). A leaky rate RNN (``n_hidden``
tanh units, leak ``alpha``) with a softmax readout learns the Add task (Pitis 2016): the
input is a Bernoulli(0.5) bit per step, and the target is a Bernoulli bit with
``p_t = 0.5 + 0.5 x_{t-t1} - 0.25 x_{t-t2}`` (defaults ``t1 = 3``, ``t2 = 8``), scored
by cross-entropy on every step ``t >= t2`` of ``B`` independent sequences of length
``T``. Three analytic reference losses (nats) bound what a network has learned:
``loss_no_memory`` (the best constant prediction), ``loss_t1_learned`` (the best
prediction from ``x_{t-t1}`` alone) and ``loss_both_learned`` (the target's entropy); they
are printed with the summary.

``--set task=mimic|flip_flop|mnist1d`` runs the same comparison on the Mimic task (a
fixed random RNN's output, mse), the flip-flop memory task (mse) or MNIST-1D read as a
40-step sequence (cross-entropy on the last step); the analytic references are then NaN.

Every rule reads one batch of sequences and returns its estimate of the gradient computed
in one causal pass over time with the parameters held fixed during the sequence (the
"online" rules carry eligibility traces forward and never look into the future), times
``-eta``. The rules: ``bptt`` and ``rtrl`` (exact, the references), ``truncated_bptt`` (truncated
at ``truncation`` steps; the default ``truncation = 2 < t1`` cannot carry the first
dependency), ``eprop_symmetric`` and ``eprop_random`` (Bellec et al. 2020), ``rflo``
(Murray 2019), ``uoro`` (Tallec & Ollivier 2018), ``kf_rtrl`` (Mujika et al. 2018),
``node_perturbation_in_time`` (REINFORCE with Gaussian node noise in time) and ``readout_only``
(learns no memory: the baseline).

What is measured, per rule over ``seeds`` replicates (each its own initial network, data,
rule noise and evaluation set):

* ``<rule>.final_loss``: the mean cross-entropy on the replicate's ``n_eval`` evaluation
  sequences after ``n_updates`` updates, with a t-interval over replicates
  (``<rule>.final_loss_ci_low``/``_high``; each replicate's in ``/series/final_loss``),
  and the learning curve (the same loss every
  ``curve_every`` updates, ``/series/curve_<rule>``).
* ``<rule>.cos_mean`` and the other keys of :data:`plasticity.alignment.SUMMARY_KEYS`:
  the cosine of each update (every ``record_every``-th) with the negative population
  gradient (BPTT on the evaluation set; the denominator noise-corrected), its interval
  over replicates, ``expected_cos`` at the initial state (over fresh batches and rule
  noise) and the SGD ceiling. Every rule but node perturbation learns the readout
  (``W_out``, ``c``) by its exact gradient, which lifts every total cosine; where the
  rules differ is the recurrent parameters: ``<rule>.W_rec.cos_mean`` (and ``W_in``,
  ``b``, ``W_out``) is the mean cosine of the update's part in that array with the
  population gradient's, averaged over replicates (undefined, NaN, for readout-only).
* The pairwise alignment matrix (Marschall et al., Fig. 4): at replicate 0's initial
  parameters, every rule's update of the recurrent parameters (``W_in``, ``W_rec``,
  ``b``; the readout's is exact for all but node perturbation) on the same
  ``matrix_batches`` batches, and the mean over batches of each pair's cosine
  (``/series/matrix``), with the population gradient as the first row.

Observed (quick preset, 3 seeds): final loss BPTT 0.479 [0.460, 0.498], RTRL 0.478,
truncated BPTT (k = 2) 0.568 [0.493, 0.644] (every seed above the first-lag reference
0.519), symmetric e-prop 0.578, KF-RTRL 0.573, UORO 0.586, readout-only 0.615; the
recurrent weights' cosine BPTT 0.76, KF-RTRL 0.40, truncated BPTT 0.29, e-prop 0.24,
UORO 0.13, node perturbation 0.02. The table, and the reservoir confound at
``alpha = 1``, are in ``docs/temporal-credit.md``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.experiment import AlignmentMeta, Config, Experiment

#: Every rule of the study, in plotting order; ``readout_only`` is the baseline.
RULES = ("bptt", "rtrl", "truncated_bptt", "eprop_symmetric", "eprop_random", "rflo",
         "uoro", "kf_rtrl", "node_perturbation_in_time", "readout_only")

#: Learning rate of each rule relative to ``eta``: the unbiased stochastic estimates
#: (UORO, KF-RTRL) and node perturbation carry variance that a full step would turn into
#: divergence.
ETA_SCALE = {"eprop_random": 0.3, "rflo": 0.3, "uoro": 0.1, "kf_rtrl": 0.3,
             "node_perturbation_in_time": 0.05}

#: Short labels for the figure.
LABELS = {"bptt": "BPTT", "rtrl": "RTRL", "truncated_bptt": "TBPTT(k)",
          "eprop_symmetric": "e-prop (sym.)", "eprop_random": "e-prop (rand.)",
          "rflo": "RFLO", "uoro": "UORO", "kf_rtrl": "KF-RTRL",
          "node_perturbation_in_time": "node pert.", "readout_only": "readout only"}

ALIGNMENT = {"reference": "population", "problem": "add-task",
             "ci_method": "batch_means", "seeds_ci_method": "t",
             "rules": list(RULES), "substrate": "recurrent"}

#: Keys of a replicate's result averaged over replicates (the cosine's and the final
#: loss's intervals are recomputed over replicates).
_AVERAGED = ("cos_batch_mean", "frac_positive", "expected_cos", "n_eff", "W_in.cos_mean",
             "W_rec.cos_mean", "b.cos_mean", "W_out.cos_mean")


class RNNCreditConfig(Config):
    task: Literal["add", "mimic", "flip_flop", "mnist1d"] = Field(
        "add", description="the sequence task (MNIST-1D has its own T = 40)")
    T: int = Field(20, ge=2, le=10000, description="steps per sequence")
    t1: int = Field(3, ge=1, description="first lag of the Add task (steps)")
    t2: int = Field(8, ge=2, description="second lag of the Add task (steps)")
    n_hidden: int = Field(16, ge=1, le=512, description="hidden units")
    alpha: float = Field(0.5, gt=0, le=1, allow_inf_nan=False,
                         description="leak dt/tau of the hidden units, in (0, 1]")
    g: float = Field(1.0, ge=0, allow_inf_nan=False, description="initial W_rec gain")
    rules: list[str] = Field(list(RULES), min_length=1, description="rules to compare")
    truncation: int = Field(2, ge=1, description="k of truncated BPTT (steps)")
    eta: float = Field(1.0, gt=0, allow_inf_nan=False,
                       description="learning rate (per-rule scale in ETA_SCALE)")
    sigma: float = Field(0.05, gt=0, allow_inf_nan=False,
                         description="node-perturbation noise std (pre-activation units)")
    batch_size: int = Field(16, ge=1, description="sequences per update")
    n_updates: int = Field(600, ge=1, description="updates per rule and replicate")
    record_every: int = Field(10, ge=1, description="measure alignment every k-th update")
    curve_every: int = Field(50, ge=1, description="updates between learning-curve points")
    seeds: int = Field(3, ge=1, le=100, description="independent replicates")
    n_eval: int = Field(128, ge=2, description="evaluation sequences (population gradient)")
    expected_draws: int = Field(20, ge=2, description="draws of the expected update")
    matrix_batches: int = Field(8, ge=1, description="batches of the pairwise matrix")

    @field_validator("rules")
    @classmethod
    def _known(cls, value):
        unknown = [r for r in value if r not in RULES]
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: "
                             f"{', '.join(RULES)}")
        if len(set(value)) != len(value):
            raise ValueError("a rule is listed twice")
        return value

    @model_validator(mode="after")
    def _valid_task(self):
        # the task checks its own settings (the Add task: T > t2 > t1 >= 1): refused here,
        # before any run file exists
        from plasticity.errors import PlasticityError

        try:
            _task(self)
        except PlasticityError as exc:
            raise ValueError(str(exc)) from None
        return self


def _task(cfg):
    from plasticity.tasks import AddTask, FlipFlopTask, MimicTask, MNIST1DSequence

    if cfg.task == "add":
        return AddTask(T=cfg.T, t1=cfg.t1, t2=cfg.t2)
    if cfg.task == "mimic":
        return MimicTask(T=cfg.T)
    if cfg.task == "flip_flop":
        return FlipFlopTask(T=cfg.T)
    return MNIST1DSequence()


def make_rule(name, net, cfg, seed):
    """The rule ``name`` of :data:`RULES` for ``net`` with the config's settings.

    ``seed`` (an int or a sequence of ints) seeds the random feedback matrices.
    """
    from plasticity import rules as R

    seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    eta = cfg.eta * ETA_SCALE.get(name, 1.0)
    if name == "bptt":
        return R.BPTT(net=net, eta=eta)
    if name == "rtrl":
        return R.RTRL(net=net, eta=eta)
    if name == "truncated_bptt":
        return R.TruncatedBPTT(net=net, eta=eta, k=cfg.truncation)
    if name in ("eprop_symmetric", "eprop_random"):
        return R.EProp(net=net, eta=eta, feedback=name.split("_")[1], seed=seed)
    if name == "rflo":
        return R.RFLO(net=net, eta=eta, seed=seed)
    if name == "uoro":
        return R.UORO(net=net, eta=eta)
    if name == "kf_rtrl":
        return R.KFRTRL(net=net, eta=eta)
    if name == "node_perturbation_in_time":
        return R.NodePerturbationInTime(net=net, eta=eta, sigma=cfg.sigma)
    return R.ReadoutOnly(net=net, eta=eta)


def _flat(delta, keys):
    return np.concatenate([np.ravel(delta[k]) for k in keys])


def _matrix(cfg, problem, params, names, rng):
    """Pairwise mean cosines of the rules' recurrent updates on shared batches.

    Row and column 0 is the negative population gradient; then ``names`` in order.
    Each rule keeps its initial state (its feedback matrix, its traces start at zero);
    its noise is drawn from ``rng``.
    """
    from plasticity.analysis import cosine
    from plasticity.substrates.rnn import RECURRENT_KEYS

    g, _ = problem.population_gradient(params)
    ref = -_flat(g, RECURRENT_KEYS)
    made = [make_rule(n, problem.net, cfg, [cfg.seeds, 7, i]) for i, n in enumerate(names)]
    states = [r.init(params) for r in made]
    k = len(names) + 1
    total = np.zeros((k, k))
    for _ in range(cfg.matrix_batches):
        batch = problem.batch(cfg.batch_size, rng)
        signals = problem.signals(params, batch)
        vecs = [ref]
        for rule, state in zip(made, states, strict=True):
            delta, _ = rule.update(signals, state, params, loss_fn=problem.loss_fn(batch),
                                   rng=rng)
            vecs.append(_flat(delta, RECURRENT_KEYS))
        total += np.array([[cosine(a, b) for b in vecs] for a in vecs])
    return total / cfg.matrix_batches


def run(cfg: RNNCreditConfig, ctx):
    from plasticity.alignment import SUMMARY_KEYS, measure_problem
    from plasticity.analysis import combine_seeds
    from plasticity.engine import Probe
    from plasticity.problems import RecurrentProblem

    task = _task(cfg)
    # the analytic bounds exist for the Add task only
    refs = (task.reference_losses() if cfg.task == "add"
            else dict.fromkeys(("no_memory", "t1_learned", "both_learned"), np.nan))
    rec = ctx.recorder
    per_rule = {name: [] for name in cfg.rules}
    with ctx.progress(len(cfg.rules) * cfg.seeds * cfg.n_updates, "rnn-credit") as bar:
        for rep in range(cfg.seeds):
            problem = RecurrentProblem(task, n_hidden=cfg.n_hidden, alpha=cfg.alpha,
                                       g=cfg.g, n_eval=cfg.n_eval,
                                       eval_seed=[ctx.seed, 2000, rep])
            params = problem.init_params(np.random.default_rng([ctx.seed, 1000, rep]))
            if rep == 0:
                matrix = _matrix(cfg, problem, params, cfg.rules,
                                 np.random.default_rng([ctx.seed, 3000]))
            for i, name in enumerate(cfg.rules):
                rule = make_rule(name, problem.net, cfg, [ctx.seed, 4000, i, rep])
                curve = []

                def point(step, p, state, delta, batch, _curve=curve, _problem=problem):
                    _curve.append((step, _problem.population_loss(p)))
                    bar.update(cfg.curve_every)

                res = measure_problem(
                    rule, problem, params, n_updates=cfg.n_updates,
                    batch_size=cfg.batch_size, seed=[ctx.seed, i, rep], recorder=rec,
                    prefix=f"/alignment/{name}/s{rep}", expected_draws=cfg.expected_draws,
                    record_every=cfg.record_every, record_tables=("total",),
                    probes=[Probe(point, every=cfg.curve_every)], per_array=True)
                res["initial_loss"] = problem.population_loss(params)
                per_rule[name].append(res)
                if rep == 0:
                    rec.append(f"curve_{name}", 0, units={"loss": "nats"},
                               index="update", index_units="updates",
                               loss=res["initial_loss"])
                    for step, loss in curve:
                        rec.append(f"curve_{name}", step, units={"loss": "nats"},
                                   index="update", index_units="updates", loss=loss)
    for rep in range(cfg.seeds):
        rec.append("final_loss", rep, units={n: "nats" for n in cfg.rules}, index="seed",
                   index_units="1", **{n: per_rule[n][rep]["final_loss"] for n in cfg.rules})
    for i, row in enumerate(matrix):
        rec.append("matrix", i, units={c: "1" for c in ("gradient", *cfg.rules)},
                   index="row", index_units="1",
                   **dict(zip(("gradient", *cfg.rules), row, strict=True)))

    summary = {}
    for name, results in per_rule.items():
        over = combine_seeds(results, _AVERAGED)
        losses = np.array([r["final_loss"] for r in results])
        summary.update({f"{name}.{k}": over[k] for k in (*SUMMARY_KEYS, *_AVERAGED,
                                                           "seeds_cos_mean", "seeds_cos_low",
                                                           "seeds_cos_high") if k in over})
        summary.update(_loss_interval(name, losses))
    ctx.summary(**summary, loss_no_memory=refs["no_memory"],
                loss_t1_learned=refs["t1_learned"], loss_both_learned=refs["both_learned"],
                n_rules=len(cfg.rules), n_seeds=cfg.seeds)


def _loss_interval(name, losses):
    """Mean final loss over replicates with a 95% t-interval (NaN bounds for one)."""
    from scipy import stats

    n = losses.size
    mean = float(np.mean(losses))
    if n < 2:
        return {f"{name}.final_loss": mean, f"{name}.final_loss_ci_low": np.nan,
                f"{name}.final_loss_ci_high": np.nan}
    half = float(stats.t.ppf(0.975, n - 1) * np.std(losses, ddof=1) / np.sqrt(n))
    return {f"{name}.final_loss": mean, f"{name}.final_loss_ci_low": mean - half,
            f"{name}.final_loss_ci_high": mean + half}


def memory(cfg: RNNCreditConfig):
    """The dominant arrays (:mod:`plasticity.io.memory`), with ``P = n_hidden^2 +
    n_hidden (n_in + 1)`` recurrent parameters and at most 10 inputs and outputs: RTRL's
    influence matrix and its update (2 x n_hidden x P, when ``rtrl`` runs), the forward
    and backward pass of the evaluation sequences (6 arrays of n_eval x T x n_hidden) and
    of a batch, and the expected-update draws (2 x expected_draws x P)."""
    from plasticity.io.memory import MemoryEstimate, array_bytes

    n = cfg.n_hidden
    T = 40 if cfg.task == "mnist1d" else cfg.T
    p = n * n + n * (10 + 1) + 10 * (n + 1)
    est = MemoryEstimate()
    if "rtrl" in cfg.rules:
        est.add("RTRL's influence matrix", "2 x n_hidden x n_hidden^2 float64",
                2 * array_bytes(n, p))
    return (est.add("the evaluation sequences' forward and backward pass",
                    "6 x (n_eval + batch_size) x T x n_hidden float64",
                    6 * array_bytes(cfg.n_eval + cfg.batch_size, T, n))
            .add("the expected-update draws", "2 x expected_draws x P float64",
                 2 * array_bytes(cfg.expected_draws, p)))


def plot(run):
    import matplotlib.pyplot as plt

    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import apply, src, stack, traced

    s = run.summary
    names = [r for r in RULES if f"{r}.cos_mean" in s]
    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.42, ncols=3)
    # ten rules: the ten distinct colours of tab10 rather than the house palette's eight
    colors = plt.get_cmap("tab10")
    k = run.config["truncation"]
    labels = [LABELS[n].replace("(k)", f"(k={k})") for n in names]
    for i, name in enumerate(names):
        c = run.series[f"curve_{name}"]
        traced(ax1.plot(c["update"], c["loss"], color=colors(i % 10),
                        lw=1.0, label=labels[i],
                        ls="--" if name == "truncated_bptt" else "-")[0],
               x=src(f"series/curve_{name}:update"), y=src(f"series/curve_{name}:loss"))
    add = run.config["task"] == "add"
    for key, ls, what in (("loss_no_memory", ":", "no memory"),
                          ("loss_t1_learned", "--", "t1 learned"),
                          ("loss_both_learned", "-", "both learned")) if add else ():
        traced(ax1.axhline(s[key], color="0.4", lw=0.7, ls=ls, label=what),
               y=src(f"summary:{key}"))
    ax1.set_xlabel("update")
    ax1.set_ylabel("cross-entropy (nats)" if add or run.config["task"] == "mnist1d"
                   else "squared error")
    if add:
        # the references span 0.45-0.66 nats: a diverging rule leaves the panel at the top
        ax1.set_ylim(0.9 * s["loss_both_learned"], 1.25 * s["loss_no_memory"])
    ax1.legend(fontsize=4.5, ncol=2, loc="upper right")
    ax1.set_title(f"a  {run.config['task']} task learning (seed 0)", loc="left")

    x = np.arange(len(names))
    for i, name in enumerate(names):
        over_seeds = np.isfinite(s.get(f"{name}.seeds_cos_low", np.nan))
        keys = (("seeds_cos_mean", "seeds_cos_low", "seeds_cos_high") if over_seeds
                else ("cos_mean", "cos_ci_low", "cos_ci_high"))
        mean, low, high = (s[f"{name}.{k}"] for k in keys)
        traced(ax2.errorbar([i - 0.15], [mean], yerr=[[mean - low], [high - mean]], fmt="o",
                            ms=3, color=PALETTE[0], capsize=2,
                            label="per update (95% CI)" if i == 0 else None),
               x=[i - 0.15], **{c: stack([src(f"summary:{name}.{k}")])
                                for c, k in zip(("y", "ylow", "yhigh"), keys, strict=True)})
        traced(ax2.plot([i], [s[f"{name}.W_rec.cos_mean"]], ls="none", marker="x", ms=4,
                        color=PALETTE[2], label="W_rec part, per update" if i == 0 else None)[0],
               x=[i], y=stack([src(f"summary:{name}.W_rec.cos_mean")]))
        traced(ax2.plot([i + 0.15], [s[f"{name}.expected_cos"]], ls="none", marker="s",
                        ms=3, color=PALETTE[1],
                        label="expected, at start" if i == 0 else None)[0],
               x=[i + 0.15], y=stack([src(f"summary:{name}.expected_cos")]))
    traced(ax2.axhline(0, color="0.6", lw=0.6), y=0.0)
    ax2.set_xticks(x, labels, rotation=60, ha="right", fontsize=5)
    ax2.set_ylabel(r"cos(update, $-\nabla L$)")
    ax2.set_ylim(-0.3, 1.05)
    ax2.legend(fontsize=5, loc="lower left")
    ax2.set_title("b  alignment with the population gradient", loc="left")

    m = run.series["matrix"]
    cols = ["gradient", *names]
    M = np.array([np.asarray(m[c]) for c in cols]).T
    traced(ax3.imshow(M, vmin=-1, vmax=1, cmap="RdBu_r"),
                array=apply(lambda *c: np.array(c).T,
                            *[src(f"series/matrix:{c}") for c in cols], name="matrix"))
    ticks = ["$-\\nabla L$", *labels]
    ax3.set_xticks(range(len(cols)), ticks, rotation=60, ha="right", fontsize=5)
    ax3.set_yticks(range(len(cols)), ticks, fontsize=5)
    # the scale in words: a colour bar is an untraced artist of its own
    ax3.set_xlabel("mean cosine: blue -1, white 0, red +1", fontsize=5)
    # readout-only changes no recurrent parameter: its cosines are undefined (blank)
    ax3.set_title("c  pairwise cosines (W_in, W_rec, b)", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="rnn-credit",
    description="Online learning rules for RNNs (BPTT, RTRL, truncated BPTT, e-prop, RFLO, "
                "UORO, KF-RTRL, node perturbation) on the Add task.",
    config=RNNCreditConfig,
    run=run,
    plot=plot,
    memory=memory,
    presets={"quick": {}, "full": {"n_hidden": 32, "T": 40, "n_updates": 3000,
                                   "curve_every": 100, "seeds": 5, "n_eval": 512,
                                   "expected_draws": 50, "matrix_batches": 32}},
    alignment=AlignmentMeta(substrate=ALIGNMENT["substrate"],
                            loss="cross-entropy of the Add task (nats per masked step)",
                            problem=ALIGNMENT["problem"], reference=ALIGNMENT["reference"],
                            baselines=("readout_only",)),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
