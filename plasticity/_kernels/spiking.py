"""The spiking engine's step loop, compiled (twin: ``tests/twins/spiking.py``). One file
(over 400 lines) by design: Numba's cache would go stale across files (see below).

One call advances a whole network from step ``t0`` to ``t1`` with plasticity inside the
loop. The network arrives packed into flat arrays by :mod:`plasticity.spiking.numba`,
which validates everything; these kernels trust it.

Why this file is one piece (over 400 lines): ``simulate`` and the jitted helpers it calls
(the event pathways, deferred potentiation, the dendritic and modulated phases) and the
column constants they index with are compiled together and cached (``cache=True``).
Numba invalidates a cached function only when *its own* source file changes: a change to
a helper or a constant in another file would leave the stale machine code of ``simulate``
in ``__pycache__`` and run it silently (Numba's documented caching limitation; globals
are frozen into the cached code as constants). Splitting the loop across files would
therefore trade a shorter file for wrong numbers after an edit; passing the helpers in
as arguments would put an indirection into the hot path. The jitted imports from other
files are the exceptions that prove the point: :func:`plasticity._kernels.dendritic._phi_h`
and pair STDP's weight change (:mod:`plasticity._kernels.stdp`, shared with the
escape-noise trials so that the rule is written once). After changing either, clear
``plasticity/_kernels/__pycache__``.

Order within a step (the same as Brian2's default schedule, so both backends agree):
traces decay; LIF neurons integrate (conductance-based: exponential Euler with the
conductances of the start of the step; current-based: exactly), Izhikevich neurons integrate
(forward Euler for ``v`` and ``u``, both from the start-of-step values), and their
synaptic variables decay; thresholds (LIF ``v > v_th`` outside refractoriness,
Izhikevich ``v >= v_peak``, Poisson, generators, in group order); every projection's
presynaptic pathway (arrivals of spikes sent ``delay`` steps earlier: propagation of the
old weight, then depression, then the presynaptic traces jump); every projection's
postsynaptic pathway (potentiation, then the postsynaptic traces jump); resets (LIF:
``v <- v_reset`` and the refractory count; Izhikevich: ``v <- c``, ``u <- u + d``).

Reward-modulated projections (``P_PLASTIC == REWARD``) apply STDP to a per-synapse
eligibility trace ``cel`` (at ``P_COFF``) instead of the weight, and keep a
neuromodulator level ``dop[pi]``: it decays with the traces, jumps after the thresholds
by ``F_DJUMP`` per spike of the modulator group (``P_MOD``, ``P_NMOD``; ``P_MOD < 0`` for
none), and at the end of every ``P_UPD``-th step (counted from step 0) every synapse of
the projection takes ``w <- clip(w + F_ETA * (dop + F_DTON) * c)`` (``F_ETA`` already
multiplied by the interval in ms) and ``c <- c * F_DC``. They never defer potentiation.

Two-compartment neurons (Urbanczik & Senn 2014; group kind ``TC``) share them too: ``v`` is
the somatic potential ``U``, ``g_e``/``g_i`` the somatic synaptic conductances (decay
factors ``L_DEC_E``/``L_DEC_I``, reversals ``L_EE``/``L_EI``, ``L_DT`` the step), and
``L_TC`` is one plus the group's row of the table ``tc_par`` (columns ``T_*``: the group's
first LIF index, its offset into the per-neuron dendritic state ``tc_state``, its
parameters, and where its teacher conductances lie in ``timed``). ``tc_state`` holds per
neuron ``S_DL``, ``S_DS`` (the dendritic potential ``V_w = T_NORM (S_DL - S_DS)``),
``S_VSTAR`` (``V*`` of the step) and ``S_ERR`` (the step's learning signal
``(s / dt - phi(V*)) h(V*)``). In the integration the soma takes the exponential Euler step
of :mod:`plasticity._kernels.dendritic` with the start-of-step ``V_w`` and conductances
(plus row ``t % P`` of the teacher tables), then ``S_DL``, ``S_DS`` decay with the PSP
factors; at the thresholds each neuron draws one uniform number (a spike when it is below
``1 - exp(-phi(U) dt)``; no reset) and stores ``S_ERR``.

Dendritic projections (``P_COMP == 1``) keep per-presynaptic-neuron PSP traces ``x_L``,
``x_s`` (in ``tr_pre1``/``tr_pre2``, decay factors ``F_DP``/``F_DX``); an arrival adds the
weight to ``S_DL`` and ``S_DS`` of the target and 1 to both traces, so that
``S_DL = sum_j w_j x_L,j`` (likewise ``S_DS``) at every step boundary. In a phase between
the thresholds and the presynaptic pathways, each dendritic projection applies its rule
(``P_PLASTIC == DENDRITIC``: ``dw = F_ETA (err PSP_j)``, or through the per-synapse filter
``D`` in ``cel`` when ``P_FILT``, ``F_DC`` its factor, then the clip), with
``PSP_j = F_NORM (x_L - x_s)`` of the start of the step, its traces decay, and the target's
``S_DL``/``S_DS`` take ``dw * x`` (decayed traces) per synapse: this keeps the identity
above, so ``V_w`` is ``w(t) . PSP(t)`` with the current weights, as in the dendritic
kernel, and not a sum of weights frozen at the arrivals.

Izhikevich neurons share the per-neuron arrays of LIF neurons (``v``, ``g_e``, ``g_i``,
the parameter rows ``lif_par``; flag column ``L_IZH``, ``L_RESET`` holds ``c`` and ``L_TH``
holds ``v_peak``) and add the recovery variable ``u`` (unused, and 0 + 0, for LIF rows).

Traces are kept per neuron and per projection, not per synapse: with a homogeneous delay
every synapse of a presynaptic neuron sees the same trace, so this is exact and makes a
spike's work one contiguous pass over a weight row.

Deferred potentiation (dense plastic projections; NEST's postsynaptic spike archive).
Weights are stored pre-major, so a postsynaptic spike of neuron ``i`` would touch column
``i``: one cache miss per synapse. Instead, between two presynaptic arrivals of neuron
``j``, synapse ``(j, i)`` only receives potentiations (one per postsynaptic spike of ``i``,
each followed by the clip) and nothing reads ``w[j, i]``. So a postsynaptic spike is only
appended to the projection's event ring (its target ``i`` and, for the triplet rule,
``o2`` just before its own jump; the spikes of one step form a block that records the
step), and the pending events of row ``j`` are applied in order when ``j``'s next spike
arrives, before that arrival's propagation and depression (and before any readout:
:func:`flush_all`). Each uses the presynaptic trace at the event's step,
``x_j(t_k) = x_j(just after the last arrival) * dp**(t_k - t_last_j)`` (``dp`` the
per-step decay factor, from a table or ``pow``): a function of the step difference only,
so the result does not depend on when a row is flushed, and a run split into several
calls, or interrupted by readouts, is bit-for-bit the same. It equals the trace the eager
scheme reads up to the rounding of a power versus repeated multiplication (~1e-16
relative per step of difference). Same-step order is kept: a row's pending events are the
blocks appended after its last arrival (``pre_done`` holds the first such block), and the
postsynaptic pathway of a step runs after every presynaptic one, so a postsynaptic spike
in the step of an arrival counts as after it, and one in the step of the next arrival is
not pending yet at that arrival. The ring holds ``P_EVCAP`` events (a power of two, at
least one step's worth); before a step's events would overwrite an event some row still
needs, the rows lagging by more than half the ring are flushed (a contiguous row pass).
No pending potentiation is ever dropped, however small (``x = 0`` still clips).
Sparse projections potentiate eagerly through their transposed (CSC) index, and so do
dense ones with few targets (``P_EVCAP == 0``; the engine decides: a column of a narrow
matrix is nearly contiguous, and deferral would only add overhead).

Target blocks (threads). A dense projection's targets are split into ``P_NBLK`` blocks of
``P_BW`` (the last one shorter; one block below 512 targets). A deferred projection keeps
one event ring per block (``P_EVCAP`` events each, at ``P_EV + b * P_EVCAP``; its state in
row ``_ring(pi, p, b)`` of ``ev_state``) and, per block and presynaptic neuron (at
``P_PDONE + b * P_NSRC + j``), the first pending step-block and the step and trace of the
row's last arrival. A block's work on an arrival (flush of its ring's pending events for
the row, propagation, depression) touches only its own targets and state, and each
target's conductance adds the arrivals in spike order, so the blocks may run in any
order or at once without changing a single bit. The step loop runs them in turn;
networks whose groups interact only through delays run them on several threads for whole
windows of steps (the ``ff_*`` kernels at the end of this file).
"""

import functools
import math

import numpy as np
from numba import prange

from plasticity._config import jit, jit_parallel
from plasticity._kernels.dendritic import _phi_h
from plasticity._kernels.stdp import pair_depression, pair_potentiation

