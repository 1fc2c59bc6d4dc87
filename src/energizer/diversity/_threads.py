"""Running the diversity algorithms on one torch thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch on one thread inside the block, and restore the thread count after it.

    The algorithms run thousands of small operations in sequence, and block
    sizes that fit the CPU caches. With several threads each operation waits
    until every thread is scheduled. On a 2-core machine shared with other
    processes (torch 2.13, CPU build), two threads made greedy k-center three
    to five times slower than one thread, and 1 MiB distance blocks fifty
    times slower. On the idle machine, one thread was at most about 30%
    slower than two.

    NOTE: the thread count is global to the process, so other Python threads
    that run torch meanwhile also run on one thread.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
