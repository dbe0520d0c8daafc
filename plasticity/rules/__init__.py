"""Learning rules: the protocol (:mod:`.base`) and the built-in rules.

Importing this package does not import Numba: the kernels are imported by the rules'
``update`` methods on first use.
"""

from plasticity.rules.base import Rule, RuleProtocol, check_delta, rule_name
from plasticity.rules.hebbian import BCM, Covariance, Hebb, Oja, Sanger

__all__ = ["BCM", "Covariance", "Hebb", "Oja", "Rule", "RuleProtocol", "Sanger",
           "check_delta", "rule_name"]

# Gradient references, perturbation estimators and selection-based search.
from plasticity.rules.gradient import Backprop, FeedbackAlignment  # noqa: E402
from plasticity.rules.perturbation import NodePerturbation, WeightPerturbation  # noqa: E402
from plasticity.rules.selection import (  # noqa: E402
    EvolutionStrategies,
    GeneticAlgorithm,
    HillClimbing,
    SimulatedAnnealing,
)

__all__ += ["Backprop", "EvolutionStrategies", "FeedbackAlignment", "GeneticAlgorithm",
            "HillClimbing", "NodePerturbation", "SimulatedAnnealing", "WeightPerturbation"]

# Spiking rules on trial signals (net change over one trial, computed in compiled loops).
from plasticity.rules.spiking import PairSTDPTrial, SpikeNodePerturbation  # noqa: E402

__all__ += ["PairSTDPTrial", "SpikeNodePerturbation"]

# Reward-modulated rules (bandits and other tasks that give an action and a reward).
from plasticity.rules.reward import Reinforce, ThreeFactor  # noqa: E402

__all__ += ["Reinforce", "ThreeFactor"]

# Temporal prediction (a local delta rule in time: predicts the next input of a sequence).
from plasticity.rules.temporal_prediction import TemporalPrediction  # noqa: E402

__all__ += ["TemporalPrediction"]

# Predictive coding (inference by energy minimisation, local error x presynaptic update).
from plasticity.rules.predictive_coding import PredictiveCoding  # noqa: E402

__all__ += ["PredictiveCoding"]

# Dendritic prediction (Urbanczik & Senn 2014): a dendrite learns to predict the soma.
from plasticity.rules.dendritic_prediction import DendriticPredictionTrial  # noqa: E402

__all__ += ["DendriticPredictionTrial"]


def __getattr__(name):
    # Renamed rules: the old name works for one release, with a DeprecationWarning.
    if name == "DendriticPrediction":
        from plasticity.rules.dendritic_prediction import _old_name

        return _old_name()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# Recurrent spiking networks: e-prop and surrogate-gradient BPTT (Bellec et al. 2020).
from plasticity.rules.eprop_spiking import EPropSpiking, SurrogateBPTT  # noqa: E402

__all__ += ["EPropSpiking", "SurrogateBPTT"]

# Online rules of the leaky rate RNN: exact and truncated BPTT, e-prop/RFLO, UORO and
# KF-RTRL, node perturbation in time, and the readout-only baseline.
from plasticity.rules.eprop import RFLO, EProp  # noqa: E402
from plasticity.rules.rnn_exact import BPTT, RTRL, ReadoutOnly, TruncatedBPTT  # noqa: E402
from plasticity.rules.rnn_perturbation import NodePerturbationInTime  # noqa: E402
from plasticity.rules.rnn_unbiased import KFRTRL, UORO  # noqa: E402

__all__ += ["BPTT", "KFRTRL", "RFLO", "RTRL", "UORO", "EProp", "NodePerturbationInTime",
            "ReadoutOnly", "TruncatedBPTT"]

# The feedback family: substitutes for W.T in the backward pass, and target propagation.
from plasticity.rules.feedback import (  # noqa: E402
    DirectFeedbackAlignment,
    KolenPollack,
    SignSymmetry,
    WeightMirror,
)
from plasticity.rules.target_prop import DifferenceTargetProp  # noqa: E402

__all__ += ["DifferenceTargetProp", "DirectFeedbackAlignment", "KolenPollack", "SignSymmetry",
            "WeightMirror"]

# Equilibrium propagation (Scellier & Bengio 2017): contrast of free and nudged phases.
from plasticity.rules.equilibrium_propagation import EquilibriumPropagation  # noqa: E402

__all__ += ["EquilibriumPropagation"]

# Every exported rule with the substrates it applies to and a small valid example.
from plasticity.rules.registry import all_rules  # noqa: E402

__all__ += ["all_rules"]
