"""A package index on 127.0.0.1 serving a directory of distributions.

Project pages speak PEP 691 JSON or PEP 503 HTML (chosen from the Accept
header), files support HEAD and single byte ranges, and PEP 658 metadata
files are served next to the wheels.  Faults (429/503 answers, dropped
connections, wrong hashes, delays) are injected per path for tests of the
client's resilience; every request is logged for assertions.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import hashlib
import html
import json
import os
import re
import socket
import ssl
import tarfile
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import canonicalize_name
from packaging.version import Version

from bundler.models import DistKind
from bundler.spec.filenames import is_safe_filename, parse_filename

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
API_VERSION = "1.1"
# PEP 700: yyyy-mm-ddThh:mm:ss.ffffffZ; fixed so that pages are reproducible.
UPLOAD_TIME = "2020-01-01T00:00:00.000000Z"
LAST_MODIFIED = "Wed, 01 Jan 2020 00:00:00 GMT"


@dataclass(frozen=True)
class Reply:
    """A canned answer.  ``status=None`` means the real answer, possibly
    delayed or cut after ``truncate_after`` body bytes (then the connection
    is dropped although Content-Length promised more)."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    body: bytes = b""
    delay: float = 0.0
    truncate_after: int | None = None


def too_many_requests(retry_after: int = 1) -> Reply:
    return Reply(429, {"Retry-After": str(retry_after)}, b"slow down")


def unavailable() -> Reply:
    return Reply(503, {}, b"try again")


def truncated(after: int) -> Reply:
    return Reply(truncate_after=after)


@dataclass
class IndexConfig:
    """Behaviour of an ``IndexServer``; may be changed while it runs."""

    # Offer PEP 691 JSON; False serves HTML only, as many mirrors do.
    json: bool = True
    # PEP 658: True for every wheel, False for none, or a set of filenames.
    advertise_metadata: bool | Collection[str] = True
    # Whether /files/<f>.metadata answers (even when not advertised).
    serve_metadata: bool | Collection[str] = True
    # filename -> yank reason ("" for none), PEP 592.
    yanked: dict[str, str] = field(default_factory=dict)
    # HTTP Basic credentials every request must carry.
    auth: tuple[str, str] | None = None
    # Filenames whose page entry advertises a wrong sha256.
    wrong_hash: set[str] = field(default_factory=set)
    # Filenames whose page entry advertises a wrong metadata sha256.
    wrong_metadata_hash: set[str] = field(default_factory=set)
    # Absolute file URLs in pages instead of relative ones (../../files/x).
    absolute_urls: bool = False
    # Honour Range requests (False: always answer 200 with the whole file).
    ranges: bool = True
    # Send ETag headers on files (many mirrors do not).
    etag: bool = True
    # path -> replies given one per request before the real answer.
    faults: dict[str, deque[Reply]] = field(default_factory=dict)
    # path -> the reply given to every request.
    overrides: dict[str, Reply] = field(default_factory=dict)
    # Project pages are a plain web server's directory listing (Apache or
    # nginx autoindex) of the project's files: text/html whatever the Accept
    # header, links relative and bare (no hash, no attribute), files served
    # beside the page.  What a company's file share behind a web server is.
    autoindex: bool = False
    # Serve HTTPS with this context (read when the server starts).
    tls: ssl.SSLContext | None = None
    # filename -> its PEP 700 upload-time on JSON pages (None: not given);
    # a file not named here has UPLOAD_TIME.
    upload_times: dict[str, str | None] = field(default_factory=dict)


class LoggedRequest(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names


@dataclass(frozen=True)
class IndexFile:
    """What an index page says about one file."""

    filename: str
    project: str
    version: Version
    sha256: str
    size: int
    requires_python: str | None
    # The PEP 658 metadata file's bytes, when there is one.
    metadata: bytes | None


def _enabled(option: bool | Collection[str], filename: str) -> bool:
    return option if isinstance(option, bool) else filename in option


def _read_core_metadata(path: Path) -> bytes | None:
    """METADATA of a wheel or PKG-INFO of an sdist, or None if unreadable."""
    try:
        if path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if re.fullmatch(r"[^/]+\.dist-info/METADATA", name):
                        return archive.read(name)
        elif path.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path) as archive:
                for member in archive.getmembers():
                    if re.fullmatch(r"[^/]+/PKG-INFO", member.name) and member.isfile():
                        fh = archive.extractfile(member)
                        return fh.read() if fh is not None else None
        elif path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if re.fullmatch(r"[^/]+/PKG-INFO", name):
                        return archive.read(name)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError):
        return None
    return None


