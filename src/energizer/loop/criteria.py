"""The stopping criteria of one ``active_fit`` call: its limits as criteria, then the user's."""

from __future__ import annotations

from collections.abc import Sequence

from energizer.errors import InvalidArgumentError
from energizer.stopping import LabelBudget, MaxRounds, StoppingCriterion

__all__ = ["run_criteria", "label_budget"]


def run_criteria(
    max_rounds: int | None, max_budget: int | None, stopping: Sequence[StoppingCriterion]
) -> list[StoppingCriterion]:
    """Return the criteria of a run: the budget, the round limit, then the user's, in order."""
    is_sequence = isinstance(stopping, Sequence) and not isinstance(stopping, str)
    wrong = [item for item in stopping if not isinstance(item, StoppingCriterion)] if is_sequence else [stopping]
    if wrong:
        raise InvalidArgumentError(
            "stopping",
            "a list of energizer.stopping criteria, such as [StabilizingPredictions()]",
            f"a list with a {type(wrong[0]).__name__}" if is_sequence else f"a {type(stopping).__name__}",
            "Build the criteria from energizer.stopping and pass them in a list.",
        )
    if len({id(item) for item in stopping}) != len(stopping):
        raise InvalidArgumentError(
            "stopping",
            "each criterion once",
            "a list with the same criterion object twice",
            "List each criterion once: a criterion listed twice would count every round twice.",
        )
    criteria: list[StoppingCriterion] = []
    if max_budget is not None:
        criteria.append(LabelBudget(max_budget))
    if max_rounds is not None:
        criteria.append(MaxRounds(max_rounds))
    return criteria + list(stopping)


def label_budget(criteria: list[StoppingCriterion]) -> int | None:
    """Return the smallest label budget among the criteria, which cuts the last query; ``None`` if none."""
    budgets = [criterion.max_budget for criterion in criteria if isinstance(criterion, LabelBudget)]
    return min(budgets) if budgets else None
