"""The recurrent escape-noise LIF/ALIF network in Brian2 = the Numba kernel, given the same
uniforms: the same spikes (a spike could differ only if a uniform fell within rounding
error of its probability) and the same membranes and adaptation to rounding (1e-9 mV,
against potentials of ~10 mV computed in a different order)."""

import numpy as np
import pytest

pytest.importorskip("brian2")

from plasticity.spiking.brian2.recurrent import brian2_recurrent_trial  # noqa: E402
from plasticity.spiking.recurrent_escape import PatternTask, RecurrentEscapeNet  # noqa: E402


@pytest.mark.parametrize("n_adaptive, beta_mv", [(4, 1.5), (0, 0.0)])
def test_brian2_matches_the_kernel(n_adaptive, beta_mv):
    net = RecurrentEscapeNet(n_in=5, n_rec=8, n_out=1, n_adaptive=n_adaptive,
                             beta_mv=beta_mv)
    task = PatternTask(net, n_steps=80, rate_hz=100.0, rng=0)
    params = net.init_params(1, in_mean_mv=3.0, rec_sd_mv=6.0)
    U = np.random.default_rng(2).random((1, 80, 8))
    ref = task.trials(params, 0, U, record=True)
    got = brian2_recurrent_trial(net, params, task.inputs[0], U[0], target="numpy")
    assert 0.02 < ref["spikes"].mean() < 0.5  # recurrent spikes and resets are exercised
    np.testing.assert_array_equal(got["spikes"], ref["spikes"][0])
    np.testing.assert_allclose(got["v"], ref["v"][0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["a"], ref["a"][0], rtol=0, atol=1e-9)
