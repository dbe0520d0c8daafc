"""The Numba engine's :class:`~plasticity.spiking.base.Simulator`: the network packed
into flat arrays (:mod:`.pack`) and stepped by the compiled loop
(:func:`plasticity._kernels.spiking.step_loop`: the loop compiled for the features the
network uses).

Same seed, same result: connectivity and initial weights come from one child of the
seed, the simulation's random numbers (Poisson sources) from another, through a NumPy
``Generator`` (PCG64) that the compiled loop draws from; results do not depend on how a
simulation is split into :meth:`NumbaSimulator.run` calls.

Two-compartment neurons (:class:`~plasticity.spiking.network.TwoCompartment`) draw one
uniform number per neuron and step from that generator (after the Poisson groups before
them, in group order). Recording their state samples ``U`` into the ``v`` slot of the
monitor and ``V*`` into the ``g_e`` slot; :class:`SimResult` names them ``"U"`` and
``"V_star"``.

Threads: a network whose neurons interact only through delays runs in windows whose
units (the target blocks of its LIF groups) are shared among ``threads`` Numba threads
(default :func:`plasticity._config.threads`: ``--threads`` of ``plasticity run``, else the
cores available). That is LIF groups fed by spike sources and by each other (or
themselves) through projections with a delay: static ones dense or sparse, plastic ones
(pair or triplet STDP) dense (:meth:`NumbaSimulator._window_steps`). The shortest delay
between LIF groups bounds the window (NEST's ``min_delay``: a spike cannot arrive within
the window in which it was sent), so the units meet once per window rather than once per
step. Other networks (Izhikevich or two-compartment neurons, sparse plastic, dendritic or
reward-modulated projections, coupling without delay) run the step loop on one thread.
Nothing random is drawn in the parallel part, and every sum keeps its order, so results
are bit-identical for any thread count, and to the step loop.

The whole state is the simulator's underscore arrays (found by name, so that arrays
added to the engine later are saved too), its step and its generator's state:
:meth:`NumbaSimulator.get_state` and :meth:`NumbaSimulator.set_state` continue a run bit
for bit.
"""

from __future__ import annotations

import copy as _copy
import os
import time

import numba
import numpy as np

from plasticity import _config
from plasticity._kernels import spiking as K
from plasticity.errors import InvalidParameterError
from plasticity.spiking.base import Simulator
from plasticity.spiking.network import Network
from plasticity.spiking.numba import windows
from plasticity.spiking.numba.pack import pack_groups, pack_projections
from plasticity.spiking.numba.record import RunRecord
from plasticity.spiking.results import Recording, SimResult

__all__ = ["NumbaSimulator", "CHUNK_STEPS"]

#: steps per compiled call (progress and Ctrl-C are handled between calls)
CHUNK_STEPS = 10_000
#: environment variable naming a file to which the first compiled chunk of this process
#: appends when it has run (benchmarks/bench_coldstart.py: the time to start simulating)
TRACE_START_ENV = "PLASTICITY_TRACE_START"
_trace_done = False


def _trace_start(t0, t1):
    """Once per process, if ``$PLASTICITY_TRACE_START`` names a file: append a line
    ``<unix time> <t0> <t1>`` after the first compiled chunk (steps ``t0`` to ``t1``) has
    returned; that time includes the kernels' compilation or cache load and the chunk
    itself (at most :data:`CHUNK_STEPS` steps or a window)."""
    global _trace_done
    if _trace_done:
        return
    _trace_done = True
    path = os.environ.get(TRACE_START_ENV)
    if path:
        with open(path, "a") as fh:
            fh.write(f"{time.time():.6f} {int(t0)} {int(t1)}\n")


