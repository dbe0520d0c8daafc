"""The true gradient for spiking networks: the gradient of the expected trial loss.

A spiking network's realised trial loss is a step function of its weights; the reference
gradient is that of the *expected* trial loss over the neuron noise. For escape-noise
neurons (:class:`plasticity.tasks.spiking.EscapeLIF`) the likelihood of an output spike
train is a smooth function of the weights, so the likelihood-ratio identity

    dE[l]/dW = E[l S],   S = d log P(spikes | W) / dW   (the score; E[S] = 0)

holds exactly, and ``S`` is computed inside the simulation kernel
(:mod:`plasticity._kernels.escape`). :class:`SpikingGradientOracle` estimates it from
``K`` independent trials per pattern with a leave-one-out baseline:

    g_m = (1/K) sum_k (l_k - b_-k) S_k,   b_-k = (1/(K-1)) sum_{k' != k} l_k'

and ``g = (1/M) sum_m g_m`` over the ``M`` patterns (all patterns at every call: the
pattern average is computed exactly, not sampled).

Bias and variance
-----------------
Unbiased: ``b_-k`` is independent of trial ``k``, so ``E[b_-k S_k] = E[b_-k] E[S_k] = 0``
and ``E[g_m] = E[l S] = dE[l_m]/dW`` for any ``K >= 2``. Equivalently
``g_m = (1/(K-1)) sum_k (l_k - mean(l)) S_k``, the sample covariance of loss and score.
Variance per component: ``Var(g_m) = Var((l - E l) S) / K + O(1/K^2)``; the baseline
removes the ``(E l)^2 Var(S)`` term that makes the plain estimator ``mean_k l_k S_k`` noisy
when the loss is far from zero. The standard error reported per component is
``std_k(y_k) / sqrt(K)`` with ``y_k = (l_k - b_-k) S_k`` (sample standard deviation,
``ddof=1``), combined over patterns as ``sqrt(sum_m se_m^2) / M``. The ``y_k`` are
correlated only through the baseline (at order ``1/K``), so this SE is consistent; the
tests check its calibration against a closed-form gradient.

Why not finite differences: a central difference of the realised loss with common random
numbers is biased by ``O(h^2)`` and, because spikes flip discontinuously as a weight
moves, its variance grows like ``1/h`` instead of staying bounded; it also needs two
simulations per weight. The likelihood-ratio estimator gets all components from the same
trials, without bias, at the price of a variance that grows with the trial length and the
number of outputs (see ``docs/spiking-gradient.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plasticity.errors import InvalidParameterError

__all__ = ["OracleEstimate", "SpikingGradientOracle", "lr_gradient"]


@dataclass
class OracleEstimate:
    """One oracle evaluation.

    Attributes
    ----------
    grad, se : dict of str to ndarray
        ``{"W_out": (n_out, n_in)}``: the gradient estimate (loss per mV) and the
        standard error of each component.
    loss, loss_se : float
        The task loss (mean trial loss, spikes^2) estimated from the same trials, and
        its standard error.
    n_trials : int
        Trials per pattern.
    """

    grad: dict
    se: dict
    loss: float
    loss_se: float
    n_trials: int


def lr_gradient(losses, scores):
    """Likelihood-ratio gradient estimate with a leave-one-out baseline.

    Parameters
    ----------
    losses : ndarray, shape (K,)
        Trial losses, ``K >= 2``.
    scores : ndarray, shape (K, ...)
        The score of each trial.

    Returns
    -------
    (ndarray, ndarray)
        The estimate and the standard error of each component, both of shape
        ``scores.shape[1:]``.
    """
    losses = np.asarray(losses, dtype=np.float64)
    K = losses.shape[0]
    if K < 2:
        raise InvalidParameterError("lr_gradient needs at least 2 trials (the leave-one-out "
                                    f"baseline needs the others). Got {K}.")
    baseline = (losses.sum() - losses) / (K - 1)
    shape = (K,) + (1,) * (np.ndim(scores) - 1)
    y = (losses - baseline).reshape(shape) * scores
    return y.mean(axis=0), y.std(axis=0, ddof=1) / np.sqrt(K)


class SpikingGradientOracle:
    """The gradient of a spiking task's expected trial loss, with its standard error.

    Parameters
    ----------
    task : plasticity.tasks.spiking.SpikeCountTask
        Supplies the patterns, the neurons and the trial loss.
    n_trials : int >= 2, default 500
        ``K``, trials per pattern per evaluation (``K * n_patterns`` simulated trials).
    seed : int or numpy.random.Generator, optional
        Source of the neuron noise when a call passes no ``rng``.

    Notes
    -----
    The estimator, its bias (none) and variance are in the module docstring. The cost of
    one evaluation is ``K * n_patterns`` trials of ``T`` steps, each ``O(T n_out n_in)``.

    Examples
    --------
    >>> from plasticity.tasks.spiking import SpikeCountTask
    >>> task = SpikeCountTask(n_inputs=5, n_outputs=1, n_patterns=2, rng=0)
    >>> oracle = SpikingGradientOracle(task, n_trials=50, seed=0)
    >>> grad, se = oracle.gradient(task.init_params(0))
    >>> grad["W_out"].shape, se["W_out"].shape
    ((1, 5), (1, 5))
    """

    def __init__(self, task, n_trials=500, seed=None):
        if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) \
                or n_trials < 2:
            raise InvalidParameterError("The 'n_trials' parameter of SpikingGradientOracle "
                                        f"must be an integer >= 2. Got {n_trials!r}.")
        self.task = task
        self.n_trials = int(n_trials)
        self._rng = np.random.default_rng(seed)

    def estimate(self, params, rng=None) -> OracleEstimate:
        """Gradient, loss and their standard errors from one set of trials."""
        rng = self._rng if rng is None else np.random.default_rng(rng)
        task, K = self.task, self.n_trials
        M = task.n_patterns
        grad = np.zeros((task.n_outputs, task.n_inputs))
        var = np.zeros_like(grad)
        loss = loss_var = 0.0
        for m in range(M):
            out = task.simulate(params, m, K, rng)
            g, se = lr_gradient(out["loss"], out["score"])
            grad += g
            var += se * se
            loss += float(out["loss"].mean())
            loss_var += float(out["loss"].var(ddof=1)) / K
        return OracleEstimate(grad={"W_out": grad / M}, se={"W_out": np.sqrt(var) / M},
                              loss=loss / M, loss_se=float(np.sqrt(loss_var)) / M,
                              n_trials=K)

    def gradient(self, params, rng=None) -> tuple[dict, dict]:
        """``(grad, se)``: dicts ``{"W_out": (n_out, n_in)}`` (loss per mV)."""
        est = self.estimate(params, rng)
        return est.grad, est.se

    def loss(self, params, rng=None) -> float:
        """The task loss estimated from ``n_trials`` trials per pattern (spikes^2)."""
        rng = self._rng if rng is None else np.random.default_rng(rng)
        total = 0.0
        for m in range(self.task.n_patterns):
            total += float(self.task.simulate(params, m, self.n_trials, rng)["loss"].mean())
        return total / self.task.n_patterns

    def gradient_fn(self, params, signals=None):
        """``(grad, se)`` with the signature of :func:`plasticity.analysis.measured`'s
        ``gradient_fn(params, signals)``; the signals are not used."""
        return self.gradient(params)

    def loss_fn(self, params, signals=None):
        """:meth:`loss` with the signature ``loss_fn(params, signals)``."""
        return self.loss(params)
