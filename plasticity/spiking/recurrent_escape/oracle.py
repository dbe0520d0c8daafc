"""The reference gradient of :class:`~plasticity.spiking.recurrent_escape.PatternTask`.

:class:`RecurrentEscapeOracle` estimates the gradient of the *expected* trial loss over
the neurons' escape noise, averaged over the patterns,

    L(W) = (1/M) sum_m E[ l | pattern m, W ],

per pattern from ``K`` independent trials:

* ``W_in``, ``W_rec``: the likelihood-ratio estimate with a leave-one-out baseline,
  :func:`plasticity.spiking.oracle.lr_gradient` (unbiased; its bias and variance are
  stated there), since the loss depends on these weights only through the spikes;
* ``W_out``: the mean over trials of the exact pathwise ``dl/dW_out`` given the spikes,
  ``E[dl/dW_out]`` being ``dL/dW_out`` because ``W_out`` does not change the spike
  distribution; its standard error is the sample standard deviation over ``sqrt(K)``.

Pattern means combine as ``g = (1/M) sum_m g_m`` and ``se = sqrt(sum_m se_m^2) / M``.
"""

from __future__ import annotations

import math

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.spiking.oracle import OracleEstimate, lr_gradient
from plasticity.spiking.recurrent_escape.task import PatternTask

__all__ = ["RecurrentEscapeOracle", "RecurrentEstimate"]


class RecurrentEstimate(OracleEstimate):
    """One oracle evaluation (the fields of
    :class:`~plasticity.spiking.oracle.OracleEstimate`, for three arrays).

    Attributes
    ----------
    grad, se : dict of str to ndarray
        ``W_in``, ``W_rec`` (loss per mV) and ``W_out`` (loss per readout unit): the
        gradient estimate of the expected loss and each component's standard error.
    loss, loss_se : float
        The expected loss estimated from the same trials, and its standard error.
    n_trials : int
        Trials per pattern.
    """


class RecurrentEscapeOracle:
    """The gradient of :class:`PatternTask`'s expected loss, with standard errors.

    Parameters
    ----------
    task : PatternTask
    n_trials : int >= 2
        ``K``, trials per pattern per evaluation.

    Notes
    -----
    The estimators are in the module docstring; ``W_in`` and ``W_rec`` reuse
    :func:`plasticity.spiking.oracle.lr_gradient`. Cost: ``K M`` trials of
    ``O(T n_rec (n_in + n_rec))``.
    """

    def __init__(self, task, n_trials=1000):
        if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) \
                or n_trials < 2:
            raise InvalidParameterError("The 'n_trials' parameter of RecurrentEscapeOracle "
                                        f"must be an integer >= 2. Got {n_trials!r}.")
        if not isinstance(task, PatternTask):
            raise InvalidParameterError("RecurrentEscapeOracle needs a PatternTask.")
        self.task = task
        self.n_trials = int(n_trials)

    def estimate(self, params, rng) -> RecurrentEstimate:
        """Gradient, loss and their standard errors from ``n_trials`` trials per pattern,
        their noise drawn from ``rng`` (an int, seed sequence or Generator)."""
        rng = np.random.default_rng(rng)
        task, K = self.task, self.n_trials
        net = task.net
        M = task.n_patterns
        shapes = net.shapes()
        grad = {k: np.zeros(s) for k, s in shapes.items()}
        var = {k: np.zeros(s) for k, s in shapes.items()}
        loss = loss_var = 0.0
        for m in range(M):
            U = rng.random((K, task.n_steps, net.n_rec))
            out = task.trials(params, m, U)
            for key in ("W_in", "W_rec"):
                g, se = lr_gradient(out["loss"], out["score"][key])
                grad[key] += g
                var[key] += se * se
            grad["W_out"] += out["grad_out"].mean(axis=0)
            var["W_out"] += out["grad_out"].var(axis=0, ddof=1) / K
            loss += float(out["loss"].mean())
            loss_var += float(out["loss"].var(ddof=1)) / K
        return RecurrentEstimate(grad={k: g / M for k, g in grad.items()},
                                 se={k: np.sqrt(v) / M for k, v in var.items()},
                                 loss=loss / M, loss_se=math.sqrt(loss_var) / M,
                                 n_trials=K)
