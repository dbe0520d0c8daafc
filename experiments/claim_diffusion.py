"""Claim: diffusion models are evolutionary algorithms; Diffusion Evolution vs CMA-ES, GA, ES, SA.

The claim (issue 19, claim 6): "Diffusion models are evolutionary algorithms" (Zhang,
Hartl, Hazan & Levin, ICLR 2025). Their Diffusion Evolution runs a diffusion model's
reverse (denoising) process on a population, with the data density replaced by a density
made from the fitness. This experiment implements it from the paper's description, puts
it against four classical optimisers at the same number of fitness evaluations on
multimodal landscapes, and measures what the equivalence says: that the population's
step follows the score of a fitness-smoothed density.

Diffusion Evolution (``diffusion``)
    ``N`` individuals ``x_T ~ N(0, I)`` in the search coordinates ``z = x / scale``.
    ``alpha_t`` is the cosine schedule (Nichol & Dhariwal 2021), clipped to
    ``[ALPHA_MIN, 1 - ALPHA_MIN]``, from ``alpha_T ~ 0`` (noise) to ``alpha_0 ~ 1``. At each
    step ``t = T, ..., 1``: evaluate the fitness ``f`` of every individual, map it to a
    density ``q_j = g(f(x_j)) = exp(f(x_j) / temp)`` (a softmax over the population), and
    estimate each individual's origin as the posterior mean of ``x_0`` when the prior is
    the population weighted by ``q``::

        x0_hat_i = sum_j w_ij x_j,  w_ij ∝ q_j N(x_i; sqrt(alpha_t) x_j, (1 - alpha_t) I)

    then take DDIM's step (Song et al. 2021)::

        eps_i = (x_i - sqrt(alpha_t) x0_hat_i) / sqrt(1 - alpha_t)
        x_i <- sqrt(alpha_{t-1}) x0_hat_i + sqrt(1 - alpha_{t-1} - s_t^2) eps_i + s_t z_i

    with ``s_t = eta sqrt((1 - alpha_{t-1}) / (1 - alpha_t)) sqrt(1 - alpha_t / alpha_{t-1})``
    (``eta = 0``: deterministic DDIM; ``eta = 1``: DDPM's noise). ``N T`` evaluations.

The baselines, at the same ``N T`` evaluations, all started from ``N(0, scale^2 I)``
    ``cma_es``: CMA-ES (Hansen's ``cma`` package) with population ``N`` for up to ``T``
    generations (it may stop earlier by its own criteria: its evaluations are reported).
    ``ga``: a real-valued genetic algorithm, ``N`` individuals for ``T`` generations:
    tournament selection (size 3), blend crossover BLX-0.5 (each gene uniform on the
    parents' interval widened by half its length on each side), Gaussian mutation.
    ``es_1p1``: ``N`` independent (1+1)-ES chains of ``T`` evaluations each, Rechenberg's
    1/5th success rule (the package's ``HillClimbing(adapt=True)``, vectorised over chains).
    ``annealing``: ``N`` independent simulated-annealing chains of ``T`` evaluations,
    Gaussian proposals, Metropolis acceptance, geometric cooling.
    The point methods run as ``N`` chains so that every method ends with ``N`` points.

Landscapes (fitness is maximised)
    ``two_peaks``: two Gaussian bumps of heights 1 and 0.8 (2-D). ``himmelblau``: minus
    Himmelblau's function, four equal maxima at known places (3, 2) and the three roots
    found numerically from their closed-form neighbourhoods. ``rastrigin``: minus
    Rastrigin's function in ``rastrigin_dim`` dimensions; the listed optima are its local
    maxima on ``{-1, 0, 1}^d`` (each coordinate the root of ``x + 10 pi sin(2 pi x) = 0``
    next to the integer), the global one at 0. The temperatures of ``g`` (0.3, 15 and 3
    fitness units; scaled by ``temperature_factor``) keep several optima in play: colder
    ones make Diffusion Evolution collapse onto fewer optima (measured while choosing
    them), which is the paper's own remark that the temperature trades diversity for
    precision.

What is measured, per landscape, method and seed
    ``n_optima``: listed optima with at least ``max(1, min_share N)`` final points within
    ``radius`` (x units); ``best_fitness``: the best fitness of any point the method
    evaluated or returned; ``evaluations``. For Diffusion Evolution, at ``n_align`` steps
    (those whose kernel ``sqrt(1 - alpha_t)`` is at least 3 grid spacings), per
    individual, cosines of

    * ``cos`` (the primary ``cos_mean``): the step ``x_{t-1} - x_t`` with the score of the
      *fitness-smoothed density* built from the fitness function itself,
      ``p_t(z) = int_box g(f(y)) N(z; sqrt(alpha_t) y, (1 - alpha_t) I) dy``, computed on
      a grid of ``n_grid`` points per axis over the landscape's box (a uniform sample of
      ``n_grid^2`` points above 2-D) by Tweedie's formula ``(sqrt(alpha_t) E[y | z] - z) /
      (1 - alpha_t)``;
    * ``cos_drift_true``: the step's drift (its expectation given the population, the step
      without ``s_t z``) with the same score;
    * ``cos_step_pop``: the step with the score of the population's own weighted density
      ``sum_j q_j N(z; sqrt(alpha_t) x_j, (1 - alpha_t) I)``, which is
      ``(sqrt(alpha_t) x0_hat - z) / (1 - alpha_t)`` in closed form;
    * ``cos_score_true``: that population score with the fitness-smoothed score (how well
      the population estimates it);
    * ``cos_unweighted_true``: the control, the score of the *unweighted* population
      density (``q = 1``: no selection) with the fitness-smoothed score;
    * ``cos_meanstep_true``: the population's mean step with the mean fitness-smoothed score.

Theory
    The DDIM step is exactly ``x_{t-1} - x_t = a_t x_t + b_t score_pop(x_t) + s_t z`` with
    ``a_t = sqrt(alpha_{t-1} / alpha_t) - 1`` and ``b_t = sqrt(alpha_{t-1} / alpha_t) (1 -
    alpha_t) - sqrt((1 - alpha_{t-1} - s_t^2)(1 - alpha_t)) > 0``: a score step on the
    population's density plus a dilation and noise, by construction. So ``cos_step_pop``
    is high by algebra; the claim's content is whether the population's density stands
    for the fitness-smoothed one (``cos``, ``cos_score_true``) better than a population
    without selection does (``cos_unweighted_true``).

Population size and noise (``sweep_*``)
    The paper's remark that population size acts like the noise's dimensionality and
    diversity like its magnitude is measured on ``sweep_landscape``: ``cos_score_true``
    and ``n_optima`` against ``N`` (``sweep_populations``), and the final population's
    diversity (mean pairwise distance, x units) and ``n_optima`` against ``eta``
    (``sweep_etas``).

Statistics
    Across seeds: t-intervals over per-seed values (``seeds_interval``; the alignment
    cosines through ``combine_seeds``, ``seeds_*`` keys). With one seed the alignment
    cosines have the within-run batch-means interval over the measured steps and the other
    quantities NaN bounds.
"""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple

