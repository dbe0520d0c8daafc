"""A dendrite learns to predict somatic spiking (Urbanczik & Senn 2014).

One file (over 400 lines) by design: DESIGN.md keeps each experiment in one file, so
that the study reads top to bottom; its reusable problem (the somatic teacher, the PSPs
of a presentation, the gradient oracle of the losses) lives in
:mod:`plasticity.problems.dendritic`, and what stays here is the study's own: config,
setup, the presentation loops of its two simulators, summaries and figure.

Setting: ``n_inputs`` Poisson spike trains at ``input_rate`` Hz form one frozen pattern
of ``pattern_ms`` ms, presented ``n_reps`` times back to back to the two-compartment
neuron of :class:`~plasticity.rules.DendriticPredictionTrial` (PSPs and soma carry over from
one presentation to the next). A teacher at the soma: a target weight vector ``w*``
(i.i.d. ``N(target_mean, target_std^2)``) defines the target potential
``U_M(t) = V*_{w*}(t)`` on the same PSPs, clipped into ``(E_I, E_E)``, and the teacher's
conductances pull the soma towards it with total conductance ``g_teacher``:

    g_E = g_teacher (U_M - E_I) / (E_E - E_I),   g_I = g_teacher (E_E - U_M) / (E_E - E_I),

so that ``g_E (E_E - U) + g_I (E_I - U) = g_teacher (U_M - U)``. At ``w = w*`` the
teacher's current vanishes when ``U = V*_w``, so ``w*`` is a fixed point of the rule and
the dendritic prediction can match the soma.

Loss: the rule descends the negative log-likelihood of the somatic spikes under the
dendritic prediction (spiking model) or the Poisson KL divergence of ``phi(V*_w)`` from
``phi(U)`` (rate model), with the soma held fixed (see
:mod:`plasticity.rules.dendritic_prediction`).

What is measured (per presentation: ``/series/training``):

* ``mse`` = mean over the presentation of ``(U - V*_w)^2``, and ``rate_mse`` of
  ``(phi(U) - phi(V*_w))^2`` (1/ms^2);
* ``corr_dendrite_soma_final``: Pearson correlation of ``V*_w`` and ``U`` over the last
  ``final_reps`` presentations (``corr_dendrite_soma_initial`` over the first);
* ``error_reduction``: ``mse`` of the first presentation over the mean ``mse`` of the
  last ``final_reps`` (``rate_error_reduction`` likewise for ``rate_mse``);
* ``weight_corr``: correlation of the learned weights with ``w*``.

The alignment analysis (trial kernel; every ``align_every``-th presentation, table
``/alignment/total``): the presentation's weight change against the negative gradient, at
the weights before it, of three losses (:func:`minus_gradients`), each with the soma held
as it was in the presentation. The population loss, the one reference of the primary
cosine, is the loss averaged over the only noise of the study, the somatic spikes: the
expected negative log-likelihood ``E_S[L_S]`` given the presentation's ``U`` (``U`` does
not depend on the spikes), exact in the trial kernel's discrete time, where a step spikes
with probability ``1 - exp(-phi(U) dt)``; it is the Poisson KL divergence at ``U`` up to
``O(phi dt)`` per step. The presentation's own spikes give one sample of it, ``L_S``, the
loss the rule descends; for the rate model all three are the KL. Summary, rule
``dendritic_prediction``:

* ``dendritic_prediction.cos_mean``, ``.cos_ci_low``, ``.cos_ci_high``: mean cosine with
  the population gradient, interval by ``.ci_method``
  (:func:`plasticity.analysis.summarize`; ``.n`` presentations, ``.n_eff`` effective),
  ``.frac_positive``;
* ``dendritic_prediction.cos_batch_mean``: against the presentation's own ``L_S`` (its
  "minibatch" is its spike sample); the same numbers, named after the loss, with their
  interval: ``.own_cos_mean``, ``.own_cos_ci_low``, ``.own_cos_ci_high``. It differs from 1
  only by the change of ``w`` within the presentation;
* ``dendritic_prediction.sgd_ceiling``: mean cosine of the exact negative gradient of the
  own ``L_S`` with the population one, the best a rule that sees one presentation's
  spikes could do;
* with ``seeds`` >= 2: ``.seeds_cos_mean``, ``.seeds_cos_low``, ``.seeds_cos_high``
  (t-interval over per-seed ``cos_mean``), ``.seeds_cos_n``: seed 0 is the run above,
  each further seed repeats the alignment part on the trial kernel with its own pattern,
  target, initial weights and spike noise from the run's seed stream (``/series/seeds``:
  each seed's ``cos_mean``, ``cos_batch_mean``, ``sgd_ceiling``). The quick preset runs
  three seeds (a further seed costs about 1.5-2 s of CPU there), the full preset five.
  With ``simulator="engine"`` there is no alignment analysis, so ``seeds`` is unused.

``/alignment/total`` has, per measured presentation, the columns of
:func:`plasticity.analysis.measured` (``inner``, ``cos``, ``delta_norm``, ``grad_norm``,
``predicted_dloss``, ``zero_norm`` against the population gradient; ``cos_batch``,
``predicted_dloss_batch``, ``sgd_cos``) and ``cos_kl``.

Deprecated (one release, old meanings): ``align_cos_mean``, ``align_cos_ci_low``,
``align_cos_ci_high`` (against the own ``L_S``), ``align_kl_cos_mean``,
``align_kl_cos_ci_low``, ``align_kl_cos_ci_high`` (against the KL divergence) and
``align_n`` (= ``.n``). :data:`ALIGNMENT` declares the alignment metadata that
``alignment-summary`` reads.

Traces of ``U``, ``V*_w`` and ``U_M`` over the first and last presentations are kept
under ``/snapshots/``.

Simulators (spiking model only for the second): ``simulator="kernel"`` runs each
presentation in the dedicated trial kernel (:func:`plasticity.rules.dendritic_prediction.
simulate_trial`); ``simulator="engine"`` builds the same study as a general
:class:`~plasticity.spiking.Network` (:func:`engine_network`: a ``SpikeGenerator`` playing
the pattern ``n_reps`` times, a :class:`~plasticity.spiking.TwoCompartment` neuron with the
teacher as ``g_E_timed``/``g_I_timed``, a dendritic projection with
:class:`~plasticity.spiking.DendriticPrediction`) and runs it on the Numba spiking engine.
An input spike reaches the engine's dendrite in the step after it is emitted, so
presentation ``r`` is the engine's steps ``1 + r T`` to ``(r + 1) T`` (a first step without
input comes before it, and the teacher's rows are shifted by one step to match); the
somatic spikes come from the engine's own random stream. Pattern, ``w*``, teacher and
initial weights are the same for both simulators.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import AlignmentMeta, Config, Experiment
from plasticity.problems.dendritic import (
    PresentationPSPs,
    minus_gradients,
    teacher_conductances,
)

#: The rule's name in the summary keys (``<rule>.<key>``).
RULE = "dendritic_prediction"

#: Alignment metadata (a draft read by alignment-summary): what the primary cosine is
#: measured against, on which problem, how its interval is made, and its summary keys.
ALIGNMENT = {
    "reference": "population",
    "problem": "dendritic-prediction: the Urbanczik-Senn two-compartment neuron on a frozen "
               "Poisson pattern with a somatic teacher; population loss = the expected "
               "negative log-likelihood of the somatic spikes over their noise given the "
               "presentation's U (the Poisson KL divergence in continuous time), exact",
    "ci_method": "batch_means",
    "seeds_ci_method": "t",
    "seeds": {"quick": 3, "full": 5},
    "rules": [RULE],
    "substrate": "spiking",
    "keys": {k: f"{RULE}.{k}" for k in (
        "cos_mean", "cos_ci_low", "cos_ci_high", "ci_method", "cos_batch_mean",
        "sgd_ceiling", "frac_positive", "n", "n_eff", "own_cos_mean", "own_cos_ci_low",
        "own_cos_ci_high", "seeds_cos_mean", "seeds_cos_low", "seeds_cos_high",
        "seeds_cos_n")},
    # under their old names and meanings for one release (module docstring)
    "deprecated_keys": ["align_cos_mean", "align_cos_ci_low", "align_cos_ci_high",
                        "align_kl_cos_mean", "align_kl_cos_ci_low", "align_kl_cos_ci_high",
                        "align_n"],
}


class DendriticPredictionConfig(Config):
    model: Literal["spiking", "rate"] = Field("spiking", description="somatic target")
    simulator: Literal["kernel", "engine"] = Field(
        "kernel", description="trial kernel, or the general spiking engine (spiking only)")
    n_inputs: int = Field(200, ge=1, le=5000, description="presynaptic Poisson trains")
    input_rate: float = Field(10.0, gt=0, le=200, description="input rate (Hz)")
    pattern_ms: float = Field(200.0, gt=0, le=5000, description="pattern length (ms)")
    n_reps: int = Field(4000, ge=1, description="presentations of the pattern")
    final_reps: int = Field(50, ge=1, description="presentations scored at the end")
    dt: float = Field(0.2, gt=0, allow_inf_nan=False, description="time step (ms)")
    eta: float = Field(0.2, gt=0, allow_inf_nan=False, description="learning rate")
    tau_delta: float = Field(0.0, ge=0, allow_inf_nan=False,
                             description="filter of the change (ms), 0: none")
    tau_L: float = Field(10.0, gt=0, allow_inf_nan=False, description="slow PSP tau (ms)")
    tau_s: float = Field(3.0, gt=0, allow_inf_nan=False, description="fast PSP tau (ms)")
    g_L: float = Field(0.1, gt=0, allow_inf_nan=False, description="leak (1/ms)")
    g_D: float = Field(2.0, gt=0, allow_inf_nan=False, description="coupling (1/ms)")
    g_teacher: float = Field(1.0, ge=0, allow_inf_nan=False,
                             description="total teacher conductance (1/ms)")
    target_mean: float = Field(0.5, allow_inf_nan=False, description="mean of w*")
    target_std: float = Field(1.5, ge=0, allow_inf_nan=False, description="std of w*")
    init_std: float = Field(0.0, ge=0, allow_inf_nan=False,
                            description="initial w ~ N(0, init_std^2)")
    record_every: int = Field(1, ge=1, description="presentations between records")
    align_every: int = Field(10, ge=1, description="presentations between alignment "
                             "measurements (trial kernel)")
    seeds: int = Field(3, ge=1, le=100, description="independent seeds of the alignment "
                       "part (trial kernel only; seed 0 is the main run)")

    @model_validator(mode="after")
    def _valid_neuron(self):
        from plasticity.errors import InvalidParameterError

        if self.simulator == "engine" and self.model != "spiking":
            raise ValueError("simulator='engine' simulates the spiking model only; use "
                             "model='spiking' or simulator='kernel'")
        if self.final_reps > self.n_reps:
            raise ValueError(f"final_reps = {self.final_reps} exceeds n_reps = "
                             f"{self.n_reps}")
        try:
            _rule(self)
        except InvalidParameterError as exc:
            raise ValueError(str(exc).removeprefix("DendriticPredictionTrial: ")) from None
        return self


def _rule(cfg):
    from plasticity.rules.dendritic_prediction import DendriticPredictionTrial

    return DendriticPredictionTrial(eta=cfg.eta, model=cfg.model, dt=cfg.dt, tau_L=cfg.tau_L,
                                    tau_s=cfg.tau_s, g_L=cfg.g_L, g_D=cfg.g_D,
                                    tau_delta=cfg.tau_delta)


def setup(cfg, pattern_rng, target_rng, init_rng):
    """The study's fixed ingredients.

    Returns
    -------
    X : ndarray, shape (T, n_inputs)
        The frozen pattern (spike counts per step).
    w_star : ndarray, shape (n_inputs,)
        The target weights.
    U_M : ndarray, shape (T,)
        The target potential.
    g_E, g_I : ndarray, shape (T,)
        The teacher's conductances (1/ms).
    w0 : ndarray, shape (n_inputs,)
        The initial weights.
    """
    from plasticity.rules.dendritic_prediction import simulate_trial

    rule = _rule(cfg)
    n, T = cfg.n_inputs, int(round(cfg.pattern_ms / cfg.dt))
    X = (pattern_rng.random((T, n)) < cfg.input_rate * 1e-3 * cfg.dt).astype(float)
    w_star = target_rng.normal(cfg.target_mean, cfg.target_std, n)
    # the target potential: V* of w* on the same PSPs, in steady state of the repetition
    # (a first presentation warms the PSPs up, the second is the target)
    # (V* does not depend on the somatic model; the rate model needs no noise)
    probe = rule.model_copy(update={"model": "rate"})
    warm = simulate_trial(probe, w_star, X, learn=False)
    U_M = simulate_trial(probe, w_star, X, learn=False, state=warm.state).V_star
    margin = 1e-3 * (rule.E_E - rule.E_I)
    U_M = np.clip(U_M, rule.E_I + margin, rule.E_E - margin)
    g_E, g_I = teacher_conductances(U_M, cfg.g_teacher, rule.E_E, rule.E_I)
    return X, w_star, U_M, g_E, g_I, init_rng.normal(0.0, cfg.init_std, n)


def engine_network(cfg, X, g_E, g_I):
    """The study as a :class:`~plasticity.spiking.Network` (module docstring): input
    ``"input"`` playing ``X`` (shape (T, n)) ``cfg.n_reps`` times, neuron ``"neuron"``,
    projection ``"input_neuron"`` (initial weights 0: set them with ``set_weights``).

    The teacher rows are shifted by one step, ``g_timed[t] = g[(t - 1) % T]``, because the
    engine's step ``t + 1`` is the kernel's step ``t``.
    """
    from plasticity.spiking import (
        DendriticPrediction,
        Network,
        SpikeGenerator,
        Synapses,
        TwoCompartment,
    )

    rule = _rule(cfg)
    T, n = X.shape
    steps, idx = np.nonzero(X)
    reps = np.arange(cfg.n_reps)[:, None] * T
    times = ((reps + steps[None, :]) * cfg.dt).ravel()
    inputs = SpikeGenerator(n=n, indices=np.tile(idx, cfg.n_reps).tolist(),
                            times_ms=times.tolist())
    neuron = TwoCompartment(n=1, g_L=rule.g_L, g_D=rule.g_D, E_E=rule.E_E, E_I=rule.E_I,
                            tau_L_ms=rule.tau_L, tau_s_ms=rule.tau_s, phi_max=rule.phi_max,
                            k=rule.k, beta=rule.beta, theta=rule.theta,
                            g_E_timed=np.roll(g_E, 1), g_I_timed=np.roll(g_I, 1))
    syn = Synapses(source="input", target="neuron", compartment="dendrite", w_init=0.0,
                   plasticity=DendriticPrediction(eta=rule.eta, tau_delta_ms=rule.tau_delta))
    return Network(dt_ms=cfg.dt, groups={"input": inputs, "neuron": neuron},
                   synapses=[syn])


class _Presentation:
    """One presentation's ``U``, ``V_star`` and ``S`` (spike count), like a Trial, and
    optionally its alignment with the gradients of the two losses."""

    def __init__(self, U, V_star, spikes, alignment=None):
        self.U, self.V_star, self.spikes = U, V_star, spikes
        self.alignment = alignment


def _alignment(rule, psp, w0, trial):
    """One presentation's change ``trial.w - w0`` against the three losses of
    :func:`minus_gradients`.

    Returns
    -------
    dict
        ``primary``, ``batch`` and ``kl``: :func:`~plasticity.analysis.align` rows
        against the population loss, the presentation's own loss and the KL; ``sgd_cos``:
        the cosine of the own loss's exact negative gradient (the step of exact gradient
        descent on this presentation) with the population one.
    """
    from plasticity.analysis import align

    g = {k: {"w": -m} for k, m in minus_gradients(rule, psp, w0, trial).items()}
    delta = {"w": trial.w - w0}
    return {"primary": align(delta, g["population"])["total"],
            "batch": align(delta, g["own"])["total"], "kl": align(delta, g["kl"])["total"],
            "sgd_cos": align({"w": -g["own"]["w"]}, g["population"])["total"]["cos"]}


def _kernel_presentations(cfg, X, g_E, g_I, w, spike_rng):
    """Yield the presentations on the trial kernel; the final weights come last."""
    from plasticity.rules.dendritic_prediction import simulate_trial

    rule, T = _rule(cfg), X.shape[0]
    psps = PresentationPSPs(rule, X)
    state = None
    for r in range(cfg.n_reps):
        noise = spike_rng.random(T) if cfg.model == "spiking" else None
        trial = simulate_trial(rule, w, X, g_E, g_I, noise=noise, state=state)
        alignment = _alignment(rule, psps.at(state), w, trial) \
            if r % cfg.align_every == 0 else None
        w, state = trial.w, trial.state
        yield _Presentation(trial.U, trial.V_star, float(trial.S.sum()), alignment)
    yield w


def _engine_presentations(cfg, X, g_E, g_I, w, spike_rng):
    """Yield the presentations on the spiking engine; the final weights come last."""
    from plasticity.spiking import Recording
    from plasticity.spiking.numba import NumbaSimulator

    net = engine_network(cfg, X, g_E, g_I)
    sim = NumbaSimulator(net, seed=int(spike_rng.integers(2**63)), recording=Recording(
        spikes=(), state={"neuron": [0]}, state_every_ms=cfg.dt, rate_bin_ms=cfg.pattern_ms))
    sim.set_weights("input_neuron", w)
    sim.run(cfg.dt)  # the step before the first input arrives
    for _ in range(cfg.n_reps):
        res = sim.run(cfg.pattern_ms)
        st = res.state["neuron"]
        yield _Presentation(st["U"][:, 0], st["V_star"][:, 0], float(res.counts["neuron"]))
    yield sim.weights("input_neuron")


_ALIGN_UNITS = {"inner": "1", "cos": "1", "delta_norm": "1", "grad_norm": "1",
                "predicted_dloss": "1", "zero_norm": "bool", "cos_batch": "1",
                "predicted_dloss_batch": "1", "sgd_cos": "1", "cos_kl": "1"}


def _alignment_row(a):
    """The ``/alignment/total`` columns of one measured presentation (the names of
    :func:`plasticity.analysis.measured`'s columns, plus ``cos_kl``)."""
    p = a["primary"]
    return {"inner": p["inner"], "cos": p["cos"], "delta_norm": p["delta_norm"],
            "grad_norm": p["grad_norm"], "predicted_dloss": p["predicted_dloss"],
            "zero_norm": p["zero_norm"], "cos_batch": a["batch"]["cos"],
            "predicted_dloss_batch": a["batch"]["predicted_dloss"], "sgd_cos": a["sgd_cos"],
            "cos_kl": a["kl"]["cos"]}


def _alignment_stats(measured):
    """Summaries of one run's measured presentations (a list of :func:`_alignment`
    results, in order): ``primary``, ``batch`` and ``kl`` from
    :func:`~plasticity.analysis.summarize`, and ``sgd_ceiling`` (mean ``sgd_cos``), over
    the presentations whose cosine with the population gradient is defined."""
    from plasticity.analysis import summarize

    keep = [a for a in measured if not a["primary"]["zero_norm"]]
    out = {name: summarize([a[name]["cos"] for a in keep], [a[name]["inner"] for a in keep],
                           rng=0) for name in ("primary", "batch", "kl")}
    out["sgd_ceiling"] = float(np.mean([a["sgd_cos"] for a in keep])) if keep else np.nan
    return out


def _seed_replicate(cfg, rngs):
    """One further seed of the alignment part on the trial kernel: a new pattern, target,
    initial weights and spike noise from the four generators ``rngs``. Returns
    :func:`_alignment_stats` of its measured presentations."""
    X, _, _, g_E, g_I, w = setup(cfg, *rngs[:3])
    measured = []
    for trial in _kernel_presentations(cfg, X, g_E, g_I, w, rngs[3]):
        if isinstance(trial, np.ndarray):  # the final weights
            if not np.all(np.isfinite(trial)):
                from plasticity.errors import Diverged

                raise Diverged("the weights of a further seed became NaN or infinite; "
                               "lower eta")
        elif trial.alignment is not None:
            measured.append(trial.alignment)
    return _alignment_stats(measured)


def run(cfg: DendriticPredictionConfig, ctx):
    pattern_rng, target_rng, init_rng, spike_rng = (ctx.child_rng() for _ in range(4))
    rule = _rule(cfg)
    X, w_star, U_M, g_E, g_I, w = setup(cfg, pattern_rng, target_rng, init_rng)
    n = cfg.n_inputs
    rec = ctx.recorder
    rec.snapshot("w_star", 0, w_star)
    rec.snapshot("w", 0, w)
    rec.snapshot("U_M", 0, U_M)
    units = {"mse": "1", "rate_mse": "1/ms^2", "spikes": "1"}
    mse, rate_mse = np.empty(cfg.n_reps), np.empty(cfg.n_reps)
    tail_U, tail_V = [], []
    first = None
    measured = []
    make = _engine_presentations if cfg.simulator == "engine" else _kernel_presentations
    presentations = make(cfg, X, g_E, g_I, w, spike_rng)
    with ctx.progress(cfg.n_reps, "dendritic-prediction") as bar:
        for r in range(cfg.n_reps):
            trial = next(presentations)
            mse[r] = np.mean((trial.U - trial.V_star) ** 2)
            rate_mse[r] = np.mean((rule.phi(trial.U) - rule.phi(trial.V_star)) ** 2)
            if r == 0:
                first = trial
            if r >= cfg.n_reps - cfg.final_reps:
                tail_U.append(trial.U)
                tail_V.append(trial.V_star)
            if trial.alignment is not None:
                rec.append("/alignment/total", r + 1, index_units="presentation",
                           units=_ALIGN_UNITS, **_alignment_row(trial.alignment))
                measured.append(trial.alignment)
            if r % cfg.record_every == 0 or r == cfg.n_reps - 1:
                rec.append("training", r + 1, units=units, index_units="presentation",
                           mse=mse[r], rate_mse=rate_mse[r], spikes=trial.spikes)
            bar.update(1)
    w = next(presentations)
    if not np.all(np.isfinite(w)):
        from plasticity.errors import Diverged

        raise Diverged("the weights became NaN or infinite; lower eta")
    rec.snapshot("w", cfg.n_reps, w)
    for name, tr, step in (("early", first, 1), ("late", trial, cfg.n_reps)):
        rec.snapshot(f"U_{name}", step, tr.U, index_units="presentation")
        rec.snapshot(f"V_star_{name}", step, tr.V_star, index_units="presentation")

    U_tail, V_tail = np.concatenate(tail_U), np.concatenate(tail_V)
    extra = {}
    if measured:
        per_seed = [_alignment_stats(measured)]
        if cfg.seeds > 1:
            with ctx.progress(cfg.seeds - 1, "dendritic-prediction (seeds)") as bar:
                for _ in range(1, cfg.seeds):
                    # four generators per seed, after the main run's: seed 0 is unchanged
                    per_seed.append(_seed_replicate(cfg, [ctx.child_rng() for _ in range(4)]))
                    bar.update(1)
        for k, st in enumerate(per_seed):
            rec.append("seeds", k, index="seed", index_units="1",
                       units={"cos_mean": "1", "cos_batch_mean": "1", "sgd_ceiling": "1"},
                       cos_mean=st["primary"]["cos_mean"],
                       cos_batch_mean=st["batch"]["cos_mean"], sgd_ceiling=st["sgd_ceiling"])
        main, own, kl = (per_seed[0][k] for k in ("primary", "batch", "kl"))
        extra = {f"{RULE}.{k}": main[k] for k in ("cos_mean", "cos_ci_low", "cos_ci_high",
                                                  "frac_positive", "n")}
        extra.update({f"{RULE}.ci_method": main["ci_method"],
                      f"{RULE}.n_eff": main["n_eff"],
                      f"{RULE}.cos_batch_mean": own["cos_mean"],
                      f"{RULE}.own_cos_mean": own["cos_mean"],
                      f"{RULE}.own_cos_ci_low": own["cos_ci_low"],
                      f"{RULE}.own_cos_ci_high": own["cos_ci_high"],
                      f"{RULE}.sgd_ceiling": per_seed[0]["sgd_ceiling"]})
        if cfg.seeds > 1:
            from plasticity.analysis import seeds_summary

            extra.update(seeds_summary([st["primary"]["cos_mean"] for st in per_seed],
                                       prefix=f"{RULE}.seeds_cos"))
        # deprecated (one release), with their old meaning: against the own loss and
        # against the KL divergence
        extra.update(align_cos_mean=own["cos_mean"], align_cos_ci_low=own["cos_ci_low"],
                     align_cos_ci_high=own["cos_ci_high"], align_kl_cos_mean=kl["cos_mean"],
                     align_kl_cos_ci_low=kl["cos_ci_low"],
                     align_kl_cos_ci_high=kl["cos_ci_high"], align_n=main["n"])
    ctx.summary(**extra,
        corr_dendrite_soma_final=float(np.corrcoef(U_tail, V_tail)[0, 1]),
        corr_dendrite_soma_initial=float(np.corrcoef(first.U, first.V_star)[0, 1])
        if np.std(first.V_star) > 0 else 0.0,
        error_reduction=float(mse[0] / np.mean(mse[-cfg.final_reps:])),
        rate_error_reduction=float(rate_mse[0] / np.mean(rate_mse[-cfg.final_reps:])),
        mse_initial=float(mse[0]), mse_final=float(np.mean(mse[-cfg.final_reps:])),
        weight_corr=float(np.corrcoef(w, w_star)[0, 1]) if n > 1 else 1.0,
        target_std_potential=float(np.std(U_M)), model=cfg.model, backend="numba",
        simulator=cfg.simulator, dt_ms=cfg.dt)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, axes = figure("double", height_ratio=0.33, ncols=3)
    s, snaps = run.summary, run.snapshots
    dt = run.config["dt"]
    for ax, name, title in ((axes[0], "early", "a  first presentation"),
                            (axes[1], "late", "b  last presentation")):
        U = np.asarray(snaps[f"U_{name}"]["value"])[-1]
        V = np.asarray(snaps[f"V_star_{name}"]["value"])[-1]
        t = np.arange(U.size) * dt
        u_src = src(f"snapshots/U_{name}:value")[-1]
        t_src = u_src.map(lambda u: np.arange(np.size(u)), "index") * src("config:dt")
        traced(ax.plot(t, U, color=PALETTE[0], label=r"soma $U$")[0], x=t_src, y=u_src)
        traced(ax.plot(t, V, color=PALETTE[1], label=r"dendrite $V^*_w$")[0], x=t_src,
               y=src(f"snapshots/V_star_{name}:value")[-1])
        ax.set_xlabel("time in pattern (ms)")
        ax.set_ylabel("potential")
        ax.set_title(title, loc="left")
    axes[0].legend(loc="upper left")
    axes[1].text(0.02, 0.95, f"corr {s['corr_dendrite_soma_final']:.3f}",
                 transform=axes[1].transAxes, va="top")
    tr = run.series["training"]
    traced(axes[2].plot(tr["step"], tr["mse"], color=PALETTE[2])[0],
           x=src("series/training:step"), y=src("series/training:mse"))
    axes[2].set_yscale("log")
    axes[2].set_xlabel("presentation")
    axes[2].set_ylabel(r"$\langle (U - V^*_w)^2 \rangle$")
    axes[2].set_title(f"c  prediction error (reduced {s['error_reduction']:.1f}x)",
                      loc="left")
    return fig


EXPERIMENT = Experiment(
    name="dendritic-prediction",
    description="A dendrite learns to predict somatic spiking driven by a teacher "
                "(Urbanczik & Senn 2014).",
    config=DendriticPredictionConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"n_reps": 20000, "final_reps": 200, "dt": 0.1,
                                   "eta": 0.1, "record_every": 10, "seeds": 5}},
    alignment=AlignmentMeta(substrate="spiking", loss="expected spike loss over the somatic "
                            "spike noise", problem="dendritic-prediction"),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
