"""Packing a :class:`~plasticity.spiking.network.Network` into the flat arrays of the
compiled step loop (:mod:`plasticity._kernels.spiking`; its column constants ``K.*``).

Memory: a dense (``connect="all"``) projection stores one float64 weight per synapse
(8 bytes); a sparse one adds an int32 target index (12 bytes), and a plastic sparse one
the transposed index (20 bytes). Traces are per neuron, not per synapse. A plastic dense
projection onto ``DEFER_MIN_POST`` or more targets defers its potentiation (see
:mod:`plasticity._kernels.spiking`): it adds an event ring of
``max(POST_HISTORY_MIN, POST_HISTORY_PER_NEURON * n_post, n_post)`` postsynaptic spikes,
rounded up to a power of two (28 bytes each), 24 bytes per presynaptic neuron and a table
of ``POW_TABLE_LEN`` trace decay factors -- nothing per synapse. Such a projection onto
``2 * BLOCK_MIN_POST`` or more targets is split into target blocks (a power of two of
them, at most ``MAX_BLOCKS``), each with its own ring (the capacity above for the block's
targets) and 8 more bytes per presynaptic neuron: the engine's threads share the blocks.

Two-compartment neurons keep their dendritic state in ``tc_state`` (per neuron: the two
filtered sums of ``V_w``, ``V*`` and the learning signal), their parameters in ``tc_par``
and the teacher tables in ``timed``.
"""

from __future__ import annotations

import math

import numpy as np

from plasticity._kernels import spiking as K

__all__ = ["pack_groups", "pack_projections", "step_response", "DEFER_MIN_POST",
           "POST_HISTORY_MIN", "POST_HISTORY_PER_NEURON", "POW_TABLE_LEN",
           "BLOCK_MIN_POST", "MAX_BLOCKS", "target_blocks"]

#: capacity of a plastic dense projection's ring of deferred postsynaptic spikes, per
#: postsynaptic neuron, with a floor; when the ring is full the rows lagging behind are
#: flushed (exact whatever the capacity: it only trades memory against flush frequency)
POST_HISTORY_PER_NEURON = 64
POST_HISTORY_MIN = 4096
#: plastic dense projections onto fewer targets potentiate eagerly (a column walk then
#: touches at most a few neighbouring synapses per cache line; deferral costs more)
DEFER_MIN_POST = 8
#: target blocks of a deferred projection (the unit of work of the engine's threads):
#: at least this many targets each, and at most this many blocks
BLOCK_MIN_POST = 256
MAX_BLOCKS = 64
#: entries of the table of presynaptic trace decay factors ``dp**n`` (larger step
#: differences call ``pow``)
POW_TABLE_LEN = 8192


def step_response(dt, tau_m, tau_s):
    """Change of ``v`` over one step ``dt`` caused by a synaptic current of 1 mV at the
    start of the step decaying with ``tau_s``, for ``tau_m dv/dt = -v + I`` (exact)."""
    if abs(tau_s - tau_m) < 1e-9 * tau_m:
        return dt / tau_m * math.exp(-dt / tau_m)
    return tau_s / (tau_s - tau_m) * (math.exp(-dt / tau_s) - math.exp(-dt / tau_m))