import numpy as np
from pydantic import Field

from plasticity.experiment import ClaimMeta, Config, Experiment

LANDSCAPES = ("two_peaks", "himmelblau", "rastrigin")
METHODS = ("diffusion", "cma_es", "ga", "es_1p1", "annealing")
LABELS = {"diffusion": "Diffusion Evolution", "cma_es": "CMA-ES", "ga": "GA",
          "es_1p1": "(1+1)-ES", "annealing": "annealing"}
#: the alignment cosines of Diffusion Evolution (``cos`` is the primary ``cos_mean``)
ALIGN = ("cos", "cos_drift_true", "cos_step_pop", "cos_score_true", "cos_unweighted_true",
         "cos_meanstep_true")
#: per-seed outcomes of every method
OUTCOMES = ("n_optima", "best_fitness", "evaluations")
#: the schedule's clip: alpha stays in [ALPHA_MIN, 1 - ALPHA_MIN]
ALPHA_MIN = 1e-4
#: offset of the cosine schedule (Nichol & Dhariwal 2021)
COSINE_OFFSET = 0.008


class ClaimDiffusionConfig(Config):
    population: int = Field(256, ge=2, description="individuals N (points of every method)")
    n_steps: int = Field(50, ge=1, description="denoising steps T (generations)")
    eta: float = Field(1.0, ge=0, le=1, description="DDIM noise: 0 deterministic, 1 DDPM")
    temperature_factor: float = Field(1.0, gt=0, description="times each landscape's "
                                      "temperature of g(f) = exp(f / temp)")
    landscapes: list[Literal["two_peaks", "himmelblau", "rastrigin"]] = Field(
        list(LANDSCAPES), min_length=1, description="landscapes to run")
    rastrigin_dim: int = Field(2, ge=1, le=8, description="dimensions of Rastrigin")
    seeds: int = Field(3, ge=1, description="independent replicates")
    min_share: float = Field(0.02, ge=0, lt=1, description="share of the final points "
                             "an optimum needs within radius to count as found")
    n_align: int = Field(20, ge=2, description="steps at which alignment is measured")
    n_grid: int = Field(100, ge=10, description="grid points per axis of the "
                        "fitness-smoothed density")
    sweep_landscape: Literal["two_peaks", "himmelblau", "rastrigin"] = Field(
        "himmelblau", description="landscape of the population and noise sweeps")
    sweep_populations: list[Annotated[int, Field(ge=2)]] = Field(
        [16, 64, 256], description="population sizes of the sweep (>= 2); empty: none")
    sweep_etas: list[Annotated[float, Field(ge=0, le=1)]] = Field(
        [0.0, 0.5, 1.0], description="DDIM eta of the noise sweep; empty: none")
    sweep_seeds: int = Field(3, ge=2, description="replicates per sweep point")


# --------------------------------------------------------------------------- landscapes

def _rastrigin_root(k):
    """The local minimum of ``x^2 - 10 cos(2 pi x)`` next to the integer ``k``."""
    from scipy.optimize import brentq

    if k == 0:
        return 0.0
    # x + 10 pi sin(2 pi x) = 0 has one root in (k - 1/4, k] for k > 0 (odd in k)
    r = brentq(lambda x: x + 10 * np.pi * np.sin(2 * np.pi * x), abs(k) - 0.25, abs(k),
               xtol=1e-15)
    return float(np.sign(k) * r)


class Landscape(NamedTuple):
    """A fitness landscape to maximise.

    Attributes
    ----------
    name : str
    dim : int
        Dimensions ``d``.
    scale : float
        Search coordinates ``z = x / scale``; every method starts from ``N(0, scale^2 I)``.
    box : float
        Half-width of the box ``[-box, box]^d`` (x units) over which the fitness-smoothed
        density is integrated.
    radius : float
        An optimum is found by points within this distance (x units).
    temp : float
        Temperature of ``g(f) = exp(f / temp)`` (fitness units), also the initial
        temperature of annealing.
    optima : ndarray, shape (k, d)
        The listed optima (x units).
    """

    name: str
    dim: int
    scale: float
    box: float
    radius: float
    temp: float
    optima: np.ndarray

    def fitness(self, x):
        """Fitness of points ``x``, shape (..., d) in x units -> (...)."""
        x = np.asarray(x, dtype=np.float64)
        if self.name == "two_peaks":
            return sum(h * np.exp(-np.sum((x - c) ** 2, axis=-1) / (2 * TWO_PEAKS_WIDTH ** 2))
                       for h, c in zip(TWO_PEAKS_HEIGHTS, TWO_PEAKS_CENTRES, strict=True))
        if self.name == "himmelblau":
            a, b = x[..., 0], x[..., 1]
            return -((a ** 2 + b - 11) ** 2 + (a + b ** 2 - 7) ** 2)
        return -(10.0 * self.dim + np.sum(x ** 2 - 10 * np.cos(2 * np.pi * x), axis=-1))

    def gradient(self, x):
        """Closed-form gradient of :meth:`fitness` at ``x``, shape (..., d) -> (..., d)."""
        x = np.asarray(x, dtype=np.float64)
        if self.name == "two_peaks":
            w2 = TWO_PEAKS_WIDTH ** 2
            return sum(-h * np.exp(-np.sum((x - c) ** 2, axis=-1, keepdims=True) / (2 * w2))
                       * (x - c) / w2
                       for h, c in zip(TWO_PEAKS_HEIGHTS, TWO_PEAKS_CENTRES, strict=True))
        if self.name == "himmelblau":
            a, b = x[..., 0], x[..., 1]
            u, v = a ** 2 + b - 11, a + b ** 2 - 7
            return -np.stack([4 * a * u + 2 * v, 2 * u + 4 * b * v], axis=-1)
        return -(2 * x + 20 * np.pi * np.sin(2 * np.pi * x))

    @property
    def best(self):
        """The global maximum of the fitness (fitness units)."""
        return float(np.max(self.fitness(self.optima)))


