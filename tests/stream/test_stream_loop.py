"""The stream loop on real Lightning trainers: update schedule, records, labels and the bundled digits."""

from __future__ import annotations

import itertools

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from stream_helpers import TinyClassifier, blobs, quiet_trainer_kwargs
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from energizer.datasets import load_bundled
from energizer.errors import InvalidArgumentError
from energizer.models import MLPClassifier
from energizer.stream import (
    DatasetOracle,
    EstimatedBudget,
    FixedUncertainty,
    RandomStream,
    StreamLoop,
    StreamStopReason,
    VariableUncertainty,
    run_stream,
    stream_loader,
)
from energizer.stream.labelled import LabelledItems


@pytest.fixture(autouse=True)
def seeded():
    pl.seed_everything(0, verbose=False)


POOL_COLUMNS = [
    "round",
    "num_labelled",
    "num_train",
    "num_val",
    "test_accuracy",
    "fit_seconds",
    "test_seconds",
    "query_seconds",
    "num_queried",
    "queried_ids",
]


def make_loop(dataset, **overrides) -> StreamLoop:
    options = {
        "update_every_labels": 10,
        "trainer_kwargs": quiet_trainer_kwargs(),
        "test_dataloader": DataLoader(blobs(60, seed=1), batch_size=60),
    }
    options.update(overrides)
    strategy = options.pop("strategy", VariableUncertainty())
    budget = options.pop("budget", EstimatedBudget(0.2))
    return StreamLoop(TinyClassifier(), strategy, budget, DatasetOracle(dataset), **options)


def test_rounds_partition_the_labels():
    dataset = blobs(300)
    loop = make_loop(dataset)
    results = loop.run(stream_loader(dataset, batch_size=10, seed=0))
    frame = results.to_pandas()

    queried = np.concatenate([record.queried_ids for record in results])
    assert frame["round"].tolist() == list(range(len(results)))
    assert frame["num_labelled"].iloc[0] == 0
    assert np.array_equal(np.diff(frame["num_labelled"]), frame["num_queried"].iloc[:-1])
    assert frame["num_queried"].iloc[-1] == 0
    assert np.unique(queried).size == queried.size
    assert np.array_equal(np.sort(queried), np.sort(loop.labelled.ids))
    assert results.num_labelled == queried.size
    assert results.stop_reason is StreamStopReason.STREAM_END


def test_updates_after_every_n_labels():
    dataset = blobs(300)
    loop = make_loop(dataset, update_every_labels=10)
    results = loop.run(stream_loader(dataset, batch_size=10, seed=0))
    counts = [record.num_labelled for record in results]

    assert loop.model.fit_sizes == counts[1:]
    # Every update but the last, at the stream's end, follows at least 10 new labels.
    assert all(later - earlier >= 10 for earlier, later in itertools.pairwise(counts[:-1]))
    assert len(results) >= 4


def test_updates_after_every_n_items():
    dataset = blobs(300)
    loop = make_loop(
        dataset,
        strategy=FixedUncertainty(threshold=0.0),
        update_every_labels=None,
        update_every_items=50,
    )
    results = loop.run(stream_loader(dataset, batch_size=10, seed=0))
    seen = [record.num_seen for record in results]
    assert seen == [0, 50, 100, 150, 200, 250, 300]


def test_update_without_new_labels_is_skipped():
    dataset = blobs(300)
    loop = make_loop(
        dataset,
        strategy=FixedUncertainty(threshold=1.0),
        update_every_labels=None,
        update_every_items=50,
    )
    results = loop.run(stream_loader(dataset, batch_size=10, seed=0))
    assert len(results) == 1
    assert results.num_labelled == 0
    assert loop.model.fit_sizes == []


def test_records_use_pool_columns_plus_seen():
    dataset = blobs(100)
    results = make_loop(dataset).run(stream_loader(dataset, batch_size=10, seed=0))
    columns = results.to_pandas().columns.tolist()
    assert columns == [POOL_COLUMNS[0], "num_seen", *POOL_COLUMNS[1:]]
    assert (results.to_pandas()["num_val"] == 0).all()


def test_max_items_stops_mid_batch():
    dataset = blobs(300)
    loop = make_loop(dataset)
    results = loop.run(stream_loader(dataset, batch_size=7, seed=0), max_items=100)
    assert results.stop_reason is StreamStopReason.MAX_ITEMS
    assert results.num_seen == 100
    assert loop.budget.num_seen == 100
    assert "max_items=100" in results.stop_message


def test_labelled_items_are_not_offered_again():
    dataset = blobs(100)
    loop = make_loop(dataset, strategy=FixedUncertainty(threshold=0.0), budget=EstimatedBudget(0.5))
    first = loop.run(stream_loader(dataset, batch_size=10, seed=0))
    second = loop.run(stream_loader(dataset, batch_size=10, seed=1))
    queried = np.concatenate([record.queried_ids for record in [*first, *second]])

    assert first.num_labelled > 0
    assert second.num_seen - first.num_seen == 100 - first.num_labelled
    assert np.unique(queried).size == queried.size
    assert second.num_labelled == queried.size


