"""The configuration of an active learning run, saved with its state and compared on resume.

A saved state only makes sense for the run that wrote it: the same strategy
and settings, the same loop limits, the same trainer limits, the same model
layout and hyperparameters and the same dataset. Seeds are not part of it:
a resumed run takes its seeds from the saved state, so a script that draws
them afresh still resumes. Only a run seed passed explicitly is compared,
with the saved one (see :func:`seed_differences`).

Sections added after the first release (:data:`ADDED_SECTIONS`) are absent
from older saved configurations. Such a section counts as unknown, so those
runs still resume.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import nn

from energizer.data.datamodule import ActiveDataModule
from energizer.query_strategies.base import QueryStrategy

__all__ = ["ADDED_SECTIONS", "TRAINER_SETTINGS", "run_config", "config_differences", "dataset_fingerprint", "seed_differences"]

# Constructor arguments that are not settings: the model is compared by its layout, and
# seeds are restored from the saved state.
_NOT_SETTINGS = {"self", "model", "seed", "args", "kwargs"}

_FINGERPRINT_ITEMS = 9

# Public ``lightning.pytorch.Trainer`` attributes that change what each round trains or
# when it stops. Loggers, devices and progress bars do not change results and are left out.
TRAINER_SETTINGS = (
    "max_epochs",
    "min_epochs",
    "max_steps",
    "min_steps",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "precision",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "val_check_interval",
    "check_val_every_n_epoch",
)

# Settings that Lightning reads as a number of batches when they are an int.
BATCH_COUNT_SETTINGS = (
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "val_check_interval",
)

# Flattened name prefixes of the sections that configurations saved by older versions lack.
ADDED_SECTIONS = ("trainer", "model.hparams")


def run_config(
    strategy: QueryStrategy,
    datamodule: ActiveDataModule,
    *,
    query_size: int,
    max_rounds: int | None,
    max_budget: int | None,
    reinit_model: bool,
    stopping: Sequence[Any] = (),
    trainer: Any = None,
) -> dict[str, Any]:
    """Return the configuration of a run as JSON-serialisable values.

    ``trainer`` is the ``lightning.pytorch.Trainer`` whose :data:`TRAINER_SETTINGS`
    the rounds train with. ``None`` leaves the ``trainer`` section out.
    """
    config = {
        "strategy": {"class": _qualified_name(strategy), "settings": strategy_settings(strategy)},
        "loop": {
            "query_size": query_size,
            "max_rounds": max_rounds,
            "max_budget": max_budget,
            "reinit_model": reinit_model,
            "stopping": [f"{criterion!r}" for criterion in stopping],
        },
        "data": {
            "dataset_length": datamodule.dataset_length,
            "dataset_fingerprint": dataset_fingerprint(datamodule.train_dataset, datamodule.dataset_length),
            "val_fraction": datamodule.val_fraction,
            "val_dataset": datamodule.val_dataset is not None,
            "test_dataset": datamodule.test_dataset is not None,
        },
        "model": {
            "class": _qualified_name(strategy.model),
            "parameters": model_layout(strategy.model),
            "hparams": model_hparams(strategy.model),
        },
    }
    if trainer is not None:
        config["trainer"] = trainer_settings(trainer)
    return config


def trainer_settings(trainer: Any) -> dict[str, Any]:
    """Return the trainer's :data:`TRAINER_SETTINGS` by name, as JSON values (text for other types)."""
    settings: dict[str, Any] = {}
    for name in TRAINER_SETTINGS:
        value = getattr(trainer, name, None)
        if isinstance(value, Enum):
            value = value.value
        if name == "gradient_clip_val" and value is None:
            # Lightning clips nothing with None or 0, so both compare as 0.
            value = 0.0
        if name in BATCH_COUNT_SETTINGS and isinstance(value, int) and not isinstance(value, bool):
            # Lightning reads an int as a number of batches and a float as a share of them,
            # while JSON and == take 1 and 1.0 as the same value.
            value = f"{value} batches"
        settings[name] = value if _is_plain(value) else repr(value)
    return settings


