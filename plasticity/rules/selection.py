"""Selection-based search: evolution strategies, hill climbing, annealing, a genetic algorithm.

These rules never estimate a gradient on purpose: they propose parameter vectors, query
the loss (``loss_fn(params) -> float``, the task loss on the current batch) and keep what
scores well. They are the honest baselines of the gradient question: accept-if-better
search decreases the loss and so has, on average, a positive inner product with ``-grad``
without following the gradient in any stronger sense.

All of them see only ``loss_fn`` and ``rng`` (never the signals) and search over all
parameters at once, flattened in sorted key order (:mod:`plasticity.rules._flat`). Each
has :meth:`evaluations_per_update`, the number of ``loss_fn`` calls one update makes, so
that experiments can give every rule the same budget of loss evaluations. A loss of NaN is
treated as ``+inf`` (a candidate that blew up is never preferred).

For the population methods the returned update is the change of one point that stands
for the population: the search distribution's mean for evolution strategies, the elite
(best individual) for the genetic algorithm. Each class says which.

References
----------
Rechenberg, I. (1973). Evolutionsstrategie. Frommann-Holzboog (the (1+1)-ES and the 1/5th
    success rule).
Kirkpatrick, S., Gelatt, C. D., & Vecchi, M. P. (1983). Optimization by simulated
    annealing. Science 220, 671-680.
Holland, J. H. (1975). Adaptation in Natural and Artificial Systems. Univ. Michigan Press.
Syswerda, G. (1989). Uniform crossover in genetic algorithms. Proc. 3rd ICGA, 2-9.
Salimans, T., Ho, J., Chen, X., Sidor, S., & Sutskever, I. (2017). Evolution strategies as
    a scalable alternative to reinforcement learning. arXiv:1703.03864.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.rules._flat import flat_spec
from plasticity.rules.base import Rule
from plasticity.rules.perturbation import _need_loss, _need_rng, _scalar_loss


def _propose(rule, params, sigma, loss_fn, rng):
    """Draw a Gaussian step of size ``sigma`` and evaluate the loss before and after it.

    The one place hill climbing and annealing share: both then only decide whether to
    keep ``step``. Returns ``(spec, step, loss_before, loss_after)``.
    """
    spec = flat_spec(params)
    p = spec.flatten(params)
    step = sigma * rng.standard_normal(spec.size)
    before = _scalar_loss(rule, loss_fn, spec.unflatten(p))
    after = _scalar_loss(rule, loss_fn, spec.unflatten(p + step))
    return spec, step, before, after

__all__ = ["EvolutionStrategies", "GeneticAlgorithm", "HillClimbing", "SimulatedAnnealing",
           "centred_ranks"]


def centred_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks of ``values`` mapped linearly onto ``[-0.5, 0.5]`` (largest value -> 0.5).

    Parameters
    ----------
    values : ndarray, shape (n,), n >= 2

    Returns
    -------
    ndarray, shape (n,)
        ``rank / (n - 1) - 0.5``; ties are broken by position, and the result always
        sums to zero.
    """
    values = np.asarray(values, dtype=np.float64)
    ranks = np.empty(values.size)
    ranks[np.argsort(values, kind="stable")] = np.arange(values.size)
    return ranks / (values.size - 1) - 0.5


