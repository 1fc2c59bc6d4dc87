"""Bad input at every public entry point: one table of cases per entry point.

Each row gives the bad input, the exception it raises and a pattern that the
message must match. Every pattern pins the wrong value and the fix. Rows that
call ``Trainer.active_fit`` or ``Trainer.query`` also check that no training
started (the model counts its ``on_fit_start`` calls) and that the labelled
state did not change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import Dataset, IterableDataset, TensorDataset

import energizer
from energizer import ActiveDataModule
from energizer.acquisition import bald, batch_bald, entropy, margin
from energizer.cli.main import main
from energizer.errors import (
    DatasetChangedError,
    EmptyPoolError,
    InvalidArgumentError,
    InvalidScoresError,
    LabellingError,
    MissingDropoutError,
)
from energizer.query_strategies import (
    BALDStrategy,
    BatchBALDStrategy,
    ClusterMarginStrategy,
    CoresetStrategy,
    EntropyStrategy,
    PowerBALDStrategy,
    TypiClustStrategy,
)
from energizer.selection import TopK

NUM_ITEMS = 24
NUM_FEATURES = 4
NUM_CLASSES = 3
LABELLED_IDS = [0, 1, 2, 3, 4, 5]
POOL_SIZE = NUM_ITEMS - len(LABELLED_IDS)
BATCH_SIZE = 8



# ------------------------------------------------------------------ data


def make_features(num_items: int = NUM_ITEMS) -> Tensor:
    """Return random features whose last column is each item's dataset id."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(num_items, NUM_FEATURES, generator=generator)
    features[:, -1] = torch.arange(num_items, dtype=torch.float32)
    return features


def make_labels(num_items: int = NUM_ITEMS, **changed: int) -> Tensor:
    """Labels ``id % 3``, with ``changed`` mapping ``"id<n>"`` to another label for item ``n``."""
    labels = torch.arange(num_items) % NUM_CLASSES
    for name, label in changed.items():
        labels[int(name.removeprefix("id"))] = label
    return labels


def make_dataset(num_items: int = NUM_ITEMS, labels: Tensor | None = None) -> TensorDataset:
    return TensorDataset(
        make_features(num_items), make_labels(num_items) if labels is None else labels
    )


class MappingDataset(Dataset):
    """Items ``{"features": ..., "label": ...}``."""

    def __init__(self, labels: Tensor | None = None) -> None:
        self.features = make_features()
        self.labels = make_labels() if labels is None else labels

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"features": self.features[index], "label": self.labels[index]}


