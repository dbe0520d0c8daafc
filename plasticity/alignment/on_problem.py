"""The alignment measurement on any problem: train a rule, measure every update, summarise.

:func:`measure_problem` judges each update against the problem's population gradient
(with the same-batch cosine and the SGD ceiling beside it) and the expected update at the
initial state; :func:`measure_into` is the same for a supervised task and its student.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXPECTED_KEYS", "SUMMARY_KEYS", "measure_into", "measure_problem"]

#: The results of a measurement (:func:`measure_problem`), all against the population
#: gradient unless named ``batch``: ``ci_method`` and ``reference`` are strings
#: (``reference`` is ``"population"``, ``"population-estimated"`` or
#: ``"exact-closed-form"``), ``n_measured`` an int, the rest floats.
SUMMARY_KEYS = ("cos_mean", "cos_ci_low", "cos_ci_high", "ci_method", "cos_batch_mean",
                "sgd_ceiling", "sgd_ceiling_ci_low", "sgd_ceiling_ci_high", "frac_positive",
                "expected_cos", "n_measured", "final_loss", "reference")

#: Keys :func:`plasticity.analysis.expected_cosine` may add, passed through when present.
EXPECTED_KEYS = ("expected_cos_raw", "expected_cos_ci_low", "expected_cos_ci_high",
                 "expected_snr")

# Of those, the cosines: their denominator holds |g|, so they take the same noise
# correction as expected_cos when the reference is estimated.
_EXPECTED_COSINES = ("expected_cos", "expected_cos_raw", "expected_cos_ci_low",
                     "expected_cos_ci_high")


class _FreshBatches:
    """A rule that draws its own batch from ``rng`` before every update: one draw of the
    update over both the data and the rule's own noise, for the expected update."""

    def __init__(self, rule, problem, batch_size):
        from plasticity.rules.base import rule_name

        self.rule, self.problem, self.batch_size = rule, problem, batch_size
        self.name = rule_name(rule)

    def init(self, params):
        return self.rule.init(params)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        batch = self.problem.batch(self.batch_size, rng)
        return self.rule.update(self.problem.signals(params, batch), state, params,
                                reward=getattr(batch, "reward", None),
                                loss_fn=self.problem.loss_fn(batch), rng=rng)


def _reference(problem, params):
    """The problem's population gradient at ``params``, checked: ``(g, se)``."""
    from plasticity.errors import ProblemError
    from plasticity.problems.base import check_gradient

    out = problem.population_gradient(params)
    if not isinstance(out, tuple) or len(out) != 2:
        name = getattr(problem, "name", None) or type(problem).__name__
        raise ProblemError(f"Problem {name!r}: population_gradient must return (g, se) "
                           f"with se None where g is exact.")
    g = check_gradient(problem, out[0], params, what="population gradient", se=out[1])
    return g, out[1]


def _noise_factor(g, se):
    """``|g_hat| / sqrt(|g_hat|^2 - sum(se^2))``, the factor that corrects a cosine with
    an estimated ``g`` for the estimate's noise (1 when exact or unresolved)."""
    if se is None:
        return 1.0
    gg = sum(float(np.vdot(v, v)) for v in g.values())
    ss = sum(float(np.vdot(np.asarray(v), np.asarray(v))) for v in se.values())
    return float(np.sqrt(gg / (gg - ss))) if gg > ss else 1.0


