"""Claim: momentum's updates are not the gradient of any loss, and the rotation helps.

Issue 19, claim 1. Heavy ball on a quadratic ``f(x) = x^T H x / 2`` (``d`` dimensions,
minimum at 0, Hessian eigenvalues ``1 = lambda_1 <= ... <= lambda_d = kappa``, the inner
ones log-uniform, eigenvectors a random rotation):

    x_{k+1} = x_k - a grad f(x_k) + b (x_k - x_{k-1}).

The joint state is ``z = (x, v)`` with ``v_k = x_k - x_{k-1}``, and one step is
``v' = b v - a H x``, ``x' = x + v'``; its update field ``F(z) = T(z) - z`` has Jacobian

    J = [[-a H, b I], [-a H, (b - 1) I]],

and ``M = I + J`` is the iteration matrix. Per eigenvalue ``lambda`` of ``H`` (in the
similar coordinates ``(x_k, x_{k-1})``) ``M`` has the block ``[[1 + b - a lambda, -b],
[1, 0]]``, whose eigenvalues solve ``mu^2 - (1 + b - a lambda) mu + b = 0``: a complex
pair with ``|mu| = sqrt(b)`` whenever ``(1 + b - a lambda)^2 < 4 b``.

What is tested, and what each number shows:

* Euclidean field test (:func:`plasticity.analysis.field.field_asymmetry_over`) on ``F``
  at ``n_states`` random joint states: ``<kappa>.hb_asymmetry``. Its closed form is
  ``||b I + a H||_F / sqrt(2 ||J||_F^2)`` (``<kappa>.hb_asymmetry_closed_form``). Control:
  plain GD lifted into the same coordinates (``b = 0``, ``v' = -a H x``) is *also*
  asymmetric there (``<kappa>.gd_lift_asymmetry``): in the joint coordinates the Euclidean
  test alone does not separate momentum from a gradient method.
* The coordinate-free witness: complex eigenvalues. A step ``z -> z - P grad L(z)`` with a
  fixed positive-definite ``P`` has iteration matrix ``I - P Hess L`` near a minimum,
  similar to the symmetric ``I - P^{1/2} Hess L P^{1/2}``: its eigenvalues are real. So
  complex eigenvalues of ``M`` show that heavy ball is, near the minimum, no gradient step
  of any loss in any fixed metric (the same holds for the flow ``J``). Measured on the
  finite-difference Jacobian: ``<kappa>.hb_complex_frac`` (fraction of Hessian modes whose
  pair is complex, from ``M``'s eigenvalues with imaginary part above ``1e-6``),
  ``<kappa>.hb_eig_error_max`` (largest distance to the closed-form roots after optimal
  matching; at the two end modes the pair is a double root, a Jordan block, where an
  entry error ``e ~ 1e-10`` of the finite differences moves the eigenvalues by
  ``~sqrt(e) ~ 1e-5``), ``<kappa>.hb_modulus_error_max`` (largest ``| |mu| - sqrt(b) |``).
  GD's lifted ``M`` has the real eigenvalues ``1 - a lambda`` and 0
  (``<kappa>.gd_complex_frac``).
* Convergence, each at Polyak's optimal parameters: GD ``a = 2 / (L + mu)``, rate
  ``(kappa - 1) / (kappa + 1)``; heavy ball ``a = 4 / (sqrt(L) + sqrt(mu))^2``,
  ``b = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2``, rate ``sqrt(b)``. Measured:
  iterations until ``||x_k|| <= tol ||x_0||`` (``<kappa>.gd_iters_mean/low/high``,
  ``hb_iters_*``: t-intervals over seeds), against ``ln(1/tol) / -ln(rate)``
  (``*_iters_pred``), and the log-log slope of iterations against kappa per seed
  (``gd_slope_*``, ``hb_slope_*``; Polyak's rates give ``*_slope_pred``, which tend to 1
  and 1/2 as kappa grows).
* Ablation of the rotation: the best heavy ball whose eigenvalues are real for every
  Hessian eigenvalue in ``[mu, L]`` (``hb_real``; :func:`real_spectrum_best`), its
  momentum ``<kappa>.hb_real_momentum`` and rate ``<kappa>.hb_real_rate`` (searched on a
  grid of ``n_b_grid`` values), ``hb_real_iters_*``, ``hb_real_slope_*``. If the best
  real-spectrum momentum is no faster than GD (for ``kappa > 2`` it turns out to be GD
  itself, ``b = 0``) while complex momentum is, the speed-up comes with the rotation.

Heavy ball's measured iterations exceed ``ln(1/tol) / -ln(sqrt(b))`` by up to ~30%: the
two end modes are Jordan blocks (double roots), whose error decays like
``k sqrt(b)^k``, not ``sqrt(b)^k``.

A small network (``network=true``): a tanh student (``net_inputs``-``net_hidden``-1) of a
teacher of the same shape (:class:`~plasticity.tasks.supervised.TanhTeacher`) on a fixed
batch of ``net_batch`` samples, from the same initial weights per seed. Each method is
tuned on a grid (GD over the steps ``net_steps``; heavy ball over ``net_steps`` x
``net_momenta``, a larger tuning budget, stated here) and the best count of iterations to
reach ``loss <= net_tol * loss_0`` is kept (the loss is checked every 10 iterations, so
counts are multiples of 10; a run is abandoned once it exceeds the best count so far or
diverges; one that never reaches the target counts as ``net_max_iter + 1``). Reported:
medians ``net.gd_iters_median``, ``net.hb_iters_median``, how many seeds reached the
target (``net.gd_reached``, ``net.hb_reached``), the speed-up ``gd / hb`` as a geometric
mean with a t-interval over seeds on the log scale (``net.speedup_geomean``, ``_low``,
``_high``; a lower bound where GD never reached the target) and ``net.hb_faster_frac``.
At the end point of the best heavy-ball run (near a minimum) the joint field of that
``(a, b)`` is tested (``net.hb_asymmetry``, shared field test; GD's lift:
``net.gd_asymmetry``) and the eigenvalues of ``I + J`` (finite differences of the
gradient) are compared with the closed-form roots for the eigenvalues of the symmetrised
finite-difference Hessian there (``net.hb_eig_error_max``; at ``v = 0`` the identity is
exact up to that Hessian's asymmetry, so this checks the block formula on a network's
spectrum). ``net.hb_complex_frac`` is the fraction of Hessian modes with a complex pair
(smallest over seeds): flat directions, ``lambda ~ 0``, have the real pair ``1, b``.

``verdict`` words these numbers; nothing in it is fixed in advance.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from plasticity.experiment import ClaimMeta, Config, Experiment

METHODS = ("gd", "hb", "hb_real")
NAMES = {"gd": "GD", "hb": "heavy ball", "hb_real": "heavy ball, real spectrum"}


class MomentumConfig(Config):
    kappas: list[Annotated[float, Field(ge=1, allow_inf_nan=False)]] = Field(
        [10.0, 100.0, 1000.0], min_length=1,
        description="condition numbers L / mu of the quadratics (each >= 1)")
    dim: int = Field(20, ge=2, description="dimension d of the quadratic")
    n_seeds: int = Field(4, ge=2, description="random quadratics (rotation, spectrum, "
                                             "start); >= 2 for an interval over seeds")
    tol: float = Field(1e-6, gt=0, lt=1, description="target ||x_k|| / ||x_0||")
    max_iter: int = Field(200_000, ge=1, description="iteration cap per run")
    n_states: int = Field(2, ge=1, description="random joint states of the field test")
    eps: float = Field(1e-5, gt=0, lt=0.1, description="finite-difference relative step")
    floor_tol: float = Field(1e-6, gt=0, lt=1e-2, description="asymmetry pass threshold")
    n_b_grid: int = Field(2000, ge=10, description="grid of b for the real-spectrum ablation")
    network: bool = Field(True, description="also run the small tanh network")
    net_inputs: int = Field(4, ge=1, description="inputs of the network")
    net_hidden: int = Field(4, ge=1, description="hidden tanh units of student and teacher")
    net_batch: int = Field(64, ge=1, description="samples in the fixed batch")
    net_tol: float = Field(1e-3, gt=0, lt=1, description="target loss / initial loss")
    net_max_iter: int = Field(3000, ge=10, description="iteration cap of a network run")
    net_steps: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        [0.1, 0.178, 0.316, 0.562, 1.0, 1.78, 3.16, 5.62, 10.0], min_length=1,
        description="step sizes a tried on the network (both methods)")
    net_momenta: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        [0.5, 0.7, 0.8, 0.9, 0.95], min_length=1,
        description="momenta b tried on the network (heavy ball)")


def polyak(kappa, mu=1.0):
    """Polyak's optimal parameters and rates on a quadratic with spectrum in [mu, kappa mu].

    Parameters
    ----------
    kappa : float
        Condition number, >= 1.
    mu : float
        Smallest Hessian eigenvalue.

    Returns
    -------
    dict
        ``gd_a``, ``gd_rate``, ``hb_a``, ``hb_b``, ``hb_rate`` (floats).
    """
    L = kappa * mu
    sk = np.sqrt(kappa)
    return {"gd_a": 2.0 / (L + mu), "gd_rate": (kappa - 1.0) / (kappa + 1.0),
            "hb_a": 4.0 / (np.sqrt(L) + np.sqrt(mu)) ** 2,
            "hb_b": ((sk - 1.0) / (sk + 1.0)) ** 2, "hb_rate": (sk - 1.0) / (sk + 1.0)}


def block_roots(lams, a, b):
    """Closed-form eigenvalues of the heavy-ball iteration matrix.

    Parameters
    ----------
    lams : array_like, shape (d,)
        Hessian eigenvalues.
    a, b : float
        Step and momentum.

    Returns
    -------
    ndarray, shape (d, 2), complex
        The roots of ``mu^2 - (1 + b - a lambda) mu + b = 0`` per eigenvalue.
    """
    t = 1.0 + b - a * np.asarray(lams, dtype=np.float64)
    disc = np.sqrt((t**2 - 4.0 * b).astype(complex))
    return np.stack([(t + disc) / 2.0, (t - disc) / 2.0], axis=1)


def iteration_matrix(H, a, b):
    """The heavy-ball iteration matrix on ``z = (x, v)``, shape (2d, 2d)."""
    d = H.shape[0]
    eye = np.eye(d)
    # v' = b v - a H x; x' = x + v'
    return np.block([[eye - a * H, b * eye], [-a * H, b * eye]])


def asymmetry_closed_form(H, a, b):
    """``||A||_F / ||J||_F`` of the heavy-ball field's Jacobian ``J = M - I``."""
    d = H.shape[0]
    eye = np.eye(d)
    anti = np.linalg.norm(b * eye + a * H) / np.sqrt(2.0)
    total = np.sqrt(2.0 * a**2 * np.linalg.norm(H) ** 2 + (b**2 + (1.0 - b) ** 2) * d)
    return float(anti / total)