class ResizableDataset(Dataset):
    """``(features, label)`` items whose count a test changes with :meth:`resize`."""

    def __init__(self) -> None:
        self.features = make_features()
        self.labels = make_labels()
        self.length = NUM_ITEMS

    def resize(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.features[index % NUM_ITEMS], self.labels[index % NUM_ITEMS]


class Stream(IterableDataset):
    def __iter__(self):
        return iter(range(3))


def make_datamodule(
    dataset: Dataset | None = None, labelled: Any = LABELLED_IDS, **kwargs: Any
) -> ActiveDataModule:
    """Build a data module over ``dataset`` (``make_dataset()`` by default) with ids labelled."""
    return ActiveDataModule(
        make_dataset() if dataset is None else dataset,
        initial_labels=None if labelled is None else list(labelled),
        batch_size=BATCH_SIZE,
        eval_batch_size=BATCH_SIZE,
        seed=0,
        **kwargs,
    )


# ----------------------------------------------------------------- model


LogitsRewrite = Callable[[Tensor, Tensor], Any]


class Classifier(pl.LightningModule):
    """A linear classifier that counts its fits.

    ``output`` rewrites what ``forward`` returns, to make scoring fail.
    Training uses the plain logits, so a run that the trainer does not stop
    early trains before the rewrite shows.

    Args:
        num_classes: Number of logits per item.
        output: ``output(logits, features)`` returns what ``forward`` returns.
        dropout: Put a ``torch.nn.Dropout`` before the head.
        linear: Use a ``torch.nn.Linear`` head; ``False`` uses a bare weight matrix.
    """

    def __init__(
        self,
        *,
        num_classes: int = NUM_CLASSES,
        output: LogitsRewrite | None = None,
        dropout: bool = False,
        linear: bool = True,
    ) -> None:
        super().__init__()
        self.fit_starts = 0
        self.output = output
        self.dropout = nn.Dropout(0.2) if dropout else nn.Identity()
        if linear:
            self.head = nn.Linear(NUM_FEATURES, num_classes)
        else:
            self.weight = nn.Parameter(0.1 * torch.randn(NUM_FEATURES, num_classes))

    def logits(self, features: Tensor) -> Tensor:
        hidden = self.dropout(features)
        return self.head(hidden) if hasattr(self, "head") else hidden @ self.weight

    def forward(self, features: Tensor) -> Any:
        logits = self.logits(features)
        return logits if self.output is None else self.output(logits, features)

    def on_fit_start(self) -> None:
        self.fit_starts += 1

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        if isinstance(batch, Mapping):
            features, labels = batch["features"], batch["label"]
        else:
            features, labels = batch[0], batch[-1]
        return F.cross_entropy(self.logits(features), labels)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def nan_at(*dataset_ids: int) -> LogitsRewrite:
    """Return a rewrite that sets the logits of the items ``dataset_ids`` to NaN."""

    def rewrite(logits: Tensor, features: Tensor) -> Tensor:
        chosen = torch.isin(features[:, -1], torch.tensor(dataset_ids, dtype=features.dtype))
        return logits.masked_fill(chosen.unsqueeze(1), math.nan)

    return rewrite


def first_logit(logits: Tensor, features: Tensor) -> Tensor:
    return logits[:, 0]


def first_row(logits: Tensor, features: Tensor) -> Tensor:
    return logits[:1]


def quiet_trainer() -> energizer.Trainer:
    return energizer.Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


class Case(NamedTuple):
    """What one ``active_fit`` or ``query`` row runs.

    Attributes:
        model: The wrapped model, which counts its fits.
        strategy: First argument of the call.
        datamodule: Second argument of the call.
        arguments: Keyword arguments of the call.
        fits: Fits that run before the error: 1 for a dataset that changes
            after the first round, 0 otherwise.
        saved: For a dataset that changes after the first round, filled by
            ``on_round_end`` with the labelled state just before the change.
    """

    model: Classifier
    strategy: Any
    datamodule: Any
    arguments: dict[str, Any]
    fits: int = 0
    saved: dict[str, Any] | None = None


def case(
    strategy_class: type = EntropyStrategy,
    *,
    model: Classifier | None = None,
    dataset: Dataset | None = None,
    labelled: Any = LABELLED_IDS,
    data_options: dict[str, Any] | None = None,
    strategy_options: dict[str, Any] | None = None,
    **arguments: Any,
) -> Case:
    """Build a row's model, strategy and data module; ``arguments`` are the call's keywords."""
    model = Classifier() if model is None else model
    strategy = strategy_class(model, seed=0, **(strategy_options or {}))
    datamodule = make_datamodule(dataset, labelled, **(data_options or {}))
    return Case(model, strategy, datamodule, arguments)


def resized_after_first_round(new_length: int) -> Case:
    """A run whose dataset changes to ``new_length`` items in ``on_round_end`` of round 0."""
    dataset = ResizableDataset()
    model = Classifier()
    datamodule = make_datamodule(dataset)
    saved: dict[str, Any] = {}

    def on_round_end(record: Any) -> None:
        saved["state"] = datamodule.state_dict()
        dataset.resize(new_length)

    arguments = {"query_size": 2, "max_rounds": 3, "on_round_end": on_round_end}
    return Case(model, EntropyStrategy(model, seed=0), datamodule, arguments, fits=1, saved=saved)


def resized_before_run(new_length: int) -> Case:
    dataset = ResizableDataset()
    built = case(dataset=dataset, query_size=2, max_rounds=2)
    dataset.resize(new_length)
    return built


def model_case(model: Classifier, strategy_class: type = EntropyStrategy, **arguments: Any) -> Case:
    return case(strategy_class, model=model, **arguments)


# ----------------------------------------------------- ActiveDataModule(...)


DATAMODULE_CASES = [
    pytest.param(
        lambda: ActiveDataModule(TensorDataset(torch.empty(0, NUM_FEATURES), torch.empty(0))),
        InvalidArgumentError,
        r"Invalid `train_dataset`: expected a dataset with at least one item, received an empty "
        r"dataset \(a TensorDataset of length 0\)\. Check how the dataset is built",
        id="empty-dataset",
    ),
    pytest.param(
        lambda: ActiveDataModule(Stream()),
        InvalidArgumentError,
        r"expected a map-style dataset with __len__ and __getitem__, received a Stream without a "
        r"length\. Wrap an iterable dataset in a map-style one",
        id="iterable-dataset",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), pool_dataset=make_dataset(10)),
        InvalidArgumentError,
        r"Invalid `pool_dataset`: expected the same items as train_dataset \(24 items\), received "
        r"a dataset of 10 items\. Build pool_dataset over the same items",
        id="pool-dataset-length",
    ),
    *[
        pytest.param(
            lambda count=count: ActiveDataModule(make_dataset(), initial_labels=count),
            InvalidArgumentError,
            r"Invalid `initial_labels`: expected a count between 1 and the dataset's 24 items, "
            rf"received {count}\. Pass a smaller count",
            id=f"initial-count-{count}",
        )
        for count in (0, 25)
    ],
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), initial_labels=2.5),
        InvalidArgumentError,
        r"Invalid `initial_labels`: expected a count \(int\) or a sequence of dataset ids, "
        r"received 2\.5\. Pass for example initial_labels=20",
        id="initial-count-float",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), initial_labels="5"),
        InvalidArgumentError,
        r"Invalid `initial_labels`: .* received '5'\. Pass for example initial_labels=20",
        id="initial-count-string",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), initial_labels=[1, 1]),
        LabellingError,
        r"Invalid `ids`: expected distinct ids, received repeated ids \[1\]\. Pass each item "
        r"once\.",
        id="initial-ids-repeated",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), initial_labels=[3, 24]),
        LabellingError,
        r"Invalid `ids`: expected ids in \[0, 23\], received \[24\]\. .*pass only ids from "
        r"datamodule\.pool_ids\.",
        id="initial-ids-out-of-range",
    ),
    *[
        pytest.param(
            lambda name=name: ActiveDataModule(make_dataset(), **{name: 0}),
            InvalidArgumentError,
            rf"Invalid `{name}`: expected a positive integer, received 0\. Pass {name} >= 1\.",
            id=f"{name}-zero",
        )
        for name in ("batch_size", "eval_batch_size")
    ],
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), num_workers=-1),
        InvalidArgumentError,
        r"Invalid `num_workers`: expected an integer >= 0, received -1\. Pass num_workers=0 or "
        r"more\.",
        id="num-workers-negative",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), seed=-1),
        InvalidArgumentError,
        r"Invalid `seed`: expected None or an integer >= 0, received -1\. Pass e\.g\. seed=0\.",
        id="seed-negative",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), seed="0"),
        InvalidArgumentError,
        r"Invalid `seed`: expected None or an integer >= 0, received '0'\. Pass e\.g\. seed=0\.",
        id="seed-string",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), val_fraction=1.5),
        InvalidArgumentError,
        r"Invalid `val_fraction`: expected a number strictly between 0 and 1, received 1\.5\. "
        r"Pass e\.g\. val_fraction=0\.1\.",
        id="val-fraction-above-one",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), val_dataset=make_dataset(4), val_fraction=0.2),
        InvalidArgumentError,
        r"Invalid `val_fraction`: expected None when val_dataset is given, received 0\.2\. Pass "
        r"either a validation dataset or a fraction",
        id="val-fraction-and-dataset",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), initial_labels=4, initial_sampling="balanced"),
        InvalidArgumentError,
        r"Invalid `initial_sampling`: expected one of 'random', 'stratified', received "
        r"'balanced'\. Choose one of the listed sampling rules\.",
        id="initial-sampling-unknown",
    ),
    pytest.param(
        lambda: ActiveDataModule(
            make_dataset(), initial_labels=4, initial_sampling="stratified", targets=[0, 1] * 5
        ),
        InvalidArgumentError,
        r"Invalid `targets`: expected one class per item, shape \(24,\), received an array of "
        r"shape \(10,\)\. Pass targets=\.\.\. with one integer class per dataset item\.",
        id="targets-length",
    ),
    pytest.param(
        lambda: ActiveDataModule(make_dataset(), collate_fn="default"),
        InvalidArgumentError,
        r"Invalid `collate_fn`: expected None or a function of a list of items, received a str\. "
        r"Pass collate_fn=None or a function\.",
        id="collate-fn-not-callable",
    ),
]


