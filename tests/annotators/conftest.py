"""Fixtures of the annotator tests: one real Label Studio server for the whole session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from annotator_helpers import LabelStudioPerson
from label_studio_server import (
    SKIP_VARIABLE,
    LabelStudioServer,
    ensure_label_studio,
    prepare_data_folder,
    skip_requested,
)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """A Label Studio server on 127.0.0.1 with a throwaway data folder, stopped after the session.

    Its virtual environment is installed on first use (1 to 2 minutes and
    1 GB, from the package registry). A failed installation fails the tests,
    unless ENERGIZER_SKIP_LABEL_STUDIO=1 switches them off.
    """
    if skip_requested():
        pytest.skip(
            f"{SKIP_VARIABLE} is set: the tests against a real Label Studio are switched off."
        )
    try:
        executable = ensure_label_studio()
        folder = tmp_path_factory.mktemp("label-studio")
        prepare_data_folder(executable, folder / "data")
        server = LabelStudioServer(executable, folder / "data", folder / "server.log")
        server.start()
    except RuntimeError as error:
        pytest.fail(
            f"Label Studio could not be set up: {error}\n"
            f"Set {SKIP_VARIABLE}=1 to run the other tests without it.",
            pytrace=False,
        )
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the annotators' calls to 127.0.0.1 off any proxy that the environment names."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(
            name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1", "localhost"]))
        )


@pytest.fixture(scope="session")
def person(label_studio: LabelStudioServer) -> LabelStudioPerson:
    return LabelStudioPerson(label_studio.url, label_studio.token)


@pytest.fixture
def project_title() -> str:
    """A project title that no other test uses, so tests share the server but no project."""
    return f"test {uuid.uuid4().hex[:12]}"
