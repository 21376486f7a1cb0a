"""Publishing through the legacy upload API: the form and its body (pure),
the client's retries and "file exists" answers against an in-process
server, and two bundles published to a real pypiserver and a real
devpi-server (staging, then promoted to production) on 127.0.0.1, each
installed from there by real pip in a fresh virtual environment."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bundler.bundle.manifest import manifest_from_json
from bundler.cli.main import run
from bundler.errors import BundlerError
from bundler.index.client import HttpClient
from bundler.index.keyringcli import KeyringCommand
from bundler.models import BundleArtifact, DistKind
from bundler.publish.destination import PublishFile
from bundler.publish.devpi import DevpiDestination
from bundler.publish.upload import (
    FileConflict,
    UploadDestination,
    UploadFailed,
    UploadRejectedCredentials,
    multipart_body,
    says_exists,
    upload_fields,
)
from bundler.reporting import NULL_REPORTER, Reporter
from tests.support import DistSpec, IndexServer, build_all, installed, make_venv, pip_run
from tests.support.distbuilder import build_wheel
from tests.support.piputil import clean_pip_env
from tests.support.servers import PASSWORD, USER, DevpiServer, PypiServer

METADATA = b"""\
Metadata-Version: 2.4
Name: Webby
Version: 1.0
Summary: A web thing
Keywords: web,thing
Classifier: Programming Language :: Python :: 3
Classifier: Typing :: Typed
Project-URL: Source, https://example.invalid/src
Requires-Dist: helper>=2
Requires-Dist: extra-thing; extra == "x"
Provides-Extra: x
Platform: any
Requires-Python: >=3.9
Description-Content-Type: text/markdown

