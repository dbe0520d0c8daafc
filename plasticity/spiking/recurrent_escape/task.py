"""The temporal task of the recurrent escape-noise network: pattern generation.

:class:`PatternTask`: ``n_patterns`` frozen Poisson input patterns, each with a target
readout trace (a sum of three sinusoids, Bellec et al. 2020's pattern generation); the
loss is the mean squared readout error over the masked steps of a trial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.spiking.recurrent_escape.network import RecurrentEscapeNet

__all__ = ["PatternTask"]


@dataclass
class PatternTask:
    """Frozen Poisson input patterns and target readout traces (pattern generation).

    Parameters
    ----------
    net : RecurrentEscapeNet
    n_steps : int >= 1
        Trial length ``T`` (steps of ``net.dt_ms``).
    n_patterns : int >= 1
    rate_hz : float > 0
        Input rate of the frozen Poisson trains.
    rng : int, sequence or Generator
        Draws the patterns and the targets.
    amplitude : float > 0
        Scale of the target traces (readout units).
    mask_from : int >= 0
        Steps before it do not count in the loss (a transient).

    Attributes
    ----------
    inputs : ndarray, shape (M, T, n_in)
    targets : ndarray, shape (M, T, n_out)
        ``sum_{f=1..3} A_f sin(2 pi f t / T + phi_f)`` per output and pattern, with
        ``A_f ~ U(0.5, 1) amplitude / f`` and ``phi_f ~ U(0, 2 pi)``.
    mask : ndarray, shape (T,)
    """

    net: RecurrentEscapeNet
    n_steps: int
    n_patterns: int = 1
    rate_hz: float = 20.0
    rng: object = 0
    amplitude: float = 0.5
    mask_from: int = 0

    def __post_init__(self):
        if not isinstance(self.net, RecurrentEscapeNet):
            raise InvalidParameterError("PatternTask needs a RecurrentEscapeNet.")
        for name in ("n_steps", "n_patterns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise InvalidParameterError(f"The {name!r} of PatternTask must be an "
                                            f"integer >= 1. Got {value!r}.")
        if not (0 <= int(self.mask_from) < self.n_steps):
            raise InvalidParameterError(f"mask_from must be in [0, n_steps); got "
                                        f"{self.mask_from!r}.")
        if not (self.rate_hz > 0 and self.amplitude > 0):
            raise InvalidParameterError("rate_hz and amplitude must be > 0.")
        rng = np.random.default_rng(self.rng)
        net, T, M = self.net, int(self.n_steps), int(self.n_patterns)
        p_spike = min(self.rate_hz * net.dt_ms * 1e-3, 1.0)
        self.inputs = (rng.random((M, T, net.n_in)) < p_spike).astype(np.float64)
        t = np.arange(T)
        self.targets = np.zeros((M, T, net.n_out))
        for f in (1, 2, 3):
            amp = rng.uniform(0.5, 1.0, size=(M, 1, net.n_out)) * self.amplitude / f
            phase = rng.uniform(0.0, 2 * np.pi, size=(M, 1, net.n_out))
            self.targets += amp * np.sin(2 * np.pi * f * t[None, :, None] / T + phase)
        self.mask = (t >= int(self.mask_from)).astype(np.float64)

    def trials(self, params, m, U, *, record=False) -> dict:
        """``K = len(U)`` trials of pattern ``m`` (:meth:`RecurrentEscapeNet.run`)."""
        return self.net.run(params, self.inputs[m], self.targets[m], self.mask, U,
                            record=record)

    def trial_signals(self, params, patterns, seeds) -> dict:
        """One trial per ``(pattern, seed)`` with everything a rule may read.

        Trial ``k`` runs pattern ``patterns[k]`` with the uniforms
        ``default_rng(seeds[k]).random((T, n_rec))``. The keys (leading axis: trials) are
        listed in :mod:`plasticity.problems.spiking_recurrent`; ``grad_out`` is each
        trial's exact ``dl/dW_out``.
        """
        net, T = self.net, int(self.n_steps)
        parts = []
        for m, seed in zip(patterns, seeds, strict=True):
            U = np.random.default_rng(int(seed)).random((1, T, net.n_rec))
            parts.append(self.trials(params, int(m), U, record=True))
        pats = np.asarray(patterns, dtype=np.int64)
        y = np.concatenate([o["y"] for o in parts])
        target = self.targets[pats]
        norm = self.mask.sum() * net.n_out
        a = np.concatenate([o["a"] for o in parts])
        return {"input": self.inputs[pats],
                "spikes": np.concatenate([o["spikes"] for o in parts]),
                "v": np.concatenate([o["v"] for o in parts]), "a": a,
                "threshold": net.v_th_mv + net.beta() * a, "readout": y,
                "target": target,
                "output_error": 2.0 * self.mask[None, :, None] * (y - target) / norm,
                "trial_loss": np.concatenate([o["loss"] for o in parts]), "pattern": pats,
                "score": {k: np.concatenate([o["score"][k] for o in parts])
                          for k in ("W_in", "W_rec")},
                "grad_out": np.concatenate([o["grad_out"] for o in parts]),
                "mask": self.mask, **net.constants()}
