"""Plain-NumPy twin of :mod:`plasticity._kernels.spiking` (used only by the tests).

Written from the model equations in :mod:`plasticity.spiking.network` and the order of
operations in the kernel's module docstring, not from the engine's packed arrays: each
projection is a dense ``(n_pre, n_post)`` weight matrix with a boolean mask of existing
synapses, every step is a handful of vectorised NumPy operations, traces are kept per
neuron, refractoriness is "steps since the last spike", and delays read a history of
per-step spike vectors. Order within a step:

1. STDP traces decay;
2. conductance-based LIF neurons integrate ``v`` by exponential Euler with the synaptic
   variables of the start of the step, current-based ones exactly (the currents decay
   during the step); Izhikevich neurons take one forward-Euler step of
   ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)`` with
   ``I = g_e - g_i + i_ext``, all from the start of the step; then the synaptic variables
   decay exactly;
3. thresholds (LIF ``v > v_th`` when not refractory, Izhikevich ``v >= v_peak``,
   generators), giving this step's spike vectors;
4. each projection in order: spikes sent ``delay`` steps ago arrive, add the (old) weight
   to the target's ``g_e``/``g_i``, depress, and the presynaptic traces jump;
5. each plastic projection in order: this step's postsynaptic spikes potentiate, then the
   postsynaptic traces jump;
6. reward-modulated projections whose weight update falls on this step:
   ``w <- clip(w + eta * T * (d + d_tonic) * c)``, then ``c`` decays over ``T``;
7. resets (Izhikevich: ``v = c``, ``u += d``); ``v`` (after the reset) and ``g_e`` are
   sampled.

A reward-modulated projection (:class:`~plasticity.spiking.network.RewardSTDP`) applies
step 4's depression and step 5's potentiation to its eligibility matrix ``c`` instead of
``W``; its dopamine ``d`` decays in step 1 and jumps by ``d_jump`` per spike of its
modulator group after step 3. Izhikevich ``method="izhikevich2007"`` takes two half steps
of ``v`` and then ``u`` from the new ``v``; ``synapse="delta"`` feeds ``g / dt`` for one
step. Izhikevich noise is random and not supported here.

Two-compartment neurons (:class:`~plasticity.spiking.network.TwoCompartment`): in step 2
``V_w = sum over dendritic projections of W^T PSP`` is summed afresh from the current
weights and the projections' PSP traces (``PSP = (x_L - x_s) / (tau_L - tau_s)``), the soma
takes the exponential Euler step with ``g_E``/``g_I`` plus the teacher row ``t % P``, and
``V* = g_D / (g_D + g_L) V_w``; in step 3 each neuron fires when a uniform number is below
``1 - exp(-phi(U) dt)``; after the modulator release each dendritic projection learns,
``W += eta dt outer(PSP, (s / dt - phi(V*)) h(V*))`` (or through the filter ``D``), clips,
and its traces decay; in step 4 an arrival adds 1 to its traces. The uniform numbers are
the engine's stream: one ``Generator`` seeded like the engine's run generator (``seed``),
which nothing else draws from here.

Only deterministic sources (:class:`~plasticity.spiking.network.SpikeGenerator`) are
supported; the initial connectivity and weights come from the engine (built with the same
seed), since drawing them is not part of the step loop.
"""

from __future__ import annotations

import math

import numpy as np

try:
    from tests.twins.dendritic import _h, _phi
    from tests.twins.stdp import pair_depression, pair_potentiation
except ImportError:  # pragma: no cover - run from inside tests/
    from twins.dendritic import _h, _phi
    from twins.stdp import pair_depression, pair_potentiation