def real_spectrum_best(lams, n_grid):
    """The heavy ball with the smallest spectral radius among those whose iteration matrix
    has only real eigenvalues for every Hessian eigenvalue in ``[min(lams), max(lams)]``.

    A mode's pair is real iff ``a lambda`` lies outside the gap
    ``((1 - sqrt(b))^2, (1 + sqrt(b))^2)``; for a whole interval ``[a mu, a L]`` (a
    connected set) that means all of it below the gap, all above, or ``b = 0`` (no gap).
    Above the gap needs ``a mu >= (1 + sqrt(b))^2`` and, for stability, ``a L < 2 (1 + b)``,
    possible only when ``kappa < 2``; it is not searched. Candidates: GD at its optimal
    step (``b = 0``), and ``a = (1 - sqrt(b))^2 / L`` (the largest step below the gap; the
    slow mode is fastest there) on a grid of ``n_grid`` values of ``sqrt(b)`` in [0, 1).

    Parameters
    ----------
    lams : array_like, shape (d,)
        Hessian eigenvalues (the rate is the largest modulus over these).
    n_grid : int
        Grid size.

    Returns
    -------
    (float, float, float)
        ``(a, b, rate)``.
    """
    lams = np.asarray(lams, dtype=np.float64)
    L, mu = float(lams.max()), float(lams.min())
    a_gd = 2.0 / (L + mu)
    best = (a_gd, 0.0, float(np.max(np.abs(1.0 - a_gd * lams))))
    for si in np.linspace(0.0, 1.0, n_grid, endpoint=False):
        a, b = (1.0 - si) ** 2 / L, si**2
        rate = float(np.max(np.abs(block_roots(lams, a, b))))
        if rate < best[2]:
            best = (a, b, rate)
    return best


