"""Claim: backprop cannot train hard threshold units; GA and ES vs straight-through GD on parity.

The claim (issue 19, claim 10): "Backprop cannot handle binary decisions; evolution can
optimise any fitness." A network of hard threshold (Heaviside) units has a loss that is
piecewise constant in its hidden weights, so the exact gradient with respect to them is
zero almost everywhere: "backprop cannot" is a statement about the EXACT gradient. The
practical answer of the gradient camp is the straight-through estimator (STE, Hinton's
lecture; Bengio, Leonard & Courville 2013): forward with the Heaviside, backward as if
the unit were differentiable. STE is a biased surrogate, not the gradient of anything the
network computes, so the claim is tested by what each method reaches under the same
budget, and the surrogate's direction is compared with the one gradient that does exist:
that of the smoothed (noisy-unit) network.

The problem
    ``n_bits``-bit parity over the whole truth table (``2^n_bits`` patterns, inputs
    ``x = 2 b - 1`` in ``{-1, +1}^n_bits``, target ``t = +1`` for an odd number of ones,
    else ``-1``). The network has ``n_hidden`` hard threshold units
    ``h = H(W x + b)`` in ``{0, 1}`` (``H(a) = 1`` for ``a > 0``) and a linear readout
    ``y = v . h + c``; its loss is the mean squared error ``L = mean_x (y - t)^2 / 2``,
    and its decision the threshold readout ``sign(y)``: a network has SOLVED the task when
    ``sign(y) = t`` on every pattern (100% accuracy; ``y = 0`` counts as wrong). With
    ``n_hidden >= n_bits`` a solution exists (``h_k = H(sum_i b_i - k + 1/2)`` with
    alternating readout weights).

Methods (each with at most ``max_evals`` evaluations; one evaluation is a forward pass
of one parameter vector over the whole truth table)
    ``ga``
        :class:`~plasticity.rules.selection.GeneticAlgorithm`: real-valued genomes (all
        weights), tournament selection, uniform crossover, Gaussian mutation, one elite;
        fitness ``-L`` of the hard network. ``population`` evaluations per generation.
    ``es``
        :class:`~plasticity.rules.selection.EvolutionStrategies`, OpenAI style
        (Salimans et al. 2017): antithetic Gaussian perturbations of the search mean,
        centred-rank fitness shaping; ``population`` evaluations per update plus one of
        the new mean.
    ``es_1p1``
        The (1+1)-ES: :class:`~plasticity.rules.selection.HillClimbing` with Rechenberg's
        1/5th success rule; one evaluation per update (the parent's loss is known).
    ``ste``
        Full-batch gradient descent with the straight-through estimator: the forward
        pass uses the Heaviside; the backward pass replaces ``H'(a)`` by ``1``
        (``ste_backward="identity"``), ``1{|a| <= 1}`` (``"clipped"``) or the logistic
        derivative ``s(a)(1 - s(a))`` (``"sigmoid"``). Two evaluations per step (a
        forward and a backward pass over the truth table).
    ``exact``
        Full-batch gradient descent with the EXACT gradient of the hard network: zero
        for the hidden weights, the true least-squares gradient for the readout. It can
        only fit the readout to the random features of its initial hidden layer. Two
        evaluations per step.
    A fitness that is not re-measured is not charged: the selection rules re-query the
    loss of points they already evaluated (the parent, the elite), and on a fixed
    truth table that value is known (:class:`FitnessCounter` remembers it).

Alignment with the smoothed network
    Replacing each hidden unit by a noisy threshold unit ``h = H(a + sigma xi)``, ``xi ~
    N(0, 1)`` independent across units and patterns, gives ``E[h] = Phi(a / sigma)`` and,
    with a linear readout and the squared loss, the closed-form expected loss

    ``L_sigma = mean_x [ (v . p + c - t)^2 + sum_j v_j^2 p_j (1 - p_j) ] / 2``,
    ``p_j = Phi(a_j / sigma)``,

    a smooth function of every weight whose gradient (``smoothed_grad``) is exact (over
    the truth table and the noise) and tends to the hard network's loss as ``sigma -> 0``.
    Along each STE trajectory, the cosine of the STE update with ``-grad L_sigma`` at the
    same weights (``ste.cos_*``); along each ES trajectory, the cosine of the change of
    the ES mean with it (``es.cos_*``). The exact gradient descent's update is also
    compared (``exact.cos_*``). The threshold is scale-free (``H(a) = H(lambda a)``) but
    the smoothed loss is not: ``sigma`` sets how far from its threshold a unit feels a
    pattern.

What is reported, per method (over ``seeds`` independent initialisations; the same
initial weights for every method of a seed)
    ``success`` (the fraction of seeds that solved the task within the budget) with its
    Clopper-Pearson 95% interval (``scipy.stats.binomtest(k, n).proportion_ci()``);
    ``evals_median`` (the median over all seeds of the evaluations to the first
    solution, a seed that never solved it counting as infinitely many: NaN when half or
    more failed) with a distribution-free 95% interval of that median (order statistics,
    ``scipy.stats.quantile_test``; NaN for a bound beyond the budget, or with fewer than
    6 seeds); ``accuracy`` (the
    best truth-table accuracy of any point the method evaluated, i.e. what it returns)
    with a t-interval over seeds; ``evals_used``.

Settings
    The defaults come from a pilot on other initialisations (streams the runs never use;
    4-bit parity, 8 hidden units, 10 initialisations, 20,000 evaluations): STE's step
    was chosen on a grid 0.01-3 for each surrogate. There the clipped surrogate at 0.3
    solved all 10; the identity surrogate solved at most 1 of 10 at any step (at large
    steps it diverges), the logistic one at most 5. So "STE" here is STE at its best
    surrogate and step; the evolutionary methods' mutation scales were set by hand to
    values that solved the pilot. ``--set ste_backward=identity`` shows the plain STE.

Statistics
    Successes are Bernoulli over independent seeds: exact binomial intervals. Cosines:
    within a run, batch means sized from the autocorrelation (``summarize``); across
    seeds, the t-interval over per-seed means (``combine_seeds``). ``ste_vs_ga_p`` and
    ``ste_vs_es_p`` are two-sided Fisher exact tests of equal success probability.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.errors import InvalidParameterError
from plasticity.experiment import ClaimMeta, Config, Experiment

METHODS = ("ga", "es", "es_1p1", "ste", "exact")
EVOLUTION = ("ga", "es", "es_1p1")
GRADIENT = ("ste", "exact")
#: methods whose updates are compared with the smoothed network's gradient
ALIGNED = ("ste", "exact", "es")
LABELS = {"ga": "GA", "es": "ES (OpenAI)", "es_1p1": "(1+1)-ES", "ste": "STE GD",
          "exact": "exact GD"}
BACKWARDS = ("identity", "clipped", "sigmoid", "exact")


class ClaimBinaryConfig(Config):
    n_bits: int = Field(4, ge=2, le=12, description="parity of this many bits (>= 2)")
    n_hidden: int = Field(8, ge=1, description="hard threshold hidden units")
    seeds: int = Field(10, ge=1, description="independent initialisations")
    max_evals: int = Field(20_000, ge=10,
                           description="evaluations (truth-table forward passes) per "
                                       "method and seed")
    init_scale: float = Field(1.0, gt=0, description="std of the initial weights, times "
                                                     "1/sqrt(fan-in)")
    sigma: float = Field(0.5, gt=0, description="noise of the smoothed network's units "
                                                "(pre-activation units)")
    population: int = Field(40, ge=2, description="GA and ES population (even for ES)")
    ga_sigma: float = Field(0.2, gt=0, description="GA mutation std")
    tournament_size: int = Field(3, ge=2, description="GA tournament size")
    es_sigma: float = Field(0.2, gt=0, description="ES perturbation std")
    es_eta: float = Field(0.2, gt=0, description="ES learning rate")
    es_1p1_sigma: float = Field(0.3, gt=0, description="(1+1)-ES initial step std")
    ste_lr: float = Field(0.3, gt=0, description="STE and exact GD learning rate")
    ste_backward: Literal["identity", "clipped", "sigmoid"] = Field(
        "clipped", description="STE surrogate for H'(a)")

    @model_validator(mode="after")
    def _even_population(self):
        if self.population % 2:
            raise ValueError(f"population must be even (antithetic ES pairs); got "
                             f"{self.population}")
        return self


# ----------------------------------------------------------------------------- the task

def truth_table(n_bits):
    """The ``n_bits``-bit parity truth table.

    Parameters
    ----------
    n_bits : int >= 2

    Returns
    -------
    X : ndarray, shape (2**n_bits, n_bits)
        Inputs ``2 b - 1`` in ``{-1, +1}``, row ``i`` the binary digits of ``i``.
    t : ndarray, shape (2**n_bits,)
        ``+1`` where an odd number of bits is 1, else ``-1``.

    Raises
    ------
    InvalidParameterError
        When ``n_bits < 2`` (one bit's parity is the bit itself: no hidden unit needed).
    """
    n_bits = int(n_bits)
    if n_bits < 2:
        raise InvalidParameterError(f"n_bits must be >= 2 for parity; got {n_bits}")
    bits = (np.arange(2 ** n_bits)[:, None] >> np.arange(n_bits)[::-1]) & 1
    return (2.0 * bits - 1.0), 2.0 * (bits.sum(axis=1) % 2) - 1.0


def init_params(n_bits, n_hidden, rng, scale=1.0):
    """Initial weights ``{"W": (H, n), "b": (H,), "v": (H,), "c": (1,)}``.

    ``W``, ``b`` ~ ``N(0, scale^2 / (n + 1))``; ``v`` ~ ``N(0, scale^2 / H)``; ``c = 0``.
    """
    fan = n_bits + 1
    return {"W": scale * rng.standard_normal((n_hidden, n_bits)) / np.sqrt(fan),
            "b": scale * rng.standard_normal(n_hidden) / np.sqrt(fan),
            "v": scale * rng.standard_normal(n_hidden) / np.sqrt(n_hidden),
            "c": np.zeros(1)}


def pack(params):
    """All weights as one vector ``{"theta": (D,)}``: ``W`` (row-major), ``b``, ``v``, ``c``.

    The selection rules search this one array (their flattening of a dict of four
    arrays per call would cost more than the truth-table forward pass itself).
    """
    return {"theta": np.concatenate([np.ravel(params[k]) for k in ("W", "b", "v", "c")])}


def unpack(theta, n_bits, n_hidden):
    """The weight dict of :func:`init_params` from a packed vector (views, not copies)."""
    theta = np.asarray(theta, dtype=np.float64)
    w = n_hidden * n_bits
    return {"W": theta[:w].reshape(n_hidden, n_bits), "b": theta[w:w + n_hidden],
            "v": theta[w + n_hidden:w + 2 * n_hidden], "c": theta[w + 2 * n_hidden:]}


def forward(params, X):
    """The hard network: pre-activations ``A`` (P, H), hidden ``h = H(A)`` (P, H) in
    {0, 1}, outputs ``y`` (P,)."""
    a = X @ params["W"].T + params["b"]
    h = (a > 0).astype(np.float64)
    return a, h, h @ params["v"] + params["c"][0]


def hard_loss(params, X, t):
    """Mean squared error ``mean (y - t)^2 / 2`` of the hard network (loss units)."""
    y = forward(params, X)[2]
    return float(0.5 * np.mean((y - t) ** 2))


def accuracy(params, X, t):
    """Fraction of patterns with ``sign(y) = t`` (``y = 0`` is wrong)."""
    y = forward(params, X)[2]
    return float(np.mean(np.sign(y) == t))


def hard_grads(params, X, t, backward="identity"):
    """Gradient of :func:`hard_loss` with the hidden units' ``H'(a)`` replaced by a surrogate.

    Parameters
    ----------
    params : dict
        ``W`` (H, n), ``b`` (H,), ``v`` (H,), ``c`` (1,).
    X, t : ndarray
        The truth table (:func:`truth_table`).
    backward : {"identity", "clipped", "sigmoid", "exact"}
        ``H'(a)`` is taken as ``1``, ``1{|a| <= 1}``, ``s(a)(1 - s(a))`` with ``s`` the
        logistic function, or ``0`` (the exact derivative almost everywhere: the true
        gradient of the hard network).

    Returns
    -------
    dict
        Same keys and shapes as ``params`` (loss per parameter unit). ``v`` and ``c`` are
        the exact gradient whatever ``backward`` is.
    """
    if backward not in BACKWARDS:
        raise InvalidParameterError(f"backward must be one of {BACKWARDS}; got {backward!r}")
    a, h, y = forward(params, X)
    delta = (y - t) / t.size
    grads = {"v": h.T @ delta, "c": np.array([delta.sum()])}
    if backward == "identity":
        deriv = np.ones_like(a)
    elif backward == "clipped":
        deriv = (np.abs(a) <= 1.0).astype(np.float64)
    elif backward == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-a))
        deriv = s * (1.0 - s)
    else:
        deriv = np.zeros_like(a)
    da = np.outer(delta, params["v"]) * deriv
    grads["W"] = da.T @ X
    grads["b"] = da.sum(axis=0)
    return grads


# ------------------------------------------------------------- the smoothed network

def _check_sigma(sigma):
    sigma = float(sigma)
    if not sigma > 0 or not np.isfinite(sigma):
        raise InvalidParameterError(f"sigma must be > 0 and finite; got {sigma}")
    return sigma


def smoothed_loss(params, X, t, sigma):
    """Expected squared loss of the noisy-unit network ``h = H(a + sigma xi)`` (closed form).

    Parameters
    ----------
    params : dict
        As :func:`init_params`.
    X, t : ndarray
        The truth table.
    sigma : float > 0
        Noise std of every hidden unit's pre-activation.

    Returns
    -------
    float
        ``mean_x [(v . p + c - t)^2 + sum_j v_j^2 p_j (1 - p_j)] / 2`` with
        ``p = Phi(a / sigma)``: the squared error of the mean output plus the output's
        variance, the hidden units being independent Bernoulli(``p_j``) given ``x``.
    """
    from scipy.special import ndtr

    sigma = _check_sigma(sigma)
    a = X @ params["W"].T + params["b"]
    p = ndtr(a / sigma)
    v = params["v"]
    err = p @ v + params["c"][0] - t
    var = (p * (1.0 - p)) @ (v * v)
    return float(0.5 * np.mean(err ** 2 + var))


def smoothed_grad(params, X, t, sigma):
    """Exact gradient of :func:`smoothed_loss` (over the truth table and the unit noise).

    Returns
    -------
    dict
        Same keys and shapes as ``params``: with ``e = v . p + c - t`` and ``P`` patterns,
        ``dL/dv_j = mean(e p_j + v_j p_j (1 - p_j))``, ``dL/dc = mean(e)``, and through
        ``dL/dp_j = e v_j + v_j^2 (1 - 2 p_j) / 2`` and ``dp_j/da_j = phi(a_j / sigma) /
        sigma``, ``dL/dW = (dL/da)^T X / P`` and ``dL/db = sum_x dL/da / P``.
    """
    from scipy.special import ndtr

    sigma = _check_sigma(sigma)
    a = X @ params["W"].T + params["b"]
    z = a / sigma
    p = ndtr(z)
    v = params["v"]
    n = t.size
    err = p @ v + params["c"][0] - t
    dp = np.outer(err, v) + 0.5 * (v * v) * (1.0 - 2.0 * p)
    da = dp * np.exp(-0.5 * z * z) / (np.sqrt(2.0 * np.pi) * sigma) / n
    return {"W": da.T @ X, "b": da.sum(axis=0),
            "v": (p.T @ err + v * (p * (1.0 - p)).sum(axis=0)) / n,
            "c": np.array([err.mean()])}


def smoothed_loss_mc(params, X, t, sigma, n_samples, rng):
    """Monte-Carlo estimate of :func:`smoothed_loss`: ``(mean, standard error)``.

    Draws ``n_samples`` independent noise tensors ``xi`` (n_samples, P, H), runs the hard
    readout on ``H(a + sigma xi)`` and averages the per-sample truth-table loss.
    """
    sigma = _check_sigma(sigma)
    a = X @ params["W"].T + params["b"]
    h = (a + sigma * rng.standard_normal((int(n_samples), *a.shape)) > 0)
    y = h.astype(np.float64) @ params["v"] + params["c"][0]
    per = 0.5 * np.mean((y - t) ** 2, axis=1)
    return float(per.mean()), float(per.std(ddof=1) / np.sqrt(per.size))


# ------------------------------------------------------------------- the budget

class FitnessCounter:
    """The fitness as the selection rules see it, counting truth-table evaluations.

    ``counter(params) -> hard loss``. A point already evaluated (the same float64
    vector) is answered from memory without being charged: the truth table is fixed, so
    its loss is known. Records the evaluation count at which a point first solved the
    task (``first_success``) and the best accuracy and loss seen.

    Parameters
    ----------
    X, t : ndarray
        The truth table.
    memory : int
        How many recent points are remembered (enough for a parent and an elite).
    """

    memory: ClassVar[int] = 8

    def __init__(self, X, t):
        self.X, self.t = X, t
        self.n_evals = 0
        self.first_success = None
        self.best_accuracy = 0.0
        self._seen = {}

    def measure(self, params):
        """Evaluate (and charge) one truth-table forward pass: ``(loss, accuracy)``."""
        y = forward(params, self.X)[2]
        loss = float(0.5 * np.mean((y - self.t) ** 2))
        acc = float(np.mean(np.sign(y) == self.t))
        self.n_evals += 1
        self.best_accuracy = max(self.best_accuracy, acc)
        if acc == 1.0 and self.first_success is None:
            self.first_success = self.n_evals
        return loss, acc

    def __call__(self, params):
        """The hard loss of ``params`` (a weight dict, or packed ``{"theta": ...}``)."""
        if "theta" in params:
            theta = np.asarray(params["theta"], dtype=np.float64)
            key = theta.tobytes()
            params = unpack(theta, self.X.shape[1], (theta.size - 1) // (self.X.shape[1] + 2))
        else:
            key = b"".join(np.asarray(params[k], dtype=np.float64).tobytes()
                           for k in sorted(params))
        if key in self._seen:
            return self._seen[key]
        loss = self.measure(params)[0]
        if len(self._seen) >= self.memory:
            self._seen.pop(next(iter(self._seen)))
        self._seen[key] = loss
        return loss


# ------------------------------------------------------------------- the methods

def _selection_rules(cfg):
    from plasticity.rules.selection import EvolutionStrategies, GeneticAlgorithm, HillClimbing

    return {"ga": GeneticAlgorithm(population=cfg.population, sigma=cfg.ga_sigma,
                                   selection="tournament",
                                   tournament_size=cfg.tournament_size, crossover="uniform"),
            "es": EvolutionStrategies(eta=cfg.es_eta, sigma=cfg.es_sigma,
                                      population=cfg.population),
            "es_1p1": HillClimbing(sigma=cfg.es_1p1_sigma, adapt=True)}


def _cos(delta, grad):
    """``(cos, inner)`` of ``delta`` with ``-grad`` over all arrays (NaN cos if a norm is 0)."""
    d = np.concatenate([np.ravel(delta[k]) for k in sorted(grad)])
    g = np.concatenate([np.ravel(grad[k]) for k in sorted(grad)])
    inner = float(-d @ g)
    norm = float(np.linalg.norm(d) * np.linalg.norm(g))
    return (inner / norm if norm > 0 else np.nan), inner


def run_selection(rule, init, X, t, cfg, rng, *, align_sigma=None, mean_search=False):
    """Run one selection rule from ``init`` until it solves the task or the budget is spent.

    Returns
    -------
    dict
        ``counter`` (the :class:`FitnessCounter`), ``params`` (final), ``cos`` and
        ``inner`` (arrays over updates, with ``align_sigma``: the update against
        ``-grad L_sigma`` at the weights before it; updates of zero norm left out).
    """
    n_bits, n_hidden = init["W"].shape[1], init["W"].shape[0]
    counter = FitnessCounter(X, t)
    params = pack(init)
    state = rule.init(params)
    cos, inner = [], []
    # the (1+1)-ES and the ES need the current point's fitness: charge it once here
    counter(params)
    while counter.first_success is None and counter.n_evals < cfg.max_evals:
        before = counter.n_evals
        delta, state = rule.update({}, state, params, loss_fn=counter, rng=rng)
        if counter.n_evals == before:
            # every point it asked about was known: the search has stalled (e.g. the
            # (1+1)-ES's step shrank below the weights' rounding after many failures)
            break
        if align_sigma is not None:
            grad = pack(smoothed_grad(unpack(params["theta"], n_bits, n_hidden), X, t,
                                      align_sigma))
            c, i = _cos(delta, grad)
            if np.isfinite(c):
                cos.append(c)
                inner.append(i)
        if np.any(delta["theta"]):
            params = {"theta": params["theta"] + delta["theta"]}
            if mean_search:
                counter(params)  # the new search mean is a point never evaluated
    return {"counter": counter, "params": unpack(params["theta"], n_bits, n_hidden),
            "cos": np.array(cos), "inner": np.array(inner)}


def run_gradient(init, X, t, cfg, backward, sigma):
    """Full-batch gradient descent with ``hard_grads(..., backward)`` from ``init``.

    Each step charges two evaluations (the forward pass, which also tells whether the
    current weights solve the task, and the backward pass). Stops at the first solution
    or when the budget is spent.

    Returns
    -------
    dict
        As :func:`run_selection`; ``cos``, ``inner`` against ``-grad L_sigma``.
    """
    counter = FitnessCounter(X, t)
    params = {k: v.copy() for k, v in init.items()}
    cos, inner = [], []
    with np.errstate(over="ignore", invalid="ignore"):
        _descend(counter, params, X, t, cfg, backward, sigma, cos, inner)
    return {"counter": counter, "params": params, "cos": np.array(cos),
            "inner": np.array(inner)}


def _descend(counter, params, X, t, cfg, backward, sigma, cos, inner):
    """The loop of :func:`run_gradient`; updates ``params`` in place."""
    while counter.n_evals + 2 <= cfg.max_evals:
        counter.measure(params)
        if counter.first_success is not None:
            break
        g = hard_grads(params, X, t, backward)
        counter.n_evals += 1  # the backward pass
        delta = {k: -cfg.ste_lr * g[k] for k in g}
        c, i = _cos(delta, smoothed_grad(params, X, t, sigma))
        if np.isfinite(c):
            cos.append(c)
            inner.append(i)
        for k in params:
            params[k] = params[k] + delta[k]
        if not all(np.all(np.isfinite(v)) for v in params.values()):
            break  # diverged (too large a step): nothing further can solve the task


# ------------------------------------------------------------------- statistics

def success_interval(k, n):
    """``(k / n, low, high)``: the Clopper-Pearson 95% interval of a success probability."""
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="exact")
    return float(k / n), float(ci.low), float(ci.high)


def median_interval(evals):
    """Median evaluations to success, failures counted as never (``inf``), with the
    distribution-free 95% interval of the median (order statistics, ``quantile_test``).

    Parameters
    ----------
    evals : array_like, shape (s,)
        Per seed: evaluations to the first solution, ``inf`` where none was found.

    Returns
    -------
    (float, float, float)
        ``(median, low, high)``; NaN for a value that is not finite (more than half of the
        seeds failed, or the upper bound lies beyond the budget) or not defined (fewer
        than 6 seeds have no 95% order-statistic interval).
    """
    from scipy.stats import quantile_test

    x = np.asarray(evals, dtype=np.float64)
    med = float(np.median(x))
    ci = quantile_test(x, q=med if np.isfinite(med) else 0.0, p=0.5).confidence_interval(0.95)
    out = (med, float(ci.low), float(ci.high))
    return tuple(v if np.isfinite(v) else np.nan for v in out)


def _within(cos, inner):
    """One run's alignment: :func:`~plasticity.analysis.summarize` plus ``n_measured``."""
    from plasticity.analysis import summarize

    out = summarize(cos, inner)
    return dict(out, n_measured=int(out["n"]))


def _combine(rows, aligned):
    """One method's summary keys from its per-seed rows (dicts)."""
    from plasticity.analysis import combine_seeds, seeds_interval

    n = len(rows)
    k = sum(r["success"] for r in rows)
    out = {"n_success": int(k)}
    out["success"], out["success_low"], out["success_high"] = success_interval(k, n)
    out["evals_median"], out["evals_median_low"], out["evals_median_high"] = \
        median_interval([r["evals_to_success"] if r["success"] else np.inf for r in rows])
    acc = np.array([r["accuracy"] for r in rows])
    out["accuracy"], out["accuracy_low"], out["accuracy_high"] = seeds_interval(acc)
    if n > 1:
        # an accuracy lies in [0, 1]: cutting the interval there keeps its coverage
        out["accuracy_low"] = max(out["accuracy_low"], 0.0)
        out["accuracy_high"] = min(out["accuracy_high"], 1.0)
    out["evals_used"] = float(np.mean([r["evals_used"] for r in rows]))
    if aligned:
        measured = [r["align"] for r in rows if r["align"]["n"] > 0]
        if measured:
            out.update(combine_seeds(measured))
        else:
            out.update(cos_mean=np.nan, cos_ci_low=np.nan, cos_ci_high=np.nan,
                       n_measured=0, ci_method="none")
    return out


def _fisher(s, a, b, n):
    from scipy.stats import fisher_exact

    ka, kb = s[f"{a}.n_success"], s[f"{b}.n_success"]
    return float(fisher_exact([[ka, n - ka], [kb, n - kb]]).pvalue)


# ------------------------------------------------------------------- the verdict

def _rate(s, m):
    return (f"{LABELS[m]} {s[f'{m}.n_success']}/{s['seeds']} "
            f"[{s[f'{m}.success_low']:.2f}, {s[f'{m}.success_high']:.2f}]")


def _evals(s, m):
    med = s[f"{m}.evals_median"]
    if not np.isfinite(med):
        return f"{LABELS[m]} not within {s['max_evals']}"
    lo, hi = s[f"{m}.evals_median_low"], s[f"{m}.evals_median_high"]
    iv = f" [{lo:.0f}, {hi:.0f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{LABELS[m]} {med:.0f}{iv}"


def _cos_words(s, m):
    mean, lo, hi = s[f"{m}.cos_mean"], s[f"{m}.cos_ci_low"], s[f"{m}.cos_ci_high"]
    if not np.isfinite(mean):
        return f"{LABELS[m]}: not measured"
    if np.isfinite(lo) and np.isfinite(hi):
        sign = "positive" if lo > 0 else ("negative" if hi < 0 else "not resolved from 0")
        return f"{LABELS[m]} {mean:.3f} [{lo:.3f}, {hi:.3f}] ({sign})"
    return f"{LABELS[m]} {mean:.3f}"


def verdict(s):
    """The plain-words verdict, computed from the summary ``s`` (a dict of summary keys)."""
    n = int(s["seeds"])
    task = f"{s['n_bits']}-bit parity with {s['n_hidden']} hard threshold units"
    evo = max(EVOLUTION, key=lambda m: (s[f"{m}.n_success"], -s[f"{m}.evals_used"]))
    evo_k, ste_k, exact_k = (s[f"{m}.n_success"] for m in (evo, "ste", "exact"))
    ste_lo, ste_hi = s["ste.success_low"], s["ste.success_high"]
    evo_lo, evo_hi = s[f"{evo}.success_low"], s[f"{evo}.success_high"]
    if evo_k == 0 and ste_k == 0:
        head = ("Unresolved: neither evolution nor straight-through gradient descent "
                f"solved {task} within {s['max_evals']} evaluations")
    elif ste_k == 0:
        head = (f"Supported at this size: evolution solved {task} and straight-through "
                "gradient descent never did")
    elif evo_k == 0:
        head = (f"Not supported: straight-through gradient descent solved {task} and "
                "evolution never did")
    elif ste_hi < evo_lo:
        head = (f"Partly: both solve {task}, evolution ({LABELS[evo]}) more often than "
                "straight-through gradient descent (disjoint intervals)")
    elif ste_lo > evo_hi:
        head = (f"Not supported: straight-through gradient descent solves {task} more "
                f"often than the best evolutionary method ({LABELS[evo]}; disjoint "
                "intervals)")
    else:
        head = (f"Not supported as stated: a surrogate gradient (STE) solves {task}, as "
                f"does evolution, at success rates not distinguished by these {n} seeds "
                f"(Fisher p = {s[f'ste_vs_{evo}_p']:.2g})")
    exact = ("the exact gradient, zero for every hidden weight, trains only the readout "
             f"and solved it in {exact_k}/{n} seeds"
             + (" (consistent with 'backprop cannot' for the exact gradient)" if exact_k == 0
                else " (the random features of its initial hidden layer sufficed)"))
    rates = "; ".join(_rate(s, m) for m in METHODS)
    evals = "; ".join(_evals(s, m) for m in METHODS)
    return (f"{head}. Within {s['max_evals']} evaluations per seed, {exact}. Solved "
            f"(Clopper-Pearson 95%): {rates}. Median evaluations to a solution (95% "
            f"interval): {evals}{_cost(s, evo)}. Cosine of each update with -grad of the "
            f"smoothed network (noisy units, sigma = {s['sigma']:g}), the one gradient "
            f"that reaches the hidden layer: {_cos_words(s, 'ste')}; "
            f"{_cos_words(s, 'es')}; {_cos_words(s, 'exact')}. STE is a surrogate, not "
            "the gradient of the hard network or of the smoothed one.")


def _cost(s, evo):
    """A clause comparing STE's and the best evolutionary method's median cost, when both
    medians have intervals and the intervals are disjoint (else nothing)."""
    ste = (s["ste.evals_median_low"], s["ste.evals_median_high"])
    other = (s[f"{evo}.evals_median_low"], s[f"{evo}.evals_median_high"])
    if not all(np.isfinite(v) for v in (*ste, *other)):
        return ""
    if ste[1] < other[0]:
        return f" (STE needed fewer evaluations than {LABELS[evo]}: disjoint intervals)"
    if other[1] < ste[0]:
        return f" ({LABELS[evo]} needed fewer evaluations than STE: disjoint intervals)"
    return ""


# ------------------------------------------------------------------- the run

def run(cfg: ClaimBinaryConfig, ctx):
    rec = ctx.recorder
    X, t = truth_table(cfg.n_bits)
    rules = _selection_rules(cfg)
    per = {m: [] for m in METHODS}
    units = {"success": "1", "evals_to_success": "evaluations", "evals_used": "evaluations",
             "accuracy": "1", "cos_mean": "1"}
    with ctx.progress(cfg.seeds * len(METHODS), "claim-binary") as bar:
        for rep in range(cfg.seeds):
            seed = [ctx.seed, rep]
            init = init_params(cfg.n_bits, cfg.n_hidden, np.random.default_rng([*seed, 0]),
                               cfg.init_scale)
            for k, m in enumerate(METHODS):
                if m in rules:
                    res = run_selection(rules[m], init, X, t, cfg,
                                        np.random.default_rng([*seed, 1, k]),
                                        align_sigma=cfg.sigma if m in ALIGNED else None,
                                        mean_search=(m == "es"))
                else:
                    res = run_gradient(init, X, t, cfg,
                                       cfg.ste_backward if m == "ste" else "exact", cfg.sigma)
                c = res["counter"]
                ok = c.first_success is not None and c.first_success <= cfg.max_evals
                row = {"success": ok,
                       "evals_to_success": float(c.first_success) if ok else np.nan,
                       "evals_used": c.n_evals, "accuracy": c.best_accuracy,
                       "align": _within(res["cos"], res["inner"]) if m in ALIGNED else None}
                per[m].append(row)
                cos_mean = row["align"]["cos_mean"] if m in ALIGNED else np.nan
                rec.append(f"seeds/{m}", rep, index="seed", index_units="1", units=units,
                           success=float(ok), evals_to_success=row["evals_to_success"],
                           evals_used=float(c.n_evals), accuracy=c.best_accuracy,
                           cos_mean=float(cos_mean))
                if rep == 0 and m in ALIGNED:
                    for i, (cv, iv) in enumerate(zip(res["cos"], res["inner"], strict=True)):
                        rec.append(f"trajectory/{m}", i, index="update", index_units="1",
                                   units={"cos": "1", "inner": "loss"}, cos=float(cv),
                                   inner=float(iv))
                bar.update(1)
    n_params = cfg.n_hidden * (cfg.n_bits + 2) + 1
    summary = {"seeds": cfg.seeds, "n_bits": cfg.n_bits, "n_hidden": cfg.n_hidden,
               "n_patterns": 2 ** cfg.n_bits, "n_params": n_params,
               "max_evals": cfg.max_evals, "sigma": cfg.sigma,
               "ste_backward": cfg.ste_backward, "reference": "exact-closed-form"}
    for m in METHODS:
        for key, v in _combine(per[m], m in ALIGNED).items():
            summary[f"{m}.{key}"] = v
    for m in EVOLUTION:
        summary[f"ste_vs_{m}_p"] = _fisher(summary, "ste", m, cfg.seeds)
    summary["verdict"] = verdict(summary)
    ctx.summary(**summary)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.3, ncols=3)
    x = np.arange(len(METHODS))
    names = [LABELS[m] for m in METHODS]

    def bars(ax, key, low, high, color, methods=METHODS, xs=x):
        mean = np.array([s[f"{m}.{key}"] for m in methods], dtype=float)
        lo = np.array([s[f"{m}.{low}"] for m in methods], dtype=float)
        hi = np.array([s[f"{m}.{high}"] for m in methods], dtype=float)
        traced(ax.bar(xs, mean, width=0.6, color=color,
                      yerr=[mean - lo, hi - mean], capsize=2),
               x=xs, **{k: stack([src(f"summary:{m}.{name}") for m in methods])
                        for k, name in (("height", key), ("ylow", low), ("yhigh", high))})

    bars(ax1, "success", "success_low", "success_high", PALETTE[0])
    ax1.set_xticks(x, names, rotation=30, ha="right")
    ax1.set_ylim(0.0, 1.05)
    ax1.set_ylabel("fraction of seeds solved")
    ax1.set_title(f"a  {s['n_bits']}-bit parity, {s['seeds']} seeds", loc="left")

    for i, m in enumerate(METHODS):
        ev = np.asarray(run.series[f"seeds/{m}"]["evals_to_success"], dtype=float)
        ok = np.isfinite(ev)
        if ok.any():
            xs = np.full(int(ok.sum()), float(i))
            col = src(f"series/seeds/{m}:evals_to_success")
            traced(ax2.plot(xs, ev[ok], "o", ms=3, color=PALETTE[1], alpha=0.7)[0],
                   x=xs, y=col[col.map(np.isfinite)])
    traced(ax2.axhline(s["max_evals"], color="0.5", lw=0.8, ls="--"),
           y=src("summary:max_evals"))
    ax2.set_yscale("log")
    ax2.set_xticks(x, names, rotation=30, ha="right")
    ax2.set_ylabel("evaluations to solution")
    ax2.set_title("b  cost of the solved seeds", loc="left")

    xa = np.arange(len(ALIGNED))
    bars(ax3, "cos_mean", "cos_ci_low", "cos_ci_high", PALETTE[2], methods=ALIGNED, xs=xa)
    traced(ax3.axhline(0.0, color="0.6", lw=0.6, ls="--"), y=0.0)
    ax3.set_xticks(xa, [LABELS[m] for m in ALIGNED], rotation=30, ha="right")
    ax3.set_ylabel("cos(update, -grad L_sigma)")
    ax3.set_title(f"c  vs smoothed net (sigma = {s['sigma']:g})", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="claim-binary",
    description="Claim: backprop cannot train hard threshold units; GA and ES vs "
                "straight-through GD on parity.",
    config=ClaimBinaryConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"n_bits": 6, "n_hidden": 12, "seeds": 30, "max_evals": 200_000}},
    claim=ClaimMeta(
        number=10,
        claim="Backprop cannot handle binary decisions; evolution can optimise any "
              "fitness.",
        headline="ste.success",
        label="fraction of seeds straight-through GD solves parity (hard units)",
        low="ste.success_low", high="ste.success_high"),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
