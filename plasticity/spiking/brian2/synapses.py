"""The Brian2 objects of each projection kind (the model of
:mod:`plasticity.spiking.synapses`, in the engine's order within a step):

- a presynaptic spike reaching a plastic synapse first adds the old weight to the target's
  synaptic variable, then depresses, then makes the presynaptic traces jump; a
  postsynaptic spike potentiates, then makes the postsynaptic traces jump. Traces are
  Brian2's per-synapse event-driven variables (exactly the engine's per-neuron traces,
  since a delay is homogeneous);
- a reward-modulated projection (``RewardSTDP``) applies the same STDP to a per-synapse
  eligibility ``c``; its dopamine lives in a one-neuron group (decayed in the ``start``
  slot, raised by a pathway from the modulator group) read by the projection through a
  linked variable, and the periodic weight update is a ``run_regularly`` of the
  projection in the ``end`` slot.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["synapse_model", "dopamine_group", "reward_update", "brian2_synapse_bytes"]


def synapse_model(b2, syn, net):
    """The equations of projection ``syn`` (module docstring).

    Returns
    -------
    model : str
        The ``Synapses`` model (the weight ``w``, the traces, and for a reward-modulated
        projection its eligibility ``c`` and the linked dopamine ``da``).
    on_pre, on_post : str
        The pathways' code ("" for none).
    namespace : dict
        The constants the code refers to.
    """
    dt = net.dt_ms
    tgt = net.groups[syn.target]
    plastic = syn.plasticity
    var = "ge" if syn.receptor == "e" else "gi"
    namespace = {"w_min": syn.w_min, "w_max": syn.w_max}
    if tgt.kind == "lif":
        unit = " * mV" if tgt.model == "current" else ""
        on_pre = [f"{var}_post += w{unit}"]
    elif tgt.kind == "izhikevich":
        on_pre = [f"{var}_post += w * mV"]
    else:
        on_pre = []
    model = ["w : 1"]
    on_post = []
    if plastic is not None:
        op = "=" if plastic.pairing == "nearest" else "+="
        ms = b2.ms
        if plastic.kind == "pair":
            namespace.update(tau_plus=plastic.tau_plus_ms * ms,
                             tau_minus=plastic.tau_minus_ms * ms,
                             a_plus=plastic.a_plus, a_minus=plastic.a_minus)
            model += ["dx/dt = -x / tau_plus : 1 (event-driven)",
                      "dy/dt = -y / tau_minus : 1 (event-driven)"]
            if plastic.weight_dependence == "multiplicative":
                dep, pot = "a_minus * w * y", "a_plus * (w_max - w) * x"
            else:
                dep, pot = "a_minus * w_max * y", "a_plus * w_max * x"
            on_pre += [f"w = clip(w - {dep}, w_min, w_max)", f"x {op} 1"]
            on_post += [f"w = clip(w + {pot}, w_min, w_max)", f"y {op} 1"]
        elif plastic.kind == "reward":
            # STDP acts on the eligibility c; the weight changes only in the
            # periodic update (reward_update), driven by the dopamine da
            namespace.update(tau_plus=plastic.tau_plus_ms * ms,
                             tau_minus=plastic.tau_minus_ms * ms,
                             amw=plastic.a_minus * syn.w_max,
                             apw=plastic.a_plus * syn.w_max)
            k = net.update_steps(syn)
            # the engine's factors, computed the same way
            namespace.update(eta_t=plastic.eta * k * dt, d_tonic=plastic.d_tonic,
                             dec_c=math.exp(-k * dt / plastic.tau_c_ms), k_upd=k)
            model += ["dx/dt = -x / tau_plus : 1 (event-driven)",
                      "dy/dt = -y / tau_minus : 1 (event-driven)",
                      "c : 1", "da : 1 (linked)"]
            on_pre += ["c -= amw * y", f"x {op} 1"]
            on_post += ["c += apw * x", f"y {op} 1"]
        else:
            namespace.update(tau_plus=plastic.tau_plus_ms * ms,
                             tau_minus=plastic.tau_minus_ms * ms,
                             tau_x=plastic.tau_x_ms * ms, tau_y=plastic.tau_y_ms * ms,
                             a2_plus=plastic.a2_plus, a3_plus=plastic.a3_plus,
                             a2_minus=plastic.a2_minus, a3_minus=plastic.a3_minus)
            model += ["dr1/dt = -r1 / tau_plus : 1 (event-driven)",
                      "dr2/dt = -r2 / tau_x : 1 (event-driven)",
                      "do1/dt = -o1 / tau_minus : 1 (event-driven)",
                      "do2/dt = -o2 / tau_y : 1 (event-driven)"]
            on_pre += ["w = clip(w - w_max * o1 * (a2_minus + a3_minus * r2), "
                       "w_min, w_max)", f"r1 {op} 1", f"r2 {op} 1"]
            on_post += ["w = clip(w + w_max * r1 * (a2_plus + a3_plus * o2), "
                        "w_min, w_max)", f"o1 {op} 1", f"o2 {op} 1"]
    return "\n".join(model), "\n".join(on_pre), "\n".join(on_post), namespace


def dopamine_group(b2, syn, net, groups, clock, names, d0):
    """The dopamine of a reward-modulated projection: a one-neuron group holding
    ``d`` (initially ``d0``), which decays at the start of every step (with the engine's
    traces) and jumps by ``d_jump`` per spike of the modulator group (a pathway of the
    ``synapses`` slot, so after the thresholds and before the weight update).

    Parameters
    ----------
    names : (str, str)
        Names of the dopamine group and of the release pathway.

    Returns
    -------
    D : NeuronGroup
    objects : list
        ``D`` and the release pathway, if any (to add to the network).
    """
    plastic = syn.plasticity
    D = b2.NeuronGroup(1, "d : 1", namespace={
        "dec_d": math.exp(-net.dt_ms / plastic.tau_d_ms)}, clock=clock, name=names[0])
    D.run_regularly("d = d * dec_d", when="start", order=0, name=names[0] + "_decay")
    D.d = np.array([d0])
    objects = [D]
    if plastic.modulator is not None:
        n_mod = net.groups[plastic.modulator].n
        M = b2.Synapses(groups[plastic.modulator], D, on_pre="d_post += d_jump",
                        namespace={"d_jump": plastic.d_jump}, clock=clock, name=names[1])
        M.connect(i=np.arange(n_mod, dtype=np.int32), j=np.zeros(n_mod, np.int32))
        objects.append(M)
    return D, objects


def reward_update(S, k):
    """The periodic weight update of a reward-modulated projection ``S``, at the end of
    every ``k``-th step counted from step 0 (as the engine):
    ``w <- clip(w + eta * T * (d + d_tonic) * c)``, then ``c <- c * exp(-T / tau_c)``.

    It runs every step and is switched off by a factor 0 in the other steps:
    Brian2's regular operations tick at steps 0, k, 2k, ..., not at k - 1,
    2k - 1, ... (multiplying by 1 or adding 0 leaves the values exact).
    """
    if k == 1:
        code = ["w = clip(w + eta_t * (da + d_tonic) * c, w_min, w_max)",
                "c = c * dec_c"]
    else:
        code = ["upd_on = int((timestep(t, dt) + 1) % k_upd == 0)",
                "w = clip(w + eta_t * (da + d_tonic) * c * upd_on, w_min, w_max)",
                "c = c * (dec_c * upd_on + (1 - upd_on))"]
    # after every pathway of the step (and before the next step's decay of d)
    S.run_regularly("\n".join(code), when="end", order=-1, name=S.name + "_reward")


def brian2_synapse_bytes(syn, n_pre, n_post) -> int:
    """Bytes Brian2 needs for one projection's synapses (an estimate; for ``"random"`` the
    expected count plus five standard deviations).

    Per synapse: ``_synaptic_pre``/``_synaptic_post`` and ``N_incoming``/``N_outgoing``
    (int32 each), the weight (float64), the spike queue's synapse list of each pathway
    (int32), and, when plastic, one float64 per trace (and eligibility) plus ``lastupdate``;
    the arrays that connect it (int64 pre and post, kept for sparse projections, and
    Brian2's int32 copies while connecting).
    """
    if syn.connect == "all":
        count = n_pre * n_post
    elif syn.connect == "one_to_one":
        count = n_pre
    else:
        mean = n_pre * n_post * syn.p
        count = mean + 5 * math.sqrt(mean * (1 - syn.p)) + 1
    per = 16 + 8 + 4 + 16 + 8
    if syn.plasticity is not None:
        # traces (and, for a reward-modulated rule, the eligibility c)
        n_traces = {"pair": 2, "reward": 3}.get(syn.plasticity.kind, 4)
        per += 8 * n_traces + 8 + 4
    return int(per * count + 16 * (n_pre + n_post + 2))