def measure_problem(rule, problem, params, *, n_updates, batch_size, seed, recorder=None,
                    prefix="/alignment", expected_draws=100, record_every=1,
                    record_tables=None, probes=(), per_array=False):
    """Train ``rule`` on ``problem`` from ``params`` and measure its alignment.

    Every measured update ``d`` is compared with the population gradient ``g`` at the
    parameters before it (primary columns ``inner``, ``cos``, ... and ``grad_se`` where
    ``g`` is estimated; the cosine noise-corrected, ``cos_raw`` not), with the gradient of
    the same batch (``cos_batch``), and the exact minibatch step with ``g`` (``sgd_cos``).

    Parameters
    ----------
    rule : object with ``init`` and ``update``
        Already resolved (see :func:`plasticity.rules.resolve.resolve_rule`).
    problem : plasticity.problems.Problem
        Supplies batches, signals, the loss and both gradients.
    params : dict of str to ndarray
        Initial parameters (not modified).
    n_updates, batch_size : int
        Updates of training, samples per update.
    seed : int or sequence of int
        Seeds the batches, the rule's noise and the expected-update draws (separate
        streams, so changing ``expected_draws`` does not change the training run).
    recorder : plasticity.io.recorder.Recorder, optional
        Per-update rows go to ``<prefix>/<array>`` and ``<prefix>/total``.
    prefix : str
    expected_draws : int
        Draws for ``expected_cos``: each draw is one update from the initial parameters
        and rule state on a fresh batch with fresh rule noise, so their mean estimates
        the update expected over data and noise (Richards & Kording's criterion), judged
        against the population gradient there.
    record_every : int
        Measure every ``record_every``-th update.
    record_tables : collection of str, optional
        The tables written to ``recorder`` (e.g. ``("total",)``); all when None.
    probes : sequence of plasticity.engine.Probe
        Called after updates during training (e.g. to record a learning curve).
    per_array : bool, default False
        Also return ``<array>.cos_mean`` and ``<array>.n_measured`` for every parameter
        array: the mean per-update cosine of the update's part in that array with the
        population gradient's (updates that leave the array unchanged left out), where
        rules differ (e.g. an RNN's recurrent weights, whose readout every rule learns
        exactly).

    Returns
    -------
    dict
        :data:`SUMMARY_KEYS`, every further key :func:`plasticity.analysis.summarize`
        returns (e.g. ``n_eff``), and those of :data:`EXPECTED_KEYS` that
        :func:`~plasticity.analysis.expected_cosine` returns. Updates of zero norm (e.g.
        rejected hill-climbing proposals) are left out of the statistics because their
        angle is undefined; ``n_measured`` counts the others. ``final_loss`` is the
        population loss after training (:meth:`Problem.population_loss`, NaN if the
        problem has none).

    Raises
    ------
    RuleError
        When the rule breaks the protocol (the message names the rule and the array), or
        does not apply to the problem's substrate (its ``substrates`` ClassVar).
    ProblemError
        When a gradient of the problem has the wrong keys or shapes, or NaN.
    Diverged
        When the parameters blow up during training.
    """
    from threadpoolctl import threadpool_limits

    from plasticity.rules.base import check_applies

    check_applies(rule, getattr(problem, "substrate", None),
                  f"problem {getattr(problem, 'name', type(problem).__name__)!r}")
    # The arrays here (at most the evaluation set times a layer's width) are too small
    # for threaded BLAS to pay: on the 2-core test machine under load, two BLAS threads
    # made a 200-update backprop measurement 7x slower (13.6 s against 1.9 s).
    with threadpool_limits(limits=1, user_api="blas"):
        return _measure_problem(rule, problem, params, n_updates=n_updates,
                                batch_size=batch_size, seed=seed, recorder=recorder,
                                prefix=prefix, expected_draws=expected_draws,
                                record_every=record_every, record_tables=record_tables,
                                probes=probes, per_array=per_array)


