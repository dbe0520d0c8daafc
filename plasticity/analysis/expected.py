"""The expected update of a stochastic rule at one fixed state: bias against noise.

A rule's single update ``d`` is a random vector (its own noise, e.g. node perturbation).
Richards & Kording's criterion is about its *expectation*: ``E[d]`` should have a positive
inner product with ``-g``. Draw ``d`` many times from the same state, parameters and
signals, each draw with an independent child generator, and compare:

* ``expected_cos``: the cosine of the mean update ``mean_i d_i`` with ``-g``. It tends to
  the cosine of ``E[d]`` as the number of draws grows; its deviation from 1 is the
  rule's *bias* (plus ``O(1/n_draws)`` residual noise).
* ``mean_cos``: the mean over draws of each draw's own cosine. Noise lowers it even for an
  unbiased rule: for ``d = -eta g + sigma xi`` with ``xi ~ N(0, I_n)`` it is well below 1
  once ``sigma sqrt(n)`` is comparable to ``eta |g|``.

The draws rely on the rule contract (checked by :func:`plasticity.check_rule`) that
``update`` does not modify ``state`` or ``params`` in place: the same objects are passed
to every draw.
"""

from __future__ import annotations

import numpy as np

from plasticity.analysis.alignment import _as_metric, align
from plasticity.analysis.flat import flatten
from plasticity.errors import RuleError
from plasticity.rules.base import check_delta, check_protocol, rule_name

__all__ = ["expected_cosine", "expected_update"]


def _run_draws(rule, signals, state, params, *, n_draws, rng, loss_fn, reward, grad=None,
               metric=None, keep=False):
    """Draw the rule's update ``n_draws`` times from one state and accumulate.

    Returns the per-array sums, the sum of squared norms and, with ``grad``, the sums of
    per-draw cosines and their squares, the number of positive inner products and of
    zero-norm draws; with ``keep`` also the stacked draws.
    """
    check_protocol(rule)
    n_draws = int(n_draws)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1; got {n_draws}.")
    children = np.random.default_rng(rng).spawn(n_draws)
    shapes = {k: np.shape(v) for k, v in params.items()}
    sums: dict[str, np.ndarray] = {}
    stacks: dict[str, np.ndarray] = {}
    keys_g = sorted(grad) if grad is not None else ()
    gflat = {k: np.asarray(grad[k], dtype=np.float64) for k in keys_g}
    if grad is not None:
        if metric is None:
            gg = float(sum(np.vdot(g, g) for g in gflat.values()))
        else:
            gg = metric.dual2(flatten(gflat))
    sum_sq = sum_cos = sum_cos2 = 0.0
    n_pos = n_zero = 0
    update = rule.update
    for i, child in enumerate(children):
        delta, _ = update(signals, state, params, reward=reward, loss_fn=loss_fn, rng=child)
        if i == 0:
            # The full check once; later draws get the cheap shape check below and a
            # finiteness check of the sums at the end (NaN and inf propagate into them).
            delta = check_delta(rule, delta, params)
        dd = dg = 0.0
        for k, d in delta.items():
            acc = sums.get(k)
            if acc is None:
                if k not in shapes:
                    check_delta(rule, delta, params)  # raises, naming the array
                acc = sums[k] = np.zeros(shapes[k])
                if keep:
                    stacks[k] = np.zeros((n_draws, *shapes[k]))
            if np.shape(d) != acc.shape:
                check_delta(rule, delta, params)  # raises, naming the array and shapes
            acc += d
            if keep:
                stacks[k][i] = d
            dd += np.vdot(d, d)
            if k in gflat:
                dg += np.vdot(d, gflat[k])
        # The cosine uses the metric's norm; the noise summary stays Euclidean.
        ddm = dd if metric is None else metric.norm2(
            flatten({k: delta.get(k, np.zeros(shapes[k])) for k in keys_g}))
        sum_sq += dd
        if grad is not None:
            denom = np.sqrt(ddm * gg)
            if denom > 0:
                c = min(1.0, max(-1.0, -dg / denom))
                sum_cos += c
                sum_cos2 += c * c
            else:
                n_zero += 1
            n_pos += dg < 0
    for k, acc in sums.items():
        if not np.all(np.isfinite(acc)):
            raise RuleError(f"Rule {rule_name(rule)} returned a delta for '{k}' containing "
                            "NaN or infinity in at least one draw.")
    return {"sums": sums, "sum_sq": float(sum_sq), "sum_cos": float(sum_cos),
            "sum_cos2": float(sum_cos2), "n_pos": int(n_pos), "n_zero": int(n_zero),
            "gg": gg if grad is not None else np.nan, "stacks": stacks if keep else None,
            "n": n_draws}


def _mean_and_noise(acc):
    n = acc["n"]
    mean = {k: s / n for k, s in acc["sums"].items()}
    mean_sq = float(sum(np.vdot(m, m) for m in mean.values()))
    # Unbiased estimate of the total variance E|d - E d|^2 (the trace of Cov d).
    noise = (acc["sum_sq"] - n * mean_sq) / (n - 1) if n > 1 else np.nan
    return mean, mean_sq, max(noise, 0.0) if n > 1 else noise


