"""The Brian2 objects of each neuron group kind (the model of
:mod:`plasticity.spiking.neurons`, integrated as the Numba engine does):

- LIF groups integrate ``v`` by exponential Euler (``method="exponential_euler"``, exact
  for the synaptic variables), with ``(unless refractory)`` when ``t_ref_ms > 0``;
  current-based ones exactly (``method="exact"``);
- Izhikevich groups integrate ``v`` and ``u`` by forward Euler (``method="euler"``); their
  synaptic variables are parameters decayed exactly by a ``run_regularly`` operation
  right after the state update (same slot, ``when="groups"``), as in the engine. With
  ``method="izhikevich2007"``, delta synapses or noise, the whole step is that
  ``run_regularly`` code instead (half steps of ``v``; delta input ``g / dt`` then used
  up; the uniform noise from Brian2's ``rand()``, so equal to the engine's in law only);
- Poisson groups are ``PoissonGroup``, spike generators ``SpikeGeneratorGroup`` with one
  spike per source and step.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["lif_group", "izhikevich_group", "izhikevich_code", "source_group"]


def lif_group(b2, g, name, clock):
    """A ``NeuronGroup`` of the LIF group ``g`` (module docstring)."""
    ms, mV = b2.ms, b2.mV
    ref = g.t_ref_ms > 0
    flag = " (unless refractory)" if ref else ""
    if g.model == "conductance":
        eqs = (f"dv/dt = ((v_rest - v) + ge * (e_e - v) + gi * (e_i - v)) / tau_m : "
               f"volt{flag}\n"
               "dge/dt = -ge / tau_e : 1\n"
               "dgi/dt = -gi / tau_i : 1\n")
    else:
        # linear: integrated exactly, as in the engine. The constants are written
        # into the equations so that Brian2's symbolic solution is that of these
        # values (with symbols it divides by tau_i - tau_m, 0/0 when they are equal),
        # and refractoriness holds v at the reset afterwards, since the flag
        # "(unless refractory)" would put not_refractory into those denominators.
        eqs = (f"dv/dt = (({g.v_rest_mV!r} * mV - v) + ge - gi) / ({g.tau_m_ms!r} * ms)"
               " : volt\n"
               f"dge/dt = -ge / ({g.tau_e_ms!r} * ms) : volt\n"
               f"dgi/dt = -gi / ({g.tau_i_ms!r} * ms) : volt\n")
    namespace = {"v_rest": g.v_rest_mV * mV, "e_e": g.e_e_mV * mV,
                 "e_i": g.e_i_mV * mV, "tau_m": g.tau_m_ms * ms,
                 "tau_e": g.tau_e_ms * ms, "tau_i": g.tau_i_ms * ms,
                 "v_th": g.v_th_mV * mV, "v_reset": g.v_reset_mV * mV}
    kwargs = {"refractory": g.t_ref_ms * ms} if ref else {}
    method = "exponential_euler" if g.model == "conductance" else "exact"
    grp = b2.NeuronGroup(g.n, eqs, threshold="v > v_th", reset="v = v_reset",
                         method=method, namespace=namespace,
                         clock=clock, name=name, **kwargs)
    if ref and g.model == "current":
        grp.run_regularly(f"v = v * int(not_refractory) + ({g.v_reset_mV!r} * mV) * "
                          f"(1 - int(not_refractory))", when="groups", order=1,
                          name=name + "_hold")
    v0 = g.v_rest_mV if g.v_init_mV is None else g.v_init_mV
    # arrays (not scalars) so that setting them needs no generated code
    grp.v = np.full(g.n, v0) * mV
    return grp

def izhikevich_group(b2, g, name, clock, dt):
    """A ``NeuronGroup`` of the Izhikevich group ``g`` (module docstring); ``dt`` in
    ms."""
    mV = b2.mV
    delta = g.synapse == "delta"
    namespace = {"a": g.a, "b": g.b, "c": g.c * mV, "d": g.d * mV,
                 "v_peak": g.v_peak_mV * mV, "i_ext": g.i_ext * mV,
                 # delta synapses: the input is used up in the step that reads it
                 "dec_e": 0.0 if delta else math.exp(-dt / g.tau_e_ms),
                 "dec_i": 0.0 if delta else math.exp(-dt / g.tau_i_ms)}
    if g.method == "euler" and not delta and g.noise == 0:
        # v, u and the currents in mV (I in mV/ms: g_e / ms); time in ms
        eqs = ("dv/dt = (0.04 * v**2 / mV + 5 * v + 140 * mV - u + ge - gi + i_ext)"
               " / ms : volt\n"
               "du/dt = a * (b * v - u) / ms : volt\n"
               "ge : volt\n"
               "gi : volt\n")
        grp = b2.NeuronGroup(g.n, eqs, threshold="v >= v_peak",
                             reset="v = c\nu += d", method="euler",
                             namespace=namespace, clock=clock, name=name)
        # exact decay of the synaptic variables, after the state update of the step
        grp.run_regularly("ge = ge * dec_e\ngi = gi * dec_i", when="groups", order=1,
                          name=name + "_decay")
    else:
        grp = b2.NeuronGroup(g.n, "v : volt\nu : volt\nge : volt\ngi : volt",
                             threshold="v >= v_peak", reset="v = c\nu += d",
                             namespace=namespace, clock=clock, name=name)
        grp.run_regularly(izhikevich_code(b2, g, namespace, dt), when="groups",
                          order=0, name=name + "_step")
    grp.v = np.full(g.n, float(g.v0)) * mV
    grp.u = np.full(g.n, float(g.u0)) * mV
    return grp

def izhikevich_code(b2, g, namespace, dt):
    """The integration step of an Izhikevich group as custom code (the engine's
    order: the input current from the synaptic variables of the start of the step and
    this step's noise, ``v`` and ``u``, then the synaptic variables decay).

    Brian2's state updaters cannot express Izhikevich's half steps or a uniform
    noise drawn once per step, hence code rather than equations; ``h`` is the time
    step in ms, so ``h * (...)`` in volts is the Euler increment of ``dv/dt`` in
    mV/ms.
    """
    mV = b2.mV
    # delta synapses: the weights of a step enter the next step's current as g / dt
    namespace.update(h=dt, hh=0.5 * dt,
                     gsc=1.0 / dt if g.synapse == "delta" else 1.0,
                     noise=g.noise * mV)
    cur = "cur = (ge - gi) * gsc + i_ext"
    if g.noise > 0:
        cur += " + noise * (rand() - 0.5)"
    rhs = "(0.04 * v**2 / mV + 5 * v + 140 * mV - u + cur)"
    if g.method == "izhikevich2007":
        # two half steps of v with the same input, then u from the new v
        body = [f"v = v + hh * {rhs}", f"v = v + hh * {rhs}",
                "u = u + h * (a * (b * v - u))"]
    else:
        # forward Euler: v and u both from the start-of-step values
        body = [f"v_new = v + h * {rhs}", "u = u + h * (a * (b * v - u))", "v = v_new"]
    return "\n".join([cur, *body, "ge = ge * dec_e", "gi = gi * dec_i"])


def source_group(b2, g, name, clock, dt):
    """The ``PoissonGroup`` or ``SpikeGeneratorGroup`` of a source group ``g``."""
    if g.kind == "poisson":
        return b2.PoissonGroup(g.n, rates=g.rate_hz * b2.Hz, clock=clock, name=name)
    steps = np.rint(np.asarray(g.times_ms, dtype=np.float64) / dt).astype(np.int64)
    ids = np.asarray(g.indices, dtype=np.int64)
    if ids.size:
        # one spike per source and step (as the engine), sorted by time
        key = np.unique(np.stack([steps, ids], axis=1), axis=0)
        steps, ids = key[:, 0], key[:, 1]
    return b2.SpikeGeneratorGroup(g.n, ids.astype(np.int32), (steps * dt) * b2.ms,
                                  clock=clock, name=name)
