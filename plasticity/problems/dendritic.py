"""The dendritic-prediction problem (Urbanczik & Senn 2014): a somatic teacher, the PSPs of
a repeated presentation, and the negative gradients of the losses the rule is judged by.

Used by the ``dendritic-prediction`` experiment (which describes the study) and by the
``gradient-field`` experiment's dendritic field; ``rule`` is a
:class:`~plasticity.rules.dendritic_prediction.DendriticPredictionTrial` (its ``psp``, ``phi``,
``coupling``, ``beta``, ``phi_max``, ``dt``, ``tau_L``, ``tau_s`` and ``model``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PresentationPSPs", "minus_gradients", "teacher_conductances"]


def teacher_conductances(U_M, g_teacher, E_E, E_I):
    """``(g_E, g_I)`` (1/ms, shape of ``U_M``) whose current is ``g_teacher (U_M - U)``."""
    span = E_E - E_I
    return g_teacher * (U_M - E_I) / span, g_teacher * (E_E - U_M) / span


class PresentationPSPs:
    """The PSPs of one presentation of the frozen pattern ``X`` (T, n) from any starting
    traces, without a loop over time.

    The traces obey ``x(t) = a x(t - 1) + X[t]``, so from ``x(-1) = x0`` they are the
    traces from rest plus ``a^(t + 1) x0``: the pattern's PSPs from rest are computed once
    (:meth:`DendriticPredictionTrial.psp`) and each presentation adds the decay of its
    starting traces (equal to stepping the recursion, up to rounding).
    """

    def __init__(self, rule, X):
        self.rest = rule.psp(X)
        t = np.arange(1, X.shape[0] + 1)
        self.decay_L = np.exp(-rule.dt / rule.tau_L) ** t
        self.decay_s = np.exp(-rule.dt / rule.tau_s) ** t
        self.span = rule.tau_L - rule.tau_s

    def at(self, state):
        """PSPs (T, n) of a presentation starting from the traces in ``state`` (None:
        at rest)."""
        if state is None:
            return self.rest
        return self.rest + (np.outer(self.decay_L, state["x_L"])
                            - np.outer(self.decay_s, state["x_s"])) / self.span


def minus_gradients(rule, psp, w0, trial):
    """Negative gradients, at ``w0``, of three losses of one presentation's dendritic
    prediction (the ``dendritic-prediction`` experiment's docstring), each with the soma
    held as it was in ``trial``:

    * ``population``: the expected negative log-likelihood ``E_S[L_S]`` of the somatic
      spikes given the presentation's ``U``, the loss averaged over the spike noise. In
      the trial kernel a step spikes with probability ``p_t = 1 - exp(-phi(U_t) dt)``, so
      ``-grad = c sum_t (p_t - phi(V*_t) dt) h(V*_t) PSP_t``. (Rate model: the KL, which
      has no noise to average.)
    * ``own``: the presentation's own sample of it, ``L_S`` at its spikes ``S_t``:
      ``c sum_t (S_t - phi(V*_t) dt) h(V*_t) PSP_t``, the loss the rule descends (rate
      model: the KL).
    * ``kl``: the Poisson KL divergence at ``U``, ``c dt sum_t (phi(U_t) - phi(V*_t))
      h(V*_t) PSP_t``: the population loss's continuous-time form (``p_t = phi(U_t) dt``
      to first order in ``phi dt``).

    Parameters
    ----------
    rule : DendriticPredictionTrial
    psp : ndarray, shape (T, n)
        The presentation's PSPs (1/ms).
    w0 : ndarray, shape (n,)
        The weights before the presentation.
    trial : Trial
        Its ``U`` (shape (T,)) and, for the spiking model, ``S`` (0/1, shape (T,)).

    Returns
    -------
    dict of str to ndarray, shape (n,)
        ``population``, ``own`` and ``kl`` (dimensionless loss per unit weight).
    """
    v = rule.coupling * psp @ w0
    phi_v = rule.phi(v)
    h = rule.beta * (1.0 - phi_v / rule.phi_max)
    c, dt = rule.coupling, rule.dt
    phi_u = rule.phi(trial.U)
    minus_kl = c * dt * ((phi_u - phi_v) * h) @ psp
    if rule.model != "spiking":
        return {"population": minus_kl, "own": minus_kl, "kl": minus_kl}
    p_spike = -np.expm1(-phi_u * dt)  # E[S_t | U_t] in the trial kernel
    return {"population": c * ((p_spike - phi_v * dt) * h) @ psp,
            "own": c * ((trial.S - phi_v * dt) * h) @ psp, "kl": minus_kl}
