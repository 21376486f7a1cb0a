"""The one HTTP layer: pooled connections, retries, credentials, a disk cache.

Every request bundler makes goes through ``HttpClient``: index pages,
``.metadata`` files, range requests and downloads.  URLs may carry
``user:secret@``; the secret is split off, applied as auth for that host and
never appears in an error, a log line or the cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import functools
import hashlib
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from bundler import __version__
from bundler.errors import BundlerError, HashMismatch, NetworkError, NotFound
from bundler.fsutil import (
    copy_hashing,
    temp_file_beside,
    url_path_to_local,
)
from bundler.index.cache import DiskCache, PageEntry, valid_sha256
from bundler.index.transport import DEFAULT_TLS, Reply, TlsOptions, Transport, TransportError
from bundler.redact import REDACTED, redact_url, split_auth
from bundler.reporting import NULL_REPORTER, Reporter

if TYPE_CHECKING:
    from bundler.index.keyringcli import KeyringCommand

# urllib3 is imported on the first request: a run served from the cache
# alone (--offline) never pays for it.

USER_AGENT = f"bundler/{__version__}"
MAX_REDIRECTS = 10
# Bytes read in a failed read are lost; small reads keep a resume close to
# where the connection dropped.
STREAM_CHUNK = 64 * 1024
STREAM_CHUNK_MAX = 1024 * 1024
# Statuses worth another try (RFC 9110 / RFC 6585 429).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


@functools.cache
def _retryable_errors() -> tuple[type[Exception], ...]:
    """Failures worth another try: every urllib3 error (connection refused
    or dropped, a timeout, a body cut short or that would not decode) but
    those ``_request`` tells apart first (TLS, a malformed URL)."""
    import urllib3

    return (urllib3.exceptions.HTTPError,)


@functools.cache
def _final_errors() -> tuple[type[Exception], ...]:
    """Failures another try would not fix: a URL that cannot be parsed
    (and TLS failures that ``_is_final_tls_failure`` tells apart)."""
    import urllib3

    return (urllib3.exceptions.LocationValueError,)


# TLS failures that say the two ends cannot talk TLS to each other at all
# (an https URL on a plain-HTTP port or proxy, no protocol or cipher in
# common): another try would fail the same way.  OpenSSL's reason codes.
_FINAL_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNSUPPORTED_PROTOCOL",
        "UNKNOWN_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_SHARED_CIPHER",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "UNSAFE_LEGACY_RENEGOTIATION_DISABLED",
        # The server wants a client certificate, or refuses the one sent.
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
    }
)


# What to do about a certificate one end did not accept (OpenSSL's reasons).
_TLS_HINTS = {
    "CERTIFICATE_VERIFY_FAILED": "the server's certificate is not signed by a CA bundler"
    " trusts (the system's trust store and certifi's): pass --cert CA.pem (or set"
    " PIP_CERT) to trust its CA too, or add that CA to the system's trust store",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the index asks for a client certificate:"
    " pass --client-cert PEM (a file holding the private key and the certificate)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the index refused the client certificate"
    " (--client-cert, PIP_CLIENT_CERT)",
    "TLSV1_ALERT_UNKNOWN_CA": "the index does not trust the client certificate's CA"
    " (--client-cert, PIP_CLIENT_CERT)",
}


def _is_final_tls_failure(err: BaseException) -> bool:
    """Whether a failure is one TLS will not get past by trying again: the
    server's certificate (untrusted, expired, another host's; never
    downgraded), or no TLS in common (``_FINAL_TLS_REASONS``).  Other TLS
    failures (an alert mid-connection, a record cut short) are the
    network's, and worth another try."""
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError) or (
            type(current).__name__ == "CertificateError"
        ):
            return True
        if getattr(current, "reason", None) in _FINAL_TLS_REASONS:
            return True
        todo += [a for a in current.args if isinstance(a, BaseException)]
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return False


