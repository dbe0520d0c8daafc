"""The descent (Lyapunov) check of a mean update field, and verdicts that say what was shown.

A field can have an objective that it improves without being the gradient of anything in
the geometries tested, and a candidate objective can be checked directly: is ``f``
monotone along the mean flow ``dtheta/dt = F(theta)``?

* :func:`descent_along_flow` integrates the mean flow from several starts with the
  classical fourth-order Runge-Kutta method (or explicit Euler) at a fixed step ``h`` and
  counts the steps along which ``f`` did not increase (for an ascent objective: did not
  decrease). A step counts as a violation only when ``f`` moves the wrong way by more
  than ``rtol * max(|f_k|, |f_{k+1}|) + atol``, the rounding error of evaluating ``f``
  (default ``rtol = 1e-12``, about 4500 machine epsilons: an objective that sums up to
  ``10^3`` terms of its own size). Time is in the field's own unit (one sample for a
  per-sample mean update). RK4's local error is ``O((h rho)^5)`` with ``rho`` the fastest
  rate of the field; choose ``h rho <~ 0.1`` so that each step's change of ``f``
  (``O(h rho)`` relative) is far above the integration error. The discrete trajectory can
  show a violation that the exact flow does not have only where ``f`` is nearly
  stationary.
* :func:`pointwise_descent` checks ``grad f . F <= 0`` (ascent: ``>= 0``) at sampled
  states: the rate of change of ``f`` along the flow, coordinate- and metric-free. It also
  reports the cosine between ``F`` and the steepest direction of ``f`` in a declared
  geometry (a metric, a manifold, both, or neither): 1 means that ``F`` *is* the
  steepest-descent (ascent) direction of ``f`` there, up to a positive factor.

Passing both shows that ``f`` is a Lyapunov function of the flow from the states tested,
not that ``F`` is its gradient; a rotation, for instance, leaves ``|x|^2`` constant. A
failure shows that this ``f`` is not one; another might be.

:func:`field_verdict` turns the asymmetries and the checks into one sentence that claims
only what they show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plasticity.analysis.geometry import cosine
from plasticity.errors import InvalidParameterError

__all__ = ["Geometry", "descent_along_flow", "field_verdict", "pointwise_descent"]


def _rk4(field_fn, x, h):
    k1 = field_fn(x)
    k2 = field_fn(x + 0.5 * h * k1)
    k3 = field_fn(x + 0.5 * h * k2)
    k4 = field_fn(x + h * k3)
    return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _euler(field_fn, x, h):
    return x + h * field_fn(x)


def descent_along_flow(field_fn, objective, starts, *, step, n_steps, ascent=False,
                       method="rk4", rtol=1e-12, atol=0.0) -> dict:
    """Is ``objective`` monotone along the integrated mean flow?

    Parameters
    ----------
    field_fn : callable
        The mean field ``(n,) -> (n,)``, deterministic.
    objective : callable
        Candidate ``f: (n,) -> float``.
    starts : array_like, shape (k, n)
        Initial states.
    step : float > 0
        Integration step ``h``, in the field's time unit (see the module docstring).
    n_steps : int >= 1
        Steps per start.
    ascent : bool
        False: check that ``f`` does not increase; True: that it does not decrease.
    method : {"rk4", "euler"}
    rtol, atol : float >= 0
        A step is a violation when ``f`` moves the wrong way by more than
        ``rtol * max(|f_k|, |f_{k+1}|) + atol``.

    Returns
    -------
    dict
        ``frac`` (fraction of the ``k * n_steps`` steps that were not violations),
        ``n_steps`` (total), ``n_violations``, ``max_violation`` (the largest wrong-way
        change of ``f``, in ``f``'s units, 0 if none), ``values`` (ndarray (k,
        n_steps + 1), ``f`` along each trajectory) and ``ends`` (ndarray (k, n)).
    """
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[0] == 0:
        raise InvalidParameterError(f"starts must have shape (k, n) with k >= 1; got "
                                    f"{starts.shape}.")
    if not (np.isfinite(step) and step > 0):
        raise InvalidParameterError(f"step must be positive and finite; got {step}.")
    if int(n_steps) < 1:
        raise InvalidParameterError(f"n_steps must be >= 1; got {n_steps}.")
    if method not in ("rk4", "euler"):
        raise InvalidParameterError(f"method must be 'rk4' or 'euler'; got {method!r}.")
    if rtol < 0 or atol < 0:
        raise InvalidParameterError("rtol and atol must be >= 0.")
    advance = _rk4 if method == "rk4" else _euler
    n_steps = int(n_steps)

    def fn(x):
        return np.asarray(field_fn(x), dtype=np.float64)

    values = np.empty((starts.shape[0], n_steps + 1))
    ends = np.empty_like(starts)
    for i, x in enumerate(starts):
        values[i, 0] = float(objective(x))
        for k in range(n_steps):
            x = advance(fn, x, step)
            if not np.all(np.isfinite(x)):
                raise InvalidParameterError(
                    f"the mean flow left the finite range at step {k + 1} from start {i}; "
                    "use a smaller step or fewer steps.")
            values[i, k + 1] = float(objective(x))
        ends[i] = x
    change = np.diff(values, axis=1)
    wrong = -change if ascent else change  # > 0: f moved the wrong way
    scale = np.maximum(np.abs(values[:, :-1]), np.abs(values[:, 1:]))
    bad = wrong > rtol * scale + atol
    return {"frac": float(1.0 - bad.mean()), "n_steps": int(bad.size),
            "n_violations": int(bad.sum()),
            "max_violation": float(max(0.0, np.max(wrong))) if bad.any() else 0.0,
            "values": values, "ends": ends}


def _fd_gradient(objective, x, eps):
    g = np.empty_like(x)
    for j in range(x.size):
        h = eps * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        g[j] = (float(objective(up)) - float(objective(down))) / (up[j] - down[j])
    return g


def pointwise_descent(field_fn, objective, states, *, ascent=False, grad_fn=None,
                      manifold=None, metric_fn=None, eps=1e-6, tol=1e-8) -> dict:
    """``grad f . F <= 0`` (ascent: ``>= 0``) at sampled states, and the steepest cosine.

    Parameters
    ----------
    field_fn : callable
        The mean field ``(n,) -> (n,)``.
    objective : callable
        Candidate ``f: (n,) -> float`` (used for its gradient when ``grad_fn`` is None).
    states : array_like, shape (k, n)
        States (on the manifold when one is given).
    ascent : bool
    grad_fn : callable or None
        The Euclidean gradient of ``f``; None: central differences of ``f`` with relative
        step ``eps`` (relative error ``O(eps^2) + O(1e-16 / eps)``, about ``1e-10``).
    manifold : Manifold or None
        The geometry in which the steepest direction is taken
        (:mod:`plasticity.analysis.field_metric`); None: the whole space.
    metric_fn : callable or None
        Metric ``theta -> G (n, n)``; None: Euclidean.
    eps : float
    tol : float
        A state violates when ``f`` moves the wrong way at a rate beyond
        ``tol * |grad f| |F|`` (the finite-difference error of the gradient is far
        smaller).

    Returns
    -------
    dict
        ``frac``: fraction of states where ``f`` does not move the wrong way;
        ``cos``: ndarray (k,), the signed cosine between the (``G``-orthogonal tangent
        part of) ``F`` and the steepest direction of ``f`` in the geometry
        (``-G^{-1} grad f`` projected, for descent; ``+`` for ascent), in the metric's
        inner product: 1 when ``F`` is that direction up to a positive factor, NaN where
        ``F`` or the gradient is 0; ``cos_min``, ``cos_mean`` (ignoring NaN; NaN if all
        are); ``max_violation``: the largest wrong-way rate ``|grad f . F| / (|grad f|
        |F|)`` (0 if none).
    """
    from plasticity.analysis.field_metric import _checked_metric, tangent_basis

    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[0] == 0:
        raise InvalidParameterError(f"states must have shape (k, n) with k >= 1; got "
                                    f"{states.shape}.")
    sign = 1.0 if ascent else -1.0
    cos = np.empty(states.shape[0])
    rate = np.empty(states.shape[0])
    for i, x in enumerate(states):
        F = np.asarray(field_fn(x), dtype=np.float64)
        g = (np.asarray(grad_fn(x), dtype=np.float64) if grad_fn is not None
             else _fd_gradient(objective, x, eps))
        # the sign check uses the full F, coordinate-free: it is what f does along the
        # flow; normalised by |g| |F| (a cosine) only to compare it with tol
        rate[i] = sign * cosine(g, F, undefined=0.0)
        U = np.eye(x.size) if manifold is None else tangent_basis(manifold, x)
        G = np.eye(x.size) if metric_fn is None else _checked_metric(metric_fn, x)
        gm = U.T @ G @ U                              # the metric on the tangent space
        a_F = np.linalg.solve(gm, U.T @ G @ F)         # G-orthogonal tangent part of F
        d = U.T @ g                                   # df on tangent vectors
        nF = float(np.sqrt(max(a_F @ gm @ a_F, 0.0)))
        ng = float(np.sqrt(max(d @ np.linalg.solve(gm, d), 0.0)))
        # the cosine in the metric gm (not Euclidean): the shared helper does not apply
        cos[i] = sign * float(d @ a_F) / (nF * ng) if nF > 0 and ng > 0 else np.nan
    wrong = rate < -tol
    finite = cos[np.isfinite(cos)]
    return {"frac": float(1.0 - wrong.mean()), "cos": cos,
            "cos_min": float(finite.min()) if finite.size else float("nan"),
            "cos_mean": float(finite.mean()) if finite.size else float("nan"),
            "max_violation": float(-rate[wrong].min()) if wrong.any() else 0.0}


@dataclass(frozen=True)
class Geometry:
    """One geometry's test result, for :func:`field_verdict`.

    Attributes
    ----------
    where : str
        Where the flow lives, as the verdict says it: "on the sphere", "on the simplex
        with the Shahshahani metric", "in the metric G".
    asymmetry : float
        The largest metric- or manifold-aware asymmetry over the states tested.
    tangency : float
        The largest normal part of the field (0 without a manifold).
    steepest_cos_min : float or None
        The smallest cosine between the field and the steepest direction of the candidate
        objective in this geometry (:func:`pointwise_descent`), if checked.
    surface : str or None
        The manifold's name ("the sphere"), for a field that is not tangent to it.
    """

    where: str
    asymmetry: float
    tangency: float = 0.0
    steepest_cos_min: float | None = None
    surface: str | None = None


def field_verdict(euclidean, *, tol, geometries=(), objective=None, ascent=False,
                  flow_frac=None, pointwise_frac=None, tested=None) -> str:
    """One sentence that states exactly what the gradient-field tests showed.

    Parameters
    ----------
    euclidean : float
        The largest Euclidean asymmetry over the states tested.
    tol : float
        The pass threshold: an asymmetry (or tangency defect, or ``1 - cos``) at or below
        ``tol`` is "at the finite-difference floor". Derive it from the step (see
        :mod:`plasticity.analysis.field`), do not tune it.
    geometries : sequence of Geometry
        The metric and manifold tests, in order.
    objective : str or None
        The candidate objective's name (e.g. ``"R"``), if one was checked.
    ascent : bool
        Whether the objective is claimed to increase.
    flow_frac, pointwise_frac : float or None
        :func:`descent_along_flow` and :func:`pointwise_descent` fractions.
    tested : str or None
        The geometries named in the "nothing found" clause (default: Euclidean and each
        geometry's ``where``).

    Returns
    -------
    str
        Clauses joined by "; ", e.g. "not a Euclidean gradient field in weight
        coordinates (asymmetry 0.38); a gradient flow of R on the sphere (asymmetry 3e-11
        at the finite-difference floor, <= 1e-06); R increases along the mean flow".
        Never claims that a field follows no objective: only that no gradient structure
        was found in the geometries tested.
    """
    clauses, found = [], False
    if euclidean <= tol:
        found = True
        clauses.append(f"Euclidean gradient field in weight coordinates (asymmetry "
                       f"{euclidean:.1e} at the finite-difference floor, <= {tol:.0e})")
    else:
        clauses.append(f"not a Euclidean gradient field in weight coordinates (asymmetry "
                       f"{euclidean:.2g})")
    for g in geometries:
        if g.tangency > tol:
            clauses.append(f"not tangent to {g.surface or 'the manifold'} (normal part "
                           f"{g.tangency:.2g} of |F|), so no flow {g.where}; its tangent "
                           f"part is {'' if g.asymmetry <= tol else 'not '}a gradient "
                           f"there (asymmetry {g.asymmetry:.2g})")
        elif g.asymmetry <= tol:
            found = True
            steepest = (objective is not None and g.steepest_cos_min is not None
                        and 1.0 - g.steepest_cos_min <= tol)
            what = f"a gradient flow of {objective}" if steepest else "a gradient flow"
            tail = "" if steepest else "; potential not identified"
            clauses.append(f"{what} {g.where} (asymmetry {g.asymmetry:.1e} at the "
                           f"finite-difference floor, <= {tol:.0e}{tail})")
        else:
            clauses.append(f"not a gradient flow {g.where} (asymmetry {g.asymmetry:.2g})")
    if objective is not None and flow_frac is not None:
        direction = "increases" if ascent else "decreases"
        if flow_frac >= 1.0 and (pointwise_frac is None or pointwise_frac >= 1.0):
            clauses.append(f"{objective} {direction} along the mean flow")
        elif flow_frac >= 1.0:
            # the flows pass but some sampled state's update points the other way: say
            # which test failed, not "not monotone along the flow" with 100% of steps
            clauses.append(f"{objective} {direction} along every mean flow followed, but "
                           f"not at every state sampled (it does not move the wrong way "
                           f"at {pointwise_frac:.0%} of them)")
        else:
            clauses.append(f"{objective} is not monotone along the mean flow (it "
                           f"{direction} on {flow_frac:.0%} of the steps)")
    if not found:
        names = tested or ", ".join(["Euclidean"] + [g.where for g in geometries])
        clauses.append(f"no gradient structure found in the metrics tested ({names})")
    return "; ".join(clauses)
