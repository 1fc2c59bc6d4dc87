"""The round limit and the label budget, as stopping criteria."""

from __future__ import annotations

from typing import Any

from energizer.loop.checks import check_count
from energizer.results import StopReason
from energizer.stopping.base import RoundEvidence, Stop, StoppingCriterion

__all__ = ["MaxRounds", "LabelBudget"]


class MaxRounds(StoppingCriterion):
    """Stop once ``max_rounds`` rounds are done, counting the first one (on the initial labels).

    ``active_fit(max_rounds=n)`` adds this criterion.
    """

    def __init__(self, max_rounds: int) -> None:
        self.max_rounds = check_count("max_rounds", max_rounds)

    def update(self, evidence: RoundEvidence) -> Stop | None:
        if evidence.rounds_done >= self.max_rounds:
            return Stop(StopReason.MAX_ROUNDS, f"Stopped: completed max_rounds={self.max_rounds} rounds.")
        return None

    def settings(self) -> dict[str, Any]:
        return {"max_rounds": self.max_rounds}


class LabelBudget(StoppingCriterion):
    """Stop once ``max_budget`` items are labelled, initial labels and validation hold-out included.

    ``active_fit(max_budget=n)`` adds this criterion, and also cuts the last
    query so that the budget is never exceeded.
    """

    def __init__(self, max_budget: int) -> None:
        self.max_budget = check_count("max_budget", max_budget)

    def update(self, evidence: RoundEvidence) -> Stop | None:
        if evidence.num_labelled >= self.max_budget:
            return Stop(
                StopReason.MAX_BUDGET,
                f"Stopped: {evidence.num_labelled} labelled items reached max_budget={self.max_budget}.",
            )
        return None

    def settings(self) -> dict[str, Any]:
        return {"max_budget": self.max_budget}
