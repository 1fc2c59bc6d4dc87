"""Brute-force joint entropy and mutual information, independent of energizer's code.

Plain float64 numpy: the joint distribution of a batch's labels is enumerated over all
``C ** k`` class configurations with ``itertools.product``. Only for tiny problems.
Probabilities have shape ``(N, T, C)``, with the model parameters ``w`` uniform over the
T samples, and every entropy is in nats.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import numpy as np


def probabilities(logits) -> np.ndarray:
    """Compute float64 softmax over the last axis, with -inf logits giving probability 0."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def entropy_of(p: np.ndarray) -> float:
    """Compute ``-sum p log p`` over all entries, with ``0 log 0 = 0``."""
    positive = p[p > 0]
    return float(-(positive * np.log(positive)).sum())


@functools.lru_cache(maxsize=16)
def all_configurations(num_classes: int, size: int) -> np.ndarray:
    """List every class configuration: row m contains the classes of the batch's items."""
    return np.array(list(itertools.product(range(num_classes), repeat=size)))


def joint_entropy(probs: np.ndarray, batch: Sequence[int]) -> float:
    """Compute ``H(y_batch)`` by enumerating every class configuration of the batch."""
    _, num_mc_samples, num_classes = probs.shape
    configs = all_configurations(num_classes, len(batch))
    per_sample = np.ones((num_mc_samples, len(configs)))
    for j, item in enumerate(batch):
        per_sample *= probs[item][:, configs[:, j]]
    return entropy_of(per_sample.mean(axis=0))


def expected_conditional_entropy(probs: np.ndarray, item: int) -> float:
    """Compute ``E_w H(y_item | w)``."""
    return sum(entropy_of(row) for row in probs[item]) / probs.shape[1]


def joint_mutual_information(probs: np.ndarray, batch: Sequence[int]) -> float:
    """Compute ``I(y_batch; w) = H(y_batch) - sum_j E_w H(y_j | w)``."""
    conditional = sum(expected_conditional_entropy(probs, item) for item in batch)
    return joint_entropy(probs, batch) - conditional


def greedy_gains(probs: np.ndarray, chosen: Sequence[int]) -> np.ndarray:
    """Compute each item's gain ``I(y_chosen, y_i; w) - I(y_chosen; w)``, -inf for chosen items."""
    base = joint_mutual_information(probs, chosen) if chosen else 0.0
    gains = np.full(len(probs), -np.inf)
    for item in range(len(probs)):
        if item not in chosen:
            gains[item] = joint_mutual_information(probs, [*chosen, item]) - base
    return gains


def greedy_batch(probs: np.ndarray, query_size: int) -> list[int]:
    """Select a batch greedily by the brute-force gains, the lowest position winning ties."""
    chosen: list[int] = []
    for _ in range(query_size):
        chosen.append(int(np.argmax(greedy_gains(probs, chosen))))
    return chosen


def bald_scores(probs: np.ndarray) -> np.ndarray:
    """Compute BALD ``H(mean_w p(y | w)) - E_w H(y | w)`` for every item."""
    return np.array(
        [
            entropy_of(probs[item].mean(axis=0)) - expected_conditional_entropy(probs, item)
            for item in range(len(probs))
        ]
    )
