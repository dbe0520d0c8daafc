"""DendriticPredictionTrial against NEST's Urbanczik-Senn neuron and synapse (benchmark extra:
skipped without NEST).

Same inputs in both simulators: ``N_IN`` = 40 Poisson inputs (10 Hz) form a frozen 200 ms
pattern shown 5 times; a teacher at the soma, excitatory and inhibitory Poisson trains
(400 / 100 Hz in the first half of the pattern, 100 / 400 Hz in the second, frozen too).
NEST: ``spike_generator`` -> ``parrot_neuron`` -> ``urbanczik_synapse`` onto the dendrite
(``dendritic_exc``) and static synapses onto ``soma_exc`` / ``soma_inh``, all delays one
step, so every spike reaches its target at a known time on a 0.2 ms grid (the same for
every dt tested).

Mapping (ours <- NEST), with the unit of potential ``SCALE`` = 15 mV and rest ``E_L`` =
-70 mV in both compartments (NEST's defaults *are* the paper's numbers in these units)::

    U = (V_m.s - E_L) / SCALE          V_w = (V_m.p - E_L) / SCALE
    g_L = g_L,soma / C_soma            g_D = g_sp / C_soma     (g_ps = 0: no back-coupling)
    E_E = (E_ex - E_L) / SCALE         E_I = (E_in - E_L) / SCALE
    tau_L = C_dend / g_L,dend          tau_s = tau_syn_ex,dend = tau_syn_in,dend
    phi_max, k = phi_max, rate_slope   beta = beta_NEST * SCALE
    theta = (theta_NEST - E_L) / SCALE
    w = w_NEST * tau_L tau_s / (C_dend SCALE)        (a pA current kernel -> our PSP)
    eta = 15 eta_NEST (tau_L tau_s)^2 / (C_dend SCALE)      tau_delta = tau_Delta
    g_E(t), g_I(t) = NEST's exponential conductances / C_soma, averaged over each step

NEST's dendrite is a leaky compartment driven by an exponential current, whose voltage is
our double-exponential PSP exactly; V* = (E_L g_L + V_w g_sp) / (g_sp + g_L) is ours.
``t_ref`` = 1e-6 ms gives Bernoulli spikes (at most one per step) with no dead step, as
ours (``t_ref`` = 0 draws Poisson counts instead). NEST's ``h`` carries a hard-coded
factor 15 and its weight update another (the paper's 15 mV unit), hence the 15 in ``eta``.

Somatic spikes are replayed: ours gets ``noise = 0`` at NEST's spike steps (a spike, as
``phi > 0``) and the largest double below 1 elsewhere (never a spike: that needs
``exp(-phi dt) < 2^-53``). NEST's history entry at ``t_k`` pairs the spike drawn from
``U(t_k)`` with ``V*(t_k)``; ours at step ``k`` has ``V*(k dt)``.

What NEST does differently (NEST 3.10, ``urbanczik_synapse.h``; its formula reproduced
from NEST's own V* trace and spikes to 1e-15 while writing this test):

* *Lead.* The synapse pairs the error of the dendrite at ``t`` with the presynaptic trace
  at ``t + d``, while the dendrite received the spike ``d`` after the synapse did: the
  PSP in the rule leads the PSP in V* by ``2 d`` = 2 steps (``d`` >= dt). E.g. one input
  spike reaching the dendrite at 10 ms and one somatic spike at 10.2 ms, dt 0.1 ms: NEST
  weights the spike by ``kappa(0.4 ms)``, the PSP then in the dendrite is ``kappa(0.2 ms)``.
* *Weight at the spike.* NEST's spike carries the weight it had when sent, and the
  PSP keeps it; ours scales every PSP by the current weight. O(eta), not O(dt).
* Weights are brought up to date only at presynaptic spikes, so a probe spike from
  every input arrives at the end of training; its weight then holds the errors of steps
  up to 2 before the probe's arrival (ours runs to there).
* ``Wmax`` must have the sign of the initial weight (checked at connection); ``tau_s``
  is taken from ``tau_syn_ex`` or ``tau_syn_in`` by the weight's current sign (set equal).
* With the all-to-all rule an array of weights must have shape (1, n).

Tolerances and measured values (seeds 1-3; spans are the range of NEST's weight change,
1.1-2.1 in our units):

* Fixed weights (NEST ``eta`` = 0): V* agrees to 4e-11 (dt 0.1) and 1e-12 (dt 0.05), on a
  range of 1.6; asserted 1e-6. The soma differs by ours holding ``V_w`` at its value at
  the step's start: the error obeys ``e' = -g e + g_D (V_w(t) - V_w(t_k))`` with
  ``g >= g_L + g_D``, so ``|e| <= c max_k |V_w(t_{k+1}) - V_w(t_k)| = max |dV*|``
  (conductance averaging is second order). Measured 0.0109 (bound 0.027) at dt 0.1 and
  0.0053 (0.014) at 0.05 on a range of 2.1: it halves with dt (ratio 0.49, asserted
  0.4-0.6).
* Learning: ``w_NEST - w_ours`` is predicted to first order by the lead
  ``eta dt sum_t e_t (PSP_{t+2} - PSP_t) F_t`` and by NEST's V* differing from ours,
  ``eta dt sum_t (de/dV*)_t (V*_NEST - V*_ours)_t PSP_{t+2} F_t`` (``F_t`` the filter's
  weight ``1 - b^(N-t)``, ``e = (S/dt - phi) h``). The raw difference is 0.9-2.8 % of the
  span (lead 0.6-2.9 %, V* part 0.3-0.7 %); what the two predictions leave is 5e-5 to
  1.2e-4 of the span, 0.3-0.6 % of the first-order terms: second order, asserted below
  ``2 eps`` of them (``eps`` = raw difference / span). Raw difference asserted below
  ``2 dt / tau_s`` of the span (6.7 % at dt 0.1).
* V* during learning differs by ``c sum_i (w_NEST,i(t_spike) - w_i(t)) PSP_i``: 0.0055-
  0.0088 on a range of 1.7-1.9; asserted below ``c max_t sum_i PSP_i max_i |w_NEST - w|``
  (0.019 at dt 0.1, seed 1).
* dt: the lead part ``w_NEST - w_ours - (V* part)`` summed over seeds 1-3 goes from 0.086
  (dt 0.1) to 0.033 (dt 0.05); asserted to shrink below 0.7 times. (Every dt draws other
  somatic spikes in NEST, so per-seed ratios scatter, 0.31-0.50.)
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("PYNEST_QUIET", "1")  # no banner
nest = pytest.importorskip("nest")
if hasattr(nest, "VerbosityLevel"):  # NEST >= 3.9
    nest.verbosity = nest.VerbosityLevel.ERROR
else:  # pragma: no cover
    nest.set_verbosity("M_ERROR")

from plasticity.rules.dendritic_prediction import (  # noqa: E402
    DendriticPredictionTrial,
    simulate_trial,
)

# the unit of potential (mV) and the rest (mV): NEST's defaults are the paper's numbers
SCALE, E_L = 15.0, -70.0
C_S, C_D = 300.0, 300.0  # pF
RULE = DendriticPredictionTrial(eta=0.6, tau_delta=100.0)  # dt is set per run (defaults: the
# paper's neuron; tau_delta = NEST's default tau_Delta)
NEST_ETA = RULE.eta * C_D * SCALE / (15.0 * (RULE.tau_L * RULE.tau_s) ** 2)
W_TO_NEST = C_D * SCALE / (RULE.tau_L * RULE.tau_s)  # pA per unit of our weight
N_IN, RATE_HZ, PATTERN_MS, REPS = 40, 10.0, 200.0, 5
TEACHER_HZ = (400.0, 100.0)  # Hz: (high, low); excitation high in the first half
TEACHER_NS, TAU_TEACHER = 100.0, 3.0  # nS per teacher spike, ms (somatic tau_syn)
GRID = 0.2  # ms: every spike time lies on this grid, so all dt <= GRID see the same input


def _neuron_params():
    r = RULE
    return {
        "t_ref": 1e-6,  # > 0: at most one spike per step, and 0 refractory steps
        "g_sp": r.g_D * C_S, "g_ps": 0.0,
        "phi_max": r.phi_max, "rate_slope": r.k, "beta": r.beta / SCALE,
        "theta": E_L + SCALE * r.theta,
        "soma": {"V_m": E_L, "E_L": E_L, "C_m": C_S, "g_L": r.g_L * C_S,
                 "E_ex": E_L + SCALE * r.E_E, "E_in": E_L + SCALE * r.E_I,
                 "tau_syn_ex": TAU_TEACHER, "tau_syn_in": TAU_TEACHER},
        "dendritic": {"V_m": E_L, "E_L": E_L, "C_m": C_D, "g_L": C_D / r.tau_L,
                      "tau_syn_ex": r.tau_s, "tau_syn_in": r.tau_s},
    }


def _inputs(seed):
    """Arrival times (ms, on GRID) at the dendrite of every input and of the teacher's
    excitation and inhibition: a frozen pattern repeated REPS times."""
    rng = np.random.default_rng(seed)
    cells = int(round(PATTERN_MS / GRID))
    t = np.arange(cells) * GRID
    first = t < PATTERN_MS / 2
    pattern = [np.flatnonzero(rng.random(cells) < RATE_HZ * 1e-3 * GRID) for _ in range(N_IN)]
    hz_e = np.where(first, TEACHER_HZ[0], TEACHER_HZ[1])
    hz_i = np.where(first, TEACHER_HZ[1], TEACHER_HZ[0])
    exc = np.flatnonzero(rng.random(cells) < hz_e * 1e-3 * GRID)
    inh = np.flatnonzero(rng.random(cells) < hz_i * 1e-3 * GRID)
    # arrivals from 1 ms on (generator -> parrot -> target take two steps)
    rep = lambda c: np.concatenate([(c + r * cells) * GRID for r in range(REPS)]) + 1.0  # noqa: E731
    return [rep(c) for c in pattern], rep(exc), rep(inh)


def _nest_run(dt, pre, exc, inh, w0, eta, seed):
    """NEST with plastic synapses of initial weights ``w0`` (ours) onto the dendrite.
    All inputs arrive at their target at the given times (delays of one step). A probe
    spike from every input arrives at ``T`` (the end of the trained period) so that the
    synapses update their weights up to there. Returns the step times, soma and V*
    (our units) per step, the somatic spike steps and the final weights (ours)."""
    T = REPS * PATTERN_MS + 1.0
    nest.ResetKernel()
    nest.set(resolution=dt, print_time=False, rng_seed=seed)
    nrn = nest.Create("pp_cond_exp_mc_urbanczik", params=_neuron_params())
    rec = nest.Create("multimeter",
                      params={"interval": dt, "record_from": ["V_m.p", "V_m.s"]})
    nest.Connect(rec, nrn)
    sr = nest.Create("spike_recorder")
    nest.Connect(nrn, sr)
    trains = [np.append(p, T) for p in pre] + [exc, inh]
    gens = nest.Create("spike_generator", len(trains), params=[
        {"spike_times": np.round(a - 2 * dt, 9).tolist()} for a in trains])
    parrots = nest.Create("parrot_neuron", len(trains))
    nest.Connect(gens, parrots, "one_to_one", {"delay": dt})
    rt = nrn.get("receptor_types")
    nest.CopyModel("urbanczik_synapse", "urbanczik_test",
                   {"eta": eta, "tau_Delta": RULE.tau_delta, "Wmin": -1e9, "Wmax": 1e9})
    nest.Connect(parrots[:N_IN], nrn, syn_spec={
        "synapse_model": "urbanczik_test", "weight": (w0 * W_TO_NEST)[None, :],
        "delay": np.full((1, N_IN), dt), "receptor_type": rt["dendritic_exc"]})
    for k, port in ((N_IN, "soma_exc"), (N_IN + 1, "soma_inh")):
        nest.Connect(parrots[k], nrn, syn_spec={"weight": TEACHER_NS, "delay": dt,
                                                "receptor_type": rt[port]})
    nest.Simulate(T + 2 * dt)
    ev = rec.get("events")
    c = RULE.coupling
    t = np.asarray(ev["times"])
    conns = nest.GetConnections(parrots[:N_IN], nrn)
    order = np.argsort(conns.get("source"))
    w = np.asarray(conns.get("weight"))[order] / W_TO_NEST
    spikes = np.round(np.asarray(sr.get("events")["times"]) / dt).astype(int)
    return (np.round(t / dt).astype(int), (np.asarray(ev["V_m.s"]) - E_L) / SCALE,
            c * (np.asarray(ev["V_m.p"]) - E_L) / SCALE, spikes, w)


def _steps(times, dt, T):
    x = np.zeros(T)
    k = np.round(np.asarray(times) / dt).astype(int)
    np.add.at(x, k[k < T], 1.0)
    return x


def _ours_inputs(dt, pre, exc, inh, T):
    """Spike counts (T, n) and the teacher's conductances per step (1/ms): the mean over
    step t, [t dt, (t+1) dt], of NEST's exponential conductances."""
    X = np.stack([_steps(p, dt, T) for p in pre], axis=1)
    tau = TAU_TEACHER
    kern = np.exp(-np.arange(T) * dt / tau) * (tau / dt) * -np.expm1(-dt / tau)
    g = [TEACHER_NS / C_S * np.convolve(_steps(a, dt, T), kern)[:T] for a in (exc, inh)]
    return X, g[0], g[1]


