"""Stopping criteria: rules that end ``Trainer.active_fit`` with a recorded reason.

Pass them as ``active_fit(stopping=[...])``. The run stops at the first one
that fires, or at ``max_rounds``, ``max_budget`` or an empty pool.
"""

from energizer.stopping.agreement import StabilizingPredictions, cohen_kappa
from energizer.stopping.base import RoundEvidence, Stop, StoppingCriterion
from energizer.stopping.limits import LabelBudget, MaxRounds
from energizer.stopping.no_improvement import NoImprovement
from energizer.stopping.uncertainty import OverallUncertainty

__all__ = [
    "LabelBudget",
    "MaxRounds",
    "NoImprovement",
    "OverallUncertainty",
    "RoundEvidence",
    "StabilizingPredictions",
    "Stop",
    "StoppingCriterion",
    "cohen_kappa",
]
