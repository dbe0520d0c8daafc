"""RecurrentRate: compiled kernel against its NumPy twin, fixed point, Euler decay."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

from plasticity._kernels.recurrent import run_rate
from plasticity.errors import InvalidParameterError
from plasticity.substrates import ACTIVATIONS, RecurrentRate
from tests.twins.recurrent import run_rate as run_rate_twin


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_kernel_matches_twin(name):
    rng = np.random.default_rng(0)
    n, steps = 12, 300
    net = RecurrentRate(n=n, tau=10.0, dt=0.5, activation=name)
    w = net.init_params(rng, g=0.9)["W_rec"]
    inputs = rng.standard_normal((steps, n))
    r0 = rng.standard_normal(n)
    code = ACTIVATIONS[name].code
    got = run_rate(w, inputs, r0, net.dt / net.tau, code)
    want = run_rate_twin(w, inputs, r0, net.dt / net.tau, code)
    # atol covers entries that pass near zero, where a last-bit difference in the sum
    # order is a large relative error of a tiny number.
    assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert_allclose(net.run({"W_rec": w}, inputs, r0), want, rtol=1e-12, atol=1e-14)


def test_linear_fixed_point_solves_r_equals_w_r_plus_i():
    rng = np.random.default_rng(1)
    n = 20
    w = rng.standard_normal((n, n))
    w *= 0.5 / np.max(np.abs(np.linalg.eigvals(w)))  # spectral radius 0.5
    drive = rng.standard_normal(n)
    net = RecurrentRate(n=n, tau=10.0, dt=1.0, activation="linear")
    # The Euler map contracts by at most 1 - (dt/tau)(1 - 0.5) = 0.95 per step, so 1500
    # steps shrink the initial distance by ~1e-33: only rounding is left.
    rates = net.run({"W_rec": w}, np.tile(drive, (1500, 1)))
    fixed = np.linalg.solve(np.eye(n) - w, drive)
    assert_allclose(rates[-1], fixed, rtol=1e-10, atol=1e-12)


def test_dt_larger_than_tau_is_rejected():
    with pytest.raises(InvalidParameterError, match="'dt'.*at most tau"):
        RecurrentRate(n=3, tau=1.0, dt=2.0)
    RecurrentRate(n=3, tau=1.0, dt=1.0)  # dt == tau is the stability limit, allowed
    net = RecurrentRate(n=3, tau=1.0, dt=0.5)
    # Assignment is validated too (pydantic raises a ValueError subclass there).
    with pytest.raises(ValueError, match="at most tau"):
        net.dt = 1.5
    net.tau = 0.25  # the dt check lives on dt, so run() checks again
    with pytest.raises(InvalidParameterError, match="'dt'.*at most tau"):
        net.run(net.init_params(0), np.zeros((2, 3)))
    with pytest.raises(InvalidParameterError, match="'tau'"):
        RecurrentRate(n=3, tau=0.0, dt=0.1)
    with pytest.raises(InvalidParameterError, match="'activation'.*'tanh'"):
        RecurrentRate(n=3, tau=1.0, dt=0.1, activation="tnah")


def euler_decay_error(tau, dt, steps, r0):
    net = RecurrentRate(n=r0.size, tau=tau, dt=dt)  # tanh: f(0) = 0, so W = 0 is a pure leak
    rates = net.run({"W_rec": np.zeros((r0.size, r0.size))}, np.zeros((steps, r0.size)), r0)
    k = np.arange(1, steps + 1)[:, None]
    return np.abs(rates - r0 * np.exp(-k * dt / tau)), k


def test_decay_matches_exponential_to_euler_error():
    tau, dt, r0 = 20.0, 0.5, np.array([1.0, -2.0, 0.3])
    err, k = euler_decay_error(tau, dt, 400, r0)
    # Euler gives r_k = r0 (1 - a)^k with a = dt/tau. Since 0 <= e^-a - (1 - a) <= a^2/2
    # and both factors are <= e^-a, |e^-ka - (1 - a)^k| <= k (a^2/2) e^-(k-1)a: the
    # global error at time t = k dt is at most |r0| (t/tau)(dt/tau)/2, first order in dt.
    a = dt / tau
    bound = np.abs(r0) * k * a**2 / 2 * np.exp(-(k - 1) * a)
    assert np.all(err <= bound + 1e-15)
    assert err.max() > 0.1 * bound.max()  # the bound is tight, not vacuous

    # First order: halving dt halves the error at the same times.
    err_half, _ = euler_decay_error(tau, dt / 2, 800, r0)
    assert_allclose(err_half[1::2].max() / err.max(), 0.5, rtol=0.05)


def test_run_validates_shapes_and_finiteness():
    net = RecurrentRate(n=3, tau=5.0, dt=1.0)
    params = net.init_params(np.random.default_rng(0))
    assert params["W_rec"].shape == (3, 3)
    assert net.run(params, np.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(ValueError, match="inputs has shape"):
        net.run(params, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="inputs holds NaN"):
        net.run(params, np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="r0 has shape"):
        net.run(params, np.zeros((4, 3)), r0=np.zeros(2))
    with pytest.raises(ValueError, match="W_rec"):
        net.run({"W_rec": np.zeros((2, 2))}, np.zeros((4, 3)))


def test_init_params_gain():
    w = RecurrentRate(n=500, tau=10.0, dt=1.0).init_params(np.random.default_rng(0), g=1.5)
    assert_allclose(w["W_rec"].std(), 1.5 / np.sqrt(500), rtol=0.01)


def test_importing_substrates_does_not_import_numba():
    code = "import sys, plasticity.substrates; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
