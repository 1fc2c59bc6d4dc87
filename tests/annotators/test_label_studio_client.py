"""LabelStudioAnnotator without a server: arguments, the environment, and an unreachable address."""

from __future__ import annotations

import logging
import socket

import pytest

from energizer.annotators import LabelStudioAnnotator, LabelStudioUnavailableError
from energizer.annotators.label_studio import TOKEN_VARIABLE, URL_VARIABLE
from energizer.annotators.label_studio_client import display_url
from energizer.errors import InvalidArgumentError

TOKEN = "a" * 40


def closed_port() -> int:
    """Return a loopback port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_connection_details_from_environment(monkeypatch):
    monkeypatch.setenv(URL_VARIABLE, "http://127.0.0.1:8080")
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)

    annotator = LabelStudioAnnotator(["a"], class_names=["x", "y"])

    assert annotator.url == "http://127.0.0.1:8080"
    assert TOKEN not in repr(annotator)


@pytest.mark.parametrize("variable", [URL_VARIABLE, TOKEN_VARIABLE])
def test_missing_connection_detail(monkeypatch, variable):
    monkeypatch.setenv(URL_VARIABLE, "http://127.0.0.1:8080")
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    monkeypatch.delenv(variable)

    with pytest.raises(InvalidArgumentError, match=variable):
        LabelStudioAnnotator(["a"], class_names=["x", "y"])


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"url": "127.0.0.1:8080"}, "url"),
        ({"token": " "}, "token"),
        ({"project": "ab"}, "project"),
        ({"project": "x" * 51}, "project"),
        ({"project": 0}, "project"),
        ({"data_kind": "audio"}, "data_kind"),
        ({"class_names": ["x", "x"]}, "class_names"),
        ({"label_config": "<View/>"}, "label_config"),
        ({"request_timeout": 0}, "request_timeout"),
        ({"retry_timeout": -1}, "retry_timeout"),
    ],
)
def test_invalid_arguments(options, argument):
    settings = {"class_names": ["x", "y"], "url": "http://127.0.0.1:8080", "token": TOKEN}
    settings.update(options)

    with pytest.raises(InvalidArgumentError, match=f"Invalid `{argument}`"):
        LabelStudioAnnotator(["a"], **settings)


def test_label_config_with_other_classes():
    config = (
        '<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
        '<Choice value="x"/><Choice value="y"/></Choices></View>'
    )

    with pytest.raises(InvalidArgumentError, match="Invalid `class_names`"):
        LabelStudioAnnotator(
            ["a"],
            class_names=["x", "z"],
            label_config=config,
            url="http://127.0.0.1:8080",
            token=TOKEN,
        )


def test_unreachable_server_retried_then_raises(caplog):
    caplog.set_level(logging.INFO, logger="energizer")
    annotator = LabelStudioAnnotator(
        ["a"],
        class_names=["x", "y"],
        url=f"http://127.0.0.1:{closed_port()}",
        token=TOKEN,
        poll_interval=0.05,
        max_poll_interval=0.1,
        retry_timeout=0.5,
    )

    with pytest.raises(LabelStudioUnavailableError, match="did not respond") as caught:
        annotator.connect()

    assert caplog.text.count("Retrying in") >= 2
    assert TOKEN not in str(caught.value)
    assert TOKEN not in caplog.text


def test_collect_unreachable_returns_nothing(caplog):
    caplog.set_level(logging.INFO, logger="energizer")
    annotator = LabelStudioAnnotator(
        ["a"],
        class_names=["x", "y"],
        url=f"http://127.0.0.1:{closed_port()}",
        token=TOKEN,
        poll_interval=0.05,
        max_poll_interval=0.1,
    )

    outcome = annotator.collect(timeout=0.3)

    assert len(outcome) == 0
    assert "No labels collected this time" in caplog.text
    assert TOKEN not in caplog.text


def test_display_url_hides_credentials():
    assert display_url("http://user:secret@127.0.0.1:8080/ls") == "http://127.0.0.1:8080/ls"
    assert display_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
