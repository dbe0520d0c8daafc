"""The expected update of a stochastic rule at one fixed state: bias against noise.

A rule's single update ``d`` is a random vector (its own noise, e.g. node perturbation).
Richards & Kording's criterion is about its *expectation*: ``E[d]`` should have a positive
inner product with ``-g``. Draw ``d`` many times from the same state, parameters and
signals, each draw with an independent child generator, and compare (see
docs/statistics-expected.md for the derivations):

* ``expected_cos``: the *debiased* cosine of ``E[d]`` with ``-g``. The squared norm of the
  plain mean of ``n`` draws overestimates ``|E d|^2`` by ``tr(Cov d) / n``, so the cosine
  of the plain mean (``expected_cos_raw``) measures noise as well as bias: for an unbiased
  rule it rises towards 1 only as the number of draws grows. ``expected_cos`` divides the
  unbiased inner product ``-mean(d).g`` by the square root of the unbiased estimate
  ``|mean|^2 - tr(Cov_hat) / n`` of ``|E d|^2`` instead, so for an unbiased rule it is
  consistent with 1 at any number of draws; its bootstrap interval over the draws
  (``expected_cos_ci_low``, ``expected_cos_ci_high``) says how well it is resolved.
* ``expected_snr``: ``|E d|^2 / tr(Cov d)``, the signal-to-noise ratio of one draw, which
  sets how many draws a given precision needs (:func:`draws_for_snr`,
  :func:`cos_se_for_draws`, in :mod:`plasticity.analysis.draw_budget`).
* ``bias_sq``, ``variance``, ``mse``: the mean squared error of one draw about the
  projection of ``E[d]`` on the descent direction, split into the squared bias (the part
  of ``E[d]`` perpendicular to ``-g``) and the variance ``tr(Cov d)``.
* ``mean_cos``: the mean over draws of each draw's own cosine. Noise lowers it even for an
  unbiased rule: for ``d = -eta g + sigma xi`` with ``xi ~ N(0, I_n)`` it is well below 1
  once ``sigma sqrt(n)`` is comparable to ``eta |g|``.

The draws rely on the rule contract (checked by :func:`plasticity.check_rule`) that
``update`` does not modify ``state`` or ``params`` in place: the same objects are passed
to every draw.
"""

from __future__ import annotations

import math

import numpy as np

from plasticity.analysis.draw_budget import cos_se_for_draws, draws_for_snr
from plasticity.analysis.metric import _as_metric
from plasticity.analysis.update_alignment import align
from plasticity.analysis.update_draws import _noise, _run_draws
from plasticity.errors import InvalidParameterError

