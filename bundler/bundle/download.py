"""Fill a bundle's ``files/`` directory: fetch what is missing, in parallel,
and prune what the previous bundle held but the new one does not.

All HTTP (streaming, hash checking, atomic rename, the shared cache) lives in
the client; this module decides what to fetch and collects the outcome.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from bundler.bundle.layout import METADATA_SUFFIX
from bundler.bundle.manifest import is_sha256_hex
from bundler.errors import BundlerError, HashMismatch, MultipleErrors, NetworkError, UsageError
from bundler.fsutil import sha256_file
from bundler.index.fetchahead import CpuMeter
from bundler.models import Manifest
from bundler.reporting import Reporter
from bundler.spec.archives import wheel_metadata
from bundler.spec.filenames import is_safe_filename

# Suffixes of temp files written next to their destination (fsutil, http).
_TEMP_SUFFIXES = (".part", ".tmp")

T = TypeVar("T")

# Reporter task key for the whole batch; each file uses "download:<filename>".
TASK_ALL = "download"


class FileFetcher(Protocol):
    """What the downloader needs from an HTTP client (``HttpClient`` is one)."""

    def fetch_to_file(
        self,
        url: str,
        dest: Path,
        *,
        sha256: str | None,
        size: int | None,
        progress: Callable[[int], None] | None,
    ) -> tuple[str, int]:
        """Stream ``url`` to ``dest`` atomically, verifying the hash;
        return (sha256, size).  ``progress`` receives byte counts as they
        arrive."""
        ...


@dataclass(frozen=True)
class DownloadItem:
    """One file the bundle needs.  ``url`` may carry credentials: it goes to
    the client only and appears in no message of this module."""

    filename: str
    url: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class DownloadResult:
    """A file now present in ``files/`` with the expected hash."""

    filename: str
    path: Path
    sha256: str
    size: int
    fetched: bool  # False: it was already there with the right hash
    # A wheel's METADATA (its PEP 658 sidecar), read as soon as it arrived
    # when asked for; None when not asked for or unreadable (the index
    # writer then reads it, and reports what is wrong).
    metadata: bytes | None = None


class DownloadFailed(BundlerError):
    """One file could not be put in ``files/``; ``cause`` says why."""

    def __init__(self, filename: str, reason: str, *, cause: BaseException | None = None) -> None:
        shown = filename if is_safe_filename(filename) else repr(filename)
        super().__init__(f"{shown}: {reason}")
        self.filename = filename
        self.reason = reason
        self.cause = cause
        if isinstance(cause, BundlerError):
            self.exit_code = cause.exit_code


def _plan(items: Sequence[DownloadItem]) -> tuple[list[DownloadItem], list[DownloadFailed]]:
    """Deduplicate and validate the items before any I/O."""
    planned: dict[str, DownloadItem] = {}
    failures: list[DownloadFailed] = []
    for item in items:
        if (
            not is_safe_filename(item.filename)
            or item.filename.startswith(".")
            or item.filename.endswith(METADATA_SUFFIX)
        ):
            bad = UsageError(
                "refusing an unsafe file name (a path, a dot file, a sidecar name"
                " or control characters)"
            )
            failures.append(DownloadFailed(item.filename, bad.message, cause=bad))
            continue
        if not is_sha256_hex(item.sha256):
            bad = UsageError(f"not a lowercase hex sha256 digest: {item.sha256!r}")
            failures.append(DownloadFailed(item.filename, bad.message, cause=bad))
            continue
        seen = planned.get(item.filename)
        if seen is None:
            planned[item.filename] = item
        elif seen.sha256 != item.sha256:
            bad = UsageError(f"listed twice with different hashes ({seen.sha256}, {item.sha256})")
            failures.append(DownloadFailed(item.filename, bad.message, cause=bad))
    return list(planned.values()), failures


def _present(path: Path, item: DownloadItem) -> tuple[str, int] | None:
    """(sha256, size) of an existing file that already matches ``item``."""
    if not path.is_file() or path.is_symlink():
        return None
    digest, size = sha256_file(path)
    if digest != item.sha256 or (item.size is not None and size != item.size):
        return None
    return digest, size


def download_all(
    items: Sequence[DownloadItem],
    files_dir: Path,
    client: FileFetcher,
    reporter: Reporter,
    *,
    workers: int = 8,
    read_metadata: bool = False,
    on_ready: Callable[[DownloadResult], None] | None = None,
) -> list[DownloadResult]:
    """Make every item present in ``files_dir`` with its sha256.

    A file already there with the right hash is not fetched again.  At most
    ``workers`` files are handled at once (fewer while this process's CPU,
    not the link, is the limit: see ``AdaptivePool``), the biggest first
    (the last file to start is then a small one).  Every item is attempted;
    if any failed, one ``MultipleErrors`` of ``DownloadFailed`` (one per file)
    is raised, and the files that succeeded stay in place.  Results come in
    the order of ``items`` (duplicates listed once).  With ``read_metadata``, each
    wheel's METADATA is read as soon as it is in place, while the other
    downloads go on.  ``on_ready`` is called with each file's result as
    soon as it is in place, from the thread that fetched it; what it raises
    counts as that file's failure.

    Call it while holding the bundle's directory lock: the temp files an
    interrupted run left in ``files_dir`` (a killed download's ``.part``)
    are removed first, whether this run then succeeds or not.
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    planned, failures = _plan(items)
    files_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftover_temps(files_dir)
    sizes = [item.size for item in planned]
    total = sum(s for s in sizes if s is not None) if None not in sizes else None
    reporter.task_start(TASK_ALL, f"{len(planned)} files", total)
    downloader = _Downloader(files_dir, client, reporter, read_metadata, on_ready)
    pool: AdaptivePool[DownloadResult] = AdaptivePool(workers)
    for item in sorted(planned, key=lambda i: -(i.size or 0)):  # the biggest first
        pool.submit(item.filename, functools.partial(downloader.one, item))
    outcomes = pool.run()
    results: dict[str, DownloadResult] = {}
    for item in planned:
        outcome = outcomes[item.filename]
        if isinstance(outcome, (BundlerError, OSError)):
            reason = outcome.message if isinstance(outcome, BundlerError) else str(outcome)
            failures.append(DownloadFailed(item.filename, reason, cause=outcome))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            results[item.filename] = outcome
    reporter.task_done(TASK_ALL, not failures)
    if failures:
        failures.sort(key=lambda f: f.filename)
        raise MultipleErrors(failures)
    return [results[item.filename] for item in planned]


class _Progress:
    """Counts the bytes of one file as they arrive, reported to the file's
    task and to the whole download's."""

    def __init__(self, reporter: Reporter, key: str) -> None:
        self.received = 0
        self._reporter = reporter
        self._key = key

    def advance(self, amount: int) -> None:
        self.received += amount
        self._reporter.task_advance(self._key, amount)
        self._reporter.task_advance(TASK_ALL, amount)


@dataclass(frozen=True)
class _Downloader:
    """Makes one item present in ``files_dir`` (see ``download_all``)."""

    files_dir: Path
    client: FileFetcher
    reporter: Reporter
    read_metadata: bool
    on_ready: Callable[[DownloadResult], None] | None

    def one(self, item: DownloadItem) -> DownloadResult:
        dest = self.files_dir / item.filename
        present = _present(dest, item)
        if present is not None:
            self.reporter.task_advance(TASK_ALL, present[1])
            return self._in_place(
                DownloadResult(item.filename, dest, present[0], present[1], fetched=False)
            )
        if not item.url:
            raise BundlerError(
                "no URL is known for this file",
                hint="the lock names no URL and no configured index lists the file",
            )
        # Whatever is there is wrong: never leave it under the final name.
        dest.unlink(missing_ok=True)
        digest, size = self._fetch(item, dest)
        return self._in_place(DownloadResult(item.filename, dest, digest, size, fetched=True))

    def _fetch(self, item: DownloadItem, dest: Path) -> tuple[str, int]:
        """Fetch ``item`` to ``dest``, checked against its hash and size."""
        key = f"{TASK_ALL}:{item.filename}"
        self.reporter.task_start(key, item.filename, item.size)
        progress = _Progress(self.reporter, key)
        ok = False
        try:
            digest, size = self.client.fetch_to_file(
                item.url, dest, sha256=item.sha256, size=item.size, progress=progress.advance
            )
            if digest != item.sha256:
                dest.unlink(missing_ok=True)
                raise HashMismatch(item.filename, item.sha256, digest)
            if item.size is not None and size != item.size:
                dest.unlink(missing_ok=True)
                raise NetworkError(item.filename, f"expected {item.size} bytes, got {size}")
            ok = True
        finally:
            self.reporter.task_done(key, ok)
        if progress.received < size:
            # A client that served the file from its cache may not report bytes.
            self.reporter.task_advance(TASK_ALL, size - progress.received)
        return digest, size

    def _in_place(self, result: DownloadResult) -> DownloadResult:
        """With its METADATA when asked for, handed to ``on_ready``."""
        if self.read_metadata and result.filename.endswith(".whl"):
            try:
                data = wheel_metadata(result.path, result.filename)
            except BundlerError:
                pass
            else:
                result = dataclasses.replace(result, metadata=data)
        if self.on_ready is not None:
            self.on_ready(result)
        return result


class AdaptivePool(Generic[T]):
    """Runs jobs on as many threads as pay off, up to ``limit``.

    Over a slow or distant link each transfer mostly waits, and more of them
    at once fill the link.  Over a fast one this process's CPU (TLS, hashing,
    the interpreter lock) is the limit, and threads beyond the cores only
    fight over it: on 2 cores against a nearby index, 8 threads took 30-40%
    longer than 2.  So the pool starts with one thread per core and, every
    ``LOOK_EVERY`` seconds, looks at the CPU the process used since its last
    look: below ``IDLE`` of the machine's, it starts as many threads again
    (up to ``limit``), so a waiting link fills within a few looks.

    Jobs start in the order they were submitted.
    """

    LOOK_EVERY = 0.025  # seconds between looks at the CPU used
    IDLE = 0.5  # below this share of the machine's CPU, more threads

    def __init__(
        self,
        limit: int,
        cpus: int | None = None,
        *,
        wall_clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self._limit = max(1, limit)
        self._cpus = max(1, cpus if cpus is not None else os.cpu_count() or 1)
        self._meter = CpuMeter(self.LOOK_EVERY, wall_clock, cpu_clock)
        self._jobs: collections.deque[tuple[str, Callable[[], T]]] = collections.deque()
        self._outcomes: dict[str, T | BaseException] = {}
        self._changed = threading.Condition()
        self._threads = 0  # started and not yet ended
        self.peak = 0  # the most threads that ran at once

    def submit(self, key: str, job: Callable[[], T]) -> None:
        with self._changed:
            self._jobs.append((key, job))

    def run(self) -> dict[str, T | BaseException]:
        """Run every job; return, by key, what each returned or raised."""
        with self._changed:
            self._meter.restart()
            self._grow(min(self._cpus, self._limit))
            try:
                while self._threads:
                    self._changed.wait(self.LOOK_EVERY)
                    self._look()
            except BaseException:
                # Interrupted: no job starts any more (those running finish
                # on their own, in threads that do not hold the process).
                self._jobs.clear()
                raise
            return self._outcomes

    def _grow(self, count: int) -> None:  # holding the lock
        for _ in range(min(count, self._limit - self._threads, len(self._jobs))):
            self._threads += 1
            threading.Thread(target=self._work, name="download", daemon=True).start()
        self.peak = max(self.peak, self._threads)

    def _work(self) -> None:
        while True:
            with self._changed:
                if not self._jobs:
                    self._threads -= 1
                    self._changed.notify_all()
                    return
                key, job = self._jobs.popleft()
            try:
                outcome: T | BaseException = job()
            except BaseException as err:  # handed to the caller of run()
                outcome = err
            with self._changed:
                self._outcomes[key] = outcome

    def _look(self) -> None:  # holding the lock
        busy = self._meter.busy()
        if busy is not None and busy / self._cpus < self.IDLE:
            self._grow(self._threads)


def _is_leftover_temp(name: str) -> bool:
    """A temp file of an interrupted atomic write (``.<name>.<random>.part``
    or ``.tmp``): never a bundle file, since those never start with a dot."""
    return name.startswith(".") and name.endswith(_TEMP_SUFFIXES)


def _remove_leftover_temps(files_dir: Path) -> None:
    for entry in files_dir.iterdir():
        if _is_leftover_temp(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)


def prune(files_dir: Path, keep: set[str], previous: Manifest | None) -> list[str]:
    """Remove files (and their ``.metadata`` sidecars) that ``previous``
    listed and ``keep`` does not, and temp files an interrupted run left.
    Files no manifest knows are left in place; their names are returned,
    sorted, so the caller can warn about them.

    Call it only while holding the bundle's directory lock, after downloads
    finished: a temp file of a running download would look left over."""
    if not files_dir.is_dir():
        return []
    listed = {a.filename for a in previous.artifacts} if previous is not None else set()
    unknown: list[str] = []
    for entry in sorted(files_dir.iterdir()):
        name = entry.name
        base = name[: -len(METADATA_SUFFIX)] if name.endswith(METADATA_SUFFIX) else None
        if name in keep or (base is not None and base in keep):
            continue
        owned = _is_leftover_temp(name) or name in listed or (base is not None and base in listed)
        if owned and entry.is_file() and not entry.is_symlink():
            entry.unlink()
        else:
            unknown.append(name)
    return unknown


__all__ = [
    "TASK_ALL",
    "AdaptivePool",
    "DownloadFailed",
    "DownloadItem",
    "DownloadResult",
    "FileFetcher",
    "download_all",
    "prune",
]
