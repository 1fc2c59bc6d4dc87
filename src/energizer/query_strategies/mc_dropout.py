"""Monte Carlo dropout: several stochastic forward passes with only the dropout layers active.

Two ways to draw the dropout masks:

- independent masks (the usual MC dropout): the dropout modules are put in
  training mode, so every item of every pass gets its own mask;
- consistent masks: the dropout modules stay in eval mode and a forward hook
  applies one mask per sample index ``t``, shared by every pool item. The
  masks are seeded and depend on neither the batch size nor the batch mates,
  which is what a joint entropy over several items (BatchBALD) assumes.

Everything else (BatchNorm, other layers) stays in eval mode, and every
module's mode is restored on exit, also when the forward pass raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from lightning_utilities.core.apply_func import apply_to_collection
from torch import Tensor, nn

from energizer.errors import InvalidScoresError

__all__ = [
    "DROPOUT_TYPES",
    "ConsistentDropoutMasks",
    "dropout_only_train_mode",
    "find_dropout_modules",
    "sample_logits",
]

DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)
"""The ``torch.nn`` dropout layers that Monte Carlo dropout switches on."""

# Constants of the SELU activation (Klambauer et al. 2017, "Self-Normalizing
# Neural Networks"), which alpha dropout keeps the moments of.
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def find_dropout_modules(model: nn.Module) -> list[nn.Module]:
    """Return the dropout modules of ``model``, in ``model.modules()`` order."""
    return [module for module in model.modules() if isinstance(module, DROPOUT_TYPES)]


@contextmanager
def dropout_only_train_mode(model: nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode except its dropout modules; restore every module's mode on exit."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        for module in find_dropout_modules(model):
            module.train()
        yield
    finally:
        for module, training in modes:
            module.training = training


class ConsistentDropoutMasks:
    """Forward hooks that apply the same seeded dropout mask to every item of a pass.

    Use it as a context manager around the passes, and set :attr:`sample_index`
    and :attr:`rows` (the number of items in the pass) before each pass. The hooks act on the dropout modules' outputs while the
    modules are in eval mode, so the modules themselves do nothing. With
    ``stacked_samples > 1``, the batch contains that many copies of the items,
    sample-major (rows ``t * B .. (t + 1) * B - 1`` are sample ``t``), and
    each copy gets its own sample's mask.

    Args:
        model: Model whose dropout modules get the masks.
        seed: Seed of the masks. The mask of module ``m`` for sample ``t``
            depends only on ``seed``, ``m``, ``t`` and the feature shape.
    """

    def __init__(self, model: nn.Module, seed: int) -> None:
        self.modules = find_dropout_modules(model)
        self.seed = seed
        self.sample_index = 0
        self.stacked_samples = 1
        self.rows: int | None = None
        self._masks: dict[tuple[int, int, tuple[int, ...]], Tensor] = {}
        self._handles: list[Any] = []
        self._modes: list[tuple[nn.Module, bool]] = []
        self._model = model

    def __enter__(self) -> ConsistentDropoutMasks:
        self._modes = [(module, module.training) for module in self._model.modules()]
        self._model.eval()
        for position, module in enumerate(self.modules):
            self._handles.append(module.register_forward_hook(self._make_hook(position)))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for module, training in self._modes:
            module.training = training

    def _make_hook(self, position: int) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> Tensor:
            return self._apply(position, module, output)

        return hook

    def _apply(self, position: int, module: nn.Module, output: Tensor) -> Tensor:
        probability = float(module.p)
        if probability == 0.0:
            return output
        batch_dim = self._batch_dim(module, output)
        values = output.movedim(batch_dim, 0)
        stacked = self.stacked_samples
        rows = values.shape[0] // stacked
        per_sample = values.reshape(stacked, rows, *values.shape[1:])
        masks = torch.stack(
            [self._mask(position, module, self.sample_index + offset, values) for offset in range(stacked)]
        )
        # masks has shape (stacked, 1, *feature_shape): one mask per sample, broadcast over items.
        masked = _apply_mask(module, per_sample, masks.unsqueeze(1), probability)
        return masked.reshape(values.shape).movedim(0, batch_dim)

    def _batch_dim(self, module: nn.Module, output: Tensor) -> int:
        """Return the dim of ``output`` that contains the items: dim 0 unless only another one fits.

        NOTE: a sequence-first activation whose length equals the number of
        rows is taken as batch-first, because its shape cannot tell them apart.
        """
        if self.rows is None or (output.dim() and output.shape[0] == self.rows):
            return 0
        matches = [dim for dim, size in enumerate(output.shape) if size == self.rows]
        if len(matches) != 1:
            raise InvalidScoresError(
                f"Consistent dropout masks need the batch dimension of the output of "
                f"{type(module).__name__}, but its shape {tuple(output.shape)} has "
                f"{len(matches)} dims of the batch's size {self.rows}. Pass "
                "consistent_masks=False to the strategy to draw a mask per item."
            )
        return matches[0]

    def _mask(self, position: int, module: nn.Module, sample: int, output: Tensor) -> Tensor:
        shape = _mask_shape(module, output)
        key = (position, sample, shape)
        mask = self._masks.get(key)
        if mask is None:
            entropy = np.random.SeedSequence([self.seed, position, sample]).generate_state(2)
            generator = torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))
            keep = 1.0 - float(module.p)
            mask = torch.bernoulli(torch.full(shape, keep), generator=generator)
            self._masks[key] = mask
        return mask.to(device=output.device, dtype=output.dtype)


def _mask_shape(module: nn.Module, output: Tensor) -> tuple[int, ...]:
    features = tuple(output.shape[1:])
    if isinstance(module, (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.FeatureAlphaDropout)) and features:
        # Channel dropout zeroes whole channels: one value per channel.
        return (features[0],) + (1,) * (len(features) - 1)
    return features


def _apply_mask(module: nn.Module, values: Tensor, mask: Tensor, probability: float) -> Tensor:
    keep = 1.0 - probability
    if probability == 1.0:
        return torch.zeros_like(values)
    if isinstance(module, (nn.AlphaDropout, nn.FeatureAlphaDropout)):
        # Dropped units take the SELU saturation value, then an affine map
        # restores zero mean and unit variance.
        saturation = -_SELU_ALPHA * _SELU_SCALE
        scale = 1.0 / math.sqrt(keep + saturation**2 * keep * probability)
        shift = -scale * saturation * probability
        return scale * (values * mask + saturation * (1.0 - mask)) + shift
    return values * mask / keep


def sample_logits(
    forward: Callable[[Any], Tensor],
    inputs: Any,
    num_samples: int,
    *,
    masks: ConsistentDropoutMasks | None = None,
    stack_samples: bool = True,
    batch_size: int | None = None,
) -> Tensor:
    """Run ``num_samples`` stochastic passes and return logits of shape ``(B, T, C)``.

    Call it with the model already in the right mode: inside
    :func:`dropout_only_train_mode` for independent masks, or inside
    ``masks`` for consistent ones.

    Args:
        forward: Runs the model on inputs and returns logits of shape ``(rows, C)``.
        inputs: Model inputs for ``B`` items.
        num_samples: Number of passes ``T``.
        masks: The consistent-mask hooks, when they are active.
        stack_samples: Run all ``T`` passes as one forward pass over ``T``
            stacked copies of the batch, which is faster for small models.
            ``False`` runs ``T`` passes of the batch and needs ``T`` times
            less activation memory. Inputs without a tensor, or whose
            tensors do not all hold the items on dim 0, always take ``T``
            passes.
        batch_size: Number of items ``B``. Defaults to dim 0 of the first
            input tensor, which is wrong for inputs laid out sequence-first.

    Raises:
        InvalidScoresError: When the stacked pass returns a number of rows
            other than ``T`` times the batch size.
    """
    if batch_size is None:
        batch_size = _batch_size(inputs)
    if stack_samples and batch_size is not None and _rows_first(inputs, batch_size):
        stacked = apply_to_collection(inputs, Tensor, _repeat_rows, num_samples)
        if masks is not None:
            masks.sample_index, masks.stacked_samples, masks.rows = 0, num_samples, num_samples * batch_size
        logits = forward(stacked)
        if logits.shape[0] != num_samples * batch_size:
            raise InvalidScoresError(
                f"Stacking {num_samples} copies of a batch of {batch_size} items gave "
                f"{logits.shape[0]} rows of logits instead of {num_samples * batch_size}. "
                "Pass stack_samples=False to the strategy to run one pass per sample."
            )
        return logits.reshape(num_samples, batch_size, *logits.shape[1:]).transpose(0, 1)
    passes = []
    for sample in range(num_samples):
        if masks is not None:
            masks.sample_index, masks.stacked_samples, masks.rows = sample, 1, batch_size
        passes.append(forward(inputs))
    return torch.stack(passes, dim=1)


def _repeat_rows(tensor: Tensor, times: int) -> Tensor:
    return tensor.repeat(times, *[1] * (tensor.dim() - 1))


def _rows_first(inputs: Any, batch_size: int) -> bool:
    """Whether every input tensor has the items on dim 0, so stacking copies along it is right."""
    sizes: list[int] = []
    apply_to_collection(inputs, Tensor, lambda tensor: sizes.append(tensor.shape[0] if tensor.dim() else -1))
    return all(size == batch_size for size in sizes)


def _batch_size(inputs: Any) -> int | None:
    sizes: list[int] = []
    apply_to_collection(inputs, Tensor, lambda tensor: sizes.append(tensor.shape[0]) if tensor.dim() else None)
    return sizes[0] if sizes else None