# group kinds
LIF, POISSON, GENERATOR, IZH, TC = 0, 1, 2, 3, 4
# columns of the per-group integer table
G_OFF, G_N, G_KIND, G_LIF, G_METHOD, G_RECORD = 0, 1, 2, 3, 4, 5
# columns of the per-neuron LIF parameter table (L_TAU is tau_m in steps, L_AM its decay
# factor exp(-dt/tau_m), L_REF the refractory period in steps); Izhikevich rows set
# L_IZH = 1, L_RESET = c, L_TH = v_peak, L_DEC_E/L_DEC_I, L_A, L_B, L_D, L_IEXT, L_DT
# (the time step in ms), L_GSC (factor from g to current: 1, or 1/dt for delta synapses,
# whose decay factors are 0), L_NOISE (width of the uniform current noise) and L_METH
# (1 for Izhikevich's two half steps of v), the others 0; current-based LIF rows hold in
# L_KE and L_KI the response of v over one step to a unit synaptic current decaying during
# it (exact integration of the linear equations)
(L_TAU, L_REST, L_RESET, L_TH, L_DEC_E, L_DEC_I, L_EE, L_EI, L_COND, L_REF, L_AM, L_IZH,
 L_A, L_B, L_D, L_IEXT, L_DT, L_GSC, L_NOISE, L_METH, L_KE, L_KI, L_TC) = range(23)
N_LCOLS = 23
# columns of the two-compartment group table: first LIF index, offset into tc_state,
# number of neurons, g_L, g_D, PSP decay factors and 1/(tau_L - tau_s), g_D/(g_D + g_L),
# phi_max, k, beta, theta, and the teacher tables (offset into ``timed`` and period in
# steps, 0 for none) of g_E and g_I
(T_L0, T_SOFF, T_N, T_GL, T_GD, T_AL, T_AS, T_NORM, T_CPL, T_PMAX, T_K, T_BETA, T_THETA,
 T_EOFF, T_EPER, T_IOFF, T_IPER) = range(17)
N_TCOLS = 17
# columns of the per-neuron dendritic state
S_DL, S_DS, S_VSTAR, S_ERR = range(4)
N_SCOLS = 4
# columns of the per-projection integer table
(P_SRC, P_NSRC, P_TGT, P_NTGT, P_TLIF, P_REC, P_DELAY, P_SPARSE, P_PLASTIC, P_NEAREST,
 P_MULT, P_WOFF, P_PTR, P_CSC, P_TRPRE, P_TRPOST, P_IDX, P_EV, P_EVCAP, P_TBL,
 P_TBLN, P_MOD, P_NMOD, P_UPD, P_COFF, P_NSYN, P_COMP, P_TDEN, P_FILT, P_NBLK, P_BW,
 P_RING, P_PDONE) = range(33)
N_PCOLS = 33
# columns of the per-ring event state (deferred potentiation; one ring per target block):
# events and step-blocks appended so far, a lower bound of the oldest event some row
# still needs
E_COUNT, E_BLOCKS, E_LOW = 0, 1, 2
# columns of the per-projection float table
(F_WMIN, F_WMAX, F_AP, F_AM, F_A2P, F_A3P, F_A2M, F_A3M, F_DP, F_DM, F_DX, F_DY, F_ETA,
 F_DTON, F_DJUMP, F_DD, F_DC, F_NORM) = range(18)
N_FCOLS = 18
PAIR, TRIPLET, REWARD, DENDRITIC = 1, 2, 3, 4


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
        w = w + pair_depression(w, pf[F_AM], pf[F_WMAX], y1, p[P_MULT] != 0)
    else:
        w = w - pf[F_WMAX] * y1 * (pf[F_A2M] + pf[F_A3M] * r2)
    return _clip(w, pf[F_WMIN], pf[F_WMAX])


@jit
def _potentiate(w, p, pf, x1, o2):
    """Weight after a postsynaptic event, given the pre trace and the own post trace."""
    if p[P_PLASTIC] == PAIR:
        w = w + pair_potentiation(w, pf[F_AP], pf[F_WMAX], x1, p[P_MULT] != 0)
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
def _poisson_dense(rng, gid0, n, prob, ids, cnt):
    """Append the sources of a Poisson group that fire in this step to ``ids``, one
    Bernoulli draw per source (``G_METHOD == 1``); returns the new count."""
    if prob <= 0.0:
        return cnt
    for k in range(n):
        if rng.random() < prob:
            ids[cnt] = gid0 + k
            cnt += 1
    return cnt


@jit
def _poisson_sparse(rng, gid0, n, prob, ids, cnt):
    """Append the sources of a Poisson group that fire in this step to ``ids``
    (``G_METHOD == 0``, ``prob`` small), in increasing order; returns the new count.

    Equal in law to ``n`` independent Bernoulli(``prob``) draws, at the cost of about
    ``n * prob + 1`` uniform draws: the number of silent sources before the next firing
    one is geometric, ``G = floor(log(1 - U) / log(1 - prob))`` with ``U`` uniform on
    [0, 1), since ``P(G >= j) = P(1 - U <= (1 - prob)**j) = (1 - prob)**j``. Only uniform
    draws and logarithms: a binomial count and uniform integers (the former draw) took
    1.7 s of the engine's first compilation.
    """
    if prob <= 0.0:
        return cnt
    inv_log_q = 1.0 / math.log1p(-prob)  # < 0: 1 / log(1 - prob)
    k = np.int64(-1)  # the last firing source (int64 from the start: one typing)
    while True:
        gap = math.floor(math.log(1.0 - rng.random()) * inv_log_q)
        if gap >= n - 1 - k:  # compared as floats: a huge gap never overflows an int
            return cnt
        k += 1 + np.int64(gap)
        ids[cnt] = gid0 + k
        cnt += 1


@jit
def _pre_events(p, pf, ids, n_ids, W, indptr, indices, ge, gi, tr_pre1, tr_pre2,
                tr_post1, tr_post2, cel, tc_state):
    src0, nsrc, tgt_lif = p[P_SRC], p[P_NSRC], p[P_TLIF]
    ntgt, woff, sparse, plastic = p[P_NTGT], p[P_WOFF], p[P_SPARSE], p[P_PLASTIC]
    g = ge if p[P_REC] == 0 else gi
    trpre, trpost = p[P_TRPRE], p[P_TRPOST]
    reward = plastic == REWARD
    dend, tden = p[P_COMP] == 1, p[P_TDEN]
    stdp = plastic != 0 and not dend
    coff, am, wmax = p[P_COFF], pf[F_AM], pf[F_WMAX]
    for q in range(n_ids):
        j = ids[q] - src0
        if j < 0 or j >= nsrc:
            continue
        r2 = tr_pre2[trpre + j] if stdp else 0.0
        if sparse:
            lo, hi = indptr[p[P_PTR] + j], indptr[p[P_PTR] + j + 1]
        else:
            lo, hi = j * ntgt, (j + 1) * ntgt
        for s in range(lo, hi):
            i = indices[p[P_IDX] + s] if sparse else s - lo
            w = W[woff + s]
            if dend:
                tc_state[tden + i, S_DL] += w
                tc_state[tden + i, S_DS] += w
                continue
            if tgt_lif >= 0:
                g[tgt_lif + i] += w
            if reward:  # additive pair STDP onto the eligibility trace
                cel[coff + s] += pair_depression(0.0, am, wmax, tr_post1[trpost + i], False)
            elif plastic:
                W[woff + s] = _depress(w, p, pf, tr_post1[trpost + i], r2)
        if plastic or dend:
            _jump(tr_pre1, trpre + j, p[P_NEAREST])
            _jump(tr_pre2, trpre + j, p[P_NEAREST])


@jit
def _pre_events_dense(p, pf, ids, n_ids, W, ge, gi, tr_pre1, tr_pre2, tr_post1):
    """:func:`_pre_events` of a dense projection onto the soma, static or pair/triplet STDP
    (not reward-modulated): the same operations in the same order, without the code of
    the other kinds (the step loop of a network without them compiles faster)."""
    src0, nsrc, tgt_lif = p[P_SRC], p[P_NSRC], p[P_TLIF]
    ntgt, woff, plastic = p[P_NTGT], p[P_WOFF], p[P_PLASTIC]
    g = ge if p[P_REC] == 0 else gi
    trpre, trpost = p[P_TRPRE], p[P_TRPOST]
    am, a2m, a3m, mult = pf[F_AM], pf[F_A2M], pf[F_A3M], p[P_MULT] != 0
    wmin, wmax = pf[F_WMIN], pf[F_WMAX]
    for q in range(n_ids):
        j = ids[q] - src0
        if j < 0 or j >= nsrc:
            continue
        r2 = tr_pre2[trpre + j] if plastic else 0.0
        lo = j * ntgt
        for i in range(ntgt):
            w = W[woff + lo + i]
            if tgt_lif >= 0:
                g[tgt_lif + i] += w
            # depression as in _depress (one compiled function less)
            if plastic == PAIR:
                w = w + pair_depression(w, am, wmax, tr_post1[trpost + i], mult)
                W[woff + lo + i] = _clip(w, wmin, wmax)
            elif plastic:
                w = w - wmax * tr_post1[trpost + i] * (a2m + a3m * r2)
                W[woff + lo + i] = _clip(w, wmin, wmax)
        if plastic:
            _jump(tr_pre1, trpre + j, p[P_NEAREST])
            _jump(tr_pre2, trpre + j, p[P_NEAREST])


