"""Neuron groups of a spiking network (the ``groups`` of a
:class:`~plasticity.spiking.network.Network`): :class:`LIF`, :class:`Izhikevich`,
:class:`TwoCompartment`, and the sources :class:`PoissonGroup` and
:class:`SpikeGenerator`. Plain validated data; every backend builds from them.

Units are in the field names: ms, mV, Hz (the two-compartment neuron uses the paper's
units: ms, 1/ms and dimensionless potentials).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.validation import Hyperparameters

__all__ = ["LIF", "Izhikevich", "IZHIKEVICH_PRESETS", "TwoCompartment", "PoissonGroup",
           "SpikeGenerator", "Group"]


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
    dimensionless. The same neuron as :class:`plasticity.rules.DendriticPredictionTrial` and
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


Group = Annotated[LIF | Izhikevich | TwoCompartment | PoissonGroup | SpikeGenerator,
                  Field(discriminator="kind")]
