"""Plain-NumPy twins of :mod:`plasticity._kernels.escape`.

Written from the model's equations, step by step with vector operations over neurons and
inputs (the kernel instead precomputes the current for all trials and loops over
scalars). Twins return new arrays instead of filling outputs.
"""

import numpy as np

try:
    from tests.twins.stdp import pair_depression, pair_potentiation
except ImportError:  # pragma: no cover - run from inside tests/
    from twins.stdp import pair_depression, pair_potentiation


def simulate(W, X, U, dt, tau_m, tau_s, v_rest, v_reset, v_th, delta_u, rho0, reset,
             tau_plus=20.0, tau_minus=20.0, a_plus=0.0, a_minus=0.0):
    """Returns ``(spikes (K, T, n_out) uint8, score (K, n_out, n_in), stdp (K, n_out, n_in))``."""
    W = np.asarray(W, dtype=float)
    K, T, n_out = U.shape
    n_in = W.shape[1]
    a, b = np.exp(-dt / tau_s), np.exp(-dt / tau_m)
    dp, dm = np.exp(-dt / tau_plus), np.exp(-dt / tau_minus)
    spikes = np.zeros((K, T, n_out), dtype=np.uint8)
    score = np.zeros((K, n_out, n_in))
    stdp = np.zeros((K, n_out, n_in))
    for k in range(K):
        current = np.zeros(n_out)
        e = np.zeros(n_in)          # dI_i / dW_ij, the same for every i
        v = np.full(n_out, float(v_rest))
        q = np.zeros((n_out, n_in))  # dv_i / dW_ij
        xpre, ypost = np.zeros(n_in), np.zeros(n_out)
        for t in range(T):
            x = X[t]
            current = a * current + W @ x
            e = a * e + x
            v = b * v + (1 - b) * (v_rest + current)
            q = b * q + (1 - b) * e[None, :]
            rho_dt = rho0 * np.exp((v - v_th) / delta_u) * dt
            p = -np.expm1(-rho_dt)  # 1 - exp(-rho dt), accurate for small rates
            s = U[k, t] < p
            spikes[k, t] = s
            # d/dv [s log p + (1 - s) log(1 - p)], with dp/dv = dt (1 - p) rho / delta_u
            dlogl = np.where(s, (1 - p) / p, -1.0) * rho_dt / delta_u
            score[k] += dlogl[:, None] * q
            xpre = dp * xpre + x
            ypost = dm * ypost
            stdp[k] += pair_depression(0.0, a_minus, 1.0, np.outer(ypost, x), False)
            stdp[k] += np.outer(s, pair_potentiation(0.0, a_plus, 1.0, xpre, False))
            ypost = ypost + s
            if reset:
                v = np.where(s, v_reset, v)
                q[s] = 0.0
    return spikes, score, stdp


def score_given_spikes(W, X, spikes, dt, tau_m, tau_s, v_rest, v_reset, v_th, delta_u,
                       rho0, reset):
    """Returns the score (K, n_out, n_in) of the given output spikes (K, T, n_out).

    Written as the log-likelihood's derivative over the whole trial at once: the
    membrane's W-derivative ``q`` is a filtered input with restarts at the resets, and
    ``d log L / dv = [s / p - (1 - s) / (1 - p)] dp/dv`` with
    ``dp/dv = (1 - p) rho dt / delta_u`` (simplified so that ``p = 1`` stays finite).
    """
    W = np.asarray(W, dtype=float)
    spikes = np.asarray(spikes) != 0
    K, T, n_out = spikes.shape
    a, b = np.exp(-dt / tau_s), np.exp(-dt / tau_m)
    e = np.zeros_like(X, dtype=float)
    prev = np.zeros(X.shape[1])
    for t in range(T):
        prev = a * prev + X[t]
        e[t] = prev
    current = e @ W.T  # (T, n_out)
    score = np.zeros((K, n_out, W.shape[1]))
    for k in range(K):
        v = np.full(n_out, float(v_rest))
        q = np.zeros((n_out, W.shape[1]))
        dlogl_dv = np.zeros((T, n_out))
        qs = np.zeros((T, n_out, W.shape[1]))
        for t in range(T):
            v = b * v + (1 - b) * (v_rest + current[t])
            q = b * q + (1 - b) * e[t][None, :]
            rho_dt = rho0 * np.exp((v - v_th) / delta_u) * dt
            p = -np.expm1(-rho_dt)
            s = spikes[k, t]
            dlogl_dv[t] = np.where(s, (1 - p) / p, -1.0) * rho_dt / delta_u
            qs[t] = q
            if reset:
                v = np.where(s, v_reset, v)
                q[s] = 0.0
        score[k] = np.einsum("ti,tij->ij", dlogl_dv, qs)
    return score


def stdp_pair_change(pre, post, dt, tau_plus, tau_minus, a_plus, a_minus):
    """The pair sum of the module docstring, written as two trace recursions; each pair's
    change is the network's additive pair STDP with ``w_max = 1``."""
    pre = np.asarray(pre, dtype=float)
    post = np.asarray(post, dtype=float)
    xpre = np.zeros(pre.shape[1])
    ypost = np.zeros(post.shape[1])
    out = np.zeros((post.shape[1], pre.shape[1]))
    for t in range(pre.shape[0]):
        xpre = np.exp(-dt / tau_plus) * xpre + pre[t]
        ypost = np.exp(-dt / tau_minus) * ypost
        out += (np.outer(post[t], pair_potentiation(0.0, a_plus, 1.0, xpre, False))
                + pair_depression(0.0, a_minus, 1.0, np.outer(ypost, pre[t]), False))
        ypost = ypost + post[t]
    return out
