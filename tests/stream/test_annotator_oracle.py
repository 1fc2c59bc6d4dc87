"""Stream runs that take their labels from an annotator: the oracle's equal, a labelling file, skips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stream_helpers import TinyClassifier, blobs, quiet_trainer_kwargs

from energizer.annotators import FileAnnotator, OracleAnnotator
from energizer.errors import InvalidArgumentError
from energizer.stream import (
    SKIPPED,
    AnnotatorOracle,
    CumulativeBudget,
    DatasetOracle,
    RandomStream,
    StreamLoop,
    stream_loader,
)


def run(dataset, oracle, seed: int = 0):
    torch.manual_seed(seed)
    loop = StreamLoop(
        TinyClassifier(),
        RandomStream(probability=1.0, seed=seed),
        CumulativeBudget(0.2),
        oracle,
        update_every_labels=10,
        trainer_kwargs=quiet_trainer_kwargs(),
    )
    return loop.run(stream_loader(dataset, batch_size=10, seed=seed))


def test_oracle_annotator_matches_dataset_oracle():
    dataset = blobs(120)
    expected = run(dataset, DatasetOracle(dataset))

    results = run(dataset, AnnotatorOracle(OracleAnnotator.from_dataset(dataset)))

    assert results.to_pandas().drop(columns=[c for c in results.to_pandas() if c.endswith("_seconds")]).equals(
        expected.to_pandas().drop(columns=[c for c in expected.to_pandas() if c.endswith("_seconds")])
    )


class FileWithPerson(FileAnnotator):
    """A labelling file that a person edits just before each read: every third id skipped, others class 2."""

    def __init__(self, path) -> None:
        super().__init__(path, poll_interval=0.01, max_poll_interval=0.02)
        self.answered: dict[int, str] = {}

    def _poll(self, deadline):
        lines = self.path.read_text().splitlines()
        header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
        id_column, label_column = header.index("id"), header.index("label")
        for row in rows:
            item = int(row[id_column])
            if row[label_column] == "" and item not in self.answered:
                self.answered[item] = "skip" if item % 3 == 0 else "2"
                row[label_column] = self.answered[item]
        self.path.write_text("\n".join([",".join(header)] + [",".join(row) for row in rows]) + "\n")
        return super()._poll(deadline)


def test_file_annotator_labels_and_skips(tmp_path):
    dataset = blobs(60)
    annotator = FileWithPerson(tmp_path / "labels.csv")

    results = run(dataset, AnnotatorOracle(annotator))

    labelled = np.concatenate([record.queried_ids for record in results.rounds])
    skipped = [item for item, answer in annotator.answered.items() if answer == "skip"]
    assert len(labelled) == len(set(labelled.tolist()))
    assert set(labelled.tolist()) == {item for item, answer in annotator.answered.items() if answer == "2"}
    assert skipped
    assert not set(skipped) & set(labelled.tolist())
    assert results.rounds[-1].num_labelled == len(labelled)


class SilentAnnotator(OracleAnnotator):
    """An oracle that never answers: every id stays pending."""

    def _poll(self, deadline):
        from energizer.annotators import Annotations

        return Annotations()


def test_timeout_leaves_items_unlabelled():
    dataset = blobs(20)
    oracle = AnnotatorOracle(SilentAnnotator.from_dataset(dataset), timeout=0)

    labels = oracle(np.array([3, 5]))

    assert labels.tolist() == [SKIPPED, SKIPPED]
    assert oracle.annotator.pending_ids.size == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [({"annotator": "file.csv"}, "Invalid `annotator`: expected an energizer.annotators.Annotator, received a str"),
     ({"timeout": -1}, "Invalid `timeout`: expected None or a number of seconds >= 0, received -1")],
)
def test_bad_arguments_rejected(options, message):
    arguments = {"annotator": OracleAnnotator(np.zeros(3, dtype=np.int64)), **options}
    with pytest.raises(InvalidArgumentError, match=message):
        AnnotatorOracle(arguments.pop("annotator"), **arguments)
