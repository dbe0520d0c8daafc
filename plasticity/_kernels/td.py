"""Kernel of the temporal-difference critic (:mod:`plasticity.rl.critic`).

One trial of ``T`` steps with features ``X`` of shape ``(T, n)`` and rewards ``r`` of
shape ``(T,)``; the value is linear, ``V(x) = w . x``, and ``V = 0`` after the last step.
At step ``t`` (online: ``w`` as it is after step ``t - 1``):

* ``mode == 0`` ("td"): ``delta_t = r_t + gamma V(x_{t+1}) - V(x_t)``;
* ``mode == 1`` ("reward_minus_expected"): ``delta_t = r_t - V(x_t)``;
* negative ``delta_t`` are multiplied by ``neg_scale`` (the dopamine signal ``d_t``);
* if ``learn``: ``e <- gamma lam e + x_t`` (accumulating trace, zero at the trial start),
  then ``w <- w + alpha d_t e``.

The kernel writes ``d_t`` into ``deltas`` and updates ``w`` in place. It does not validate
its arguments. Its plain-NumPy twin is ``tests/twins/td.py``.
"""

import numpy as np

from plasticity._config import jit

__all__ = ["MODE_REWARD_MINUS_EXPECTED", "MODE_TD", "td_trial"]

MODE_TD = 0
MODE_REWARD_MINUS_EXPECTED = 1


@jit
def _dot(a, b):
    s = 0.0
    for j in range(a.shape[0]):
        s += a[j] * b[j]
    return s


@jit
def td_trial(w, X, r, gamma, alpha, lam, mode, neg_scale, learn, deltas):
    """Run one trial; update ``w`` (shape (n,)) and fill ``deltas`` (shape (T,)) in place."""
    T = X.shape[0]
    n = X.shape[1]
    e = np.zeros(n)
    decay = gamma * lam
    v = _dot(w, X[0]) if T > 0 else 0.0
    for t in range(T):
        v_next = _dot(w, X[t + 1]) if t + 1 < T else 0.0
        if mode == MODE_TD:
            d = r[t] + gamma * v_next - v
        else:
            d = r[t] - v
        if d < 0.0:
            d *= neg_scale
        deltas[t] = d
        if learn:
            step = alpha * d
            for i in range(n):
                e[i] = decay * e[i] + X[t, i]
                w[i] += step * e[i]
            # the next state's value with the weights just updated (online TD)
            v = _dot(w, X[t + 1]) if t + 1 < T else 0.0
        else:
            v = v_next
