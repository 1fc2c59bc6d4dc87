"""Pool embeddings: capturing the input of the model's last linear layer, and BADGE's gradient embedding."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from energizer.errors import InvalidScoresError

__all__ = [
    "LinearInputCapture",
    "find_last_linear",
    "gradient_embedding",
    "gradient_embedding_factors",
]


def find_last_linear(model: nn.Module) -> tuple[str, nn.Linear] | None:
    """Return the name and module of the last ``torch.nn.Linear`` in ``model.modules()`` order.

    That order is the order in which the layers were assigned in
    ``__init__``. For the usual classifiers, which end in a linear head, it
    is also the last linear layer that ``forward`` runs. ``None`` when the
    model has no ``torch.nn.Linear`` (subclasses included).
    """
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    return found


class LinearInputCapture:
    """Forward pre-hook that records the input of one layer while the context is open.

    When the layer runs several times in one forward pass, the last input is
    kept.

    Args:
        layer: The layer to watch, usually found by :func:`find_last_linear`.
        name: The layer's name in the model, shown in error messages.
    """

    def __init__(self, layer: nn.Module, name: str) -> None:
        self.layer = layer
        self.name = name
        self._input: Tensor | None = None
        self._handle: Any = None

    def __enter__(self) -> LinearInputCapture:
        self._input = None
        self._handle = self.layer.register_forward_pre_hook(self._record)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._handle.remove()
        self._handle = None

    def _record(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._input = args[0] if args and isinstance(args[0], Tensor) else None

    def embeddings(self, batch_size: int, strategy_name: str) -> Tensor:
        """Return the recorded input as float32 embeddings of shape ``(batch_size, D)``.

        Raises:
            InvalidScoresError: When the layer did not run, or its input is
                not one row per item.
        """
        fix = (
            f"Override get_embeddings(inputs) in a subclass of {strategy_name} to return "
            "embeddings of shape (batch_size, num_features)."
        )
        if self._input is None:
            raise InvalidScoresError(
                f"The model's last torch.nn.Linear ({self.name!r}) did not run on a tensor during "
                f"the forward pass, so {strategy_name} found no embeddings. {fix}"
            )
        captured = self._input
        if captured.ndim != 2 or captured.shape[0] != batch_size:
            raise InvalidScoresError(
                f"The input of the model's last torch.nn.Linear ({self.name!r}) has shape "
                f"{tuple(captured.shape)}, but {strategy_name} needs one embedding row per item, "
                f"shape ({batch_size}, num_features). {fix}"
            )
        return captured.detach().float()


def gradient_embedding_factors(logits: Tensor) -> Tensor:
    """Return ``p - onehot(y_hat)`` of shape ``(N, C)``: the gradient of the cross-entropy with respect to the logits.

    ``p`` is the softmax of ``logits`` and ``y_hat`` its most likely class
    (the first one among equal maxima). Together with the embeddings ``h``
    these are the two factors of BADGE's gradient embedding, see
    :func:`gradient_embedding`.

    Args:
        logits: Tensor of shape ``(N, C)``. Computed in float32 at least.
    """
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    probabilities = torch.softmax(logits, dim=1)
    predicted = probabilities.argmax(dim=1)
    factors = probabilities.clone()
    factors[torch.arange(logits.shape[0], device=logits.device), predicted] -= 1.0
    return factors


def gradient_embedding(embeddings: Tensor, logits: Tensor) -> Tensor:
    """Return BADGE's gradient embeddings of shape ``(N, C * D)``, in closed form.

    Ash et al. (2020), "Deep Batch Active Learning by Diverse, Uncertain
    Gradient Lower Bounds", ICLR, arXiv:1906.03671. For a last layer
    ``z = W h + b`` with ``W`` of shape ``(C, D)``, the gradient of the
    cross-entropy ``-log softmax(z)[y_hat]`` at the predicted class ``y_hat``
    with respect to ``W`` is the outer product ``(p - onehot(y_hat)) h^T``.
    Row ``i`` is that ``(C, D)`` matrix flattened row-major, which matches
    ``W.grad.flatten()``. No autograd pass is needed. The bias gradient is
    left out, as in the paper.

    Memory is ``N * C * D`` values. The strategies keep the two factors
    instead, see :class:`~energizer.diversity.OuterProductPoints`.

    Args:
        embeddings: Inputs ``h`` of the last layer, shape ``(N, D)``.
        logits: Its outputs ``z``, shape ``(N, C)``.
    """
    factors = gradient_embedding_factors(logits)
    embeddings = embeddings.to(factors.dtype)
    return (factors[:, :, None] * embeddings[:, None, :]).flatten(start_dim=1)