@jit
def _post_events_dense(p, pf, ids, n_ids, W, tr_pre1, tr_post1, tr_post2):
    """:func:`_post_events` of a dense pair/triplet STDP projection (not
    reward-modulated): the same operations in the same order, without the code of the
    other kinds."""
    tgt0, ntgt, nsrc, woff = p[P_TGT], p[P_NTGT], p[P_NSRC], p[P_WOFF]
    trpre, trpost = p[P_TRPRE], p[P_TRPOST]
    pair, mult = p[P_PLASTIC] == PAIR, p[P_MULT] != 0
    ap, a2p, a3p = pf[F_AP], pf[F_A2P], pf[F_A3P]
    wmin, wmax = pf[F_WMIN], pf[F_WMAX]
    for q in range(n_ids):
        i = ids[q] - tgt0
        if i < 0 or i >= ntgt:
            continue
        o2 = tr_post2[trpost + i]
        # potentiation as in _potentiate (one compiled function less)
        for j in range(nsrc):
            syn = woff + j * ntgt + i
            w = W[syn]
            if pair:
                w = w + pair_potentiation(w, ap, wmax, tr_pre1[trpre + j], mult)
            else:
                w = w + wmax * tr_pre1[trpre + j] * (a2p + a3p * o2)
            W[syn] = _clip(w, wmin, wmax)
        _jump(tr_post1, trpost + i, p[P_NEAREST])
        _jump(tr_post2, trpost + i, p[P_NEAREST])


@jit
def _post_events(p, pf, ids, n_ids, W, csc_ptr, csc_syn, csc_pre, tr_pre1, tr_post1,
                 tr_post2, cel):
    """Eager potentiation (the step loop uses it for sparse projections only; dense
    plastic ones defer it, see the module docstring)."""
    tgt0, ntgt, nsrc, woff = p[P_TGT], p[P_NTGT], p[P_NSRC], p[P_WOFF]
    trpre, trpost = p[P_TRPRE], p[P_TRPOST]
    reward = p[P_PLASTIC] == REWARD
    coff, ap, wmax = p[P_COFF], pf[F_AP], pf[F_WMAX]
    for q in range(n_ids):
        i = ids[q] - tgt0
        if i < 0 or i >= ntgt:
            continue
        o2 = tr_post2[trpost + i]
        if p[P_SPARSE]:
            c0 = p[P_CSC]
            for s in range(csc_ptr[c0 + i], csc_ptr[c0 + i + 1]):
                if reward:
                    cel[coff + csc_syn[s]] += pair_potentiation(
                        0.0, ap, wmax, tr_pre1[trpre + csc_pre[s]], False)
                else:
                    syn = woff + csc_syn[s]
                    W[syn] = _potentiate(W[syn], p, pf, tr_pre1[trpre + csc_pre[s]], o2)
        else:
            for j in range(nsrc):
                if reward:
                    cel[coff + j * ntgt + i] += pair_potentiation(0.0, ap, wmax,
                                                                  tr_pre1[trpre + j], False)
                else:
                    syn = woff + j * ntgt + i
                    W[syn] = _potentiate(W[syn], p, pf, tr_pre1[trpre + j], o2)
        _jump(tr_post1, trpost + i, p[P_NEAREST])
        _jump(tr_post2, trpost + i, p[P_NEAREST])


# -- deferred potentiation (dense plastic projections) -----------------------------------
@jit
def _ring(pi, p, b):
    """Row of ``ev_state`` of target block ``b`` of projection ``pi``: row ``pi`` for the
    first block (so that ``ev_state[pi]`` describes it, whatever the blocking), rows
    ``P_RING + b - 1`` for the others."""
    return pi if b == 0 else p[P_RING] + b - 1


@jit
def _flush_row(r, b, p, pf, j, W, ev_i, ev_o2, st_t, st_e, ev_state, pre_done, pre_tlast,
               pre_xa, pow_tbl):
    """Apply the pending potentiations of row ``j`` onto the targets of block ``b`` (ring
    row ``r``): the step-blocks of postsynaptic spikes since its last arrival (from
    block ``pre_done`` on), in order.

    Within a block the targets are distinct, and all see the trace of ``j`` at that
    step. One loop per rule, so that the per-synapse loop has no branch on the rule;
    each expression is evaluated in the same order as in :func:`_potentiate`.
    """
    kd = p[P_PDONE] + b * p[P_NSRC] + j
    b0, b1 = pre_done[kd], ev_state[r, E_BLOCKS]
    if b0 >= b1:
        return
    pre_done[kd] = b1
    n_ev, mask, base = ev_state[r, E_COUNT], p[P_EVCAP] - 1, p[P_EV] + b * p[P_EVCAP]
    row = p[P_WOFF] + j * p[P_NTGT]
    xa, tl = pre_xa[kd], pre_tlast[kd]
    tb, tbn, dp = p[P_TBL], p[P_TBLN], pf[F_DP]
    wmin, wmax = pf[F_WMIN], pf[F_WMAX]
    mode = 2 if p[P_PLASTIC] != PAIR else (1 if p[P_MULT] else 0)
    ap, a2p, a3p = pf[F_AP], pf[F_A2P], pf[F_A3P]
    wr = W[row:row + p[P_NTGT]]
    evi = ev_i[base:base + mask + 1]
    pos = b0 & mask
    for blk in range(b0, b1):
        # trace of j at this step: a function of the step difference only
        d = st_t[base + pos] - tl
        x1 = xa * (pow_tbl[tb + d] if d < tbn else math.pow(dp, d))
        e = st_e[base + pos]
        pos = (pos + 1) & mask
        cnt = (st_e[base + pos] if blk + 1 < b1 else n_ev) - e
        e &= mask
        if mode == 0:
            c = pair_potentiation(0.0, ap, wmax, x1, False)  # the same for every target
            for _ in range(cnt):
                s = evi[e]
                wr[s] = _clip(wr[s] + c, wmin, wmax)
                e = (e + 1) & mask
        elif mode == 1:
            for _ in range(cnt):
                s = evi[e]
                w = wr[s]
                wr[s] = _clip(w + pair_potentiation(w, ap, wmax, x1, True), wmin, wmax)
                e = (e + 1) & mask
        else:
            c = wmax * x1
            for _ in range(cnt):
                s = evi[e]
                wr[s] = _clip(wr[s] + c * (a2p + a3p * ev_o2[base + e]), wmin, wmax)
                e = (e + 1) & mask


@jit
def _make_room(r, b, p, pf, m, W, ev_i, ev_o2, st_t, st_e, ev_state, pre_done, pre_tlast,
               pre_xa, pow_tbl):
    """Flush (onto block ``b``) the rows lagging so far that ``m`` more events would
    overwrite one of their pending events in the block's ring; flushing those lagging by
    more than half the ring amortises this."""
    n_ev, n_blk = ev_state[r, E_COUNT], ev_state[r, E_BLOCKS]
    cap = p[P_EVCAP]
    base, pd = p[P_EV] + b * cap, p[P_PDONE] + b * p[P_NSRC]
    limit = n_ev + m - cap // 2
    low = n_ev
    for j in range(p[P_NSRC]):
        bb = pre_done[pd + j]
        # its oldest pending event
        first = n_ev if bb >= n_blk else st_e[base + (bb & (cap - 1))]
        if first < limit:
            _flush_row(r, b, p, pf, j, W, ev_i, ev_o2, st_t, st_e, ev_state, pre_done,
                       pre_tlast, pre_xa, pow_tbl)
            first = n_ev
        low = min(low, first)
    ev_state[r, E_LOW] = low


@jit
def flush_all(proj, projf, W, ev_i, ev_o2, st_t, st_e, ev_state, pre_done, pre_tlast,
              pre_xa, pow_tbl):
    """Apply every pending potentiation (before weights are read or replaced)."""
    for pi in range(proj.shape[0]):
        p, pf = proj[pi], projf[pi]
        if p[P_EVCAP] > 0:
            for b in range(p[P_NBLK]):
                r = _ring(pi, p, b)
                for j in range(p[P_NSRC]):
                    _flush_row(r, b, p, pf, j, W, ev_i, ev_o2, st_t, st_e, ev_state,
                               pre_done, pre_tlast, pre_xa, pow_tbl)
                ev_state[r, E_LOW] = ev_state[r, E_COUNT]


