"""Rules for spiking networks that learn from one trial at a time.

For spiking networks an update is the net weight change over one trial (DESIGN.md): the
task runs the trial inside the compiled kernel (:mod:`plasticity._kernels.escape`) and
hands the rule the trial's local signals.

The signals of a trial
----------------------
``pre_spikes`` : ndarray, shape (T, n_in)
    Input spike counts per time step (0/1).
``post_spikes`` : ndarray, shape (T, n_out)
    Output spike counts per time step (0/1).
``dt_ms`` : float
    The time step (ms).
``score`` : ndarray, shape (n_out, n_in)
    The derivative of the log-likelihood of the trial's output spikes with respect to
    ``W_out`` (1/mV): per synapse, the sum over time of the neuron's spike surprise
    ``(s - p) / p`` times ``rho dt / delta_u`` times the synapse's eligibility trace
    ``dv/dW``, which only needs the synapse's input and the neuron's own membrane and
    spikes. Needed by :class:`SpikeNodePerturbation`.
``stdp``, ``stdp_params`` : optional
    The net pair-STDP change accumulated inside the simulation kernel and the dict of
    STDP parameters (``tau_plus_ms``, ``tau_minus_ms``, ``a_plus``, ``a_minus``) it was
    computed with; :class:`PairSTDPTrial` uses it when those equal its own
    hyperparameters and otherwise recomputes the change from the spike trains.
``pattern`` : int, optional
    Which stimulus was shown; :class:`SpikeNodePerturbation` keeps one reward baseline
    per stimulus when it is present (a stimulus-specific reward prediction).

The reward modulator of :class:`SpikeNodePerturbation` is ``reward = -trial loss``.

References
----------
Bi, G., & Poo, M. (1998). Synaptic modifications in cultured hippocampal neurons.
    J. Neurosci. 18, 10464-10472.
Song, S., Miller, K. D., & Abbott, L. F. (2000). Competitive Hebbian learning through
    spike-timing-dependent synaptic plasticity. Nat. Neurosci. 3, 919-926.
Xie, X., & Seung, H. S. (2004). Learning in neural networks by reinforcement of
    irregular spiking. Phys. Rev. E 69, 041909.
Fiete, I. R., & Seung, H. S. (2006). Gradient learning in spiking neural networks by
    dynamic perturbation of conductances. Phys. Rev. Lett. 97, 048104.
Pfister, J.-P., Toyoizumi, T., Barber, D., & Gerstner, W. (2006). Optimal spike-timing-
    dependent plasticity for precise action potential firing in supervised learning.
    Neural Computation 18, 1318-1348.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules.base import Rule
from plasticity.spiking.synapses import PairSTDPWindow, redeclared

__all__ = ["PairSTDPTrial", "SpikeNodePerturbation", "stdp_pair_change"]


def _signal(rule, signals, key):
    if key not in signals or signals[key] is None:
        raise RuleError(f"Rule {rule.name} needs the signal '{key}' (available: "
                        f"{', '.join(sorted(signals)) or 'none'}).")
    return signals[key]


def _weights(rule, params, shape, what):
    if "W_out" not in params:
        raise RuleError(f"Rule {rule.name} changes 'W_out', which is not a parameter "
                        f"(known: {', '.join(sorted(params))}).")
    if np.shape(params["W_out"]) != shape:
        raise RuleError(f"Rule {rule.name}: {what} implies W_out of shape {shape}; the "
                        f"parameter has shape {np.shape(params['W_out'])}.")


def stdp_pair_change(pre, post, dt_ms, tau_plus_ms, tau_minus_ms, a_plus, a_minus):
    """Net all-to-all additive pair-STDP change of two spike trains.

    ``sum_{pre t_j, post t_i} a_plus exp(-(t_i - t_j)/tau_plus) [t_i >= t_j]
    - a_minus exp(-(t_j - t_i)/tau_minus) [t_j > t_i]`` for every synapse.

    Parameters
    ----------
    pre : array_like, shape (T, n_in)
        Presynaptic spike counts per step.
    post : array_like, shape (T, n_out)
        Postsynaptic spike counts per step.
    dt_ms, tau_plus_ms, tau_minus_ms : float > 0
        Time step and time constants (ms).
    a_plus, a_minus : float >= 0
        Amplitudes per pair (weight units).

    Returns
    -------
    ndarray, shape (n_out, n_in)
    """
    from plasticity._kernels.escape import stdp_pair_change as kernel

    pre = np.ascontiguousarray(pre, dtype=np.float64)
    post = np.ascontiguousarray(post, dtype=np.float64)
    if pre.ndim != 2 or post.ndim != 2 or pre.shape[0] != post.shape[0]:
        raise ValueError(f"pre and post must be (T, n_in) and (T, n_out) with the same T; "
                         f"got {pre.shape} and {post.shape}.")
    for name, value in (("dt_ms", dt_ms), ("tau_plus_ms", tau_plus_ms),
                        ("tau_minus_ms", tau_minus_ms)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    out = np.empty((post.shape[1], pre.shape[1]))
    kernel(pre, post, float(dt_ms), float(tau_plus_ms), float(tau_minus_ms), float(a_plus),
           float(a_minus), out)
    return out


class PairSTDPTrial(Rule, PairSTDPWindow):
    """Additive all-to-all pair STDP, applied as the net change over one trial.

    ``delta W_ij = eta * sum_{pairs} a_plus exp(-(t_i - t_j)/tau_plus) [t_i >= t_j]
    - a_minus exp(-(t_j - t_i)/tau_minus) [t_j > t_i]`` over all pairs of input spikes
    ``t_j`` and output spikes ``t_i`` of the trial (Song, Miller & Abbott 2000). It is
    unsupervised: it sees only the spike timing, never the target or the loss.

    The same rule as the network kind :class:`plasticity.spiking.PairSTDP` (additive,
    ``pairing="all"``, ``w_max = 1`` and no clipping), for the trial
    :class:`~plasticity.rules.base.Rule` protocol: the network kind configures a
    projection of a simulated network, this class returns one trial's net change to the
    engine and the alignment analysis. Both take their window from
    :class:`~plasticity.spiking.synapses.PairSTDPWindow` (the constraints are checked
    there) and compute the change with :mod:`plasticity._kernels.stdp`; only the defaults
    differ.

    Parameters
    ----------
    tau_plus_ms, tau_minus_ms : float > 0, default 17 and 34
        Time constants of potentiation and depression (ms; Bi & Poo 1998 fits).
    a_plus, a_minus : float >= 0, default 0.01 and 0.0055
        Amplitudes per pair (mV).
    eta : float > 0, default 1.0
        Overall scale (the amplitudes already carry units; ``eta`` scales both).

    Notes
    -----
    Reads ``pre_spikes``, ``post_spikes`` and ``dt_ms``, or the kernel's ``stdp`` when
    ``stdp_params`` equals this rule's :meth:`stdp_params`. State: ``None``.
    """

    name: ClassVar[str] = "stdp"
    substrates: ClassVar[tuple[str, ...]] = ("spiking",)

    # the window's declarations with this rule's defaults (Bi & Poo 1998 fits, in mV)
    tau_plus_ms: float = redeclared(PairSTDPWindow, "tau_plus_ms", default=17.0)
    tau_minus_ms: float = redeclared(PairSTDPWindow, "tau_minus_ms", default=34.0)
    a_minus: float = redeclared(PairSTDPWindow, "a_minus", default=0.0055)
    eta: float = Field(1.0, gt=0, allow_inf_nan=False)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``({"W_out": eta * net pair-STDP change}, state)``."""
        given = signals.get("stdp_params")
        if given is not None and signals.get("stdp") is not None \
                and dict(given) == self.stdp_params():
            change = np.array(signals["stdp"], dtype=np.float64)
        else:
            pre = np.asarray(_signal(self, signals, "pre_spikes"), dtype=np.float64)
            post = np.asarray(_signal(self, signals, "post_spikes"), dtype=np.float64)
            dt = float(_signal(self, signals, "dt_ms"))
            if pre.ndim != 2 or post.ndim != 2 or pre.shape[0] != post.shape[0]:
                raise RuleError(f"Rule {self.name}: signals 'pre_spikes' {pre.shape} and "
                                f"'post_spikes' {post.shape} must be (T, n_in) and "
                                "(T, n_out).")
            change = stdp_pair_change(pre, post, dt, self.tau_plus_ms, self.tau_minus_ms,
                                      self.a_plus, self.a_minus)
        _weights(self, params, change.shape, "the spike trains")
        return {"W_out": self.eta * change}, state


