"""Inference (relaxation) of a predictive coding network, compiled.

Layers ``x_0, ..., x_L`` of widths ``n_0, ..., n_L`` are stored side by side in one
``(B, N)`` array, layer ``l`` in the columns ``offsets[l]:offsets[l + 1]``. Layer ``l >= 1``
is predicted from the layer below,

    mu_l = W_l phi_{l-1}(x_{l-1}) + b_l,      eps_l = pi_l (x_l - mu_l),

with ``phi_l`` the activation of code ``codes[l]`` (``codes[0]`` is normally linear: the
input enters the first layer as it is, as in :class:`~plasticity.substrates.FeedForward`)
and ``pi_l = precisions[l]`` the precision (inverse variance) of layer ``l``. When layer 0
is free (``clamp_first`` false) it has a zero-mean Gaussian prior, ``eps_0 = pi_0 x_0``.
The energy is ``F = sum_l 0.5 eps_l^2 / pi_l`` (= ``0.5 pi_l |x_l - mu_l|^2``), averaged
over the batch. One Euler step moves every free layer down the gradient of ``F``:

    x_l += gamma (-eps_l + phi_l'(x_l) * (W_{l+1}^T eps_{l+1}))       (0 <= l < L)
    x_L += gamma (-eps_L + beta (target - x_L))                       (last_mode 1, nudged)
    x_L += gamma (-eps_L)                                             (last_mode 0, free)

and leaves ``x_L`` alone when it is clamped (``last_mode`` 2) and ``x_0`` when
``clamp_first``. All errors are computed from the state before the step (synchronous
update), so after ``k`` steps the output error has reached ``k`` layers down.

The kernel does not validate its arguments (the public wrapper is
:func:`plasticity.rules.predictive_coding.infer`); its plain-NumPy twin is
``tests/twins/predictive_coding.py``.
"""

import math

from plasticity._config import jit

# the activation codes of plasticity.substrates.activations (kernels take integers) and
# the activation itself, shared with the recurrent kernel
from plasticity._kernels.recurrent import RELU, SIGMOID, TANH
from plasticity._kernels.recurrent import _activate as _phi

__all__ = ["LAST_CLAMPED", "LAST_FREE", "LAST_NUDGED", "relax"]

LAST_FREE, LAST_NUDGED, LAST_CLAMPED = 0, 1, 2


@jit
def _dphi(u, code):
    if code == TANH:
        t = math.tanh(u)
        return 1.0 - t * t
    if code == SIGMOID:
        s = 0.5 * (1.0 + math.tanh(0.5 * u))
        return s * (1.0 - s)
    if code == RELU:
        return 1.0 if u > 0.0 else 0.0
    return 1.0


@jit
def _errors(x, offsets, w, w_offsets, b, codes, precisions, clamp_first, eps, pre):
    """Fill ``eps`` (B, N) from ``x``; return the batch-mean energy. ``pre`` is scratch
    of shape (N,) holding ``phi(x)`` of one sample."""
    n_batch = x.shape[0]
    n_layers = offsets.shape[0] - 1  # L + 1 layers of nodes
    energy = 0.0
    for s in range(n_batch):
        for k in range(n_layers):
            code = codes[k]
            for j in range(offsets[k], offsets[k + 1]):
                pre[j] = _phi(x[s, j], code)
        lo0, hi0 = offsets[0], offsets[1]
        for j in range(lo0, hi0):
            eps[s, j] = 0.0 if clamp_first else precisions[0] * x[s, j]
            energy += 0.5 * eps[s, j] * eps[s, j] / precisions[0]
        for k in range(1, n_layers):
            lo, hi = offsets[k], offsets[k + 1]
            plo, phi_hi = offsets[k - 1], offsets[k]
            n_pre = phi_hi - plo
            base = w_offsets[k - 1]
            pi = precisions[k]
            for i in range(lo, hi):
                mu = b[i - offsets[1]]
                row = base + (i - lo) * n_pre
                for j in range(n_pre):
                    mu += w[row + j] * pre[plo + j]
                e = pi * (x[s, i] - mu)
                eps[s, i] = e
                energy += 0.5 * e * e / pi
    return energy / n_batch


