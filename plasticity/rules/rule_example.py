"""A small valid use of a rule (:class:`RuleExample`): what the contract tests and the
expected-update analysis run a rule on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RuleExample"]

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

