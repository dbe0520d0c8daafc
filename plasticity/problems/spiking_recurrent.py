"""A recurrent escape-noise LIF/ALIF network on a temporal pattern task, as a problem.

The substrate is :class:`plasticity.spiking.recurrent_escape.RecurrentEscapeNet`
(``W_in`` (n_rec, n_in) and ``W_rec`` (n_rec, n_rec) in mV per spike, ``W_out``
(n_out, n_rec) in readout units per spike); the task
(:class:`~plasticity.spiking.recurrent_escape.PatternTask`) asks the leaky readout to
reproduce a target trace per frozen input pattern. The loss is the expected trial loss
over the neurons' escape noise, averaged over the patterns (readout units^2):

    L(W) = (1/M) sum_m E[ (1/(N_mask n_out)) sum_t mask_t |y_t - y*_mt|^2 | m, W ].

:meth:`RecurrentSpikingProblem.population_gradient` is the estimate of
:class:`~plasticity.spiking.recurrent_escape.RecurrentEscapeOracle` (likelihood ratio with
a leave-one-out baseline for ``W_in`` and ``W_rec``, the mean pathwise gradient for
``W_out``; unbiased) with per-element standard errors. Its noise across calls follows
``noise`` as in :class:`plasticity.problems.SpikingEscapeProblem`: ``"common"`` reuses
the same uniforms at every call, ``"fresh"`` draws new ones.

Batches and signals
-------------------
A batch is ``n`` trials, each a uniformly drawn pattern and the seed of its neuron noise,
simulated at the parameters it is evaluated at. :meth:`~RecurrentSpikingProblem.signals`
always carries a leading trial axis (also for one trial):

``input`` (n, T, n_in), ``spikes`` (n, T, n_rec), ``v`` (mV) and ``a`` (n, T, n_rec)
    the inputs, spikes, membranes and adaptation variables per step;
``threshold`` (n, T, n_rec)
    ``A_t = v_th + beta a_t`` (mV);
``readout``, ``target``, ``output_error`` (n, T, n_out)
    ``y_t``, ``y*_t`` and ``dl/dy_t = 2 mask_t (y_t - y*_t) / (N_mask n_out)``;
``trial_loss`` (n,), ``pattern`` (n,), ``score`` (dict ``W_in``, ``W_rec``: (n, ...))
    the realised losses, the patterns and the likelihood scores;
``mask`` (T,) and the constants ``dt_ms``, ``alpha``, ``rho``, ``kappa``, ``v_th_mv``,
``beta_mv`` (n_rec,), ``delta_u_mv``;
``reward``
    minus the mean trial loss.

:meth:`~RecurrentSpikingProblem.batch_gradient` is the likelihood-ratio estimate on the
batch's own trials for ``W_in`` and ``W_rec`` (leave-one-out baseline for ``n >= 2``) and
their mean exact ``dl/dW_out``: unbiased for ``dL/dW``, because the realised loss with the
noise fixed is a step function of ``W_in`` and ``W_rec`` (no pathwise gradient).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from plasticity.errors import InvalidParameterError, ProblemError
from plasticity.problems.bandit import score_function_gradient
from plasticity.problems.base import Problem
from plasticity.problems.spiking import PatternTrials

__all__ = ["RecurrentSpikingProblem", "RecurrentTrials"]


class RecurrentTrials(PatternTrials):
    """``n`` trials: the pattern of each and the seed of its neuron noise.

    Fields and :meth:`~plasticity.problems.spiking.PatternTrials.draw` from
    :class:`~plasticity.problems.spiking.PatternTrials`.

    Attributes
    ----------
    patterns : ndarray of int, shape (n,)
    seeds : ndarray of int64, shape (n,)
        Trial ``k``'s uniforms are ``default_rng(seeds[k]).random((T, n_rec))``.
    """


class RecurrentSpikingProblem(Problem):
    """Recurrent escape-noise LIF/ALIF network on a :class:`PatternTask`.

    Parameters
    ----------
    task : plasticity.spiking.recurrent_escape.PatternTask
    n_trials : int >= 2, default 1000
        Oracle trials per pattern per call of :meth:`population_gradient`.
    noise : {"common", "fresh"}, default "common"
        The oracle's neuron noise across calls (module docstring).
    seed : int, numpy.random.Generator or None
        The oracle's noise (with ``"common"`` one seed is drawn from it here).
    init : dict, optional
        Keyword arguments of :meth:`RecurrentEscapeNet.init_params`.

    Attributes
    ----------
    name : str
        ``"pattern-recurrent-spiking"``.
    substrate : str
        ``"recurrent_spiking"``.
    param_keys : tuple of str
        ``("W_in", "W_out", "W_rec")``.
    oracle : plasticity.spiking.recurrent_escape.RecurrentEscapeOracle

    Examples
    --------
    >>> from plasticity.spiking.recurrent_escape import PatternTask, RecurrentEscapeNet
    >>> net = RecurrentEscapeNet(n_in=4, n_rec=5, n_out=1, n_adaptive=2)
    >>> problem = RecurrentSpikingProblem(PatternTask(net, n_steps=20), n_trials=50, seed=0)
    >>> params = problem.init_params(0)
    >>> grad, se = problem.population_gradient(params)
    >>> sorted(grad), grad["W_rec"].shape
    (['W_in', 'W_out', 'W_rec'], (5, 5))
    """

    name = "pattern-recurrent-spiking"
    substrate = "recurrent_spiking"
    param_keys = ("W_in", "W_out", "W_rec")

    def __init__(self, task, *, n_trials=1000, noise: Literal["common", "fresh"] = "common",
                 seed=None, init=None):
        from plasticity.spiking.recurrent_escape import PatternTask, RecurrentEscapeOracle

        self._require(task, PatternTask)
        if noise not in ("common", "fresh"):
            self._fail(f": noise must be 'common' or 'fresh'; got {noise!r}.")
        try:
            self.oracle = RecurrentEscapeOracle(task, n_trials=n_trials)
        except InvalidParameterError as exc:
            self._fail(f": {exc}")
        self.task, self.net, self.noise = task, task.net, noise
        self.init = dict(init or {})
        self._rng = np.random.default_rng(seed)
        self._noise_seed = int(self._rng.integers(2**62)) if noise == "common" else None

    @property
    def n_trials(self) -> int:
        """Oracle trials per pattern per call."""
        return self.oracle.n_trials

    def _params(self, params) -> dict:
        try:
            return self.net.check_params(params)
        except InvalidParameterError as exc:
            raise ProblemError(f"Problem {self.name!r}: {exc}") from None

    # -- simulation -----------------------------------------------------------------------
    def run(self, params, batch) -> dict:
        """The batch's trials at ``params``: the signals of the module docstring."""
        p = self._params(params)
        b = self._trials(batch, RecurrentTrials)
        return self.task.trial_signals(p, b.patterns, b.seeds)

    def estimate(self, params):
        """One oracle evaluation (:class:`~plasticity.spiking.recurrent_escape.
        RecurrentEstimate`) with this problem's noise policy."""
        rng = self._noise_seed if self.noise == "common" else self._rng
        return self.oracle.estimate(self._params(params), rng)

    # -- the protocol ---------------------------------------------------------------------
    def init_params(self, rng) -> dict:
        """:meth:`RecurrentEscapeNet.init_params` with this problem's ``init`` keywords."""
        return self.net.init_params(rng, **self.init)

    def batch(self, n, rng) -> RecurrentTrials:
        """``n`` trials: for each a uniform pattern, then a noise seed, from ``rng``."""
        return RecurrentTrials.draw(self._batch_size(n), self.task.n_patterns, rng)

    def signals(self, params, batch) -> dict:
        """The trials' signals (module docstring) and ``reward``."""
        out = self.run(params, batch)
        out.pop("grad_out")
        out["reward"] = -float(out["trial_loss"].mean())
        return out

    def loss(self, params, batch) -> float:
        """The mean realised trial loss of the batch (readout units^2)."""
        return float(self.run(params, batch)["trial_loss"].mean())

    def batch_gradient(self, params, batch) -> dict:
        """Unbiased estimate of ``dL/dW`` from the batch's own trials (module docstring)."""
        out = self.run(params, batch)
        grad = {k: score_function_gradient(out["trial_loss"], out["score"][k])
                for k in ("W_in", "W_rec")}
        grad["W_out"] = out["grad_out"].mean(axis=0)
        return grad

    def population_gradient(self, params) -> tuple[dict, dict]:
        """The oracle's ``(grad, se)`` (loss per mV for ``W_in``, ``W_rec``; per readout
        unit for ``W_out``)."""
        est = self.estimate(params)
        return est.grad, est.se

    def population_loss(self, params) -> float:
        """The oracle's estimate of ``L`` (with ``"common"`` noise from the trials of
        :meth:`population_gradient` at the same weights)."""
        return self.estimate(params).loss
