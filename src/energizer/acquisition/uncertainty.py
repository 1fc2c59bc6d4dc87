"""Uncertainty scores computed from one forward pass of class logits.

Each function maps logits of shape ``(N, C)`` (N items, C classes) to scores of shape
``(N,)``, where a higher score means a more informative item. Float16 and bfloat16
logits are cast to float32 first, so scores are float32 or float64, on the input's
device. A logit of -inf marks a class with zero probability, and the score equals
the one computed without that class.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from energizer.acquisition._checks import check_logits


def entropy(logits: Tensor) -> Tensor:
    """Compute the predictive entropy of ``softmax(logits)`` in nats.

    Args:
        logits: Unnormalised log-probabilities of shape ``(N, C)``, with classes on
            the last dim. NaN and +inf are rejected, and -inf marks an impossible class.

    Returns:
        Entropy of shape ``(N,)``, in ``[0, ln C]`` up to rounding. It is 0 for an item
        with a single possible class and ``ln C`` for uniform logits.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: ``logits`` is not 2-D, has no class, contains NaN or +inf, or has
            a row with every logit equal to -inf.
    """
    logits = check_logits(logits)
    log_probs = _log_softmax(logits)
    probs = log_probs.exp()
    # A class with logit -inf has p = 0 and log p = -inf. Its term 0 * log 0 is 0 by
    # continuity, but the product evaluates to NaN, so select 0 explicitly.
    terms = torch.where(probs > 0, probs * log_probs, 0.0)
    # Subtracting from 0.0 instead of negating returns +0.0, not -0.0, for certain items.
    return 0.0 - terms.sum(dim=-1)


def margin(logits: Tensor) -> Tensor:
    """Compute the margin score ``1 - (p_top1 - p_top2)`` of ``softmax(logits)``.

    Args:
        logits: Unnormalised log-probabilities of shape ``(N, C)`` with ``C >= 2``,
            classes on the last dim. NaN and +inf are rejected, and -inf marks an
            impossible class.

    Returns:
        Scores of shape ``(N,)`` in ``[0, 1]``. The score is 1 when the two most
        probable classes tie and 0 for an item with a single possible class.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: ``logits`` is not 2-D, has fewer than 2 classes, contains NaN or
            +inf, or has a row with every logit equal to -inf.
    """
    logits = check_logits(logits, min_classes=2)
    top2 = _log_softmax(logits).topk(2, dim=-1).values
    # Written as (1 - p1) + p2, with 1 - p1 = -expm1(log p1), so that confident items
    # keep their precision instead of rounding 1 - p1 to 0.
    scores = -torch.expm1(top2[:, 0]) + top2[:, 1].exp()
    # When p1 and p2 differ by less than one unit in the last place, the sum can round
    # above 1.
    return scores.clamp(max=1.0)


def least_confidence(logits: Tensor) -> Tensor:
    """Compute the least-confidence score ``1 - max_c p_c`` of ``softmax(logits)``.

    Args:
        logits: Unnormalised log-probabilities of shape ``(N, C)``, with classes on
            the last dim. NaN and +inf are rejected, and -inf marks an impossible class.

    Returns:
        Scores of shape ``(N,)`` in ``[0, 1 - 1/C]`` up to rounding. The score is
        ``1 - 1/C`` for uniform logits and 0 for an item with a single possible class.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: ``logits`` is not 2-D, has no class, contains NaN or +inf, or has
            a row with every logit equal to -inf.
    """
    logits = check_logits(logits)
    max_log_probs = _log_softmax(logits).amax(dim=-1)
    # 1 - p = -expm1(log p) keeps precision when p is close to 1. Subtracting from 0.0
    # instead of negating returns +0.0, not -0.0, for certain items.
    return 0.0 - torch.expm1(max_log_probs)


def _log_softmax(logits: Tensor) -> Tensor:
    """Compute log-softmax over the last dim, accurate for a top class near certainty.

    ``torch.log_softmax`` (checked with torch 2.13 on CPU) takes the log of
    ``1 + sum_{c != top} exp(x_c - x_top)``. That sum rounds to 1 once the other
    classes are about 17 nats (float32) or 37 nats (float64) below the top, and the
    top class's log-probability becomes exactly 0. Here the normaliser is ``log1p`` of
    the other classes' sum, which keeps the small difference. Every row must have a
    finite maximum, which ``check_logits`` ensures.
    """
    top_logits, top_index = logits.max(dim=-1, keepdim=True)
    shifted = logits - top_logits
    # Remove one top class (one of them on a tie) so that only the others are summed.
    others = shifted.scatter(-1, top_index, -math.inf)
    # Every shifted logit is <= 0, so exp cannot overflow.
    others_sum = others.exp().sum(dim=-1, keepdim=True)
    return shifted - torch.log1p(others_sum)