TWO_PEAKS_HEIGHTS = (1.0, 0.8)
TWO_PEAKS_CENTRES = (np.array([-1.5, -1.0]), np.array([1.5, 1.0]))
TWO_PEAKS_WIDTH = 0.5
#: Himmelblau's minima: (3, 2) exactly, the others refined from these starting points
_HIMMELBLAU_GUESS = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                     (3.584428, -1.848126))


def landscape(name, dim=2, temperature_factor=1.0):
    """The :class:`Landscape` called ``name`` (``dim`` is used by Rastrigin only)."""
    from itertools import product

    from scipy.optimize import fsolve

    if name == "two_peaks":
        return Landscape(name, 2, 1.0, 4.0, 0.3, 0.3 * temperature_factor,
                         np.array(TWO_PEAKS_CENTRES))
    if name == "himmelblau":
        probe = Landscape(name, 2, 3.5, 6.0, 0.5, 15.0 * temperature_factor, np.zeros((1, 2)))
        # the exact stationary points: Newton (fsolve) on the closed-form gradient
        opt = np.array([fsolve(probe.gradient, np.array(g), xtol=1e-14)
                        for g in _HIMMELBLAU_GUESS])
        return probe._replace(optima=opt)
    roots = {k: _rastrigin_root(k) for k in (-1, 0, 1)}
    opt = np.array([[roots[k] for k in ks] for ks in product((-1, 0, 1), repeat=dim)])
    return Landscape(name, dim, 1.5, 3.0, 0.25, 3.0 * temperature_factor, opt)


# --------------------------------------------------------------------- Diffusion Evolution

def alpha_schedule(n_steps):
    """Cosine schedule ``alpha_t``, ``t = 0..T``.

    Parameters
    ----------
    n_steps : int >= 1
        ``T``.

    Returns
    -------
    ndarray, shape (T + 1,)
        ``cos^2(((t / T + c) / (1 + c)) pi / 2) / cos^2((c / (1 + c)) pi / 2)`` with
        ``c = 0.008``, clipped to ``[ALPHA_MIN, 1 - ALPHA_MIN]``; decreasing in ``t``
        (dimensionless).
    """
    from plasticity.errors import InvalidParameterError

    if int(n_steps) < 1:
        raise InvalidParameterError(f"n_steps must be at least 1; got {n_steps}.")
    s = np.arange(int(n_steps) + 1) / int(n_steps)
    c = COSINE_OFFSET
    a = np.cos((s + c) / (1 + c) * np.pi / 2) ** 2 / np.cos(c / (1 + c) * np.pi / 2) ** 2
    return np.clip(a, ALPHA_MIN, 1 - ALPHA_MIN)


def ddim_sigma(alpha_t, alpha_prev, eta):
    """DDIM's noise ``s_t = eta sqrt((1 - a_{t-1}) / (1 - a_t)) sqrt(1 - a_t / a_{t-1})``."""
    return float(eta * np.sqrt((1 - alpha_prev) / (1 - alpha_t))
                 * np.sqrt(max(0.0, 1 - alpha_t / alpha_prev)))


def _check_population(x, log_q):
    from plasticity.errors import InvalidParameterError

    x = np.asarray(x, dtype=np.float64)
    log_q = np.asarray(log_q, dtype=np.float64)
    if x.ndim != 2 or log_q.shape != (x.shape[0],):
        raise InvalidParameterError(f"the population must be (N, d) with one log-density "
                                    f"per individual; got {x.shape} and {log_q.shape}.")
    if not (np.all(np.isfinite(x)) and np.all(log_q < np.inf) and np.any(log_q > -np.inf)):
        raise InvalidParameterError("the population and its log-densities must be finite.")
    return x, log_q


def posterior_weights(z, x, log_q, alpha):
    """Posterior over the population as the origin of ``z``.

    Parameters
    ----------
    z : ndarray, shape (M, d)
        Points (search coordinates).
    x : ndarray, shape (N, d)
        The population, taken as samples of ``x_0``.
    log_q : ndarray, shape (N,)
        ``log g(f(x_j))``, up to a constant.
    alpha : float in (0, 1)
        ``alpha_t``.

    Returns
    -------
    ndarray, shape (M, N)
        ``w_ij ∝ q_j N(z_i; sqrt(alpha) x_j, (1 - alpha) I)``, rows summing to 1.
    """
    from scipy.special import softmax

    x, log_q = _check_population(x, log_q)
    z = np.asarray(z, dtype=np.float64).reshape(-1, x.shape[1])
    m = np.sqrt(alpha) * x
    d2 = (np.sum(z ** 2, axis=1)[:, None] - 2 * z @ m.T + np.sum(m ** 2, axis=1)[None, :])
    return softmax(log_q[None, :] - np.maximum(d2, 0.0) / (2 * (1 - alpha)), axis=1)


