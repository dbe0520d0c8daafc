"""A k-armed bandit played by a softmax policy, as a problem with an exact policy gradient.

The substrate is a linear layer ``W_out`` (shape ``(k, n_in)``) and a softmax at inverse
temperature ``beta`` over the action preferences ``W_out x`` for the fixed context ``x``;
the task is a k-armed bandit (:class:`plasticity.rl.bandit.BanditTask`). The loss is
minus the expected return,

    L(W) = -R(W) = -sum_a pi_a mu_a,    dL/dW = -beta (pi * (mu - R)) x^T,

both exact finite sums (reward units, and reward per unit of ``W``).

What a batch is, and its gradient
---------------------------------
A batch is ``n`` trials: an arm ``a ~ pi`` and a reward ``r`` from that arm each. The
trials are drawn *with the policy at the parameters they are evaluated at*, so a batch
holds the trials' random numbers (one seed per trial), not their outcomes; the outcomes
are realised at ``params`` exactly as :meth:`~plasticity.rl.bandit.BanditTask.trial`
draws them, the way the ``bandit-alignment`` experiment's rules meet them.

The realised batch "loss" is minus the mean reward. As a function of the parameters, with
the trials' random numbers fixed, it is piecewise constant: a small change of ``W`` moves
the policy but not (almost surely) which arm the fixed uniform number picks, and the
reward depends on the arm only. Its pathwise gradient is therefore zero almost
everywhere, which is no gradient at all. The natural batch quantity, and the one
:meth:`BanditProblem.batch_gradient` returns, is the likelihood-ratio (score-function,
REINFORCE) estimate of ``dL/dW`` on the batch's trials:

    g = -(1/n) sum_k (r_k - b_k) S_k,    S_k = d log pi_{a_k} / dW = beta (e_{a_k} - pi) x^T,

with the leave-one-out baseline ``b_k`` = the mean reward of the other trials when
``n >= 2`` (independent of trial ``k``, so the estimate stays unbiased, with a smaller
variance) and ``b = 0`` for a single trial. ``E[g] = dL/dW`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plasticity.problems.base import Problem

__all__ = ["BanditProblem", "BanditTrials", "score_function_gradient"]


@dataclass
class BanditTrials:
    """``n`` bandit trials, as the seeds of their random numbers.

    Attributes
    ----------
    seeds : ndarray of int64, shape (n,)
        Trial ``k`` is :meth:`BanditTask.trial` with ``numpy.random.default_rng(seeds[k])``:
        the arm choice and then the reward.
    """

    seeds: np.ndarray

    def __len__(self) -> int:
        return int(self.seeds.shape[0])


def score_function_gradient(values, scores):
    """Mean of ``(v_k - b_k) S_k``: the likelihood-ratio gradient estimate of ``E[v]``.

    Parameters
    ----------
    values : ndarray, shape (K,)
        Per-trial values (a loss or minus a reward).
    scores : ndarray, shape (K, ...)
        The score ``d log P(trial k) / d params`` of each trial.

    Returns
    -------
    ndarray, shape ``scores.shape[1:]``
        With the leave-one-out baseline ``b_k`` (mean of the other values) for ``K >= 2``
        and no baseline (``b = 0``) for ``K = 1``; unbiased either way.
    """
    v = np.asarray(values, dtype=np.float64)
    K = v.shape[0]
    base = (v.sum() - v) / (K - 1) if K >= 2 else np.zeros_like(v)
    coef = (v - base).reshape((K,) + (1,) * (np.ndim(scores) - 1))
    return np.mean(coef * scores, axis=0)


class BanditProblem(Problem):
    """A softmax policy on a k-armed bandit; loss ``-R``, exact policy gradient.

    Parameters
    ----------
    task : plasticity.rl.bandit.BanditTask
        The bandit, the inverse temperature and the context.
    init_scale : float >= 0, default 0.0
        :meth:`init_params` draws ``W_out`` with i.i.d. ``N(0, init_scale^2)`` entries
        (zeros, a uniform policy, by default, as in ``bandit-alignment``).

    Notes
    -----
    ``signals(params, batch)`` gives what the reward-modulated rules
    (:mod:`plasticity.rules.reward`) see in a trial, plus the reward: for one trial the
    dict of :meth:`BanditTask.signals` (``input``, ``action``, ``probs``, ``beta``) and
    ``reward`` (float), which a runner hands to the rule as its ``reward=`` keyword; for
    ``n`` trials ``action`` and ``reward`` are arrays of shape (n,).
    ``loss(params, batch)`` is minus the mean realised reward and ``batch_gradient`` the
    likelihood-ratio estimate on the batch (module docstring for why);
    ``population_gradient`` is ``(dL/dW, None)`` and ``population_loss`` ``-R``, exact.
    """

    name = "bandit"
    substrate = "bandit"
    param_keys = ("W_out",)

    def __init__(self, task, *, init_scale=0.0):
        from plasticity.rl.bandit import BanditTask

        self.task = self._require(task, BanditTask)
        self.init_scale = self._non_negative("init_scale", init_scale)

    def _params(self, params) -> dict:
        return self._weights(params, "W_out", (self.task.k, self.task.n_in))

    def play(self, params, batch) -> tuple[np.ndarray, np.ndarray]:
        """The batch's trials realised at ``params``.

        Returns
        -------
        actions : ndarray of int, shape (n,)
        rewards : ndarray of float, shape (n,)
            (reward units)
        """
        p = self._params(params)
        seeds = self._trials(batch, BanditTrials).seeds
        actions = np.empty(len(seeds), dtype=np.int64)
        rewards = np.empty(len(seeds))
        for k, seed in enumerate(seeds):
            sig, r = self.task.trial(p, np.random.default_rng(int(seed)))
            actions[k], rewards[k] = sig["action"], r
        return actions, rewards

    # -- the protocol ---------------------------------------------------------------------
    def init_params(self, rng) -> dict:
        """``{"W_out": (k, n_in)}``: zeros, or ``N(0, init_scale^2)`` entries."""
        return self.task.init_params(rng, scale=self.init_scale)

    def batch(self, n, rng) -> BanditTrials:
        """``n`` trials' seeds, drawn from ``rng``; realised at the parameters later."""
        n = self._batch_size(n)
        return BanditTrials(seeds=np.random.default_rng(rng).integers(2**62, size=n))

    def signals(self, params, batch) -> dict:
        """The rule's signals of the trials and their ``reward`` (see the class notes)."""
        actions, rewards = self.play(params, batch)
        if len(actions) == 1:
            return {**self.task.signals(params, actions[0]), "reward": float(rewards[0])}
        return {"input": self.task.x.copy(), "action": actions,
                "probs": self.task.probs(params), "beta": self.task.beta, "reward": rewards}

    def loss(self, params, batch) -> float:
        """Minus the mean realised reward of the batch's trials (reward units)."""
        return -float(np.mean(self.play(params, batch)[1]))

    def batch_gradient(self, params, batch) -> dict:
        """The likelihood-ratio estimate of ``dL/dW_out`` on the batch (module docstring).

        Minus :func:`score_function_gradient` of the rewards with the scores
        ``beta (e_a - pi) x^T``; unbiased for :meth:`population_gradient`.
        """
        actions, rewards = self.play(params, batch)
        pi = self.task.probs(params)
        centred = -np.broadcast_to(pi, (len(actions), self.task.k)).copy()
        centred[np.arange(len(actions)), actions] += 1.0
        scores = self.task.beta * centred[:, :, None] * self.task.x[None, None, :]
        return {"W_out": -score_function_gradient(rewards, scores)}

    def population_gradient(self, params) -> tuple[dict, None]:
        """``({"W_out": -beta (pi * (mu - R)) x^T}, None)``: exact."""
        return self.task.loss_gradient(self._params(params)), None

    def population_loss(self, params) -> float:
        """``-R = -sum_a pi_a mu_a``, exact (reward units)."""
        return self.task.loss(self._params(params))
