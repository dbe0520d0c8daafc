"""Trials of the escape-noise LIF neurons of :class:`plasticity.tasks.spiking.EscapeLIF`,
simulated by Brian2 (the second backend of the ``spiking-alignment`` experiment).

The model is the one of :mod:`plasticity._kernels.escape`, step for step:

- a ``SpikeGeneratorGroup`` replays the frozen input trains; it and the synaptic pathway
  run in the ``before_groups`` slot (generator first), so the input spikes of step ``t``
  are added to the current (``I_post += w``) before the state update of step ``t``, as
  in the kernel (``I(t) = a I(t-1) + W X[t]``);
- ``v`` and ``I`` are integrated by ``method="exponential_euler"``, which takes the
  other variables at their values at the start of the step: ``v(t) = b v(t-1) +
  (1 - b) (v_rest + I(t))`` and ``I`` decays by ``a``: the kernel's update exactly;
- the threshold is the escape noise, ``rand() < 1 - exp(-rho(v) dt)`` with
  ``rho(v) = rho0 exp((v - v_th) / delta_u)``, evaluated on the updated ``v``; the reset
  sets ``v = v_reset`` (only when the neuron resets);
- at the start of every trial (``run_regularly`` every ``T`` steps, slot ``start``)
  ``v = v_rest`` and ``I = 0``.

So the output trains have the kernel's distribution given ``W``; only the random numbers
differ (Brian2 draws its own, from NumPy's legacy generator, seeded per call and then
handed back to the caller's state). The score and the STDP change of a trial are
deterministic functions of the inputs, the output spikes and ``W``, computed from the
recorded spikes by :func:`plasticity._kernels.escape.score_given_spikes` and
:func:`plasticity.rules.spiking.stdp_pair_change`.

One ``brian2.Network`` (explicit, no magic collection) is built once and reused for
every call: a call sets the weights and the input spikes and runs ``K * T`` steps.
Runtime targets only (Cython, falling back to NumPy for ``"auto"``): C++ standalone runs
a network once per build, which does not fit many short trials with weights that change
in between.
"""

from __future__ import annotations

import gc
import itertools

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.spiking.brian2.targets import import_brian2, prefs, quiet, resolve_target

__all__ = ["Brian2EscapeTrials", "RUNTIME_TARGETS", "brian2_trial", "score_of_spikes"]

#: code-generation targets this module supports
RUNTIME_TARGETS = ("auto", "cython", "numpy")

_names = itertools.count()


