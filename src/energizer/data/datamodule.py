"""The data module of an active learning run: which items are labelled, and when."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch.utils.data import DataLoader, Dataset, Subset

from energizer.data.given_labels import NO_LABEL, GivenLabelDataset
from energizer.data.initial_labels import draw_random, draw_stratified
from energizer.data.pool import CollateWithIds, IndexedSubset, PoolBatch, ShardSampler
from energizer.data.targets import check_targets, read_targets
from energizer.errors import DatasetChangedError, InvalidArgumentError, LabellingError
from energizer.seeding import draw_seed

__all__ = ["ActiveDataModule", "UNLABELLED"]

UNLABELLED = -1
"""Value of :attr:`ActiveDataModule.label_rounds` for an item that is not labelled."""

InitialSampling = Literal["random", "stratified"]


class ActiveDataModule(pl.LightningDataModule):
    """A ``LightningDataModule`` over one dataset whose items are labelled round by round.

    Every id that this class takes or returns is an index into
    ``train_dataset``, the user's original dataset. For each item it stores
    the round in which the item was labelled, or :data:`UNLABELLED`. The
    labelled items feed :meth:`train_dataloader` (and, with ``val_fraction``,
    :meth:`val_dataloader`); the unlabelled ones form the pool that
    :meth:`pool_dataloader` scores.

    Args:
        train_dataset: Map-style dataset of every item that may be labelled.
            In research mode its items hold their targets, which stay unused
            until the item is labelled.
        val_dataset: Optional validation dataset, used in full every round.
        test_dataset: Optional test dataset, used after every round's fit.
        pool_dataset: Optional dataset with the same items as
            ``train_dataset`` and the same length, but without training-time
            augmentation. The pool is scored on it. Defaults to ``train_dataset``.
        batch_size: Batch size of the train loader.
        eval_batch_size: Batch size of the validation, test and pool loaders.
            Defaults to ``batch_size``.
        num_workers, pin_memory, persistent_workers: Passed to every
            ``DataLoader``.
        collate_fn: Collate function of every loader. It must keep the
            order of the items it receives.
        pool_collate_fn: Collate function of the pool loader for datasets
            whose collate reorders items. It receives ``(dataset_id, item)``
            pairs and returns a :class:`~energizer.data.pool.PoolBatch` whose
            ids follow the batch's order.
        val_fraction: Fraction of the labelled items held out for validation,
            in ``(0, 1)``. The held-out items are chosen at random (with
            ``seed``) among each newly labelled set and recorded in the state.
            Cannot be combined with ``val_dataset``.
        initial_labels: Either a count of items to label before the first
            round, drawn with ``initial_sampling``, or the explicit dataset
            ids to label. ``None`` labels nothing.
        initial_sampling: ``"random"`` draws uniformly, ``"stratified"``
            draws in proportion to the class frequencies.
        targets: Class of every item, for stratified sampling. Read from the
            dataset when omitted.
        target_key: Key of the target in mapping items, or its position in
            sequence items (the last element by default). Query strategies
            use it to drop the target from pool batches.
        shuffle: Whether the train loader shuffles.
        seed: Seed of the initial draw and of the validation hold-out.
            ``None`` draws one from PyTorch's global generator (see
            :mod:`energizer.seeding`), so a global ``seed_everything`` fixes it.

    Raises:
        InvalidArgumentError: On an empty dataset, a ``pool_dataset`` of
            another length, an invalid ``val_fraction`` or ``initial_sampling``,
            an initial count that does not fit the dataset, a batch size
            below 1, a negative ``num_workers`` or ``seed``, or a collate
            function that is not callable.
        LabellingError: On explicit initial ids that are out of range or
            repeated.
    """

    def __init__(
        self,
        train_dataset: Dataset,
        *,
        val_dataset: Dataset | None = None,
        test_dataset: Dataset | None = None,
        pool_dataset: Dataset | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pool_collate_fn: Callable[[list[tuple[int, Any]]], PoolBatch] | None = None,
        val_fraction: float | None = None,
        initial_labels: int | Sequence[int] | np.ndarray | None = None,
        initial_sampling: InitialSampling = "random",
        targets: Sequence[int] | np.ndarray | None = None,
        target_key: str | int | None = None,
        shuffle: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.train_dataset = train_dataset
        self.val_dataset = val_dataset
        self.test_dataset = test_dataset
        self.pool_dataset = pool_dataset if pool_dataset is not None else train_dataset
        self.batch_size = _positive_int("batch_size", batch_size)
        self.eval_batch_size = _positive_int(
            "eval_batch_size", eval_batch_size if eval_batch_size is not None else batch_size
        )
        self.num_workers = _count("num_workers", num_workers)
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.collate_fn = _optional_callable("collate_fn", collate_fn)
        self.pool_collate_fn = _optional_callable("pool_collate_fn", pool_collate_fn)
        self.target_key = target_key
        self.shuffle = shuffle
        is_seed = isinstance(seed, Integral) and not isinstance(seed, bool) and seed >= 0
        if seed is not None and not is_seed:
            raise InvalidArgumentError(
                "seed", "None or an integer >= 0", repr(seed), "Pass e.g. seed=0."
            )
        self.seed = draw_seed() if seed is None else int(seed)
        self._targets = targets

        self.dataset_length = _dataset_length(train_dataset)
        if self.dataset_length == 0:
            raise InvalidArgumentError(
                "train_dataset",
                "a dataset with at least one item",
                f"an empty dataset (a {type(train_dataset).__name__} of length 0)",
                "Check how the dataset is built: active learning needs items to label.",
            )
        if len(self.pool_dataset) != self.dataset_length:
            raise InvalidArgumentError(
                "pool_dataset",
                f"the same items as train_dataset ({self.dataset_length} items)",
                f"a dataset of {len(self.pool_dataset)} items",
                "Build pool_dataset over the same items as train_dataset, "
                "only without augmentation.",
            )
        self.val_fraction = _check_val_fraction(val_fraction, val_dataset)
        if initial_sampling not in ("random", "stratified"):
            raise InvalidArgumentError(
                "initial_sampling",
                "one of 'random', 'stratified'",
                repr(initial_sampling),
                "Choose one of the listed sampling rules.",
            )
        # Separate streams for the initial draw and the validation hold-out,
        # so that neither changes the other's choices.
        initial_seed, holdout_seed = np.random.SeedSequence(self.seed).spawn(2)
        self._rng = np.random.default_rng(holdout_seed)
        self._initial_seed = initial_seed
        self._label_rounds = np.full(self.dataset_length, UNLABELLED, dtype=np.int64)
        self._is_validation = np.zeros(self.dataset_length, dtype=bool)
        self._given_labels = np.full(self.dataset_length, NO_LABEL, dtype=np.int64)
        if initial_labels is not None:
            self.label(self._initial_ids(initial_labels, initial_sampling), round=0)

    @classmethod
    def from_datamodule(cls, datamodule: pl.LightningDataModule, **kwargs: Any) -> ActiveDataModule:
        """Build an active data module from the loaders of an existing ``LightningDataModule``.

        Calls ``prepare_data`` and ``setup`` on ``datamodule``, then takes the
        dataset, batch size, collate function and worker settings of its
        train loader, and the datasets of its validation and test loaders when
        it defines them. ``kwargs`` override any of those and set the other
        arguments of :class:`ActiveDataModule` (such as ``initial_labels``).

        Raises:
            InvalidArgumentError: When a loader is not a single ``DataLoader``.
        """
        datamodule.prepare_data()
        datamodule.setup("fit")
        train_loader = _single_loader(datamodule.train_dataloader(), "train_dataloader")
        found: dict[str, Any] = {
            "train_dataset": train_loader.dataset,
            "batch_size": train_loader.batch_size or 1,
            "collate_fn": train_loader.collate_fn,
            "num_workers": train_loader.num_workers,
            "pin_memory": train_loader.pin_memory,
        }
        if is_overridden("val_dataloader", datamodule):
            val_loader = _single_loader(datamodule.val_dataloader(), "val_dataloader")
            found["val_dataset"] = val_loader.dataset
        if is_overridden("test_dataloader", datamodule):
            datamodule.setup("test")
            test_loader = _single_loader(datamodule.test_dataloader(), "test_dataloader")
            found["test_dataset"] = test_loader.dataset
            found["eval_batch_size"] = test_loader.batch_size or found["batch_size"]
        found.update(kwargs)
        return cls(**found)

    # ------------------------------------------------------------------ state

    @property
    def label_rounds(self) -> np.ndarray:
        """Round in which each item was labelled, :data:`UNLABELLED` for pool items (a copy)."""
        return self._label_rounds.copy()

    @property
    def labelled_ids(self) -> np.ndarray:
        """Sorted dataset ids of the labelled items, validation hold-out included."""
        return np.flatnonzero(self._label_rounds != UNLABELLED)

    @property
    def pool_ids(self) -> np.ndarray:
        """Sorted dataset ids of the unlabelled items."""
        return np.flatnonzero(self._label_rounds == UNLABELLED)

    @property
    def train_ids(self) -> np.ndarray:
        """Sorted dataset ids of the labelled items that the model trains on."""
        return np.flatnonzero((self._label_rounds != UNLABELLED) & ~self._is_validation)

    @property
    def val_ids(self) -> np.ndarray:
        """Sorted dataset ids of the labelled items held out for validation."""
        return np.flatnonzero(self._is_validation)

    @property
    def num_labelled(self) -> int:
        """Number of labelled items, validation hold-out included."""
        return int(np.count_nonzero(self._label_rounds != UNLABELLED))

    @property
    def num_unlabelled(self) -> int:
        """Number of items in the pool."""
        return self.dataset_length - self.num_labelled

    @property
    def num_train(self) -> int:
        """Number of labelled items that the model trains on."""
        return self.num_labelled - self.num_val

    @property
    def num_val(self) -> int:
        """Number of labelled items held out for validation."""
        return int(np.count_nonzero(self._is_validation))

    @property
    def has_validation(self) -> bool:
        """Whether :meth:`val_dataloader` has items: a validation dataset or a held-out share."""
        return self.val_dataset is not None or self.num_val > 0

    @property
    def current_round(self) -> int:
        """The latest round in which items were labelled, or -1 before any labelling."""
        return int(self._label_rounds.max())

    @property
    def given_labels(self) -> np.ndarray:
        """Class given for each item through :meth:`label`, ``NO_LABEL`` (-1) where none was given (a copy).

        Items without a given label train on the target stored in the dataset.
        """
        return self._given_labels.copy()

    def label(
        self,
        ids: Sequence[int] | np.ndarray,
        round: int | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        """Mark the items ``ids`` as labelled in ``round``, with the classes ``labels`` when given.

        Args:
            ids: Dataset ids of unlabelled items. Must be distinct.
            round: Round to record. Defaults to :attr:`current_round` + 1.
            labels: The class index of each id, shape ``(len(ids),)``, for
                labels that come from people rather than from the dataset.
                The train and validation loaders then return these classes
                in place of the items' stored targets (see
                :class:`~energizer.data.given_labels.GivenLabelDataset`).
                ``None`` keeps the dataset's targets, as in research mode.

        Raises:
            LabellingError: When an id is not an integer, is out of range,
                repeats, or is already labelled, or when ``labels`` is not one
                non-negative integer per id. Nothing is labelled then.
        """
        self._apply_label_state(self._label_state(ids, round, labels))

    def state_dict_after_label(
        self,
        ids: Sequence[int] | np.ndarray,
        round: int | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Return the :meth:`state_dict` that ``label(ids, round, labels)`` would leave, changing nothing.

        A caller saves this state before it labels, so that no label it
        received is lost when the process stops in between.

        Raises:
            LabellingError: On the same inputs as :meth:`label`.
        """
        label_rounds, is_validation, given_labels, rng = self._label_state(ids, round, labels)
        return self._state(label_rounds, is_validation, given_labels, rng)

    def _label_state(
        self,
        ids: Sequence[int] | np.ndarray,
        round: int | None,
        labels: Sequence[int] | np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.random.Generator]:
        """Return the rounds, hold-out, given labels and generator after labelling, on copies."""
        if round is not None and (isinstance(round, bool) or not isinstance(round, Integral) or round < 0):
            raise LabellingError(
                f"Invalid `round`: expected an integer >= 0, received {round!r}. "
                "Omit it to record the round after the current one."
            )
        ids = self._check_ids_to_label(ids)
        classes = self._check_given_labels(labels, ids.size)
        round_index = self.current_round + 1 if round is None else int(round)
        label_rounds = self._label_rounds.copy()
        label_rounds[ids] = round_index
        is_validation = self._is_validation.copy()
        rng = np.random.default_rng()
        rng.bit_generator.state = self._rng.bit_generator.state
        if self.val_fraction is not None:
            _hold_out_validation(ids, label_rounds, is_validation, self.val_fraction, rng)
        given_labels = self._given_labels.copy()
        if classes is not None:
            given_labels[ids] = classes
        return label_rounds, is_validation, given_labels, rng

    def _apply_label_state(
        self, state: tuple[np.ndarray, np.ndarray, np.ndarray, np.random.Generator]
    ) -> None:
        self._label_rounds, self._is_validation, self._given_labels, self._rng = state

    def check_dataset_unchanged(self) -> None:
        """Raise :class:`DatasetChangedError` when the dataset's length differs from the recorded one."""
        length = len(self.train_dataset)
        if length != self.dataset_length:
            raise DatasetChangedError(
                f"The dataset has {length} items but the labelled state was built for "
                f"{self.dataset_length}. Ids index the original dataset, so items may not be "
                "added or removed during a run: build a new ActiveDataModule for the new dataset."
            )

    def state_dict(self) -> dict[str, Any]:
        """Return the labelled state: the round of every item, the validation hold-out and the given labels.

        Every value can be written as JSON. ``given_labels`` has one class
        per item, -1 where none was given.
        """
        return self._state(self._label_rounds, self._is_validation, self._given_labels, self._rng)

    def _state(
        self,
        label_rounds: np.ndarray,
        is_validation: np.ndarray,
        given_labels: np.ndarray,
        rng: np.random.Generator,
    ) -> dict[str, Any]:
        return {
            "dataset_length": self.dataset_length,
            "label_rounds": label_rounds.tolist(),
            "validation_ids": np.flatnonzero(is_validation).tolist(),
            "val_fraction": self.val_fraction,
            "rng_state": rng.bit_generator.state,
            "given_labels": given_labels.tolist(),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state returned by :meth:`state_dict`.

        Raises:
            DatasetChangedError: When the state belongs to a dataset of another length.
            InvalidArgumentError: When the state was saved with another
                ``val_fraction`` or its rounds are malformed.
        """
        missing = {"dataset_length", "label_rounds", "validation_ids", "rng_state"} - set(state_dict)
        if missing:
            raise InvalidArgumentError(
                "state_dict",
                "a state returned by ActiveDataModule.state_dict()",
                f"a mapping without {sorted(missing)}",
                "Load the whole saved state, not a part of it.",
            )
        if int(state_dict["dataset_length"]) != self.dataset_length:
            raise DatasetChangedError(
                f"The saved state is for a dataset of {state_dict['dataset_length']} items, "
                f"but this data module's dataset has {self.dataset_length}. "
                "Load the state into a data module over the same dataset."
            )
        if state_dict.get("val_fraction") != self.val_fraction:
            raise InvalidArgumentError(
                "val_fraction",
                f"the value the state was saved with ({state_dict.get('val_fraction')})",
                self.val_fraction,
                "Build the data module with the same val_fraction as the run that saved the state.",
            )
        rounds = np.asarray(state_dict["label_rounds"], dtype=np.int64)
        if rounds.shape != (self.dataset_length,) or rounds.min() < UNLABELLED:
            raise InvalidArgumentError(
                "state_dict",
                f"label_rounds with one round >= {UNLABELLED} per item ({self.dataset_length} values)",
                f"{rounds.size} values with minimum {rounds.min() if rounds.size else None}",
                "Load a state saved by ActiveDataModule.state_dict() for this dataset.",
            )
        validation_ids = np.asarray(state_dict["validation_ids"], dtype=np.int64)
        in_range = (validation_ids >= 0) & (validation_ids < self.dataset_length)
        if not in_range.all() or (rounds[validation_ids[in_range]] == UNLABELLED).any():
            raise InvalidArgumentError(
                "state_dict",
                "validation_ids that are labelled items of the dataset",
                f"validation ids {validation_ids[:10].tolist()}",
                "Load a state saved by ActiveDataModule.state_dict() for this dataset.",
            )
        validation = np.zeros(self.dataset_length, dtype=bool)
        validation[validation_ids] = True
        given_labels = self._check_saved_given_labels(state_dict.get("given_labels"), rounds)
        self._label_rounds = rounds
        self._given_labels = given_labels
        self._is_validation = validation
        self._rng.bit_generator.state = state_dict["rng_state"]

    # ---------------------------------------------------------------- loaders

    def train_dataloader(self) -> DataLoader:
        """Loader over the labelled items that the model trains on."""
        if self.num_train == 0:
            raise LabellingError(
                "No labelled item to train on. Label items first with "
                "ActiveDataModule(initial_labels=...) or datamodule.label(ids)."
            )
        return self._loader(Subset(self._labelled_dataset(), self.train_ids.tolist()), shuffle=self.shuffle)

    def val_dataloader(self) -> DataLoader | list:
        """Loader over ``val_dataset`` or the held-out labelled items; ``[]`` when there is neither."""
        if self.val_dataset is not None:
            return self._loader(self.val_dataset, batch_size=self.eval_batch_size)
        if self.num_val > 0:
            subset = Subset(self._labelled_dataset(), self.val_ids.tolist())
            return self._loader(subset, batch_size=self.eval_batch_size)
        return []

    def test_dataloader(self) -> DataLoader | list:
        """Loader over ``test_dataset``; ``[]`` when there is none."""
        if self.test_dataset is None:
            return []
        return self._loader(self.test_dataset, batch_size=self.eval_batch_size)

    def pool_dataloader(
        self, ids: Sequence[int] | np.ndarray | None = None, *, rank: int = 0, world_size: int = 1
    ) -> DataLoader:
        """Loader over the unlabelled items, yielding :class:`~energizer.data.pool.PoolBatch`.

        It never shuffles or drops items, so every pool item is scored once.

        Args:
            ids: Dataset ids of the pool items to load, for example a random
                sub-pool. ``None`` loads the whole pool.
            rank, world_size: In a distributed run, the global rank of this
                process and the number of processes. The loader then holds
                this process's share only (see
                :class:`~energizer.data.pool.ShardSampler`): no item twice,
                no padding.

        Raises:
            LabellingError: When ``ids`` contains an id that is not in the pool.
        """
        if ids is None:
            return self._id_loader(self.pool_ids, rank, world_size)
        ids = np.asarray(ids, dtype=np.int64)
        outside = np.setdiff1d(ids, self.pool_ids)
        if outside.size:
            raise LabellingError(
                f"Invalid `ids`: {outside.size} of them are not in the pool (for example "
                f"{outside[:10].tolist()}). Pass a subset of datamodule.pool_ids."
            )
        return self._id_loader(ids, rank, world_size)

    def labelled_dataloader(self, *, rank: int = 0, world_size: int = 1) -> DataLoader:
        """Loader over every labelled item, yielding :class:`~energizer.data.pool.PoolBatch`.

        Validation hold-out included. Like :meth:`pool_dataloader` it reads
        ``pool_dataset`` (no training-time augmentation), carries each item's
        dataset id, never shuffles or drops items, and in a distributed run
        holds this process's share only. Strategies that need the labelled
        items' embeddings run a predict pass over it.
        """
        return self._id_loader(self.labelled_ids, rank, world_size)

    def predict_dataloader(self) -> DataLoader:
        """Return the pool loader, so that ``Trainer.predict(strategy, datamodule=...)`` scores the pool."""
        return self.pool_dataloader()

    def items_dataloader(
        self, ids: Sequence[int] | np.ndarray, *, rank: int = 0, world_size: int = 1
    ) -> DataLoader:
        """Loader over the items ``ids``, labelled or not, yielding :class:`~energizer.data.pool.PoolBatch`.

        Like :meth:`pool_dataloader` it reads ``pool_dataset``, carries each
        item's dataset id, never shuffles or drops items, and in a
        distributed run holds this process's share only. Stopping criteria
        predict on their stop set with it.

        Raises:
            LabellingError: When an id is out of range.
        """
        ids = np.asarray(ids, dtype=np.int64)
        outside = ids[(ids < 0) | (ids >= self.dataset_length)]
        if outside.size:
            raise LabellingError(
                f"Invalid `ids`: {outside.size} of them are outside the dataset of "
                f"{self.dataset_length} items (for example {outside[:10].tolist()}). Pass dataset ids."
            )
        return self._id_loader(ids, rank, world_size)

    # ---------------------------------------------------------------- helpers

    def _id_loader(self, ids: np.ndarray, rank: int, world_size: int) -> DataLoader:
        collate = self.pool_collate_fn or CollateWithIds(self.collate_fn)
        sampler = ShardSampler(len(ids), rank, world_size) if world_size > 1 else None
        return DataLoader(
            IndexedSubset(self.pool_dataset, ids),
            batch_size=self.eval_batch_size,
            shuffle=False,
            sampler=sampler,
            drop_last=False,
            collate_fn=collate,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )

    def _loader(self, dataset: Dataset, *, shuffle: bool = False, batch_size: int | None = None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size or self.batch_size,
            shuffle=shuffle,
            collate_fn=self.collate_fn,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )

    def _initial_ids(
        self, initial_labels: int | Sequence[int] | np.ndarray, sampling: InitialSampling
    ) -> np.ndarray:
        if isinstance(initial_labels, Integral) and not isinstance(initial_labels, bool):
            count = int(initial_labels)
            if not 0 < count <= self.dataset_length:
                raise InvalidArgumentError(
                    "initial_labels",
                    f"a count between 1 and the dataset's {self.dataset_length} items",
                    count,
                    "Pass a smaller count, or explicit ids as a list.",
                )
            if sampling == "random":
                return draw_random(count, self.dataset_length, self._initial_seed)
            return draw_stratified(count, self._read_targets(), self._initial_seed)
        if isinstance(initial_labels, (Sequence, np.ndarray)) and not isinstance(initial_labels, str):
            return np.asarray(initial_labels)
        raise InvalidArgumentError(
            "initial_labels",
            "a count (int) or a sequence of dataset ids",
            repr(initial_labels),
            "Pass for example initial_labels=20 or initial_labels=[0, 5, 9].",
        )

    def _read_targets(self) -> np.ndarray:
        if self._targets is None:
            return read_targets(self.train_dataset, self.target_key)
        return check_targets(self._targets, self.dataset_length)

    def _check_ids_to_label(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        array = np.asarray(ids)
        if array.ndim == 0:
            raise LabellingError(
                f"Invalid `ids`: expected a flat sequence of dataset ids, received the single "
                f"value {ids!r}. Pass the ids as a list or a 1-D array, such as [3, 17]."
            )
        if array.ndim != 1:
            raise LabellingError(
                f"Invalid `ids`: expected a flat sequence of dataset ids, received an array of "
                f"shape {array.shape}. Pass the ids as a list or a 1-D array."
            )
        if array.size == 0:
            return array.astype(np.int64)
        if not np.issubdtype(array.dtype, np.integer):
            raise LabellingError(
                f"Invalid `ids`: expected integer dataset ids, received dtype {array.dtype} "
                f"(first values {array[:5].tolist()}). Pass integer indices into the dataset."
            )
        array = array.astype(np.int64)
        out_of_range = array[(array < 0) | (array >= self.dataset_length)]
        if out_of_range.size:
            raise LabellingError(
                f"Invalid `ids`: expected ids in [0, {self.dataset_length - 1}], received "
                f"{out_of_range[:10].tolist()}. Ids index the original dataset of "
                f"{self.dataset_length} items: pass only ids from datamodule.pool_ids."
            )
        unique, counts = np.unique(array, return_counts=True)
        repeated = unique[counts > 1]
        if repeated.size:
            raise LabellingError(
                f"Invalid `ids`: expected distinct ids, received repeated ids "
                f"{repeated[:10].tolist()}. Pass each item once."
            )
        already = array[self._label_rounds[array] != UNLABELLED]
        if already.size:
            raise LabellingError(
                f"Invalid `ids`: {already.size} of them are already labelled "
                f"(for example {already[:10].tolist()}). Label only pool items "
                "(datamodule.pool_ids)."
            )
        return array

    def _labelled_dataset(self) -> Dataset:
        """``train_dataset``, seen through the given labels when there are any."""
        if (self._given_labels == NO_LABEL).all():
            return self.train_dataset
        return GivenLabelDataset(self.train_dataset, self._given_labels.copy(), self.target_key)

    def _check_given_labels(self, labels: Sequence[int] | np.ndarray | None, size: int) -> np.ndarray | None:
        if labels is None:
            return None
        array = np.asarray(labels)
        is_integer = array.size == 0 or np.issubdtype(array.dtype, np.integer)
        if array.shape != (size,) or not is_integer:
            raise LabellingError(
                f"Invalid `labels`: expected one integer class per id, shape ({size},), received "
                f"an array of shape {array.shape} and dtype {array.dtype}. Pass the class index of "
                "each id, in the order of `ids`."
            )
        array = array.astype(np.int64)
        if (array < 0).any():
            raise LabellingError(
                f"Invalid `labels`: expected class indices >= 0, received "
                f"{array[array < 0][:10].tolist()}. Map class names to indices first."
            )
        return array

    def _check_saved_given_labels(self, saved: Any, rounds: np.ndarray) -> np.ndarray:
        # States saved before given labels existed have none.
        if saved is None:
            return np.full(self.dataset_length, NO_LABEL, dtype=np.int64)
        given_labels = np.asarray(saved, dtype=np.int64)
        if given_labels.shape != (self.dataset_length,) or (given_labels < NO_LABEL).any():
            raise InvalidArgumentError(
                "state_dict",
                f"given_labels with one class >= {NO_LABEL} per item ({self.dataset_length} values)",
                f"{given_labels.size} values",
                "Load a state saved by ActiveDataModule.state_dict() for this dataset.",
            )
        unlabelled = (given_labels != NO_LABEL) & (rounds == UNLABELLED)
        if unlabelled.any():
            raise InvalidArgumentError(
                "state_dict",
                "given labels only for labelled items",
                f"given labels for the unlabelled ids {np.flatnonzero(unlabelled)[:10].tolist()}",
                "Load a state saved by ActiveDataModule.state_dict() for this dataset.",
            )
        return given_labels


def _hold_out_validation(
    new_ids: np.ndarray,
    label_rounds: np.ndarray,
    is_validation: np.ndarray,
    val_fraction: float,
    rng: np.random.Generator,
) -> None:
    """Hold out some of ``new_ids`` for validation, in place, from the generator ``rng``."""
    # Keep the validation share at val_fraction of all labelled items, and
    # at least one item to train on.
    num_labelled = int(np.count_nonzero(label_rounds != UNLABELLED))
    num_val = int(np.count_nonzero(is_validation))
    target = min(int(round(val_fraction * num_labelled)), num_labelled - 1)
    missing = min(target - num_val, new_ids.size)
    if missing <= 0:
        return
    chosen = rng.choice(np.sort(new_ids), size=missing, replace=False)
    is_validation[chosen] = True


def _dataset_length(dataset: Dataset) -> int:
    try:
        return len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgumentError(
            "train_dataset",
            "a map-style dataset with __len__ and __getitem__",
            f"a {type(dataset).__name__} without a length",
            "Wrap an iterable dataset in a map-style one; active learning needs random access.",
        ) from None


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise InvalidArgumentError(name, "a positive integer", repr(value), f"Pass {name} >= 1.")
    return int(value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise InvalidArgumentError(name, "an integer >= 0", repr(value), f"Pass {name}=0 or more.")
    return int(value)


def _optional_callable(name: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise InvalidArgumentError(
            name,
            "None or a function of a list of items",
            f"a {type(value).__name__}",
            f"Pass {name}=None or a function.",
        )
    return value


def _check_val_fraction(val_fraction: float | None, val_dataset: Dataset | None) -> float | None:
    if val_fraction is None:
        return None
    if val_dataset is not None:
        raise InvalidArgumentError(
            "val_fraction",
            "None when val_dataset is given",
            val_fraction,
            "Pass either a validation dataset or a fraction of the labelled items, not both.",
        )
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, Real) or not 0 < val_fraction < 1:
        raise InvalidArgumentError(
            "val_fraction", "a number strictly between 0 and 1", val_fraction, "Pass e.g. val_fraction=0.1."
        )
    return float(val_fraction)


def _single_loader(loader: Any, hook: str) -> DataLoader:
    if not isinstance(loader, DataLoader):
        raise InvalidArgumentError(
            hook,
            "a single torch DataLoader",
            f"a {type(loader).__name__}",
            "Build the ActiveDataModule from datasets directly when the data module returns "
            "several loaders.",
        )
    return loader