@jit
def _pre_block(t, pi, p, pf, b, arr_j, arr_r2, arr_xa, a0, a1, W, g, tr_post1, ev_i, ev_o2,
               st_t, st_e, ev_state, pre_done, pre_tlast, pre_xa, pow_tbl, touch):
    """Arrivals ``arr_j[a0:a1]`` (rows, in spike order) at step ``t`` on a dense projection,
    restricted to the targets of block ``b``: for each row in order its pending
    potentiations (deferred projections; then the row's trace after this arrival,
    ``arr_xa``, and step become the block's reference for later ones), propagation of
    the (now current) weight, and depression (with the row's ``r2`` before its jump,
    ``arr_r2``). Blocks touch disjoint weights, conductances and ring state, so they may
    run in any order or at once; each target's conductance takes the arrivals in the
    same order whatever the blocking, which keeps every sum, hence the result,
    bit-identical for any number of threads."""
    tgt_lif, ntgt = p[P_TLIF], p[P_NTGT]
    trpost, plastic = p[P_TRPOST], p[P_PLASTIC]
    wmin, wmax = pf[F_WMIN], pf[F_WMAX]
    mult, deferred = p[P_MULT], p[P_EVCAP] > 0
    i0 = b * p[P_BW]
    n = min(ntgt, i0 + p[P_BW]) - i0
    r = _ring(pi, p, b)
    y1 = tr_post1[trpost + i0:trpost + i0 + n]
    for q in range(a0, a1):
        j = arr_j[q]
        lo = p[P_WOFF] + j * ntgt + i0
        if deferred:
            # read the row sequentially first (hardware prefetch), so that the
            # scattered updates of the pending potentiations hit the cache
            acc = 0.0
            for i in range(n):
                acc += W[lo + i]
            touch[b] = acc
            _flush_row(r, b, p, pf, j, W, ev_i, ev_o2, st_t, st_e, ev_state, pre_done,
                       pre_tlast, pre_xa, pow_tbl)
            kd = p[P_PDONE] + b * p[P_NSRC] + j
            pre_xa[kd] = arr_xa[q]
            pre_tlast[kd] = t
        wr = W[lo:lo + n]
        if tgt_lif >= 0:
            gr = g[tgt_lif + i0:tgt_lif + i0 + n]
            for i in range(n):
                gr[i] += wr[i]
        # depression (as in _depress), one loop per weight dependence
        if plastic == PAIR:
            am = pf[F_AM]
            if mult:
                for i in range(n):
                    w = wr[i]
                    wr[i] = _clip(w + pair_depression(w, am, wmax, y1[i], True), wmin, wmax)
            else:
                for i in range(n):
                    w = wr[i]
                    wr[i] = _clip(w + pair_depression(w, am, wmax, y1[i], False), wmin,
                                  wmax)
        elif plastic == TRIPLET:
            c = pf[F_A2M] + pf[F_A3M] * arr_r2[q]
            for i in range(n):
                wr[i] = _clip(wr[i] - wmax * y1[i] * c, wmin, wmax)


@jit
def _arrivals(p, ids, n_ids, tr_pre1, tr_pre2, arr_j, arr_r2, arr_xa, a0):
    """The rows of a projection that ``ids`` reach, appended to ``arr_j`` from ``a0``
    with ``r2`` before and ``x1`` after the jump of their pre traces (which jump here);
    returns the end of the appended records."""
    src0, nsrc, trpre = p[P_SRC], p[P_NSRC], p[P_TRPRE]
    a = a0
    for q in range(n_ids):
        j = ids[q] - src0
        if j < 0 or j >= nsrc:
            continue
        arr_j[a] = j
        if p[P_PLASTIC]:
            arr_r2[a] = tr_pre2[trpre + j]
            _jump(tr_pre1, trpre + j, p[P_NEAREST])
            _jump(tr_pre2, trpre + j, p[P_NEAREST])
            arr_xa[a] = tr_pre1[trpre + j]
        a += 1
    return a


@jit
def _pre_events_deferred(t, pi, p, pf, ids, n_ids, W, ge, gi, tr_pre1, tr_pre2, tr_post1,
                         ev_i, ev_o2, st_t, st_e, ev_state, pre_done, pre_tlast, pre_xa,
                         pow_tbl, touch, arr_j, arr_r2, arr_xa):
    """Arrivals on a dense plastic projection: the pre traces jump (the values the rows'
    potentiations need are kept in the arrival records), then per target block the
    pending potentiations of each row, propagation and depression."""
    g = ge if p[P_REC] == 0 else gi
    a1 = _arrivals(p, ids, n_ids, tr_pre1, tr_pre2, arr_j, arr_r2, arr_xa, 0)
    for b in range(p[P_NBLK]):
        _pre_block(t, pi, p, pf, b, arr_j, arr_r2, arr_xa, 0, a1, W, g, tr_post1, ev_i,
                   ev_o2, st_t, st_e, ev_state, pre_done, pre_tlast, pre_xa, pow_tbl, touch)


@jit
def _post_block(t, pi, p, pf, b, ids, n_ids, W, tr_post1, tr_post2, ev_i, ev_o2, st_t,
                st_e, ev_state, pre_done, pre_tlast, pre_xa, pow_tbl):
    """Postsynaptic spikes on a dense plastic projection onto the targets of block ``b``:
    one step-block of events appended to the block's ring (after making room for all of
    them), then their post traces jump (each target spikes once per step, so its record
    of ``o2`` is the value just before its own jump)."""
    tgt0, ntgt, bw = p[P_TGT], p[P_NTGT], p[P_BW]
    trpost, cap = p[P_TRPOST], p[P_EVCAP]
    mask = cap - 1
    i0 = b * bw
    i1 = min(ntgt, i0 + bw)
    m = 0
    for q in range(n_ids):
        if tgt0 + i0 <= ids[q] < tgt0 + i1:
            m += 1
    if m == 0:
        return
    r, base = _ring(pi, p, b), p[P_EV] + b * cap
    n_ev = ev_state[r, E_COUNT]
    if n_ev + m - ev_state[r, E_LOW] > cap:
        _make_room(r, b, p, pf, m, W, ev_i, ev_o2, st_t, st_e, ev_state, pre_done,
                   pre_tlast, pre_xa, pow_tbl)
    n_blk = ev_state[r, E_BLOCKS]
    st_t[base + (n_blk & mask)] = t
    st_e[base + (n_blk & mask)] = n_ev
    ev_state[r, E_BLOCKS] = n_blk + 1
    pos = n_ev & mask
    for q in range(n_ids):
        i = ids[q] - tgt0
        if i < i0 or i >= i1:
            continue
        ev_i[base + pos] = i
        ev_o2[base + pos] = tr_post2[trpost + i]
        pos = (pos + 1) & mask
        _jump(tr_post1, trpost + i, p[P_NEAREST])
        _jump(tr_post2, trpost + i, p[P_NEAREST])
    ev_state[r, E_COUNT] = n_ev + m


@jit
def _dendritic_phase(p, pf, W, indptr, indices, tr_pre1, tr_pre2, tc_state, cel):
    """A dendritic projection's step (module docstring): learning from the start-of-step
    PSPs, decay of the PSP traces, and the matching change of the targets' ``S_DL`` and
    ``S_DS``; a static projection only decays its traces."""
    nsrc, ntgt, woff, sparse = p[P_NSRC], p[P_NTGT], p[P_WOFF], p[P_SPARSE]
    trpre, tden, coff = p[P_TRPRE], p[P_TDEN], p[P_COFF]
    a_L, a_s = pf[F_DP], pf[F_DX]
    if p[P_PLASTIC] != DENDRITIC:
        for j in range(trpre, trpre + nsrc):
            tr_pre1[j] *= a_L
            tr_pre2[j] *= a_s
        return
    eta_dt, norm, b, filt = pf[F_ETA], pf[F_NORM], pf[F_DC], p[P_FILT]
    wmin, wmax = pf[F_WMIN], pf[F_WMAX]
    for j in range(nsrc):
        x_L, x_s = tr_pre1[trpre + j], tr_pre2[trpre + j]
        xd_L, xd_s = a_L * x_L, a_s * x_s
        tr_pre1[trpre + j] = xd_L
        tr_pre2[trpre + j] = xd_s
        if x_L == 0.0 and x_s == 0.0 and not filt:
            continue  # no PSP, no change (an input that has not fired yet)
        d = x_L - x_s
        if sparse:
            lo, hi = indptr[p[P_PTR] + j], indptr[p[P_PTR] + j + 1]
        else:
            lo, hi = j * ntgt, (j + 1) * ntgt
        for s in range(lo, hi):
            i = indices[p[P_IDX] + s] if sparse else s - lo
            err = tc_state[tden + i, S_ERR]
            w_old = W[woff + s]
            # each expression in the order of the dendritic kernel
            if filt:
                dd = b * cel[coff + s] + (1.0 - b) * err * norm * d
                cel[coff + s] = dd
                w = w_old + eta_dt * dd
            else:
                w = w_old + eta_dt * err * norm * d
            w = _clip(w, wmin, wmax)
            W[woff + s] = w
            dw = w - w_old
            tc_state[tden + i, S_DL] += dw * xd_L
            tc_state[tden + i, S_DS] += dw * xd_s


