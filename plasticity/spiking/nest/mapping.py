"""What of the model description maps onto NEST, and how (NEST 3.10).

Neurons (LIF; a weight ``w`` is a jump of the engine's synaptic variable)::

    model="current"      -> iaf_psc_exp:  C_m = 250 pF, the engine's I (mV) is
                            NEST's I_syn / (C_m / tau_m), so a weight is w C_m / tau_m pA
    model="conductance"  -> iaf_cond_exp: g_L = C_m / tau_m, the engine's g (units of the
                            leak) is NEST's g / g_L, so a weight is w g_L nS
    receptor="i"         -> a negative NEST weight (NEST's sign convention)

Sources (Poisson groups, spike generators) are ``parrot_neuron`` nodes fed by a
``poisson_generator`` (independent trains per parrot) or one ``spike_generator`` per
source, so that plastic synapses have a presynaptic neuron; a projection onto a source
group targets the parrots' port 1, which they do not repeat.

Plasticity::

    PairSTDP (pairing="all", w_min=0)  -> stdp_synapse: lambda = a_plus f+,
        alpha = a_minus f- / lambda, Wmax = w_max (scaled), mu_plus = mu_minus = 0
        (additive) or 1 (multiplicative); tau_minus is the target neuron's
    RewardSTDP (pairing="all", weights updated every step) -> stdp_dopamine_synapse with
        one volume_transmitter per projection fed by the modulator group: with the scale
        s of the weights and k = eta d_jump tau_d (eta tau_d without a modulator),
        A_plus = s k a_plus w_max f+, A_minus = s k a_minus w_max f-, tau_n = tau_d,
        b = -eta d_tonic / k, so that c_NEST = s k c, n_NEST = eta d / k (a modulator
        spike adds 1 / tau_n to n, i.e. d_jump to d) and dW/dt = c_NEST (n - b) is
        s eta (d + d_tonic) c.

``f+ = exp(shift / tau_plus)`` and ``f- = exp(-shift / tau_minus)`` undo the longer
pre-post intervals NEST sees (:func:`window_factors`).

RewardSTDP's eligibility lags: every pairing enters NEST's ``c`` later than the engine's,
a potentiation ``s+ = 1 + max(1, D)`` steps later (the post spike's stamp at the end of
its step, then the dendritic delay), a depression ``s- = 1 - D`` steps later (the stamp,
less the engine's axonal delay of ``D`` steps), so at a read time it has decayed for that
much less: ``c_NEST = exp(s+ dt / tau_c) C+ + exp(s- dt / tau_c) C-`` with the engine's
potentiating and depressing parts ``C+``, ``C-`` (exact to rounding,
tests/test_spiking_nest.py), a difference ``<= (exp(max|s| dt / tau_c) - 1) (|C+| +
|C-|)``. It is no read-out lag (NEST's ``c`` is current: the volume transmitter updates
every synapse every step) and it is left uncorrected: the dopamine lags by two steps as
well, so ``c (n - b)`` and the weights agree better as they are. Scaling the amplitudes
by ``exp(-s dt / tau_c)`` gives the engine's ``c`` to 1e-14 but, measured on that test,
max |w_NEST - w| of 4.6e-3 instead of 1.1e-3 (D = 0) and 7.2e-3 instead of 3.3e-3 (D = 1).

Everything else is refused with one line naming the feature (:func:`check_network`):
Izhikevich and two-compartment groups, triplet STDP, nearest pairing, a lower weight
bound above 0 under pair STDP (NEST's ``stdp_synapse`` clips at 0), plastic inhibitory
projections, a pair rule with ``a_plus = 0 < a_minus``, periodic reward updates, a
reward rule with ``eta = 0`` or a modulator with ``d_jump <= 0``, two plastic
projections onto one group with different ``tau_minus`` (NEST keeps it per neuron), a
spike generator firing at 0 ms (nothing happens at time 0 in NEST), and a time step that
is not a whole number of NEST's tics (:func:`check_resolution`).
"""

from __future__ import annotations

import math

import numpy as np

from plasticity.errors import InvalidParameterError

__all__ = ["C_M_PF", "TICS_PER_MS", "check_network", "check_resolution", "neuron_model",
           "weight_scale", "pair_params", "reward_params", "reward_factor",
           "window_factors", "dopamine_level", "unsupported_group"]

#: membrane capacitance given to every NEST neuron (pF); only the ratios matter
C_M_PF = 250.0
#: NEST's default clock: tics per ms (its ``tics_per_ms``, which the backend leaves alone)
TICS_PER_MS = 1000.0


