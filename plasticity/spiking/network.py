"""The description of a spiking network, shared by every backend.

A :class:`Network` is plain, validated data: neuron groups (:class:`LIF`,
:class:`Izhikevich`, :class:`TwoCompartment`, :class:`PoissonGroup`,
:class:`SpikeGenerator`), projections between them (:class:`Synapses`, optionally plastic
with :class:`PairSTDP`, :class:`TripletSTDP`, :class:`RewardSTDP` or, onto the dendrite of a
two-compartment neuron, :class:`DendriticPrediction`) and the time step. The Numba engine
(:mod:`plasticity.spiking.engine`) and the Brian2 backend
(:mod:`plasticity.spiking.brian2_backend`) both build from it, so one config gives the same
model on both (the two-compartment neuron runs on the Numba engine only). Everything that
can be checked before a simulation starts is checked here: time constants, a time step
larger than a time constant, delays shorter than the time step, probabilities outside
[0, 1], weight bounds, and whether the synapses fit in memory.

Units are in the field names: ms, mV, Hz. Weights are dimensionless conductances relative
to the leak (conductance-based neurons, as in Song, Miller & Abbott 2000) or jumps of the
synaptic current in mV (current-based neurons).
"""

from __future__ import annotations

import math
import os
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.validation import Hyperparameters

__all__ = ["LIF", "Izhikevich", "IZHIKEVICH_PRESETS", "TwoCompartment", "PoissonGroup",
           "SpikeGenerator", "PairSTDP", "TripletSTDP", "RewardSTDP", "DendriticPrediction",
           "Synapses", "Network", "available_memory", "synapse_bytes"]

#: bytes per stored synapse in the Numba engine: float64 weight, plus (sparse) an int32
#: target index, plus (sparse and plastic) the int32 pair of the transposed index; a
#: reward-modulated rule adds a float64 eligibility trace, and the dendritic prediction rule
#: with ``tau_delta_ms > 0`` a float64 filtered change (it needs no transposed index).
DENSE_BYTES = 8
SPARSE_BYTES = 12
SPARSE_PLASTIC_BYTES = 20
ELIGIBILITY_BYTES = 8


class LIF(Hyperparameters):
    """A group of leaky integrate-and-fire neurons (Brian2's ``NeuronGroup``).

    Conductance-based (``model="conductance"``)::

        tau_m dv/dt = (v_rest - v) + g_e (e_e - v) + g_i (e_i - v)
        dg_e/dt = -g_e / tau_e,   dg_i/dt = -g_i / tau_i      (g in units of the leak)

    Current-based (``model="current"``)::

        tau_m dv/dt = (v_rest - v) + I_e - I_i,   dI/dt = -I / tau    (I in mV)

    A spike is emitted when ``v > v_th``; ``v`` is then reset to ``v_reset`` and held there
    for ``t_ref_ms``. Both backends integrate the synaptic variables exactly, and ``v``
    exactly for current-based neurons (linear equations; Brian2's ``method="exact"``) and
    by exponential Euler for conductance-based ones (exact for the conductances held over
    one step).
    """

    kind: Literal["lif"] = "lif"
    n: int = Field(1, ge=1, description="number of neurons")
    model: Literal["conductance", "current"] = "conductance"
    tau_m_ms: float = Field(10.0, gt=0, description="membrane time constant (ms)")
    v_rest_mV: float = Field(-74.0, description="resting (leak reversal) potential (mV)")
    v_reset_mV: float = Field(-60.0, description="reset potential (mV)")
    v_th_mV: float = Field(-54.0, description="threshold (mV)")
    t_ref_ms: float = Field(0.0, ge=0, description="refractory period (ms)")
    tau_e_ms: float = Field(5.0, gt=0, description="excitatory synaptic time constant (ms)")
    tau_i_ms: float = Field(10.0, gt=0, description="inhibitory synaptic time constant (ms)")
    e_e_mV: float = Field(0.0, description="excitatory reversal potential (mV)")
    e_i_mV: float = Field(-80.0, description="inhibitory reversal potential (mV)")
    v_init_mV: float | None = Field(None, description="initial potential (default v_rest)")

    @model_validator(mode="after")
    def _reset_below_threshold(self):
        if self.v_reset_mV >= self.v_th_mV:
            raise ValueError(f"v_reset_mV ({self.v_reset_mV}) must be below v_th_mV "
                             f"({self.v_th_mV})")
        return self

    def time_constants(self) -> dict[str, float]:
        return {"tau_m_ms": self.tau_m_ms, "tau_e_ms": self.tau_e_ms,
                "tau_i_ms": self.tau_i_ms}


