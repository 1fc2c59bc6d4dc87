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
    shifted, others, others_sum = _shifted_softmax_terms(logits)
    # With Z = 1 + others_sum and p_c = e_c / Z, the entropy is log Z - sum_c e_c s_c / Z,
    # where s_c = x_c - x_top <= 0 and the top class adds 0. A class with logit -inf
    # has e_c = 0 and s_c = -inf, whose product is NaN, so select 0 explicitly.
    weighted = torch.where(others > 0, others * shifted, 0.0).sum(dim=-1)
    return torch.log1p(others_sum) - weighted / (1.0 + others_sum)


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
    _, others, others_sum = _shifted_softmax_terms(logits)
    # 1 - p1 + p2 = (others_sum + e2) / (1 + others_sum), where e2 <= 1 is the largest
    # other term: confident items keep their precision, and the score stays <= 1.
    return (others_sum + others.amax(dim=-1)) / (1.0 + others_sum)


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
    _, _, others_sum = _shifted_softmax_terms(logits)
    # 1 - p_top = others_sum / (1 + others_sum) keeps its precision when p_top is close to 1.
    return others_sum / (1.0 + others_sum)


def _shifted_softmax_terms(logits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Split ``softmax(logits)`` into terms that stay accurate for a top class near certainty.

    Returns:
        ``shifted``, the logits minus each row's maximum (all <= 0); ``others``,
        ``exp(shifted)`` with one top class per row set to 0; and ``others_sum``,
        their sum per row, shape ``(N,)``. Then ``p_top = 1 / (1 + others_sum)``
        and ``p_c = others_c / (1 + others_sum)`` for the other classes, and
        ``1 - p_top`` is computed from ``others_sum`` without cancellation.
        Every row must have a finite maximum, which ``check_logits`` ensures.
    """
    top_logits, top_index = logits.max(dim=-1, keepdim=True)
    shifted = logits - top_logits
    # Every shifted logit is <= 0, so exp cannot overflow.
    others = shifted.exp().scatter(-1, top_index, 0.0)
    return shifted, others, others.sum(dim=-1)


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