def _body_chunks(resp: Reply, room: int | None = None) -> Iterator[bytes]:
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


class _Attempts:
    """The requests one fetch may make: every one counts, whatever it met
    (an error status, a refused connection, a body cut short, a restart
    from zero), so "after 5 attempts" means 5 requests and a server that
    drops every response cannot keep a download going for ever."""

    __slots__ = ("limit", "made")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.made = 0

    @property
    def spent(self) -> bool:
        return self.made >= self.limit


def _host(url: str) -> str:
    """The host (and port, when the URL names one) of ``url``: what a
    retry line shows, never credentials nor a path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # RFC 3986: an IPv6 literal
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


# Secrets shorter than this are not replaced in free text (every "x" of a
# message would go); in URLs they are redacted whatever their length.
MIN_SCRUBBED = 4
# The retry problems that mean the host was never reached ("... to HOST").
CANNOT_CONNECT = "cannot connect"
CONNECT_TIMED_OUT = "connection timed out"
CONNECT_PROBLEMS = (CANNOT_CONNECT, CONNECT_TIMED_OUT)


def _problem(err: BaseException) -> str:  # noqa: PLR0911
    """A few words for a failure worth another try, for a retry line."""
    import urllib3.exceptions as e

    if isinstance(err, e.NewConnectionError):  # a ConnectTimeoutError too, in urllib3
        return CANNOT_CONNECT
    if isinstance(err, e.ConnectTimeoutError):
        return CONNECT_TIMED_OUT
    if isinstance(err, e.TimeoutError):
        return "read timed out"
    if isinstance(err, e.SSLError):
        return "TLS error"
    if isinstance(err, e.ProxyError):
        return "proxy error"
    if isinstance(err, e.ProtocolError):
        return "connection dropped"
    return type(err).__name__


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

    def __init__(self, url: str) -> None:
        super().__init__(url, "not in the cache, and offline mode forbids fetching it")


class Cancelled(BundlerError):
    """A download stopped because the client was cancelled (Ctrl-C)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"{url}: download stopped: interrupted")


class RangeNotSupported(NetworkError):
    """The server ignored or refused a ``Range`` request."""


# --- URLs and credentials -----------------------------------------------------


