"""Projections of a spiking network: :class:`Synapses` and their plasticity kinds,
:class:`PairSTDP`, :class:`TripletSTDP`, the dopamine-modulated :class:`RewardSTDP` and,
onto the dendrite of a two-compartment neuron, :class:`DendriticPrediction`. Plain
validated data; every backend builds from them.

Pair STDP's hyperparameters are declared once, in :class:`PairSTDPWindow`: the network
kinds :class:`PairSTDP` and :class:`RewardSTDP` and the trial rule
:class:`plasticity.rules.PairSTDPTrial` subclass it. The dendritic rule's ``eta`` and
filter are declared once, in :class:`DendriticPrediction`, and the trial rule
:class:`plasticity.rules.DendriticPredictionTrial` takes them from there
(:func:`redeclared`).

Weights are dimensionless conductances relative to the leak (conductance-based neurons,
as in Song, Miller & Abbott 2000) or jumps of the synaptic current in mV (current-based
neurons).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic.fields import FieldInfo

from plasticity.validation import Hyperparameters

__all__ = ["PairSTDPWindow", "PairSTDP", "TripletSTDP", "RewardSTDP", "DendriticPrediction",
           "Plasticity", "Synapses", "redeclared"]


def redeclared(model, name, **changes) -> FieldInfo:
    """The declaration of field ``name`` of ``model`` (its constraints and description),
    with ``changes`` (e.g. ``default=17.0``), for a class that declares the same
    hyperparameter under another name or default without restating its constraints.

    Parameters
    ----------
    model : type of Hyperparameters
        The class that declares the field.
    name : str
        The field's name there.
    **changes
        Attributes of the declaration to replace (``default``, ``description``).

    Returns
    -------
    pydantic.fields.FieldInfo
        A copy, to assign as the field's default in the class body.
    """
    return FieldInfo.merge_field_infos(model.model_fields[name], **changes)


class PairSTDPWindow(Hyperparameters):
    """Pair STDP's window: its time constants and amplitudes, declared once.

    A presynaptic trace ``x`` (time constant ``tau_plus_ms``) and a postsynaptic trace
    ``y`` (``tau_minus_ms``) jump at their neuron's spikes; a postsynaptic spike
    potentiates by ``a_plus`` times ``x``, a presynaptic spike depresses by ``a_minus``
    times ``y`` (the compiled change: :mod:`plasticity._kernels.stdp`). The base of the
    network kinds :class:`PairSTDP` and :class:`RewardSTDP` and of the trial rule
    :class:`plasticity.rules.PairSTDPTrial`, so the four hyperparameters and their
    constraints (time constants finite and > 0, amplitudes finite and >= 0) are checked in
    this one place. Defaults: Song, Miller & Abbott (2000), ``a_minus / a_plus = 1.05``.
    """

    tau_plus_ms: float = Field(20.0, gt=0, allow_inf_nan=False,
                               description="presynaptic trace time constant (ms)")
    tau_minus_ms: float = Field(20.0, gt=0, allow_inf_nan=False,
                                description="postsynaptic trace time constant (ms)")
    a_plus: float = Field(0.01, ge=0, allow_inf_nan=False,
                          description="potentiation amplitude per pair")
    a_minus: float = Field(0.0105, ge=0, allow_inf_nan=False,
                           description="depression amplitude per pair (magnitude)")

    def stdp_params(self) -> dict[str, float]:
        """The window as a dict: ``tau_plus_ms``, ``tau_minus_ms``, ``a_plus``, ``a_minus``
        (what the compiled kernels take)."""
        return {"tau_plus_ms": self.tau_plus_ms, "tau_minus_ms": self.tau_minus_ms,
                "a_plus": self.a_plus, "a_minus": self.a_minus}

    def time_constants(self) -> dict[str, float]:
        """The traces' time constants (ms), by name."""
        return {"tau_plus_ms": self.tau_plus_ms, "tau_minus_ms": self.tau_minus_ms}


class PairSTDP(PairSTDPWindow):
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

    The window (``tau_plus_ms``, ``tau_minus_ms``, ``a_plus``, ``a_minus``) is
    :class:`PairSTDPWindow`'s. The same rule, applied as the net change over one trial of
    escape-noise neurons under the trial :class:`~plasticity.rules.base.Rule` protocol, is
    :class:`plasticity.rules.PairSTDPTrial` (additive, all-to-all, ``w_max = 1``); both
    compute the change with :mod:`plasticity._kernels.stdp`.
    """

    kind: Literal["pair"] = "pair"
    pairing: Literal["all", "nearest"] = "all"
    weight_dependence: Literal["additive", "multiplicative"] = "additive"


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


class RewardSTDP(PairSTDPWindow):
    """Dopamine-modulated STDP with an eligibility trace (Izhikevich 2007, Cereb Cortex
    17:2443; a three-factor rule in the canonical form of Fremaux & Gerstner 2016).

    Pair STDP does not change the weight but a per-synapse eligibility trace ``c``, which
    a neuromodulator ``d`` (dopamine) turns into weight change::

        on pre   c -= a_minus * w_max * y       on post   c += a_plus * w_max * x
        dc/dt = -c / tau_c        dd/dt = -d / tau_d        dw/dt = eta * (d + d_tonic) * c

    with the traces ``x`` (presynaptic, ``tau_plus``) and ``y`` (postsynaptic,
    ``tau_minus``) and the window of :class:`PairSTDPWindow` (additive pair STDP onto
    ``c``), and ``w`` clipped to ``[w_min, w_max]`` at every
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
        return {**super().time_constants(), "tau_c_ms": self.tau_c_ms,
                "tau_d_ms": self.tau_d_ms}


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
    exists only there).

    This class configures a projection of a simulated network. The same rule on one
    two-compartment neuron, trial by trial under the :class:`~plasticity.rules.base.Rule`
    protocol (with the neuron's parameters and the rate model), is
    :class:`plasticity.rules.DendriticPredictionTrial`; its ``eta`` and ``tau_delta`` are
    the declarations of ``eta`` and ``tau_delta_ms`` here.
    """

    kind: Literal["dendritic"] = "dendritic"
    eta: float = Field(0.1, gt=0, allow_inf_nan=False, description="learning rate")
    tau_delta_ms: float = Field(0.0, ge=0, allow_inf_nan=False,
                                description="filter of the change (ms), 0: none")

    def time_constants(self) -> dict[str, float]:
        return {"tau_delta_ms": self.tau_delta_ms} if self.tau_delta_ms > 0 else {}


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
