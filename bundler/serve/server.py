"""``bundle serve``: a read-only HTTP package index over a bundle directory.

The bundle already holds every page (``simple/``), file and sidecar
(``files/``), so the server only picks which file answers a request: the
project page in the format the client asked for (PEP 691 content
negotiation), a distribution, or one of the lock files at the root.  It
never writes, never lists a directory, and never opens a path outside the
bundle.  It runs on the standard library's ``http.server``; the path, Accept
and Range parsers are pure functions.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import re
import socket
import socketserver
import stat
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, Literal
from urllib.parse import unquote

from packaging.utils import canonicalize_name

from bundler import SERVE_HOST, SERVE_PORT, __version__
from bundler.bundle.layout import (
    FILES_DIR,
    MANIFEST_NAME,
    METADATA_SUFFIX,
    PAGE_HTML,
    PAGE_JSON,
    PYLOCK_LOCK,
    REQUIREMENTS_LOCK,
    SIMPLE_DIR,
)
from bundler.errors import UsageError
from bundler.spec.filenames import is_safe_filename
from bundler.spec.pages import JSON_CONTENT_TYPE

Log = Callable[[str], None]

DEFAULT_HOST: Final = SERVE_HOST
DEFAULT_PORT: Final = SERVE_PORT

# PEP 691: the three representations a project page can be served as.
JSON_V1: Final = JSON_CONTENT_TYPE
HTML_V1: Final = "application/vnd.pypi.simple.v1+html"
TEXT_HTML: Final = "text/html"
MEDIA_TYPES: Final = (JSON_V1, HTML_V1, TEXT_HTML)

# Root files a bundle may hold besides the index.
ROOT_FILES: Final = {
    MANIFEST_NAME: "application/json",
    REQUIREMENTS_LOCK: "text/plain; charset=utf-8",
    PYLOCK_LOCK: "application/toml",
}

# Artifacts are named by project and version and never change under one name.
IMMUTABLE: Final = "public, max-age=31536000, immutable"
# Pages and locks change when the bundle is rebuilt in place.
SHORT_LIVED: Final = "public, max-age=60"

# --- request paths ---------------------------------------------------------------


class BadPath(ValueError):
    """A request target that is malformed or tries to leave the bundle."""


_PRINTABLE = re.compile(r"[\x21-\x7e]*")


def split_path(target: str) -> tuple[str, ...]:
    """The decoded segments of an origin-form request target.

    ``"/simple/foo/"`` gives ``("simple", "foo", "")``.  Each segment is
    percent-decoded on its own, so an encoded ``/`` cannot join two; any
    segment that is ``.`` or ``..``, holds a separator, a backslash, NUL or a
    control character, or is empty before the last one raises ``BadPath``.
    """
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/") or not _PRINTABLE.fullmatch(path):
        raise BadPath(target)
    segments = path[1:].split("/")
    decoded: list[str] = []
    for i, raw in enumerate(segments):
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError as err:
            raise BadPath(target) from err
        if segment == "" and i < len(segments) - 1:
            raise BadPath(target)
        if (
            segment in (".", "..")
            or "/" in segment
            or "\\" in segment
            or any(ord(c) < 32 or ord(c) == 127 for c in segment)
        ):
            raise BadPath(target)
        decoded.append(segment)
    return tuple(decoded)


# --- routes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    location: str
    status: int = HTTPStatus.MOVED_PERMANENTLY


@dataclass(frozen=True)
class Page:
    """A directory under ``simple/`` holding ``index.html`` and ``index.json``."""

    directory: tuple[str, ...]


@dataclass(frozen=True)
class StaticFile:
    relative: tuple[str, ...]
    content_type: str
    cache_control: str


Route = Redirect | Page | StaticFile | None

# PEP 508: a valid project name (any case, "-", "_" and "." inside).
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def route(parts: tuple[str, ...]) -> Route:  # noqa: PLR0911
    """What answers the path ``parts`` (from ``split_path``); None for 404."""
    if parts == ("",):
        return Redirect(f"/{SIMPLE_DIR}/", HTTPStatus.FOUND)
    if parts[0] == SIMPLE_DIR:
        if len(parts) == 1:
            return Redirect(f"/{SIMPLE_DIR}/")
        if parts[1:] == ("",):
            return Page((SIMPLE_DIR,))
        name = parts[1]
        if len(parts) > 3 or (len(parts) == 3 and parts[2]):
            return None
        if not _PROJECT_NAME.fullmatch(name):
            return None
        normalized = canonicalize_name(name)
        # PEP 503: project URLs are the normalized name with a trailing slash.
        if len(parts) == 2 or normalized != name:
            return Redirect(f"/{SIMPLE_DIR}/{normalized}/")
        return Page((SIMPLE_DIR, normalized))
    if parts[0] == FILES_DIR and len(parts) == 2:
        filename = parts[1]
        # Dot files are temp files and locks, never artifacts.
        if not is_safe_filename(filename) or filename.startswith("."):
            return None
        if filename.endswith(METADATA_SUFFIX):
            # PEP 658: the wheel's METADATA, an RFC 822 style UTF-8 text.
            return StaticFile(parts, "text/plain; charset=utf-8", IMMUTABLE)
        return StaticFile(parts, "application/octet-stream", IMMUTABLE)
    if len(parts) == 1 and parts[0] in ROOT_FILES:
        return StaticFile(parts, ROOT_FILES[parts[0]], SHORT_LIVED)
    return None


# --- content negotiation -----------------------------------------------------------

# PEP 691: the "latest" aliases resolve to the version this server speaks.
_EXACT: Final = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    TEXT_HTML: TEXT_HTML,
}
_TCHARS = r"[!#$%&'*+.^_`|~0-9a-z-]+"
_MEDIA_RANGE = re.compile(rf"(?:\*/\*|{_TCHARS}/\*|{_TCHARS}/{_TCHARS})")
# RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """(media range, q) pairs of an Accept header, lower-cased, in order.

    Ranges that do not parse are dropped; parameters other than ``q`` are
    ignored.
    """
    ranges: list[tuple[str, float]] = []
    for item in (header or "").split(","):
        media, *params = item.split(";")
        media = media.strip().lower()
        if not _MEDIA_RANGE.fullmatch(media):
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.fullmatch(value) else -1.0
                break
        if q >= 0:
            ranges.append((media, q))
    return ranges


def _match(media_range: str, representation: str) -> int | None:
    """How specifically ``media_range`` names ``representation`` (or None)."""
    if _EXACT.get(media_range) == representation:
        return 2
    if media_range == "*/*":
        return 0
    if media_range.endswith("/*") and representation.startswith(media_range[:-1]):
        return 1
    return None


def negotiate(accept: str | None, available: Collection[str]) -> str | None:
    """The media type (of ``MEDIA_TYPES``) to answer with; None means 406.

    RFC 9110: each representation takes the q of the most specific range
    naming it; q=0 excludes it.  A missing or empty header means ``*/*``.
    Among equals, a named type prefers JSON, then the versioned HTML, and a
    wildcard prefers ``text/html`` (what a browser wants).
    """
    ranges = parse_accept(accept) or [("*/*", 1.0)]
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for representation in MEDIA_TYPES:
        if representation not in available:
            continue
        found: tuple[int, float] | None = None
        for media_range, q in ranges:
            level = _match(media_range, representation)
            if level is not None and (found is None or (level, q) > found):
                found = (level, q)
        if found is None or found[1] <= 0:
            continue
        level, q = found
        order = MEDIA_TYPES if level == 2 else (TEXT_HTML, JSON_V1, HTML_V1)
        key = (q, level, -order.index(representation))
        if best is None or key > best:
            best, chosen = key, representation
    return chosen


