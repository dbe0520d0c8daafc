"""Pair STDP's weight change, compiled once for every kernel that applies it.

Pair STDP (Song, Miller & Abbott 2000; van Rossum et al. 2000) keeps a presynaptic trace
``x`` (time constant ``tau_plus``) and a postsynaptic trace ``y`` (``tau_minus``). A
presynaptic event depresses the synapse by :func:`pair_depression`, a postsynaptic event
potentiates it by :func:`pair_potentiation`::

    additive:        on pre  dw = -a_minus * w_max * y     on post  dw = a_plus * w_max * x
    multiplicative:  on pre  dw = -a_minus * w * y         on post  dw = a_plus * (w_max - w) * x

The network engine (:mod:`plasticity._kernels.spiking`: weights, and the eligibility
trace of reward-modulated STDP, which is additive) and the escape-noise trials
(:mod:`plasticity._kernels.escape`: the net additive change of a trial, ``w_max = 1``)
both call these two functions, so the rule is written once; clipping to the weight bounds
and the traces' decay and jumps stay with the caller, which knows its schedule.

Each product is evaluated left to right, ``(a_minus * w_max) * y``, as the callers did
before they shared it, so their numbers are unchanged to the last bit.

Numba caches a kernel by its own file only (see :mod:`plasticity._kernels.spiking`):
after changing this file, clear ``plasticity/_kernels/__pycache__`` so that the cached
callers are recompiled with it. Plain-NumPy twin: ``tests/twins/stdp.py``.
"""

from plasticity._config import jit

__all__ = ["pair_depression", "pair_potentiation"]


@jit
def pair_depression(w, a_minus, w_max, y, multiplicative):
    """Change of a weight at a presynaptic event (pre after post: depression, <= 0).

    Parameters
    ----------
    w : float
        The weight before the event (used by the multiplicative form only).
    a_minus : float
        Depression amplitude (>= 0, dimensionless: a fraction of ``w_max`` or of ``w``).
    w_max : float
        Upper weight bound (weight units; the additive step's scale).
    y : float
        The postsynaptic trace at the event (dimensionless).
    multiplicative : bool
        Multiplicative (``w``-proportional) instead of additive weight dependence.

    Returns
    -------
    float
        ``-a_minus * w * y`` or ``-a_minus * w_max * y`` (weight units).
    """
    if multiplicative:
        return -(a_minus * w * y)
    return -(a_minus * w_max * y)


@jit
def pair_potentiation(w, a_plus, w_max, x, multiplicative):
    """Change of a weight at a postsynaptic event (pre before post: potentiation, >= 0).

    Parameters
    ----------
    w : float
        The weight before the event (used by the multiplicative form only).
    a_plus : float
        Potentiation amplitude (>= 0, dimensionless: a fraction of ``w_max`` or of
        ``w_max - w``).
    w_max : float
        Upper weight bound (weight units).
    x : float
        The presynaptic trace at the event (dimensionless).
    multiplicative : bool
        Multiplicative (soft-bound) instead of additive weight dependence.

    Returns
    -------
    float
        ``a_plus * (w_max - w) * x`` or ``a_plus * w_max * x`` (weight units).
    """
    if multiplicative:
        return a_plus * (w_max - w) * x
    return a_plus * w_max * x
