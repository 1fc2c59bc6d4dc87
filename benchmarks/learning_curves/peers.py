"""Peer libraries' query rules as energizer strategies, so they run in the same loop on the same model.

Each peer strategy collects the wrapped model's class probabilities over the
pool (one deterministic pass, or Monte Carlo dropout samples for BALD) and
hands them to the peer's own selection code, which returns positions in the
pool. Training, testing, the split, the initial labels and the initial
weights stay energizer's, so only the choice of items differs.

Peers and the versions the recorded runs used: baal 2.1.0
(``baal.active.heuristics``), scikit-activeml 1.0.1
(``skactiveml.pool.UncertaintySampling``) and modAL-python 0.4.2.1
(``modAL.uncertainty``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from energizer.data.pool import PoolBatch
from energizer.query_strategies.base import QueryStrategy
from energizer.query_strategies.bayesian import BayesianStrategy

# Chooses `query_size` positions from probabilities of shape (N, C), or (N, C, T) for Monte Carlo samples.
Chooser = Callable[[np.ndarray, int], np.ndarray]


class _CollectProbabilities:
    """Mixin that keeps every pool item's probabilities and lets a peer choose the query from them."""

    chooser: Chooser

    def on_predict_epoch_start(self) -> None:
        super().on_predict_epoch_start()
        self._ids: list[np.ndarray] = []
        self._probabilities: list[np.ndarray] = []
        self._last: np.ndarray | None = None

    def predict_step(self, batch: PoolBatch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        scores = super().predict_step(batch, batch_idx, dataloader_idx)
        self._ids.append(batch.ids.cpu().numpy())
        self._probabilities.append(self._last)
        return scores

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> np.ndarray:
        ids = np.concatenate(self._ids)
        probabilities = np.concatenate(self._probabilities)
        # The pool loader may return the items in any order: align them with the sorted pool ids.
        order = np.argsort(ids)
        positions_in_collected = order[np.searchsorted(ids[order], pool_ids)]
        aligned = probabilities[positions_in_collected]
        positions = np.asarray(self.chooser(aligned, query_size), dtype=np.int64)[:query_size]
        return pool_ids[positions]


class PeerStrategy(_CollectProbabilities, QueryStrategy):
    """A peer's query rule on the softmax of one deterministic forward pass, shape ``(N, C)``."""

    def __init__(self, model: nn.Module, chooser: Chooser, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.chooser = chooser

    def pool_step(self, batch: Any, batch_idx: int) -> Tensor:
        logits = self.compute_logits(self.get_inputs_from_batch(batch))
        self._last = torch.softmax(logits.double(), dim=1).cpu().numpy()
        return torch.zeros(logits.shape[0], device=logits.device)


class MonteCarloPeerStrategy(_CollectProbabilities, BayesianStrategy):
    """A peer's query rule on ``num_samples`` Monte Carlo dropout softmaxes, shape ``(N, C, T)``.

    The samples are energizer's (shared dropout masks per round), laid out
    as baal expects, with the samples on the last axis.
    """

    def __init__(self, model: nn.Module, chooser: Chooser, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.chooser = chooser

    def pool_step(self, batch: Any, batch_idx: int) -> Tensor:
        logits = self.compute_mc_logits(self.get_inputs_from_batch(batch))  # (B, T, C)
        self._last = torch.softmax(logits.double(), dim=2).permute(0, 2, 1).cpu().numpy()
        return torch.zeros(logits.shape[0], device=logits.device)


def baal_chooser(name: str, seed: int) -> Chooser:
    """Return a chooser that ranks with baal's heuristic ``name`` and keeps the top ranks."""
    from baal.active import heuristics

    heuristic = {
        "random": lambda: heuristics.Random(seed=seed),
        "entropy": heuristics.Entropy,
        "margin": heuristics.Margin,
        "bald": heuristics.BALD,
    }[name]()

    def choose(probabilities: np.ndarray, query_size: int) -> np.ndarray:
        return np.asarray(heuristic(probabilities))[:query_size]

    return choose


def skactiveml_chooser(method: str, seed: int, num_classes: int) -> Chooser:
    """Return a chooser that runs scikit-activeml's ``UncertaintySampling(method)`` on the probabilities."""
    from skactiveml.base import SkactivemlClassifier
    from skactiveml.pool import UncertaintySampling
    from skactiveml.utils import MISSING_LABEL

    class FixedProbabilities(SkactivemlClassifier):
        """A classifier whose inputs are already its class probabilities, so fitting does nothing."""

        def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> FixedProbabilities:
            return self

        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            return np.asarray(X)

    classifier = FixedProbabilities(classes=np.arange(num_classes), missing_label=MISSING_LABEL)
    # One generator for the whole run, as a scikit-activeml user would keep one query strategy.
    strategy = UncertaintySampling(method=method, random_state=seed)

    def choose(probabilities: np.ndarray, query_size: int) -> np.ndarray:
        unlabelled = np.full(len(probabilities), MISSING_LABEL)
        return strategy.query(probabilities, unlabelled, classifier, fit_clf=False, batch_size=query_size)

    return choose


def modal_chooser(name: str) -> Chooser:
    """Return a chooser that runs modAL's ``entropy_sampling`` or ``margin_sampling``."""
    from modAL import uncertainty

    sampling = {"entropy": uncertainty.entropy_sampling, "margin": uncertainty.margin_sampling}[name]

    class FixedProbabilities:
        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            return np.asarray(X)

    def choose(probabilities: np.ndarray, query_size: int) -> np.ndarray:
        chosen = sampling(FixedProbabilities(), probabilities, n_instances=query_size)
        # modAL 0.4 returns (indices, values).
        return chosen[0] if isinstance(chosen, tuple) else chosen

    return choose


PEERS = {
    "baal-random": lambda seed, classes: (PeerStrategy, baal_chooser("random", seed)),
    "baal-entropy": lambda seed, classes: (PeerStrategy, baal_chooser("entropy", seed)),
    "baal-margin": lambda seed, classes: (PeerStrategy, baal_chooser("margin", seed)),
    "baal-bald": lambda seed, classes: (MonteCarloPeerStrategy, baal_chooser("bald", seed)),
    "skactiveml-entropy": lambda seed, classes: (PeerStrategy, skactiveml_chooser("entropy", seed, classes)),
    "skactiveml-margin": lambda seed, classes: (PeerStrategy, skactiveml_chooser("margin_sampling", seed, classes)),
    "modal-entropy": lambda seed, classes: (PeerStrategy, modal_chooser("entropy")),
}
"""Peer methods by name: each builds (strategy class, chooser) from the seed and the number of classes."""


def build_peer(name: str, model: nn.Module, seed: int, num_classes: int) -> QueryStrategy:
    """Wrap ``model`` in the peer strategy ``name``, seeded with ``seed``."""
    strategy_type, chooser = PEERS[name](seed, num_classes)
    return strategy_type(model, chooser, seed=seed)
