"""Ctrl-C during ``bundle download`` ends the process promptly: the threads
fetching files stop at their next chunk instead of finishing them (here, a
file the server sends over a minute, fetched ahead while another project's
page is on its way).  A server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

WHEEL = "big-1.0-py3-none-any.whl"
DIGEST = "ab" * 32  # never reached: the download is interrupted
OTHER = "other-1.0-py3-none-any.whl"
OTHER_DIGEST = "cd" * 32
PAGE_DELAY = 2.0  # seconds the page of "other" takes


class _Slow(BaseHTTPRequestHandler):
    """Project pages for ``big`` and (slowly) ``other``, and big's wheel
    in 64 KiB every 50 ms."""

    sent = 0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        pages = {"big": (WHEEL, DIGEST), "other": (OTHER, OTHER_DIGEST)}
        project = self.path.removeprefix("/simple/").strip("/")
        if project in pages:
            if project == "other":
                time.sleep(PAGE_DELAY)
            name, digest = pages[project]
            body = f'<a href="/files/{name}#sha256={digest}">{name}</a>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path != f"/files/{WHEEL}":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        block = bytes(64 * 1024)
        with contextlib.suppress(OSError):
            for _ in range(1200):
                self.wfile.write(block)
                self.wfile.flush()
                type(self).sent += len(block)
                time.sleep(0.05)


@pytest.fixture
def slow_index() -> Iterator[str]:
    _Slow.sent = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _lock(tmp_path: Path, root: str, kind: str) -> Path:
    if kind == "requirements":
        lock = tmp_path / "requirements.txt"
        lock.write_text(
            f"big==1.0 \\\n    --hash=sha256:{DIGEST}\n"
            f"other==1.0 \\\n    --hash=sha256:{OTHER_DIGEST}\n"
        )
    else:
        lock = tmp_path / "pylock.toml"
        lock.write_text(
            'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "big"\n'
            f'version = "1.0"\nwheels = [{{ name = "{WHEEL}", url = "{root}/files/{WHEEL}",'
            f' hashes = {{ sha256 = "{DIGEST}" }} }}]\n'
        )
    return lock


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX")
@pytest.mark.parametrize("kind", ["requirements", "pylock"])
def test_ctrl_c_stops_the_downloads_at_once(slow_index: str, tmp_path: Path, kind: str) -> None:
    lock = _lock(tmp_path, slow_index, kind)
    out = tmp_path / "pypi"
    argv = ["download", str(lock), "-o", str(out), "-i", f"{slow_index}/simple/"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bundler", *argv, "--cache-dir", str(tmp_path / "cache")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while _Slow.sent < 512 * 1024:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the download never got going"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        _, stderr = proc.communicate(timeout=90)
    took = time.monotonic() - interrupted
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    # The file takes a minute; the page of "other" is awaited.
    assert took < PAGE_DELAY + 3.0, f"took {took:.1f} s after Ctrl-C"
    assert not out.exists()
    assert not list(tmp_path.glob(".pypi.new-*"))