def _refuse(msg):
    raise InvalidParameterError(msg)


def unsupported_group(name, kind) -> str | None:
    """The one-line refusal of a group kind NEST does not simulate as the engine does."""
    if kind == "two_compartment":
        return f"group '{name}': the two-compartment neuron runs on the Numba engine " \
               "only (backend='numba')"
    if kind == "izhikevich":
        return f"group '{name}': Izhikevich groups are not mapped onto NEST (its " \
               "izhikevich model has delta synapses and its own scheme); use " \
               "backend='numba' or 'brian2'"
    return None


def check_resolution(dt_ms, tics_per_ms=TICS_PER_MS):
    """Refuse, as NEST's kernel would but without importing it, a time step that is not
    a whole number (at least one) of NEST's tics.

    NEST (``SimulationManager::set_status``) takes ``dt_ms * tics_per_ms`` as whole when
    its distance to the nearest integer is below 4 eps times itself (two bits of
    rounding): 0.1 + 0.2 ms passes, 0.1 + 1e-13 ms does not.
    """
    tic = 1.0 / tics_per_ms
    if dt_ms < tic:
        _refuse(f"dt_ms ({dt_ms:g}) is shorter than NEST's tic ({tic:g} ms): the nest "
                f"backend needs dt_ms >= {tic:g}")
    n = dt_ms * tics_per_ms
    if abs(n - round(n)) >= 4 * n * np.finfo(float).eps:
        _refuse(f"dt_ms ({dt_ms!r}) is not a multiple of NEST's tic ({tic:g} ms), so "
                "NEST refuses it as its resolution")


def check_network(net):
    """Refuse, with one line, every feature of ``net`` NEST cannot simulate as the
    engine does (module docstring)."""
    check_resolution(net.dt_ms)
    tau_minus = {}
    for syn in net.synapses:
        label, plastic = syn.label, syn.plasticity
        tgt = net.groups[syn.target]
        if plastic is None:
            continue
        where = f"projection '{label}'"
        if plastic.kind == "triplet":
            _refuse(f"{where}: triplet STDP is not mapped onto NEST (stdp_triplet_synapse "
                    "differs in its trace updates); use backend='numba' or 'brian2'")
        if plastic.kind not in ("pair", "reward"):
            _refuse(f"{where}: the {plastic.kind} rule has no NEST synapse here")
        if plastic.pairing != "all":
            _refuse(f"{where}: pairing='nearest' is not mapped onto NEST (its stdp "
                    "synapses pair all spikes); use pairing='all' or another backend")
        if syn.receptor == "i" and tgt.kind == "lif":
            _refuse(f"{where}: plastic inhibitory projections are not mapped onto NEST "
                    "(negative weights and bounds)")
        if plastic.kind == "pair":
            if syn.w_min != 0:
                _refuse(f"{where}: NEST's stdp_synapse clips weights at 0; w_min must be "
                        f"0 (got {syn.w_min})")
            if plastic.a_plus == 0 and plastic.a_minus > 0:
                _refuse(f"{where}: NEST's stdp_synapse scales depression by a_plus "
                        "(alpha = a_minus / a_plus); a_plus = 0 < a_minus does not map")
        else:
            if net.update_steps(syn) != 1:
                _refuse(f"{where}: update_every_ms is not mapped onto NEST (its "
                        "stdp_dopamine_synapse integrates the weights continuously); "
                        "leave it unset")
            if plastic.eta <= 0:
                _refuse(f"{where}: eta = 0 (no weight change) does not map onto NEST's "
                        "stdp_dopamine_synapse")
            if plastic.modulator is not None and plastic.d_jump <= 0:
                _refuse(f"{where}: a modulator with d_jump <= 0 does not map onto NEST "
                        "(each dopamine spike raises its n by 1 / tau_n > 0)")
        prev = tau_minus.setdefault(syn.target, plastic.tau_minus_ms)
        if prev != plastic.tau_minus_ms:
            _refuse(f"{where}: NEST keeps tau_minus per neuron; the plastic projections "
                    f"onto '{syn.target}' need one tau_minus_ms (got {prev} and "
                    f"{plastic.tau_minus_ms})")
    for name, g in net.groups.items():
        if g.kind == "generator" and g.times_ms:
            steps = np.rint(np.asarray(g.times_ms) / net.dt_ms)
            if steps.min() < 1:
                _refuse(f"group '{name}': NEST cannot emit a spike at 0 ms; start the "
                        "spike generator at t >= dt_ms")
    return tau_minus