@jit
def relax(x, offsets, w, w_offsets, b, codes, precisions, target, beta, last_mode,
          clamp_first, gamma, n_steps, energy_limit, eps, energies):
    """Run ``n_steps`` inference steps in place.

    Parameters
    ----------
    x : float64 (B, N)
        Initial value nodes; overwritten with the final state (clamped layers must hold
        their clamped values on entry).
    offsets : int64 (L + 2,)
        Column offsets of the layers in ``x`` (``offsets[0] = 0``, ``offsets[-1] = N``).
    w : float64 (sum_l n_l n_{l-1},)
        ``W_1, ..., W_L`` (shapes ``(n_l, n_{l-1})``) flattened in C order, back to back.
    w_offsets : int64 (L,)
        Start of ``W_l`` in ``w`` at index ``l - 1``.
    b : float64 (N - n_0,)
        Biases of layers 1 to L, back to back (zeros for a network without biases).
    codes : int64 (L + 1,)
        Activation code of ``phi_l`` for each layer (that of ``x_L`` is unused).
    precisions : float64 (L + 1,)
        ``pi_l > 0``; ``pi_0`` is used only when layer 0 is free.
    target : float64 (B, n_L)
        The nudging target (ignored unless ``last_mode`` is 1).
    beta, gamma, energy_limit : float
    last_mode : int
        0 free, 1 nudged, 2 clamped.
    clamp_first : bool
    n_steps : int
    eps : float64 (B, N)
        Output: the errors at the final state.
    energies : float64 (n_steps + 1,)
        Output: ``F`` before each step and at the end; NaN after a divergence.

    Returns
    -------
    (int, int)
        Status (0 relaxed, 1 diverged: ``F`` non-finite or above ``energy_limit``) and the
        number of steps taken.
    """
    n_batch = x.shape[0]
    n_layers = offsets.shape[0] - 1
    last = n_layers - 1
    pre = x[0].copy()
    back = x[0].copy()
    for t in range(n_steps + 1):
        energy = _errors(x, offsets, w, w_offsets, b, codes, precisions, clamp_first, eps,
                         pre)
        energies[t] = energy
        if not math.isfinite(energy) or energy > energy_limit:
            for k in range(t + 1, n_steps + 1):
                energies[k] = math.nan
            return 1, t
        if t == n_steps:
            break
        for s in range(n_batch):
            # back[j] = (W_{l+1}^T eps_{l+1})_j for every node j of layers 0 .. L-1
            for j in range(offsets[last], offsets[last + 1]):
                back[j] = 0.0
            for k in range(last):
                lo, hi = offsets[k], offsets[k + 1]
                n_pre = hi - lo
                for j in range(lo, hi):
                    back[j] = 0.0
                ulo, uhi = offsets[k + 1], offsets[k + 2]
                base = w_offsets[k]
                for i in range(ulo, uhi):
                    e = eps[s, i]
                    row = base + (i - ulo) * n_pre
                    for j in range(n_pre):
                        back[lo + j] += w[row + j] * e
            start = 0 if not clamp_first else 1
            for k in range(start, last):
                code = codes[k]
                for j in range(offsets[k], offsets[k + 1]):
                    x[s, j] += gamma * (-eps[s, j] + _dphi(x[s, j], code) * back[j])
            if last_mode != LAST_CLAMPED:
                lo = offsets[last]
                for j in range(lo, offsets[last + 1]):
                    g = -eps[s, j]
                    if last_mode == LAST_NUDGED:
                        g += beta * (target[s, j - lo] - x[s, j])
                    x[s, j] += gamma * g
    return 0, n_steps
