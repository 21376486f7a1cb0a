"""What a request gives back: ``Response``, its headers, the errors a
fetch raises besides the network's, and ``file://`` URLs read from disk."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from bundler.errors import BundlerError, NetworkError, NotFound
from bundler.fsutil import copy_hashing, url_path_to_local
from bundler.index.cache import PageEntry
from bundler.redact import redact_url

__all__ = [
    "Cancelled",
    "Headers",
    "NotCached",
    "RangeNotSupported",
    "Response",
    "copy_local",
    "entry_response",
    "parse_content_range",
    "read_file_url",
    "strip_fragment",
    "url_to_path",
]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


class Headers(Mapping[str, str]):
    """Response headers: a read-only mapping with case-insensitive keys."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] = {}) -> None:
        self._items = {k.lower(): (k, v) for k, v in items.items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


class NotCached(NetworkError):
    """Offline mode is on and the cache does not hold what was asked for."""

    def __init__(
        self, url: str, reason: str = "not in the cache, and offline mode forbids fetching it"
    ) -> None:
        super().__init__(url, reason)


class Cancelled(BundlerError):
    """A download stopped because the client was cancelled (Ctrl-C)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"{url}: download stopped: interrupted")


class RangeNotSupported(NetworkError):
    """The server ignored or refused a ``Range`` request."""


def url_to_path(url: str) -> Path:
    """The local path of a ``file://`` URL."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise NetworkError(redact_url(url), "file URLs on another host are not supported")
    return Path(url_path_to_local(parts.path))


def strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


# --- responses ------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """A complete response.  ``url`` is the final URL, without credentials."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    from_cache: bool = False
    sha256: str | None = None  # of ``content``, when already known
    reason: str = ""  # the status line's words (an upload API may explain itself there)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def entry_response(entry: PageEntry) -> Response:
    return Response(
        entry.url, entry.status, Headers(entry.headers), entry.content, True, entry.sha256 or None
    )


_FILE_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/vnd.pypi.simple.v1+json",
}


def read_file_url(url: str) -> Response:
    path = url_to_path(url)
    display = redact_url(url)
    if path.is_dir():
        # pip reads index.html for a file:// index directory.
        path = path / "index.html"
        content_type = "text/html"
    else:
        content_type = _FILE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    try:
        content = path.read_bytes()
    except FileNotFoundError as err:
        raise NotFound(display, "no such file") from err
    except OSError as err:
        raise NetworkError(display, f"cannot read: {err.strerror or err}") from err
    headers = Headers({"Content-Type": content_type})
    return Response(url, 200, headers, content)


def copy_local(
    source: Path,
    fh: IO[bytes],
    display: str,
    size: int | None,
    progress: Callable[[int], None] | None,
) -> tuple[str, int]:
    """Copy a local file, refusing at once one longer than ``size``."""
    try:
        with source.open("rb") as src:
            found = os.fstat(src.fileno()).st_size
            if size is not None and found > size:
                raise NetworkError(
                    display, f"is {found} bytes, more than the {size} bytes expected"
                )
            return copy_hashing(src, fh, progress)
    except FileNotFoundError as err:
        raise NotFound(display, "no such file") from err
    except IsADirectoryError as err:
        raise NetworkError(display, "is a directory, not a file") from err


def parse_content_range(value: str) -> tuple[int, int, int | None] | None:
    """``Content-Range: bytes a-b/total`` as (a, b, total or None)."""
    match = _CONTENT_RANGE.match(value.strip())
    if match is None:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total
