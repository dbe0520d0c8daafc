"""Plain-NumPy twin of :mod:`plasticity._kernels.recurrent` (used only by the tests)."""

import numpy as np

from plasticity.substrates.activations import ACTIVATIONS

_BY_CODE = {act.code: act.f for act in ACTIVATIONS.values()}


def run_rate(w, inputs, r0, dt_over_tau, code):
    """Forward-Euler integration of ``tau dr/dt = -r + f(W r + I)``; see the kernel."""
    f = _BY_CODE[code]
    rates = np.empty(inputs.shape)
    r = np.array(r0, dtype=np.float64)
    for t in range(inputs.shape[0]):
        r = r + dt_over_tau * (f(w @ r + inputs[t]) - r)
        rates[t] = r
    return rates
