"""The query strategy: a ``LightningModule`` that wraps a model and scores the pool."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from numbers import Integral
from typing import TYPE_CHECKING, Any, ClassVar

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor, nn

from energizer.acquisition._checks import all_finite
from energizer.data.pool import PoolBatch
from energizer.errors import InvalidArgumentError, InvalidScoresError
from energizer.query_strategies.pool_scores import PoolScores
from energizer.seeding import derive_seed, draw_seed
from energizer.selection import ScoreOrder, Selection, TopK

if TYPE_CHECKING:
    from energizer.loop.ranks import Ranks

__all__ = ["ModelOutput", "PredictPass", "QueryStrategy", "describe_batch"]

# Most dataset ids that one error message lists.
_MAX_IDS_SHOWN = 10


class ModelOutput(Enum):
    """Model output that a strategy needs computed over the pool."""

    LOGITS = "logits"
    """Logits of shape ``(N, C)`` from one deterministic forward pass."""

    MC_LOGITS = "mc_logits"
    """Logits of shape ``(N, T, C)`` from ``T`` Monte Carlo dropout passes."""

    EMBEDDINGS = "embeddings"
    """Embeddings of shape ``(N, D)``, by default the input of the model's last ``torch.nn.Linear``."""


class PredictPass(Enum):
    """The items that a ``Trainer.predict`` pass over a strategy runs on."""

    POOL = "pool"
    """The unlabelled items, or the sub-pool drawn from them."""

    LABELLED = "labelled"
    """The labelled items, for strategies whose :attr:`~QueryStrategy.needs_labelled_pass` is true."""


