"""Turn a rule specification (a built-in name, an import path, an object) into a rule.

The command line names rules as strings (``--set rule=oja`` or
``--set rule=mylab.rules:SignHebb``); Python code may pass a rule object or a pair of
functions. :func:`resolve_rule` is the one place that turns any of these into an object
following the rule protocol, so every entry point reports a bad specification the same way:
one line, as a :class:`~plasticity.errors.RuleError`, before any work is done.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import warnings
from collections.abc import Callable

import numpy as np

from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules.base import check_protocol, rule_name

__all__ = ["BUILTIN_RULES", "FunctionRule", "builtin_rule", "resolve_rule", "spec_name"]


def _backprop(net, loss_kind, seed=None):
    from plasticity.rules.gradient import Backprop

    return Backprop(net=net, eta=0.05, loss_kind=loss_kind)


def _feedback_alignment(net, loss_kind, seed=None):
    from plasticity.rules.gradient import FeedbackAlignment

    # The feedback matrices are drawn from ``seed`` (see builtin_rule); None keeps the
    # class default, so callers that pass no seed get the same matrices as before.
    extra = {} if seed is None else {"seed": seed}
    return FeedbackAlignment(net=net, eta=0.05, loss_kind=loss_kind, **extra)


def _node_perturbation(net, loss_kind, seed=None):
    from plasticity.rules.perturbation import NodePerturbation

    return NodePerturbation(net=net, eta=0.05, sigma=1e-3, loss_kind=loss_kind)


def _weight_perturbation(net, loss_kind, seed=None):
    from plasticity.rules.perturbation import WeightPerturbation

    # One perturbation over all D parameters has a norm sqrt(D) times the gradient
    # component it samples; a small rate keeps the step stable for widths up to ~100.
    return WeightPerturbation(eta=1e-3, sigma=1e-3)


def _es(net, loss_kind, seed=None):
    from plasticity.rules.selection import EvolutionStrategies

    return EvolutionStrategies(eta=0.005, sigma=0.05, population=20)


def _hill_climbing(net, loss_kind, seed=None):
    from plasticity.rules.selection import HillClimbing

    return HillClimbing(sigma=0.01)


def _annealing(net, loss_kind, seed=None):
    from plasticity.rules.selection import SimulatedAnnealing

    return SimulatedAnnealing(sigma=0.01, t0=0.01, cooling=0.99)


def _genetic(net, loss_kind, seed=None):
    from plasticity.rules.selection import GeneticAlgorithm

    return GeneticAlgorithm(population=20, sigma=0.01)


def _hidden_signal(net):
    # Hebbian rules learn the output weights from the hidden activity, which exists only
    # with a hidden layer; without one the input is the presynaptic signal.
    return "hidden" if len(getattr(net, "sizes", ())) == 3 else "input"


def _hebb(net, loss_kind, seed=None):
    from plasticity.rules.hebbian import Hebb

    # Plain Hebb grows without bound; multiplicative normalisation keeps the run finite
    # so that what is measured is the direction of the updates, not a blow-up.
    return Hebb(eta=1e-4, pre=_hidden_signal(net), normalize="multiplicative")


def _oja(net, loss_kind, seed=None):
    from plasticity.rules.hebbian import Oja

    # eta * |h|^2 must stay well below 2 for Oja's rule to be stable; |h|^2 is at most the
    # hidden width for tanh units, so 1e-3 is safe up to a few hundred units.
    return Oja(eta=1e-3, pre=_hidden_signal(net))


#: Built-in rule name -> factory ``(net, loss_kind, seed=None) -> rule``, with
#: hyperparameters chosen for the supervised tasks (teacher-student, digits) and their
#: student networks. ``seed`` (an int >= 0 or None) seeds the rule's fixed random draws
#: (feedback alignment's feedback matrices); factories of rules without any ignore it.
#: Names separate words with ``_``; ``-`` is accepted with a DeprecationWarning.
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


def _seed(seed):
    """``seed`` as an int >= 0, or None; a numpy Generator gives one draw of ``[0, 2**31)``."""
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**31))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError(f"The rule seed must be a non-negative integer or a "
                                    f"numpy Generator. Got {seed!r}.")
    return int(seed)


def _canonical(name, *, warn=True):
    """The built-in name ``name`` stands for: itself, or its ``_`` form for a ``-`` alias.

    Rule names separate words with ``_`` (``feedback_alignment``); experiment and task
    names use ``-`` (``feedback-alignment``), so a ``-`` rule name is accepted too, with a
    DeprecationWarning when ``warn``. Anything else is returned unchanged.
    """
    if name in BUILTIN_RULES or "-" not in name:
        return name
    alias = name.replace("-", "_")
    if alias not in BUILTIN_RULES:
        return name
    if warn:
        # stacklevel 3: the caller of builtin_rule / resolve_rule.
        warnings.warn(f"Rule name {name!r} is deprecated; use {alias!r} (rule names "
                      "separate words with '_').", DeprecationWarning, stacklevel=3)
    return alias


def builtin_rule(name, *, net, loss_kind="mse", seed=None):
    """A built-in rule by name, for the network ``net``.

    Parameters
    ----------
    name : str
        A key of :data:`BUILTIN_RULES` (``-`` in place of ``_`` is accepted with a
        DeprecationWarning).
    net : FeedForward
    loss_kind : {"mse", "cross_entropy"}, default "mse"
    seed : int >= 0, numpy Generator or None, default None
        Seeds the rule's fixed random draws, for the rules that have any (feedback
        alignment's feedback matrices), so that they come from the run's seed stream and
        differ between seeds. A Generator gives one integer draw (made whatever the rule).
        ``None`` keeps each rule's default (feedback alignment: seed 0).

    Raises
    ------
    RuleError
        For an unknown name (listing the known ones).
    InvalidParameterError
        For a seed that is not a non-negative integer, a Generator or None.
    """
    seed = _seed(seed)
    factory = BUILTIN_RULES.get(_canonical(name))
    if factory is None:
        _refuse_other_substrate(name)
        raise RuleError(f"Unknown rule {name!r}; built-in rules: "
                        f"{', '.join(BUILTIN_RULES)}, or an import path 'package.module:Name'.")
    return factory(net, loss_kind, seed=seed)


def _refuse_other_substrate(name):
    """A rule of the package that is not for feedforward networks (e-prop, TD, STDP, ...)
    asked for by name where a feedforward network learns: say so, in one line, rather
    than calling it unknown."""
    from plasticity.rules.base import check_applies
    from plasticity.rules.registry import all_rules

    for info in all_rules():
        if info.name == _canonical(name):
            check_applies(info.cls, "feedforward", "the problem here")


def _takes_seed(cls) -> bool:
    """Whether the class ``cls`` is built with a ``seed`` keyword (a declared field of a
    :class:`~plasticity.rules.base.Rule`, or a parameter of its constructor)."""
    fields = getattr(cls, "model_fields", None)
    if isinstance(fields, dict):
        return "seed" in fields
    try:
        return "seed" in inspect.signature(cls).parameters
    except (TypeError, ValueError):  # no inspectable signature (e.g. a builtin)
        return False


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


def _from_object(obj, spec_text, seed=None):
    """A rule from what an import path or the caller named (a class that takes a
    ``seed`` is built with ``seed`` when one is given)."""
    if isinstance(obj, tuple) and len(obj) == 2 and all(callable(f) for f in obj):
        name = spec_text.rpartition(":")[2] if spec_text else None
        return FunctionRule(obj[0], obj[1], name=name or None)
    if isinstance(obj, type):
        kwargs = {"seed": seed} if seed is not None and _takes_seed(obj) else {}
        try:
            obj = obj(**kwargs)
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


def resolve_rule(spec, *, net, loss_kind="mse", seed=None):
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
    seed : int >= 0, numpy Generator or None, default None
        Seeds the rule's fixed random draws (see :func:`builtin_rule`); also passed as
        ``seed=`` to a class named by an import path when its constructor takes one.
        Pass one derived from the run's seed stream, e.g. ``seed=ctx.child_rng()``.
        ``None`` keeps each rule's default. Rule objects are used as they are.

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
    seed = _seed(seed)
    if isinstance(spec, str):
        text = _canonical(spec.strip())
        if text in BUILTIN_RULES:
            return builtin_rule(text, net=net, loss_kind=loss_kind, seed=seed)
        if ":" not in text:
            _refuse_other_substrate(text)
            raise RuleError(f"Unknown rule {text!r}; built-in rules: "
                            f"{', '.join(BUILTIN_RULES)}, or an import path "
                            "'package.module:Name'.")
        return _check(_from_object(_import(text), text, seed), text)
    return _check(_from_object(spec, None, seed), None)


def spec_name(spec, rule=None) -> str:
    """The name a specification goes by in summary keys.

    A built-in name stays itself (a deprecated ``-`` alias becomes its ``_`` name, so
    summary keys have one spelling); an import path or object takes the resolved rule's
    :func:`~plasticity.rules.base.rule_name` (e.g. ``"SignHebb"``).
    """
    if isinstance(spec, str) and _canonical(spec.strip(), warn=False) in BUILTIN_RULES:
        return _canonical(spec.strip(), warn=False)
    if rule is None:
        if isinstance(spec, str):
            return spec.strip().rpartition(":")[2].rpartition(".")[2]
        return rule_name(spec)
    return rule_name(rule)
