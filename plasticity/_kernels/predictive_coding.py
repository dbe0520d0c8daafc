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

Speed without new rounding: the kernel works on the transposed state ``(N, B)`` with the
batch as the innermost loop, so that LLVM vectorises across samples, and unrolls the dot
products four terms at a time; every sample's sums still add their terms one after the
other in source order, and ``phi'`` reuses the ``phi`` of the same step, so the numbers are
those of the plain loop over samples to the last bit. On pc-vs-backprop's network
(64-32-24-10, a batch of 32, 30 steps) one relaxation takes 1.3-1.7 ms of CPU against
7-10 ms for the loop over samples (measured on the busy 2-core machine).

The kernel does not validate its arguments (the public wrapper is
:func:`plasticity.rules.predictive_coding.relax`); its plain-NumPy twin is
``tests/twins/predictive_coding.py``.
"""

import math

import numpy as np

from plasticity._config import jit

# the activation codes of plasticity.substrates.activations (kernels take integers) and
# the activation itself, shared with the recurrent kernel
from plasticity._kernels.recurrent import RELU, SIGMOID, TANH
from plasticity._kernels.recurrent import _activate as _phi

__all__ = ["LAST_CLAMPED", "LAST_FREE", "LAST_NUDGED", "relax"]

LAST_FREE, LAST_NUDGED, LAST_CLAMPED = 0, 1, 2


@jit
def _dphi(u, f, code):
    """``phi'(u)`` given ``f = phi(u)`` (as :func:`_phi` computed it): the same numbers as
    differentiating from ``u`` (``tanh`` and the logistic are evaluated once, not twice)."""
    if code == TANH:
        return 1.0 - f * f
    if code == SIGMOID:
        return f * (1.0 - f)
    if code == RELU:
        return 1.0 if u > 0.0 else 0.0
    return 1.0


@jit
def _errors(xt, offsets, w, w_offsets, b, codes, precisions, clamp_first, et, pre):
    """Fill ``et`` (N, B) with the errors of the transposed state ``xt`` (N, B); return
    the batch-mean energy. ``pre`` is scratch of shape (N, B) for ``phi(x)``.

    The batch is the innermost loop, so every line below is an independent operation on
    B contiguous numbers that LLVM vectorises, while each sample's dot products still add
    their terms in source order: the results are those of a loop over samples, bit for
    bit.
    """
    n_batch = xt.shape[1]
    n_layers = offsets.shape[0] - 1  # L + 1 layers of nodes
    for k in range(n_layers):
        code = codes[k]
        for j in range(offsets[k], offsets[k + 1]):
            xr, pr = xt[j], pre[j]
            for s in range(n_batch):
                pr[s] = _phi(xr[s], code)
    for j in range(offsets[0], offsets[1]):
        xr, er = xt[j], et[j]
        for s in range(n_batch):
            er[s] = 0.0 if clamp_first else precisions[0] * xr[s]
    for k in range(1, n_layers):
        lo, hi = offsets[k], offsets[k + 1]
        plo = offsets[k - 1]
        n_pre = lo - plo
        base = w_offsets[k - 1]
        pi = precisions[k]
        for i in range(lo, hi):
            # er accumulates mu_i = b_i + sum_j W_ij phi(x_j), then becomes eps_i
            er, xr = et[i], xt[i]
            bi = b[i - offsets[1]]
            for s in range(n_batch):
                er[s] = bi
            row = base + (i - lo) * n_pre
            j = 0
            while j + 4 <= n_pre:
                # four terms per pass, still added one after the other
                w0, w1, w2, w3 = w[row + j], w[row + j + 1], w[row + j + 2], w[row + j + 3]
                p0, p1, p2, p3 = pre[plo + j], pre[plo + j + 1], pre[plo + j + 2], \
                    pre[plo + j + 3]
                for s in range(n_batch):
                    er[s] = (((er[s] + w0 * p0[s]) + w1 * p1[s]) + w2 * p2[s]) + w3 * p3[s]
                j += 4
            while j < n_pre:
                wij = w[row + j]
                pr = pre[plo + j]
                for s in range(n_batch):
                    er[s] += wij * pr[s]
                j += 1
            for s in range(n_batch):
                er[s] = pi * (xr[s] - er[s])
    # the energy in the order of a loop over samples (sample by sample, layer by layer),
    # so that it too is the same to the last bit; O(B N), next to the O(B N^2) above
    energy = 0.0
    for s in range(n_batch):
        for k in range(n_layers):
            pi = precisions[k]
            for i in range(offsets[k], offsets[k + 1]):
                e = et[i, s]
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

    Notes
    -----
    The state is worked on transposed, ``(N, B)``, with the batch innermost (see
    :func:`_errors`); every sample's arithmetic is the same, in the same order, as in a
    loop over samples (the twin's equations), and ``x`` and ``eps`` are written back at
    the end.
    """
    n_batch = x.shape[0]
    n_layers = offsets.shape[0] - 1
    last = n_layers - 1
    xt = np.ascontiguousarray(x.T)
    et = np.zeros_like(xt)
    pre = np.empty_like(xt)
    back = np.empty_like(xt)
    status, taken = 0, n_steps
    for t in range(n_steps + 1):
        energy = _errors(xt, offsets, w, w_offsets, b, codes, precisions, clamp_first, et,
                         pre)
        energies[t] = energy
        if not math.isfinite(energy) or energy > energy_limit:
            for k in range(t + 1, n_steps + 1):
                energies[k] = math.nan
            status, taken = 1, t
            break
        if t == n_steps:
            break
        # back[j] = (W_{l+1}^T eps_{l+1})_j for every node j of layers 0 .. L-1, each
        # sum over i in source order
        for k in range(last):
            lo, hi = offsets[k], offsets[k + 1]
            n_pre = hi - lo
            for j in range(lo, hi):
                br = back[j]
                for s in range(n_batch):
                    br[s] = 0.0
            ulo, uhi = offsets[k + 1], offsets[k + 2]
            base = w_offsets[k]
            i = ulo
            while i + 4 <= uhi:
                # four terms per pass, still added one after the other
                e0, e1, e2, e3 = et[i], et[i + 1], et[i + 2], et[i + 3]
                row = base + (i - ulo) * n_pre
                for j in range(n_pre):
                    w0, w1 = w[row + j], w[row + n_pre + j]
                    w2, w3 = w[row + 2 * n_pre + j], w[row + 3 * n_pre + j]
                    br = back[lo + j]
                    for s in range(n_batch):
                        br[s] = (((br[s] + w0 * e0[s]) + w1 * e1[s]) + w2 * e2[s]) + w3 * e3[s]
                i += 4
            while i < uhi:
                er = et[i]
                row = base + (i - ulo) * n_pre
                for j in range(n_pre):
                    wij = w[row + j]
                    br = back[lo + j]
                    for s in range(n_batch):
                        br[s] += wij * er[s]
                i += 1
        start = 0 if not clamp_first else 1
        for k in range(start, last):
            code = codes[k]
            for j in range(offsets[k], offsets[k + 1]):
                # pre holds phi(x) of this state (x has not moved since _errors)
                xr, er, br, pr = xt[j], et[j], back[j], pre[j]
                for s in range(n_batch):
                    xr[s] += gamma * (-er[s] + _dphi(xr[s], pr[s], code) * br[s])
        if last_mode != LAST_CLAMPED:
            lo = offsets[last]
            for j in range(lo, offsets[last + 1]):
                xr, er = xt[j], et[j]
                for s in range(n_batch):
                    g = -er[s]
                    if last_mode == LAST_NUDGED:
                        g += beta * (target[s, j - lo] - xr[s])
                    xr[s] += gamma * g
    x[:, :] = xt.T
    eps[:, :] = et.T
    return status, taken
