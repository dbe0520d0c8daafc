"""The compiled eligibility recursions of the rate-RNN online rules against their NumPy
twins (tests/twins/rnn_online.py), on random arrays of odd sizes.

Both compute the same sums in a different order (the kernels may reassociate dot
products), so they agree to rounding: 1e-12 relative to the result's largest entry.
"""

import numpy as np
import pytest

from plasticity._kernels import rnn_online as kernels
from tests.twins import rnn_online as twins


def _arrays(seed, B=3, T=7, n=4, n_in=2):
    rng = np.random.default_rng(seed)
    m = n + n_in + 1
    D = rng.uniform(0.0, 0.8, (B, T, n))
    pre = rng.standard_normal((B, T, m))
    pre[..., -1] = 1.0
    L = rng.standard_normal((B, T, n))
    W_rec = rng.normal(0.0, 1.5 / np.sqrt(n), (n, n))
    return rng, D, pre, L, W_rec


def _close(a, b):
    assert a.shape == b.shape
    scale = np.abs(b).max()
    assert scale > 0
    assert np.abs(a - b).max() <= 1e-12 * scale


@pytest.mark.parametrize("leak", [0.0, 0.4])
@pytest.mark.parametrize("seed", [0, 1])
def test_eprop_trace(seed, leak):
    _, D, pre, L, _ = _arrays(seed)
    _close(kernels.eprop_trace_grad(D, pre, L, leak), twins.eprop_trace_grad(D, pre, L, leak))


@pytest.mark.parametrize("k", [1, 3, 7, 20])
def test_truncated_bptt(k):
    _, D, pre, L, W = _arrays(2)
    _close(kernels.truncated_bptt_grad(D, pre, L, W, 0.3, k),
           twins.truncated_bptt_grad(D, pre, L, W, 0.3, k))


@pytest.mark.parametrize("leak", [0.0, 0.5])
def test_uoro(leak):
    rng, D, pre, L, W = _arrays(3)
    nu = np.where(rng.random(D.shape) < 0.5, -1.0, 1.0)
    _close(kernels.uoro_grad(D, pre, L, W, leak, nu), twins.uoro_grad(D, pre, L, W, leak, nu))


@pytest.mark.parametrize("leak", [0.0, 0.5])
def test_kfrtrl(leak):
    rng, D, pre, L, W = _arrays(4)
    signs = np.where(rng.random(D.shape[:2]) < 0.5, -1.0, 1.0)
    _close(kernels.kfrtrl_grad(D, pre, L, W, leak, signs),
           twins.kfrtrl_grad(D, pre, L, W, leak, signs))


def test_zero_sensitivity_steps_do_not_divide_by_zero():
    # a saturated step (D = 0) makes a norm in the rho's vanish; both fall back to rho = 1
    rng, D, pre, L, W = _arrays(5)
    D[:, 2] = 0.0
    nu = np.where(rng.random(D.shape) < 0.5, -1.0, 1.0)
    signs = nu[..., 0]
    for name, extra in (("uoro_grad", nu), ("kfrtrl_grad", signs)):
        got = getattr(kernels, name)(D, pre, L, W, 0.5, extra)
        assert np.all(np.isfinite(got))
        _close(got, getattr(twins, name)(D, pre, L, W, 0.5, extra))