@pytest.mark.parametrize(("build", "error", "pattern"), DATAMODULE_CASES)
def test_datamodule_rejects(build, error, pattern):
    with pytest.raises(error, match=pattern):
        build()


# ------------------------------------------------ ActiveDataModule.label(...)


LABEL_CASES = [
    pytest.param(
        [7, 7],
        {},
        r"Invalid `ids`: expected distinct ids, received repeated ids \[7\]\. Pass each item "
        r"once\.",
        id="repeated-ids",
    ),
    pytest.param(
        [7, 24],
        {},
        r"Invalid `ids`: expected ids in \[0, 23\], received \[24\]\. Ids index the original "
        r"dataset of 24 items: pass only ids from datamodule\.pool_ids\.",
        id="id-equal-to-length",
    ),
    pytest.param(
        [7, -1], {}, r"expected ids in \[0, 23\], received \[-1\]\. .*pool_ids", id="negative-id"
    ),
    pytest.param(
        [7, 3],
        {},
        r"Invalid `ids`: 1 of them are already labelled \(for example \[3\]\)\. Label only pool "
        r"items \(datamodule\.pool_ids\)\.",
        id="already-labelled",
    ),
    pytest.param(
        [7.0, 8.0],
        {},
        r"Invalid `ids`: expected integer dataset ids, received dtype float64 \(first values "
        r"\[7\.0, 8\.0\]\)\. Pass integer indices into the dataset\.",
        id="float-ids",
    ),
    pytest.param(
        np.arange(NUM_ITEMS) == 7,
        {},
        r"expected integer dataset ids, received dtype bool .* Pass integer indices",
        id="boolean-mask",
    ),
    pytest.param(
        [[7, 8], [9, 10]],
        {},
        r"expected a flat sequence of dataset ids, received an array of shape \(2, 2\)\. Pass the "
        r"ids as a list or a 1-D array\.",
        id="2-d-ids",
    ),
    pytest.param(
        7,
        {},
        r"expected a flat sequence of dataset ids, received the single value 7\. Pass the ids as "
        r"a list",
        id="scalar-id",
    ),
    pytest.param(
        "7",
        {},
        r"received the single value '7'\. Pass the ids as a list or a 1-D array",
        id="string-id",
    ),
    pytest.param(
        [7],
        {"round": -1},
        r"Invalid `round`: expected an integer >= 0, received -1\. Omit it to record",
        id="negative-round",
    ),
    pytest.param(
        [7],
        {"round": 1.5},
        r"Invalid `round`: expected an integer >= 0, received 1\.5\. Omit it",
        id="float-round",
    ),
]


@pytest.mark.parametrize(("ids", "options", "pattern"), LABEL_CASES)
def test_label_rejects(ids, options, pattern):
    datamodule = make_datamodule(val_fraction=0.5)
    state_before = datamodule.state_dict()

    with pytest.raises(LabellingError, match=pattern):
        datamodule.label(ids, **options)

    assert datamodule.state_dict() == state_before


# ------------------------------------------------------ Trainer.active_fit(...)