def target_blocks(n_post):
    """Number of target blocks of a deferred projection onto ``n_post`` neurons: the
    largest power of two (so that 2, 4, 8 ... threads get equal shares) with at least
    ``BLOCK_MIN_POST`` targets per block, at most ``MAX_BLOCKS``, at least 1. A function of
    the network only, never of the thread count: the blocking does not change any result
    (see :mod:`plasticity._kernels.spiking`), but a fixed layout keeps checkpoints valid
    across thread counts."""
    n = max(1, min(int(MAX_BLOCKS), int(n_post) // max(int(BLOCK_MIN_POST), 1)))
    return 1 << (n.bit_length() - 1)


def pack_groups(net, recording):
    """The groups as the kernel's arrays.

    Returns
    -------
    arrays : dict of str to ndarray
        ``groups`` (one row per group, columns ``K.G_*``), ``probs`` (spike probability
        per step of Poisson groups), ``lif_par`` (per neuron of every LIF, Izhikevich and
        two-compartment group, columns ``K.L_*``), the state ``v``, ``u``, ``ge``,
        ``gi``, ``ref``, the two-compartment parameters ``tc_par`` (per group,
        ``K.T_*``), state ``tc_state`` (per neuron, ``K.S_*``) and teacher tables
        ``timed``, and the spike generators' ``gen_steps``, ``gen_ids`` and ``gen_ptr``.
    lif_off : dict of str to int
        Group -> index of its first neuron in the per-neuron arrays.
    tc_off : dict of str to int
        Two-compartment group -> index of its first neuron in ``tc_state``.
    """
    dt = net.dt_ms
    out, lif_off, tc_off = {}, {}, {}
    offsets = net.offsets()
    rows, probs, lif_rows, v0, u0 = [], [], [], [], []
    gen_steps, gen_ids = [], []
    tc_rows, timed = [], []
    n_lif = n_tc = n_timed = 0
    for name, g in net.groups.items():
        kind = {"lif": K.LIF, "poisson": K.POISSON, "generator": K.GENERATOR,
                "izhikevich": K.IZH, "two_compartment": K.TC}[g.kind]
        prob = g.rate_hz * dt * 1e-3 if g.kind == "poisson" else 0.0
        neurons = g.kind in ("lif", "izhikevich", "two_compartment")
        rows.append([offsets[name], g.n, kind, n_lif if neurons else -1,
                     1 if prob > 0.05 else 0,
                     int(recording.records_spikes(name))])
        probs.append(prob)
        if g.kind == "lif":
            lif_off[name] = n_lif
            row, v, u = _lif_row(g, dt)
        elif g.kind == "izhikevich":
            lif_off[name] = n_lif
            row, v, u = _izhikevich_row(g, dt)
        elif g.kind == "two_compartment":
            lif_off[name], tc_off[name] = n_lif, n_tc
            row, v, u, tp, tables = _two_compartment_rows(g, dt, len(tc_rows), n_lif, n_tc,
                                                          n_timed)
            tc_rows.append(tp)
            timed.extend(tables)
            n_timed += sum(t.size for t in tables)
            n_tc += g.n
        if neurons:
            lif_rows.append(np.tile(row, (g.n, 1)))
            v0.append(v)
            u0.append(u)
            n_lif += g.n
        if g.kind == "generator" and g.indices:
            steps = np.rint(np.asarray(g.times_ms) / dt).astype(np.int64)
            gen_steps.append(steps)
            gen_ids.append(offsets[name] + np.asarray(g.indices, dtype=np.int64))
    out["groups"] = np.array(rows, dtype=np.int64)
    out["probs"] = np.array(probs, dtype=np.float64)
    out["lif_par"] = np.concatenate(lif_rows) if lif_rows else np.zeros((0, K.N_LCOLS))
    out["v"] = np.concatenate(v0) if v0 else np.zeros(0)
    out["u"] = np.concatenate(u0) if u0 else np.zeros(0)
    out["ge"] = np.zeros(n_lif)
    out["gi"] = np.zeros(n_lif)
    out["ref"] = np.zeros(n_lif, dtype=np.int64)
    out["tc_par"] = np.array(tc_rows, dtype=np.float64).reshape(-1, K.N_TCOLS)
    out["tc_state"] = np.zeros((max(n_tc, 1), K.N_SCOLS))
    out["timed"] = np.concatenate(timed) if timed else np.zeros(1)
    if gen_steps:
        steps, ids = np.concatenate(gen_steps), np.concatenate(gen_ids)
        # one spike per source and step, in (step, id) order
        key = np.unique(np.stack([steps, ids], axis=1), axis=0)
        out["gen_steps"], out["gen_ids"] = key[:, 0].copy(), key[:, 1].copy()
    else:
        out["gen_steps"] = np.zeros(0, np.int64)
        out["gen_ids"] = np.zeros(0, np.int64)
    out["gen_ptr"] = np.zeros(1, np.int64)
    return out, lif_off, tc_off


def _lif_row(g, dt):
    """The ``lif_par`` row of a LIF group and its initial ``v`` and ``u``."""
    row = np.zeros(K.N_LCOLS)
    row[K.L_TAU] = g.tau_m_ms / dt
    row[K.L_REST], row[K.L_RESET], row[K.L_TH] = g.v_rest_mV, g.v_reset_mV, g.v_th_mV
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
    v0 = np.full(g.n, g.v_rest_mV if g.v_init_mV is None else g.v_init_mV)
    return row, v0, np.zeros(g.n)


def _izhikevich_row(g, dt):
    """The ``lif_par`` row of an Izhikevich group and its initial ``v`` and ``u``."""
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
    return row, np.full(g.n, float(g.v0)), np.full(g.n, float(g.u0))


def _two_compartment_rows(g, dt, index, n_lif, n_tc, n_timed):
    """The ``lif_par`` row of the ``index``-th two-compartment group (its first neuron
    ``n_lif`` in the per-neuron arrays, ``n_tc`` in ``tc_state``), its initial ``U`` and
    ``u``, its ``tc_par`` row, and its teacher tables (flattened, to be appended to
    ``timed`` after its first ``n_timed`` values)."""
    row = np.zeros(K.N_LCOLS)
    row[K.L_TC] = index + 1
    row[K.L_DEC_E] = math.exp(-dt / g.tau_e_ms)
    row[K.L_DEC_I] = math.exp(-dt / g.tau_i_ms)
    row[K.L_EE], row[K.L_EI], row[K.L_DT] = g.E_E, g.E_I, dt
    tp = np.zeros(K.N_TCOLS)
    tp[K.T_L0], tp[K.T_SOFF], tp[K.T_N] = n_lif, n_tc, g.n
    tp[K.T_GL], tp[K.T_GD] = g.g_L, g.g_D
    tp[K.T_AL] = math.exp(-dt / g.tau_L_ms)
    tp[K.T_AS] = math.exp(-dt / g.tau_s_ms)
    tp[K.T_NORM] = 1.0 / (g.tau_L_ms - g.tau_s_ms)
    tp[K.T_CPL] = g.coupling
    tp[K.T_PMAX], tp[K.T_K], tp[K.T_BETA], tp[K.T_THETA] = g.phi_max, g.k, g.beta, g.theta
    tables = []
    for key, c_off, c_per in (("g_E_timed", K.T_EOFF, K.T_EPER),
                              ("g_I_timed", K.T_IOFF, K.T_IPER)):
        table = g.timed(key)
        if table is not None:  # (P, n) row-major: step t's row at t % P
            tp[c_off], tp[c_per] = n_timed, table.shape[0]
            tables.append(table.ravel())
            n_timed += table.size
    return row, np.full(g.n, float(g.U_init)), np.zeros(g.n), tp, tables


def pack_projections(net, lif_off, tc_off, initial, conn):
    """The projections as the kernel's arrays.

    Parameters
    ----------
    net : Network
    lif_off, tc_off : dict
        From :func:`pack_groups`.
    initial : iterable of (Synapses, ndarray)
        Every projection in order with its initial weights
        (``Simulator._initial_synapses``), which records the projection's connectivity in
        ``conn`` (label -> ``(pre, post)`` of a sparse projection, ``(n_pre, n_post)`` of
        a dense one) before yielding it.
    conn : dict

    Returns
    -------
    arrays : dict
        ``proj`` and ``projf`` (one row per projection, columns ``K.P_*`` and
        ``K.F_*``), the eligibility ``cel`` and dopamine ``dop``, the weights ``W``, the
        sparse indices (``indptr``, ``indices``; ``csc_ptr``, ``csc_syn``, ``csc_pre``
        of the transposed index), the traces ``tr`` (a list of four arrays) and the
        deferred-potentiation state ``defer`` (a list, see the kernel).
    proj_index : dict of str to int
        Label -> row of ``proj``.
    """
    dt = net.dt_ms
    out, proj_index = {}, {}
    offsets = net.offsets()
    proj, projf = [], []
    weights, indptr, indices, csc_ptr, csc_syn, csc_pre = [], [], [], [], [], []
    n_w = n_ptr = n_idx = n_csc = n_cscv = n_trpre = n_trpost = n_ev = n_tbl = n_c = 0
    # ev_state rows: one per projection (its first target block), then the further blocks
    n_rings, n_pdone = len(net.synapses), 0
    pow_tbls = []
    for pi, (syn, w) in enumerate(initial):
        src, tgt = net.groups[syn.source], net.groups[syn.target]
        sparse = syn.connect != "all"
        # dense connectivity stays implicit: no index arrays (16 bytes per synapse)
        pre, post = conn[syn.label] if sparse else (None, None)
        plastic = syn.plasticity
        row = np.zeros(K.N_PCOLS, dtype=np.int64)
        row[K.P_SRC], row[K.P_NSRC] = offsets[syn.source], src.n
        row[K.P_TGT], row[K.P_NTGT] = offsets[syn.target], tgt.n
        row[K.P_TLIF] = lif_off.get(syn.target, -1)
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
            row[K.P_COMP], row[K.P_TDEN] = 1, tc_off[syn.target]
            row[K.P_TRPRE] = n_trpre
            n_trpre += src.n
            f[K.F_DP] = math.exp(-dt / tgt.tau_L_ms)
            f[K.F_DX] = math.exp(-dt / tgt.tau_s_ms)
            f[K.F_NORM] = 1.0 / (tgt.tau_L_ms - tgt.tau_s_ms)
            if plastic is not None:
                row[K.P_PLASTIC] = K.DENDRITIC
                f[K.F_ETA] = plastic.eta * dt
                if plastic.tau_delta_ms > 0:
                    row[K.P_FILT], row[K.P_COFF] = 1, n_c
                    n_c += w.size
                    f[K.F_DC] = math.exp(-dt / plastic.tau_delta_ms)
        elif plastic is not None:
            row[K.P_PLASTIC] = {"pair": K.PAIR, "triplet": K.TRIPLET,
                                "reward": K.REWARD}[plastic.kind]
            row[K.P_NEAREST] = int(plastic.pairing == "nearest")
            row[K.P_TRPRE], row[K.P_TRPOST] = n_trpre, n_trpost
            n_trpre += src.n
            n_trpost += tgt.n
            f[K.F_DP] = math.exp(-dt / plastic.tau_plus_ms)
            f[K.F_DM] = math.exp(-dt / plastic.tau_minus_ms)
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
                f[K.F_ETA] = plastic.eta * k * dt
                f[K.F_DTON], f[K.F_DJUMP] = plastic.d_tonic, plastic.d_jump
                f[K.F_DD] = math.exp(-dt / plastic.tau_d_ms)
                f[K.F_DC] = math.exp(-k * dt / plastic.tau_c_ms)
                if plastic.modulator is not None:
                    row[K.P_MOD] = offsets[plastic.modulator]
                    row[K.P_NMOD] = net.groups[plastic.modulator].n
            else:
                f[K.F_A2P], f[K.F_A3P] = plastic.a2_plus, plastic.a3_plus
                f[K.F_A2M], f[K.F_A3M] = plastic.a2_minus, plastic.a3_minus
                f[K.F_DX] = math.exp(-dt / plastic.tau_x_ms)
                f[K.F_DY] = math.exp(-dt / plastic.tau_y_ms)
        if plastic is not None and plastic.kind in ("pair", "triplet") and not sparse \
                and tgt.n >= DEFER_MIN_POST:
            # deferred potentiation: event ring and decay table (kernel docstring)
            # at least one step's worth of events (every target spiking at once)
            # (a power of two: ring positions are a mask, not a division)
            # one ring per target block (blocks of bw targets, the last one shorter)
            nb = target_blocks(tgt.n)
            bw = -(-tgt.n // nb)
            cap = max(int(POST_HISTORY_MIN), int(POST_HISTORY_PER_NEURON * bw), bw, 1)
            cap = 1 << (cap - 1).bit_length()
            row[K.P_EV], row[K.P_EVCAP] = n_ev, cap
            row[K.P_NBLK], row[K.P_BW] = nb, bw
            row[K.P_RING], row[K.P_PDONE] = n_rings, n_pdone
            n_ev += cap * nb
            n_rings += nb - 1
            n_pdone += nb * src.n
            dp = float(f[K.F_DP])
            row[K.P_TBL], row[K.P_TBLN] = n_tbl, int(POW_TABLE_LEN)
            pow_tbls.append(np.array([math.pow(dp, k) for k in range(POW_TABLE_LEN)]))
            n_tbl += int(POW_TABLE_LEN)
        elif not sparse:
            # target blocks for the threads (no ring: static or eager potentiation)
            row[K.P_NBLK] = target_blocks(tgt.n)
            row[K.P_BW] = -(-tgt.n // row[K.P_NBLK])
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
        proj_index[syn.label] = pi

    def cat(parts, dtype):
        if len(parts) == 1:  # no copy: a 10M-synapse projection is 80 MB
            return np.ascontiguousarray(parts[0], dtype=dtype)
        return np.concatenate(parts).astype(dtype, copy=False) if parts \
            else np.zeros(1, dtype)

    out["proj"] = np.array(proj, dtype=np.int64).reshape(-1, K.N_PCOLS)
    out["projf"] = np.array(projf, dtype=np.float64).reshape(-1, K.N_FCOLS)
    # eligibility traces of the reward-modulated projections, and their dopamine
    out["cel"] = np.zeros(max(n_c, 1))
    out["dop"] = np.zeros(max(len(proj), 1))
    out["W"] = cat(weights, np.float64)
    out["indptr"] = cat(indptr, np.int64)
    out["indices"] = cat(indices, np.int32)
    out["csc_ptr"] = cat(csc_ptr, np.int64)
    out["csc_syn"] = cat(csc_syn, np.int32)
    out["csc_pre"] = cat(csc_pre, np.int32)
    out["tr"] = [np.zeros(max(n, 1)) for n in (n_trpre, n_trpre, n_trpost, n_trpost)]
    # deferred potentiation state: event rings (target, o2) and their step-blocks
    # (step, first event), per-ring counters, per presynaptic neuron and target block the
    # first step-block not applied yet, the step of its last arrival and its trace just
    # after it (as that block last saw them); decay factor tables
    n_ev = max(n_ev, 1)
    out["defer"] = [np.zeros(n_ev, np.uint32), np.zeros(n_ev),  # ev_i, ev_o2
                   np.zeros(n_ev, np.int64), np.zeros(n_ev, np.int64),  # st_t, st_e
                   np.zeros((max(n_rings, 1), 3), np.int64),  # ev_state
                   np.zeros(max(n_pdone, 1), np.int64),  # pre_done
                   np.zeros(max(n_pdone, 1), np.int64),  # pre_tlast
                   np.zeros(max(n_pdone, 1)),  # pre_xa
                   cat(pow_tbls, np.float64)]  # decay tables
    return out, proj_index
