"""The Brian2 backend: the same :class:`~plasticity.spiking.network.Network` simulated by
Brian2 (the reference the Numba engine is checked against).

Every Brian2 object is created here from the config and collected into an explicit
``brian2.Network`` (no "magic" collection from the caller's frame, no ``brian2.run``), with
names unique to one simulator, so several simulators can live in one process. All
objects share one ``Clock`` of the network's time step; ``defaultclock`` is not touched.

The model is the one documented in :mod:`plasticity.spiking.network`:

- LIF groups integrate ``v`` by exponential Euler (``method="exponential_euler"``, exact
  for the synaptic variables), with ``(unless refractory)`` when ``t_ref_ms > 0``;
- Izhikevich groups integrate ``v`` and ``u`` by forward Euler (``method="euler"``); their
  synaptic variables are parameters decayed exactly by a ``run_regularly`` operation
  right after the state update (same slot, ``when="groups"``), as in the engine. With
  ``method="izhikevich2007"``, delta synapses or noise, the whole step is that
  ``run_regularly`` code instead (half steps of ``v``; delta input ``g / dt`` then used
  up; the uniform noise from Brian2's ``rand()``, so equal to the engine's in law only);
- a presynaptic spike reaching a plastic synapse first adds the old weight to the target's
  synaptic variable, then depresses, then makes the presynaptic traces jump; a
  postsynaptic spike potentiates, then makes the postsynaptic traces jump. Traces are
  Brian2's per-synapse event-driven variables (exactly the engine's per-neuron traces,
  since a delay is homogeneous);
- a reward-modulated projection (``RewardSTDP``) applies the same STDP to a per-synapse
  eligibility ``c``; its dopamine lives in a one-neuron group (decayed in the ``start``
  slot, raised by a pathway from the modulator group) read by the projection through a
  linked variable, and the periodic weight update is a ``run_regularly`` of the
  projection in the ``end`` slot;
- Brian2's default schedule runs every presynaptic pathway before every postsynaptic one,
  and pathways in declaration order (the objects are named so that the name tie-break
  keeps that order).

Connectivity and initial weights come from the engine's own construction
(:func:`plasticity.spiking.engine.build_connectivity`) with the same seeding, so for
deterministic inputs the two backends simulate exactly the same synapses. Brian2's random
numbers (Poisson sources) are seeded from the second child of the seed; the process-wide
NumPy random state is saved and restored around every run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import warnings
import weakref

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.spiking.connectivity import build_connectivity, initial_weights
from plasticity.spiking.network import Network, available_memory
from plasticity.spiking.results import Recording, SimResult

__all__ = ["Brian2Simulator", "brian2_synapse_bytes", "TARGETS"]

TARGETS = ("auto", "numpy", "cython", "cpp_standalone")

#: steps per ``brian2.Network.run`` call in runtime mode (progress is reported and the
#: monitors are emptied between calls)
CHUNK_STEPS = 100_000

#: simulators alive, by the index in their object names
_live = weakref.WeakValueDictionary()
#: the simulator whose random stream Brian2's runtime device currently holds
_rng_owner = [None]


def brian2_synapse_bytes(syn, n_pre, n_post) -> int:
    """Bytes Brian2 needs for one projection's synapses (an estimate; for ``"random"`` the
    expected count plus five standard deviations).

    Per synapse: ``_synaptic_pre``/``_synaptic_post`` and ``N_incoming``/``N_outgoing``
    (int32 each), the weight (float64), the spike queue's synapse list of each pathway
    (int32), and, when plastic, one float64 per trace (and eligibility) plus ``lastupdate``;
    the arrays that connect it (int64 pre and post, kept for sparse projections, and
    Brian2's int32 copies while connecting).
    """
    if syn.connect == "all":
        count = n_pre * n_post
    elif syn.connect == "one_to_one":
        count = n_pre
    else:
        mean = n_pre * n_post * syn.p
        count = mean + 5 * math.sqrt(mean * (1 - syn.p)) + 1
    per = 16 + 8 + 4 + 16 + 8
    if syn.plasticity is not None:
        # traces (and, for a reward-modulated rule, the eligibility c)
        n_traces = {"pair": 2, "reward": 3}.get(syn.plasticity.kind, 4)
        per += 8 * n_traces + 8 + 4
    return int(per * count + 16 * (n_pre + n_post + 2))


def _claim_prefix(sim):
    """The name prefix of a new simulator: ``plasticity<k>`` with the smallest ``k`` no
    living simulator uses. Names are unique among coexisting simulators, and a later
    simulator of the same network generates the same code as an earlier one (Brian2's
    generated code contains the object names), so Cython's compiled modules are reused.
    """
    k = 0
    while k in _live:
        k += 1
    _live[k] = sim
    return f"plasticity{k}"


def _adopt(network, objects):
    """Mark ``objects`` (and what they contain) as part of ``network`` now, so that Brian2
    does not warn about unused objects when a simulator is dropped before it ran."""
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if getattr(obj, "_network", "uninitialized") is None:
            obj._network = network.id
        stack.extend(getattr(obj, "contained_objects", ()))


def _import_brian2():
    try:
        with warnings.catch_warnings():  # brian2's import trips pyparsing deprecations
            warnings.simplefilter("ignore", DeprecationWarning)
            import brian2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InvalidParameterError("the brian2 backend needs brian2: pip install brian2") \
            from exc
    return brian2


@contextlib.contextmanager
def _quiet(b2):
    """Brian2's console log at ERROR and library warnings silenced (restored after)."""
    from brian2.utils.logger import BrianLogger

    handler = BrianLogger.console_handler
    level = handler.level if handler is not None else None
    if handler is not None:
        handler.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", module="brian2")
            warnings.filterwarnings("ignore", module="Cython")
            warnings.filterwarnings("ignore", module="setuptools")
            yield
    finally:
        if handler is not None:
            handler.setLevel(level)


@contextlib.contextmanager
def _prefs(b2, target):
    """Set Brian2's code-generation target for the duration of the block, then restore."""
    old = b2.prefs["codegen.target"]
    b2.prefs["codegen.target"] = target
    try:
        yield
    finally:
        b2.prefs["codegen.target"] = old


def _resolve_target(b2, target):
    if target not in TARGETS:
        raise InvalidParameterError(f"The 'target' must be one of {', '.join(TARGETS)}. "
                                    f"Got {target!r}.")
    if target in ("numpy", "cpp_standalone"):
        return target
    from brian2.codegen.runtime.cython_rt import CythonCodeObject

    with _quiet(b2):
        available = CythonCodeObject.is_available()
    if target == "cython" and not available:
        raise InvalidParameterError("target='cython' needs a working Cython and C compiler "
                                    "(Brian2's test compilation failed); use "
                                    "target='numpy'")
    return "cython" if available else "numpy"


class Brian2Simulator:
    """Simulate a :class:`Network` with Brian2.

    Same interface as :class:`~plasticity.spiking.engine.NumbaSimulator`.

    Parameters
    ----------
    net : Network
        The model.
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
    can_checkpoint = False

    def __init__(self, net: Network, *, seed=0, recording: Recording | None = None,
                 target="auto"):
        if not isinstance(net, Network):
            raise InvalidParameterError(f"expected a Network, got {type(net).__name__}")
        two = [name for name, g in net.groups.items() if g.kind == "two_compartment"]
        if two:
            raise InvalidParameterError(f"group '{two[0]}': the two-compartment neuron runs "
                                        "on the Numba engine only (backend='numba')")
        b2 = _import_brian2()
        self._b2 = b2
        self.net = net
        self.recording = recording or Recording()
        self.dt = net.dt_ms
        self.step = 0
        self.target = target
        self.target_used = _resolve_target(b2, target)
        self._standalone = self.target_used == "cpp_standalone"
        self._ran = False
        self._check_memory()
        setup_seed, run_seed = np.random.SeedSequence(seed).spawn(2)
        setup = np.random.default_rng(setup_seed)
        self._b2_seed = int(run_seed.generate_state(1)[0])
        self._np_state = None  # the NumPy random state of this simulator between runs
        self._prefix = _claim_prefix(self)
        # connectivity and initial weights, as in the Numba engine
        self._conn, self._order, self._wcache = {}, {}, {}
        # dopamine and eligibility of the reward-modulated projections while they do not
        # live in Brian2 (before a standalone build, after its run)
        self._dcache, self._ccache = {}, {}
        self._dopa, self._extra = {}, []
        for syn in net.synapses:
            src, tgt = net.groups[syn.source], net.groups[syn.target]
            pre, post = build_connectivity(syn, src.n, tgt.n, setup)
            w = initial_weights(syn, pre.size, setup)
            self._conn[syn.label] = (pre, post) if syn.connect != "all" else (src.n, tgt.n)
            self._wcache[syn.label] = np.asarray(w, dtype=np.float64)
            if getattr(syn.plasticity, "kind", None) == "reward":
                self._dcache[syn.label] = 0.0
                self._ccache[syn.label] = np.zeros(pre.size)
        self._objects = None
        if not self._standalone:
            with _quiet(b2), _prefs(b2, self.target_used):
                self._build()

    # -- construction --------------------------------------------------------------
    def _check_memory(self):
        net = self.net
        total = sum(brian2_synapse_bytes(s, net.groups[s.source].n, net.groups[s.target].n)
                    for s in net.synapses)
        budget = net.memory_fraction * available_memory()
        if total > budget:
            raise InvalidParameterError(
                f"the brian2 backend needs about {total / 2**30:.1f} GiB for the synapses, "
                f"more than {budget / 2**30:.1f} GiB of the memory available; make the "
                f"network smaller or sparser, or use backend='numba'")

    def _name(self, kind, index):
        return f"{self._prefix}_{kind}{index:04d}"

    def _build(self):
        """Create the Brian2 objects (on the current device) and the Network."""
        b2 = self._b2
        ms, Hz = b2.ms, b2.Hz
        net, dt = self.net, self.dt
        self._clock = b2.Clock(dt=dt * ms, name=self._name("clock", 0))
        clock = self._clock
        groups, synapses = {}, {}
        self._dopa, self._extra = {}, []
        for gi, (gname, g) in enumerate(net.groups.items()):
            name = self._name("group", gi)
            if g.kind == "lif":
                groups[gname] = self._lif(g, name, clock)
            elif g.kind == "izhikevich":
                groups[gname] = self._izhikevich(g, name, clock)
            elif g.kind == "poisson":
                groups[gname] = b2.PoissonGroup(g.n, rates=g.rate_hz * Hz, clock=clock,
                                                name=name)
            else:
                steps = np.rint(np.asarray(g.times_ms, dtype=np.float64) / dt) \
                    .astype(np.int64)
                ids = np.asarray(g.indices, dtype=np.int64)
                if ids.size:
                    # one spike per source and step (as the engine), sorted by time
                    key = np.unique(np.stack([steps, ids], axis=1), axis=0)
                    steps, ids = key[:, 0], key[:, 1]
                groups[gname] = b2.SpikeGeneratorGroup(
                    g.n, ids.astype(np.int32), (steps * dt) * ms, clock=clock, name=name)
        for pi, syn in enumerate(net.synapses):
            synapses[syn.label] = self._synapses(pi, syn, groups, clock)
        self._groups, self._synapses = groups, synapses
        objects = [*groups.values(), *synapses.values(), *self._extra]
        self._network = b2.Network(*objects, name=self._name("network", 0))
        _adopt(self._network, objects)
        self._objects = True

    def _lif(self, g, name, clock):
        b2 = self._b2
        ms, mV = b2.ms, b2.mV
        ref = g.t_ref_ms > 0
        flag = " (unless refractory)" if ref else ""
        if g.model == "conductance":
            eqs = (f"dv/dt = ((v_rest - v) + ge * (e_e - v) + gi * (e_i - v)) / tau_m : "
                   f"volt{flag}\n"
                   "dge/dt = -ge / tau_e : 1\n"
                   "dgi/dt = -gi / tau_i : 1\n")
        else:
            # linear: integrated exactly, as in the engine. The constants are written
            # into the equations so that Brian2's symbolic solution is that of these
            # values (with symbols it divides by tau_i - tau_m, 0/0 when they are equal),
            # and refractoriness holds v at the reset afterwards, since the flag
            # "(unless refractory)" would put not_refractory into those denominators.
            eqs = (f"dv/dt = (({g.v_rest_mV!r} * mV - v) + ge - gi) / ({g.tau_m_ms!r} * ms)"
                   " : volt\n"
                   f"dge/dt = -ge / ({g.tau_e_ms!r} * ms) : volt\n"
                   f"dgi/dt = -gi / ({g.tau_i_ms!r} * ms) : volt\n")
        namespace = {"v_rest": g.v_rest_mV * mV, "e_e": g.e_e_mV * mV,
                     "e_i": g.e_i_mV * mV, "tau_m": g.tau_m_ms * ms,
                     "tau_e": g.tau_e_ms * ms, "tau_i": g.tau_i_ms * ms,
                     "v_th": g.v_th_mV * mV, "v_reset": g.v_reset_mV * mV}
        kwargs = {"refractory": g.t_ref_ms * ms} if ref else {}
        method = "exponential_euler" if g.model == "conductance" else "exact"
        grp = b2.NeuronGroup(g.n, eqs, threshold="v > v_th", reset="v = v_reset",
                             method=method, namespace=namespace,
                             clock=clock, name=name, **kwargs)
        if ref and g.model == "current":
            grp.run_regularly(f"v = v * int(not_refractory) + ({g.v_reset_mV!r} * mV) * "
                              f"(1 - int(not_refractory))", when="groups", order=1,
                              name=name + "_hold")
        v0 = g.v_rest_mV if g.v_init_mV is None else g.v_init_mV
        # arrays (not scalars) so that setting them needs no generated code
        grp.v = np.full(g.n, v0) * mV
        return grp

    def _izhikevich(self, g, name, clock):
        b2 = self._b2
        mV = b2.mV
        delta = g.synapse == "delta"
        namespace = {"a": g.a, "b": g.b, "c": g.c * mV, "d": g.d * mV,
                     "v_peak": g.v_peak_mV * mV, "i_ext": g.i_ext * mV,
                     # delta synapses: the input is used up in the step that reads it
                     "dec_e": 0.0 if delta else math.exp(-self.dt / g.tau_e_ms),
                     "dec_i": 0.0 if delta else math.exp(-self.dt / g.tau_i_ms)}
        if g.method == "euler" and not delta and g.noise == 0:
            # v, u and the currents in mV (I in mV/ms: g_e / ms); time in ms
            eqs = ("dv/dt = (0.04 * v**2 / mV + 5 * v + 140 * mV - u + ge - gi + i_ext)"
                   " / ms : volt\n"
                   "du/dt = a * (b * v - u) / ms : volt\n"
                   "ge : volt\n"
                   "gi : volt\n")
            grp = b2.NeuronGroup(g.n, eqs, threshold="v >= v_peak",
                                 reset="v = c\nu += d", method="euler",
                                 namespace=namespace, clock=clock, name=name)
            # exact decay of the synaptic variables, after the state update of the step
            grp.run_regularly("ge = ge * dec_e\ngi = gi * dec_i", when="groups", order=1,
                              name=name + "_decay")
        else:
            grp = b2.NeuronGroup(g.n, "v : volt\nu : volt\nge : volt\ngi : volt",
                                 threshold="v >= v_peak", reset="v = c\nu += d",
                                 namespace=namespace, clock=clock, name=name)
            grp.run_regularly(self._izhikevich_code(g, namespace), when="groups",
                              order=0, name=name + "_step")
        grp.v = np.full(g.n, float(g.v0)) * mV
        grp.u = np.full(g.n, float(g.u0)) * mV
        return grp

    def _izhikevich_code(self, g, namespace):
        """The integration step of an Izhikevich group as custom code (the engine's
        order: the input current from the synaptic variables of the start of the step and
        this step's noise, ``v`` and ``u``, then the synaptic variables decay).

        Brian2's state updaters cannot express Izhikevich's half steps or a uniform
        noise drawn once per step, hence code rather than equations; ``h`` is the time
        step in ms, so ``h * (...)`` in volts is the Euler increment of ``dv/dt`` in
        mV/ms.
        """
        mV = self._b2.mV
        # delta synapses: the weights of a step enter the next step's current as g / dt
        namespace.update(h=self.dt, hh=0.5 * self.dt,
                         gsc=1.0 / self.dt if g.synapse == "delta" else 1.0,
                         noise=g.noise * mV)
        cur = "cur = (ge - gi) * gsc + i_ext"
        if g.noise > 0:
            cur += " + noise * (rand() - 0.5)"
        rhs = "(0.04 * v**2 / mV + 5 * v + 140 * mV - u + cur)"
        if g.method == "izhikevich2007":
            # two half steps of v with the same input, then u from the new v
            body = [f"v = v + hh * {rhs}", f"v = v + hh * {rhs}",
                    "u = u + h * (a * (b * v - u))"]
        else:
            # forward Euler: v and u both from the start-of-step values
            body = [f"v_new = v + h * {rhs}", "u = u + h * (a * (b * v - u))", "v = v_new"]
        return "\n".join([cur, *body, "ge = ge * dec_e", "gi = gi * dec_i"])

    def _synapses(self, pi, syn, groups, clock):
        b2 = self._b2
        net = self.net
        tgt = net.groups[syn.target]
        plastic = syn.plasticity
        var = "ge" if syn.receptor == "e" else "gi"
        namespace = {"w_min": syn.w_min, "w_max": syn.w_max}
        if tgt.kind == "lif":
            unit = " * mV" if tgt.model == "current" else ""
            on_pre = [f"{var}_post += w{unit}"]
        elif tgt.kind == "izhikevich":
            on_pre = [f"{var}_post += w * mV"]
        else:
            on_pre = []
        model = ["w : 1"]
        on_post = []
        if plastic is not None:
            op = "=" if plastic.pairing == "nearest" else "+="
            ms = b2.ms
            if plastic.kind == "pair":
                namespace.update(tau_plus=plastic.tau_plus_ms * ms,
                                 tau_minus=plastic.tau_minus_ms * ms,
                                 a_plus=plastic.a_plus, a_minus=plastic.a_minus)
                model += ["dx/dt = -x / tau_plus : 1 (event-driven)",
                          "dy/dt = -y / tau_minus : 1 (event-driven)"]
                if plastic.weight_dependence == "multiplicative":
                    dep, pot = "a_minus * w * y", "a_plus * (w_max - w) * x"
                else:
                    dep, pot = "a_minus * w_max * y", "a_plus * w_max * x"
                on_pre += [f"w = clip(w - {dep}, w_min, w_max)", f"x {op} 1"]
                on_post += [f"w = clip(w + {pot}, w_min, w_max)", f"y {op} 1"]
            elif plastic.kind == "reward":
                # STDP acts on the eligibility c; the weight changes only in the
                # periodic update (_reward_update), driven by the dopamine da
                namespace.update(tau_plus=plastic.tau_plus_ms * ms,
                                 tau_minus=plastic.tau_minus_ms * ms,
                                 amw=plastic.a_minus * syn.w_max,
                                 apw=plastic.a_plus * syn.w_max)
                k = net.update_steps(syn)
                # the engine's factors, computed the same way
                namespace.update(eta_t=plastic.eta * k * self.dt, d_tonic=plastic.d_tonic,
                                 dec_c=math.exp(-k * self.dt / plastic.tau_c_ms), k_upd=k)
                model += ["dx/dt = -x / tau_plus : 1 (event-driven)",
                          "dy/dt = -y / tau_minus : 1 (event-driven)",
                          "c : 1", "da : 1 (linked)"]
                on_pre += ["c -= amw * y", f"x {op} 1"]
                on_post += ["c += apw * x", f"y {op} 1"]
            else:
                namespace.update(tau_plus=plastic.tau_plus_ms * ms,
                                 tau_minus=plastic.tau_minus_ms * ms,
                                 tau_x=plastic.tau_x_ms * ms, tau_y=plastic.tau_y_ms * ms,
                                 a2_plus=plastic.a2_plus, a3_plus=plastic.a3_plus,
                                 a2_minus=plastic.a2_minus, a3_minus=plastic.a3_minus)
                model += ["dr1/dt = -r1 / tau_plus : 1 (event-driven)",
                          "dr2/dt = -r2 / tau_x : 1 (event-driven)",
                          "do1/dt = -o1 / tau_minus : 1 (event-driven)",
                          "do2/dt = -o2 / tau_y : 1 (event-driven)"]
                on_pre += ["w = clip(w - w_max * o1 * (a2_minus + a3_minus * r2), "
                           "w_min, w_max)", f"r1 {op} 1", f"r2 {op} 1"]
                on_post += ["w = clip(w + w_max * r1 * (a2_plus + a3_plus * o2), "
                            "w_min, w_max)", f"o1 {op} 1", f"o2 {op} 1"]
        kwargs = {}
        if on_post:
            kwargs["on_post"] = "\n".join(on_post)
        d = net.delay_steps(syn)
        if d > 0:
            kwargs["delay"] = d * self.dt * b2.ms
        S = b2.Synapses(groups[syn.source], groups[syn.target], model="\n".join(model),
                        on_pre="\n".join(on_pre) if on_pre else "", namespace=namespace,
                        clock=clock, name=self._name("syn", pi), **kwargs)
        reward = getattr(plastic, "kind", None) == "reward"
        if reward:
            S.da = b2.linked_var(self._dopamine(pi, syn, groups, clock), "d")
        pre, post = self.connectivity(syn.label)
        if pre.size:
            S.connect(i=pre.astype(np.int32), j=post.astype(np.int32))
            if reward:
                self._reward_update(S, syn)
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

    def _dopamine(self, pi, syn, groups, clock):
        """The dopamine of a reward-modulated projection: a one-neuron group holding
        ``d``, which decays at the start of every step (with the engine's traces) and
        jumps by ``d_jump`` per spike of the modulator group (a pathway of the
        ``synapses`` slot, so after the thresholds and before the weight update)."""
        b2 = self._b2
        plastic = syn.plasticity
        D = b2.NeuronGroup(1, "d : 1", namespace={
            "dec_d": math.exp(-self.dt / plastic.tau_d_ms)}, clock=clock,
            name=self._name("dopamine", pi))
        D.run_regularly("d = d * dec_d", when="start", order=0,
                        name=self._name("dopamine", pi) + "_decay")
        D.d = np.array([self._dcache[syn.label]])
        self._dopa[syn.label] = D
        self._extra.append(D)
        if plastic.modulator is not None:
            n_mod = self.net.groups[plastic.modulator].n
            M = b2.Synapses(groups[plastic.modulator], D, on_pre="d_post += d_jump",
                            namespace={"d_jump": plastic.d_jump}, clock=clock,
                            name=self._name("release", pi))
            M.connect(i=np.arange(n_mod, dtype=np.int32), j=np.zeros(n_mod, np.int32))
            self._extra.append(M)
        return D

    def _reward_update(self, S, syn):
        """The periodic weight update of a reward-modulated projection, at the end of
        every ``update_every``-th step counted from step 0 (as the engine):
        ``w <- clip(w + eta * T * (d + d_tonic) * c)``, then ``c <- c * exp(-T / tau_c)``.

        It runs every step and is switched off by a factor 0 in the other steps:
        Brian2's regular operations tick at steps 0, k, 2k, ..., not at k - 1,
        2k - 1, ... (multiplying by 1 or adding 0 leaves the values exact).
        """
        k = self.net.update_steps(syn)
        if k == 1:
            code = ["w = clip(w + eta_t * (da + d_tonic) * c, w_min, w_max)",
                    "c = c * dec_c"]
        else:
            code = ["upd_on = int((timestep(t, dt) + 1) % k_upd == 0)",
                    "w = clip(w + eta_t * (da + d_tonic) * c * upd_on, w_min, w_max)",
                    "c = c * (dec_c * upd_on + (1 - upd_on))"]
        # after every pathway of the step (and before the next step's decay of d)
        S.run_regularly("\n".join(code), when="end", order=-1,
                        name=S.name + "_reward")

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

    # -- running -------------------------------------------------------------------
    @property
    def t_ms(self) -> float:
        """Simulated time so far (ms)."""
        return self.step * self.dt

    def _monitors_for(self, every):
        """Fresh monitors for one chunk (spikes, population rates, state)."""
        b2 = self._b2
        rec = self.recording
        mons = {"spikes": {}, "rates": {}, "state": {}}
        for gi, (gname, grp) in enumerate(self._groups.items()):
            mons["rates"][gname] = b2.PopulationRateMonitor(
                grp, name=self._name("rate", gi))
            if rec.records_spikes(gname):
                mons["spikes"][gname] = b2.SpikeMonitor(
                    grp, record=True, name=self._name("spikes", gi))
        if rec.state:
            mclock = b2.Clock(dt=every * self.dt * b2.ms, name=self._name("mclock", 0))
            for si, (gname, idx) in enumerate(rec.state.items()):
                idx = np.asarray(idx, dtype=np.int64)
                if idx.size:
                    mons["state"][gname] = b2.StateMonitor(
                        self._groups[gname], ["v", "ge"], record=idx.astype(np.int32),
                        when="end", clock=mclock, name=self._name("state", si))
        return mons

    def _all(self, mons):
        return [m for kind in mons.values() for m in kind.values()]

    def _check_state_request(self):
        for gname, idx in self.recording.state.items():
            g = self.net.groups.get(gname)
            if g is None or g.kind not in ("lif", "izhikevich"):
                raise InvalidParameterError(f"cannot record the state of '{gname}': not a "
                                            "LIF group or an Izhikevich group of this network")
            idx = np.asarray(idx, dtype=np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= g.n):
                raise InvalidParameterError(f"state indices of '{gname}' out of range")

    @contextlib.contextmanager
    def _random_state(self):
        """Run with this simulator's random stream; give the process its own back after."""
        # Brian2's runtime draws from NumPy's legacy global generator
        b2 = self._b2
        outer = np.random.get_state()  # noqa: NPY002
        dev = b2.get_device()
        mine = _rng_owner[0] is self and self._np_state is not None
        if self._np_state is None:
            b2.seed(self._b2_seed)
        else:
            np.random.set_state(self._np_state)  # noqa: NPY002
            if not mine and hasattr(dev, "rand_buffer_index"):
                # another simulator used Brian2's buffered random numbers: refill from ours
                dev.rand_buffer_index[:] = 0
                dev.randn_buffer_index[:] = 0
        _rng_owner[0] = self
        try:
            yield
        finally:
            self._np_state = np.random.get_state()  # noqa: NPY002
            np.random.set_state(outer)  # noqa: NPY002

    @property
    def standalone(self) -> bool:
        """True in C++ standalone mode, where :meth:`run` may be called only once."""
        return self._standalone

    def run(self, duration_ms, *, progress=None) -> SimResult:
        """Simulate ``duration_ms`` more and return what was recorded in that span.

        Parameters
        ----------
        duration_ms : float
            Time to simulate (ms), rounded to whole steps.
        progress : callable, optional
            Called with the simulated time (ms) advanced after each chunk.
        """
        if not duration_ms >= 0:
            raise InvalidParameterError(f"duration_ms must be >= 0. Got {duration_ms!r}.")
        if self._standalone and self._ran:
            raise InvalidParameterError("a cpp_standalone Brian2 simulation can run only "
                                        "once; simulate the whole duration in one run() "
                                        "or use target='cython' or 'numpy'")
        self._check_state_request()
        rec, dt = self.recording, self.dt
        t0 = self.step
        t1 = t0 + int(round(duration_ms / dt))
        bin_steps = max(1, int(round(rec.rate_bin_ms / dt)))
        every = max(1, int(round(rec.state_every_ms / dt)))
        acc = _Accumulator(self, t0, t1, bin_steps, every)
        b2 = self._b2
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
                with _quiet(b2), _prefs(b2, self.target_used), self._random_state():
                    mons = self._monitors_for(every)
                    objs = self._all(mons)
                    self._network.add(*objs)
                    try:
                        self._network.run((stop - t) * dt * b2.ms, namespace={})
                        acc.collect(mons, t)
                    finally:
                        self._network.remove(*objs)
                if progress is not None:
                    progress((stop - t) * dt)
                t = stop
                self.step = t
        self.step = t1
        return acc.result()

    def _run_standalone(self, t0, t1, every, acc):
        b2 = self._b2
        directory = tempfile.mkdtemp(prefix="plasticity_brian2_")
        try:
            with _quiet(b2), self._random_state():
                b2.set_device("cpp_standalone", build_on_run=False, directory=directory)
                try:
                    b2.seed(self._b2_seed)
                    self._build()
                    mons = self._monitors_for(every)
                    self._network.add(*self._all(mons))
                    self._network.run((t1 - t0) * self.dt * b2.ms, namespace={})
                    b2.device.build(directory=directory, compile=True, run=True,
                                    debug=False)
                    acc.collect(mons, t0)
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

    # -- synapses ------------------------------------------------------------------
    def _check_label(self, label):
        if label not in self._conn:
            raise InvalidParameterError(f"no projection named '{label}' (known: "
                                        f"{', '.join(self._conn)})")

    def weights(self, label) -> np.ndarray:
        """A copy of projection ``label``'s weights, ordered by (pre, post)."""
        self._check_label(label)
        if label in self._wcache:
            return self._wcache[label].copy()
        w = np.array(self._synapses[label].variables["w"].get_value(), dtype=np.float64)
        order = self._order[label]
        return w if order is None else w[order]

    def set_weights(self, label, w):
        """Replace projection ``label``'s weights (same order as :meth:`weights`)."""
        self._check_label(label)
        size = self.connectivity(label)[0].size
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (size,):
            raise InvalidParameterError(f"weights of '{label}' must have shape "
                                        f"({size},). Got {w.shape}.")
        if self._standalone and self._ran:
            raise InvalidParameterError("a cpp_standalone Brian2 simulation has already "
                                        "run; its weights can no longer be changed")
        if label in self._wcache:
            self._wcache[label] = w.copy()
        else:
            self._write_w(self._synapses[label], label, w)

    def _check_reward(self, label):
        self._check_label(label)
        if getattr(self._plasticity(label), "kind", None) != "reward":
            raise InvalidParameterError(f"projection '{label}' is not reward-modulated "
                                        "(plasticity=RewardSTDP)")

    def _plasticity(self, label):
        return next(s.plasticity for s in self.net.synapses if s.label == label)

    def modulator(self, label) -> float:
        """The neuromodulator (dopamine) level ``d`` of reward-modulated projection
        ``label``."""
        self._check_reward(label)
        if label in self._dcache:
            return float(self._dcache[label])
        return float(self._dopa[label].variables["d"].get_value()[0])

    def set_modulator(self, label, value):
        """Set the neuromodulator level ``d`` of projection ``label`` now (a reward
        delivered by the experiment, or a TD error); it then decays with ``tau_d``."""
        value = float(value)
        if not math.isfinite(value):
            raise InvalidParameterError(f"The modulator value must be finite. Got {value}.")
        self._check_reward(label)
        if self._standalone and self._ran:
            raise InvalidParameterError("a cpp_standalone Brian2 simulation has already "
                                        "run; its modulator can no longer be changed")
        if label in self._dcache:
            self._dcache[label] = value
        else:
            # the array itself (runtime devices): setting it needs no generated code
            self._dopa[label].variables["d"].get_value()[0] = value

    def eligibility(self, label) -> np.ndarray:
        """A copy of reward-modulated projection ``label``'s eligibility traces (same
        order as :meth:`weights`)."""
        self._check_reward(label)
        if label in self._ccache:
            return self._ccache[label].copy()
        c = np.array(self._synapses[label].variables["c"].get_value(), dtype=np.float64)
        order = self._order[label]
        return c if order is None else c[order]

    def connectivity(self, label) -> tuple[np.ndarray, np.ndarray]:
        """Presynaptic and postsynaptic indices of projection ``label``'s synapses."""
        self._check_label(label)
        conn = self._conn[label]
        if isinstance(conn[0], np.ndarray):
            return conn[0].copy(), conn[1].copy()
        n_pre, n_post = conn
        return (np.repeat(np.arange(n_pre, dtype=np.int64), n_post),
                np.tile(np.arange(n_post, dtype=np.int64), n_pre))


class _Accumulator:
    """Gathers one :meth:`Brian2Simulator.run` segment from the monitors of its chunks."""

    def __init__(self, sim, t0, t1, bin_steps, every):
        self.sim, self.t0, self.t1 = sim, t0, t1
        self.bin_steps, self.every = bin_steps, every
        names = list(sim.net.groups)
        self.names = names
        self.n_bins = -(-(t1 - t0) // bin_steps)  # 0 for an empty run, as the engine
        self.rate_counts = np.zeros((self.n_bins, len(names)), dtype=np.int64)
        self.first = -(-t0 // every)
        self.n_samples = max(0, (t1 - 1) // every - self.first + 1) if t1 > t0 else 0
        self.spikes = {name: ([], []) for name in names if sim.recording.records_spikes(name)}
        self.state = {}
        for gname, idx in sim.recording.state.items():
            n = len(np.asarray(idx).reshape(-1))
            self.state[gname] = (np.zeros((self.n_samples, n)),
                                 np.zeros((self.n_samples, n)))

    def collect(self, mons, chunk_t0):
        sim, dt = self.sim, self.sim.dt
        for gi, name in enumerate(self.names):
            mon = mons["rates"][name]
            t_s = np.asarray(mon.t_, dtype=np.float64)
            if t_s.size:
                steps = np.rint(t_s * 1e3 / dt).astype(np.int64)
                n = sim.net.groups[name].n
                counts = np.rint(np.asarray(mon.rate_, dtype=np.float64) * n * dt * 1e-3) \
                    .astype(np.int64)
                np.add.at(self.rate_counts[:, gi], (steps - self.t0) // self.bin_steps,
                          counts)
        for name, mon in mons["spikes"].items():
            steps = np.rint(np.asarray(mon.t_, dtype=np.float64) * 1e3 / dt) \
                .astype(np.int64)
            self.spikes[name][0].append(steps)
            self.spikes[name][1].append(np.asarray(mon.i[:], dtype=np.int64))
        for gname, mon in mons["state"].items():
            t_s = np.asarray(mon.t_, dtype=np.float64)
            if not t_s.size:
                continue
            rows = np.rint(t_s * 1e3 / (dt * self.every)).astype(np.int64) - self.first
            g = sim.net.groups[gname]
            scale_g = 1e3 if g.kind == "izhikevich" or g.model == "current" else 1.0
            v_out, g_out = self.state[gname]
            v_out[rows] = np.asarray(mon.v_, dtype=np.float64).T * 1e3
            g_out[rows] = np.asarray(mon.ge_, dtype=np.float64).T * scale_g

    def result(self) -> SimResult:
        sim, dt = self.sim, self.sim.dt
        t0, t1 = self.t0, self.t1
        res = SimResult(t0 * dt, t1 * dt)
        starts = t0 + self.bin_steps * np.arange(self.n_bins)
        widths = np.minimum(starts + self.bin_steps, t1) - starts
        for gi, name in enumerate(self.names):
            g = sim.net.groups[name]
            res.counts[name] = int(self.rate_counts[:, gi].sum())
            with np.errstate(invalid="ignore", divide="ignore"):
                res.rates[name] = (starts * dt,
                                   self.rate_counts[:, gi] / (g.n * widths * dt * 1e-3))
            if name in self.spikes:
                parts_t, parts_i = self.spikes[name]
                st = np.concatenate(parts_t) if parts_t else np.zeros(0, np.int64)
                si = np.concatenate(parts_i) if parts_i else np.zeros(0, np.int64)
                order = np.lexsort((si, st))
                res.spikes[name] = (st[order] * dt, si[order])
        times = (self.first + np.arange(self.n_samples)) * self.every * dt
        for gname, (v, ge) in self.state.items():
            res.state[gname] = {"t_ms": times, "v": v, "g_e": ge}
        return res