class _Group:
    def __init__(self, name, spec, dt, n_steps):
        self.name, self.spec, self.n = name, spec, spec.n
        self.kind = spec.kind
        self.hist = []  # boolean spike vector of every step so far
        if self.kind == "lif":
            v0 = spec.v_rest_mV if spec.v_init_mV is None else spec.v_init_mV
            self.v = np.full(self.n, float(v0))
            self.ge = np.zeros(self.n)
            self.gi = np.zeros(self.n)
            self.ref_steps = int(spec.t_ref_ms / dt + 1e-3)
            self.last = np.full(self.n, -(10**12), dtype=np.int64)  # step of last spike
            self.dec_m = math.exp(-dt / spec.tau_m_ms)
            self.dec_e = math.exp(-dt / spec.tau_e_ms)
            self.dec_i = math.exp(-dt / spec.tau_i_ms)

            def response(tau_s, tau_m=spec.tau_m_ms):
                # v(dt) for tau_m v' = -v + exp(-t/tau_s), v(0) = 0
                if math.isclose(tau_s, tau_m):
                    return dt / tau_m * math.exp(-dt / tau_m)
                return (math.exp(-dt / tau_s) - math.exp(-dt / tau_m)) / (1 - tau_m / tau_s)

            self.k_e, self.k_i = response(spec.tau_e_ms), response(spec.tau_i_ms)
        elif self.kind == "izhikevich":
            v0 = spec.c if spec.v_init_mV is None else spec.v_init_mV
            self.v = np.full(self.n, float(v0))
            self.u = np.full(self.n, spec.b * v0 if spec.u_init is None else spec.u_init,
                             dtype=float)
            self.ge = np.zeros(self.n)
            self.gi = np.zeros(self.n)
            self.dt = dt
            if spec.noise > 0:
                raise ValueError("the spiking twin does not simulate Izhikevich noise")
            delta = spec.synapse == "delta"
            self.dec_e = 0.0 if delta else math.exp(-dt / spec.tau_e_ms)
            self.dec_i = 0.0 if delta else math.exp(-dt / spec.tau_i_ms)
            self.g_scale = 1.0 / dt if delta else 1.0
        elif self.kind == "two_compartment":
            self.v = np.full(self.n, float(spec.U_init))
            self.ge = np.zeros(self.n)
            self.gi = np.zeros(self.n)
            self.v_star = np.zeros(self.n)
            self.vw = np.zeros(self.n)
            self.err = np.zeros(self.n)
            self.dec_e = math.exp(-dt / spec.tau_e_ms)
            self.dec_i = math.exp(-dt / spec.tau_i_ms)
            self.timed = {key: spec.timed(key) for key in ("g_E_timed", "g_I_timed")}
        elif self.kind == "generator":
            self.table = np.zeros((n_steps, self.n), dtype=bool)
            steps = np.rint(np.asarray(spec.times_ms, dtype=float) / dt).astype(np.int64)
            idx = np.asarray(spec.indices, dtype=np.int64)
            keep = steps < n_steps
            self.table[steps[keep], idx[keep]] = True  # at most once per source and step
        else:
            raise ValueError(f"the spiking twin does not simulate '{self.kind}' groups "
                             f"(group '{name}'); use SpikeGenerator sources")

    def integrate(self, t, dt):
        """Exponential Euler for ``v`` (skipped while refractory); synapses decay."""
        s = self.spec
        if self.kind == "two_compartment":
            g_e, g_i = self.ge.copy(), self.gi.copy()
            for g, key in ((g_e, "g_E_timed"), (g_i, "g_I_timed")):
                table = self.timed[key]
                if table is not None:
                    g += table[t % table.shape[0]]
            g_tot = s.g_L + s.g_D + g_e + g_i
            u_inf = (s.g_D * self.vw + g_e * s.E_E + g_i * s.E_I) / g_tot
            self.v = u_inf + (self.v - u_inf) * np.exp(-g_tot * dt)
            self.v_star = s.coupling * self.vw
            self.ge = self.ge * self.dec_e
            self.gi = self.gi * self.dec_i
            return None
        if self.kind == "izhikevich":
            v, u = self.v, self.u
            current = (self.ge - self.gi) * self.g_scale + s.i_ext

            def dv(x):
                return 0.04 * x * x + 5.0 * x + 140.0 - u + current

            if s.method == "izhikevich2007":
                v_half = v + 0.5 * dt * dv(v)
                self.v = v_half + 0.5 * dt * dv(v_half)
                self.u = u + dt * (s.a * (s.b * self.v - u))
            else:
                self.v = v + dt * dv(v)
                self.u = u + dt * (s.a * (s.b * v - u))
            self.ge = self.ge * self.dec_e
            self.gi = self.gi * self.dec_i
            return None
        free = (t - self.last) >= self.ref_steps
        if s.model == "conductance":
            gtot = 1.0 + self.ge + self.gi
            v_inf = (s.v_rest_mV + self.ge * s.e_e_mV + self.gi * s.e_i_mV) / gtot
            decay = np.exp(-dt * gtot / s.tau_m_ms)
            new_v = v_inf + (self.v - v_inf) * decay
        else:
            # exact: v relaxes to rest while each current decays with its own tau
            new_v = (s.v_rest_mV + (self.v - s.v_rest_mV) * self.dec_m
                     + self.ge * self.k_e - self.gi * self.k_i)
        self.v = np.where(free, new_v, self.v)
        self.ge = self.ge * self.dec_e
        self.gi = self.gi * self.dec_i
        return free

    def threshold(self, t, free, rng=None, dt=None):
        if self.kind == "two_compartment":
            s = self.spec
            args = (s.phi_max, s.k, s.beta, s.theta)
            spikes = rng.random(self.n) < 1.0 - np.exp(-_phi(self.v, *args) * dt)
            self.err = (spikes / dt - _phi(self.v_star, *args)) * _h(self.v_star, *args)
            return spikes
        if self.kind == "lif":
            return (self.v > self.spec.v_th_mV) & free
        if self.kind == "izhikevich":
            return self.v >= self.spec.v_peak_mV
        return self.table[t].copy()