def iterations(H, x0, a, b, tol, max_iter, record=None):
    """Iterations of heavy ball (GD for ``b = 0``) until ``||x_k|| <= tol ||x_0||``.

    Returns the count (``max_iter + 1`` if never reached); ``record``, a list, gets
    ``||x_k|| / ||x_0||`` for k = 0, 1, ...
    """
    x, v = x0.copy(), np.zeros_like(x0)
    target = tol * np.linalg.norm(x0)
    n0 = np.linalg.norm(x0)
    for k in range(max_iter + 1):
        nk = np.linalg.norm(x)
        if record is not None:
            record.append(nk / n0)
        if nk <= target:
            return k
        v = b * v - a * (H @ x)
        x = x + v
    return max_iter + 1


def _quadratic(rng, d, kappa):
    lams = np.concatenate([[1.0, kappa], np.exp(rng.uniform(0.0, np.log(kappa), d - 2))])
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return Q @ np.diag(lams) @ Q.T, np.sort(lams)


def _label(kappa):
    return f"kappa{kappa:g}"


def _match_error(numeric, closed):
    from scipy.optimize import linear_sum_assignment

    cost = np.abs(numeric[:, None] - closed[None, :])
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].max())


def _slope(kappas, iters):
    if len(kappas) < 2:
        return np.nan
    return float(np.polyfit(np.log(kappas), np.log(iters), 1)[0])