@jit
def _lif_v(k, lp, e, ii, v, ref):
    """One step of a LIF neuron's ``v`` (or of its refractory count), from the
    start-of-step conductances or currents ``e``, ``ii``."""
    if ref[k] > 0:
        ref[k] -= 1
    elif lp[L_COND] > 0:
        gtot = 1.0 + e + ii
        vinf = (lp[L_REST] + e * lp[L_EE] + ii * lp[L_EI]) / gtot
        v[k] = vinf + (v[k] - vinf) * math.exp(-gtot / lp[L_TAU])
    else:
        # exact: the currents decay during the step (Brian2's "exact" method)
        v[k] = lp[L_REST] + (v[k] - lp[L_REST]) * lp[L_AM] + e * lp[L_KE] - ii * lp[L_KI]


@jit
def _tc_slot(k, lif_par, tc_par):
    """Row of LIF index ``k`` (a two-compartment neuron) in ``tc_state``."""
    tp = tc_par[np.int64(lif_par[k, L_TC]) - 1]
    return np.int64(tp[T_SOFF]) + k - np.int64(tp[T_L0])


@jit
def _modulated_update(p, pf, W, cel, d):
    """The periodic weight update of a reward-modulated projection, then the eligibility
    decays (one contiguous pass over the projection's synapses)."""
    woff, coff, n = p[P_WOFF], p[P_COFF], p[P_NSYN]
    k, wmin, wmax, dc = pf[F_ETA] * (d + pf[F_DTON]), pf[F_WMIN], pf[F_WMAX], pf[F_DC]
    wr = W[woff:woff + n]
    cr = cel[coff:coff + n]
    for s in range(n):
        wr[s] = _clip(wr[s] + k * cr[s], wmin, wmax)
        cr[s] *= dc


# -- the step loop, compiled per set of network features ---------------------------------
# One loop handles every kind of neuron and projection, but compiling all of it costs
# about 12 s (the helpers of features a network does not use included), every time the
# cache is empty. So the loop is written once, in :func:`_make_step_loop`, with each
# feature's code behind a flag of the closure; Numba treats a closure variable as a
# constant and prunes the branches it rules out before typing, so that the helpers behind
# them are not even compiled. Numba's cache keys a closure by the values of its variables,
# so that every variant is cached on its own. A variant computes what the full loop
# computes, with the same expressions in the same order: only code that the network
# cannot reach is left out, so results are bit-identical whichever variant runs.

#: the flags of a step loop variant, in the order of :func:`features` and
#: :func:`step_loop`
FEATURES = ("lif", "izh", "tc", "poisson_dense", "poisson_sparse", "generator", "stdp",
            "triplet", "reward", "dendritic", "deferred", "eager_dense", "eager",
            "eager_post_dense", "eager_post", "monitor")


def features(groups, probs, proj, n_monitored=1):
    """The features (:data:`FEATURES`) a packed network and a recording use, as a tuple
    of bools.

    Parameters
    ----------
    groups : ndarray of int64, shape (n_groups, 6)
        The group table (columns ``G_*``).
    probs : ndarray of float64, shape (n_groups,)
        Spike probability per step of each Poisson group.
    proj : ndarray of int64, shape (n_proj, N_PCOLS)
        The projection table (columns ``P_*``).
    n_monitored : int, optional
        Neurons whose state the run samples (``mon_idx``); none: no monitor code.

    Returns
    -------
    tuple of bool
        ``lif``, ``izh``, ``tc``: groups of these kinds; ``poisson_dense``,
        ``poisson_sparse``: Poisson groups drawn per source or by geometric skips
        (``G_METHOD``); ``generator``: spike generators; ``stdp``: plastic projections
        onto the soma (their traces decay); ``triplet``: triplet STDP (two more traces);
        ``reward``: reward-modulated ones; ``dendritic``: projections onto
        dendrites; ``deferred``: dense ones with deferred potentiation;
        ``eager_dense``: other dense projections onto the soma, static or pair/triplet
        STDP (:func:`_pre_events_dense`); ``eager``: all others; ``eager_post_dense``,
        ``eager_post``: the plastic ones among these two kinds; ``monitor``: sampled
        state.
    """
    kinds = np.asarray(groups)[:, G_KIND]
    method = np.asarray(groups)[:, G_METHOD]
    poisson = (kinds == POISSON) & (np.asarray(probs) > 0.0)
    proj = np.asarray(proj).reshape(-1, N_PCOLS)
    plastic, comp, evcap = proj[:, P_PLASTIC], proj[:, P_COMP], proj[:, P_EVCAP]
    eager = evcap == 0
    dense = eager & (proj[:, P_SPARSE] == 0) & (comp == 0) & (plastic != REWARD)
    other = eager & ~dense
    soma = (plastic != 0) & (comp == 0)
    flags = ((kinds == LIF).any(), (kinds == IZH).any(), (kinds == TC).any(),
             (poisson & (method == 1)).any(), (poisson & (method != 1)).any(),
             (kinds == GENERATOR).any(), soma.any(), (plastic == TRIPLET).any(),
             (plastic == REWARD).any(), (comp == 1).any(), (evcap > 0).any(), dense.any(),
             other.any(), (dense & soma).any(), (other & soma).any(), n_monitored > 0)
    return tuple(bool(f) for f in flags)


@functools.cache
def step_loop(flags):
    """The step loop compiled for the features ``flags`` (a tuple of bools in the order
    of :data:`FEATURES`, as :func:`features` returns it): a Numba dispatcher with the
    signature of :func:`simulate`, made once per process and flags."""
    if len(flags) != len(FEATURES):
        raise ValueError(f"step_loop needs {len(FEATURES)} flags, got {len(flags)}")
    return jit(_make_step_loop(*(bool(f) for f in flags)))


def step_scratch(groups, proj, n_lif):
    """The step loop's scratch arrays (not state: their content does not survive a step).

    Returns
    -------
    tuple of ndarray
        ``spiked`` (uint8, ``n_lif``: this step's spikes of the LIF, Izhikevich and
        two-compartment neurons), ``touch`` (float64, one per target block: sinks of the
        row prefetch), ``arr_j``, ``arr_r2``, ``arr_xa`` (int64, float64, float64, one per
        presynaptic neuron of the widest projection: one step's arrivals on one
        projection).
    """
    proj = np.asarray(proj).reshape(-1, N_PCOLS)
    n_blk = max(1, int(proj[:, P_NBLK].max(initial=1)))
    n_src = max(1, int(proj[:, P_NSRC].max(initial=1)))
    return (np.zeros(max(int(n_lif), 0), np.uint8),
            np.zeros(n_blk), np.zeros(n_src, np.int64), np.zeros(n_src), np.zeros(n_src))


