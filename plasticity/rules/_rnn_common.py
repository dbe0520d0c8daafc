"""What the rate-RNN rules share: reading the signals, the presynaptic vector, the
readout's exact local gradient and the fixed random feedback.

The signals are those of :meth:`plasticity.problems.recurrent.RecurrentProblem.signals`
(one batch of ``B`` sequences of ``T`` steps): ``input`` x (B, T, n_in), ``preact`` a,
``hidden`` h, ``hidden_prev`` h_{t-1} (B, T, n) and ``error`` e_t = dL/dy_t (B, T, n_out;
mask and normalisation included). The recurrent parameters act through
``a_t = W pre_t`` with ``W = [W_rec, W_in, b]`` (n, m) and ``pre_t = (h_{t-1}, x_t, 1)``
(m = n + n_in + 1); the rules estimate ``dL/dW`` and :func:`split` cuts it back into the
three arrays.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import RuleError
from plasticity.substrates.activations import get_activation

#: The signals every rate-RNN rule reads.
RNN_SIGNALS = ("input", "preact", "hidden", "hidden_prev", "error")


def rnn_signals(rule, signals, params, extra=()) -> dict:
    """The rule's signals as float64 arrays, checked against ``rule.net``.

    Raises
    ------
    RuleError
        One line naming the first missing or misshapen signal (e.g. a feedforward
        problem's signals, which have no ``preact``/``hidden_prev``/``error`` sequences).
    """
    net = rule.net
    out = {}
    for key in (*RNN_SIGNALS, *extra):
        if not isinstance(signals, dict) or signals.get(key) is None:
            known = ", ".join(sorted(signals)) if isinstance(signals, dict) else "none"
            raise RuleError(f"Rule {rule.name} needs the recurrent signal '{key}' "
                            f"(available: {known or 'none'}); it applies to recurrent "
                            "problems (RecurrentProblem.signals).")
        out[key] = np.asarray(signals[key], dtype=np.float64)
    x = out["input"]
    if x.ndim != 3 or x.shape[2] != net.n_in:
        raise RuleError(f"Rule {rule.name}: signal 'input' has shape {x.shape}; expected "
                        f"(B, T, n_in={net.n_in}).")
    B, T = x.shape[:2]
    shapes = {"preact": (B, T, net.n_hidden), "hidden": (B, T, net.n_hidden),
              "hidden_prev": (B, T, net.n_hidden), "error": (B, T, net.n_out)}
    for key, shape in shapes.items():
        if out[key].shape != shape:
            raise RuleError(f"Rule {rule.name}: signal '{key}' has shape {out[key].shape}; "
                            f"expected {shape}.")
    try:
        net.check_params(params)
    except Exception as exc:
        raise RuleError(f"Rule {rule.name}: {exc}") from None
    return out


def presynaptic(sig) -> np.ndarray:
    """``pre_t = (h_{t-1}, x_t, 1)``, shape (B, T, n + n_in + 1)."""
    h_prev, x = sig["hidden_prev"], sig["input"]
    ones = np.ones(x.shape[:2] + (1,))
    return np.ascontiguousarray(np.concatenate([h_prev, x, ones], axis=2))


def immediate(net, preact) -> np.ndarray:
    """``D_t = alpha f'(a_t)`` = dh_t/da_t (diagonal), shape (B, T, n)."""
    return np.ascontiguousarray(net.alpha * get_activation(net.activation).df(preact))


def split(net, grad_w) -> dict:
    """Cut ``dL/dW`` (n, n + n_in + 1) into ``W_rec``, ``W_in`` and ``b``."""
    n, n_in = net.n_hidden, net.n_in
    return {"W_rec": grad_w[:, :n].copy(), "W_in": grad_w[:, n:n + n_in].copy(),
            "b": grad_w[:, n + n_in].copy()}


def readout_gradient(sig) -> dict:
    """The exact gradient of the readout, ``sum_t e_t h_t^T`` and ``sum_t e_t``."""
    e = sig["error"]
    return {"W_out": np.einsum("bto,btj->oj", e, sig["hidden"]), "c": e.sum(axis=(0, 1))}


def step(eta, grad) -> dict:
    """``{k: -eta * grad[k]}``."""
    return {k: -eta * g for k, g in grad.items()}


def descent(eta, sig, grad) -> dict:
    """The update of a rule whose estimate of the recurrent arrays is ``grad`` (``W_rec``,
    ``W_in``, ``b``): ``-eta`` times it, with the readout's exact gradient for ``W_out``
    and ``c`` (:func:`readout_gradient`)."""
    return step(eta, {**grad, **readout_gradient(sig)})


def exact_learning_signal(sig, params) -> np.ndarray:
    """``W_out^T e_t``, the loss's immediate sensitivity to ``h_t``, shape (B, T, n)."""
    return np.ascontiguousarray(sig["error"] @ params["W_out"])


def draw_feedback(net, seed, scale) -> np.ndarray:
    """A fixed random feedback matrix ``B`` of ``W_out.T``'s shape (n, n_out), entries
    ``N(0, scale^2 / n)`` (``W_out``'s own initial statistics at ``scale = 1``)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((net.n_hidden, net.n_out)) * (scale / np.sqrt(net.n_hidden))


def need_rng(rule, rng):
    """``rng`` as a Generator, or a RuleError when the rule got none."""
    if rng is None:
        raise RuleError(f"Rule {rule.name} draws its own noise and needs rng (a "
                        "numpy Generator); call update(..., rng=...).")
    return np.random.default_rng(rng)
