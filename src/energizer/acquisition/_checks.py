"""Input validation shared by the acquisition functions."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from energizer.errors import InvalidArgumentError, format_message


def check_logits(
    logits: object,
    name: str = "logits",
    *,
    ndim: int = 2,
    layout: str = "(N, C)",
    min_classes: int = 1,
) -> Tensor:
    """Validate a logits tensor and return it in a dtype of at least float32 precision.

    Classes are on the last dim and items on the first. Float16, bfloat16 and other
    floating dtypes narrower than float32 are cast to float32. Float32 and float64
    tensors are returned unchanged, on their device.

    Args:
        logits: Value to validate.
        name: Argument name shown in error messages.
        ndim: Expected number of dims.
        layout: Expected shape shown in error messages, such as ``"(N, C)"``.
        min_classes: Minimum size of the last (class) dim.

    Returns:
        ``logits`` as a float32 or float64 tensor.

    Raises:
        TypeError: ``logits`` is not a tensor, or its dtype is not floating.
        ValueError: The shape differs from ``layout``, there are fewer than
            ``min_classes`` classes, a logit is NaN or +inf, or a row has every
            logit equal to -inf.
    """
    if not isinstance(logits, Tensor):
        raise TypeError(
            format_message(
                name,
                f"a torch.Tensor of shape {layout}",
                type(logits).__name__,
                f"Convert it with torch.as_tensor({name}, dtype=torch.float32).",
            )
        )
    if not torch.is_floating_point(logits):
        raise TypeError(
            format_message(
                name,
                "a floating dtype such as torch.float32",
                str(logits.dtype),
                f"Pass the model's raw outputs, or cast them with {name}.float().",
            )
        )

    _check_shape(logits, name, ndim, layout, min_classes)

    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.to(torch.float32)

    _check_values(logits, name)
    return logits


def _check_shape(logits: Tensor, name: str, ndim: int, layout: str, min_classes: int) -> None:
    if logits.dim() != ndim:
        fix = f"Reshape it to {layout}, with classes on the last dim."
        if ndim == 2 and logits.dim() == 3:
            fix += (
                " Monte Carlo sample logits of shape (N, T, C) need a Bayesian acquisition"
                " function, or average the softmax probabilities over T and pass their log."
            )
        raise InvalidArgumentError(
            name,
            f"a {ndim}-D tensor of shape {layout}",
            f"shape {tuple(logits.shape)}",
            fix,
        )

    num_classes = logits.shape[-1]
    if num_classes < min_classes:
        raise InvalidArgumentError(
            name,
            f"a last (class) dim of size C >= {min_classes}",
            f"shape {tuple(logits.shape)}",
            "Check that the last dim contains one logit per class.",
        )


def all_finite(values: Tensor) -> bool:
    """Return whether every element of ``values`` is finite, in one cheap pass when they are.

    A sum is finite only when no element is NaN or infinite, and a reduction is
    several times faster than ``isfinite`` over every element. A sum that
    overflows on huge finite values falls back to the element-wise check.
    """
    if bool(torch.isfinite(values.sum())):
        return True
    return bool(torch.isfinite(values).all())


def _check_values(logits: Tensor, name: str) -> None:
    # One pass for the common case: every logit finite, so no NaN, +inf or all -inf row.
    if all_finite(logits):
        return
    # A row is one index of the first dim, so one item. With more than two dims, a row
    # includes all of the item's samples.
    invalid = torch.isnan(logits) | (logits == math.inf)
    invalid_rows = invalid.flatten(1).any(dim=1)
    if invalid_rows.any():
        count = int(invalid_rows.sum())
        first = int(invalid_rows.nonzero()[0, 0])
        raise InvalidArgumentError(
            name,
            "finite values or -inf",
            f"NaN or +inf in {count} of {len(logits)} rows (first at row {first})",
            "Check the model for overflow or invalid operations before scoring.",
        )

    # -inf marks an impossible class, but at least one class per row must remain possible.
    impossible_rows = (logits == -math.inf).all(dim=-1)
    if impossible_rows.dim() > 1:
        impossible_rows = impossible_rows.flatten(1).any(dim=1)
    if impossible_rows.any():
        count = int(impossible_rows.sum())
        first = int(impossible_rows.nonzero()[0, 0])
        raise InvalidArgumentError(
            name,
            "at least one logit above -inf in every row",
            f"all logits -inf in {count} of {len(logits)} rows (first at row {first})",
            "Give every item at least one possible class, or drop these rows before scoring.",
        )


def check_mc_logits(logits: object, name: str = "logits") -> Tensor:
    """Validate Monte Carlo sample logits of shape ``(N, T, C)`` like ``check_logits``.

    Items are on dim 0, the T Monte Carlo samples on dim 1 and classes on dim 2. On top
    of ``check_logits``, a 2-D input gets an error that points to the single-pass
    functions, and ``T = 0`` is rejected.

    Args:
        logits: Value to validate.
        name: Argument name shown in error messages.

    Returns:
        ``logits`` as a float32 or float64 tensor.

    Raises:
        TypeError: ``logits`` is not a tensor, or its dtype is not floating.
        ValueError: ``logits`` is not 3-D, has no sample or no class, a logit is NaN
            or +inf, or a sample has every logit equal to -inf.
    """
    layout = "(N, T, C)"
    if isinstance(logits, Tensor) and torch.is_floating_point(logits) and logits.dim() == 2:
        raise InvalidArgumentError(
            name,
            f"a 3-D tensor of shape {layout}, with Monte Carlo samples on dim 1",
            f"shape {tuple(logits.shape)}",
            "Logits of a single deterministic pass, of shape (N, C), need a single-pass"
            " function such as energizer.acquisition.entropy, margin or least_confidence.",
        )

    logits = check_logits(logits, name, ndim=3, layout=layout)

    if logits.shape[1] == 0:
        raise InvalidArgumentError(
            name,
            "at least one Monte Carlo sample on dim 1 (T >= 1)",
            f"shape {tuple(logits.shape)}",
            "Run at least one stochastic forward pass per item and stack the logits on dim 1.",
        )
    return logits
