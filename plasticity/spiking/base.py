"""The base class every spiking backend implements (in the manner of Brian2's ``Device``).

A backend is one subclass of :class:`Simulator` in its own package
(:mod:`plasticity.spiking.numba`, :mod:`plasticity.spiking.brian2`), listed in the table
of :mod:`plasticity.spiking.backends`. The base holds what every backend shares: the
validation of the constructor's arguments and of every call (one place, one message per
mistake), the seeding (connectivity and initial weights from the first child of the seed,
the simulation's random numbers from the second, so that backends build the same
synapses), the clock (``step``, ``t_ms``) and the public methods, which check their
arguments and then call the backend's private hooks (``_run``, ``_weights``, ...).

Checkpoints are a capability, not a requirement: a backend that can save its whole state
sets :attr:`Simulator.can_checkpoint` and overrides :meth:`Simulator.get_state` and
:meth:`Simulator.set_state`; the others refuse with one line.

(The module is ``base``, not ``simulator``: :func:`plasticity.spiking.simulator` is the
function that builds one, and a module of that name would shadow it as an attribute of
the package.)
"""

from __future__ import annotations

import abc
import importlib.util
import math
from typing import ClassVar

import numpy as np

from plasticity.errors import InvalidParameterError
from plasticity.spiking.connectivity import build_connectivity, initial_weights
from plasticity.spiking.network import Network
from plasticity.spiking.results import Recording, SimResult

__all__ = ["Simulator", "GROUP_NAMES", "require_installed"]

#: how messages name each group kind
GROUP_NAMES = {"lif": "LIF", "izhikevich": "Izhikevich", "two_compartment": "two-compartment",
               "poisson": "Poisson", "generator": "spike generator"}



def require_installed(module: str, missing: str) -> None:
    """Refuse with the one line ``missing`` when ``module`` (a backend's package) is not
    installed, without importing it: a check before a run. A package that is found but
    fails to import is refused by the backend's own import when the simulator is built.
    """
    try:
        # an imported module counts as found; sys.modules[module] = None (an import
        # blocked on purpose) as missing
        found = importlib.util.find_spec(module) is not None
    except ValueError:  # imported, without a __spec__
        found = True
    if not found:
        raise InvalidParameterError(missing)

