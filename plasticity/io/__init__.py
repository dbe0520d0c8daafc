"""Run files: writing (:class:`Recorder`) and reading (:func:`open_run`, :func:`open_runs`)."""

from plasticity.io.recorder import SCHEMA_VERSION, STATUSES, Recorder
from plasticity.io.runfile import RunFile, open_run, open_runs

__all__ = ["SCHEMA_VERSION", "STATUSES", "Recorder", "RunFile", "open_run", "open_runs"]