def run(cfg: MomentumConfig, ctx):
    from plasticity.analysis.field import field_asymmetry_over, jacobian
    from plasticity.analysis.intervals import seeds_interval

    kappas = sorted(cfg.kappas)
    rngs = [ctx.child_rng() for _ in range(cfg.n_seeds)]
    rec = ctx.recorder
    d = cfg.dim
    iters = {m: np.zeros((cfg.n_seeds, len(kappas))) for m in METHODS}
    per = {k: {key: [] for key in ("hb_asym", "gd_asym", "cf", "cplx", "gd_cplx", "eig",
                                   "mod")} for k in kappas}
    rates = {}
    row = 0
    with ctx.progress(cfg.n_seeds * len(kappas), "claim-momentum") as bar:
        for s, rng in enumerate(rngs):
            for j, kappa in enumerate(kappas):
                H, lams = _quadratic(rng, d, kappa)
                x0 = rng.standard_normal(d)
                p = polyak(kappa)
                a_r, b_r, rate_r = real_spectrum_best(lams, cfg.n_b_grid)
                rates[kappa] = (p["gd_rate"], p["hb_rate"], p["hb_b"])
                params = {"gd": (p["gd_a"], 0.0), "hb": (p["hb_a"], p["hb_b"]),
                          "hb_real": (a_r, b_r)}
                per[kappa].setdefault("real_rate", []).append(rate_r)
                per[kappa].setdefault("real_b", []).append(b_r)
                last = s == 0 and j == len(kappas) - 1
                for m, (a, b) in params.items():
                    curve = [] if last else None
                    iters[m][s, j] = iterations(H, x0, a, b, cfg.tol, cfg.max_iter, curve)
                    if last:
                        for k, e in enumerate(curve):
                            rec.append(f"curve_{m}", k, index="iteration",
                                       index_units="iteration", units={"error": "1"},
                                       error=float(e))
                a, b = params["hb"]
                M = iteration_matrix(H, a, b)

                def hb_field(z, M=M):
                    return M @ z - z

                G = iteration_matrix(H, p["gd_a"], 0.0)

                def gd_field(z, G=G):
                    return G @ z - z

                states = rng.standard_normal((cfg.n_states, 2 * d))
                per[kappa]["hb_asym"].append(field_asymmetry_over(hb_field, states,
                                                                  cfg.eps)["mean"])
                per[kappa]["gd_asym"].append(field_asymmetry_over(gd_field, states,
                                                                  cfg.eps)["mean"])
                per[kappa]["cf"].append(asymmetry_closed_form(H, a, b))
                M_fd = np.eye(2 * d) + jacobian(hb_field, states[0], cfg.eps)
                eig = np.linalg.eigvals(M_fd)
                closed = block_roots(lams, a, b)
                per[kappa]["eig"].append(_match_error(eig, closed.ravel()))
                per[kappa]["mod"].append(float(np.max(np.abs(np.abs(eig) - np.sqrt(b)))))
                per[kappa]["cplx"].append(float(np.sum(eig.imag > 1e-6)) / d)
                eig_gd = np.linalg.eigvals(np.eye(2 * d) + jacobian(gd_field, states[0],
                                                                    cfg.eps))
                per[kappa]["gd_cplx"].append(float(np.sum(eig_gd.imag > 1e-6)) / d)
                if last:
                    for i, (e, c) in enumerate(zip(eig, _matched(eig, closed.ravel()),
                                                   strict=True)):
                        rec.append("eigenvalues", i, index="eigenvalue", index_units="1",
                                   units={"real": "1", "imag": "1", "closed_real": "1",
                                          "closed_imag": "1"},
                                   real=float(e.real), imag=float(e.imag),
                                   closed_real=float(c.real), closed_imag=float(c.imag))
                rec.append("runs", row, index="run", index_units="run",
                           units={"seed": "1", "kappa": "1", "gd_iters": "iteration",
                                  "hb_iters": "iteration", "hb_real_iters": "iteration"},
                           seed=s, kappa=float(kappa), gd_iters=int(iters["gd"][s, j]),
                           hb_iters=int(iters["hb"][s, j]),
                           hb_real_iters=int(iters["hb_real"][s, j]))
                row += 1
                bar.update(1)

    summary = {"n_seeds": cfg.n_seeds, "dim": d, "tol": cfg.tol, "floor_tol": cfg.floor_tol,
               "ci_method": f"t over {cfg.n_seeds} seeds"}
    log_tol = np.log(1.0 / cfg.tol)
    preds = {m: [] for m in METHODS}
    for j, kappa in enumerate(kappas):
        lab = _label(kappa)
        gd_rate, hb_rate, hb_b = rates[kappa]
        real_rate = float(np.mean(per[kappa]["real_rate"]))
        cols = {"kappa": float(kappa)}
        for m, rate in (("gd", gd_rate), ("hb", hb_rate), ("hb_real", real_rate)):
            mean, low, high = seeds_interval(iters[m][:, j])
            pred = log_tol / -np.log(rate) if 0 < rate < 1 else 0.0
            preds[m].append(max(pred, 1.0))
            summary.update({f"{lab}.{m}_iters_mean": mean, f"{lab}.{m}_iters_low": low,
                            f"{lab}.{m}_iters_high": high, f"{lab}.{m}_iters_pred": pred,
                            f"{lab}.{m}_rate": rate})
            cols.update({f"{m}_mean": mean, f"{m}_low": low, f"{m}_high": high,
                         f"{m}_pred": pred})
        rec.append("iterations", j, index="kappa_index", index_units="1",
                   units={key: ("1" if key == "kappa" else "iteration") for key in cols},
                   **cols)
        pk = per[kappa]
        summary.update({
            f"{lab}.hb_momentum": hb_b,
            f"{lab}.hb_real_momentum": float(np.max(pk["real_b"])),
            f"{lab}.hb_asymmetry": float(np.mean(pk["hb_asym"])),
            f"{lab}.hb_asymmetry_closed_form": float(np.mean(pk["cf"])),
            f"{lab}.hb_asymmetry_closed_form_error": float(np.max(np.abs(
                np.array(pk["hb_asym"]) - np.array(pk["cf"])))),
            f"{lab}.gd_lift_asymmetry": float(np.mean(pk["gd_asym"])),
            f"{lab}.hb_complex_frac": float(np.min(pk["cplx"])),
            f"{lab}.gd_complex_frac": float(np.max(pk["gd_cplx"])),
            f"{lab}.hb_eig_error_max": float(np.max(pk["eig"])),
            f"{lab}.hb_modulus_error_max": float(np.max(pk["mod"])),
            f"{lab}.speedup": float(np.mean(iters["gd"][:, j] / iters["hb"][:, j])),
        })
    for m in METHODS:
        slopes = [_slope(kappas, iters[m][s]) for s in range(cfg.n_seeds)]
        mean, low, high = (seeds_interval(slopes) if np.all(np.isfinite(slopes))
                           else (np.nan, np.nan, np.nan))
        summary.update({f"{m}_slope_mean": mean, f"{m}_slope_low": low,
                        f"{m}_slope_high": high, f"{m}_slope_pred": _slope(kappas, preds[m])})
    if cfg.network:
        nets = [_network(cfg, ctx.child_rng()) for _ in range(cfg.n_seeds)]
        gd_n = np.array([r["gd_iters"] for r in nets], dtype=float)
        hb_n = np.array([r["hb_iters"] for r in nets], dtype=float)
        cap = cfg.net_max_iter
        # a run that never reached the target counts as cap + 1, a lower bound: the
        # speed-up gd / hb is then a lower bound (gd censored) or an upper one (hb)
        mean, low, high = seeds_interval(np.log(gd_n / hb_n))
        summary.update({
            "net.gd_iters_median": float(np.median(gd_n)),
            "net.hb_iters_median": float(np.median(hb_n)),
            "net.gd_reached": int(np.sum(gd_n <= cap)),
            "net.hb_reached": int(np.sum(hb_n <= cap)),
            "net.speedup_geomean": float(np.exp(mean)), "net.speedup_low": float(np.exp(low)),
            "net.speedup_high": float(np.exp(high)),
            "net.hb_faster_frac": float(np.mean(hb_n < gd_n)),
        })
        for key in ("hb_asymmetry", "hb_complex_frac", "hb_eig_error_max", "gd_asymmetry"):
            vals = [r[key] for r in nets]
            summary[f"net.{key}"] = float(np.max(vals) if key.endswith("max")
                                          else np.min(vals) if key == "hb_complex_frac"
                                          else np.mean(vals))
        summary["net.n_params"] = nets[0]["n_params"]
        for s_i, r in enumerate(nets):
            rec.append("network", s_i, index="seed", index_units="1",
                       units={"gd_iters": "iteration", "hb_iters": "iteration", "gd_a": "1",
                              "hb_a": "1", "hb_b": "1", "hb_complex_frac": "1"},
                       gd_iters=r["gd_iters"], hb_iters=r["hb_iters"], gd_a=r["gd_a"],
                       hb_a=r["hb_a"], hb_b=r["hb_b"], hb_complex_frac=r["hb_complex_frac"])
    summary["verdict"] = verdict(summary, kappas, cfg.max_iter)
    ctx.summary(**summary)


