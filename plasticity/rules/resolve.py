"""Turn a rule specification (a built-in name, an import path, an object) into a rule.

The command line names rules as strings (``--set rule=oja`` or
``--set rule=mylab.rules:SignHebb``); Python code may pass a rule object or a pair of
functions. :func:`resolve_rule` is the one place that turns any of these into an object
following the rule protocol, so every entry point reports a bad specification the same way:
one line, as a :class:`~plasticity.errors.RuleError`, before any work is done.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from plasticity.errors import RuleError
from plasticity.rules.base import check_protocol, rule_name

__all__ = ["BUILTIN_RULES", "FunctionRule", "builtin_rule", "resolve_rule", "spec_name"]


def _backprop(net, loss_kind):
    from plasticity.rules.gradient import Backprop

    return Backprop(net=net, eta=0.05, loss_kind=loss_kind)


def _feedback_alignment(net, loss_kind):
    from plasticity.rules.gradient import FeedbackAlignment

    return FeedbackAlignment(net=net, eta=0.05, loss_kind=loss_kind)


def _node_perturbation(net, loss_kind):
    from plasticity.rules.perturbation import NodePerturbation

    return NodePerturbation(net=net, eta=0.05, sigma=1e-3, loss_kind=loss_kind)


def _weight_perturbation(net, loss_kind):
    from plasticity.rules.perturbation import WeightPerturbation

    # One perturbation over all D parameters has a norm sqrt(D) times the gradient
    # component it samples; a small rate keeps the step stable for widths up to ~100.
    return WeightPerturbation(eta=1e-3, sigma=1e-3)


def _es(net, loss_kind):
    from plasticity.rules.selection import EvolutionStrategies

    return EvolutionStrategies(eta=0.005, sigma=0.05, population=20)


def _hill_climbing(net, loss_kind):
    from plasticity.rules.selection import HillClimbing

    return HillClimbing(sigma=0.01)


def _annealing(net, loss_kind):
    from plasticity.rules.selection import SimulatedAnnealing

    return SimulatedAnnealing(sigma=0.01, t0=0.01, cooling=0.99)


def _genetic(net, loss_kind):
    from plasticity.rules.selection import GeneticAlgorithm

    return GeneticAlgorithm(population=20, sigma=0.01)


def _hidden_signal(net):
    # Hebbian rules learn the output weights from the hidden activity, which exists only
    # with a hidden layer; without one the input is the presynaptic signal.
    return "hidden" if len(getattr(net, "sizes", ())) == 3 else "input"


def _hebb(net, loss_kind):
    from plasticity.rules.hebbian import Hebb

    # Plain Hebb grows without bound; multiplicative normalisation keeps the run finite
    # so that what is measured is the direction of the updates, not a blow-up.
    return Hebb(eta=1e-4, pre=_hidden_signal(net), normalize="multiplicative")


def _oja(net, loss_kind):
    from plasticity.rules.hebbian import Oja

    # eta * |h|^2 must stay well below 2 for Oja's rule to be stable; |h|^2 is at most the
    # hidden width for tanh units, so 1e-3 is safe up to a few hundred units.
    return Oja(eta=1e-3, pre=_hidden_signal(net))


#: Built-in rule name -> factory ``(net, loss_kind) -> rule``, with hyperparameters
#: chosen for the supervised tasks (teacher-student, digits) and their student networks.
BUILTIN_RULES: dict[str, Callable] = {
    "backprop": _backprop,
    "feedback_alignment": _feedback_alignment,
    "node_perturbation": _node_perturbation,
    "weight_perturbation": _weight_perturbation,
    "es": _es,
    "hill_climbing": _hill_climbing,
    "annealing": _annealing,
    "genetic": _genetic,
    "hebb": _hebb,
    "oja": _oja,
}


class FunctionRule:
    """A rule made of two functions, ``init(params)`` and ``update(signals, state, ...)``.

    Parameters
    ----------
    init, update : callable
        As the rule protocol's methods.
    name : str, optional
        Used in summary keys and messages; defaults to the update function's name.
    """

    def __init__(self, init, update, name=None):
        if not callable(init) or not callable(update):
            raise RuleError("A rule given as a pair of functions needs two callables, "
                            "(init, update).")
        self._init, self._update = init, update
        self.name = name or getattr(update, "__name__", "function_rule")

    def init(self, params):
        """``init(params)``."""
        return self._init(params)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """``update(signals, state, params, reward=..., loss_fn=..., rng=...)``."""
        return self._update(signals, state, params, reward=reward, loss_fn=loss_fn, rng=rng)


def builtin_rule(name, *, net, loss_kind="mse"):
    """A built-in rule by name, for the network ``net``.

    Raises
    ------
    RuleError
        For an unknown name (listing the known ones).
    """
    factory = BUILTIN_RULES.get(name)
    if factory is None:
        raise RuleError(f"Unknown rule {name!r}; built-in rules: "
                        f"{', '.join(BUILTIN_RULES)}, or an import path 'package.module:Name'.")
    return factory(net, loss_kind)


def _import(spec):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise RuleError(f"Rule {spec!r} is neither a built-in rule ({', '.join(BUILTIN_RULES)})"
                        " nor an import path 'package.module:Name'.")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        # The console script does not put the working directory on the path, yet a
        # researcher's rules usually live there (``--set rule=mylab.rules:SignHebb``).
        # Appended, not prepended, so that it cannot shadow an installed package.
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's module is reported
        # A module that exists but fails while importing is the user's bug too; one line
        # naming it is more useful than a traceback through importlib.
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RuleError(f"cannot import {module_name!r} for rule {spec!r}: {detail}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise RuleError(f"module {module_name!r} has no attribute {attr!r} "
                            f"(rule {spec!r}).")
        obj = getattr(obj, part)
    return obj


def _from_object(obj, spec_text):
    """A rule from what an import path or the caller named."""
    if isinstance(obj, tuple) and len(obj) == 2 and all(callable(f) for f in obj):
        name = spec_text.rpartition(":")[2] if spec_text else None
        return FunctionRule(obj[0], obj[1], name=name or None)
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 - the user's constructor, reported in a line
            raise RuleError(f"cannot instantiate rule {spec_text or obj.__name__!r} with no "
                            f"arguments: {type(exc).__name__}: {exc}") from None
    return obj


def _check(rule, spec_text):
    missing = [m for m in ("init", "update") if not callable(getattr(rule, m, None))]
    if missing:
        label = spec_text or rule_name(rule)
        raise RuleError(f"rule {label!r} lacks the protocol method(s) {', '.join(missing)}: "
                        "a rule needs init(params) and update(signals, state, params, *, "
                        "reward, loss_fn, rng).")
    check_protocol(rule)
    return rule


def resolve_rule(spec, *, net, loss_kind="mse"):
    """Turn a rule specification into a rule object.

    Parameters
    ----------
    spec : str, rule object, or (init, update) pair
        A built-in name (see :data:`BUILTIN_RULES`); an import path
        ``"package.module:Name"`` naming a class (instantiated with no arguments), a rule
        instance or a pair of functions; or such an object itself.
    net : FeedForward
        The network built-in rules that need one (backprop, node perturbation, ...) are
        made for. A user's rule is never given it: if it needs the network, its
        constructor must build or find it.
    loss_kind : {"mse", "cross_entropy"}, default "mse"
        The task's loss, for the built-in gradient rules.

    Returns
    -------
    object
        With callable ``init`` and ``update``.

    Raises
    ------
    RuleError
        One line: unknown name, a module that cannot be imported, a missing attribute, a
        class that cannot be built without arguments, or missing protocol methods.
    """
    if isinstance(spec, str):
        text = spec.strip()
        if text in BUILTIN_RULES:
            return builtin_rule(text, net=net, loss_kind=loss_kind)
        if ":" not in text:
            raise RuleError(f"Unknown rule {text!r}; built-in rules: "
                            f"{', '.join(BUILTIN_RULES)}, or an import path "
                            "'package.module:Name'.")
        return _check(_from_object(_import(text), text), text)
    return _check(_from_object(spec, None), None)


def spec_name(spec, rule=None) -> str:
    """The name a specification goes by in summary keys.

    A built-in name stays itself; an import path or object takes the resolved rule's
    :func:`~plasticity.rules.base.rule_name` (e.g. ``"SignHebb"``).
    """
    if isinstance(spec, str) and spec.strip() in BUILTIN_RULES:
        return spec.strip()
    if rule is None:
        if isinstance(spec, str):
            return spec.strip().rpartition(":")[2].rpartition(".")[2]
        return rule_name(spec)
    return rule_name(rule)
