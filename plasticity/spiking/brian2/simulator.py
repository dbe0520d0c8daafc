"""The Brian2 backend's :class:`~plasticity.spiking.base.Simulator`: the same
:class:`~plasticity.spiking.network.Network` simulated by Brian2 (the reference the Numba
engine is checked against).

Every Brian2 object is created here (from :mod:`.neurons` and :mod:`.synapses`) and
collected into an explicit ``brian2.Network`` (no "magic" collection from the caller's
frame, no ``brian2.run``), with names unique to one simulator, so several simulators can
live in one process. All objects share one ``Clock`` of the network's time step;
``defaultclock`` is not touched. Brian2's default schedule runs every presynaptic pathway
before every postsynaptic one, and pathways in declaration order (the objects are named
so that the name tie-break keeps that order).

Connectivity and initial weights come from the base class, drawn as on the Numba engine
(:mod:`plasticity.spiking.connectivity`), so for deterministic inputs the two backends
simulate exactly the same synapses. Brian2's random numbers (Poisson sources) are seeded
from the second child of the seed; the process-wide NumPy random state is saved and
restored around every run (:mod:`.streams`).
"""

from __future__ import annotations

import shutil
import tempfile

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.io.memory import format_bytes
from plasticity.spiking.base import Simulator
from plasticity.spiking.brian2.neurons import izhikevich_group, lif_group, source_group
from plasticity.spiking.brian2.record import Accumulator, all_monitors, monitors_for
from plasticity.spiking.brian2.streams import claim_prefix, random_state
from plasticity.spiking.brian2.synapses import (
    brian2_synapse_bytes,
    dopamine_group,
    reward_update,
    synapse_model,
)
from plasticity.spiking.brian2.targets import (
    adopt,
    check_target,
    import_brian2,
    prefs,
    quiet,
    require_brian2,
    resolve_target,
)
from plasticity.spiking.network import Network, available_memory
from plasticity.spiking.results import Recording, SimResult

__all__ = ["Brian2Simulator", "CHUNK_STEPS", "check_memory"]

#: steps per ``brian2.Network.run`` call in runtime mode (progress is reported and the
#: monitors are emptied between calls)
CHUNK_STEPS = 100_000


def check_memory(net: Network):
    """Refuse, with one line, a network whose synapses as Brian2 stores them
    (:func:`~.synapses.brian2_synapse_bytes`) exceed ``net.memory_fraction`` of the memory
    available (the Numba engine's smaller need is checked by the network itself)."""
    total = sum(brian2_synapse_bytes(s, net.groups[s.source].n, net.groups[s.target].n)
                for s in net.synapses)
    budget = net.memory_fraction * available_memory()
    if total > budget:
        raise InvalidParameterError(
            f"the brian2 backend needs about {format_bytes(total)} for the synapses, "
            f"more than {format_bytes(budget)} of the memory available; make the "
            f"network smaller or sparser, or use backend='numba'")


