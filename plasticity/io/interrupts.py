"""SIGTERM as an exception, so that a terminated run is marked ``interrupted``.

This sits in the io layer because the run file's checkpointing and every loop consult it
(:func:`raise_if_terminated`); the experiment layer installs the handler around a run
(:func:`sigterm_as_interrupt`).
"""

from __future__ import annotations

import contextlib
import signal

__all__ = ["Interrupted", "raise_if_terminated", "sigterm_as_interrupt"]


class Interrupted(BaseException):  # noqa: N818 - mirrors KeyboardInterrupt
    """Raised on SIGTERM so that a terminated run is marked ``interrupted``."""


# A list, not a global bool, so that the handler and the loops share one mutable cell.
_TERMINATED = [False]


def raise_if_terminated():
    """Raise :class:`Interrupted` if a SIGTERM arrived but its exception was lost.

    The handler's exception is only printed, not propagated, when the signal lands in a
    finalizer or a weakref callback (h5py's object cleanup runs many): the loops call
    this after every update so that such a run still stops.
    """
    if _TERMINATED[0]:
        raise Interrupted()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises :class:`Interrupted` (main thread only; in
    another thread signals are left alone)."""
    def handler(signum, frame):
        _TERMINATED[0] = True
        raise Interrupted()

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. a worker thread): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
        _TERMINATED[0] = False
