"""Annotator.num_classes: the class count that the loop compares with the model's outputs."""

from __future__ import annotations

import pytest

from energizer.annotators import FileAnnotator, LabelStudioAnnotator, OracleAnnotator


@pytest.mark.parametrize(
    ("options", "expected"),
    [({"class_names": ["cat", "dog"]}, 2), ({"num_classes": 5}, 5), ({}, None)],
    ids=["class-names", "num-classes", "neither"],
)
def test_file_annotator_num_classes(tmp_path, options, expected):
    annotator = FileAnnotator(tmp_path / "to_label.csv", **options)

    assert annotator.num_classes == expected


def test_file_annotator_num_classes_read_only(tmp_path):
    annotator = FileAnnotator(tmp_path / "to_label.csv", num_classes=3)

    with pytest.raises(AttributeError):
        annotator.num_classes = 4


@pytest.mark.parametrize(("class_names", "expected"), [(["ham", "spam", "eggs"], 3), (None, None)])
def test_label_studio_num_classes_before_connect(class_names, expected):
    # Building the annotator sends no request, so the URL is never contacted.
    annotator = LabelStudioAnnotator(["a", "b"], class_names=class_names, url="http://127.0.0.1:9", token="unused")

    assert annotator.num_classes == expected
    assert annotator.project_id is None


def test_oracle_num_classes_unknown():
    assert OracleAnnotator([0, 1, 2, 1]).num_classes is None