def x0_estimate(z, x, log_q, alpha):
    """Each point's estimate of its origin: the posterior mean ``sum_j w_ij x_j``,
    shape (M, d) (see :func:`posterior_weights`)."""
    return posterior_weights(z, x, log_q, alpha) @ np.asarray(x, dtype=np.float64)


def log_density(z, x, log_q, alpha):
    """``log sum_j q_j N(z; sqrt(alpha) x_j, (1 - alpha) I)`` with ``q`` normalised,
    shape (M,): the population's fitness-weighted density at noise level ``alpha``."""
    from scipy.special import logsumexp

    x, log_q = _check_population(x, log_q)
    z = np.asarray(z, dtype=np.float64).reshape(-1, x.shape[1])
    d = x.shape[1]
    d2 = np.sum((z[:, None, :] - np.sqrt(alpha) * x[None, :, :]) ** 2, axis=2)
    log_norm = -0.5 * d * np.log(2 * np.pi * (1 - alpha))
    return logsumexp(log_q[None, :] - d2 / (2 * (1 - alpha)), axis=1) \
        - logsumexp(log_q) + log_norm


def score(z, x, log_q, alpha):
    """Closed-form ``grad_z`` of :func:`log_density`: ``(sqrt(alpha) x0_hat(z) - z) /
    (1 - alpha)`` (Tweedie), shape (M, d)."""
    z = np.asarray(z, dtype=np.float64).reshape(-1, np.shape(x)[1])
    return (np.sqrt(alpha) * x0_estimate(z, x, log_q, alpha) - z) / (1 - alpha)


def ddim_step(x, x0_hat, alpha_t, alpha_prev, sigma, noise):
    """One DDIM step from ``x_t`` (shape (N, d)) to ``x_{t-1}`` given ``x0_hat``.

    ``sqrt(a_{t-1}) x0_hat + sqrt(1 - a_{t-1} - sigma^2) eps_hat + sigma noise`` with
    ``eps_hat = (x - sqrt(a_t) x0_hat) / sqrt(1 - a_t)``; ``noise`` shape (N, d).
    """
    eps = (x - np.sqrt(alpha_t) * x0_hat) / np.sqrt(1 - alpha_t)
    keep = max(0.0, 1 - alpha_prev - sigma ** 2)
    return np.sqrt(alpha_prev) * x0_hat + np.sqrt(keep) * eps + sigma * noise


def step_coefficients(alpha_t, alpha_prev, sigma):
    """``(a_t, b_t)`` of ``x_{t-1} - x_t = a_t x_t + b_t score + sigma noise`` (module
    docstring); both dimensionless."""
    r = np.sqrt(alpha_prev / alpha_t)
    b = r * (1 - alpha_t) - np.sqrt(max(0.0, 1 - alpha_prev - sigma ** 2) * (1 - alpha_t))
    return float(r - 1), float(b)


class SmoothedFitness:
    """The fitness-smoothed density ``p_t(z) = int_box g(f(y)) N(z; sqrt(alpha) y, (1 -
    alpha) I) dy`` on a grid (or a uniform sample) ``y_k`` of the box, search coordinates.

    Parameters
    ----------
    land : Landscape
    n_grid : int
        Points per axis (2-D and below); above 2-D a uniform sample of ``n_grid^2`` points.
    rng : numpy.random.Generator
        Source of the uniform sample (unused on a grid).
    """

    def __init__(self, land, n_grid, rng):
        half = land.box / land.scale
        if land.dim <= 2:
            axis = np.linspace(-half, half, n_grid)
            self.y = np.stack(np.meshgrid(*[axis] * land.dim, indexing="ij"),
                              axis=-1).reshape(-1, land.dim)
            self.spacing = float(axis[1] - axis[0])
        else:
            self.y = rng.uniform(-half, half, size=(n_grid ** 2, land.dim))
            self.spacing = float(2 * half / n_grid)
        self.log_q = land.fitness(land.scale * self.y) / land.temp

    def score(self, z, alpha):
        """``grad log p_t`` at ``z`` (shape (M, d)), by Tweedie's formula on the grid."""
        return score(z, self.y, self.log_q, alpha)


def _diffusion(land, cfg, n, eta, rng, smooth=None):
    """Diffusion Evolution; returns (final points in x units, best fitness, evaluations,
    per-step alignment rows or None)."""
    alphas = alpha_schedule(cfg.n_steps)
    z = rng.standard_normal((n, land.dim))
    best, evals = -np.inf, 0
    steps = []
    if smooth is not None:
        ok = [t for t in range(cfg.n_steps, 0, -1)
              if np.sqrt(1 - alphas[t]) >= 3 * smooth.spacing]
        pick = np.unique(np.round(np.linspace(0, len(ok) - 1, cfg.n_align)).astype(int)) \
            if ok else []
        steps = {ok[i] for i in pick}
    rows = []
    for t in range(cfg.n_steps, 0, -1):
        f = land.fitness(land.scale * z)
        evals += n
        best = max(best, float(f.max()))
        log_q = f / land.temp
        a, a_prev = alphas[t], alphas[t - 1]
        x0 = x0_estimate(z, z, log_q, a)
        sigma = ddim_sigma(a, a_prev, eta)
        noise = rng.standard_normal(z.shape)
        new = ddim_step(z, x0, a, a_prev, sigma, noise)
        if t in steps:
            # the drift: the step's expectation given the population (its noise removed)
            rows.append(_alignment(z, new - z, new - z - sigma * noise, x0, a, smooth, t))
        z = new
    x = land.scale * z
    best = max(best, float(land.fitness(x).max()))
    return x, best, evals, rows


def _cos_rows(u, v):
    """Row-wise cosines of (M, d) arrays (NaN where a row is zero)."""
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(u * v, axis=1) / (nu * nv)


