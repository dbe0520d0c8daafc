"""Claim: ES is a stochastic finite-difference gradient estimator; its cosine law, and basins vs GD.

The claim (issue 19, claim 9): "ES is a stochastic finite-difference gradient estimator,
and at scale it behaves differently from GD." Two halves, two measurements.

Part 1: the cosine law
    The Gaussian evolution-strategies (ES) estimate of the gradient of ``f`` at ``theta``
    from ``n`` directions ``eps_i ~ N(0, I_d)`` with smoothing ``sigma`` is, in its three
    usual forms,

    * ``plain``:      ``g_hat = (1 / (n sigma)) sum_i f(theta + sigma eps_i) eps_i``;
    * ``baseline``:   the same with ``f(theta)`` subtracted from every evaluation (a
      forward difference; ``n + 1`` evaluations);
    * ``antithetic``: ``g_hat = (1 / (2 n sigma)) sum_i [f(theta + sigma eps_i) -
      f(theta - sigma eps_i)] eps_i`` (a central difference; ``2 n`` evaluations).

    ``n`` is always the number of directions. Write ``u_i`` for the coefficient of
    ``eps_i`` times ``n``, so ``g_hat = (1/n) sum_i u_i eps_i``. For a quadratic
    ``f(theta + sigma eps) = f(theta) + sigma g.eps + (sigma^2 / 2) eps'A eps`` (a linear
    ``f`` is ``A = 0``), with ``c`` the part of ``f(theta)`` that is not subtracted
    (``c = f(theta)`` for ``plain``, 0 otherwise), ``q = eps'A eps`` and ``g`` the
    gradient at ``theta``:

    * ``u = c / sigma + g.eps + (sigma / 2) q`` (``plain``, ``baseline``) or
      ``u = g.eps`` exactly (``antithetic``: the even terms cancel);
    * ``E[u eps] = g``, because ``eps`` and ``q eps`` have mean 0 (odd moments), so
      **E[g_hat] = g** for every form: unbiased (on a quadratic, exactly; in general it is
      the gradient of the smoothed ``f_sigma``, Part 2);
    * the ``n`` terms are independent, so ``E|g_hat|^2 = ((n - 1) |g|^2 + E[u^2 |eps|^2])
      / n``, and by Isserlis' theorem for Gaussian moments
      ``E[(g.eps)^2 |eps|^2] = (d + 2) |g|^2``, ``E[q |eps|^2] = (d + 2) tr A`` and
      ``E[q^2 |eps|^2] = (d + 4) (tr(A)^2 + 2 tr(A^2))``, while the odd cross terms
      vanish:

          E[u^2 |eps|^2] = (d + 2) |g|^2 + d c^2 / sigma^2 + (d + 2) c tr A
                           + (sigma^2 / 4) (d + 4) (tr(A)^2 + 2 tr(A^2)).

    For the claim's case (``f`` linear with ``f(theta) = 0``, or any quadratic with the
    antithetic form) this is **E|g_hat|^2 = |g|^2 (n + d + 1) / n**, and the ratio of
    moments is the law

        rho = E[g_hat.g] / (|g| sqrt(E|g_hat|^2)) = sqrt(n / (n + d + 1)).

    The per-estimate cosine is then ``|a|^2 / sqrt(|a|^4 + |a|^2 |w|^2)`` with ``a`` the
    ``n`` projections ``g.eps_i / |g|`` and ``w ~ N(0, I_(d-1))`` (rotate ``g`` onto the
    first axis), so ``cos^2 ~ Beta(n/2, (d-1)/2)`` and ``E[cos]`` is the Beta-law value
    (``mean_cosine_theory`` of ``perturbation-cosine``), about ``sqrt(n / (n + d - 1))
    (1 - 1/(4n) + 1/(4(n + d)))`` (from ``Gamma(x + 1/2) / Gamma(x) ~ sqrt(x) (1 -
    1/(8x))``). Relative to the law that is a deviation of about ``5/(4(n + d)) -
    1/(4n)``: positive at small ``d`` (the law's ``d + 1`` against the Beta law's ``d -
    1``), ``-1/(4n)`` for ``d >> n`` (a mean of ratios is not the ratio of the
    means). The cosine concentrates at the law as ``n`` grows: its relative spread is
    about ``1 / sqrt(2n)``.
    Everything else (an unsubtracted ``f(theta)``, curvature at finite ``sigma``) adds
    to ``E|g_hat|^2`` and lowers the cosine: the generalised ratio
    ``|g| / sqrt(E|g_hat|^2)`` from the formula above (:func:`ratio_cosine`).

    Four estimators are measured from the same directions (common random numbers):
    ``linear`` (plain, ``f = g.x`` at ``theta = 0``: the claim's case; the antithetic
    form gives the identical estimate on any linear ``f``), ``linear_offset`` (plain,
    ``f = c + g.x`` with ``c = offset * sigma |g|``, no baseline: the law fails by the
    term ``d c^2 / sigma^2``), ``quadratic`` (baseline form on ``f = (x - x*)'A(x - x*) /
    2``, ``A`` diagonal with eigenvalues log-spaced over ``[1/condition, 1]``, at
    ``sigma = quad_sigma |g| / tr A``: small ``sigma``, the curvature term is a fraction
    about ``quad_sigma^2 / 4`` of ``d``) and ``quadratic_antithetic`` (exactly the law
    for any ``sigma``: its difference cancels the curvature, leaving ``g.eps_i``, so with
    the same directions and the same ``g`` its estimate is ``linear``'s up to rounding;
    it is reported to show that cancellation, not as an independent check). ``|g| = 1``
    and ``g``'s direction is random (the law does not depend on either: the directions
    are isotropic, which is also why a diagonal ``A`` loses nothing).

    How this differs from ``perturbation-cosine``: that experiment runs the package's
    weight-perturbation *rule* (antithetic, ``K`` draws) on a linear teacher-student
    regression up to ``N = 10^4`` and checks the ratio law and the Beta law of the mean
    cosine. Here the estimator is ES as its literature writes it, from the values
    ``f(theta + sigma eps_i)`` alone (:func:`es_estimates` takes any function; the linear
    and quadratic test functions compute those values exactly without forming the
    points, which is what makes ``d = 10^5`` cheap), in plain, baseline and antithetic
    forms, with
    the exact second moment for an unsubtracted ``f(theta)`` and for curvature at finite
    ``sigma``, up to ``d = 10^5``, in blocks of at most ``_CHUNK`` numbers so that memory
    stays bounded (an ``n x d`` matrix is never formed). The law's formulas and the
    delta-method standard error of the ratio are reused from ``perturbation-cosine``.

What Part 1 measures
    For each ``(n, d)`` point (those with ``n d <= max_nd``) and each estimator, ``draws``
    independent estimates (``budget / (n d)`` clipped to ``[min_draws, max_draws]``),
    each from its own stream ``[seed, 1, n, d, draw]``. Per point: the mean cosine with
    its t-interval over draws; its relative deviation from the law, ``cos_mean / law -
    1`` with that interval (``rel_dev``) and the exact Beta-law value of that deviation
    (``rel_dev_theory``, for ``linear`` and ``quadratic_antithetic``); the ratio of
    moments with its delta-method standard error and its ``z`` against the generalised
    ratio; ``z`` of the mean cosine against the Beta law. ``z_bound`` is the Bonferroni
    bound that every ``|z|`` stays below with probability 0.95 if the formulas hold
    (Student's t with ``min_draws - 1`` degrees of freedom, conservative).

Part 2: a narrow deep basin, a wide shallow one
    The 1-D loss ``f(x) = bowl (x - x_c)^2 / 2 - A_n exp(-(x - m_n)^2 / (2 w_n^2)) - A_w
    exp(-(x - m_w)^2 / (2 w_w^2))``: a narrow deep well (``A_n > A_w``, ``w_n << w_w``), a
    wide shallow one, and a weak bowl centred between them (``x_c = (m_n + m_w) / 2``)
    that gives the far field a gradient (a pure pair of wells is flat far away, where GD
    would stall). ``f`` has two basins of attraction, split at the local maximum
    ``x_max`` between the wells: a run ends in the narrow basin when its last iterate is
    below ``x_max`` (if ``m_n < m_w``). ``runs`` starting points ``x0 ~ U(init_low,
    init_high)``, one stream per run; from each, plain GD ``x <- x - eta f'(x)`` and
    antithetic ES with ``pop`` directions per step, ``x <- x - eta g_hat``, at every
    ``sigma`` of ``sigmas``, for ``iterations`` steps at the same ``eta``.

    Theory: ``E[g_hat] = f_sigma'(x)`` exactly, with ``f_sigma(x) = E f(x + sigma eps)``
    the Gaussian-smoothed loss (Stein's lemma), so ES is stochastic gradient descent on
    ``f_sigma``, not on ``f``. For Gaussian wells ``f_sigma`` is closed form: a well of
    depth ``A`` and width ``w`` becomes one of depth ``A w / s`` and width ``s =
    sqrt(w^2 + sigma^2)``, and the bowl gains the constant ``bowl sigma^2 / 2``
    (:meth:`TwoWells.smoothed`). The narrow well's smoothed depth falls like ``1 / s``
    first, so the global minimum of ``f_sigma`` moves to the wide basin at ``sigma_star``
    (computed exactly, overlap and bowl included; ``sigma_star_separated`` is the
    well-separated approximation ``sigma^2 = w_n^2 w_w^2 (A_w^2 - A_n^2) / (A_n^2 w_n^2 -
    A_w^2 w_w^2)``). But ES descends ``f_sigma`` locally: the smoothed narrow well keeps a
    local minimum up to ``sigma_vanish``, and a run that starts in its basin stays there
    (up to noise). ``flow_narrow_frac`` is the fraction of starts that the gradient flow
    of ``f_sigma`` carries into the narrow basin, exact for the uniform start (the
    critical points of ``f_sigma`` split the starts).

What Part 2 measures
    Per ``sigma`` (and for GD) the fraction of runs ending in the narrow basin (the rest
    end in the wide one) with its Clopper-Pearson 95% interval over runs. ES and GD start
    from the same points, so they are compared pairwise: ``gained_narrow`` runs ES took
    to the narrow basin and GD did not, ``lost_narrow`` the reverse, and McNemar's exact
    test on those discordant pairs (``mcnemar_p``), significant below ``0.05 /
    n_sigmas`` (Bonferroni over the sigmas). ``es_departs_sigma`` is the smallest sigma at
    which ES ends in the narrow basin significantly less often than GD,
    ``es_all_wide_sigma`` the smallest at which no run does, ``es_switch_low_sigma`` the
    largest below it at which some run still does; they are compared with ``sigma_star``
    and ``sigma_vanish``, and ``flow_agree`` counts the sigmas whose flow prediction lies
    inside the measured interval.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from plasticity.analysis.perturbation_law import (
    mean_cosine_theory,
    ratio_and_se,
    ratio_cosine_theory,
)
from plasticity.errors import InvalidParameterError
from plasticity.experiment import ClaimMeta, Config, Experiment

#: float64 numbers per block of perturbations (8 MB): memory stays bounded at any n, d
_CHUNK = 1_000_000
#: Part 1's estimators (module docstring), measured from the same directions
METHODS = ("linear", "linear_offset", "quadratic", "quadratic_antithetic")
#: the estimators that are exactly the law (and the Beta law of the mean cosine)
EXACT = ("linear", "quadratic_antithetic")
FORMS = ("plain", "baseline", "antithetic")


class ClaimESConfig(Config):
    # Part 1: the cosine law
    ns: list[Annotated[int, Field(ge=1)]] = Field(
        [10, 100, 1000], min_length=1, description="n, ES directions per estimate (>= 1)")
    dims: list[Annotated[int, Field(ge=1)]] = Field(
        [100, 1000, 10000, 100000], min_length=1, description="d, dimensions (>= 1)")
    max_nd: int = Field(10**7, ge=1, description="points with n * d above this are left out")
    budget: int = Field(3 * 10**7, ge=1,
                        description="random numbers per (n, d) point: draws = budget / (n d)")
    min_draws: int = Field(20, ge=2, description="fewest estimates per point")
    max_draws: int = Field(1000, ge=2, description="most estimates per point")
    sigma: float = Field(0.1, gt=0, allow_inf_nan=False,
                         description="ES smoothing of the linear functions (x units)")
    offset: float = Field(1.0, ge=0, allow_inf_nan=False,
                          description="linear_offset's f(theta), in units of sigma |g|")
    quad_sigma: float = Field(0.1, gt=0, allow_inf_nan=False,
                              description="the quadratic's sigma, in units of |g| / tr A")
    condition: float = Field(100.0, ge=1, allow_inf_nan=False,
                             description="the quadratic's condition number")
    # Part 2: two basins
    sigmas: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        [0.01, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0], min_length=1,
        description="ES smoothing sigma of the basin runs (x units, > 0)")
    runs: int = Field(200, ge=1, description="starting points (one stream each)")
    pop: int = Field(10, ge=1, description="ES directions per step (antithetic pairs)")
    eta: float = Field(0.01, gt=0, allow_inf_nan=False, description="learning rate")
    iterations: int = Field(2000, ge=1, description="steps per run")
    narrow_depth: float = Field(1.0, gt=0, allow_inf_nan=False, description="A_n")
    narrow_width: float = Field(0.1, gt=0, allow_inf_nan=False, description="w_n (x units)")
    narrow_center: float = Field(0.0, allow_inf_nan=False, description="m_n (x units)")
    wide_depth: float = Field(0.6, gt=0, allow_inf_nan=False, description="A_w")
    wide_width: float = Field(1.0, gt=0, allow_inf_nan=False, description="w_w (x units)")
    wide_center: float = Field(2.5, allow_inf_nan=False, description="m_w (x units)")
    bowl: float = Field(0.05, ge=0, allow_inf_nan=False,
                        description="curvature of the confining bowl (loss / x^2)")
    init_low: float = Field(-1.5, allow_inf_nan=False, description="starts: U(low, high)")
    init_high: float = Field(1.5, allow_inf_nan=False, description="starts: U(low, high)")

    @model_validator(mode="after")
    def _consistent(self):
        if self.max_draws < self.min_draws:
            raise ValueError(f"max_draws ({self.max_draws}) must be at least min_draws "
                             f"({self.min_draws})")
        if self.init_high <= self.init_low:
            raise ValueError(f"init_high ({self.init_high}) must exceed init_low "
                             f"({self.init_low})")
        if self.narrow_center == self.wide_center:
            raise ValueError("narrow_center and wide_center must differ")
        if self.narrow_depth <= self.wide_depth or self.narrow_width >= self.wide_width:
            raise ValueError("the narrow well must be deeper (narrow_depth > wide_depth) "
                             "and narrower (narrow_width < wide_width) than the wide one")
        if not any(n * d <= self.max_nd for n in self.ns for d in self.dims):
            raise ValueError(f"max_nd ({self.max_nd}) leaves out every (n, d) point")
        return self


# --------------------------------------------------------------------------- Part 1


def _check_es_args(n, sigma, d):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidParameterError(f"n (ES directions) must be an integer >= 1; got {n!r}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise InvalidParameterError(f"sigma must be a finite number > 0; got {sigma!r}")
    if d < 1:
        raise InvalidParameterError(f"d (the dimension of theta) must be >= 1; got {d}")


def es_estimates(specs, n, rng, chunk=_CHUNK):
    """ES gradient estimates of several functions from the same ``n`` directions.

    Parameters
    ----------
    specs : sequence of (callable, ndarray, float, str)
        ``(f, theta, sigma, form)``. ``f(theta, sigma, eps)`` returns the values
        ``f(theta + sigma eps_i)`` of the rows ``eps_i`` of ``eps`` (shape ``(m, d)`` to
        ``(m,)``): a black-box ``F`` is ``lambda th, s, e: F(th + s * e)``, and a function
        with structure may evaluate the same values without forming the points (the
        linear and quadratic functions of Part 1 do). ``theta`` of shape ``(d,)`` (the
        same ``d`` for all); ``sigma > 0`` the smoothing (``theta`` units); ``form`` one of
        ``"plain"``, ``"baseline"``, ``"antithetic"`` (module docstring).
    n : int >= 1
        Directions ``eps_i ~ N(0, I_d)``, shared by all specs.
    rng : numpy.random.Generator
        Source of the directions, drawn block by block (``chunk // d`` rows at a time).
    chunk : int
        Most numbers per block: memory stays ``O(chunk)`` whatever ``n`` and ``d``.

    Returns
    -------
    ndarray, shape (len(specs), d)
        The estimates ``(1/n) sum_i u_i eps_i`` (gradient units: ``f`` per ``theta`` unit).

    Raises
    ------
    InvalidParameterError
        ``n < 1``, ``sigma <= 0``, ``d < 1``, mismatched ``theta`` or an unknown form.
    """
    thetas = [np.asarray(s[1], dtype=np.float64) for s in specs]
    if not thetas or thetas[0].ndim != 1:
        raise InvalidParameterError("give at least one spec, with theta of shape (d,)")
    d = thetas[0].size
    for (_, _, sigma, form), th in zip(specs, thetas, strict=True):
        _check_es_args(n, sigma, d)
        if th.shape != (d,):
            raise InvalidParameterError(f"every theta must have shape ({d},); got {th.shape}")
        if form not in FORMS:
            raise InvalidParameterError(f"form must be one of {FORMS}; got {form!r}")
    base = [float(f(th, sigma, np.zeros((1, d)))[0]) if form == "baseline" else 0.0
            for (f, _, sigma, form), th in zip(specs, thetas, strict=True)]
    out = np.zeros((len(specs), d))
    rows = max(1, chunk // d)
    for start in range(0, n, rows):
        eps = rng.standard_normal((min(rows, n - start), d))
        u = np.empty((eps.shape[0], len(specs)))
        for k, ((f, _, sigma, form), th) in enumerate(zip(specs, thetas, strict=True)):
            up = f(th, sigma, eps)
            if form == "antithetic":
                u[:, k] = (up - f(th, -sigma, eps)) / (2.0 * sigma)
            else:
                u[:, k] = (up - base[k]) / sigma
        out += u.T @ eps
    return out / n


def es_gradient(f, theta, sigma, n, rng, form="antithetic", chunk=_CHUNK):
    """One ES gradient estimate of ``f`` at ``theta`` (see :func:`es_estimates`, whose
    ``f(theta, sigma, eps)`` convention it uses); ``theta`` of shape ``(d,)``.

    Returns
    -------
    ndarray, shape (d,)
        Unbiased for the gradient of the smoothed ``f_sigma`` (of ``f`` itself on a
        quadratic).
    """
    return es_estimates([(f, theta, sigma, form)], n, rng, chunk)[0]


def es_second_moment(n, d, *, g2=1.0, c=0.0, sigma=1.0, tr_a=0.0, tr_a2=0.0):
    """Exact ``E|g_hat|^2`` of the plain or baseline ES estimate on a quadratic.

    Parameters
    ----------
    n, d : int >= 1
        Directions and dimension.
    g2 : float
        ``|g|^2``, the squared gradient at ``theta``.
    c : float
        The unsubtracted value ``f(theta) - baseline`` (0 for the baseline form).
    sigma : float > 0
        The smoothing.
    tr_a, tr_a2 : float
        ``tr A`` and ``tr(A^2)`` of the Hessian (0 for a linear ``f`` and for the
        antithetic form, whose estimate has no curvature term).

    Returns
    -------
    float
        ``((n - 1) g2 + E[u^2 |eps|^2]) / n`` (module docstring), in ``g2``'s units.
    """
    _check_es_args(n, sigma, d)
    e_u2 = ((d + 2) * g2 + d * c**2 / sigma**2 + (d + 2) * c * tr_a
            + sigma**2 / 4.0 * (d + 4) * (tr_a**2 + 2.0 * tr_a2))
    return ((n - 1) * g2 + e_u2) / n


def ratio_cosine(n, d, **kw):
    """The generalised law ``E[g_hat.g] / (|g| sqrt(E|g_hat|^2)) = |g| / sqrt(E|g_hat|^2)``
    (keywords of :func:`es_second_moment`); ``sqrt(n / (n + d + 1))`` when they are 0."""
    g2 = kw.get("g2", 1.0)
    return float(np.sqrt(g2 / es_second_moment(n, d, **kw)))


def cosine_law(n, d):
    """The claim's law ``sqrt(n / (n + d + 1))`` (dimensionless)."""
    _check_es_args(n, 1.0, d)
    return ratio_cosine_theory(d, n)


def mean_cosine_exact(n, d):
    """``E[cos(g_hat, g)]`` where ``cos^2 ~ Beta(n/2, (d-1)/2)`` (1 at ``d = 1``)."""
    _check_es_args(n, 1.0, d)
    return 1.0 if d == 1 else mean_cosine_theory(d, n)


class _Functions:
    """Part 1's test functions at one dimension ``d``, with ``|g| = 1``: ``g`` the gradient
    (of the linear functions everywhere, of the quadratic at ``theta_q``), ``a`` the
    quadratic's Hessian diagonal and ``xstar`` its minimum, ``c`` the offset, ``sigma``
    and ``sigma_q`` the smoothings."""

    def __init__(self, g, a, xstar, theta_q, c, sigma, sigma_q):
        self.g, self.a, self.xstar, self.theta_q = g, a, xstar, theta_q
        self.c, self.sigma, self.sigma_q = float(c), float(sigma), float(sigma_q)

    # each returns f(theta + s eps_i) for the rows of eps, exactly, without forming the
    # points: O(m d) work in one or two passes, which is what lets d reach 1e5

    def linear(self, theta, s, eps):
        """``f(x) = g.x``."""
        return theta @ self.g + s * (eps @ self.g)

    def linear_offset(self, theta, s, eps):
        """``f(x) = c + g.x``."""
        return self.c + self.linear(theta, s, eps)

    def quadratic(self, theta, s, eps):
        """``f(x) = (x - x*)' A (x - x*) / 2`` with ``A = diag(a)``, expanded around
        ``theta``: ``f(theta) + s (A(theta - x*)).eps + (s^2 / 2) eps'A eps``."""
        r = theta - self.xstar
        ar = self.a * r
        return 0.5 * (r @ ar) + s * (eps @ ar) + 0.5 * s * s * ((eps * eps) @ self.a)

    def specs(self):
        zero = np.zeros_like(self.g)
        return [(self.linear, zero, self.sigma, "plain"),
                (self.linear_offset, zero, self.sigma, "plain"),
                (self.quadratic, self.theta_q, self.sigma_q, "baseline"),
                (self.quadratic, self.theta_q, self.sigma_q, "antithetic")]

    def second_moments(self, n):
        """Exact ``E|g_hat|^2`` of the four estimators (``|g| = 1``)."""
        d = self.g.size
        tr_a, tr_a2 = float(self.a.sum()), float((self.a**2).sum())
        return [es_second_moment(n, d, sigma=self.sigma),
                es_second_moment(n, d, c=self.c, sigma=self.sigma),
                es_second_moment(n, d, sigma=self.sigma_q, tr_a=tr_a, tr_a2=tr_a2),
                es_second_moment(n, d, sigma=self.sigma_q)]


def _functions(cfg, d, seed):
    rng = np.random.default_rng([seed, 0, d])
    g = rng.standard_normal(d)
    g /= np.linalg.norm(g)
    a = cfg.condition ** -np.linspace(1.0, 0.0, d) if d > 1 else np.ones(1)
    # theta - x* = A^-1 g, so the quadratic's gradient at theta is g
    theta_q = rng.standard_normal(d)
    return _Functions(g=g, a=a, xstar=theta_q - g / a, theta_q=theta_q,
                      c=cfg.offset * cfg.sigma, sigma=cfg.sigma,
                      sigma_q=cfg.quad_sigma / float(a.sum()))


def _draws(cfg, n, d):
    return int(np.clip(cfg.budget // (n * d), cfg.min_draws, cfg.max_draws))


def _point(funcs, n, draws, seed):
    """``draws`` estimates of each method at ``(n, d)``: per-draw ``g_hat.g`` and
    ``|g_hat|^2`` (``|g| = 1``), shape ``(len(METHODS), draws)`` each."""
    d = funcs.g.size
    specs = funcs.specs()
    proj, sq = np.empty((len(specs), draws)), np.empty((len(specs), draws))
    for j in range(draws):
        est = es_estimates(specs, n, np.random.default_rng([seed, 1, n, d, j]))
        proj[:, j] = est @ funcs.g
        sq[:, j] = np.einsum("kd,kd->k", est, est)
    return proj, sq


def _point_stats(proj, sq, n, d, moment):
    """One method's row at ``(n, d)`` (see the module docstring)."""
    from plasticity.analysis import seeds_interval

    cos = proj / np.sqrt(sq)
    law = cosine_law(n, d)
    mean, low, high = seeds_interval(cos)
    se = float(cos.std(ddof=1) / np.sqrt(cos.size))
    ratio, ratio_se = ratio_and_se(proj, sq)
    ratio_th = float(1.0 / np.sqrt(moment))
    return {"n": n, "d": d, "draws": cos.size, "cos_mean": mean, "cos_low": low,
            "cos_high": high, "cos_se": se, "law": law, "rel_dev": mean / law - 1.0,
            "rel_dev_low": low / law - 1.0, "rel_dev_high": high / law - 1.0,
            "ratio_cos": ratio, "ratio_se": ratio_se, "ratio_theory": ratio_th,
            "ratio_rel_dev": ratio / law - 1.0,
            "ratio_z": (ratio - ratio_th) / ratio_se if ratio_se > 0 else 0.0}


# --------------------------------------------------------------------------- Part 2


class TwoWells:
    """The 1-D loss of Part 2: a bowl and two Gaussian wells (module docstring).

    Parameters
    ----------
    depths, widths, centers : tuple of two floats
        ``(narrow, wide)`` wells: depth (loss units), width and centre (x units).
    bowl : float >= 0
        Curvature of the confining bowl (loss per x^2), centred at ``center``.
    center : float
        The bowl's centre (x units).
    """

    def __init__(self, depths, widths, centers, bowl, center):
        self.depths, self.widths = tuple(map(float, depths)), tuple(map(float, widths))
        self.centers = tuple(map(float, centers))
        self.bowl, self.center = float(bowl), float(center)

    @classmethod
    def from_config(cls, cfg):
        return cls((cfg.narrow_depth, cfg.wide_depth), (cfg.narrow_width, cfg.wide_width),
                   (cfg.narrow_center, cfg.wide_center), cfg.bowl,
                   0.5 * (cfg.narrow_center + cfg.wide_center))

    def smoothed(self, x, sigma=0.0):
        """``f_sigma(x) = E f(x + sigma eps)``, closed form; ``f`` itself at ``sigma = 0``.

        Parameters
        ----------
        x : array_like
            Points (x units), any shape.
        sigma : float >= 0
            Gaussian smoothing (x units).

        Returns
        -------
        ndarray
            Loss units, shaped like ``x``.
        """
        x = np.asarray(x, dtype=np.float64)
        out = 0.5 * self.bowl * ((x - self.center) ** 2 + sigma**2)
        for a, w, m in zip(self.depths, self.widths, self.centers, strict=True):
            s2 = w**2 + sigma**2
            out = out - a * w / np.sqrt(s2) * np.exp(-((x - m) ** 2) / (2.0 * s2))
        return out

    def smoothed_grad(self, x, sigma=0.0):
        """``f_sigma'(x)``, closed form (loss per x unit), shaped like ``x``."""
        x = np.asarray(x, dtype=np.float64)
        out = self.bowl * (x - self.center)
        for a, w, m in zip(self.depths, self.widths, self.centers, strict=True):
            s2 = w**2 + sigma**2
            out = out + a * w * (x - m) / s2**1.5 * np.exp(-((x - m) ** 2) / (2.0 * s2))
        return out

    def value(self, x):
        """``f(x)`` (loss units)."""
        return self.smoothed(x, 0.0)

    def critical_points(self, sigma=0.0):
        """Minima and maxima of ``f_sigma``, sorted (x units).

        All lie between the outermost of the two centres and the bowl's centre (outside,
        every term of ``f_sigma'`` has one sign); a grid there with 50 points per
        narrowest smoothed width brackets each sign change, refined by Brent's method.
        """
        from scipy.optimize import brentq

        lo = min(*self.centers, self.center) - 1e-9
        hi = max(*self.centers, self.center) + 1e-9
        width = np.sqrt(min(self.widths) ** 2 + sigma**2)
        x = np.linspace(lo, hi, int(min(max(50 * (hi - lo) / width, 2001), 2_000_001)))
        gp = self.smoothed_grad(x, sigma)
        minima, maxima = [], []
        for i in np.flatnonzero(np.sign(gp[:-1]) != np.sign(gp[1:])):
            if gp[i] == 0.0:
                root = float(x[i])
            else:
                root = brentq(lambda t: float(self.smoothed_grad(t, sigma)), x[i], x[i + 1],
                              xtol=1e-13)
            (minima if gp[i] < 0 else maxima).append(root)
        return np.array(minima), np.array(maxima)

    def boundary(self):
        """``x_max``: the maximum of ``f`` between the wells, which splits the basins."""
        _, maxima = self.critical_points(0.0)
        lo, hi = sorted(self.centers)
        inside = maxima[(maxima > lo) & (maxima < hi)]
        if inside.size != 1:
            raise InvalidParameterError(
                f"the loss must have exactly one maximum between the wells; it has "
                f"{inside.size} (move the wells apart or weaken the bowl)")
        return float(inside[0])

    def _narrow_side(self, x, x_max):
        return (x < x_max) if self.centers[0] < self.centers[1] else (x > x_max)

    def flow_narrow_fraction(self, sigma, low, high, x_max):
        """Fraction of starts ``U(low, high)`` that the gradient flow of ``f_sigma`` takes
        to a minimum in ``f``'s narrow basin (exact: the maxima split the starts)."""
        minima, maxima = self.critical_points(sigma)
        edges = np.concatenate([[-np.inf], maxima, [np.inf]])
        frac = 0.0
        for m in minima:
            k = np.searchsorted(maxima, m)
            a, b = max(edges[k], low), min(edges[k + 1], high)
            if b > a and self._narrow_side(m, x_max):
                frac += (b - a) / (high - low)
        return float(frac)

    def _side_gap(self, sigma, x_max):
        """The lowest ``f_sigma`` on the narrow side of ``x_max`` minus that on the wide
        side (each side's lowest point is one of its minima or ``x_max`` itself)."""
        minima, _ = self.critical_points(sigma)
        side = [[m for m in minima if self._narrow_side(m, x_max) == nar] + [x_max]
                for nar in (True, False)]
        lowest = [float(np.min(self.smoothed(np.array(c), sigma))) for c in side]
        return lowest[0] - lowest[1]

    def sigma_star(self, x_max, sigma_max=10.0):
        """The smoothing at which ``f_sigma``'s global minimum moves to the wide basin
        (NaN if it does not below ``sigma_max``); x units."""
        from scipy.optimize import brentq

        def h(s):
            return self._side_gap(s, x_max)

        if h(0.0) >= 0 or h(sigma_max) <= 0:
            return float("nan")
        return float(brentq(h, 0.0, sigma_max, xtol=1e-10))

    def sigma_star_separated(self):
        """``sigma_star`` for wells far apart and no bowl: equal smoothed depths
        ``A_n w_n / s_n = A_w w_w / s_w`` (x units)."""
        (an, aw), (wn, ww) = self.depths, self.widths
        return float(np.sqrt(wn**2 * ww**2 * (aw**2 - an**2) / (an**2 * wn**2 - aw**2 * ww**2)))

    def sigma_vanish(self, x_max, sigma_max=10.0, tol=1e-6):
        """The smoothing above which ``f_sigma`` has no minimum in the narrow basin
        (bisection; NaN if it keeps one up to ``sigma_max``); x units."""
        def has(s):
            return any(self._narrow_side(m, x_max) for m in self.critical_points(s)[0])

        if has(sigma_max):
            return float("nan")
        lo, hi = 0.0, sigma_max
        while hi - lo > tol:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if has(mid) else (lo, mid)
        return float(0.5 * (lo + hi))


def _es_runs(land, x0, sigma, cfg, seed, k, block=250):
    """Antithetic ES from every start, vectorised over runs; each run's directions come
    from its own stream ``[seed, 3, run, k]``. Returns the final iterates."""
    gens = [np.random.default_rng([seed, 3, r, k]) for r in range(x0.size)]
    x = x0.copy()
    for start in range(0, cfg.iterations, block):
        nb = min(block, cfg.iterations - start)
        eps = np.stack([g.standard_normal((nb, cfg.pop)) for g in gens])  # (runs, nb, pop)
        for t in range(nb):
            e = eps[:, t, :]
            diff = land.value(x[:, None] + sigma * e) - land.value(x[:, None] - sigma * e)
            x = x - cfg.eta * (diff * e).mean(axis=1) / (2.0 * sigma)
    return x


def _gd_runs(land, x0, cfg):
    x = x0.copy()
    for _ in range(cfg.iterations):
        x = x - cfg.eta * land.smoothed_grad(x)
    return x


def _mcnemar(b, c):
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs (1 if none)."""
    from scipy.stats import binomtest

    return 1.0 if b + c == 0 else float(binomtest(int(b), int(b + c), 0.5).pvalue)


def _proportion(k, n):
    """``(k/n, low, high)``: the Clopper-Pearson 95% interval over runs."""
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="exact")
    return float(k / n), float(ci.low), float(ci.high)


# --------------------------------------------------------------------------- verdict


def _iv(s, key, scale=1.0, fmt=".3f", low=None, high=None):
    """``"mean [low, high]"`` of summary key ``key`` (bounds ``key_low``, ``key_high``
    unless named)."""
    low, high = low or f"{key}_low", high or f"{key}_high"
    return f"{scale * s[key]:{fmt}} [{scale * s[low]:{fmt}}, {scale * s[high]:{fmt}}]"


def verdict(s):
    """The plain-words verdict, computed from the summary ``s`` (dict of summary keys)."""
    d, n = int(s["headline_d"]), int(s["headline_n"])
    law_ok = all(s[f"{m}.max_abs_z"] <= s["z_bound"] for m in EXACT)
    zmax = max(s[f"{m}.max_abs_z"] for m in EXACT)
    within = s["linear.rel_dev_low"] <= 0.0 <= s["linear.rel_dev_high"]
    lin_cos = _iv(s, "linear.cos_mean", 1, ".4f", "linear.cos_ci_low", "linear.cos_ci_high")
    off_cos = _iv(s, "linear_offset.cos_mean", 1, ".4f", "linear_offset.cos_ci_low",
                  "linear_offset.cos_ci_high")
    p1 = (f"The cosine law sqrt(n/(n+d+1)) {'holds' if law_ok else 'fails'}: over "
          f"{s['n_points']} (n, d) points up to d = {s['d_max']}, the exact estimators' "
          f"ratio of moments and mean cosine {'stay within' if law_ok else 'leave'} the "
          f"Bonferroni bound (max |z| {zmax:.2f} vs {s['z_bound']:.2f}). At d = {d}, "
          f"n = {n}, plain ES on a linear function has mean cosine {lin_cos} against the "
          f"law's {s['linear.law']:.4f}: a relative deviation of "
          f"{_iv(s, 'linear.rel_dev', 100, '.1f')}% "
          f"({'its interval contains 0' if within else 'resolved from 0'}; the exact "
          f"Beta law says {100 * s['linear.rel_dev_theory']:+.2f}%). The largest "
          f"|deviation| of the mean cosine from the law, "
          f"{100 * s['linear.max_abs_rel_dev']:.1f}% at n = {int(s['linear.worst_n'])}, "
          f"d = {int(s['linear.worst_d'])}, is the difference between a mean of cosines "
          f"and the ratio of moments (the exact Beta law puts it at "
          f"{100 * s['linear.worst_rel_dev_theory']:+.1f}%). Without a baseline, "
          f"f(theta) = {s['offset']:g} sigma |g| lowers the cosine to {off_cos} "
          f"({100 * s['linear_offset.rel_dev']:+.1f}% from the law; the exact second "
          f"moment predicts a ratio of moments {s['linear_offset.ratio_theory']:.4f}, "
          f"measured {s['linear_offset.ratio_cos']:.4f}); a quadratic at small sigma "
          f"deviates by {_iv(s, 'quadratic.rel_dev', 100, '+.1f')}%.")
    dep, allw = s["es_departs_sigma"], s["es_all_wide_sigma"]
    differs = np.isfinite(dep)
    # at the smallest sigma ES is GD with noise: do the two intervals overlap?
    small = (s["es0.narrow_frac_low"] <= s["gd.narrow_frac_high"]
             and s["gd.narrow_frac_low"] <= s["es0.narrow_frac_high"])
    runs = int(s["runs"])
    last = int(s["n_sigmas"]) - 1
    p2 = (f"Basins ({runs} runs from the same starts): GD ends in the narrow deep basin in "
          f"{_iv(s, 'gd.narrow_frac', 100, '.0f')}% of runs (starts in its basin: "
          f"{100 * s['gd.predicted_narrow_frac']:.0f}%); ES at sigma = "
          f"{s['es0.sigma']:g} in {_iv(s, 'es0.narrow_frac', 100, '.0f')}% "
          f"({'like GD' if small else 'unlike GD'}), at sigma = {s[f'es{last}.sigma']:g} in "
          f"{_iv(s, f'es{last}.narrow_frac', 100, '.0f')}%. ")
    if differs:
        p2 += (f"Paired with GD over the same starts (McNemar, Bonferroni over the sigmas), "
               f"ES ends in the narrow basin less often from sigma = {dep:g}"
               + (f" and reaches 0 from sigma = {allw:g}" if np.isfinite(allw) else "")
               + ". ")
    else:
        p2 += ("Paired with GD over the same starts (McNemar, Bonferroni over the sigmas), "
               "ES never ends in the narrow basin less often than GD on this grid. ")
    p2 += (f"The Gaussian-smoothed loss, which ES descends, has its global minimum in the "
           f"wide basin from sigma* = {s['sigma_star']:.3f} (well-separated approximation "
           f"{s['sigma_star_separated']:.3f}; narrow width {s['narrow_width']:g}), but "
           f"keeps a local minimum in the narrow basin up to sigma_vanish = "
           f"{s['sigma_vanish']:.3f}. ")
    below = s["es_switch_low_sigma"]
    if np.isfinite(allw) and np.isfinite(below):
        brackets = below <= s["sigma_vanish"] <= allw
        p2 += (f"ES's last sigma with runs in the narrow basin is {below:g}, its first with "
               f"none {allw:g}: the switch " + ("brackets sigma_vanish" if brackets else
                                                "does not bracket sigma_vanish")
               + (", well above sigma*" if below > s["sigma_star"] else "") + ". ")
    k = int(s["es_max_narrow_k"])
    if (s[f"es{k}.gained_narrow"] > s[f"es{k}.lost_narrow"]
            and s[f"es{k}.mcnemar_p"] < 0.05 / s["n_sigmas"]):
        p2 += (f"Below sigma_vanish ES even ends in the narrow basin more often than GD "
               f"({_iv(s, f'es{k}.narrow_frac', 100, '.0f')}% at sigma = "
               f"{s[f'es{k}.sigma']:g}; {int(s[f'es{k}.gained_narrow'])} runs gained, "
               f"{int(s[f'es{k}.lost_narrow'])} lost, McNemar p = "
               f"{s[f'es{k}.mcnemar_p']:.1e}): smoothing widens the narrow basin before it "
               f"removes it. ")
    p2 += (f"The gradient flow of the smoothed loss predicts the narrow fraction inside the "
           f"measured interval at {int(s['flow_agree'])} of {int(s['n_sigmas'])} sigmas: "
           f"ES descends the smoothed loss locally; it does not seek its global minimum.")
    both = law_ok and differs and small
    head = ("Supported: " if both else "Partly: " if (law_ok or differs) else
            "Not supported: ")
    law_words = (f"ES's gradient estimate {'has' if law_ok else 'does not have'} the "
                 f"cosine sqrt(n/(n+d+1)) with the gradient that finite-difference theory "
                 f"gives (at d = {d}, n = {n}: {_iv(s, 'linear.rel_dev', 100, '+.1f')}% "
                 f"from it)")
    if differs:
        k = next(i for i in range(int(s["n_sigmas"])) if s[f"es{i}.sigma"] == dep)
        basin_words = (f"from sigma = {dep:g} ES ends in the narrow deep basin in "
                       f"{_iv(s, f'es{k}.narrow_frac', 100, '.0f')}% of runs, where GD from "
                       f"the same starts does in {_iv(s, 'gd.narrow_frac', 100, '.0f')}%")
    else:
        basin_words = ("ES does not end in the narrow basin significantly less often than "
                       "GD at any sigma tested")
    what = law_words + (", and " if differs == law_ok else "; but ") + basin_words + ". "
    return head + what + p1 + " " + p2


# --------------------------------------------------------------------------- run


def run(cfg: ClaimESConfig, ctx):
    from scipy.stats import t as student_t
    from threadpoolctl import threadpool_limits

    rec = ctx.recorder
    ns, dims = sorted(set(cfg.ns)), sorted(set(cfg.dims))
    points = [(n, d) for d in dims for n in ns if n * d <= cfg.max_nd]
    land = TwoWells.from_config(cfg)
    x_max = land.boundary()
    sigmas = list(cfg.sigmas)
    summary = {"n_points": len(points), "d_max": max(d for _, d in points),
               "offset": cfg.offset, "quad_sigma": cfg.quad_sigma, "runs": cfg.runs,
               "n_sigmas": len(sigmas), "narrow_width": cfg.narrow_width, "x_max": x_max}
    rows = {m: [] for m in METHODS}
    # the products are matrix-vector (memory-bound): BLAS threads only contend for the
    # cores (measured 5x slower with two threads on a loaded two-core machine)
    with ctx.progress(len(points) + len(sigmas) + 1, "claim-es") as bar, \
            threadpool_limits(limits=1, user_api="blas"):
        # Part 1: the cosine law
        funcs = {}
        for i, (n, d) in enumerate(points):
            if d not in funcs:
                funcs[d] = _functions(cfg, d, ctx.seed)
            f = funcs[d]
            draws = _draws(cfg, n, d)
            proj, sq = _point(f, n, draws, ctx.seed)
            exact_mean = mean_cosine_exact(n, d)
            for k, (m, moment) in enumerate(zip(METHODS, f.second_moments(n), strict=True)):
                row = _point_stats(proj[k], sq[k], n, d, moment)
                if m in EXACT:
                    row["mean_theory"] = exact_mean
                    row["rel_dev_theory"] = exact_mean / row["law"] - 1.0
                    row["mean_z"] = (row["cos_mean"] - exact_mean) / row["cos_se"] \
                        if row["cos_se"] > 0 else 0.0
                else:
                    row["mean_theory"] = row["rel_dev_theory"] = row["mean_z"] = np.nan
                rows[m].append(row)
                rec.append(f"cosine/{m}", i, index="point", index_units="1",
                           units={**dict.fromkeys(row, "1"), "n": "directions",
                                  "d": "dimensions", "draws": "estimates"}, **row)
            bar.update(1)
        n_tests = sum(len(rows[m]) * (2 if m in EXACT else 1) for m in METHODS)
        min_draws = min(r["draws"] for m in METHODS for r in rows[m])
        summary["z_bound"] = float(student_t.ppf(1 - 0.025 / n_tests, min_draws - 1))
        d_top = summary["d_max"]
        n_top = max(n for n, d in points if d == d_top)
        summary["headline_d"], summary["headline_n"] = d_top, n_top
        for m in METHODS:
            z = [abs(r["ratio_z"]) for r in rows[m]]
            if m in EXACT:
                z += [abs(r["mean_z"]) for r in rows[m]]
            summary[f"{m}.max_abs_z"] = float(max(z))
            worst = max(rows[m], key=lambda r: abs(r["rel_dev"]))
            summary[f"{m}.max_abs_rel_dev"] = float(abs(worst["rel_dev"]))
            summary[f"{m}.worst_n"], summary[f"{m}.worst_d"] = worst["n"], worst["d"]
            summary[f"{m}.worst_rel_dev_theory"] = worst["rel_dev_theory"]
            summary[f"{m}.max_abs_ratio_rel_dev"] = float(
                max(abs(r["ratio_rel_dev"]) for r in rows[m]))
            top = next(r for r in rows[m] if r["n"] == n_top and r["d"] == d_top)
            summary.update({f"{m}.cos_mean": top["cos_mean"], f"{m}.cos_ci_low": top["cos_low"],
                            f"{m}.cos_ci_high": top["cos_high"], f"{m}.law": top["law"],
                            f"{m}.draws": top["draws"]})
            for key in ("rel_dev", "rel_dev_low", "rel_dev_high", "rel_dev_theory",
                        "ratio_cos", "ratio_se", "ratio_theory", "ratio_rel_dev"):
                summary[f"{m}.{key}"] = top[key]

        # Part 2: two basins
        starts = np.array([np.random.default_rng([ctx.seed, 2, r]).uniform(
            cfg.init_low, cfg.init_high) for r in range(cfg.runs)])
        narrow = land._narrow_side
        gd_end = _gd_runs(land, starts, cfg)
        gd_in = narrow(gd_end, x_max)
        summary["gd.narrow_frac"], summary["gd.narrow_frac_low"], \
            summary["gd.narrow_frac_high"] = _proportion(gd_in.sum(), cfg.runs)
        summary["gd.predicted_narrow_frac"] = land.flow_narrow_fraction(
            0.0, cfg.init_low, cfg.init_high, x_max)
        bar.update(1)
        es_end = np.empty((len(sigmas), cfg.runs))
        agree, departs, all_wide = 0, np.nan, np.nan
        for k, sigma in enumerate(sigmas):
            es_end[k] = _es_runs(land, starts, sigma, cfg, ctx.seed, k)
            inside = narrow(es_end[k], x_max)
            frac, low, high = _proportion(inside.sum(), cfg.runs)
            flow = land.flow_narrow_fraction(sigma, cfg.init_low, cfg.init_high, x_max)
            agree += int(low <= flow <= high)
            # paired with GD (the same starts): runs ES took to the narrow basin and GD
            # did not, and the reverse; McNemar's exact test on them, Bonferroni over sigmas
            gain = int(np.sum(inside & ~gd_in))
            loss = int(np.sum(~inside & gd_in))
            p = _mcnemar(gain, loss)
            if np.isnan(departs) and loss > gain and p < 0.05 / len(sigmas):
                departs = sigma
            if np.isnan(all_wide) and inside.sum() == 0:
                all_wide = sigma
            summary.update({f"es{k}.sigma": sigma, f"es{k}.narrow_frac": frac,
                            f"es{k}.narrow_frac_low": low, f"es{k}.narrow_frac_high": high,
                            f"es{k}.flow_narrow_frac": flow, f"es{k}.gained_narrow": gain,
                            f"es{k}.lost_narrow": loss, f"es{k}.mcnemar_p": p})
            rec.append("basins", k, index="sigma_index", index_units="1",
                       units={"sigma": "x", "narrow_frac": "1", "narrow_frac_low": "1",
                              "narrow_frac_high": "1", "flow_narrow_frac": "1",
                              "wide_frac": "1"},
                       sigma=sigma, narrow_frac=frac, narrow_frac_low=low,
                       narrow_frac_high=high, flow_narrow_frac=flow, wide_frac=1.0 - frac)
            bar.update(1)
        for r in range(cfg.runs):
            rec.append("runs", r, index="run", index_units="1",
                       units={"x0": "x", "gd_end": "x", "gd_narrow": "1", "es_end": "x",
                              "es_narrow": "1"},
                       x0=starts[r], gd_end=gd_end[r], gd_narrow=int(gd_in[r]),
                       es_end=es_end[:, r].copy(),
                       es_narrow=narrow(es_end[:, r], x_max).astype(np.int64))
        summary["sigma_star"] = land.sigma_star(x_max)
        summary["sigma_star_separated"] = land.sigma_star_separated()
        summary["sigma_vanish"] = land.sigma_vanish(x_max)
        summary["es_departs_sigma"], summary["es_all_wide_sigma"] = departs, all_wide
        fracs = np.array([summary[f"es{k}.narrow_frac"] for k in range(len(sigmas))])
        summary["es_max_narrow_k"] = int(np.argmax(fracs))
        # the largest sigma below the first all-wide one at which some run stayed narrow
        some = [sg for sg, fr in zip(sigmas, fracs, strict=True)
                if fr > 0 and (np.isnan(all_wide) or sg < all_wide)]
        summary["es_switch_low_sigma"] = float(max(some)) if some else float("nan")
        summary["flow_agree"] = agree
        # the landscape and its smoothed versions at the two predicted sigmas, for the figure
        lo = min(cfg.init_low, *land.centers) - 1.0
        hi = max(cfg.init_high, *land.centers) + 1.0
        shown = [s for s in (summary["sigma_star"], summary["sigma_vanish"], max(sigmas))
                 if np.isfinite(s)]
        for i, x in enumerate(np.linspace(lo, hi, 600)):
            rec.append("landscape", i, index="point", index_units="1",
                       units={"x": "x", "loss": "loss", "smoothed": "loss",
                              "sigma_shown": "x"},
                       x=x, loss=float(land.value(x)),
                       smoothed=np.array([land.smoothed(x, s) for s in shown]),
                       sigma_shown=np.array(shown))
    summary["verdict"] = verdict(summary)
    ctx.summary(**summary)


# --------------------------------------------------------------------------- figure


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    s = run.summary
    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.3, ncols=3)

    # a: relative deviation of the mean cosine from the law, linear plain ES
    tab = "series/cosine/linear"
    t = run.series["cosine/linear"]
    nn, dd = np.asarray(t["n"]), np.asarray(t["d"])
    for i, n in enumerate(np.unique(nn)):
        sel = nn == n
        mask = src(f"{tab}:n") == n
        c = PALETTE[i % len(PALETTE)]
        y = 100 * np.asarray(t["rel_dev"])[sel]
        traced(ax1.errorbar(dd[sel], y, yerr=[y - 100 * np.asarray(t["rel_dev_low"])[sel],
                                              100 * np.asarray(t["rel_dev_high"])[sel] - y],
                            color=c, marker="o", ms=3, ls="none", capsize=2,
                            label=f"n = {n}"),
               x=src(f"{tab}:d")[mask], y=100 * src(f"{tab}:rel_dev")[mask],
               ylow=100 * src(f"{tab}:rel_dev_low")[mask],
               yhigh=100 * src(f"{tab}:rel_dev_high")[mask])
        traced(ax1.plot(dd[sel], 100 * np.asarray(t["rel_dev_theory"])[sel], color=c,
                        lw=0.8, ls="--")[0],
               x=src(f"{tab}:d")[mask], y=100 * src(f"{tab}:rel_dev_theory")[mask])
    traced(ax1.axhline(0.0, color="0.5", lw=0.6), y=0.0)
    ax1.set_xscale("log")
    ax1.set_xlabel("dimension d")
    ax1.set_ylabel("mean cos / sqrt(n/(n+d+1)) - 1 (%)")
    ax1.legend(fontsize="x-small")
    ax1.set_title("a  cosine law (dashed: exact Beta law)", loc="left")

    # b: the landscape and its Gaussian smoothing
    lt = run.series["landscape"]
    x = np.asarray(lt["x"])
    traced(ax2.plot(x, lt["loss"], color="k", lw=1.0, label="f")[0],
           x=src("series/landscape:x"), y=src("series/landscape:loss"))
    sm = np.asarray(lt["smoothed"])
    shown = np.asarray(lt["sigma_shown"])[0]
    for j in range(sm.shape[1]):
        traced(ax2.plot(x, sm[:, j], color=PALETTE[(j + 1) % len(PALETTE)], lw=0.8,
                        label=f"f_sigma, sigma = {shown[j]:.2f}")[0],
               x=src("series/landscape:x"), y=src("series/landscape:smoothed")[:, j])
    traced(ax2.axvline(s["x_max"], color="0.5", lw=0.6, ls=":"), x=src("summary:x_max"))
    ax2.set_xlabel("x")
    ax2.set_ylabel("loss")
    ax2.legend(fontsize="x-small")
    ax2.set_title("b  loss and smoothed loss", loc="left")

    # c: fraction of runs ending in the narrow basin against sigma
    bt = run.series["basins"]
    sg = np.asarray(bt["sigma"])
    fr = np.asarray(bt["narrow_frac"])
    traced(ax3.errorbar(sg, fr, yerr=[fr - np.asarray(bt["narrow_frac_low"]),
                                      np.asarray(bt["narrow_frac_high"]) - fr],
                        color=PALETTE[0], marker="o", ms=3, ls="none", capsize=2,
                        label="ES (Clopper-Pearson 95%)"),
           x=src("series/basins:sigma"), y=src("series/basins:narrow_frac"),
           ylow=src("series/basins:narrow_frac_low"),
           yhigh=src("series/basins:narrow_frac_high"))
    traced(ax3.plot(sg, bt["flow_narrow_frac"], color=PALETTE[1], lw=0.8,
                    label="smoothed-flow prediction")[0],
           x=src("series/basins:sigma"), y=src("series/basins:flow_narrow_frac"))
    traced(ax3.axhline(s["gd.narrow_frac"], color="k", lw=0.8, label="GD"),
           y=src("summary:gd.narrow_frac"))
    traced(ax3.axhspan(s["gd.narrow_frac_low"], s["gd.narrow_frac_high"], color="0.85",
                       lw=0), low=src("summary:gd.narrow_frac_low"),
           high=src("summary:gd.narrow_frac_high"))
    for key, ls in (("sigma_star", "--"), ("sigma_vanish", ":")):
        if np.isfinite(s[key]):
            traced(ax3.axvline(s[key], color="0.4", lw=0.7, ls=ls, label=key),
                   x=src(f"summary:{key}"))
    ax3.set_xscale("log")
    ax3.set_ylim(-0.02, 1.02)
    ax3.set_xlabel("ES sigma")
    ax3.set_ylabel("fraction ending in the narrow basin")
    ax3.legend(fontsize="x-small")
    ax3.set_title("c  basins: ES vs GD", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="claim-es",
    description="Claim: ES is a stochastic finite-difference gradient estimator; cosine law "
                "to d = 1e5, and the basin ES ends in vs GD as sigma grows.",
    config=ClaimESConfig,
    run=run,
    plot=plot,
    # quick: 57 s wall on the shared two cores at load 6 (17 s of CPU); full: 8.3 min wall
    # at nice 19 under load 5 (1.5e10 random numbers in Part 1, 1000 runs in Part 2)
    presets={"quick": {},
             "full": {"ns": [10, 30, 100, 300, 1000], "dims": [10, 100, 1000, 10000, 100000],
                      "max_nd": 10**8, "budget": 10**9, "min_draws": 30, "max_draws": 4000,
                      "runs": 1000, "iterations": 4000,
                      "sigmas": [0.01, 0.03, 0.05, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4,
                                 0.5, 0.55, 0.6, 0.65, 0.7, 0.85, 1.0, 1.5]}},
    claim=ClaimMeta(number=9,
                    claim="ES is a stochastic finite-difference gradient estimator, and at "
                          "scale it behaves differently from GD.",
                    headline="linear.rel_dev", low="linear.rel_dev_low",
                    high="linear.rel_dev_high",
                    label="ES cosine / sqrt(n/(n+d+1)) - 1 at the largest d (1)", null=0.0),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
