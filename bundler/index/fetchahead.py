"""Fetching ahead of need: memoized look-ups shared by every thread, and
the worker pool that runs them before the resolver asks."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["AHEAD_LIMIT", "CpuMeter", "FetchAhead", "Memo", "Pacer", "PacerClosed"]

# The most look-ups ahead of need at once (the resolver's fetch-ahead),
# over the most distant index: the HTTP client keeps that many
# connections to a host beside those its --workers pools use.
AHEAD_LIMIT = 16

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


class CpuMeter:
    """The CPU this process used between two readings, in cores: how a
    pool that adds threads while the process waits tells waiting from
    working (the fetch-ahead's ``Pacer``, the downloads' pool)."""

    def __init__(
        self,
        every: float,
        wall_clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self._every = every
        self._wall_clock = wall_clock
        self._cpu_clock = cpu_clock
        self.restart()

    def restart(self) -> None:
        """Measure from now on."""
        self._wall, self._cpu = self._wall_clock(), self._cpu_clock()

    def busy(self) -> float | None:
        """The cores used since the last reading; None, taking no reading,
        until ``every`` seconds have passed since it."""
        wall = self._wall_clock()
        if wall - self._wall < self._every:
            return None
        cpu = self._cpu_clock()
        used = (cpu - self._cpu) / (wall - self._wall)
        self._wall, self._cpu = wall, cpu
        return used


class PacerClosed(Exception):
    """A look-up ahead of need whose turn came after the pacer was closed:
    the look-up is not made."""


class Pacer:
    """How many look-ups made ahead of need run at once: as many as keep
    this process's CPU busy, up to ``limit``.

    Over a distant index a look-up mostly waits, and many at once fill the
    wait.  Over a near one the CPU is the limit (decoding pages, TLS, the
    interpreter lock), and threads beyond it only fight over the lock.  On
    2 cores against an index 6 ms away, a cold lock of the datasci set took
    1.29 s with 4 look-ups at once and 1.37 s with 8 (1.56 s with 16, in
    another run); with 40 ms more per request, 3.20 s with 4, 2.12 s with 8
    and 1.73 s with 12 to 24.  So ``start`` run at first and, every ``LOOK_EVERY`` seconds
    that look-ups wait for a turn, the CPU the process used since the last
    look is read: below ``BUSY`` cores (the interpreter lock lets a process
    use about one), ``STEP`` more may run.
    """

    LOOK_EVERY = 0.05  # seconds between looks at the CPU used
    BUSY = 0.8  # cores: below this, the process mostly waits
    STEP = 2

    def __init__(
        self,
        limit: int,
        start: int = 4,
        *,
        wall_clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self.limit = max(1, limit)
        self.allowed = min(self.limit, max(1, start))
        self._meter = CpuMeter(self.LOOK_EVERY, wall_clock, cpu_clock)
        self._changed = threading.Condition()
        self._running = 0
        self._closed = False

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Run the block when its turn comes; raise ``PacerClosed`` instead
        once the pacer is closed (the look-ups waiting then are not made)."""
        with self._changed:
            while not self._closed and self._running >= self.allowed:
                self._changed.wait(self.LOOK_EVERY)
                self._look()
            if self._closed:
                raise PacerClosed
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify()

    def close(self) -> None:
        """No more turns: look-ups waiting for one give up at once; those
        under way finish."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _look(self) -> None:  # holding the lock, with look-ups waiting
        busy = self._meter.busy()
        if busy is not None and busy < self.BUSY and self.allowed < self.limit:
            self.allowed = min(self.limit, self.allowed + self.STEP)
            self._changed.notify(self.STEP)