def _forward(dt, seed=1):
    pre, exc, inh = _inputs(seed)
    w0 = np.random.default_rng(seed + 100).uniform(1.0, 4.0, N_IN)
    steps, U_n, V_n, _, _ = _nest_run(dt, pre, exc, inh, w0, 0.0, seed)
    T = int(round((REPS * PATTERN_MS + 1.0) / dt))  # up to the probe's arrival
    keep = steps <= T
    steps, U_n, V_n = steps[keep], U_n[keep], V_n[keep]
    X, g_E, g_I = _ours_inputs(dt, pre, exc, inh, T)
    rule = RULE.model_copy(update={"dt": dt, "model": "rate"})
    tr = simulate_trial(rule, w0, X, g_E, g_I, learn=False)
    # NEST reports the state at the end of each step; ours V* at step k is V*(k dt) and
    # U at step k is U((k+1) dt)
    return tr, steps, U_n, V_n


def _learn(dt, seed=1):
    pre, exc, inh = _inputs(seed)
    w0 = np.random.default_rng(seed + 100).uniform(1.0, 4.0, N_IN)
    steps, _, V_n, spikes, w_n = _nest_run(dt, pre, exc, inh, w0, NEST_ETA, seed)
    P = int(round((REPS * PATTERN_MS + 1.0) / dt))  # the probe's arrival step
    N = P - 1  # NEST's weights hold the errors of steps t_j <= P - 2 (see the docstring)
    X, g_E, g_I = _ours_inputs(dt, pre, exc, inh, P + 2)
    noise = np.full(N, np.nextafter(1.0, 0.0))  # never a spike ...
    noise[spikes[spikes < N]] = 0.0  # ... except where NEST's soma spiked
    rule = RULE.model_copy(update={"dt": dt})
    tr = simulate_trial(rule, w0, X[:N], g_E[:N], g_I[:N], noise=noise)
    assert np.array_equal(np.flatnonzero(tr.S), spikes[spikes < N])
    # first-order predictions of NEST - ours: NEST pairs the error at t with the PSP at
    # t + 2 dt (lead), and its V* differs from ours by dV (weights applied at the spike)
    psp = rule.psp(X)
    V = tr.V_star
    ph = rule.phi(V)
    h = rule.beta * (1.0 - ph / rule.phi_max)
    err = (tr.S / dt - ph) * h
    derr = -ph * h * h - (tr.S / dt - ph) * rule.beta * ph * h / rule.phi_max
    b = np.exp(-dt / rule.tau_delta)
    filt = 1.0 - b ** (N - np.arange(N))
    lead = rule.eta * dt * ((err * filt) @ (psp[2:N + 2] - psp[:N]))
    on = steps[steps < N]
    dV = np.zeros(N)
    dV[on] = V_n[steps < N] - V[on]
    via_v = rule.eta * dt * ((derr * dV * filt) @ psp[2:N + 2])
    return w0, tr, w_n, lead, via_v, dV