def _make_step_loop(lif, izh, tc, poisson_dense, poisson_sparse, gen, stdp, has_triplet,
                    reward, dendritic, deferred, eager_dense, eager, eager_post_dense,
                    eager_post, monitor):
    """The step loop's Python function; every flag that is False removes the code of
    that feature (each test below reads ``flag and <the full loop's condition>``: with
    the flag True it is the full loop's test, with it False that test could not hold
    for the network)."""

    def simulate(t0, t1, rng, groups, probs, lif_par, v, u, ge, gi, ref, proj, projf, W, indptr,
                 indices, csc_ptr, csc_syn, csc_pre, tr_pre1, tr_pre2, tr_post1, tr_post2,
                 ring_ids, ring_cnt, gen_steps, gen_ids, gen_ptr, out_t, out_id, out_cnt,
                 rate_counts, bin0, bin_steps, mon_idx, mon_every, mon_first, mon_v, mon_g,
                 ev_i, ev_o2, st_t, st_e, ev_state, pre_done, pre_tlast, pre_xa, pow_tbl, cel, dop,
                 tc_par, tc_state, timed, spiked, touch, arr_j, arr_r2, arr_xa):
        """Advance the network from step ``t0`` up to (not including) ``t1``.

        Returns the first step not simulated: ``t1``, or earlier when the spike record
        (``out_t``/``out_id``, filled up to ``out_cnt[0]``) has no room for another step; the
        caller empties it and calls again from there. All state arrays are updated in place.
        The scratch arrays come from :func:`step_scratch` (allocated by the caller: no
        allocation to compile here); ``spiked`` is all zero on entry and on return.
        """
        n_groups = groups.shape[0]
        n_proj = proj.shape[0]
        n_lif = v.shape[0]
        ring_len = ring_cnt.shape[0]
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
                if stdp and p[P_PLASTIC] and p[P_COMP] == 0:
                    # hoisted offsets and factors keep these loops vectorisable; the slow
                    # traces r2/o2 exist only for the triplet rule (a pair rule never reads them)
                    a, n_src, d1, d2 = p[P_TRPRE], p[P_NSRC], pf[F_DP], pf[F_DX]
                    b, n_tgt, d3, d4 = p[P_TRPOST], p[P_NTGT], pf[F_DM], pf[F_DY]
                    triplet = has_triplet and p[P_PLASTIC] == TRIPLET
                    if reward and p[P_PLASTIC] == REWARD:
                        dop[pi] *= pf[F_DD]
                    for j in range(a, a + n_src):
                        tr_pre1[j] *= d1
                    for i in range(b, b + n_tgt):
                        tr_post1[i] *= d3
                    if triplet:
                        for j in range(a, a + n_src):
                            tr_pre2[j] *= d2
                        for i in range(b, b + n_tgt):
                            tr_post2[i] *= d4
            # -- LIF integration ---------------------------------------------------------
            for k in range(n_lif):
                lp = lif_par[k]
                e, ii = ge[k], gi[k]
                if tc and lp[L_TC] > 0:
                    tp = tc_par[np.int64(lp[L_TC]) - 1]
                    m = k - np.int64(tp[T_L0])
                    sk = np.int64(tp[T_SOFF]) + m
                    g_e, g_i = e, ii
                    if tp[T_EPER] > 0:
                        g_e += timed[np.int64(tp[T_EOFF]) + (t % np.int64(tp[T_EPER]))
                                     * np.int64(tp[T_N]) + m]
                    if tp[T_IPER] > 0:
                        g_i += timed[np.int64(tp[T_IOFF]) + (t % np.int64(tp[T_IPER]))
                                     * np.int64(tp[T_N]) + m]
                    vw = tp[T_NORM] * (tc_state[sk, S_DL] - tc_state[sk, S_DS])
                    # the dendritic kernel's exponential Euler step, in its evaluation order
                    g_tot = tp[T_GL] + tp[T_GD] + g_e + g_i
                    u_inf = (tp[T_GD] * vw + g_e * lp[L_EE] + g_i * lp[L_EI]) / g_tot
                    v[k] = u_inf + (v[k] - u_inf) * math.exp(-g_tot * lp[L_DT])
                    tc_state[sk, S_VSTAR] = tp[T_CPL] * vw
                    tc_state[sk, S_DL] *= tp[T_AL]
                    tc_state[sk, S_DS] *= tp[T_AS]
                elif izh and lp[L_IZH] > 0:
                    vk, uk, h = v[k], u[k], lp[L_DT]
                    cur = (e - ii) * lp[L_GSC] + lp[L_IEXT]
                    if lp[L_NOISE] > 0.0:
                        cur += lp[L_NOISE] * (rng.random() - 0.5)
                    if lp[L_METH] > 0:
                        # Izhikevich's code: two half steps of v, then u from the new v
                        vk = vk + 0.5 * h * (0.04 * vk * vk + 5.0 * vk + 140.0 - uk + cur)
                        vk = vk + 0.5 * h * (0.04 * vk * vk + 5.0 * vk + 140.0 - uk + cur)
                        v[k] = vk
                        u[k] = uk + h * (lp[L_A] * (lp[L_B] * vk - uk))
                    else:
                        v[k] = vk + h * (0.04 * vk * vk + 5.0 * vk + 140.0 - uk + cur)
                        u[k] = uk + h * (lp[L_A] * (lp[L_B] * vk - uk))
                elif lif:  # (otherwise every row is a two-compartment or Izhikevich one)
                    _lif_v(k, lp, e, ii, v, ref)
                ge[k] = e * lp[L_DEC_E]
                gi[k] = ii * lp[L_DEC_I]
            # -- thresholds --------------------------------------------------------------
            cnt = np.int64(0)  # int64 from the start: no specialisation for a literal 0
            for g in range(n_groups):
                gid0, n, kind = groups[g, G_OFF], groups[g, G_N], groups[g, G_KIND]
                start = cnt
                if lif and kind == LIF:
                    l0 = groups[g, G_LIF]
                    for k in range(l0, l0 + n):
                        if v[k] > lif_par[k, L_TH] and ref[k] == 0:
                            ids[cnt] = gid0 + k - l0
                            cnt += 1
                            spiked[k] = 1
                elif izh and kind == IZH:
                    l0 = groups[g, G_LIF]
                    for k in range(l0, l0 + n):
                        if v[k] >= lif_par[k, L_TH]:
                            ids[cnt] = gid0 + k - l0
                            cnt += 1
                            spiked[k] = 1
                elif tc and kind == TC:
                    l0 = groups[g, G_LIF]
                    tp = tc_par[np.int64(lif_par[l0, L_TC]) - 1]
                    s0, h_dt = np.int64(tp[T_SOFF]) - l0, lif_par[l0, L_DT]
                    pmax, kk, beta, theta = tp[T_PMAX], tp[T_K], tp[T_BETA], tp[T_THETA]
                    for k in range(l0, l0 + n):
                        phi_u, _ = _phi_h(v[k], pmax, kk, beta, theta)
                        phi_v, h = _phi_h(tc_state[s0 + k, S_VSTAR], pmax, kk, beta, theta)
                        # one draw per neuron and step, fired or not: a fixed stream
                        spk = 1.0 if rng.random() < 1.0 - math.exp(-phi_u * h_dt) else 0.0
                        if spk > 0.0:
                            ids[cnt] = gid0 + k - l0
                            cnt += 1
                        tc_state[s0 + k, S_ERR] = (spk / h_dt - phi_v) * h
                elif kind == POISSON:
                    if poisson_dense and groups[g, G_METHOD] == 1:
                        cnt = _poisson_dense(rng, gid0, n, probs[g], ids, cnt)
                    elif poisson_sparse and groups[g, G_METHOD] != 1:
                        cnt = _poisson_sparse(rng, gid0, n, probs[g], ids, cnt)
                elif gen:  # a generator
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
            if gen:
                q = gen_ptr[0]
                while q < gen_steps.shape[0] and gen_steps[q] <= t:
                    q += 1
                gen_ptr[0] = q
            ring_cnt[row] = cnt
            # -- neuromodulator release (this step's spikes of each modulator group) -----
            for pi in range(n_proj):
                if reward and proj[pi, P_PLASTIC] == REWARD and proj[pi, P_MOD] >= 0:
                    m0, m1 = proj[pi, P_MOD], proj[pi, P_MOD] + proj[pi, P_NMOD]
                    n_mod = 0
                    for q in range(cnt):
                        if m0 <= ids[q] < m1:
                            n_mod += 1
                    dop[pi] += projf[pi, F_DJUMP] * n_mod
            # -- dendritic learning and PSP traces --------------------------------------
            for pi in range(n_proj):
                if dendritic and proj[pi, P_COMP] == 1:
                    _dendritic_phase(proj[pi], projf[pi], W, indptr, indices, tr_pre1, tr_pre2,
                                     tc_state, cel)
            # -- presynaptic pathways (arrivals after each projection's delay) ----------
            for pi in range(n_proj):
                d = proj[pi, P_DELAY]
                if t - d < 0:
                    continue
                arow = (t - d) % ring_len
                if deferred and proj[pi, P_EVCAP] > 0:
                    _pre_events_deferred(t, pi, proj[pi], projf[pi], ring_ids[arow],
                                         ring_cnt[arow], W, ge, gi, tr_pre1, tr_pre2, tr_post1,
                                         ev_i, ev_o2, st_t, st_e, ev_state, pre_done,
                                         pre_tlast, pre_xa, pow_tbl, touch, arr_j, arr_r2,
                                         arr_xa)
                elif (eager_dense and proj[pi, P_SPARSE] == 0 and proj[pi, P_COMP] == 0
                      and proj[pi, P_PLASTIC] != REWARD):
                    _pre_events_dense(proj[pi], projf[pi], ring_ids[arow], ring_cnt[arow], W,
                                      ge, gi, tr_pre1, tr_pre2, tr_post1)
                elif eager and proj[pi, P_EVCAP] == 0:
                    _pre_events(proj[pi], projf[pi], ring_ids[arow], ring_cnt[arow], W,
                                indptr, indices, ge, gi, tr_pre1, tr_pre2, tr_post1, tr_post2,
                                cel, tc_state)
            # -- postsynaptic pathways ---------------------------------------------------
            for pi in range(n_proj):
                if deferred and proj[pi, P_EVCAP] > 0:
                    for b in range(proj[pi, P_NBLK]):
                        _post_block(t, pi, proj[pi], projf[pi], b, ids, cnt, W, tr_post1,
                                    tr_post2, ev_i, ev_o2, st_t, st_e, ev_state, pre_done,
                                    pre_tlast, pre_xa, pow_tbl)
                elif (eager_post_dense and proj[pi, P_PLASTIC] and proj[pi, P_SPARSE] == 0
                      and proj[pi, P_COMP] == 0 and proj[pi, P_PLASTIC] != REWARD):
                    _post_events_dense(proj[pi], projf[pi], ids, cnt, W, tr_pre1, tr_post1,
                                       tr_post2)
                elif eager_post and proj[pi, P_PLASTIC] and proj[pi, P_COMP] == 0:
                    _post_events(proj[pi], projf[pi], ids, cnt, W, csc_ptr, csc_syn, csc_pre,
                                 tr_pre1, tr_post1, tr_post2, cel)
            # -- modulated weight updates ------------------------------------------------
            for pi in range(n_proj):
                if reward and proj[pi, P_PLASTIC] == REWARD and (t + 1) % proj[pi, P_UPD] == 0:
                    _modulated_update(proj[pi], projf[pi], W, cel, dop[pi])
            # -- resets and monitors -----------------------------------------------------
            for k in range(n_lif):
                if spiked[k]:
                    v[k] = lif_par[k, L_RESET]
                    ref[k] = np.int64(lif_par[k, L_REF])
                    u[k] += lif_par[k, L_D]
                    spiked[k] = 0
            if monitor and mon_idx.shape[0] > 0 and t % mon_every == 0:
                s = t // mon_every - mon_first
                for m in range(mon_idx.shape[0]):
                    k = mon_idx[m]
                    mon_v[s, m] = v[k]
                    if tc and lif_par[k, L_TC] > 0:  # a two-compartment neuron: U and V*
                        mon_g[s, m] = tc_state[_tc_slot(k, lif_par, tc_par), S_VSTAR]
                    else:
                        mon_g[s, m] = ge[k]
        return t1
    return simulate


