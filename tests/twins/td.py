"""Plain-NumPy twin of :mod:`plasticity._kernels.td`, written from the TD formulas."""

import numpy as np


def td_trial(w, X, r, gamma, alpha, lam, mode, neg_scale, learn):
    """One trial of online TD(lambda); returns ``(deltas, new_w)`` (inputs untouched)."""
    w = np.array(w, dtype=float)
    X = np.asarray(X, dtype=float)
    T, n = X.shape
    e = np.zeros(n)
    deltas = np.zeros(T)
    for t in range(T):
        v = w @ X[t]
        v_next = w @ X[t + 1] if t + 1 < T else 0.0
        d = r[t] + gamma * v_next - v if mode == 0 else r[t] - v
        if d < 0:
            d = neg_scale * d
        deltas[t] = d
        if learn:
            e = gamma * lam * e + X[t]
            w = w + alpha * d * e
    return deltas, w
