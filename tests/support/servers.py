"""Real private-index servers on 127.0.0.1 for the publish tests:
pypiserver (uploads behind an htpasswd file) and devpi-server (offline, a
user with a staging and a production index).  Each runs as a subprocess of
the test run and is stopped when its ``with`` block ends."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import pytest
import requests

START_TIMEOUT = 180.0  # a shared CI machine can be slow to start a server
POLL_INTERVAL = 0.1
STOP_TIMEOUT = 10.0
USER = "uploader"
PASSWORD = "s3cret-pw"
# A ready-made Apache MD5 (apr1) htpasswd line for USER:PASSWORD, checked by
# test_the_htpasswd_line_matches_the_password when passlib is installed.
HTPASSWD_LINE = f"{USER}:$apr1$bundler1$4bptVCHQBpNrZZ5iqaYgE/\n"
# Never an outside address: servers bind loopback and clients go there directly.
HOST = "127.0.0.1"


# Linux prctl(2) PR_SET_PDEATHSIG: the server gets SIGTERM when the test
# process that started it dies, even by kill -9.
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None


def _end_with_parent() -> None:
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server binds it just after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(name: str) -> Path:
    """A console script installed beside the running Python; the test is
    skipped, saying how to get it, when it is not installed."""
    found = Path(sys.executable).with_name(name)
    if not found.is_file():
        which = shutil.which(name)
        if which is None:
            pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs it)")
        found = Path(which)
    return found


def _direct() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy between the tests and loopback
    return session


class _Process:
    """A server subprocess, its log kept in a file for failure messages."""

    def __init__(self, command: Sequence[str | Path], log: Path, ready_url: str) -> None:
        self.command = [str(c) for c in command]
        self.log = log
        self.ready_url = ready_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_end_with_parent,  # noqa: PLW1509 - one libc call, nothing locked
            )
        deadline = time.monotonic() + START_TIMEOUT
        session = _direct()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.command[0]} exited at start:\n{self.output()}")
            with contextlib.suppress(requests.RequestException):
                if session.get(self.ready_url, timeout=2).status_code < 500:
                    return
            time.sleep(POLL_INTERVAL)
        self.stop()
        raise AssertionError(
            f"{self.command[0]} did not answer in {START_TIMEOUT} s:\n{self.output()}"
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class PypiServer:
    """``pypi-server run`` over ``root``: uploads and downloads need
    USER:PASSWORD (``-a update,download``); no fallback to any other index."""

    root: Path
    port: int = 0
    _process: _Process | None = None

    @property
    def url(self) -> str:
        """The upload URL (no credentials)."""
        return f"http://{HOST}:{self.port}/"

    @property
    def authed_url(self) -> str:
        return f"http://{USER}:{PASSWORD}@{HOST}:{self.port}/"

    @property
    def simple_url(self) -> str:
        return f"{self.authed_url}simple/"

    @property
    def packages(self) -> Path:
        return self.root / "packages"

    def __enter__(self) -> PypiServer:
        command = server_command("pypi-server")
        self.packages.mkdir(parents=True, exist_ok=True)
        htpasswd = self.root / "htpasswd"
        htpasswd.write_text(HTPASSWD_LINE)
        self.port = self.port or free_port()
        self._process = _Process(
            [
                command,
                "run",
                "-p",
                str(self.port),
                "-i",
                HOST,
                "-P",
                htpasswd,
                "-a",
                "update,download",
                "--disable-fallback",
                self.packages,
            ],
            self.root / "server.log",
            f"http://{HOST}:{self.port}/simple/",
        )
        self._process.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.stop()


@dataclass
class DevpiServer:
    """``devpi-server --offline-mode`` in ``root``, with USER owning two
    indexes that mirror nothing: ``USER/staging`` and ``USER/prod``
    (non-volatile, as a production index is)."""

    root: Path
    port: int = 0
    _process: _Process | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def index_url(self, index: str, *, auth: bool = False) -> str:
        """An index's upload URL, ``USER/<index>/``."""
        userinfo = f"{USER}:{PASSWORD}@" if auth else ""
        return f"http://{userinfo}{HOST}:{self.port}/{USER}/{index}/"

    def simple_url(self, index: str) -> str:
        return f"{self.index_url(index)}+simple/"

    def __enter__(self) -> DevpiServer:
        init = server_command("devpi-init")
        command = server_command("devpi-server")
        serverdir = self.root / "server"
        log = self.root / "server.log"
        self.root.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            subprocess.run(
                [init, "--serverdir", serverdir, "--no-root-pypi", "--root-passwd", PASSWORD],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
            )
        self.port = self.port or free_port()
        self._process = _Process(
            [
                command,
                "--serverdir",
                serverdir,
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--offline-mode",
                # devpi derives its token key with argon2, tuned to cost
                # seconds of CPU (tens on a loaded machine); devpi's own
                # tests lower it the same way.
                *("--argon2-memory-cost", "8", "--argon2-time-cost", "1"),
                *("--argon2-parallelism", "1"),
            ],
            log,
            f"{self.base}+api",
        )
        self._process.start()
        try:
            self._create_indexes()
        except BaseException:
            self._process.stop()
            raise
        return self

    def _create_indexes(self) -> None:
        session = _direct()
        user = session.put(f"{self.base}{USER}", json={"password": PASSWORD, "email": ""})
        assert user.status_code == 201, user.text
        for index in ("staging", "prod"):
            self.create_index(index)

    def create_index(self, index: str) -> None:
        """Make ``USER/<index>``, mirroring nothing and non-volatile."""
        session = _direct()
        session.auth = (USER, PASSWORD)
        made = session.put(f"{self.base}{USER}/{index}", json={"bases": [], "volatile": False})
        assert made.status_code == 200, made.text

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.stop()


class QuietHandler(SimpleHTTPRequestHandler):
    """``python -m http.server``'s handler, without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def static_server(
    root: Path, handler: type[SimpleHTTPRequestHandler] = QuietHandler
) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` serving ``root`` as a static web server
    does (``handler`` may change how), stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