#: the step loop with every feature (any network; compiling it takes the longest)
simulate = step_loop((True,) * len(FEATURES))



# -- decoupled windows: networks coupled only through delays, on several threads ---------
# A network of LIF groups whose projections all run from spike sources (Poisson groups,
# generators), or from LIF groups with a delay of at least one window, splits into units
# (the target blocks of each LIF group) that do not interact within a window: a unit's
# neurons see the sources' spikes, which do not depend on the network, and the groups'
# spikes of earlier windows, which the delay ring already holds (NEST's min_delay). So
# instead of meeting at every step, the threads meet once per window of steps: a serial
# pass draws the sources' spikes of the window (the same draws in the same order as the
# step loop), decays and jumps the pre traces and records every arrival (row, r2 before
# and x1 after the jump); then every unit runs the whole window on its own (post traces,
# integration, thresholds, arrivals, deferred potentiation in its own ring, resets, its
# monitors); a serial merge writes the spike record, the rate counts and the delay ring
# in the step loop's order. Each value is computed by the same expressions in the same
# order as in :func:`simulate`, so the result is bit-identical to it, whatever the number
# of threads. The caller bounds the window (``t1`` of :func:`ff_prepass`) by the delays
# from LIF groups: an arrival read from this window's source spikes must come from a
# source group. Plastic projections must be dense with deferred potentiation: eager
# potentiation would read presynaptic traces of its own step, which the serial pass has
# moved on.


@jit
def ff_prepass(t, t1, rng, groups, probs, proj, projf, tr_pre1, tr_pre2, ring_ids,
               ring_cnt, gen_steps, gen_ids, gen_ptr, src_ids, src_ptr, arr_j, arr_r2,
               arr_xa, arr_ptr):
    """The serial part of the window from step ``t``: returns its end (at most ``t1``,
    earlier when the source or arrival buffers could not hold another step).

    ``src_ids[src_ptr[s]:src_ptr[s + 1]]`` are the sources' spikes of step ``t + s`` in
    group order; ``arr_*[arr_ptr[s * n_proj + pi]:arr_ptr[s * n_proj + pi + 1]]`` the
    arrivals on projection ``pi`` then."""
    n_groups, n_proj = groups.shape[0], proj.shape[0]
    ring_len = ring_cnt.shape[0]
    n_src = 0
    for g in range(n_groups):
        if groups[g, G_KIND] == POISSON or groups[g, G_KIND] == GENERATOR:
            n_src += groups[g, G_N]
    n_arr = 0
    for pi in range(n_proj):
        n_arr += proj[pi, P_NSRC]
    cnt = na = np.int64(0)  # int64 from the start: no specialisation for a literal 0
    src_ptr[0] = 0
    arr_ptr[0] = 0
    s = 0
    while t + s < t1 and s + 1 < src_ptr.shape[0]:
        if cnt + n_src > src_ids.shape[0] or na + n_arr > arr_j.shape[0]:
            break
        tt = t + s
        for pi in range(n_proj):
            p, pf = proj[pi], projf[pi]
            if p[P_PLASTIC]:
                a, n_s, d1, d2 = p[P_TRPRE], p[P_NSRC], pf[F_DP], pf[F_DX]
                for j in range(a, a + n_s):
                    tr_pre1[j] *= d1
                if p[P_PLASTIC] == TRIPLET:
                    for j in range(a, a + n_s):
                        tr_pre2[j] *= d2
        for g in range(n_groups):
            gid0, n, kind = groups[g, G_OFF], groups[g, G_N], groups[g, G_KIND]
            if kind == POISSON:
                if groups[g, G_METHOD] == 1:
                    cnt = _poisson_dense(rng, gid0, n, probs[g], src_ids, cnt)
                else:
                    cnt = _poisson_sparse(rng, gid0, n, probs[g], src_ids, cnt)
            elif kind == GENERATOR:
                q = gen_ptr[0]
                while q < gen_steps.shape[0] and gen_steps[q] < tt:
                    q += 1
                while q < gen_steps.shape[0] and gen_steps[q] == tt:
                    if gid0 <= gen_ids[q] < gid0 + n:
                        src_ids[cnt] = gen_ids[q]
                        cnt += 1
                    q += 1
        q = gen_ptr[0]
        while q < gen_steps.shape[0] and gen_steps[q] <= tt:
            q += 1
        gen_ptr[0] = q
        src_ptr[s + 1] = cnt
        for pi in range(n_proj):
            d = proj[pi, P_DELAY]
            if tt - d >= t:  # spikes of this window
                sd = tt - d - t
                a0 = src_ptr[sd]
                na = _arrivals(proj[pi], src_ids[a0:], src_ptr[sd + 1] - a0, tr_pre1,
                               tr_pre2, arr_j, arr_r2, arr_xa, na)
            elif tt - d >= 0:  # spikes of an earlier window, in the delay ring
                row = (tt - d) % ring_len
                na = _arrivals(proj[pi], ring_ids[row], ring_cnt[row], tr_pre1, tr_pre2,
                               arr_j, arr_r2, arr_xa, na)
            arr_ptr[s * n_proj + pi + 1] = na
        s += 1
    return t + s


# columns of the unit table of the windows (one row per target block of each LIF group):
# the group's global id offset and first LIF index, the block's first and last target
# (group-local) and its index within the group's blocking
U_TGT, U_TLIF, U_I0, U_I1, U_B = range(5)
N_UCOLS = 5


@jit
def _pre_block_sparse(p, arr_j, a0, a1, W, indptr, indices, g, i0, i1):
    """Arrivals ``arr_j[a0:a1]`` on a static sparse projection, restricted to targets
    ``i0 <= i < i1``: a row's synapses are sorted by target (``build_connectivity``), so
    the block's part of each row is found by bisection; each target's conductance takes
    the arrivals in the same order as in :func:`_pre_events`."""
    ptr, idx, woff, tgt_lif = p[P_PTR], p[P_IDX], p[P_WOFF], p[P_TLIF]
    for q in range(a0, a1):
        j = arr_j[q]
        lo, hi = indptr[ptr + j], indptr[ptr + j + 1]
        row = indices[idx + lo:idx + hi]
        s0 = lo + np.searchsorted(row, i0)
        s1 = lo + np.searchsorted(row, i1)
        for s in range(s0, s1):
            g[tgt_lif + indices[idx + s]] += W[woff + s]


