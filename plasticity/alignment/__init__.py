"""Measure any rule against the true gradient in one call: ``pl.alignment.measure``.

This is the researcher's entry point of the alignment analysis: give it a rule (a built-in
name, an import path, or one's own object) and a task (or one's own
:class:`~plasticity.problems.Problem`), and it trains the rule through the engine, records
every update's alignment (:func:`plasticity.analysis.measured`), summarises the cosines
with a confidence interval (:func:`plasticity.analysis.summarize`) and measures the cosine
of the *expected* update at the initial state
(:func:`plasticity.analysis.expected_cosine`).

One reference
-------------
Every primary number (``cos_mean``, ``cos_ci_low``, ``cos_ci_high``, ``frac_positive``,
``expected_cos``) is against the *population* gradient, the gradient of the expected loss
(:meth:`Problem.population_gradient`): exact where the problem has it in closed form or
the population is finite, otherwise the mean over a fixed evaluation set, with the
cosine's denominator corrected for that estimate's noise
(:func:`plasticity.analysis.align`). Beside it, per update: ``cos_batch``, the cosine with
the gradient of the same minibatch the rule saw (secondary: 1 for backprop by
construction), and ``sgd_cos``, the cosine of the exact minibatch gradient itself with the
population gradient; its mean, ``sgd_ceiling``, is what plain SGD reaches at the same
states and batch size, the best a rule that sees one minibatch can expect.


The pieces: :mod:`plasticity.alignment.on_problem` (:func:`measure_problem`,
:func:`measure_into`, the summary keys), :mod:`plasticity.alignment.measure_run`
(:func:`measure`, into a run file) and :mod:`plasticity.alignment.figure` (:func:`plot`);
this package gathers them under their old import path.

:func:`measure_problem` is the measurement on any problem, writing into an open recorder
under a prefix; :func:`measure_into` is the same for a supervised task and its student
(it builds a :class:`~plasticity.problems.FeedForwardProblem`); the ``alignment-atlas``
experiment runs them for many rules, widths and seeds in one run file.

:func:`plot` draws the figure of a run file :func:`measure` wrote (``plasticity plot
RUN.h5`` calls it too).
"""

from plasticity.alignment.figure import plot
from plasticity.alignment.measure_run import measure, resolve_seeded
from plasticity.alignment.on_problem import (
    EXPECTED_KEYS,
    SUMMARY_KEYS,
    measure_into,
    measure_problem,
)

__all__ = ["EXPECTED_KEYS", "SUMMARY_KEYS", "measure", "measure_into", "measure_problem",
           "plot", "resolve_seeded"]
