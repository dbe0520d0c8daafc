"""The spiking engine's step loop, compiled (twin: ``tests/twins/spiking.py``).

One call advances a whole network from step ``t0`` to ``t1`` with plasticity inside the
loop. The network arrives packed into flat arrays by :mod:`plasticity.spiking.engine`,
which validates everything; these kernels trust it.

Order within a step (the same as Brian2's default schedule, so both backends agree):
traces decay; LIF neurons integrate (exponential Euler) and their synaptic variables
decay; thresholds (LIF, Poisson, generators, in group order); every projection's
presynaptic pathway (arrivals of spikes sent ``delay`` steps earlier: propagation of the
old weight, then depression, then the presynaptic traces jump); every projection's
postsynaptic pathway (potentiation, then the postsynaptic traces jump); resets.

Traces are kept per neuron and per projection, not per synapse: with a homogeneous delay
every synapse of a presynaptic neuron sees the same trace, so this is exact and makes a
spike's work one contiguous pass over a weight row.
"""

import math

import numpy as np

from plasticity._config import jit

# group kinds
LIF, POISSON, GENERATOR = 0, 1, 2
# columns of the per-group integer table
G_OFF, G_N, G_KIND, G_LIF, G_METHOD, G_RECORD = 0, 1, 2, 3, 4, 5
# columns of the per-neuron LIF parameter table (L_TAU is tau_m in steps, L_AM its decay
# factor exp(-dt/tau_m), L_REF the refractory period in steps)
L_TAU, L_REST, L_RESET, L_TH, L_DEC_E, L_DEC_I, L_EE, L_EI, L_COND, L_REF, L_AM = range(11)
# columns of the per-projection integer table
(P_SRC, P_NSRC, P_TGT, P_NTGT, P_TLIF, P_REC, P_DELAY, P_SPARSE, P_PLASTIC, P_NEAREST,
 P_MULT, P_WOFF, P_PTR, P_CSC, P_TRPRE, P_TRPOST, P_IDX) = range(17)
# columns of the per-projection float table
(F_WMIN, F_WMAX, F_AP, F_AM, F_A2P, F_A3P, F_A2M, F_A3M, F_DP, F_DM, F_DX, F_DY) = range(12)
PAIR, TRIPLET = 1, 2


@jit
def _clip(w, lo, hi):
    if w < lo:
        return lo
    if w > hi:
        return hi
    return w


@jit
def _depress(w, p, pf, y1, r2):
    """Weight after a presynaptic event, given the post traces and the own pre trace."""
    if p[P_PLASTIC] == PAIR:
        if p[P_MULT]:
            w = w - pf[F_AM] * w * y1
        else:
            w = w - pf[F_AM] * pf[F_WMAX] * y1
    else:
        w = w - pf[F_WMAX] * y1 * (pf[F_A2M] + pf[F_A3M] * r2)
    return _clip(w, pf[F_WMIN], pf[F_WMAX])


@jit
def _potentiate(w, p, pf, x1, o2):
    """Weight after a postsynaptic event, given the pre trace and the own post trace."""
    if p[P_PLASTIC] == PAIR:
        if p[P_MULT]:
            w = w + pf[F_AP] * (pf[F_WMAX] - w) * x1
        else:
            w = w + pf[F_AP] * pf[F_WMAX] * x1
    else:
        w = w + pf[F_WMAX] * x1 * (pf[F_A2P] + pf[F_A3P] * o2)
    return _clip(w, pf[F_WMIN], pf[F_WMAX])


@jit
def _jump(trace, k, nearest):
    if nearest:
        trace[k] = 1.0
    else:
        trace[k] += 1.0


@jit
def _sample_poisson(rng, gid0, n, prob, method, ids, cnt, mark):
    """Append the sources of one Poisson group that fire in this step to ``ids``."""
    if prob <= 0.0:
        return cnt
    if method == 1:  # dense: one Bernoulli draw per source
        for k in range(n):
            if rng.random() < prob:
                ids[cnt] = gid0 + k
                cnt += 1
        return cnt
    # sparse: the number of firing sources, then that many distinct sources, uniformly;
    # equal in law to n independent Bernoulli(prob) draws, at the cost of ~n*prob draws
    m = rng.binomial(n, prob)
    start = cnt
    while cnt - start < m:
        k = rng.integers(0, n)
        if mark[k] == 0:
            mark[k] = 1
            ids[cnt] = gid0 + k
            cnt += 1
    for q in range(start, cnt):
        mark[ids[q] - gid0] = 0
    # sort this group's ids so that the event order does not depend on the draw order
    seg = ids[start:cnt]
    seg.sort()
    return cnt