def _network(cfg, rng):
    """One seed of the network comparison (see the module docstring)."""
    from plasticity.analysis.field import field_asymmetry_over, jacobian
    from plasticity.analysis.flat import flatten, unflatten
    from plasticity.tasks.supervised import TanhTeacher

    task = TanhTeacher(cfg.net_inputs, cfg.net_hidden, 1, rng, n_eval=1)
    net = task.student(cfg.net_hidden, activation="tanh")
    like = net.init_params(rng)
    batch = task.batch(cfg.net_batch, rng)

    def grad(theta):
        return flatten(task.gradient(net, unflatten(theta, like), batch))

    def loss(theta):
        return float(task.loss(net, unflatten(theta, like), batch))

    theta0 = flatten(like)
    target, cap = cfg.net_tol * loss(theta0), cfg.net_max_iter

    def count(a, b, limit):
        x, v = theta0.copy(), np.zeros_like(theta0)
        for k in range(limit + 1):
            if k % 10 == 0:
                val = loss(x)
                if val <= target:
                    return k, x
                if not np.isfinite(val) or val > 1e3 * target / cfg.net_tol:
                    break
            v = b * v - a * grad(x)
            x = x + v
        return cap + 1, x

    best = {"gd": (cap + 1, None, None, None), "hb": (cap + 1, None, None, None)}
    for m, momenta in (("gd", (0.0,)), ("hb", cfg.net_momenta)):
        for b in momenta:
            for a in cfg.net_steps:
                # stop a run once it is slower than the best so far: only the best counts
                k, x = count(a, b, min(cap, best[m][0]))
                if k < best[m][0]:
                    best[m] = (k, x, a, b)
    out = {"gd_iters": best["gd"][0], "hb_iters": best["hb"][0], "n_params": theta0.size,
           "gd_a": best["gd"][2] or np.nan, "hb_a": best["hb"][2] or np.nan,
           "hb_b": best["hb"][3] if best["hb"][3] is not None else np.nan}
    k, x_end, a, b = best["hb"]
    if x_end is None:  # no heavy-ball run converged: test at the start with the first (a, b) tried
        x_end, a, b = theta0, cfg.net_steps[0], cfg.net_momenta[0]
    n = theta0.size

    def hb_field(z):
        x, v = z[:n], z[n:]
        v_new = b * v - a * grad(x)
        return np.concatenate([v_new, v_new - v])

    def gd_field(z):
        x, v = z[:n], z[n:]
        v_new = -a * grad(x)
        return np.concatenate([v_new, v_new - v])

    states = np.concatenate([x_end + 0.01 * rng.standard_normal((cfg.n_states, n)),
                             0.01 * rng.standard_normal((cfg.n_states, n))], axis=1)
    out["hb_asymmetry"] = field_asymmetry_over(hb_field, states, cfg.eps)["mean"]
    out["gd_asymmetry"] = field_asymmetry_over(gd_field, states, cfg.eps)["mean"]
    z_end = np.concatenate([x_end, np.zeros(n)])
    eig = np.linalg.eigvals(np.eye(2 * n) + jacobian(hb_field, z_end, cfg.eps))
    H = jacobian(grad, x_end, cfg.eps)
    lams = np.linalg.eigvalsh(0.5 * (H + H.T))
    closed = block_roots(lams, a, b)
    out["hb_eig_error_max"] = _match_error(eig, closed.ravel())
    out["hb_complex_frac"] = float(np.mean(np.abs(closed[:, 0].imag) > 1e-6))
    return out


