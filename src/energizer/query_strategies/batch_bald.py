"""BatchBALD: a batch whose joint mutual information with the weights is greedily maximised."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor, nn

from energizer.acquisition import bald, batch_bald
from energizer.data.pool import PoolBatch
from energizer.errors import InvalidArgumentError, InvalidQueryError
from energizer.query_strategies.bayesian import BayesianStrategy
from energizer.query_strategies.candidates import CandidateBuffer
from energizer.seeding import derive_seed

if TYPE_CHECKING:
    from energizer.loop.ranks import Ranks

__all__ = ["BatchBALDStrategy"]


class BatchBALDStrategy(BayesianStrategy):
    """Choose the query greedily by joint mutual information (Kirsch et al. 2019, "BatchBALD").

    Top-k BALD picks near-duplicates when they are all informative; BatchBALD
    scores each candidate by what it adds to the items already chosen, so the
    batch is diverse. The pool pass keeps the Monte Carlo logits of the
    ``candidates`` items with the highest BALD score, and the greedy
    selection runs on those.

    Memory: ``candidates * num_samples * C`` float32 values for the kept
    logits (1,000 x 20 x 10 take 0.8 MB), plus ``max_memory_bytes`` for the
    joint entropy, whatever the pool size. With ``candidates=None`` the kept
    logits grow with the whole pool.

    Args:
        model: The user's model, with at least one dropout layer.
        num_samples: Monte Carlo samples ``T`` per item.
        candidates: Number of top-BALD pool items BatchBALD chooses among,
            at least the query size. ``None`` keeps every pool item.
        num_configurations: The joint entropy is exact while the chosen
            items have at most this many class configurations, and is
            estimated from this many sampled configurations beyond that.
        max_memory_bytes: Memory bound of the joint entropy's working tensors.
        consistent_masks: Share the ``T`` dropout masks across pool items.
            On by default: the joint entropy treats sample ``t`` of every
            item as the same draw of the weights.
        stack_samples: See :class:`BayesianStrategy`.
        seed: Seed of the masks and of the sampled configurations.
        subpool_size: See :class:`~energizer.query_strategies.QueryStrategy`.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        num_samples: int = 20,
        candidates: int | None = 1000,
        num_configurations: int = 10_000,
        max_memory_bytes: int = 256 * 2**20,
        consistent_masks: bool = True,
        stack_samples: bool = True,
        seed: int | None = None,
        subpool_size: int | None = None,
    ) -> None:
        super().__init__(
            model,
            num_samples=num_samples,
            consistent_masks=consistent_masks,
            stack_samples=stack_samples,
            seed=seed,
            subpool_size=subpool_size,
        )
        invalid = isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1
        if candidates is not None and invalid:
            raise InvalidArgumentError(
                "candidates", "a positive integer or None", repr(candidates), "Pass e.g. candidates=1000."
            )
        self.candidates = candidates
        for name, value in (("num_configurations", num_configurations), ("max_memory_bytes", max_memory_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(name, "a positive integer", repr(value), f"Pass e.g. {name}=10_000.")
        self.num_configurations = num_configurations
        self.max_memory_bytes = max_memory_bytes
        self._candidate_buffer = CandidateBuffer(candidates)
        self._batch_logits: Tensor | None = None

    def check_setup(self, query_size: int | None = None) -> None:
        super().check_setup(query_size)
        if query_size is not None and self.candidates is not None and self.candidates < query_size:
            raise InvalidArgumentError(
                "candidates",
                f"at least query_size={query_size}",
                self.candidates,
                "Raise candidates, or pass None to choose among the whole pool.",
            )

    def on_predict_epoch_start(self) -> None:
        super().on_predict_epoch_start()
        self._candidate_buffer = CandidateBuffer(self.candidates)

    def pool_step(self, batch: Any, batch_idx: int) -> Tensor:
        logits = self.compute_mc_logits(self.get_inputs_from_batch(batch))
        self._batch_logits = logits
        return bald(logits)

    def predict_step(self, batch: PoolBatch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        scores = super().predict_step(batch, batch_idx, dataloader_idx)
        if self._batch_logits is not None:
            self._candidate_buffer.add(batch.ids, scores, self._batch_logits.float())
        self._batch_logits = None
        return scores

    def gather_collected(self, ranks: Ranks) -> None:
        """Gather the BALD scores and the best ``candidates`` items of every process, with their logits.

        Each process sends at most ``candidates`` rows of logits, never its
        whole share.
        """
        super().gather_collected(ranks)
        self._candidate_buffer.gather(ranks)

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> np.ndarray:
        ids, _, logits = self._candidate_buffer.result()
        if ids.size < query_size or not np.isin(ids, pool_ids).all():
            raise InvalidQueryError(
                f"{type(self).__name__} kept {ids.size} candidates from its last pool pass, and "
                f"they do not cover a query of {query_size} from the current pool of "
                f"{pool_ids.size} items. Query through Trainer.query or Trainer.active_fit, "
                "which score the pool first."
            )
        positions = batch_bald(
            logits,
            query_size,
            num_samples=self.num_configurations,
            max_memory_bytes=self.max_memory_bytes,
            seed=self._selection_seed(),
        )
        return ids[positions.cpu().numpy()]

    def _selection_seed(self) -> int:
        return derive_seed(self.seed, self.round_index + 1, 1)
