"""Node perturbation in time (REINFORCE with Gaussian node noise) for the leaky rate RNN.

Every unit's pre-activation receives independent Gaussian noise ``xi_t ~ N(0, sigma^2)``
at every step; a synapse accumulates the eligibility ``sum_t xi_t,i pre_t,j / sigma^2``
(noise times its presynaptic activity, ``pre_t = (h_{t-1}, x_t, 1)`` of the perturbed
run) and, at the end of the sequences, is changed by the loss's excess over the clean
run's. To first order in ``sigma``, ``L(xi) - L(0) = sum_t g_t . xi_t`` with
``g_t = dL/da_t``, so ``E[(L(xi) - L(0)) xi_s,i] / sigma^2 = g_s,i`` and the estimate is
unbiased for ``sum_t g_t pre_t^T = dL/dW`` up to ``O(sigma^2)`` (Williams 1992; Fiete &
Seung 2006; Miconi 2017 for recurrent networks). Subtracting the clean loss is the
baseline that removes the zeroth-order term (whose variance would otherwise dominate).

References
----------
Williams, R. J. (1992). Simple statistical gradient-following algorithms for
    connectionist reinforcement learning. Machine Learning 8, 229-256.
Fiete, I. R., & Seung, H. S. (2006). Gradient learning in spiking neural networks by
    dynamic perturbation of conductances. Physical Review Letters 97, 048104.
Miconi, T. (2017). Biologically plausible learning in recurrent neural networks
    reproduces neural dynamics observed during cognitive tasks. eLife 6, e20899.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from plasticity.rules._rnn_common import (
    need_rng,
    presynaptic,
    readout_gradient,
    rnn_signals,
    split,
    step,
)
from plasticity.rules.base import Rule
from plasticity.substrates.rnn import RateRNN

__all__ = ["NodePerturbationInTime"]


class NodePerturbationInTime(Rule):
    """Node perturbation in time: ``delta W = -eta (L_noisy - L_clean) sum_t xi_t pre_t^T /
    sigma^2`` for ``W = [W_rec, W_in, b]``.

    One perturbed forward pass of the batch (:meth:`RateRNN.forward` with
    ``noise = xi``, ``xi ~ N(0, sigma^2)`` per sequence, step and unit, drawn from
    ``rng``) against the clean pass of the signals; both losses are the batch loss
    (:meth:`RateRNN.loss_value` on the signals' ``target`` and ``mask``). The readout
    ``W_out``, ``c`` gets its *exact* gradient ``sum_t e_t h_t^T`` (the delta rule, as in
    the other online rules), so the comparison between rules is about credit assignment
    through the recurrence only.

    Parameters
    ----------
    net : RateRNN
    eta : float > 0, default 0.1
        Learning rate.
    sigma : float > 0, default 0.01
        Noise standard deviation (units of the pre-activation). The bias is
        ``O(sigma^2)``; the variance of one estimate grows with the number of perturbed
        units ``B T n``, not with ``sigma``.

    Notes
    -----
    State: ``None``. Needs ``rng``, and the signals ``target`` and ``mask``.
    """

    name: ClassVar[str] = "node_perturbation_in_time"
    substrates: ClassVar[tuple[str, ...]] = ("recurrent",)

    net: RateRNN
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")
    sigma: float = Field(0.01, gt=0, allow_inf_nan=False,
                         description="node-noise standard deviation")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``(-eta * one node-perturbation estimate, state)``."""
        rng = need_rng(self, rng)
        sig = rnn_signals(self, signals, params, extra=("target", "mask"))
        net = self.net
        xi = self.sigma * rng.standard_normal(sig["preact"].shape)
        noisy = net.forward(params, sig["input"], noise=xi)
        y_clean = sig["hidden"] @ params["W_out"].T + params["c"]
        excess = (net.loss_value(noisy.y, sig["target"], sig["mask"])
                  - net.loss_value(y_clean, sig["target"], sig["mask"]))
        pre = presynaptic({"hidden_prev": noisy.h_prev, "input": noisy.x})
        eligibility = np.einsum("bti,btj->ij", xi, pre) / self.sigma**2
        grad = split(net, excess * eligibility)
        grad.update(readout_gradient(sig))
        return step(self.eta, grad), state
