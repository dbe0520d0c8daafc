"""The Numba spiking engine: packs a :class:`~plasticity.spiking.network.Network` into flat
arrays and runs the compiled step loop (:mod:`plasticity._kernels.spiking`).

Memory: a dense (``connect="all"``) projection stores one float64 weight per synapse
(8 bytes); a sparse one adds an int32 target index (12 bytes), and a plastic sparse one
the transposed index (20 bytes). Traces are per neuron, not per synapse. A plastic dense
projection onto ``DEFER_MIN_POST`` or more targets defers its potentiation (see
:mod:`plasticity._kernels.spiking`): it adds an event ring of
``max(POST_HISTORY_MIN, POST_HISTORY_PER_NEURON * n_post, n_post)`` postsynaptic spikes,
rounded up to a power of two (28 bytes each), 24 bytes per presynaptic neuron and a table
of ``POW_TABLE_LEN`` trace decay factors -- nothing per synapse.

Same seed, same result: connectivity and initial weights come from one child of the
seed, the simulation's random numbers (Poisson sources) from another, through a NumPy
``Generator`` (PCG64) that the compiled loop draws from; results do not depend on how a
simulation is split into :meth:`NumbaSimulator.run` calls.

Two-compartment neurons (:class:`~plasticity.spiking.network.TwoCompartment`) draw one
uniform number per neuron and step from that generator (after the Poisson groups before
them, in group order). Recording their state samples ``U`` into the ``v`` slot of the
monitor and ``V*`` into the ``g_e`` slot; :class:`SimResult` names them ``"U"`` and
``"V_star"``. Their dendritic state is ``_tc_state`` (per neuron: the two filtered sums of
``V_w``, ``V*`` and the learning signal), their parameters ``_tc_par`` and the teacher
tables ``_timed``.
"""

from __future__ import annotations

import math

import numpy as np

from plasticity._kernels import spiking as K
from plasticity.errors import InvalidParameterError
from plasticity.spiking.network import Network
from plasticity.spiking.results import Recording, SimResult

__all__ = ["NumbaSimulator", "build_connectivity"]

#: steps per compiled call (progress and Ctrl-C are handled between calls)
CHUNK_STEPS = 10_000
#: capacity of a plastic dense projection's ring of deferred postsynaptic spikes, per
#: postsynaptic neuron, with a floor; when the ring is full the rows lagging behind are
#: flushed (exact whatever the capacity: it only trades memory against flush frequency)
POST_HISTORY_PER_NEURON = 64
POST_HISTORY_MIN = 4096
#: plastic dense projections onto fewer targets potentiate eagerly (a column walk then
#: touches at most a few neighbouring synapses per cache line; deferral costs more)
DEFER_MIN_POST = 8
#: entries of the table of presynaptic trace decay factors ``dp**n`` (larger step
#: differences call ``pow``)
POW_TABLE_LEN = 8192


def step_response(dt, tau_m, tau_s):
    """Change of ``v`` over one step ``dt`` caused by a synaptic current of 1 mV at the
    start of the step decaying with ``tau_s``, for ``tau_m dv/dt = -v + I`` (exact)."""
    if abs(tau_s - tau_m) < 1e-9 * tau_m:
        return dt / tau_m * math.exp(-dt / tau_m)
    return tau_s / (tau_s - tau_m) * (math.exp(-dt / tau_s) - math.exp(-dt / tau_m))


def build_connectivity(syn, n_pre, n_post, rng):
    """Presynaptic and postsynaptic indices of a projection, sorted by (pre, post).

    ``"all"`` gives every pair, ``"one_to_one"`` the diagonal, ``"random"`` each pair
    independently with probability ``p`` (a binomial count per presynaptic neuron, then
    that many distinct targets).
    """
    if syn.connect == "all":
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
    elif syn.connect == "one_to_one":
        pre = post = np.arange(n_pre, dtype=np.int64)
    else:
        counts = rng.binomial(n_post, syn.p, size=n_pre)
        post = np.concatenate([np.sort(rng.choice(n_post, c, replace=False))
                               for c in counts] or [np.zeros(0, np.int64)]).astype(np.int64)
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), counts)
    return pre, post


