"""Fetch a lock's files into the cache while the rest of it is worked out.

A requirements.txt lock names no URL: each project's page is read first.
A project's files can start as soon as its page is in, not once every page
is; the download that follows then finds them in the cache.  A failure
here is not reported: the download meets it again, and reports it there.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Protocol

from bundler.models import LockedFile

__all__ = ["CacheFiller", "FetchAhead"]


class CacheFiller(Protocol):
    """The part of the HTTP client that fetching ahead uses."""

    def fetch_to_cache(self, url: str, *, sha256: str, size: int | None = None) -> Path | None: ...

    def cancel(self) -> None: ...


class FetchAhead:
    """A pool of ``workers`` threads putting files into ``client``'s cache.

    Used as a context manager: leaving it waits for the files under way,
    except on Ctrl-C, when the client is cancelled first so that they stop
    at their next chunk."""

    def __init__(self, client: CacheFiller, workers: int) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ahead")

    def __enter__(self) -> FetchAhead:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self._client.cancel()
        self._pool.shutdown(wait=True)

    def submit(self, files: Sequence[LockedFile]) -> None:
        """Start fetching each of ``files`` whose URL and hash are known."""
        for f in files:
            if f.url and f.sha256:
                self._pool.submit(self._client.fetch_to_cache, f.url, sha256=f.sha256, size=f.size)
