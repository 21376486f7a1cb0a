"""The HTTP layer against a scripted server on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import importlib.util
import io
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from bundler import __version__, fsutil
from bundler.errors import BundlerError, HashMismatch, NetworkError, NotFound
from bundler.index import cache as cache_module
from bundler.index import transport, trust
from bundler.index.client import HttpClient
from bundler.index.responses import Cancelled, NotCached, RangeNotSupported
from bundler.redact import redact_url, split_auth
from bundler.reporting import Reporter

SECRET = "s3cr3t-T0ken"

# --- a scripted server ---------------------------------------------------------------

Route = Callable[["Handler"], None]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class Server:
    """A threaded HTTP/1.1 server on 127.0.0.1 whose routes tests script."""

    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return int(self.httpd.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def requests_for(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server_state
        with state.lock:
            state.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = state.routes.get(self.path.split("?", 1)[0])
        if route is None:
            send(self, 404, b"not found")
        else:
            route(self)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def send(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    h.send_response(status)
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def drop_after(h: BaseHTTPRequestHandler, body: bytes, cut: int, headers: dict[str, str]) -> None:
    """Promise the whole body, send ``cut`` bytes, then drop the connection."""
    h.send_response(200)
    for name, value in headers.items():
        h.send_header(name, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body[:cut])
    h.wfile.flush()
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


def serve_bytes(
    data: bytes, *, ranges: bool = True, etag: str = '"v1"', content_type: str | None = None
) -> Route:
    """A static file; honours ``Range`` (single ranges, suffixes) when asked."""

    def route(h: Handler) -> None:
        headers = {"ETag": etag, "Accept-Ranges": "bytes" if ranges else "none"}
        if content_type:
            headers["Content-Type"] = content_type
        spec = h.header("Range")
        if_range = h.header("If-Range")
        if ranges and spec and (if_range is None or if_range == etag):
            first, _, last = spec.removeprefix("bytes=").partition("-")
            if first == "":
                start, end = max(0, len(data) - int(last)), len(data) - 1
            else:
                start = int(first)
                end = min(int(last), len(data) - 1) if last else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            send(h, 206, data[start : end + 1], headers)
            return
        send(h, 200, data, headers)

    return route


def sequence(*routes: Route) -> Route:
    """Answer the n-th request with the n-th route (the last one repeats)."""
    calls = iter(range(10**6))

    def route(h: Handler) -> None:
        routes[min(next(calls), len(routes) - 1)](h)

    return route


@contextlib.contextmanager
def running_server(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    """A scripted server for the duration of the block (HTTPS with ``tls``)."""
    state = Server()
    handler = type("BoundHandler", (Handler,), {"server_state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    state.httpd = httpd
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    with running_server() as state:
        yield state


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps, tmp_path: Path) -> Iterator[HttpClient]:
    with HttpClient(cache_dir=tmp_path / "cache", sleep=sleeps, max_attempts=4, timeout=5) as c:
        yield c


def all_text(err: BaseException) -> str:
    """Everything a traceback of ``err`` would show, chained causes included."""
    return "".join(traceback.format_exception(type(err), err, err.__traceback__)) + repr(err)


# --- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@host/simple/", "https://user:***@host/simple/"),
        ("https://tok3n@host:8443/x", "https://***@host:8443/x"),
        ("https://host/simple/", "https://host/simple/"),
        ("https://u:p%40ss@h/", "https://u:***@h/"),
        ("/local/path", "/local/path"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_split_auth_ignores_redacted_userinfo() -> None:
    assert split_auth("https://u:p%40ss@h/x") == ("https://h/x", ("u", "p@ss"))
    assert split_auth("https://tok@h/x") == ("https://h/x", ("tok", ""))
    assert split_auth("https://u:***@h/x") == ("https://h/x", None)
    assert split_auth("https://h/x") == ("https://h/x", None)


# --- retries ------------------------------------------------------------------------------


def test_429_retry_after_then_200(server: Server, client: HttpClient, sleeps: Sleeps) -> None:
    server.routes["/p"] = sequence(
        lambda h: send(h, 429, b"slow down", {"Retry-After": "3"}),
        lambda h: send(h, 200, b"ok"),
    )
    resp = client.get(server.url("/p"))
    assert resp.content == b"ok"
    assert len(server.requests_for("/p")) == 2
    assert sleeps.delays == [3.0]


def test_retry_after_http_date_is_honoured_and_capped(server: Server, tmp_path: Path) -> None:
    now = 1_700_000_000.0
    delays: list[float] = []
    when = email.utils.formatdate(now + 30, usegmt=True)
    server.routes["/p"] = sequence(
        lambda h: send(h, 503, b"", {"Retry-After": when}),
        lambda h: send(h, 429, b"", {"Retry-After": "100000"}),
        lambda h: send(h, 200, b"ok"),
    )
    with HttpClient(sleep=delays.append, clock=lambda: now, retry_after_cap=60) as c:
        assert c.get(server.url("/p")).content == b"ok"
    assert delays == [30.0, 60.0]


def test_503_twice_then_200_with_backoff(
    server: Server, client: HttpClient, sleeps: Sleeps
) -> None:
    server.routes["/p"] = sequence(
        lambda h: send(h, 503), lambda h: send(h, 503), lambda h: send(h, 200, b"ok")
    )
    assert client.get(server.url("/p")).content == b"ok"
    assert len(server.requests_for("/p")) == 3
    assert len(sleeps.delays) == 2
    # Exponential backoff (base 0.5 s) with jitter in [50 %, 100 %].
    assert 0.25 <= sleeps.delays[0] <= 0.5
    assert 0.5 <= sleeps.delays[1] <= 1.0


@pytest.mark.parametrize("status", [404, 410])
def test_not_found_is_never_retried(
    server: Server, client: HttpClient, sleeps: Sleeps, status: int
) -> None:
    server.routes["/p"] = lambda h: send(h, status)
    with pytest.raises(NotFound) as info:
        client.get(server.url("/p"))
    assert info.value.status == status
    assert len(server.requests_for("/p")) == 1
    assert sleeps.delays == []


def test_other_4xx_fail_at_once(server: Server, client: HttpClient, sleeps: Sleeps) -> None:
    server.routes["/p"] = lambda h: send(h, 403)
    with pytest.raises(NetworkError) as info:
        client.get(server.url("/p"))
    assert not isinstance(info.value, NotFound)
    assert info.value.status == 403
    assert len(server.requests_for("/p")) == 1


def test_5xx_gives_up_after_max_attempts(
    server: Server, client: HttpClient, sleeps: Sleeps
) -> None:
    server.routes["/p"] = lambda h: send(h, 502)
    with pytest.raises(NetworkError, match="after 4 attempts"):
        client.get(server.url("/p"))
    assert len(server.requests_for("/p")) == 4
    assert len(sleeps.delays) == 3


def test_connection_refused_is_retried_then_fails(client: HttpClient, sleeps: Sleeps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NetworkError, match="after 4 attempts"):
        client.get(f"http://user:{SECRET}@127.0.0.1:{port}/simple/")
    assert len(sleeps.delays) == 3


def test_user_agent(server: Server, client: HttpClient) -> None:
    server.routes["/p"] = lambda h: send(h, 200, b"ok")
    client.get(server.url("/p"))
    assert server.requests_for("/p")[0].headers["user-agent"] == f"bundler/{__version__}"


def test_client_is_usable_from_many_threads(server: Server, client: HttpClient) -> None:
    server.routes["/p"] = lambda h: send(h, 200, b"ok")
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(client.get(server.url("/p")).content)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [b"ok"] * 60


# --- credentials --------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_apply_to_every_url_on_the_host(server: Server, client: HttpClient) -> None:
    good = _basic("user", SECRET)

    def guarded(h: Handler) -> None:
        send(h, 200 if h.header("Authorization") == good else 401, b"data")

    server.routes["/simple/"] = guarded
    server.routes["/files/a.whl"] = guarded
    index = server.url("/simple/").replace("http://", f"http://user:{SECRET}@")
    assert client.get(index).content == b"data"
    # The page's file links carry no userinfo; the host's credentials apply.
    assert client.get(server.url("/files/a.whl")).content == b"data"
    # So does a redacted URL (as a lock records it).
    redacted = server.url("/files/a.whl").replace("http://", "http://user:***@")
    assert client.get(redacted).content == b"data"


def test_credentials_are_not_sent_to_another_host(server: Server, client: HttpClient) -> None:
    server.routes["/simple/"] = lambda h: send(
        h, 302, b"", {"Location": server.url("/elsewhere/", host="localhost")}
    )
    server.routes["/elsewhere/"] = lambda h: send(h, 200, b"moved")
    index = server.url("/simple/").replace("http://", f"http://user:{SECRET}@")
    resp = client.get(index)
    assert resp.content == b"moved"
    assert resp.url == server.url("/elsewhere/", host="localhost")
    assert "authorization" in server.requests_for("/simple/")[0].headers
    assert "authorization" not in server.requests_for("/elsewhere/")[0].headers


def test_no_secret_in_any_error(server: Server, client: HttpClient, tmp_path: Path) -> None:
    server.routes["/denied/"] = lambda h: send(h, 401)
    server.routes["/gone/"] = lambda h: send(h, 404)
    server.routes["/busy/"] = lambda h: send(h, 503)
    server.routes["/file.whl"] = serve_bytes(b"payload")
    base = server.url("/").replace("http://", f"http://user:{SECRET}@")
    errors: list[BundlerError] = []
    for path in ("denied/", "gone/", "busy/"):
        with pytest.raises(NetworkError) as info:
            client.get(base + path)
        errors.append(info.value)
    with pytest.raises(HashMismatch) as mismatch:
        client.fetch_to_file(base + "file.whl", tmp_path / "out" / "file.whl", sha256="0" * 64)
    errors.append(mismatch.value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(NetworkError) as refused:
        client.get(f"http://{SECRET}@127.0.0.1:{closed}/simple/")
    errors.append(refused.value)
    assert len(errors) == 5
    for err in errors:
        text = all_text(err)
        assert SECRET not in text
        assert "127.0.0.1" in text  # the URL is named, redacted


# --- the page cache -----------------------------------------------------------------------


def test_cached_page_is_reused_within_the_freshness_window(
    server: Server, client: HttpClient
) -> None:
    server.routes["/simple/a/"] = lambda h: send(h, 200, b"<html></html>")
    first = client.get(server.url("/simple/a/"), "text/html", cacheable=True)
    second = client.get(server.url("/simple/a/"), "text/html", cacheable=True)
    assert second.content == first.content == b"<html></html>"
    assert second.from_cache
    assert len(server.requests_for("/simple/a/")) == 1


def test_stale_page_is_revalidated_with_etag(server: Server, tmp_path: Path) -> None:
    now = [1000.0]

    def page(h: Handler) -> None:
        if h.header("If-None-Match") == '"e1"':
            send(h, 304, b"", {"ETag": '"e1"'})
        else:
            send(h, 200, b"<html>v1</html>", {"ETag": '"e1"', "Content-Type": "text/html"})

    server.routes["/simple/a/"] = page
    with HttpClient(cache_dir=tmp_path, clock=lambda: now[0], page_max_age=600) as c:
        c.get(server.url("/simple/a/"), cacheable=True)
        now[0] += 601
        again = c.get(server.url("/simple/a/"), cacheable=True)
        assert again.content == b"<html>v1</html>"
        assert again.content_type == "text/html"
        # Revalidation refreshed the entry: no request within the next window.
        now[0] += 300
        c.get(server.url("/simple/a/"), cacheable=True)
    seen = server.requests_for("/simple/a/")
    assert len(seen) == 2
    assert seen[1].headers["if-none-match"] == '"e1"'


def test_stale_page_without_validators_is_fetched_again(server: Server, tmp_path: Path) -> None:
    now = [1000.0]
    server.routes["/simple/a/"] = sequence(
        lambda h: send(h, 200, b"<html>v1</html>"), lambda h: send(h, 200, b"<html>v2</html>")
    )
    with HttpClient(cache_dir=tmp_path, clock=lambda: now[0], page_max_age=10) as c:
        assert c.get(server.url("/simple/a/"), cacheable=True).content == b"<html>v1</html>"
        now[0] += 11
        assert c.get(server.url("/simple/a/"), cacheable=True).content == b"<html>v2</html>"


def test_offline_answers_from_the_cache_only(server: Server, tmp_path: Path) -> None:
    server.routes["/simple/a/"] = lambda h: send(h, 200, b"<html>a</html>")
    url = server.url("/simple/a/").replace("http://", f"http://user:{SECRET}@")
    with HttpClient(cache_dir=tmp_path) as online:
        online.get(url, "text/html", cacheable=True)
    with HttpClient(cache_dir=tmp_path, offline=True, clock=lambda: 10.0**10) as offline:
        assert offline.get(url, "text/html", cacheable=True).content == b"<html>a</html>"
        with pytest.raises(NotCached) as info:
            offline.get(server.url("/simple/b/"), "text/html", cacheable=True)
        assert "/simple/b/" in str(info.value)
        with pytest.raises(NotCached):
            offline.fetch_to_file(server.url("/f.whl"), tmp_path / "f.whl", sha256="1" * 64)
    assert len(server.seen) == 1
    # Nothing in the cache holds the secret.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()


# --- file:// and ranges -------------------------------------------------------------------


def test_file_urls_are_read_from_disk(tmp_path: Path, client: HttpClient) -> None:
    (tmp_path / "simple" / "a").mkdir(parents=True)
    (tmp_path / "simple" / "a" / "index.html").write_bytes(b"<html>a</html>")
    resp = client.get((tmp_path / "simple" / "a").as_uri() + "/")
    assert resp.content == b"<html>a</html>"
    assert resp.content_type == "text/html"
    with pytest.raises(NotFound):
        client.get((tmp_path / "simple" / "missing").as_uri() + "/")
    (tmp_path / "a-1.0.tar.gz").write_bytes(b"sdist")
    digest, size = client.fetch_to_file(
        (tmp_path / "a-1.0.tar.gz").as_uri(), tmp_path / "out" / "a-1.0.tar.gz"
    )
    assert (digest, size) == (hashlib.sha256(b"sdist").hexdigest(), 5)


def test_get_range(server: Server, client: HttpClient) -> None:
    data = bytes(range(256)) * 4
    server.routes["/r"] = serve_bytes(data)
    server.routes["/norange"] = serve_bytes(data, ranges=False)
    assert client.get_range(server.url("/r"), 10, 19).content == data[10:20]
    tail = client.get_range(server.url("/r"), -100)
    assert tail.content == data[-100:]
    assert tail.headers["Content-Range"] == f"bytes 924-1023/{len(data)}"
    with pytest.raises(RangeNotSupported):
        client.get_range(server.url("/norange"), 0, 9)


# --- downloads ----------------------------------------------------------------------------

PAYLOAD = b"0123456789abcdef" * 16384  # 256 KiB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_fetch_to_file_verifies_and_reuses_the_blob(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    server.routes["/f.whl"] = serve_bytes(PAYLOAD)
    progress: list[int] = []
    dest = tmp_path / "out" / "f.whl"
    got = client.fetch_to_file(
        server.url("/f.whl"), dest, sha256=PAYLOAD_SHA, size=len(PAYLOAD), progress=progress.append
    )
    assert got == (PAYLOAD_SHA, len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert sum(progress) == len(PAYLOAD)
    # The verified bytes are in the cache: the next bundle makes no request.
    other = tmp_path / "other" / "f.whl"
    again = client.fetch_to_file(server.url("/f.whl"), other, sha256=PAYLOAD_SHA)
    assert again == (PAYLOAD_SHA, len(PAYLOAD))
    assert other.read_bytes() == PAYLOAD
    assert len(server.requests_for("/f.whl")) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f.whl"]


def test_resume_after_dropped_connection(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    ranged = serve_bytes(PAYLOAD, etag='"v1"')
    server.routes["/f.whl"] = sequence(
        lambda h: drop_after(h, PAYLOAD, 150_000, {"ETag": '"v1"'}), ranged
    )
    progress: list[int] = []
    dest = tmp_path / "f.whl"
    got = client.fetch_to_file(
        server.url("/f.whl"), dest, sha256=PAYLOAD_SHA, progress=progress.append
    )
    assert got == (PAYLOAD_SHA, len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    seen = server.requests_for("/f.whl")
    assert len(seen) == 2
    start = int(seen[1].headers["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= 150_000
    assert seen[1].headers["if-range"] == '"v1"'
    assert sum(progress) == len(PAYLOAD)


def test_restart_from_zero_when_the_server_answers_200(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    server.routes["/f.whl"] = sequence(
        lambda h: drop_after(h, PAYLOAD, 150_000, {"ETag": '"v1"'}),
        serve_bytes(PAYLOAD, ranges=False),
    )
    progress: list[int] = []
    dest = tmp_path / "f.whl"
    got = client.fetch_to_file(server.url("/f.whl"), dest, progress=progress.append)
    assert got == (PAYLOAD_SHA, len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert "range" in server.requests_for("/f.whl")[1].headers
    assert min(progress) < 0  # the restart is reported
    assert sum(progress) == len(PAYLOAD)


def test_hash_mismatch_leaves_nothing_behind(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    server.routes["/f.whl"] = serve_bytes(b"tampered bytes")
    out = tmp_path / "out"
    with pytest.raises(HashMismatch) as info:
        client.fetch_to_file(server.url("/f.whl"), out / "f.whl", sha256=PAYLOAD_SHA)
    assert info.value.expected == PAYLOAD_SHA
    assert info.value.got == hashlib.sha256(b"tampered bytes").hexdigest()
    assert list(out.iterdir()) == []
    assert not (tmp_path / "cache" / "blobs").exists()


def test_size_mismatch_is_an_error(server: Server, client: HttpClient, tmp_path: Path) -> None:
    server.routes["/f.whl"] = serve_bytes(b"12345")
    with pytest.raises(NetworkError, match="expected 6 bytes"):
        client.fetch_to_file(server.url("/f.whl"), tmp_path / "o" / "f.whl", size=6)
    assert list((tmp_path / "o").iterdir()) == []


def test_corrupt_blob_is_not_used(server: Server, client: HttpClient, tmp_path: Path) -> None:
    assert client.cache is not None
    blob = client.cache.blob_path(PAYLOAD_SHA)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"rotten")
    server.routes["/f.whl"] = serve_bytes(PAYLOAD)
    dest = tmp_path / "f.whl"
    assert client.fetch_to_file(server.url("/f.whl"), dest, sha256=PAYLOAD_SHA)[0] == PAYLOAD_SHA
    assert dest.read_bytes() == PAYLOAD
    assert blob.read_bytes() == PAYLOAD


# --- bounded faults -------------------------------------------------------------------------


def dropping(cut: int, *, honest_after: int = 20) -> Route:
    """Answer 200 (ignoring Range) and drop every response after ``cut``
    body bytes; from request ``honest_after`` on, send the whole file (so
    a client without a bound ends instead of looping for ever)."""
    calls = iter(range(10**6))

    def route(h: Handler) -> None:
        if next(calls) >= honest_after:
            send(h, 200, PAYLOAD)
        else:
            drop_after(h, PAYLOAD, cut, {"Accept-Ranges": "none"})

    return route


def test_a_server_that_drops_every_response_spends_the_budget_once(
    server: Server, client: HttpClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    # Each attempt gets further than none (100 KB of 256 KB) and restarts
    # from zero: the budget counts requests, not attempts without progress.
    server.routes["/f.whl"] = dropping(100_000)
    out = tmp_path / "out"
    with pytest.raises(NetworkError, match="after 4 attempts") as info:
        client.fetch_to_file(server.url("/f.whl"), out / "f.whl", sha256=PAYLOAD_SHA)
    assert "connection dropped after 100000 bytes" in str(info.value)
    assert len(server.requests_for("/f.whl")) == 4  # the client's max_attempts
    assert len(sleeps.delays) == 3  # no wait after the last attempt
    assert list(out.iterdir()) == []


def test_503s_and_a_dropped_body_share_one_budget(
    server: Server, client: HttpClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.routes["/f.whl"] = sequence(
        lambda h: send(h, 503),
        lambda h: drop_after(h, PAYLOAD, 1000, {}),
        lambda h: send(h, 503),
        lambda h: drop_after(h, PAYLOAD, 1000, {}),
        serve_bytes(PAYLOAD),
    )
    with pytest.raises(NetworkError, match="after 4 attempts"):
        client.fetch_to_file(server.url("/f.whl"), tmp_path / "f.whl", sha256=PAYLOAD_SHA)
    assert len(server.requests_for("/f.whl")) == 4


def test_a_file_the_fetch_ahead_could_not_get_is_not_tried_again(
    server: Server, client: HttpClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    # Fetched ahead into the cache, then downloaded: one retry budget in
    # all, and each Retry-After waited once.
    server.routes["/f.whl"] = lambda h: send(h, 503, b"", {"Retry-After": "7"})
    url = server.url("/f.whl")
    with pytest.raises(NetworkError, match="HTTP 503"):
        client.fetch_to_cache(url, sha256=PAYLOAD_SHA, size=len(PAYLOAD))
    client.fetch_to_cache(url, sha256=PAYLOAD_SHA, size=len(PAYLOAD))  # known to fail: no request
    with pytest.raises(NetworkError, match=r"HTTP 503 .*\(after 4 attempts\)"):
        client.fetch_to_file(url, tmp_path / "f.whl", sha256=PAYLOAD_SHA, size=len(PAYLOAD))
    assert len(server.requests_for("/f.whl")) == 4
    assert sleeps.delays == [7.0, 7.0, 7.0]
    assert not (tmp_path / "f.whl").exists()
    # The failure was handed over once: a later fetch (another run of an
    # embedding application) has a budget of its own.
    server.routes["/f.whl"] = serve_bytes(PAYLOAD)
    assert client.fetch_to_file(url, tmp_path / "f.whl", sha256=PAYLOAD_SHA)[0] == PAYLOAD_SHA


def test_a_range_request_has_one_budget(server: Server, client: HttpClient, sleeps: Sleeps) -> None:
    def cut_range(h: Handler) -> None:
        h.send_response(206)
        h.send_header("Content-Range", f"bytes 0-999/{len(PAYLOAD)}")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(PAYLOAD[:10])
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    server.routes["/f.whl"] = sequence(
        lambda h: send(h, 503), cut_range, lambda h: send(h, 502), cut_range, cut_range
    )
    with pytest.raises(NetworkError, match="after 4 attempts"):
        client.get_range(server.url("/f.whl"), 0, 999)
    assert len(server.requests_for("/f.whl")) == 4


class RetryLog(Reporter):
    def __init__(self) -> None:
        self.retries: list[tuple[str, str, float, int, int]] = []

    def retry(self, host: str, problem: str, delay: float, attempt: int, limit: int) -> None:
        self.retries.append((host, problem, delay, attempt, limit))


def test_each_retry_is_reported_with_the_host_only(server: Server, tmp_path: Path) -> None:
    server.routes["/f.whl"] = sequence(
        lambda h: send(h, 503, b"", {"Retry-After": "3"}),
        lambda h: drop_after(h, PAYLOAD, 1000, {}),
        serve_bytes(PAYLOAD),
    )
    log = RetryLog()
    delays: list[float] = []
    with HttpClient(sleep=delays.append, reporter=log, max_attempts=5) as c:
        url = server.url("/f.whl").replace("http://", f"http://user:{SECRET}@")
        c.fetch_to_file(url, tmp_path / "f.whl", sha256=PAYLOAD_SHA)
    host = f"127.0.0.1:{server.port}"
    assert log.retries == [
        (host, "503", 3.0, 2, 5),
        (host, "connection dropped after 1000 bytes", delays[1], 3, 5),
    ]
    assert SECRET not in repr(log.retries) and "user" not in repr(log.retries)


def test_a_refused_connection_is_reported_in_a_few_words(client: HttpClient) -> None:
    log = RetryLog()
    client.reporter = log
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NetworkError):
        client.get(f"http://127.0.0.1:{port}/simple/")
    assert [r[1] for r in log.retries] == ["cannot connect"] * 3
    assert [r[3] for r in log.retries] == [2, 3, 4]


def test_a_killed_runs_temp_files_in_the_cache_are_removed(
    server: Server, sleeps: Sleeps, tmp_path: Path
) -> None:
    # A run killed while fetching ahead left a directory with a partial
    # file; another run sharing the cache is fetching into a fresh one.
    now = 1_800_000_000.0
    cache = tmp_path / "cache"
    stale = cache / "bundler-ahead-k3j2"
    live = cache / "bundler-dist-x9y8"
    for directory, age in ((stale, cache_module.STALE_TEMP_AGE), (live, 60.0)):
        part = directory / ".file.abcd.part"
        part.parent.mkdir(parents=True)
        part.write_bytes(b"half a file")
        for path in (part, directory):
            os.utime(path, (now - age, now - age))
    (cache / "bundler-notes").write_text("not a directory: not ours")
    server.routes["/f.whl"] = serve_bytes(PAYLOAD)
    with HttpClient(cache_dir=cache, sleep=sleeps, clock=lambda: now) as c:
        c.fetch_to_cache(server.url("/f.whl"), sha256=PAYLOAD_SHA)
    assert not stale.exists()
    assert (live / ".file.abcd.part").exists()
    assert (cache / "bundler-notes").exists()
    assert c.cache is not None and c.cache.blob_path(PAYLOAD_SHA).is_file()


def test_a_body_longer_than_announced_is_not_read(
    server: Server, client: HttpClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 906-byte file; the server announces 64 MiB and starts sending them.
    small = PAYLOAD[:906]
    server.routes["/f.whl"] = lambda h: flood(h, small, announce=64 << 20)
    read = count_reads(monkeypatch)
    out = tmp_path / "out"
    with pytest.raises(NetworkError, match="announces 67108864 bytes, more than the 906") as info:
        client.fetch_to_file(
            server.url("/f.whl"),
            out / "f.whl",
            sha256=hashlib.sha256(small).hexdigest(),
            size=len(small),
        )
    assert "/f.whl" in str(info.value)
    assert read() == 0
    assert len(server.requests_for("/f.whl")) == 1  # not retried
    assert list(out.iterdir()) == []


def test_a_body_longer_than_the_expected_size_is_cut_off(
    server: Server, client: HttpClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No Content-Length (the body ends when the connection closes): the
    # client reads one byte more than the expected size, and stops.
    small = PAYLOAD[:906]
    server.routes["/f.whl"] = lambda h: flood(h, small, announce=None)
    read = count_reads(monkeypatch)
    progress: list[int] = []
    out = tmp_path / "out"
    with pytest.raises(NetworkError, match="more than the 906 bytes expected") as info:
        client.fetch_to_file(
            server.url("/f.whl"),
            out / "f.whl",
            sha256=hashlib.sha256(small).hexdigest(),
            size=len(small),
            progress=progress.append,
        )
    assert "/f.whl" in str(info.value)
    assert read() <= len(small) + 1
    assert sum(progress) <= len(small)
    assert len(server.requests_for("/f.whl")) == 1
    assert list(out.iterdir()) == []
    assert client.cache is not None and not (client.cache.root / "blobs").exists()


def test_a_local_file_longer_than_the_expected_size_is_refused_by_its_size(
    client: HttpClient, tmp_path: Path
) -> None:
    # A PEP 751 lock's ``path`` entry: a file:// URL with the locked size.
    small = PAYLOAD[:906]
    source = tmp_path / "f.whl"
    source.write_bytes(small + b"\0" * 4096)
    out = tmp_path / "out"
    with pytest.raises(NetworkError, match="is 5002 bytes, more than the 906 bytes expected"):
        client.fetch_to_file(
            source.as_uri(),
            out / "f.whl",
            sha256=hashlib.sha256(small).hexdigest(),
            size=len(small),
        )
    assert list(out.iterdir()) == []


def test_a_body_shorter_than_the_expected_size_says_so_not_hash_mismatch(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    small = PAYLOAD[:906]
    server.routes["/f.whl"] = serve_bytes(small[:500])
    with pytest.raises(NetworkError, match="expected 906 bytes, received 500"):
        client.fetch_to_file(
            server.url("/f.whl"),
            tmp_path / "f.whl",
            sha256=hashlib.sha256(small).hexdigest(),
            size=len(small),
        )


def test_bytes_beyond_the_content_length_are_never_read(
    server: Server, client: HttpClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = PAYLOAD[:906]
    server.routes["/f.whl"] = lambda h: flood(h, small, announce=len(small))
    read = count_reads(monkeypatch)
    dest = tmp_path / "f.whl"
    digest = hashlib.sha256(small).hexdigest()
    assert client.fetch_to_file(server.url("/f.whl"), dest, sha256=digest) == (digest, 906)
    assert read() == 906
    assert dest.read_bytes() == small


def test_a_resumed_range_of_a_bigger_file_is_not_read(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    def other_file(h: Handler) -> None:
        send(h, 206, PAYLOAD[1000:], {"Content-Range": f"bytes 1000-{10**9}/{10**9 + 1}"})

    server.routes["/f.whl"] = sequence(
        lambda h: drop_after(h, PAYLOAD, 1000, {"ETag": '"v1"'}), other_file
    )
    with pytest.raises(NetworkError, match="Content-Range announces 1000000001 bytes"):
        client.fetch_to_file(
            server.url("/f.whl"), tmp_path / "f.whl", sha256=PAYLOAD_SHA, size=len(PAYLOAD)
        )
    assert not (tmp_path / "f.whl").exists()


def trickle(h: BaseHTTPRequestHandler) -> None:
    """64 KiB every 50 ms, for a minute: a download that takes long."""
    h.send_response(200)
    h.send_header("Connection", "close")
    h.end_headers()
    h.close_connection = True
    block = bytes(64 * 1024)
    with contextlib.suppress(OSError):
        for _ in range(1200):
            h.wfile.write(block)
            h.wfile.flush()
            time.sleep(0.05)


def test_a_cancelled_client_stops_its_downloads_at_the_next_chunk(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    server.routes["/slow.whl"] = trickle
    out = tmp_path / "out"
    progress: list[int] = []
    failed: list[BaseException] = []

    def fetch() -> None:
        try:
            client.fetch_to_file(
                server.url("/slow.whl"), out / "slow.whl", progress=progress.append
            )
        except BaseException as err:
            failed.append(err)

    thread = threading.Thread(target=fetch)
    thread.start()
    deadline = time.monotonic() + 10
    while sum(progress) < 256 * 1024 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(progress) >= 256 * 1024, "the download never got going"
    client.cancel()
    cancelled = time.monotonic()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - cancelled < 1.0  # not the minute the file takes
    assert len(failed) == 1 and isinstance(failed[0], Cancelled), failed
    assert "interrupted" in str(failed[0])
    assert list(out.iterdir()) == []  # no .part left behind


def flood(h: BaseHTTPRequestHandler, start: bytes, *, announce: int | None) -> None:
    """Send ``start``, then zeros up to 64 MiB, announcing ``announce``
    bytes (None: no Content-Length, the body ends with the connection)."""
    h.send_response(200)
    if announce is not None:
        h.send_header("Content-Length", str(announce))
    h.send_header("Connection", "close")
    h.end_headers()
    h.close_connection = True
    block = bytes(64 * 1024)
    with contextlib.suppress(OSError):
        h.wfile.write(start)
        for _ in range(1024):
            h.wfile.write(block)


def count_reads(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the body bytes the client reads from streamed responses."""
    total = [0]
    real = transport.Reply.read

    def read(self: transport.Reply, amount: int) -> bytes:
        data = real(self, amount)
        total[0] += len(data)
        return data

    monkeypatch.setattr(transport.Reply, "read", read)
    return lambda: total[0]


