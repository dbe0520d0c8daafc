"""Memory estimates up front: refuse a configuration that cannot fit before it allocates.

An experiment declares ``Experiment(memory=estimate)``, where ``estimate(cfg)`` returns a
:class:`MemoryEstimate`: the dominant arrays its configuration will hold (weights,
covariances, sample matrices, recorded series), each named with its shape in config
keys. :func:`plasticity.experiment.execute` calls :func:`check_memory` before the run
file is created, so a run that cannot fit stops with one line (exit status 2) and leaves
no file behind, instead of a traceback from NumPy half-way through.

The estimates are honest upper-order figures, not exact accounting: they count the large
arrays alive at the peak and ignore everything of the size of a config (the interpreter,
NumPy, Numba and h5py themselves take a few hundred MiB that is already in use when the
check runs, and so already out of the memory reported available).

The limit
---------
A run is refused when its estimate exceeds :data:`MARGIN` (90%) of the memory available:
the estimate is rough, and a machine with no memory left for anything else (page cache,
the other processes) is no better than a failed run. The memory available is, in order:

1. ``$PLASTICITY_MEMORY_LIMIT`` (e.g. ``2GiB``, ``512MiB``, ``1.5e9``; ``unlimited``
   turns the check off), so tests and users set it deterministically;
2. Linux's ``MemAvailable`` (``/proc/meminfo``), lowered to what the process's cgroup
   still allows (``memory.max - memory.current``, cgroup v2, or v1's
   ``memory.limit_in_bytes - memory.usage_in_bytes``) when that is smaller (containers,
   batch jobs);
3. elsewhere ``psutil.virtual_memory().available`` when psutil is importable (it comes
   with dask's distributed), else ``os.sysconf`` free pages;
4. otherwise unknown: no check.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from plasticity.errors import InvalidParameterError, TooBigForMachine

__all__ = ["ENV_LIMIT", "MARGIN", "MemoryEstimate", "Term", "array_bytes", "available_bytes",
           "check_memory", "format_bytes", "parse_bytes"]

#: environment variable that sets the memory available (bytes or with a unit)
ENV_LIMIT = "PLASTICITY_MEMORY_LIMIT"
#: fraction of the available memory an estimate may take
MARGIN = 0.9

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
_FACTORS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2,
            "mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3, "t": 1024**4,
            "tb": 1000**4, "tib": 1024**4, "p": 1024**5, "pb": 1000**5, "pib": 1024**5}
_CGROUP_FILES = [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                 ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                  "/sys/fs/cgroup/memory/memory.usage_in_bytes")]


def format_bytes(n) -> str:
    """``n`` bytes in binary units, two or three significant figures.

    >>> format_bytes(512), format_bytes(1536), format_bytes(8 * 10**16)
    ('512 B', '1.5 KiB', '71 PiB')
    """
    n = float(n)
    i = 0
    while abs(n) >= 1024 and i < len(_UNITS) - 1:
        n /= 1024
        i += 1
    if i == 0:
        return f"{int(round(n))} B"
    # 7.6 GiB, 71 GiB, 745 GiB: one decimal only where it is a significant figure
    return f"{n:.1f} {_UNITS[i]}" if abs(n) < 10 else f"{n:.0f} {_UNITS[i]}"


def parse_bytes(text) -> int:
    """``"2GiB"`` -> 2147483648; ``"1.5 GB"`` -> 1500000000; ``"4096"`` -> 4096.

    Binary (KiB, MiB, GiB, TiB, PiB, and the bare K, M, G, T, P) and decimal (kB, MB, GB,
    TB, PB) units, case-insensitive.

    Raises
    ------
    InvalidParameterError
        For anything else, or a negative size.
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _FACTORS:
        raise InvalidParameterError(f"{text!r} is not a memory size (e.g. 2GiB, 512MiB, "
                                    "1.5e9).")
    return int(float(m.group(1)) * _FACTORS[unit])


def array_bytes(*dims, itemsize=8) -> int:
    """Bytes of an array of shape ``dims`` (Python integers: no overflow however large)."""
    out = int(itemsize)
    for d in dims:
        out *= max(0, int(d))
    return out


