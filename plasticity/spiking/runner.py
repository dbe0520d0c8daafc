"""Run a spiking simulation into a run file: segments, progress, spikes, rates, weights.

Experiments call :func:`simulate_into`; it runs the simulator in segments (so that the
file is checkpointed and a killed run keeps what was simulated), writes every recorded
group's spikes in the SONATA layout (``/spikes/<group>``), population rates under
``/series/rates/<group>`` (indexed by time in ms) and weight snapshots under
``/snapshots/<projection>``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from plasticity.spiking.results import merge_results
from plasticity.validation import Config

__all__ = ["SpikingConfig", "simulate_into", "make_simulator", "histogram_u_shape",
           "numba_only"]


class SpikingConfig(Config):
    """Base of spiking experiments' configs: the backend fields every one of them has."""

    backend: Literal["numba", "brian2", "nest"] = Field(
        "numba", description="simulator: the Numba engine, Brian2 (reference) or NEST "
                             "(optional extra)")
    brian2_target: Literal["auto", "cython", "numpy", "cpp_standalone"] = Field(
        "auto", description="Brian2 code generation: runtime (Cython, else NumPy) or C++ "
                            "standalone")
    # a config field, not --threads: NEST's results depend on its number of threads
    # (virtual processes), so the count belongs to what the run file says was run
    nest_threads: int = Field(1, ge=1, description="NEST's local_num_threads (its results "
                                                   "depend on it; the Numba engine's do not)")


def numba_only(cfg):
    """``Experiment(resumable=numba_only)``: runs on a backend that can save its state
    (:attr:`Simulator.can_checkpoint`: the Numba engine) can resume; the others cannot."""
    from plasticity.spiking.backends import backend_class

    return None if backend_class(cfg.backend).can_checkpoint else \
        f"the {cfg.backend} backend cannot save its state; use backend=numba"


def make_simulator(net, cfg, seed, recording=None):
    """The simulator ``cfg.backend`` names, built from ``net``."""
    from plasticity.spiking.backends import config_options, simulator

    # the options come from the same table the pre-run check reads (check_config)
    return simulator(net, backend=cfg.backend, seed=seed, recording=recording,
                     **config_options(cfg))


def simulate_into(sim, duration_ms, ctx, *, segment_ms=None, snapshot=(), on_segment=None,
                  desc="simulating"):
    """Simulate ``duration_ms`` with ``sim``, writing to ``ctx.recorder`` as it goes.

    Parameters
    ----------
    sim : Simulator
    duration_ms : float
    ctx : RunContext
    segment_ms : float, optional
        Length of each segment; default 1 s on the Numba engine, 10 s on Brian2 runtime
        (its per-run set-up costs more) and the whole run in one segment for Brian2's C++
        standalone mode, which can run only once.
    snapshot : sequence of str
        Projections whose weights are stored after every segment.
    on_segment : callable, optional
        ``on_segment(result)`` after each segment.

    Returns
    -------
    SimResult
        All segments merged.

    Notes
    -----
    Inside a resumable experiment (see :mod:`plasticity.io.checkpoint`) the simulator's
    whole state is saved at checkpoints (after a segment); a resumed run restores it
    here and rebuilds the segments already simulated from the run file (spikes, rates)
    and the checkpoint (spike counts, sampled state). Only the Numba engine can do this.
    """
    if segment_ms is None:
        if sim.backend == "numba":
            segment_ms = 1000.0
        elif sim.standalone:
            segment_ms = duration_ms
        else:
            segment_ms = 10000.0
    rec = ctx.recorder
    parts = []
    done = 0.0
    ckpt = ctx.checkpointer
    if ckpt is not None and ckpt.enabled and not sim.can_checkpoint:
        from plasticity.errors import InvalidParameterError

        raise InvalidParameterError(f"the {sim.backend} backend cannot checkpoint a run "
                                    "(resume needs the numba backend).")
    with ctx.progress(round(duration_ms), desc) as bar:
        bar.unit = "ms"
        for label in snapshot:
            rec.snapshot(label, sim.t_ms, sim.weights(label), units="weight",
                         index="time", index_units="ms")
        # a resumed run stops replaying here, after the snapshots the file already has
        loop, saved = ckpt.begin_loop("simulate") if ckpt is not None else (None, None)
        # lengths of the spike datasets and rate tables when this loop starts, to tell
        # its own data from that of earlier loops of the same run
        origin = _data_origin(rec) if ckpt is not None and ckpt.enabled and saved is None \
            else None
        if saved is not None:
            done, origin = _restore_simulation(sim, saved, duration_ms, rec, parts)
            bar.update(round(done))
        while done < duration_ms - 1e-9:
            span = min(segment_ms, duration_ms - done)
            res = sim.run(span)
            done += span
            for group, (times, ids) in res.spikes.items():
                rec.spikes(group, times, ids)
            for group, (starts, rate) in res.rates.items():
                for t, r in zip(starts, rate, strict=True):
                    rec.append(f"rates/{group}", float(t), index="time", index_units="ms",
                               units={"rate": "Hz"}, rate=float(r))
            for label in snapshot:
                rec.snapshot(label, sim.t_ms, sim.weights(label), units="weight",
                         index="time", index_units="ms")
            if on_segment is not None:
                on_segment(res)
            parts.append(res)
            bar.update(round(span))
            if ckpt is not None and ckpt.due():
                ckpt.save(loop, "simulate", int(sim.step), _simulation_state(
                    sim, done, duration_ms, origin, parts))
            rec.maybe_checkpoint()
    return merge_results(parts) if parts else None


