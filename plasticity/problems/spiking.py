"""The supervised spiking task as a problem, judged by the likelihood-ratio gradient oracle.

The substrate is a layer of escape-noise LIF neurons with weights ``W_out`` (shape
``(n_outputs, n_inputs)``, mV per input spike); the task
(:class:`plasticity.tasks.spiking.SpikeCountTask`) asks each neuron for a target spike
count per input pattern. The loss is the expected trial loss over the neuron noise,
averaged over the patterns (spikes^2):

    L(W) = (1/M) sum_m E[ (1/n_out) sum_i (N_i - c_mi)^2 | pattern m, W ].

Its gradient has no closed form with reset; :meth:`SpikingEscapeProblem.population_gradient`
is the estimate of :class:`plasticity.spiking.oracle.SpikingGradientOracle` (likelihood
ratio with a leave-one-out baseline, ``n_trials`` trials of every pattern; unbiased) with
its per-element standard errors (``docs/spiking-gradient.md``).

The oracle's noise across calls
-------------------------------
``noise="common"`` (default): every call uses the *same* neuron noise (the same uniform
numbers decide the spikes; common random numbers). Two calls at the same weights return
the same estimate, and at nearby weights their errors are nearly the same, so successive
updates of a run are judged against one reference whose changes come from the weights,
not from fresh noise, and :meth:`~SpikingEscapeProblem.population_loss` uses the noise
of the gradient. The price: the reference's error is shared by every measured update, so
averaging cosines over updates does not average it away (the reported ``se`` says how
large it is).

``noise="fresh"``: every call draws new noise from the problem's stream, so the errors
of successive estimates are independent; a mean over many measured updates then averages
the oracle's noise as well as the rule's (each cosine is still attenuated by about
``sqrt(oracle_self_cos)``). ``spiking-alignment`` uses this.

Batches
-------
A batch is ``n`` trials, each a pattern drawn uniformly and the seed of its neuron noise;
it is simulated at the parameters it is evaluated at, exactly as
:meth:`SpikeCountTask.trial` runs a training trial. The realised batch loss (mean trial
loss) is, with the noise fixed, a step function of the weights (a spike either flips or
not), so its pathwise gradient is zero almost everywhere; :meth:`batch_gradient` is the
likelihood-ratio estimate on the batch's trials, ``(1/n) sum_k (l_k - b_k) S_k`` with the
leave-one-out baseline for ``n >= 2`` (no baseline for one trial), unbiased for ``dL/dW``
because the patterns are drawn uniformly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from plasticity.errors import ProblemError
from plasticity.problems.bandit import score_function_gradient
from plasticity.problems.base import Problem

__all__ = ["PatternTrials", "SpikeTrials", "SpikingEscapeProblem"]


@dataclass
class PatternTrials:
    """``n`` trials of a pattern task: the pattern of each and the seed of its noise.

    The common part of :class:`SpikeTrials` and
    :class:`~plasticity.problems.spiking_recurrent.RecurrentTrials`; each problem accepts
    only its own kind, which says what a seed means.

    Attributes
    ----------
    patterns : ndarray of int, shape (n,)
        The pattern presented in each trial.
    seeds : ndarray of int64, shape (n,)
        The seed of each trial's neuron noise.
    """

    patterns: np.ndarray
    seeds: np.ndarray

    def __len__(self) -> int:
        return int(self.seeds.shape[0])

    @classmethod
    def draw(cls, n: int, n_patterns: int, rng):
        """``n`` trials: for each, a uniform pattern in ``[0, n_patterns)`` and then a noise
        seed in ``[0, 2^62)``, from ``rng`` (an int, seed sequence or Generator)."""
        rng = np.random.default_rng(rng)
        patterns = np.empty(int(n), dtype=np.int64)
        seeds = np.empty(int(n), dtype=np.int64)
        for k in range(int(n)):
            # the order of spiking-alignment's trial draws: the pattern, then the seed
            patterns[k] = rng.integers(n_patterns)
            seeds[k] = rng.integers(2**62)
        return cls(patterns=patterns, seeds=seeds)


class SpikeTrials(PatternTrials):
    """``n`` trials of a spiking task.

    Attributes
    ----------
    patterns : ndarray of int, shape (n,)
        The pattern presented in each trial.
    seeds : ndarray of int64, shape (n,)
        Trial ``k`` is :meth:`SpikeCountTask.trial` with seed ``seeds[k]`` (the neuron
        noise) and pattern ``patterns[k]``.
    """


class SpikingEscapeProblem(Problem):
    """Escape-noise LIF neurons on :class:`~plasticity.tasks.spiking.SpikeCountTask`.

    Parameters
    ----------
    task : plasticity.tasks.spiking.SpikeCountTask
    n_trials : int >= 2, default 500
        Oracle trials per pattern per call of :meth:`population_gradient`.
    noise : {"common", "fresh"}, default "common"
        The oracle's neuron noise across calls (module docstring).
    seed : int, numpy.random.Generator or None
        The oracle's noise: with ``"common"`` one seed is drawn from it at construction
        and reused at every call; with ``"fresh"`` it is the stream every call draws from
        (a Generator passed here is used, not copied).
    stdp : dict, optional
        ``tau_plus_ms``, ``tau_minus_ms``, ``a_plus``, ``a_minus``: :meth:`signals` then
        also carries the net pair-STDP change of each trial (``stdp``), computed inside
        the kernel; the spikes do not depend on it.
    init_mean_mv, init_sd_mv : float
        :meth:`init_params` draws ``W_out ~ N(init_mean_mv, init_sd_mv^2)`` (mV).

    Attributes
    ----------
    name : str
        ``"spike-count"``.
    substrate : str
        ``"spiking"``.
    param_keys : tuple of str
        ``("W_out",)``.
    oracle : plasticity.spiking.oracle.SpikingGradientOracle

    Notes
    -----
    ``signals`` of a one-trial batch are those of :meth:`SpikeCountTask.trial` plus
    ``reward`` (minus the trial loss, what a reward-modulated rule is handed); for ``n``
    trials every per-trial entry is stacked along a leading axis of length ``n``.
    When the neurons do not reset, :meth:`exact_loss_and_gradient` gives the closed form
    against which the oracle is validated.
    """

    name = "spike-count"
    substrate = "spiking"
    param_keys = ("W_out",)

    def __init__(self, task, *, n_trials=500, noise: Literal["common", "fresh"] = "common",
                 seed=None, stdp=None, init_mean_mv=4.0, init_sd_mv=2.0):
        from plasticity.spiking.oracle import SpikingGradientOracle
        from plasticity.tasks.spiking import SpikeCountTask

        self._require(task, SpikeCountTask)
        if noise not in ("common", "fresh"):
            raise ProblemError(f"Problem {self.name!r}: noise must be 'common' or 'fresh'; "
                               f"got {noise!r}.")
        if stdp is not None and not isinstance(stdp, dict):
            raise ProblemError(f"Problem {self.name!r}: stdp must be a dict of tau_plus_ms, "
                               f"tau_minus_ms, a_plus and a_minus, or None.")
        self.task, self.noise, self.stdp = task, noise, stdp
        self.init_mean_mv, self.init_sd_mv = float(init_mean_mv), float(init_sd_mv)
        rng = np.random.default_rng(seed)
        # common noise: one fixed seed, turned into the same uniforms at every call
        self._noise_seed = int(rng.integers(2**62)) if noise == "common" else None
        self.oracle = SpikingGradientOracle(task, n_trials=n_trials, seed=rng)

    @property
    def n_trials(self) -> int:
        """Oracle trials per pattern per call."""
        return self.oracle.n_trials

    def _params(self, params) -> dict:
        return self._weights(params, "W_out", (self.task.n_outputs, self.task.n_inputs))

    def run(self, params, batch) -> list:
        """The batch's trials simulated at ``params``: one
        :class:`~plasticity.tasks.spiking.TrialBatch` per trial."""
        p = self._params(params)
        b = self._trials(batch, SpikeTrials)
        return [self.task.trial(p, int(s), pattern=int(m), stdp=self.stdp)
                for m, s in zip(b.patterns, b.seeds, strict=True)]

    # -- the oracle -----------------------------------------------------------------------
    def estimate(self, params):
        """One oracle evaluation: gradient, loss and their standard errors from the same
        trials (:class:`~plasticity.spiking.oracle.OracleEstimate`), with this problem's
        noise policy."""
        return self.oracle.estimate(self._params(params), rng=self._noise_seed)

    def exact_loss_and_gradient(self, params) -> tuple[float, dict]:
        """The closed form for neurons without reset
        (:meth:`SpikeCountTask.exact_loss_and_gradient`; refused with reset)."""
        return self.task.exact_loss_and_gradient(self._params(params))

    # -- the protocol ---------------------------------------------------------------------
    def init_params(self, rng) -> dict:
        """``{"W_out": (n_outputs, n_inputs)}``, ``N(init_mean_mv, init_sd_mv^2)`` (mV)."""
        return self.task.init_params(rng, mean_mv=self.init_mean_mv, sd_mv=self.init_sd_mv)

    def batch(self, n, rng) -> SpikeTrials:
        """``n`` trials: for each, a uniform pattern and then a noise seed from ``rng``."""
        return SpikeTrials.draw(self._batch_size(n), self.task.n_patterns, rng)

    def signals(self, params, batch) -> dict:
        """The trials' signals and ``reward`` (see the class notes)."""
        trials = self.run(params, batch)
        if len(trials) == 1:
            return {**trials[0].signals, "reward": trials[0].reward}
        out = {}
        for key, value in trials[0].signals.items():
            if key in ("dt_ms", "stdp_params"):
                out[key] = value
            else:
                out[key] = np.stack([np.asarray(t.signals[key]) for t in trials])
        out["reward"] = np.array([t.reward for t in trials])
        return out

    def loss(self, params, batch) -> float:
        """The mean realised trial loss of the batch (spikes^2)."""
        return float(np.mean([t.signals["trial_loss"] for t in self.run(params, batch)]))

    def batch_gradient(self, params, batch) -> dict:
        """The likelihood-ratio estimate of ``dL/dW_out`` on the batch's trials (module
        docstring); unbiased for the population gradient."""
        trials = self.run(params, batch)
        losses = np.array([t.signals["trial_loss"] for t in trials])
        scores = np.stack([t.signals["score"] for t in trials])
        return {"W_out": score_function_gradient(losses, scores)}

    def population_gradient(self, params) -> tuple[dict, dict]:
        """The oracle's ``(grad, se)``: the estimate of ``dL/dW_out`` (spikes^2 per mV)
        and the standard error of each element."""
        est = self.estimate(params)
        return est.grad, est.se

    def population_loss(self, params) -> float:
        """The oracle's estimate of ``L`` (spikes^2); with ``noise="common"`` from the
        trials of :meth:`population_gradient` at the same weights."""
        return self.oracle.loss(self._params(params), rng=self._noise_seed)
