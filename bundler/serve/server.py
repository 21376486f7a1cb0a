"""``bundle serve``: a read-only HTTP package index over a bundle directory.

The bundle already holds every page (``simple/``), file and sidecar
(``files/``), so the server only picks which file answers a request: the
project page in the format the client asked for (PEP 691 content
negotiation), a distribution, or one of the lock files at the root.  It
never writes, never lists a directory, and never opens a path outside the
bundle.  It runs on the standard library's ``http.server``: this module is
the server's life (bind, serve, stop); ``handler`` answers a request,
``routes`` and ``ranges`` are the pure parsers of what it asks.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Final

from bundler import SERVE_HOST, SERVE_PORT
from bundler.bundle.layout import PAGE_HTML, SIMPLE_DIR
from bundler.errors import UsageError
from bundler.serve.handler import BundleRequestHandler, Log

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "BundleServer", "make_server", "serve"]

DEFAULT_HOST: Final = SERVE_HOST
DEFAULT_PORT: Final = SERVE_PORT


class BundleServer(ThreadingHTTPServer):
    """A threading HTTP server answering from one bundle directory.

    Use ``serve_forever()`` in the calling thread, or ``start()`` to serve
    from a background thread; as a context manager it is stopped and closed
    on exit.
    """

    daemon_threads = True
    # socketserver's 5 pending connections: a burst (uv opens 50 at once,
    # CI jobs start together) had the kernel drop the rest and the clients
    # retry after 1, 3, 7 s.  The kernel caps it at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(self, bundle_dir: Path, host: str, port: int, log: Log | None) -> None:
        self.bundle_dir = bundle_dir
        self.log = log
        self._thread: threading.Thread | None = None
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), BundleRequestHandler)

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
