"""Contract checks for any learning rule (scikit-learn's ``check_estimator`` idea).

:func:`check_rule` runs a rule, built-in or a researcher's own, through the rule protocol
on a small problem and stops at the first broken promise with a :class:`RuleError` that
names the rule and the check. A rule that passes can be trained by the engine and
analysed (alignment, expected update, baselines) without surprises; in particular the
expected-update analysis relies on ``update`` leaving ``params`` and ``state`` untouched.

The checks, in order:

``protocol``
    ``rule`` is an instance with callable ``init`` and ``update``.
``init``
    ``init(params)`` returns without error and leaves ``params`` unchanged.
``keywords``
    ``update`` accepts ``reward=``, ``loss_fn=`` and ``rng=``.
``update``
    ``update(...)`` returns without error ...
``returns (delta, state)``
    ... a pair.
``delta``
    The delta is a dict of arrays named after parameters, with the parameters' shapes, a
    real dtype and finite values (:func:`~plasticity.rules.base.check_delta`).
``params not mutated``, ``signals not mutated``, ``state not mutated``
    ``update`` changes none of its inputs in place (compared with deep copies taken
    before the call).
``deterministic``
    Two calls from equal inputs with generators of the same seed return equal deltas
    and states.
``state threading``
    A second update from the returned state also gives a valid delta.
``delta not reused``
    That second update leaves the first delta unchanged (a rule must not hand out a
    buffer it overwrites later).
"""

from __future__ import annotations

import copy

import numpy as np

from plasticity.errors import RuleError
from plasticity.rules.base import check_delta, rule_name

__all__ = ["check_rule"]

_KEYWORDS = ("reward", "loss_fn", "rng")


_UNSET = object()  # ``state`` not given: start from ``rule.init(params)``


class _Uncopyable:
    """Stands in for a state that ``copy.deepcopy`` cannot copy (then not compared)."""


def _fail(who, check, detail):
    return RuleError(f"Rule {who} failed the '{check}' check: {detail}")


def _strip(who, message):
    """Drop a leading ``"Rule <who> "`` so the rule is not named twice."""
    head = f"Rule {who} "
    return message[len(head):] if message.startswith(head) else message


