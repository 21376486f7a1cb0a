"""``bundle serve``: the pure path, Accept and Range parsers, every route
over loopback, and real pip and uv installing from a served bundle."""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from bundler.errors import UsageError
from bundler.serve.ranges import UNSATISFIABLE, ByteRange, parse_range
from bundler.serve.routes import (
    HTML_V1,
    JSON_V1,
    MEDIA_TYPES,
    TEXT_HTML,
    BadPath,
    Page,
    Redirect,
    StaticFile,
    negotiate,
    route,
    split_path,
)
from bundler.serve.server import BundleServer, make_server
from tests.gate.test_verify import APP, DEP, TOOL, Bundle, make_bundle
from tests.support.piputil import clean_pip_env, installed, make_venv, pip_run

# pip's header (src/pip/_internal/index/collector.py).
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
# uv's headers (crates/uv-client/src/registry_client.rs: MediaType::pypi and ::all).
UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)
UV_ACCEPT_ALL = (
    "application/vnd.pyx.simple.v1+msgpack, application/vnd.pyx.simple.v1+json;q=0.9, "
    "application/vnd.pypi.simple.v1+json;q=0.8, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)

APP_WHEEL = "app-1.0-py3-none-any.whl"
SECRET = b"this file is outside the bundle"
PYLOCK = b'lock-version = "1.0"\ncreated-by = "bundler"\n'
INSTALLED = {"app": "1.0", "dep": "1.2", "tool-kit": "0.5"}


# --- pure parts ---------------------------------------------------------------------


NEGOTIATION = [
    (PIP_ACCEPT, JSON_V1),
    (UV_ACCEPT, JSON_V1),
    (UV_ACCEPT_ALL, JSON_V1),
    ("text/html", TEXT_HTML),
    ("*/*", TEXT_HTML),
    (None, TEXT_HTML),
    ("", TEXT_HTML),
    ("text/*", TEXT_HTML),
    ("application/*", JSON_V1),
    ("application/vnd.pypi.simple.v1+json;q=0.5", JSON_V1),
    ("application/vnd.pypi.simple.v1+html", HTML_V1),
    ("application/vnd.pypi.simple.latest+json", JSON_V1),
    ("application/vnd.pypi.simple.latest+html", HTML_V1),
    ("text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.9", JSON_V1),
    ("text/html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5", TEXT_HTML),
    ("APPLICATION/VND.PYPI.SIMPLE.V1+JSON", JSON_V1),
    ("application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.5", TEXT_HTML),
    ("text/html, */*;q=0", TEXT_HTML),
    ("application/vnd.pypi.simple.v1+json;q=0", None),
    ("application/vnd.pypi.simple.v1+json;q=0, */*;q=0", None),
    ("application/xml", None),
    ("application/vnd.pypi.simple.v2+json", None),
    ("image/*, application/json", None),
]


@pytest.mark.parametrize(("accept", "expected"), NEGOTIATION)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept, MEDIA_TYPES) == expected


def test_negotiate_only_offers_what_the_bundle_has() -> None:
    html_only = [HTML_V1, TEXT_HTML]
    assert negotiate(PIP_ACCEPT, html_only) == HTML_V1  # v1+html q=0.1 beats text/html q=0.01
    assert negotiate("application/vnd.pypi.simple.v1+json", html_only) is None
    assert negotiate(UV_ACCEPT, [JSON_V1]) == JSON_V1
    assert negotiate("text/html", [JSON_V1]) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=10-", ByteRange(10, 99)),
        ("bytes=-5", ByteRange(95, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("bytes=90-500", ByteRange(90, 99)),
        (" Bytes = 1-1 ", ByteRange(1, 1)),
        ("bytes=99-99", ByteRange(99, 99)),
        ("bytes=100-", UNSATISFIABLE),
        ("bytes=100-200", UNSATISFIABLE),
        ("bytes=-0", UNSATISFIABLE),
        ("bytes=5-2", None),
        ("bytes=00005-0010", ByteRange(5, 10)),
        ("bytes=" + "9" * 5000 + "-", UNSATISFIABLE),
        ("bytes=0-" + "9" * 5000, ByteRange(0, 99)),
        ("bytes=-" + "9" * 5000, ByteRange(0, 99)),
        ("bytes=" + "0" * 5000 + "7-8", ByteRange(7, 8)),
        ("bytes=" + "9" * 5000 + "-1", None),
        ("bytes=0-1,4-5", None),
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("bytes=\u0661-", None),  # a non-ASCII digit is not a digit here
        ("items=0-1", None),
        ("0-1", None),
    ],
)
def test_parse_range(header: str, expected: object) -> None:
    assert parse_range(header, 100) == expected