# --- TLS and netrc --------------------------------------------------------------------------


class _Redirect:
    """A transport answer: a redirect to ``location``."""

    status = 302
    reason = "Found"
    is_redirect = True

    def __init__(self, url: str, location: str) -> None:
        self.url = url
        self.headers = {"Location": location}

    def close(self) -> None:
        pass


def test_https_never_turns_into_http(client: HttpClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []

    def fake_get(url: str, headers: object, *, auth: object, stream: bool) -> _Redirect:
        calls.append((url, auth))
        return _Redirect(url, "http://idx.example/simple/")

    monkeypatch.setattr(client._transport, "get", fake_get)
    with pytest.raises(NetworkError, match="refusing"):
        client.get(f"https://user:{SECRET}@idx.example/simple/")
    # One request only, with the URL's credentials, and no second one over http.
    assert calls == [("https://idx.example/simple/", ("user", SECRET))]


@pytest.mark.parametrize(
    ("cert", "env", "expected"),
    [
        (None, {}, None),
        (None, {"SSL_CERT_FILE": "/ssl.pem"}, None),  # the system store, not a bundle
        (None, {"CURL_CA_BUNDLE": "/curl.pem"}, ("/curl.pem", "CURL_CA_BUNDLE")),
        (None, {"REQUESTS_CA_BUNDLE": "/req.pem", "CURL_CA_BUNDLE": "/curl.pem"}, "/req.pem"),
        (None, {"PIP_CERT": "/pip.pem", "REQUESTS_CA_BUNDLE": "/req.pem"}, "/pip.pem"),
        ("/opt.pem", {"PIP_CERT": "/pip.pem", "REQUESTS_CA_BUNDLE": "/r"}, ("/opt.pem", "--cert")),
    ],
)
def test_the_ca_bundle_is_the_one_the_options_or_the_environment_name(
    monkeypatch: pytest.MonkeyPatch,
    cert: str | None,
    env: dict[str, str],
    expected: str | tuple[str, str] | None,
) -> None:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = trust.trust_store(trust.TlsOptions(cert=cert))
    if isinstance(expected, tuple):
        assert (store.bundle, store.origin) == expected
    else:
        assert store.bundle == expected
    assert store.system_file == env.get("SSL_CERT_FILE")


def test_a_missing_trust_store_is_named(
    client: HttpClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "none.pem"))
    with pytest.raises(NetworkError, match=r"none\.pem.*does not exist") as caught:
        client.get("https://idx.example/simple/")
    assert (
        caught.value.hint == "set REQUESTS_CA_BUNDLE to a PEM file of CA certificates, or unset it"
    )
    assert "the CA bundle from REQUESTS_CA_BUNDLE" in str(caught.value)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "system.pem"))
    with pytest.raises(NetworkError, match=r"system trust store from SSL_CERT_FILE .*system\.pem"):
        client.get("https://idx.example/simple/")