#: Izhikevich (2003) parameter sets ``(a, b, c, d)``: regular spiking (excitatory cortical
#: cells, spike-frequency adaptation) and fast spiking (inhibitory interneurons)
IZHIKEVICH_PRESETS = {"rs": {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0},
                      "fs": {"a": 0.1, "b": 0.2, "c": -65.0, "d": 2.0}}


class Izhikevich(Hyperparameters):
    """A group of Izhikevich neurons (Izhikevich 2003, IEEE TNN 14:1569; 2007, Cereb
    Cortex 17:2443), time in ms, ``v`` in mV::

        dv/dt = 0.04 v**2 + 5 v + 140 - u + I
        du/dt = a (b v - u)
        I = g_e - g_i + i_ext,   dg_e/dt = -g_e / tau_e,   dg_i/dt = -g_i / tau_i

    When ``v >= v_peak``: a spike, then ``v <- c`` and ``u <- u + d`` (no refractory
    period). The input ``I`` is current-based, in the units of ``dv/dt`` (mV/ms, i.e.
    Izhikevich's ``I``); a synaptic weight ``w`` is the jump of ``g_e`` (or ``g_i``), so
    one presynaptic spike injects a total charge ``w * tau`` (mV) into ``v``.

    ``preset="rs"`` (regular spiking: a=0.02, b=0.2, c=-65, d=8) or ``"fs"`` (fast
    spiking: a=0.1, b=0.2, c=-65, d=2) supplies ``a, b, c, d`` not given explicitly;
    ``"custom"`` requires all four.

    Integration, ``method="euler"``: forward Euler with the network's time step for ``v``
    and ``u``, both from the values at the start of the step (Brian2's
    ``method="euler"``), with the synaptic variables of the start of the step.
    ``method="izhikevich2007"``: the scheme of Izhikevich's published code (spnet.m,
    daspnet.m): ``v`` takes two forward-Euler half steps with the same input, then ``u``
    one step from the new ``v``. Either way the synaptic variables then decay exactly
    (``g <- g exp(-dt/tau)``). The network's ``dt_ms`` must be at most 1 ms.

    ``synapse="delta"`` makes synaptic input instantaneous, as in Izhikevich's networks:
    the weights arriving in a step enter the next step's input current as ``g / dt``
    and are then used up, so a spike of weight ``w`` moves ``v`` by ``w`` (mV) over one
    step (``tau_e_ms`` and ``tau_i_ms`` are then unused).

    ``noise`` adds Izhikevich's random "thalamic" input: a current drawn uniformly from
    ``[-noise/2, noise/2]`` (mV/ms) independently for every neuron and step (daspnet.m
    uses 13 with 1 ms steps).
    """

    kind: Literal["izhikevich"] = "izhikevich"
    n: int = Field(1, ge=1, description="number of neurons")
    preset: Literal["rs", "fs", "custom"] = "rs"
    a: float | None = Field(None, gt=0, description="recovery rate (1/ms)")
    b: float | None = Field(None, description="sensitivity of u to v")
    c: float | None = Field(None, description="reset potential (mV)")
    d: float | None = Field(None, description="jump of u at a spike")
    v_peak_mV: float = Field(30.0, description="spike cut-off (mV)")
    tau_e_ms: float = Field(5.0, gt=0, description="excitatory synaptic time constant (ms)")
    tau_i_ms: float = Field(10.0, gt=0, description="inhibitory synaptic time constant (ms)")
    i_ext: float = Field(0.0, description="constant input current (mV/ms)")
    noise: float = Field(0.0, ge=0, description="width of the uniform random current "
                                                "drawn every step (mV/ms)")
    method: Literal["euler", "izhikevich2007"] = "euler"
    synapse: Literal["exponential", "delta"] = "exponential"
    v_init_mV: float | None = Field(None, description="initial potential (default c)")
    u_init: float | None = Field(None, description="initial recovery (default b * v_init)")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data):
        if isinstance(data, dict):
            values = IZHIKEVICH_PRESETS.get(data.get("preset", "rs"))
            if values is not None:
                data = dict(data)
                for key, val in values.items():
                    if data.get(key) is None:
                        data[key] = val
        return data

    @model_validator(mode="after")
    def _complete(self):
        missing = [k for k in "abcd" if getattr(self, k) is None]
        if missing:
            raise ValueError(f"preset='custom' needs {', '.join(missing)}")
        if self.c >= self.v_peak_mV:
            raise ValueError(f"c ({self.c}) must be below v_peak_mV ({self.v_peak_mV})")
        return self

    @property
    def v0(self) -> float:
        """The initial potential (mV)."""
        return self.c if self.v_init_mV is None else self.v_init_mV

    @property
    def u0(self) -> float:
        """The initial recovery variable."""
        return self.b * self.v0 if self.u_init is None else self.u_init

    def time_constants(self) -> dict[str, float]:
        taus = {"1/a (ms)": 1.0 / self.a}
        if self.synapse == "exponential":
            taus.update(tau_e_ms=self.tau_e_ms, tau_i_ms=self.tau_i_ms)
        return taus


