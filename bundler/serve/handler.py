"""How ``bundle serve`` answers one request: the route taken, the page in
the representation asked for, a file whole or a range of it, each through
one log line; only regular files inside the bundle are ever opened."""

from __future__ import annotations

import email.utils
import os
import stat
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from bundler import __version__
from bundler.bundle.layout import PAGE_HTML, PAGE_JSON, SIMPLE_DIR
from bundler.serve.ranges import (
    UNSATISFIABLE,
    ByteRange,
    entity_tag,
    if_range_holds,
    not_modified,
    parse_range,
)
from bundler.serve.routes import (
    HTML_V1,
    JSON_V1,
    SHORT_LIVED,
    TEXT_HTML,
    BadPath,
    Page,
    Redirect,
    StaticFile,
    negotiate,
    route,
    split_path,
)

__all__ = ["BundleRequestHandler", "Log", "ServedBundle"]

Log = Callable[[str], None]


@runtime_checkable
class ServedBundle(Protocol):
    """What the handler needs of its server: the bundle and the log."""

    bundle_dir: Path
    log: Log | None


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


class BundleRequestHandler(BaseHTTPRequestHandler):
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
    def _bundle(self) -> ServedBundle:
        assert isinstance(self.server, ServedBundle)
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
        etag = entity_tag(st, variant)
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