def describe_file(path: Path, *, generate_metadata: bool) -> IndexFile | None:
    """Index facts about one distribution file, or None if it is not one.

    The metadata file is ``<file>.metadata`` when it exists on disk; with
    ``generate_metadata`` a wheel's own METADATA stands in for a missing one.
    """
    parsed = parse_filename(path.name)
    if parsed is None:
        return None
    data = path.read_bytes()
    core = _read_core_metadata(path)
    requires_python = None
    if core is not None:
        headers = email.parser.BytesParser().parsebytes(core, headersonly=True)
        requires_python = headers.get("Requires-Python")
    sidecar = path.with_name(path.name + ".metadata")
    metadata: bytes | None = None
    if sidecar.is_file():
        metadata = sidecar.read_bytes()
    elif generate_metadata and parsed.kind is DistKind.WHEEL:
        metadata = core
    return IndexFile(
        filename=path.name,
        project=parsed.name,
        version=parsed.version,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        requires_python=requires_python,
        metadata=metadata,
    )


def scan(
    files_dir: Path, describe: Callable[[Path], IndexFile | None]
) -> dict[str, list[IndexFile]]:
    """normalized project -> its files, sorted by version then filename."""
    projects: dict[str, list[IndexFile]] = {}
    for path in sorted(files_dir.iterdir()):
        if not path.is_file() or path.name.endswith(".metadata"):
            continue
        info = describe(path)
        if info is not None:
            projects.setdefault(info.project, []).append(info)
    for files in projects.values():
        files.sort(key=lambda f: (f.version, f.filename))
    return projects


@dataclass(frozen=True)
class PageEntry:
    """One file as a page shows it, after the server's options apply."""

    file: IndexFile
    url: str
    sha256: str
    yanked: str | None
    metadata_sha256: str | None
    upload_time: str | None = UPLOAD_TIME


def _wrong(digest: str) -> str:
    return hashlib.sha256(b"wrong " + digest.encode()).hexdigest()


def page_entries(
    files: Iterable[IndexFile],
    file_url: Callable[[str], str],
    config: IndexConfig,
) -> list[PageEntry]:
    entries = []
    for f in files:
        sha256 = _wrong(f.sha256) if f.filename in config.wrong_hash else f.sha256
        metadata_sha256 = None
        if f.metadata is not None and _enabled(config.advertise_metadata, f.filename):
            metadata_sha256 = hashlib.sha256(f.metadata).hexdigest()
            if f.filename in config.wrong_metadata_hash:
                metadata_sha256 = _wrong(metadata_sha256)
        entries.append(
            PageEntry(
                f,
                file_url(f.filename),
                sha256,
                config.yanked.get(f.filename),
                metadata_sha256,
                config.upload_times.get(f.filename, UPLOAD_TIME),
            )
        )
    return entries


def render_project_html(project: str, entries: Iterable[PageEntry]) -> str:
    """PEP 503 project page with PEP 592/629/658/714 attributes."""
    links = []
    for e in entries:
        attrs = [f'href="{html.escape(e.url)}#sha256={e.sha256}"']
        if e.file.requires_python is not None:
            attrs.append(f'data-requires-python="{html.escape(e.file.requires_python)}"')
        if e.yanked is not None:
            attrs.append(f'data-yanked="{html.escape(e.yanked)}"')
        if e.metadata_sha256 is not None:
            # PEP 714 renamed the attribute; the legacy one helps older pips.
            attrs.append(f'data-core-metadata="sha256={e.metadata_sha256}"')
            attrs.append(f'data-dist-info-metadata="sha256={e.metadata_sha256}"')
        links.append(f"    <a {' '.join(attrs)}>{html.escape(e.file.filename)}</a><br>")
    return _html_document(f"Links for {project}", links)


def render_autoindex(path: str, files: Iterable[IndexFile]) -> str:
    """A web server's listing of the directory ``path``, as nginx writes it."""
    title = f"Index of {path}"
    rows = ['<a href="../">../</a>']
    for f in files:
        name = html.escape(f.filename)
        rows.append(f'<a href="{quote(f.filename)}">{name}</a>  01-Jan-2020 00:00  {f.size}')
    body = "\n".join(rows)
    return (
        f"<html>\n<head><title>{html.escape(title)}</title></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1><hr><pre>{body}\n</pre><hr></body>\n</html>\n"
    )


