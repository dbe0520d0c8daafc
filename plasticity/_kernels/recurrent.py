"""Euler integration of a recurrent rate network (compiled; see ``tests/twins/recurrent.py``).

The public wrapper is :meth:`plasticity.substrates.RecurrentRate.run`, which validates its
input; these kernels trust it.
"""

import math

import numpy as np

from plasticity._config import jit

# The activation codes of plasticity.substrates.activations (kept as literals: kernels
# take integers, not Python objects).
LINEAR, TANH, SIGMOID, RELU = 0, 1, 2, 3


@jit
def _activate(u, code):
    if code == TANH:
        return math.tanh(u)
    if code == SIGMOID:
        # Same formula as the NumPy version, so that kernel and twin agree to rounding.
        return 0.5 * (1.0 + math.tanh(0.5 * u))
    if code == RELU:
        return u if u > 0.0 else 0.0
    return u


@jit
def run_rate(w, inputs, r0, dt_over_tau, code):
    """Integrate ``tau dr/dt = -r + f(W r + I)`` with forward Euler.

    Parameters
    ----------
    w : ndarray, shape (n, n), float64
        Recurrent weights (row = postsynaptic neuron).
    inputs : ndarray, shape (T, n), float64
        External input current of each step (same units as ``W r``).
    r0 : ndarray, shape (n,), float64
        Rates before the first step.
    dt_over_tau : float
        ``dt / tau``, in (0, 1].
    code : int
        Activation code (0 linear, 1 tanh, 2 sigmoid, 3 relu).

    Returns
    -------
    ndarray, shape (T, n)
        ``rates[t]`` is the state after the step driven by ``inputs[t]``.
    """
    n_steps, n = inputs.shape
    rates = np.empty((n_steps, n))
    r = r0.copy()
    drive = np.empty(n)
    for t in range(n_steps):
        # The whole drive is computed from the old state before any rate changes, as
        # Euler requires.
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += w[i, j] * r[j]
            drive[i] = _activate(acc + inputs[t, i], code)
        for i in range(n):
            r[i] += dt_over_tau * (drive[i] - r[i])
            rates[t, i] = r[i]
    return rates
