"""The NEST backend's :class:`~plasticity.spiking.base.Simulator`: the same
:class:`~plasticity.spiking.network.Network` simulated by NEST (3.10), mapped as
:mod:`.mapping` describes (what does not map is refused with one line).

**One simulator per process.** NEST's kernel is process-global; a simulator resets it
(``ResetKernel``) when built, so only one :class:`NestSimulator` may live in a process at a
time: building a second one while the first is alive is refused (call :meth:`close` on
the first, or delete it). A simulator whose kernel was reset by other code refuses to
run.

Connectivity and initial weights come from the base class, drawn as on the Numba engine,
so NEST simulates exactly the same synapses; NEST's random numbers (Poisson sources) are
seeded from the second child of the seed (``rng_seed``), and its threads are
``local_num_threads`` (``threads``). For a fixed number of virtual processes NEST is
deterministic: the same seed and threads give the same spikes.

Times: NEST stamps a spike at the end of its step, the engine at the start; a NEST stamp
``t`` is reported as the engine's step ``t / dt - 1``.

Approximations that remain (everything else is exact up to rounding):

- *Delays.* NEST needs every delay >= one step. A projection with ``delay_ms = 0`` gets
  one step: its targets receive every spike one step later than on the engine. With
  ``delay_ms >= dt`` a spike reaches the target's synaptic variable in the same step as on
  the engine. Sources feed their parrots with one step, accounted for (a generator's spike
  at step ``k`` is its parrot's at step ``k``; hence no generator spike at 0 ms).
- *Where STDP sees the spikes.* NEST's delay is dendritic: the synapse sees a presynaptic
  spike when it is emitted and a postsynaptic one ``delay`` after; the engine's delay is
  axonal (the presynaptic spike acts on arrival, the postsynaptic one at once). So every
  pre-post interval is longer on NEST by ``delay_NEST + delay_ms`` (one step for
  ``delay_ms = 0``). The amplitudes are corrected for it
  (:func:`.mapping.window_factors`: a_plus times ``exp(shift / tau_plus)``, a_minus times
  ``exp(-shift / tau_minus)``), so every pair counts as on the engine except the pairs
  whose order the shift changes (a post spike less than ``shift`` before a pre spike at
  the synapse counts as potentiation on NEST, depression on the engine), and spikes
  coincident at the synapse, which NEST pairs as neither (the engine: pre before post).
  Without the correction one 0.1-ms step lowers song2000's output rate by ~20 %.
- *Transmission.* NEST's ``stdp_synapse`` transmits a presynaptic spike with the weight
  after its depression, the engine with the weight before it: song2000's 20-s rate is
  4 % lower on NEST (mean of seeds 1-4: 48.0 against 50.1 Hz).
- *Conductance-based LIF spikes one step later.* Measured on deterministic inputs with
  ``delay_ms >= dt``: ``iaf_cond_exp`` fires one step after the engine (its conductance
  jump acts from the next step), on top of the integration difference below.
- *Conductance-based LIF:* ``iaf_cond_exp``'s adaptive Runge-Kutta (GSL) against the
  engine's exponential Euler. Current-based LIF: both exact (``iaf_psc_exp``).
- *Threshold* ``V_m >= V_th`` (engine ``v > v_th``); *Poisson* counts per step
  (engine: Bernoulli), the first at step 1.
- *RewardSTDP.* NEST integrates ``w`` and ``c`` exactly between events; the engine takes
  Euler steps of ``w`` (relative difference ``dt / 2 (1 / tau_c + 1 / tau_d)`` per step,
  see tests/test_nest_dopamine.py). A modulator spike reaches the volume transmitter one
  step after it is emitted.
- *RewardSTDP's eligibility lags* by a step or two per pairing, so NEST's ``c`` differs
  from the engine's to first order in ``dt / tau_c`` (derived in :mod:`.mapping`).

Weights, eligibility and the modulator as the engine reads them: :mod:`.kernel`.

MPI (docs/nest.md; untested: no MPI-enabled NEST here): every rank builds the same
network; spikes, weights and eligibility are gathered from all ranks with mpi4py.
"""

