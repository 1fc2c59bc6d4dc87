"""Point sets for the diversity algorithms, and the squared Euclidean distances between them.

A point set is one or more factor matrices with one row per point. Row ``i``
of the point set is the flattened outer product of the factors' rows ``i``,
so the inner product of two points is the product of their factors' inner
products: ``<l_i (x) r_i, l_j (x) r_j> = <l_i, l_j> <r_i, r_j>``. Dense points
are the case of one factor. The distances follow from
``|x - y|^2 = |x|^2 + |y|^2 - 2 <x, y>``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from energizer.errors import InvalidArgumentError

__all__ = ["OuterProductPoints", "PointRows", "as_point_rows"]

# Squared distances below this multiple of the machine epsilon, relative to
# |x|^2 + |y|^2, are set to zero. Rounding in the expansion above leaves
# residues of that size for identical points, and without the cut they would
# be sampled or ranked by rounding noise instead of being treated as equal.
_ROUNDING_FACTOR = 64


class OuterProductPoints:
    """Points whose row ``i`` is the flattened outer product ``left[i] (x) right[i]``.

    Row ``i`` stands for the vector ``(left[i, :, None] * right[i, None, :]).flatten()``
    of length ``C * D``, but distances are computed from the factors, so
    memory and time grow with ``C + D`` per point instead of ``C * D``. BADGE's
    gradient embeddings have this form (see
    :func:`energizer.query_strategies.embeddings.gradient_embedding`).

    Args:
        left: Tensor of shape ``(N, C)``.
        right: Tensor of shape ``(N, D)``, with the dtype and device of ``left``.

    Raises:
        InvalidArgumentError: On factors that are not floating 2-D tensors with
            the same number of rows, dtype and device, or that hold NaN or
            infinite values.
    """

    def __init__(self, left: Tensor, right: Tensor) -> None:
        self.left = _check_matrix(left, "left")
        self.right = _check_matrix(right, "right")
        if self.left.shape[0] != self.right.shape[0]:
            raise InvalidArgumentError(
                "right",
                f"one row per row of left ({self.left.shape[0]} rows)",
                f"{self.right.shape[0]} rows",
                "Pass the two factors of the same points.",
            )
        if self.left.dtype != self.right.dtype or self.left.device != self.right.device:
            raise InvalidArgumentError(
                "right",
                f"the dtype and device of left ({self.left.dtype} on {self.left.device})",
                f"{self.right.dtype} on {self.right.device}",
                "Convert both factors with .to(dtype, device) first.",
            )

    def __len__(self) -> int:
        return self.left.shape[0]

    def dense(self) -> Tensor:
        """Return the points as a dense tensor of shape ``(N, C * D)``, row-major in ``(C, D)``."""
        return (self.left[:, :, None] * self.right[:, None, :]).flatten(start_dim=1)


class PointRows:
    """Factor matrices of a point set, with the squared norm of every point.

    The algorithms use it to treat dense and outer-product points alike.
    """

    def __init__(self, factors: tuple[Tensor, ...]) -> None:
        self.factors = factors
        norms = (factors[0] * factors[0]).sum(dim=1)
        for factor in factors[1:]:
            norms = norms * (factor * factor).sum(dim=1)
        self.norms = norms

    def __len__(self) -> int:
        return self.factors[0].shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.factors[0].dtype

    @property
    def device(self) -> torch.device:
        return self.factors[0].device

    @property
    def row_bytes(self) -> int:
        """Bytes of one point across all factors."""
        return sum(factor.shape[1] * factor.element_size() for factor in self.factors)

    def take(self, positions: Tensor) -> PointRows:
        """Return the points at ``positions`` (an int64 tensor), in that order."""
        taken = PointRows.__new__(PointRows)
        taken.factors = tuple(factor.index_select(0, positions) for factor in self.factors)
        taken.norms = self.norms.index_select(0, positions)
        return taken

    def slice(self, start: int, stop: int) -> PointRows:
        """Return the points ``start..stop - 1`` as views."""
        part = PointRows.__new__(PointRows)
        part.factors = tuple(factor[start:stop] for factor in self.factors)
        part.norms = self.norms[start:stop]
        return part

    def squared_distances(self, other: PointRows) -> Tensor:
        """Return the squared Euclidean distances of shape ``(len(self), len(other))``.

        Values are clamped at zero, and values within rounding error of zero
        (relative to ``|x|^2 + |y|^2``) are set to exactly zero, so identical
        points are at distance 0.
        """
        # In-place steps keep the temporaries at two float matrices and one
        # boolean matrix of the result's shape.
        distances = self.factors[0] @ other.factors[0].T
        for mine, theirs in zip(self.factors[1:], other.factors[1:]):
            distances.mul_(mine @ theirs.T)
        scale = self.norms[:, None] + other.norms[None, :]
        distances.mul_(-2.0).add_(scale)
        scale.mul_(_ROUNDING_FACTOR * torch.finfo(self.dtype).eps)
        return distances.masked_fill_(distances <= scale, 0.0)


def as_point_rows(points: Any, name: str = "points") -> PointRows:
    """Validate ``points`` (a ``(N, D)`` tensor or :class:`OuterProductPoints`) and wrap it.

    Float16 and bfloat16 tensors are computed in float32, because the
    distance expansion loses too many digits in them.

    Raises:
        InvalidArgumentError: On anything else, or on NaN or infinite values.
    """
    if isinstance(points, OuterProductPoints):
        return PointRows((points.left, points.right))
    return PointRows((_check_matrix(points, name),))


def _check_matrix(value: Any, name: str) -> Tensor:
    if not isinstance(value, Tensor) or value.ndim != 2 or not torch.is_floating_point(value):
        shown = (
            f"a {value.dtype} tensor of shape {tuple(value.shape)}"
            if isinstance(value, Tensor)
            else f"a {type(value).__name__}"
        )
        raise InvalidArgumentError(
            name,
            "a floating-point tensor of shape (num_points, num_features)",
            shown,
            "Pass one row per point, e.g. embeddings.float().",
        )
    if value.dtype in (torch.float16, torch.bfloat16):
        value = value.float()
    if not torch.isfinite(value).all():
        rows = int((~torch.isfinite(value)).any(dim=1).sum())
        raise InvalidArgumentError(
            name,
            "finite values",
            f"NaN or infinite values in {rows} of {value.shape[0]} rows",
            "Check the model outputs that produced the points.",
        )
    return value
