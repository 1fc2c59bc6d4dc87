"""Seeds: one global seed fixes every random choice of a run.

A component built with ``seed=None`` draws its seed from PyTorch's global
generator when it is built. So ``lightning.pytorch.seed_everything(S)`` (or
``torch.manual_seed(S)``) at the top of a script fixes the initial labels, the
weights, the strategies' draws and every round's training, while two scripts
with other global seeds draw other seeds.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["draw_seed", "derive_seed"]


def draw_seed() -> int:
    """Return a seed in ``[0, 2**32)`` drawn from PyTorch's global random generator."""
    return int(torch.randint(0, 2**32, (1,), dtype=torch.int64).item())


def derive_seed(*entropy: int) -> int:
    """Return a seed in ``[0, 2**32)`` made from ``entropy``, independent for each distinct tuple."""
    return int(np.random.SeedSequence([int(value) % 2**32 for value in entropy]).generate_state(1)[0])