# Webby
The long description.
"""


def test_the_form_carries_the_core_metadata_as_twine_sends_it() -> None:
    fields = upload_fields(
        METADATA,
        name="webby",
        version="1.0",
        filename="webby-1.0-py3-none-any.whl",
        kind=DistKind.WHEEL,
        sha256="ab" * 32,
    )
    assert fields[:7] == [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", "webby"),
        ("version", "1.0"),
        ("filetype", "bdist_wheel"),
        ("pyversion", "py3"),
        ("sha256_digest", "ab" * 32),
    ]
    rest = fields[7:]
    assert ("metadata_version", "2.4") in rest
    assert ("summary", "A web thing") in rest
    assert ("keywords", "web, thing") in rest
    assert [v for k, v in rest if k == "classifiers"] == [
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
    ]
    assert [v for k, v in rest if k == "requires_dist"] == [
        "helper>=2",
        'extra-thing; extra == "x"',
    ]
    assert ("project_urls", "Source, https://example.invalid/src") in rest
    assert ("provides_extra", "x") in rest
    assert ("platform", "any") in rest
    assert ("requires_python", ">=3.9") in rest
    assert ("description_content_type", "text/markdown") in rest
    assert ("description", "# Webby\nThe long description.\n") in rest
    assert not any(k in ("name", "version") for k, _ in rest)


def test_an_sdist_is_uploaded_as_source() -> None:
    fields = dict(
        upload_fields(
            None,
            name="gadget",
            version="2.0",
            filename="gadget-2.0.tar.gz",
            kind=DistKind.SDIST,
            sha256="cd" * 32,
        )
    )
    assert fields["filetype"] == "sdist"
    assert fields["pyversion"] == "source"


def _parse_form(content_type: str, body: bytes) -> list[Message]:
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    return [part for part in message.iter_parts() if isinstance(part, Message)]


def test_the_body_is_multipart_form_data_and_sent_again_whole(tmp_path: Path) -> None:
    dist = tmp_path / "we_bby-1.0.tar.gz"
    dist.write_bytes(b"\x00\x01 the archive \r\n--not-a-boundary\r\n" * 1000)
    fields = [(":action", "file_upload"), ("summary", 'quotes " and ünïcode')]
    body = multipart_body(fields, dist, dist.name)
    first = b"".join(body)
    assert b"".join(body) == first  # a retry sends the same bytes
    assert len(first) == body.length
    parts = _parse_form(body.content_type, first)
    assert [p.get_param("name", header="content-disposition") for p in parts] == [
        ":action",
        "summary",
        "content",
    ]
    assert parts[1].get_payload(decode=True) == 'quotes " and ünïcode'.encode()
    assert parts[2].get_filename() == dist.name
    assert parts[2].get_payload(decode=True) == dist.read_bytes()


@pytest.mark.parametrize(
    ("status", "reason", "text", "exists"),
    [
        (409, "Conflict", "", True),  # pypiserver, devpi
        (400, "File already exists. See https://pypi.org/help/#file-name-reuse", "", True),
        (400, "Bad Request", "Repository does not allow updating assets: pypi-hosted", True),
        (403, "Forbidden", "Not enough permissions to delete/overwrite artifact", True),
        (400, "Bad Request", "Validation failed: File name has already been taken", True),
        (400, "Bad Request", "Invalid distribution file.", False),
        (403, "Forbidden", "no permission to submit", False),
        (500, "Internal Server Error", "already exists", False),
    ],
)
def test_each_indexs_words_for_file_exists(
    status: int, reason: str, text: str, exists: bool
) -> None:
    assert says_exists(status, reason, text) is exists


# --- against an in-process upload server ---------------------------------------------


DROP = 0  # a scripted answer: the connection is closed without one


@dataclass
class _FakeIndex:
    """An upload API on 127.0.0.1: answers POSTs from a script of statuses
    (then 200) and serves one project page listing ``listed``."""

    answers: list[tuple[int, str]] = field(default_factory=list)
    listed: dict[str, str] = field(default_factory=dict)  # filename -> sha256
    posts: list[tuple[Mapping[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                index.posts.append((dict(self.headers), self.rfile.read(length)))
                status, text = index.answers.pop(0) if index.answers else (200, "")
                if status == DROP:
                    self.close_connection = True  # no answer at all
                    return
                self._reply(status, text.encode(), "text/plain", location=text)

            def do_GET(self) -> None:
                if self.path != "/simple/webby/":
                    self._reply(404, b"not found", "text/plain")
                    return
                links = "".join(
                    f'<a href="/files/{name}#sha256={digest}">{name}</a>\n'
                    for name, digest in index.listed.items()
                )
                self._reply(200, f"<html><body>{links}</body></html>".encode(), "text/html")

            def _reply(
                self, status: int, body: bytes, content_type: str, location: str = ""
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if 300 <= status < 400:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def fake_index() -> Iterator[_FakeIndex]:
    index = _FakeIndex()
    server = ThreadingHTTPServer(("127.0.0.1", 0), index.handler())
    index.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _wheel(tmp_path: Path, spec: DistSpec | None = None) -> PublishFile:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = build_wheel(spec or DistSpec("webby", "1.0"), "py3-none-any", tmp_path)
    data = path.read_bytes()
    artifact = BundleArtifact(
        filename=path.name,
        project=spec.project if spec else "webby",  # type: ignore[arg-type]
        version="1.0",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        kind=DistKind.WHEEL,
    )
    return PublishFile(artifact, path)


class _Recorder(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def retry(self, host: str, problem: str, delay: float, attempt: int, limit: int) -> None:
        self.lines.append(f"retry {problem} {attempt}/{limit} {host}")

    def warning(self, message: str) -> None:
        self.lines.append(f"warning: {message}")


def _client(reporter: Reporter = NULL_REPORTER) -> HttpClient:
    return HttpClient(sleep=lambda _: None, reporter=reporter)


def test_an_upload_cut_by_503s_is_sent_again(fake_index: _FakeIndex, tmp_path: Path) -> None:
    file = _wheel(tmp_path)
    fake_index.answers = [(503, "busy"), (502, "gateway")]
    recorder = _Recorder()
    dest = UploadDestination(fake_index.url, client=_client(recorder))
    dest.put([file], recorder)
    assert len(fake_index.posts) == 3
    assert recorder.lines[:2] == [
        f"retry 503 2/5 {fake_index.url[7:-1]}",
        f"retry 502 3/5 {fake_index.url[7:-1]}",
    ]
    headers, body = fake_index.posts[-1]
    parts = _parse_form(headers["Content-Type"], body)
    assert parts[-1].get_payload(decode=True) == file.path.read_bytes()


def test_a_yanked_file_is_uploaded_with_a_warning_naming_it(
    fake_index: _FakeIndex, tmp_path: Path
) -> None:
    file = _wheel(tmp_path)
    yanked = PublishFile(replace(file.artifact, yanked="broken build"), file.path)
    recorder = _Recorder()
    UploadDestination(fake_index.url, client=_client(recorder)).put([yanked], recorder)
    assert len(fake_index.posts) == 1
    warnings = [line for line in recorder.lines if line.startswith("warning: ")]
    assert len(warnings) == 1
    assert file.artifact.filename in warnings[0] and "not yanked" in warnings[0]


def test_an_upload_whose_connection_drops_is_sent_again(
    fake_index: _FakeIndex, tmp_path: Path
) -> None:
    fake_index.answers = [(DROP, "")]
    recorder = _Recorder()
    UploadDestination(fake_index.url, client=_client(recorder)).put([_wheel(tmp_path)], recorder)
    assert len(fake_index.posts) == 2
    assert fake_index.posts[0][1] == fake_index.posts[1][1]
    assert recorder.lines[0].startswith("retry ")


def test_file_exists_with_the_same_bytes_is_success(fake_index: _FakeIndex, tmp_path: Path) -> None:
    # An earlier attempt that did arrive, or another publisher's same file.
    file = _wheel(tmp_path)
    fake_index.answers = [(409, "exists")]
    fake_index.listed = {file.artifact.filename: file.artifact.sha256}
    recorder = _Recorder()
    UploadDestination(fake_index.url, client=_client()).put([file], recorder)
    assert recorder.lines == [
        f"{file.artifact.filename} was already at {fake_index.url} (same sha256)"
    ]


def test_file_exists_with_other_bytes_is_a_conflict(fake_index: _FakeIndex, tmp_path: Path) -> None:
    file = _wheel(tmp_path)
    fake_index.answers = [(400, "File already exists")]
    fake_index.listed = {file.artifact.filename: "0" * 64}
    with pytest.raises(FileConflict) as caught:
        UploadDestination(fake_index.url, client=_client()).put([file], NULL_REPORTER)
    assert caught.value.filename == file.artifact.filename
    assert "0" * 64 in str(caught.value) and file.artifact.sha256 in str(caught.value)
    assert caught.value.exit_code == 1


def test_a_refused_upload_names_the_file_and_quotes_the_server(
    fake_index: _FakeIndex, tmp_path: Path
) -> None:
    file = _wheel(tmp_path)
    fake_index.answers = [(400, "Invalid distribution file.")]
    with pytest.raises(UploadFailed) as caught:
        UploadDestination(fake_index.url, client=_client()).put([file], NULL_REPORTER)
    assert str(caught.value) == (
        f"uploading {file.artifact.filename} to {fake_index.url}: HTTP 400:"
        " Invalid distribution file."
    )


def test_a_file_that_changes_while_it_is_uploaded_fails_and_says_so(
    fake_index: _FakeIndex, tmp_path: Path
) -> None:
    # Rewritten after the check (same size, other bytes): the index took
    # bytes that are not the bundle's, which no re-run can put right.
    file = _wheel(tmp_path)
    client = _client()
    real_post = client.post

    def post(url: str, body: Any, headers: Any) -> Any:
        file.path.write_bytes(b"X" * file.artifact.size)  # after its metadata was read
        return real_post(url, body, headers)

    client.post = post  # type: ignore[method-assign]
    with pytest.raises(UploadFailed) as caught:
        UploadDestination(fake_index.url, client=client).put([file], NULL_REPORTER)
    sent = hashlib.sha256(b"X" * file.artifact.size).hexdigest()
    assert f"the file changed while it was uploaded: the index took bytes with sha256 {sent}" in (
        str(caught.value)
    )
    assert caught.value.filename == file.artifact.filename


def test_a_failed_upload_names_its_file_and_what_was_uploaded_before(
    fake_index: _FakeIndex, tmp_path: Path
) -> None:
    # An upload API has no transaction: the error names the file whose
    # upload failed, and a warning the files already live.
    first = _wheel(tmp_path / "a", DistSpec("alpha", "1.0"))
    second = _wheel(tmp_path / "b", DistSpec("webby", "1.0"))
    client = HttpClient(sleep=lambda _: None, max_attempts=1)
    real_post = client.post
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/"

    def post(url: str, body: Any, headers: Any) -> Any:
        return real_post(closed if body.path == second.path else url, body, headers)

    client.post = post  # type: ignore[method-assign]
    recorder = _Recorder()
    dest = UploadDestination(fake_index.url, client=client, workers=1)
    with pytest.raises(UploadFailed) as caught:
        dest.put([first, second], recorder)
    assert str(caught.value).startswith(f"uploading {second.artifact.filename} to ")
    assert recorder.lines == [
        f"warning: 1 of 2 files were uploaded before the failure ({first.artifact.filename});"
        " publish again to finish: what is there is skipped"
    ]


def test_an_upload_is_not_sent_on_to_where_the_url_redirects(
    fake_index: _FakeIndex, tmp_path: Path
) -> None:
    fake_index.answers = [(301, f"{fake_index.url}legacy/")]
    with pytest.raises(UploadFailed) as caught:
        UploadDestination(fake_index.url, client=_client()).put([_wheel(tmp_path)], NULL_REPORTER)
    assert f"redirects to {fake_index.url}legacy/" in str(caught.value)
    assert len(fake_index.posts) == 1


def test_twine_credentials_are_sent_and_never_shown(fake_index: _FakeIndex, tmp_path: Path) -> None:
    file = _wheel(tmp_path)
    environ = {"TWINE_USERNAME": "ci-bot", "TWINE_PASSWORD": "hunter2-token"}
    dest = UploadDestination(fake_index.url, client=_client(), environ=environ)
    dest.put([file], NULL_REPORTER)
    headers, _ = fake_index.posts[0]
    assert headers["Authorization"] == "Basic Y2ktYm90Omh1bnRlcjItdG9rZW4="  # ci-bot:hunter2-token
    fake_index.answers = [(403, "Forbidden")]
    with pytest.raises(UploadRejectedCredentials) as caught:
        dest.put([file], NULL_REPORTER)
    assert caught.value.exit_code == 2
    assert "TWINE_USERNAME" in str(caught.value)
    assert "hunter2" not in str(caught.value) + dest.describe()


class _Keyring(KeyringCommand):
    def credentials(self, service: str, username: str | None) -> tuple[str, str] | None:
        return ("from-keyring", "kr-secret")


def test_netrc_and_then_the_keyring_give_upload_credentials(
    fake_index: _FakeIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login from-netrc password nr-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    UploadDestination(fake_index.url, client=_client(), environ={}).put(
        [_wheel(tmp_path / "a")], NULL_REPORTER
    )
    assert fake_index.posts[-1][0]["Authorization"] == "Basic ZnJvbS1uZXRyYzpuci1zZWNyZXQ="
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    fake_index.answers = [(401, "Unauthorized")]
    client = HttpClient(sleep=lambda _: None, keyring=_Keyring("keyring"))
    UploadDestination(fake_index.url, client=client, environ={}).put(
        [_wheel(tmp_path / "b")], NULL_REPORTER
    )
    assert "Authorization" not in fake_index.posts[-2][0]
    # from-keyring:kr-secret, sent again once the index asked for credentials
    assert fake_index.posts[-1][0]["Authorization"] == "Basic ZnJvbS1rZXlyaW5nOmtyLXNlY3JldA=="


def test_url_credentials_win_over_twines_and_are_redacted(
    fake_index: _FakeIndex, tmp_path: Path
) -> None:
    url = fake_index.url.replace("http://", "http://alice:pa55word@")
    environ = {"TWINE_USERNAME": "ci-bot", "TWINE_PASSWORD": "hunter2-token"}
    dest = UploadDestination(url, client=_client(), environ=environ)
    dest.put([_wheel(tmp_path)], NULL_REPORTER)
    assert fake_index.posts[0][0]["Authorization"] == "Basic YWxpY2U6cGE1NXdvcmQ="
    assert "pa55word" not in dest.describe()
    assert dest.read_url() == f"{fake_index.url}simple/"


def test_an_upload_url_that_is_not_http_is_a_usage_error() -> None:
    with pytest.raises(BundlerError) as caught:
        UploadDestination("ftp://user:pw@host/", client=_client())
    assert caught.value.exit_code == 2
    assert "pw" not in str(caught.value)


def test_a_promote_target_that_is_not_user_index_is_a_usage_error() -> None:
    with pytest.raises(BundlerError) as caught:
        DevpiDestination("http://127.0.0.1:1/a/staging/", promote_to="prod", client=_client())
    assert caught.value.exit_code == 2
    assert "user/index" in str(caught.value)


# --- real servers --------------------------------------------------------------------

UNIVERSE = [
    DistSpec("webby", "1.0", requires=("helper>=2",)),
    DistSpec("helper", "2.0"),
    # An sdist-only project: the bundle carries (and uploads) its sdist.
    DistSpec("gadget", "1.0", requires=("helper>=2",), wheel=False),
]
INSTALLS = {"a": {"webby": "1.0", "helper": "2.0"}, "b": {"gadget": "1.0", "helper": "2.0"}}


@dataclass(frozen=True)
class Bundles:
    root: Path
    paths: Mapping[str, Path]

    def files(self, name: str) -> list[PublishFile]:
        bundle = self.paths[name]
        manifest = manifest_from_json((bundle / "bundle.json").read_bytes(), "bundle.json")
        out = []
        for artifact in manifest.artifacts:
            path = bundle / "files" / artifact.filename
            sidecar = path.with_name(path.name + ".metadata")
            out.append(PublishFile(artifact, path, sidecar if sidecar.is_file() else None))
        return out

    def releases(self, name: str) -> list[tuple[str, str]]:
        return sorted({(f.artifact.project, f.artifact.version) for f in self.files(name)})


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    base = tmp_path_factory.mktemp("upload-bundles")
    build_all(UNIVERSE, base / "dists")
    paths = {}
    with IndexServer(base / "dists") as index:
        for name, top in (("a", "webby"), ("b", "gadget")):
            (base / f"{name}.in").write_text(f"{top}\n")
            paths[name] = base / name
            argv = ["build", str(base / f"{name}.in"), "-o", str(paths[name]), "-i", index.url]
            assert run([*argv, "--no-install", "--quiet"]) == 0
    return Bundles(base, paths)


def _publish(dest: UploadDestination, files: Sequence[PublishFile]) -> list[str]:
    """The publisher's rule, in short: skip what is there with the same
    sha256, refuse (before any upload) what is there with other bytes."""
    held = dest.held(sorted({f.artifact.project for f in files}))
    clashes = [
        f.artifact.filename
        for f in files
        if f.artifact.filename in held and held[f.artifact.filename].sha256 != f.artifact.sha256
    ]
    if clashes:
        raise AssertionError(f"refused: {clashes}")
    new = [f for f in files if f.artifact.filename not in held]
    dest.put(new, NULL_REPORTER)
    return sorted(f.artifact.filename for f in new)


def _pip_installs(index_url: str, lock: Path, venv: Path, expected: Mapping[str, str]) -> None:
    env = {k: v for k, v in clean_pip_env().items() if not k.lower().endswith("_proxy")}
    python = make_venv(venv)
    pip_run(["install", "--index-url", index_url, "-r", str(lock)], python=python, env=env)
    assert installed(python) == expected


@pytest.fixture(scope="module")
def pypiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    with PypiServer(tmp_path_factory.mktemp("pypiserver")) as server:
        yield server


@pytest.fixture(scope="module")
def pypiserver_published(pypiserver: PypiServer, bundles: Bundles) -> PypiServer:
    dest = UploadDestination(pypiserver.authed_url, client=_client())
    assert dest.read_url() == f"{pypiserver.url}simple/"
    for name in ("a", "b"):
        uploaded = _publish(dest, bundles.files(name))
        assert uploaded == sorted(f.artifact.filename for f in bundles.files(name)) or (
            name == "b"  # helper 2.0 came with bundle a
        )
    return pypiserver


@pytest.mark.slow
def test_pypiserver_installs_both_published_bundles(
    pypiserver_published: PypiServer, bundles: Bundles, tmp_path: Path
) -> None:
    stored = {p.name for p in pypiserver_published.packages.iterdir()}
    wanted = {f.artifact.filename for name in ("a", "b") for f in bundles.files(name)}
    assert stored == wanted
    assert any(name.endswith(".tar.gz") for name in stored)  # gadget's sdist
    for name in ("a", "b"):
        lock = bundles.paths[name] / "requirements.txt"
        _pip_installs(pypiserver_published.simple_url, lock, tmp_path / name, INSTALLS[name])


def test_pypiserver_republishing_uploads_nothing(
    pypiserver_published: PypiServer, bundles: Bundles
) -> None:
    dest = UploadDestination(pypiserver_published.authed_url, client=_client())
    before = {p.name: p.stat().st_mtime_ns for p in pypiserver_published.packages.iterdir()}
    for name in ("a", "b"):
        assert _publish(dest, bundles.files(name)) == []
        # Sent anyway (a publisher that did not look first), each file is
        # settled by its hash and nothing is replaced.
        dest.put(bundles.files(name), NULL_REPORTER)
    after = {p.name: p.stat().st_mtime_ns for p in pypiserver_published.packages.iterdir()}
    assert after == before


def test_pypiserver_refuses_other_bytes_under_a_published_name(
    pypiserver_published: PypiServer, tmp_path: Path
) -> None:
    other = _wheel(tmp_path, DistSpec("webby", "1.0", requires=("helper>=1",)))
    stored = pypiserver_published.packages / other.artifact.filename
    original = stored.read_bytes()
    dest = UploadDestination(pypiserver_published.authed_url, client=_client())
    held = dest.held(["webby"])
    assert held[other.artifact.filename].sha256 == hashlib.sha256(original).hexdigest()
    with pytest.raises(AssertionError, match=other.artifact.filename):
        _publish(dest, [other])  # refused from what held() says, before any upload
    with pytest.raises(FileConflict, match=other.artifact.filename):
        dest.put([other], NULL_REPORTER)  # and by the server's answer, were it sent
    assert stored.read_bytes() == original


def test_pypiserver_without_credentials_is_refused_clearly(
    pypiserver: PypiServer, tmp_path: Path
) -> None:
    dest = UploadDestination(pypiserver.url, client=_client(), environ={})
    with pytest.raises(UploadRejectedCredentials) as caught:
        dest.put([_wheel(tmp_path, DistSpec("lonely", "1.0"))], NULL_REPORTER)
    assert caught.value.exit_code == 2


@pytest.fixture(scope="module")
def devpi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevpiServer]:
    with DevpiServer(tmp_path_factory.mktemp("devpi")) as server:
        yield server


def _staging(devpi: DevpiServer) -> DevpiDestination:
    return DevpiDestination(
        devpi.index_url("staging", auth=True), promote_to=f"{USER}/prod", client=_client()
    )


@pytest.mark.slow
def test_devpi_stages_then_promotes_every_release(
    devpi: DevpiServer, bundles: Bundles, tmp_path: Path
) -> None:
    dest = _staging(devpi)
    assert dest.read_url() == devpi.simple_url("staging")
    assert dest.target_read_url() == devpi.simple_url("prod")
    assert PASSWORD not in dest.describe()
    for name in ("a", "b"):
        _publish(dest, bundles.files(name))
    lock_a = bundles.paths["a"] / "requirements.txt"
    _pip_installs(devpi.simple_url("staging"), lock_a, tmp_path / "staged", INSTALLS["a"])
    prod = DevpiDestination(devpi.index_url("prod", auth=True), client=_client())
    assert prod.held(["webby", "helper", "gadget"]) == {}  # nothing there before the promotion

    releases = sorted(set(bundles.releases("a")) | set(bundles.releases("b")))
    done = dest.promote(releases)
    assert sorted(done.pushed) == releases
    for name in ("a", "b"):
        lock = bundles.paths[name] / "requirements.txt"
        _pip_installs(devpi.simple_url("prod"), lock, tmp_path / f"prod-{name}", INSTALLS[name])

    again = dest.promote(releases)
    assert again.pushed == () and again.copied == ()
    assert sorted(again.already) == releases


def test_devpi_promote_completes_a_release_production_has_in_part(
    devpi: DevpiServer, tmp_path: Path
) -> None:
    first = _wheel(tmp_path / "one", DistSpec("multi", "1.0"))
    dest = _staging(devpi)
    _publish(dest, [first])
    assert dest.promote([("multi", "1.0")]).pushed == (("multi", "1.0"),)
    # A later bundle brings another file of the same release.
    second = tmp_path / "two"
    second.mkdir()
    path = build_wheel(DistSpec("multi", "1.0"), "py2-none-any", second)
    data = path.read_bytes()
    artifact = BundleArtifact(
        filename=path.name,
        project="multi",  # type: ignore[arg-type]
        version="1.0",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        kind=DistKind.WHEEL,
    )
    _publish(dest, [PublishFile(artifact, path)])
    done = dest.promote([("multi", "1.0")])
    assert done.copied == (path.name,)
    prod = DevpiDestination(devpi.index_url("prod", auth=True), client=_client())
    held = prod.held(["multi"])
    assert held[path.name].sha256 == artifact.sha256
    assert held[first.artifact.filename].sha256 == first.artifact.sha256


def test_devpi_promote_refuses_other_bytes_in_production_and_moves_nothing(
    devpi: DevpiServer, tmp_path: Path
) -> None:
    prod = DevpiDestination(devpi.index_url("prod", auth=True), client=_client())
    clash = _wheel(tmp_path / "prod", DistSpec("clash", "1.0"))
    _publish(prod, [clash])
    dest = _staging(devpi)
    staged = _wheel(tmp_path / "staged", DistSpec("clash", "1.0", requires=("helper",)))
    calm = _wheel(tmp_path / "calm", DistSpec("calm", "1.0"))
    _publish(dest, [staged, calm])
    with pytest.raises(FileConflict, match=staged.artifact.filename):
        dest.promote([("clash", "1.0"), ("calm", "1.0")])
    assert prod.held(["calm"]) == {}
    assert prod.held(["clash"])[clash.artifact.filename].sha256 == clash.artifact.sha256


@pytest.mark.slow
def test_publish_promote_to_pushes_to_production_after_the_gate_passes(
    devpi: DevpiServer, bundles: Bundles, tmp_path: Path
) -> None:
    devpi.create_index("cli-staging")
    devpi.create_index("cli-prod")
    staging = devpi.index_url("cli-staging", auth=True)
    out = tmp_path / "out.json"
    junit = tmp_path / "junit.xml"
    argv = ["publish", str(bundles.paths["a"]), staging, "--promote-to", f"{USER}/cli-prod"]
    assert run([*argv, "--junit", str(junit), "--json", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert sorted(doc["promoted"]["pushed"]) == ["helper==2.0", "webby==1.0"]
    assert PASSWORD not in out.read_text()
    assert "<testsuites" in junit.read_text()
    lock = bundles.paths["a"] / "requirements.txt"
    _pip_installs(devpi.simple_url("cli-prod"), lock, tmp_path / "prod", INSTALLS["a"])


def test_a_failed_gate_at_staging_promotes_nothing(
    devpi: DevpiServer, bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gate that fails at staging (here made to fail: a real index cannot
    be made to lose a file between the upload and the check) stops the
    promotion."""
    from bundler.gate import remote as remotegate
    from bundler.gate.report import CheckResult, Problem, VerifyReport

    devpi.create_index("failing-staging")
    devpi.create_index("failing-prod")

    def failing(*args: object, **kwargs: object) -> VerifyReport:
        problem = Problem("published", "webby", "missing at the index", "t")
        return VerifyReport((CheckResult("published", "t", "failed", (problem,)),))

    monkeypatch.setattr(remotegate, "verify_index", failing)
    staging = devpi.index_url("failing-staging", auth=True)
    argv = ["publish", str(bundles.paths["a"]), staging, "--promote-to", f"{USER}/failing-prod"]
    assert run([*argv, "--quiet"]) == 1
    prod = DevpiDestination(devpi.index_url("failing-prod", auth=True), client=_client())
    assert prod.held(["webby", "helper"]) == {}


