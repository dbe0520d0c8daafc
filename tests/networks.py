"""Spiking networks shared by the tests and the benchmarks (benchmarks/bench_recurrent.py
measures the engine's threads on the network these tests hold bit-identical)."""

from plasticity.spiking import LIF, Network, PairSTDP, PoissonGroup, Synapses


def recurrent_net(delay_ee_ms=1.0, delay_ie_ms=0.5, n_in=1000, n_out=600):
    """Poisson inputs (15 Hz, pair STDP, as ``song_like`` of test_spiking_threads.py)
    onto LIF neurons that also excite each other (plastic, pair STDP) and inhibit each
    other (static, another delay): coupled through delays only, so the windows are as
    long as the shortest recurrent delay. The inhibition holds
    the rate near 30 Hz (without it the inputs drive the neurons near 800 Hz)."""
    gmax = 0.6 * 1000 / n_in * 1.6
    lif = LIF(n=n_out, model="current", tau_m_ms=10.0, v_rest_mV=-74.0, v_reset_mV=-60.0,
              v_th_mV=-54.0, tau_e_ms=5.0, t_ref_ms=1.0)
    stdp = PairSTDP(a_plus=0.01, a_minus=0.0105)
    return Network(dt_ms=0.1, groups={
        "input": PoissonGroup(n=n_in, rate_hz=15.0), "neuron": lif,
    }, synapses=[
        Synapses(name="syn", source="input", target="neuron", w_init=(0.0, gmax),
                 w_min=0.0, w_max=gmax, delay_ms=0.3, plasticity=stdp),
        Synapses(name="ee", source="neuron", target="neuron", w_init=(0.0, 0.05 * gmax),
                 w_min=0.0, w_max=gmax, delay_ms=delay_ee_ms, plasticity=stdp),
        Synapses(name="ie", source="neuron", target="neuron", receptor="i",
                 w_init=(0.0, 0.2), delay_ms=delay_ie_ms),
    ])