__all__ = ["cos_se_for_draws", "draws_for_snr", "expected_cosine", "expected_update"]


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
    InvalidParameterError
        When ``n_draws`` is not an integer >= 1.
    RuleError
        When a draw's delta breaks the protocol (unknown array, wrong shape, NaN).
    """
    acc = _run_draws(rule, signals, state, params, n_draws=n_draws, rng=rng,
                     loss_fn=loss_fn, reward=reward, keep=keep_draws)
    n = acc["n"]
    mean = {k: s / n for k, s in acc["sums"].items()}
    noise = _noise(acc)
    if keep_draws:
        return mean, acc["stacks"]
    mean_sq = float(sum(np.vdot(m, m) for m in mean.values()))
    return mean, {"n_draws": n, "mean_sq_norm": mean_sq + acc["ss_dev"] / n,
                  "noise_var": noise,
                  "mean_se_norm": float(np.sqrt(noise / n)) if n > 1 else np.nan}


def _cos(inner, sq_norm, grad_norm):
    """``inner / (sqrt(sq_norm) grad_norm)`` clipped to [-1, 1], vectorised.

    A squared norm ``<= 0`` (an unbiased estimate that came out non-positive: the mean is
    not resolved from zero) gives the clipped limit ``sign(inner)``.
    """
    inner = np.asarray(inner, dtype=np.float64)
    sq_norm = np.asarray(sq_norm, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = inner / (np.sqrt(np.where(sq_norm > 0, sq_norm, 1.0)) * grad_norm)
    return np.clip(np.where(sq_norm > 0, raw, np.sign(inner)), -1.0, 1.0)


def _bootstrap(acc, metric, a_hat, s_hat, grad_norm, *, n_boot, ci_level):
    """Bootstrap over (block means of) draws of the debiased cosine.

    Works on the Gram matrix ``G = B M B^T`` of the ``m`` block means ``B`` and their
    inner products ``h_b = -B g`` only, so each resample costs ``O(m^2)``. A resample
    with counts ``w`` has ``a* = w.h / m`` and the debiased squared norm recomputed on it,
    ``S* = |mean*|^2 - tr(Cov*)/m = (w^T G w - sum_j w_j G_jj) / (m (m - 1))``. Under
    resampling ``E*[a*] = mean(h)`` and ``E*[S*] = |mean(B)|^2`` exactly (the plug-in
    value: the bootstrap world's truth), so the resampled *errors* ``a* - mean(h)`` and
    ``S* - |mean(B)|^2`` are carried onto the all-draw estimates ``a_hat`` and ``s_hat``
    and the cosine recomputed; the interval is the percentile interval of those cosines.
    Centring the percentile interval on the plain resampled cosines instead would centre
    it on the biased raw cosine.

    Returns ``(low, high, se)``.
    """
    blocks = acc["blocks"] / acc["block"]
    m = blocks.shape[0]
    if m < 2 or n_boot == 0 or not grad_norm > 0:
        return np.nan, np.nan, np.nan
    if metric is None:
        mb = blocks
    elif metric.matrix is not None:
        mb = blocks @ metric.matrix
    else:
        mb = np.stack([np.asarray(metric.apply(b), dtype=np.float64) for b in blocks])
    gram = blocks @ mb.T
    gram = 0.5 * (gram + gram.T)
    diag = np.diag(gram).copy()
    hb = -(blocks @ acc["gflat"])
    a_b = float(hb.mean())
    s_b = float(gram.sum()) / m**2
    rng = acc["boot_rng"]
    thetas = []
    for start in range(0, n_boot, 256):
        w = rng.multinomial(m, np.full(m, 1.0 / m), size=min(256, n_boot - start))
        w = w.astype(np.float64)
        quad = np.einsum("rj,rj->r", w @ gram, w)
        s_star = (quad - w @ diag) / (m * (m - 1))
        a_star = w @ hb / m
        thetas.append(_cos(a_hat + (a_star - a_b), s_hat + (s_star - s_b), grad_norm))
    theta = np.concatenate(thetas)
    alpha = 1.0 - ci_level
    low, high = np.quantile(theta, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high), float(theta.std(ddof=1))


def expected_cosine(rule, signals, state, params, grad, *, n_draws, rng, loss_fn=None,
                    reward=None, metric=None, n_boot=2000, ci_level=0.95,
                    max_kept=2_000_000) -> dict:
    """The debiased cosine of the expected update with ``-grad``, with its interval.

    Parameters
    ----------
    rule, signals, state, params, n_draws, rng, loss_fn, reward
        As in :func:`expected_update`. The bootstrap uses one further child of ``rng``
        (spawned after the draws' children, so it does not change the draws).
    grad : dict of str to ndarray
        The loss gradient at ``params`` (units: loss per parameter unit).
    metric : None, ndarray or callable, optional
        As in :func:`plasticity.analysis.alignment.align` (Euclidean by default). Norms,
        the noise trace ``tr(M Cov)`` and the SNR are then taken in the metric ``M``.
    n_boot : int >= 0, default 2000
        Bootstrap resamples of the interval (0: no interval, NaN).
    ci_level : float in (0, 1), default 0.95
    max_kept : int >= 0, default 2_000_000
        Memory bound of the bootstrap (float64 elements, 16 MB by default). The draws are
        kept (restricted to the arrays of ``grad``) as an ``(n_draws, P)`` array when
        ``n_draws * P`` is at most this (and ``n_draws <= 500``); otherwise the means
        of blocks of ``k`` consecutive draws are kept and the bootstrap resamples blocks
        (``expected_cos_ci_block = k``; block means are i.i.d. too, and the interval
        stays valid, only slightly less precise).

    Returns
    -------
    dict
        ``expected_cos``: the debiased cosine ``-mean(d).g / (sqrt(S) |g|)`` with
        ``S = |mean|^2 - tr(Cov_hat) / n``, the unbiased estimate of ``|E d|^2``, clipped
        to [-1, 1]; ``sign(-mean(d).g)`` when ``S <= 0`` (see ``expected_norm_resolved``);
        NaN for one draw (no covariance estimate).
        ``expected_cos_unclipped``: the same before clipping (NaN when ``S <= 0``).
        ``expected_norm_resolved``: ``S > 0``; when False, ``|E d|`` is not resolved from
        zero and ``expected_cos`` is only the sign of the inner product.
        ``expected_cos_ci_low``, ``expected_cos_ci_high``: percentile bootstrap interval
        (level ``ci_level``) over draws, ``expected_cos_se`` its bootstrap standard
        deviation, ``expected_cos_ci_block``: draws per resampled unit (1: single draws).
        ``expected_cos_raw``: cosine of the plain mean ``mean(d)`` (its squared norm is
        biased up by ``tr(Cov)/n``: the cosine rises with ``n_draws`` for unbiased rules).
        ``expected_snr``: ``S / tr(M Cov_hat)``, the signal-to-noise ratio of one draw
        (inf for a noiseless rule; ``<= 0`` when unresolved).
        ``expected_norm_debiased``: ``sqrt(max(S, 0))``.
        ``bias_sq``, ``variance``, ``mse``: unbiased estimates of
        ``E|d - t|_M^2 = bias_sq + variance`` with ``t`` the projection of ``E d`` on the
        line of the steepest-descent direction ``u = -M^{-1} g / |g|_{M^-1}``
        (``t = <E d, u>_M u``): ``bias_sq = |E d|^2 - <E d, u>^2`` (the part of the mean
        perpendicular to ``-g``), ``variance = tr(M Cov)``. Being unbiased, ``bias_sq``
        can come out slightly negative.
        ``expected_inner``: ``-mean(d).g`` (units: loss; unbiased for ``-E[d].g``).
        ``mean_cos``: mean over draws of each draw's cosine (draws with a zero update
        count as 0); ``mean_cos_se``: its standard error (NaN for one draw).
        ``frac_positive``: fraction of draws with ``-d.g > 0``.
        ``n_zero_norm``: draws whose cosine was undefined.
        ``expected_norm``: ``|mean(d)|`` and ``grad_norm``: ``|g|`` (both in the metric).
        ``noise_var``: unbiased estimate of ``E|d - E d|^2`` (Euclidean, all arrays).
        ``n_draws`` and ``mean_delta`` (the mean update, dict of arrays).

    Raises
    ------
    InvalidParameterError
        When ``n_draws``, ``n_boot``, ``ci_level`` or ``max_kept`` is out of range, or
        the metric is not symmetric positive definite.
    RuleError
        When a draw's delta breaks the protocol.

    Examples
    --------
    >>> import numpy as np
    >>> class Noisy:
    ...     def init(self, params):
    ...         return None
    ...     def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
    ...         return {"w": -params["w"] + 10 * rng.standard_normal(50)}, state
    >>> p = {"w": np.ones(50)}
    >>> out = expected_cosine(Noisy(), {}, None, p, {"w": p["w"]}, n_draws=100, rng=0)
    >>> out["expected_cos_raw"] < 0.8 < out["expected_cos_ci_high"]
    True
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise InvalidParameterError(f"n_boot must be an integer >= 0; got {n_boot!r}.")
    if not (isinstance(ci_level, (int, float)) and 0 < ci_level < 1):
        raise InvalidParameterError(f"ci_level must be in (0, 1); got {ci_level!r}.")
    if isinstance(max_kept, bool) or not isinstance(max_kept, (int, np.integer)) \
            or max_kept < 0:
        raise InvalidParameterError(f"max_kept must be an integer >= 0; got {max_kept!r}.")
    keys = sorted(grad)
    m = _as_metric(metric, keys, grad)
    acc = _run_draws(rule, signals, state, params, n_draws=n_draws, rng=rng,
                     loss_fn=loss_fn, reward=reward, grad=grad, metric=m,
                     max_kept=max_kept)
    n = acc["n"]
    mean = {k: s / n for k, s in acc["sums"].items()}
    total = align(mean, grad, m)["total"]  # the raw cosine, and checks mean's arrays
    mean_g = acc["mean_g"]
    m_mean = mean_g if m is None else np.asarray(m.apply(mean_g), dtype=np.float64)
    sq_mean = max(float(mean_g @ m_mean), 0.0)
    grad_norm = math.sqrt(acc["gg"])
    a_hat = acc["h_mean"]
    if n > 1:
        tr_mc = acc["ssm_dev"] / (n - 1)              # unbiased tr(M Cov)
        s_hat = sq_mean - tr_mc / n                   # unbiased |E d|_M^2
        var_h = acc["h_ss"] / (n - 1)                 # unbiased Var(-d.g)
        resolved = bool(s_hat > 0)
        if grad_norm > 0:
            cos = float(_cos(a_hat, s_hat, grad_norm))
            unclipped = a_hat / (math.sqrt(s_hat) * grad_norm) if resolved else np.nan
            # <E d, u>^2 estimated without bias: hbar^2 - Var(h)/n, h = -d.g / |g|.
            proj_sq = (a_hat ** 2 - var_h / n) / acc["gg"]
        else:
            cos, unclipped, proj_sq = 0.0, np.nan, 0.0
        snr = s_hat / tr_mc if tr_mc > 0 else (np.inf if resolved else np.nan)
        low, high, se = _bootstrap(acc, m, a_hat, s_hat, grad_norm, n_boot=int(n_boot),
                                   ci_level=float(ci_level))
        bias_sq = s_hat - proj_sq
    else:
        tr_mc = s_hat = snr = cos = unclipped = low = high = se = bias_sq = np.nan
        resolved = False
    mean_cos = acc["sum_cos"] / n
    var = (acc["sum_cos2"] - n * mean_cos ** 2) / (n - 1) if n > 1 else np.nan
    return {"expected_cos": cos, "expected_cos_unclipped": float(unclipped),
            "expected_norm_resolved": resolved,
            "expected_cos_ci_low": low, "expected_cos_ci_high": high,
            "expected_cos_se": se, "expected_cos_ci_block": int(acc["block"]),
            "expected_cos_raw": total["cos"], "expected_snr": float(snr),
            "expected_norm_debiased": math.sqrt(max(s_hat, 0.0)) if n > 1 else np.nan,
            "bias_sq": float(bias_sq), "variance": float(tr_mc),
            "mse": float(bias_sq + tr_mc),
            "expected_inner": total["inner"],
            "mean_cos": mean_cos,
            "mean_cos_se": float(np.sqrt(max(var, 0.0) / n)) if n > 1 else np.nan,
            "frac_positive": acc["n_pos"] / n, "n_zero_norm": acc["n_zero"],
            "expected_norm": total["delta_norm"], "grad_norm": total["grad_norm"],
            "noise_var": _noise(acc), "n_draws": n, "mean_delta": mean}