def test_netrc_credentials_are_used(
    server: Server, client: HttpClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login user password {SECRET}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server.routes["/simple/"] = lambda h: send(
        h, 200 if h.header("Authorization") == _basic("user", SECRET) else 401, b"in"
    )
    assert client.get(server.url("/simple/")).content == b"in"


def test_a_damaged_cached_page_is_fetched_again(server: Server, tmp_path: Path) -> None:
    server.routes["/simple/a/"] = sequence(
        lambda h: send(h, 200, b"<html>v1</html>"), lambda h: send(h, 200, b"<html>v2</html>")
    )
    with HttpClient(cache_dir=tmp_path) as c:
        assert c.get(server.url("/simple/a/"), cacheable=True).content == b"<html>v1</html>"
    (entry,) = (p for p in (tmp_path / "pages").rglob("*") if p.is_file())
    entry.write_bytes(entry.read_bytes()[:-3])  # cut short, as a crash could leave it
    with HttpClient(cache_dir=tmp_path) as c:
        assert c.get(server.url("/simple/a/"), cacheable=True).content == b"<html>v2</html>"
    assert len(server.requests_for("/simple/a/")) == 2


def test_name_resolution_is_asked_once_per_name() -> None:
    calls: list[tuple[object, object]] = []
    started = threading.Event()
    release = threading.Event()

    def slow_lookup(host: object, port: object, *args: object, **kwargs: object) -> list[str]:
        calls.append((host, port))
        started.set()
        release.wait(5)
        return [f"{host}:{port}"]

    cache = transport._ResolverCache(slow_lookup, ttl=60)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache("idx.example", 443))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    assert started.wait(5)
    release.set()
    for t in threads:
        t.join(5)
    # Eight connections opened at once: one look-up, eight answers.
    assert calls == [("idx.example", 443)]
    assert results == [["idx.example:443"]] * 8
    assert cache("other.example", 443) == ["other.example:443"]
    assert len(calls) == 2