def render_root_html(projects: Iterable[str]) -> str:
    links = [f'    <a href="{quote(p)}/">{html.escape(p)}</a><br>' for p in projects]
    return _html_document("Simple index", links)


def _html_document(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<html>",
            "  <head>",
            # PEP 629
            f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
            f"    <title>{html.escape(title)}</title>",
            "  </head>",
            "  <body>",
            f"    <h1>{html.escape(title)}</h1>",
            *body,
            "  </body>",
            "</html>",
            "",
        ]
    )


def render_project_json(project: str, entries: Iterable[PageEntry]) -> str:
    """PEP 691 project page, API 1.1 (PEP 700: size, upload-time, versions)."""
    files = []
    versions: set[Version] = set()
    for e in entries:
        versions.add(e.file.version)
        item: dict[str, object] = {
            "filename": e.file.filename,
            "url": e.url,
            "hashes": {"sha256": e.sha256},
            "size": e.file.size,
            # PEP 691: a reason string, or true when yanked without one.
            "yanked": (e.yanked or True) if e.yanked is not None else False,
        }
        if e.upload_time is not None:
            item["upload-time"] = e.upload_time
        if e.file.requires_python is not None:
            item["requires-python"] = e.file.requires_python
        if e.metadata_sha256 is not None:
            item["core-metadata"] = {"sha256": e.metadata_sha256}
        files.append(item)
    page = {
        "meta": {"api-version": API_VERSION},
        "name": project,
        "versions": [str(v) for v in sorted(versions)],
        "files": files,
    }
    return json.dumps(page, indent=2) + "\n"


def render_root_json(projects: Iterable[str]) -> str:
    page = {"meta": {"api-version": API_VERSION}, "projects": [{"name": p} for p in projects]}
    return json.dumps(page, indent=2) + "\n"


def negotiate(accept: str | None, *, offer_json: bool) -> str | None:
    """The media type to answer with, or None when none is acceptable.

    The highest q wins; ties go to the more specific range, then to the
    range the client listed first; wildcards prefer plain HTML.
    """
    offers = [TEXT_HTML, HTML_V1, *([JSON_V1] if offer_json else [])]
    if not accept or not accept.strip():
        return TEXT_HTML
    aliases = {
        "application/vnd.pypi.simple.latest+json": JSON_V1,
        "application/vnd.pypi.simple.latest+html": HTML_V1,
    }
    best: dict[str, tuple[float, int, int]] = {}
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        media = aliases.get(media.lower(), media.lower())
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for offer in offers:
            if media == offer:
                specificity = 2
            elif media.endswith("/*") and offer.startswith(media[:-1]):
                specificity = 1
            elif media == "*/*":
                specificity = 0
            else:
                continue
            score = (q, specificity, -position)
            if offer not in best or score[1] > best[offer][1]:
                best[offer] = score
    ranked = [(score, -offers.index(offer), offer) for offer, score in best.items() if score[0] > 0]
    return max(ranked)[2] if ranked else None