class EvolutionStrategies(Rule):
    """OpenAI-style evolution strategies (Salimans et al. 2017).

    Per update, ``n = population`` directions ``eps_i ~ N(0, I_D)`` are drawn (antithetic:
    ``n/2`` draws and their negatives), the losses ``L_i = L(p + sigma eps_i)`` are measured,
    and the parameters, which are the mean of the search distribution, move by

    ``delta = eta / (n sigma) sum_i F_i eps_i``.

    With ``rank_shaping`` the fitness ``F_i`` is the centred rank of ``-L_i`` in
    ``[-0.5, 0.5]`` (invariant to monotone transformations of the loss, robust to
    outliers). Without it, ``F_i = -L_i`` (antithetic pairs cancel any constant), or
    ``F_i = -(L_i - L(p))`` when not antithetic; then ``E[delta] = -eta grad L_sigma(p)``
    with ``L_sigma`` the Gaussian-smoothed loss (Stein's lemma), i.e. weight perturbation
    with ``K = n``.

    The update is the change of the MEAN of the search distribution.

    Parameters
    ----------
    eta : float > 0, default 0.005
        Learning rate. With rank shaping the step norm is about
        ``eta / sigma * sqrt(D / (12 n))`` for ``D`` parameters, whatever the loss scale,
        so ``eta`` must shrink as the network grows.
    sigma : float > 0, default 0.05
        Exploration noise (parameter units).
    population : int >= 2, default 20
        ``n``; must be even when ``antithetic``.
    antithetic : bool, default True
    rank_shaping : bool, default True

    Notes
    -----
    State: ``None``. Loss evaluations per update: ``population``, plus one for the
    baseline ``L(p)`` when neither antithetic nor rank-shaped.
    """

    name: ClassVar[str] = "es"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward", "recurrent", "sequence")

    eta: float = Field(0.005, gt=0, allow_inf_nan=False, description="learning rate")
    sigma: float = Field(0.05, gt=0, allow_inf_nan=False, description="exploration noise")
    population: int = Field(20, ge=2, description="evaluations of perturbed parameters")
    antithetic: bool = True
    rank_shaping: bool = True

    @model_validator(mode="after")
    def _even_population(self):
        if self.antithetic and self.population % 2:
            raise ValueError(f"population must be even with antithetic sampling "
                             f"(got {self.population})")
        return self

    def evaluations_per_update(self) -> int:
        """Calls of ``loss_fn`` per update."""
        baseline = not (self.antithetic or self.rank_shaping)
        return self.population + int(baseline)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(change of the mean, state)``."""
        rng = _need_rng(self, rng)
        loss_fn = _need_loss(self, loss_fn)
        spec = flat_spec(params)
        p = spec.flatten(params)
        n = self.population
        if self.antithetic:
            half = rng.standard_normal((n // 2, spec.size))
            eps = np.concatenate([half, -half])
        else:
            eps = rng.standard_normal((n, spec.size))
        losses = np.array([_scalar_loss(self, loss_fn, spec.unflatten(p + self.sigma * e))
                           for e in eps])
        if self.rank_shaping:
            fitness = centred_ranks(-losses)
        elif self.antithetic:
            fitness = -losses
        else:
            fitness = -(losses - _scalar_loss(self, loss_fn, spec.unflatten(p)))
        step = self.eta / (n * self.sigma) * (fitness @ eps)
        return spec.unflatten(step), state


class HillClimbing(Rule):
    """Accept-if-better random search, the (1+1)-ES.

    Per update: draw ``xi ~ N(0, I_D)``, propose ``p + s xi`` with ``s`` the current step
    size, keep it if the loss on the batch fell strictly (``L(p + s xi) < L(p)``), else
    stay. ``delta = s xi`` when accepted, zeros otherwise, so an applied delta never
    increases the loss on the batch it was tested on.

    With ``adapt`` the step size follows Rechenberg's 1/5th success rule: multiplied by
    ``adapt_factor`` after a success and by ``adapt_factor ** -0.25`` after a failure, which
    leaves it unchanged on average exactly when one proposal in five succeeds.

    Parameters
    ----------
    sigma : float > 0, default 0.01
        Initial (and, without ``adapt``, fixed) step size ``s`` (parameter units).
    adapt : bool, default False
        Apply the 1/5th success rule.
    adapt_factor : float > 1, default 1.5

    Notes
    -----
    State: ``{"sigma": float, "n_accepted": int, "n_updates": int}``.
    Loss evaluations per update: 2 (``L(p)`` and the proposal, on the current batch).
    """

    name: ClassVar[str] = "hill_climbing"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward", "recurrent", "sequence")

    sigma: float = Field(0.01, gt=0, allow_inf_nan=False, description="step size")
    adapt: bool = False
    adapt_factor: float = Field(1.5, gt=1, allow_inf_nan=False,
                                description="1/5th rule factor on success")

    def init(self, params):
        """``{"sigma": sigma, "n_accepted": 0, "n_updates": 0}``."""
        return {"sigma": float(self.sigma), "n_accepted": 0, "n_updates": 0}

    def evaluations_per_update(self) -> int:
        """Calls of ``loss_fn`` per update: 2."""
        return 2

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(accepted step or zeros, new state)``."""
        rng = _need_rng(self, rng)
        loss_fn = _need_loss(self, loss_fn)
        state = self.init(params) if state is None else state
        s = float(state["sigma"])
        spec, step, before, after = _propose(self, params, s, loss_fn, rng)
        accept = after < before
        if self.adapt:
            s *= self.adapt_factor if accept else self.adapt_factor ** -0.25
        new_state = {"sigma": s, "n_accepted": int(state["n_accepted"]) + int(accept),
                     "n_updates": int(state["n_updates"]) + 1}
        return spec.unflatten(step if accept else np.zeros_like(step)), new_state


