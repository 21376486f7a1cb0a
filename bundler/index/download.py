"""A download that resumes: a file's bytes streamed to disk, hashed as
they come, and continued with ``Range``/``If-Range`` after a dropped
connection (RFC 9110)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from bundler.errors import HashMismatch, NetworkError
from bundler.fsutil import temp_file_beside
from bundler.index.cache import DiskCache
from bundler.index.responses import Cancelled, parse_content_range
from bundler.index.retries import Attempts, retryable_errors
from bundler.index.transport import Reply
from bundler.redact import redact_url

__all__ = ["STREAM_CHUNK", "STREAM_CHUNK_MAX", "ResumableDownload", "body_chunks", "write_checked"]

# Bytes read in a failed read are lost; small reads keep a resume close to
# where the connection dropped.
STREAM_CHUNK = 64 * 1024
STREAM_CHUNK_MAX = 1024 * 1024


def write_checked(
    dest: Path,
    fill: Callable[[IO[bytes]], tuple[str, int]],
    display: str,
    *,
    expected: str | None,
    size: int | None,
    cache: DiskCache | None,
) -> tuple[str, int]:
    """Fill a temp file beside ``dest`` (``fill`` returns its sha256 and
    size), check its size and hash, keep it in ``cache``, and move it to
    ``dest``; return (sha256, size).  A failure leaves nothing behind."""
    fd, tmp_name = temp_file_beside(dest, ".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as fh:
            digest, got = fill(fh)
            # Not forced to the disk (see atomic_write): every file is
            # checked by its hash when used (cache) or verified (bundle).
        # The size first: a file of another size cannot have the hash
        # either, and its size says more than two digests.
        if size is not None and got != size:
            raise NetworkError(display, f"expected {size} bytes, received {got}")
        if expected and digest != expected:
            raise HashMismatch(display, expected, digest)
        if cache is not None:
            with contextlib.suppress(OSError):
                cache.put_blob_file(tmp, digest, got)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return digest, got


def body_chunks(resp: Reply, room: int | None = None) -> Iterator[bytes]:
    """A streamed body in reads that grow from STREAM_CHUNK to
    STREAM_CHUNK_MAX: a read that fails loses what it had read, so the first
    ones are small; big ones then cost far less CPU per byte.  With
    ``room``, at most ``room + 1`` bytes are read: one byte more than room
    tells a body that is too long without reading the rest of it."""
    size = STREAM_CHUNK
    while room is None or room >= 0:
        chunk = resp.read(size if room is None else min(size, room + 1))
        if not chunk:
            return
        yield chunk
        if room is not None:
            room -= len(chunk)
        size = min(size * 2, STREAM_CHUNK_MAX)


class ResumableDownload:
    """One file streamed into ``fh``.  ``send`` makes one request with the
    headers given (retrying what is worth it, within ``attempts``);
    ``wait`` reports a retry and waits for it; ``reason`` says what a
    failure was, secrets scrubbed.  ``expected`` (a sha256) lets a resume
    go on without a validator; ``size`` cuts off a longer body at once."""

    def __init__(
        self,
        url: str,
        fh: IO[bytes],
        *,
        expected: str | None,
        size: int | None,
        progress: Callable[[int], None] | None,
        attempts: Attempts,
        send: Callable[[Mapping[str, str]], Reply],
        wait: Callable[[str], None],
        reason: Callable[[BaseException], str],
        cancelled: threading.Event,
    ) -> None:
        self._display = redact_url(url)
        self._fh = fh
        self._expected = expected
        self._size = size
        self._progress = progress
        self._attempts = attempts
        self._send = send
        self._wait = wait
        self._reason = reason
        self._cancelled = cancelled
        self._hasher = hashlib.sha256()
        self._written = 0
        self._validator: str | None = None

    def run(self) -> tuple[str, int]:
        """Download the file; return (sha256, size)."""
        while True:
            if self._cancelled.is_set():
                raise Cancelled(self._display)
            resp = self._send(self._resume_headers())
            try:
                self._start(resp)
                try:
                    self._stream(resp)
                except retryable_errors() as err:
                    self._dropped(err)
                    continue
                return self._hasher.hexdigest(), self._written
            finally:
                resp.close()

    def _resume_headers(self) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity"}
        # RFC 9110 If-Range: the server sends the rest only if the file
        # is unchanged, else all of it (200) and we start over.
        if self._written and (self._validator or self._expected):
            headers["Range"] = f"bytes={self._written}-"
            if self._validator:
                headers["If-Range"] = self._validator
        elif self._written:
            self._restart()
        return headers

    def _restart(self) -> None:
        """Drop what was written: the file comes again from its first byte."""
        self._fh.seek(0)
        self._fh.truncate()
        self._hasher = hashlib.sha256()
        if self._progress is not None:
            self._progress(-self._written)
        self._written = 0

    def _start(self, resp: Reply) -> None:
        """Check the answer's status and announced size before its body."""
        if resp.status == 206 and self._written:
            parsed = parse_content_range(resp.headers.get("Content-Range", ""))
            if parsed is None or parsed[0] != self._written:
                raise NetworkError(self._display, "server sent a range that was not asked for")
            _check_announced(self._display, "Content-Range", parsed[2], self._size)
        elif resp.status == 200:
            if self._written:
                self._restart()
            self._validator = _strong_validator(resp)
            _check_announced(self._display, "Content-Length", _content_length(resp), self._size)
        else:
            raise NetworkError(self._display, f"unexpected HTTP {resp.status}")

    def _stream(self, resp: Reply) -> None:
        size = self._size
        for chunk in body_chunks(resp, None if size is None else size - self._written):
            if self._cancelled.is_set():
                raise Cancelled(self._display)
            if size is not None and self._written + len(chunk) > size:
                raise NetworkError(
                    self._display,
                    f"the server sent more than the {size} bytes expected: stopped reading",
                )
            self._fh.write(chunk)
            self._hasher.update(chunk)
            self._written += len(chunk)
            if self._progress is not None:
                self._progress(len(chunk))

    def _dropped(self, err: BaseException) -> None:
        """A connection dropped mid-body: wait to resume, or raise when the
        attempts are spent."""
        attempts = self._attempts
        if attempts.spent:
            raise NetworkError(
                self._display,
                f"connection dropped after {self._written} bytes:"
                f" {self._reason(err)} (after {attempts.made} attempts)",
            ) from err
        self._wait(f"connection dropped after {self._written} bytes")


def _content_length(resp: Reply) -> int | None:
    value = resp.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


def _check_announced(display: str, header: str, announced: int | None, size: int | None) -> None:
    """Refuse a response whose headers announce more bytes than expected,
    before reading its body (it cannot be the file)."""
    if announced is not None and size is not None and announced > size:
        raise NetworkError(
            display, f"{header} announces {announced} bytes, more than the {size} expected"
        )


def _strong_validator(resp: Reply) -> str | None:
    """An ``If-Range`` validator: a strong ETag, else Last-Modified."""
    etag = resp.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return resp.headers.get("Last-Modified")