class SpikeNodePerturbation(Rule):
    """Node perturbation by the neurons' own escape noise (Xie & Seung 2004).

    ``delta W = eta (R - Rbar) score`` with ``R = -trial loss`` the reward of the trial,
    ``Rbar`` a running mean of past rewards (per stimulus when ``signals["pattern"]`` is
    given) and ``score`` the eligibility of the trial (the derivative of the log-
    likelihood of the neurons' spikes with respect to ``W_out``, see the module
    docstring). The neurons' stochastic spiking is the perturbation, and the score is
    its correlation with each synapse's input, as in Fiete & Seung's (2006) injected-
    noise node perturbation with the noise read from the neuron's own surprise.

    Because ``Rbar`` does not depend on the current trial's noise and ``E[score] = 0``,
    ``E[delta W] = eta dE[R]/dW = -eta grad L``: an unbiased (stochastic) gradient step
    on the task loss of :class:`plasticity.tasks.spiking.SpikeCountTask`, whatever the
    baseline; the baseline only reduces the variance.

    Parameters
    ----------
    eta : float > 0, default 0.01
        Learning rate (mV^2 per unit reward, since the score is in 1/mV).
    baseline_rate : float in (0, 1], default 0.2
        ``Rbar <- Rbar + baseline_rate (R - Rbar)`` after each trial. The first trial of
        each stimulus only sets ``Rbar = R`` (its update is zero).

    Notes
    -----
    Needs ``reward`` (minus the trial loss) and the signal ``score`` (n_out, n_in). State:
    ``{"baseline": {stimulus: Rbar}}`` (stimulus ``-1`` when no pattern is given).
    """

    name: ClassVar[str] = "spike_node_perturbation"
    substrates: ClassVar[tuple[str, ...]] = ("spiking",)

    eta: float = Field(0.01, gt=0, allow_inf_nan=False)
    baseline_rate: float = Field(0.2, gt=0, le=1, allow_inf_nan=False)

    def init(self, params):
        return {"baseline": {}}

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``({"W_out": eta (R - Rbar) score}, new_state)``."""
        if reward is None:
            raise RuleError(f"Rule {self.name} needs reward (minus the trial loss, a "
                            "float); the task's trial batch carries it.")
        r = float(np.asarray(reward, dtype=np.float64).sum())
        score = np.asarray(_signal(self, signals, "score"), dtype=np.float64)
        _weights(self, params, score.shape, "the signal 'score'")
        key = int(signals.get("pattern", -1) if signals.get("pattern") is not None else -1)
        base = dict(state["baseline"]) if state else {}
        if key in base:
            delta = self.eta * (r - base[key]) * score
            base[key] = base[key] + self.baseline_rate * (r - base[key])
        else:
            delta = np.zeros_like(score)
            base[key] = r
        return {"W_out": delta}, {"baseline": base}