def _timed_table(value, n, name):
    """``value`` as a list of rows of width ``n`` or 1 (1-D: one column), or None."""
    if value is None:
        return None
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] not in (1, n):
        raise ValueError(f"{name} must have shape (n_steps_period, n) = (P, {n}) or (P, 1) "
                         f"with P >= 1; got {np.shape(value)}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name} must hold finite conductances >= 0 (1/ms)")
    return a.tolist()


class TwoCompartment(Hyperparameters):
    """Two-compartment neurons of dendritic prediction (Urbanczik & Senn 2014, Neuron
    81:521), in the paper's units: time in ms, conductances in 1/ms, potentials
    dimensionless. The same neuron as :class:`plasticity.rules.DendriticPrediction` and
    its kernel :mod:`plasticity._kernels.dendritic`::

        dU/dt = -g_L U + g_D (V_w - U) + g_E (E_E - U) + g_I (E_I - U)
        V_w = sum_i w_i PSP_i,   PSP_i = (x_L,i - x_s,i) / (tau_L - tau_s)

    where ``x_L``, ``x_s`` decay with ``tau_L``, ``tau_s`` and jump by 1 at a spike of
    input ``i`` (the double-exponential PSP of unit integral). The dendrite's prediction
    of the soma is ``V* = g_D / (g_D + g_L) V_w``. The soma fires as an inhomogeneous
    Poisson process: a spike in a step with probability ``1 - exp(-phi(U) dt)``, one
    uniform number of the simulator's random stream per neuron and step, with
    ``phi(U) = phi_max / (1 + k exp(beta (theta - U)))`` (1/ms); there is no reset.

    Inputs. ``Synapses(compartment="dendrite")`` feed ``V_w`` (signed weights, unbounded
    unless ``w_min``/``w_max`` are given; plastic with :class:`DendriticPrediction`);
    ``compartment="soma"`` synapses are conductances ``g_E`` (``receptor="e"``) or ``g_I``
    (``"i"``) that jump by ``w`` and decay with ``tau_e_ms``/``tau_i_ms``, reversal
    ``E_E``/``E_I`` (NEST's ``pp_cond_exp_mc_urbanczik`` somatic receptors). A teacher
    like Brian2's ``TimedArray``: ``g_E_timed``/``g_I_timed`` of shape ``(P, n)`` (or
    ``(P, 1)``, or 1-D of length ``P``: the same for every neuron) add row ``t % P`` to
    ``g_E``/``g_I`` in step ``t`` (steps counted from the simulator's start).

    Integration (Numba engine only): within a step the soma takes the exponential Euler
    step of the dendritic kernel, ``U <- U_inf + (U - U_inf) exp(-g_tot dt)`` with
    ``g_tot = g_L + g_D + g_E + g_I`` and ``U_inf = (g_D V_w + g_E E_E + g_I E_I) / g_tot``,
    from the start-of-step ``V_w`` and conductances, which then decay exactly; a spike
    arriving in step ``t`` enters ``V_w`` (and ``g_E``, ``g_I``) from step ``t + 1`` on.
    Recording the state of such a group samples ``U`` and ``V*`` (keys ``"U"`` and
    ``"V_star"`` of :attr:`SimResult.state`).
    """

    kind: Literal["two_compartment"] = "two_compartment"
    n: int = Field(1, ge=1, description="number of neurons")
    g_L: float = Field(0.1, gt=0, allow_inf_nan=False, description="leak (1/ms)")
    g_D: float = Field(2.0, gt=0, allow_inf_nan=False, description="dendro-somatic "
                                                                   "coupling (1/ms)")
    E_E: float = Field(14 / 3, allow_inf_nan=False, description="excitatory reversal")
    E_I: float = Field(-1 / 3, allow_inf_nan=False, description="inhibitory reversal")
    tau_L_ms: float = Field(10.0, gt=0, description="slow PSP time constant (ms)")
    tau_s_ms: float = Field(3.0, gt=0, description="fast PSP time constant (ms)")
    tau_e_ms: float = Field(3.0, gt=0, description="somatic excitatory synapse tau (ms)")
    tau_i_ms: float = Field(3.0, gt=0, description="somatic inhibitory synapse tau (ms)")
    phi_max: float = Field(0.15, gt=0, allow_inf_nan=False, description="max rate (1/ms)")
    k: float = Field(0.5, gt=0, allow_inf_nan=False, description="rate function k")
    beta: float = Field(5.0, gt=0, allow_inf_nan=False, description="rate function slope")
    theta: float = Field(1.0, allow_inf_nan=False, description="rate function threshold")
    U_init: float = Field(0.0, allow_inf_nan=False, description="initial somatic potential")
    g_E_timed: list[list[float]] | None = Field(None, description="teacher excitation, "
                                                "(P, n) per step, repeated (1/ms)")
    g_I_timed: list[list[float]] | None = Field(None, description="teacher inhibition, "
                                                "(P, n) per step, repeated (1/ms)")

    @model_validator(mode="before")
    @classmethod
    def _tables(cls, data):
        # arrays arrive as ndarrays or nested lists; store plain (P, n) or (P, 1) lists
        if isinstance(data, dict):
            data = dict(data)
            n = data.get("n", 1)
            for key in ("g_E_timed", "g_I_timed"):
                if isinstance(n, int) and data.get(key) is not None:
                    data[key] = _timed_table(data[key], n, key)
        return data

    @model_validator(mode="after")
    def _consistent(self):
        if self.tau_s_ms >= self.tau_L_ms:
            raise ValueError(f"tau_s_ms ({self.tau_s_ms}) must be below tau_L_ms "
                             f"({self.tau_L_ms})")
        if self.E_I >= self.E_E:
            raise ValueError(f"E_I ({self.E_I:.4g}) must be below E_E ({self.E_E:.4g})")
        for key in ("g_E_timed", "g_I_timed"):
            _timed_table(getattr(self, key), self.n, key)
        return self

    @property
    def coupling(self) -> float:
        """``g_D / (g_D + g_L)``: ``V* = coupling * V_w``."""
        return self.g_D / (self.g_D + self.g_L)

    def timed(self, key) -> np.ndarray | None:
        """``g_E_timed`` or ``g_I_timed`` as an array of shape ``(P, n)`` (or None)."""
        value = getattr(self, key)
        if value is None:
            return None
        a = np.asarray(value, dtype=np.float64)
        return np.ascontiguousarray(np.broadcast_to(a, (a.shape[0], self.n)))

    def time_constants(self) -> dict[str, float]:
        return {"tau_L_ms": self.tau_L_ms, "tau_s_ms": self.tau_s_ms,
                "tau_e_ms": self.tau_e_ms, "tau_i_ms": self.tau_i_ms,
                "the somatic time constant 1/(g_L + g_D) (ms)": 1.0 / (self.g_L + self.g_D)}