def model_hparams(model: nn.Module) -> dict[str, Any]:
    """Return the entries of ``model.hparams`` that JSON can store, as JSON would read them back.

    ``LightningModule.save_hyperparameters`` fills ``hparams``. Entries of
    other types, such as modules or functions, are left out.
    """
    hparams = getattr(model, "hparams", None)
    if not isinstance(hparams, Mapping):
        return {}
    # A JSON round trip turns tuples into lists, so the saved and the current values compare equal.
    return {
        name: json.loads(json.dumps(value))
        for name, value in hparams.items()
        if isinstance(name, str) and _is_plain(value)
    }


def strategy_settings(strategy: QueryStrategy) -> dict[str, Any]:
    """Return the strategy's constructor settings that are plain values, by argument name.

    A setting is read from the attribute of the same name. The selection step
    is described by its class and temperature; its seed and generator state
    belong to the saved state.
    """
    settings: dict[str, Any] = {}
    for name in inspect.signature(type(strategy).__init__).parameters:
        if name in _NOT_SETTINGS or not hasattr(strategy, name):
            continue
        value = getattr(strategy, name)
        if name == "selection":
            value = {"class": type(value).__name__, "temperature": getattr(value, "temperature", None)}
        if _is_plain(value):
            settings[name] = value
    return settings


def model_layout(model: nn.Module) -> dict[str, list[int]]:
    """Return the shape of every tensor in the model's ``state_dict``, by name."""
    return {name: list(tensor.shape) for name, tensor in model.state_dict().items()}


def dataset_fingerprint(dataset: Any, length: int) -> str:
    """Return a hash of the dataset's length and of a few items spread over it.

    Tensors, arrays, numbers and strings in an item are hashed by value.
    Objects of other types count by their type name only, because their text
    form may contain memory addresses that change from run to run.
    """
    digest = hashlib.sha256(str(length).encode())
    if length > 0:
        for position in sorted(set(np.linspace(0, length - 1, _FINGERPRINT_ITEMS).astype(int).tolist())):
            _hash_value(digest, dataset[position])
    return digest.hexdigest()


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Return one line per setting that differs, as ``name: saved X, now Y``.

    A setting under one of :data:`ADDED_SECTIONS` is skipped when the saved
    configuration has nothing in that section.
    """
    saved_flat, current_flat = _flatten(saved), _flatten(current)
    unknown = [
        section
        for section in ADDED_SECTIONS
        if not any(_in_section(name, section) for name in saved_flat)
    ]
    lines = []
    for name in sorted(saved_flat.keys() | current_flat.keys()):
        if any(_in_section(name, section) for section in unknown):
            continue
        if name not in saved_flat and _in_section(name, "trainer"):
            # A trainer setting added to the comparison after the run was saved.
            continue
        before, after = saved_flat.get(name, "(absent)"), current_flat.get(name, "(absent)")
        if before != after and not (_is_nan(before) and _is_nan(after)):
            lines.append(f"{name}: saved {_shorten(before)}, now {_shorten(after)}")
    return lines


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def seed_differences(saved_run_seed: int, seed: int | None) -> list[str]:
    """Return ``seed: saved X, now Y`` when a seed is passed and differs from the saved run seed.

    ``seed=None`` means "the saved one" on resume, so it never differs.
    """
    if seed is None or int(seed) == int(saved_run_seed):
        return []
    return [f"seed: saved {int(saved_run_seed)}, now {int(seed)}"]


def _hash_value(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (bool, int, float, complex, str, bytes, np.generic)) or value is None:
        digest.update(repr(value).encode())
    elif isinstance(value, Mapping):
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _hash_value(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}{len(value)}".encode())
        for element in value:
            _hash_value(digest, element)
    else:
        digest.update(type(value).__qualname__.encode())


def _in_section(name: str, section: str) -> bool:
    return name == section or name.startswith(f"{section}.")


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(element) for element in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_plain(element) for key, element in value.items())
    return False


def _flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            # JSON turns tuples into lists, so compare lists.
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat


def _shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _qualified_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"
