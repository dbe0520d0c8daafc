"""Supervised tasks with a stated loss, and the exact gradient of that loss (the oracle).

Three tasks share one interface:

- :class:`LinearTeacher`: regression onto a random linear map, inputs ``x ~ N(0, I)``.
- :class:`TanhTeacher`: regression onto a random one-hidden-layer tanh network
  (teacher-student).
- :class:`Digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, loaded
  from the package, never downloaded), ten classes, softmax cross-entropy.

Each task has ``n_inputs``, ``n_outputs`` and ``loss_kind`` (``"mse"`` or
``"cross_entropy"``, the kinds of :meth:`FeedForward.loss`), draws batches with
:meth:`batch`, and judges a network with :meth:`loss`, whose exact gradient is
:meth:`gradient`. The loss a rule is judged against is the one stated in each class's
docstring, and both methods compute exactly that loss on exactly the given batch.

The interface is :mod:`plasticity.tasks.supervised_task`, the tasks are in
:mod:`plasticity.tasks.teachers` and :mod:`plasticity.tasks.digits`; this module names
them (:data:`TASKS`, :func:`make_task`) and re-exports them.
"""

from __future__ import annotations

import inspect

from plasticity.errors import InvalidParameterError
from plasticity.tasks.digits import Digits
from plasticity.tasks.mnist1d import MNIST1D
from plasticity.tasks.supervised_task import SupervisedTask
from plasticity.tasks.teachers import LinearTeacher, TanhTeacher

__all__ = ["Digits", "LinearTeacher", "MNIST1D", "SupervisedTask", "TanhTeacher", "TASKS",
           "make_task"]


TASKS = {
    "linear-teacher": (LinearTeacher, {"n_inputs": 20, "n_outputs": 5}),
    "teacher-student": (TanhTeacher, {"n_inputs": 20, "n_hidden": 10, "n_outputs": 5}),
    "digits": (Digits, {}),
    "mnist1d": (MNIST1D, {}),
}
"""Task name -> (class, default keyword arguments) used by :func:`make_task`."""


def make_task(name: str, rng=0, **kwargs) -> SupervisedTask:
    """Build a supervised task by name.

    Parameters
    ----------
    name : {"linear-teacher", "teacher-student", "digits", "mnist1d"}
        ``"teacher-student"`` is the tanh teacher (:class:`TanhTeacher`), ``"mnist1d"``
        MNIST-1D (:class:`~plasticity.tasks.mnist1d.MNIST1D`, the package's fixed split).
    rng : numpy.random.Generator or int, default 0
        The task's random source.
    **kwargs
        Constructor arguments overriding the defaults (linear-teacher: ``n_inputs=20,
        n_outputs=5``; teacher-student: ``n_inputs=20, n_hidden=10, n_outputs=5``).

    Raises
    ------
    InvalidParameterError
        For an unknown name (listing the known ones) or an unknown keyword.
    """
    if name not in TASKS:
        known = ", ".join(repr(k) for k in TASKS)
        raise InvalidParameterError(f"Unknown task {name!r}; known tasks: {known}.")
    cls, defaults = TASKS[name]
    allowed = [p for p in inspect.signature(cls).parameters if p != "rng"]
    for key in kwargs:
        if key not in allowed:
            raise InvalidParameterError(f"Unknown parameter {key!r} of task {name!r} "
                                        f"(known: {', '.join(allowed)}).")
    return cls(rng=rng, **{**defaults, **kwargs})