def _matched(numeric, closed):
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(np.abs(numeric[:, None] - closed[None, :]))
    out = np.empty_like(closed)
    out[r] = closed[c]
    return out


def verdict(s, kappas, max_iter):
    """The plain-words verdict, computed from the summary ``s``."""
    labs = [_label(k) for k in kappas]
    cplx = min(s[f"{lab}.hb_complex_frac"] for lab in labs)
    gd_cplx = max(s[f"{lab}.gd_complex_frac"] for lab in labs)
    modulus = max(s[f"{lab}.hb_modulus_error_max"] for lab in labs)
    asym = min(s[f"{lab}.hb_asymmetry"] for lab in labs)
    lift = min(s[f"{lab}.gd_lift_asymmetry"] for lab in labs)
    ks = ", ".join(f"{k:g}" for k in kappas)
    out = []
    if cplx > 0:
        out.append(f"at every kappa tested ({ks}) heavy ball's iteration matrix has complex "
                   f"eigenvalues (at least {cplx:.0%} of the Hessian modes), all within "
                   f"{modulus:.1g} of the circle |mu| = sqrt(b); a step -P grad L with a fixed "
                   f"positive-definite P has only real ones, so near the minimum heavy ball "
                   f"is no gradient step of any loss in any fixed metric")
    else:
        out.append(f"no complex eigenvalues found in heavy ball's iteration matrix at some "
                   f"kappa ({ks}): the coordinate-free test does not rule out a gradient step")
    out.append(f"GD lifted into the same (x, v) coordinates has {gd_cplx:.0%} complex modes")
    out.append(f"the Euclidean field test on the joint (x, v) field gives asymmetry >= "
               f"{asym:.2g}, but GD lifted there gives >= {lift:.2g} too, so that test alone "
               f"does not separate them")
    big = labs[-1]
    fails = [m for m in METHODS if any(s[f"{lab}.{m}_iters_mean"] > max_iter for lab in labs)]
    if fails:
        out.append(f"{', '.join(NAMES[m] for m in fails)} did not reach tol within "
                   f"{max_iter} iterations at some kappa")
    faster = all(s[f"{lab}.hb_iters_high"] < s[f"{lab}.gd_iters_low"]
                 for lab in labs)
    if len(kappas) >= 2:
        out.append(f"iterations to tol grow like kappa^{s['gd_slope_mean']:.2f} for GD "
                   f"(Polyak {s['gd_slope_pred']:.2f}) and kappa^{s['hb_slope_mean']:.2f} "
                   f"for heavy ball (Polyak {s['hb_slope_pred']:.2f}), "
                   f"kappa^{s['hb_real_slope_mean']:.2f} for the best real-spectrum "
                   f"heavy ball")
    word = "faster than GD at every kappa (intervals over seeds apart)" if faster else \
        "not faster than GD at every kappa"
    out.append(f"heavy ball was {word}; at kappa {kappas[-1]:g}: "
               f"{s[f'{big}.hb_iters_mean']:.0f} against {s[f'{big}.gd_iters_mean']:.0f} "
               f"iterations (mean over seeds)")
    real_b = max(s[f"{lab}.hb_real_momentum"] for lab in labs)
    real_vs_gd = s[f"{big}.hb_real_iters_mean"] / s[f"{big}.gd_iters_mean"]
    if real_b == 0.0:
        out.append("the best heavy ball whose modes all stay real is plain GD (b = 0) at "
                   "every kappa, so within heavy ball the speed-up over GD comes only with "
                   "complex (rotational) modes")
    else:
        out.append(f"the best heavy ball whose modes all stay real has momentum up to "
                   f"{real_b:.2g} and takes {real_vs_gd:.2f} of GD's iterations at kappa "
                   f"{kappas[-1]:g}")
    if "net.speedup_geomean" in s:
        out.append(f"on the {s['net.n_params']}-weight tanh network (each method at its best "
                   f"step on a grid) heavy ball was faster on {s['net.hb_faster_frac']:.0%} of "
                   f"the seeds, speed-up {s['net.speedup_geomean']:.2g} (95% CI "
                   f"{s['net.speedup_low']:.2g} to {s['net.speedup_high']:.2g}, geometric mean; "
                   f"GD reached the target on {s['net.gd_reached']} of {s['n_seeds']} seeds, "
                   f"heavy ball on {s['net.hb_reached']}); near the minimum it reached, "
                   f"{s['net.hb_complex_frac']:.0%} or more of the Hessian modes had complex "
                   f"heavy-ball eigenvalues")
    # the brief (first sentence): both halves of the claim, each from its own test
    rotational = cplx > 0
    helps = faster and real_b == 0.0
    if rotational and helps:
        head = ("Supported: near the minimum heavy ball is no gradient step of any loss in "
                "any fixed metric (complex eigenvalues), and that rotation is what makes it "
                f"faster than GD (kappa^{s['hb_slope_mean']:.2f} against "
                f"kappa^{s['gd_slope_mean']:.2f} iterations).")
    elif rotational or helps:
        head = ("Partly: " + ("heavy ball is no gradient step of any loss in any fixed metric "
                              "near the minimum, but its speed-up over GD is not shown to "
                              "need the rotation." if rotational else
                              "heavy ball is faster than GD, but the test does not rule out "
                              "a gradient step."))
    else:
        head = ("Not supported: the tests found neither a non-gradient (rotational) heavy "
                "ball nor a speed-up that needs one.")
    body = "; ".join(out)
    return f"{head} In detail: {body[0].upper()}{body[1:]}."


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.36, ncols=3)
    s = run.summary
    e = run.series["eigenvalues"]
    big = _label(float(run.series["iterations"]["kappa"][-1]))
    b = float(s[f"{big}.hb_momentum"])
    t = np.linspace(0, 2 * np.pi, 200)
    r_src = src(f"summary:{big}.hb_momentum")
    traced(ax1.plot(np.sqrt(b) * np.cos(t), np.sqrt(b) * np.sin(t), color="0.6", lw=0.7,
                    label=r"$|\mu| = \sqrt{b}$")[0],
           x=r_src.map(lambda v: np.sqrt(float(v)) * np.cos(t), "circle_x"),
           y=r_src.map(lambda v: np.sqrt(float(v)) * np.sin(t), "circle_y"))
    traced(ax1.plot(e["closed_real"], e["closed_imag"], "o", mfc="none", ms=5,
                    color=PALETTE[1], label="closed form")[0],
           x=src("series/eigenvalues:closed_real"), y=src("series/eigenvalues:closed_imag"))
    traced(ax1.plot(e["real"], e["imag"], "x", ms=3, color=PALETTE[0],
                    label="finite-difference J")[0],
           x=src("series/eigenvalues:real"), y=src("series/eigenvalues:imag"))
    ax1.set_aspect("equal")
    ax1.set_xlabel(r"Re $\mu$")
    ax1.set_ylabel(r"Im $\mu$")
    ax1.legend(fontsize="xx-small", loc="center")
    ax1.set_title(f"a  heavy-ball eigenvalues, {big.replace('kappa', 'κ = ')}", loc="left",
                  fontsize="small")

    for i, m in enumerate(METHODS):
        err = np.asarray(run.series[f"curve_{m}"]["error"])
        k_src = src(f"series/curve_{m}:error")
        # the real-spectrum optimum can be GD itself: dashed, so both stay visible
        traced(ax2.plot(np.arange(err.size), err, color=PALETTE[i], label=NAMES[m],
                        ls="--" if m == "hb_real" else "-")[0],
               x=k_src.map(lambda y: np.arange(len(y)), "index"), y=k_src)
    ax2.set_yscale("log")
    ax2.set_xscale("log")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel(r"$\|x_k\| / \|x_0\|$")
    ax2.legend(fontsize="xx-small")
    ax2.set_title("b  convergence (seed 0)", loc="left", fontsize="small")

    it = run.series["iterations"]
    kap = np.asarray(it["kappa"])
    k_src = src("series/iterations:kappa")
    for i, m in enumerate(METHODS):
        mean, low, high = (np.asarray(it[f"{m}_{q}"]) for q in ("mean", "low", "high"))
        traced(ax3.errorbar(kap, mean, yerr=[mean - low, high - mean], color=PALETTE[i],
                            marker="osD"[i], ms=3, lw=1.0, capsize=2, label=NAMES[m],
                            ls="--" if m == "hb_real" else "-", mfc="none" if i == 2 else None),
               x=k_src, y=src(f"series/iterations:{m}_mean"),
               ylow=src(f"series/iterations:{m}_low"),
               yhigh=src(f"series/iterations:{m}_high"))
        traced(ax3.plot(kap, np.asarray(it[f"{m}_pred"]), color=PALETTE[i], lw=0.6,
                        ls=":")[0], x=k_src, y=src(f"series/iterations:{m}_pred"))
    ax3.set_xscale("log")
    ax3.set_yscale("log")
    ax3.set_xlabel(r"condition number $\kappa$")
    ax3.set_ylabel("iterations to tol (dotted: Polyak)")
    ax3.legend(fontsize="xx-small")
    ax3.set_title("c  iterations against κ", loc="left", fontsize="small")
    return fig


EXPERIMENT = Experiment(
    name="claim-momentum",
    description="Claim: momentum is no gradient of any loss (complex eigenvalues), and "
                "its rotation buys sqrt(kappa) against GD's kappa iterations.",
    config=MomentumConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"dim": 100, "n_seeds": 16, "n_states": 4,
                                   "kappas": [10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0]}},
    claim=ClaimMeta(number=1, claim="Momentum's updates are not the gradient of any loss, "
                    "and that rotational part helps.",
                    headline="hb_slope_mean", low="hb_slope_low", high="hb_slope_high",
                    label="heavy ball: iterations ~ kappa^slope (GD: 1)",
                    null="hb_slope_pred"),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