class Brian2EscapeTrials:
    """Run trials of :class:`~plasticity.tasks.spiking.EscapeLIF` neurons with Brian2.

    Parameters
    ----------
    neuron : EscapeLIF
        The neuron model (time step, time constants, potentials, escape noise, reset).
    n_inputs, n_outputs : int
        Input trains and output neurons; the weights have shape (n_outputs, n_inputs).
    n_steps : int
        Steps per trial ``T``.
    target : {"auto", "cython", "numpy"}
        Brian2 runtime code generation; ``"auto"`` is Cython when it compiles, else NumPy
        (the one used is :attr:`target_used`).
    record_v : bool
        Also record the membrane after each step's update (for tests of the dynamics).
    """

    def __init__(self, neuron, n_inputs, n_outputs, n_steps, *, target="auto",
                 record_v=False):
        if target not in RUNTIME_TARGETS:
            raise InvalidParameterError(
                f"The Brian2 escape-noise trials support the targets "
                f"{', '.join(RUNTIME_TARGETS)}; got {target!r} (C++ standalone builds a "
                "network for a single run, which does not fit many short trials).")
        b2 = import_brian2()
        self._b2, self._prefs, self._quiet = b2, prefs, quiet
        self.neuron = neuron
        self.n_inputs, self.n_outputs, self.n_steps = int(n_inputs), int(n_outputs), \
            int(n_steps)
        self.target = target
        self.target_used = resolve_target(b2, target)
        self.record_v = bool(record_v)
        with quiet(b2), prefs(b2, self.target_used):
            self._build()

    def _build(self):
        b2 = self._b2
        ms, mV = b2.ms, b2.mV
        n = self.neuron
        k = next(_names)
        self._dt = n.dt_ms
        clock = b2.Clock(dt=n.dt_ms * ms, name=f"escape_clock_{k}")
        namespace = {"v_rest": n.v_rest_mv * mV, "v_reset": n.v_reset_mv * mV,
                     "v_th": n.v_th_mv * mV, "delta_u": n.delta_u_mv * mV,
                     "tau_m": n.tau_m_ms * ms, "tau_s": n.tau_s_ms * ms,
                     "rho0": n.rho0_hz * b2.Hz}
        eqs = ("dv/dt = (v_rest + I - v) / tau_m : volt\n"
               "dI/dt = -I / tau_s : volt")
        group = b2.NeuronGroup(
            self.n_outputs, eqs, method="exponential_euler", clock=clock,
            namespace=namespace, name=f"escape_out_{k}",
            # -expm1: 1 - exp(-rho dt) accurate for the small probabilities far below
            # threshold, as in the kernel
            threshold="rand() < -expm1(-rho0 * exp((v - v_th) / delta_u) * dt)",
            reset="v = v_reset" if n.reset else None)
        group.v = n.v_rest_mv * mV
        # every trial starts from rest; the slot "start" comes before the inputs
        group.run_regularly("v = v_rest\nI = 0*volt", dt=self.n_steps * n.dt_ms * ms,
                            when="start", name=f"escape_trial_reset_{k}")
        gen = b2.SpikeGeneratorGroup(self.n_inputs, np.zeros(0, dtype=int),
                                     np.zeros(0) * ms, clock=clock, when="before_groups",
                                     order=0, name=f"escape_in_{k}")
        syn = b2.Synapses(gen, group, "w : volt", on_pre="I_post += w", clock=clock,
                          name=f"escape_syn_{k}")
        pre, post = np.meshgrid(np.arange(self.n_inputs), np.arange(self.n_outputs),
                                indexing="ij")
        self._pre, self._post = pre.ravel(), post.ravel()
        syn.connect(i=self._pre, j=self._post)
        # the input of step t reaches I before the state update of step t
        syn.pre.when = "before_groups"
        syn.pre.order = 1
        mon = b2.SpikeMonitor(group, name=f"escape_spikes_{k}")
        objects = [group, gen, syn, mon]
        if self.record_v:
            # after the update, i.e. the v the threshold sees
            self._vmon = b2.StateMonitor(group, "v", record=True, when="after_groups",
                                         name=f"escape_v_{k}")
            objects.append(self._vmon)
        self._group, self._gen, self._syn, self._mon = group, gen, syn, mon
        self._network = b2.Network(*objects, name=f"escape_net_{k}")
        self._step = 0
        self._seen = 0

    def run(self, W, X, n_trials, seed):
        """Simulate ``n_trials`` trials with weights ``W`` on the input trains ``X``.

        Parameters
        ----------
        W : ndarray, shape (n_outputs, n_inputs)
            Weights (mV per input spike).
        X : ndarray, shape (T, n_inputs)
            Input spikes per step, 0/1 (a generator neuron fires at most once a step).
        n_trials : int
            Independent trials ``K``, run back to back with the state reset in between.
        seed : int or sequence of int
            Seeds Brian2's random numbers for this call (the process's NumPy legacy
            random state is restored afterwards).

        Returns
        -------
        spikes : ndarray, shape (K, T, n_outputs), uint8
            The output spikes.
        v : ndarray, shape (K, T, n_outputs)
            Only with ``record_v``: the membrane (mV) after each step's update.
        """
        b2 = self._b2
        W = np.asarray(W, dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        T = self.n_steps
        if W.shape != (self.n_outputs, self.n_inputs) or X.shape != (T, self.n_inputs):
            raise InvalidParameterError(
                f"Brian2EscapeTrials.run: W {W.shape} and X {X.shape}; expected "
                f"({self.n_outputs}, {self.n_inputs}) and ({T}, {self.n_inputs}).")
        if not np.all((X == 0) | (X == 1)):
            raise InvalidParameterError("Brian2EscapeTrials.run: X must be 0/1 (one input "
                                        "spike per step at most).")
        if not np.all(np.isfinite(W)):
            raise InvalidParameterError("Brian2EscapeTrials.run: W contains NaN or "
                                        "infinity.")
        K = int(n_trials)
        if K < 1:
            raise InvalidParameterError(f"n_trials must be >= 1. Got {n_trials!r}.")
        t_idx, j_idx = np.nonzero(X)
        # the trials back to back from the current step: trial k starts at step0 + k T
        step0 = self._step
        starts = step0 + T * np.arange(K)
        steps = (starts[:, None] + t_idx[None, :]).ravel()
        order = np.argsort(steps, kind="stable")
        # times at exact multiples of dt land in their own step (Brian2 shifts them by
        # 1e-3 dt before binning)
        self._gen.set_spikes(np.tile(j_idx, K)[order], steps[order] * self._dt * b2.ms,
                             sorted=True)
        self._syn.w[:] = W[self._post, self._pre] * b2.mV
        outer = np.random.get_state()  # noqa: NPY002 - Brian2 draws from the legacy global
        with self._quiet(b2), self._prefs(b2, self.target_used):
            np.random.seed(np.random.SeedSequence(seed).generate_state(4))  # noqa: NPY002
            # b2.seed takes only one int: reseed NumPy and empty Brian2's buffers of
            # random numbers (refilled from the new state) as b2.seed does
            dev = b2.get_device()
            for buffer_index in ("rand_buffer_index", "randn_buffer_index"):
                if hasattr(dev, buffer_index):
                    getattr(dev, buffer_index)[:] = 0
            # Brian2's Network.run starts with a full gc.collect(), which costs ~0.1 s in
            # a process holding Brian2 and SymPy, more than the trial itself; freezing the
            # existing objects for the call makes it cheap (nothing is left uncollected:
            # unfreeze hands them back to the collector)
            gc.freeze()
            try:
                self._network.run(K * T * self._dt * b2.ms, namespace={})
            finally:
                gc.unfreeze()
                np.random.set_state(outer)  # noqa: NPY002
        self._step = step0 + K * T
        times = np.asarray(self._mon.t[self._seen:] / b2.ms)
        ids = np.asarray(self._mon.i[self._seen:])
        self._seen = int(self._mon.num_spikes)
        rel = np.rint(times / self._dt).astype(np.int64) - step0
        spikes = np.zeros((K, T, self.n_outputs), dtype=np.uint8)
        spikes[rel // T, rel % T, ids] = 1
        if not self.record_v:
            return spikes
        v = np.asarray(self._vmon.v[:, -K * T:] / b2.mV).T.reshape(K, T, self.n_outputs)
        return spikes, v


def score_of_spikes(neuron, W, X, spikes):
    """The score (d log-likelihood / dW, 1/mV) of given output trains.

    Parameters
    ----------
    neuron : EscapeLIF
    W : ndarray, shape (n_out, n_in)
        Weights (mV) the trains were simulated with.
    X : ndarray, shape (T, n_in)
        Input spikes per step.
    spikes : ndarray, shape (K, T, n_out)
        Output spikes per step (nonzero: a spike).

    Returns
    -------
    ndarray, shape (K, n_out, n_in)
    """
    from plasticity._kernels.escape import score_given_spikes

    W = np.ascontiguousarray(W, dtype=np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    spikes = np.ascontiguousarray(spikes, dtype=np.uint8)
    if spikes.ndim != 3 or spikes.shape[1:] != (X.shape[0], W.shape[0]) \
            or X.shape[1] != W.shape[1]:
        raise InvalidParameterError(f"score_of_spikes: W {W.shape}, X {X.shape} and spikes "
                                    f"{spikes.shape} do not fit (n_out, n_in), (T, n_in) "
                                    "and (K, T, n_out).")
    score = np.zeros((spikes.shape[0], W.shape[0], W.shape[1]))
    n = neuron
    score_given_spikes(W, X, spikes, n.dt_ms, n.tau_m_ms, n.tau_s_ms, n.v_rest_mv,
                       n.v_reset_mv, n.v_th_mv, n.delta_u_mv, n.rho0_hz * 1e-3,
                       bool(n.reset), score)
    return score


def brian2_trial(task, sim, params, pattern, seed):
    """One training trial of :class:`~plasticity.tasks.spiking.SpikeCountTask` with the
    output spikes simulated by ``sim`` (a :class:`Brian2EscapeTrials` of the task's
    neuron and sizes): the Brian2 twin of :meth:`SpikeCountTask.trial`.

    Returns
    -------
    TrialBatch
        Its ``signals`` as :meth:`SpikeCountTask.trial` without ``stdp``: the score is
        computed from the recorded spikes, and a pair-STDP rule computes its change from
        ``pre_spikes`` and ``post_spikes``.
    """
    from plasticity.tasks.spiking import TrialBatch

    W = task._weights(params)
    m = task._pattern(pattern)
    X = task.patterns[m]
    spikes = sim.run(W, X, 1, seed)
    counts = spikes[0].sum(axis=0, dtype=np.float64)
    signals = {"pre_spikes": X.copy(), "post_spikes": spikes[0].astype(np.float64),
               "score": score_of_spikes(task.neuron, W, X, spikes)[0],
               "dt_ms": float(task.neuron.dt_ms), "pattern": m,
               "target": task.targets[m].copy(), "counts": counts,
               "trial_loss": float(task.trial_losses(counts[None, :], m)[0])}
    return TrialBatch(signals, m)