@pytest.mark.parametrize(
    ("dest", "extra", "says"),
    [
        ("DIR", ["--promote-to", "u/prod"], "only a devpi staging index"),
        ("http://127.0.0.1:9/u/staging/", ["--promote-to", "u/prod", "--no-check"], "gate"),
        ("DIR", ["--s3-endpoint-url", "http://127.0.0.1:9"], "not an s3:// destination"),
    ],
)
def test_promote_and_s3_options_where_they_do_not_apply_are_usage_errors(
    bundles: Bundles, tmp_path: Path, dest: str, extra: list[str], says: str
) -> None:
    out = tmp_path / "out.json"
    dest = str(tmp_path / "dest") if dest == "DIR" else dest
    argv = ["publish", str(bundles.paths["a"]), dest, *extra, "--json", str(out), "--quiet"]
    assert run(argv) == 2
    assert says in json.loads(out.read_text())["error"]
    assert not (tmp_path / "dest").exists()


def test_the_htpasswd_line_matches_the_password() -> None:
    passlib = pytest.importorskip("passlib.apache", reason="passlib comes with pypiserver[passlib]")
    from tests.support.servers import HTPASSWD_LINE

    user, _, digest = HTPASSWD_LINE.strip().partition(":")
    assert user == USER
    assert passlib.HtpasswdFile.from_string(HTPASSWD_LINE).check_password(USER, PASSWORD)
    assert digest.startswith("$apr1$")
