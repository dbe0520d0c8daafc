"""One trial of the recurrent escape-noise LIF/ALIF network in Brian2 (the reference
simulator), with the same uniforms as the Numba kernel.

The model of :mod:`plasticity._kernels.recurrent_escape`, step for step, in Brian2's
schedule:

- ``before_groups``: a ``SpikeGeneratorGroup`` replays the inputs of step ``t`` and its
  synapses add ``W_in x_t`` to ``I_in`` (generator first, as in
  :mod:`plasticity.spiking.brian2.escape`);
- ``groups``: a ``run_regularly`` operation applies Bellec et al.'s discrete update,
  ``v = alpha v + I_in + I_rec - v_th z`` and ``a = rho a + z`` (``I_rec`` and ``z`` hold
  the previous step's recurrent input and spike), then clears ``I_in``, ``I_rec``, ``z``;
- ``thresholds``: escape noise with the given uniforms, a 2-d ``TimedArray``
  ``U(t, i) < 1 - exp(-rho0 exp((v - v_th - beta a) / delta_u) dt)``;
- ``synapses``: the recurrent synapses add ``W_rec`` of this step's spikes to ``I_rec``
  (consumed at the next step); ``resets``: ``z = 1``.

Potentials are in mV as dimensionless numbers (the model is a map, not an ODE). Runtime
targets only, as for the escape trials.
"""

from __future__ import annotations

import itertools

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.spiking.brian2.targets import import_brian2, prefs, quiet, resolve_target

__all__ = ["brian2_recurrent_trial"]

_names = itertools.count()


def brian2_recurrent_trial(net, params, X, U, *, target="numpy") -> dict:
    """Simulate one trial in Brian2 with the uniforms ``U``.

    Parameters
    ----------
    net : plasticity.spiking.recurrent_escape.RecurrentEscapeNet
    params : dict
        ``W_in`` (n_rec, n_in), ``W_rec`` (n_rec, n_rec) in mV per spike.
    X : ndarray, shape (T, n_in)
        0/1 input spikes per step.
    U : ndarray, shape (T, n_rec)
        Uniform numbers deciding the spikes (those the kernel gets for the trial).
    target : {"numpy", "cython", "auto"}
        Brian2 runtime code generation.

    Returns
    -------
    dict
        ``spikes`` (T, n_rec) uint8, ``v`` (T, n_rec) in mV and ``a`` (T, n_rec), after each
        step's update (what the threshold sees), and ``target_used``.
    """
    if target not in ("numpy", "cython", "auto"):
        raise InvalidParameterError(f"brian2_recurrent_trial supports the runtime targets "
                                    f"numpy, cython and auto; got {target!r}.")
    b2 = import_brian2()
    p = net.check_params(params)
    X = np.asarray(X, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64)
    T, n = U.shape[0], net.n_rec
    if X.shape != (T, net.n_in) or U.shape != (T, n) or not np.all((X == 0) | (X == 1)):
        raise InvalidParameterError(f"X must be 0/1 of shape ({T}, {net.n_in}) and U of "
                                    f"shape ({T}, {n}); got {X.shape} and {U.shape}.")
    used = resolve_target(b2, target)
    k = next(_names)
    ms = b2.ms
    with quiet(b2), prefs(b2, used):
        clock = b2.Clock(dt=net.dt_ms * ms, name=f"rec_clock_{k}")
        u_table = b2.TimedArray(U, dt=net.dt_ms * ms, name=f"rec_U_{k}")
        namespace = {"alpha": net.alpha, "rho": net.rho, "v_th": net.v_th_mv,
                     "delta_u": net.delta_u_mv, "rho0": net.rho0_per_ms,
                     "dt_ms": net.dt_ms, "U_t": u_table}
        group = b2.NeuronGroup(
            n, "v : 1\na : 1\nz : 1\nI_in : 1\nI_rec : 1\nbeta : 1 (constant)",
            threshold="U_t(t, i) < -expm1(-rho0 * exp((v - v_th - beta * a) / delta_u)"
                      " * dt_ms)",
            reset="z = 1", clock=clock, namespace=namespace, name=f"rec_group_{k}")
        group.beta = net.beta()
        step = group.run_regularly("v = alpha * v + I_in + I_rec - v_th * z\n"
                                   "a = rho * a + z\n"
                                   "I_in = 0\nI_rec = 0\nz = 0", when="groups",
                                   name=f"rec_step_{k}")
        t_idx, j_idx = np.nonzero(X)
        gen = b2.SpikeGeneratorGroup(net.n_in, j_idx, t_idx * net.dt_ms * ms, clock=clock,
                                     when="before_groups", order=0, name=f"rec_in_{k}")
        syn_in = b2.Synapses(gen, group, "w : 1", on_pre="I_in_post += w", clock=clock,
                             name=f"rec_syn_in_{k}")
        pre, post = np.meshgrid(np.arange(net.n_in), np.arange(n), indexing="ij")
        syn_in.connect(i=pre.ravel(), j=post.ravel())
        syn_in.w[:] = p["W_in"][post.ravel(), pre.ravel()]
        syn_in.pre.when = "before_groups"
        syn_in.pre.order = 1
        syn_rec = b2.Synapses(group, group, "w : 1", on_pre="I_rec_post += w", clock=clock,
                              name=f"rec_syn_rec_{k}")
        pre, post = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        syn_rec.connect(i=pre.ravel(), j=post.ravel())
        syn_rec.w[:] = p["W_rec"][post.ravel(), pre.ravel()]
        spikes = b2.SpikeMonitor(group, name=f"rec_spikes_{k}")
        state = b2.StateMonitor(group, ("v", "a"), record=True, when="after_groups",
                                name=f"rec_state_{k}")
        network = b2.Network(group, step, gen, syn_in, syn_rec, spikes, state,
                             name=f"rec_net_{k}")
        network.run(T * net.dt_ms * ms, namespace={})
        z = np.zeros((T, n), dtype=np.uint8)
        steps = np.round(np.asarray(spikes.t / ms) / net.dt_ms).astype(int)
        z[steps, np.asarray(spikes.i)] = 1
        return {"spikes": z, "v": np.asarray(state.v).T.copy(),
                "a": np.asarray(state.a).T.copy(), "target_used": used}