@jit
def _pre_events(p, pf, ids, n_ids, W, indptr, indices, ge, gi, tr_pre1, tr_pre2,
                tr_post1, tr_post2):
    src0, nsrc, tgt_lif = p[P_SRC], p[P_NSRC], p[P_TLIF]
    ntgt, woff, sparse, plastic = p[P_NTGT], p[P_WOFF], p[P_SPARSE], p[P_PLASTIC]
    g = ge if p[P_REC] == 0 else gi
    trpre, trpost = p[P_TRPRE], p[P_TRPOST]
    for q in range(n_ids):
        j = ids[q] - src0
        if j < 0 or j >= nsrc:
            continue
        r2 = tr_pre2[trpre + j] if plastic else 0.0
        if sparse:
            lo, hi = indptr[p[P_PTR] + j], indptr[p[P_PTR] + j + 1]
        else:
            lo, hi = j * ntgt, (j + 1) * ntgt
        for s in range(lo, hi):
            i = indices[p[P_IDX] + s] if sparse else s - lo
            w = W[woff + s]
            if tgt_lif >= 0:
                g[tgt_lif + i] += w
            if plastic:
                W[woff + s] = _depress(w, p, pf, tr_post1[trpost + i], r2)
        if plastic:
            _jump(tr_pre1, trpre + j, p[P_NEAREST])
            _jump(tr_pre2, trpre + j, p[P_NEAREST])


@jit
def _post_events(p, pf, ids, n_ids, W, csc_ptr, csc_syn, csc_pre, tr_pre1, tr_post1,
                 tr_post2):
    tgt0, ntgt, nsrc, woff = p[P_TGT], p[P_NTGT], p[P_NSRC], p[P_WOFF]
    trpre, trpost = p[P_TRPRE], p[P_TRPOST]
    for q in range(n_ids):
        i = ids[q] - tgt0
        if i < 0 or i >= ntgt:
            continue
        o2 = tr_post2[trpost + i]
        if p[P_SPARSE]:
            c0 = p[P_CSC]
            for s in range(csc_ptr[c0 + i], csc_ptr[c0 + i + 1]):
                syn = woff + csc_syn[s]
                W[syn] = _potentiate(W[syn], p, pf, tr_pre1[trpre + csc_pre[s]], o2)
        else:
            for j in range(nsrc):
                syn = woff + j * ntgt + i
                W[syn] = _potentiate(W[syn], p, pf, tr_pre1[trpre + j], o2)
        _jump(tr_post1, trpost + i, p[P_NEAREST])
        _jump(tr_post2, trpost + i, p[P_NEAREST])