def expected_update(rule, signals, state, params, *, n_draws, rng, loss_fn=None,
                    reward=None, keep_draws=False):
    """The mean of ``n_draws`` updates of ``rule`` from one fixed state.

    Parameters
    ----------
    rule : object with ``init`` and ``update``
    signals : dict
        The local signals, as the engine would pass them.
    state : object
        The rule state every draw starts from (not modified by a conforming rule).
    params : dict of str to ndarray
        The parameters.
    n_draws : int
        Number of draws (>= 1).
    rng : numpy.random.Generator or int
        Parent generator; draw ``i`` gets the ``i``-th of ``rng.spawn(n_draws)``, so the
        result is reproducible and draws are independent.
    loss_fn : callable, optional
        Passed to the rule (``loss_fn(params) -> float``), e.g. for perturbation rules.
    reward : optional
        Passed to the rule.
    keep_draws : bool, default False
        Return every draw (memory ``n_draws`` times the parameters) instead of a summary.

    Returns
    -------
    mean_delta : dict of str to ndarray
        The mean update per array (arrays the rule never changed are absent).
    draws_or_summary : dict
        With ``keep_draws``: array name -> ndarray of shape ``(n_draws, *shape)`` (zeros
        in draws that did not return the array). Otherwise ``n_draws``, ``mean_sq_norm``
        (mean of ``|d_i|^2``), ``noise_var`` (unbiased estimate of ``E|d - E d|^2``, NaN
        for one draw) and ``mean_se_norm`` (``sqrt(noise_var / n_draws)``, the typical
        distance of the mean update from ``E d``).

    Raises
    ------
    RuleError
        When a draw's delta breaks the protocol (unknown array, wrong shape, NaN).
    """
    acc = _run_draws(rule, signals, state, params, n_draws=n_draws, rng=rng,
                     loss_fn=loss_fn, reward=reward, keep=keep_draws)
    mean, _, noise = _mean_and_noise(acc)
    if keep_draws:
        return mean, acc["stacks"]
    n = acc["n"]
    return mean, {"n_draws": n, "mean_sq_norm": acc["sum_sq"] / n, "noise_var": noise,
                  "mean_se_norm": float(np.sqrt(noise / n)) if n > 1 else np.nan}


def expected_cosine(rule, signals, state, params, grad, *, n_draws, rng, loss_fn=None,
                    reward=None, metric=None) -> dict:
    """Cosine of the expected update with ``-grad``, and the mean per-draw cosine.

    Parameters
    ----------
    rule, signals, state, params, n_draws, rng, loss_fn, reward
        As in :func:`expected_update`.
    grad : dict of str to ndarray
        The loss gradient at ``params`` (units: loss per parameter unit).
    metric : None, ndarray or callable, optional
        As in :func:`plasticity.analysis.alignment.align` (Euclidean by default).

    Returns
    -------
    dict
        ``expected_cos``: cosine of the mean update with the steepest-descent direction.
        ``expected_inner``: its inner product ``-mean(d).g`` (units: loss).
        ``mean_cos``: mean over draws of each draw's cosine (draws with a zero update
        count as 0); ``mean_cos_se``: its standard error (NaN for one draw).
        ``frac_positive``: fraction of draws with ``-d.g > 0``.
        ``n_zero_norm``: draws whose cosine was undefined.
        ``expected_norm``: ``|mean(d)|`` and ``grad_norm``: ``|g|`` (both in the metric).
        ``noise_var``: unbiased estimate of ``E|d - E d|^2`` (Euclidean).
        ``n_draws`` and ``mean_delta`` (the mean update, dict of arrays).

    Examples
    --------
    >>> import numpy as np
    >>> class Noisy:
    ...     def init(self, params):
    ...         return None
    ...     def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
    ...         return {"w": -params["w"] + rng.standard_normal(2)}, state
    >>> p = {"w": np.array([1.0, 0.0])}
    >>> out = expected_cosine(Noisy(), {}, None, p, {"w": p["w"]}, n_draws=4000, rng=0)
    >>> out["expected_cos"] > 0.99 and out["mean_cos"] < 0.9
    True
    """
    keys = sorted(grad)
    m = _as_metric(metric, keys, grad)
    acc = _run_draws(rule, signals, state, params, n_draws=n_draws, rng=rng,
                     loss_fn=loss_fn, reward=reward, grad=grad, metric=m)
    mean, _, noise = _mean_and_noise(acc)
    total = align(mean, grad, m)["total"]
    n = acc["n"]
    mean_cos = acc["sum_cos"] / n
    var = (acc["sum_cos2"] - n * mean_cos ** 2) / (n - 1) if n > 1 else np.nan
    return {"expected_cos": total["cos"], "expected_inner": total["inner"],
            "mean_cos": mean_cos,
            "mean_cos_se": float(np.sqrt(max(var, 0.0) / n)) if n > 1 else np.nan,
            "frac_positive": acc["n_pos"] / n, "n_zero_norm": acc["n_zero"],
            "expected_norm": total["delta_norm"], "grad_norm": total["grad_norm"],
            "noise_var": noise, "n_draws": n, "mean_delta": mean}
