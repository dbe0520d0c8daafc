"""Plain-NumPy twin of :mod:`plasticity._kernels.predictive_coding`, from the formulas.

Layers are kept as a list of ``(B, n_l)`` arrays and every step is vectorised over the
batch; nothing is shared with the kernel but the equations in its docstring.
"""

import numpy as np

from plasticity.substrates.activations import ACTIVATIONS

_BY_CODE = {a.code: a for a in ACTIVATIONS.values()}


def relax(xs, weights, biases, codes, precisions, target, beta, last_mode, clamp_first,
          gamma, n_steps, energy_limit):
    """Relax ``xs`` (list of (B, n_l), not modified); return ``(xs, eps, energies,
    status, steps)`` with the same meaning as the kernel's outputs."""
    xs = [np.array(x, dtype=float) for x in xs]
    L = len(weights)
    energies = np.full(n_steps + 1, np.nan)

    def errors():
        eps = [np.zeros_like(xs[0]) if clamp_first else precisions[0] * xs[0]]
        for k in range(1, L + 1):
            mu = _BY_CODE[codes[k - 1]].f(xs[k - 1]) @ weights[k - 1].T + biases[k - 1]
            eps.append(precisions[k] * (xs[k] - mu))
        energy = sum(0.5 * np.sum(e * e) / p for e, p in zip(eps, precisions, strict=True))
        return eps, energy / xs[0].shape[0]

    for t in range(n_steps + 1):
        eps, energy = errors()
        energies[t] = energy
        if not np.isfinite(energy) or energy > energy_limit:
            return xs, eps, energies, 1, t
        if t == n_steps:
            break
        new = [x.copy() for x in xs]
        for k in range(1 if clamp_first else 0, L):
            grad = -eps[k] + _BY_CODE[codes[k]].df(xs[k]) * (eps[k + 1] @ weights[k])
            new[k] = xs[k] + gamma * grad
        if last_mode != 2:
            grad = -eps[L]
            if last_mode == 1:
                grad = grad + beta * (target - xs[L])
            new[L] = xs[L] + gamma * grad
        xs = new
    return xs, eps, energies, 0, n_steps
