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
``"recurrent_spiking"``
    A recurrent escape-noise LIF/ALIF network with a leaky readout
    (:class:`~plasticity.problems.RecurrentSpikingProblem`): per-step spikes, membranes,
    adaptation and readout errors of whole trials.
``"energy"``
    An energy-based (layered Hopfield) network relaxed to free and nudged fixed points
    (:class:`~plasticity.substrates.energy.EnergyNetwork`; equilibrium propagation).

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

import numpy as np

from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules.example_problems import (
    bandit_example,
    dendritic_example,
    ff_example,
    hebbian_example,
    recurrent_example,
    sequence_example,
    spiking_example,
)
from plasticity.rules.rule_example import RuleExample

__all__ = ["SUBSTRATES", "RuleExample", "RuleInfo", "all_rules", "rule_example"]

#: The kinds of problem a rule can declare (``Problem.substrate``).
SUBSTRATES: tuple[str, ...] = ("feedforward", "recurrent", "spiking", "bandit", "sequence",
                               "recurrent_spiking", "energy")


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


def _examples() -> dict[str, Callable]:
    """Class name -> ``build(seed) -> RuleExample``; exactly one per built-in rule."""
    from plasticity.rules._recurrent_spiking_example import recurrent_spiking_example
    from plasticity.rules.eprop import RFLO, EProp
    from plasticity.rules.eprop_spiking import EPropSpiking, SurrogateBPTT
    from plasticity.rules.equilibrium_propagation import EquilibriumPropagation
    from plasticity.rules.example_problems import energy_example
    from plasticity.rules.feedback import (
        DirectFeedbackAlignment,
        KolenPollack,
        SignSymmetry,
        WeightMirror,
    )
    from plasticity.rules.gradient import Backprop, FeedbackAlignment
    from plasticity.rules.hebbian import BCM, Covariance, Hebb, Oja, Sanger
    from plasticity.rules.perturbation import NodePerturbation, WeightPerturbation
    from plasticity.rules.predictive_coding import PredictiveCoding
    from plasticity.rules.reward import Reinforce, ThreeFactor
    from plasticity.rules.rnn_exact import BPTT, RTRL, ReadoutOnly, TruncatedBPTT
    from plasticity.rules.rnn_perturbation import NodePerturbationInTime
    from plasticity.rules.rnn_unbiased import KFRTRL, UORO
    from plasticity.rules.selection import (
        EvolutionStrategies,
        GeneticAlgorithm,
        HillClimbing,
        SimulatedAnnealing,
    )
    from plasticity.rules.spiking import PairSTDPTrial, SpikeNodePerturbation
    from plasticity.rules.target_prop import DifferenceTargetProp

    return {
        "Backprop": ff_example(lambda net, s: Backprop(net=net, eta=0.05)),
        "FeedbackAlignment": ff_example(
            lambda net, s: FeedbackAlignment(net=net, eta=0.05, seed=s)),
        # the feedback family on two hidden layers, where their backward passes differ
        "DirectFeedbackAlignment": ff_example(
            lambda net, s: DirectFeedbackAlignment(net=net, eta=0.05, seed=s),
            sizes=(4, 6, 5, 3)),
        "SignSymmetry": ff_example(
            lambda net, s: SignSymmetry(net=net, variant="brSF", eta=0.05, seed=s),
            sizes=(4, 6, 5, 3)),
        "KolenPollack": ff_example(
            lambda net, s: KolenPollack(net=net, eta=0.05, decay=0.1, seed=s),
            sizes=(4, 6, 5, 3)),
        "WeightMirror": ff_example(
            lambda net, s: WeightMirror(net=net, eta=0.05, n_mirror=8, seed=s),
            sizes=(4, 6, 5, 3)),
        "DifferenceTargetProp": ff_example(
            lambda net, s: DifferenceTargetProp(net=net, eta=0.05, sigma=0.1, seed=s),
            sizes=(4, 6, 5, 3)),
        "NodePerturbation": ff_example(
            lambda net, s: NodePerturbation(net=net, eta=0.05, sigma=1e-3)),
        "WeightPerturbation": ff_example(
            lambda net, s: WeightPerturbation(eta=1e-3, sigma=1e-3, n_samples=2)),
        "EvolutionStrategies": ff_example(
            lambda net, s: EvolutionStrategies(eta=0.005, sigma=0.05, population=6)),
        "HillClimbing": ff_example(lambda net, s: HillClimbing(sigma=0.01, adapt=True)),
        "SimulatedAnnealing": ff_example(
            lambda net, s: SimulatedAnnealing(sigma=0.01, t0=0.01, cooling=0.99)),
        "GeneticAlgorithm": ff_example(
            lambda net, s: GeneticAlgorithm(population=6, sigma=0.01)),
        "PredictiveCoding": ff_example(
            lambda net, s: PredictiveCoding(net=net, eta=0.05, n_inference=20)),
        "Hebb": hebbian_example(Hebb, eta=1e-3, normalize="multiplicative"),
        "Oja": hebbian_example(Oja, eta=1e-3),
        "Sanger": hebbian_example(Sanger, eta=1e-3),
        "BCM": hebbian_example(BCM, eta=1e-3, tau_theta=10.0),
        "Covariance": hebbian_example(Covariance, eta=1e-3, tau_mean=10.0),
        "PairSTDPTrial": spiking_example(PairSTDPTrial),
        "SpikeNodePerturbation": spiking_example(SpikeNodePerturbation, warm=True),
        "DendriticPredictionTrial": dendritic_example,
        "Reinforce": bandit_example(lambda: Reinforce(eta=0.1, baseline_rate=0.2)),
        "ThreeFactor": bandit_example(lambda: ThreeFactor(eta=0.1, baseline_rate=0.2)),
        "TemporalPrediction": sequence_example,
        "EquilibriumPropagation": energy_example(
            lambda net, s: EquilibriumPropagation(net=net, beta=0.01, eta=0.05)),
        "EPropSpiking": recurrent_spiking_example(
            lambda s: EPropSpiking(eta=1e-3, feedback="random", seed=s)),
        "SurrogateBPTT": recurrent_spiking_example(lambda s: SurrogateBPTT(eta=1e-3)),
        # the online rules of the leaky rate RNN (issue 17), on a tiny delayed-copy task
        "BPTT": recurrent_example(lambda net, s: BPTT(net=net, eta=0.1)),
        "RTRL": recurrent_example(lambda net, s: RTRL(net=net, eta=0.1)),
        "TruncatedBPTT": recurrent_example(lambda net, s: TruncatedBPTT(net=net, k=2)),
        "ReadoutOnly": recurrent_example(lambda net, s: ReadoutOnly(net=net)),
        "EProp": recurrent_example(
            lambda net, s: EProp(net=net, feedback="random", seed=s)),
        "RFLO": recurrent_example(lambda net, s: RFLO(net=net, seed=s)),
        "UORO": recurrent_example(lambda net, s: UORO(net=net)),
        "KFRTRL": recurrent_example(lambda net, s: KFRTRL(net=net)),
        "NodePerturbationInTime": recurrent_example(
            lambda net, s: NodePerturbationInTime(net=net, sigma=1e-3)),
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