class QueryStrategy(pl.LightningModule):
    """Base class of the query strategies: wraps the user's model and scores the pool.

    Training and testing use the wrapped ``model`` as it is; the strategy only
    adds pool scoring, run through ``Trainer.predict`` in inference mode.
    Subclasses override the hooks:

    - :meth:`get_inputs_from_batch` to extract the model inputs from a
      dataset batch (the default handles ``(inputs, target)`` and mappings);
    - :meth:`pool_step` to turn a batch into one score per item;
    - :meth:`query` to choose dataset ids from the scores.

    Class attributes:
        requires: What the strategy needs computed over the pool. An empty
            set means the pool is never run through the model.
        needs_labelled_pass: Whether the strategy also needs a predict pass
            over the labelled items, which ``Trainer`` runs before the pool
            pass (for example, coreset needs the labelled embeddings).
        score_order: Whether higher or lower scores are queried first.

    Args:
        model: The user's model, usually a ``LightningModule``.
        selection: How scores become ids: :class:`~energizer.selection.TopK`
            (the default) or a stochastic sampling step.
        seed: Seed of the strategy's own random choices. ``None`` draws one
            from PyTorch's global generator (see :mod:`energizer.seeding`),
            so a global ``seed_everything`` fixes it.
        subpool_size: Number of pool items drawn at random each round, and
            the only ones scored and queried from. This bounds the cost of a
            round on a large pool. ``None`` scores the whole pool.
    """

    requires: ClassVar[frozenset[ModelOutput]] = frozenset({ModelOutput.LOGITS})
    needs_labelled_pass: ClassVar[bool] = False
    score_order: ClassVar[ScoreOrder] = ScoreOrder.HIGHER_FIRST

    def __init__(
        self,
        model: nn.Module,
        *,
        selection: Selection | None = None,
        seed: int | None = None,
        subpool_size: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise InvalidArgumentError(
                "model",
                "a torch.nn.Module (usually a LightningModule)",
                f"a {type(model).__name__}",
                f"Pass the model to wrap: {type(self).__name__}(MyLightningModel()).",
            )
        if isinstance(selection, type) and issubclass(selection, Selection):
            raise InvalidArgumentError(
                "selection",
                "an instance of a selection step, such as TopK()",
                f"the class {selection.__name__}",
                f"Call the class to build the step: selection={selection.__name__}(...).",
            )
        if selection is not None and not isinstance(selection, Selection):
            raise InvalidArgumentError(
                "selection",
                "an energizer.selection.Selection such as TopK() or PowerSampling()",
                f"a {type(selection).__name__}",
                "Pass a selection step from energizer.selection.",
            )
        is_count = isinstance(subpool_size, Integral) and not isinstance(subpool_size, bool)
        if subpool_size is not None and not (is_count and subpool_size >= 1):
            raise InvalidArgumentError(
                "subpool_size",
                "a positive integer or None",
                repr(subpool_size),
                "Pass e.g. subpool_size=10_000, or None to score the whole pool.",
            )
        self.model = model
        self.selection = selection if selection is not None else TopK()
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed < 2**32):
            raise InvalidArgumentError(
                "seed", "None or an integer between 0 and 2**32 - 1", repr(seed), "Pass e.g. seed=0."
            )
        self.seed = draw_seed() if seed is None else int(seed)
        self.subpool_size = None if subpool_size is None else int(subpool_size)
        self.target_key: str | int | None = None
        self.round_index = 0
        self.query_size: int | None = None
        self.predict_pass = PredictPass.POOL
        self._pool_scores = PoolScores()
        # Dataset ids of the batch being scored; None outside scoring_batch().
        self._batch_ids: Tensor | None = None

    @property
    def needs_pool_pass(self) -> bool:
        """Whether querying runs the model over the pool."""
        return bool(self.requires)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def configure_pool(
        self,
        *,
        target_key: str | int | None,
        round_index: int,
        query_size: int | None = None,
        predict_pass: PredictPass = PredictPass.POOL,
    ) -> None:
        """Set what the next predict pass needs to know about the data, the round and the query.

        ``Trainer`` calls this before every query and before every predict
        pass, with ``predict_pass`` naming the items of that pass. It calls
        it with :attr:`PredictPass.LABELLED` also when there is no labelled
        item and it skips that pass. A user who calls ``Trainer.predict`` on
        the strategy directly may call it too.
        """
        self.target_key = target_key
        self.round_index = round_index
        self.query_size = query_size
        self.predict_pass = predict_pass

    def check_setup(self, query_size: int | None = None) -> None:
        """Raise when the strategy cannot run with its model or with ``query_size``.

        ``Trainer`` calls this before any training, so a wrong pairing fails
        at once. The base class checks that a sub-pool is at least the query size.
        Subclasses that override it call ``super().check_setup(query_size)``.
        """
        if query_size is not None and self.subpool_size is not None and self.subpool_size < query_size:
            raise InvalidArgumentError(
                "subpool_size",
                f"at least query_size={query_size}, since the query is chosen from the sub-pool",
                self.subpool_size,
                "Raise subpool_size, or pass None to score the whole pool.",
            )

    def candidate_ids(self, pool_ids: np.ndarray) -> np.ndarray:
        """Return the sorted dataset ids that this round scores and queries from.

        With :attr:`subpool_size` set, these are ``min(subpool_size, N)`` ids
        drawn uniformly without replacement, with a seed made from
        :attr:`seed` and :attr:`round_index`, so a rerun of a round draws the
        same sub-pool. Otherwise they are all of ``pool_ids``.

        Args:
            pool_ids: Sorted dataset ids of the unlabelled items, shape ``(N,)``.
        """
        if self.subpool_size is None or self.subpool_size >= pool_ids.size:
            return pool_ids
        generator = np.random.default_rng(self.round_seed(stream=0))
        return np.sort(generator.choice(pool_ids, size=self.subpool_size, replace=False))

    def round_seed(self, stream: int) -> int:
        """Return a seed made from :attr:`seed`, :attr:`round_index` and ``stream``.

        Each ``stream`` number gives an independent seed for one kind of
        random choice of the round. Stream 0 draws the sub-pool.
        """
        return derive_seed(self.seed, self.round_index + 1, stream)

    def query_state_dict(self) -> dict[str, Any]:
        """Return the strategy's random state between queries, as JSON-serialisable values.

        It holds the seed and the selection step's generator state. A run
        directory saves it after every labelling step, so a resumed run
        draws what the interrupted one would have drawn. The model's weights
        are not part of it. Subclasses with more random state extend it.
        """
        return {"seed": self.seed, "selection": self.selection.state_dict()}

    def load_query_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by :meth:`query_state_dict`."""
        self.seed = int(state["seed"])
        self.selection.load_state_dict(state["selection"])

    # ----------------------------------------------------------------- hooks

    def get_inputs_from_batch(self, batch: Any) -> Any:
        """Return the model inputs of a dataset batch.

        With the data module's :attr:`target_key` set, the target is dropped:
        a mapping loses that key, and a sequence loses that position, leaving
        its one remaining element or a tuple of the rest. Without it, a
        ``(inputs, target)`` pair returns ``inputs``. Anything else is returned
        as it is. Override this for other layouts.

        Raises:
            InvalidArgumentError: When :attr:`target_key` is set but a mapping
                or sequence batch has no such key or position.
        """
        target_key = self.target_key
        is_sequence = isinstance(batch, Sequence) and not isinstance(batch, str)
        if isinstance(batch, Mapping):
            if target_key is None:
                return batch
            if target_key in batch:
                return {key: value for key, value in batch.items() if key != target_key}
            raise self._missing_target_error(batch)
        if is_sequence:
            if target_key is None:
                return batch[0] if len(batch) == 2 else batch
            is_position = isinstance(target_key, Integral) and not isinstance(target_key, bool)
            if is_position and -len(batch) <= target_key < len(batch):
                position = int(target_key) % len(batch)
                rest = tuple(item for index, item in enumerate(batch) if index != position)
                return rest[0] if len(rest) == 1 else rest
            raise self._missing_target_error(batch)
        return batch

    def compute_logits(self, inputs: Any) -> Tensor:
        """Run the model on ``inputs`` and return its logits of shape ``(B, C)``.

        A mapping is passed as keyword arguments. Outputs that are mappings or
        objects with a ``logits`` entry (as many model libraries return) are
        reduced to it. NaN and ``+inf`` logits raise; ``-inf`` is a valid
        logit of a class with zero probability.

        Raises:
            InvalidArgumentError: When ``inputs`` is a mapping with a key that
                the model's ``forward`` takes no argument for, such as a
                target that :attr:`target_key` does not name, or when the
                model raises ``TypeError`` on inputs that are not one tensor.
                The original error is chained.
            InvalidScoresError: On outputs that are not a ``(B, C)`` tensor of
                logits, or that hold NaN or ``+inf``.
        """
        if isinstance(inputs, Mapping):
            self._check_keyword_inputs(inputs)
        try:
            output = self.model(**inputs) if isinstance(inputs, Mapping) else self.model(inputs)
        except TypeError as error:
            # A TypeError on a collection of inputs usually means the batch layout does not
            # fit the model, for example a target left among the inputs.
            if isinstance(inputs, Tensor):
                raise
            raise self._inputs_error(inputs, error) from error
        return self.check_logits(output)

    def check_logits(self, output: Any) -> Tensor:
        """Return the logits in a model output, raising unless they are valid ``(B, C)`` logits.

        Inside :meth:`scoring_batch`, the rows must be the batch's items, or
        several copies of them stacked sample-major as Monte Carlo passes
        run them, and an error names the dataset ids of the invalid items.
        """
        if isinstance(output, Mapping) and "logits" in output:
            output = output["logits"]
        elif not isinstance(output, Tensor) and isinstance(getattr(output, "logits", None), Tensor):
            output = output.logits
        items = self.items_in_batch
        is_matrix = isinstance(output, Tensor) and output.ndim == 2
        if not is_matrix or (items and output.shape[0] % items != 0):
            shown = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            batch_size = f" with batch_size {items}" if items else ""
            raise InvalidScoresError(
                f"{type(self).__name__} expected the model to return logits of shape "
                f"(batch_size, num_classes){batch_size}, but it returned {shown} in round "
                f"{self.round_index}. Make forward return logits, or override compute_logits."
            )
        # One pass for the common case: every logit finite, so no NaN, +inf or all -inf row.
        if all_finite(output):
            return output
        invalid = torch.isnan(output) | (output == float("inf"))
        if invalid.any():
            items_described = self._describe_rows(invalid.any(dim=1))
            raise InvalidScoresError(
                f"The model returned NaN or +inf logits for {items_described} in round "
                f"{self.round_index}. Training has probably diverged: lower the learning rate, or "
                "check the inputs of those items for NaN."
            )
        impossible = (output == float("-inf")).all(dim=1)
        if impossible.any():
            raise InvalidScoresError(
                f"The model returned logits that are all -inf, so no class is possible, for "
                f"{self._describe_rows(impossible)} in round {self.round_index}. Check the "
                "model's output masking."
            )
        return output

    def pool_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Return one score per item of a dataset batch, shape ``(B,)``.

        Higher scores are queried first unless :attr:`score_order` states
        otherwise.
        """
        raise NotImplementedError(
            f"{type(self).__name__} needs the model over the pool but does not implement "
            "pool_step(batch, batch_idx). Override it to return one score per item."
        )

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> np.ndarray:
        """Choose ``query_size`` dataset ids among ``pool_ids``.

        Args:
            pool_ids: Sorted dataset ids of the items to choose among, shape
                ``(N,)``: the ids that :meth:`candidate_ids` returned.
            scores: Score of each of those items, aligned with ``pool_ids``,
                or ``None`` for strategies that keep no score per item (an
                empty :attr:`requires`, or embedding strategies).
            query_size: Number of ids to choose, ``1 <= query_size <= N``.

        Returns:
            Distinct dataset ids, most informative first.
        """
        if scores is None:
            raise NotImplementedError(
                f"{type(self).__name__} declares no pool outputs, so it must override query()."
            )
        return self.selection.select(pool_ids, scores, query_size, self.score_order)

    # ------------------------------------------------------- Lightning glue

    def on_predict_epoch_start(self) -> None:
        self._pool_scores = PoolScores()

    @contextmanager
    def scoring_batch(self, ids: Tensor) -> Iterator[None]:
        """Record the dataset ids of the batch that the model runs on while the context is open.

        :attr:`items_in_batch` counts them, and errors about the model's
        logits name the ids of the invalid items. :meth:`predict_step` opens
        it around :meth:`pool_step`.

        Args:
            ids: Dataset ids of the batch's items, shape ``(B,)``.
        """
        self._batch_ids = ids
        try:
            yield
        finally:
            self._batch_ids = None

    @property
    def items_in_batch(self) -> int | None:
        """Number of items in the batch being scored, or ``None`` outside :meth:`scoring_batch`."""
        return None if self._batch_ids is None else int(self._batch_ids.shape[0])

    def predict_step(self, batch: PoolBatch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Score a pool batch, store the scores by dataset id, and return them."""
        ids, data = batch
        with self.scoring_batch(ids):
            scores = self.pool_step(data, batch_idx)
        if not isinstance(scores, Tensor) or scores.shape != (ids.shape[0],):
            shown = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
            raise InvalidScoresError(
                f"{type(self).__name__}.pool_step returned {shown} for a batch of "
                f"{ids.shape[0]} items in round {self.round_index}; expected a tensor of shape "
                f"({ids.shape[0]},), one score per item."
            )
        self._pool_scores.add(ids, scores)
        return scores

    def gather_collected(self, ranks: Ranks) -> None:
        """Replace what this process collected in the last predict pass with what every process collected.

        In a distributed run each process predicts on its own share of the
        items. ``Trainer`` calls this on every process after such a pass, so
        that every process then queries from the same data. The base class
        gathers the per-item scores of a pool pass. A subclass that collects
        other data overrides it and exchanges only what its :meth:`query`
        needs, through ``ranks.gather_rows``.
        """
        if self.predict_pass is PredictPass.POOL:
            self._pool_scores.gather(ranks)

    def collected_scores(self, pool_ids: np.ndarray) -> np.ndarray:
        """Return the scores of the last pool pass, aligned with the sorted ``pool_ids``."""
        return self._pool_scores.aligned_to(pool_ids, round_index=self.round_index)

    # ---------------------------------------------------------------- helpers

    def _missing_target_error(self, batch: Any) -> InvalidArgumentError:
        return InvalidArgumentError(
            "target_key",
            f"the key or position of the target in the batch, which is {describe_batch(batch)}",
            repr(self.target_key),
            "Set the data module's target_key to the key or position of the target in each "
            "item, or to None when the items carry no target, or override "
            f"get_inputs_from_batch(batch) in a subclass of {type(self).__name__}.",
        )

    def _check_keyword_inputs(self, inputs: Mapping) -> None:
        """Raise when the model's ``forward`` takes no argument for a key of ``inputs``."""
        accepted = _keyword_parameters(self.model)
        if accepted is None:
            return
        unexpected = sorted(str(key) for key in inputs if key not in accepted)
        if not unexpected:
            return
        forward = f"{type(self.model).__name__}.forward"
        raise InvalidArgumentError(
            "target_key",
            f"the key of the target, so that the model receives only arguments of {forward} "
            f"({sorted(accepted)})",
            f"{self.target_key!r}, which leaves the model inputs with keys "
            f"{sorted(map(str, inputs))}, and {forward} takes no {unexpected}",
            f"If {unexpected[0]!r} contains the target, pass target_key={unexpected[0]!r} to the "
            "data module; otherwise override get_inputs_from_batch(batch) in a subclass of "
            f"{type(self).__name__} to return only the arguments of forward.",
        )

    def _inputs_error(self, inputs: Any, error: TypeError) -> InvalidArgumentError:
        model_name = type(self.model).__name__
        return InvalidArgumentError(
            "target_key",
            f"the key or position of the target, so that get_inputs_from_batch gives "
            f"{model_name}.forward the inputs it takes",
            f"{self.target_key!r}, which gave the model {describe_batch(inputs)}, and {model_name} "
            f"raised TypeError: {error}",
            "If the batch carries the target, set the data module's target_key to its key or "
            f"position; otherwise override get_inputs_from_batch(batch) in a subclass of "
            f"{type(self).__name__} to return what forward takes.",
        )

    def _describe_rows(self, bad_rows: Tensor) -> str:
        """Describe which items of the current batch the flagged rows of logits belong to.

        Inside :meth:`scoring_batch`, row ``r`` belongs to item ``r % B``,
        because Monte Carlo passes stack their copies of the batch
        sample-major, so an item counts once however many of its rows are
        flagged.
        """
        rows = int(bad_rows.shape[0])
        batch_kind = f"a {self.predict_pass.value} batch"
        ids = self._batch_ids
        if ids is None or ids.shape[0] == 0 or rows % ids.shape[0]:
            return f"{int(bad_rows.sum())} of {rows} items of {batch_kind}"
        items = int(ids.shape[0])
        bad_items = bad_rows.reshape(rows // items, items).any(dim=0).cpu()
        bad_ids = ids.cpu()[bad_items].tolist()
        listed_ids = bad_ids[:_MAX_IDS_SHOWN]
        unlisted = len(bad_ids) - len(listed_ids)
        more = f" and {unlisted} more" if unlisted else ""
        return f"{len(bad_ids)} of {items} items of {batch_kind} (dataset ids {listed_ids}{more})"


def describe_batch(batch: Any) -> str:
    """Describe a batch's layout for error messages: its type and its keys or element shapes."""
    if isinstance(batch, Mapping):
        return f"a {type(batch).__name__} with keys {sorted(map(str, batch))}"
    if isinstance(batch, Sequence) and not isinstance(batch, str):
        elements = ", ".join(_describe_value(value) for value in batch)
        return f"a {type(batch).__name__} of {len(batch)} elements ({elements})"
    return f"a {_describe_value(batch)}"


def _describe_value(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"Tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def _keyword_parameters(model: nn.Module) -> set[str] | None:
    """Return the keyword arguments that the model's ``forward`` takes; ``None`` if it takes any."""
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return None
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = set()
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in keyword_kinds:
            names.add(parameter.name)
    return names
