"""A tiny, fast experiment for the sweep tests and benchmark (not a study).

Its summary is ``value = x + N(0, 1)`` drawn from the seed's generator, so the same
(x, seed) gives the same value in any worker. Knobs make a run slow (``sleep_s``),
CPU-bound (``spin``), failing (``fail_seed``, while the file ``fail_while`` exists) or
diverging (``diverge_seed``); ``report_threads`` records the worker's thread limits.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import Field

from plasticity.errors import Diverged
from plasticity.experiment import Config, Experiment


class ToyConfig(Config):
    x: float = Field(0.0, description="offset of the summary value")
    sleep_s: float = Field(0.0, ge=0, description="seconds to sleep in the run")
    spin: int = Field(0, ge=0, description="iterations of a CPU-bound loop")
    fail_seed: int = Field(-1, description="the run of this seed raises")
    fail_while: str = Field("", description="...but only while this file exists ('' = always)")
    diverge_seed: int = Field(-1, description="the run of this seed diverges")
    report_threads: bool = Field(False, description="record the thread limits")


def run(cfg: ToyConfig, ctx):
    t0 = time.perf_counter()
    time.sleep(cfg.sleep_s)
    acc = 0
    for i in range(cfg.spin):
        acc = (acc * 31 + i) % 1000003
    if ctx.seed == cfg.fail_seed and (not cfg.fail_while or Path(cfg.fail_while).exists()):
        raise RuntimeError(f"toy failure for seed {ctx.seed}")
    value = cfg.x + float(ctx.rng.standard_normal())
    ctx.recorder.append("trace", 1, units={"value": "1"}, value=value)
    ctx.summary(value=value, spin_result=acc, run_s=time.perf_counter() - t0)
    if cfg.report_threads:
        import numba

        from plasticity.sweep.worker import thread_report

        rep = thread_report()
        ctx.summary(omp_threads=int(rep["OMP_NUM_THREADS"] or -1), numba_threads=rep["numba"],
                    blas_threads=-1 if rep["blas"] is None else rep["blas"],
                    numba_pool=int(numba.config.NUMBA_NUM_THREADS))
    if ctx.seed == cfg.diverge_seed:
        raise Diverged(1, "toy divergence")


EXPERIMENT = Experiment(
    name="sweep-toy",
    description="A tiny experiment for testing sweeps.",
    config=ToyConfig,
    run=run,
    presets={"quick": {}, "full": {"sleep_s": 0.0}},
)