def test_with_the_dns_cache_a_client_looks_each_name_up_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[object] = []
    real = socket.getaddrinfo

    def counting(host: object, *args: object, **kwargs: object) -> object:
        looked_up.append(host)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    # The process's resolver, wrapped as the entry point wraps it (undone
    # with the monkeypatch).
    monkeypatch.setattr(socket, "getaddrinfo", counting)
    transport.install_dns_cache()
    server.routes["/p"] = lambda h: send(h, 200, b"page", {"Connection": "close"})
    with HttpClient(cache_dir=None) as c:
        for _ in range(3):  # a new connection each time: the server closes them
            assert c.get(server.url("/p", host="localhost")).content == b"page"
    assert looked_up == ["localhost"]


def test_a_client_leaves_the_process_resolver_alone(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[object] = []
    real = socket.getaddrinfo

    def counting(host: object, *args: object, **kwargs: object) -> object:
        looked_up.append(host)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    server.routes["/p"] = lambda h: send(h, 200, b"page", {"Connection": "close"})
    with HttpClient(cache_dir=None) as c:
        for _ in range(2):
            assert c.get(server.url("/p", host="localhost")).content == b"page"
    assert socket.getaddrinfo is counting
    assert looked_up == ["localhost", "localhost"]


def test_failed_name_resolution_is_not_kept() -> None:
    answers: list[object] = [OSError("temporary failure"), ["1.2.3.4"]]

    def flaky(host: object, port: object, *args: object, **kwargs: object) -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = transport._ResolverCache(flaky, ttl=60)
    with pytest.raises(OSError):
        cache("idx.example", 443)
    assert cache("idx.example", 443) == ["1.2.3.4"]
    assert cache("idx.example", 443) == ["1.2.3.4"]  # kept now: no third look-up


def test_the_cache_makes_no_fan_out_directories(server: Server, tmp_path: Path) -> None:
    server.routes["/f.whl"] = serve_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    with HttpClient(cache_dir=cache) as c:
        c.fetch_to_file(server.url("/f.whl"), tmp_path / "f.whl", sha256=PAYLOAD_SHA)
    disk = cache_module.DiskCache(cache)
    disk.store_page("https://idx.example/simple/p/", cache_module.PageEntry("u", 1.0, 200))
    disk.put_metadata(PAYLOAD_SHA, b"Metadata-Version: 2.1\n")
    disk.put_derived("listings", PAYLOAD_SHA, b"{}")
    page = hashlib.sha256(b"https://idx.example/simple/p/").hexdigest()
    files = sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())
    assert files == [
        f"blobs/sha256/{PAYLOAD_SHA}",
        f"listings/sha256/{PAYLOAD_SHA}",
        f"metadata/sha256/{PAYLOAD_SHA}",
        f"pages/{page}",
    ]
    # Each entry costs its own inode only: no directory per digest prefix.
    dirs = sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_dir())
    kinds = ("blobs", "listings", "metadata")
    assert dirs == sorted([*kinds, *(f"{kind}/sha256" for kind in kinds), "pages"])
    assert disk.load_page("https://idx.example/simple/p/") is not None
    assert disk.get_metadata(PAYLOAD_SHA) == b"Metadata-Version: 2.1\n"


