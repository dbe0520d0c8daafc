"""Claim: GD selects pre-existing circuits; most weights end near zero; lottery tickets.

The claim (issue 19, claim 8): "Gradient descent selects pre-existing circuits from the
initialisation; most weights are zero after training; lottery tickets." Three sub-claims,
each measured separately on one-hidden-layer ReLU networks of several widths trained on
MNIST-1D by minibatch SGD with exact backpropagation.

The problem
    MNIST-1D (Greydanus & Kobak 2024; :class:`~plasticity.tasks.MNIST1D`, the ``mnist1d``
    package's default data set built offline): 4,000 training and 1,000 test signals of 40
    samples, 10 classes, softmax cross-entropy. The network is the package's
    :class:`~plasticity.substrates.FeedForward` ``[40, H, 10]``, ReLU hidden layer and
    linear output (logits), biases (trained, never pruned). Weights start from ``N(0,
    2 / n_in)`` (He), or with ``init="uniform"`` from the uniform law of the same standard
    deviation ``sigma_l = sqrt(2 / n_in)``; biases from zero. Training: ``epochs`` passes
    of shuffled minibatches of ``batch_size``, plain SGD at rate ``eta``. Within a seed
    every training of every width replays the same minibatch sequence (common random
    numbers: the differences between arms are not blurred by the data order).

What is measured, per width and seed
    1. ``near_zero_init`` / ``near_zero_trained``: the fraction of weights with ``|w| <
       near_zero * sigma_l`` (each layer's initial standard deviation) at initialisation
       and after dense training; ``near_zero_trained_rel`` uses the trained layer's own
       standard deviation instead (a distribution that became peaked at zero with heavy
       tails raises it even if the scale grew).
    2. Iterative magnitude pruning (Frankle & Carbin 2019): train, remove the fraction
       ``prune_rate`` of each weight matrix's surviving weights with the smallest ``|w|``,
       rewind the survivors to their values at step ``rewind_step`` (0: the
       initialisation ``w0``; Frankle et al. 2020's late rewinding otherwise) and train
       again over the remaining steps of the same minibatch sequence; ``rounds`` rounds,
       so round ``r`` keeps ``round(n_l (1 - prune_rate)^r)`` weights of a layer of
       ``n_l``. At every round the same mask is also trained from
       a fresh draw of the initial law (``reinit``, Frankle & Carbin's control) and a
       random mask with the same counts from the rewound weights (``random_mask``).
       Test accuracy of each arm and of the dense network; ``ticket_minus_reinit``,
       ``ticket_minus_random_mask`` and ``ticket_minus_dense`` are paired differences
       within each seed (the headline, ``lottery.ticket_minus_reinit``, is the first at
       the last round of the widest network).
    3. Mask overlap: the one-shot mask of the trained dense network (per layer, the
       ``k_l`` largest ``|w_T|`` at ``sparsity``, and at every IMP level for the curve)
       against the ``k_l`` largest ``|w0|`` (``overlap_init``) and the ``k_l`` largest
       ``|w_T - w0|`` (``overlap_update``): ``sum_l |A_l & B_l| / sum_l k_l``. Chance
       (independent masks of the same sizes): ``sum_l k_l^2 / n_l / sum_l k_l``
       (``overlap_chance``, the kept fraction up to rounding), checked by
       ``overlap_random``, the overlap with a uniformly random mask of the same sizes.
       ``overlap_shuffled`` is the inertia null: the overlap with the top of ``|w0|`` of
       the top of ``|w0 + shuffled(w_T - w0)|`` (each layer's update permuted), what
       updates of the measured sizes but unrelated to ``w0`` would keep.
       ``imp_overlap_init`` is the same overlap for the IMP mask of each round.
    4. ``rel_change = ||W_T - W0|| / ||W0||`` over both weight matrices, and its
       log-log slope against width (``rel_change_slope``).

Theory
    At initialisation the near-zero fraction is ``erf(c / sqrt 2)`` for the Gaussian law
    and ``min(c / sqrt 3, 1)`` for the uniform one (``c = near_zero``), exactly:
    ``near_zero_init_z`` is the pooled count's deviation from it in binomial standard
    errors. In the lazy (NTK) regime the relative change of the weights falls like
    ``width^(-1/2)`` (Jacot et al. 2018; Chizat et al. 2019; ``theory_rel_change_slope``
    = -0.5); its measured slope says how lazy these networks are. The expected overlap
    of two independent masks of ``k`` among ``n`` is ``k / n`` (hypergeometric mean
    ``k^2 / n`` of the intersection).

Statistics
    Seeds are independent replicates (network init, data order, re-initialisation and
    random masks all from the seed's streams); every ``_low``/``_high`` is the 95%
    t-interval over per-seed values (``seeds_interval``), paired within a seed for the
    differences, and NaN with one seed. The exception is ``near_zero_init``, whose
    weights are independent draws: its interval is the Clopper-Pearson interval of the
    pooled count. The slope is fitted per seed by least squares on ``(log width, log
    rel_change)`` and its interval taken over seeds.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.experiment import ClaimMeta, Config, Experiment

#: training set size of MNIST-1D (the package's default split)
N_TRAIN = 4000
#: the IMP arms, in plotting order
ARMS = ("ticket", "reinit", "random_mask")
LABELS = {"ticket": "rewound ticket", "reinit": "random re-init", "random_mask": "random mask"}
WEIGHTS = ("W1", "W_out")


class ClaimLotteryConfig(Config):
    widths: list[Annotated[int, Field(ge=2)]] = Field(
        [32, 128, 512], min_length=2, description="hidden widths (at least two, distinct)")
    epochs: int = Field(30, ge=1, description="passes over the 4,000 training signals")
    batch_size: int = Field(100, ge=1, le=N_TRAIN, description="minibatch size")
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="SGD learning rate")
    init: Literal["gaussian", "uniform"] = Field(
        "gaussian", description="law of the initial weights (std sqrt(2 / fan-in))")
    prune_rate: float = Field(0.5, gt=0, lt=1,
                              description="fraction of surviving weights pruned per round")
    rounds: int = Field(4, ge=1, description="IMP rounds")
    rewind_step: int = Field(0, ge=0, description="SGD step the tickets rewind to (0: w0)")
    sparsity: float = Field(0.9, gt=0, lt=1,
                            description="fraction removed by the one-shot overlap mask")
    near_zero: float = Field(0.1, gt=0, allow_inf_nan=False,
                             description="near-zero threshold, in units of the init std")
    seeds: int = Field(5, ge=1, description="independent replicates")

    @field_validator("widths")
    @classmethod
    def _distinct(cls, value):
        if len(set(value)) != len(value):
            raise ValueError(f"widths must be distinct (got {value})")
        return sorted(value)

    @model_validator(mode="after")
    def _rewind_inside(self):
        steps = n_steps(self.epochs, self.batch_size)
        if self.rewind_step >= steps:
            raise ValueError(f"rewind_step must be below the {steps} SGD steps of a "
                             f"training (got {self.rewind_step})")
        return self


def n_steps(epochs, batch_size):
    """SGD steps of one training: ``epochs * floor(4000 / batch_size)`` (the last,
    incomplete batch of an epoch is dropped)."""
    return int(epochs) * (N_TRAIN // int(batch_size))


# ------------------------------------------------------------------------- network


def network(width):
    """The ``[40, width, 10]`` ReLU network (linear output: logits)."""
    from plasticity.substrates import FeedForward

    return FeedForward(sizes=[40, int(width), 10], activations=["relu", "linear"],
                       init_scale=float(np.sqrt(2.0)))


def init_std(net):
    """Each weight matrix's initial standard deviation ``sqrt(2 / fan-in)``.

    Returns
    -------
    dict of str to float
        For ``W1`` and ``W_out`` (weight units).
    """
    return {w: float(np.sqrt(2.0 / net.sizes[k])) for k, w in enumerate(WEIGHTS)}


def init_params(net, rng, law="gaussian"):
    """Initial parameters: weights of std ``sqrt(2 / fan-in)`` from ``law``, zero biases.

    Parameters
    ----------
    net : FeedForward
    rng : numpy.random.Generator
    law : {"gaussian", "uniform"}
        Gaussian (the substrate's own draw) or uniform on ``[-sqrt(3) s, sqrt(3) s]``.

    Returns
    -------
    dict of str to ndarray
        ``W1`` ``(H, 40)``, ``b1`` ``(H,)``, ``W_out`` ``(10, H)``, ``b_out`` ``(10,)``.
    """
    if law == "gaussian":
        return net.init_params(rng)
    params = {}
    for w, s in init_std(net).items():
        a = np.sqrt(3.0) * s
        params[w] = rng.uniform(-a, a, size=net.param_shapes()[w])
    for b in ("b1", "b_out"):
        params[b] = np.zeros(net.param_shapes()[b])
    return params


def near_zero_theory(c, law="gaussian"):
    """``P(|w| < c sigma)`` for a weight of standard deviation ``sigma`` at init.

    ``erf(c / sqrt 2)`` for the Gaussian law, ``min(c / sqrt 3, 1)`` for the uniform law
    on ``[-sqrt(3) sigma, sqrt(3) sigma]`` (dimensionless).
    """
    from scipy.special import erf

    if law == "gaussian":
        return float(erf(c / np.sqrt(2.0)))
    return float(min(c / np.sqrt(3.0), 1.0))


def near_zero_count(params, scale, c):
    """``(count, total)`` of weights with ``|w| < c * scale[name]`` over ``W1``, ``W_out``."""
    count = sum(int(np.count_nonzero(np.abs(params[w]) < c * scale[w])) for w in WEIGHTS)
    return count, sum(int(params[w].size) for w in WEIGHTS)


def masked_loss_and_grad(net, params, masks, x, y):
    """Cross-entropy of the network with weights ``params[W] * masks[W]``, and its gradient.

    Parameters
    ----------
    net : FeedForward
    params : dict of str to ndarray
    masks : dict of str to ndarray of bool, or None
        Shapes of ``W1`` and ``W_out``; None: the dense network.
    x : ndarray, shape (B, 40)
    y : ndarray of int, shape (B,)

    Returns
    -------
    loss : float
        Batch-mean cross-entropy (nats).
    grad : dict of str to ndarray
        Its exact gradient with respect to ``params`` (by the chain rule through the
        mask: the backprop gradient at the masked weights, times the mask).
    """
    if masks is None:
        return net.loss_and_grad(params, x, y, "cross_entropy")
    eff = dict(params)
    for w, m in masks.items():
        eff[w] = params[w] * m
    loss, grad = net.loss_and_grad(eff, x, y, "cross_entropy")
    for w, m in masks.items():
        grad[w] = grad[w] * m
    return loss, grad


def batch_schedule(epochs, batch_size, rng):
    """Minibatch indices of one training: shuffled epochs, last incomplete batch dropped.

    Returns
    -------
    ndarray of int, shape (n_steps, batch_size)
    """
    per = N_TRAIN // batch_size
    order = [rng.permutation(N_TRAIN)[:per * batch_size] for _ in range(epochs)]
    return np.concatenate(order).reshape(epochs * per, batch_size)


def train(net, params, masks, x, y, schedule, eta, start=0, snapshot_at=None):
    """Plain SGD on the masked network from ``params`` over ``schedule[start:]``.

    Pruned weights start at zero and their gradient is zero, so they stay exactly zero.

    Parameters
    ----------
    net, masks
        As in :func:`masked_loss_and_grad`.
    params : dict of str to ndarray
        The starting point (copied; pruned entries are zeroed).
    x, y : ndarray
        Training signals ``(4000, 40)`` and labels ``(4000,)``.
    schedule : ndarray of int, shape (n_steps, B)
    eta : float
        Learning rate.
    start : int
        First step of ``schedule`` to take (a rewound ticket continues from there).
    snapshot_at : int, optional
        Also return a copy of the parameters before step ``snapshot_at``.

    Returns
    -------
    params : dict of str to ndarray
    snapshot : dict of str to ndarray or None
    """
    p = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    if masks is not None:
        for w, m in masks.items():
            p[w] *= m
    snap = None
    for t in range(start, schedule.shape[0]):
        if t == snapshot_at:
            snap = {k: v.copy() for k, v in p.items()}
        idx = schedule[t]
        _, g = masked_loss_and_grad(net, p, masks, x[idx], y[idx])
        for k in p:
            p[k] -= eta * g[k]
    return p, snap


def accuracy(net, params, x, y):
    """Fraction of ``x`` whose largest logit is the label ``y``."""
    return float(np.mean(net.forward(params, x).pre[-1].argmax(axis=1) == y))


# ------------------------------------------------------------------------- masks


def kept_counts(sizes, keep):
    """Weights kept per layer at kept fraction ``keep``: ``max(1, round(n_l * keep))``."""
    return {w: max(1, int(round(n * keep))) for w, n in sizes.items()}


def topk_mask(score, k, allowed=None):
    """The mask of exactly ``k`` largest entries of ``score`` (ties broken by position).

    Parameters
    ----------
    score : ndarray
        Any shape (e.g. ``|w|``).
    k : int
        ``1 <= k <= score.size`` (and at most the number of allowed entries).
    allowed : ndarray of bool, optional
        Only these entries may be kept (IMP prunes among the survivors).

    Returns
    -------
    ndarray of bool, shape of ``score``, with exactly ``k`` True entries.
    """
    s = np.asarray(score, dtype=np.float64).ravel().copy()
    if allowed is not None:
        s[~np.asarray(allowed, dtype=bool).ravel()] = -np.inf
    if not 1 <= k <= s.size:
        raise ValueError(f"k must lie in [1, {s.size}]; got {k}")
    mask = np.zeros(s.size, dtype=bool)
    mask[np.argpartition(-s, k - 1)[:k]] = True
    return mask.reshape(np.shape(score))


def layer_masks(scores, counts, allowed=None):
    """:func:`topk_mask` per weight matrix: ``{W: mask}`` with ``counts[W]`` kept."""
    return {w: topk_mask(scores[w], counts[w], None if allowed is None else allowed[w])
            for w in counts}


def random_masks(shapes, counts, rng):
    """Uniformly random masks with exactly ``counts[W]`` kept entries per matrix."""
    return layer_masks({w: rng.random(shapes[w]) for w in counts}, counts)


def overlap(a, b):
    """``sum_l |a_l & b_l| / sum_l |a_l|`` for two dicts of equal-sized boolean masks."""
    inter = sum(int(np.count_nonzero(a[w] & b[w])) for w in a)
    return inter / sum(int(np.count_nonzero(a[w])) for w in a)


def overlap_chance(sizes, counts):
    """Expected :func:`overlap` of independent uniform masks: ``sum k^2 / n / sum k``."""
    return float(sum(counts[w] ** 2 / sizes[w] for w in counts) / sum(counts.values()))


def mask_overlaps(p0, pT, counts, rng):
    """Overlaps of the one-shot mask of ``pT`` (top ``counts`` of ``|w_T|``).

    Returns
    -------
    dict
        ``overlap_init`` (with the top of ``|w0|``), ``overlap_update`` (top of
        ``|w_T - w0|``), ``overlap_random`` (a uniformly random mask from ``rng``),
        ``overlap_chance`` (the expectation of the last) and ``overlap_shuffled``: the
        overlap with the top of ``|w0|`` of the top of ``|w0 + shuffled(w_T - w0)|``,
        each layer's update permuted at random (the same update sizes, no relation to
        ``w0``: what inertia alone keeps). All dimensionless.
    """
    sizes = {w: p0[w].size for w in counts}
    top0 = layer_masks({w: np.abs(p0[w]) for w in counts}, counts)
    final = layer_masks({w: np.abs(pT[w]) for w in counts}, counts)
    shuffled = {w: p0[w] + rng.permutation((pT[w] - p0[w]).ravel()).reshape(p0[w].shape)
                for w in counts}
    return {"overlap_init": overlap(final, top0),
            "overlap_update": overlap(final, layer_masks(
                {w: np.abs(pT[w] - p0[w]) for w in counts}, counts)),
            "overlap_random": overlap(final, random_masks(
                {w: p0[w].shape for w in counts}, counts, rng)),
            "overlap_shuffled": overlap(layer_masks(
                {w: np.abs(v) for w, v in shuffled.items()}, counts), top0),
            "overlap_chance": overlap_chance(sizes, counts)}


def rel_change(p0, pT):
    """``||W_T - W0|| / ||W0||`` over both weight matrices (dimensionless)."""
    num = sum(float(np.sum((pT[w] - p0[w]) ** 2)) for w in WEIGHTS)
    den = sum(float(np.sum(p0[w] ** 2)) for w in WEIGHTS)
    return float(np.sqrt(num / den))


def loglog_slope(widths, values):
    """Least-squares slope of ``log(values)`` on ``log(widths)`` (dimensionless)."""
    return float(np.polyfit(np.log(np.asarray(widths, dtype=float)),
                            np.log(np.asarray(values, dtype=float)), 1)[0])


# ------------------------------------------------------------------------- one seed


def _one_width(cfg, data, width, seed, wi, bar):
    """All measurements of one width and seed: a per-seed row and per-round rows."""
    x, y, xt, yt = data
    net = network(width)
    scale = init_std(net)
    sizes = {w: int(np.prod(net.param_shapes()[w])) for w in WEIGHTS}
    schedule = batch_schedule(cfg.epochs, cfg.batch_size, np.random.default_rng([*seed, 1]))
    p0 = init_params(net, np.random.default_rng([*seed, wi, 0]), cfg.init)
    pT, p_rw = train(net, p0, None, x, y, schedule, cfg.eta,
                     snapshot_at=cfg.rewind_step if cfg.rewind_step else None)
    if p_rw is None:
        p_rw = p0
    bar.update(1)
    n0, n = near_zero_count(p0, scale, cfg.near_zero)
    nT, _ = near_zero_count(pT, scale, cfg.near_zero)
    own = {w: float(pT[w].std()) for w in WEIGHTS}
    nT_rel, _ = near_zero_count(pT, own, cfg.near_zero)
    row = {"near_zero_init_count": n0, "n_weights": n, "near_zero_init": n0 / n,
           "near_zero_trained": nT / n, "near_zero_trained_rel": nT_rel / n,
           "rel_change": rel_change(p0, pT), "dense_acc": accuracy(net, pT, xt, yt)}
    row.update(mask_overlaps(p0, pT, kept_counts(sizes, 1.0 - cfg.sparsity),
                             np.random.default_rng([*seed, wi, 2])))
    rounds = []
    mask = {w: np.ones(p0[w].shape, dtype=bool) for w in WEIGHTS}
    prev = pT
    for r in range(1, cfg.rounds + 1):
        keep = (1.0 - cfg.prune_rate) ** r
        counts = kept_counts(sizes, keep)
        mask = layer_masks({w: np.abs(prev[w]) for w in WEIGHTS}, counts, allowed=mask)
        ticket, _ = train(net, p_rw, mask, x, y, schedule, cfg.eta, start=cfg.rewind_step)
        bar.update(1)
        fresh = init_params(net, np.random.default_rng([*seed, wi, 3, r]), cfg.init)
        reinit, _ = train(net, fresh, mask, x, y, schedule, cfg.eta)
        bar.update(1)
        rmask = random_masks({w: p0[w].shape for w in WEIGHTS}, counts,
                             np.random.default_rng([*seed, wi, 4, r]))
        rand, _ = train(net, p_rw, rmask, x, y, schedule, cfg.eta, start=cfg.rewind_step)
        bar.update(1)
        one_shot = mask_overlaps(p0, pT, counts, np.random.default_rng([*seed, wi, 5, r]))
        acc = {"ticket": accuracy(net, ticket, xt, yt), "reinit": accuracy(net, reinit, xt, yt),
               "random_mask": accuracy(net, rand, xt, yt)}
        rounds.append({"round": r, "keep": sum(counts.values()) / n,
                       **{f"{a}_acc": acc[a] for a in ARMS},
                       "ticket_minus_reinit": acc["ticket"] - acc["reinit"],
                       "ticket_minus_random_mask": acc["ticket"] - acc["random_mask"],
                       "ticket_minus_dense": acc["ticket"] - row["dense_acc"],
                       "imp_overlap_init": overlap(mask, layer_masks(
                           {w: np.abs(p0[w]) for w in WEIGHTS}, counts)),
                       **one_shot})
        prev = ticket
    return row, rounds


# ------------------------------------------------------------------------- statistics


def _interval(values):
    """``(mean, low, high)``: the 95% t-interval over seeds (NaN bounds for one seed)."""
    from plasticity.analysis import seeds_interval

    return tuple(float(v) for v in seeds_interval(np.asarray(values, dtype=float)))


def _put(summary, key, values, clip=None):
    mean, low, high = _interval(values)
    if clip is not None and np.isfinite(low):
        # a fraction lies in [0, 1]: cutting the interval there keeps its coverage
        low, high = max(low, clip[0]), min(high, clip[1])
    summary[key], summary[f"{key}_low"], summary[f"{key}_high"] = mean, low, high


def _slope(widths, per_seed_values):
    """The log-log slope of ``rel_change`` on width: ``(mean, low, high)`` over seeds, or
    with one seed the least-squares fit's own t-interval (NaN with two widths)."""
    from scipy.stats import linregress
    from scipy.stats import t as student

    rows = np.asarray(per_seed_values, dtype=float)  # (seeds, widths)
    if rows.shape[0] >= 2:
        return _interval([loglog_slope(widths, v) for v in rows])
    fit = linregress(np.log(widths), np.log(rows[0]))
    dof = len(widths) - 2
    if dof < 1:
        return float(fit.slope), np.nan, np.nan
    half = float(student.ppf(0.975, dof) * fit.stderr)
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)