def host_key(url: str) -> str:
    """``host:port`` of a URL (default port filled in), lowercased."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{(parts.hostname or '').lower()}:{port}"


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


# Headers kept with a cached page.
_KEPT_HEADERS = ("Content-Type", "ETag", "Last-Modified")


# --- the client -----------------------------------------------------------------


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
        pool_size: int = 16,
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
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.retry_after_cap = retry_after_cap
        self.page_max_age = page_max_age
        self._sleep = sleep
        self._clock = clock
        self.reporter = reporter
        self._lock = threading.Lock()
        self._auth: dict[str, tuple[str, str]] = {}
        self._secrets: set[str] = set()
        self._keyring = keyring
        self._keyring_lock = threading.Lock()  # one look-up at a time
        # host:port -> what the keyring gave for it (None: nothing).
        self._keyring_answers: dict[str, tuple[str, str] | None] = {}
        # Index URLs as given (userinfo kept), for the keyring's service names.
        self._index_urls: list[str] = []
        self._swept = False  # the cache's stale temp directories, once
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
        without it.  A user name alone does not replace the password known
        for that same user (pip keeps it too)."""
        clean, auth = split_auth(url)
        if auth is not None:
            self._remember(host_key(clean), auth)
        return clean

    def add_index(self, url: str) -> str:
        """``add_credentials`` for an index URL, which the keyring is then
        asked about (by its URL) when that index answers 401."""
        with self._lock:
            if url not in self._index_urls:
                self._index_urls.append(url)
        return self.add_credentials(url)

    def _remember(self, host: str, auth: tuple[str, str], *, replace: bool = False) -> None:
        with self._lock:
            known = self._auth.get(host)
            if replace or known is None or auth[1] or known[0] != auth[0]:
                self._auth[host] = auth
            # The password, or a user name standing alone (a token); never a
            # user name beside a password: it is no secret (pip shows it).
            secret = auth[1] or auth[0]
            if len(secret) >= MIN_SCRUBBED:
                self._secrets.update({secret, quote(secret, safe="")})

    def _from_keyring(self, url: str) -> bool:
        """After a 401 from ``url``'s host, pip's keyring look-up: the
        keyring's credentials for the index ``url`` is under, else for its
        ``host:port``, with the index URL's user name when it has one.  True
        when the keyring gave credentials (now the host's); never when the
        URL itself carries a password (pip does not ask then)."""
        if self._keyring is None:
            return False
        host = host_key(url)
        with self._keyring_lock:
            if host in self._keyring_answers:
                found = self._keyring_answers[host]
            else:
                known = self._auth_for(url)
                if known is not None and known[1]:
                    return False
                index_url = self._index_for(url)
                username = known[0] if known is not None and known[0] else None
                services = [split_auth(index_url)[0]] if index_url else []
                services.append(urlsplit(url).netloc)
                found = None
                for service in services:
                    found = self._keyring.credentials(service, username)
                    if found is not None:
                        break
                self._keyring_answers[host] = found
            if found is not None:
                self._remember(host, found, replace=True)
            return found is not None

    def _index_for(self, url: str) -> str | None:
        """pip's ``_get_index_url``: the index URL ``url`` is (or is under,
        the longest common path winning) on the same host, userinfo kept."""
        target = url.rstrip("/") + "/"
        parts = urlsplit(target)
        with self._lock:
            indexes = list(self._index_urls)
        candidates: list[tuple[int, str]] = []
        for given in indexes:
            index = given.rstrip("/") + "/"
            clean = urlsplit(split_auth(index)[0])
            if clean == parts:
                return index
            if clean.netloc == parts.netloc:
                common = os.path.commonpath([parts.path or "/", clean.path or "/"])
                candidates.append((len(common), index))
        if not candidates:
            return None
        return max(candidates, key=lambda c: c[0])[1]

    def with_credentials(self, url: str) -> str:
        """``url`` carrying the credentials this client knows for its host
        (given in a URL, or the keyring's after a 401), for a program that
        takes them only in the URL (pip); unchanged when none are known or
        ``url`` has its own.  Never print the result."""
        auth = self._auth_for(url)
        clean, own = split_auth(url)
        if auth is None or own is not None:
            return url
        parts = urlsplit(clean)
        user = quote(auth[0], safe="") + (f":{quote(auth[1], safe='')}" if auth[1] else "")
        return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc}"))

    def _auth_for(self, url: str) -> tuple[str, str] | None:
        with self._lock:
            return self._auth.get(host_key(url))

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text

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
            auth = self._auth_for(current)
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

    def _backoff_delay(self, attempt: int) -> float:
        base: float = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto
        return base * jitter

    def _retry_after(self, resp: Reply) -> float | None:
        value = resp.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            delay = float(value)
        else:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            delay = when.timestamp() - self._clock()
        return max(0.0, min(delay, self.retry_after_cap))

    def _wait_to_retry(
        self, url: str, attempts: _Attempts, problem: str, delay: float | None = None
    ) -> None:
        """Report the retry and wait for it: ``delay`` (a Retry-After),
        else the backoff for the attempts made."""
        if delay is None:
            delay = self._backoff_delay(attempts.made)
        self.reporter.retry(_host(url), problem, delay, attempts.made + 1, attempts.limit)
        self._sleep(delay)

    def _request(  # noqa: C901, PLR0912, PLR0915
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        stream: bool = False,
        attempts: _Attempts | None = None,
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
            attempts = _Attempts(self.max_attempts)
        keyring_asked = False
        while True:
            attempts.made += 1
            attempt = attempts.made
            try:
                resp = self._send(url, headers, stream, post)
            except _final_errors() as err:
                raise NetworkError(display, f"bad URL: {self._error_reason(err)}") from err
            except _retryable_errors() as err:
                if _is_final_tls_failure(err):
                    failure = NetworkError(display, f"TLS error: {self._error_reason(err)}")
                    failure.hint = next(
                        (hint for key, hint in _TLS_HINTS.items() if key in failure.reason), None
                    )
                    raise failure from err
                if attempts.spent:
                    raise NetworkError(
                        display, f"{self._error_reason(err)} (after {attempt} attempts)"
                    ) from err
                self._wait_to_retry(url, attempts, _problem(err))
                continue
            except ValueError as err:  # a header or URL http.client refuses to send
                raise NetworkError(display, self._error_reason(err)) from err
            status = resp.status
            if status < 400:
                return resp
            if status == 401 and not keyring_asked and self._from_keyring(resp.url):
                keyring_asked = True  # sent again once, with the keyring's credentials
                resp.close()
                continue
            if post is not None and status not in RETRY_STATUSES:
                return resp
            reason = f"HTTP {status} {self.scrub(resp.reason)}".rstrip()
            if status in (404, 410):
                resp.close()
                raise NotFound(display, reason, status=status)
            if status in RETRY_STATUSES:
                delay = self._retry_after(resp)
                resp.close()
                if attempts.spent:
                    raise NetworkError(
                        display, f"{reason} (after {attempt} attempts)", status=status
                    )
                self._wait_to_retry(url, attempts, str(status), delay)
                continue
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
            return _read_file_url(clean)
        display = redact_url(clean)
        key = f"{display}\0{accept or ''}"
        entry = self.cache.load_page(key) if cacheable and self.cache is not None else None
        if self.offline:
            if entry is None:
                raise NotCached(display)
            return _entry_response(entry)
        if entry is not None and self._clock() - entry.fetched < self.page_max_age:
            return _entry_response(entry)
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
            return _entry_response(entry)
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
            raise NotCached(display)
        # RFC 9110: "bytes=-N" is the last N bytes.
        spec = f"bytes={start}" if start < 0 else f"bytes={start}-{'' if end is None else end}"
        headers = {"Range": spec, "Accept-Encoding": "identity"}
        attempts = _Attempts(self.max_attempts)
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
                except _retryable_errors() as err:
                    if attempts.spent:
                        raise NetworkError(
                            display,
                            f"{self._error_reason(err)} (after {attempts.made} attempts)",
                        ) from err
                    self._wait_to_retry(clean, attempts, _problem(err))
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
        display = redact_url(clean)
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
        scheme = urlsplit(clean).scheme
        if scheme != "file" and self.offline:
            raise NotCached(display)
        if self.cache is not None and not self._swept:
            self._sweep(self.cache)
        fd, tmp_name = temp_file_beside(dest, ".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w+b") as fh:
                if scheme == "file":
                    digest, got = _copy_local(url_to_path(clean), fh, display, size, progress)
                else:
                    digest, got = self._download(clean, fh, expected, size, progress)
                # Not forced to the disk (see atomic_write): every file is
                # checked by its hash when used (cache) or verified (bundle).
            # The size first: a file of another size cannot have the hash
            # either, and its size says more than two digests.
            if size is not None and got != size:
                raise NetworkError(display, f"expected {size} bytes, received {got}")
            if expected and digest != expected:
                raise HashMismatch(display, expected, digest)
            if self.cache is not None:
                with contextlib.suppress(OSError):
                    self.cache.put_blob_file(tmp, digest, got)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return digest, got

    def fetch_to_cache(self, url: str, *, sha256: str, size: int | None = None) -> None:
        """Put the file in the cache (a later ``fetch_to_file`` of it then
        makes no request).  Without a cache, or offline, nothing happens.

        When the file cannot be fetched, the next ``fetch_to_file`` of it
        raises why, without a request: the file's retries were spent here.
        """
        if self.cache is None or self.offline:
            return
        digest = valid_sha256(sha256)
        key = (self._prepare(url), digest)
        with self._lock:
            if key in self._ahead_failed:
                return
        if self.cache.has_blob(digest):
            return
        with self.cache.temp_dir("ahead") as tmp:
            try:
                self.fetch_to_file(url, tmp / "file", sha256=digest, size=size)
            except (NetworkError, HashMismatch) as err:
                with self._lock:
                    self._ahead_failed[key] = err
                raise

    def _sweep(self, cache: DiskCache) -> None:
        """Once per client, before its first download: what killed runs
        left in the cache's temp directories goes."""
        with self._lock:
            if self._swept:
                return
            self._swept = True
        cache.remove_stale_temps(self._clock())

    def _download(  # noqa: C901, PLR0912, PLR0915
        self,
        url: str,
        fh: IO[bytes],
        expected: str | None,
        size: int | None,
        progress: Callable[[int], None] | None,
    ) -> tuple[str, int]:
        display = redact_url(url)
        hasher = hashlib.sha256()
        written = 0
        validator: str | None = None
        attempts = _Attempts(self.max_attempts)
        while True:
            if self._cancelled.is_set():
                raise Cancelled(display)
            headers = {"Accept-Encoding": "identity"}
            # RFC 9110 If-Range: the server sends the rest only if the file
            # is unchanged, else all of it (200) and we start over.
            if written and (validator or expected):
                headers["Range"] = f"bytes={written}-"
                if validator:
                    headers["If-Range"] = validator
            elif written:
                fh.seek(0)
                fh.truncate()
                hasher = hashlib.sha256()
                if progress is not None:
                    progress(-written)
                written = 0
            resp = self._request(url, headers, stream=True, attempts=attempts)
            try:
                if resp.status == 206 and written:
                    match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                    if match is None or int(match.group(1)) != written:
                        raise NetworkError(display, "server sent a range that was not asked for")
                    total = None if match.group(3) == "*" else int(match.group(3))
                    _check_announced(display, "Content-Range", total, size)
                elif resp.status == 200:
                    if written:
                        fh.seek(0)
                        fh.truncate()
                        hasher = hashlib.sha256()
                        if progress is not None:
                            progress(-written)
                        written = 0
                    validator = _strong_validator(resp)
                    _check_announced(display, "Content-Length", _content_length(resp), size)
                else:
                    raise NetworkError(display, f"unexpected HTTP {resp.status}")
                try:
                    for chunk in _body_chunks(resp, None if size is None else size - written):
                        if self._cancelled.is_set():
                            raise Cancelled(display)
                        if size is not None and written + len(chunk) > size:
                            raise NetworkError(
                                display,
                                f"the server sent more than the {size} bytes expected:"
                                " stopped reading",
                            )
                        fh.write(chunk)
                        hasher.update(chunk)
                        written += len(chunk)
                        if progress is not None:
                            progress(len(chunk))
                except _retryable_errors() as err:
                    if attempts.spent:
                        raise NetworkError(
                            display,
                            f"connection dropped after {written} bytes:"
                            f" {self._error_reason(err)} (after {attempts.made} attempts)",
                        ) from err
                    problem = f"connection dropped after {written} bytes"
                    self._wait_to_retry(url, attempts, problem)
                    continue
                return hasher.hexdigest(), written
            finally:
                resp.close()


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


def _entry_response(entry: PageEntry) -> Response:
    return Response(
        entry.url, entry.status, Headers(entry.headers), entry.content, True, entry.sha256 or None
    )


_FILE_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/vnd.pypi.simple.v1+json",
}


def _read_file_url(url: str) -> Response:
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


def _copy_local(
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


__all__ = [
    "USER_AGENT",
    "Cancelled",
    "HttpClient",
    "NotCached",
    "RangeNotSupported",
    "Response",
    "host_key",
    "parse_content_range",
    "strip_fragment",
    "url_to_path",
]