def test_a_blob_this_client_stored_is_not_hashed_again(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/f.whl"] = serve_bytes(PAYLOAD)
    hashed: list[Path] = []
    real = fsutil.sha256_file

    def counting(path: Path) -> tuple[str, int]:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(cache_module, "sha256_file", counting)
    with HttpClient(cache_dir=tmp_path / "cache") as c:
        c.fetch_to_file(server.url("/f.whl"), tmp_path / "a.whl", sha256=PAYLOAD_SHA)
        c.fetch_to_file(server.url("/f.whl"), tmp_path / "b.whl", sha256=PAYLOAD_SHA)
    assert hashed == []  # hashed while it streamed in, once
    # Another client (another run) checks the cached bytes before using them.
    with HttpClient(cache_dir=tmp_path / "cache") as c:
        c.fetch_to_file(server.url("/f.whl"), tmp_path / "c.whl", sha256=PAYLOAD_SHA)
    assert len(hashed) == 1
    assert (tmp_path / "c.whl").read_bytes() == PAYLOAD
    assert len(server.requests_for("/f.whl")) == 1


# --- TLS ----------------------------------------------------------------------------------


def use_trust_store(monkeypatch: pytest.MonkeyPatch, store: Path) -> None:
    """The environment names ``store`` (SSL_CERT_FILE) and no other."""
    monkeypatch.setenv("SSL_CERT_FILE", str(store))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate a throwaway CA signed;
    the CA's certificate is in the returned file."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with running_server(tls=context) as state:
        yield state, ca_file


def test_tls_trust_store_is_loaded_once_for_every_connection(
    tls_server: tuple[Server, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca_file = tls_server
    use_trust_store(monkeypatch, ca_file)
    # Four requests held until all four are in: four connections.
    arrived = threading.Barrier(4)

    def route(h: Handler) -> None:
        arrived.wait(timeout=10)
        send(h, 200, b"secret page")

    server.routes["/p"] = route
    url = f"https://127.0.0.1:{server.port}/p"
    with HttpClient(timeout=10) as client, ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda _: client.get(url).content, range(4)))
        contexts = client._transport._contexts
    assert bodies == [b"secret page"] * 4
    assert list(contexts) == [trust.trust_store()]
    shared = contexts[trust.trust_store()]
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname
    # The four connections were made with that one context.
    assert shared.session_stats()["connect"] == 4


def test_tls_context_is_made_once_however_many_threads_ask(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    store = trust.TrustStore(bundle=str(ca_file), origin="--cert")
    wire = transport.Transport(pool_size=4, user_agent="t", connect_timeout=1, read_timeout=1)
    start = threading.Barrier(8)
    got: list[ssl.SSLContext] = []

    def ask() -> None:
        start.wait(timeout=10)
        got.append(wire.context(store))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert len(got) == 8 and all(c is got[0] for c in got)
    assert got[0].verify_mode == ssl.CERT_REQUIRED and got[0].check_hostname
    assert list(wire._contexts) == [store]


def test_tls_through_a_proxy_checks_the_server_and_the_proxy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    use_trust_store(monkeypatch, ca_file)
    wire = transport.Transport(pool_size=4, user_agent="t", connect_timeout=1, read_timeout=1)
    store = trust.trust_store()
    manager: Any = wire._manager("https://user:pw@proxy.example:3128", store)
    context = wire._contexts[store]
    # The server behind the tunnel and the proxy itself: the same trust store.
    assert manager.connection_pool_kw["ssl_context"] is context
    assert manager.proxy_ssl_context is context
    assert manager.proxy_headers == {"Proxy-Authorization": _basic("user", "pw")}


def test_tls_verification_still_refuses_a_server_it_cannot_trust(
    tls_server: tuple[Server, Path],
    client: HttpClient,
    sleeps: Sleeps,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server, ca_file = tls_server
    server.routes["/p"] = lambda h: send(h, 200, b"secret page")
    url = f"https://127.0.0.1:{server.port}/p"
    # Neither the system's trust store nor certifi's knows the throwaway CA...
    with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        client.get(url)
    assert caught.value.hint is not None and "--cert" in caught.value.hint
    # ...nor does the store of another CA...
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(url)
    # ...and with the right store, a name the certificate lacks still fails.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with pytest.raises(NetworkError, match=r"(?i)hostname|doesn.t match|not valid for"):
        client.get(f"https://localhost:{server.port}/p")
    assert client.get(url).content == b"secret page"
    assert not any(s.path == "/p" for s in server.seen[:-1])  # nothing served before
    assert sleeps.delays == []  # a certificate failure is not tried again


def test_a_tls_alert_from_the_network_is_tried_again(
    server: Server, client: HttpClient, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib3

    server.routes["/p"] = lambda h: send(h, 200, b"page")
    real = client._transport.get
    calls: list[str] = []

    def flaky(url: str, headers: object, *, auth: object, stream: bool) -> object:
        calls.append(url)
        if len(calls) == 1:
            alert = ssl.SSLError(1, "[SSL: TLSV1_ALERT_DECODE_ERROR] tlsv1 alert decode error")
            alert.reason = "TLSV1_ALERT_DECODE_ERROR"  # as OpenSSL's errors carry it
            raise urllib3.exceptions.SSLError(alert)
        return real(url, headers, auth=auth, stream=stream)  # type: ignore[arg-type]

    monkeypatch.setattr(client._transport, "get", flaky)
    assert client.get(server.url("/p")).content == b"page"
    assert len(calls) == 2 and len(sleeps.delays) == 1


def test_proxies_come_from_the_environment_once_per_host(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http", "https", "all", "no"):
        monkeypatch.delenv(f"{name}_proxy", raising=False)
        monkeypatch.delenv(f"{name.upper()}_PROXY", raising=False)
    # The test server is the proxy for every host but itself.
    monkeypatch.setenv("http_proxy", server.url(""))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    server.routes["http://idx.example/page"] = lambda h: send(h, 200, b"via the proxy")
    server.routes["/direct"] = lambda h: send(h, 200, b"direct")
    looked_up: list[str] = []
    real = transport.proxy_for

    def counting(url: str) -> str | None:
        looked_up.append(url)
        return real(url)

    monkeypatch.setattr(transport, "proxy_for", counting)
    with HttpClient(cache_dir=None) as c:
        for _ in range(3):
            assert c.get("http://idx.example/page", "text/html").content == b"via the proxy"
            assert c.get(server.url("/direct"), "text/html").content == b"direct"
    assert looked_up == ["http://idx.example/page", server.url("/direct")]
    assert [s.path for s in server.seen] == ["http://idx.example/page", "/direct"] * 3


_PROXY_VARIABLES = ("http", "https", "all", "no")


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(f"{name}_proxy", raising=False)
        monkeypatch.delenv(f"{name.upper()}_PROXY", raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({}, "https://idx.example/simple/", None),
        ({"https_proxy": "http://p:1"}, "https://idx.example/simple/", "http://p:1"),
        ({"https_proxy": "http://p:1"}, "http://idx.example/simple/", None),
        ({"HTTPS_PROXY": "http://up:1"}, "https://idx.example/", "http://up:1"),
        # Lowercase wins, as in curl, requests and the standard library.
        (
            {"HTTPS_PROXY": "http://up:1", "https_proxy": "http://low:1"},
            "https://i/",
            "http://low:1",
        ),
        ({"all_proxy": "socks5://s:1"}, "https://idx.example/", "socks5://s:1"),
        ({"all_proxy": "http://a:1", "http_proxy": "http://h:1"}, "http://i/", "http://h:1"),
        # no_proxy: name suffixes, with or without a leading dot, a port, "*".
        ({"https_proxy": "http://p:1", "no_proxy": "example"}, "https://idx.example/", None),
        ({"https_proxy": "http://p:1", "no_proxy": ".example"}, "https://idx.example/", None),
        (
            {"https_proxy": "http://p:1", "no_proxy": "other.org"},
            "https://idx.example/",
            "http://p:1",
        ),
        (
            {"https_proxy": "http://p:1", "no_proxy": "idx.example:8443"},
            "https://idx.example:8443/",
            None,
        ),
        (
            {"https_proxy": "http://p:1", "no_proxy": "idx.example:8443"},
            "https://idx.example/",
            "http://p:1",
        ),
        ({"https_proxy": "http://p:1", "NO_PROXY": "*"}, "https://idx.example/", None),
        # Addresses: exact, or in a CIDR network.
        ({"http_proxy": "http://p:1", "no_proxy": "10.0.0.0/8"}, "http://10.1.2.3/", None),
        ({"http_proxy": "http://p:1", "no_proxy": "10.0.0.0/8"}, "http://11.1.2.3/", "http://p:1"),
        ({"http_proxy": "http://p:1", "no_proxy": "10.1.2.3"}, "http://10.1.2.3:8080/", None),
        ({"http_proxy": "http://p:1", "no_proxy": " a.org , 10.1.2.3 "}, "http://10.1.2.3/", None),
        # A name matches itself and the names under it, not any longer name.
        ({"https_proxy": "http://p:1", "no_proxy": "example.com"}, "https://example.com/", None),
        ({"https_proxy": "http://p:1", "no_proxy": "example.com"}, "https://a.example.com/", None),
        (
            {"https_proxy": "http://p:1", "no_proxy": "example.com"},
            "https://badexample.com/",
            "http://p:1",
        ),
        # A network needs 1 to 32 bits, as in requests.
        ({"http_proxy": "http://p:1", "no_proxy": "0.0.0.0/0"}, "http://10.1.2.3/", "http://p:1"),
        # An empty no_proxy gives way to NO_PROXY.
        ({"http_proxy": "http://p:1", "no_proxy": "", "NO_PROXY": "i.org"}, "http://i.org/", None),
    ],
)
def test_the_proxy_is_the_one_the_environment_names(
    no_proxy_env: pytest.MonkeyPatch, env: dict[str, str], url: str, expected: str | None
) -> None:
    for name, value in env.items():
        no_proxy_env.setenv(name, value)
    assert transport.proxy_for(url) == expected


def test_a_cgi_request_method_disables_http_proxy(no_proxy_env: pytest.MonkeyPatch) -> None:
    # CVE-2016-1000110 (httpoxy): under CGI, HTTP_PROXY is a request header.
    no_proxy_env.setenv("REQUEST_METHOD", "GET")
    no_proxy_env.setenv("HTTP_PROXY", "http://attacker:1")
    assert transport.proxy_for("http://idx.example/") is None


def test_proxy_credentials_go_to_the_proxy_only(
    server: Server, no_proxy_env: pytest.MonkeyPatch
) -> None:
    proxy = f"http://proxyuser:{SECRET}@127.0.0.1:{server.port}"
    no_proxy_env.setenv("http_proxy", proxy)
    server.routes["http://idx.example/page"] = lambda h: send(h, 200, b"via the proxy")
    with HttpClient(cache_dir=None) as c:
        assert c.get("http://idx.example/page").content == b"via the proxy"
    (seen,) = server.seen
    assert seen.headers["proxy-authorization"] == _basic("proxyuser", SECRET)
    assert "authorization" not in seen.headers


def test_a_socks_proxy_without_pysocks_says_what_to_install(
    client: HttpClient, no_proxy_env: pytest.MonkeyPatch
) -> None:
    no_proxy_env.setitem(sys.modules, "socks", None)  # PySocks cannot be imported
    no_proxy_env.setitem(sys.modules, "urllib3.contrib.socks", None)
    no_proxy_env.setenv("https_proxy", "socks5://127.0.0.1:9")
    with pytest.raises(NetworkError, match="SOCKS") as caught:
        client.get("https://idx.example/simple/")
    assert caught.value.hint == "pip install PySocks"


def test_basic_auth_is_latin_1_when_it_fits_else_utf_8() -> None:
    assert transport.basic_auth("user", "pässword") == "Basic " + base64.b64encode(
        "user:pässword".encode("latin-1")
    ).decode("ascii")
    assert transport.basic_auth("user", "пароль") == "Basic " + base64.b64encode(
        "user:пароль".encode()
    ).decode("ascii")


def test_one_connection_serves_requests_one_after_another(server: Server, tmp_path: Path) -> None:
    ports: list[int] = []

    def recording(route: Route) -> Route:
        def wrapped(h: Handler) -> None:
            ports.append(h.client_address[1])
            route(h)

        return wrapped

    server.routes["/page"] = recording(lambda h: send(h, 200, b"x" * 1000))
    server.routes["/f.whl"] = recording(serve_bytes(PAYLOAD))
    with HttpClient(cache_dir=None) as c:
        for n in range(3):
            assert c.get(server.url("/page")).content == b"x" * 1000
            c.fetch_to_file(server.url("/f.whl"), tmp_path / f"{n}.whl", sha256=PAYLOAD_SHA)
            assert c.get_range(server.url("/f.whl"), 0, 9).content == PAYLOAD[:10]
    assert len(ports) == 9
    assert len(set(ports)) == 1  # every body read to its end: the connection went back


def test_a_header_sent_twice_reads_as_one_list(server: Server, client: HttpClient) -> None:
    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("X-Seen", "a")
        h.send_header("x-seen", "b")
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"ok")

    server.routes["/p"] = route
    resp = client.get(server.url("/p"))
    # RFC 9110 5.3: one field, its values joined by commas (as requests has it).
    assert resp.headers["X-SEEN"] == "a, b"


def test_the_platform_proxy_settings_apply_when_the_environment_has_none(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    import urllib.request

    # What Windows' registry or macOS' system settings say, through the
    # standard library (requests reads them the same way).
    no_proxy_env.setattr(urllib.request, "getproxies", lambda: {"https": "http://sys:3128"})
    bypassed: list[str] = []

    def bypass(host: str) -> bool:
        bypassed.append(host)
        return host == "intra"

    no_proxy_env.setattr(urllib.request, "proxy_bypass", bypass)
    assert transport.proxy_for("https://idx.example/simple/") == "http://sys:3128"
    assert transport.proxy_for("https://intra/simple/") is None
    assert bypassed == ["idx.example", "intra"]


def test_a_netrc_machine_without_credentials_sends_none(
    server: Server, client: HttpClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server.routes["/simple/"] = lambda h: send(h, 200, b"anonymous")
    assert client.get(server.url("/simple/")).content == b"anonymous"
    assert "authorization" not in server.seen[0].headers


def test_https_to_a_plain_http_port_is_not_tried_again(
    server: Server, client: HttpClient, sleeps: Sleeps
) -> None:
    with pytest.raises(NetworkError, match="WRONG_VERSION_NUMBER"):
        client.get(f"https://127.0.0.1:{server.port}/simple/")
    assert sleeps.delays == []


def test_a_trust_store_that_cannot_be_loaded_is_named(
    client: HttpClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("CURL_CA_BUNDLE", str(empty))
    with pytest.raises(NetworkError, match=r"cannot load the CA bundle .*empty\.pem.* CURL_CA"):
        client.get("https://idx.example/simple/")


@pytest.mark.parametrize(
    ("proxy", "reason"),
    [
        (f"ftp://user:{SECRET}@proxy.example:21", "unsupported scheme ftp"),
        (f"http://user:{SECRET}@proxy.example:port", "not a valid host or port"),
    ],
)
def test_a_proxy_that_cannot_be_used_is_named_without_its_password(
    client: HttpClient, no_proxy_env: pytest.MonkeyPatch, proxy: str, reason: str
) -> None:
    no_proxy_env.setenv("https_proxy", proxy)
    with pytest.raises(NetworkError) as caught:
        client.get("https://idx.example/simple/")
    message = str(caught.value)
    assert "the proxy" in message and "proxy.example" in message and reason in message
    assert SECRET not in message and SECRET not in str(caught.value.hint)


def test_a_file_labelled_gzip_is_kept_as_sent(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    import gzip

    sdist = gzip.compress(b"a tar archive")  # a .tar.gz is gzip data already
    # Some servers label .tar.gz files "Content-Encoding: gzip": the file is
    # still those bytes (pip keeps them as sent too).
    server.routes["/pkg-1.0.tar.gz"] = lambda h: send(h, 200, sdist, {"Content-Encoding": "gzip"})
    digest = hashlib.sha256(sdist).hexdigest()
    dest = tmp_path / "pkg-1.0.tar.gz"
    assert client.fetch_to_file(server.url("/pkg-1.0.tar.gz"), dest, sha256=digest)[0] == digest
    assert dest.read_bytes() == sdist


# --- the trust store loaded ahead (bundle's start-up) -------------------------------


@pytest.fixture
def trust_store_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """PIP_CERT names a fresh CA's certificate; no preload left over."""
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("PIP_CERT", str(ca_file))
    monkeypatch.setattr(trust, "_preloads", {})
    return ca_file


def _tls_settings(context: ssl.SSLContext) -> dict[str, object]:
    names = [
        "protocol",
        "minimum_version",
        "maximum_version",
        "options",
        "verify_flags",
        "verify_mode",
        "check_hostname",
        "hostname_checks_common_name",
        "post_handshake_auth",
        "keylog_filename",
        "security_level",
    ]
    found: dict[str, object] = {name: getattr(context, name) for name in names}
    found["ciphers"] = [c["name"] for c in context.get_ciphers()]
    found["store"] = context.cert_store_stats()
    found["cas"] = context.get_ca_certs(binary_form=True)
    return found


def test_a_preloaded_trust_store_makes_the_context_urllib3_would_make(
    trust_store_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(trust_store_env.with_name("keys.log")))
    import certifi
    from urllib3.util.ssl_ import create_urllib3_context

    expected = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    expected.set_default_verify_paths()  # the system's store (OpenSSL's, on Linux)
    expected.load_verify_locations(cafile=certifi.where())
    expected.load_verify_locations(cafile=str(trust_store_env))
    loads: list[str] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, cafile: str | None = None, **kw: Any) -> None:
        loads.append(threading.current_thread().name)
        real(self, cafile, **kw)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    trust.preload_trust_store()
    wire = transport.Transport(pool_size=4, user_agent="t", connect_timeout=1, read_timeout=1)
    context = wire.context(trust.trust_store())
    assert loads == ["bundler-tls"] * 2  # certifi's and PIP_CERT's, in the preload's thread
    assert _tls_settings(context) == _tls_settings(expected)
    assert context.keylog_filename == str(trust_store_env.with_name("keys.log"))
    # Used once: another transport loads its own.
    assert trust._preloads == {}


def test_certifis_bundle_is_found_without_importing_certifi() -> None:
    """The path ``certifi.where()`` gives, found beside the package: a new
    interpreter that loads the trust store never imports certifi (nor the
    ``importlib.resources`` machinery behind ``where()``)."""
    import certifi

    assert trust.certifi_bundle() == certifi.where()
    code = (
        "import sys; from bundler.index import trust; path = trust.certifi_bundle();"
        " print(path, 'certifi' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [certifi.where(), "False"]


def test_certifis_bundle_is_asked_of_certifi_when_not_a_plain_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import certifi

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(certifi, "where", lambda: "/zipped/certifi/cacert.pem")
    assert trust.certifi_bundle() == "/zipped/certifi/cacert.pem"


def test_a_process_that_ends_at_once_waits_for_the_preload(trust_store_env: Path) -> None:
    """A command that fails before its first request (a usage error) ends
    while OpenSSL may still parse the trust store: finalizing the
    interpreter under a daemon thread in C code crashed it now and then
    (exit -11).  The interpreter joins a non-daemon thread first."""
    trust.preload_trust_store()
    (preload,) = trust._preloads.values()
    assert not preload._thread.daemon
    assert preload.result() is not None


def test_a_preloaded_trust_store_serves_real_https(
    tls_server: tuple[Server, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca_file = tls_server
    use_trust_store(monkeypatch, ca_file)
    monkeypatch.setattr(trust, "_preloads", {})
    trust.preload_trust_store()
    server.routes["/p"] = lambda h: send(h, 200, b"page")
    with HttpClient(timeout=10) as client:
        assert client.get(f"https://127.0.0.1:{server.port}/p").content == b"page"
    assert trust._preloads == {}


def test_a_preloaded_trust_store_that_cannot_be_loaded_is_still_named(
    client: HttpClient, trust_store_env: Path
) -> None:
    trust_store_env.write_text("")
    trust.preload_trust_store()
    with pytest.raises(NetworkError, match=r"cannot load the CA bundle .*ca\.pem.*PIP_CERT"):
        client.get("https://idx.example/simple/")


def test_a_preload_of_another_store_is_not_used(
    trust_store_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trust.preload_trust_store()
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("PIP_CERT", str(other))
    wire = transport.Transport(pool_size=4, user_agent="t", connect_timeout=1, read_timeout=1)
    context = wire.context(trust.trust_store())
    cas = context.get_ca_certs(binary_form=True)
    assert ssl.PEM_cert_to_DER_cert(other.read_text()) in cas
    assert ssl.PEM_cert_to_DER_cert(trust_store_env.read_text()) not in cas
    assert [s.bundle for s in trust._preloads] == [str(trust_store_env)]


def test_only_passwords_and_tokens_are_scrubbed_from_free_text(client: HttpClient) -> None:
    client.add_credentials(f"http://e:{SECRET}@127.0.0.1:18099/")
    client.add_credentials("http://uploader:x@127.0.0.1:18100/")
    client.add_credentials("http://t0ken-alone@127.0.0.1:18101/")
    text = "NewConnectionError: Failed; stage uploader/staging2 refused box"
    assert client.scrub(text) == text  # user names and a one-letter password stay
    assert client.scrub(f"echo {SECRET} and t0ken-alone") == "echo *** and ***"


def test_a_retry_line_says_to_a_host_never_reached_and_from_one_that_answered() -> None:
    from rich.console import Console

    from bundler.cli.console import ConsoleReporter
    from bundler.index.retries import CANNOT_CONNECT, CONNECT_TIMED_OUT

    out = io.StringIO()
    reporter = ConsoleReporter(quiet=False, console=Console(file=out, width=200))
    reporter.plain = False
    reporter.retry("127.0.0.1:18099", CANNOT_CONNECT, 1.0, 2, 5)
    reporter.retry("127.0.0.1:18099", CONNECT_TIMED_OUT, 1.0, 3, 5)
    reporter.retry("127.0.0.1:18099", "503", 1.0, 4, 5)
    assert out.getvalue().splitlines() == [
        "retrying in 1 s: cannot connect to 127.0.0.1:18099 (attempt 2 of 5)",
        "retrying in 1 s: connection timed out to 127.0.0.1:18099 (attempt 3 of 5)",
        "retrying in 1 s: 503 from 127.0.0.1:18099 (attempt 4 of 5)",
    ]


@pytest.mark.parametrize("made_by", ["make_client", "HttpClient"])
def test_the_client_keeps_a_connection_for_every_look_up_at_once(
    made_by: str, server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As many requests to one host at once as the fetch-ahead may make
    (AHEAD_LIMIT), beside the pools ``--workers`` sizes, each keep their
    connection: a full pool would discard (and urllib3 warn on stderr
    about) every connection beyond its size, and open it again next time."""
    from bundler.index.fetchahead import AHEAD_LIMIT
    from bundler.index.settings import ClientSettings, make_client

    def slow(h: BaseHTTPRequestHandler) -> None:
        time.sleep(0.15)  # long enough for all of them to be under way
        send(h, 200, b"page")

    server.routes["/slow"] = slow
    at_once = AHEAD_LIMIT + 8  # the fetch-ahead and an 8-worker pool
    settings = ClientSettings(cache_dir=tmp_path / "cache", workers=8)
    made = make_client(settings) if made_by == "make_client" else HttpClient(cache_dir=tmp_path)
    with made as client, ThreadPoolExecutor(at_once) as pool:
        got = list(pool.map(lambda _: client.get(server.url("/slow")).content, range(at_once)))
    assert got == [b"page"] * at_once
    full = [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert full == []