class SimulatedAnnealing(Rule):
    """Simulated annealing with Gaussian proposals and Metropolis acceptance.

    Per update: propose ``p + sigma xi`` (``xi ~ N(0, I_D)``), ``dL = L(proposal) - L(p)``
    on the batch; accept if ``dL < 0``, else with probability ``exp(-dL / T)`` (never when
    ``T == 0``). Then ``T <- cooling * T``. At ``T = 0`` this is exactly
    :class:`HillClimbing`'s acceptance, and no uniform number is drawn, so both rules
    consume ``rng`` identically there.

    Parameters
    ----------
    sigma : float > 0, default 0.01
        Proposal step size (parameter units).
    t0 : float >= 0, default 0.01
        Initial temperature (loss units).
    cooling : float in (0, 1], default 0.99
        Factor applied to the temperature after every update.

    Notes
    -----
    ``delta`` is the proposal step when accepted, zeros otherwise.
    State: ``{"temperature": float, "n_accepted": int, "n_updates": int}``.
    Loss evaluations per update: 2.
    """

    name: ClassVar[str] = "annealing"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward", "recurrent", "sequence")

    sigma: float = Field(0.01, gt=0, allow_inf_nan=False, description="step size")
    t0: float = Field(0.01, ge=0, allow_inf_nan=False, description="initial temperature")
    cooling: float = Field(0.99, gt=0, le=1, description="temperature factor per update")

    def init(self, params):
        """``{"temperature": t0, "n_accepted": 0, "n_updates": 0}``."""
        return {"temperature": float(self.t0), "n_accepted": 0, "n_updates": 0}

    def evaluations_per_update(self) -> int:
        """Calls of ``loss_fn`` per update: 2."""
        return 2

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(accepted step or zeros, new state)``."""
        rng = _need_rng(self, rng)
        loss_fn = _need_loss(self, loss_fn)
        state = self.init(params) if state is None else state
        temperature = float(state["temperature"])
        spec, step, before, after = _propose(self, params, self.sigma, loss_fn, rng)
        d_loss = after - before
        if d_loss < 0:
            accept = True
        elif temperature > 0 and np.isfinite(d_loss):
            accept = bool(rng.random() < math.exp(-d_loss / temperature))
        else:
            accept = False
        new_state = {"temperature": temperature * self.cooling,
                     "n_accepted": int(state["n_accepted"]) + int(accept),
                     "n_updates": int(state["n_updates"]) + 1}
        return spec.unflatten(step if accept else np.zeros_like(step)), new_state


class GeneticAlgorithm(Rule):
    """A genetic algorithm with elitism, selection, uniform crossover and Gaussian mutation.

    The state holds a population of ``population`` flattened parameter vectors. Row 0 is
    always the current parameters (re-read from ``params`` at every update). One update is
    one generation:

    1. evaluate every individual's loss on the current batch;
    2. carry the ``elite`` best over unchanged (best first);
    3. fill the rest with children: two parents chosen by ``selection`` (``"truncation"``:
       uniformly among the best ``ceil(truncation * population)``; ``"tournament"``: the
       best of ``tournament_size`` drawn at random, each), combined by uniform crossover
       (each gene from either parent with probability 1/2; ``crossover="none"`` copies the
       first parent), then mutated by ``sigma * N(0, I)``.

    The update returned is the change of the ELITE: the best individual of this
    generation minus the current parameters (zeros when the current parameters are still
    best; ties keep them). So the parameters always hold the best individual found, and on
    a fixed loss they never get worse.

    The first update builds the population around the current parameters (row 0 the
    parameters, the others the parameters plus ``sigma * N(0, I)``), since ``init`` has no
    random source.

    Parameters
    ----------
    population : int >= 2, default 20
    sigma : float > 0, default 0.01
        Mutation standard deviation (parameter units).
    elite : int >= 1, default 1
        Individuals carried over unchanged; fewer than ``population``.
    selection : {"truncation", "tournament"}, default "truncation"
    truncation : float in (0, 1], default 0.5
        Fraction of the ranked population eligible as parents (at least 2 individuals).
    tournament_size : int >= 2, default 3
    crossover : {"uniform", "none"}, default "uniform"

    Notes
    -----
    State: ``{"population": ndarray (population, D) or None before the first update,
    "generation": int, "best_loss": float or None}``.
    Loss evaluations per update: ``population``.
    """

    name: ClassVar[str] = "genetic"
    substrates: ClassVar[tuple[str, ...]] = ("feedforward", "recurrent", "sequence")

    population: int = Field(20, ge=2, description="individuals per generation")
    sigma: float = Field(0.01, gt=0, allow_inf_nan=False, description="mutation std")
    elite: int = Field(1, ge=1, description="individuals carried over unchanged")
    selection: Literal["truncation", "tournament"] = "truncation"
    truncation: float = Field(0.5, gt=0, le=1, description="fraction eligible as parents")
    tournament_size: int = Field(3, ge=2, description="individuals per tournament")
    crossover: Literal["uniform", "none"] = "uniform"

    @model_validator(mode="after")
    def _elite_below_population(self):
        if self.elite >= self.population:
            raise ValueError(f"elite ({self.elite}) must be smaller than population "
                             f"({self.population})")
        return self

    def init(self, params):
        """``{"population": None, "generation": 0, "best_loss": None}``."""
        return {"population": None, "generation": 0, "best_loss": None}

    def evaluations_per_update(self) -> int:
        """Calls of ``loss_fn`` per update: ``population``."""
        return self.population

    def _parents(self, order, losses, n, rng):
        """Indices of ``n`` parents, shape (n,)."""
        if self.selection == "truncation":
            pool = order[:max(2, math.ceil(self.truncation * self.population))]
            return pool[rng.integers(0, pool.size, size=n)]
        entrants = rng.integers(0, self.population, size=(n, self.tournament_size))
        return entrants[np.arange(n), np.argmin(losses[entrants], axis=1)]

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(change of the elite, new state)``."""
        rng = _need_rng(self, rng)
        loss_fn = _need_loss(self, loss_fn)
        state = self.init(params) if state is None else state
        spec = flat_spec(params)
        p = spec.flatten(params)
        pop = state.get("population")
        if pop is None or np.shape(pop) != (self.population, spec.size):
            pop = p + self.sigma * rng.standard_normal((self.population, spec.size))
        else:
            pop = np.array(pop, dtype=np.float64)  # a copy: the old state stays intact
        # The parameters may have been moved by rounding in p + (best - p) or by someone
        # else; the individual that stands for them is what the parameters really are.
        pop[0] = p
        losses = np.array([_scalar_loss(self, loss_fn, spec.unflatten(row)) for row in pop])
        # Stable sort: on ties the current parameters (row 0) stay the elite.
        order = np.argsort(losses, kind="stable")
        best = int(order[0])
        delta = pop[best] - p if best != 0 else np.zeros_like(p)

        n_child = self.population - self.elite
        mums = pop[self._parents(order, losses, n_child, rng)]
        if self.crossover == "uniform":
            dads = pop[self._parents(order, losses, n_child, rng)]
            children = np.where(rng.random(mums.shape) < 0.5, mums, dads)
        else:
            children = mums
        children = children + self.sigma * rng.standard_normal(children.shape)
        new_pop = np.concatenate([pop[order[:self.elite]], children])
        new_state = {"population": new_pop, "generation": int(state["generation"]) + 1,
                     "best_loss": float(losses[best])}
        return spec.unflatten(delta), new_state