class Simulator(abc.ABC):
    """Simulate a :class:`~plasticity.spiking.network.Network` on one backend.

    Parameters
    ----------
    net : Network
        The model (validated: a ``Network``, not a dict).
    seed : int or sequence of int
        Master seed. Its first child draws the connectivity and initial weights
        (:func:`plasticity.spiking.connectivity.initial_synapses`, the same on every
        backend), its second the simulation's random numbers.
    recording : Recording, optional
        What to keep (spikes of which groups, sampled state, rate bins).

    Attributes
    ----------
    net : Network
    recording : Recording
    dt : float
        Time step (ms).
    step : int
        Steps simulated so far.

    Notes
    -----
    A subclass sets :attr:`backend`, :attr:`group_kinds` and :attr:`state_kinds`, calls
    ``super().__init__`` first, builds its synapses from :meth:`_initial_synapses` (which
    also records the connectivity :meth:`connectivity` returns), and implements the hooks
    ``_run``, ``_weights``, ``_set_weights``, ``_modulator``, ``_set_modulator`` and
    ``_eligibility``; their arguments arrive checked (a known projection, a
    reward-modulated one where it must be, weights of the right shape, a finite
    modulator).
    """

    #: the name :func:`plasticity.spiking.simulator` knows the backend by
    backend: ClassVar[str]
    #: the group kinds the backend simulates
    group_kinds: ClassVar[frozenset[str]]
    #: the group kinds whose state (``v`` and ``g_e``, or ``U`` and ``V*``) it records
    state_kinds: ClassVar[tuple[str, ...]]
    #: whether :meth:`get_state` and :meth:`set_state` work (a run can then resume)
    can_checkpoint: ClassVar[bool] = False

    def __init__(self, net: Network, *, seed=0, recording: Recording | None = None):
        if not isinstance(net, Network):
            raise InvalidParameterError(f"expected a Network, got {type(net).__name__}")
        recording = Recording() if recording is None else recording
        if not isinstance(recording, Recording):
            raise InvalidParameterError(f"expected a Recording, got "
                                        f"{type(recording).__name__}")
        for name, g in net.groups.items():
            if g.kind not in self.group_kinds:
                raise InvalidParameterError(self._unsupported_group(name, g.kind))
        try:
            setup_seed, run_seed = np.random.SeedSequence(seed).spawn(2)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"The seed must be a non-negative int or a sequence "
                                        f"of them. Got {seed!r}.") from exc
        self.net = net
        self.recording = recording
        self.dt = net.dt_ms
        self.step = 0
        # the two children of the seed: set-up (synapses) and the simulation's randomness
        self._seeds = (setup_seed, run_seed)
        self._labels = [s.label for s in net.synapses]
        # label -> (pre, post) index arrays of a sparse projection, or (n_pre, n_post) of
        # a dense one (whose indices stay implicit: 16 bytes per synapse saved)
        self._conn = {}

    def _initial_synapses(self):
        """Yield ``(syn, w)`` for every projection in order: its initial weights
        (float64, ordered by (pre, post)), drawn with its connectivity (recorded for
        :meth:`connectivity`) from the first child of the seed."""
        rng = np.random.default_rng(self._seeds[0])
        for syn in self.net.synapses:
            n_pre, n_post = self.net.groups[syn.source].n, self.net.groups[syn.target].n
            if syn.connect == "all":
                self._conn[syn.label] = (n_pre, n_post)
                size = n_pre * n_post
            else:
                pre, post = build_connectivity(syn, n_pre, n_post, rng)
                self._conn[syn.label] = (pre, post)
                size = pre.size
            yield syn, initial_weights(syn, size, rng)

    def _size(self, label) -> int:
        """The number of synapses of projection ``label``."""
        conn = self._conn[label]
        return conn[0].size if isinstance(conn[0], np.ndarray) else conn[0] * conn[1]

    def _unsupported_group(self, name, kind) -> str:
        """The one-line refusal of a group kind this backend does not simulate."""
        return f"group '{name}': the {self.backend} backend cannot simulate " \
               f"{GROUP_NAMES.get(kind, kind)} groups"

    # -- time ------------------------------------------------------------------------
    @property
    def t_ms(self) -> float:
        """Simulated time so far (ms)."""
        return self.step * self.dt

    @property
    def standalone(self) -> bool:
        """True when :meth:`run` may be called only once (Brian2's C++ standalone)."""
        return False

    def run(self, duration_ms, *, progress=None) -> SimResult:
        """Simulate ``duration_ms`` more and return what was recorded in that span.

        Parameters
        ----------
        duration_ms : float
            Time to simulate (ms), rounded to whole steps.
        progress : callable, optional
            Called with the simulated time (ms) advanced after each chunk the backend
            runs at once.

        Returns
        -------
        SimResult
            The segment ``[t_ms before, t_ms after)``; results do not depend on how a
            simulation is split into calls.
        """
        if not duration_ms >= 0:
            raise InvalidParameterError(f"duration_ms must be >= 0. Got {duration_ms!r}.")
        self._check_state_request()
        t0 = self.step
        t1 = t0 + int(round(duration_ms / self.dt))
        return self._run(t0, t1, progress)

    def _check_state_request(self):
        kinds = self.state_kinds
        allowed = " or ".join(f"{'an' if GROUP_NAMES[k][0] in 'AEIOU' else 'a'} "
                              f"{GROUP_NAMES[k]} group" for k in kinds)
        for gname, idx in self.recording.state.items():
            g = self.net.groups.get(gname)
            if g is None or g.kind not in kinds:
                raise InvalidParameterError(f"cannot record the state of '{gname}': not "
                                            f"{allowed} of this network")
            idx = np.asarray(idx, dtype=np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= g.n):
                raise InvalidParameterError(f"state indices of '{gname}' out of range")

    # -- synapses --------------------------------------------------------------------
    def _check_label(self, label):
        if label not in self._labels:
            raise InvalidParameterError(f"no projection named '{label}' (known: "
                                        f"{', '.join(self._labels)})")

    def _check_reward(self, label):
        self._check_label(label)
        syn = self.net.synapses[self._labels.index(label)]
        if getattr(syn.plasticity, "kind", None) != "reward":
            raise InvalidParameterError(f"projection '{label}' is not reward-modulated "
                                        "(plasticity=RewardSTDP)")

    def weights(self, label, *, copy=True) -> np.ndarray:
        """Projection ``label``'s weights, shape (n_synapses,), ordered by (pre, post) as
        :meth:`connectivity`.

        With ``copy=False``, a read-only view where the backend holds the weights in one
        array (the Numba engine: no second 8 bytes per synapse on a big network), valid
        until the next :meth:`run` or :meth:`set_weights`; otherwise a copy.
        """
        self._check_label(label)
        return self._weights(label) if copy else self._weights_view(label)

    def _weights_view(self, label) -> np.ndarray:
        """A backend without a cheaper view gives a copy."""
        return self._weights(label)

    def set_weights(self, label, w):
        """Replace projection ``label``'s weights (shape (n_synapses,), the order of
        :meth:`weights`)."""
        self._check_label(label)
        size = self._size(label)
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (size,):
            raise InvalidParameterError(f"weights of '{label}' must have shape "
                                        f"({size},). Got {w.shape}.")
        self._set_weights(label, w)

    def connectivity(self, label) -> tuple[np.ndarray, np.ndarray]:
        """Presynaptic and postsynaptic indices (int64, shape (n_synapses,) each) of
        projection ``label``'s synapses, sorted by (pre, post)."""
        self._check_label(label)
        conn = self._conn[label]
        if isinstance(conn[0], np.ndarray):
            return conn[0].copy(), conn[1].copy()
        n_pre, n_post = conn
        return (np.repeat(np.arange(n_pre, dtype=np.int64), n_post),
                np.tile(np.arange(n_post, dtype=np.int64), n_pre))

    def modulator(self, label) -> float:
        """The neuromodulator (dopamine) level ``d`` of reward-modulated projection
        ``label``."""
        self._check_reward(label)
        return float(self._modulator(label))

    def set_modulator(self, label, value):
        """Set the neuromodulator level ``d`` of projection ``label`` now (a reward
        delivered by the experiment, or a TD error); it then decays with ``tau_d``."""
        value = float(value)
        if not math.isfinite(value):
            raise InvalidParameterError(f"The modulator value must be finite. Got {value}.")
        self._check_reward(label)
        self._set_modulator(label, value)

    def eligibility(self, label) -> np.ndarray:
        """A copy of reward-modulated projection ``label``'s eligibility traces (shape
        (n_synapses,), the order of :meth:`weights`)."""
        self._check_reward(label)
        return self._eligibility(label)

    # -- checkpoints -----------------------------------------------------------------
    def get_state(self, *, copy=True) -> dict:
        """Everything needed to continue the simulation bit for bit (backends with
        :attr:`can_checkpoint` only).

        With ``copy=False`` the arrays may be the simulator's own (read-only views), valid
        until the next :meth:`run`: a checkpoint that writes them out at once then needs
        no second copy of a big network's weights in memory.
        """
        raise InvalidParameterError(self._no_checkpoint())

    def set_state(self, state: dict):
        """Restore :meth:`get_state`'s result into this simulator, built from the same
        network and seed (backends with :attr:`can_checkpoint` only)."""
        raise InvalidParameterError(self._no_checkpoint())

    def _no_checkpoint(self) -> str:
        return f"the {self.backend} backend cannot save its state; use backend=numba"

    # -- the backend's hooks ---------------------------------------------------------
    @abc.abstractmethod
    def _run(self, t0: int, t1: int, progress) -> SimResult:
        """Simulate steps ``[t0, t1)`` (``t0 == self.step``), leave ``self.step == t1``
        and return the segment's result; the state request is already checked."""

    @abc.abstractmethod
    def _weights(self, label) -> np.ndarray:
        """A copy of the current weights of a known projection."""

    @abc.abstractmethod
    def _set_weights(self, label, w: np.ndarray):
        """Replace the weights of a known projection (float64, right shape)."""

    @abc.abstractmethod
    def _modulator(self, label) -> float:
        """The dopamine level of a reward-modulated projection."""

    @abc.abstractmethod
    def _set_modulator(self, label, value: float):
        """Set the dopamine level of a reward-modulated projection (finite)."""

    @abc.abstractmethod
    def _eligibility(self, label) -> np.ndarray:
        """A copy of the eligibility traces of a reward-modulated projection."""