def test_forward_model_matches_nest():
    """Fixed weights: V* is exact in both; the soma differs by ours holding V_w over the
    step, at most max |V*_{k+1} - V*_k|, and the difference halves with dt."""
    worst = []
    for dt in (0.1, 0.05):
        tr, steps, U_n, V_n = _forward(dt)
        on = steps < tr.V_star.size
        dV = np.abs(tr.V_star[steps[on]] - V_n[on]).max()
        assert dV < 1e-6, f"max |V*_ours - V*_nest| = {dV:.2e}"
        dU = np.abs(tr.U[steps - 1] - U_n).max()
        bound = np.abs(np.diff(tr.V_star)).max()
        assert dU <= bound, f"dt {dt}: max |U_ours - U_nest| = {dU:.3g} > {bound:.3g}"
        assert np.ptp(U_n) > 1.0  # the teacher moves the soma by more than 15 mV
        worst.append(dU)
    assert 0.4 < worst[1] / worst[0] < 0.6, worst


def _first_order_residual(dt, seed):
    w0, tr, w_n, lead, via_v, dV = _learn(dt, seed)
    d = w_n - tr.w
    return w0, tr, w_n, d, lead, via_v, dV


def test_learned_weights_match_nest():
    """Replaying NEST's somatic spikes, the final weights differ by NEST's lead and its
    V* to first order; the rest is second order."""
    dt = 0.1
    w0, tr, w_n, d, lead, via_v, dV = _first_order_residual(dt, seed=1)
    span = np.ptp(w_n - w0)
    assert span > 0.5, span  # the weights did learn
    assert np.abs(d).max() < 2 * dt / RULE.tau_s * span, np.abs(d).max() / span
    first = np.abs(lead + via_v).max()
    resid = np.abs(d - lead - via_v).max()
    eps = np.abs(d).max() / span
    assert resid < 2 * eps * first, (resid, first, eps)
    # V*: the weight difference (at most max |d| at the end) on the summed PSPs
    psp_sum = RULE.model_copy(update={"dt": dt}).psp(_ours_inputs(
        dt, *_inputs(1), tr.V_star.size)[0]).sum(axis=1)
    bound = RULE.coupling * psp_sum.max() * np.abs(d).max()
    assert np.abs(dV).max() < bound, (np.abs(dV).max(), bound)


def test_lead_shrinks_with_dt():
    """NEST's part of the difference (its lead of two steps) shrinks when dt halves."""
    lead = {}
    for dt in (0.1, 0.05):
        lead[dt] = sum(np.abs(d - via_v).max()
                       for _, _, _, d, _, via_v, _ in (_first_order_residual(dt, s)
                                                       for s in (1, 2, 3)))
    assert lead[0.05] < 0.7 * lead[0.1], lead
