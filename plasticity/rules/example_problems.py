"""The small problems the rule examples are built on, one builder per kind of substrate.

Each builder returns ``build(seed) -> RuleExample`` (or is one); the table that assigns
one to every rule class is :func:`plasticity.rules.registry._examples`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plasticity.rules.rule_example import _FROM_INIT, RuleExample

__all__ = ["DelayedCopy", "bandit_example", "dendritic_example", "energy_example",
           "feedforward_problem", "ff_example", "hebbian_example", "recurrent_example",
           "recurrent_problem", "sequence_example", "spiking_example"]


def feedforward_problem(seed, *, loss_kind="mse", sizes=(4, 5, 3)):
    """A FeedForward ``sizes`` (default [4, 5, 3]; tanh hidden, linear output), a batch of
    8, MSE targets.

    Returns ``(net, params, signals, loss_fn, reward, grad)`` with ``grad`` the exact
    gradient of the batch-mean loss at ``params``.
    """
    from plasticity.substrates import FeedForward

    net = FeedForward(sizes=list(sizes))
    rng = np.random.default_rng([seed, 0])
    params = net.init_params(rng)
    x = rng.standard_normal((8, sizes[0]))
    target = rng.standard_normal((8, sizes[-1]))
    signals = dict(net.signals(params, x))
    signals["target"] = target

    def loss_fn(p):
        return net.loss(p, x, target, kind=loss_kind)

    loss, grad = net.loss_and_grad(params, x, target, kind=loss_kind)
    return net, params, signals, loss_fn, -float(loss), grad


def ff_example(make_rule, *, sizes=(4, 5, 3)):
    """An example builder for a rule on the feedforward problem; ``make_rule(net, seed)``.

    ``sizes`` gives the network (e.g. two hidden layers for a rule whose backward pass
    differs only below the last hidden layer)."""
    def build(seed):
        net, params, signals, loss_fn, reward, grad = feedforward_problem(seed, sizes=sizes)
        return RuleExample(make_rule(net, seed), params, signals, loss_fn, reward, grad,
                           "feedforward")
    return build


def hebbian_example(cls, **kwargs):
    # The Hebbian rules learn the output weights from the hidden activity of the
    # feedforward network (as the built-in "hebb" and "oja" of the resolver do).
    return ff_example(lambda net, seed: cls(pre="hidden", target="W_out", **kwargs))


def spiking_example(make_rule, *, warm=False):
    """A rule on one trial of a small SpikeCountTask (8 inputs, 2 outputs, 2 patterns).

    With ``warm`` the update starts from the state left by an earlier trial of the same
    pattern (a reward baseline set by its reward), since from ``init`` the first trial
    of a pattern only sets the baseline and changes nothing.
    """
    def build(seed):
        from plasticity.tasks.spiking import SpikeCountTask

        task = SpikeCountTask(n_inputs=8, n_outputs=2, n_patterns=2, duration_ms=100.0,
                              rng=[seed, 0])
        params = task.init_params([seed, 1], mean_mv=10.0)
        trial = task.trial(params, [seed, 2], pattern=0)
        rule = make_rule()
        state = _FROM_INIT
        if warm:
            # A baseline one unit of reward (spikes^2 of trial loss) away from this
            # trial's reward, as an earlier trial with a different loss would leave it.
            earlier = trial.reward - 1.0
            state = rule.update(trial.signals, rule.init(params), params, reward=earlier)[1]
        # The trial loss is the only loss here (the task's expected loss has a closed form
        # only without reset); the rules read the reward, so loss_fn is left to check_rule.
        return RuleExample(rule, params, trial.signals, None, trial.reward, None, "spiking",
                           state)
    return build


def dendritic_example(seed):
    from plasticity.rules.dendritic_prediction import DendriticPredictionTrial

    rng = np.random.default_rng([seed, 0])
    T, n = 100, 6
    X = (rng.random((T, n)) < 0.05).astype(float)  # 0.05 spikes per 0.2 ms step: 250 Hz
    signals = {"input": X, "g_E": rng.uniform(0, 1.5, T), "g_I": rng.uniform(0, 1.5, T)}
    params = {"w": rng.normal(1.0, 2.0, n)}
    return RuleExample(DendriticPredictionTrial(eta=0.1), params, signals, None, None,
                       None, "spiking")


def bandit_example(make_rule):
    """A rule on one trial of a 3-armed Gaussian bandit with a 2-d context."""
    def build(seed):
        from plasticity.rl.bandit import BanditTask, GaussianBandit

        task = BanditTask(GaussianBandit(means=[0.2, -0.4, 1.0]), beta=2.0,
                          context=[1.0, 0.5])
        params = task.init_params([seed, 0], scale=0.5)
        signals, reward = task.trial(params, np.random.default_rng([seed, 1]))
        return RuleExample(make_rule(), params, signals, task.loss, reward,
                           task.loss_gradient(params), "bandit")
    return build


def sequence_example(seed):
    from plasticity.rules.temporal_prediction import TemporalPrediction
    from plasticity.tasks.sequences import LinearDynamics

    task = LinearDynamics(4, rng=[seed, 0])
    rng = np.random.default_rng([seed, 1])
    X = task.simulate(6, rng, task.initial(rng))
    W = 0.1 * rng.standard_normal((4, 4))
    return RuleExample(TemporalPrediction(eta=0.01), {"W": W}, {"input": X},
                       lambda p: task.loss(p["W"]), None, {"W": task.gradient(W)},
                       "sequence")



@dataclass(frozen=True)
class _SequenceBatch:
    x: np.ndarray       # (B, T, n_in)
    target: np.ndarray  # (B, T, n_out)
    mask: np.ndarray    # (B, T)


@dataclass(frozen=True)
class DelayedCopy:
    """A tiny memory task for the recurrent rule examples: reproduce an input ``delay``
    steps later.

    Inputs ``x_t ~ N(0, 1)`` (``n_in`` channels), target ``y*_t = x_{t - delay, 0}``
    (one output, mean-squared error); the first ``delay`` steps have no target (mask 0).
    """

    n_in: int = 2
    n_out: int = 1
    length: int = 6
    delay: int = 2
    loss: str = "mse"
    name: str = "delayed_copy"

    def batch(self, n, rng):
        """``n`` sequences: ``x`` (n, T, n_in), ``target`` (n, T, 1), ``mask`` (n, T)."""
        rng = np.random.default_rng(rng)
        x = rng.standard_normal((n, self.length, self.n_in))
        target = np.zeros((n, self.length, 1))
        target[:, self.delay:, 0] = x[:, :-self.delay, 0]
        mask = np.zeros((n, self.length))
        mask[:, self.delay:] = 1.0
        return _SequenceBatch(x, target, mask)


def recurrent_problem(seed, *, n_hidden=3, alpha=0.5, batch_size=2, g=1.5):
    """A :class:`~plasticity.substrates.rnn.RateRNN` on :class:`DelayedCopy` (n = 3 leaky
    tanh units, alpha = 0.5), its parameters, a batch and its signals.

    Built from the substrate directly (rules sit below problems), with the signals a
    :class:`~plasticity.problems.recurrent.RecurrentProblem` would give.

    Returns ``(net, params, batch, signals, loss_fn, grad)`` with ``grad`` the exact
    (BPTT) gradient of ``loss_fn`` (the batch loss) at ``params``.
    """
    from plasticity.substrates.rnn import RateRNN

    task = DelayedCopy()
    net = RateRNN(n_in=task.n_in, n_hidden=n_hidden, n_out=task.n_out, alpha=alpha,
                  loss=task.loss)
    params = net.init_params(np.random.default_rng([seed, 0]), g=g)
    # a nonzero bias, so that every parameter array has a generic gradient
    params["b"] = 0.1 * np.random.default_rng([seed, 2]).standard_normal(n_hidden)
    batch = task.batch(batch_size, np.random.default_rng([seed, 1]))
    signals = net.signals(params, batch.x, batch.target, batch.mask)

    def loss_fn(p):
        return net.loss_value(net.forward(p, batch.x).y, batch.target, batch.mask)

    grad = net.loss_and_grad(params, batch.x, batch.target, batch.mask)[1]
    return net, params, batch, signals, loss_fn, grad


def recurrent_example(make_rule):
    """An example builder for a rate-RNN rule; ``make_rule(net, seed)``."""
    def build(seed):
        net, params, _, signals, loss_fn, grad = recurrent_problem(seed)
        return RuleExample(make_rule(net, seed), params, signals, loss_fn,
                           -float(loss_fn(params)), grad, "recurrent")
    return build


def energy_example(make_rule):
    """A rule on an energy network [4, 5, 3] (sigmoid) with a batch of 6 one-hot targets.

    ``make_rule(net, seed)``; ``loss_fn`` is the free-phase cost and ``grad`` its exact
    gradient (recurrent backprop), relaxed to a residual of 1e-10.
    """
    def build(seed):
        from plasticity.substrates.energy import EnergyNetwork

        net = EnergyNetwork(sizes=[4, 5, 3], tol=1e-10, max_steps=3000)
        rng = np.random.default_rng([seed, 0])
        params = net.init_params(rng)
        x = rng.standard_normal((6, 4))
        target = np.eye(3)[rng.integers(0, 3, 6)]
        loss, grad, _ = net.loss_and_grad(params, x, target)
        return RuleExample(make_rule(net, seed), params, {"input": x, "target": target},
                           lambda p: net.loss(p, x, target), -loss, grad, "energy")
    return build
