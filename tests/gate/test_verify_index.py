"""``bundle verify --index-url URL LOCK``: the gate against an index that
serves a bundle's files (here a copy of the bundle's own static index, over
file:// and over ``python -m http.server`` on 127.0.0.1)."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from bundler.cli.main import run
from tests.support import DistSpec, IndexServer, build_all

UNIVERSE = [DistSpec("webby", "1.0", requires=("helper>=2",)), DistSpec("helper", "2.0")]
WEBBY = "webby-1.0-py3-none-any.whl"
HELPER = "helper-2.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("verify-index")
    build_all(UNIVERSE, base / "dists")
    (base / "requirements.in").write_text("webby\n")
    with IndexServer(base / "dists") as index:
        argv = ["build", str(base / "requirements.in"), "-o", str(base / "pypi"), "-i", index.url]
        assert run([*argv, "--no-install", "--quiet"]) == 0
    return base / "pypi"


@pytest.fixture
def served(bundle: Path, tmp_path: Path) -> Path:
    """A copy of the bundle, standing for the published index."""
    out = tmp_path / "index"
    shutil.copytree(bundle, out)
    return out


def _problems(json_out: Path) -> list[str]:
    doc = json.loads(json_out.read_text())
    return [f"{p['subject']}: {p['message']}" for r in doc["results"] for p in r["problems"]]


@pytest.mark.parametrize("lock", ["bundle", "requirements.txt", "pylock.toml"])
def test_a_deleted_and_a_replaced_file_fail_naming_the_file(
    bundle: Path, served: Path, tmp_path: Path, lock: str
) -> None:
    url = (served / "simple").as_uri() + "/"
    target = str(bundle if lock == "bundle" else bundle / lock)
    out = tmp_path / "out.json"
    argv = ["verify", "--index-url", url, target, "--no-install", "--quiet", "--json", str(out)]
    assert run(argv) == 0, _problems(out)

    webby = served / "files" / WEBBY
    kept = webby.read_bytes()
    webby.unlink()
    assert run(argv) == 1
    assert any(p.startswith(WEBBY) for p in _problems(out)), _problems(out)
    webby.write_bytes(kept)

    helper = served / "files" / HELPER
    helper.write_bytes(helper.read_bytes() + b"\0")
    assert run(argv) == 1
    problems = _problems(out)
    assert any(p.startswith(HELPER) and "sha256" in p for p in problems), problems


def test_a_project_missing_from_the_index_fails_the_closure(
    bundle: Path, served: Path, tmp_path: Path
) -> None:
    shutil.rmtree(served / "simple" / "helper")
    out = tmp_path / "out.json"
    url = (served / "simple").as_uri() + "/"
    argv = [
        "verify",
        "--index-url",
        url,
        str(bundle),
        "--no-install",
        "--quiet",
        "--json",
        str(out),
    ]
    assert run(argv) == 1
    doc = json.loads(out.read_text())
    failed = {r["check"] for r in doc["results"] if r["status"] == "failed"}
    assert failed == {"published", "closure"}


def test_a_lock_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/simple/"
    assert run(["verify", "--index-url", url, str(tmp_path / "nope.txt"), "--quiet"]) == 2
    assert run(["verify", "--index-url", "http://[::1", str(tmp_path), "--quiet"]) == 2
    assert run(["verify", "--index-url", url, str(tmp_path), "--pip", "24.0", "--quiet"]) == 2


@pytest.fixture
def http_root(served: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        cwd=served,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r"port (\d+)", proc.stdout.readline())
    assert match
    yield f"http://127.0.0.1:{match.group(1)}/"
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


@pytest.mark.slow
def test_pip_installs_the_lock_from_the_index_alone(
    bundle: Path, served: Path, http_root: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    url = http_root + "simple/"
    argv = ["verify", "--index-url", url, str(bundle / "requirements.txt"), "--json", str(out)]
    assert run([*argv, "--quiet"]) == 0, _problems(out)
    reality = [r for r in json.loads(out.read_text())["results"] if r["check"] == "reality"]
    assert reality and all(r["status"] == "passed" for r in reality)
    # Over HTTP too, the pip a fresh venv gets installs it, not only the newest.
    details = " ".join(r["details"] for r in reality)
    assert "(a fresh venv's own)" in details and "(newest)" in details
    # The page still lists it, the server no longer has it: pip fails too.
    (served / "files" / WEBBY).unlink()
    assert run([*argv, "--quiet"]) == 1
    failed = {r["check"] for r in json.loads(out.read_text())["results"] if r["status"] == "failed"}
    assert failed == {"published", "reality"}


def test_the_configured_index_url_does_not_turn_verify_into_the_index_gate(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bundle.toml's index-url is where locks come from, not what verify checks.
    (tmp_path / "bundle.toml").write_text('index-url = "http://127.0.0.1:9/simple/"\n')
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.json"
    assert run(["verify", str(bundle), "--no-install", "--quiet", "--json", str(out)]) == 0
    checks = {r["check"] for r in json.loads(out.read_text())["results"]}
    assert "integrity" in checks and "published" not in checks


# How long the server below holds the gate's own fetch of a file waiting for
# pip's first request; far longer than creating a venv and starting pip.
HOLD_SECONDS = 60.0


class _HoldsFilesUntilPip(SimpleHTTPRequestHandler):
    """Serves a file to anything but pip only once pip has asked for
    something: a gate that fetches every file before it starts pip waits
    out the hold."""

    pip_arrived: ClassVar[threading.Event]
    held_out: ClassVar[list[str]]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.headers.get("User-Agent", "").startswith("pip/"):
            self.pip_arrived.set()
        elif self.path.endswith(".whl") and not self.pip_arrived.wait(HOLD_SECONDS):
            self.held_out.append(self.path.rsplit("/", 1)[-1])
        super().do_GET()


@pytest.mark.slow
def test_the_listing_is_checked_while_pip_installs(
    bundle: Path, served: Path, tmp_path: Path
) -> None:
    # The gate's own fetches and pip's install run at once, so the whole
    # gate takes about as long as the install alone.
    class Handler(_HoldsFilesUntilPip):
        pip_arrived = threading.Event()
        held_out = []

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        out = tmp_path / "out.json"
        argv = ["verify", "--index-url", url, str(bundle), "--quiet", "--json", str(out)]
        assert run(argv) == 0, _problems(out)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    results = json.loads(out.read_text())["results"]
    assert {r["check"] for r in results} == {"published", "closure", "reality"}
    # Both files were fetched by the gate itself, not only by pip.
    assert Handler.held_out == [], f"fetched only after a {HOLD_SECONDS} s wait for pip"
    assert Handler.pip_arrived.is_set()


def test_junit_is_written_whether_the_gate_passes_or_fails(
    bundle: Path, served: Path, tmp_path: Path
) -> None:
    url = (served / "simple").as_uri() + "/"
    xml = tmp_path / "report.xml"
    argv = ["verify", "--index-url", url, str(bundle), "--no-install", "--quiet"]
    assert run([*argv, "--junit", str(xml)]) == 0
    assert 'failures="0"' in xml.read_text()
    xml.unlink()
    (served / "files" / WEBBY).unlink()
    assert run([*argv, "--junit", str(xml)]) == 1
    text = xml.read_text()
    assert "<failure" in text and WEBBY in text