@jit
def _ff_block(u, t, te, units, proj, projf, lif_par, v, u_izh, ge, gi, ref, W, indptr,
              indices, tr_post1, tr_post2, arr_j, arr_r2, arr_xa, arr_ptr, fired, mon_idx,
              mon_every, mon_first, mon_v, mon_g, ev_i, ev_o2, st_t, st_e, ev_state,
              pre_done, pre_tlast, pre_xa, pow_tbl, touch):
    """Steps ``t`` to ``te`` of the neurons of unit ``u`` (row of ``units``: a target
    block of one LIF group, with every projection onto that group); their spikes go to
    ``fired[s, k]``. ``touch`` is the unit's own row of sinks (units of two groups share
    block indices)."""
    n_proj = proj.shape[0]
    tgt, tlif, b = units[u, U_TGT], units[u, U_TLIF], units[u, U_B]
    i0, i1 = units[u, U_I0], units[u, U_I1]
    k0, k1 = tlif + i0, tlif + i1
    gid = tgt - tlif  # global id of LIF index k: gid + k
    spk = np.zeros(i1 - i0, np.int64)
    for s in range(te - t):
        tt = t + s
        for pi in range(n_proj):
            p, pf = proj[pi], projf[pi]
            if p[P_TGT] == tgt and p[P_PLASTIC]:
                a, d3, d4 = p[P_TRPOST], pf[F_DM], pf[F_DY]
                for i in range(a + i0, a + i1):
                    tr_post1[i] *= d3
                if p[P_PLASTIC] == TRIPLET:
                    for i in range(a + i0, a + i1):
                        tr_post2[i] *= d4
        for k in range(k0, k1):
            lp = lif_par[k]
            e, ii = ge[k], gi[k]
            _lif_v(k, lp, e, ii, v, ref)
            ge[k] = e * lp[L_DEC_E]
            gi[k] = ii * lp[L_DEC_I]
        fr = fired[s]
        n_spk = 0
        for k in range(k0, k1):
            if v[k] > lif_par[k, L_TH] and ref[k] == 0:
                fr[k] = 1
                spk[n_spk] = gid + k
                n_spk += 1
            else:
                fr[k] = 0
        for pi in range(n_proj):
            if proj[pi, P_TGT] != tgt:
                continue
            a0, a1 = arr_ptr[s * n_proj + pi], arr_ptr[s * n_proj + pi + 1]
            g = ge if proj[pi, P_REC] == 0 else gi
            if proj[pi, P_SPARSE]:
                _pre_block_sparse(proj[pi], arr_j, a0, a1, W, indptr, indices, g, i0, i1)
            else:
                _pre_block(tt, pi, proj[pi], projf[pi], b, arr_j, arr_r2, arr_xa, a0, a1,
                           W, g, tr_post1, ev_i, ev_o2, st_t, st_e, ev_state, pre_done,
                           pre_tlast, pre_xa, pow_tbl, touch)
        for pi in range(n_proj):
            if proj[pi, P_TGT] == tgt and proj[pi, P_EVCAP] > 0 and n_spk > 0:
                _post_block(tt, pi, proj[pi], projf[pi], b, spk, n_spk, W, tr_post1,
                            tr_post2, ev_i, ev_o2, st_t, st_e, ev_state, pre_done,
                            pre_tlast, pre_xa, pow_tbl)
        for k in range(k0, k1):
            if fr[k]:
                v[k] = lif_par[k, L_RESET]
                ref[k] = np.int64(lif_par[k, L_REF])
                u_izh[k] += lif_par[k, L_D]
        if mon_idx.shape[0] > 0 and tt % mon_every == 0:
            ms = tt // mon_every - mon_first
            for m in range(mon_idx.shape[0]):
                k = mon_idx[m]
                if k0 <= k < k1:
                    mon_v[ms, m] = v[k]
                    mon_g[ms, m] = ge[k]


@jit
def ff_merge(s0, t, te, groups, fired, src_ids, src_ptr, ring_ids, ring_cnt, out_t, out_id,
             out_cnt, rate_counts, bin0, bin_steps):
    """Steps ``t + s0`` to ``te`` of a window into the delay ring, the rate counts and
    the spike record, in the step loop's order; returns the first step not merged (``te``,
    or earlier when the record is full: the caller empties it and calls again)."""
    ring_len = ring_cnt.shape[0]
    cap = out_t.shape[0]
    n_rec = 0
    for g in range(groups.shape[0]):
        if groups[g, G_RECORD]:
            n_rec += groups[g, G_N]
    for s in range(s0, te - t):
        tt = t + s
        if out_cnt[0] + n_rec > cap:
            return tt
        row = tt % ring_len
        ids = ring_ids[row]
        cnt = 0
        sp = src_ptr[s]
        fr = fired[s]
        for g in range(groups.shape[0]):
            gid0, n, kind = groups[g, G_OFF], groups[g, G_N], groups[g, G_KIND]
            start = cnt
            if kind == LIF:
                l0 = groups[g, G_LIF]
                for k in range(l0, l0 + n):
                    if fr[k]:
                        ids[cnt] = gid0 + k - l0
                        cnt += 1
            else:  # a source: its spikes are the next ones in the step's list
                while sp < src_ptr[s + 1] and gid0 <= src_ids[sp] < gid0 + n:
                    ids[cnt] = src_ids[sp]
                    cnt += 1
                    sp += 1
            rate_counts[(tt - bin0) // bin_steps, g] += cnt - start
            if groups[g, G_RECORD]:
                for q in range(start, cnt):
                    out_t[out_cnt[0]] = tt
                    out_id[out_cnt[0]] = ids[q]
                    out_cnt[0] += 1
        ring_cnt[row] = cnt
    return te



def _make_ff_windows(parallel):
    """:func:`ff_windows`'s Python function, with the blocks on Numba's threads
    (``parallel``) or in turn. Two closures, not one function compiled twice: Numba's
    cache keys a function by its source and its closure's values, not by the compiler's
    flags, so one function's serial and parallel builds would load each other's code."""

    def ff_windows(t, t1, window, units, rng, groups, probs, proj, projf, lif_par, v, u, ge,
                   gi, ref, W, indptr, indices, tr_pre1, tr_pre2, tr_post1, tr_post2,
                   ring_ids, ring_cnt, gen_steps, gen_ids, gen_ptr, src_ids, src_ptr,
                   arr_j, arr_r2, arr_xa, arr_ptr, fired, out_t, out_id, out_cnt,
                   rate_counts, bin0, bin_steps,
                   mon_idx, mon_every, mon_first, mon_v, mon_g, ev_i, ev_o2, st_t, st_e,
                   ev_state, pre_done, pre_tlast, pre_xa, pow_tbl, touch, merged):
        """Windows of at most ``window`` steps from step ``t`` up to ``t1``: for each
        the serial pass (:func:`ff_prepass`), every target block through it (shared
        among Numba's threads: one parallel region per window) and the merge
        (:func:`ff_merge`). One call for many windows, so that a short window (a
        recurrent delay of a few steps) costs no call from Python.

        Returns the end of the last window run. ``merged[0]`` is its start and
        ``merged[1]`` the first of its steps not merged: that is the end unless the spike
        record filled up, and then the caller empties the record and merges the rest."""
        while t < t1:
            te = ff_prepass(t, min(t1, t + window), rng, groups, probs, proj, projf,
                            tr_pre1, tr_pre2, ring_ids, ring_cnt, gen_steps, gen_ids,
                            gen_ptr, src_ids, src_ptr, arr_j, arr_r2, arr_xa, arr_ptr)
            if parallel:
                for w in prange(units.shape[0]):
                    _ff_block(w, t, te, units, proj, projf, lif_par, v, u, ge, gi, ref,
                              W, indptr, indices, tr_post1, tr_post2, arr_j, arr_r2, arr_xa,
                              arr_ptr, fired, mon_idx, mon_every, mon_first, mon_v, mon_g,
                              ev_i, ev_o2, st_t, st_e, ev_state, pre_done, pre_tlast,
                              pre_xa, pow_tbl, touch[w])
            else:
                for w in range(units.shape[0]):
                    _ff_block(w, t, te, units, proj, projf, lif_par, v, u, ge, gi, ref,
                              W, indptr, indices, tr_post1, tr_post2, arr_j, arr_r2, arr_xa,
                              arr_ptr, fired, mon_idx, mon_every, mon_first, mon_v, mon_g,
                              ev_i, ev_o2, st_t, st_e, ev_state, pre_done, pre_tlast,
                              pre_xa, pow_tbl, touch[w])
            merged[0] = t
            merged[1] = ff_merge(0, t, te, groups, fired, src_ids, src_ptr, ring_ids,
                                 ring_cnt, out_t, out_id, out_cnt, rate_counts, bin0,
                                 bin_steps)
            t = te
            if merged[1] < te:
                break
        return t
    return ff_windows


#: the windows with the blocks on Numba's threads, and on one thread (without paying
#: for the parallel compiler)
ff_windows = jit_parallel(_make_ff_windows(True))
ff_windows_serial = jit(_make_ff_windows(False))