class Brian2Simulator(Simulator):
    """Simulate a :class:`Network` with Brian2.

    Parameters
    ----------
    net : Network
        The model (no two-compartment groups: they run on the Numba engine only).
    seed : int or sequence of int
        Master seed (connectivity and initial weights exactly as in the Numba engine;
        Brian2's random numbers from the second child of the seed).
    recording : Recording, optional
        What to keep.
    target : {"auto", "numpy", "cython", "cpp_standalone"}
        Brian2's code generation: ``"auto"`` uses runtime Cython when it compiles, else
        NumPy (see :attr:`target_used`). ``"cpp_standalone"`` builds and runs a C++
        program; :meth:`run` can then be called only once.

    Examples
    --------
    >>> from plasticity.spiking import LIF, Network, PoissonGroup, Synapses
    >>> net = Network(groups={"in": PoissonGroup(n=100, rate_hz=20.0), "out": LIF(n=1)},
    ...               synapses=[Synapses(source="in", target="out", w_init=0.01)])
    >>> res = Brian2Simulator(net, seed=0, target="numpy").run(100.0)
    >>> res.counts["in"] > 0
    True
    """

    backend = "brian2"
    group_kinds = frozenset({"lif", "izhikevich", "poisson", "generator"})
    state_kinds = ("lif", "izhikevich")

    def __init__(self, net: Network, *, seed=0, recording: Recording | None = None,
                 target="auto"):
        super().__init__(net, seed=seed, recording=recording)
        b2 = import_brian2()
        self._b2 = b2
        self.target = target
        self.target_used = resolve_target(b2, target)
        self._standalone = self.target_used == "cpp_standalone"
        self._ran = False
        self._check_memory()
        self._b2_seed = int(self._seeds[1].generate_state(1)[0])
        self._np_state = None  # the NumPy random state of this simulator between runs
        self._prefix = claim_prefix(self)
        # weights (and the order of Brian2's synapses against (pre, post)) while they do
        # not live in Brian2: before the build, and for a standalone run before and after
        self._order, self._wcache = {}, {}
        # dopamine and eligibility of the reward-modulated projections, likewise
        self._dcache, self._ccache = {}, {}
        self._dopa, self._extra = {}, []
        for syn, w in self._initial_synapses():
            self._wcache[syn.label] = np.asarray(w, dtype=np.float64)
            if getattr(syn.plasticity, "kind", None) == "reward":
                self._dcache[syn.label] = 0.0
                self._ccache[syn.label] = np.zeros(w.size)
        if not self._standalone:
            with quiet(b2), prefs(b2, self.target_used):
                self._build()

    @classmethod
    def check_network(cls, net: Network | None, *, target="auto"):
        """Refuse, with one line and before anything is built, what the constructor would
        refuse of ``net`` and ``target`` beyond its group kinds: Brian2 not installed, an
        unknown target, ``"cython"`` without a working compiler (the only case that
        imports Brian2), synapses that do not fit in memory (:func:`check_memory`; not
        checked when ``net`` is None). :func:`plasticity.spiking.backends.check_backend`
        calls it."""
        require_brian2()
        check_target(target)
        if target == "cython":
            resolve_target(import_brian2(), target)
        if net is not None:
            check_memory(net)

    def _unsupported_group(self, name, kind) -> str:
        if kind == "two_compartment":
            return f"group '{name}': the two-compartment neuron runs on the Numba engine " \
                   "only (backend='numba')"
        return super()._unsupported_group(name, kind)

    # -- construction ------------------------------------------------------------------
    def _check_memory(self):
        check_memory(self.net)

    def _name(self, kind, index):
        return f"{self._prefix}_{kind}{index:04d}"

    def _build(self):
        """Create the Brian2 objects (on the current device) and the Network."""
        b2 = self._b2
        net, dt = self.net, self.dt
        self._clock = b2.Clock(dt=dt * b2.ms, name=self._name("clock", 0))
        clock = self._clock
        groups, synapses = {}, {}
        self._dopa, self._extra = {}, []
        for gi, (gname, g) in enumerate(net.groups.items()):
            name = self._name("group", gi)
            if g.kind == "lif":
                groups[gname] = lif_group(b2, g, name, clock)
            elif g.kind == "izhikevich":
                groups[gname] = izhikevich_group(b2, g, name, clock, dt)
            else:
                groups[gname] = source_group(b2, g, name, clock, dt)
        for pi, syn in enumerate(net.synapses):
            synapses[syn.label] = self._projection(pi, syn, groups, clock)
        self._groups, self._synapses = groups, synapses
        objects = [*groups.values(), *synapses.values(), *self._extra]
        self._network = b2.Network(*objects, name=self._name("network", 0))
        adopt(self._network, objects)

    def _projection(self, pi, syn, groups, clock):
        """The ``Synapses`` of projection ``syn``, connected, with its weights (and its
        dopamine group), which from now on live in Brian2 (runtime targets)."""
        b2 = self._b2
        model, on_pre, on_post, namespace = synapse_model(b2, syn, self.net)
        kwargs = {"on_post": on_post} if on_post else {}
        d = self.net.delay_steps(syn)
        if d > 0:
            kwargs["delay"] = d * self.dt * b2.ms
        S = b2.Synapses(groups[syn.source], groups[syn.target], model=model, on_pre=on_pre,
                        namespace=namespace, clock=clock, name=self._name("syn", pi),
                        **kwargs)
        reward = getattr(syn.plasticity, "kind", None) == "reward"
        if reward:
            D, objects = dopamine_group(
                b2, syn, self.net, groups, clock,
                (self._name("dopamine", pi), self._name("release", pi)),
                self._dcache[syn.label])
            self._dopa[syn.label] = D
            self._extra.extend(objects)
            S.da = b2.linked_var(D, "d")
        pre, post = self.connectivity(syn.label)
        if pre.size:
            S.connect(i=pre.astype(np.int32), j=post.astype(np.int32))
            if reward:
                reward_update(S, self.net.update_steps(syn))
        else:
            S.active = False  # no synapses (Brian2 refuses to run an unconnected one)
        if self._standalone or not pre.size:
            self._order[syn.label] = None
        else:
            i, j = np.asarray(S.i[:]), np.asarray(S.j[:])
            order = np.lexsort((j, i))
            self._order[syn.label] = None if np.array_equal(order, np.arange(order.size)) \
                else order
        self._write_w(S, syn.label, self._wcache[syn.label])
        if not self._standalone:
            del self._wcache[syn.label]  # from now on the weights live in Brian2
            if reward:
                del self._dcache[syn.label], self._ccache[syn.label]
        return S

    def _write_w(self, S, label, w):
        order = self._order[label]
        if self._standalone:
            S.w = w
            return
        arr = S.variables["w"].get_value()
        if order is None:
            arr[:] = w
        else:
            arr[order] = w

    # -- running -----------------------------------------------------------------------
    @property
    def standalone(self) -> bool:
        """True in C++ standalone mode, where :meth:`run` may be called only once."""
        return self._standalone

    def _run(self, t0, t1, progress) -> SimResult:
        if self._standalone and self._ran:
            raise InvalidParameterError("a cpp_standalone Brian2 simulation can run only "
                                        "once; simulate the whole duration in one run() "
                                        "or use target='cython' or 'numpy'")
        rec, dt, b2 = self.recording, self.dt, self._b2
        bin_steps = max(1, int(round(rec.rate_bin_ms / dt)))
        every = max(1, int(round(rec.state_every_ms / dt)))
        acc = Accumulator(self.net, rec, t0, t1, bin_steps, every)
        if self._standalone:
            self._ran = True
            self._run_standalone(t0, t1, every, acc)
            if progress is not None and t1 > t0:
                progress((t1 - t0) * dt)
        else:
            # chunks aligned to the rate bins
            chunk = max(bin_steps, CHUNK_STEPS // bin_steps * bin_steps)
            t = t0
            while t < t1:
                stop = min(t1, t + chunk)
                with quiet(b2), prefs(b2, self.target_used), random_state(self):
                    mons = monitors_for(b2, self._groups, rec, every, dt, self._name)
                    objs = all_monitors(mons)
                    self._network.add(*objs)
                    try:
                        self._network.run((stop - t) * dt * b2.ms, namespace={})
                        acc.collect(mons)
                    finally:
                        self._network.remove(*objs)
                if progress is not None:
                    progress((stop - t) * dt)
                t = stop
                self.step = t
        self.step = t1
        return acc.result()

    def _run_standalone(self, t0, t1, every, acc):
        """Build, compile and run the C++ program once, then read the results, weights,
        eligibility and dopamine back (into the caches) and return to the runtime
        device."""
        b2 = self._b2
        directory = tempfile.mkdtemp(prefix="plasticity_brian2_")
        try:
            with quiet(b2), random_state(self):
                b2.set_device("cpp_standalone", build_on_run=False, directory=directory)
                try:
                    b2.seed(self._b2_seed)
                    self._build()
                    mons = monitors_for(b2, self._groups, self.recording, every, self.dt,
                                        self._name)
                    self._network.add(*all_monitors(mons))
                    self._network.run((t1 - t0) * self.dt * b2.ms, namespace={})
                    b2.device.build(directory=directory, compile=True, run=True,
                                    debug=False)
                    acc.collect(mons)
                    for label, S in self._synapses.items():
                        if not S.active:
                            self._wcache[label] = np.zeros(0)
                            continue
                        i, j = np.asarray(S.i[:]), np.asarray(S.j[:])
                        order = np.lexsort((j, i))
                        self._wcache[label] = np.asarray(S.w[:], dtype=np.float64)[order]
                        if label in self._ccache:
                            self._ccache[label] = np.asarray(S.c[:], np.float64)[order]
                    for label, D in self._dopa.items():
                        self._dcache[label] = float(np.asarray(D.d[:])[0])
                finally:
                    self._groups = self._synapses = self._network = None
                    self._dopa, self._extra = {}, []
                    b2.device.reinit()
                    b2.device.activate()
                    b2.set_device("runtime")
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    # -- synapses ----------------------------------------------------------------------
    def _ran_standalone(self, what):
        if self._standalone and self._ran:
            raise InvalidParameterError("a cpp_standalone Brian2 simulation has already "
                                        f"run; its {what} can no longer be changed")

    def _weights(self, label) -> np.ndarray:
        if label in self._wcache:
            return self._wcache[label].copy()
        w = np.array(self._synapses[label].variables["w"].get_value(), dtype=np.float64)
        order = self._order[label]
        return w if order is None else w[order]

    def _set_weights(self, label, w):
        self._ran_standalone("weights")
        if label in self._wcache:
            self._wcache[label] = w.copy()
        else:
            self._write_w(self._synapses[label], label, w)

    def _modulator(self, label) -> float:
        if label in self._dcache:
            return float(self._dcache[label])
        return float(self._dopa[label].variables["d"].get_value()[0])

    def _set_modulator(self, label, value):
        self._ran_standalone("modulator")
        if label in self._dcache:
            self._dcache[label] = value
        else:
            # the array itself (runtime devices): setting it needs no generated code
            self._dopa[label].variables["d"].get_value()[0] = value

    def _eligibility(self, label) -> np.ndarray:
        if label in self._ccache:
            return self._ccache[label].copy()
        c = np.array(self._synapses[label].variables["c"].get_value(), dtype=np.float64)
        order = self._order[label]
        return c if order is None else c[order]
