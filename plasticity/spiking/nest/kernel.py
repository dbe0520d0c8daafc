"""NEST's kernel as the backend uses it: a quiet import, gathering over MPI ranks, and
the pending potentiation of ``stdp_synapse`` (what :meth:`NestSimulator.weights` adds).

Weights and eligibility. :meth:`NestSimulator.weights` returns the engine's view: NEST's
``stdp_synapse`` applies the potentiation of the postsynaptic spikes since a synapse's
last presynaptic spike only at its next presynaptic spike, so that pending potentiation
is added here, exactly, from NEST's ``Kplus`` and the recorded spikes. For the same
reason :meth:`NestSimulator.set_weights` on a pair-STDP projection is refused while
potentiation is pending (NEST would apply it to the new weight).
``stdp_dopamine_synapse`` is brought up to date every step by its volume transmitter, so
its ``w`` and ``c`` are current. :meth:`NestSimulator.modulator` is NEST's ``n``
computed from the dopamine spikes the volume transmitter received;
:meth:`NestSimulator.set_modulator` is refused: NEST's dopamine is a sum of spikes and
cannot be set to a value.
"""

from __future__ import annotations

import os

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.spiking.base import require_installed

__all__ = ["import_nest", "require_nest", "check_threads", "Comm", "pending_weights"]

#: the refusal when NEST is not installed
MISSING = "the nest backend needs NEST (pip install nest-simulator, or conda-forge " \
          "nest-simulator)"


def check_threads(threads):
    """Refuse a thread count (NEST's ``local_num_threads``) that is not an int >= 1."""
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise InvalidParameterError(f"threads must be an int >= 1. Got {threads!r}.")


def require_nest():
    """Refuse, with one line, when NEST is not installed, without importing it (NEST's
    import starts its kernel and takes a second): a check before a run."""
    require_installed("nest", MISSING)


def import_nest():
    """Import NEST quietly (no banner, errors only)."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    try:
        import nest
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InvalidParameterError(MISSING) from exc
    if hasattr(nest, "VerbosityLevel"):  # NEST >= 3.9
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:  # pragma: no cover
        nest.set_verbosity("M_ERROR")
    return nest


class Comm:
    """Gathering over MPI ranks (one rank: nothing to do, no mpi4py needed)."""

    def __init__(self, nest):
        self.size = int(nest.NumProcesses())
        self.comm = None
        if self.size > 1:  # pragma: no cover - needs NEST with MPI
            try:
                from mpi4py import MPI
            except ImportError as exc:
                raise InvalidParameterError("the nest backend under MPI needs mpi4py to "
                                            "gather spikes and weights") from exc
            self.comm = MPI.COMM_WORLD

    def cat(self, arr):
        """``arr`` of every rank, concatenated."""
        if self.comm is None:
            return arr
        return np.concatenate(self.comm.allgather(arr))  # pragma: no cover


def pending_weights(p, pre, post, w_nest, kplus, t_last, t_post, i_post):
    """NEST weights (its units) of a pair-STDP projection with the potentiation pending
    since each synapse's last presynaptic spike applied, as NEST's ``stdp_synapse`` will
    at the next one: every postsynaptic spike stamped ``t`` after ``t_last - d`` meets
    the presynaptic trace ``Kplus exp(-(t + d - t_last) / tau_plus)``.

    Parameters
    ----------
    p : dict
        The projection's record (``syn``, ``scale``, ``lambda``, ``delay_ms``,
        ``n_post``).
    pre, post : ndarray of int, shape (n,)
        The synapses' indices.
    w_nest, kplus, t_last : ndarray, shape (n,)
        NEST's weights, ``Kplus`` and each synapse's last presynaptic stamp (ms).
    t_post, i_post : ndarray, shape (m,)
        The target group's postsynaptic stamps (ms) and indices kept so far.
    """
    syn = p["syn"]
    wmax = syn.w_max * p["scale"]
    w_norm = w_nest / wmax
    lam, d, tau = p["lambda"], p["delay_ms"], syn.plasticity.tau_plus_ms
    additive = syn.plasticity.weight_dependence == "additive"
    by_post = np.argsort(i_post, kind="stable")
    bounds = np.searchsorted(i_post[by_post], np.arange(p["n_post"] + 1))
    for j in np.unique(post):
        tj = t_post[by_post[bounds[j]:bounds[j + 1]]]
        sel = np.flatnonzero((post == j) & (kplus > 0))
        if not tj.size or not sel.size:
            continue
        gap = tj[None, :] + d - t_last[sel, None]
        k = np.where(gap > 1e-9, kplus[sel, None] * np.exp(-np.maximum(gap, 0) / tau), 0.0)
        if additive:
            w_norm[sel] = np.minimum(w_norm[sel] + lam * k.sum(axis=1), 1.0)
        else:
            # w_norm <- w_norm + lam (1 - w_norm) K, spike by spike
            w_norm[sel] = np.minimum(1.0 - (1.0 - w_norm[sel]) * np.prod(1.0 - lam * k, axis=1),
                                     1.0)
    return w_norm * wmax