def test_parse_range_of_an_empty_file() -> None:
    assert parse_range("bytes=0-", 0) == UNSATISFIABLE
    assert parse_range("bytes=-1", 0) == UNSATISFIABLE


@pytest.mark.parametrize(
    ("target", "parts"),
    [
        ("/", ("",)),
        ("/simple/", ("simple", "")),
        ("/simple/foo/?x=1#frag", ("simple", "foo", "")),
        ("/files/pkg-1.0%2Bcpu-py3-none-any.whl", ("files", "pkg-1.0+cpu-py3-none-any.whl")),
    ],
)
def test_split_path(target: str, parts: tuple[str, ...]) -> None:
    assert split_path(target) == parts


BAD_TARGETS = [
    "/../secret.txt",
    "/files/../../secret.txt",
    "/files/./x",
    "/%2e%2e/secret.txt",
    "/files/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/files/..%2f..%2fsecret.txt",
    "/files/%2Fetc%2Fpasswd",
    "/files/..%5c..%5csecret.txt",
    "/files/..\\..\\secret.txt",
    "//etc/passwd",
    "/files//etc/passwd",
    "/files/x.whl%00.metadata",
    "/files/%ff",
    "/files/caf\u00e9",
    "http://127.0.0.1/../secret.txt",
    "*",
]


@pytest.mark.parametrize("target", BAD_TARGETS)
def test_split_path_rejects(target: str) -> None:
    with pytest.raises(BadPath):
        split_path(target)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("",), Redirect("/simple/", 302)),
        (("simple",), Redirect("/simple/", 301)),
        (("simple", ""), Page(("simple",))),
        (("simple", "foo-bar", ""), Page(("simple", "foo-bar"))),
        (("simple", "Foo_Bar", ""), Redirect("/simple/foo-bar/", 301)),
        (("simple", "Foo.Bar"), Redirect("/simple/foo-bar/", 301)),
        (("simple", "foo-bar"), Redirect("/simple/foo-bar/", 301)),
        (("simple", "-foo", ""), None),
        (("simple", "foo", "index.json"), None),
        (("simple", "foo", "", ""), None),
        (("files", ""), None),
        (("files",), None),
        (("files", ".bundle.lock"), None),
        (("files", "a:b.whl"), None),
        (
            ("files", APP_WHEEL),
            StaticFile(
                ("files", APP_WHEEL),
                "application/octet-stream",
                "public, max-age=31536000, immutable",
            ),
        ),
        (
            ("files", APP_WHEEL + ".metadata"),
            StaticFile(
                ("files", APP_WHEEL + ".metadata"),
                "text/plain; charset=utf-8",
                "public, max-age=31536000, immutable",
            ),
        ),
        (("bundle.json",), StaticFile(("bundle.json",), "application/json", "public, no-cache")),
        (("pylock.toml",), StaticFile(("pylock.toml",), "application/toml", "public, no-cache")),
        (("secret.txt",), None),
        (("files", "sub", "x.whl"), None),
    ],
)
def test_route(parts: tuple[str, ...], expected: object) -> None:
    assert route(parts) == expected


