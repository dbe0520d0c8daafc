"""Plain-NumPy twin of :mod:`plasticity._kernels.stdp`: pair STDP's weight change.

Elementwise over arrays (the kernel's functions take scalars); ``multiplicative`` is a
plain bool. Used by the twins of the spiking engine and of the escape-noise trials, so
that each twin, like each kernel, states the rule once.
"""

from __future__ import annotations

import numpy as np


def pair_depression(w, a_minus, w_max, y, multiplicative):
    """``-a_minus * w * y`` (multiplicative) or ``-a_minus * w_max * y`` (additive)."""
    scale = np.asarray(w, dtype=float) if multiplicative else w_max
    return -(a_minus * scale * np.asarray(y, dtype=float))


def pair_potentiation(w, a_plus, w_max, x, multiplicative):
    """``a_plus * (w_max - w) * x`` (multiplicative) or ``a_plus * w_max * x``."""
    scale = w_max - np.asarray(w, dtype=float) if multiplicative else w_max
    return a_plus * scale * np.asarray(x, dtype=float)