def _alignment(z, step, drift, x0, alpha, smooth, t):
    s_pop = (np.sqrt(alpha) * x0 - z) / (1 - alpha)
    s_true = smooth.score(z, alpha)
    s_unw = score(z, z, np.zeros(len(z)), alpha)
    c = {"cos": _cos_rows(step, s_true), "cos_drift_true": _cos_rows(drift, s_true),
         "cos_step_pop": _cos_rows(step, s_pop),
         "cos_score_true": _cos_rows(s_pop, s_true),
         "cos_unweighted_true": _cos_rows(s_unw, s_true)}
    row = {k: float(np.nanmean(v)) for k, v in c.items()}
    row["cos_meanstep_true"] = float(_cos_rows(step.mean(0, keepdims=True),
                                               s_true.mean(0, keepdims=True))[0])
    row["inner"] = float(np.mean(np.sum(step * s_true, axis=1)))
    row["t"], row["alpha"] = t, float(alpha)
    return row


# ----------------------------------------------------------------------------- baselines

def _cma_es(land, cfg, n, rng):
    import cma

    budget = n * cfg.n_steps
    opts = cma.CMAOptions()
    opts.set({"popsize": n, "seed": int(rng.integers(1, 2 ** 31 - 1)), "verbose": -9,
              "verb_disp": 0, "verb_log": 0, "maxfevals": budget})
    es = cma.CMAEvolutionStrategy(np.zeros(land.dim), land.scale, opts)
    best, pts = -np.inf, None
    while not es.stop() and es.countevals + n <= budget:
        pts = np.asarray(es.ask())
        f = land.fitness(pts)
        best = max(best, float(f.max()))
        es.tell(list(pts), list(-f))
    return pts, best, int(es.countevals)


def _ga(land, cfg, n, rng, tournament=3, blend=0.5, mutation=0.05):
    x = land.scale * rng.standard_normal((n, land.dim))
    f = land.fitness(x)
    best, evals = float(f.max()), n
    for _ in range(cfg.n_steps - 1):
        entrants = rng.integers(0, n, size=(2, n, tournament))
        parents = np.take_along_axis(entrants, np.argmax(f[entrants], axis=2)[..., None],
                                     axis=2)[..., 0]
        p1, p2 = x[parents[0]], x[parents[1]]
        lo, hi = np.minimum(p1, p2), np.maximum(p1, p2)
        width = hi - lo
        x = lo - blend * width + rng.random(p1.shape) * (1 + 2 * blend) * width
        x = x + mutation * land.scale * rng.standard_normal(x.shape)
        f = land.fitness(x)
        best, evals = max(best, float(f.max())), evals + n
    return x, best, evals


def _es_1p1(land, cfg, n, rng, sigma0=0.3, factor=1.5):
    x = land.scale * rng.standard_normal((n, land.dim))
    f = land.fitness(x)
    sigma = np.full(n, sigma0 * land.scale)
    best, evals = float(f.max()), n
    for _ in range(cfg.n_steps - 1):
        y = x + sigma[:, None] * rng.standard_normal(x.shape)
        fy = land.fitness(y)
        acc = fy > f
        x[acc], f[acc] = y[acc], fy[acc]
        # Rechenberg's 1/5th rule: unchanged on average at one success in five
        sigma *= np.where(acc, factor, factor ** -0.25)
        best, evals = max(best, float(fy.max())), evals + n
    return x, best, evals


def _annealing(land, cfg, n, rng, sigma=0.1, final_ratio=1e-3):
    x = land.scale * rng.standard_normal((n, land.dim))
    f = land.fitness(x)
    best, evals = float(f.max()), n
    k = max(cfg.n_steps - 2, 1)
    for i in range(cfg.n_steps - 1):
        temp = land.temp * final_ratio ** (i / k)
        y = x + sigma * land.scale * rng.standard_normal(x.shape)
        fy = land.fitness(y)
        acc = (fy > f) | (rng.random(n) < np.exp(np.minimum(0.0, fy - f) / temp))
        x[acc], f[acc] = y[acc], fy[acc]
        best, evals = max(best, float(fy.max())), evals + n
    return x, best, evals


def count_optima(points, optima, radius, min_count):
    """How many ``optima`` (shape (k, d)) have at least ``min_count`` of ``points``
    (shape (M, d)) within ``radius`` (x units)."""
    d = np.linalg.norm(np.asarray(points)[:, None, :] - np.asarray(optima)[None], axis=2)
    return int(np.sum(np.sum(d <= radius, axis=0) >= min_count))


def _diversity(x):
    """Mean pairwise Euclidean distance of the points (x units)."""
    from scipy.spatial.distance import pdist

    return float(np.mean(pdist(x))) if len(x) > 1 else 0.0


# ------------------------------------------------------------------------------- summary

def _interval(values, series=None, lo=-np.inf, hi=np.inf):
    """``(mean, low, high)`` over seeds; with one seed the within-run batch-means interval
    of ``series`` when given, else NaN bounds. The bounds are cut to ``[lo, hi]``, the
    quantity's range (a cosine's [-1, 1]), which keeps the interval's coverage."""
    from plasticity.analysis import batch_means_ci, seeds_interval

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 1 and series is not None and len(series) >= 2:
        iv = batch_means_ci(np.asarray(series, dtype=float))
        mean, low, high = iv.mean, iv.low, iv.high
    else:
        mean, low, high = seeds_interval(v)
    return float(mean), float(max(low, lo)), float(min(high, hi))


def _fmt(s, key, digits=2):
    return (f"{s[key]:.{digits}f} [{s[key + '_low']:.{digits}f}, "
            f"{s[key + '_high']:.{digits}f}]")


def _fmt_cos(s, prefix):
    return (f"{s[prefix + '.cos_mean']:.3f} [{s[prefix + '.cos_ci_low']:.3f}, "
            f"{s[prefix + '.cos_ci_high']:.3f}]")


def _above(s, a, b):
    """Is quantity ``a`` above ``b`` beyond both intervals (keys without suffix)?"""
    lo, hi = s[a + "_low"], s[b + "_high"]
    return bool(np.isfinite(lo) and np.isfinite(hi) and lo > hi)


