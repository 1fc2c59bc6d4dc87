"""Ctrl-C during a Lightning ``fit``, ``test`` or ``predict``, passed on to the caller as ``KeyboardInterrupt``.

Lightning (2.x, ``lightning.pytorch.trainer.call``) catches a
``KeyboardInterrupt`` in these calls, sets SIGINT to be ignored, marks the
trainer as interrupted (``Trainer.interrupted``) and calls ``sys.exit(1)``.
A program that runs active learning rounds would then exit with status 1,
with no chance to report the interruption and with Ctrl-C switched off.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import lightning.pytorch as pl

__all__ = ["keyboard_interrupt_passed_on"]


@contextmanager
def keyboard_interrupt_passed_on(trainer: pl.Trainer) -> Iterator[None]:
    """Turn Lightning's exit after Ctrl-C inside the block back into ``KeyboardInterrupt``.

    Only a ``SystemExit`` raised while ``trainer.interrupted`` is true and
    while a ``KeyboardInterrupt`` was being handled is turned back. Any other
    ``SystemExit`` passes unchanged. In the main thread, the SIGINT handler
    from before the block is restored, so a second Ctrl-C works again.
    Other threads cannot set signal handlers, so there SIGINT stays ignored.

    Raises:
        KeyboardInterrupt: In place of Lightning's ``SystemExit``, chained to it.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if in_main_thread else None
    try:
        yield
    except SystemExit as exit_request:
        if not (trainer.interrupted and isinstance(exit_request.__context__, KeyboardInterrupt)):
            raise
        # getsignal returns None for a handler that was not set from Python, and such a handler cannot be restored.
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
        raise KeyboardInterrupt from exit_request