def summarize(cfg, per_width, per_round):
    """Summary keys from per-seed rows (``per_width[W]``: list over seeds of dicts;
    ``per_round[W]``: list over seeds of lists over rounds of dicts)."""
    from scipy.stats import binomtest

    s = {"seeds": cfg.seeds, "widths": ",".join(str(w) for w in cfg.widths),
         "n_steps": n_steps(cfg.epochs, cfg.batch_size), "rounds": cfg.rounds,
         "init": cfg.init, "near_zero": cfg.near_zero,
         "theory_near_zero_init": near_zero_theory(cfg.near_zero, cfg.init),
         "theory_rel_change_slope": -0.5}
    p = s["theory_near_zero_init"]
    for width in cfg.widths:
        rows, tag = per_width[width], f"w{width}"
        count = sum(r["near_zero_init_count"] for r in rows)
        total = sum(r["n_weights"] for r in rows)
        ci = binomtest(count, total, p).proportion_ci(0.95, method="exact")
        s[f"{tag}.n_weights"] = rows[0]["n_weights"]
        s[f"{tag}.near_zero_init"] = count / total
        s[f"{tag}.near_zero_init_low"], s[f"{tag}.near_zero_init_high"] = ci.low, ci.high
        s[f"{tag}.near_zero_init_z"] = (count - total * p) / np.sqrt(total * p * (1 - p))
        for q in ("near_zero_trained", "near_zero_trained_rel", "dense_acc",
                  "overlap_init", "overlap_update", "overlap_random", "overlap_shuffled"):
            _put(s, f"{tag}.{q}", [r[q] for r in rows], clip=(0.0, 1.0))
        _put(s, f"{tag}.rel_change", [r["rel_change"] for r in rows])
        s[f"{tag}.overlap_chance"] = rows[0]["overlap_chance"]
        for i in range(cfg.rounds):
            rt = f"{tag}.r{i + 1}"
            col = [seed_rows[i] for seed_rows in per_round[width]]
            s[f"{rt}.keep"] = col[0]["keep"]
            for a in ARMS:
                _put(s, f"{rt}.{a}.acc", [c[f"{a}_acc"] for c in col], clip=(0.0, 1.0))
            for q in ("ticket_minus_reinit", "ticket_minus_random_mask", "ticket_minus_dense"):
                _put(s, f"{rt}.{q}", [c[q] for c in col], clip=(-1.0, 1.0))
            for q in ("overlap_init", "overlap_shuffled"):
                _put(s, f"{rt}.{q}", [c[q] for c in col], clip=(0.0, 1.0))
            _put(s, f"{rt}.imp_overlap_init", [c["imp_overlap_init"] for c in col],
                 clip=(0.0, 1.0))
            s[f"{rt}.overlap_chance"] = col[0]["overlap_chance"]
    values = [[per_width[w][k]["rel_change"] for w in cfg.widths] for k in range(cfg.seeds)]
    s["rel_change_slope"], s["rel_change_slope_low"], s["rel_change_slope_high"] = \
        _slope(cfg.widths, values)
    last, top = f"r{cfg.rounds}", f"w{cfg.widths[-1]}"
    s["lottery.keep"] = s[f"{top}.{last}.keep"]
    for suffix in ("", "_low", "_high"):
        s[f"lottery.ticket_minus_reinit{suffix}"] = s[f"{top}.{last}.ticket_minus_reinit"
                                                      f"{suffix}"]
    s["verdict"] = verdict(s, cfg)
    return s