class _Projection:
    def __init__(self, syn, pre_grp, post_grp, pre, post, w, dt, delay_steps,
                 update_steps=1, modulator=None):
        self.syn, self.pre_grp, self.post_grp = syn, pre_grp, post_grp
        self.delay = delay_steps
        n_pre, n_post = pre_grp.n, post_grp.n
        self.mask = np.zeros((n_pre, n_post), dtype=bool)
        self.W = np.zeros((n_pre, n_post))
        self.mask[pre, post] = True
        self.W[pre, post] = w
        self.pre_idx, self.post_idx = np.asarray(pre), np.asarray(post)
        self.rule = syn.plasticity
        self.dend = syn.compartment == "dendrite"
        if self.dend:
            spec = post_grp.spec
            self.xL, self.xs = np.zeros(n_pre), np.zeros(n_pre)
            self.a_L, self.a_s = math.exp(-dt / spec.tau_L_ms), math.exp(-dt / spec.tau_s_ms)
            self.norm = 1.0 / (spec.tau_L_ms - spec.tau_s_ms)
            self.dt = dt
            if self.rule is not None:
                self.D = np.zeros((n_pre, n_post))
                self.b = math.exp(-dt / self.rule.tau_delta_ms) \
                    if self.rule.tau_delta_ms > 0 else 0.0
        elif self.rule is not None:
            r = self.rule
            self.nearest = r.pairing == "nearest"
            self.x1, self.x2 = np.zeros(n_pre), np.zeros(n_pre)
            self.y1, self.y2 = np.zeros(n_post), np.zeros(n_post)
            tau_x = r.tau_x_ms if r.kind == "triplet" else r.tau_plus_ms
            tau_y = r.tau_y_ms if r.kind == "triplet" else r.tau_minus_ms
            self.dec = (math.exp(-dt / r.tau_plus_ms), math.exp(-dt / tau_x),
                        math.exp(-dt / r.tau_minus_ms), math.exp(-dt / tau_y))
            if r.kind == "reward":
                self.C = np.zeros((n_pre, n_post))
                self.d = 0.0
                self.dec_d = math.exp(-dt / r.tau_d_ms)
                self.update_steps, self.span_ms = update_steps, update_steps * dt
                self.dec_c = math.exp(-self.span_ms / r.tau_c_ms)
                self.modulator = modulator

    def psp(self):
        """The PSP of every presynaptic neuron (dendritic projections), 1/ms."""
        return self.norm * (self.xL - self.xs)

    def dendritic(self):
        """The rule with this step's PSPs and learning signal, then the traces decay."""
        r = self.rule
        if r is not None:
            e = self.post_grp.err
            psp = self.psp()
            if r.tau_delta_ms > 0:
                self.D = np.where(self.mask, self.b * self.D
                                  + (1 - self.b) * psp[:, None] * e[None, :], 0.0)
                self.W = self.W + r.eta * self.dt * self.D
            else:
                self.W = self.W + r.eta * self.dt * psp[:, None] * e[None, :]
            self._clip()
        self.xL *= self.a_L
        self.xs *= self.a_s

    def decay_traces(self):
        if self.rule is not None and not self.dend:
            self.x1 *= self.dec[0]
            self.x2 *= self.dec[1]
            self.y1 *= self.dec[2]
            self.y2 *= self.dec[3]
            if self.rule.kind == "reward":
                self.d *= self.dec_d

    def release(self, t):
        """Dopamine from this step's spikes of the modulator group."""
        if self.rule is not None and self.rule.kind == "reward" and self.modulator:
            self.d += self.rule.d_jump * int(self.modulator.hist[t].sum())

    def modulated_update(self, t):
        r = self.rule
        if r is None or r.kind != "reward" or (t + 1) % self.update_steps:
            return
        self.W = self.W + r.eta * self.span_ms * (self.d + r.d_tonic) * self.C
        self._clip()
        self.C = np.where(self.mask, self.C * self.dec_c, 0.0)

    def _jump(self, traces, sel):
        for tr in traces:
            if self.nearest:
                tr[sel] = 1.0
            else:
                tr[sel] += 1.0

    def _clip(self, rows=slice(None), cols=slice(None)):
        s = self.syn
        block = np.clip(self.W[rows, cols], *s.bounds)
        self.W[rows, cols] = np.where(self.mask[rows, cols], block, 0.0)

    def presynaptic(self, t):
        if t - self.delay < 0:
            return
        rows = np.flatnonzero(self.pre_grp.hist[t - self.delay])
        if rows.size == 0:
            return
        tgt = self.post_grp
        if self.dend:
            self.xL[rows] += 1.0
            self.xs[rows] += 1.0
            return
        if tgt.kind in ("lif", "izhikevich", "two_compartment"):
            add = np.where(self.mask[rows], self.W[rows], 0.0).sum(axis=0)
            if self.syn.receptor == "e":
                tgt.ge = tgt.ge + add
            else:
                tgt.gi = tgt.gi + add
        r = self.rule
        if r is None:
            return
        s = self.syn
        if r.kind == "reward":  # additive pair STDP onto the eligibility
            self.C[rows] += np.where(self.mask[rows], pair_depression(
                0.0, r.a_minus, s.w_max, self.y1[None, :], False), 0.0)
            self._jump((self.x1, self.x2), rows)
            return
        W = self.W[rows]
        if r.kind == "pair":
            W = W + pair_depression(W, r.a_minus, s.w_max, self.y1[None, :],
                                    r.weight_dependence == "multiplicative")
        else:
            W = W - s.w_max * self.y1[None, :] * (r.a2_minus + r.a3_minus * self.x2[rows, None])
        self.W[rows] = W
        self._clip(rows=rows)
        self._jump((self.x1, self.x2), rows)

    def postsynaptic(self, t):
        r = self.rule
        if r is None or self.dend:
            return
        cols = np.flatnonzero(self.post_grp.hist[t])
        if cols.size == 0:
            return
        s = self.syn
        if r.kind == "reward":
            self.C[:, cols] += np.where(self.mask[:, cols], pair_potentiation(
                0.0, r.a_plus, s.w_max, self.x1[:, None], False), 0.0)
            self._jump((self.y1, self.y2), cols)
            return
        W = self.W[:, cols]
        if r.kind == "pair":
            W = W + pair_potentiation(W, r.a_plus, s.w_max, self.x1[:, None],
                                      r.weight_dependence == "multiplicative")
        else:
            W = W + s.w_max * self.x1[:, None] * (r.a2_plus + r.a3_plus * self.y2[None, cols])
        self.W[:, cols] = W
        self._clip(cols=cols)
        self._jump((self.y1, self.y2), cols)

    def weights(self):
        """Weights of the existing synapses, in the engine's ``(pre, post)`` order."""
        return self.W[self.pre_idx, self.post_idx].copy()

    def eligibility(self):
        return self.C[self.pre_idx, self.post_idx].copy()