def verdict(s, lands, sweep_land):
    """The plain-words verdict, computed from the summary ``s``."""
    main = "himmelblau" if "himmelblau" in lands else lands[0]
    p = f"{main}.diffusion"
    cos_lo = s[f"{p}.cos_ci_low"]
    aligned = np.isfinite(cos_lo) and cos_lo > 0
    selective = _above(s, f"{p}.cos_score_true", f"{p}.cos_unweighted_true")
    if aligned and selective:
        head = (f"Supported, for Diffusion Evolution on {main}: its step has a positive "
                "cosine with the score of the fitness-smoothed density, and the fitness "
                "weighting (selection) aligns the population's score with it beyond an "
                "unweighted population.")
    elif aligned:
        head = ("Partly: Diffusion Evolution's step has a positive cosine with the score of "
                "the fitness-smoothed density, but an unweighted population (no selection) "
                "is not resolved below it, so the alignment is not shown to come from "
                "selection.")
    else:
        head = ("Not supported: Diffusion Evolution's step is not resolved to align with "
                "the score of the fitness-smoothed density.")
    n_seeds = int(s["seeds"])
    al = (f" On {main} ({n_seeds} seed{'s' if n_seeds > 1 else ''}, N = "
          f"{s['population']}): cos(step, fitness-smoothed score) {_fmt_cos(s, p)}, of the "
          f"step's noise-free drift {_fmt(s, p + '.cos_drift_true', 3)}; "
          f"cos(step, population score) {_fmt(s, p + '.cos_step_pop', 3)} (the DDIM step is "
          f"exactly a dilation plus a score step on the population's density plus noise, so "
          f"its drift follows that score by construction, and the noise dominates single "
          f"steps); population score vs fitness-smoothed score "
          f"{_fmt(s, p + '.cos_score_true', 3)} against {_fmt(s, p + '.cos_unweighted_true', 3)}"
          f" without selection.")
    sel = [land for land in lands if _above(s, f"{land}.diffusion.cos_score_true",
                                            f"{land}.diffusion.cos_unweighted_true")]
    rest = [land for land in lands if land not in sel]
    al += (" Selection resolved above the unweighted control on: "
           f"{', '.join(sel) if sel else 'none'}" + (f"; not on: {', '.join(rest)}." if rest
                                                      else "."))
    opt = []
    for land in lands:
        k = int(s[f"{land}.n_listed"])
        by = "; ".join(f"{LABELS[m]} {_fmt(s, f'{land}.{m}.n_optima', 1)}" for m in METHODS)
        more = [m for m in METHODS[1:]
                if _above(s, f"{land}.diffusion.n_optima", f"{land}.{m}.n_optima")]
        less = [m for m in METHODS[1:]
                if _above(s, f"{land}.{m}.n_optima", f"{land}.diffusion.n_optima")]
        rel = [f"above {', '.join(LABELS[m] for m in more)}" if more else "",
               f"below {', '.join(LABELS[m] for m in less)}" if less else ""]
        rel = "; ".join(r for r in rel if r)
        opt.append(f"{land} (of {k}): {by}" + (f" (Diffusion Evolution {rel})" if rel
                                               else ""))
    text = head + al + (" Optima found at matched evaluations (the (1+1)-ES and annealing "
                        "as independent chains): ") + " | ".join(opt) + "."
    pops = sorted(int(k.split(".")[1][3:]) for k in s
                  if k.startswith("sweep.pop") and k.endswith(".cos_score_true"))
    if len(pops) >= 2:
        lo, hi = f"sweep.pop{pops[0]}.cos_score_true", f"sweep.pop{pops[-1]}.cos_score_true"
        trend = ("rises beyond the intervals" if _above(s, hi, lo) else
                 "falls beyond the intervals" if _above(s, lo, hi) else
                 "does not change beyond the intervals")
        text += (f" Population size ({sweep_land}): the population's score estimate's cosine "
                 f"with the fitness-smoothed score {trend} from {_fmt(s, lo, 3)} at N = "
                 f"{pops[0]} to {_fmt(s, hi, 3)} at N = {pops[-1]}.")
    etas = sorted(float(s[k]) for k in s if k.startswith("sweep.eta") and k.endswith(".eta"))
    if len(etas) >= 2:
        lo, hi = (f"sweep.eta{_eta_tag(etas[0])}.diversity",
                  f"sweep.eta{_eta_tag(etas[-1])}.diversity")
        trend = ("grows beyond the intervals" if _above(s, hi, lo) else
                 "shrinks beyond the intervals" if _above(s, lo, hi) else
                 "does not change beyond the intervals")
        text += (f" Noise: the final population's diversity (mean pairwise distance) {trend} "
                 f"from {_fmt(s, lo)} at eta = {etas[0]:g} to {_fmt(s, hi)} at eta = "
                 f"{etas[-1]:g}.")
    return text + (" This concerns the Diffusion Evolution algorithm on small landscapes; "
                   "it does not show that trained diffusion models perform evolution.")


def _eta_tag(eta):
    return f"{eta:g}".replace(".", "p")


# ----------------------------------------------------------------------------------- run

def _seed_alignment(rows):
    """Per-seed alignment: the per-step series and their means."""
    from plasticity.analysis import summarize

    series = {k: np.array([r[k] for r in rows]) for k in (*ALIGN, "inner")}
    res = dict(summarize(series["cos"], series["inner"]), n_measured=len(rows))
    for k in ALIGN[1:]:
        res[k] = float(series[k].mean())
    return res, series


def _combine_alignment(per_seed, series):
    from plasticity.analysis import combine_seeds

    out = {k: v for k, v in combine_seeds(per_seed).items() if k not in ALIGN[1:]}
    for k in ALIGN[1:]:
        out[k], out[f"{k}_low"], out[f"{k}_high"] = _interval(
            [r[k] for r in per_seed], series[0][k], -1.0, 1.0)
    return out


#: the range of a per-seed outcome, where it has one (intervals are cut to it)
RANGES = {"n_optima": (0.0, np.inf), "cos_score_true": (-1.0, 1.0)}
RUNNERS = {"cma_es": _cma_es, "ga": _ga, "es_1p1": _es_1p1, "annealing": _annealing}