# --- byte ranges and validators --------------------------------------------------


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1


UNSATISFIABLE: Final = "unsatisfiable"
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)


def parse_range(header: str, size: int) -> ByteRange | Literal["unsatisfiable"] | None:  # noqa: PLR0911
    """The single byte range a ``Range`` header asks of a ``size``-byte file.

    RFC 9110 14.2: None (serve the whole file) when the header is invalid or
    asks for several ranges; ``UNSATISFIABLE`` (416) when the range starts
    past the end or is an empty suffix.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE_SPEC.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = (_digits(group) for group in match.groups())
    if first == "":
        suffix = _capped(last, size)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return ByteRange(size - suffix, size - 1)
    if last and (len(last), last) < (len(first), first):
        return None
    start = _capped(first, size)
    if start >= size:
        return UNSATISFIABLE
    return ByteRange(start, min(_capped(last, size), size - 1) if last else size - 1)


def _digits(group: str) -> str:
    """A decimal number without its leading zeros ("0" for zero, "" for none)."""
    return (group.lstrip("0") or "0") if group else ""


def _capped(digits: str, cap: int) -> int:
    """``min(int(digits), cap)`` for a number of any length: ``int`` refuses
    more than 4,300 digits, and a client may send 5,000."""
    if len(digits) > len(str(cap)):
        return cap
    return min(int(digits), cap)


def _entity_tags(header: str) -> list[str]:
    return re.findall(r'(?:W/)?"[^"]*"|\*', header)


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def _http_date(value: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, mtime: float
) -> bool:
    """RFC 9110 13.1.2/13.1.3: If-None-Match (weak comparison), else
    If-Modified-Since, say the client's copy is current."""
    if if_none_match is not None:
        tags = _entity_tags(if_none_match)
        return "*" in tags or _opaque(etag) in {_opaque(t) for t in tags}
    if if_modified_since is not None:
        stamp = _http_date(if_modified_since)
        return stamp is not None and int(mtime) <= stamp
    return False


