"""Exceptions raised by energizer, with one message template.

Every message names the argument, what was expected, what was received and
what to do, so a user can fix the input without reading the source.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EnergizerError",
    "InvalidArgumentError",
    "EmptyPoolError",
    "LabellingError",
    "DatasetChangedError",
    "InvalidScoresError",
    "InvalidQueryError",
    "MissingDropoutError",
    "AnnotationError",
    "format_message",
]


def format_message(argument: str, expected: str, received: Any, fix: str) -> str:
    """Build the message used by every energizer error.

    Args:
        argument: Name of the argument or value that is wrong.
        expected: What a valid value looks like.
        received: The value that was passed; shown with ``repr``.
        fix: What the user should do next.
    """
    shown = received if isinstance(received, str) else repr(received)
    return f"Invalid `{argument}`: expected {expected}, received {shown}. {fix}"


class EnergizerError(Exception):
    """Base class of the errors that energizer raises on purpose."""


class InvalidArgumentError(EnergizerError, ValueError):
    """An argument has a value that cannot work."""

    def __init__(self, argument: str, expected: str, received: Any, fix: str) -> None:
        super().__init__(format_message(argument, expected, received, fix))
        self.argument = argument


class LabellingError(EnergizerError, ValueError):
    """Ids passed to ``ActiveDataModule.label`` are out of range, repeated or already labelled."""


class EmptyPoolError(EnergizerError, RuntimeError):
    """A query was requested but the pool has no unlabelled item."""


class DatasetChangedError(EnergizerError, RuntimeError):
    """The dataset's length differs from the one the labelled state was built for."""


class InvalidScoresError(EnergizerError, RuntimeError):
    """A strategy's ``pool_step`` returned scores of the wrong shape, or NaN or infinite ones."""


class InvalidQueryError(EnergizerError, RuntimeError):
    """A strategy's ``query`` returned ids that are repeated, labelled or of the wrong count."""


class MissingDropoutError(EnergizerError, ValueError):
    """A Monte Carlo dropout strategy wraps a model that has no dropout layer."""


class AnnotationError(EnergizerError, RuntimeError):
    """An annotator's labelling file or Label Studio server failed or stayed unreachable."""