def run(cfg: ClaimDiffusionConfig, ctx):
    rec = ctx.recorder
    lands = list(dict.fromkeys(cfg.landscapes))
    summary = {"seeds": cfg.seeds, "population": cfg.population, "n_steps": cfg.n_steps,
               "eta": cfg.eta, "evaluations_budget": cfg.population * cfg.n_steps,
               "landscapes": ",".join(lands), "min_count": max(1, int(np.ceil(
                   cfg.min_share * cfg.population)))}
    n_sweep = (len(cfg.sweep_populations) + len(cfg.sweep_etas)) * cfg.sweep_seeds
    with ctx.progress(cfg.seeds * len(lands) * len(METHODS) + n_sweep,
                      "claim-diffusion") as bar:
        for k, name in enumerate(lands):
            land = landscape(name, cfg.rastrigin_dim, cfg.temperature_factor)
            min_count = max(1, int(np.ceil(cfg.min_share * cfg.population)))
            per = {m: {q: [] for q in OUTCOMES} for m in METHODS}
            align_seed, align_series = [], []
            for rep in range(cfg.seeds):
                for i, m in enumerate(METHODS):
                    rng = np.random.default_rng([ctx.seed, rep, k, i])
                    if m == "diffusion":
                        smooth = SmoothedFitness(land, cfg.n_grid,
                                                 np.random.default_rng([ctx.seed, rep, k, 99]))
                        x, best, evals, rows = _diffusion(land, cfg, cfg.population, cfg.eta,
                                                          rng, smooth)
                        res, series = _seed_alignment(rows)
                        align_seed.append(res)
                        align_series.append(series)
                        rec.append(f"seeds/{name}.diffusion", rep, index="seed",
                                   index_units="1", units=dict.fromkeys(ALIGN[1:], "1")
                                   | {"cos_mean": "1"}, cos_mean=res["cos_mean"],
                                   **{q: res[q] for q in ALIGN[1:]})
                        if rep == 0:
                            for r in rows:
                                rec.append(f"align/{name}", r["t"], index="t",
                                           index_units="step",
                                           units=dict.fromkeys((*ALIGN, "alpha"), "1")
                                           | {"inner": "1/z^2"},
                                           **{q: r[q] for q in (*ALIGN, "inner", "alpha")})
                    else:
                        x, best, evals = RUNNERS[m](land, cfg, cfg.population, rng)
                    n_opt = count_optima(x, land.optima, land.radius, min_count)
                    for q, v in zip(OUTCOMES, (n_opt, best, evals), strict=True):
                        per[m][q].append(v)
                    rec.append(f"outcomes/{name}/{m}", rep, index="seed", index_units="1",
                               units={"n_optima": "optima", "best_fitness": "fitness",
                                      "evaluations": "evaluations", "diversity": "x"},
                               n_optima=n_opt, best_fitness=best, evaluations=evals,
                               diversity=_diversity(x))
                    bar.update(1)
            summary[f"{name}.n_listed"] = len(land.optima)
            summary[f"{name}.optimum_fitness"] = land.best
            summary[f"{name}.dim"] = land.dim
            for m in METHODS:
                for q in OUTCOMES:
                    mean, low, high = _interval(per[m][q], None,
                                                *RANGES.get(q, (-np.inf, np.inf)))
                    if q == "n_optima":
                        high = min(high, len(land.optima))
                    summary[f"{name}.{m}.{q}"] = mean
                    summary[f"{name}.{m}.{q}_low"] = low
                    summary[f"{name}.{m}.{q}_high"] = high
            for key, v in _combine_alignment(align_seed, align_series).items():
                summary[f"{name}.diffusion.{key}"] = v
        _sweeps(cfg, ctx, summary, bar)
    summary["verdict"] = verdict(summary, lands, cfg.sweep_landscape)
    ctx.summary(**summary)


def _sweeps(cfg, ctx, summary, bar):
    """Population-size and noise sweeps of Diffusion Evolution on ``sweep_landscape``."""
    rec = ctx.recorder
    land = landscape(cfg.sweep_landscape, cfg.rastrigin_dim, cfg.temperature_factor)
    k = LANDSCAPES.index(cfg.sweep_landscape)
    for j, n in enumerate(sorted(set(cfg.sweep_populations))):
        cos, found = [], []
        for rep in range(cfg.sweep_seeds):
            rng = np.random.default_rng([ctx.seed, rep, k, 100, n])
            smooth = SmoothedFitness(land, cfg.n_grid,
                                     np.random.default_rng([ctx.seed, rep, k, 101, n]))
            x, _, _, rows = _diffusion(land, cfg, n, cfg.eta, rng, smooth)
            cos.append(float(np.mean([r["cos_score_true"] for r in rows])))
            found.append(count_optima(x, land.optima, land.radius,
                                      max(1, int(np.ceil(cfg.min_share * n)))))
            bar.update(1)
        row = {"population": n}
        for q, v in (("cos_score_true", cos), ("n_optima", found)):
            mean, low, high = _interval(v, None, *RANGES[q])
            row |= {q: mean, f"{q}_low": low, f"{q}_high": high}
        rec.append("sweep_population", j, index="point", index_units="1",
                   units={"population": "individuals", "n_optima": "optima"}, **row)
        summary.update({f"sweep.pop{n}.{q}": v for q, v in row.items()})
    min_count = max(1, int(np.ceil(cfg.min_share * cfg.population)))
    for j, eta in enumerate(sorted(set(cfg.sweep_etas))):
        div, found = [], []
        for rep in range(cfg.sweep_seeds):
            rng = np.random.default_rng([ctx.seed, rep, k, 200, j])
            x, _, _, _ = _diffusion(land, cfg, cfg.population, eta, rng)
            div.append(_diversity(x))
            found.append(count_optima(x, land.optima, land.radius, min_count))
            bar.update(1)
        row = {"eta": eta}
        for q, v in (("diversity", div), ("n_optima", found)):
            mean, low, high = _interval(v, None, 0.0, np.inf)
            row |= {q: mean, f"{q}_low": low, f"{q}_high": high}
        rec.append("sweep_eta", j, index="point", index_units="1",
                   units={"eta": "1", "diversity": "x", "n_optima": "optima"}, **row)
        summary.update({f"sweep.eta{_eta_tag(eta)}.{q}": v for q, v in row.items()})


