"""What a run keeps for the process it ends with."""

from __future__ import annotations

from typing import Any

__all__ = ["Process"]


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
