"""The feed-forward STDP network of Song, Miller & Abbott (2000) at any size.

Poisson inputs drive leaky integrate-and-fire neurons (tau_m 10 ms, rest -74 mV,
threshold -54 mV, reset -60 mV, current synapses with tau 5 ms) through all-to-all
additive pair STDP (A- = ``depression_ratio`` A+, weights clipped to [0, gmax], initially
uniform in [0, gmax]), in the form of Brian2's ``examples/synapses/STDP.py``. The
``song2000`` experiment runs it with one neuron, ``big-stdp`` with thousands; both build
it here, from :class:`SongSTDPConfig`'s fields, so the two cannot drift apart.
"""

from __future__ import annotations

from pydantic import Field

from plasticity.spiking.network import LIF, Network, PairSTDP, PoissonGroup, Synapses
from plasticity.spiking.runner import SpikingConfig

__all__ = ["SongSTDPConfig", "song_stdp_network", "PROJECTION"]

#: the label of the input -> neuron projection
PROJECTION = "input_neuron"


def song_stdp_network(*, n_inputs, n_neurons, gmax_mV, rate_hz=15.0, dt_ms=0.1, a_plus=0.01,
                      depression_ratio=1.05, tau_pre_ms=20.0, tau_post_ms=20.0,
                      tau_m_ms=10.0, tau_e_ms=5.0) -> Network:
    """``n_inputs`` Poisson sources all-to-all onto ``n_neurons`` LIF neurons with
    additive pair STDP.

    Parameters
    ----------
    n_inputs, n_neurons : int
        Sizes of the groups ``"input"`` and ``"neuron"``.
    gmax_mV : float
        Largest weight (mV): the largest jump of the synaptic current.
    rate_hz : float
        Input rate (Hz).
    dt_ms : float
        Time step (ms).
    a_plus : float
        Potentiation per pairing, in units of gmax; depression is
        ``depression_ratio * a_plus``.
    depression_ratio : float
        A- / A+.
    tau_pre_ms, tau_post_ms : float
        STDP time constants (ms) of the presynaptic and postsynaptic traces.
    tau_m_ms, tau_e_ms : float
        Membrane and synaptic time constants (ms).

    Returns
    -------
    Network
        With the projection :data:`PROJECTION`, n_inputs x n_neurons dense synapses.
    """
    return Network(
        dt_ms=dt_ms,
        groups={"input": PoissonGroup(n=n_inputs, rate_hz=rate_hz),
                "neuron": LIF(n=n_neurons, model="current", tau_m_ms=tau_m_ms,
                              v_rest_mV=-74.0, v_reset_mV=-60.0, v_th_mV=-54.0,
                              tau_e_ms=tau_e_ms)},
        synapses=[Synapses(name=PROJECTION, source="input", target="neuron",
                           w_init=(0.0, gmax_mV), w_min=0.0, w_max=gmax_mV,
                           plasticity=PairSTDP(tau_plus_ms=tau_pre_ms,
                                               tau_minus_ms=tau_post_ms, a_plus=a_plus,
                                               a_minus=a_plus * depression_ratio))])


class SongSTDPConfig(SpikingConfig):
    """The fields every size of the network shares. A subclass adds ``n_inputs``,
    ``duration_s`` and its own sizes, and defines ``network()`` through
    :meth:`song_network`; the network is built once when the config is made (time step
    against the time constants, memory), so that bad input exits before a run file
    exists."""

    rate_hz: float = Field(15.0, ge=0, description="input rate (Hz)")
    dt_ms: float = Field(0.1, gt=0, description="time step (ms)")
    a_plus: float = Field(0.01, gt=0, description="potentiation amplitude (units of gmax)")
    depression_ratio: float = Field(1.05, gt=0, description="A- / A+")
    tau_pre_ms: float = Field(20.0, gt=0, description="STDP presynaptic time constant")
    tau_post_ms: float = Field(20.0, gt=0, description="STDP postsynaptic time constant")
    tau_m_ms: float = Field(10.0, gt=0, description="membrane time constant")
    tau_e_ms: float = Field(5.0, gt=0, description="synaptic time constant")

    def song_network(self, *, n_neurons, gmax_mV) -> Network:
        """The network of these fields with ``self.n_inputs`` inputs,
        ``n_neurons`` neurons and weights up to ``gmax_mV`` (:func:`song_stdp_network`)."""
        return song_stdp_network(
            n_inputs=self.n_inputs, n_neurons=n_neurons, gmax_mV=gmax_mV,
            rate_hz=self.rate_hz, dt_ms=self.dt_ms, a_plus=self.a_plus,
            depression_ratio=self.depression_ratio, tau_pre_ms=self.tau_pre_ms,
            tau_post_ms=self.tau_post_ms, tau_m_ms=self.tau_m_ms, tau_e_ms=self.tau_e_ms)

    def model_post_init(self, __context):
        self.network()