def write_static_index(
    files_dir: Path, out_dir: Path, *, yanked: Mapping[str, str] | None = None
) -> Path:
    """Write a static PEP 503 tree (``out_dir/index.html`` and one
    ``out_dir/<project>/index.html`` each) for ``pip --index-url file://``.

    Links are relative to ``files_dir``; metadata files are advertised only
    where ``<file>.metadata`` exists on disk.
    """
    config = IndexConfig(yanked=dict(yanked or {}))
    projects = scan(files_dir, lambda path: describe_file(path, generate_metadata=False))
    out_dir.mkdir(parents=True, exist_ok=True)
    for project, files in projects.items():
        page_dir = out_dir / project
        page_dir.mkdir(exist_ok=True)
        base = os.path.relpath(files_dir, page_dir).replace(os.sep, "/")

        def file_url(filename: str, base: str = base) -> str:
            return f"{base}/{quote(filename)}"

        entries = page_entries(files, file_url, config)
        (page_dir / "index.html").write_text(render_project_html(project, entries), "utf-8")
    (out_dir / "index.html").write_text(render_root_html(sorted(projects)), "utf-8")
    return out_dir


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, index: IndexServer) -> None:
        self.index = index
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._tls = index.config.tls
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self._tls is not None:
            sock = self._handshake(self._tls, sock)
        with self._open_lock:
            self._open.add(sock)
        return sock, address

    @staticmethod
    def _handshake(tls: ssl.SSLContext, sock: socket.socket) -> ssl.SSLSocket:
        """The server side of a TLS handshake.  When it fails (a client
        certificate missing, say), the alert is sent and the connection is
        closed the way web servers close it (nginx's lingering close): what
        the client sent meanwhile is read first.  Closed at once, unread
        bytes make the kernel send a reset, which can destroy the alert
        before the client reads it (TLS 1.3 ends the client's handshake
        before the server has checked its certificate)."""
        tls_sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            tls_sock.do_handshake()
        except OSError:
            try:
                tls_sock.shutdown(socket.SHUT_WR)  # plain TCP from here on
                tls_sock.settimeout(2.0)
                while tls_sock.recv(65536):
                    pass
            except OSError:
                pass
            finally:
                tls_sock.close()
            raise
        return tls_sock

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections end by themselves

    def log_message(self, format: str, *args: object) -> None:
        pass  # requests are recorded in IndexServer.log instead

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, *, head: bool) -> None:
        index = self.server.index
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        index.record(LoggedRequest(self.command, path, headers))
        config = index.config
        if config.auth is not None and not self._authorized(config.auth):
            self._send(
                401,
                b"authentication required",
                head=head,
                headers={"WWW-Authenticate": 'Basic realm="index"'},
            )
            return
        reply = index.next_reply(path)
        if reply is not None and reply.delay:
            time.sleep(reply.delay)
        if reply is not None and reply.status is not None:
            self._send(reply.status, reply.body, head=head, headers=reply.headers)
            return
        truncate = reply.truncate_after if reply is not None else None
        if path == "/simple":
            self._redirect("/simple/", head=head)
        elif path == "/simple/":
            self._page(None, head=head)
        elif path.startswith("/simple/"):
            name = unquote(path[len("/simple/") :]).rstrip("/")
            canonical = canonicalize_name(name)
            if config.autoindex and name.count("/") == 1:
                self._file(name.partition("/")[2], head=head, truncate=truncate)
            elif "/" in name or not name:
                self._send(404, b"not found", head=head)
            elif name != canonical or not path.endswith("/"):
                # PEP 503: clients should request the normalized name.
                self._redirect(f"/simple/{quote(canonical)}/", head=head)
            else:
                self._page(canonical, head=head)
        elif path.startswith("/files/"):
            self._file(unquote(path[len("/files/") :]), head=head, truncate=truncate)
        else:
            self._send(404, b"not found", head=head)

    def _authorized(self, auth: tuple[str, str]) -> bool:
        expected = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return self.headers.get("Authorization", "") == f"Basic {expected}"

    def _page(self, project: str | None, *, head: bool) -> None:
        index = self.server.index
        config = index.config
        media = negotiate(self.headers.get("Accept"), offer_json=config.json)
        if media is None:
            self._send(406, b"not acceptable", head=head)
            return
        projects = index.projects()
        if config.autoindex:
            if project is not None and project not in projects:
                self._send(404, b"no such project", head=head)
                return
            text = render_autoindex(
                urlsplit(self.path).path, projects[project] if project is not None else ()
            )
            headers = {"Content-Type": "text/html"}
            self._send(200, text.encode("utf-8"), head=head, headers=headers)
            return
        if project is None:
            names = sorted(projects)
            text = render_root_json(names) if media == JSON_V1 else render_root_html(names)
        elif project not in projects:
            self._send(404, b"no such project", head=head)
            return
        else:
            entries = page_entries(projects[project], index.page_file_url, config)
            if media == JSON_V1:
                text = render_project_json(project, entries)
            else:
                text = render_project_html(project, entries)
        content_type = media if media != TEXT_HTML else "text/html; charset=utf-8"
        self._send(
            200,
            text.encode("utf-8"),
            head=head,
            headers={"Content-Type": content_type, "Vary": "Accept"},
        )

    def _file(self, filename: str, *, head: bool, truncate: int | None) -> None:
        index = self.server.index
        config = index.config
        if not is_safe_filename(filename):
            self._send(404, b"not found", head=head)
            return
        path = index.files_dir / filename
        data: bytes | None = None
        if filename.endswith(".metadata"):
            dist = filename[: -len(".metadata")]
            info = index.describe(dist)
            if info is not None and _enabled(config.serve_metadata, dist):
                data = info.metadata
        elif path.is_file():
            data = path.read_bytes()
        if data is None:
            self._send(404, b"not found", head=head)
            return
        headers = {"Content-Type": "application/octet-stream", "Last-Modified": LAST_MODIFIED}
        etag = f'"{hashlib.sha256(data).hexdigest()}"'
        if config.etag:
            headers["ETag"] = etag
        if config.ranges:
            headers["Accept-Ranges"] = "bytes"
            range_header = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if range_header and (if_range is None or if_range in (etag, LAST_MODIFIED)):
                span = _parse_range(range_header, len(data))
                if isinstance(span, str):
                    headers["Content-Range"] = f"bytes */{len(data)}"
                    self._send(416, b"", head=head, headers=headers)
                    return
                if span is not None:
                    start, end = span
                    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                    self._send(
                        206, data[start : end + 1], head=head, headers=headers, truncate=truncate
                    )
                    return
        self._send(200, data, head=head, headers=headers, truncate=truncate)

    def _redirect(self, location: str, *, head: bool) -> None:
        self._send(301, b"", head=head, headers={"Location": location})

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        head: bool,
        headers: Mapping[str, str] | None = None,
        truncate: int | None = None,
    ) -> None:
        self.send_response(status)
        merged = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        for key, value in merged.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        if truncate is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if truncate is not None and truncate < len(body):
            self.wfile.write(body[:truncate])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """One RFC 9110 byte range as (first, last), "unsatisfiable", or None
    when the header is not a single range we honour (serve the whole file)."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(size - length, 0), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size:
        return "unsatisfiable"
    if end < start:
        return None
    return start, end


class IndexServer:
    """An index over ``files_dir`` on 127.0.0.1; use as a context manager.

    Files may be added to ``files_dir`` while it runs.  ``config`` may be
    changed at any time; ``log`` lists every request received.
    """

    def __init__(self, files_dir: Path, config: IndexConfig | None = None) -> None:
        self.files_dir = files_dir
        self.config = config if config is not None else IndexConfig()
        self.log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int, int], IndexFile | None] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> IndexServer:
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"index-server-{self.port}",
                daemon=True,  # never outlives the test process
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the index server is not running")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        scheme = "https" if self.config.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The simple API root, ``http://127.0.0.1:PORT/simple/``."""
        return f"{self.root_url}/simple/"

    def url_with_auth(self) -> str:
        """``url`` with the configured credentials in its netloc."""
        if self.config.auth is None:
            return self.url
        user, secret = (quote(part, safe="") for part in self.config.auth)
        scheme = "https" if self.config.tls is not None else "http"
        return f"{scheme}://{user}:{secret}@127.0.0.1:{self.port}/simple/"

    @staticmethod
    def file_path(filename: str) -> str:
        """The request path of a file (the key of ``config.faults``)."""
        return f"/files/{quote(filename)}"

    def file_url(self, filename: str) -> str:
        return self.root_url + self.file_path(filename)

    def page_file_url(self, filename: str) -> str:
        """A file's URL as project pages write it."""
        if self.config.absolute_urls:
            return self.file_url(filename)
        return f"../..{self.file_path(filename)}"

    # -- faults and the log ----------------------------------------------

    def add_faults(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with ``replies``, in order."""
        with self._lock:
            self.config.faults.setdefault(path, deque()).extend(replies)

    def next_reply(self, path: str) -> Reply | None:
        with self._lock:
            queue = self.config.faults.get(path)
            if queue:
                return queue.popleft()
        return self.config.overrides.get(path)

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)

    def hits(self, path: str, method: str = "GET") -> int:
        """How many ``method`` requests reached ``path``."""
        with self._lock:
            return sum(1 for e in self.log if e.path == path and e.method == method)

    # -- content ---------------------------------------------------------

    def _describe(self, path: Path) -> IndexFile | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (path.name, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        info = describe_file(path, generate_metadata=True)
        with self._lock:
            self._cache[key] = info
        return info

    def projects(self) -> dict[str, list[IndexFile]]:
        """normalized project -> files, read from ``files_dir`` now."""
        return scan(self.files_dir, self._describe)

    def describe(self, filename: str) -> IndexFile | None:
        """What the pages say about ``filename``, or None if not served."""
        path = self.files_dir / filename
        return self._describe(path) if path.is_file() else None


__all__ = [
    "API_VERSION",
    "HTML_V1",
    "JSON_V1",
    "TEXT_HTML",
    "UPLOAD_TIME",
    "IndexConfig",
    "IndexFile",
    "IndexServer",
    "LoggedRequest",
    "Reply",
    "describe_file",
    "negotiate",
    "render_project_html",
    "render_project_json",
    "scan",
    "too_many_requests",
    "truncated",
    "unavailable",
    "write_static_index",
]