ACTIVE_FIT_CASES = [
    *[
        pytest.param(
            lambda size=size: case(query_size=size),
            InvalidArgumentError,
            rf"Invalid `query_size`: expected an integer >= 1, received {received}\. Pass "
            r"query_size as a whole number, at least 1\.",
            id=f"query-size-{name}",
        )
        for size, received, name in (
            (0, "0", "zero"),
            (-2, "-2", "negative"),
            (2.5, r"2\.5", "float"),
            (True, "True", "bool"),
        )
    ],
    pytest.param(
        lambda: case(query_size=POOL_SIZE + 1, max_rounds=1),
        InvalidArgumentError,
        rf"Invalid `query_size`: expected at most the {POOL_SIZE} unlabelled items in the pool, "
        rf"received {POOL_SIZE + 1}\. Pass query_size={POOL_SIZE} or less",
        id="query-size-above-pool",
    ),
    pytest.param(
        lambda: case(query_size=2, max_rounds=0),
        InvalidArgumentError,
        r"Invalid `max_rounds`: expected an integer >= 1, received 0\. Pass max_rounds as a whole "
        r"number",
        id="max-rounds-zero",
    ),
    pytest.param(
        lambda: case(query_size=2, max_budget=4),
        InvalidArgumentError,
        r"Invalid `max_budget`: expected at least the 6 items already labelled, received 4\. "
        r"Raise max_budget, or start with fewer initial labels\.",
        id="budget-below-initial-labels",
    ),
    pytest.param(
        lambda: case(labelled=None, query_size=2),
        InvalidArgumentError,
        r"Invalid `datamodule`: expected at least one labelled item to train the first round on, "
        r"received no labelled item\. Pass initial_labels=",
        id="no-labelled-item",
    ),
    pytest.param(
        lambda: case()._replace(strategy=Classifier(), arguments={"query_size": 2}),
        InvalidArgumentError,
        r"Invalid `strategy`: expected a QueryStrategy wrapping the model, received a "
        r"Classifier\. Wrap the model first",
        id="strategy-is-model",
    ),
    pytest.param(
        lambda: case()._replace(datamodule=pl.LightningDataModule(), arguments={"query_size": 2}),
        InvalidArgumentError,
        r"Invalid `datamodule`: expected an energizer\.ActiveDataModule, received a "
        r"LightningDataModule\. Wrap the datasets in ActiveDataModule",
        id="plain-datamodule",
    ),
    pytest.param(
        lambda: case(strategy_options={"subpool_size": 4}, query_size=5),
        InvalidArgumentError,
        r"Invalid `subpool_size`: expected at least query_size=5, since the query is chosen from "
        r"the sub-pool, received 4\. Raise subpool_size",
        id="subpool-below-query-size",
    ),
    *[
        pytest.param(
            lambda strategy_class=strategy_class: case(strategy_class, query_size=2),
            MissingDropoutError,
            rf"{strategy_class.__name__} samples predictions with Monte Carlo dropout, but the "
            r"model Classifier has no torch\.nn dropout layer\. Add a torch\.nn\.Dropout",
            id=f"{strategy_class.__name__}-without-dropout",
        )
        for strategy_class in (BALDStrategy, BatchBALDStrategy)
    ],
    pytest.param(
        lambda: model_case(Classifier(linear=False), CoresetStrategy, query_size=2),
        InvalidArgumentError,
        r"Invalid `model`: expected a model with a torch\.nn\.Linear layer, whose input "
        r"CoresetStrategy uses as the embedding, received a Classifier without one\. Override "
        r"get_embeddings",
        id="coreset-without-linear",
    ),
    pytest.param(
        lambda: case(dataset=make_dataset(labels=make_labels(id2=3)), query_size=2, max_rounds=1),
        InvalidArgumentError,
        r"Invalid `train_dataset`: expected class labels from 0 to 2, because the model returns 3 "
        r"logits per item, received label 3 at dataset id 2\. Map the labels to class indices 0 "
        r"to 2",
        id="label-above-class-count",
    ),
    pytest.param(
        lambda: case(
            dataset=make_dataset(labels=make_labels(id2=-1, id4=-1)), query_size=2, max_rounds=1
        ),
        InvalidArgumentError,
        r"received label -1 at dataset id 2 \(2 of 6 items have labels outside that range, ids "
        r"\[2, 4\]\)\. Map the labels",
        id="negative-labels",
    ),
    pytest.param(
        lambda: case(
            dataset=MappingDataset(make_labels(id5=7)),
            data_options={"target_key": "label"},
            query_size=2,
            max_rounds=1,
        ),
        InvalidArgumentError,
        r"expected class labels from 0 to 2, .* received label 7 at dataset id 5\. Map the labels",
        id="label-above-class-count-in-mapping",
    ),
    pytest.param(
        lambda: case(
            dataset=MappingDataset(),
            data_options={"target_key": "target"},
            query_size=2,
            max_rounds=1,
        ),
        InvalidArgumentError,
        r"Invalid `target_key`: expected the key or position of the target in the batch, which is "
        r"a dict with keys \['features', 'label'\], received 'target'\. Set the data module's "
        r"target_key",
        id="batch-without-target-key",
    ),
    pytest.param(
        lambda: case(dataset=MappingDataset(), query_size=2, max_rounds=1),
        InvalidArgumentError,
        r"Invalid `target_key`: .* received None, which leaves the model inputs with keys "
        r"\['features', 'label'\], and Classifier\.forward takes no \['label'\]\. If 'label' "
        r"contains the target, pass target_key='label'",
        id="target-left-in-mapping-batch",
    ),
    pytest.param(
        lambda: case(
            dataset=TensorDataset(make_features(), torch.ones(NUM_ITEMS), make_labels()),
            query_size=2,
            max_rounds=1,
        ),
        InvalidArgumentError,
        r"Invalid `target_key`: .* received None, which gave the model a list of 3 elements "
        r"\(Tensor of shape \(4, 4\), Tensor of shape \(4,\), Tensor of shape \(4,\)\), and "
        r"Classifier raised TypeError: .* If the batch carries the target, set the data module's "
        r"target_key",
        id="target-left-in-sequence-batch",
    ),
    pytest.param(
        lambda: model_case(Classifier(output=first_logit), query_size=2, max_rounds=1),
        InvalidScoresError,
        r"EntropyStrategy expected the model to return logits of shape \(batch_size, "
        r"num_classes\) with batch_size 4, but it returned \(4,\) in round 0\. Make forward "
        r"return logits",
        id="wrong-logits-shape",
    ),
    pytest.param(
        lambda: model_case(Classifier(output=nan_at(2)), query_size=2, max_rounds=1),
        InvalidScoresError,
        r"The model returned NaN or \+inf logits for 1 of 4 items of a labelled batch \(dataset "
        r"ids \[2\]\) in round 0\. Training has probably diverged",
        id="nan-logits-of-labelled-item",
    ),
    pytest.param(
        lambda: resized_before_run(NUM_ITEMS + 2),
        DatasetChangedError,
        r"The dataset has 26 items but the labelled state was built for 24\. .* build a new "
        r"ActiveDataModule for the new dataset\.",
        id="dataset-grown-before-run",
    ),
    *[
        pytest.param(
            lambda length=length: resized_after_first_round(length),
            DatasetChangedError,
            rf"The dataset has {length} items but the labelled state was built for 24\. .* build "
            r"a new ActiveDataModule for the new dataset\.",
            id=f"dataset-{name}-between-rounds",
        )
        for length, name in ((NUM_ITEMS + 2, "grown"), (NUM_ITEMS - 4, "shrunk"), (0, "emptied"))
    ],
]


