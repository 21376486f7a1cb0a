"""Process-wide tuning for the ``bundle`` command's own process.

Only the command line's entry calls these (``bundler.__main__`` switches
the collector off before the rest is imported, without this module and
what it imports): a program that imports bundler keeps its collector, its
exit and its socket module as they are.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from typing import Any, NoReturn

__all__ = ["Process", "end_process", "tune_collector"]


class Process:
    """Set by ``main``, for a process that ends with the run: what the run
    keeps until then (its HTTP client: closing every pooled TLS connection
    one by one is time the user waits for)."""

    keep_alive: list[object] | None = None
    # The run's HTTP clients: cancelled on Ctrl-C, so that the threads
    # fetching files stop at their next chunk instead of finishing them.
    clients: list[Any] = []

    @classmethod
    def cancel(cls) -> None:
        for client in cls.clients:
            client.cancel()


def tune_collector(command: str | None) -> None:
    """Switch the collector (off since start-up) back on for the run,
    tuned for it."""
    # What start-up made (modules, classes) lives as long as the process:
    # the collector (off while it was made) never walks it again.
    gc.freeze()
    if command != "serve":
        # A run makes many objects and few reference cycles: the
        # collector's frequent young-generation passes cost up to a sixth
        # of an offline lock, for no memory saved.  It runs rarely instead
        # (not in a long-running server).
        gc.set_threshold(100_000, 50, 100)
    gc.enable()


def end_process(code: int) -> NoReturn:
    """End the process with ``code`` once everything is written.

    Tearing down what a run leaves behind (every parsed page, pooled
    connections) object by object is time the user waits for: with the
    output flushed and no other thread running, the process ends at once
    instead."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)
    if threading.active_count() == 1:
        os._exit(code)
    sys.exit(code)