def simulate(net, connectivity, weights, duration_ms, *, record_v=None, seed=0):
    """Simulate ``net`` for ``duration_ms`` from rest.

    Parameters
    ----------
    net : Network
        Its sources must be :class:`SpikeGenerator` groups.
    connectivity : dict of str to (ndarray, ndarray)
        Projection label -> presynaptic and postsynaptic indices (``sim.connectivity``).
    weights : dict of str to ndarray
        Projection label -> initial weights in the same order (``sim.weights``).
    duration_ms : float
        Simulated time (ms), rounded to whole steps.
    record_v : dict of str to sequence of int, optional
        LIF or Izhikevich group -> neurons whose ``v`` and ``g_e`` are kept at every
        step (after resets); for a two-compartment group ``U`` and ``V*``.
    seed : int
        The engine's seed: two-compartment neurons draw from its run generator.

    Returns
    -------
    dict
        ``"spikes"``: group -> ``(times_ms, ids)`` sorted by time then id;
        ``"weights"``: label -> final weights (``(pre, post)`` order);
        ``"eligibility"`` and ``"dopamine"``: reward-modulated label -> final ``c``
        (same order) and ``d``;
        ``"v"`` and ``"g_e"``: group -> ``(n_steps, n_rec)`` arrays.
    """
    dt = net.dt_ms
    n_steps = int(round(duration_ms / dt))
    groups = {name: _Group(name, g, dt, n_steps) for name, g in net.groups.items()}
    projs = []
    for syn in net.synapses:
        pre, post = connectivity[syn.label]
        mod = getattr(syn.plasticity, "modulator", None)
        projs.append(_Projection(syn, groups[syn.source], groups[syn.target], pre, post,
                                 weights[syn.label], dt, net.delay_steps(syn),
                                 net.update_steps(syn), groups[mod] if mod else None))
    record_v = {k: np.asarray(v, dtype=np.int64) for k, v in (record_v or {}).items()}
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    onto = {name: [p for p in projs if p.dend and p.post_grp is g]
            for name, g in groups.items() if g.kind == "two_compartment"}
    v_out = {k: np.zeros((n_steps, idx.size)) for k, idx in record_v.items()}
    g_out = {k: np.zeros((n_steps, idx.size)) for k, idx in record_v.items()}
    spk_t = {name: [] for name in groups}
    spk_i = {name: [] for name in groups}
    for t in range(n_steps):
        for p in projs:
            p.decay_traces()
        for name, dends in onto.items():
            groups[name].vw = sum((p.W * p.mask).T @ p.psp() for p in dends) \
                if dends else np.zeros(groups[name].n)
        free = {name: g.integrate(t, dt) for name, g in groups.items()
                if g.kind in ("lif", "izhikevich", "two_compartment")}
        for name, g in groups.items():
            s = g.threshold(t, free.get(name), rng, dt)
            g.hist.append(s)
            ids = np.flatnonzero(s)
            spk_t[name].append(np.full(ids.size, t * dt))
            spk_i[name].append(ids)
        for p in projs:
            p.release(t)
        for p in projs:
            if p.dend:
                p.dendritic()
        for p in projs:
            p.presynaptic(t)
        for p in projs:
            p.postsynaptic(t)
        for p in projs:
            p.modulated_update(t)
        for g in groups.values():
            if g.kind == "lif":
                s = g.hist[t]
                g.v[s] = g.spec.v_reset_mV
                g.last[s] = t
            elif g.kind == "izhikevich":
                s = g.hist[t]
                g.v[s] = g.spec.c
                g.u[s] = g.u[s] + g.spec.d
        for name, idx in record_v.items():
            g = groups[name]
            v_out[name][t] = g.v[idx]
            g_out[name][t] = (g.v_star if g.kind == "two_compartment" else g.ge)[idx]
    spikes = {name: (np.concatenate(spk_t[name]) if spk_t[name] else np.zeros(0),
                     np.concatenate(spk_i[name]).astype(np.int64) if spk_i[name]
                     else np.zeros(0, np.int64))
              for name in groups}
    return {"spikes": spikes, "weights": {p.syn.label: p.weights() for p in projs},
            "eligibility": {p.syn.label: p.eligibility() for p in projs
                            if p.rule is not None and p.rule.kind == "reward"},
            "dopamine": {p.syn.label: p.d for p in projs
                         if p.rule is not None and p.rule.kind == "reward"},
            "v": v_out, "g_e": g_out}


def poisson_sparse(rng, gid0, n, prob):
    """The ids of a Poisson group's sources that fire in one step, drawn as the kernel's
    ``_poisson_sparse`` draws them (geometric skips between firing sources, the same
    uniform draws in the same order): an int64 array, increasing."""
    if prob <= 0.0:
        return np.zeros(0, np.int64)
    inv_log_q = 1.0 / np.log1p(-prob)
    out, k = [], -1
    while True:
        gap = np.floor(np.log(1.0 - rng.random()) * inv_log_q)
        if gap >= n - 1 - k:
            return np.asarray(out, dtype=np.int64)
        k += 1 + int(gap)
        out.append(gid0 + k)
