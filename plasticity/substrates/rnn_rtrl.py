"""Real-time recurrent learning (RTRL): the exact gradient of a :class:`RateRNN`, forward.

RTRL (Williams & Zipser 1989; in the notation of Marschall, Cho & Savin 2020, JMLR 21:135,
sec. 3.1) carries the influence matrix ``M_t = dh_t / dtheta`` of the recurrent
parameters ``theta = (W_in, W_rec, b)`` forward in time:

    M_t = J_t M_{t-1} + Mbar_t,        M_0 = 0
    J_t = dh_t / dh_{t-1} = (1 - alpha) I + alpha diag(f'(a_t)) W_rec
    Mbar_t = alpha diag(f'(a_t)) d a_t / d theta      (row i: (x_t, h_{t-1}, 1) in row
                                                       i's own W_in, W_rec and b entries)

and the gradient is ``dL/dtheta = sum_t (W_out^T e_t) M_t`` with ``e_t = dL/dy_t``. The
readout's gradient is local and exact at every step: ``dL/dW_out = sum_t e_t h_t^T``,
``dL/dc = sum_t e_t``. With ``P = n n_in + n^2 + n`` parameters each step costs
``n^2 P = O(n^4)`` multiply-adds and ``M`` holds ``n P`` numbers; BPTT gives the same
gradient for ``O(n^2)`` per step but needs the whole sequence first. This module is the
exact online oracle the approximate rules (e-prop, RFLO, UORO, KF-RTRL) are judged
against, and it equals BPTT to rounding (tests/test_rnn.py).

The compiled kernels are :func:`plasticity._kernels.rnn.rtrl_step` (one step of one
sequence, in place, for online use) and :func:`plasticity._kernels.rnn.rtrl_gradient`;
the column layout of ``theta`` is :func:`theta_slices`.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.substrates.activations import get_activation
from plasticity.substrates.rnn import RateRNN

__all__ = ["rtrl_gradient", "split_theta", "theta_size", "theta_slices"]


def theta_slices(net: RateRNN) -> dict[str, slice]:
    """Where each recurrent parameter lies on the flat ``theta`` axis of ``M``.

    ``W_in`` (n, n_in) first, then ``W_rec`` (n, n), then ``b`` (n,), each row-major.
    """
    n, n_in = net.n_hidden, net.n_in
    return {"W_in": slice(0, n * n_in), "W_rec": slice(n * n_in, n * n_in + n * n),
            "b": slice(n * n_in + n * n, n * n_in + n * n + n)}


def theta_size(net: RateRNN) -> int:
    """``P = n n_in + n^2 + n``, the number of recurrent parameters."""
    return net.n_hidden * (net.n_in + net.n_hidden + 1)


def split_theta(net: RateRNN, flat) -> dict[str, np.ndarray]:
    """A flat (P,) vector over ``theta`` as arrays keyed and shaped like the parameters."""
    shapes = net.param_shapes()
    return {k: np.asarray(flat[s]).reshape(shapes[k]) for k, s in theta_slices(net).items()}


def rtrl_gradient(net: RateRNN, params, x, target, mask=None) -> dict[str, np.ndarray]:
    """The exact gradient of ``net``'s loss on a batch of sequences, by forward-mode RTRL.

    Parameters
    ----------
    net : RateRNN
    params : dict of str to ndarray
        ``W_in`` (n, n_in), ``W_rec`` (n, n), ``b`` (n,), ``W_out`` (n_out, n),
        ``c`` (n_out,).
    x : array_like, shape (B, T, n_in)
        Inputs.
    target : array_like, shape (B, T, n_out)
        Targets (probability vectors for the cross-entropy).
    mask : array_like, shape (B, T), optional
        Which steps count (default: all).

    Returns
    -------
    dict of str to ndarray
        ``dL/dparams`` for every key of :meth:`RateRNN.param_shapes`, in loss units per
        parameter unit; the same quantity as :meth:`RateRNN.loss_and_grad`'s gradient.

    Raises
    ------
    InvalidParameterError
        When ``params``, ``x``, ``target`` or ``mask`` has the wrong shape, or ``mask``
        selects no step.

    Notes
    -----
    Cost ``O(B T n^2 P)`` time (``O(n^4)`` per step) and ``O(n P)`` memory: for
    ``n = 64`` one step of one sequence is about 17 million multiply-adds.
    """
    from plasticity._kernels.rnn import rtrl_gradient as kernel

    if not isinstance(net, RateRNN):
        raise InvalidParameterError(
            f"rtrl_gradient needs a RateRNN; got {type(net).__name__}.")
    net.check_params(params)
    rnn_pass = net.forward(params, x)
    error = net.output_error(rnn_pass.y, target, mask)
    fprime = get_activation(net.activation).df(rnn_pass.a)
    c64 = np.ascontiguousarray
    flat = kernel(c64(params["W_rec"], dtype=np.float64),
                  c64(params["W_out"], dtype=np.float64), c64(rnn_pass.x), c64(fprime),
                  c64(rnn_pass.h_prev), c64(error), float(net.alpha))
    grad = split_theta(net, flat)
    grad["W_out"] = np.einsum("bto,btj->oj", error, rnn_pass.h)
    grad["c"] = error.sum(axis=(0, 1))
    return grad
