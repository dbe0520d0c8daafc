"""Relaxation of a layered continuous Hopfield network (equilibrium propagation), compiled.

The free layers ``s_1 .. s_L`` (widths ``n_1 .. n_L``) of a batch of ``B`` samples are
stored transposed, one ``(N, B)`` array with ``N = n_1 + ... + n_L`` and layer ``l`` in
the rows ``offsets[l - 1]:offsets[l]``; the clamped input ``x`` (``s_0``) is ``(n_0, B)``.
With ``rho`` the activation of code ``code`` (:data:`SIGMOID`: ``1 / (1 + exp(-(4 s -
2)))``, :data:`TANH`) and ``rho(s_0) = x`` (the input enters as it is), the energy of one
sample is

    E = 1/2 sum_l |s_l|^2 - sum_l rho(s_l)^T W_l rho(s_{l-1}) - sum_l b_l^T rho(s_l),

the cost ``C = 1/2 |s_L - y|^2`` and the total ``F = E + beta C``. One Euler step of
``ds/dt = -dF/ds`` moves every free layer at once (synchronous update):

    dF/ds_l = s_l - rho'(s_l) * (W_l rho(s_{l-1}) + W_{l+1}^T rho(s_{l+1}) + b_l)
              [+ beta (s_L - y) for l = L],
    s <- s - dt dF/ds.

The loop stops when the largest ``|dF/ds|`` over the batch (the fixed-point residual) is
below ``tol`` (then the state is not moved again) or after ``n_steps`` steps.

Why compiled: one step is a handful of small matrix products (BLAS through ``np.dot``,
as NumPy does) plus elementwise work; in Python each of the ~15 array operations per step
costs a few microseconds of interpreter and allocation overhead, which dominates at the
sizes used here (measured in tests/test_eqprop.py's docstring and the report: see
:mod:`plasticity.substrates.energy`).

The kernel does not validate its arguments (the public wrapper is
:meth:`plasticity.substrates.energy.EnergyNetwork.relax`); its plain-NumPy twin is
``tests/twins/energy.py``.
"""

import math

import numpy as np

from plasticity._config import jit

__all__ = ["SIGMOID", "TANH", "relax"]

#: Activation codes: the logistic of ``4 s - 2`` (a smooth hard sigmoid: 0 to 1, slope 1
#: at ``s = 1/2``) and ``tanh``.
SIGMOID, TANH = 0, 1


@jit
def _rho(s, code, r, rp):
    """Fill ``r`` with ``rho(s)`` and ``rp`` with ``rho'(s)`` (same shapes as ``s``)."""
    n, m = s.shape
    for i in range(n):
        for j in range(m):
            if code == SIGMOID:
                f = 1.0 / (1.0 + math.exp(-(4.0 * s[i, j] - 2.0)))
                r[i, j] = f
                rp[i, j] = 4.0 * f * (1.0 - f)
            else:
                f = math.tanh(s[i, j])
                r[i, j] = f
                rp[i, j] = 1.0 - f * f


@jit
def relax(st, x_t, offsets, w, w_offsets, b, code, target_t, beta, dt, n_steps, tol):
    """Relax ``st`` in place towards a fixed point of ``ds/dt = -dF/ds``.

    Parameters
    ----------
    st : float64 (N, B)
        The free layers, transposed (module docstring); overwritten with the final state.
    x_t : float64 (n_0, B)
        The clamped input, transposed.
    offsets : int64 (L + 1,)
        Row offsets of the free layers in ``st`` (``offsets[0] = 0``, ``offsets[L] = N``).
    w : float64 (sum_l n_l n_{l-1},)
        ``W_1 .. W_L`` (shapes ``(n_l, n_{l-1})``), flattened in C order, back to back.
    w_offsets : int64 (L,)
        Start of ``W_l`` in ``w`` at index ``l - 1``.
    b : float64 (N,)
        Biases of the free layers, back to back.
    code : int
        :data:`SIGMOID` or :data:`TANH`.
    target_t : float64 (n_L, B)
        The target, transposed (unused when ``beta`` is 0).
    beta : float
        Nudging strength (0: free phase; negative for the symmetric estimate's -beta).
    dt : float
        Euler step.
    n_steps : int
        At most this many steps.
    tol : float
        Stop when ``max |dF/ds| < tol``.

    Returns
    -------
    (int, float)
        Steps taken and the residual ``max |dF/ds|`` of the returned state (NaN when the
        state became non-finite).
    """
    n_layers = offsets.shape[0] - 1
    n_batch = st.shape[1]
    r = np.empty_like(st)
    rp = np.empty_like(st)
    g = np.empty_like(st)
    last = offsets[n_layers - 1]
    residual = math.inf
    for t in range(n_steps + 1):
        _rho(st, code, r, rp)
        for k in range(n_layers):
            lo, hi = offsets[k], offsets[k + 1]
            n_l = hi - lo
            if k == 0:
                below = x_t
            else:
                below = np.ascontiguousarray(r[offsets[k - 1]:lo])
            n_below = below.shape[0]
            wl = w[w_offsets[k]:w_offsets[k] + n_l * n_below].reshape((n_l, n_below))
            a = np.dot(wl, below)
            if k + 1 < n_layers:
                n_up = offsets[k + 2] - hi
                wu = w[w_offsets[k + 1]:w_offsets[k + 1] + n_up * n_l].reshape((n_up, n_l))
                a += np.dot(wu.T, np.ascontiguousarray(r[hi:offsets[k + 2]]))
            for i in range(n_l):
                bi = b[lo + i]
                for j in range(n_batch):
                    g[lo + i, j] = st[lo + i, j] - rp[lo + i, j] * (a[i, j] + bi)
        if beta != 0.0:
            for i in range(offsets[n_layers] - last):
                for j in range(n_batch):
                    g[last + i, j] += beta * (st[last + i, j] - target_t[i, j])
        residual = 0.0
        bad = False
        for i in range(g.shape[0]):
            for j in range(n_batch):
                v = abs(g[i, j])
                if v != v:
                    bad = True
                elif v > residual:
                    residual = v
        if bad or not math.isfinite(residual):
            return t, math.nan
        if residual < tol or t == n_steps:
            return t, residual
        for i in range(g.shape[0]):
            for j in range(n_batch):
                st[i, j] -= dt * g[i, j]
    return n_steps, residual
