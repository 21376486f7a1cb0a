"""The one HTTP client: retries, redirects, credentials, cached pages,
range requests and downloads.

Every request bundler makes goes through ``HttpClient``: index pages,
``.metadata`` files, range requests and downloads.  URLs may carry
``user:secret@``; the secret is split off, applied as auth for that host and
never appears in an error, a log line or the cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from bundler import __version__
from bundler.errors import BundlerError, HashMismatch, NetworkError, NotFound
from bundler.index.cache import DiskCache, PageEntry, valid_sha256
from bundler.index.credentials import Credentials
from bundler.index.download import ResumableDownload, write_checked
from bundler.index.fetchahead import AHEAD_LIMIT
from bundler.index.responses import (
    Headers,
    NotCached,
    RangeNotSupported,
    Response,
    copy_local,
    entry_response,
    read_file_url,
    url_to_path,
)
from bundler.index.retries import (
    RETRY_STATUSES,
    Attempts,
    backoff_delay,
    describe_problem,
    final_errors,
    host_of,
    is_final_tls_failure,
    retry_after_delay,
    retryable_errors,
    tls_hint,
)
from bundler.index.transport import Reply, Transport
from bundler.index.trust import DEFAULT_TLS, TlsOptions, TransportError
from bundler.redact import redact_url, split_auth
from bundler.reporting import NULL_REPORTER, Reporter

if TYPE_CHECKING:
    from bundler.index.keyringcli import KeyringCommand

__all__ = ["MAX_REDIRECTS", "USER_AGENT", "HttpClient"]

# urllib3 is imported on the first request: a run served from the cache
# alone (--offline) never pays for it.

USER_AGENT = f"bundler/{__version__}"
MAX_REDIRECTS = 10
# Headers kept with a cached page.
_KEPT_HEADERS = ("Content-Type", "ETag", "Last-Modified")


class HttpClient:
    """A thread-safe HTTP client shared by every stage.

    ``cache_dir`` enables the disk cache; ``offline`` answers from it only.
    ``page_max_age`` is how long a cached index page is used without asking
    the server again (mirrors rarely send Cache-Control).  ``sleep`` is
    injectable so tests do not wait.
    """

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        offline: bool = False,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        retry_after_cap: float = 120.0,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        page_max_age: float = 600.0,
        # Connections kept per host: a pool of 10 workers and the fetch-ahead.
        pool_size: int = 10 + AHEAD_LIMIT,
        credentials: Iterable[str] = (),
        tls: TlsOptions = DEFAULT_TLS,
        keyring: KeyringCommand | None = None,
        user_agent: str = USER_AGENT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        reporter: Reporter = NULL_REPORTER,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.cache = DiskCache(cache_dir) if cache_dir is not None else None
        self.offline = offline
        # What a request offline mode refuses is told.
        self.offline_reason = "not in the cache, and offline mode forbids fetching it"
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.retry_after_cap = retry_after_cap
        self.page_max_age = page_max_age
        # False: a cached page is never used, not even to revalidate (a 304
        # to If-Modified-Since trusts a server's mtime, which a rollback
        # restored with its old time fools): what a gate checks is what the
        # server sends now.
        self.revalidate = True
        self._sleep = sleep
        self._clock = clock
        self.reporter = reporter
        self._lock = threading.Lock()
        self.credentials = Credentials(keyring)
        # (URL, sha256) -> why fetch_to_cache could not fetch it: the
        # fetch_to_file that follows raises that, and does not spend a
        # second retry budget (and Retry-After waits) on the same file.
        self._ahead_failed: dict[tuple[str, str], BundlerError] = {}
        # Set by cancel(): downloads stop at their next chunk.
        self._cancelled = threading.Event()
        self._transport = Transport(
            pool_size=pool_size,
            user_agent=user_agent,
            connect_timeout=connect_timeout,
            read_timeout=timeout,
            tls=tls,
        )
        for url in credentials:
            self.add_credentials(url)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- credentials -------------------------------------------------------------

    def add_credentials(self, url: str) -> str:
        """Remember the userinfo of ``url`` for its host; return the URL
        without it (``Credentials.add``)."""
        return self.credentials.add(url)

    def add_index(self, url: str) -> str:
        """``add_credentials`` for an index URL, which the keyring is then
        asked about (by its URL) when that index answers 401."""
        return self.credentials.add_index(url)

    def with_credentials(self, url: str) -> str:
        """``url`` carrying the credentials this client knows for its host,
        for a program that takes them only in the URL (pip).  Never print
        the result."""
        return self.credentials.with_credentials(url)

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        return self.credentials.scrub(text)

    def _error_reason(self, err: BaseException) -> str:
        text = str(err) or type(err).__name__
        return self.scrub(f"{type(err).__name__}: {text}")

    # -- the request loop --------------------------------------------------------

    def _send(
        self,
        url: str,
        headers: Mapping[str, str],
        stream: bool,
        post: Iterable[bytes] | None = None,
    ) -> Reply:
        """One attempt, following redirects by hand so that credentials go
        only to their own host and https never turns into http.  A POST
        (``post`` is its body) follows none: its answer is the caller's."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            auth = self.credentials.auth_for(current)
            try:
                if post is None:
                    resp = self._transport.get(current, headers, auth=auth, stream=stream)
                else:
                    resp = self._transport.get(
                        current, headers, auth=auth, stream=stream, method="POST", body=post
                    )
            except TransportError as err:
                failure = NetworkError(redact_url(current), err.reason)
                failure.hint = err.hint
                raise failure from err
            if not resp.is_redirect or post is not None:
                return resp
            location = resp.headers.get("Location", "")
            resp.close()
            target, _ = split_auth(urljoin(current, location))
            if urlsplit(current).scheme == "https" and urlsplit(target).scheme != "https":
                raise NetworkError(
                    redact_url(url), f"refusing to follow a redirect from https to {target!r}"
                )
            current = target
        raise NetworkError(redact_url(url), f"more than {MAX_REDIRECTS} redirects")

    def _wait_to_retry(
        self, url: str, attempts: Attempts, problem: str, delay: float | None = None
    ) -> None:
        """Report the retry and wait for it: ``delay`` (a Retry-After),
        else the backoff for the attempts made."""
        if delay is None:
            delay = backoff_delay(attempts.made, self.backoff, self.max_backoff)
        self.reporter.retry(host_of(url), problem, delay, attempts.made + 1, attempts.limit)
        self._sleep(delay)

    def _request(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        stream: bool = False,
        attempts: Attempts | None = None,
        post: Iterable[bytes] | None = None,
    ) -> Reply:
        """GET (or POST ``post``) with retries; return a 2xx/304 response
        (any response not retried, for a POST) or raise.

        Connection errors, timeouts, 429 and 5xx are retried with exponential
        backoff and jitter (``Retry-After`` honoured, capped); 404/410 raise
        ``NotFound`` at once; other 4xx raise ``NetworkError``.  ``attempts``
        is the budget of a fetch that makes several requests (a download
        that resumes): each request made here is counted in it.
        """
        display = redact_url(url)
        if attempts is None:
            attempts = Attempts(self.max_attempts)
        keyring_asked = False
        while True:
            attempts.made += 1
            resp = self._attempt(url, headers, stream, post, attempts)
            if resp is None:
                continue
            status = resp.status
            if status < 400:
                return resp
            if status == 401 and not keyring_asked and self.credentials.from_keyring(resp.url):
                keyring_asked = True  # sent again once, with the keyring's credentials
                resp.close()
                continue
            if post is not None and status not in RETRY_STATUSES:
                return resp
            self._retry_or_raise(url, display, resp, attempts, keyring_asked)

    def _attempt(
        self,
        url: str,
        headers: Mapping[str, str],
        stream: bool,
        post: Iterable[bytes] | None,
        attempts: Attempts,
    ) -> Reply | None:
        """One request: its response, or None after waiting to try again
        (a failure worth it); raises when it is not, or the attempts are
        spent."""
        display = redact_url(url)
        try:
            return self._send(url, headers, stream, post)
        except final_errors() as err:
            raise NetworkError(display, f"bad URL: {self._error_reason(err)}") from err
        except retryable_errors() as err:
            if is_final_tls_failure(err):
                failure = NetworkError(display, f"TLS error: {self._error_reason(err)}")
                failure.hint = tls_hint(failure.reason)
                raise failure from err
            if attempts.spent:
                raise NetworkError(
                    display, f"{self._error_reason(err)} (after {attempts.made} attempts)"
                ) from err
            self._wait_to_retry(url, attempts, describe_problem(err))
            return None
        except ValueError as err:  # a header or URL http.client refuses to send
            raise NetworkError(display, self._error_reason(err)) from err

    def _retry_or_raise(
        self, url: str, display: str, resp: Reply, attempts: Attempts, keyring_asked: bool
    ) -> None:
        """An error status: wait to try again (429, 5xx), or raise."""
        status = resp.status
        reason = f"HTTP {status} {self.scrub(resp.reason)}".rstrip()
        if status in (404, 410):
            resp.close()
            raise NotFound(display, reason, status=status)
        if status in RETRY_STATUSES:
            value = resp.headers.get("Retry-After")
            delay = retry_after_delay(value, self._clock(), self.retry_after_cap)
            resp.close()
            if attempts.spent:
                raise NetworkError(
                    display, f"{reason} (after {attempts.made} attempts)", status=status
                )
            self._wait_to_retry(url, attempts, str(status), delay)
            return
        resp.close()
        hint = None
        if status in (401, 403):
            hint = "check the credentials for this index (URL userinfo, ~/.netrc, or the"
            hint += " keyring command with --keyring-provider subprocess)"
            if keyring_asked:
                hint = "the index refused the credentials the keyring command gave"
        failure = NetworkError(display, reason, status=status)
        failure.hint = hint
        raise failure

    def _prepare(self, url: str) -> str:
        clean = self.add_credentials(url)
        scheme = urlsplit(clean).scheme
        if scheme not in ("http", "https", "file"):
            raise NetworkError(redact_url(clean), f"unsupported URL scheme {scheme!r}")
        return clean

    # -- GET -----------------------------------------------------------------------

    def get(self, url: str, accept: str | None = None, *, cacheable: bool = False) -> Response:
        """GET ``url`` and return the whole response.

        ``cacheable`` marks an index page: it is kept in the disk cache,
        re-used for ``page_max_age`` seconds, then revalidated with
        ETag/Last-Modified when the server gave them.  ``file://`` URLs are
        read from disk (a directory answers with its ``index.html``).
        """
        clean = self._prepare(url)
        if urlsplit(clean).scheme == "file":
            return read_file_url(clean)
        display = redact_url(clean)
        key = f"{display}\0{accept or ''}"
        use_cache = cacheable and self.cache is not None and (self.revalidate or self.offline)
        entry = self.cache.load_page(key) if use_cache and self.cache is not None else None
        if self.offline:
            if entry is None:
                raise NotCached(display, self.offline_reason)
            return entry_response(entry)
        if entry is not None and self._clock() - entry.fetched < self.page_max_age:
            return entry_response(entry)
        headers: dict[str, str] = {}
        if accept:
            headers["Accept"] = accept
        if entry is not None:
            # RFC 9110 conditional request: 304 means the cached page is current.
            if etag := entry.headers.get("ETag"):
                headers["If-None-Match"] = etag
            if modified := entry.headers.get("Last-Modified"):
                headers["If-Modified-Since"] = modified
        resp = self._request(clean, headers)
        final = split_auth(resp.url)[0]
        if resp.status == 304 and entry is not None:
            entry = dataclasses.replace(entry, fetched=self._clock())
            self._store_page(key, entry)
            return entry_response(entry)
        content = resp.content
        kept = {h: resp.headers[h] for h in _KEPT_HEADERS if h in resp.headers}
        digest: str | None = None
        if cacheable and resp.status == 200:
            digest = hashlib.sha256(content).hexdigest()
            self._store_page(key, PageEntry(final, self._clock(), 200, kept, content, digest))
        return Response(final, resp.status, Headers(dict(resp.headers)), content, sha256=digest)

    def post(self, url: str, body: Iterable[bytes], headers: Mapping[str, str]) -> Response:
        """POST ``body`` (re-iterated for each attempt) to ``url`` and
        return the answer, whatever its status but those retried as for a
        GET (connection errors, 429, 5xx; a 401 once with the keyring's
        credentials): an upload API says in a 4xx why it refused.  A
        redirect is returned too, not followed.  A POST sent again may
        have been received the first time: the caller must read "already
        there" as a possible success."""
        clean = self._prepare(url)
        resp = self._request(clean, headers, post=body)
        try:
            content = resp.content
        finally:
            resp.close()
        return Response(
            split_auth(resp.url)[0],
            resp.status,
            Headers(dict(resp.headers)),
            content,
            reason=resp.reason,
        )

    def _store_page(self, key: str, entry: PageEntry) -> None:
        if self.cache is None:
            return
        # A cache that cannot be written is not worth failing the run for.
        with contextlib.suppress(OSError, BundlerError):
            self.cache.store_page(key, entry)

    def get_range(self, url: str, start: int, end: int | None = None) -> Response:
        """GET bytes ``start``..``end`` (inclusive; ``end=None``: to the end).

        A negative ``start`` asks for the last ``-start`` bytes.  Raises
        ``RangeNotSupported`` when the server answers with the whole file
        (which is then not downloaded).
        """
        clean = self._prepare(url)
        display = redact_url(clean)
        if urlsplit(clean).scheme == "file":
            raise RangeNotSupported(display, "range requests need HTTP")
        if self.offline:
            raise NotCached(display, self.offline_reason)
        # RFC 9110: "bytes=-N" is the last N bytes.
        spec = f"bytes={start}" if start < 0 else f"bytes={start}-{'' if end is None else end}"
        headers = {"Range": spec, "Accept-Encoding": "identity"}
        attempts = Attempts(self.max_attempts)
        while True:
            try:
                resp = self._request(clean, headers, stream=True, attempts=attempts)
            except NetworkError as err:
                if err.status == 416:
                    raise RangeNotSupported(display, err.reason, status=416) from err
                raise
            try:
                if resp.status != 206:
                    raise RangeNotSupported(
                        display, f"server answered {resp.status} to a range request"
                    )
                try:
                    content = resp.content
                except retryable_errors() as err:
                    if attempts.spent:
                        raise NetworkError(
                            display,
                            f"{self._error_reason(err)} (after {attempts.made} attempts)",
                        ) from err
                    self._wait_to_retry(clean, attempts, describe_problem(err))
                    continue
                final = split_auth(resp.url)[0]
                return Response(final, 206, Headers(dict(resp.headers)), content)
            finally:
                resp.close()

    # -- downloads -----------------------------------------------------------------

    def cancel(self) -> None:
        """Stop every download of this client at its next chunk (each
        raises ``Cancelled``): on Ctrl-C, the threads fetching files end
        within a chunk's read instead of finishing their files."""
        self._cancelled.set()

    def fetch_to_file(
        self,
        url: str,
        dest: Path,
        *,
        sha256: str | None = None,
        size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[str, int]:
        """Download ``url`` to ``dest`` atomically; return (sha256, size).

        The bytes go to a temp file next to ``dest``, hashed while they
        stream; a dropped connection resumes with ``Range``/``If-Range``
        (from zero when the server answers 200), within ``max_attempts``
        requests in all.  With ``sha256`` a mismatch raises ``HashMismatch``
        and leaves nothing behind, and a blob already in the cache is used
        without any request.  With ``size``, a body that would be longer is
        cut off at once (``NetworkError``; nothing is left behind).
        ``progress`` receives byte increments (negative when a download
        restarts from zero).
        """
        clean = self._prepare(url)
        expected = valid_sha256(sha256) if sha256 else None
        with self._lock:
            failed = self._ahead_failed.pop((clean, expected or ""), None)
        if failed is not None:
            raise failed
        if expected and self.cache is not None:
            hit = self.cache.copy_blob(expected, size, dest)
            if hit is not None:
                if progress is not None:
                    progress(hit)
                return expected, hit
        return self._fetch(clean, dest, expected, size, progress, self.cache)

    def _fetch(
        self,
        clean: str,
        dest: Path,
        expected: str | None,
        size: int | None,
        progress: Callable[[int], None] | None,
        keep_in: DiskCache | None,
    ) -> tuple[str, int]:
        """``fetch_to_file``'s download (the blob cache already asked);
        ``keep_in``: the cache that also keeps the file."""
        display = redact_url(clean)
        scheme = urlsplit(clean).scheme
        if scheme != "file" and self.offline:
            raise NotCached(display, self.offline_reason)
        if self.cache is not None:
            self.cache.sweep_once(self._clock)

        def fill(fh: IO[bytes]) -> tuple[str, int]:
            if scheme == "file":
                return copy_local(url_to_path(clean), fh, display, size, progress)
            return self._download(clean, fh, expected, size, progress)

        return write_checked(dest, fill, display, expected=expected, size=size, cache=keep_in)

    def fetch_to_cache(self, url: str, *, sha256: str, size: int | None = None) -> Path | None:
        """Put the file in the cache (a later ``fetch_to_file`` of it then
        makes no request) and return its path there: the bytes go straight
        to the blob store, through a temp file beside the blob.  Without a
        cache, offline, or for a file known to fail, nothing happens (None).

        When the file cannot be fetched, the next ``fetch_to_file`` of it
        raises why, without a request: the file's retries were spent here.
        """
        if self.cache is None or self.offline:
            return None
        digest = valid_sha256(sha256)
        clean = self._prepare(url)
        key = (clean, digest)
        with self._lock:
            if key in self._ahead_failed:
                return None  # raised by the next fetch_to_file
        blob = self.cache.blob_path(digest)
        if blob.is_file():
            return blob
        try:
            _, got = self._fetch(clean, blob, digest, size, None, None)
        except (NetworkError, HashMismatch) as err:
            with self._lock:
                self._ahead_failed[key] = err
            raise
        self.cache.note_stored(digest, got)
        return blob

    def _download(
        self,
        url: str,
        fh: IO[bytes],
        expected: str | None,
        size: int | None,
        progress: Callable[[int], None] | None,
    ) -> tuple[str, int]:
        attempts = Attempts(self.max_attempts)
        return ResumableDownload(
            url,
            fh,
            expected=expected,
            size=size,
            progress=progress,
            attempts=attempts,
            send=lambda headers: self._request(url, headers, stream=True, attempts=attempts),
            wait=lambda problem: self._wait_to_retry(url, attempts, problem),
            reason=self._error_reason,
            cancelled=self._cancelled,
        ).run()