@pytest.mark.parametrize(("make_case", "error", "pattern"), ACTIVE_FIT_CASES)
def test_active_fit_rejects(make_case, error, pattern):
    row = make_case()
    datamodule = (
        row.datamodule if isinstance(row.datamodule, ActiveDataModule) else make_datamodule()
    )
    state_before = datamodule.state_dict()

    with pytest.raises(error, match=pattern):
        quiet_trainer().active_fit(row.strategy, row.datamodule, **row.arguments)

    assert row.model.fit_starts == row.fits
    assert datamodule.state_dict() == (state_before if row.saved is None else row.saved["state"])


# ----------------------------------------------------------- Trainer.query(...)


QUERY_CASES = [
    *[
        pytest.param(
            lambda size=size: case(query_size=size),
            InvalidArgumentError,
            rf"Invalid `query_size`: expected an integer >= 1, received {received}\. Pass "
            r"query_size as a whole number",
            id=f"query-size-{name}",
        )
        for size, received, name in (
            (0, "0", "zero"),
            (-2, "-2", "negative"),
            (2.5, r"2\.5", "float"),
            (True, "True", "bool"),
        )
    ],
    pytest.param(
        lambda: case(query_size=POOL_SIZE + 1),
        InvalidArgumentError,
        rf"Invalid `query_size`: expected at most the {POOL_SIZE} unlabelled items in the pool, "
        rf"received {POOL_SIZE + 1}\. Pass query_size={POOL_SIZE} or less",
        id="query-size-above-pool",
    ),
    pytest.param(
        lambda: case(labelled=range(NUM_ITEMS), query_size=1),
        EmptyPoolError,
        r"Cannot query: all 24 items are labelled, so the pool is empty\. Stop the run",
        id="empty-pool",
    ),
    pytest.param(
        lambda: resized_before_run(NUM_ITEMS - 4)._replace(arguments={"query_size": 2}),
        DatasetChangedError,
        r"The dataset has 20 items but the labelled state was built for 24\. .* build a new "
        r"ActiveDataModule",
        id="dataset-shrunk",
    ),
    *[
        pytest.param(
            lambda strategy_class=strategy_class: case(strategy_class, query_size=2),
            MissingDropoutError,
            rf"{strategy_class.__name__} samples predictions with Monte Carlo dropout, but the "
            r"model Classifier has no torch\.nn dropout layer\. Add a torch\.nn\.Dropout",
            id=f"{strategy_class.__name__}-without-dropout",
        )
        for strategy_class in (BALDStrategy, BatchBALDStrategy)
    ],
    pytest.param(
        lambda: model_case(Classifier(linear=False), CoresetStrategy, query_size=2),
        InvalidArgumentError,
        r"Invalid `model`: expected a model with a torch\.nn\.Linear layer, .* received a "
        r"Classifier without one\. Override get_embeddings",
        id="coreset-without-linear",
    ),
    pytest.param(
        lambda: case(dataset=MappingDataset(), data_options={"target_key": "target"}, query_size=2),
        InvalidArgumentError,
        r"Invalid `target_key`: expected the key or position of the target in the batch, which is "
        r"a dict with keys \['features', 'label'\], received 'target'\. Set the data module's "
        r"target_key .* or override get_inputs_from_batch\(batch\)",
        id="batch-without-target-key",
    ),
    pytest.param(
        lambda: case(data_options={"target_key": 2}, query_size=2),
        InvalidArgumentError,
        r"Invalid `target_key`: expected the key or position of the target in the batch, which is "
        r"a list of 2 elements \(Tensor of shape \(\d+, 4\), Tensor of shape \(\d+,\)\), received 2\. "
        r"Set the data module's target_key",
        id="batch-without-target-position",
    ),
    pytest.param(
        lambda: case(data_options={"target_key": "label"}, query_size=2),
        InvalidArgumentError,
        r"which is a list of 2 elements .* received 'label'\. Set the data module's target_key",
        id="key-on-sequence-batch",
    ),
    pytest.param(
        lambda: case(dataset=MappingDataset(), query_size=2),
        InvalidArgumentError,
        r"Invalid `target_key`: .* received None, which leaves the model inputs with keys "
        r"\['features', 'label'\], and Classifier\.forward takes no \['label'\]\. If 'label' "
        r"contains the target, pass target_key='label' to the data module; otherwise override "
        r"get_inputs_from_batch",
        id="target-left-in-mapping-batch",
    ),
    pytest.param(
        lambda: case(
            dataset=TensorDataset(make_features(), torch.ones(NUM_ITEMS), make_labels()),
            query_size=2,
        ),
        InvalidArgumentError,
        r"Invalid `target_key`: .* received None, which gave the model a list of 3 elements "
        r"\(Tensor of shape \(\d+, 4\), Tensor of shape \(\d+,\), Tensor of shape \(\d+,\)\), and "
        r"Classifier raised TypeError: .* If the batch carries the target, set the data module's "
        r"target_key",
        id="target-left-in-sequence-batch",
    ),
    pytest.param(
        lambda: model_case(Classifier(output=first_logit), query_size=2),
        InvalidScoresError,
        r"EntropyStrategy expected the model to return logits of shape \(batch_size, "
        r"num_classes\) with batch_size (\d+), but it returned \(\1,\) in round 0\. Make forward "
        r"return logits",
        id="one-dim-logits",
    ),
    pytest.param(
        lambda: model_case(Classifier(output=first_row), query_size=2),
        InvalidScoresError,
        r"expected the model to return logits of shape \(batch_size, num_classes\) with "
        r"batch_size \d+, but it returned \(1, 3\) in round 0\.",
        id="logits-of-one-row",
    ),
    pytest.param(
        lambda: model_case(Classifier(output=nan_at(9, 11)), query_size=2),
        InvalidScoresError,
        r"The model returned NaN or \+inf logits for 2 of 8 items of a pool batch \(dataset ids "
        r"\[9, 11\]\) in round 0\. Training has probably diverged: lower the learning rate, or "
        r"check the inputs",
        id="nan-logits",
    ),
    pytest.param(
        lambda: model_case(
            Classifier(output=nan_at(9), dropout=True),
            BALDStrategy,
            strategy_options={"num_samples": 3},
            query_size=2,
        ),
        InvalidScoresError,
        r"The model returned NaN or \+inf logits for 1 of 8 items of a pool batch \(dataset ids "
        r"\[9\]\) in round 0\.",
        id="nan-monte-carlo-logits",
    ),
    pytest.param(
        lambda: model_case(
            Classifier(output=nan_at(9), dropout=True),
            BALDStrategy,
            strategy_options={"num_samples": 3, "stack_samples": False},
            query_size=2,
        ),
        InvalidScoresError,
        r"NaN or \+inf logits for 1 of 8 items of a pool batch \(dataset ids \[9\]\) in round 0\.",
        id="nan-monte-carlo-logits-unstacked",
    ),
]