class PoissonGroup(Hyperparameters):
    """Independent Poisson spike sources at a common rate (Brian2's ``PoissonGroup``)."""

    kind: Literal["poisson"] = "poisson"
    n: int = Field(1, ge=1, description="number of sources")
    rate_hz: float = Field(15.0, ge=0, description="firing rate of every source (Hz)")

    def time_constants(self) -> dict[str, float]:
        return {}


class SpikeGenerator(Hyperparameters):
    """Sources that fire at given times (Brian2's ``SpikeGeneratorGroup``).

    Times are rounded to the time step; a source fires at most once per step.
    """

    kind: Literal["generator"] = "generator"
    n: int = Field(1, ge=1, description="number of sources")
    indices: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    times_ms: list[Annotated[float, Field(ge=0)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self):
        if len(self.indices) != len(self.times_ms):
            raise ValueError(f"indices ({len(self.indices)}) and times_ms "
                             f"({len(self.times_ms)}) must have the same length")
        if self.indices and max(self.indices) >= self.n:
            raise ValueError(f"index {max(self.indices)} is out of range for n={self.n}")
        return self

    def time_constants(self) -> dict[str, float]:
        return {}


class PairSTDP(Hyperparameters):
    """Pair-based STDP (Song, Miller & Abbott 2000; van Rossum et al. 2000).

    With a presynaptic trace ``x`` (time constant ``tau_plus``) and a postsynaptic trace
    ``y`` (``tau_minus``), both jumping at their neuron's spikes, a presynaptic spike
    depresses and a postsynaptic spike potentiates::

        additive:        on pre  w -= a_minus * w_max * y     on post  w += a_plus * w_max * x
        multiplicative:  on pre  w -= a_minus * w * y         on post  w += a_plus * (w_max - w) * x

    and ``w`` is clipped to ``[w_min, w_max]``. ``pairing="all"`` adds 1 to a trace at each
    spike (all-to-all interaction); ``"nearest"`` sets it to 1 (each spike pairs with the
    nearest spike of the other side only, Morrison et al. 2008 symmetric nearest-spike).
    Spikes in the same step count as pre-before-post (potentiation), as in Brian2 where the
    presynaptic pathway runs first.
    """

    kind: Literal["pair"] = "pair"
    tau_plus_ms: float = Field(20.0, gt=0, description="presynaptic trace time constant")
    tau_minus_ms: float = Field(20.0, gt=0, description="postsynaptic trace time constant")
    a_plus: float = Field(0.01, ge=0, description="potentiation amplitude")
    a_minus: float = Field(0.0105, ge=0, description="depression amplitude (magnitude)")
    pairing: Literal["all", "nearest"] = "all"
    weight_dependence: Literal["additive", "multiplicative"] = "additive"

    def time_constants(self) -> dict[str, float]:
        return {"tau_plus_ms": self.tau_plus_ms, "tau_minus_ms": self.tau_minus_ms}


class TripletSTDP(Hyperparameters):
    """Triplet STDP (Pfister & Gerstner 2006, J Neurosci 26:9673), additive.

    Presynaptic traces ``r1`` (``tau_plus``), ``r2`` (``tau_x``); postsynaptic ``o1``
    (``tau_minus``), ``o2`` (``tau_y``). On a presynaptic spike
    ``w -= w_max * o1 * (a2_minus + a3_minus * r2)``, on a postsynaptic spike
    ``w += w_max * r1 * (a2_plus + a3_plus * o2)``, with ``r2`` and ``o2`` read just before
    their own spike's increment. Defaults: the paper's all-to-all fit to the visual-cortex
    data of Sjostrom et al. 2001 (Table 4).
    """

    kind: Literal["triplet"] = "triplet"
    tau_plus_ms: float = Field(16.8, gt=0)
    tau_minus_ms: float = Field(33.7, gt=0)
    tau_x_ms: float = Field(101.0, gt=0)
    tau_y_ms: float = Field(125.0, gt=0)
    a2_plus: float = Field(5e-10, ge=0)
    a3_plus: float = Field(6.2e-3, ge=0)
    a2_minus: float = Field(7e-3, ge=0)
    a3_minus: float = Field(2.3e-4, ge=0)
    pairing: Literal["all", "nearest"] = "all"

    def time_constants(self) -> dict[str, float]:
        return {"tau_plus_ms": self.tau_plus_ms, "tau_minus_ms": self.tau_minus_ms,
                "tau_x_ms": self.tau_x_ms, "tau_y_ms": self.tau_y_ms}


class RewardSTDP(Hyperparameters):
    """Dopamine-modulated STDP with an eligibility trace (Izhikevich 2007, Cereb Cortex
    17:2443; a three-factor rule in the canonical form of Fremaux & Gerstner 2016).

    Pair STDP does not change the weight but a per-synapse eligibility trace ``c``, which
    a neuromodulator ``d`` (dopamine) turns into weight change::

        on pre   c -= a_minus * w_max * y       on post   c += a_plus * w_max * x
        dc/dt = -c / tau_c        dd/dt = -d / tau_d        dw/dt = eta * (d + d_tonic) * c

    with the traces ``x`` (presynaptic, ``tau_plus``) and ``y`` (postsynaptic,
    ``tau_minus``) of :class:`PairSTDP`, and ``w`` clipped to ``[w_min, w_max]`` at every
    weight update. ``d`` jumps by ``d_jump`` at every spike of the group named
    ``modulator`` (dopaminergic neurons, NEST's volume transmitter), and a simulator can
    also set it directly (``set_modulator``: a reward delivered by the experiment, or a
    TD error for TD-LTP, Fremaux, Sprekeler & Gerstner 2013). ``d`` may be negative.

    The weights are updated every ``update_every_ms`` (default: every step), each time by
    ``eta * T * (d + d_tonic) * c`` for the elapsed ``T``, after which ``c`` decays by
    ``exp(-T / tau_c)``: Izhikevich's code updates every 10 ms. Within a step: ``d``
    decays with the traces; the modulator's spikes of the step add to it after the
    thresholds; STDP changes ``c`` in the synaptic pathways; the weight update comes last.

    Izhikevich (2007): ``w_max = 4``, ``a_plus = 0.025``, ``a_minus = 0.0375`` (jumps of
    0.1 and 0.15), nearest pairing, ``tau_c = 1000`` ms, ``tau_d = 200`` ms,
    ``eta = 0.1`` per ms, ``d_tonic = 0.002``, ``d_jump = 0.5``, ``update_every_ms = 10``.
    """

    kind: Literal["reward"] = "reward"
    tau_plus_ms: float = Field(20.0, gt=0, description="presynaptic trace time constant")
    tau_minus_ms: float = Field(20.0, gt=0, description="postsynaptic trace time constant")
    a_plus: float = Field(0.01, ge=0, description="eligibility jump on post (x w_max)")
    a_minus: float = Field(0.0105, ge=0, description="eligibility drop on pre (x w_max)")
    pairing: Literal["all", "nearest"] = "all"
    tau_c_ms: float = Field(1000.0, gt=0, description="eligibility time constant (ms)")
    tau_d_ms: float = Field(200.0, gt=0, description="dopamine time constant (ms)")
    eta: float = Field(0.1, ge=0, description="learning rate (1/ms per unit of dopamine)")
    d_tonic: float = Field(0.0, description="tonic dopamine added to d in the update")
    d_jump: float = Field(0.5, description="dopamine released per modulator spike")
    modulator: str | None = Field(None, description="group whose spikes release dopamine")
    update_every_ms: float | None = Field(None, gt=0, description="interval of the "
                                          "weight updates (ms); default every step")

    def time_constants(self) -> dict[str, float]:
        return {"tau_plus_ms": self.tau_plus_ms, "tau_minus_ms": self.tau_minus_ms,
                "tau_c_ms": self.tau_c_ms, "tau_d_ms": self.tau_d_ms}


class DendriticPrediction(Hyperparameters):
    """Learning by the dendritic prediction of somatic spiking (Urbanczik & Senn 2014), for
    ``Synapses(compartment="dendrite")`` onto a :class:`TwoCompartment` group: in every
    step, with the step's somatic spike ``S`` (0 or 1) and the start-of-step dendritic
    prediction ``V*`` and PSP of the synapse's input,

        dw = eta dt (S / dt - phi(V*)) h(V*) PSP_i,   h = d log phi / dV

    (the parameters of ``phi`` are the target group's), then ``w`` is clipped to the
    synapse's ``[w_min, w_max]`` if given. With ``tau_delta_ms > 0`` the change is first
    low-pass filtered per synapse, ``D <- b D + (1 - b) (S / dt - phi(V*)) h(V*) PSP_i``
    (``b = exp(-dt / tau_delta)``), and ``w <- w + eta dt D``: the update of
    :mod:`plasticity._kernels.dendritic` (the rate version, with ``phi(U)`` as target,
    exists only there). Not the same class as :class:`plasticity.rules.DendriticPrediction`,
    the rule of the rate/trial simulations; this one configures the spiking engine.
    """

    kind: Literal["dendritic"] = "dendritic"
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")
    tau_delta_ms: float = Field(0.0, ge=0, allow_inf_nan=False,
                                description="filter of the change (ms), 0: none")

    def time_constants(self) -> dict[str, float]:
        return {"tau_delta_ms": self.tau_delta_ms} if self.tau_delta_ms > 0 else {}


Group = Annotated[LIF | Izhikevich | TwoCompartment | PoissonGroup | SpikeGenerator,
                  Field(discriminator="kind")]
Plasticity = Annotated[PairSTDP | TripletSTDP | RewardSTDP | DendriticPrediction,
                       Field(discriminator="kind")]


class Synapses(Hyperparameters):
    """A projection from one group onto another (Brian2's ``Synapses``).

    ``connect`` is ``"all"`` (dense, every pair), ``"one_to_one"`` (equal sizes) or
    ``"random"`` (each pair independently with probability ``p``, stored sparse). Initial
    weights are ``w_init`` or, for a pair ``(low, high)``, uniform in that range. A
    presynaptic spike reaches the synapse ``delay_ms`` later (0, or at least one step), and
    the plasticity's presynaptic event happens at that arrival, as in Brian2.

    ``compartment="dendrite"`` (targets :class:`TwoCompartment` only) makes the weights
    signed contributions to the dendritic potential ``V_w``: ``receptor`` is then unused,
    and ``w_min``/``w_max`` default to no bound (``None``); otherwise they default to 0
    and 1 and must satisfy ``0 <= w_min < w_max``.
    """

    name: str | None = Field(None, description="default: '<source>_<target>'")
    source: str
    target: str
    connect: Literal["all", "one_to_one", "random"] = "all"
    p: float = Field(1.0, ge=0, le=1, description="connection probability ('random')")
    receptor: Literal["e", "i"] = "e"
    compartment: Literal["soma", "dendrite"] = Field(
        "soma", description="'dendrite': onto the dendrite of a TwoCompartment group")
    w_init: float | tuple[float, float] = 0.5
    w_min: float | None = Field(None, allow_inf_nan=False, description="lower weight bound "
                                "(default 0; dendrite: none)")
    w_max: float | None = Field(None, allow_inf_nan=False, description="upper weight bound "
                                "(default 1; dendrite: none)")
    delay_ms: float = Field(0.0, ge=0, description="homogeneous synaptic delay (ms)")
    plasticity: Plasticity | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_bounds(cls, data):
        if isinstance(data, dict) and data.get("compartment", "soma") != "dendrite":
            data = dict(data)
            if data.get("w_min") is None:
                data["w_min"] = 0.0
            if data.get("w_max") is None:
                data["w_max"] = 1.0
        return data

    @model_validator(mode="after")
    def _bounds(self):
        lo_b = -math.inf if self.w_min is None else self.w_min
        hi_b = math.inf if self.w_max is None else self.w_max
        if self.compartment != "dendrite":
            if lo_b < 0:
                raise ValueError(f"w_min ({self.w_min}) must be >= 0 (signed weights only "
                                 "onto a dendrite)")
            if hi_b <= 0:
                raise ValueError(f"w_max ({self.w_max}) must be > 0")
        if lo_b >= hi_b:
            raise ValueError(f"w_min ({self.w_min}) must be below w_max ({self.w_max})")
        lo, hi = (self.w_init, self.w_init) if isinstance(self.w_init, float | int) \
            else self.w_init
        if lo > hi or lo < lo_b or hi > hi_b:
            raise ValueError(f"w_init {self.w_init} must lie within [w_min, w_max] = "
                             f"[{self.w_min}, {self.w_max}]")
        kind = getattr(self.plasticity, "kind", None)
        if self.compartment == "dendrite" and kind not in (None, "dendritic"):
            raise ValueError(f"dendritic synapses learn with DendriticPrediction only, not "
                             f"'{kind}'")
        if kind == "dendritic" and self.compartment != "dendrite":
            raise ValueError("DendriticPrediction needs compartment='dendrite'")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """``(w_min, w_max)`` with an absent bound as infinity."""
        return (-math.inf if self.w_min is None else self.w_min,
                math.inf if self.w_max is None else self.w_max)

    @property
    def label(self) -> str:
        return self.name or f"{self.source}_{self.target}"


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable, else physical RAM)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def synapse_bytes(syn: Synapses, n_pre: int, n_post: int) -> int:
    """Bytes the Numba engine needs to store one projection's synapses (an estimate
    for ``"random"``: the expected count plus five standard deviations)."""
    kind = getattr(syn.plasticity, "kind", None)
    filtered = kind == "dendritic" and syn.plasticity.tau_delta_ms > 0
    extra = ELIGIBILITY_BYTES if kind == "reward" or filtered else 0
    if syn.connect == "all":
        return (DENSE_BYTES + extra) * n_pre * n_post
    if syn.connect == "one_to_one":
        count = n_pre
    else:
        mean = n_pre * n_post * syn.p
        count = mean + 5 * math.sqrt(mean * (1 - syn.p)) + 1
    per = SPARSE_PLASTIC_BYTES if kind not in (None, "dendritic") else SPARSE_BYTES
    return int((per + extra) * count + 8 * (n_pre + n_post + 2))


