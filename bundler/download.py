"""Fill a bundle's ``files/`` directory: fetch what is missing, in parallel,
and prune what the previous bundle held but the new one does not.

All HTTP (streaming, hash checking, atomic rename, the shared cache) lives in
the client; this module decides what to fetch and collects the outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import BundlerError, HashMismatch, MultipleErrors, NetworkError, UsageError
from .filenames import is_safe_filename
from .fsutil import sha256_file
from .manifest import is_sha256_hex
from .metadata import wheel_metadata
from .models import Manifest
from .reporting import Reporter

METADATA_SUFFIX = ".metadata"  # PEP 658 sidecar of a file in files/

# Suffixes of temp files written next to their destination (fsutil, http).
_TEMP_SUFFIXES = (".part", ".tmp")

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
) -> list[DownloadResult]:
    """Make every item present in ``files_dir`` with its sha256.

    A file already there with the right hash is not fetched again.  At most
    ``workers`` files are handled at once, the biggest first (the last file
    to start is then a small one).  Every item is attempted; if any failed,
    one ``MultipleErrors`` of ``DownloadFailed`` (one per file) is raised,
    and the files that succeeded stay in place.  Results come in the order
    of ``items`` (duplicates listed once).  With ``read_metadata``, each
    wheel's METADATA is read as soon as it is in place, while the other
    downloads go on.
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    planned, failures = _plan(items)
    files_dir.mkdir(parents=True, exist_ok=True)
    sizes = [item.size for item in planned]
    total = sum(s for s in sizes if s is not None) if None not in sizes else None
    reporter.task_start(TASK_ALL, f"{len(planned)} files", total)

    def with_metadata(result: DownloadResult) -> DownloadResult:
        if not read_metadata or not result.filename.endswith(".whl"):
            return result
        try:
            data = wheel_metadata(result.path, result.filename)
        except BundlerError:
            return result
        return dataclasses.replace(result, metadata=data)

    def one(item: DownloadItem) -> DownloadResult:
        dest = files_dir / item.filename
        present = _present(dest, item)
        if present is not None:
            reporter.task_advance(TASK_ALL, present[1])
            return with_metadata(
                DownloadResult(item.filename, dest, present[0], present[1], fetched=False)
            )
        if not item.url:
            raise BundlerError(
                "no URL is known for this file",
                hint="the lock names no URL and no configured index lists the file",
            )
        # Whatever is there is wrong: never leave it under the final name.
        dest.unlink(missing_ok=True)
        key = f"{TASK_ALL}:{item.filename}"
        reporter.task_start(key, item.filename, item.size)
        received = 0

        def progress(amount: int) -> None:
            nonlocal received
            received += amount
            reporter.task_advance(key, amount)
            reporter.task_advance(TASK_ALL, amount)

        ok = False
        try:
            digest, size = client.fetch_to_file(
                item.url, dest, sha256=item.sha256, size=item.size, progress=progress
            )
            if digest != item.sha256:
                dest.unlink(missing_ok=True)
                raise HashMismatch(item.filename, item.sha256, digest)
            if item.size is not None and size != item.size:
                dest.unlink(missing_ok=True)
                raise NetworkError(item.filename, f"expected {item.size} bytes, got {size}")
            ok = True
        finally:
            reporter.task_done(key, ok)
        if received < size:
            # A client that served the file from its cache may not report bytes.
            reporter.task_advance(TASK_ALL, size - received)
        return with_metadata(DownloadResult(item.filename, dest, digest, size, fetched=True))

    results: dict[str, DownloadResult] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download") as pool:
        biggest_first = sorted(planned, key=lambda i: -(i.size or 0))
        submitted = {item.filename: pool.submit(one, item) for item in biggest_first}
        for item, future in ((i, submitted[i.filename]) for i in planned):
            try:
                result = future.result()
            except (BundlerError, OSError) as err:
                reason = err.message if isinstance(err, BundlerError) else str(err)
                failures.append(DownloadFailed(item.filename, reason, cause=err))
                continue
            results[item.filename] = result
    reporter.task_done(TASK_ALL, not failures)
    if failures:
        failures.sort(key=lambda f: f.filename)
        raise MultipleErrors(failures)
    return [results[item.filename] for item in planned]


def _is_leftover_temp(name: str) -> bool:
    """A temp file of an interrupted atomic write (``.<name>.<random>.part``
    or ``.tmp``): never a bundle file, since those never start with a dot."""
    return name.startswith(".") and name.endswith(_TEMP_SUFFIXES)


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
    "DownloadFailed",
    "DownloadItem",
    "DownloadResult",
    "FileFetcher",
    "download_all",
    "prune",
]
