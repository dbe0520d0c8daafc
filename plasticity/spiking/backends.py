"""The table of spiking backends, and :func:`simulator`, which builds one.

Each backend is a :class:`~plasticity.spiking.base.Simulator` subclass in its own
package: the Numba engine (:mod:`plasticity.spiking.numba`), Brian2
(:mod:`plasticity.spiking.brian2`) and NEST (:mod:`plasticity.spiking.nest`, an optional
extra). The table below names them explicitly (no collection by import side effects);
each entry imports its package on first use, so that ``import plasticity.spiking`` costs
neither Numba's, Brian2's nor NEST's import time. A new backend is one package and one
line here.

:func:`check_backend` refuses, before anything is built or written, what a backend's
constructor would refuse of a network: group kinds it does not simulate, options it does
not have, and its own static check (a classmethod ``check_network(net, **options)`` where
the backend has one: Brian2's memory and installation, NEST's mapping and installation).
Experiments call it from their ``Experiment(check=...)`` hook (:func:`check_config`), so
that a config the backend refuses exits with one line and leaves no run file.
"""

from __future__ import annotations

import inspect

from plasticity.errors import InvalidParameterError

__all__ = ["BACKENDS", "EXTRA_BACKENDS", "CONFIG_OPTIONS", "backend_class", "check_backend",
           "check_config", "config_options", "simulator"]


def _numba():
    from plasticity.spiking.numba import NumbaSimulator

    return NumbaSimulator


def _brian2():
    from plasticity.spiking.brian2 import Brian2Simulator

    return Brian2Simulator


def _nest():
    from plasticity.spiking.nest import NestSimulator

    return NestSimulator


#: backend name -> the function returning its Simulator subclass
_TABLE = {"numba": _numba, "brian2": _brian2, "nest": _nest}
#: the backends the package's dependencies provide, the default first
BACKENDS = ("numba", "brian2")
#: the backends that need an optional install (NEST: pip install nest-simulator)
EXTRA_BACKENDS = ("nest",)
#: backend -> {option: config field}: the fields of a spiking config
#: (:class:`plasticity.spiking.runner.SpikingConfig`) that carry a backend's options
CONFIG_OPTIONS = {"brian2": {"target": "brian2_target"}, "nest": {"threads": "nest_threads"}}


def backend_class(backend: str):
    """The :class:`~plasticity.spiking.base.Simulator` subclass of ``backend``."""
    loader = _TABLE.get(backend) if isinstance(backend, str) else None
    if loader is None:
        raise InvalidParameterError(f"The 'backend' must be one of "
                                    f"{', '.join(BACKENDS + EXTRA_BACKENDS)}. "
                                    f"Got {backend!r}.")
    return loader()


def simulator(net, *, backend="numba", seed=0, recording=None, **options):
    """A simulator of ``net`` on ``backend`` ("numba", "brian2" or "nest").

    Parameters
    ----------
    net : Network
    backend : {"numba", "brian2", "nest"}
        The Numba engine (fast default), Brian2 (the reference) or NEST (optional).
    seed : int or sequence of int
    recording : Recording, optional
    **options
        The backend's own options, e.g. Brian2's ``target="cython"|"numpy"|
        "cpp_standalone"``, NEST's ``threads``; the Numba engine has none.

    Returns
    -------
    Simulator
    """
    cls = backend_class(backend)
    _check_options(cls, backend, options)
    return cls(net, seed=seed, recording=recording, **options)


def _check_options(cls, backend, options):
    known = set(inspect.signature(cls).parameters) - {"net", "seed", "recording"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidParameterError(f"the {backend} backend has no option "
                                    f"{', '.join(unknown)} (its options: "
                                    f"{', '.join(sorted(known)) or 'none'})")


def check_backend(net, backend="numba", **options):
    """Refuse, with the one line its constructor would raise, a network ``backend``
    cannot simulate, without building a simulator: no synapses are drawn, and NEST and
    Brian2 are only looked for, not imported (except for Brian2's ``target="cython"``,
    whose compiler test imports it; ``"numba"`` imports the engine's package, and Numba).

    Parameters
    ----------
    net : Network or None
        The description the run would build (plain data: it holds no weights, so a
        network of 10^8 synapses is checked in milliseconds). None checks the backend
        alone (installed, its options), for runs that use it without a Network.
    backend : {"numba", "brian2", "nest"}
    **options
        The backend's options, as :func:`simulator` takes them.

    Raises
    ------
    InvalidParameterError
        An unknown backend or option, a group kind the backend does not simulate, or the
        backend's own refusal (its ``check_network`` classmethod: for Brian2 not
        installed, a bad target, synapses beyond the memory available; for NEST bad
        ``threads``, every feature :func:`plasticity.spiking.nest.mapping.check_network`
        does not map, NEST not installed).
    """
    cls = backend_class(backend)
    _check_options(cls, backend, options)
    if net is not None:
        for name, g in net.groups.items():
            if g.kind not in cls.group_kinds:
                # the message reads class attributes only: a bare instance (no __init__,
                # nothing built) words it exactly as the constructor would
                raise InvalidParameterError(cls.__new__(cls)._unsupported_group(name, g.kind))
    check = getattr(cls, "check_network", None)
    if check is not None:
        check(net, **options)


def config_options(cfg) -> dict:
    """The options of ``cfg.backend`` read from a spiking config's fields
    (:data:`CONFIG_OPTIONS`), e.g. ``{"threads": 1}`` for NEST."""
    fields = CONFIG_OPTIONS.get(cfg.backend, {})
    return {option: getattr(cfg, name) for option, name in fields.items()}


def check_config(cfg, net=None):
    """:func:`check_backend` for an experiment's config: the backend ``cfg.backend`` with
    its options from the config's fields, on ``net`` (default ``cfg.network()``, the
    description the run builds). The Numba engine is not checked: the network's own
    validation (made with the config) already holds everything it refuses, and its
    check would only import Numba early.

    For ``Experiment(check=check_config)``; the refusal is raised before the run file
    exists (:func:`plasticity.experiment.execute`).
    """
    if cfg.backend == "numba":
        return
    check_backend(cfg.network() if net is None else net, cfg.backend, **config_options(cfg))
