"""Plain-NumPy twin of :mod:`plasticity._kernels.recurrent_escape`.

Written from the model's equations with vector operations over the ``K`` trials and the
neurons at once (the kernel loops over trials and scalars). The score is computed as the
derivative of the log-likelihood through the eligibility ``dv_t/dW`` carried as a full
per-trial tensor (``q_in[k, j, i]``), not through the kernel's shared filtered input.
Returns new arrays instead of filling outputs.
"""

import numpy as np


def simulate(W_in, W_rec, W_out, X, target, mask, U, alpha, rho, kappa, v_th, beta, delta_u,
             rho0, dt):
    """Returns a dict: ``spikes`` (K, T, n) uint8, ``loss`` (K,), ``score_in`` (K, n, n_in),
    ``score_rec`` (K, n, n), ``grad_out`` (K, n_out, n), ``v``, ``a`` (K, T, n) and ``y``
    (K, T, n_out)."""
    K, T, n = U.shape
    n_in, n_out = W_in.shape[1], W_out.shape[0]
    beta = np.broadcast_to(np.asarray(beta, dtype=float), (n,))
    v, a, z, y = np.zeros((K, n)), np.zeros((K, n)), np.zeros((K, n)), np.zeros((K, n_out))
    q_in = np.zeros((K, n, n_in))   # dv_j / dW_in_ji given the spikes
    q_rec = np.zeros((K, n, n))     # dv_j / dW_rec_jl given the spikes
    zhat = np.zeros((K, n))
    out = {"spikes": np.zeros((K, T, n), dtype=np.uint8), "loss": np.zeros(K),
           "score_in": np.zeros((K, n, n_in)), "score_rec": np.zeros((K, n, n)),
           "grad_out": np.zeros((K, n_out, n)), "v": np.zeros((K, T, n)),
           "a": np.zeros((K, T, n)), "y": np.zeros((K, T, n_out))}
    norm = float(np.sum(mask)) * n_out
    for t in range(T):
        q_in = alpha * q_in + X[t][None, None, :]
        q_rec = alpha * q_rec + z[:, None, :]
        v = alpha * v + X[t] @ W_in.T + z @ W_rec.T - v_th * z
        a = rho * a + z
        u = v - v_th - beta * a
        rate_dt = rho0 * np.exp(u / delta_u) * dt
        p = -np.expm1(-rate_dt)
        z = (U[:, t] < p).astype(float)
        # d/du [z log p + (1 - z) log(1 - p)] with dp/du = (1 - p) rate dt / delta_u
        dlogl = np.where(z > 0, (1 - p) / p, -1.0) * rate_dt / delta_u
        out["score_in"] += dlogl[:, :, None] * q_in
        out["score_rec"] += dlogl[:, :, None] * q_rec
        y = kappa * y + z @ W_out.T
        zhat = kappa * zhat + z
        err = y - target[t]
        out["loss"] += mask[t] * np.sum(err ** 2, axis=1) / norm
        out["grad_out"] += (2.0 * mask[t] / norm) * err[:, :, None] * zhat[:, None, :]
        out["spikes"][:, t] = z
        out["v"][:, t], out["a"][:, t], out["y"][:, t] = v, a, y
    return out
