"""Claim: GD is selection among all local steps; best-of-lambda random steps against the gradient.

The claim (issue 19, claim 5): "Gradient descent is selection among all possible local
steps." Among all unit steps ``u`` the one that lowers a smooth loss most to first order
is ``-g / |g|``: the gradient is the ``lambda -> infinity`` limit of choosing the best of
``lambda`` random unit steps. This experiment measures how fast that selection approaches
the gradient as ``lambda`` grows, for several dimensions ``d``, against exact theory.

The selection
    A smooth loss, the quadratic ``L(w) = 0.5 sum_i h_i w_i^2`` with curvatures ``h_i``
    log-spaced over ``[1 / condition, 1]`` (a diagonal Hessian loses nothing: the
    candidates are isotropic, so only the Hessian's eigenvalues matter), at a point
    ``w ~ N(0, I_d)`` drawn afresh for each trial, gradient ``g = h * w``. ``lambda``
    candidates ``u_j`` uniform on the unit sphere (normalised Gaussians). Two choices:

    * ``first_order``: the ``u_j`` with the smallest ``g.u_j`` (the steepest to first
      order, the small-step limit);
    * ``exact``: the ``u_j`` with the smallest actual loss ``L(w + eps u_j)``, with
      ``eps = step * |g| / max(h)`` (at ``step = 1`` the curvature term is as large as
      the first-order one along the stiffest direction).

    The reported number is the cosine of the chosen step with ``-g``.

Theory (``theory_exact``, ``theory_normal``, ``theory_asymptotic``)
    The cosine ``c = -g.u / |g|`` of a uniform unit vector has ``(1 + c) / 2 ~ Beta((d -
    1)/2, (d - 1)/2)``, so the first-order choice has the cosine of the maximum of
    ``lambda`` independent such ``c``, with the exact expectation
    ``E[max] = 1 - int_{-1}^{1} F(c)^lambda dc`` (``F`` the Beta CDF), integrated
    numerically. For large ``d``, ``c ~ z / sqrt(d)`` with ``z ~ N(0, 1)``, so
    ``E[max] ~ m_lambda / sqrt(d)`` with ``m_lambda`` the exact expected maximum of
    ``lambda`` standard normals (``int z lambda phi(z) Phi(z)^(lambda - 1) dz``), and
    ``m_lambda ~ sqrt(2 ln lambda)`` asymptotically (slowly: it overestimates at every
    practical ``lambda``). Reaching cosine ``c`` needs about ``1 / P(cos > c)``, of order
    ``(1 - c^2)^(-(d - 1) / 2)`` candidates (``log10_lambda_for_half``: that count for
    cosine 0.5 from the exact distribution), exponential in ``d``.

Statistics
    Trials are independent, so within a seed each ``(d, lambda)`` cell has the t-interval
    of the mean over ``trials`` trials; across seeds, the t-interval over per-seed means
    (``combine_seeds``). ``z_max`` is the largest ``|measured - theory_exact| / SE`` over
    all cells (first-order choice; SE the sample standard error over all trials of all
    seeds); ``z_bound`` is the Bonferroni bound that every cell stays below with
    probability at least 0.95 when the theory holds (Student's t with ``seeds * trials -
    1`` degrees of freedom, since the SE is estimated).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from plasticity.experiment import ClaimMeta, Config, Experiment

# keep the candidate block of one trial below this many float64 (memory ~ 8x bytes)
_BLOCK = 2_000_000


class BestOfLambdaConfig(Config):
    dims: list[Annotated[int, Field(ge=2)]] = Field(
        [10, 100, 1000], min_length=1, description="dimensions d (>= 2)")
    lambdas: list[Annotated[int, Field(ge=1)]] = Field(
        [1, 3, 10, 30, 100, 300, 1000, 3000, 10000], min_length=1,
        description="candidates per selection (lambda >= 1)")
    trials: int = Field(10, ge=2, description="independent selections per (d, lambda, seed)")
    seeds: int = Field(3, ge=1, description="independent replicates")
    condition: float = Field(100.0, ge=1, description="condition number of the Hessian")
    step: float = Field(0.05, gt=0, description="exact choice's step, in |g| / max(h)")


def expected_max_normal(lam):
    """Exact expected maximum of ``lam`` independent standard normals.

    Parameters
    ----------
    lam : int >= 1

    Returns
    -------
    float
        ``int z lam phi(z) Phi(z)^(lam - 1) dz`` by adaptive quadrature (dimensionless).
    """
    from scipy.integrate import quad
    from scipy.stats import norm

    lam = int(lam)
    if lam == 1:
        return 0.0
    # the integrand lives near sqrt(2 ln lam); integrate well past it on either side
    f = lambda z: z * lam * np.exp(norm.logpdf(z) + (lam - 1) * norm.logcdf(z))  # noqa: E731
    centre = np.sqrt(2 * np.log(lam))
    return float(sum(quad(f, a, b, limit=200)[0] for a, b in
                     ((-np.inf, centre - 3), (centre - 3, centre + 3), (centre + 3, np.inf))))


def expected_max_cosine(lam, d):
    """Exact expected maximum of the cosines of ``lam`` uniform unit vectors in ``R^d``
    with a fixed direction.

    Parameters
    ----------
    lam : int >= 1
    d : int >= 2

    Returns
    -------
    float
        ``1 - int_{-1}^{1} F(c)^lam dc`` with ``(1 + c)/2 ~ Beta((d-1)/2, (d-1)/2)``
        (dimensionless).
    """
    from scipy.integrate import quad
    from scipy.stats import beta

    lam, a = int(lam), (int(d) - 1) / 2.0
    if lam == 1:
        return 0.0
    dist = beta(a, a)

    def integrand(c):
        return np.exp(lam * dist.logcdf((1 + c) / 2))

    # the mass of F^lam switches on near the (1 - 1/lam) quantile: split the range there
    q = float(np.clip(2 * dist.ppf(1 - 1 / (2 * lam)) - 1, -0.999, 0.999))
    s = 4.0 / np.sqrt(max(int(d), 2))
    cuts = sorted({-1.0, max(-1.0, q - s), q, min(1.0, q + s), 1.0})
    total = sum(quad(integrand, lo, hi, limit=200)[0] for lo, hi in zip(cuts, cuts[1:],
                                                                       strict=False))
    return float(1.0 - total)


def lambda_for_cosine(target, d):
    """``log10`` of the ``lambda`` whose exact expected best cosine is ``target`` in ``R^d``.

    Uses the ``c`` quantile: ``E[max]`` is close to the ``1 - 1/lambda`` quantile of the
    cosine, so ``lambda ~ 1 / (1 - F(target))``; returned as ``-log10(1 - F(target))``
    (dimensionless; a rough count, within a small factor).
    """
    from scipy.stats import beta

    a = (int(d) - 1) / 2.0
    return float(-beta(a, a).logsf((1 + target) / 2) / np.log(10))


def _trial_cosines(rng, d, lam, h, step):
    """One selection: ``(cos of the first-order choice, cos of the exact choice)``."""
    w = rng.standard_normal(d)
    g = h * w
    gn = float(np.linalg.norm(g))
    eps = step * gn / float(h.max())
    best_fo = (np.inf, 0.0)
    best_ex = (np.inf, 0.0)
    rows = max(1, _BLOCK // d)
    for start in range(0, lam, rows):
        u = rng.standard_normal((min(rows, lam - start), d))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        lin = u @ g                                   # first-order change per unit step
        dl = eps * lin + 0.5 * eps ** 2 * ((u * u) @ h)   # exact change of the quadratic
        i, j = int(np.argmin(lin)), int(np.argmin(dl))
        if lin[i] < best_fo[0]:
            best_fo = (lin[i], -lin[i] / gn)
        if dl[j] < best_ex[0]:
            best_ex = (dl[j], -lin[j] / gn)
    return best_fo[1], best_ex[1]


def _t_interval(x):
    from plasticity.analysis import seeds_interval

    return seeds_interval(np.asarray(x, dtype=float))


def verdict(s, dims, lam_max):
    """Plain-words verdict from the summary ``s``."""
    parts = []
    for d in dims:
        k = f"d{d}"
        parts.append(f"d = {d}: {s[f'{k}.cos_mean']:.3f} [{s[f'{k}.cos_ci_low']:.3f}, "
                     f"{s[f'{k}.cos_ci_high']:.3f}] (theory {s[f'{k}.theory_exact']:.3f}; "
                     f"cosine 0.5 needs lambda ~ 1e{s[f'{k}.log10_lambda_for_half']:.0f})")
    agree = s["z_max"] <= s["z_bound"]
    far = [d for d in dims if s[f"d{d}.log10_lambda_for_half"] > np.log10(lam_max)]
    pace = (f"falls short of cosine 0.5 at d = {', '.join(map(str, far))}" if far
            else "reaches cosine 0.5 at every d tested")
    top = dims[-1]
    if agree:
        head = (f"Partly: the gradient is the lambda -> infinity limit of selecting the best "
                f"of lambda random local steps, but the limit is far: at d = {top} the best "
                f"of {lam_max} has cosine {s[f'd{top}.cos_mean']:.3f} with -grad, and the "
                f"candidates needed grow exponentially in d. ")
    else:
        head = ("Unresolved: the measured cosines deviate from the exact expectation, so "
                "the approach to the gradient is not pinned down here. ")
    return head + (f"Best-of-lambda selection {pace}: the best of "
            f"lambda = {lam_max} random unit steps has cosine with -grad " + "; ".join(parts)
            + ". The measured first-order cosines "
            + ("agree with" if agree else "deviate from")
            + f" the exact expectation (max |z| = {s['z_max']:.2f} over {s['n_cells']} cells, "
            f"{'within' if agree else 'beyond'} the Bonferroni bound {s['z_bound']:.2f}). "
            "The gradient is this selection's lambda -> infinity limit; the candidates "
            "needed grow like (1 - c^2)^(-d/2), exponentially in d.")


def run(cfg: BestOfLambdaConfig, ctx):
    from scipy.stats import t as student_t

    from plasticity.analysis import combine_seeds

    rec = ctx.recorder
    dims, lams = sorted(set(cfg.dims)), sorted(set(cfg.lambdas))
    summary = {"lambda_max": lams[-1], "seeds": cfg.seeds, "trials": cfg.trials,
               "condition": cfg.condition, "step": cfg.step}
    zs = []
    normal = {lam: expected_max_normal(lam) for lam in lams}
    with ctx.progress(len(dims) * len(lams), "claim-best-of-lambda") as bar:
        for d in dims:
            h = cfg.condition ** -np.linspace(1.0, 0.0, d)
            for lam in lams:
                fo = np.zeros((cfg.seeds, cfg.trials))
                ex = np.zeros((cfg.seeds, cfg.trials))
                for rep in range(cfg.seeds):
                    rng = np.random.default_rng([ctx.seed, rep, d, lam])
                    for t in range(cfg.trials):
                        fo[rep, t], ex[rep, t] = _trial_cosines(rng, d, lam, h, cfg.step)
                per_seed = []
                for rep in range(cfg.seeds):
                    mean, low, high = _t_interval(fo[rep])
                    per_seed.append({"cos_mean": mean, "cos_ci_low": low, "cos_ci_high": high,
                                     "ci_method": "t over independent trials",
                                     "n_measured": cfg.trials})
                    rec.append(f"seeds/d{d}", rep * len(lams) + lams.index(lam),
                               index="row", index_units="1",
                               units={"seed": "1", "lam": "candidates", "cos_mean": "1",
                                      "cos_exact_mean": "1"},
                               seed=rep, lam=lam, cos_mean=mean,
                               cos_exact_mean=float(ex[rep].mean()))
                comb = combine_seeds(per_seed)
                ex_mean, ex_low, ex_high = (_t_interval(ex.mean(axis=1)) if cfg.seeds > 1
                                            else _t_interval(ex[0]))
                theory = expected_max_cosine(lam, d)
                se = float(fo.std(ddof=1) / np.sqrt(fo.size))
                z = (float(fo.mean()) - theory) / se if se > 0 else 0.0
                zs.append(z)
                row = {"cos_mean": comb["cos_mean"], "cos_ci_low": comb["cos_ci_low"],
                       "cos_ci_high": comb["cos_ci_high"], "cos_exact_mean": ex_mean,
                       "cos_exact_low": ex_low, "cos_exact_high": ex_high,
                       "theory_exact": theory, "theory_normal": normal[lam] / np.sqrt(d),
                       "theory_asymptotic": float(np.sqrt(2 * np.log(lam) / d)),
                       "se": se, "z": z}
                rec.append(f"curve/d{d}", lam, index="lambda", index_units="candidates",
                           units=dict.fromkeys(row, "1"), **row)
                if lam == lams[-1]:
                    for k, v in row.items():
                        summary[f"d{d}.{k}"] = v
                    for k in ("ci_method", "seeds_cos_mean", "seeds_cos_low",
                              "seeds_cos_high", "seeds_cos_n"):
                        summary[f"d{d}.{k}"] = comb[k]
                    summary[f"d{d}.log10_lambda_for_half"] = lambda_for_cosine(0.5, d)
                bar.update(1)
    zs = np.abs(np.array(zs))
    summary["n_cells"] = int(zs.size)
    summary["z_max"] = float(zs.max())
    # the |z| that all cells stay below with probability >= 0.95 if the theory holds
    # (Bonferroni; z uses the sample SE of seeds * trials values, hence Student's t)
    summary["z_bound"] = float(student_t.ppf(1 - 0.025 / zs.size, cfg.seeds * cfg.trials - 1))
    summary["verdict"] = verdict(summary, dims, lams[-1])
    ctx.summary(**summary)


def plot(run):
    from matplotlib.lines import Line2D

    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    s = run.summary
    fig, (ax1, ax2) = figure("double", height_ratio=0.32, ncols=2)
    dims = sorted(int(k.split(".")[0][1:]) for k in s if k.endswith(".theory_exact"))
    for i, d in enumerate(dims):
        t = run.series[f"curve/d{d}"]
        table = f"series/curve/d{d}"
        lam = np.asarray(t["lambda"], dtype=float)
        mean = np.asarray(t["cos_mean"])
        c = PALETTE[i % len(PALETTE)]
        traced(ax1.errorbar(lam, mean, yerr=[mean - np.asarray(t["cos_ci_low"]),
                                             np.asarray(t["cos_ci_high"]) - mean],
                            color=c, marker="o", ms=3, ls="none", capsize=2,
                            label=f"d = {d}"),
               x=src(f"{table}:lambda"), y=src(f"{table}:cos_mean"),
               ylow=src(f"{table}:cos_ci_low"), yhigh=src(f"{table}:cos_ci_high"))
        traced(ax1.plot(lam, t["theory_exact"], color=c, lw=0.9)[0],
               x=src(f"{table}:lambda"), y=src(f"{table}:theory_exact"))
        traced(ax1.plot(lam, t["theory_normal"], color=c, lw=0.7, ls="--")[0],
               x=src(f"{table}:lambda"), y=src(f"{table}:theory_normal"))
        traced(ax1.plot(lam, t["theory_asymptotic"], color=c, lw=0.7, ls=":")[0],
               x=src(f"{table}:lambda"), y=src(f"{table}:theory_asymptotic"))
        traced(ax2.plot(lam, t["z"], color=c, marker="o", ms=3, label=f"d = {d}")[0],
               x=src(f"{table}:lambda"), y=src(f"{table}:z"))
    traced(ax1.axhline(1.0, color="0.4", lw=0.8, ls="-.", label="gradient (lambda -> inf)"),
           y=1.0)
    # legend entries for the line styles only (not drawn on the axes)
    handles = [*ax1.get_legend_handles_labels()[0],
               Line2D([], [], color="0.3", lw=0.9, label="exact E[max]"),
               Line2D([], [], color="0.3", lw=0.7, ls="--", label="E[max of normals] / sqrt(d)"),
               Line2D([], [], color="0.3", lw=0.7, ls=":", label="sqrt(2 ln lambda / d)")]
    ax1.set_xscale("log")
    ax1.set_ylim(0.0, 1.25)
    ax1.set_xlabel("candidates lambda")
    ax1.set_ylabel("cos(best step, -grad)")
    ax1.legend(handles=handles, fontsize="x-small", ncols=2, loc="upper left")
    ax1.set_title("a  best of lambda random unit steps", loc="left")
    for z in (-s["z_bound"], s["z_bound"]):
        traced(ax2.axhline(z, color="0.6", lw=0.6, ls="--"), y=src("summary:z_bound") *
               (1 if z > 0 else -1))
    ax2.set_xscale("log")
    ax2.set_xlabel("candidates lambda")
    ax2.set_ylabel("(measured - exact) / SE")
    ax2.legend(fontsize="small")
    ax2.set_title("b  agreement with the exact expectation", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="claim-best-of-lambda",
    description="Claim: GD is selection among all local steps; best of lambda random steps "
                "vs the gradient.",
    config=BestOfLambdaConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             # about 12 minutes on one core (35 ns per candidate coordinate)
             "full": {"dims": [10, 30, 100, 300, 1000],
                      "lambdas": [1, 2, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000,
                                  100000],
                      "trials": 20, "seeds": 5}},
    claim=ClaimMeta(number=5, claim="GD is selection among all possible local steps.",
                    headline="d100.cos_mean", low="d100.cos_ci_low", high="d100.cos_ci_high",
                    label="cos(best of lambda_max unit steps, -grad), d = 100",
                    null="d100.theory_exact"),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