class NumbaSimulator(Simulator):
    """Simulate a :class:`Network` with the project's compiled engine.

    Parameters
    ----------
    net : Network
        The model.
    seed : int or sequence of int
        Master seed (connectivity, initial weights and Poisson sources).
    recording : Recording, optional
        What to keep (spikes of which groups, sampled state, rate bins).
    threads : int, optional
        Numba threads of the step loop (default :func:`plasticity._config.threads`,
        read at every :meth:`run`). Any value gives the same result bit for bit.

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
    group_kinds = frozenset({"lif", "izhikevich", "two_compartment", "poisson", "generator"})
    state_kinds = ("lif", "izhikevich", "two_compartment")
    can_checkpoint = True

    def __init__(self, net: Network, *, seed=0, recording: Recording | None = None,
                 threads: int | None = None):
        super().__init__(net, seed=seed, recording=recording)
        if threads is not None and (isinstance(threads, bool) or not isinstance(
                threads, (int, np.integer)) or not 1 <= threads <= numba.config.NUMBA_NUM_THREADS):
            raise InvalidParameterError(
                f"threads must be an integer from 1 to {numba.config.NUMBA_NUM_THREADS} "
                f"(Numba's thread pool), got {threads!r}")
        self.threads = None if threads is None else int(threads)
        self._rng = np.random.default_rng(self._seeds[1])
        arrays, self._lif_off, self._tc_off = pack_groups(net, self.recording)
        self._set_arrays(arrays)
        arrays, self._proj_index = pack_projections(net, self._lif_off, self._tc_off,
                                                    self._initial_synapses(), self._conn)
        self._set_arrays(arrays)
        max_delay = max((net.delay_steps(s) for s in net.synapses), default=0)
        n_total = int(self._groups[:, K.G_N].sum())
        # spikes in flight: per delay slot, the ids (and their count) arriving then
        self._ring_ids = np.zeros((max_delay + 1, n_total), dtype=np.int64)
        self._ring_cnt = np.zeros(max_delay + 1, dtype=np.int64)

    def _set_arrays(self, arrays):
        # the packed arrays become the underscore attributes the loop and the
        # checkpoints use (``_v``, ``_W``, ...)
        for name, value in arrays.items():
            setattr(self, "_" + name, value)

    def _flush(self):
        """Apply the deferred potentiations, so that ``self._W`` is current (nothing to
        do, and nothing to compile, without a deferred projection)."""
        if self._proj.shape[0] and self._proj[:, K.P_EVCAP].any():
            K.flush_all(self._proj, self._projf, self._W, *self._defer)

    # -- running -----------------------------------------------------------------------
    def _run(self, t0, t1, progress) -> SimResult:
        rec = RunRecord(self.net, self.recording, self._groups, self._lif_off, t0, t1)
        n_threads = self.threads if self.threads is not None else _config.threads()
        before = numba.get_num_threads()
        numba.set_num_threads(n_threads)  # this thread's setting, restored below
        try:
            window = self._window_steps()
            if window and (n_threads > 1 or self._windows_on_one_thread()):
                self._steps_ff(t0, t1, rec, progress, n_threads, window)
            else:
                self._steps(t0, t1, rec, progress)
        finally:
            numba.set_num_threads(before)
        # the weights are current after every run (a flush applies each pending event
        # exactly as a later arrival would, so splitting a run changes nothing)
        self._flush()
        return rec.result()

    def _window_steps(self) -> int:
        """Steps per window of the multithreaded path, 0 for the step loop
        (:func:`.windows.window_steps`)."""
        return windows.window_steps(self._groups, self._proj)

    def _windows_on_one_thread(self) -> bool:
        """Whether one thread runs the windows too (:func:`.windows.on_one_thread`)."""
        return windows.on_one_thread(self._groups, self._proj)

    def _units(self):
        """The windows' units (:func:`.windows.units`)."""
        return windows.units(self._groups)

    def _ff_buffers(self):
        """Scratch arrays of the windows (not part of the state: a dict, which
        :meth:`_state_arrays` does not save)."""
        sc = getattr(self, "_ff_scratch", None)
        if sc is None:
            sc = self._ff_scratch = windows.buffers(self._groups, self._proj,
                                                    self._ring_ids.shape[1], self._v.shape[0])
        return sc

    def _steps_ff(self, t0, t1, rec, progress, n_threads, window):
        """The multithreaded path: windows of at most ``window`` steps, each a serial
        pass over the sources and arrivals, the target blocks (on ``n_threads`` threads)
        and a serial merge (bit-identical to :meth:`_steps`; on one thread too, where it
        is faster than the step loop: a block's window runs from cache), run by one
        compiled call per chunk of :data:`CHUNK_STEPS` steps or more (whole windows)."""
        sc = self._ff_buffers()
        driver = K.ff_windows if n_threads > 1 else K.ff_windows_serial
        merged = sc["merged"]
        t = t0
        while t < t1:
            te = driver(t, min(t1, t + max(CHUNK_STEPS, window)), window, sc["units"],
                        self._rng, self._groups, self._probs, self._proj, self._projf,
                        self._lif_par, self._v, self._u, self._ge, self._gi, self._ref,
                        self._W, self._indptr, self._indices, *self._tr,
                        self._ring_ids, self._ring_cnt, self._gen_steps, self._gen_ids,
                        self._gen_ptr, sc["src_ids"], sc["src_ptr"], sc["arr_j"],
                        sc["arr_r2"], sc["arr_xa"], sc["arr_ptr"], sc["fired"], rec.out_t,
                        rec.out_id, rec.out_cnt, rec.rate_counts, t0, rec.bin_steps,
                        rec.mon_idx, rec.every, rec.first, rec.mon_v, rec.mon_g,
                        *self._defer, sc["touch"], merged)
            rec.collect()
            # the record filled up within the last window: empty it and merge the rest
            tw, s = int(merged[0]), int(merged[1])
            while s < te:
                s = K.ff_merge(s - tw, tw, te, self._groups, sc["fired"], sc["src_ids"],
                               sc["src_ptr"], self._ring_ids, self._ring_cnt, rec.out_t,
                               rec.out_id, rec.out_cnt, rec.rate_counts, t0, rec.bin_steps)
                rec.collect()
            _trace_start(t, te)
            if progress is not None:
                progress((te - t) * self.dt)
            t = te
            self.step = t

    def _loop_buffers(self):
        """Scratch arrays of the step loop (:func:`plasticity._kernels.spiking.step_scratch`;
        kept in a dict, which :meth:`_state_arrays` does not save)."""
        sc = getattr(self, "_loop_scratch", None)
        if sc is None:
            sc = self._loop_scratch = {"arrays": K.step_scratch(self._groups, self._proj,
                                                                self._v.shape[0])}
        return sc["arrays"]

    def _steps(self, t0, t1, rec, progress):
        # the loop compiled for this network's features only (a fraction of the compile
        # time of the full loop; the same numbers)
        loop = K.step_loop(K.features(self._groups, self._probs, self._proj,
                                      rec.mon_idx.size))
        scratch = self._loop_buffers()
        t = t0
        while t < t1:
            stop = min(t1, t + CHUNK_STEPS)
            reached = loop(
                t, stop, self._rng, self._groups, self._probs, self._lif_par, self._v,
                self._u, self._ge, self._gi, self._ref, self._proj, self._projf, self._W,
                self._indptr, self._indices, self._csc_ptr, self._csc_syn, self._csc_pre,
                *self._tr, self._ring_ids, self._ring_cnt, self._gen_steps, self._gen_ids,
                self._gen_ptr, rec.out_t, rec.out_id, rec.out_cnt, rec.rate_counts, t0,
                rec.bin_steps, rec.mon_idx, rec.every, rec.first, rec.mon_v, rec.mon_g,
                *self._defer, self._cel, self._dop, self._tc_par, self._tc_state,
                self._timed, *scratch)
            _trace_start(t, reached)
            rec.collect()
            if progress is not None and reached > t:
                progress((reached - t) * self.dt)
            t = reached
            self.step = t

    # -- synapses ----------------------------------------------------------------------
    def _slice(self, label):
        start = self._proj[self._proj_index[label], K.P_WOFF]
        return slice(start, start + self._size(label))

    def _weights(self, label) -> np.ndarray:
        sl = self._slice(label)
        self._flush()
        return self._W[sl].copy()

    def _weights_view(self, label) -> np.ndarray:
        sl = self._slice(label)
        self._flush()
        view = self._W[sl]
        view.flags.writeable = False  # a view of the engine's own array: read only
        return view

    def _set_weights(self, label, w):
        sl = self._slice(label)
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

    def _modulator(self, label) -> float:
        return float(self._dop[self._proj_index[label]])

    def _set_modulator(self, label, value):
        self._dop[self._proj_index[label]] = value

    def _eligibility(self, label) -> np.ndarray:
        p = self._proj[self._proj_index[label]]
        return self._cel[p[K.P_COFF]:p[K.P_COFF] + p[K.P_NSYN]].copy()

    # -- checkpoints -------------------------------------------------------------------
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

    def get_state(self, *, copy=True) -> dict:
        """Everything needed to continue the simulation bit for bit: the simulator's
        arrays (copies, or with ``copy=False`` read-only views valid until the next
        :meth:`run`), the step and the state of its random generator."""
        def out(a):
            if copy:
                return a.copy()
            view = a.view()
            view.flags.writeable = False
            return view

        arrays = {k: ([out(a) for a in v] if isinstance(v, list) else out(v))
                  for k, v in self._state_arrays().items()}
        return {"step": int(self.step), "rng": _copy.deepcopy(self._rng.bit_generator.state),
                "arrays": arrays}

    def set_state(self, state: dict):
        """Restore :meth:`get_state`'s result into this simulator (built from the same
        network and seed); arrays are copied in place. An array may also be anything
        with ``shape``, ``dtype`` and ``read_into(dst)`` (a checkpoint's
        :class:`~plasticity.io.checkpoint.StoredArray`), which is read straight into
        the simulator's own array."""
        mine = self._state_arrays()
        saved = state["arrays"]
        if set(mine) != set(saved):
            raise InvalidParameterError("the saved simulator state does not fit this "
                                        f"simulator (arrays {sorted(set(mine) ^ set(saved))})")
        for name, target in mine.items():
            pairs = zip(target, saved[name], strict=True) if isinstance(target, list) \
                else [(target, saved[name])]
            for dst, src in pairs:
                stored = hasattr(src, "read_into")  # a checkpoint's array, still on disk
                if not stored:
                    src = np.asarray(src)
                if dst.shape != tuple(src.shape) or dst.dtype != src.dtype:
                    raise InvalidParameterError(
                        f"the saved simulator array {name} has shape {tuple(src.shape)} "
                        f"({src.dtype}); this simulator's is {dst.shape} ({dst.dtype})")
                if stored:
                    src.read_into(dst)  # straight from the file: no second copy
                else:
                    np.copyto(dst, src)
        self.step = int(state["step"])
        self._rng.bit_generator.state = state["rng"]
