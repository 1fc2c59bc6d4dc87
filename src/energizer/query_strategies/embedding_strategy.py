"""Base class of the strategies that choose from pool embeddings instead of per-item scores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from torch import Tensor, nn

from energizer.data.pool import PoolBatch
from energizer.errors import InvalidArgumentError, InvalidQueryError, InvalidScoresError
from energizer.query_strategies.base import ModelOutput, PredictPass, QueryStrategy
from energizer.query_strategies.embeddings import LinearInputCapture, find_last_linear
from energizer.query_strategies.pool_features import PoolFeatures

if TYPE_CHECKING:
    from energizer.loop.ranks import Ranks

__all__ = ["EmbeddingStrategy"]


class EmbeddingStrategy(QueryStrategy):
    """Base class of the diversity and hybrid strategies, which choose from pool embeddings.

    The pool pass stores named feature rows per item (see
    :meth:`compute_features`), and :meth:`query` chooses among them as a
    whole batch. No per-item score is kept, so :meth:`collected_scores`
    returns ``None``. Strategies that set :attr:`needs_labelled_pass` also
    get the labelled items' features from a pass that ``Trainer`` runs first.

    By default the embedding of an item is the input of the model's last
    ``torch.nn.Linear`` (see :func:`~energizer.query_strategies.embeddings.find_last_linear`),
    captured with a forward hook during the ordinary forward pass. For a
    model where that layer is not the classification head, or whose head is
    not a ``torch.nn.Linear``, override :meth:`get_embeddings`.

    Args:
        model: The user's model.
        seed: Seed of the strategy's random choices; with
            :attr:`round_index` it seeds each round.
        subpool_size: See :class:`~energizer.query_strategies.QueryStrategy`.
    """

    requires: ClassVar[frozenset[ModelOutput]] = frozenset({ModelOutput.EMBEDDINGS})

    def __init__(self, model: nn.Module, *, seed: int | None = None, subpool_size: int | None = None) -> None:
        super().__init__(model, seed=seed, subpool_size=subpool_size)
        self._features = {predict_pass: PoolFeatures() for predict_pass in PredictPass}

    def check_setup(self, query_size: int | None = None) -> None:
        """Raise when the model has no ``torch.nn.Linear`` and :meth:`get_embeddings` is not overridden."""
        super().check_setup(query_size)
        if not self._overrides_get_embeddings() and find_last_linear(self.model) is None:
            raise self._missing_linear_error()

    # ----------------------------------------------------------------- hooks

    def get_embeddings(self, inputs: Any) -> Tensor:
        """Return the embeddings of a batch's model inputs, shape ``(B, D)``.

        The default runs the model and returns the input of its last
        ``torch.nn.Linear`` as float32. Override it for models where that is
        not the embedding wanted.
        """
        embeddings, _ = self._embed_with_hook(inputs)
        return embeddings

    def compute_embeddings_and_logits(self, inputs: Any) -> tuple[Tensor, Tensor]:
        """Return the embeddings ``(B, D)`` and logits ``(B, C)`` of a batch's model inputs.

        With the default :meth:`get_embeddings` both come from one forward
        pass. With an override, the model runs once more for the logits.
        """
        if self._overrides_get_embeddings():
            return self.get_embeddings(inputs), self.compute_logits(inputs)
        return self._embed_with_hook(inputs)

    def compute_features(self, inputs: Any) -> dict[str, Tensor]:
        """Return the feature rows that the strategy keeps per item, each of shape ``(B, ...)``.

        The default keeps ``{"embeddings": self.get_embeddings(inputs)}``.
        """
        return {"embeddings": self.get_embeddings(inputs)}

    # ------------------------------------------------------- collected data

    def collected_scores(self, pool_ids: np.ndarray) -> None:
        """Return ``None``: embedding strategies keep features, not scores."""
        return None

    def gather_collected(self, ranks: Ranks) -> None:
        """Gather the feature rows of the last pass (pool or labelled) from every process."""
        self._features[self.predict_pass].gather(ranks)

    def pool_features(self, pool_ids: np.ndarray) -> dict[str, Tensor]:
        """Return the features of the last pool pass, aligned with ``pool_ids``."""
        return self._features[PredictPass.POOL].aligned_to(pool_ids, round_index=self.round_index)

    def labelled_features(self, pool_ids: np.ndarray) -> dict[str, Tensor] | None:
        """Return the features of the last labelled pass, ordered by dataset id; ``None`` if it saw no item.

        Raises:
            InvalidQueryError: When an item of that pass is in ``pool_ids``,
                which means the pass is from an earlier round.
        """
        store = self._features[PredictPass.LABELLED]
        ids = store.ids()
        if ids.size == 0:
            return None
        stale = np.intersect1d(ids, pool_ids)
        if stale.size:
            raise InvalidQueryError(
                f"{type(self).__name__} has labelled-item features from an earlier round: "
                f"{stale.size} of their ids are now in the pool (e.g. {stale[:10].tolist()}). "
                "Query through Trainer.query or Trainer.active_fit, which embed the labelled "
                "items before every query."
            )
        return store.aligned_to(ids, round_index=self.round_index)

    # ------------------------------------------------------- Lightning glue

    def configure_pool(
        self,
        *,
        target_key: str | int | None,
        round_index: int,
        query_size: int | None = None,
        predict_pass: PredictPass = PredictPass.POOL,
    ) -> None:
        """Also forget the labelled features when a labelled pass begins (it may be skipped when empty)."""
        super().configure_pool(
            target_key=target_key, round_index=round_index, query_size=query_size, predict_pass=predict_pass
        )
        if predict_pass is PredictPass.LABELLED:
            self._features[PredictPass.LABELLED] = PoolFeatures()

    def on_predict_epoch_start(self) -> None:
        super().on_predict_epoch_start()
        self._features[self.predict_pass] = PoolFeatures()

    def predict_step(self, batch: PoolBatch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Compute a batch's features, store them by dataset id under the current pass, and return the ids."""
        ids, data = batch
        features = self.compute_features(self.get_inputs_from_batch(data))
        for name, values in features.items():
            if values.shape[0] != ids.shape[0]:
                raise InvalidScoresError(
                    f"{type(self).__name__}.compute_features returned {name} of shape "
                    f"{tuple(values.shape)} for a batch of {ids.shape[0]} items; expected one row "
                    "per item."
                )
        self._features[self.predict_pass].add(ids, features)
        return ids

    # ---------------------------------------------------------------- helpers

    def _overrides_get_embeddings(self) -> bool:
        return type(self).get_embeddings is not EmbeddingStrategy.get_embeddings

    def _missing_linear_error(self) -> InvalidArgumentError:
        return InvalidArgumentError(
            "model",
            f"a model with a torch.nn.Linear layer, whose input {type(self).__name__} uses as "
            "the embedding",
            f"a {type(self.model).__name__} without one",
            f"Override get_embeddings(inputs) in a subclass of {type(self).__name__} to return "
            "embeddings of shape (batch_size, num_features).",
        )

    def _embed_with_hook(self, inputs: Any) -> tuple[Tensor, Tensor]:
        found = find_last_linear(self.model)
        if found is None:
            raise self._missing_linear_error()
        name, layer = found
        with LinearInputCapture(layer, name) as capture:
            logits = self.compute_logits(inputs)
        return capture.embeddings(logits.shape[0], type(self).__name__), logits
