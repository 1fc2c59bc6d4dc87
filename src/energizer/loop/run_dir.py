"""The folder where an active learning run saves its state after every labelling step.

Files, all in open formats and each written atomically (a temporary file,
then a rename), so a run killed at any moment leaves the last complete step:

- ``config.json``: what the run is (see :mod:`energizer.loop.run_config`).
- ``state.json``: the step count, the next round, the run seed, the data
  module's and the strategy's random generator states, the per-round results
  and the names of the label and weight files of the step. It is written
  last, so it only ever names files that are complete.
- ``labels-<step>.npz``: the round in which each item was labelled
  (``label_rounds``, -1 for unlabelled), the validation hold-out ids and
  the class that people gave each item (``given_labels``, -1 where none
  was given). Files written before ``given_labels`` existed lack it.
- ``initial_weights.pt`` and, without weight resets, ``weights-<step>.pt``:
  model weights (``torch.save`` of the ``state_dict``, read back with
  ``weights_only=True``).
- ``rounds.csv``: the results table, for people and spreadsheets.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import torch

from energizer.errors import InvalidArgumentError
from energizer.results import ActiveFitResults

__all__ = ["RunDirectory", "SavedRun", "check_run_options"]

FORMAT_VERSION = 1
CONFIG = "config.json"
STATE = "state.json"
ROUNDS = "rounds.csv"
INITIAL_WEIGHTS = "initial_weights.pt"


def check_run_options(run_dir: Any, resume: Any, seed: Any, reinit_model: Any) -> None:
    """Raise on ``active_fit`` run options of the wrong type or range, before anything is read or written."""
    for name, value in (("resume", resume), ("reinit_model", reinit_model)):
        if not isinstance(value, bool):
            raise InvalidArgumentError(name, "True or False", repr(value), f"Pass {name}=True or {name}=False.")
    if resume and run_dir is None:
        raise InvalidArgumentError(
            "resume",
            "resume=True together with the run_dir to resume from",
            "resume=True without run_dir",
            "Pass run_dir=<the folder of the saved run>.",
        )
    invalid_seed = isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed < 2**32
    if seed is not None and invalid_seed:
        raise InvalidArgumentError("seed", "None or an integer between 0 and 2**32 - 1", repr(seed), "Pass e.g. seed=0.")


@dataclass
class SavedRun:
    """The contents of a run directory: the configuration and the state of the last complete step."""

    config: dict[str, Any]
    state: dict[str, Any]
    label_rounds: np.ndarray
    validation_ids: np.ndarray
    weights: dict[str, torch.Tensor]
    initial_weights: dict[str, torch.Tensor] | None
    given_labels: np.ndarray | None = None


class RunDirectory:
    """Reads and writes the state of one run in ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidArgumentError(
                "run_dir", "a folder path (str or pathlib.Path)", f"a {type(path).__name__}", "Pass e.g. run_dir='runs/entropy'."
            )
        self.path = Path(path)

    def has_state(self) -> bool:
        """Whether the folder contains a saved step."""
        return (self.path / STATE).is_file()

    def check_new(self) -> None:
        """Raise unless the folder is absent or has no saved run, so a new run overwrites nothing."""
        if self.path.exists() and not self.path.is_dir():
            raise InvalidArgumentError(
                "run_dir", "a folder", f"{str(self.path)!r}, which is a file", "Pass a folder path."
            )
        if self.has_state() or (self.path / CONFIG).is_file():
            raise InvalidArgumentError(
                "run_dir",
                "a folder without a saved run, for a new run",
                f"{str(self.path)!r}, which holds one",
                "Pass resume=True to continue it, or choose another folder: a new run never "
                "overwrites saved labels.",
            )

    def start(self, config: dict[str, Any], initial_weights: dict[str, torch.Tensor] | None) -> None:
        """Create the folder and write the configuration and the initial weights."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InvalidArgumentError(
                "run_dir", "a folder that can be created", repr(str(self.path)), f"Check the path: {error.strerror}."
            ) from error
        if initial_weights is not None:
            self._write_weights(INITIAL_WEIGHTS, initial_weights)
        self._write_text(CONFIG, json.dumps(config, indent=2))

    def save_step(
        self,
        state: dict[str, Any],
        label_rounds: np.ndarray,
        validation_ids: np.ndarray,
        weights: dict[str, torch.Tensor] | None,
        results: ActiveFitResults,
        given_labels: np.ndarray | None = None,
    ) -> None:
        """Write one labelling step: labels and weights first, then ``state.json`` naming them.

        ``state`` must hold ``step``. ``given_labels`` defaults to none given.
        Files of earlier steps are removed once the new state is in place.
        """
        step = int(state["step"])
        labels_file = f"labels-{step:06d}.npz"
        if given_labels is None:
            given_labels = np.full(np.shape(label_rounds), -1, dtype=np.int64)
        self._write_labels(labels_file, label_rounds, validation_ids, given_labels)
        weights_file = INITIAL_WEIGHTS
        if weights is not None:
            weights_file = f"weights-{step:06d}.pt"
            self._write_weights(weights_file, weights)
        document = {**state, "format": FORMAT_VERSION, "labels_file": labels_file, "weights_file": weights_file}
        document["results"] = results.to_document()
        self._write_text(STATE, json.dumps(document, indent=2))
        self._remove_older(keep={labels_file, weights_file})
        frame = results.to_pandas()
        if not frame.empty:
            self._write_text(ROUNDS, results.to_csv_text())

    def load(self) -> SavedRun:
        """Read the last complete step.

        Raises:
            InvalidArgumentError: When the folder is missing, has no saved
                run, or has files that are truncated or not from energizer.
        """
        if not self.path.is_dir():
            raise InvalidArgumentError(
                "run_dir",
                "the folder of a saved run, to resume",
                f"{str(self.path)!r}, which does not exist",
                "Check the path, or pass resume=False to start a new run there.",
            )
        if not self.has_state():
            raise InvalidArgumentError(
                "run_dir",
                f"a folder with {STATE} and {CONFIG}, to resume",
                f"{str(self.path)!r}, which holds no saved run",
                "Check the path, or pass resume=False to start a new run there.",
            )
        config = self._read_json(CONFIG)
        state = self._read_json(STATE)
        required = {"format", "step", "next_round", "run_seed", "labels_file", "weights_file", "results"}
        missing = required - set(state)
        if missing or state.get("format") != FORMAT_VERSION:
            self._corrupt(STATE, f"it lacks {sorted(missing)}" if missing else f"format {state.get('format')!r}")
        labels_path = self._member(state["labels_file"])
        try:
            with np.load(labels_path, allow_pickle=False) as labels:
                label_rounds = labels["label_rounds"].astype(np.int64)
                validation_ids = labels["validation_ids"].astype(np.int64)
                given_labels = labels["given_labels"].astype(np.int64) if "given_labels" in labels.files else None
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            self._corrupt(labels_path.name, f"it cannot be read as labels ({type(error).__name__}: {error})")
        weights = self._read_weights(state["weights_file"])
        initial = self._read_weights(INITIAL_WEIGHTS) if (self.path / INITIAL_WEIGHTS).is_file() else None
        return SavedRun(config, state, label_rounds, validation_ids, weights, initial, given_labels)

    def labels_path(self) -> Path:
        """Return the path of the labels file that ``state.json`` names: the last complete step's.

        Raises:
            InvalidArgumentError: When ``state.json`` is damaged or names a missing file.
        """
        return self._member(self._read_json(STATE).get("labels_file"))

    # ---------------------------------------------------------------- helpers

    def _member(self, name: Any) -> Path:
        # Names come from state.json, so keep them inside the folder.
        if not isinstance(name, str) or Path(name).name != name:
            self._corrupt(STATE, f"it names the file {name!r}")
        path = self.path / name
        if not path.is_file():
            self._corrupt(STATE, f"it names {name}, which is missing")
        return path

    def _read_json(self, name: str) -> dict[str, Any]:
        path = self.path / name
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            self._corrupt(name, "it is missing")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            self._corrupt(name, f"it cannot be read as JSON ({error})")
        if not isinstance(document, dict):
            self._corrupt(name, "it is not a JSON object")
        return document

    def _read_weights(self, name: Any) -> dict[str, torch.Tensor]:
        path = self._member(name)
        try:
            weights = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # PyTorch's own message here advises loading untrusted code, which a resume never does.
            self._corrupt(path.name, "it holds more than tensors and plain values, or its bytes are damaged")
        except Exception as error:  # torch raises many types on a damaged file.
            first_line = next(iter(str(error).splitlines()), "")
            self._corrupt(path.name, f"it cannot be read as weights ({type(error).__name__}: {first_line})")
        if not isinstance(weights, dict):
            self._corrupt(path.name, "it does not hold a state_dict")
        return weights

    def _corrupt(self, name: str, reason: str) -> None:
        raise InvalidArgumentError(
            "run_dir",
            "a complete saved run, to resume",
            f"{str(self.path / name)!r}, which is damaged: {reason}",
            "Restore the folder from a copy, or start a new run in another folder. "
            "The labels-*.npz files hold the labelled ids of each saved step.",
        )

    def _write_text(self, name: str, text: str) -> None:
        self._replace(name, lambda handle: handle.write(text.encode()))

    def _write_labels(
        self, name: str, label_rounds: np.ndarray, validation_ids: np.ndarray, given_labels: np.ndarray
    ) -> None:
        self._replace(
            name,
            lambda handle: np.savez(
                handle,
                label_rounds=np.asarray(label_rounds, np.int64),
                validation_ids=np.asarray(validation_ids, np.int64),
                given_labels=np.asarray(given_labels, np.int64),
            ),
        )

    def _write_weights(self, name: str, weights: dict[str, torch.Tensor]) -> None:
        cpu_weights = {key: value.detach().cpu() for key, value in weights.items()}
        self._replace(name, lambda handle: torch.save(cpu_weights, handle))

    def _replace(self, name: str, write: Any) -> None:
        target = self.path / name
        temporary = self.path / f".{name}.{os.getpid()}.tmp"
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    def _remove_older(self, keep: set[str]) -> None:
        for path in self.path.iterdir():
            is_step_file = path.name.startswith(("labels-", "weights-"))
            if is_step_file and path.name not in keep:
                path.unlink(missing_ok=True)