def test_oracle_reads_only_queried_ids():
    dataset = blobs(200)
    oracle = DatasetOracle(dataset)
    loop = StreamLoop(
        TinyClassifier(),
        VariableUncertainty(),
        EstimatedBudget(0.1),
        oracle,
        update_every_labels=10,
        trainer_kwargs=quiet_trainer_kwargs(),
    )
    results = loop.run(stream_loader(dataset, batch_size=20, seed=0))
    assert oracle.num_requests == results.num_labelled
    assert results.rounds[0].metrics == {}


def test_random_stream_never_scores():
    class CountingLoop(StreamLoop):
        scored = 0

        def score_batch(self, batch):
            CountingLoop.scored += 1
            return super().score_batch(batch)

    dataset = blobs(100)
    loop = CountingLoop(
        TinyClassifier(),
        RandomStream(seed=0),
        EstimatedBudget(0.2),
        DatasetOracle(dataset),
        update_every_labels=100,
        trainer_kwargs=quiet_trainer_kwargs(),
    )
    results = loop.run(stream_loader(dataset, batch_size=10, seed=0))
    assert CountingLoop.scored == 0
    assert results.num_labelled > 0


def test_oracle_labels_replace_targets():
    dataset = blobs(60)
    # An oracle that disagrees with the dataset: the model must train on its labels.
    loop = make_loop(dataset, strategy=FixedUncertainty(threshold=0.0), budget=EstimatedBudget(0.5))
    loop.oracle = lambda ids: np.full(len(ids), 2)
    loop.run(stream_loader(dataset, batch_size=10, seed=0))
    targets = torch.cat([targets for _, targets in loop.labelled.dataloader(batch_size=8)])
    assert len(targets) >= 20
    assert (targets == 2).all()


def test_oracle_with_wrong_count_is_rejected():
    dataset = blobs(60)
    loop = make_loop(dataset, strategy=FixedUncertainty(threshold=0.0), budget=EstimatedBudget(0.5))
    loop.oracle = lambda ids: np.zeros(len(ids) + 1)
    with pytest.raises(InvalidArgumentError, match="one label per queried id"):
        loop.run(stream_loader(dataset, batch_size=10, seed=0))


class MappingDataset(Dataset):
    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        features, target = self.base[index]
        return {"features": features, "label": target, "name": f"item-{index}"}


class MappingClassifier(TinyClassifier):
    def forward(self, features, name=None):
        return self.layer(features)

    def training_step(self, batch, batch_idx):
        return F.cross_entropy(self(batch["features"]), batch["label"])


def test_mapping_batches_keep_their_layout():
    dataset = MappingDataset(blobs(60))
    loop = StreamLoop(
        MappingClassifier(),
        VariableUncertainty(),
        EstimatedBudget(0.5),
        lambda ids: np.asarray(ids) % 3,
        update_every_labels=5,
        trainer_kwargs=quiet_trainer_kwargs(),
        target_key="label",
    )
    results = loop.run(stream_loader(dataset, batch_size=10, seed=0))
    batch = next(iter(loop.labelled.dataloader(batch_size=100)))
    ids = loop.labelled.ids
    order = np.argsort(ids)
    assert results.num_labelled == len(ids)
    assert sorted(batch["name"]) == sorted(f"item-{i}" for i in ids)
    names = np.array(batch["name"])
    labels = batch["label"].numpy()
    by_name = dict(zip(names, labels))
    assert [by_name[f"item-{i}"] for i in ids[order]] == (ids[order] % 3).tolist()


def test_labelled_items_copy_rows():
    store = LabelledItems()
    features = torch.arange(12.0).reshape(4, 3)
    store.add(
        np.array([7, 9]),
        [features, torch.zeros(4, dtype=torch.long)],
        np.array([1, 3]),
        np.array([5, 6]),
        4,
    )
    features.zero_()
    inputs, targets = next(iter(DataLoader(store._items, batch_size=2)))
    assert inputs.tolist() == [[3.0, 4.0, 5.0], [9.0, 10.0, 11.0]]
    assert targets.tolist() == [5, 6]
    assert store.contains(np.array([7, 8, 9])).tolist() == [True, False, True]


def test_digits_stream_respects_budget_and_improves():
    pl.seed_everything(0, verbose=False)
    data = load_bundled("digits", test_fraction=0.3, seed=0)
    budget = EstimatedBudget(0.1)
    max_items = 600
    results = run_stream(
        MLPClassifier(data.num_features, data.num_classes, learning_rate=3e-3),
        stream_loader(data.train, batch_size=32, seed=0),
        DatasetOracle(data.train),
        VariableUncertainty(),
        budget,
        max_items=max_items,
        update_every_labels=20,
        trainer_kwargs=quiet_trainer_kwargs(max_steps=40),
        train_batch_size=16,
        test_dataloader=DataLoader(data.test, batch_size=256),
    )
    frame = results.to_pandas()
    accuracy = frame["test_accuracy"]

    assert results.num_seen == max_items
    assert results.num_labelled <= budget.labelled_fraction_bound(max_items) * max_items
    assert results.num_labelled >= 0.8 * budget.budget * max_items
    assert accuracy.iloc[-1] > accuracy.iloc[0] + 0.4
    assert accuracy.iloc[-1] > 0.75
