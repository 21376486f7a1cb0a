"""Fetching ahead of need: memoized look-ups shared by every thread, and
the worker pool that runs them before the resolver asks."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["FetchAhead", "Memo"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Memo(Generic[K, T]):
    """Compute each key once, even when many threads ask at the same time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[K, Future[T]] = {}

    def __contains__(self, key: K) -> bool:
        with self._lock:
            return key in self._futures

    def get(self, key: K, compute: Callable[[], T]) -> T:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._futures[key] = future
        if owner:
            try:
                future.set_result(compute())
            except Exception as err:
                future.set_exception(err)
            except BaseException as err:
                # An interrupt is not an answer: let a later call try again.
                with self._lock:
                    del self._futures[key]
                future.set_exception(err)
                raise
        return future.result()


class FetchAhead:
    """Workers for look-ups made before they are needed.  Their results
    land in the caller's ``Memo``s; their errors are memoized there too and
    raised to whoever asks for real.  Checks (``check``) are waited for on
    ``close``; queued fetches are dropped."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="index")
        self.closed = False
        self._checks_lock = threading.Lock()
        self._checks: list[Future[None]] = []

    def fetch(self, fn: Callable[[T], object], arg: T) -> None:
        """Run ``fn(arg)`` in a worker, its errors ignored."""

        def quietly() -> None:
            # Errors are memoized and raised to whoever asks for real.
            with contextlib.suppress(Exception):
                fn(arg)

        with contextlib.suppress(RuntimeError):  # the pool is shut down
            self._pool.submit(quietly)

    def check(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in a worker; ``close`` waits for it."""
        with contextlib.suppress(RuntimeError):  # the pool is shut down
            future = self._pool.submit(fn)
            with self._checks_lock:
                self._checks.append(future)

    def close(self) -> None:
        """Stop the workers: the checks finish first, queued fetches are
        dropped."""
        self.closed = True
        while True:
            with self._checks_lock:
                pending = [f for f in self._checks if not f.done()]
                self._checks = pending
            if not pending:
                break
            concurrent.futures.wait(pending)
        self._pool.shutdown(wait=True, cancel_futures=True)
