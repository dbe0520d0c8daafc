"""Problems: a substrate, a task and its gradient oracle, which every alignment
measurement consumes (:mod:`plasticity.problems.base`)."""

from plasticity.problems.base import Problem, check_gradient, check_problem

__all__ = ["Problem", "check_gradient", "check_problem"]
