"""Ctrl-C inside a round's fit reaches the caller of active_fit as KeyboardInterrupt."""

from __future__ import annotations

import signal

import pytest
from loop_helpers import RecordingClassifier, make_dataset, quiet_trainer

import energizer
from energizer.query_strategies import EntropyStrategy
from energizer.stream import CumulativeBudget, DatasetOracle, RandomStream, run_stream, stream_loader


class RaisingClassifier(RecordingClassifier):
    """Raises ``error`` from the third training step."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def training_step(self, batch, batch_idx):
        if batch_idx == 2:
            raise self.error
        return super().training_step(batch, batch_idx)


def active_fit(model: RecordingClassifier) -> None:
    datamodule = energizer.ActiveDataModule(make_dataset(60), batch_size=4, initial_labels=12, seed=0)
    quiet_trainer(max_epochs=1).active_fit(EntropyStrategy(model), datamodule, query_size=4, max_rounds=2)


@pytest.fixture
def sigint_handler():
    """The SIGINT handler before the test, put back after it whatever happened."""
    handler = signal.getsignal(signal.SIGINT)
    yield handler
    signal.signal(signal.SIGINT, handler)


def test_keyboard_interrupt_in_fit_reaches_caller(sigint_handler):
    with pytest.raises(KeyboardInterrupt) as raised:
        active_fit(RaisingClassifier(KeyboardInterrupt()))

    # Lightning's exit request is kept as the cause, for the traceback.
    assert isinstance(raised.value.__cause__, SystemExit)
    assert signal.getsignal(signal.SIGINT) is sigint_handler


def test_other_system_exit_in_fit_passes_unchanged(sigint_handler):
    with pytest.raises(SystemExit) as raised:
        active_fit(RaisingClassifier(SystemExit(3)))

    assert raised.value.code == 3


def test_keyboard_interrupt_in_stream_fit_reaches_caller(sigint_handler):
    dataset = make_dataset(60)
    model = RaisingClassifier(KeyboardInterrupt())
    trainer_kwargs = {
        "max_epochs": 1, "logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
        "enable_model_summary": False, "accelerator": "cpu",
    }

    with pytest.raises(KeyboardInterrupt) as raised:
        run_stream(
            model,
            stream_loader(dataset, batch_size=8, seed=0),
            DatasetOracle(dataset),
            RandomStream(probability=1.0, seed=0),
            CumulativeBudget(0.5),
            update_every_labels=12,
            trainer_kwargs=trainer_kwargs,
            train_batch_size=4,
        )

    assert isinstance(raised.value.__cause__, SystemExit)
    assert signal.getsignal(signal.SIGINT) is sigint_handler
