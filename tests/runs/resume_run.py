"""An active learning run with a run directory, which can kill itself with SIGKILL at a chosen point.

``python resume_run.py --run-dir DIR --output FILE [--kill POINT --kill-round R] [--resume]``
runs four rounds on generated data and writes what it labelled and measured
to FILE. POINT is ``fit`` (during a round's training), ``score`` (during
pool scoring) or ``labelled`` (right after a round's labels are saved).

With ``--wait-for-sigint MARKER`` the training of round R writes MARKER and
waits for SIGINT instead. A ``KeyboardInterrupt`` that reaches the script
is reported on stdout, with whether Python's SIGINT handler is back, and
the script exits with status 130.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import TensorDataset

import energizer
from energizer.models import MLPClassifier
from energizer.query_strategies import PowerBALDStrategy, RandomStrategy

NUM_FEATURES = 5
NUM_CLASSES = 3


def kill_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillDuringFit(pl.Callback):
    """Kill the process in the middle of the training of round ``round``."""

    fits_started = 0

    def __init__(self, round: int) -> None:
        self.round = round

    def on_fit_start(self, trainer, pl_module) -> None:
        KillDuringFit.fits_started += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if KillDuringFit.fits_started == self.round + 1 and trainer.global_step >= 3:
            kill_now()


class WaitForSigint(pl.Callback):
    """Write ``marker`` in the middle of the training of round ``round``, then wait for SIGINT."""

    fits_started = 0

    def __init__(self, round: int, marker: Path) -> None:
        self.round = round
        self.marker = marker

    def on_fit_start(self, trainer, pl_module) -> None:
        WaitForSigint.fits_started += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if WaitForSigint.fits_started == self.round + 1 and trainer.global_step == 3:
            self.marker.write_text("training")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                time.sleep(0.05)


def make_dataset(num_items: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    targets = torch.arange(num_items) % NUM_CLASSES
    centres = 1.5 * torch.eye(NUM_CLASSES, NUM_FEATURES)
    return TensorDataset(centres[targets] + torch.randn(num_items, NUM_FEATURES, generator=generator), targets)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--strategy", choices=["power-bald", "random"], default="power-bald")
    parser.add_argument("--keep-weights", action="store_true", help="reinit_model=False")
    parser.add_argument("--kill", choices=["fit", "score", "labelled"])
    parser.add_argument("--kill-round", type=int, default=1)
    parser.add_argument("--wait-for-sigint", type=Path, metavar="MARKER")
    parser.add_argument("--resume", action="store_true")
    arguments = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    # A resumed process starts from another global seed, so its own draws (initial labels,
    # weights, strategy seed) all differ: only the run directory can make it match.
    pl.seed_everything(12345 if arguments.resume else 0, verbose=False)
    kill = arguments.kill if not arguments.resume else None

    datamodule = energizer.ActiveDataModule(
        make_dataset(120, seed=0),
        test_dataset=make_dataset(60, seed=1),
        initial_labels=9,
        val_fraction=0.25,
        batch_size=8,
        eval_batch_size=16,
    )
    model = MLPClassifier(NUM_FEATURES, NUM_CLASSES, hidden_sizes=(16,), learning_rate=1e-2)
    if arguments.strategy == "power-bald":
        strategy_class = PowerBALDStrategy
        options = {"num_samples": 4}
    else:
        strategy_class = RandomStrategy
        options = {}

    class KillingStrategy(strategy_class):
        def pool_step(self, batch, batch_idx):
            if kill == "score" and self.round_index == arguments.kill_round and batch_idx == 1:
                kill_now()
            return super().pool_step(batch, batch_idx)

        def query(self, pool_ids, scores, query_size):
            if kill == "score" and self.round_index == arguments.kill_round and not self.requires:
                kill_now()
            return super().query(pool_ids, scores, query_size)

    def on_round_end(record) -> None:
        if kill == "labelled" and record.round == arguments.kill_round:
            kill_now()

    callbacks = [KillDuringFit(arguments.kill_round)] if kill == "fit" else []
    if arguments.wait_for_sigint is not None:
        callbacks.append(WaitForSigint(arguments.kill_round, arguments.wait_for_sigint))
    trainer = energizer.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    try:
        results = trainer.active_fit(
            KillingStrategy(model, **options),
            datamodule,
            query_size=6,
            max_rounds=4,
            reinit_model=not arguments.keep_weights,
            run_dir=arguments.run_dir,
            resume=arguments.resume,
            on_round_end=on_round_end,
        )
    except KeyboardInterrupt:
        handler_restored = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        print(f"KeyboardInterrupt reached the script; SIGINT handler restored: {handler_restored}", flush=True)
        sys.exit(130)
    summary = {
        "label_rounds": datamodule.label_rounds.tolist(),
        "validation": datamodule.val_ids.tolist(),
        "queried": [record.queried_ids.tolist() for record in results.rounds],
        "metrics": [record.metrics for record in results.rounds],
        "stop_reason": results.stop_reason.value,
    }
    arguments.output.write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