def _diff(a, b, path="") -> str | None:
    """Where ``a`` and ``b`` differ (a readable path), or None when they are equal."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        if a_arr.shape != b_arr.shape:
            return f"{path or 'value'} (shape {a_arr.shape} -> {b_arr.shape})"
        if a_arr.dtype.kind in "fc" or b_arr.dtype.kind in "fc":
            same = np.array_equal(a_arr, b_arr, equal_nan=True)
        else:
            same = np.array_equal(a_arr, b_arr)
        return None if same else (path or "value")
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{path or 'value'} (keys {sorted(map(str, a))} -> {sorted(map(str, b))})"
        for key in a:
            where = _diff(a[key], b[key], f"{path}[{key!r}]")
            if where:
                return where
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return f"{path or 'value'} (length {len(a)} -> {len(b)})"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            where = _diff(x, y, f"{path}[{i}]")
            if where:
                return where
        return None
    if isinstance(a, np.random.Generator) and isinstance(b, np.random.Generator):
        return _diff(a.bit_generator.state, b.bit_generator.state, path)
    if type(a) is not type(b):
        return f"{path or 'value'} (type {type(a).__name__} -> {type(b).__name__})"
    if isinstance(a, float | complex | np.floating | np.complexfloating):
        return None if (a == b or (a != a and b != b)) else (path or "value")
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return _diff(vars(a), vars(b), f"{path}." if path else "attribute ")
    try:
        return None if bool(a == b) else (path or "value")
    except Exception:  # an object without a usable == cannot be compared; assume equal
        return None


def _default_problem(seed):
    """A 2-layer FeedForward [4, 5, 3], 8 inputs with targets, and its MSE loss."""
    from plasticity.substrates import FeedForward

    net = FeedForward(sizes=[4, 5, 3])
    rng = np.random.default_rng(seed)
    params = net.init_params(rng)
    x = rng.standard_normal((8, 4))
    target = rng.standard_normal((8, 3))
    signals = dict(net.signals(params, x))
    signals["target"] = target

    def loss_fn(p):
        return net.loss(p, x, target)

    return params, signals, loss_fn


def _sum_of_squares(params):
    return 0.5 * float(sum(np.vdot(v, v) for v in params.values()))


def check_rule(rule, params=None, signals=None, *, seed=0, loss_fn=None, reward=None,
               state=_UNSET) -> dict:
    """Check that ``rule`` keeps the rule protocol; raise at the first broken promise.

    Parameters
    ----------
    rule : object
        An instance with ``init(params)`` and
        ``update(signals, state, params, *, reward=None, loss_fn=None, rng=None)``.
    params : dict of str to ndarray, optional
        Parameters to test on. Default (together with ``signals``): a feedforward
        network with sizes [4, 5, 3] (arrays ``W1``, ``b1``, ``W_out``, ``b_out``).
    signals : dict, optional
        Local signals for the rule; required when ``params`` is given. Default: the
        network's signals for a batch of 8 random inputs (``input``, ``hidden``,
        ``hidden1``, ``output``, pre-activations ``u_*``, each (8, n)) plus ``target``
        (8, 3).
    seed : int, default 0
        Seed of the default problem and of the generators passed as ``rng``.
    loss_fn : callable, optional
        ``loss_fn(params) -> float`` passed to the rule. Default: the network's MSE on
        the batch for the default problem, else half the sum of squared parameters.
    reward : optional
        Passed to the rule. Default: minus the loss at ``params`` (a float).
    state : optional
        The state the updates start from, for a rule whose fresh state makes a trivial
        update (e.g. a reward baseline that is only set by the first trial). ``init`` is
        still called and checked. Default: the state ``init(params)`` returns.

    Returns
    -------
    dict
        ``rule`` (name), ``passed`` (the checks, in order), ``delta_keys`` (the arrays
        the rule changed), ``problem`` (``"default"`` or ``"given"``) and
        ``state_compared`` (False when the state could not be deep-copied, so the
        ``state not mutated`` check and the state part of ``deterministic`` were
        skipped).

    Raises
    ------
    RuleError
        ``"Rule <name> failed the '<check>' check: <what happened>"``.
    ValueError
        When only one of ``params`` and ``signals`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> class Decay:
    ...     def init(self, params):
    ...         return None
    ...     def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
    ...         return {"W_out": -0.01 * params["W_out"]}, state
    >>> check_rule(Decay())["passed"][-1]
    'delta not reused'
    """
    who = rule.__name__ if isinstance(rule, type) else rule_name(rule)
    passed: list[str] = []

    # -- protocol -------------------------------------------------------------------
    if isinstance(rule, type):
        raise _fail(who, "protocol", f"got the class {who}; pass an instance, e.g. "
                    f"{who}().")
    missing = [m for m in ("init", "update") if not callable(getattr(rule, m, None))]
    if missing:
        raise _fail(who, "protocol", f"lacks the method(s) {', '.join(missing)}; a rule "
                    "needs init(params) and update(signals, state, params, *, reward, "
                    "loss_fn, rng).")
    passed.append("protocol")

    if (params is None) != (signals is None):
        raise ValueError("check_rule needs both params and signals, or neither (then a "
                         "small default problem is used).")
    problem = "default" if params is None else "given"
    if params is None:
        params, signals, default_loss = _default_problem(seed)
    else:
        default_loss = _sum_of_squares
    loss_fn = default_loss if loss_fn is None else loss_fn
    if reward is None:
        reward = -float(loss_fn(params))
    params_copy = copy.deepcopy(params)
    signals_copy = copy.deepcopy(signals)

    # -- init -----------------------------------------------------------------------
    given_state = state
    try:
        state = rule.init(params)
    except Exception as exc:
        raise _fail(who, "init", f"init(params) raised {type(exc).__name__}: {exc}") from exc
    where = _diff(params_copy, params, "params")
    if where:
        raise _fail(who, "init", f"init(params) modified {where} in place.")
    passed.append("init")
    if given_state is not _UNSET:
        state = given_state

    try:
        state_copy = copy.deepcopy(state)
    except Exception:
        state_copy = _Uncopyable()
    state_compared = not isinstance(state_copy, _Uncopyable)

    def call(st, seed_):
        return rule.update(signals, st, params, reward=reward, loss_fn=loss_fn,
                           rng=np.random.default_rng(seed_))

    # -- keywords and update ---------------------------------------------------------
    try:
        out = call(state, seed)
    except TypeError as exc:
        text = str(exc)
        if "keyword" in text and any(k in text for k in _KEYWORDS):
            raise _fail(who, "keywords", "update must accept the keyword arguments "
                        f"reward=, loss_fn= and rng= ({text}).") from exc
        raise _fail(who, "update", f"update raised TypeError: {text}") from exc
    except Exception as exc:
        raise _fail(who, "update", f"update raised {type(exc).__name__}: {exc}") from exc
    passed += ["keywords", "update"]

    if not isinstance(out, tuple | list) or len(out) != 2:
        got = (f"a {type(out).__name__} of length {len(out)}"
               if isinstance(out, tuple | list) else f"a {type(out).__name__}")
        raise _fail(who, "returns (delta, state)", f"update returned {got}; expected the "
                    "pair (delta, new_state).")
    passed.append("returns (delta, state)")
    raw_delta, new_state = out

    try:
        delta = check_delta(rule, raw_delta, params)
    except RuleError as exc:
        raise _fail(who, "delta", _strip(who, str(exc))) from None
    passed.append("delta")

    # -- nothing modified in place -----------------------------------------------------
    where = _diff(params_copy, params, "params")
    if where:
        raise _fail(who, "params not mutated", f"update modified {where} in place; return "
                    "the change as the delta instead.")
    passed.append("params not mutated")
    where = _diff(signals_copy, signals, "signals")
    if where:
        raise _fail(who, "signals not mutated", f"update modified {where} in place.")
    passed.append("signals not mutated")
    if state_compared:
        where = _diff(state_copy, state, "state")
        if where:
            raise _fail(who, "state not mutated", f"update modified {where} in place; "
                        "return a new state instead (draws of the expected update all "
                        "start from the same state).")
        passed.append("state not mutated")

    # -- determinism ---------------------------------------------------------------------
    first = copy.deepcopy(delta)
    if state_compared:
        again_state = copy.deepcopy(state_copy)
    else:
        again_state = rule.init(params) if given_state is _UNSET else given_state
    try:
        raw2, new_state2 = call(again_state, seed)
        delta2 = check_delta(rule, raw2, params)
    except Exception as exc:
        raise _fail(who, "deterministic", f"a repeated update raised "
                    f"{type(exc).__name__}: {_strip(who, str(exc))}") from exc
    where = _diff(first, delta2, "delta")
    if where:
        raise _fail(who, "deterministic", f"two updates from equal inputs with generators "
                    f"of the same seed gave different {where}; draw all randomness from "
                    "the rng argument and keep all memory in the state.")
    if state_compared:
        where = _diff(new_state, new_state2, "new state")
        if where:
            raise _fail(who, "deterministic", f"two updates from equal inputs with "
                        f"generators of the same seed gave different {where}.")
    passed.append("deterministic")

    # -- the returned state is usable -----------------------------------------------------
    try:
        raw3, _ = call(new_state, seed + 1)
        check_delta(rule, raw3, params)
    except Exception as exc:
        raise _fail(who, "state threading", f"an update from the state returned by the "
                    f"previous update failed: {type(exc).__name__}: "
                    f"{_strip(who, str(exc))}") from exc
    passed.append("state threading")
    where = _diff(first, delta, "delta")
    if where:
        raise _fail(who, "delta not reused", f"a later update overwrote the earlier "
                    f"{where}; return fresh arrays.")
    passed.append("delta not reused")

    return {"rule": who, "passed": passed, "delta_keys": sorted(delta), "problem": problem,
            "state_compared": state_compared}
