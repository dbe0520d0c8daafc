"""The training loop: step the task, ask the rule for its delta, apply it, call probes.

The loop is the only place where deltas are applied, checked (:func:`check_delta`) and
watched for divergence, so every rule (built-in or a researcher's) gets the same
treatment and every probe (alignment, snapshots) sees the same updates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from plasticity.errors import Diverged
from plasticity.rules.base import check_delta, check_protocol

# Batch is task data, defined with the tasks; re-exported here where the loop uses it.
from plasticity.tasks.batch import Batch

__all__ = ["Batch", "Probe", "train", "apply_delta"]


@dataclass
class Probe:
    """Call ``fn(step, params, state, delta, batch)`` every ``every`` updates (and after
    the last). ``step`` counts applied updates, starting at 1."""

    fn: Callable
    every: int = 1

    def __post_init__(self):
        if int(self.every) < 1:
            raise ValueError("a probe's interval must be >= 1")


def apply_delta(params: dict, delta: dict) -> dict:
    """New parameter dict with ``delta`` added (arrays not in ``delta`` are shared)."""
    out = dict(params)
    for key, d in delta.items():
        out[key] = params[key] + d
    return out


def _check_divergence(step, params, limit):
    for key, value in params.items():
        if not np.all(np.isfinite(value)):
            raise Diverged(step, f"'{key}' became non-finite")
        peak = float(np.max(np.abs(value))) if value.size else 0.0
        if peak > limit:
            raise Diverged(step, f"max |{key}| = {peak:.3g} exceeded {limit:.3g}")


def train(rule, params, *, n_updates, next_batch, signals, loss=None, rng=None, probes=(),
          state=None, divergence_limit=1e6, progress=None):
    """Run ``n_updates`` updates of ``rule``.

    Parameters
    ----------
    rule : object with ``init`` and ``update``
    params : dict[str, ndarray]
        Initial parameters (not modified).
    n_updates : int
    next_batch : callable
        ``next_batch(step) -> Batch``.
    signals : callable
        ``signals(params, batch) -> dict`` of local signals for the rule.
    loss : callable, optional
        ``loss(params, batch) -> float``; handed to the rule as ``loss_fn`` bound to the
        current batch (for perturbation and selection rules).
    rng : numpy.random.Generator, optional
        Passed to the rule for its own noise.
    probes : sequence of Probe
    state : optional
        Initial rule state; ``rule.init(params)`` when None.
    divergence_limit : float
        Largest allowed absolute parameter value; beyond it (or on NaN/inf) the loop
        raises :class:`~plasticity.errors.Diverged`.
    progress : tqdm-like, optional
        Advanced by one per update.

    Returns
    -------
    (dict, object)
        Final parameters and rule state.

    Notes
    -----
    Inside a resumable experiment (see :mod:`plasticity.io.checkpoint`) the loop saves,
    at checkpoints, the step, the parameters, the rule state, the state of ``rng`` and
    whatever the rule and the probes return from ``get_checkpoint_state()``; a resumed
    run restores them here and goes on from the next step.
    """
    from plasticity.io.checkpoint import current_checkpointer

    check_protocol(rule)
    if state is None:
        state = rule.init(params)
    ckpt = current_checkpointer()
    loop, saved = ckpt.begin_loop("train") if ckpt is not None else (None, None)
    start = 1
    if saved is not None:
        params, state, start = _restore_train(saved, rule, rng, probes, n_updates)
        if progress is not None:
            progress.update(start - 1)
    for step in range(start, int(n_updates) + 1):
        batch = next_batch(step)
        sig = signals(params, batch)
        loss_fn = (lambda p, _b=batch: loss(p, _b)) if loss is not None else None
        # a batch of any task: only reward-driven tasks' batches carry a reward
        delta, state = rule.update(sig, state, params, reward=getattr(batch, "reward", None),
                                   loss_fn=loss_fn, rng=rng)
        delta = check_delta(rule, delta, params)
        params = apply_delta(params, delta)
        _check_divergence(step, params, divergence_limit)
        for probe in probes:
            if step % probe.every == 0 or step == n_updates:
                probe.fn(step, params, state, delta, batch)
        if progress is not None:
            progress.update(1)
        if ckpt is not None and ckpt.due():
            ckpt.save(loop, "train", step, _train_state(step, n_updates, params, state, rule,
                                                        rng, probes))
    return params, state


def _train_state(step, n_updates, params, state, rule, rng, probes):
    return {"step": step, "n_updates": int(n_updates), "params": params, "state": state,
            "rng": rng, "rule": _object_state(rule), "probes": [_object_state(p)
                                                               for p in probes]}


def _object_state(obj):
    get = getattr(obj, "get_checkpoint_state", None)
    return get() if callable(get) else None


def _restore_train(saved, rule, rng, probes, n_updates):
    from plasticity.io.checkpoint import CheckpointError

    if saved["n_updates"] != int(n_updates) or len(saved["probes"]) != len(probes):
        raise CheckpointError("the checkpointed training loop does not match this one "
                              f"({saved['n_updates']} updates, {len(saved['probes'])} "
                              f"probes; now {int(n_updates)} and {len(probes)})")
    if (saved["rng"] is None) != (rng is None):
        raise CheckpointError("the checkpointed training loop and this one differ in "
                              "whether the rule gets a generator")
    if rng is not None:
        rng.bit_generator.state = saved["rng"].bit_generator.state
    for obj, value in ((rule, saved["rule"]), *zip(probes, saved["probes"], strict=True)):
        if value is not None:
            obj.set_checkpoint_state(value)
    return saved["params"], saved["state"], int(saved["step"]) + 1