# ------------------------------------------------------------------------- verdict


def _iv(s, key, scale=1.0, digits=3):
    m, lo, hi = (s[key] * scale, s[f"{key}_low"] * scale, s[f"{key}_high"] * scale)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{m:.{digits}f} (no interval)"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _above(s, key, ref):
    """+1 if the interval of ``key`` lies above ``ref``, -1 below, 0 across, None without
    an interval."""
    lo, hi = s[f"{key}_low"], s[f"{key}_high"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return 1 if lo > ref else (-1 if hi < ref else 0)


def _label(signs):
    """The word for a sub-claim from one sign per width (see :func:`_above`)."""
    if any(x is None for x in signs):
        return "Unresolved"
    if all(x == 1 for x in signs):
        return "Supported"
    if all(x == -1 for x in signs):
        return "Not supported"
    if any(x == 1 for x in signs):
        return "Partly"
    return "Not supported" if any(x == -1 for x in signs) else "Unresolved"


def verdict(s, cfg):
    """The plain-words verdict, computed from the summary ``s`` (dict of summary keys)."""
    widths, last = cfg.widths, f"r{cfg.rounds}"
    where = f"{cfg.seeds} seed{'s' if cfg.seeds > 1 else ''}, widths {s['widths']}"
    # (1) most weights zero after training
    z_signs = [_above(s, f"w{w}.near_zero_trained", 0.5) for w in widths]
    z_label = _label(z_signs)
    z_text = "; ".join(f"H={w}: {_iv(s, f'w{w}.near_zero_trained', 100, 1)}%" for w in widths)
    part1 = (f"(1) 'Most weights are zero after training' - {z_label}: the fraction with "
             f"|w| < {cfg.near_zero:g} init std is {z_text} (at init "
             f"{100 * s['theory_near_zero_init']:.1f}% in theory, measured "
             f"{100 * s[f'w{widths[0]}.near_zero_init']:.1f}% at H={widths[0]}); against "
             f"each layer's own trained std: "
             + ", ".join(f"{100 * s[f'w{w}.near_zero_trained_rel']:.1f}%" for w in widths)
             + ".")
    # (2) selects pre-existing circuits: overlap with |w0| above chance, and the ticket
    o_signs = [_above(s, f"w{w}.overlap_init", s[f"w{w}.overlap_chance"]) for w in widths]
    n_signs = [_above(s, f"w{w}.overlap_init", s[f"w{w}.overlap_shuffled"]) for w in widths]
    t_signs = [_above(s, f"w{w}.{last}.ticket_minus_reinit", 0.0) for w in widths]
    both = _label([None if (a is None or b is None) else min(a, b)
                   for a, b in zip(o_signs, t_signs, strict=True)])
    inertia = sum(x == 1 for x in n_signs) <= len(widths) // 2
    if both == "Supported" and inertia:
        # the magnitude overlap is then no evidence of selection, only the ticket is
        both = "Partly"
    o_text = "; ".join(
        f"H={w}: {_iv(s, f'w{w}.overlap_init')} (shuffled-update null "
        f"{s[f'w{w}.overlap_shuffled']:.3f}; with the largest |w_T - w0| "
        f"{_iv(s, f'w{w}.overlap_update')})" for w in widths)
    kept = 100 * (1 - cfg.sparsity)
    part2 = (f"(2) 'GD selects pre-existing circuits' - {both}: of the {kept:g}% largest "
             f"final weights, the fraction that were among the {kept:g}% largest at init "
             f"is {o_text}, against chance {s[f'w{widths[-1]}.overlap_chance']:.3f}; above "
             f"chance at {sum(x == 1 for x in o_signs)} of {len(widths)} widths, above the "
             f"shuffled-update null (what updates of the same sizes but unrelated to w0 "
             f"keep) at {sum(x == 1 for x in n_signs)}, and the rewound ticket beats "
             f"re-initialisation at {sum(x == 1 for x in t_signs)} (3)."
             + (" At most widths the overlap is no more than updates of the measured sizes "
                "but unrelated to w0 would keep (inertia): it shows that initial weights "
                "persist, not that GD selects among them"
                + ("; that the initial values matter is shown by the ticket."
                   if any(x == 1 for x in t_signs) else ".") if inertia else ""))
    # (3) lottery tickets: rewound ticket against random re-init at matched sparsity
    t_label = _label(t_signs)
    t_text = "; ".join(
        f"H={w}: {_iv(s, f'w{w}.{last}.ticket_minus_reinit', 100, 1)} points (ticket "
        f"{100 * s[f'w{w}.{last}.ticket.acc']:.1f}%, re-init "
        f"{100 * s[f'w{w}.{last}.reinit.acc']:.1f}%, random mask "
        f"{100 * s[f'w{w}.{last}.random_mask.acc']:.1f}%, dense "
        f"{100 * s[f'w{w}.dense_acc']:.1f}%)" for w in widths)
    keep = 100 * s[f"w{widths[-1]}.{last}.keep"]
    top = f"w{widths[-1]}.{last}.ticket_minus_dense"
    # the sparsest level at which the widest ticket is not resolved below the dense net
    matching = []
    for r in range(1, cfg.rounds + 1):
        if not s[f"w{widths[-1]}.r{r}.ticket_minus_dense_high"] >= 0:
            break
        matching.append(s[f"w{widths[-1]}.r{r}.keep"])
    match = (f"it is not resolved below the dense network down to {100 * min(matching):.3g}% "
             f"of the weights kept" if matching else
             "it is resolved below the dense network from the first pruning level on")
    part3 = (f"(3) 'Lottery tickets' - {t_label}: at {keep:.1f}% of the weights kept after "
             f"{cfg.rounds} rounds of magnitude pruning, rewound ticket minus random "
             f"re-initialisation of the same mask, in test accuracy: {t_text}. Against "
             f"the dense network the widest ticket is {_iv(s, top, 100, 1)} points; {match}.")
    slope = (f"Relative weight change ||W_T - W0|| / ||W0|| falls with width with slope "
             f"{_iv(s, 'rel_change_slope', 1, 2)} on log-log axes (lazy-training theory "
             f"-0.5), from {s[f'w{widths[0]}.rel_change']:.3f} at H={widths[0]} to "
             f"{s[f'w{widths[-1]}.rel_change']:.3f} at H={widths[-1]}.")
    labels = {z_label, both, t_label}
    head = labels.pop() if len(labels) == 1 else "Partly"
    # the brief (first sentence): each sub-claim's word, so the atlas page says all three
    brief = (f"{head}: 'most weights are zero after training' {z_label.lower()}, 'GD "
             f"selects pre-existing circuits' {both.lower()}, 'lottery tickets' "
             f"{t_label.lower()} ({where}).")
    return brief + " " + " ".join((part1, part2, part3, slope))


# ------------------------------------------------------------------------- run


def _data():
    from plasticity.tasks import MNIST1D

    task = MNIST1D()
    return task.x_train, task.y_train, task.x_test, task.y_test


def run(cfg: ClaimLotteryConfig, ctx):
    from threadpoolctl import threadpool_limits

    rec = ctx.recorder
    data = _data()
    per_width = {w: [] for w in cfg.widths}
    per_round = {w: [] for w in cfg.widths}
    units = {"near_zero_init": "1", "near_zero_trained": "1", "near_zero_trained_rel": "1",
             "rel_change": "1", "dense_acc": "1", "overlap_init": "1",
             "overlap_update": "1", "overlap_random": "1", "overlap_chance": "1",
             "overlap_shuffled": "1", "n_weights": "weights", "near_zero_init_count": "weights"}
    round_units = {"seed": "1", "round": "1", "keep": "1", "ticket_acc": "1",
                   "reinit_acc": "1", "random_mask_acc": "1", "ticket_minus_reinit": "1",
                   "ticket_minus_random_mask": "1", "ticket_minus_dense": "1",
                   "imp_overlap_init": "1", "overlap_init": "1", "overlap_update": "1",
                   "overlap_random": "1", "overlap_shuffled": "1", "overlap_chance": "1"}
    total = cfg.seeds * len(cfg.widths) * (1 + len(ARMS) * cfg.rounds)
    # one BLAS thread: the matrices (100 x 512 at most) are too small for threads to pay;
    # on this 2-core machine under load two threads made width 512 about 20x slower
    with threadpool_limits(limits=1, user_api="blas"), \
            ctx.progress(total, "claim-lottery") as bar:
        for rep in range(cfg.seeds):
            seed = [ctx.seed, rep]
            for wi, width in enumerate(cfg.widths):
                row, rounds = _one_width(cfg, data, width, seed, wi, bar)
                per_width[width].append(row)
                per_round[width].append(rounds)
                rec.append(f"seeds/w{width}", rep, index="seed", index_units="1",
                           units=units, **row)
                for r in rounds:
                    rec.append(f"imp/w{width}", rep * cfg.rounds + r["round"] - 1,
                               index="row", index_units="1", units=round_units,
                               seed=rep, **r)
    s = summarize(cfg, per_width, per_round)
    _curves(rec, cfg, s)
    ctx.summary(**s)


def _curves(rec, cfg, s):
    """The summary's means and intervals as tables the figure reads: one row per width
    (``widths``) and one per IMP round and width (``curve/w<H>``)."""
    keys = ("near_zero_init", "near_zero_trained", "rel_change", "dense_acc")
    for width in cfg.widths:
        tag = f"w{width}"
        cols = {}
        for k in keys:
            cols.update({k: s[f"{tag}.{k}"], f"{k}_low": s[f"{tag}.{k}_low"],
                         f"{k}_high": s[f"{tag}.{k}_high"]})
        rec.append("widths", width, index="width", index_units="units", units={}, **cols)
        for r in range(1, cfg.rounds + 1):
            rt = f"{tag}.r{r}"
            cols = {"keep": s[f"{rt}.keep"], "overlap_chance": s[f"{rt}.overlap_chance"]}
            for k in [f"{a}.acc" for a in ARMS] + ["overlap_init", "overlap_shuffled",
                                                    "imp_overlap_init"]:
                name = k.replace(".", "_")
                cols.update({name: s[f"{rt}.{k}"], f"{name}_low": s[f"{rt}.{k}_low"],
                             f"{name}_high": s[f"{rt}.{k}_high"]})
            rec.append(f"curve/{tag}", r, index="round", index_units="1", units={}, **cols)


# ------------------------------------------------------------------------- figure


def _keep_axis(ax, keep):
    """A log axis of kept fractions, sparser to the right, ticked at the IMP levels."""
    ax.set_xscale("log")
    ax.set_xticks(keep, [f"{100 * k:.3g}%" for k in keep])
    ax.minorticks_off()
    ax.invert_xaxis()


def lazy_reference(widths, rel):
    """The lazy-training line through the first point: ``rel[0] (w / w[0])^(-1/2)``."""
    widths = np.asarray(widths, dtype=float)
    return np.asarray(rel, dtype=float)[0] * (widths / widths[0]) ** -0.5


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import apply, src, traced

    s = run.summary
    fig, axes = figure("double", height_ratio=0.62, ncols=2, nrows=2)
    (ax1, ax2), (ax3, ax4) = axes
    tw = run.series["widths"]
    widths = np.asarray(tw["width"], dtype=float)
    tab = "series/widths"
    x = np.arange(widths.size)

    def errbars(ax, xs, table, key, color, label, xkey=None, **kw):
        t = run.series[table.removeprefix("series/")]
        mean = np.asarray(t[key], dtype=float)
        lo, hi = np.asarray(t[f"{key}_low"], float), np.asarray(t[f"{key}_high"], float)
        xsrc = src(f"{table}:{xkey}") if xkey else xs
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            # one seed: no interval over seeds, so the points are drawn without bars
            art = ax.errorbar(xs, mean, color=color, label=label, **kw)
            traced(art, x=xsrc, y=src(f"{table}:{key}"))
            return
        art = ax.errorbar(xs, mean, yerr=np.vstack([mean - lo, hi - mean]), color=color,
                          capsize=2, label=label, **kw)
        traced(art, x=xsrc, y=src(f"{table}:{key}"), ylow=src(f"{table}:{key}_low"),
               yhigh=src(f"{table}:{key}_high"))

    # a: near-zero fractions
    errbars(ax1, x - 0.1, tab, "near_zero_init", PALETTE[0], "at init", marker="o", ms=3,
            ls="none")
    errbars(ax1, x + 0.1, tab, "near_zero_trained", PALETTE[1], "after training",
            marker="s", ms=3, ls="none")
    traced(ax1.axhline(s["theory_near_zero_init"], color="0.4", lw=0.8, ls=":",
                       label="init theory"), y=src("summary:theory_near_zero_init"))
    traced(ax1.axhline(0.5, color="0.6", lw=0.6, ls="--", label="half the weights"), y=0.5)
    ax1.set_xticks(x, [str(int(w)) for w in widths])
    ax1.set_xlabel("hidden width H")
    ax1.set_ylabel(f"fraction |w| < {s['near_zero']:g} init std")
    ax1.set_ylim(0.0, 0.6)
    ax1.legend(fontsize="x-small")
    ax1.set_title("a  near-zero weights", loc="left")

    # b: IMP accuracy of the widest network against kept fraction
    top = f"w{int(widths[-1])}"
    ctab = f"series/curve/{top}"
    keep = np.asarray(run.series[f"curve/{top}"]["keep"], dtype=float)
    for i, a in enumerate(ARMS):
        errbars(ax2, keep, ctab, f"{a}_acc", PALETTE[i], LABELS[a], xkey="keep", marker="o",
                ms=3)
    traced(ax2.axhline(s[f"{top}.dense_acc"], color="0.3", lw=0.8, ls="--", label="dense"),
           y=src(f"summary:{top}.dense_acc"))
    _keep_axis(ax2, keep)
    ax2.set_xlabel("fraction of weights kept")
    ax2.set_ylabel("test accuracy")
    ax2.legend(fontsize="x-small")
    ax2.set_title(f"b  pruning, H = {int(widths[-1])}", loc="left")

    # c: overlap of the one-shot mask with the largest |w0|, against chance
    for i, w in enumerate(widths):
        t = f"series/curve/w{int(w)}"
        k = np.asarray(run.series[f"curve/w{int(w)}"]["keep"], dtype=float)
        errbars(ax3, k, t, "overlap_init", PALETTE[i % len(PALETTE)], f"H = {int(w)}",
                xkey="keep", marker="o", ms=3)
    traced(ax3.plot(keep, run.series[f"curve/{top}"]["overlap_shuffled"], color=PALETTE[
        (len(widths) - 1) % len(PALETTE)], lw=0.8, ls="--",
        label=f"H = {int(widths[-1])}, shuffled updates")[0],
        x=src(f"{ctab}:keep"), y=src(f"{ctab}:overlap_shuffled"))
    traced(ax3.plot(keep, run.series[f"curve/{top}"]["overlap_chance"], color="0.4", lw=0.8,
                    ls=":", label="chance")[0],
           x=src(f"{ctab}:keep"), y=src(f"{ctab}:overlap_chance"))
    _keep_axis(ax3, keep)
    ax3.set_ylim(0.0, 1.05)
    ax3.set_xlabel("fraction of weights kept")
    ax3.set_ylabel("overlap, top |w_T| with top |w0|")
    ax3.legend(fontsize="x-small")
    ax3.set_title("c  final mask vs initial magnitudes", loc="left")

    # d: relative weight change against width, with the lazy-training slope
    errbars(ax4, widths, tab, "rel_change", PALETTE[0], "measured", xkey="width",
            marker="o", ms=3, ls="none")
    rc = np.asarray(tw["rel_change"], dtype=float)
    ref = lazy_reference(widths, rc)
    traced(ax4.plot(widths, ref, color="0.4", lw=0.8, ls=":", label="width^(-1/2)")[0],
           x=src(f"{tab}:width"),
           y=apply(lazy_reference, src(f"{tab}:width"), src(f"{tab}:rel_change"),
                   name="lazy_reference"))
    ax4.set_xscale("log")
    ax4.set_yscale("log")
    ax4.set_xticks(widths, [str(int(w)) for w in widths])
    ax4.minorticks_off()
    ax4.set_xlabel("hidden width H")
    ax4.set_ylabel("||W_T - W0|| / ||W0||")
    ax4.legend(fontsize="x-small")
    ax4.set_title(f"d  relative change, slope {s['rel_change_slope']:.2f}", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="claim-lottery",
    description="Claim: GD selects pre-existing circuits, most weights end near zero, "
                "lottery tickets; MNIST-1D MLPs, IMP vs re-init.",
    config=ClaimLotteryConfig,
    run=run,
    plot=plot,
    presets={"quick": {"widths": [32, 128, 512], "epochs": 10, "seeds": 3, "rounds": 4},
             # about 25 minutes on one core of the 2-core machine under load
             "full": {"widths": [32, 128, 512, 2048], "epochs": 40, "seeds": 6,
                      "rounds": 6}},
    claim=ClaimMeta(number=8, claim="Gradient descent selects pre-existing circuits from "
                                    "the initialisation; most weights are zero after "
                                    "training; lottery tickets.",
                    headline="lottery.ticket_minus_reinit",
                    label="test acc., IMP ticket minus random re-init, sparsest level, "
                          "widest net (fraction)",
                    low="lottery.ticket_minus_reinit_low",
                    high="lottery.ticket_minus_reinit_high"),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