@pytest.mark.parametrize(("make_case", "error", "pattern"), QUERY_CASES)
def test_query_rejects(make_case, error, pattern):
    row = make_case()
    state_before = row.datamodule.state_dict()

    with pytest.raises(error, match=pattern):
        quiet_trainer().query(row.strategy, row.datamodule, **row.arguments)

    assert row.model.fit_starts == 0
    assert row.datamodule.state_dict() == state_before


# ---------------------------------------------------- strategy constructors


STRATEGY_CASES = [
    pytest.param(
        lambda: EntropyStrategy("model"),
        r"Invalid `model`: expected a torch\.nn\.Module \(usually a LightningModule\), received a "
        r"str\. Pass the model to wrap: EntropyStrategy\(MyLightningModel\(\)\)\.",
        id="model-is-string",
    ),
    *[
        pytest.param(
            lambda value=value: EntropyStrategy(Classifier(), subpool_size=value),
            rf"Invalid `subpool_size`: expected a positive integer or None, received {received}\. "
            r"Pass e\.g\. subpool_size=10_000",
            id=f"subpool-size-{name}",
        )
        for value, received, name in (
            (0, "0", "zero"),
            (True, "True", "bool"),
            (2.5, r"2\.5", "float"),
        )
    ],
    *[
        pytest.param(
            lambda value=value: EntropyStrategy(Classifier(), seed=value),
            r"Invalid `seed`: expected None or an integer between 0 and 2\*\*32 - 1, received "
            rf"{received}\. Pass e\.g\. seed=0\.",
            id=f"seed-{name}",
        )
        for value, received, name in (
            (-1, "-1", "negative"),
            (2**32, "4294967296", "too-large"),
            (1.5, r"1\.5", "float"),
        )
    ],
    pytest.param(
        lambda: EntropyStrategy(Classifier(), selection="top-k"),
        r"Invalid `selection`: expected an energizer\.selection\.Selection such as TopK\(\) or "
        r"PowerSampling\(\), received a str\. Pass a selection step",
        id="selection-is-string",
    ),
    pytest.param(
        lambda: EntropyStrategy(Classifier(), selection=TopK),
        r"Invalid `selection`: expected an instance of a selection step, such as TopK\(\), "
        r"received the class TopK\. Call the class to build the step: selection=TopK\(\.\.\.\)\.",
        id="selection-is-class",
    ),
    *[
        pytest.param(
            lambda value=value: BALDStrategy(Classifier(dropout=True), num_samples=value),
            r"Invalid `num_samples`: expected an integer >= 2 \(Monte Carlo samples per item\), "
            rf"received {received}\. Pass e\.g\. num_samples=20\.",
            id=f"num-samples-{name}",
        )
        for value, received, name in ((1, "1", "one"), (2.5, r"2\.5", "float"))
    ],
    pytest.param(
        lambda: BALDStrategy(Classifier(dropout=True), consistent_masks="yes"),
        r"Invalid `consistent_masks`: expected True or False, received 'yes'\. Pass "
        r"consistent_masks=True",
        id="consistent-masks-string",
    ),
    pytest.param(
        lambda: BatchBALDStrategy(Classifier(dropout=True), candidates=0),
        r"Invalid `candidates`: expected a positive integer or None, received 0\. Pass e\.g\. "
        r"candidates=1000\.",
        id="candidates-zero",
    ),
    pytest.param(
        lambda: BatchBALDStrategy(Classifier(dropout=True), num_configurations=0),
        r"Invalid `num_configurations`: expected a positive integer, received 0\. Pass e\.g\. "
        r"num_configurations=10_000\.",
        id="num-configurations-zero",
    ),
    pytest.param(
        lambda: PowerBALDStrategy(Classifier(dropout=True), temperature=0),
        r"Invalid `temperature`: expected a finite number greater than 0, received 0\. Pass a "
        r"temperature such as 1\.0\.",
        id="temperature-zero",
    ),
    pytest.param(
        lambda: TypiClustStrategy(Classifier(), num_neighbors=0),
        r"Invalid `num_neighbors`: expected an integer >= 1, received 0\. Pass e\.g\. "
        r"num_neighbors=20\.",
        id="num-neighbors-zero",
    ),
    pytest.param(
        lambda: ClusterMarginStrategy(Classifier(), candidate_multiple=0.5),
        r"Invalid `candidate_multiple`: expected a number >= 1 \(candidates per queried item\), "
        r"received 0\.5\. Pass e\.g\. candidate_multiple=10\.",
        id="candidate-multiple-below-one",
    ),
]


