"""Brian2 itself: importing it, its code-generation targets, and running it quietly.

Shared by the simulator (:mod:`.simulator`) and the escape-noise trials (:mod:`.escape`).
"""

from __future__ import annotations

import contextlib
import logging
import warnings

from plasticity.errors import InvalidParameterError
from plasticity.spiking.base import require_installed

__all__ = ["TARGETS", "adopt", "check_target", "import_brian2", "prefs", "quiet",
           "require_brian2", "resolve_target"]

#: Brian2 code generation: runtime Cython (else NumPy), NumPy, Cython, C++ standalone
TARGETS = ("auto", "numpy", "cython", "cpp_standalone")
#: the refusal when Brian2 is not installed
MISSING = "the brian2 backend needs brian2: pip install brian2"


def adopt(network, objects):
    """Mark ``objects`` (and what they contain) as part of ``network`` now, so that Brian2
    does not warn about unused objects when a simulator is dropped before it ran."""
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if getattr(obj, "_network", "uninitialized") is None:
            obj._network = network.id
        stack.extend(getattr(obj, "contained_objects", ()))


def require_brian2():
    """Refuse, with one line, when Brian2 is not installed, without importing it (a
    check before a run)."""
    require_installed("brian2", MISSING)


def import_brian2():
    """The ``brian2`` module, or one line saying how to install it."""
    try:
        with warnings.catch_warnings():  # brian2's import trips pyparsing deprecations
            warnings.simplefilter("ignore", DeprecationWarning)
            import brian2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InvalidParameterError(MISSING) from exc
    return brian2


@contextlib.contextmanager
def quiet(b2):
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
def prefs(b2, target):
    """Set Brian2's code-generation target for the duration of the block, then restore."""
    old = b2.prefs["codegen.target"]
    b2.prefs["codegen.target"] = target
    try:
        yield
    finally:
        b2.prefs["codegen.target"] = old


def check_target(target):
    """Refuse, with one line, a ``target`` that is not one of :data:`TARGETS`."""
    if target not in TARGETS:
        raise InvalidParameterError(f"The 'target' must be one of {', '.join(TARGETS)}. "
                                    f"Got {target!r}.")


def resolve_target(b2, target):
    """The target to use for ``target``: ``"auto"`` is runtime Cython when it compiles,
    else NumPy; ``"cython"`` without a working compiler is refused."""
    check_target(target)
    if target in ("numpy", "cpp_standalone"):
        return target
    from brian2.codegen.runtime.cython_rt import CythonCodeObject

    with quiet(b2):
        available = CythonCodeObject.is_available()
    if target == "cython" and not available:
        raise InvalidParameterError("target='cython' needs a working Cython and C compiler "
                                    "(Brian2's test compilation failed); use "
                                    "target='numpy'")
    return "cython" if available else "numpy"

