"""Claim: TD is not the gradient of any objective (but on a reversible chain it is).

Issue 19, claim 2. A Markov chain with transition matrix ``P``, stationary distribution
``d`` (``D = diag(d)``), reward ``r(s)`` on leaving ``s``, discount ``gamma`` and linear
values ``V = Phi theta``. The expected TD(0) update (one step per transition, states drawn
from ``d``) is

    F(theta) = Phi^T D (r + gamma P Phi theta - Phi theta) = b + A theta,
    A = Phi^T D (gamma P - I) Phi,  b = Phi^T D r,

so its Jacobian is ``A``. Split ``A = S + K`` (symmetric, antisymmetric). The expected
update is computed here from the project's own critic
(:class:`plasticity.rl.TDCritic`, the TD error of every transition ``(s, s')`` weighted by
``d(s) P(s, s')``) and checked against the closed form (``td_field_error_max``).

Two chains, tabular features (``Phi = I``) for the field tests:

* ``reversible``: a random walk on a random weighted graph, ``P = W / rowsum(W)`` with
  ``W`` symmetric and positive, ``d`` proportional to the row sums. Detailed balance
  ``D P = (D P)^T`` makes ``A = gamma D P - D`` symmetric: the field is the negative
  gradient of ``J(theta) = theta^T D (I - gamma P) theta / 2 - theta^T D r`` (a quadratic
  that is neither the value error nor the Bellman error). Expected asymmetry: 0, at the
  finite-difference floor.
* ``cycle``: the deterministic 3-cycle, ``P`` a cyclic permutation, ``d = 1/3``. Then
  ``A = (gamma P - I) / 3``, whose antisymmetric part ``gamma (P - P^T) / 6`` gives the
  closed-form asymmetry ``||K||_F / ||A||_F = gamma / sqrt(2 (1 + gamma^2))``
  (``cycle.<gamma>.asymmetry_closed_form``), and eigenvalues ``(gamma omega - 1) / 3``
  (``omega`` the cube roots of unity), complex with imaginary parts
  ``+-gamma sqrt(3) / 6``. A field ``-G grad f`` with fixed positive-definite ``G`` has a
  Jacobian similar to a symmetric matrix, hence real eigenvalues: complex eigenvalues
  show that expected TD on the cycle is no gradient flow of any objective in any fixed
  metric, not only not a Euclidean one (``<chain>.<gamma>.imag_ratio``, the largest
  ``|Im|`` over the largest modulus of ``A``'s eigenvalues).

The Euclidean test is :func:`plasticity.analysis.field.field_asymmetry_over` on the
expected-update field at ``n_field_states`` random ``theta`` (``<chain>.<gamma>.asymmetry``,
mean over seeds and states; ``_max`` the largest). ``<chain>.<gamma>.potential_error`` is
the largest relative distance between ``F`` and ``-grad J`` with ``J`` built from the
symmetric part: 0 exactly when ``F`` is that gradient.

Residual-gradient TD (Baird 1995) follows the true gradient of the mean squared Bellman
error ``MSBE(theta) = ||r + gamma P Phi theta - Phi theta||_D^2 / 2``:
``F_RG = -Psi^T D (r - Psi theta)`` with ``Psi = (I - gamma P) Phi`` sign-flipped, whose
Jacobian ``-Psi^T D Psi`` is symmetric (``<chain>.<gamma>.rg_asymmetry``: floor).

Fixed points under function approximation (``n_features`` random Gaussian features on
the reversible chain, ``cycle_features`` on the cycle; with tabular features both fixed
points are the true values): ``theta_TD`` solves ``A theta + b = 0``, ``theta_RG``
minimises the MSBE. Reported as relative value errors ``||Phi theta - V_true||_D /
||V_true||_D`` with t-intervals over seeds (``<chain>.<gamma>.td_value_error_mean/low/
high``, ``rg_value_error_*``), the best any weights can do (the ``D``-projection of
``V_true``, ``best_value_error_mean``), the paired difference TD - RG
(``diff_value_error_*``) and the fraction of seeds where TD's error is the smaller
(``td_better_frac``).

``verdict`` words these numbers; nothing in it is fixed in advance.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from plasticity.errors import InvalidParameterError
from plasticity.experiment import ClaimMeta, Config, Experiment

CHAINS = ("reversible", "cycle")
CYCLE = np.roll(np.eye(3), 1, axis=1)  # s -> s + 1 (mod 3)


class TDClaimConfig(Config):
    gammas: list[Annotated[float, Field(ge=0, lt=1)]] = Field(
        [0.5, 0.7, 0.9, 0.99], min_length=1, description="discounts, each in [0, 1)")
    n_states: int = Field(6, ge=2, description="states of the reversible chain")
    n_features: int = Field(3, ge=1, description="random features on the reversible chain "
                                                 "(<= n_states) for the fixed points")
    cycle_features: int = Field(2, ge=1, le=3, description="random features on the 3-cycle")
    n_seeds: int = Field(8, ge=2, description="random chains, rewards and features; >= 2 "
                                              "for an interval over seeds")
    n_field_states: int = Field(2, ge=1, description="random theta per field test")
    eps: float = Field(1e-5, gt=0, lt=0.1, description="finite-difference relative step")
    floor_tol: float = Field(1e-6, gt=0, lt=1e-2, description="asymmetry pass threshold")


def reversible_chain(rng, n):
    """A random walk on a random complete weighted graph.

    Returns
    -------
    (ndarray, ndarray)
        ``P`` of shape (n, n) (rows sum to 1) and its stationary distribution ``d`` of
        shape (n,), which satisfies detailed balance ``d_i P_ij = d_j P_ji``.
    """
    M = rng.uniform(0.1, 1.0, (n, n))
    W = M + M.T
    deg = W.sum(axis=1)
    return W / deg[:, None], deg / deg.sum()


def expected_td_update(P, d, r, gamma, Phi, theta):
    """The expected TD(0) update from the project's critic, transition by transition.

    Parameters
    ----------
    P : ndarray, shape (n, n)
        Transition matrix.
    d : ndarray, shape (n,)
        State distribution the updates are drawn from.
    r : ndarray, shape (n,)
        Reward on leaving each state.
    gamma : float
    Phi : ndarray, shape (n, k)
        Features, one row per state.
    theta : ndarray, shape (k,)

    Returns
    -------
    ndarray, shape (k,)
        ``sum_{s, s'} d(s) P(s, s') delta(s, s') phi(s)`` with ``delta`` the TD error of
        :class:`plasticity.rl.TDCritic` (learning rate 1, no learning during the step).
    """
    from plasticity.rl import TDCritic

    critic = TDCritic(gamma=gamma, eta=1.0, lam=0.0)
    out = np.zeros(Phi.shape[1])
    for s, s2 in zip(*np.nonzero(P), strict=True):
        # a two-step trial [s, s'] with the reward at s: its first error is the
        # transition's r(s) + gamma V(s') - V(s)
        delta = critic.run_trial(Phi[[s, s2]], np.array([r[s], 0.0]), theta, learn=False)[0][0]
        out += d[s] * P[s, s2] * delta * Phi[s]
    return out


def td_matrices(P, d, r, gamma, Phi):
    """``A = Phi^T D (gamma P - I) Phi`` and ``b = Phi^T D r`` (the closed form)."""
    D = np.diag(d)
    return Phi.T @ D @ (gamma * P - np.eye(len(d))) @ Phi, Phi.T @ D @ r


def fixed_points(P, d, r, gamma, Phi):
    """TD's and residual gradient's fixed points and the true values.

    Returns
    -------
    dict
        ``v_true`` (n,), ``theta_td`` (k,), ``theta_rg`` (k,), ``theta_best`` (k,), the
        ``D``-weighted least-squares fit of ``v_true``.
    """
    n = len(d)
    D = np.diag(d)
    v = np.linalg.solve(np.eye(n) - gamma * P, r)
    A, b = td_matrices(P, d, r, gamma, Phi)
    Psi = (np.eye(n) - gamma * P) @ Phi
    return {"v_true": v, "theta_td": np.linalg.solve(-A, b),
            "theta_rg": np.linalg.solve(Psi.T @ D @ Psi, Psi.T @ D @ r),
            "theta_best": np.linalg.solve(Phi.T @ D @ Phi, Phi.T @ D @ v)}


def cycle_asymmetry(gamma):
    """Closed-form asymmetry of expected tabular TD on the deterministic 3-cycle."""
    return gamma / np.sqrt(2.0 * (1.0 + gamma**2))


def _dnorm(x, d):
    return float(np.sqrt(np.sum(d * x**2)))


def _glabel(gamma):
    return f"gamma{gamma:g}".replace(".", "p")


def _chain(name, rng, cfg):
    if name == "reversible":
        P, d = reversible_chain(rng, cfg.n_states)
        k = cfg.n_features
    else:
        P, d = CYCLE, np.full(3, 1.0 / 3.0)
        k = cfg.cycle_features
    n = len(d)
    return P, d, rng.standard_normal(n), rng.standard_normal((n, k))


def run(cfg: TDClaimConfig, ctx):
    from plasticity.analysis.field import field_asymmetry_over
    from plasticity.analysis.intervals import seeds_interval

    if cfg.n_features > cfg.n_states:
        raise InvalidParameterError(f"n_features={cfg.n_features} exceeds n_states="
                                    f"{cfg.n_states}: the TD fixed point is then not unique.")
    gammas = sorted(cfg.gammas)
    rngs = [ctx.child_rng() for _ in range(cfg.n_seeds)]
    rec = ctx.recorder
    keys = ("asym", "asym_cf", "rg_asym", "imag", "pot", "field_err", "td", "rg", "best",
            "gap")
    res = {(c, g): {k: [] for k in keys} for c in CHAINS for g in gammas}
    row = 0
    with ctx.progress(cfg.n_seeds * len(CHAINS), "claim-td") as bar:
        for seed, rng in enumerate(rngs):
            for ci, chain in enumerate(CHAINS):
                P, d, r, Phi = _chain(chain, rng, cfg)
                n = len(d)
                eye = np.eye(n)
                thetas = rng.standard_normal((cfg.n_field_states, n))
                for g in gammas:
                    out = res[(chain, g)]

                    def td_field(theta, P=P, d=d, r=r, g=g, eye=eye):
                        return expected_td_update(P, d, r, g, eye, theta)

                    A, b = td_matrices(P, d, r, g, eye)
                    Psi = eye - g * P

                    def rg_field(theta, Psi=Psi, d=d, r=r):
                        return Psi.T @ (d * (r - Psi @ theta))

                    asym = field_asymmetry_over(td_field, thetas, cfg.eps)
                    rg = field_asymmetry_over(rg_field, thetas, cfg.eps)
                    ev = np.linalg.eigvals(A)
                    sym = 0.5 * (A + A.T)
                    pot, ferr = 0.0, 0.0
                    for th in thetas:
                        F = td_field(th)
                        ferr = max(ferr, float(np.max(np.abs(F - (A @ th + b)))))
                        pot = max(pot, float(np.linalg.norm(F - (sym @ th + b))
                                             / np.linalg.norm(F)))
                    fp = fixed_points(P, d, r, g, Phi)
                    vn = _dnorm(fp["v_true"], d)
                    errs = {k: _dnorm(Phi @ fp[f"theta_{k}"] - fp["v_true"], d) / vn
                            for k in ("td", "rg", "best")}
                    gap = _dnorm(Phi @ (fp["theta_td"] - fp["theta_rg"]), d) / vn
                    vals = {"asym": asym["mean"], "asym_cf": cycle_asymmetry(g)
                            if chain == "cycle" else 0.0, "rg_asym": rg["max"],
                            "imag": float(np.max(np.abs(ev.imag)) / np.max(np.abs(ev))),
                            "pot": pot, "field_err": ferr, "gap": gap, **errs}
                    out["asym_max"] = max(out.get("asym_max", 0.0), asym["max"])
                    for k, v in vals.items():
                        out[k].append(v)
                    rec.append("runs", row, index="run", index_units="run",
                               units={"chain_index": "1", "seed": "1", "gamma": "1",
                                      "asymmetry": "1", "rg_asymmetry": "1",
                                      "imag_ratio": "1", "td_value_error": "1",
                                      "rg_value_error": "1", "best_value_error": "1"},
                               chain_index=ci, seed=seed, gamma=float(g),
                               asymmetry=asym["mean"], rg_asymmetry=rg["max"],
                               imag_ratio=vals["imag"], td_value_error=errs["td"],
                               rg_value_error=errs["rg"], best_value_error=errs["best"])
                    row += 1
                bar.update(1)

    summary = {"n_seeds": cfg.n_seeds, "floor_tol": cfg.floor_tol,
               "ci_method": f"t over {cfg.n_seeds} seeds", "n_states": cfg.n_states,
               "n_features": cfg.n_features, "cycle_features": cfg.cycle_features}
    field_err = 0.0
    for chain in CHAINS:
        for gi, g in enumerate(gammas):
            out = res[(chain, g)]
            pre = f"{chain}.{_glabel(g)}"
            cols = {"gamma": float(g)}
            for k in ("td", "rg", "best"):
                mean, low, high = seeds_interval(out[k])
                summary.update({f"{pre}.{k}_value_error_mean": mean,
                                f"{pre}.{k}_value_error_low": low,
                                f"{pre}.{k}_value_error_high": high})
                cols.update({f"{k}_mean": mean, f"{k}_low": low, f"{k}_high": high})
            diff = np.array(out["td"]) - np.array(out["rg"])
            mean, low, high = seeds_interval(diff)
            summary.update({
                f"{pre}.diff_value_error_mean": mean, f"{pre}.diff_value_error_low": low,
                f"{pre}.diff_value_error_high": high,
                f"{pre}.td_better_frac": float(np.mean(diff < 0)),
                f"{pre}.fixed_point_gap": float(np.mean(out["gap"])),
                f"{pre}.asymmetry": float(np.mean(out["asym"])),
                f"{pre}.asymmetry_max": float(out["asym_max"]),
                f"{pre}.rg_asymmetry_max": float(np.max(out["rg_asym"])),
                f"{pre}.imag_ratio": float(np.mean(out["imag"])),
                f"{pre}.potential_error": float(np.max(out["pot"])),
            })
            if chain == "cycle":
                summary[f"{pre}.asymmetry_closed_form"] = float(cycle_asymmetry(g))
                summary[f"{pre}.asymmetry_closed_form_error"] = float(np.max(np.abs(
                    np.array(out["asym"]) - np.array(out["asym_cf"]))))
            field_err = max(field_err, float(np.max(out["field_err"])))
            cols["asymmetry"] = summary[f"{pre}.asymmetry"]
            cols["rg_asymmetry"] = summary[f"{pre}.rg_asymmetry_max"]
            rec.append(f"gammas_{chain}", gi, index="gamma_index", index_units="1",
                       units=dict.fromkeys(cols, "1"), **cols)
    summary["td_field_error_max"] = field_err
    summary["verdict"] = verdict(summary, gammas, cfg.floor_tol)
    ctx.summary(**summary)


def verdict(s, gammas, tol):
    """The plain-words verdict, computed from the summary ``s``."""
    labs = [_glabel(g) for g in gammas]
    gs = f"gamma {gammas[0]:g} to {gammas[-1]:g}" if len(gammas) > 1 else f"gamma {gammas[0]:g}"
    out = []
    rev = max(s[f"reversible.{lab}.asymmetry_max"] for lab in labs)
    rev_imag = max(s[f"reversible.{lab}.imag_ratio"] for lab in labs)
    if rev <= tol:
        out.append(f"on the reversible chain expected tabular TD is a Euclidean gradient "
                   f"field at every {gs} (asymmetry {rev:.1e}, at the finite-difference "
                   f"floor <= {tol:.0e}; largest |Im|/|mu| of the eigenvalues "
                   f"{rev_imag:.1g}), the negative gradient of "
                   f"theta.D(I - gamma P)theta/2 - theta.Dr")
    else:
        out.append(f"on the reversible chain expected tabular TD is not a Euclidean "
                   f"gradient field (asymmetry up to {rev:.2g})")
    cyc = [s[f"cycle.{lab}.asymmetry"] for lab in labs]
    imag = min(s[f"cycle.{lab}.imag_ratio"] for lab in labs)
    cf = max(s[f"cycle.{lab}.asymmetry_closed_form_error"] for lab in labs)
    if min(cyc) > tol:
        out.append(f"on the deterministic 3-cycle it is not (asymmetry {min(cyc):.2f} to "
                   f"{max(cyc):.2f} over {gs}, the closed form gamma/sqrt(2(1+gamma^2)) to "
                   f"{cf:.0e})")
    else:
        out.append(f"on the 3-cycle the asymmetry fell to the floor at some gamma "
                   f"({min(cyc):.1e})")
    if imag > 1e-6:
        out.append(f"its Jacobian there has complex eigenvalues (|Im|/|mu| >= {imag:.2f}), "
                   f"so it is no gradient flow of any objective in any fixed metric")
    rg = max(s[f"{c}.{lab}.rg_asymmetry_max"] for c in CHAINS for lab in labs)
    out.append(f"residual-gradient TD is a Euclidean gradient field on both chains "
               f"(asymmetry <= {rg:.1e})" if rg <= tol else
               f"residual-gradient TD's asymmetry reached {rg:.2g}, above the floor")
    gaps = [s[f"{c}.{lab}.fixed_point_gap"] for c in CHAINS for lab in labs]
    out.append(f"with linear features the TD and residual-gradient fixed points differ "
               f"(relative distance {min(gaps):.2g} to {max(gaps):.2g}, mean over seeds)")
    for chain in CHAINS:
        parts = []
        for lab, g in zip(labs, gammas, strict=True):
            pre = f"{chain}.{lab}"
            lo, hi = s[f"{pre}.diff_value_error_low"], s[f"{pre}.diff_value_error_high"]
            who = ("TD lower" if hi < 0 else "RG lower" if lo > 0 else "no clear difference")
            parts.append(f"gamma {g:g}: TD {s[f'{pre}.td_value_error_mean']:.2f}, RG "
                         f"{s[f'{pre}.rg_value_error_mean']:.2f}, best "
                         f"{s[f'{pre}.best_value_error_mean']:.2f} ({who})")
        out.append(f"relative value error of the fixed points with linear features on the "
                   f"{chain} chain (mean over seeds): " + ", ".join(parts))
    # the brief (first sentence), from the two chains' tests
    cycle_not = min(cyc) > tol and imag > 1e-6
    if cycle_not and rev <= tol:
        head = ("Partly: expected TD(0) is no gradient flow of any objective in any fixed "
                "metric on the cyclic chain (complex eigenvalues), but on the reversible "
                "chain it is a Euclidean gradient field.")
    elif cycle_not:
        head = ("Supported: expected TD(0) is no gradient flow in any fixed metric on the "
                "cyclic chain and not a Euclidean gradient field on the reversible one.")
    elif min(cyc) > tol:
        head = ("Partly: expected TD(0) is not a Euclidean gradient field on the cyclic "
                "chain, but no complex eigenvalues were found to rule out other metrics.")
    else:
        head = "Not supported: expected TD(0) passed the gradient-field test on both chains."
    body = "; ".join(out)
    return f"{head} In detail: {body[0].upper()}{body[1:]}."


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, axes = figure("double", height_ratio=0.36, ncols=3)
    ax1 = axes[0]
    floor = float(run.summary["floor_tol"])

    def clip(v):
        return np.maximum(np.asarray(v, dtype=float), 1e-16)

    for ci, chain in enumerate(CHAINS):
        t = run.series[f"gammas_{chain}"]
        g_src = src(f"series/gammas_{chain}:gamma")
        g = np.asarray(t["gamma"])
        traced(ax1.plot(g, clip(t["asymmetry"]), "o-", ms=3, color=PALETTE[ci],
                        label=f"TD, {chain[:3]}.")[0],
               x=g_src, y=src(f"series/gammas_{chain}:asymmetry").map(clip, "max_1e-16"))
        traced(ax1.plot(g, clip(t["rg_asymmetry"]), "s--", ms=3, mfc="none",
                        color=PALETTE[ci], label=f"RG, {chain[:3]}.")[0],
               x=g_src, y=src(f"series/gammas_{chain}:rg_asymmetry").map(clip, "max_1e-16"))
    gg = np.linspace(0.0, 0.999, 100)
    traced(ax1.plot(gg, cycle_asymmetry(gg), color="0.3", lw=0.6, ls=":",
                    label=r"$\gamma/\sqrt{2(1+\gamma^2)}$")[0], x=gg, y=cycle_asymmetry(gg))
    traced(ax1.axhline(floor, color="0.6", lw=0.6, ls="--"), y=src("summary:floor_tol"))
    ax1.set_yscale("log")
    ax1.set_ylim(1e-16, 2.0)
    ax1.set_xlabel(r"discount $\gamma$")
    ax1.set_ylabel(r"asymmetry $\|A\|_F/\|J\|_F$")
    ax1.legend(fontsize="xx-small", loc="lower left")
    ax1.set_title("a  expected-update field", loc="left", fontsize="small")

    for ci, chain in enumerate(CHAINS):
        ax = axes[ci + 1]
        t = run.series[f"gammas_{chain}"]
        g = np.asarray(t["gamma"])
        g_src = src(f"series/gammas_{chain}:gamma")
        for i, (k, name) in enumerate((("td", "TD"), ("rg", "residual gradient"),
                                       ("best", "best linear fit"))):
            mean, low, high = (np.asarray(t[f"{k}_{q}"]) for q in ("mean", "low", "high"))
            traced(ax.errorbar(g, mean, yerr=[mean - low, high - mean], color=PALETTE[i],
                               marker="osD"[i], ms=3, lw=1.0, capsize=2, label=name),
                   x=g_src, y=src(f"series/gammas_{chain}:{k}_mean"),
                   ylow=src(f"series/gammas_{chain}:{k}_low"),
                   yhigh=src(f"series/gammas_{chain}:{k}_high"))
        ax.set_xlabel(r"discount $\gamma$")
        ax.set_ylabel(r"$\|\Phi\theta - V\|_D / \|V\|_D$")
        ax.legend(fontsize="xx-small")
        ax.set_title(f"{'bc'[ci]}  fixed points, {chain} chain", loc="left",
                     fontsize="small")
    return fig


EXPERIMENT = Experiment(
    name="claim-td",
    description="Claim: TD is no gradient of any objective: symmetric on a reversible "
                "chain, asymmetric on a 3-cycle; against residual-gradient TD.",
    config=TDClaimConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"n_seeds": 64, "n_states": 10, "n_features": 4,
                                   "n_field_states": 4,
                                   "gammas": [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]}},
    claim=ClaimMeta(number=2, claim="TD is not the gradient of any objective.",
                    headline="cycle.gamma0p9.asymmetry",
                    label="field asymmetry, TD(0) on a 3-cycle, gamma 0.9", null=0.0),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
