"""Annotators: who supplies the labels of the items that a strategy queries.

- :class:`OracleAnnotator` reveals the labels stored in a research dataset.
- :class:`FileAnnotator` exchanges a CSV or JSON Lines file with people.
- :class:`LabelStudioAnnotator` imports the items into a Label Studio
  project and reads back people's annotations.

:class:`Annotator` states the contract of ``request``, ``collect`` and
``mark_labelled`` that the loop relies on, restarts included.
"""

from energizer.annotators.base import Annotations, AnnotationWarning, Annotator
from energizer.annotators.file import FileAnnotator
from energizer.annotators.label_studio import LabelStudioAnnotator
from energizer.annotators.label_studio_client import LabelStudioUnavailableError
from energizer.annotators.oracle import OracleAnnotator

__all__ = [
    "AnnotationWarning",
    "Annotations",
    "Annotator",
    "FileAnnotator",
    "LabelStudioAnnotator",
    "LabelStudioUnavailableError",
    "OracleAnnotator",
]