def initial_weights(syn, size, rng):
    if isinstance(syn.w_init, tuple):
        return rng.uniform(syn.w_init[0], syn.w_init[1], size)
    return np.full(size, float(syn.w_init))


class NumbaSimulator:
    """Simulate a :class:`Network` with the project's compiled engine.

    Parameters
    ----------
    net : Network
        The model.
    seed : int or sequence of int
        Master seed (connectivity, initial weights and Poisson sources).
    recording : Recording, optional
        What to keep (spikes of which groups, sampled state, rate bins).

    Examples
    --------
    >>> from plasticity.spiking import LIF, Network, PoissonGroup, Synapses
    >>> net = Network(groups={"in": PoissonGroup(n=100, rate_hz=20.0), "out": LIF(n=1)},
    ...               synapses=[Synapses(source="in", target="out", w_init=0.01)])
    >>> res = NumbaSimulator(net, seed=0).run(1000.0)
    >>> res.counts["in"] > 0
    True
    """

    backend = "numba"

    def __init__(self, net: Network, *, seed=0, recording: Recording | None = None):
        if not isinstance(net, Network):
            raise InvalidParameterError(f"expected a Network, got {type(net).__name__}")
        self.net = net
        self.recording = recording or Recording()
        setup_seed, run_seed = np.random.SeedSequence(seed).spawn(2)
        setup = np.random.default_rng(setup_seed)
        self._rng = np.random.default_rng(run_seed)
        self.dt = net.dt_ms
        self.step = 0
        self._pack_groups()
        self._pack_projections(setup)
        max_delay = max((net.delay_steps(s) for s in net.synapses), default=0)
        n_total = int(self._groups[:, K.G_N].sum())
        self._ring_ids = np.zeros((max_delay + 1, n_total), dtype=np.int64)
        self._ring_cnt = np.zeros(max_delay + 1, dtype=np.int64)

    # -- packing -------------------------------------------------------------------
    def _pack_groups(self):
        net, dt = self.net, self.dt
        offsets = net.offsets()
        rows, probs, lif_rows, v0, u0 = [], [], [], [], []
        gen_steps, gen_ids = [], []
        tc_rows, timed = [], []
        self._lif_off = {}
        self._tc_off = {}
        n_lif = n_tc = n_timed = 0
        for name, g in net.groups.items():
            kind = {"lif": K.LIF, "poisson": K.POISSON, "generator": K.GENERATOR,
                    "izhikevich": K.IZH, "two_compartment": K.TC}[g.kind]
            prob = g.rate_hz * dt * 1e-3 if g.kind == "poisson" else 0.0
            neurons = g.kind in ("lif", "izhikevich", "two_compartment")
            rows.append([offsets[name], g.n, kind, n_lif if neurons else -1,
                         1 if prob > 0.05 else 0,
                         int(self.recording.records_spikes(name))])
            probs.append(prob)
            if g.kind == "lif":
                self._lif_off[name] = n_lif
                row = np.zeros(K.N_LCOLS)
                row[K.L_TAU] = g.tau_m_ms / dt
                row[K.L_REST], row[K.L_RESET], row[K.L_TH] = g.v_rest_mV, g.v_reset_mV, \
                    g.v_th_mV
                row[K.L_DEC_E] = math.exp(-dt / g.tau_e_ms)
                row[K.L_DEC_I] = math.exp(-dt / g.tau_i_ms)
                row[K.L_EE], row[K.L_EI] = g.e_e_mV, g.e_i_mV
                row[K.L_COND] = 1.0 if g.model == "conductance" else 0.0
                # steps skipped after the spike step: v is held for t_ref, i.e. it is
                # integrated again t_ref after the spike (Brian2's timestep() rounding)
                row[K.L_REF] = max(int(g.t_ref_ms / dt + 1e-3) - 1, 0)
                row[K.L_AM] = math.exp(-dt / g.tau_m_ms)
                row[K.L_KE] = step_response(dt, g.tau_m_ms, g.tau_e_ms)
                row[K.L_KI] = step_response(dt, g.tau_m_ms, g.tau_i_ms)
                lif_rows.append(np.tile(row, (g.n, 1)))
                v0.append(np.full(g.n, g.v_rest_mV if g.v_init_mV is None else g.v_init_mV))
                u0.append(np.zeros(g.n))
                n_lif += g.n
            elif g.kind == "izhikevich":
                self._lif_off[name] = n_lif
                row = np.zeros(K.N_LCOLS)
                row[K.L_IZH] = 1.0
                row[K.L_RESET], row[K.L_TH] = g.c, g.v_peak_mV
                row[K.L_DEC_E] = math.exp(-dt / g.tau_e_ms)
                row[K.L_DEC_I] = math.exp(-dt / g.tau_i_ms)
                row[K.L_A], row[K.L_B], row[K.L_D] = g.a, g.b, g.d
                row[K.L_IEXT], row[K.L_DT] = g.i_ext, dt
                row[K.L_NOISE] = g.noise
                row[K.L_METH] = 1.0 if g.method == "izhikevich2007" else 0.0
                row[K.L_GSC] = 1.0
                if g.synapse == "delta":  # input used up in one step, as a current w/dt
                    row[K.L_DEC_E] = row[K.L_DEC_I] = 0.0
                    row[K.L_GSC] = 1.0 / dt
                lif_rows.append(np.tile(row, (g.n, 1)))
                v0.append(np.full(g.n, float(g.v0)))
                u0.append(np.full(g.n, float(g.u0)))
                n_lif += g.n
            elif g.kind == "two_compartment":
                self._lif_off[name], self._tc_off[name] = n_lif, n_tc
                row = np.zeros(K.N_LCOLS)
                row[K.L_TC] = len(tc_rows) + 1
                row[K.L_DEC_E] = math.exp(-dt / g.tau_e_ms)
                row[K.L_DEC_I] = math.exp(-dt / g.tau_i_ms)
                row[K.L_EE], row[K.L_EI], row[K.L_DT] = g.E_E, g.E_I, dt
                lif_rows.append(np.tile(row, (g.n, 1)))
                v0.append(np.full(g.n, float(g.U_init)))
                u0.append(np.zeros(g.n))
                tp = np.zeros(K.N_TCOLS)
                tp[K.T_L0], tp[K.T_SOFF], tp[K.T_N] = n_lif, n_tc, g.n
                tp[K.T_GL], tp[K.T_GD] = g.g_L, g.g_D
                tp[K.T_AL] = math.exp(-dt / g.tau_L_ms)
                tp[K.T_AS] = math.exp(-dt / g.tau_s_ms)
                tp[K.T_NORM] = 1.0 / (g.tau_L_ms - g.tau_s_ms)
                tp[K.T_CPL] = g.coupling
                tp[K.T_PMAX], tp[K.T_K], tp[K.T_BETA], tp[K.T_THETA] = g.phi_max, g.k, \
                    g.beta, g.theta
                for key, c_off, c_per in (("g_E_timed", K.T_EOFF, K.T_EPER),
                                          ("g_I_timed", K.T_IOFF, K.T_IPER)):
                    table = g.timed(key)
                    if table is not None:  # (P, n) row-major: step t's row at t % P
                        tp[c_off], tp[c_per] = n_timed, table.shape[0]
                        timed.append(table.ravel())
                        n_timed += table.size
                tc_rows.append(tp)
                n_lif += g.n
                n_tc += g.n
            elif g.kind == "generator" and g.indices:
                steps = np.rint(np.asarray(g.times_ms) / dt).astype(np.int64)
                gen_steps.append(steps)
                gen_ids.append(offsets[name] + np.asarray(g.indices, dtype=np.int64))
        self._groups = np.array(rows, dtype=np.int64)
        self._probs = np.array(probs, dtype=np.float64)
        self._lif_par = np.concatenate(lif_rows) if lif_rows else np.zeros((0, K.N_LCOLS))
        self._v = np.concatenate(v0) if v0 else np.zeros(0)
        self._u = np.concatenate(u0) if u0 else np.zeros(0)
        self._ge = np.zeros(n_lif)
        self._gi = np.zeros(n_lif)
        self._ref = np.zeros(n_lif, dtype=np.int64)
        self._tc_par = np.array(tc_rows, dtype=np.float64).reshape(-1, K.N_TCOLS)
        self._tc_state = np.zeros((max(n_tc, 1), K.N_SCOLS))
        self._timed = np.concatenate(timed) if timed else np.zeros(1)
        if gen_steps:
            steps, ids = np.concatenate(gen_steps), np.concatenate(gen_ids)
            # one spike per source and step, in (step, id) order
            key = np.unique(np.stack([steps, ids], axis=1), axis=0)
            self._gen_steps, self._gen_ids = key[:, 0].copy(), key[:, 1].copy()
        else:
            self._gen_steps = np.zeros(0, np.int64)
            self._gen_ids = np.zeros(0, np.int64)
        self._gen_ptr = np.zeros(1, np.int64)

    def _pack_projections(self, rng):
        net = self.net
        offsets = net.offsets()
        proj, projf = [], []
        weights, indptr, indices, csc_ptr, csc_syn, csc_pre = [], [], [], [], [], []
        n_w = n_ptr = n_idx = n_csc = n_cscv = n_trpre = n_trpost = n_ev = n_tbl = n_c = 0
        pow_tbls = []
        self._proj_index = {}
        self._conn = {}
        for pi, syn in enumerate(net.synapses):
            src, tgt = net.groups[syn.source], net.groups[syn.target]
            sparse = syn.connect != "all"
            # dense connectivity stays implicit: no index arrays (16 bytes per synapse)
            pre, post = build_connectivity(syn, src.n, tgt.n, rng) if sparse else (None, None)
            w = initial_weights(syn, pre.size if sparse else src.n * tgt.n, rng)
            plastic = syn.plasticity
            row = np.zeros(K.N_PCOLS, dtype=np.int64)
            row[K.P_SRC], row[K.P_NSRC] = offsets[syn.source], src.n
            row[K.P_TGT], row[K.P_NTGT] = offsets[syn.target], tgt.n
            row[K.P_TLIF] = self._lif_off.get(syn.target, -1)
            row[K.P_REC] = 0 if syn.receptor == "e" else 1
            row[K.P_DELAY] = net.delay_steps(syn)
            row[K.P_SPARSE] = int(sparse)
            row[K.P_WOFF] = n_w
            row[K.P_NSYN] = w.size
            row[K.P_MOD] = -1
            f = np.zeros(K.N_FCOLS)
            f[K.F_WMIN], f[K.F_WMAX] = syn.bounds
            if syn.compartment == "dendrite":
                # PSP traces per presynaptic neuron, plastic or not (set_weights needs
                # them to keep V_w = w . PSP); the rule and its filter (D in cel)
                row[K.P_COMP], row[K.P_TDEN] = 1, self._tc_off[syn.target]
                row[K.P_TRPRE] = n_trpre
                n_trpre += src.n
                f[K.F_DP] = math.exp(-self.dt / tgt.tau_L_ms)
                f[K.F_DX] = math.exp(-self.dt / tgt.tau_s_ms)
                f[K.F_NORM] = 1.0 / (tgt.tau_L_ms - tgt.tau_s_ms)
                if plastic is not None:
                    row[K.P_PLASTIC] = K.DENDRITIC
                    f[K.F_ETA] = plastic.eta * self.dt
                    if plastic.tau_delta_ms > 0:
                        row[K.P_FILT], row[K.P_COFF] = 1, n_c
                        n_c += w.size
                        f[K.F_DC] = math.exp(-self.dt / plastic.tau_delta_ms)
            elif plastic is not None:
                row[K.P_PLASTIC] = {"pair": K.PAIR, "triplet": K.TRIPLET,
                                    "reward": K.REWARD}[plastic.kind]
                row[K.P_NEAREST] = int(plastic.pairing == "nearest")
                row[K.P_TRPRE], row[K.P_TRPOST] = n_trpre, n_trpost
                n_trpre += src.n
                n_trpost += tgt.n
                f[K.F_DP] = math.exp(-self.dt / plastic.tau_plus_ms)
                f[K.F_DM] = math.exp(-self.dt / plastic.tau_minus_ms)
                if plastic.kind == "pair":
                    row[K.P_MULT] = int(plastic.weight_dependence == "multiplicative")
                    f[K.F_AP], f[K.F_AM] = plastic.a_plus, plastic.a_minus
                    f[K.F_DX], f[K.F_DY] = f[K.F_DP], f[K.F_DM]
                elif plastic.kind == "reward":
                    f[K.F_AP], f[K.F_AM] = plastic.a_plus, plastic.a_minus
                    f[K.F_DX], f[K.F_DY] = f[K.F_DP], f[K.F_DM]
                    k = net.update_steps(syn)
                    row[K.P_UPD], row[K.P_COFF] = k, n_c
                    n_c += w.size
                    f[K.F_ETA] = plastic.eta * k * self.dt
                    f[K.F_DTON], f[K.F_DJUMP] = plastic.d_tonic, plastic.d_jump
                    f[K.F_DD] = math.exp(-self.dt / plastic.tau_d_ms)
                    f[K.F_DC] = math.exp(-k * self.dt / plastic.tau_c_ms)
                    if plastic.modulator is not None:
                        row[K.P_MOD] = offsets[plastic.modulator]
                        row[K.P_NMOD] = net.groups[plastic.modulator].n
                else:
                    f[K.F_A2P], f[K.F_A3P] = plastic.a2_plus, plastic.a3_plus
                    f[K.F_A2M], f[K.F_A3M] = plastic.a2_minus, plastic.a3_minus
                    f[K.F_DX] = math.exp(-self.dt / plastic.tau_x_ms)
                    f[K.F_DY] = math.exp(-self.dt / plastic.tau_y_ms)
            if plastic is not None and plastic.kind in ("pair", "triplet") and not sparse \
                    and tgt.n >= DEFER_MIN_POST:
                # deferred potentiation: event ring and decay table (kernel docstring)
                # at least one step's worth of events (every target spiking at once)
                # (a power of two: ring positions are a mask, not a division)
                cap = max(int(POST_HISTORY_MIN), int(POST_HISTORY_PER_NEURON * tgt.n), tgt.n,
                          1)
                cap = 1 << (cap - 1).bit_length()
                row[K.P_EV], row[K.P_EVCAP] = n_ev, cap
                n_ev += cap
                dp = float(f[K.F_DP])
                row[K.P_TBL], row[K.P_TBLN] = n_tbl, int(POW_TABLE_LEN)
                pow_tbls.append(np.array([math.pow(dp, k) for k in range(POW_TABLE_LEN)]))
                n_tbl += int(POW_TABLE_LEN)
            if sparse:
                ptr = np.zeros(src.n + 1, dtype=np.int64)
                np.cumsum(np.bincount(pre, minlength=src.n), out=ptr[1:])
                row[K.P_PTR], row[K.P_IDX] = n_ptr, n_idx
                indptr.append(ptr)
                indices.append(post.astype(np.int32))
                n_ptr += ptr.size
                n_idx += post.size
                if plastic is not None and syn.compartment != "dendrite":
                    order = np.lexsort((pre, post))
                    cptr = np.zeros(tgt.n + 1, dtype=np.int64)
                    np.cumsum(np.bincount(post, minlength=tgt.n), out=cptr[1:])
                    row[K.P_CSC] = n_csc
                    csc_ptr.append(cptr + n_cscv)
                    csc_syn.append(order.astype(np.int32))
                    csc_pre.append(pre[order].astype(np.int32))
                    n_csc += cptr.size
                    n_cscv += order.size
            weights.append(w)
            n_w += w.size
            proj.append(row)
            projf.append(f)
            self._proj_index[syn.label] = pi
            # dense connectivity is implicit; keep only sparse index arrays around
            self._conn[syn.label] = (pre, post) if sparse else (src.n, tgt.n)

        def cat(parts, dtype):
            if len(parts) == 1:  # no copy: a 10M-synapse projection is 80 MB
                return np.ascontiguousarray(parts[0], dtype=dtype)
            return np.concatenate(parts).astype(dtype, copy=False) if parts \
                else np.zeros(1, dtype)

        self._proj = np.array(proj, dtype=np.int64).reshape(-1, K.N_PCOLS)
        self._projf = np.array(projf, dtype=np.float64).reshape(-1, K.N_FCOLS)
        # eligibility traces of the reward-modulated projections, and their dopamine
        self._cel = np.zeros(max(n_c, 1))
        self._dop = np.zeros(max(len(proj), 1))
        self._W = cat(weights, np.float64)
        self._indptr = cat(indptr, np.int64)
        self._indices = cat(indices, np.int32)
        self._csc_ptr = cat(csc_ptr, np.int64)
        self._csc_syn = cat(csc_syn, np.int32)
        self._csc_pre = cat(csc_pre, np.int32)
        self._tr = [np.zeros(max(n, 1)) for n in (n_trpre, n_trpre, n_trpost, n_trpost)]
        # deferred potentiation state: event ring (target, o2) and its step-blocks (step,
        # first event), per-projection counters, per presynaptic neuron the first
        # step-block not applied yet, the step of its last arrival and its trace just
        # after it; decay factor tables
        n_ev, n_pre = max(n_ev, 1), max(n_trpre, 1)
        self._defer = [np.zeros(n_ev, np.uint32), np.zeros(n_ev),  # ev_i, ev_o2
                       np.zeros(n_ev, np.int64), np.zeros(n_ev, np.int64),  # st_t, st_e
                       np.zeros((max(len(proj), 1), 3), np.int64),  # ev_state
                       np.zeros(n_pre, np.int64), np.zeros(n_pre, np.int64),  # pre_done,
                       np.zeros(n_pre), cat(pow_tbls, np.float64)]  # _tlast, _xa; table

    def _flush(self):
        """Apply the deferred potentiations, so that ``self._W`` is current."""
        K.flush_all(self._proj, self._projf, self._W, *self._defer)

    # -- running -------------------------------------------------------------------
    @property
    def t_ms(self) -> float:
        """Simulated time so far (ms)."""
        return self.step * self.dt

    def run(self, duration_ms, *, progress=None) -> SimResult:
        """Simulate ``duration_ms`` more and return what was recorded in that span.

        Parameters
        ----------
        duration_ms : float
            Time to simulate (ms), rounded to whole steps.
        progress : callable, optional
            Called with the simulated time (ms) advanced after each compiled chunk.
        """
        if not duration_ms >= 0:
            raise InvalidParameterError(f"duration_ms must be >= 0. Got {duration_ms!r}.")
        rec, dt = self.recording, self.dt
        t0 = self.step
        t1 = t0 + int(round(duration_ms / dt))
        names = list(self.net.groups)
        bin_steps = max(1, int(round(rec.rate_bin_ms / dt)))
        n_bins = -(-(t1 - t0) // bin_steps)  # 0 for an empty run: no bins, no rates
        rate_counts = np.zeros((n_bins, len(names)), dtype=np.int64)
        every = max(1, int(round(rec.state_every_ms / dt)))
        mon_idx, mon_groups = [], []
        for gname, idx in rec.state.items():
            g = self.net.groups.get(gname)
            if g is None or g.kind not in ("lif", "izhikevich", "two_compartment"):
                raise InvalidParameterError(f"cannot record the state of '{gname}': not a "
                                            "LIF, Izhikevich or two-compartment group of this "
                                            "network")
            idx = np.asarray(idx, dtype=np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= g.n):
                raise InvalidParameterError(f"state indices of '{gname}' out of range")
            mon_idx.append(self._lif_off[gname] + idx)
            mon_groups.append((gname, idx.size))
        mon_idx = np.concatenate(mon_idx) if mon_idx else np.zeros(0, np.int64)
        first = -(-t0 // every)
        n_samples = max(0, (t1 - 1) // every - first + 1) if t1 > t0 else 0
        mon_v = np.zeros((n_samples, mon_idx.size))
        mon_g = np.zeros((n_samples, mon_idx.size))
        n_rec = int(self._groups[self._groups[:, K.G_RECORD] == 1, K.G_N].sum())
        cap = max(1 << 16, 4 * n_rec)
        out_t = np.zeros(cap, np.int64)
        out_id = np.zeros(cap, np.int64)
        out_cnt = np.zeros(1, np.int64)
        got_t, got_id = [], []
        t = t0
        while t < t1:
            stop = min(t1, t + CHUNK_STEPS)
            reached = K.simulate(
                t, stop, self._rng, self._groups, self._probs, self._lif_par, self._v,
                self._u, self._ge, self._gi, self._ref, self._proj, self._projf, self._W,
                self._indptr, self._indices, self._csc_ptr, self._csc_syn, self._csc_pre,
                *self._tr, self._ring_ids, self._ring_cnt, self._gen_steps, self._gen_ids,
                self._gen_ptr, out_t, out_id, out_cnt, rate_counts, t0, bin_steps,
                mon_idx, every, first, mon_v, mon_g, *self._defer, self._cel, self._dop,
                self._tc_par, self._tc_state, self._timed)
            n = int(out_cnt[0])
            if n:
                got_t.append(out_t[:n].copy())
                got_id.append(out_id[:n].copy())
                out_cnt[0] = 0
            if progress is not None and reached > t:
                progress((reached - t) * dt)
            t = reached
            self.step = t
        # the weights are current after every run (a flush applies each pending event
        # exactly as a later arrival would, so splitting a run changes nothing)
        self._flush()
        all_t = np.concatenate(got_t) if got_t else np.zeros(0, np.int64)
        all_id = np.concatenate(got_id) if got_id else np.zeros(0, np.int64)
        return self._result(t0, t1, names, all_t, all_id, rate_counts, bin_steps,
                            mon_groups, first, every, mon_v, mon_g)

    def _result(self, t0, t1, names, all_t, all_id, rate_counts, bin_steps, mon_groups,
                first, every, mon_v, mon_g):
        dt = self.dt
        res = SimResult(t0 * dt, t1 * dt)
        offsets = self.net.offsets()
        starts = t0 + bin_steps * np.arange(rate_counts.shape[0])
        widths = np.minimum(starts + bin_steps, t1) - starts
        for gi_, name in enumerate(names):
            g = self.net.groups[name]
            res.counts[name] = int(rate_counts[:, gi_].sum())
            res.rates[name] = (starts * dt, rate_counts[:, gi_] / (g.n * widths * dt * 1e-3))
            if self.recording.records_spikes(name):
                sel = (all_id >= offsets[name]) & (all_id < offsets[name] + g.n)
                res.spikes[name] = (all_t[sel] * dt, all_id[sel] - offsets[name])
        col = 0
        times = (first + np.arange(mon_v.shape[0])) * every * dt
        for gname, n in mon_groups:
            keys = ("U", "V_star") if self.net.groups[gname].kind == "two_compartment" \
                else ("v", "g_e")
            res.state[gname] = {"t_ms": times, keys[0]: mon_v[:, col:col + n],
                                keys[1]: mon_g[:, col:col + n]}
            col += n
        return res

    # -- synapses ------------------------------------------------------------------
    def _slice(self, label):
        if label not in self._proj_index:
            raise InvalidParameterError(f"no projection named '{label}' (known: "
                                        f"{', '.join(self._proj_index)})")
        p = self._proj[self._proj_index[label]]
        conn = self._conn[label]
        size = conn[0].size if isinstance(conn[0], np.ndarray) else conn[0] * conn[1]
        return slice(p[K.P_WOFF], p[K.P_WOFF] + size)

    def weights(self, label) -> np.ndarray:
        """A copy of projection ``label``'s weights, ordered by (pre, post)."""
        sl = self._slice(label)
        self._flush()
        return self._W[sl].copy()

    def set_weights(self, label, w):
        """Replace projection ``label``'s weights (same order as :meth:`weights`)."""
        sl = self._slice(label)
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (sl.stop - sl.start,):
            raise InvalidParameterError(f"weights of '{label}' must have shape "
                                        f"({sl.stop - sl.start},). Got {w.shape}.")
        self._flush()  # the pending potentiations precede the replacement
        p = self._proj[self._proj_index[label]]
        if p[K.P_COMP] == 1:
            # keep the dendrites' sums equal to w . x for the new weights
            pre, post = self.connectivity(label)
            dw = w - self._W[sl]
            rows = p[K.P_TDEN] + post
            x_L, x_s = self._tr[0], self._tr[1]
            np.add.at(self._tc_state[:, K.S_DL], rows, dw * x_L[p[K.P_TRPRE] + pre])
            np.add.at(self._tc_state[:, K.S_DS], rows, dw * x_s[p[K.P_TRPRE] + pre])
        self._W[sl] = w

    def _reward_index(self, label):
        self._slice(label)
        pi = self._proj_index[label]
        if self._proj[pi, K.P_PLASTIC] != K.REWARD:
            raise InvalidParameterError(f"projection '{label}' is not reward-modulated "
                                        "(plasticity=RewardSTDP)")
        return pi

    def modulator(self, label) -> float:
        """The neuromodulator (dopamine) level ``d`` of reward-modulated projection
        ``label``."""
        return float(self._dop[self._reward_index(label)])

    def set_modulator(self, label, value):
        """Set the neuromodulator level ``d`` of projection ``label`` now (a reward
        delivered by the experiment, or a TD error); it then decays with ``tau_d``."""
        value = float(value)
        if not math.isfinite(value):
            raise InvalidParameterError(f"The modulator value must be finite. Got {value}.")
        self._dop[self._reward_index(label)] = value

    def eligibility(self, label) -> np.ndarray:
        """A copy of reward-modulated projection ``label``'s eligibility traces (same
        order as :meth:`weights`)."""
        p = self._proj[self._reward_index(label)]
        return self._cel[p[K.P_COFF]:p[K.P_COFF] + p[K.P_NSYN]].copy()

    def connectivity(self, label) -> tuple[np.ndarray, np.ndarray]:
        """Presynaptic and postsynaptic indices of projection ``label``'s synapses."""
        self._slice(label)
        conn = self._conn[label]
        if isinstance(conn[0], np.ndarray):
            return conn[0].copy(), conn[1].copy()
        n_pre, n_post = conn
        return (np.repeat(np.arange(n_pre), n_post), np.tile(np.arange(n_post), n_pre))

    # -- checkpoints ---------------------------------------------------------------
    def _state_arrays(self):
        # every array the simulator keeps (state and, harmlessly, constants), found by
        # name so that arrays added to the engine later are saved too
        out = {}
        for name, value in vars(self).items():
            if not name.startswith("_"):
                continue
            if isinstance(value, np.ndarray):
                out[name] = value
            elif isinstance(value, (list, tuple)) and value and all(
                    isinstance(v, np.ndarray) for v in value):
                out[name] = list(value)
        return out

    def get_state(self) -> dict:
        """Everything needed to continue the simulation bit for bit: copies of the
        simulator's arrays, the step and the state of its random generator."""
        import copy

        arrays = {k: ([a.copy() for a in v] if isinstance(v, list) else v.copy())
                  for k, v in self._state_arrays().items()}
        return {"step": int(self.step), "rng": copy.deepcopy(self._rng.bit_generator.state),
                "arrays": arrays}

    def set_state(self, state: dict):
        """Restore :meth:`get_state`'s result into this simulator (built from the same
        network and seed); arrays are copied in place."""
        mine = self._state_arrays()
        saved = state["arrays"]
        if set(mine) != set(saved):
            raise InvalidParameterError("the saved simulator state does not fit this "
                                        f"simulator (arrays {sorted(set(mine) ^ set(saved))})")
        for name, target in mine.items():
            pairs = zip(target, saved[name], strict=True) if isinstance(target, list) \
                else [(target, saved[name])]
            for dst, src in pairs:
                src = np.asarray(src)
                if dst.shape != src.shape or dst.dtype != src.dtype:
                    raise InvalidParameterError(
                        f"the saved simulator array {name} has shape {src.shape} "
                        f"({src.dtype}); this simulator's is {dst.shape} ({dst.dtype})")
                np.copyto(dst, src)
        self.step = int(state["step"])
        self._rng.bit_generator.state = state["rng"]
