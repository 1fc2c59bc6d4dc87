"""Drawing the first labelled items of a run: at random or stratified by class."""

from __future__ import annotations

import numpy as np

__all__ = ["draw_random", "draw_stratified"]


def draw_random(count: int, num_items: int, seed: int | np.random.SeedSequence | None) -> np.ndarray:
    """Return ``count`` distinct ids drawn uniformly from ``range(num_items)``, sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_items, size=count, replace=False))


def draw_stratified(
    count: int, targets: np.ndarray, seed: int | np.random.SeedSequence | None
) -> np.ndarray:
    """Return ``count`` distinct ids whose classes follow the class frequencies of ``targets``.

    Each class gets ``count`` times its frequency, rounded down. The items left
    over go to the classes with the largest remainders (ties broken at random),
    so every class with a remainder large enough is represented even when
    ``count`` is small. Ids are indices into ``targets`` and come back sorted.
    """
    rng = np.random.default_rng(seed)
    classes, frequencies = np.unique(targets, return_counts=True)
    exact = count * frequencies / frequencies.sum()
    quotas = np.floor(exact).astype(np.int64)
    leftover = count - int(quotas.sum())
    if leftover > 0:
        tie_breaker = rng.random(len(classes))
        order = np.lexsort((tie_breaker, -(exact - quotas)))
        quotas[order[:leftover]] += 1
    chosen = [
        rng.choice(np.flatnonzero(targets == label), size=quota, replace=False)
        for label, quota in zip(classes, quotas)
        if quota > 0
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)