@dataclass(frozen=True)
class Term:
    """One large allocation: what it is, its shape in config keys, its size.

    Attributes
    ----------
    what : str
        e.g. ``"the input covariance"``.
    shape : str
        e.g. ``"n_inputs x n_inputs float64"``.
    nbytes : int
    """

    what: str
    shape: str
    nbytes: int


@dataclass
class MemoryEstimate:
    """The dominant arrays a configuration needs at its peak (bytes).

    Build it with :meth:`add`; ``total`` is their sum and ``dominant`` the largest term,
    named in a refusal.
    """

    terms: list = field(default_factory=list)

    def add(self, what: str, shape: str, nbytes) -> MemoryEstimate:
        """Add a term (``nbytes`` may be a float; it is rounded up); returns self."""
        self.terms.append(Term(what, shape, int(math.ceil(nbytes))))
        return self

    def extend(self, other: MemoryEstimate, prefix: str = "") -> MemoryEstimate:
        """Add every term of ``other`` (their ``what`` prefixed); returns self."""
        for t in other.terms:
            self.terms.append(Term(f"{prefix}{t.what}", t.shape, t.nbytes))
        return self

    @property
    def total(self) -> int:
        """Bytes of every term together."""
        return sum(t.nbytes for t in self.terms)

    @property
    def dominant(self) -> Term | None:
        """The largest term (None for an empty estimate)."""
        return max(self.terms, key=lambda t: t.nbytes) if self.terms else None

    def describe(self) -> str:
        """One line: the total and what dominates it."""
        dom = self.dominant
        if dom is None:
            return "0 B"
        if dom.nbytes >= 0.95 * self.total:
            return f"{format_bytes(self.total)} for {dom.what} ({dom.shape})"
        return (f"{format_bytes(self.total)}, {format_bytes(dom.nbytes)} of it for "
                f"{dom.what} ({dom.shape})")


def _read_int(path):
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_headroom():
    # "max" (no limit) reads as None; v1 reports no limit as a huge number, harmless
    for limit_file, usage_file in _CGROUP_FILES:
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None:
            return max(0, limit - (usage or 0))
    return None


def _portable_available():
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # not installed, or no support for this platform
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_bytes() -> int | None:
    """Bytes of memory a new allocation can have now, or None when unknown or when
    ``$PLASTICITY_MEMORY_LIMIT`` is ``unlimited`` (the order is in the module's doc).

    Raises
    ------
    InvalidParameterError
        When ``$PLASTICITY_MEMORY_LIMIT`` is not a memory size.
    """
    env = os.environ.get(ENV_LIMIT, "").strip()
    if env:
        if env.lower() in ("unlimited", "none", "off"):
            return None
        try:
            return parse_bytes(env)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"${ENV_LIMIT}: {exc}") from None
    avail = _meminfo_available()
    if avail is None:
        return _portable_available()
    headroom = _cgroup_headroom()
    return avail if headroom is None else min(avail, headroom)


def check_memory(estimate: MemoryEstimate, who: str, *, available=None, workers: int = 1,
                 margin: float = MARGIN) -> None:
    """Refuse ``estimate`` if it needs more than ``margin`` of the memory available.

    Parameters
    ----------
    estimate : MemoryEstimate
    who : str
        Named first in the message (the experiment, or ``"sweep oja-pca"``).
    available : int, optional
        Bytes available; default :func:`available_bytes` (None: unknown, no check).
    workers : int
        Processes that will each hold ``estimate`` at once (a sweep's pool): each gets
        ``available / workers``.
    margin : float
        Fraction of the (per-worker) memory the estimate may take.

    Raises
    ------
    TooBigForMachine
        With one line: ``"oja-pca needs 71 PiB for the input covariance (n_inputs x
        n_inputs float64); 7.6 GiB available"``.
    """
    if available is None:
        available = available_bytes()
    if available is None:
        return
    share = available / max(1, int(workers))
    if estimate.total <= margin * share:
        return
    where = f"; {format_bytes(available)} available"
    if os.environ.get(ENV_LIMIT, "").strip():
        where += f" (${ENV_LIMIT})"
    if workers > 1:
        where += f", {format_bytes(share)} for each of {workers} workers"
    raise TooBigForMachine(f"{who} needs {estimate.describe()}{where}.")