from __future__ import annotations

import weakref

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.spiking.base import Simulator
from plasticity.spiking.nest import kernel, mapping
from plasticity.spiking.nest.kernel import Comm, import_nest, pending_weights, require_nest
from plasticity.spiking.network import Network
from plasticity.spiking.results import Recording, SimResult

__all__ = ["NestSimulator", "CHUNK_STEPS"]

#: steps per ``nest.Simulate`` call (progress is reported and the recorders are emptied
#: between calls)
CHUNK_STEPS = 100_000

_LIVE = None  # a weak reference to the simulator owning NEST's kernel


class NestSimulator(Simulator):
    """Simulate a :class:`Network` with NEST (module docstring: the mapping, the
    approximations and the one-simulator-per-process rule).

    Parameters
    ----------
    net : Network
        LIF, Poisson and generator groups; projections as :mod:`.mapping` allows.
    seed : int or sequence of int
        Master seed (synapses as on the engine; NEST's ``rng_seed`` from its 2nd child).
    recording : Recording, optional
        Spikes and rates (no state sampling).
    threads : int
        NEST's ``local_num_threads``.

    Examples
    --------
    >>> from plasticity.spiking import LIF, Network, PoissonGroup, Synapses
    >>> net = Network(groups={"in": PoissonGroup(n=100), "out": LIF(model="current")},
    ...               synapses=[Synapses(source="in", target="out")])
    >>> sim = NestSimulator(net, seed=0)
    >>> sim.run(100.0).counts["in"] > 0
    True
    >>> sim.close()
    """

    backend = "nest"
    group_kinds = frozenset({"lif", "poisson", "generator"})
    state_kinds = ()

    def __init__(self, net: Network, *, seed=0, recording: Recording | None = None,
                 threads=1):
        global _LIVE
        super().__init__(net, seed=seed, recording=recording)
        kernel.check_threads(threads)
        self.threads = int(threads)
        self._closed = True
        tau_minus = mapping.check_network(net)
        other = _LIVE() if _LIVE is not None else None
        if other is not None and not other._closed:
            raise InvalidParameterError("only one NEST simulator can live in a process at "
                                        "a time (NEST's kernel is global); close() or "
                                        "delete the other one first")
        nest = import_nest()
        self._nest = nest
        nest.ResetKernel()
        self._rng_seed = int(self._seeds[1].generate_state(1)[0]) % (2**31 - 2) + 1
        try:
            nest.set(resolution=self.dt, local_num_threads=self.threads,
                     rng_seed=self._rng_seed, print_time=False)
        except Exception as exc:  # NEST's own errors (its tic grid: mapping.check_network)
            raise InvalidParameterError(f"NEST refused the kernel settings (dt_ms="
                                        f"{self.dt}, threads={self.threads}): "
                                        f"{str(exc).splitlines()[0]}") from exc
        _LIVE = weakref.ref(self)
        self._closed = False
        self._comm = Comm(nest)
        self._build(tau_minus)
        self._n_nodes = int(nest.network_size)

    @classmethod
    def check_network(cls, net: Network | None, *, threads=1):
        """Refuse (one line, nothing imported or built) bad ``threads``, what
        :func:`.mapping.check_network` does not map, and a missing NEST; for
        :func:`plasticity.spiking.backends.check_backend`. ``net`` None: no mapping."""
        kernel.check_threads(threads)
        if net is not None:
            mapping.check_network(net)
        require_nest()

    def _unsupported_group(self, name, kind) -> str:
        return mapping.unsupported_group(name, kind) or \
            super()._unsupported_group(name, kind)

    def close(self):
        """Release NEST's kernel so that another simulator can be built."""
        global _LIVE
        self._closed = True
        if _LIVE is not None and _LIVE() is self:
            _LIVE = None

    # -- construction ------------------------------------------------------------------
    def _build(self, tau_minus):
        nest, net, dt = self._nest, self.net, self.dt
        self._nodes, self._first, self._recorders = {}, {}, {}
        for name, g in net.groups.items():
            if g.kind == "lif":
                model, params = mapping.neuron_model(g)
                nodes = nest.Create(model, g.n, params=params)
            else:
                nodes = nest.Create("parrot_neuron", g.n)
                if g.kind == "poisson":
                    gen = nest.Create("poisson_generator", params={"rate": g.rate_hz})
                    nest.Connect(gen, nodes, "all_to_all", {"delay": dt})
                elif g.indices:
                    steps = np.rint(np.asarray(g.times_ms) / dt).astype(np.int64)
                    key = np.unique(np.stack([np.asarray(g.indices, np.int64), steps],
                                             axis=1), axis=0)
                    # a spike of step k leaves the generator at k dt and reaches its
                    # parrot one step later, which stamps it (k + 1) dt: the engine's k
                    gens = nest.Create("spike_generator", g.n, params=[
                        {"spike_times": np.round(key[key[:, 0] == i, 1] * dt, 9).tolist()}
                        for i in range(g.n)])
                    nest.Connect(gens, nodes, "one_to_one", {"delay": dt})
            if name in tau_minus:
                nodes.set(tau_minus=tau_minus[name])
            rec = nest.Create("spike_recorder")
            nest.Connect(nodes, rec)
            self._nodes[name], self._recorders[name] = nodes, rec
            self._first[name] = int(nodes[0].global_id)
        self._proj = {}
        self._last = {name: np.full(g.n, -np.inf) for name, g in net.groups.items()}
        self._post_hist = {}
        self._arrivals = {}
        for pi, (syn, w) in enumerate(self._initial_synapses()):
            self._proj[syn.label] = self._projection(pi, syn, w)

    def _projection(self, pi, syn, w):
        nest, net, dt = self._nest, self.net, self.dt
        kind = getattr(syn.plasticity, "kind", None)
        scale = mapping.weight_scale(syn, net)
        name = f"plasticity_syn{pi:04d}"
        d_steps = max(1, net.delay_steps(syn))
        shift = (d_steps + net.delay_steps(syn)) * dt
        lam = 0.0
        if kind == "pair":
            params = mapping.pair_params(syn, scale, shift)
            lam = params["lambda"]
            nest.CopyModel("stdp_synapse", name, params)
            self._post_hist.setdefault(syn.target, (np.zeros(0), np.zeros(0, np.int64)))
        elif kind == "reward":
            vt = nest.Create("volume_transmitter")
            mod = syn.plasticity.modulator
            if mod is not None:
                nest.Connect(self._nodes[mod], vt, syn_spec={"delay": dt})
            nest.CopyModel("stdp_dopamine_synapse", name,
                           {**mapping.reward_params(syn, scale, shift),
                            "volume_transmitter": vt})
            self._arrivals[syn.label] = np.zeros(0)
        else:
            nest.CopyModel("static_synapse", name)
        pre, post = self.connectivity(syn.label)
        onto_parrot = net.groups[syn.target].kind != "lif"
        if pre.size:
            spec = {"synapse_model": name, "weight": np.asarray(w * scale, np.float64),
                    "delay": np.full(pre.size, d_steps * dt)}
            if onto_parrot:
                spec["receptor_type"] = np.ones(pre.size, np.float64)
            nest.Connect(pre + self._first[syn.source], post + self._first[syn.target],
                         "one_to_one", spec)
        conns = nest.GetConnections(synapse_model=name)
        n_post = net.groups[syn.target].n
        keys = None if syn.connect == "all" else pre * n_post + post
        return {"syn": syn, "kind": kind, "scale": scale, "model": name, "conns": conns,
                "delay_ms": d_steps * dt, "n_post": n_post, "keys": keys, "lambda": lam,
                "k": mapping.reward_factor(syn) if kind == "reward" else 1.0}

    def _positions(self, p):
        """Local connections' (pre, post) and their positions in the (pre, post) order."""
        syn = p["syn"]
        if len(p["conns"]) == 0:
            e = np.zeros(0, np.int64)
            return e, e, e
        st = p["conns"].get(["source", "target"])
        pre = np.asarray(st["source"], np.int64).reshape(-1) - self._first[syn.source]
        post = np.asarray(st["target"], np.int64).reshape(-1) - self._first[syn.target]
        key = pre * p["n_post"] + post
        pos = key if p["keys"] is None else np.searchsorted(p["keys"], key)
        return pre, post, pos

    def _local(self, p, var):
        if len(p["conns"]) == 0:
            return np.zeros(0)
        return np.asarray(p["conns"].get(var), dtype=np.float64).reshape(-1)

    # -- running -----------------------------------------------------------------------
    def _check_kernel(self):
        if self._closed:
            raise InvalidParameterError("this NEST simulator was closed")
        nest = self._nest
        if int(nest.network_size) != self._n_nodes or \
                int(nest.GetKernelStatus("rng_seed")) != self._rng_seed:
            raise InvalidParameterError("NEST's kernel was reset by other code; this NEST "
                                        "simulator cannot continue")

    def _run(self, t0, t1, progress) -> SimResult:
        self._check_kernel()
        nest, rec, dt, net = self._nest, self.recording, self.dt, self.net
        bin_steps = max(1, int(round(rec.rate_bin_ms / dt)))
        names = list(net.groups)
        n_bins = -(-(t1 - t0) // bin_steps)
        counts = np.zeros((n_bins, len(names)), dtype=np.int64)
        spikes = {name: ([], []) for name in names if rec.records_spikes(name)}
        chunk = max(bin_steps, CHUNK_STEPS // bin_steps * bin_steps)
        t = t0
        while t < t1:
            stop = min(t1, t + chunk)
            nest.Simulate((stop - t) * dt)
            for gi, name in enumerate(names):
                sr = self._recorders[name]
                ev = sr.get("events")
                stamps = self._comm.cat(np.asarray(ev["times"], np.float64))
                ids = self._comm.cat(np.asarray(ev["senders"], np.int64)) \
                    - self._first[name]
                sr.set(n_events=0)
                steps = np.rint(stamps / dt).astype(np.int64) - 1
                np.add.at(counts[:, gi], (steps - t0) // bin_steps, 1)
                if name in spikes:
                    spikes[name][0].append(steps)
                    spikes[name][1].append(ids)
                self._book(name, stamps, ids)
            if progress is not None:
                progress((stop - t) * dt)
            t = stop
            self.step = t
        self.step = t1
        res = SimResult(t0 * dt, t1 * dt)
        starts = t0 + bin_steps * np.arange(n_bins)
        widths = np.minimum(starts + bin_steps, t1) - starts
        for gi, name in enumerate(names):
            res.counts[name] = int(counts[:, gi].sum())
            with np.errstate(invalid="ignore", divide="ignore"):
                res.rates[name] = (starts * dt,
                                   counts[:, gi] / (net.groups[name].n * widths * dt * 1e-3))
            if name in spikes:
                st = np.concatenate(spikes[name][0]) if spikes[name][0] \
                    else np.zeros(0, np.int64)
                si = np.concatenate(spikes[name][1]) if spikes[name][1] \
                    else np.zeros(0, np.int64)
                order = np.lexsort((si, st))
                res.spikes[name] = (st[order] * dt, si[order])
        return res

    def _book(self, name, stamps, ids):
        """Keep what the engine's view of weights and dopamine needs: each neuron's last
        spike, the postsynaptic spikes that may still be pending at a pair-STDP synapse,
        the dopamine spikes' arrivals."""
        if stamps.size:
            np.maximum.at(self._last[name], ids, stamps)
        if name in self._post_hist:
            t_all = np.concatenate([self._post_hist[name][0], stamps])
            i_all = np.concatenate([self._post_hist[name][1], ids])
            # a post spike is pending only after the last presynaptic spike of a synapse
            # that has fired (Kplus = 0 before): drop those before every such spike
            lows = [last[np.isfinite(last)].min() - p["delay_ms"]
                    for p in self._proj.values()
                    if p["kind"] == "pair" and p["syn"].target == name
                    for last in [self._last[p["syn"].source]] if np.isfinite(last).any()]
            if lows:
                keep = t_all > min(lows) - 1e-9
                t_all, i_all = t_all[keep], i_all[keep]
            self._post_hist[name] = (t_all, i_all)
        for label, p in self._proj.items():
            if p["kind"] == "reward" and p["syn"].plasticity.modulator == name:
                arr = np.concatenate([self._arrivals[label], stamps + self.dt])
                # older than 50 tau_d: below 2e-22 of a jump
                horizon = (self.step + 1) * self.dt - 50 * p["syn"].plasticity.tau_d_ms
                self._arrivals[label] = arr[arr > horizon] if arr.size > 10_000 else arr

    # -- synapses ----------------------------------------------------------------------
    def _pending(self, p, pre, post, w_nest):
        """NEST's weights with the potentiation pending since each synapse's last
        presynaptic spike applied (:func:`.kernel.pending_weights`)."""
        t_post, i_post = self._post_hist[p["syn"].target]
        return pending_weights(p, pre, post, w_nest, self._comm.cat(self._local(p, "Kplus")),
                               self._last[p["syn"].source][pre], t_post, i_post)

    def _gathered(self, p, var):
        """``var`` of every synapse of projection ``p`` in the (pre, post) order, with
        the local (pre, post) indices (all ranks)."""
        pre, post, pos = self._positions(p)
        vals = self._local(p, var)
        pre, post, pos, vals = (self._comm.cat(a) for a in (pre, post, pos, vals))
        return pre, post, pos, vals

    def _weights(self, label) -> np.ndarray:
        p = self._proj[label]
        self._check_kernel()
        pre, post, pos, w = self._gathered(p, "weight")
        if p["kind"] == "pair" and w.size:
            w = self._pending(p, pre, post, w)
        out = np.zeros(self._size(label))
        out[pos] = w / p["scale"]
        return out

    def _set_weights(self, label, w):
        p = self._proj[label]
        self._check_kernel()
        if len(p["conns"]) == 0:
            return
        pre, post, pos = self._positions(p)
        if p["kind"] == "pair" and self.step > 0:
            w_now = self._comm.cat(self._local(p, "weight"))
            all_pre, all_post = self._comm.cat(pre), self._comm.cat(post)
            if np.any(self._pending(p, all_pre, all_post, w_now) != w_now):
                raise InvalidParameterError(
                    f"projection '{label}': NEST applies the potentiation pending since a "
                    "synapse's last presynaptic spike at its next one and would add it to "
                    "new weights; set pair-STDP weights on NEST before the first run")
        # one dict per local connection: NEST refuses a list of values under MPI
        p["conns"].set([{"weight": x} for x in (w[pos] * p["scale"]).tolist()])

    def _modulator(self, label) -> float:
        self._check_kernel()
        p = self._proj[label]
        return mapping.dopamine_level(p["syn"], self._arrivals[label], self.step * self.dt)

    def _set_modulator(self, label, value):
        raise InvalidParameterError("the nest backend cannot set the modulator (NEST's "
                                    "dopamine is a sum of spikes); use numba or brian2")

    def _eligibility(self, label) -> np.ndarray:
        self._check_kernel()
        p = self._proj[label]
        _, _, pos, c = self._gathered(p, "c")
        out = np.zeros(self._size(label))
        out[pos] = c / (p["scale"] * p["k"])
        return out