def _measure_problem(rule, problem, params, *, n_updates, batch_size, seed, recorder,
                     prefix, expected_draws, record_every, record_tables, probes,
                     per_array):
    from plasticity.analysis import expected_cosine, measured
    from plasticity.engine import train
    from plasticity.problems.base import check_gradient

    seeds = np.random.SeedSequence(seed).spawn(4)
    # the third stream (a fixed batch before) is left unused so the others stay put
    data_rng, rule_rng, _, draw_rng = (np.random.default_rng(s) for s in seeds)

    # The expected update first, at the initial state: a rule that breaks the protocol
    # fails here, before training, with check_delta's message naming the array.
    g0, se0 = _reference(problem, params)
    exp = expected_cosine(_FreshBatches(rule, problem, batch_size), {}, rule.init(params),
                          params, g0, n_draws=expected_draws, rng=draw_rng)
    # expected_cosine's cosines have |g_hat| in the denominator: correct them as align
    # does per update (and keep them cosines: the debiased estimate is clipped already)
    factor = _noise_factor(g0, se0)
    expected = {k: float(np.clip(exp[k] * factor, -1.0, 1.0)) if k in _EXPECTED_COSINES
                else float(exp[k]) for k in ("expected_cos", *EXPECTED_KEYS) if k in exp}

    current = {}

    def next_batch(step):
        current["batch"] = problem.batch(batch_size, data_rng)
        return current["batch"]

    # A problem that can read the gradient and the loss off the forward pass the signals
    # hold (the feedforward one) is spared repeating it: same numbers, fewer passes.
    from_signals = getattr(problem, "batch_gradient_from_signals", None)
    loss_from_signals = getattr(problem, "loss_from_signals", None)

    def batch_gradient(p, signals):
        g = (problem.batch_gradient(p, current["batch"]) if from_signals is None
             else from_signals(p, current["batch"], signals))
        return check_gradient(problem, g, p, what="batch gradient")

    loss_before = (None if loss_from_signals is None
                   else lambda p, signals: loss_from_signals(p, current["batch"], signals))
    wrapped = measured(rule, batch_gradient, every=record_every, recorder=recorder,
                       prefix=prefix, reference_fn=lambda p: _reference(problem, p),
                       record_tables=record_tables, loss_before_fn=loss_before)
    final, _ = train(wrapped, params, n_updates=n_updates, next_batch=next_batch,
                     signals=problem.signals, loss=problem.loss, rng=rule_rng,
                     probes=probes)
    try:
        final_loss = float(problem.population_loss(final))
    except NotImplementedError:
        final_loss = float("nan")
    reference = getattr(problem, "reference", None) or (
        "population" if se0 is None else "population-estimated")
    out = _summary(wrapped.records, expected, final_loss, reference)
    if per_array:
        for key, table in wrapped.records.items():
            if key != "total":
                cos = table["cos"][~table["zero_norm"]]
                out[f"{key}.cos_mean"] = float(np.mean(cos)) if cos.size else float("nan")
                out[f"{key}.n_measured"] = int(cos.size)
    return out


def measure_into(rule, task, net, params, *, n_updates, batch_size, seed, recorder=None,
                 prefix="/alignment", expected_draws=100, record_every=1, n_eval=None,
                 eval_seed=None):
    """:func:`measure_problem` on ``FeedForwardProblem(task, net)``.

    Parameters
    ----------
    rule : object with ``init`` and ``update``
    task : plasticity.tasks.supervised.SupervisedTask
    net : FeedForward
        The student network ``params`` belong to.
    params, n_updates, batch_size, seed, recorder, prefix, expected_draws, record_every
        As in :func:`measure_problem`.
    n_eval : int, optional
        Evaluation-set size of an estimated population gradient (default
        :data:`plasticity.problems.feedforward.DEFAULT_N_EVAL`).
    eval_seed : int or sequence of int, optional
        Seeds the evaluation set; default ``[*seed, 4]`` style, derived from ``seed``.

    Returns
    -------
    dict
        As :func:`measure_problem`.
    """
    from plasticity.problems.feedforward import DEFAULT_N_EVAL, FeedForwardProblem

    if eval_seed is None:
        eval_seed = np.random.SeedSequence(seed).spawn(5)[4]
    problem = FeedForwardProblem(task, net, n_eval=n_eval or DEFAULT_N_EVAL,
                                 eval_seed=eval_seed)
    return measure_problem(rule, problem, params, n_updates=n_updates,
                           batch_size=batch_size, seed=seed, recorder=recorder,
                           prefix=prefix, expected_draws=expected_draws,
                           record_every=record_every)


def _summary(records, expected, final_loss, reference):
    from plasticity.analysis import summarize

    total = records.get("total")
    if total is None or total.size == 0:
        cos = inner = cos_batch = sgd = np.zeros(0)
    else:
        keep = ~total["zero_norm"]
        cos, inner = total["cos"][keep], total["inner"][keep]
        cos_batch, sgd = total["cos_batch"][keep], total["sgd_cos"][keep]
    stats = dict(summarize(cos, inner, rng=0))
    n = stats.pop("n")
    stats.setdefault("ci_method", "percentile bootstrap over updates")
    ceiling = summarize(sgd, sgd, rng=0)
    return {**stats, "cos_batch_mean": float(np.mean(cos_batch)) if n else float("nan"),
            "sgd_ceiling": ceiling["cos_mean"], "sgd_ceiling_ci_low": ceiling["cos_ci_low"],
            "sgd_ceiling_ci_high": ceiling["cos_ci_high"], **expected, "n_measured": int(n),
            "final_loss": float(final_loss), "reference": reference}
