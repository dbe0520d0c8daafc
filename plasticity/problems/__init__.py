"""Problems: a substrate, a task and its gradient oracle, which every alignment
measurement consumes (:mod:`plasticity.problems.base`); :class:`FeedForwardProblem`
wraps a supervised task and its student (:mod:`plasticity.problems.feedforward`);
:class:`TemporalPredictionProblem`, :class:`BanditProblem` and
:class:`SpikingEscapeProblem` the temporal-prediction, bandit and spiking problems;
:class:`RecurrentProblem` a sequence task and its rate RNN (BPTT)."""

from plasticity.problems.bandit import BanditProblem
from plasticity.problems.base import Problem, check_gradient, check_problem
from plasticity.problems.eqprop import EqPropProblem
from plasticity.problems.feedforward import FeedForwardProblem
from plasticity.problems.recurrent import RecurrentProblem
from plasticity.problems.spiking import SpikingEscapeProblem
from plasticity.problems.spiking_recurrent import RecurrentSpikingProblem
from plasticity.problems.temporal import TemporalPredictionProblem

__all__ = ["BanditProblem", "EqPropProblem",
           "FeedForwardProblem", "Problem", "RecurrentProblem", "RecurrentSpikingProblem",
           "SpikingEscapeProblem",
           "TemporalPredictionProblem", "check_gradient", "check_problem"]