def _data_origin(rec):
    rec.flush()
    h5 = rec.h5
    spikes = {g: int(h5[f"spikes/{g}/timestamps"].shape[0])
              for g in (h5["spikes"] if "spikes" in h5 else ())}
    rates = {g: int(h5[f"series/rates/{g}/time"].shape[0])
             for g in (h5["series/rates"] if "series/rates" in h5 else ())}
    return {"spikes": spikes, "rates": rates}


def _simulation_state(sim, done, duration_ms, origin, parts):
    from plasticity.io.checkpoint import in_place

    # spikes and rates of the segments so far are in the file; counts and sampled state
    # are not, so they travel with the checkpoint (merged: one part stands for all)
    first = parts[0]
    counts = {k: int(sum(p.counts[k] for p in parts)) for k in first.counts}
    state = {k: {var: np.concatenate([p.state[k][var] for p in parts]) for var in v}
             for k, v in first.state.items()}
    # views, not copies: the checkpoint writes them out before the simulation goes on,
    # so a 10^8-synapse network does not hold its weights twice; and read back straight
    # into the resumed simulator's arrays (in_place), not into a copy first
    return {"sim": in_place(sim.get_state(copy=False)), "done": done,
            "duration_ms": float(duration_ms),
            "origin": origin, "t_start_ms": first.t_start_ms, "counts": counts,
            "state": state, "spike_groups": list(first.spikes),
            "rate_groups": list(first.rates)}


def _restore_simulation(sim, saved, duration_ms, rec, parts):
    from plasticity.io.checkpoint import CheckpointError
    from plasticity.spiking.results import SimResult

    if saved["duration_ms"] != float(duration_ms):
        raise CheckpointError(f"the checkpointed simulation lasts {saved['duration_ms']} ms, "
                              f"this one {float(duration_ms)} ms")
    sim.set_state(saved["sim"])
    h5, origin = rec.h5, saved["origin"]
    past = SimResult(saved["t_start_ms"], sim.t_ms, counts=dict(saved["counts"]),
                     state=dict(saved["state"]))
    for g in saved["spike_groups"]:
        grp = h5[f"spikes/{g}"]
        start = origin["spikes"].get(g, 0)
        past.spikes[g] = (grp["timestamps"][start:],
                          grp["node_ids"][start:].astype(np.int64))
    for g in saved["rate_groups"]:
        grp = h5[f"series/rates/{g}"]
        start = origin["rates"].get(g, 0)
        past.rates[g] = (grp["time"][start:], grp["rate"][start:])
    parts.append(past)
    return saved["done"], origin


def histogram_u_shape(w_rel, bins=10):
    """Counts of ``w_rel`` (weights / w_max) in ``bins`` equal bins on [0, 1], and whether
    both end bins hold more than every inner bin."""
    counts, _ = np.histogram(np.clip(w_rel, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    inner = counts[1:-1].max() if bins > 2 else 0
    return counts, bool(counts[0] > inner and counts[-1] > inner)
