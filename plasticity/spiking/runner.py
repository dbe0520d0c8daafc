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

from plasticity.experiment import Config
from plasticity.spiking.results import merge_results

__all__ = ["SpikingConfig", "simulate_into", "make_simulator", "histogram_u_shape"]


class SpikingConfig(Config):
    """Base of spiking experiments' configs: the backend fields every one of them has."""

    backend: Literal["numba", "brian2"] = Field(
        "numba", description="simulator: the Numba engine or Brian2 (reference)")
    brian2_target: Literal["auto", "cython", "numpy", "cpp_standalone"] = Field(
        "auto", description="Brian2 code generation: runtime (Cython, else NumPy) or C++ "
                            "standalone")


def make_simulator(net, cfg, seed, recording=None):
    """The simulator ``cfg.backend`` names, built from ``net``."""
    from plasticity.spiking import simulator

    options = {"target": cfg.brian2_target} if cfg.backend == "brian2" else {}
    return simulator(net, backend=cfg.backend, seed=seed, recording=recording, **options)


def simulate_into(sim, duration_ms, ctx, *, segment_ms=None, snapshot=(), on_segment=None,
                  desc="simulating"):
    """Simulate ``duration_ms`` with ``sim``, writing to ``ctx.recorder`` as it goes.

    Parameters
    ----------
    sim : NumbaSimulator or Brian2Simulator
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
    """
    if segment_ms is None:
        if sim.backend == "numba":
            segment_ms = 1000.0
        elif getattr(sim, "standalone", False):
            segment_ms = duration_ms
        else:
            segment_ms = 10000.0
    rec = ctx.recorder
    parts = []
    done = 0.0
    with ctx.progress(round(duration_ms), desc) as bar:
        bar.unit = "ms"
        for label in snapshot:
            rec.snapshot(label, sim.t_ms, sim.weights(label), units="weight",
                         index="time", index_units="ms")
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
            rec.maybe_checkpoint()
    return merge_results(parts) if parts else None


def histogram_u_shape(w_rel, bins=10):
    """Counts of ``w_rel`` (weights / w_max) in ``bins`` equal bins on [0, 1], and whether
    both end bins hold more than every inner bin."""
    counts, _ = np.histogram(np.clip(w_rel, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    inner = counts[1:-1].max() if bins > 2 else 0
    return counts, bool(counts[0] > inner and counts[-1] > inner)