def neuron_model(g):
    """``(NEST model, parameters)`` of LIF group ``g``."""
    v0 = g.v_rest_mV if g.v_init_mV is None else g.v_init_mV
    params = {"C_m": C_M_PF, "E_L": g.v_rest_mV, "V_th": g.v_th_mV,
              "V_reset": g.v_reset_mV, "V_m": v0, "t_ref": g.t_ref_ms, "I_e": 0.0}
    if g.model == "current":
        params.update(tau_m=g.tau_m_ms, tau_syn_ex=g.tau_e_ms, tau_syn_in=g.tau_i_ms)
        return "iaf_psc_exp", params
    params.update(g_L=C_M_PF / g.tau_m_ms, E_ex=g.e_e_mV, E_in=g.e_i_mV,
                  tau_syn_ex=g.tau_e_ms, tau_syn_in=g.tau_i_ms)
    return "iaf_cond_exp", params


def weight_scale(syn, net) -> float:
    """NEST weight per engine weight of projection ``syn`` (signed: inhibition is
    negative; 1 onto parrots, whose port 1 ignores the weight)."""
    tgt = net.groups[syn.target]
    if tgt.kind != "lif":
        return 1.0
    # pA per mV (current) or nS per unit of the leak (conductance): both C_m / tau_m
    scale = C_M_PF / tgt.tau_m_ms
    return -scale if syn.receptor == "i" else scale


def window_factors(syn, shift_ms) -> tuple[float, float]:
    """The factors on the amplitudes that undo NEST's longer pre-post intervals.

    NEST sees every pairing ``shift_ms`` (its dendritic delay plus the engine's axonal
    one) later than the engine: a potentiating pair's presynaptic trace is smaller by
    ``exp(-shift / tau_plus)``, a depressing pair's postsynaptic trace larger by
    ``exp(shift / tau_minus)``. Multiplying the amplitudes by the inverse makes every pair
    whose order the shift does not change count exactly as on the engine. (Uncorrected,
    one 0.1-ms step changes the net drift of additive STDP with A-/A+ = 1.05 by ~20 %
    and song2000's output rate by about as much.)
    """
    p = syn.plasticity
    return math.exp(shift_ms / p.tau_plus_ms), math.exp(-shift_ms / p.tau_minus_ms)


def pair_params(syn, scale, shift_ms) -> dict:
    """``stdp_synapse`` parameters of a pair-STDP projection (amplitudes corrected by
    :func:`window_factors`)."""
    p = syn.plasticity
    f_plus, f_minus = window_factors(syn, shift_ms)
    mu = 0.0 if p.weight_dependence == "additive" else 1.0
    lam = p.a_plus * f_plus
    return {"tau_plus": p.tau_plus_ms, "lambda": lam,
            "alpha": p.a_minus * f_minus / lam if lam > 0 else 1.0,
            "mu_plus": mu, "mu_minus": mu, "Wmax": syn.w_max * scale}


def reward_factor(syn) -> float:
    """``k``: NEST's eligibility per engine eligibility and weight unit (module
    docstring)."""
    p = syn.plasticity
    return p.eta * (p.d_jump if p.modulator is not None else 1.0) * p.tau_d_ms


def reward_params(syn, scale, shift_ms) -> dict:
    """``stdp_dopamine_synapse`` parameters of a RewardSTDP projection (without the
    volume transmitter; amplitudes corrected by :func:`window_factors`)."""
    p = syn.plasticity
    k = reward_factor(syn)
    f_plus, f_minus = window_factors(syn, shift_ms)
    return {"tau_plus": p.tau_plus_ms, "A_plus": scale * k * p.a_plus * syn.w_max * f_plus,
            "A_minus": scale * k * p.a_minus * syn.w_max * f_minus, "tau_c": p.tau_c_ms,
            "tau_n": p.tau_d_ms, "b": -p.eta * p.d_tonic / k,
            "Wmin": syn.w_min * scale, "Wmax": syn.w_max * scale}


def dopamine_level(syn, arrivals_ms, t_ms) -> float:
    """The engine's ``d`` at ``t_ms`` from the dopamine spikes' arrival times at the
    volume transmitter (NEST's ``n``, which jumps by 1 / tau_n, times k / eta)."""
    p = syn.plasticity
    a = np.asarray(arrivals_ms, dtype=np.float64)
    a = a[a <= t_ms + 1e-9]
    n = float(np.sum(np.exp(-(t_ms - a) / p.tau_d_ms))) / p.tau_d_ms
    return n * reward_factor(syn) / p.eta if math.isfinite(n) else float("nan")
