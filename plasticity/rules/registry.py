"""Every built-in rule, what it applies to, and a small valid example of its use.

:func:`all_rules` is scikit-learn's ``all_estimators`` idea: it lists every built-in rule
class (every public subclass of :class:`~plasticity.rules.base.Rule` defined in a module
of :mod:`plasticity.rules`; each is exported in ``plasticity.rules.__all__``, and nothing
else exported there is a rule but the ``Rule`` base and the ``RuleProtocol``), with

``name``
    ``cls.name``, the name used in summary keys.
``substrates``
    ``cls.substrates``, the kinds of problem the rule applies to: a tuple drawn from
    :data:`SUBSTRATES` (the values of :attr:`plasticity.problems.Problem.substrate`).
    Each rule class declares it as a ``ClassVar`` in its own module.
``example(seed)``
    A :class:`RuleExample`: a small valid instance of the rule and a small valid problem
    for it (parameters, signals, ``loss_fn``, ``reward`` and, where known, the exact
    gradient of ``loss_fn``), enough for :func:`plasticity.rules.checks.check_rule` and
    for the expected-update analysis.

The examples live in one table here (:func:`_examples`, keyed by class name) rather than
in the rule modules, so that the modules stay about the rules. The table must have one
entry per rule class and no other: :func:`all_rules` raises a
:class:`~plasticity.errors.RuleError` naming the class when a rule has no entry (or no
``substrates`` declaration), so a new rule cannot silently escape the contract tests
(``tests/test_all_rules.py``).

What the substrates mean
------------------------
``"feedforward"``
    A :class:`~plasticity.substrates.FeedForward` network, its activity signals
    (``input``, ``hidden``, ``output``, pre-activations) and a supervised loss.
``"recurrent"``
    A recurrent rate network with a differentiable loss of its parameters.
``"spiking"``
    Spiking neurons learning from one trial at a time (spike trains, eligibility,
    ``reward`` = minus the trial loss).
``"bandit"``
    A softmax policy over linear action preferences, ``reward`` of the chosen action.
``"sequence"``
    Prediction of the next input of a sequence.

The black-box rules (weight perturbation, evolution strategies, hill climbing,
annealing, the genetic algorithm) see only ``loss_fn(params)``, so they apply wherever
the loss on a batch is a smooth function of the parameters: feedforward, recurrent and
sequence problems. They are not declared for spiking or bandit problems, where the loss
of one trial, with its noise fixed, is piecewise constant in the weights (discrete
spikes, a discrete action), so a finite-difference probe of it carries no gradient
information.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from plasticity.errors import InvalidParameterError, RuleError

__all__ = ["SUBSTRATES", "RuleExample", "RuleInfo", "all_rules", "rule_example"]

#: The kinds of problem a rule can declare (``Problem.substrate``).
SUBSTRATES: tuple[str, ...] = ("feedforward", "recurrent", "spiking", "bandit", "sequence")


_FROM_INIT = object()  # RuleExample.state not given: the rule's own init(params)


@dataclass(frozen=True)
class RuleExample:
    """A small valid use of a rule: what :func:`~plasticity.rules.checks.check_rule` and
    :func:`~plasticity.analysis.expected_cosine` need.

    Attributes
    ----------
    rule : object
        A rule instance with small, valid hyperparameters.
    params : dict of str to ndarray
        Parameters the rule updates (a few dozen values at most).
    signals : dict
        Local signals for one update, as the rule's substrate provides them.
    loss_fn : callable or None
        ``loss_fn(params) -> float``, the loss of the problem (units as the substrate's
        task states); ``None`` where the example has none (then ``check_rule`` uses half
        the sum of squared parameters).
    reward : float or None
        The modulator passed as ``reward=``; ``None`` lets ``check_rule`` use
        ``-loss_fn(params)``.
    grad : dict of str to ndarray or None
        The exact gradient of ``loss_fn`` at ``params`` (keys and shapes of ``params``),
        where it is known in closed form.
    substrate : str
        The substrate the example is built on (one of the rule's ``substrates``).
    state : object, optional
        The state the update starts from where ``rule.init(params)`` would make a
        trivial one (a reward baseline set only by the first trial); by default the
        state ``init`` returns. Use :meth:`initial_state`.
    """

    rule: Any
    params: dict
    signals: dict
    loss_fn: Callable | None
    reward: float | None
    grad: dict | None
    substrate: str
    state: Any = _FROM_INIT

    def initial_state(self):
        """The state an update of this example starts from."""
        return self.rule.init(self.params) if self.state is _FROM_INIT else self.state

    def check(self, seed=0) -> dict:
        """Run :func:`~plasticity.rules.checks.check_rule` on this example; its report."""
        from plasticity.rules.checks import check_rule

        extra = {} if self.state is _FROM_INIT else {"state": self.state}
        return check_rule(self.rule, self.params, self.signals, seed=seed,
                          loss_fn=self.loss_fn, reward=self.reward, **extra)


@dataclass(frozen=True)
class RuleInfo:
    """One exported rule class: its ``name``, the class and the substrates it applies to.

    :meth:`example` builds a :class:`RuleExample` for it.
    """

    name: str
    cls: type
    substrates: tuple[str, ...]
    _build: Callable = field(repr=False, compare=False)

    def example(self, seed=0) -> RuleExample:
        """A small valid instance and problem for this rule, drawn from ``seed`` (int)."""
        return self._build(_seed(seed))


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError(f"The seed must be a non-negative integer. Got {seed!r}.")
    return int(seed)


# -- the examples, one per rule class -------------------------------------------------------

def _feedforward(seed, *, loss_kind="mse"):
    """A FeedForward [4, 5, 3] (tanh hidden, linear output), a batch of 8, MSE targets.

    Returns ``(net, params, signals, loss_fn, reward, grad)`` with ``grad`` the exact
    gradient of the batch-mean loss at ``params``.
    """
    from plasticity.substrates import FeedForward

    net = FeedForward(sizes=[4, 5, 3])
    rng = np.random.default_rng([seed, 0])
    params = net.init_params(rng)
    x = rng.standard_normal((8, 4))
    target = rng.standard_normal((8, 3))
    signals = dict(net.signals(params, x))
    signals["target"] = target

    def loss_fn(p):
        return net.loss(p, x, target, kind=loss_kind)

    loss, grad = net.loss_and_grad(params, x, target, kind=loss_kind)
    return net, params, signals, loss_fn, -float(loss), grad


def _ff_example(make_rule):
    """An example builder for a rule on the feedforward problem; ``make_rule(net, seed)``."""
    def build(seed):
        net, params, signals, loss_fn, reward, grad = _feedforward(seed)
        return RuleExample(make_rule(net, seed), params, signals, loss_fn, reward, grad,
                           "feedforward")
    return build


def _hebbian(cls, **kwargs):
    # The Hebbian rules learn the output weights from the hidden activity of the
    # feedforward network (as the built-in "hebb" and "oja" of the resolver do).
    return _ff_example(lambda net, seed: cls(pre="hidden", target="W_out", **kwargs))


def _spiking(make_rule, *, warm=False):
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


def _dendritic(seed):
    from plasticity.rules.dendritic_prediction import DendriticPrediction

    rng = np.random.default_rng([seed, 0])
    T, n = 100, 6
    X = (rng.random((T, n)) < 0.05).astype(float)  # 0.05 spikes per 0.2 ms step: 250 Hz
    signals = {"input": X, "g_E": rng.uniform(0, 1.5, T), "g_I": rng.uniform(0, 1.5, T)}
    params = {"w": rng.normal(1.0, 2.0, n)}
    return RuleExample(DendriticPrediction(eta=0.1), params, signals, None, None, None,
                       "spiking")


def _bandit(make_rule):
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


def _sequence(seed):
    from plasticity.rules.temporal_prediction import TemporalPrediction
    from plasticity.tasks.sequences import LinearDynamics

    task = LinearDynamics(4, rng=[seed, 0])
    rng = np.random.default_rng([seed, 1])
    X = task.simulate(6, rng, task.initial(rng))
    W = 0.1 * rng.standard_normal((4, 4))
    return RuleExample(TemporalPrediction(eta=0.01), {"W": W}, {"input": X},
                       lambda p: task.loss(p["W"]), None, {"W": task.gradient(W)},
                       "sequence")


def _examples() -> dict[str, Callable]:
    """Class name -> ``build(seed) -> RuleExample``; exactly one per built-in rule."""
    from plasticity.rules.gradient import Backprop, FeedbackAlignment
    from plasticity.rules.hebbian import BCM, Covariance, Hebb, Oja, Sanger
    from plasticity.rules.perturbation import NodePerturbation, WeightPerturbation
    from plasticity.rules.predictive_coding import PredictiveCoding
    from plasticity.rules.reward import Reinforce, ThreeFactor
    from plasticity.rules.selection import (
        EvolutionStrategies,
        GeneticAlgorithm,
        HillClimbing,
        SimulatedAnnealing,
    )
    from plasticity.rules.spiking import PairSTDPTrial, SpikeNodePerturbation

    return {
        "Backprop": _ff_example(lambda net, s: Backprop(net=net, eta=0.05)),
        "FeedbackAlignment": _ff_example(
            lambda net, s: FeedbackAlignment(net=net, eta=0.05, seed=s)),
        "NodePerturbation": _ff_example(
            lambda net, s: NodePerturbation(net=net, eta=0.05, sigma=1e-3)),
        "WeightPerturbation": _ff_example(
            lambda net, s: WeightPerturbation(eta=1e-3, sigma=1e-3, n_samples=2)),
        "EvolutionStrategies": _ff_example(
            lambda net, s: EvolutionStrategies(eta=0.005, sigma=0.05, population=6)),
        "HillClimbing": _ff_example(lambda net, s: HillClimbing(sigma=0.01, adapt=True)),
        "SimulatedAnnealing": _ff_example(
            lambda net, s: SimulatedAnnealing(sigma=0.01, t0=0.01, cooling=0.99)),
        "GeneticAlgorithm": _ff_example(
            lambda net, s: GeneticAlgorithm(population=6, sigma=0.01)),
        "PredictiveCoding": _ff_example(
            lambda net, s: PredictiveCoding(net=net, eta=0.05, n_inference=20)),
        "Hebb": _hebbian(Hebb, eta=1e-3, normalize="multiplicative"),
        "Oja": _hebbian(Oja, eta=1e-3),
        "Sanger": _hebbian(Sanger, eta=1e-3),
        "BCM": _hebbian(BCM, eta=1e-3, tau_theta=10.0),
        "Covariance": _hebbian(Covariance, eta=1e-3, tau_mean=10.0),
        "PairSTDPTrial": _spiking(PairSTDPTrial),
        "SpikeNodePerturbation": _spiking(SpikeNodePerturbation, warm=True),
        "DendriticPrediction": _dendritic,
        "Reinforce": _bandit(lambda: Reinforce(eta=0.1, baseline_rate=0.2)),
        "ThreeFactor": _bandit(lambda: ThreeFactor(eta=0.1, baseline_rate=0.2)),
        "TemporalPrediction": _sequence,
    }


def _rule_classes() -> dict[str, type]:
    """Every built-in rule class, by class name: the public subclasses of
    :class:`~plasticity.rules.base.Rule` defined in the public modules of this package.

    Found by walking the modules, as scikit-learn's ``all_estimators`` does (not by
    reading the package's ``__all__``, which would make this module and the package
    import each other), so a rule is found even when it is missing from
    ``plasticity.rules.__all__``; ``tests/test_all_rules.py`` checks that every one is
    exported and that nothing else exported is a rule.
    """
    from plasticity.rules.base import Rule

    found = {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.stem.startswith("_") or path.stem == "registry":
            continue
        module = importlib.import_module(f"{__package__}.{path.stem}")
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule
                    and obj.__module__ == module.__name__ and not name.startswith("_")):
                found[name] = obj
    return found


def _substrates(cls) -> tuple[str, ...]:
    declared = getattr(cls, "substrates", None)
    if not isinstance(declared, tuple) or not declared:
        raise RuleError(f"Rule class {cls.__name__} declares no substrates; add "
                        "'substrates: ClassVar[tuple[str, ...]] = (...)' to it, from "
                        f"{', '.join(SUBSTRATES)}.")
    unknown = [s for s in declared if s not in SUBSTRATES]
    if unknown:
        raise RuleError(f"Rule class {cls.__name__} declares unknown substrate(s) "
                        f"{', '.join(map(repr, unknown))}; known: {', '.join(SUBSTRATES)}.")
    return declared


def all_rules(substrate=None) -> list[RuleInfo]:
    """Every built-in rule class of :mod:`plasticity.rules`, sorted by name.

    Parameters
    ----------
    substrate : str, optional
        Keep only the rules that apply to this substrate (one of :data:`SUBSTRATES`).

    Returns
    -------
    list of RuleInfo
        ``name`` (``cls.name``), ``cls`` and ``substrates``, ordered by ``name`` then
        class name; :meth:`RuleInfo.example` builds a small valid example.

    Raises
    ------
    RuleError
        When a rule class has no example in this module's table, declares no (or
        unknown) substrates, or the table names a class that is not a rule.
    InvalidParameterError
        For an unknown ``substrate``.

    Examples
    --------
    >>> [info.name for info in all_rules("bandit")]
    ['reinforce', 'three_factor']
    """
    if substrate is not None and substrate not in SUBSTRATES:
        raise InvalidParameterError(f"Unknown substrate {substrate!r}; known: "
                                    f"{', '.join(SUBSTRATES)}.")
    table = _examples()
    classes = _rule_classes()
    missing = sorted(set(classes) - set(table))
    if missing:
        raise RuleError(f"Rule class(es) {', '.join(missing)} have no example in "
                        "plasticity.rules.registry._examples(); add one (a small valid "
                        "instance and problem) so the contract tests cover them.")
    stale = sorted(set(table) - set(classes))
    if stale:
        raise RuleError(f"plasticity.rules.registry._examples() has entries for "
                        f"{', '.join(stale)}, which are not rule classes of "
                        "plasticity.rules.")
    infos = [RuleInfo(name=cls.name if isinstance(getattr(cls, "name", None), str)
                      else cls.__name__, cls=cls, substrates=_substrates(cls),
                      _build=table[key])
             for key, cls in classes.items()]
    if substrate is not None:
        infos = [i for i in infos if substrate in i.substrates]
    return sorted(infos, key=lambda i: (i.name, i.cls.__name__))


def rule_example(rule, seed=0) -> RuleExample:
    """The example of one exported rule, by ``name`` (e.g. ``"oja"``) or class.

    Raises
    ------
    RuleError
        When no exported rule has that name or class.
    """
    infos = all_rules()
    for info in infos:
        if rule is info.cls or rule == info.name:
            return info.example(seed)
    raise RuleError(f"No exported rule {getattr(rule, '__name__', rule)!r}; known: "
                    f"{', '.join(i.name for i in infos)}.")