@pytest.mark.parametrize(("build", "pattern"), STRATEGY_CASES)
def test_strategy_rejects(build, pattern):
    with pytest.raises(InvalidArgumentError, match=pattern):
        build()


# --------------------------------------------------- acquisition functions


def mc_logits(num_items: int) -> Tensor:
    return torch.randn(num_items, 4, 3, generator=torch.Generator().manual_seed(0))


def with_nan(logits: Tensor, row: int) -> Tensor:
    changed = logits.clone()
    changed[row, ..., 0] = math.nan
    return changed


ACQUISITION_CASES = [
    pytest.param(
        entropy,
        (torch.zeros(4, 2, 3),),
        InvalidArgumentError,
        r"Invalid `logits`: expected a 2-D tensor of shape \(N, C\), received shape \(4, 2, 3\)\. "
        r"Reshape it to \(N, C\).* need a Bayesian acquisition function",
        id="entropy-3-d",
    ),
    pytest.param(
        bald,
        (torch.zeros(4, 3),),
        InvalidArgumentError,
        r"Invalid `logits`: expected a 3-D tensor of shape \(N, T, C\), with Monte Carlo samples "
        r"on dim 1, received shape \(4, 3\)\. Logits of a single deterministic pass.* need a "
        r"single-pass function",
        id="bald-2-d",
    ),
    pytest.param(
        batch_bald,
        (torch.zeros(4, 3), 2),
        InvalidArgumentError,
        r"Invalid `logits`: expected a 3-D tensor of shape \(N, T, C\), received shape \(4, 3\)\. "
        r"Reshape it",
        id="batch-bald-2-d",
    ),
    pytest.param(
        margin,
        (with_nan(torch.zeros(4, 3), 2),),
        InvalidArgumentError,
        r"Invalid `logits`: expected finite values or -inf, received NaN or \+inf in 1 of 4 rows "
        r"\(first at row 2\)\. Check the model for overflow",
        id="margin-nan",
    ),
    pytest.param(
        bald,
        (with_nan(mc_logits(5), 3),),
        InvalidArgumentError,
        r"received NaN or \+inf in 1 of 5 rows \(first at row 3\)\. Check the model for overflow",
        id="bald-nan",
    ),
    pytest.param(
        batch_bald,
        (with_nan(mc_logits(5), 1), 2),
        InvalidArgumentError,
        r"received NaN or \+inf in 1 of 5 rows \(first at row 1\)\. Check the model for overflow",
        id="batch-bald-nan",
    ),
    pytest.param(
        entropy,
        (torch.empty(4, 0),),
        InvalidArgumentError,
        r"Invalid `logits`: expected a last \(class\) dim of size C >= 1, received shape \(4, "
        r"0\)\. Check that the last dim contains one logit per class\.",
        id="entropy-no-class",
    ),
    pytest.param(
        margin,
        (torch.zeros(4, 1),),
        InvalidArgumentError,
        r"expected a last \(class\) dim of size C >= 2, received shape \(4, 1\)\. Check that the "
        r"last dim",
        id="margin-one-class",
    ),
    pytest.param(
        bald,
        (torch.empty(4, 0, 3),),
        InvalidArgumentError,
        r"expected at least one Monte Carlo sample on dim 1 \(T >= 1\), received shape \(4, 0, "
        r"3\)\. Run at least one stochastic forward pass",
        id="bald-no-sample",
    ),
    pytest.param(
        batch_bald,
        (mc_logits(5), 6),
        InvalidArgumentError,
        r"Invalid `query_size`: expected an int between 1 and 5 \(the number of pool items\), "
        r"received 6\. Request at least one item and no more items than the pool contains\.",
        id="batch-bald-k-above-n",
    ),
    pytest.param(
        batch_bald,
        (mc_logits(5), 0),
        InvalidArgumentError,
        r"Invalid `query_size`: expected an int between 1 and 5 .* received 0\. Request at least "
        r"one item",
        id="batch-bald-k-zero",
    ),
    pytest.param(
        batch_bald,
        (torch.empty(0, 4, 3), 1),
        InvalidArgumentError,
        r"Invalid `query_size`: expected an int between 1 and 0 \(the number of pool items\), "
        r"received 1\.",
        id="batch-bald-no-item",
    ),
    pytest.param(
        batch_bald,
        (mc_logits(5), 2.0),
        TypeError,
        r"Invalid `query_size`: expected an int, received float\. Pass query_size as a Python "
        r"int\.",
        id="batch-bald-float-k",
    ),
    pytest.param(
        entropy,
        ([[0.0, 1.0]],),
        TypeError,
        r"Invalid `logits`: expected a torch\.Tensor of shape \(N, C\), received list\. Convert "
        r"it with torch\.as_tensor",
        id="entropy-list",
    ),
    pytest.param(
        entropy,
        (torch.zeros(4, 3, dtype=torch.int64),),
        TypeError,
        r"Invalid `logits`: expected a floating dtype such as torch\.float32, received "
        r"torch\.int64\. Pass the model's raw outputs",
        id="entropy-integer-dtype",
    ),
]