def if_range_holds(value: str | None, etag: str, mtime: float) -> bool:
    """RFC 9110 13.1.5: honour Range only if the validator still matches
    (strong comparison for an entity tag, exact for a date)."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    stamp = _http_date(value)
    return stamp is not None and stamp == int(mtime)


def _etag(st: os.stat_result, variant: str = "") -> str:
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}{variant}"'


# --- the server ------------------------------------------------------------------


def _open_inside(root: Path, relative: tuple[str, ...]) -> tuple[BinaryIO, os.stat_result] | None:
    """Open a regular file under ``root`` read-only, or None.

    Symlinks are followed only while they stay inside ``root``; FIFOs,
    devices and directories are refused without blocking on them.
    """
    try:
        real = root.joinpath(*relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root):
        return None
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb"), st


def _printable(text: str, limit: int = 300) -> str:
    """``text`` safe for a one-line log: control and non-ASCII chars escaped."""
    clean = "".join(c if 32 <= ord(c) < 127 else f"\\x{ord(c):02x}" for c in text)
    return clean if len(clean) <= limit else clean[:limit] + "..."


class _Handler(BaseHTTPRequestHandler):
    server_version = f"bundle-serve/{__version__}"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # keep-alive: pip and uv pool connections
    timeout = 60  # idle keep-alive connections are closed after a minute

    _status: int | None = None
    _sent = 0
    _started = 0.0

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    @property
    def _bundle(self) -> BundleServer:
        assert isinstance(self.server, BundleServer)
        return self.server

    # -- plumbing: one log line per request, quiet on disconnects --

    def handle_one_request(self) -> None:
        self._status = None
        self._sent = 0
        self._started = time.monotonic()
        try:
            super().handle_one_request()
        except ConnectionError:
            # The client went away (BrokenPipe, ConnectionReset): not our error.
            self.close_connection = True
        if self._status is not None:
            self._log_request()

    def parse_request(self) -> bool:
        self._started = time.monotonic()  # not the idle wait before the request
        return super().parse_request()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self._status = int(code) if isinstance(code, int) else None

    def log_message(self, format: str, *args: object) -> None:
        pass  # the library never prints; see _log_request

    def _log_request(self) -> None:
        log = self._bundle.log
        if log is None:
            return
        ms = (time.monotonic() - self._started) * 1000
        method = _printable(getattr(self, "command", None) or "-")
        path = _printable(getattr(self, "path", "") or "-")
        log(f"{self.client_address[0]} {method} {path} {self._status} {self._sent} {ms:.1f}ms")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed requests the base class rejects: answer plainly and hang up.
        self._send_text(code, f"{code} {message or HTTPStatus(code).phrase}\n", close=True)

    def _send_text(
        self,
        status: int,
        text: str,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)
            self._sent += len(body)

    # -- methods --

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def _not_allowed(self) -> None:
        # The request body (if any) is not read: close rather than misparse it.
        self._send_text(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "405 Method Not Allowed: this index is read-only\n",
            {"Allow": "GET, HEAD"},
            close=True,
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed
    do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    # -- routing --

    def _respond(self, *, head: bool) -> None:
        if self.headers.get("Content-Length", "0").strip() != "0" or (
            "Transfer-Encoding" in self.headers
        ):
            self.close_connection = True  # an unread body would desync the stream
        try:
            parts = split_path(self.path)
        except BadPath:
            self._send_text(HTTPStatus.BAD_REQUEST, "400 Bad Request: invalid path\n")
            return
        target = route(parts)
        vary = {"Vary": "Accept"} if parts[0] in ("", SIMPLE_DIR) else {}
        try:
            root = self._bundle.bundle_dir.resolve(strict=True)
        except (OSError, RuntimeError):
            target = None
            root = self._bundle.bundle_dir
        if isinstance(target, Redirect):
            body = f"{target.status} {HTTPStatus(target.status).phrase}: {target.location}\n"
            self._send_text(target.status, body, {"Location": target.location, **vary})
        elif isinstance(target, Page):
            self._send_page(root, target, head=head)
        elif isinstance(target, StaticFile):
            opened = _open_inside(root, target.relative)
            if opened is None:
                self._send_text(HTTPStatus.NOT_FOUND, "404 Not Found\n")
                return
            fh, st = opened
            with fh:
                self._send_file(fh, st, target.content_type, target.cache_control, {}, head=head)
        else:
            self._send_text(HTTPStatus.NOT_FOUND, "404 Not Found\n", vary)

    def _send_page(self, root: Path, page: Page, *, head: bool) -> None:
        vary = {"Vary": "Accept"}
        json_page = _open_inside(root, (*page.directory, PAGE_JSON))
        html_page = _open_inside(root, (*page.directory, PAGE_HTML))
        opened = {JSON_V1: json_page, HTML_V1: html_page, TEXT_HTML: html_page}
        try:
            available = [kind for kind, found in opened.items() if found is not None]
            if not available:
                self._send_text(HTTPStatus.NOT_FOUND, "404 Not Found\n", vary)
                return
            chosen = negotiate(self.headers.get("Accept"), available)
            if chosen is None:
                offered = ", ".join(available)
                self._send_text(
                    HTTPStatus.NOT_ACCEPTABLE, f"406 Not Acceptable: offered {offered}\n", vary
                )
                return
            found = opened[chosen]
            assert found is not None
            fh, st = found
            content_type = chosen if chosen == JSON_V1 else f"{chosen}; charset=utf-8"
            # Each representation has its own validator (RFC 9110 8.8.3).
            variant = {JSON_V1: "-json", HTML_V1: "-html", TEXT_HTML: "-text"}[chosen]
            self._send_file(fh, st, content_type, SHORT_LIVED, vary, head=head, variant=variant)
        finally:
            for found in (json_page, html_page):
                if found is not None:
                    found[0].close()

    def _send_file(
        self,
        fh: BinaryIO,
        st: os.stat_result,
        content_type: str,
        cache_control: str,
        extra: Mapping[str, str],
        *,
        head: bool,
        variant: str = "",
    ) -> None:
        etag = _etag(st, variant)
        headers = {
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
            "Cache-Control": cache_control,
            "Accept-Ranges": "bytes",
            **extra,
        }
        conditions = (self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"))
        if not_modified(*conditions, etag, st.st_mtime):
            self._send_headers(HTTPStatus.NOT_MODIFIED, headers)
            return
        size = st.st_size
        status, start, length = HTTPStatus.OK, 0, size
        range_header = self.headers.get("Range")
        if range_header is not None and if_range_holds(
            self.headers.get("If-Range"), etag, st.st_mtime
        ):
            wanted = parse_range(range_header, size)
            if wanted == UNSATISFIABLE:
                self._send_text(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                    "416 Range Not Satisfiable\n",
                    {"Content-Range": f"bytes */{size}", **extra},
                )
                return
            if isinstance(wanted, ByteRange):
                status, start, length = HTTPStatus.PARTIAL_CONTENT, wanted.start, wanted.length
                headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
        headers["Content-Type"] = content_type
        headers["Content-Length"] = str(length)
        self._send_headers(status, headers)
        if head or length == 0:
            return
        sent = self.connection.sendfile(fh, start, length)
        self._sent += sent
        if sent < length:
            # The file shrank under us: the promised length cannot be kept.
            self.close_connection = True

    def _send_headers(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()


class BundleServer(ThreadingHTTPServer):
    """A threading HTTP server answering from one bundle directory.

    Use ``serve_forever()`` in the calling thread, or ``start()`` to serve
    from a background thread; as a context manager it is stopped and closed
    on exit.
    """

    daemon_threads = True

    def __init__(self, bundle_dir: Path, host: str, port: int, log: Log | None) -> None:
        self.bundle_dir = bundle_dir
        self.log = log
        self._thread: threading.Thread | None = None
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would do a reverse DNS look-up (getfqdn) of the host.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8000/``; the index is at ``simple/``."""
        host, port = str(self.server_address[0]), int(self.server_address[1])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    @property
    def index_url(self) -> str:
        """The URL to give pip or uv as ``--index-url``."""
        return f"{self.url}{SIMPLE_DIR}/"

    def start(self) -> BundleServer:
        """Serve from a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever, name="bundle-serve", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (if ``start``ed) and release the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) or self.log is None:
            return
        self.log(f"error while answering {client_address}: {error!r}")


def make_server(
    bundle_dir: Path,
    host: str = DEFAULT_HOST,
    port: int = 0,
    log: Log | None = None,
) -> BundleServer:
    """A server over ``bundle_dir`` bound to ``host:port`` (0: any free port).

    ``log`` receives one line per request: client, method, path, status,
    body bytes and milliseconds.  Raises ``UsageError`` when ``bundle_dir``
    is not a bundle or the address cannot be bound.
    """
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise UsageError(f"{bundle_dir} is not a directory")
    if not (bundle_dir / SIMPLE_DIR / PAGE_HTML).is_file():
        raise UsageError(
            f"{bundle_dir} is not a bundle: it has no {SIMPLE_DIR}/{PAGE_HTML}",
            hint="create one with `bundle download LOCK -o DIR` or `bundle build`",
        )
    try:
        return BundleServer(bundle_dir, host, port, log)
    except (OSError, OverflowError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from err


def serve(
    bundle_dir: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log: Log | None = None,
) -> None:
    """Serve ``bundle_dir`` as a package index until Ctrl-C.

    pip and uv use it with ``--index-url http://HOST:PORT/simple/``; project
    pages are PEP 503 HTML or PEP 691 JSON as the client asks.  ``log`` gets
    a first line with the index URL, then one line per request.  Ctrl-C
    stops the server cleanly and returns.
    """
    with make_server(bundle_dir, host, port, log) as server:
        if log is not None:
            log(f"serving {bundle_dir} at {server.index_url} (press Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "HTML_V1",
    "JSON_V1",
    "MEDIA_TYPES",
    "TEXT_HTML",
    "UNSATISFIABLE",
    "BadPath",
    "BundleServer",
    "ByteRange",
    "Page",
    "Redirect",
    "StaticFile",
    "make_server",
    "negotiate",
    "not_modified",
    "parse_accept",
    "parse_range",
    "route",
    "serve",
    "split_path",
]