@jit
def simulate(t0, t1, rng, groups, probs, lif_par, v, ge, gi, ref, proj, projf, W, indptr,
             indices, csc_ptr, csc_syn, csc_pre, tr_pre1, tr_pre2, tr_post1, tr_post2,
             ring_ids, ring_cnt, gen_steps, gen_ids, gen_ptr, out_t, out_id, out_cnt,
             rate_counts, bin0, bin_steps, mon_idx, mon_every, mon_first, mon_v, mon_g):
    """Advance the network from step ``t0`` up to (not including) ``t1``.

    Returns the first step not simulated: ``t1``, or earlier when the spike record
    (``out_t``/``out_id``, filled up to ``out_cnt[0]``) has no room for another step; the
    caller empties it and calls again from there. All state arrays are updated in place.
    """
    n_groups = groups.shape[0]
    n_proj = proj.shape[0]
    n_lif = v.shape[0]
    ring_len = ring_cnt.shape[0]
    n_total = ring_ids.shape[1]
    mark = np.zeros(n_total, dtype=np.uint8)
    spiked = np.zeros(n_lif, dtype=np.uint8)
    cap = out_t.shape[0]
    n_rec = 0
    for g in range(n_groups):
        if groups[g, G_RECORD]:
            n_rec += groups[g, G_N]
    for t in range(t0, t1):
        if out_cnt[0] + n_rec > cap:
            return t
        row = t % ring_len
        ids = ring_ids[row]
        # -- traces decay ------------------------------------------------------------
        for pi in range(n_proj):
            p, pf = proj[pi], projf[pi]
            if p[P_PLASTIC]:
                for j in range(p[P_NSRC]):
                    tr_pre1[p[P_TRPRE] + j] *= pf[F_DP]
                    tr_pre2[p[P_TRPRE] + j] *= pf[F_DX]
                for i in range(p[P_NTGT]):
                    tr_post1[p[P_TRPOST] + i] *= pf[F_DM]
                    tr_post2[p[P_TRPOST] + i] *= pf[F_DY]
        # -- LIF integration ---------------------------------------------------------
        for k in range(n_lif):
            lp = lif_par[k]
            e, ii = ge[k], gi[k]
            if ref[k] > 0:
                ref[k] -= 1
            elif lp[L_COND] > 0:
                gtot = 1.0 + e + ii
                vinf = (lp[L_REST] + e * lp[L_EE] + ii * lp[L_EI]) / gtot
                v[k] = vinf + (v[k] - vinf) * math.exp(-gtot / lp[L_TAU])
            else:
                vinf = lp[L_REST] + e - ii
                v[k] = vinf + (v[k] - vinf) * lp[L_AM]
            ge[k] = e * lp[L_DEC_E]
            gi[k] = ii * lp[L_DEC_I]
        # -- thresholds --------------------------------------------------------------
        cnt = 0
        for g in range(n_groups):
            gid0, n, kind = groups[g, G_OFF], groups[g, G_N], groups[g, G_KIND]
            start = cnt
            if kind == LIF:
                l0 = groups[g, G_LIF]
                for k in range(l0, l0 + n):
                    if v[k] > lif_par[k, L_TH] and ref[k] == 0:
                        ids[cnt] = gid0 + k - l0
                        cnt += 1
                        spiked[k] = 1
            elif kind == POISSON:
                cnt = _sample_poisson(rng, gid0, n, probs[g], groups[g, G_METHOD], ids,
                                      cnt, mark)
            else:
                q = gen_ptr[0]
                while q < gen_steps.shape[0] and gen_steps[q] < t:
                    q += 1
                while q < gen_steps.shape[0] and gen_steps[q] == t:
                    if gid0 <= gen_ids[q] < gid0 + n:
                        ids[cnt] = gen_ids[q]
                        cnt += 1
                    q += 1
            b = (t - bin0) // bin_steps
            rate_counts[b, g] += cnt - start
            if groups[g, G_RECORD]:
                for q in range(start, cnt):
                    out_t[out_cnt[0]] = t
                    out_id[out_cnt[0]] = ids[q]
                    out_cnt[0] += 1
        # generators of all groups share one sorted list: advance past this step
        q = gen_ptr[0]
        while q < gen_steps.shape[0] and gen_steps[q] <= t:
            q += 1
        gen_ptr[0] = q
        ring_cnt[row] = cnt
        # -- presynaptic pathways (arrivals after each projection's delay) ----------
        for pi in range(n_proj):
            d = proj[pi, P_DELAY]
            if t - d < 0:
                continue
            arow = (t - d) % ring_len
            _pre_events(proj[pi], projf[pi], ring_ids[arow], ring_cnt[arow], W, indptr,
                        indices, ge, gi, tr_pre1, tr_pre2, tr_post1, tr_post2)
        # -- postsynaptic pathways ---------------------------------------------------
        for pi in range(n_proj):
            if proj[pi, P_PLASTIC]:
                _post_events(proj[pi], projf[pi], ids, cnt, W, csc_ptr, csc_syn, csc_pre,
                             tr_pre1, tr_post1, tr_post2)
        # -- resets and monitors -----------------------------------------------------
        for k in range(n_lif):
            if spiked[k]:
                v[k] = lif_par[k, L_RESET]
                ref[k] = np.int64(lif_par[k, L_REF])
                spiked[k] = 0
        if mon_idx.shape[0] > 0 and t % mon_every == 0:
            s = t // mon_every - mon_first
            for m in range(mon_idx.shape[0]):
                mon_v[s, m] = v[mon_idx[m]]
                mon_g[s, m] = ge[mon_idx[m]]
    return t1
