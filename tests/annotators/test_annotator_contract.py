"""The Annotator contract (request, collect, mark_labelled, cancel) and the research-mode oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from energizer.annotators import Annotations, Annotator, OracleAnnotator
from energizer.errors import InvalidArgumentError


class ScriptedAnnotator(Annotator):
    """Records what it is sent; each poll returns the next outcome of a script."""

    def __init__(self, script: list[Annotations] | None = None, **options) -> None:
        super().__init__(**options)
        self.sent: list[tuple[list[int], list[int] | None, list[float] | None]] = []
        self.script = list(script or [])
        self.polls = 0

    def _send(self, ids, predictions, scores) -> None:
        self.sent.append(
            (
                ids.tolist(),
                None if predictions is None else predictions.tolist(),
                None if scores is None else scores.tolist(),
            )
        )

    def _poll(self, deadline) -> Annotations:
        self.polls += 1
        return self.script.pop(0) if self.script else Annotations()


def test_request_sends_only_new_ids():
    annotator = ScriptedAnnotator()

    first = annotator.request([3, 1], predictions=[0, 2], scores=[0.5, 0.25])
    second = annotator.request([1, 4], predictions=[2, 1], scores=[0.25, 0.75])

    assert first.tolist() == [3, 1]
    assert second.tolist() == [4]
    assert annotator.sent == [([3, 1], [0, 2], [0.5, 0.25]), ([4], [1], [0.75])]
    assert annotator.pending_ids.tolist() == [1, 3, 4]


def test_request_with_nothing_new_sends_nothing():
    annotator = ScriptedAnnotator()
    annotator.request([1])

    assert annotator.request([1]).size == 0
    assert annotator.request([]).size == 0
    assert len(annotator.sent) == 1


def test_collect_returns_each_label_once():
    script = [Annotations(labels={1: 0}), Annotations(labels={1: 0, 2: 1})]
    annotator = ScriptedAnnotator(script)
    annotator.request([1, 2])

    first = annotator.collect(timeout=0)
    second = annotator.collect(timeout=0)

    assert first.labels == {1: 0}
    assert second.labels == {2: 1}
    assert annotator.labelled_ids.tolist() == [1, 2]


def test_collect_keeps_only_pending_ids():
    annotator = ScriptedAnnotator([Annotations(labels={1: 0, 9: 1}, returned=(8,))])
    annotator.request([1])

    outcome = annotator.collect(timeout=0)

    assert outcome.labels == {1: 0}
    assert outcome.returned == ()


def test_returned_ids_requested_again():
    annotator = ScriptedAnnotator([Annotations(returned=(2,))])
    annotator.request([2])

    outcome = annotator.collect(timeout=0)
    resent = annotator.request([2])

    assert outcome.returned == (2,)
    assert resent.tolist() == [2]


def test_labelled_ids_never_resent():
    annotator = ScriptedAnnotator([Annotations(labels={5: 1})])
    annotator.request([5])
    annotator.collect(timeout=0)

    assert annotator.request([5]).size == 0


def test_mark_labelled_hides_saved_labels():
    annotator = ScriptedAnnotator([Annotations(labels={1: 0, 2: 1})])
    annotator.request([1, 2, 3])

    annotator.mark_labelled([2, 3])
    outcome = annotator.collect(timeout=0)

    assert outcome.labels == {1: 0}
    assert annotator.request([2, 3]).size == 0
    assert annotator.pending_ids.size == 0


def test_cancel_allows_new_request():
    annotator = ScriptedAnnotator()
    annotator.request([1, 2])

    cancelled = annotator.cancel([2, 7])
    resent = annotator.request([2])

    assert cancelled.tolist() == [2]
    assert resent.tolist() == [2]
    assert annotator.sent[-1][0] == [2]


def test_collect_looks_once_with_zero_timeout():
    annotator = ScriptedAnnotator()
    annotator.request([1])

    outcome = annotator.collect(timeout=0)

    assert annotator.polls == 1
    assert len(outcome) == 0


def test_collect_waits_for_every_outcome():
    script = [Annotations(), Annotations(labels={1: 0}), Annotations(), Annotations(returned=(2,))]
    annotator = ScriptedAnnotator(script, poll_interval=0.01, max_poll_interval=0.02)
    annotator.request([1, 2])

    outcome = annotator.collect()

    assert outcome.labels == {1: 0}
    assert outcome.returned == (2,)
    assert annotator.polls == 4


def test_collect_without_pending_returns():
    annotator = ScriptedAnnotator()

    outcome = annotator.collect()

    assert annotator.polls == 1
    assert len(outcome) == 0


def test_annotations_arrays():
    outcome = Annotations(labels={7: 2, 3: 0}, returned=(5,))

    assert outcome.ids.tolist() == [3, 7]
    assert outcome.classes.tolist() == [0, 2]
    assert outcome.ids.dtype == np.int64
    assert len(outcome) == 3


@pytest.mark.parametrize(
    ("ids", "options", "argument"),
    [
        ([1, 1], {}, "ids"),
        ([-1], {}, "ids"),
        ([0.5], {}, "ids"),
        ([[1, 2]], {}, "ids"),
        ([1, 2], {"predictions": [0]}, "predictions"),
        ([1], {"predictions": [-1]}, "predictions"),
        ([1], {"predictions": [0.5]}, "predictions"),
        ([1, 2], {"scores": [0.5]}, "scores"),
        ([1], {"scores": ["high"]}, "scores"),
    ],
)
def test_request_rejects_bad_input(ids, options, argument):
    annotator = ScriptedAnnotator()

    with pytest.raises(InvalidArgumentError, match=f"Invalid `{argument}`"):
        annotator.request(ids, **options)

    assert annotator.sent == []


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), "5", True])
def test_collect_rejects_bad_timeout(timeout):
    with pytest.raises(InvalidArgumentError, match="Invalid `timeout`"):
        ScriptedAnnotator().collect(timeout=timeout)


def test_oracle_reveals_requested_labels():
    oracle = OracleAnnotator(np.array([2, 0, 1, 1, 0]))

    oracle.request([4, 2])
    outcome = oracle.collect(timeout=0)

    assert outcome.labels == {4: 0, 2: 1}
    assert oracle.num_revealed == 2
    assert oracle.pending_ids.size == 0


def test_oracle_reveals_nothing_unrequested():
    oracle = OracleAnnotator([0, 1, 2])

    assert len(oracle.collect()) == 0
    assert oracle.num_revealed == 0


def test_oracle_from_dataset():
    dataset = TensorDataset(torch.zeros(4, 2), torch.tensor([3, 1, 0, 2]))
    oracle = OracleAnnotator.from_dataset(dataset)

    oracle.request([0, 3])

    assert oracle.collect(timeout=0).labels == {0: 3, 3: 2}


def test_oracle_accepts_tensors():
    oracle = OracleAnnotator(torch.tensor([1, 0]))
    oracle.request([1])

    assert oracle.collect(timeout=0).labels == {1: 0}


def test_oracle_rejects_ids_outside_dataset():
    oracle = OracleAnnotator([0, 1])

    with pytest.raises(InvalidArgumentError, match=r"dataset ids in \[0, 2\)"):
        oracle.request([2])


@pytest.mark.parametrize("targets", [[[0, 1]], [0.5, 1.5], 3])
def test_oracle_rejects_bad_targets(targets):
    with pytest.raises(InvalidArgumentError, match="Invalid `targets`"):
        OracleAnnotator(targets)