# ---------------------------------------------------------------------------------- plot

def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    lands = str(s["landscapes"]).split(",")
    fig, axes = figure("double", height_ratio=0.62, ncols=2, nrows=2)
    (ax1, ax2), (ax3, ax4) = axes

    def bars(ax, keys, x, color, label, width=0.15):
        mean = np.array([s[k] for k in keys], dtype=float)
        low = np.array([s[k + "_low"] for k in keys], dtype=float)
        high = np.array([s[k + "_high"] for k in keys], dtype=float)
        # one seed leaves NaN bounds: no error bar then
        err = np.nan_to_num(np.array([mean - low, high - mean]))
        traced(ax.bar(x, mean, width=width, color=color, yerr=err, capsize=2, label=label),
               x=x, height=stack([src(f"summary:{k}") for k in keys]),
               ylow=stack([src(f"summary:{k}_low") for k in keys]),
               yhigh=stack([src(f"summary:{k}_high") for k in keys]))

    xl = np.arange(len(lands))
    for i, m in enumerate(METHODS):
        bars(ax1, [f"{land}.{m}.n_optima" for land in lands], xl + (i - 2) * 0.16,
             PALETTE[i % len(PALETTE)], LABELS[m])
    traced(ax1.plot(xl, [s[f"{land}.n_listed"] for land in lands], "k_", ms=14,
                    label="listed optima")[0],
           x=xl, y=stack([src(f"summary:{land}.n_listed") for land in lands]))
    ax1.set_xticks(xl, lands)
    ax1.set_ylabel("optima found")
    ax1.legend(fontsize="x-small", ncols=2)
    ax1.set_title(f"a  distinct optima at {s['evaluations_budget']} evaluations", loc="left")

    names = {"cos_mean": "step vs fitness score", "cos_drift_true": "drift vs fitness score",
             "cos_step_pop": "step vs population score",
             "cos_score_true": "population vs fitness score",
             "cos_unweighted_true": "unweighted vs fitness score"}
    for i, (q, label) in enumerate(names.items()):
        lo, hi = ("_ci_low", "_ci_high") if q == "cos_mean" else ("_low", "_high")
        keys = [f"{land}.diffusion.{q}" for land in lands]
        mean = np.array([s[k] for k in keys], dtype=float)
        kl = [k.replace("cos_mean", "cos") + lo if q == "cos_mean" else k + lo for k in keys]
        kh = [k.replace("cos_mean", "cos") + hi if q == "cos_mean" else k + hi for k in keys]
        low = np.array([s[k] for k in kl], dtype=float)
        high = np.array([s[k] for k in kh], dtype=float)
        x = xl + (i - 2) * 0.17
        traced(ax2.bar(x, mean, width=0.15, color=PALETTE[i % len(PALETTE)],
                       yerr=np.nan_to_num(np.array([mean - low, high - mean])), capsize=2,
                       label=label),
               x=x, height=stack([src(f"summary:{k}") for k in keys]),
               ylow=stack([src(f"summary:{k}") for k in kl]),
               yhigh=stack([src(f"summary:{k}") for k in kh]))
    traced(ax2.axhline(0.0, color="0.6", lw=0.6, ls="--"), y=0.0)
    ax2.set_xticks(xl, lands)
    ax2.set_ylabel("mean cosine")
    ax2.legend(fontsize="x-small", ncols=2)
    ax2.set_title("b  Diffusion Evolution: alignment with scores", loc="left")

    for ax, table, xkey, ykey, xlabel, ylabel, title in (
            (ax3, "sweep_population", "population", "cos_score_true", "population N",
             "cos(population score, fitness score)", "c  population size"),
            (ax4, "sweep_eta", "eta", "diversity", "DDIM eta (noise)",
             "final diversity (mean pairwise distance)", "d  noise magnitude")):
        if table in run.series:
            t = run.series[table]
            y = np.asarray(t[ykey], dtype=float)
            err = np.nan_to_num(np.array([y - np.asarray(t[f"{ykey}_low"]),
                                          np.asarray(t[f"{ykey}_high"]) - y]))
            path = f"series/{table}"
            traced(ax.errorbar(t[xkey], y, yerr=err, marker="o", ms=3, capsize=2,
                               color=PALETTE[0]),
                   x=src(f"{path}:{xkey}"), y=src(f"{path}:{ykey}"),
                   ylow=src(f"{path}:{ykey}_low"), yhigh=src(f"{path}:{ykey}_high"))
        if xkey == "population" and table in run.series:
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(run.series[table][xkey], [str(int(v)) for v in
                                                    run.series[table][xkey]])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, loc="left")
    return fig


EXPERIMENT = Experiment(
    name="claim-diffusion",
    description="Claim: diffusion models are evolutionary algorithms; Diffusion Evolution "
                "vs CMA-ES, GA, (1+1)-ES, SA; score alignment.",
    config=ClaimDiffusionConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"population": 512, "n_steps": 100, "seeds": 10, "rastrigin_dim": 2,
                      "n_align": 40, "n_grid": 160, "sweep_populations": [8, 16, 32, 64,
                                                                          128, 256, 512],
                      "sweep_etas": [0.0, 0.25, 0.5, 0.75, 1.0], "sweep_seeds": 10}},
    claim=ClaimMeta(number=6, claim="Diffusion models are evolutionary algorithms.",
                    headline="himmelblau.diffusion.cos_mean",
                    label="cos(Diffusion Evolution step, fitness-smoothed score), Himmelblau",
                    low="himmelblau.diffusion.cos_ci_low",
                    high="himmelblau.diffusion.cos_ci_high"),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
