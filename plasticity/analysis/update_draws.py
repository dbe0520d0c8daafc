"""Drawing a rule's update many times from one fixed state, and accumulating the draws.

The accumulator behind :func:`~plasticity.analysis.expected.expected_update` and
:func:`~plasticity.analysis.expected.expected_cosine`: per-array sums, second moments
about the first draw, and (given the gradient) the per-draw cosines and the block means
the bootstrap resamples.
"""

from __future__ import annotations

import math

import numpy as np

from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules.base import check_delta, check_protocol, rule_name

#: Largest number of (block) means the bootstrap resamples: its cost grows as the square.
_MAX_BLOCKS = 500


def _run_draws(rule, signals, state, params, *, n_draws, rng, loss_fn, reward, grad=None,
               metric=None, keep=False, max_kept=0):
    """Draw the rule's update ``n_draws`` times from one state and accumulate.

    Every second moment is accumulated about the first draw (a shift that leaves
    variances unchanged), so that a rule with little noise relative to its mean does not
    lose its variance to cancellation in ``sum |d|^2 - n |mean|^2``.

    Returns a dict with the per-array sums (``sums``), the Euclidean total variance
    numerator over all arrays (``ss_dev``, ``sum |d_i - mean|^2``) and, with ``grad``,
    on the flat vector of the arrays of ``grad`` (sorted order): the mean ``mean_g``, the
    metric's ``sum |d_i - mean|_M^2`` (``ssm_dev``), the sums of per-draw cosines and
    their squares, the number of positive inner products and of zero-norm draws, the
    sample mean and sum of squared deviations of ``h_i = -d_i.g`` and the block sums of
    the draws (``blocks``, shape ``(n_blocks, P)``, block size ``block``) for the
    bootstrap; with ``keep`` also the stacked draws.
    """
    check_protocol(rule)
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise InvalidParameterError(f"n_draws must be an integer >= 1; got {n_draws!r}.")
    n_draws = int(n_draws)
    parent = np.random.default_rng(rng)
    children = parent.spawn(n_draws)
    shapes = {k: np.shape(v) for k, v in params.items()}
    sums: dict[str, np.ndarray] = {}
    shift: dict[str, np.ndarray] = {}   # first value of each array (zeros if absent then)
    dev_sums: dict[str, np.ndarray] = {}
    stacks: dict[str, np.ndarray] = {}
    ss_shift = 0.0
    keys_g = sorted(grad) if grad is not None else []
    gflat = (np.concatenate([np.ravel(np.asarray(grad[k], dtype=np.float64)) for k in keys_g])
             if keys_g else np.zeros(0))
    zeros_g = {k: np.zeros(np.shape(grad[k])) for k in keys_g}
    size_g = gflat.size
    if grad is not None:
        gg = float(gflat @ gflat) if metric is None else metric.dual2(gflat)
        # Blocks of `block` consecutive draws: one block per draw when n * P fits in
        # max_kept elements (and the bootstrap's n^2 cost is bounded), else block means.
        n_fit = max(1, min(_MAX_BLOCKS, int(max_kept) // max(size_g, 1)))
        block = -(-n_draws // min(n_fit, n_draws))
        n_blocks = n_draws // block
        blocks = np.zeros((n_blocks, size_g))
        v0 = mv0 = None
        t_g = np.zeros(size_g)
        ssm_shift = 0.0
        h0 = h_dev_sum = h_dev_sq = 0.0
    sum_cos = sum_cos2 = 0.0
    n_pos = n_zero = 0
    update = rule.update
    for i, child in enumerate(children):
        delta, _ = update(signals, state, params, reward=reward, loss_fn=loss_fn, rng=child)
        if i == 0:
            # The full check once; later draws get the cheap shape check below and a
            # finiteness check of the sums at the end (NaN and inf propagate into them).
            delta = check_delta(rule, delta, params)
        for k, d in delta.items():
            acc = sums.get(k)
            if acc is None:
                if k not in shapes:
                    check_delta(rule, delta, params)  # raises, naming the array
                acc = sums[k] = np.zeros(shapes[k])
                # Draws before this one lacked the array (zeros): shift by zero then.
                shift[k] = np.array(d, dtype=np.float64) if i == 0 else np.zeros(shapes[k])
                dev_sums[k] = np.zeros(shapes[k])
                if keep:
                    stacks[k] = np.zeros((n_draws, *shapes[k]))
            if np.shape(d) != acc.shape:
                check_delta(rule, delta, params)  # raises, naming the array and shapes
            acc += d
            if keep:
                stacks[k][i] = d
        for k, s in shift.items():
            dev = delta[k] - s if k in delta else -s
            dev_sums[k] += dev
            ss_shift += float(np.vdot(dev, dev))
        if grad is None:
            continue
        v = np.concatenate([np.ravel(delta.get(k, zeros_g[k])) for k in keys_g])
        mv = v if metric is None else np.asarray(metric.apply(v), dtype=np.float64)
        ddm = float(v @ mv)
        h = -float(v @ gflat)
        if i == 0:
            v0, mv0, h0 = v.copy(), mv.copy(), h
        dv = v - v0
        t_g += dv
        ssm_shift += float(dv @ (mv - mv0))
        h_dev_sum += h - h0
        h_dev_sq += (h - h0) ** 2
        if i // block < n_blocks:
            blocks[i // block] += v
        # The cosine uses the metric's norm; the noise summary stays Euclidean.
        denom = math.sqrt(ddm * gg) if ddm > 0 else 0.0
        if denom > 0:
            c = min(1.0, max(-1.0, h / denom))
            sum_cos += c
            sum_cos2 += c * c
        else:
            n_zero += 1
        n_pos += h > 0
    for k, acc in sums.items():
        if not np.all(np.isfinite(acc)):
            raise RuleError(f"Rule {rule_name(rule)} returned a delta for '{k}' containing "
                            "NaN or infinity in at least one draw.")
    n = n_draws
    # sum |d_i - mean|^2 = sum |d_i - s|^2 - |sum (d_i - s)|^2 / n (exact for any shift s).
    ss_dev = ss_shift - sum(float(np.vdot(t, t)) for t in dev_sums.values()) / n
    out = {"sums": sums, "ss_dev": max(ss_dev, 0.0), "n": n,
           "stacks": stacks if keep else None}
    if grad is not None:
        if not (np.all(np.isfinite(t_g)) and math.isfinite(ssm_shift)):
            raise RuleError(f"Rule {rule_name(rule)} returned a delta containing NaN or "
                            "infinity in at least one draw.")
        mt = t_g if metric is None else np.asarray(metric.apply(t_g), dtype=np.float64)
        ssm_dev = ssm_shift - float(t_g @ mt) / n
        out.update(
            keys_g=keys_g, gflat=gflat, gg=gg, mean_g=(v0 + t_g / n), ssm_dev=max(ssm_dev, 0.0),
            sum_cos=sum_cos, sum_cos2=sum_cos2, n_pos=int(n_pos), n_zero=int(n_zero),
            h_mean=h0 + h_dev_sum / n, h_ss=max(h_dev_sq - h_dev_sum ** 2 / n, 0.0),
            blocks=blocks, block=block, boot_rng=parent.spawn(1)[0])
    return out


def _noise(acc):
    """Unbiased estimate of ``E|d - E d|^2`` (Euclidean, all arrays); NaN for one draw."""
    n = acc["n"]
    return acc["ss_dev"] / (n - 1) if n > 1 else np.nan