# --- a running server ----------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def fetch(
    server: BundleServer,
    path: str,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
) -> Reply:
    """One request, path sent exactly as given (no client-side normalizing)."""
    port = int(server.server_address[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        return Reply(response.status, response.msg, response.read())
    finally:
        conn.close()


def raw_request(server: BundleServer, data: bytes) -> bytes:
    """Send raw bytes, read the answer until the server closes."""
    port = int(server.server_address[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    """The log line of a request is written just after its answer: poll."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@contextlib.contextmanager
def running(root: Path) -> Iterator[tuple[BundleServer, list[str]]]:
    logs: list[str] = []
    with make_server(root, log=logs.append).start() as server:
        yield server, logs


@dataclass(frozen=True)
class Served:
    bundle: Bundle
    server: BundleServer
    logs: list[str]

    @property
    def root(self) -> Path:
        return self.bundle.root

    def logged(self, fragment: str) -> bool:
        return wait_for(lambda: any(fragment in line for line in self.logs))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("serve")
    bundle = make_bundle(base / "pypi", [APP, DEP, TOOL], sdist_only=["Tool_Kit"])
    (bundle.root / "pylock.toml").write_bytes(PYLOCK)
    (base / "secret.txt").write_bytes(SECRET)
    # A link inside the bundle that leads out of it.
    (bundle.root / "files" / "escape-1.0-py3-none-any.whl").symlink_to(base / "secret.txt")
    (bundle.root / "files" / ".hidden.tmp").write_bytes(SECRET)
    with running(bundle.root) as (server, logs):
        yield Served(bundle, server, logs)


def test_url_properties(served: Served) -> None:
    port = served.server.server_address[1]
    assert served.server.url == f"http://127.0.0.1:{port}/"
    assert served.server.index_url == f"http://127.0.0.1:{port}/simple/"


@pytest.mark.parametrize(("accept", "expected"), NEGOTIATION)
@pytest.mark.parametrize("path", ["/simple/", "/simple/app/"])
def test_pages_are_negotiated(
    served: Served, path: str, accept: str | None, expected: str | None
) -> None:
    reply = fetch(served.server, path, {"Accept": accept} if accept is not None else {})
    assert reply.header("Vary") == "Accept"
    page_dir = served.root / path.strip("/")
    if expected is None:
        assert reply.status == 406
        assert b"application/vnd.pypi.simple.v1+json" in reply.body
        return
    assert reply.status == 200
    content_type = reply.header("Content-Type") or ""
    assert content_type.split(";")[0] == expected
    page = "index.json" if expected == JSON_V1 else "index.html"
    assert reply.body == (page_dir / page).read_bytes()
    assert reply.header("Content-Length") == str(len(reply.body))


def test_json_page_follows_pep_691_and_700(served: Served) -> None:
    page_url = served.server.index_url + "app/"
    reply = fetch(served.server, "/simple/app/", {"Accept": PIP_ACCEPT})
    assert reply.header("Content-Type") == JSON_V1
    doc = json.loads(reply.body)
    assert doc["meta"]["api-version"] == "1.1"
    assert doc["name"] == "app"
    assert doc["versions"] == ["1.0"]
    assert [f["filename"] for f in doc["files"]] == [APP_WHEEL]
    for entry in doc["files"]:
        assert "dist-info-metadata" not in entry  # pip#12042
        assert isinstance(entry["hashes"], dict)
        assert isinstance(entry["size"], int)
        assert entry["yanked"] is False
        # The relative URL resolves, on this server, to the very file.
        url = urllib.parse.urlsplit(urllib.parse.urljoin(page_url, entry["url"]))
        data = fetch(served.server, url.path)
        assert data.status == 200
        assert hashlib.sha256(data.body).hexdigest() == entry["hashes"]["sha256"]
        assert len(data.body) == entry["size"]
        # PEP 658: the sidecar sits at the file's URL plus ".metadata".
        metadata = fetch(served.server, url.path + ".metadata")
        assert metadata.status == 200
        assert metadata.body.startswith(b"Metadata-Version:")
        assert hashlib.sha256(metadata.body).hexdigest() == entry["core-metadata"]["sha256"]
    root = json.loads(fetch(served.server, "/simple/", {"Accept": UV_ACCEPT}).body)
    assert root["meta"]["api-version"] == "1.1"
    assert [p["name"] for p in root["projects"]] == ["app", "dep", "tool-kit"]


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("/", 302, "/simple/"),
        ("/simple", 301, "/simple/"),
        ("/simple/Tool_Kit/", 301, "/simple/tool-kit/"),
        ("/simple/TOOL.KIT", 301, "/simple/tool-kit/"),
        ("/simple/tool-kit", 301, "/simple/tool-kit/"),
    ],
)
def test_redirects(served: Served, path: str, status: int, location: str) -> None:
    reply = fetch(served.server, path, {"Accept": PIP_ACCEPT})
    assert (reply.status, reply.header("Location")) == (status, location)
    assert reply.header("Vary") == "Accept"
    assert fetch(served.server, location).status == 200


def test_head_has_the_headers_of_get_and_no_body(served: Served) -> None:
    for path in ("/simple/app/", f"/files/{APP_WHEEL}", "/bundle.json"):
        get = fetch(served.server, path, {"Accept": PIP_ACCEPT})
        head = fetch(served.server, path, {"Accept": PIP_ACCEPT}, method="HEAD")
        assert head.status == get.status == 200
        assert head.body == b""
        for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control"):
            assert head.header(name) == get.header(name), name
        assert int(head.header("Content-Length") or -1) == len(get.body)


def test_files_and_root_files(served: Served) -> None:
    wheel = fetch(served.server, f"/files/{APP_WHEEL}")
    assert wheel.body == (served.root / "files" / APP_WHEEL).read_bytes()
    assert wheel.header("Content-Type") == "application/octet-stream"
    assert wheel.header("Accept-Ranges") == "bytes"
    assert "immutable" in (wheel.header("Cache-Control") or "")
    assert wheel.header("Vary") is None
    metadata = fetch(served.server, f"/files/{APP_WHEEL}.metadata")
    assert (metadata.header("Content-Type") or "").startswith("text/plain")
    for name, content_type in [
        ("bundle.json", "application/json"),
        ("requirements.txt", "text/plain; charset=utf-8"),
        ("pylock.toml", "application/toml"),
    ]:
        reply = fetch(served.server, f"/{name}")
        assert reply.status == 200
        assert reply.header("Content-Type") == content_type
        assert reply.body == (served.root / name).read_bytes()
        assert reply.header("Cache-Control") == "public, no-cache"
    page = fetch(served.server, "/simple/app/", {"Accept": PIP_ACCEPT})
    assert page.header("Cache-Control") == "public, no-cache"


@pytest.mark.parametrize(
    ("header", "status", "piece", "content_range"),
    [
        ("bytes=0-9", 206, slice(0, 10), "bytes 0-9/{n}"),
        ("bytes=10-", 206, slice(10, None), "bytes 10-{last}/{n}"),
        ("bytes=-5", 206, slice(-5, None), "bytes {tail5}-{last}/{n}"),
        ("bytes=-100000", 206, slice(None), "bytes 0-{last}/{n}"),
        ("bytes=0-100000", 206, slice(None), "bytes 0-{last}/{n}"),
        ("bytes={n}-", 416, None, "bytes */{n}"),
        ("bytes=-0", 416, None, "bytes */{n}"),
        # Numbers longer than int() reads (4,300 digits).
        ("bytes={huge}-", 416, None, "bytes */{n}"),
        ("bytes=0-{huge}", 206, slice(None), "bytes 0-{last}/{n}"),
        ("bytes=-{huge}", 206, slice(None), "bytes 0-{last}/{n}"),
        ("bytes={huge}-{huge}", 416, None, "bytes */{n}"),
        ("bytes={huge}-1", 200, slice(None), None),
        ("bytes=5-2", 200, slice(None), None),
        ("bytes=0-1,4-5", 200, slice(None), None),
        ("items=0-1", 200, slice(None), None),
    ],
)
def test_range_requests(
    served: Served, header: str, status: int, piece: slice | None, content_range: str | None
) -> None:
    data = (served.root / "files" / APP_WHEEL).read_bytes()
    n = len(data)
    values = {"n": n, "last": n - 1, "tail5": n - 5, "huge": "9" * 5000}
    reply = fetch(served.server, f"/files/{APP_WHEEL}", {"Range": header.format(**values)})
    assert reply.status == status
    expected_range = content_range.format(**values) if content_range else None
    assert reply.header("Content-Range") == expected_range
    if piece is not None:
        assert reply.body == data[piece]
        assert reply.header("Content-Length") == str(len(data[piece]))


def test_if_range(served: Served) -> None:
    path = f"/files/{APP_WHEEL}"
    full = fetch(served.server, path)
    etag, modified = full.header("ETag"), full.header("Last-Modified")
    assert etag and modified
    for validator in (etag, modified):
        reply = fetch(served.server, path, {"Range": "bytes=0-3", "If-Range": validator})
        assert (reply.status, reply.body) == (206, full.body[:4])
    # A changed file (another validator): the whole new file, not a piece of it.
    for stale in ('"0-0"', "W/" + etag, "Thu, 01 Jan 2015 00:00:00 GMT"):
        reply = fetch(served.server, path, {"Range": "bytes=0-3", "If-Range": stale})
        assert (reply.status, reply.body) == (200, full.body)


def test_conditional_requests(served: Served) -> None:
    path = f"/files/{APP_WHEEL}"
    first = fetch(served.server, path)
    etag, modified = first.header("ETag") or "", first.header("Last-Modified") or ""
    assert re.fullmatch(r'"[^"]+"', etag)  # strong
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"nope", {etag}'},
        {"If-None-Match": "W/" + etag},  # If-None-Match compares weakly
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        reply = fetch(served.server, path, headers)
        assert (reply.status, reply.body) == (304, b""), headers
        assert reply.header("ETag") == etag
    older = email.utils.formatdate(time.time() - 86400 * 365, usegmt=True)
    for headers in (
        {"If-None-Match": '"nope"'},
        {"If-Modified-Since": older},
        {"If-Modified-Since": "not a date"},
        # If-None-Match wins over If-Modified-Since.
        {"If-None-Match": '"nope"', "If-Modified-Since": modified},
    ):
        reply = fetch(served.server, path, headers)
        assert (reply.status, reply.body) == (200, first.body), headers


def test_each_page_representation_has_its_own_etag(served: Served) -> None:
    tags = {}
    for accept in (JSON_V1, HTML_V1, TEXT_HTML):
        reply = fetch(served.server, "/simple/app/", {"Accept": accept})
        tags[accept] = reply.header("ETag")
        again = fetch(
            served.server, "/simple/app/", {"Accept": accept, "If-None-Match": tags[accept] or ""}
        )
        assert again.status == 304
        assert again.header("Vary") == "Accept"
    assert len(set(tags.values())) == 3
    # The JSON validator does not validate the HTML page.
    reply = fetch(
        served.server, "/simple/app/", {"Accept": "text/html", "If-None-Match": tags[JSON_V1] or ""}
    )
    assert reply.status == 200
    assert reply.body.startswith(b"<!DOCTYPE html>")


@pytest.mark.parametrize(
    "path",
    [
        *(target for target in BAD_TARGETS if target.isascii()),
        "/simple/..%2f..%2f/",
        "/files/escape-1.0-py3-none-any.whl",  # a symlink leading out
        "/files/.hidden.tmp",
        "/secret.txt",
        "/files/",
        "/files",
        "/simple/app/index.json",
        "/simple/missing/",
        "/files/missing-1.0.tar.gz",
        "/nope",
    ],
)
def test_nothing_outside_the_routes_is_served(served: Served, path: str) -> None:
    for method in ("GET", "HEAD"):
        reply = fetch(served.server, path, method=method)
        assert reply.status in (400, 404), (method, path, reply.status)
        assert SECRET not in reply.body
        assert b"<a " not in reply.body  # never a directory listing


def test_raw_control_bytes_are_refused_and_logged_escaped(served: Served) -> None:
    answer = raw_request(
        served.server,
        b"GET /files/\x00x\xff\x1b[31m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert served.logged("GET /files/\\x00x\\xff\\x1b[31m 400")
    assert not any("\x1b" in line or "\x00" in line for line in served.logs)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head(served: Served, method: str) -> None:
    before = (served.root / "bundle.json").read_bytes()
    reply = fetch(served.server, "/bundle.json", {"Content-Length": "0"}, method=method)
    assert reply.status == 405
    assert reply.header("Allow") == "GET, HEAD"
    assert (served.root / "bundle.json").read_bytes() == before


def test_one_log_line_per_request(served: Served) -> None:
    reply = fetch(served.server, "/simple/dep/?probe=1", {"Accept": PIP_ACCEPT})
    pattern = re.compile(r"127\.0\.0\.1 GET /simple/dep/\?probe=1 200 (\d+) \d+\.\dms")
    assert wait_for(lambda: any(pattern.fullmatch(line) for line in served.logs))
    match = next(m for line in served.logs if (m := pattern.fullmatch(line)))
    assert int(match.group(1)) == len(reply.body)
    fetch(served.server, "/simple/dep/?probe=2", method="HEAD")
    assert served.logged("HEAD /simple/dep/?probe=2 200 0 ")


def test_keep_alive_serves_several_requests_on_one_connection(served: Served) -> None:
    port = int(served.server.server_address[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for path in ("/simple/", "/simple/app/", f"/files/{APP_WHEEL}", "/nope", "/simple/dep/"):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert not response.will_close, path
    finally:
        conn.close()


def test_a_client_hanging_up_mid_file_leaves_no_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path / "pypi", [DEP])
    big = bundle.root / "files" / "big-1.0.tar.gz"
    size = 64 << 20
    with big.open("wb") as fh:
        fh.truncate(size)
    with running(bundle.root) as (server, logs):
        port = int(server.server_address[1])
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /files/big-1.0.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 200 ")
            # Close with a reset, as a killed client does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        assert wait_for(lambda: sum("big-1.0.tar.gz 200" in line for line in logs) == 3)
        # The server still answers.
        assert fetch(server, "/simple/dep/").status == 200
    sent = [int(line.split()[4]) for line in logs if "big-1.0.tar.gz" in line]
    assert all(n < size for n in sent)
    assert not any("error" in line for line in logs)
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert "Broken pipe" not in err


def test_a_symlinked_bundle_follows_its_link(tmp_path: Path) -> None:
    # `bundle publish` may swap a symlink: each request sees the current bundle.
    first = make_bundle(tmp_path / "one", [APP, DEP])
    second = make_bundle(tmp_path / "two", [TOOL])
    link = tmp_path / "current"
    link.symlink_to(first.root)
    with running(link) as (server, _):
        listed = json.loads(fetch(server, "/simple/", {"Accept": JSON_V1}).body)
        assert [p["name"] for p in listed["projects"]] == ["app", "dep"]
        swap = tmp_path / "swap"
        swap.symlink_to(second.root)
        os.replace(swap, link)
        listed = json.loads(fetch(server, "/simple/", {"Accept": JSON_V1}).body)
        assert [p["name"] for p in listed["projects"]] == ["tool-kit"]
        assert fetch(server, "/simple/app/").status == 404


def test_make_server_refuses_what_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory") as info:
        make_server(tmp_path / "missing")
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match="not a bundle"):
        make_server(tmp_path)


def test_make_server_reports_a_busy_port(served: Served) -> None:
    port = int(served.server.server_address[1])
    with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}"):
        make_server(served.root, port=port)


def test_serve_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "pypi", [DEP])
    code = (
        "import sys; from pathlib import Path; from bundler.serve.server import serve; "
        "serve(Path(sys.argv[1]), '127.0.0.1', 0, lambda line: print(line, flush=True))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(bundle.root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/simple/", first)
        assert match, first
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", "/simple/dep/")
        assert conn.getresponse().status == 200
        conn.close()
        # The request is logged once answered: wait for it before Ctrl-C.
        logged = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    assert "GET /simple/dep/ 200" in logged


# --- real installers ---------------------------------------------------------------


def _without_proxies(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}


def _hashed_requirements(bundle: Bundle) -> str:
    lines = []
    for package in bundle.manifest.packages:
        hashes = " ".join(f"--hash=sha256:{f.sha256}" for f in package.files)
        lines.append(f"{package.name}=={package.version} {hashes}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_pip_installs_from_the_served_bundle(served: Served, tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(_hashed_requirements(served.bundle))
    start = len(served.logs)
    pip_run(
        [
            "install",
            "--index-url",
            served.server.index_url,
            "--require-hashes",
            "-r",
            str(requirements),
        ],
        python=python,
        env=_without_proxies(clean_pip_env()),
    )
    assert installed(python) == INSTALLED
    # Only this install's requests (the log is the module's): the pages,
    # then the files. Whether pip reads a PEP 658 sidecar first is pip's
    # choice (26.3 does not when it downloads the wheel anyway).
    wanted = ["GET /simple/app/ 200", f"GET /files/{APP_WHEEL} 200"]
    wanted.append("GET /files/tool_kit-0.5.tar.gz 200")
    assert wait_for(lambda: all(any(w in line for line in served.logs[start:]) for w in wanted))


def _uv() -> Path | None:
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return beside
    found = shutil.which("uv")
    return Path(found) if found else None


@pytest.mark.slow
def test_uv_installs_from_the_served_bundle(served: Served, tmp_path: Path) -> None:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed")
    python = make_venv(tmp_path / "venv")
    env = {
        k: v
        for k, v in _without_proxies(os.environ).items()
        if not k.upper().startswith(("UV_", "PIP_"))
    }
    env.update(
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
    )
    proc = subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--index-url",
            served.server.index_url,
            "--python",
            str(python),
            "app",
            "Tool_Kit",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert installed(python) == INSTALLED
    assert served.logged("GET /simple/tool-kit/ 200")


def test_a_burst_of_connections_is_queued_not_dropped(served: Served) -> None:
    # 200 clients connect at once (uv opens 50, and CI jobs start together):
    # the kernel completes each handshake and queues it for the server; a
    # queue of 5 dropped the rest, whose clients waited 1, 3, 7 s to retry.
    host, port = served.server.server_address[:2]
    sockets: list[socket.socket] = []
    try:
        for _ in range(200):
            sock = socket.socket()
            sockets.append(sock)
            sock.settimeout(0.5)
            sock.connect((str(host), int(port)))  # times out when dropped
    finally:
        for sock in sockets:
            sock.close()
