"""The rule protocol: ``init(params) -> state`` and ``update(...) -> (delta, state)``.

A rule returns the change it wants, never applies it (optax's idea). The engine applies
it, the alignment analysis compares it with the gradient; a rule therefore never sees the
gradient, only local signals and named modulators (``reward``, a loss it may query).

Any object with these two methods is a rule: subclassing :class:`Rule` only adds declared,
validated hyperparameters. :func:`check_delta` is the single place where a delta is
checked against the parameters it is meant for.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from plasticity.errors import RuleError
from plasticity.validation import Hyperparameters

__all__ = ["Rule", "RuleProtocol", "check_applies", "check_delta", "rule_name"]

Params = dict  # dict[str, np.ndarray]: the substrate's parameters, flat


@runtime_checkable
class RuleProtocol(Protocol):
    """What the engine needs of a rule (a researcher's rule need not subclass anything)."""

    def init(self, params: Params) -> Any: ...

    def update(self, signals: dict, state: Any, params: Params, *, reward=None,
               loss_fn=None, rng=None) -> tuple[dict, Any]: ...


class Rule(Hyperparameters):
    """Base class for the built-in rules: keyword-only, validated hyperparameters.

    Subclasses set ``name`` (used in summary keys) and implement :meth:`update`.
    """

    name: ClassVar[str] = "rule"

    def init(self, params: Params) -> Any:
        """Return the rule's initial state (``None`` when it keeps none)."""
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(delta, new_state)``; ``delta`` maps parameter names to changes."""
        raise NotImplementedError


def rule_name(rule) -> str:
    """The rule's short name: its ``name`` attribute, else its class name."""
    return getattr(rule, "name", None) or type(rule).__name__


def check_applies(rule, substrate: str, problem_name: str = "the problem") -> None:
    """Refuse a rule on a kind of problem it does not declare (one line, a RuleError).

    A rule's ``substrates`` ClassVar lists the kinds of problem it applies to (e.g.
    e-prop: ``("recurrent",)``); a researcher's own rule that declares none applies
    anywhere.
    """
    declared = getattr(rule, "substrates", None)
    if declared is None or substrate in declared:
        return
    raise RuleError(f"Rule {rule_name(rule)} applies to {', '.join(declared)} problems; "
                    f"{problem_name} is a {substrate} problem.")


def check_delta(rule, delta, params: Params) -> dict:
    """Check a rule's delta against ``params``; return it with float64 arrays.

    Raises
    ------
    RuleError
        Naming the rule and the parameter array when the delta is not a dict, names an
        array the substrate does not have, has the wrong shape or a non-numeric dtype, or
        holds NaN or infinity.
    """
    who = rule_name(rule)
    if not isinstance(delta, dict):
        raise RuleError(f"Rule {who} returned a {type(delta).__name__} as its delta; "
                        "expected a dict mapping parameter names to arrays.")
    out = {}
    for key, value in delta.items():
        if key not in params:
            raise RuleError(f"Rule {who} returned a delta for '{key}', which is not a "
                            f"parameter (known: {', '.join(sorted(params))}).")
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu":
            raise RuleError(f"Rule {who} returned a delta for '{key}' of dtype {arr.dtype}; "
                            "expected a real floating-point array.")
        if arr.shape != params[key].shape:
            raise RuleError(f"Rule {who} returned a delta for '{key}' of shape {arr.shape}; "
                            f"the parameter has shape {params[key].shape}.")
        if not np.all(np.isfinite(arr)):
            raise RuleError(f"Rule {who} returned a delta for '{key}' containing NaN or "
                            "infinity.")
        out[key] = arr.astype(np.float64, copy=False)
    return out


def check_protocol(rule) -> None:
    """Raise RuleError unless ``rule`` has callable ``init`` and ``update`` methods."""
    missing = [m for m in ("init", "update") if not callable(getattr(rule, m, None))]
    if missing:
        raise RuleError(f"Rule {rule_name(rule)} lacks the protocol method(s) "
                        f"{', '.join(missing)}: a rule needs init(params) and "
                        "update(signals, state, params, *, reward, loss_fn, rng).")
