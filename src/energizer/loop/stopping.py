"""Deciding whether an active learning run stops after a round."""

from __future__ import annotations

from energizer.results import StopReason

__all__ = ["find_stop_reason"]


def find_stop_reason(
    *,
    rounds_done: int,
    max_rounds: int | None,
    num_labelled: int,
    max_budget: int | None,
    pool_size: int,
) -> tuple[StopReason, str] | None:
    """Return why the run stops now, with a message, or ``None`` to go on.

    When several reasons hold at once, the first of an exhausted pool, the
    budget and the round limit is reported.
    """
    if pool_size == 0:
        return StopReason.POOL_EXHAUSTED, f"Stopped: the pool is empty, all {num_labelled} items are labelled."
    if max_budget is not None and num_labelled >= max_budget:
        return (
            StopReason.MAX_BUDGET,
            f"Stopped: {num_labelled} labelled items reached max_budget={max_budget}.",
        )
    if max_rounds is not None and rounds_done >= max_rounds:
        return StopReason.MAX_ROUNDS, f"Stopped: completed max_rounds={max_rounds} rounds."
    return None