@pytest.mark.parametrize(("function", "arguments", "error", "pattern"), ACQUISITION_CASES)
def test_acquisition_rejects(function, arguments, error, pattern):
    with pytest.raises(error, match=pattern):
        function(*arguments)


# ------------------------------------------------------- energizer simulate


SIMULATE_CASES = [
    pytest.param(
        ["--query-size", "0"],
        r"argument --query-size: expected a whole number >= 1, received 0",
        id="query-size-zero",
    ),
    pytest.param(
        ["--query-size", "-3"],
        r"argument --query-size: expected a whole number >= 1, received -3",
        id="query-size-negative",
    ),
    pytest.param(
        ["--query-size", "2.5"],
        r"argument --query-size: expected a whole number, received '2\.5'",
        id="query-size-float",
    ),
    pytest.param(
        ["--rounds", "0"],
        r"argument --rounds: expected a whole number >= 1, received 0",
        id="rounds-zero",
    ),
    pytest.param(
        ["--dataset", "wine", "--initial-labels", "500"],
        r"argument --initial-labels: 500 leaves no pool; the wine train split has 124 items",
        id="initial-labels-above-dataset",
    ),
    pytest.param(
        [
            "--dataset",
            "wine",
            "--initial-labels",
            "100",
            "--query-size",
            "50",
            "--strategy",
            "random",
            "--rounds",
            "2",
            "--max-steps",
            "1",
        ],
        r"argument --query-size: .*\b50\b.*\b24\b",
        id="query-size-above-pool",
    ),
    pytest.param(
        ["--strategy", "entropy,coreset2"],
        r"argument --strategy: invalid strategy 'coreset2'; choose from random, entropy",
        id="unknown-strategy",
    ),
    pytest.param(
        ["--subpool-size", "5", "--query-size", "10"],
        r"argument --subpool-size: 5 is smaller than --query-size 10; the query is chosen from "
        r"the sub-pool",
        id="subpool-below-query-size",
    ),
    pytest.param(
        ["--seed", "-1"],
        r"argument --seed: expected a seed between 0 and 2\*\*32 - 1, received -1",
        id="seed-negative",
    ),
    pytest.param(
        ["--dataset", "mnist"],
        r"argument --dataset: invalid choice: 'mnist' \(choose from 'digits'",
        id="unknown-dataset",
    ),
]


@pytest.mark.parametrize(("arguments", "pattern"), SIMULATE_CASES)
def test_simulate_rejects(arguments, pattern, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["simulate", *arguments, "--output-dir", str(tmp_path), "--quiet"])

    assert raised.value.code == 2
    assert re.search(pattern, capsys.readouterr().err)
    assert not (tmp_path / "rounds.csv").exists()
