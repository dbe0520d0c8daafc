"""Claim: crossover is what sets evolution apart from annealing; GA with/without crossover vs SA.

The claim (issue 19, claim 7): "Crossover is what distinguishes evolution from simulated
annealing." Without crossover a genetic algorithm is a population of mutating strings
under selection, a parallel cousin of annealing; with it, a child can join the solved
parts of two parents. This experiment asks where that makes a difference, at matched
numbers of fitness evaluations, on landscapes built to favour it and on the control a
sceptic asks for (the same landscape with its linkage broken).

Methods (every one spends exactly ``budget`` fitness evaluations per seed)
    ``ga_one_point``, ``ga_two_point``, ``ga_uniform``
        A generational GA on bit strings: ``population`` random strings; each generation
        ``population - 1`` children, each from two parents picked by tournaments of
        ``tournament`` (ties to the first entrant), crossed with probability
        ``crossover_rate`` (one cut point, two cut points, or each bit from either parent
        with probability 1/2), then each bit flipped with probability ``mutation / n``;
        the best string is carried over (elitism of one). Vectorised over the population.
    ``ga_mutation``
        The same GA with ``crossover_rate = 0``: selection and mutation only.
    ``annealing``
        Simulated annealing: one random string, single-bit-flip proposals, Metropolis
        acceptance (``df >= 0`` always, else with probability ``exp(df / T)``), ``T``
        cooled geometrically from ``t0`` to ``t_final`` over the budget. The schedule is
        chosen per landscape from the grid ``schedules`` by the most successes on
        ``pilot_seeds`` pilot chains (streams apart from the reported seeds'; one choice
        for ``trap`` and ``trap-shuffled``, which annealing cannot tell apart); the
        pilot's evaluations are not charged to annealing, and the GA gets no such
        tuning, so the comparison leans towards annealing. Chains of all seeds (and of
        all pilot schedules) run at once (NumPy over chains), each from its own stream.
    ``hill_climbing``
        Annealing at ``T = 0``: random-mutation hill climbing that takes equal-fitness
        moves and never a worse one.

Landscapes (``n_bits = m * block`` bits, ``m`` blocks of ``k = block`` bits; the
fitness is a sum over blocks of a table ``g(u)`` of the block's number of ones ``u``)
    ``royal-road``
        ``g(u) = k`` if ``u = k`` else 0 (Forrest and Mitchell's R1): separable, building
        blocks with plateaus and no deception.
    ``trap``
        The deceptive trap of order ``k`` (Deb and Goldberg): ``g(k) = k``,
        ``g(u) = k - 1 - u`` for ``u < k``, blocks of adjacent bits (tight linkage). The
        optimum is all ones (fitness ``n_bits``); all zeros (fitness ``m (k - 1)``) is
        the deceptive attractor: every single-bit flip from it lowers the fitness.
    ``trap-shuffled``
        The same traps on bits scattered by one random permutation per run (loose
        linkage): a cut point then cuts almost every block, so one- and two-point
        crossover should lose their advantage. Single-bit flips, bitwise mutation and
        uniform crossover are blind to bit positions, so those methods' outcomes on
        ``trap-shuffled`` have the same distribution as on ``trap``.
    ``onemax``
        ``g(u) = u``: the number of ones (an easy separable baseline; off by default).

What is measured, per landscape, method and seed
    ``success`` (the optimum was evaluated within the budget), ``evals`` (the number of
    the evaluation that first found it), the best fitness found, the number of blocks
    solved in the best string, and for annealing the acceptance rate and the accepted
    worse moves. Per landscape the best-so-far fitness against evaluations, averaged over
    seeds (``curve/<landscape>/<method>``).

Theory
    Hill climbing on a trap block (flips elsewhere do not change it) is absorbed at
    ``u = k`` only from ``u = k`` or, with probability ``1/k``, from ``u = k - 1``; every
    other block falls to ``u = 0``. From a uniform random string a block is solved with
    probability ``2^(1 - k)`` (``theory_hc_blocks = m 2^(1 - k)`` expected solved blocks
    once every block is absorbed) and the optimum with ``2^(m (1 - k))``.
    One-point crossover cuts a block of adjacent bits with probability
    ``(k - 1) / (n_bits - 1)``; of scattered bits almost surely.

Statistics
    Seeds are independent replicates. A success probability has the Wilson 95% interval
    (``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``); a difference of
    two (``gain_vs_mutation``: a crossover GA minus the mutation-only GA;
    ``gain_vs_annealing``: a GA minus annealing; ``trap-shuffled.<method>.loss_vs_trap``:
    a method's success on ``trap`` minus ``trap-shuffled``) has Newcombe's hybrid score
    interval from the two Wilson intervals, and a difference is *resolved* when that
    interval excludes 0. The median evaluations to success (over the seeds that
    succeeded) has the distribution-free order-statistic interval (NaN with fewer than 6
    successes); the best fitness and blocks solved have t-intervals over seeds
    (``plasticity.analysis.seeds_interval``).

Settings
    The GA has textbook settings, the same on every landscape and not tuned to any:
    binary tournaments, crossover rate 0.9, one expected bit flip per child. Annealing's
    success on the traps depends strongly on its schedule (in a pilot at the quick
    preset's size, 7/30 from ``t0 = 1`` to ``t_final = 0.1`` and 24/30 at a constant
    ``T = 0.6``), hence the grid: ``t0`` in {2, 1, 0.6} (a one-unit loss accepted with
    probability 0.61 to 0.19) to ``t_final`` in {0.1, 0.3, 0.6}.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from plasticity.errors import InvalidParameterError
from plasticity.experiment import ClaimMeta, Config, Experiment

#: every method and landscape, in the order that fixes their random streams
METHODS = ("ga_one_point", "ga_two_point", "ga_uniform", "ga_mutation", "annealing",
           "hill_climbing")
LANDSCAPES = ("royal-road", "trap", "trap-shuffled", "onemax")
CROSSOVERS = ("one_point", "two_point", "uniform")
CROSSOVER_METHODS = ("ga_one_point", "ga_two_point", "ga_uniform")
#: methods whose outcomes do not depend on the order of the bits (uniform crossover,
#: bitwise mutation, single-bit flips): same distribution on trap and trap-shuffled
POSITION_BLIND = ("ga_uniform", "ga_mutation", "annealing", "hill_climbing")
GA_CROSSOVER = {"ga_one_point": "one_point", "ga_two_point": "two_point",
                "ga_uniform": "uniform", "ga_mutation": "one_point"}
LABELS = {"ga_one_point": "GA one-point", "ga_two_point": "GA two-point",
          "ga_uniform": "GA uniform", "ga_mutation": "GA mutation only",
          "annealing": "annealing", "hill_climbing": "hill climbing"}
#: stream tag of a landscape's own randomness (the shuffle), apart from every method's
_LANDSCAPE_STREAM = 100


class ClaimCrossoverConfig(Config):
    landscapes: list[Literal["royal-road", "trap", "trap-shuffled", "onemax"]] = Field(
        ["royal-road", "trap", "trap-shuffled"], min_length=1,
        description="landscapes to search")
    methods: list[Literal["ga_one_point", "ga_two_point", "ga_uniform", "ga_mutation",
                          "annealing", "hill_climbing"]] = Field(
        list(METHODS), min_length=1, description="methods to compare")
    n_bits: int = Field(40, ge=4, description="string length n")
    block: int = Field(4, ge=2, description="bits per block k (divides n_bits)")
    budget: int = Field(50000, ge=2, description="fitness evaluations per method and seed")
    seeds: int = Field(30, ge=1, description="independent replicates")
    population: int = Field(200, ge=2, description="GA population size")
    tournament: int = Field(2, ge=2, description="GA tournament size")
    crossover_rate: float = Field(0.9, ge=0, le=1,
                                  description="probability that a child is crossed")
    mutation: float = Field(1.0, ge=0, description="expected bit flips per GA child")
    schedules: list[tuple[Annotated[float, Field(gt=0, allow_inf_nan=False)],
                          Annotated[float, Field(gt=0, allow_inf_nan=False)]]] = Field(
        [(2.0, 0.1), (2.0, 0.3), (2.0, 0.6), (1.0, 0.1), (1.0, 0.3), (1.0, 0.6),
         (0.6, 0.1), (0.6, 0.3), (0.6, 0.6)], min_length=1,
        description="annealing schedules [t0, t_final] (fitness units) to choose from")
    pilot_seeds: int = Field(20, ge=1, description="seeds (apart) that choose the schedule")
    curve_points: int = Field(50, ge=2, description="points of the best-so-far curves")

    @field_validator("landscapes", "methods")
    @classmethod
    def _distinct(cls, value):
        if len(set(value)) != len(value):
            raise ValueError("an entry is listed twice")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.n_bits % self.block:
            raise ValueError(f"block ({self.block}) must divide n_bits ({self.n_bits})")
        if self.mutation > self.n_bits:
            raise ValueError(f"mutation ({self.mutation}) cannot exceed n_bits "
                             f"({self.n_bits}) expected flips per child")
        if self.budget < self.population:
            raise ValueError(f"budget ({self.budget}) must be at least the population "
                             f"({self.population}) to evaluate the first generation")
        for t0, t_final in self.schedules:
            if t_final > t0:
                raise ValueError(f"schedules: t_final ({t_final}) must not exceed t0 ({t0})")
        return self


# ------------------------------------------------------------------------- landscapes

def block_table(landscape, k):
    """The block fitness ``g(u)`` for ``u = 0..k`` ones in a block of ``k`` bits.

    Parameters
    ----------
    landscape : {"royal-road", "trap", "trap-shuffled", "onemax"}
    k : int >= 2
        Bits per block.

    Returns
    -------
    ndarray of int64, shape (k + 1,)
    """
    k = int(k)
    u = np.arange(k + 1)
    if landscape in ("trap", "trap-shuffled"):
        return np.where(u == k, k, k - 1 - u).astype(np.int64)
    if landscape == "royal-road":
        return np.where(u == k, k, 0).astype(np.int64)
    if landscape == "onemax":
        return u.astype(np.int64)
    raise InvalidParameterError(f"unknown landscape {landscape!r}; known: "
                                f"{', '.join(LANDSCAPES)}")


class Landscape:
    """A block-separable fitness on bit strings that counts its evaluations.

    Parameters
    ----------
    name : {"royal-road", "trap", "trap-shuffled", "onemax"}
    n_bits : int
        String length ``n``; ``block`` must divide it.
    block : int >= 2
        Bits per block ``k``.
    rng : numpy.random.Generator, optional
        Draws the permutation of ``trap-shuffled`` (required for it).

    Attributes
    ----------
    member : ndarray of int, shape (n,)
        The block of each bit position (``i // k`` for tight linkage).
    table : ndarray of int64, shape (k + 1,)
        ``g(u)``, see :func:`block_table`.
    optimum : int
        The global optimum's fitness, ``m g(k)`` (all ones).
    evaluations : int
        Strings evaluated so far (full evaluations and single-flip updates alike).
    """

    def __init__(self, name, n_bits, block, rng=None):
        n_bits, block = int(n_bits), int(block)
        if block < 2:
            raise InvalidParameterError(f"block must be at least 2; got {block}")
        if n_bits < block or n_bits % block:
            raise InvalidParameterError(f"block ({block}) must divide n_bits ({n_bits})")
        self.name, self.n_bits, self.block = name, n_bits, block
        self.m = n_bits // block
        self.table = block_table(name, block)
        member = np.arange(n_bits) // block
        if name == "trap-shuffled":
            if rng is None:
                raise InvalidParameterError("trap-shuffled needs a random generator")
            member = member[rng.permutation(n_bits)]
        self.member = member
        # (n, m) one-hot membership: the block counts of strings x are x @ onehot
        self._onehot = (member[:, None] == np.arange(self.m)[None, :]).astype(np.int64)
        self.optimum = int(self.m * self.table[block])
        self.evaluations = 0

    def counts(self, x):
        """Ones per block, shape ``(..., m)``, of strings ``x`` (bool, shape ``(..., n)``)."""
        return np.asarray(x, dtype=np.int64) @ self._onehot

    def fitness(self, x):
        """Fitness of strings ``x`` (bool, shape ``(..., n)``): int64, shape ``(...)``.

        Counts ``prod(shape[:-1])`` evaluations.
        """
        x = np.asarray(x, dtype=bool)
        if x.shape[-1] != self.n_bits:
            raise InvalidParameterError(f"strings must have {self.n_bits} bits; got "
                                        f"shape {x.shape}")
        self.evaluations += int(np.prod(x.shape[:-1], dtype=np.int64))
        return self.table[self.counts(x)].sum(axis=-1)

    def flip_delta(self, counts, position, bits):
        """Fitness change of flipping bit ``position`` of strings whose block counts are
        ``counts`` and whose bits there are ``bits``: one evaluation per string.

        Parameters
        ----------
        counts : ndarray of int, shape (s, m)
        position : ndarray of int, shape (s,)
        bits : ndarray of bool, shape (s,)
            The current values of the flipped bits.

        Returns
        -------
        delta : ndarray of int64, shape (s,)
            Fitness after minus fitness before.
        block, new_count : ndarray of int, shape (s,)
            The block each flip touches and its count of ones after the flip.
        """
        rows = np.arange(counts.shape[0])
        b = self.member[position]
        old = counts[rows, b]
        new = old + np.where(bits, -1, 1)
        self.evaluations += int(counts.shape[0])
        return self.table[new] - self.table[old], b, new

    def solved_blocks(self, counts):
        """Blocks whose every bit is one, per string: ``(counts == k).sum(-1)``."""
        return (np.asarray(counts) == self.block).sum(axis=-1)


def hill_climbing_block_theory(k):
    """Probability that hill climbing leaves a trap block of ``k`` bits solved.

    From a uniform random block: ``P(u = k) + P(u = k - 1) / k = (1 + 1) / 2^k``.
    """
    return float(2.0 ** (1 - int(k)))


# --------------------------------------------------------------------------- operators

def crossover_mask(kind, n_children, n_bits, rng):
    """Where each child takes its second parent's allele.

    Parameters
    ----------
    kind : {"one_point", "two_point", "uniform"}
    n_children, n_bits : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of bool, shape (n_children, n_bits)
        ``one_point``: positions at or after one cut ``c`` uniform on ``1..n-1``;
        ``two_point``: positions in ``[c1, c2)`` for two cuts drawn the same way and
        sorted (equal cuts exchange nothing); ``uniform``: each position with
        probability 1/2.
    """
    idx = np.arange(n_bits)[None, :]
    if kind == "one_point":
        cut = rng.integers(1, n_bits, size=(n_children, 1))
        return idx >= cut
    if kind == "two_point":
        cuts = np.sort(rng.integers(1, n_bits, size=(n_children, 2)), axis=1)
        return (idx >= cuts[:, :1]) & (idx < cuts[:, 1:])
    if kind == "uniform":
        return rng.random((n_children, n_bits)) < 0.5
    raise InvalidParameterError(f"unknown crossover {kind!r}; known: {', '.join(CROSSOVERS)}")


def crossover(mums, dads, kind, rng, rate=1.0):
    """Children of parents ``mums`` and ``dads`` (bool, shape (c, n)).

    Each child is crossed with probability ``rate`` (else a copy of its mum); a crossed
    child takes ``dads``' allele where :func:`crossover_mask` is true, ``mums``' elsewhere,
    so every bit of every child is its parents' bit at that position.
    """
    mums, dads = np.asarray(mums, dtype=bool), np.asarray(dads, dtype=bool)
    c, n = mums.shape
    mask = crossover_mask(kind, c, n, rng)
    mask &= (rng.random(c) < rate)[:, None]
    return np.where(mask, dads, mums)


#: annealing steps whose random draws are made at once (per chain)
_CHUNK = 8192


def _points(points, budget):
    """Evaluation counts for a best-so-far curve: sorted unique ints in [1, budget]."""
    if points is None:
        return np.arange(1, int(budget) + 1)
    points = np.unique(np.asarray(points, dtype=np.int64))
    if points.size == 0 or points[0] < 1 or points[-1] > budget:
        raise InvalidParameterError(f"curve points must lie in [1, {budget}]")
    return points


def _check_common(landscape, budget):
    if int(budget) < 1:
        raise InvalidParameterError(f"budget must be at least 1; got {budget}")
    if not isinstance(landscape, Landscape):
        raise InvalidParameterError("landscape must be a Landscape")


def run_ga(landscape, budget, rng, *, population=100, crossover_kind="one_point", rate=0.9,
           mutation=1.0, tournament=2, points=None):
    """One GA run of exactly ``budget`` fitness evaluations (see the module docstring).

    Parameters
    ----------
    landscape : Landscape
    budget : int >= population
        Fitness evaluations; the last generation is cut short to spend exactly this many.
    rng : numpy.random.Generator
    population : int >= 2
    crossover_kind : {"one_point", "two_point", "uniform"}
    rate : float in [0, 1]
        Crossover probability per child (0: the mutation-only GA).
    mutation : float in [0, n_bits]
        Expected bit flips per child (the per-bit rate is ``mutation / n_bits``).
    tournament : int >= 2
        Entrants per tournament.
    points : array_like of int in [1, budget], optional
        Evaluation counts at which the best-so-far fitness is kept in ``curve``
        (default: every one).

    Returns
    -------
    dict
        ``trace`` (int64, shape (budget,): best fitness after each evaluation),
        ``curve`` (``trace`` at ``points``), ``first_hit`` (the evaluation that first
        found the optimum, 0 if none),
        ``best`` (the best fitness), ``best_counts`` (ones per block of the best string,
        shape (m,)), ``evaluations`` (== budget).
    """
    _check_common(landscape, budget)
    n = landscape.n_bits
    if int(population) < 2:
        raise InvalidParameterError(f"population must be at least 2; got {population}")
    if int(budget) < int(population):
        raise InvalidParameterError(f"budget ({budget}) must be at least the population "
                                    f"({population})")
    if not 0.0 <= float(rate) <= 1.0:
        raise InvalidParameterError(f"crossover rate must lie in [0, 1]; got {rate}")
    if not 0.0 <= float(mutation) <= n:
        raise InvalidParameterError(f"mutation must lie in [0, n_bits = {n}]; got {mutation}")
    if int(tournament) < 2:
        raise InvalidParameterError(f"tournament must be at least 2; got {tournament}")
    if crossover_kind not in CROSSOVERS:
        raise InvalidParameterError(f"unknown crossover {crossover_kind!r}; known: "
                                    f"{', '.join(CROSSOVERS)}")
    budget, population = int(budget), int(population)
    start = landscape.evaluations
    pm = float(mutation) / n
    pop = rng.random((population, n)) < 0.5
    fit = landscape.fitness(pop)
    trace = np.empty(budget, dtype=np.int64)
    trace[:population] = np.maximum.accumulate(fit)
    i_best = int(np.argmax(fit))
    best, best_x = int(fit[i_best]), pop[i_best].copy()
    used = population
    while used < budget:
        c = min(population - 1, budget - used)
        entrants = rng.integers(0, population, size=(2, c, int(tournament)))
        winners = np.take_along_axis(entrants, np.argmax(fit[entrants], axis=-1)[..., None],
                                     axis=-1)[..., 0]
        children = crossover(pop[winners[0]], pop[winners[1]], crossover_kind, rng, rate)
        children ^= rng.random((c, n)) < pm
        child_fit = landscape.fitness(children)
        trace[used:used + c] = np.maximum(np.maximum.accumulate(child_fit), best)
        j = int(np.argmax(child_fit))
        if child_fit[j] > best:
            best, best_x = int(child_fit[j]), children[j].copy()
        # elitism of one: the best string so far stays (ties keep the older one)
        elite = int(np.argmax(fit))
        pop = np.concatenate([pop[elite:elite + 1], children])
        fit = np.concatenate([fit[elite:elite + 1], child_fit])
        used += c
    hit = trace == landscape.optimum
    return {"trace": trace, "curve": trace[_points(points, budget) - 1],
            "first_hit": int(hit.argmax()) + 1 if hit.any() else 0, "best": best,
            "best_counts": landscape.counts(best_x),
            "evaluations": landscape.evaluations - start}


def temperatures(t0, t_final, n_steps):
    """The geometric schedule ``T_t = t0 (t_final / t0)^(t / (n_steps - 1))``.

    Parameters
    ----------
    t0, t_final : float >= 0
        Initial and final temperature (fitness units), ``t_final <= t0``. ``t0 = 0`` is
        hill climbing (all zeros); ``t0 = t_final = inf`` an infinitely hot schedule.
    n_steps : int >= 1

    Returns
    -------
    ndarray, shape (n_steps,)
    """
    t0, t_final, n_steps = float(t0), float(t_final), int(n_steps)
    if np.isnan(t0) or np.isnan(t_final) or t0 < 0 or t_final < 0 or t_final > t0:
        raise InvalidParameterError(f"temperatures need 0 <= t_final <= t0; got t0 = {t0}, "
                                    f"t_final = {t_final}")
    if t0 == 0.0 or t_final == t0:
        return np.full(n_steps, t0)
    if t_final == 0.0 or np.isinf(t0):
        raise InvalidParameterError("a geometric schedule needs 0 < t_final and a finite t0 "
                                    "(or t_final == t0)")
    return t0 * (t_final / t0) ** (np.arange(n_steps) / max(n_steps - 1, 1))


def run_annealing(landscape, budget, rngs, *, t0, t_final, start=None, points=None):
    """Simulated annealing chains, one per generator in ``rngs``, run side by side.

    Each chain spends exactly ``budget`` evaluations: its random start and
    ``budget - 1`` single-bit-flip proposals, the flips' positions and acceptance draws
    from its own generator (so a chain does not depend on how many run beside it).

    Parameters
    ----------
    landscape : Landscape
    budget : int >= 1
    rngs : sequence of numpy.random.Generator
    t0, t_final : float or array_like, shape (s,)
        The schedule of :func:`temperatures`, one for all chains or one per chain
        (``t0 = 0``: hill climbing; ``t0 = t_final = inf``: every move is taken).
    start : array_like of bool, shape (s, n), optional
        The chains' first strings (default: uniform random, from each chain's generator).
    points : array_like of int in [1, budget], optional
        Evaluation counts at which the best-so-far fitness is kept (default: every one).

    Returns
    -------
    dict
        ``curve`` (int64, shape (s, len(points)): the best fitness after each of
        ``points`` evaluations), ``first_hit`` (s,: the evaluation that first found the
        optimum, 0 if none), ``best`` (s,), ``best_counts`` (s, m),
        ``final`` (the chains' strings, bool (s, n)), ``fitness`` (their fitness, (s,)),
        ``accepted`` and ``accepted_worse`` (moves taken, and of those the ones that
        lowered the fitness, (s,)), ``evaluations`` (per chain, == budget).
    """
    _check_common(landscape, budget)
    budget, s, n = int(budget), len(rngs), landscape.n_bits
    if s < 1:
        raise InvalidParameterError("run_annealing needs at least one generator")
    steps = max(budget - 1, 1)
    t0 = np.broadcast_to(np.asarray(t0, dtype=float), (s,))
    t_final = np.broadcast_to(np.asarray(t_final, dtype=float), (s,))
    for a, b in set(zip(t0.tolist(), t_final.tolist(), strict=True)):
        temperatures(a, b, 1)  # refuses a bad pair
    geometric = (t0 > 0) & (t_final != t0)
    log_ratio = np.zeros(s)
    log_ratio[geometric] = np.log(t_final[geometric] / t0[geometric])
    spent = landscape.evaluations
    x = np.stack([r.random(n) < 0.5 for r in rngs])
    if start is not None:
        start = np.asarray(start, dtype=bool)
        if start.shape != (s, n):
            raise InvalidParameterError(f"start must have shape ({s}, {n}); got "
                                        f"{start.shape}")
        x = start.copy()
    points = _points(points, budget)
    column = np.full(budget + 1, -1)
    column[points] = np.arange(points.size)
    curve = np.empty((s, points.size), dtype=np.int64)
    f = landscape.fitness(x)
    counts = landscape.counts(x)
    best, best_counts = f.copy(), counts.copy()
    first_hit = np.where(best == landscape.optimum, 1, 0)
    if column[1] >= 0:
        curve[:, column[1]] = best
    accepted = np.zeros(s, dtype=np.int64)
    worse = np.zeros(s, dtype=np.int64)
    rows = np.arange(s)
    for t in range(budget - 1):
        c = t % _CHUNK
        if c == 0:
            # each chain's proposals and acceptance draws, a chunk at a time (memory)
            size = min(_CHUNK, budget - 1 - t)
            pos = np.stack([r.integers(0, n, size=size) for r in rngs])
            draws = np.stack([r.random(size) for r in rngs])
        j = pos[:, c]
        # T_t of every chain: t0 (t_final / t0)^(t / (steps - 1)), constant where equal
        temp = np.where(geometric, t0 * np.exp(log_ratio * (t / max(steps - 1, 1))), t0)
        delta, b, new = landscape.flip_delta(counts, j, x[rows, j])
        # Metropolis: every move with delta >= 0, a worse one with probability
        # exp(delta / T) (0 at T = 0, 1 at T = inf)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            take = (delta >= 0) | (draws[:, c] < np.exp(delta / temp))
        r = rows[take]
        x[r, j[take]] ^= True
        counts[r, b[take]] = new[take]
        f[r] += delta[take]
        accepted += take
        worse += take & (delta < 0)
        up = f > best
        if up.any():
            best[up] = f[up]
            best_counts[up] = counts[up]
            first_hit[up & (best == landscape.optimum)] = t + 2
        if column[t + 2] >= 0:
            curve[:, column[t + 2]] = best
    return {"curve": curve, "first_hit": first_hit, "best": best,
            "best_counts": best_counts, "final": x,
            "fitness": f, "accepted": accepted, "accepted_worse": worse,
            "evaluations": (landscape.evaluations - spent) // s}


# -------------------------------------------------------------------------- statistics

def wilson(k, n):
    """``(p, low, high)``: the success fraction ``k / n`` and its Wilson 95% interval."""
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(k) / float(n), float(ci.low), float(ci.high)


def newcombe(k1, n1, k2, n2):
    """``(d, low, high)``: ``p1 - p2`` and Newcombe's hybrid score 95% interval
    (Newcombe 1998, method 10) from the two Wilson intervals."""
    p1, l1, u1 = wilson(k1, n1)
    p2, l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return (d, d - float(np.hypot(p1 - l1, u2 - p2)), d + float(np.hypot(u1 - p1, p2 - l2)))


def median_interval(x):
    """``(median, low, high)`` of ``x`` with the distribution-free order-statistic 95%
    interval ``[x_(l), x_(r - l + 1)]``, ``l`` the largest with ``P(Bin(r, 1/2) < l) <=
    0.025``; NaN bounds when ``r < 6`` (no such interval), all NaN when empty."""
    from scipy.stats import binom

    x = np.sort(np.asarray(x, dtype=float))
    r = x.size
    if r == 0:
        return (np.nan, np.nan, np.nan)
    med = float(np.median(x))
    ls = np.arange(1, r // 2 + 1)
    ok = ls[binom.cdf(ls - 1, r, 0.5) <= 0.025]
    if ok.size == 0:
        return (med, np.nan, np.nan)
    lo = int(ok.max())
    return (med, float(x[lo - 1]), float(x[r - lo]))


def _seed_rows(res, landscape):
    """Per-seed outcomes of one method: dict of arrays over seeds."""
    evals = np.atleast_1d(res["first_hit"])
    return {"success": evals > 0, "evals": evals, "best": np.atleast_1d(res["best"]),
            "blocks_solved": landscape.solved_blocks(np.atleast_2d(res["best_counts"])),
            "curve": np.atleast_2d(res["curve"])}


def _method_summary(rows, n_seeds):
    from plasticity.analysis import seeds_interval

    out = {}
    k = int(rows["success"].sum())
    out["n_success"] = k
    out["success"], out["success_low"], out["success_high"] = wilson(k, n_seeds)
    (out["evals_median"], out["evals_median_low"],
     out["evals_median_high"]) = median_interval(rows["evals"][rows["success"]])
    for q in ("best", "blocks_solved"):
        out[f"{q}_mean"], out[f"{q}_low"], out[f"{q}_high"] = seeds_interval(
            rows[q].astype(float))
    return out


# ----------------------------------------------------------------------------- verdict

def _resolved(low, high):
    return "up" if low > 0 else ("down" if high < 0 else "no")


def _p(s, key):
    return (f"{s[f'{key}.n_success']}/{s['seeds']} "
            f"({s[f'{key}.success']:.2f} [{s[f'{key}.success_low']:.2f}, "
            f"{s[f'{key}.success_high']:.2f}])")


def _d(s, key):
    return f"{s[key]:+.2f} [{s[key + '_low']:+.2f}, {s[key + '_high']:+.2f}]"


def _iv(s, key, q, fmt=".1f"):
    return (f"{s[f'{key}.{q}_mean']:{fmt}} [{s[f'{key}.{q}_low']:{fmt}}, "
            f"{s[f'{key}.{q}_high']:{fmt}}]")


def _landscape_words(s, ls, methods):
    """``(distinguished, text)`` for one landscape: whether a crossover GA beat annealing
    with crossover's own gain resolved and the mutation-only GA not ahead of annealing."""
    xo = [m for m in methods if m in CROSSOVER_METHODS]
    text = f"{ls}: success " + ", ".join(f"{LABELS[m]} {_p(s, f'{ls}.{m}')}"
                                         for m in methods)
    if f"{ls}.annealing.t0" in s:
        n_sched = len(str(s["schedules"]).split(";"))
        text += (f" (annealing's schedule {s[f'{ls}.annealing.t0']:g} -> "
                 f"{s[f'{ls}.annealing.t_final']:g}"
                 + (f", the best of {n_sched} on {s['pilot_seeds']} pilot seeds)"
                    if n_sched > 1 else ")"))
    gain, beat = [], []
    for m in xo:
        if "ga_mutation" in methods:
            key = f"{ls}.{m}.gain_vs_mutation"
            if _resolved(s[f"{key}_low"], s[f"{key}_high"]) == "up":
                gain.append(m)
        if "annealing" in methods:
            key = f"{ls}.{m}.gain_vs_annealing"
            if _resolved(s[f"{key}_low"], s[f"{key}_high"]) == "up":
                beat.append(m)
    diffs = []
    for m in xo[:1] + [x for x in xo[1:] if x in gain]:
        if "ga_mutation" in methods:
            diffs.append(f"{LABELS[m]} minus mutation only {_d(s, f'{ls}.{m}.gain_vs_mutation')}")
        if "annealing" in methods:
            diffs.append(f"{LABELS[m]} minus annealing {_d(s, f'{ls}.{m}.gain_vs_annealing')}")
    mut_ahead = False
    if "ga_mutation" in methods and "annealing" in methods:
        key = f"{ls}.ga_mutation.gain_vs_annealing"
        mut_ahead = _resolved(s[f"{key}_low"], s[f"{key}_high"]) == "up"
        diffs.append(f"mutation-only GA minus annealing {_d(s, key)}")
    if diffs:
        text += "; differences " + ", ".join(diffs)
    # where success does not tell the methods apart, the best fitness and the speed may
    fast = [m for m in methods if s[f"{ls}.{m}.n_success"] >= 6]
    if len(fast) >= 2:
        m = min(fast, key=lambda x: s[f"{ls}.{x}.evals_median"])
        text += (f"; fastest median evaluations to success: {LABELS[m]} "
                 f"{s[f'{ls}.{m}.evals_median']:.0f} [{s[f'{ls}.{m}.evals_median_low']:.0f}, "
                 f"{s[f'{ls}.{m}.evals_median_high']:.0f}]")
    text += ("; best fitness (optimum " + f"{s[f'{ls}.optimum']}"
             + (f", deceptive attractor {s[f'{ls}.attractor']}" if f"{ls}.attractor" in s
                else "") + ") "
             + ", ".join(f"{LABELS[m]} {_iv(s, f'{ls}.{m}', 'best')}" for m in methods))
    distinguished = bool(set(gain) & set(beat)) and not mut_ahead
    return distinguished, text


def _best_gain(s, ls, methods):
    """The crossover GA with the largest resolved gain over the mutation-only GA on
    ``ls`` (None when no gain is resolved)."""
    xo = [m for m in methods if m in CROSSOVER_METHODS
          and _resolved(s[f"{ls}.{m}.gain_vs_mutation_low"],
                        s[f"{ls}.{m}.gain_vs_mutation_high"]) == "up"]
    return max(xo, key=lambda m: s[f"{ls}.{m}.gain_vs_mutation"]) if xo else None


def _evidence(s, lss, methods):
    """``ls (GA x minus mutation only d [l, h], minus annealing d [l, h])`` for each ``ls``."""
    out = []
    for ls in lss:
        m = _best_gain(s, ls, methods) or next(x for x in methods if x in CROSSOVER_METHODS)
        out.append(f"{ls} ({LABELS[m]} minus mutation only "
                   f"{_d(s, f'{ls}.{m}.gain_vs_mutation')}, minus annealing "
                   f"{_d(s, f'{ls}.{m}.gain_vs_annealing')})")
    return ", ".join(out)


def verdict(s, landscapes, methods):
    """The plain-words verdict, computed from the summary ``s`` (dict of summary keys).

    A landscape counts for the claim when a crossover GA beat both annealing and the
    mutation-only GA (Newcombe intervals of the success difference above 0) while the
    mutation-only GA was not resolved ahead of annealing.
    """
    where = f"{s['seeds']} seeds, {s['budget']} evaluations each"
    xo = [m for m in methods if m in CROSSOVER_METHODS]
    if not xo or "ga_mutation" not in methods or "annealing" not in methods:
        head = ("Unresolved: the claim needs a crossover GA, the mutation-only GA and "
                "annealing in the same run")
        parts = [_landscape_words(s, ls, methods)[1] for ls in landscapes]
    else:
        words = [_landscape_words(s, ls, methods) for ls in landscapes]
        parts = [w[1] for w in words]
        yes = [ls for ls, w in zip(landscapes, words, strict=True) if w[0]]
        no = [ls for ls in landscapes if ls not in yes]
        rule = ("(a crossover GA's success probability above both annealing's and the "
                "mutation-only GA's, resolved by the intervals)")
        if yes and not no:
            head = (f"Supported: crossover set the GA apart from annealing {rule} on every "
                    "landscape: " + _evidence(s, yes, methods))
        elif yes:
            head = (f"Partly: crossover set the GA apart from annealing {rule} on "
                    + _evidence(s, yes, methods) + ", but not on " + ", ".join(no))
        else:
            head = (f"Not supported: on no landscape did crossover set the GA apart from "
                    f"annealing {rule}")
        # where crossover helped the GA but annealing kept up, say so in the first sentence
        kept_up = [ls for ls in no if _best_gain(s, ls, methods) is not None
                   and _resolved(s[f"{ls}.{_best_gain(s, ls, methods)}.gain_vs_annealing_low"],
                                 s[f"{ls}.{_best_gain(s, ls, methods)}.gain_vs_annealing_high"])
                   != "up"]
        if kept_up:
            head += ("; crossover did raise the GA's own success on "
                     + _evidence(s, kept_up, methods) + ", where annealing at its best "
                     "schedule kept up")
    linkage = ""
    if "trap" in landscapes and "trap-shuffled" in landscapes:
        blind = [m for m in POSITION_BLIND if m in methods]
        linkage = (" Linkage control, success on trap minus trap-shuffled: "
                   + ", ".join(f"{LABELS[m]} {_d(s, f'trap-shuffled.{m}.loss_vs_trap')}"
                               for m in methods if m not in blind)
                   + ("; for the position-blind " + ", ".join(LABELS[m] for m in blind)
                      + " it is 0 in expectation: "
                      + ", ".join(_d(s, f"trap-shuffled.{m}.loss_vs_trap") for m in blind)
                      if blind else "") + ".")
    # each landscape's sentence opens with a capital, so the first sentence is the brief
    return (f"{head} ({where}). " + " ".join(f"On {p}." for p in parts) + linkage
            + " Differences of success "
            "probabilities have Newcombe 95% intervals (resolved: excluding 0); best "
            "fitness has t-intervals over seeds.")



# --------------------------------------------------------------------------------- run

def choose_schedule(land, cfg, seed, li, mi, rec=None):
    """Annealing's schedule on ``land``: the one of ``cfg.schedules`` with the most
    successes on ``cfg.pilot_seeds`` pilot chains each (ties: the higher mean best
    fitness, then the earlier in the list). The pilot chains draw from streams apart from
    the reported seeds' (``[seed, rep, li, mi, 1]``), and their evaluations are not
    counted in the reported ones.

    Returns
    -------
    (float, float)
        ``(t0, t_final)``; the pilot is recorded in ``pilot/<landscape>``.
    """
    sched = [tuple(map(float, x)) for x in cfg.schedules]
    if len(sched) > 1:
        p = cfg.pilot_seeds
        rngs = [np.random.default_rng([seed, rep, li, mi, 1])
                for _ in sched for rep in range(p)]
        t0 = np.repeat([a for a, _ in sched], p)
        t1 = np.repeat([b for _, b in sched], p)
        before = land.evaluations
        res = run_annealing(land, cfg.budget, rngs, t0=t0, t_final=t1, points=[cfg.budget])
        land.evaluations = before
        wins = (res["first_hit"] > 0).reshape(len(sched), p).sum(axis=1)
        fit = res["best"].reshape(len(sched), p).mean(axis=1)
        # lexsort: the last key is the primary one; -index keeps the earlier on full ties
        i = int(np.lexsort((-np.arange(len(sched)), fit, wins))[-1])
        if rec is not None:
            for j, (a, b) in enumerate(sched):
                rec.append(f"pilot/{land.name}", j, index="schedule", index_units="1",
                           units={"t0": "fitness", "t_final": "fitness", "n_success": "1",
                                  "best_mean": "fitness", "chosen": "1"},
                           t0=a, t_final=b, n_success=int(wins[j]), best_mean=float(fit[j]),
                           chosen=int(j == i))
    else:
        i = 0
    return sched[i]


def run(cfg: ClaimCrossoverConfig, ctx):
    rec = ctx.recorder
    landscapes = list(cfg.landscapes)
    methods = list(cfg.methods)
    summary = {"seeds": cfg.seeds, "budget": cfg.budget, "n_bits": cfg.n_bits,
               "block": cfg.block, "population": cfg.population,
               "crossover_rate": cfg.crossover_rate, "mutation": cfg.mutation,
               "schedules": ";".join(f"{a:g}->{b:g}" for a, b in cfg.schedules),
               "pilot_seeds": cfg.pilot_seeds,
               "landscapes": ",".join(landscapes), "methods": ",".join(methods)}
    # log-spaced: the curves are drawn against log evaluations
    points = np.unique(np.geomspace(1, cfg.budget, cfg.curve_points).round().astype(int))
    k, m = cfg.block, cfg.n_bits // cfg.block
    n_seeds = cfg.seeds
    chosen = {}  # annealing's schedule per landscape family
    with ctx.progress(len(landscapes) * len(methods), "claim-crossover") as bar:
        for ls in landscapes:
            li = LANDSCAPES.index(ls)
            land = Landscape(ls, cfg.n_bits, cfg.block,
                             np.random.default_rng([ctx.seed, li, _LANDSCAPE_STREAM]))
            summary[f"{ls}.optimum"] = land.optimum
            if ls.startswith("trap"):
                summary[f"{ls}.attractor"] = int(m * (k - 1))
                summary[f"{ls}.theory_hc_blocks"] = m * hill_climbing_block_theory(k)
                summary[f"{ls}.theory_hc_success"] = hill_climbing_block_theory(k) ** m
            for m_name in methods:
                mi = METHODS.index(m_name)
                rngs = [np.random.default_rng([ctx.seed, rep, li, mi])
                        for rep in range(n_seeds)]
                before = land.evaluations
                if m_name in GA_CROSSOVER:
                    runs = [run_ga(land, cfg.budget, r, population=cfg.population,
                                   crossover_kind=GA_CROSSOVER[m_name],
                                   rate=0.0 if m_name == "ga_mutation" else cfg.crossover_rate,
                                   mutation=cfg.mutation, tournament=cfg.tournament,
                                   points=points)
                            for r in rngs]
                    res = {q: np.stack([np.asarray(r[q]) for r in runs])
                           for q in ("curve", "first_hit", "best", "best_counts")}
                    extra = {}
                else:
                    t0, t1 = 0.0, 0.0
                    if m_name == "annealing":
                        # trap and trap-shuffled are one landscape to annealing (it is
                        # blind to bit order): one pilot chooses for both, so that the
                        # linkage control compares like with like
                        family = "trap" if ls.startswith("trap") else ls
                        if family not in chosen:
                            chosen[family] = choose_schedule(land, cfg, ctx.seed, li, mi, rec)
                        t0, t1 = chosen[family]
                        summary[f"{ls}.annealing.t0"] = t0
                        summary[f"{ls}.annealing.t_final"] = t1
                    res = run_annealing(land, cfg.budget, rngs, t0=t0, t_final=t1,
                                        points=points)
                    steps = max(cfg.budget - 1, 1)
                    extra = {"accept_rate": res["accepted"] / steps,
                             "worse_accepted": res["accepted_worse"].astype(float)}
                spent = (land.evaluations - before) / n_seeds
                rows = _seed_rows(res, land)
                out = _method_summary(rows, n_seeds)
                out["evaluations"] = spent
                for q, v in extra.items():
                    out[f"{q}_mean"] = float(np.mean(v))
                for q, v in out.items():
                    summary[f"{ls}.{m_name}.{q}"] = v
                for rep in range(n_seeds):
                    cols = {"success": int(rows["success"][rep]),
                            "evals_to_success": int(rows["evals"][rep]),
                            "best": int(rows["best"][rep]),
                            "blocks_solved": int(rows["blocks_solved"][rep]),
                            "evaluations": int(spent)}
                    cols.update({q: float(v[rep]) for q, v in extra.items()})
                    rec.append(f"seeds/{ls}/{m_name}", rep, index="seed", index_units="1",
                               units={"success": "1", "evals_to_success": "evaluations",
                                      "best": "fitness", "blocks_solved": "blocks",
                                      "evaluations": "evaluations", "accept_rate": "1",
                                      "worse_accepted": "moves"}, **cols)
                mean_curve = rows["curve"].mean(axis=0)
                frac_curve = (rows["curve"] == land.optimum).mean(axis=0)
                for e, b, fr in zip(points, mean_curve, frac_curve, strict=True):
                    rec.append(f"curve/{ls}/{m_name}", int(e), index="evaluations",
                               index_units="evaluations",
                               units={"best_mean": "fitness", "success_frac": "1"},
                               best_mean=float(b), success_frac=float(fr))
                bar.update(1)
            for m_name in methods:
                n1 = summary[f"{ls}.{m_name}.n_success"]
                for other, tag in (("ga_mutation", "gain_vs_mutation"),
                                   ("annealing", "gain_vs_annealing")):
                    if other not in methods or other == m_name or not m_name.startswith("ga_"):
                        continue
                    if tag == "gain_vs_mutation" and m_name not in CROSSOVER_METHODS:
                        continue
                    d, lo, hi = newcombe(n1, n_seeds, summary[f"{ls}.{other}.n_success"],
                                         n_seeds)
                    key = f"{ls}.{m_name}.{tag}"
                    summary[key], summary[f"{key}_low"], summary[f"{key}_high"] = d, lo, hi
    if "trap" in landscapes and "trap-shuffled" in landscapes:
        # the linkage control: what breaking the blocks' adjacency cost each method
        for m_name in methods:
            d, lo, hi = newcombe(summary[f"trap.{m_name}.n_success"], n_seeds,
                                 summary[f"trap-shuffled.{m_name}.n_success"], n_seeds)
            key = f"trap-shuffled.{m_name}.loss_vs_trap"
            summary[key], summary[f"{key}_low"], summary[f"{key}_high"] = d, lo, hi
    summary["verdict"] = verdict(summary, landscapes, methods)
    ctx.summary(**summary)


# -------------------------------------------------------------------------------- plot

def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, stack, traced

    s = run.summary
    landscapes = str(s["landscapes"]).split(",")
    methods = str(s["methods"]).split(",")
    fig, axes = figure("double", height_ratio=0.3, ncols=3)
    ax1, ax2, ax3 = axes
    x = np.arange(len(landscapes))
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        off = (i - (len(methods) - 1) / 2) * width
        color = PALETTE[i % len(PALETTE)]
        for ax, key, low, high in ((ax1, "success", "success_low", "success_high"),
                                   (ax2, "best_mean", "best_low", "best_high")):
            keys = [f"{ls}.{m}" for ls in landscapes]
            opt = np.array([s[f"{ls}.optimum"] for ls in landscapes], dtype=float)
            scale = opt if key == "best_mean" else np.ones_like(opt)
            sc = (stack([src(f"summary:{ls}.optimum") for ls in landscapes])
                  if key == "best_mean" else 1.0)
            mean = np.array([s[f"{k_}.{key}"] for k_ in keys]) / scale
            lo = np.array([s[f"{k_}.{low}"] for k_ in keys]) / scale
            hi = np.array([s[f"{k_}.{high}"] for k_ in keys]) / scale
            traced(ax.bar(x + off, mean, width=width, color=color,
                          yerr=[mean - lo, hi - mean], capsize=1.5, label=LABELS[m]),
                   x=x + off,
                   **{c: stack([src(f"summary:{k_}.{name}") for k_ in keys]) / sc
                      for c, name in (("height", key), ("ylow", low), ("yhigh", high))})
    for ax in (ax1, ax2):
        ax.set_xticks(x, landscapes)
    ax1.set_ylim(0.0, 1.05)
    # every string scores at least 0 and the attractor 3/4 of the optimum: zoom in
    ax2.set_ylim(0.5, 1.05)
    ax1.set_ylabel("P(optimum found)")
    ax1.set_title(f"a  success ({s['seeds']} seeds, Wilson 95%)", loc="left")
    ax2.set_ylabel("best fitness / optimum")
    ax2.set_title("b  best fitness (t 95% over seeds)", loc="left")
    ls = "trap" if "trap" in landscapes else landscapes[0]
    for i, m in enumerate(methods):
        t = run.series[f"curve/{ls}/{m}"]
        table = f"series/curve/{ls}/{m}"
        traced(ax3.plot(t["evaluations"], t["best_mean"], color=PALETTE[i % len(PALETTE)],
                        lw=1.0, label=LABELS[m])[0],
               x=src(f"{table}:evaluations"), y=src(f"{table}:best_mean"))
    traced(ax3.axhline(s[f"{ls}.optimum"], color="0.3", lw=0.7, ls="--"),
           y=src(f"summary:{ls}.optimum"))
    if f"{ls}.attractor" in s:
        traced(ax3.axhline(s[f"{ls}.attractor"], color="0.6", lw=0.7, ls=":"),
               y=src(f"summary:{ls}.attractor"))
    ax3.set_xscale("log")
    ax3.set_xlabel("fitness evaluations")
    ax3.set_ylabel("best fitness (mean over seeds)")
    # headroom above the optimum for the legend
    ax3.set_ylim(top=1.3 * s[f"{ls}.optimum"])
    ax3.legend(fontsize="x-small", loc="upper left", ncols=2)
    ax3.set_title(f"c  {ls}: best so far", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="claim-crossover",
    description="Claim: crossover sets evolution apart from annealing; GA with/without "
                "crossover vs SA on royal-road and deceptive traps.",
    config=ClaimCrossoverConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"n_bits": 60, "budget": 200000, "seeds": 100, "population": 400}},
    claim=ClaimMeta(number=7, claim="Crossover is what distinguishes evolution from "
                    "simulated annealing.",
                    headline="trap.ga_one_point.gain_vs_mutation",
                    low="trap.ga_one_point.gain_vs_mutation_low",
                    high="trap.ga_one_point.gain_vs_mutation_high",
                    label="P(success) one-point GA minus mutation-only GA, tight traps",
                    null=0.0),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))