class Network(Hyperparameters):
    """Groups, projections and the time step of one spiking network.

    Parameters
    ----------
    groups : dict of str to LIF, Izhikevich, TwoCompartment, PoissonGroup or SpikeGenerator
        Named populations, simulated in this order.
    synapses : list of Synapses
        Projections; their presynaptic pathways run in this order within a step.
    dt_ms : float
        Time step (ms); must be smaller than every time constant of the model, and at
        most 1 ms when there are Izhikevich groups.
    memory_fraction : float
        The largest fraction of currently available memory the synapses may take.
    """

    groups: dict[str, Group]
    synapses: list[Synapses] = Field(default_factory=list)
    dt_ms: float = Field(0.1, gt=0, description="time step (ms)")
    memory_fraction: float = Field(0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self):
        if not self.groups:
            raise ValueError("the network has no groups")
        dt = self.dt_ms
        for name, g in self.groups.items():
            for key, tau in g.time_constants().items():
                if tau <= dt:
                    raise ValueError(f"dt_ms ({dt}) must be smaller than every time "
                                     f"constant; {key} of group '{name}' is {tau}")
            if g.kind == "izhikevich" and dt > 1.0:
                raise ValueError(f"dt_ms ({dt}) must be at most 1 ms with Izhikevich "
                                 f"neurons (group '{name}'; forward Euler)")
            if g.kind == "poisson" and g.rate_hz * dt * 1e-3 > 1:
                raise ValueError(f"group '{name}': rate_hz * dt is "
                                 f"{g.rate_hz * dt * 1e-3:g}, a spike probability "
                                 f"per step above 1; lower dt_ms or the rate")
        labels = set()
        total = 0
        for syn in self.synapses:
            label = syn.label
            if label in labels:
                raise ValueError(f"two projections are named '{label}'; give them names")
            labels.add(label)
            for end in (syn.source, syn.target):
                if end not in self.groups:
                    raise ValueError(f"projection '{label}' refers to group '{end}', "
                                     f"which does not exist (groups: "
                                     f"{', '.join(self.groups)})")
            pre, post = self.groups[syn.source], self.groups[syn.target]
            if syn.compartment == "dendrite" and post.kind != "two_compartment":
                raise ValueError(f"projection '{label}' targets the dendrite, but group "
                                 f"'{syn.target}' is a '{post.kind}' group without one "
                                 f"(use a TwoCompartment group or compartment='soma')")
            if syn.connect == "one_to_one" and pre.n != post.n:
                raise ValueError(f"projection '{label}' is one_to_one but its groups have "
                                 f"{pre.n} and {post.n} neurons")
            if 0 < syn.delay_ms < dt:
                raise ValueError(f"projection '{label}': delay_ms ({syn.delay_ms}) is "
                                 f"shorter than dt_ms ({dt}); use 0 or at least one step")
            mod = getattr(syn.plasticity, "modulator", None)
            if mod is not None and mod not in self.groups:
                raise ValueError(f"projection '{label}': modulator '{mod}' is not a group "
                                 f"(groups: {', '.join(self.groups)})")
            every = getattr(syn.plasticity, "update_every_ms", None)
            if every is not None and abs(every / dt - round(every / dt)) > 1e-6 * every / dt:
                raise ValueError(f"projection '{label}': update_every_ms ({every}) must be "
                                 f"a whole number of time steps (dt_ms = {dt})")
            if syn.plasticity is not None:
                for key, tau in syn.plasticity.time_constants().items():
                    if tau <= dt:
                        raise ValueError(f"dt_ms ({dt}) must be smaller than every time "
                                         f"constant; {key} of projection '{label}' is "
                                         f"{tau}")
            total += synapse_bytes(syn, pre.n, post.n)
        budget = self.memory_fraction * available_memory()
        if total > budget:
            raise ValueError(f"the synapses need about {total / 2**30:.1f} GiB, more than "
                             f"{budget / 2**30:.1f} GiB of the memory available; make the "
                             f"network smaller or sparser")
        return self

    def delay_steps(self, syn: Synapses) -> int:
        """The projection's delay in whole time steps."""
        return int(round(syn.delay_ms / self.dt_ms))

    def update_steps(self, syn: Synapses) -> int:
        """Steps between the weight updates of a reward-modulated projection (1 for
        every step)."""
        every = getattr(syn.plasticity, "update_every_ms", None)
        return 1 if every is None else max(1, int(round(every / self.dt_ms)))

    def offsets(self) -> dict[str, int]:
        """Global index of each group's first neuron (groups in declaration order)."""
        out, start = {}, 0
        for name, g in self.groups.items():
            out[name] = start
            start += g.n
        return out
