"""The S3 destination against a real S3 server (SeaweedFS) on 127.0.0.1:
two bundles published side by side and installed by real pip through a
static front, concurrent publishers merged by conditional writes, nothing
uploaded twice, bytes never replaced."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import NormalizedName

from bundler.bundle.manifest import manifest_from_json
from bundler.bundle.pagewriter import render_project_html, render_project_json
from bundler.cli.main import run
from bundler.errors import BundlerError, UsageError
from bundler.models import BundleArtifact, DistKind
from bundler.publish.destination import PublishFile
from bundler.publish.s3 import (
    INSTALL_HINT,
    ConflictingFile,
    S3Destination,
    merge_artifacts,
    page_artifacts,
    parse_s3_url,
    root_projects,
)
from bundler.reporting import Reporter
from tests.support import DistSpec, IndexServer, build_all, installed, make_venv, pip_run
from tests.support.piputil import clean_pip_env
from tests.support.s3server import S3Server, StaticFront, why_not_available

UNIVERSE = [
    DistSpec("webby", "1.0", requires=("helper>=2",)),
    DistSpec("oldie", "1.0", requires=("helper<2",)),
    DistSpec("helper", "1.0"),
    DistSpec("helper", "2.0"),
]
NEEDS_S3 = pytest.mark.skipif(why_not_available() is not None, reason=str(why_not_available()))


@dataclass(frozen=True)
class Bundles:
    webby: Path  # webby 1.0, helper 2.0
    oldie: Path  # oldie 1.0, helper 1.0


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    base = tmp_path_factory.mktemp("s3-bundles")
    build_all(UNIVERSE, base / "dists")
    with IndexServer(base / "dists") as index:
        for name in ("webby", "oldie"):
            (base / f"{name}.in").write_text(f"{name}\n")
            argv = ["build", str(base / f"{name}.in"), "-o", str(base / name), "-i", index.url]
            assert run([*argv, "--no-install", "--quiet"]) == 0
    return Bundles(base / "webby", base / "oldie")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    reason = why_not_available()
    if reason is not None:
        pytest.skip(reason)
    with S3Server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def publish_files(bundle: Path) -> list[PublishFile]:
    manifest = manifest_from_json((bundle / "bundle.json").read_bytes(), "bundle.json")
    files = []
    for a in manifest.artifacts:
        sidecar = bundle / "files" / (a.filename + ".metadata")
        files.append(
            PublishFile(a, bundle / "files" / a.filename, sidecar if a.metadata_sha256 else None)
        )
    return files


class Recorder(Reporter):
    def __init__(self) -> None:
        self.retries: list[tuple[str, str, int]] = []
        self.done: list[str] = []
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def retry(self, host: str, problem: str, delay: float, attempt: int, limit: int) -> None:
        self.retries.append((host, problem, attempt))

    def task_done(self, key: str, ok: bool = True) -> None:
        self.done.append(key)


def publish(dest: S3Destination, bundle: Path, reporter: Reporter | None = None) -> list[str]:
    """What the publisher does with a destination: skip what it holds, put
    the rest; returns the filenames put."""
    files = publish_files(bundle)
    held = dest.held(sorted({f.artifact.project for f in files}))
    for f in files:
        if f.artifact.filename in held:
            assert held[f.artifact.filename].sha256 == f.artifact.sha256
    todo = [f for f in files if f.artifact.filename not in held]
    dest.put(todo, reporter or Reporter())
    return [f.artifact.filename for f in todo]


def count_puts(server: S3Server) -> tuple[Any, list[str]]:
    """A client that records the key of every PutObject it sends."""
    client = server.client()
    keys: list[str] = []

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        keys.append(params["Key"])

    client.meta.events.register("before-parameter-build.s3.PutObject", record)
    return client, keys


def destination(server: S3Server, prefix: str, **kwargs: Any) -> S3Destination:
    kwargs.setdefault("client", server.client())
    return S3Destination(f"s3://{server.bucket}/{prefix}", **kwargs)


def read(server: S3Server, key: str) -> tuple[bytes, str]:
    got = server.client().get_object(Bucket=server.bucket, Key=key)
    return got["Body"].read(), got["ContentType"]


def listed(server: S3Server, prefix: str, project: str) -> set[str]:
    body, _ = read(server, f"{prefix}simple/{project}/index.json")
    json_names = {f["filename"] for f in json.loads(body)["files"]}
    html, _ = read(server, f"{prefix}simple/{project}/index.html")
    assert all(name.encode() in html for name in json_names)
    return json_names


def _env() -> dict[str, str]:
    return {k: v for k, v in clean_pip_env().items() if not k.lower().endswith("_proxy")}


# --- against the server ---------------------------------------------------------------


@pytest.mark.slow
def test_two_bundles_published_and_installed_by_pip(
    s3: S3Server, bundles: Bundles, tmp_path: Path
) -> None:
    dest = destination(s3, "two")
    publish(dest, bundles.webby)
    publish(dest, bundles.oldie)

    assert listed(s3, "two/", "helper") == {
        "helper-1.0-py3-none-any.whl",
        "helper-2.0-py3-none-any.whl",
    }
    root, root_type = read(s3, "two/simple/index.html")
    assert root_type.startswith("text/html")
    assert all(f'href="{p}/"'.encode() in root for p in ("helper", "oldie", "webby"))
    _, json_type = read(s3, "two/simple/helper/index.json")
    assert json_type == "application/vnd.pypi.simple.v1+json"
    _, file_type = read(s3, "two/files/helper-2.0-py3-none-any.whl")
    assert file_type == "application/octet-stream"
    head = s3.client().head_object(Bucket=s3.bucket, Key="two/files/helper-2.0-py3-none-any.whl")
    wanted = {f.artifact.filename: f.artifact.sha256 for f in publish_files(bundles.webby)}
    assert head["Metadata"]["sha256"] == wanted["helper-2.0-py3-none-any.whl"]

    with StaticFront(f"{s3.endpoint_url}/{s3.bucket}/two") as front:
        for bundle, expected in (
            (bundles.webby, {"webby": "1.0", "helper": "2.0"}),
            (bundles.oldie, {"oldie": "1.0", "helper": "1.0"}),
        ):
            python = make_venv(tmp_path / bundle.name)
            lock = str(bundle / "requirements.txt")
            pip_run(
                ["install", "--index-url", front.index_url, "-r", lock], python=python, env=_env()
            )
            assert installed(python) == expected


@NEEDS_S3
def test_concurrent_publishers_both_end_up_listed(s3: S3Server, bundles: Bundles) -> None:
    first, second = destination(s3, "race"), destination(s3, "race")
    # Both read the (empty) destination before either writes: each one's
    # first write of the shared pages is on a stale read.
    plans = []
    for dest, bundle in ((first, bundles.webby), (second, bundles.oldie)):
        files = publish_files(bundle)
        assert dest.held(sorted({f.artifact.project for f in files})) == {}
        plans.append((dest, files))
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def go(dest: S3Destination, files: list[PublishFile]) -> None:
        barrier.wait()
        try:
            dest.put(files, Reporter())
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=go, args=plan) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert listed(s3, "race/", "helper") == {
        "helper-1.0-py3-none-any.whl",
        "helper-2.0-py3-none-any.whl",
    }
    body, _ = read(s3, "race/simple/index.json")
    assert root_projects(body, "root") == {"helper", "oldie", "webby"}
    html, _ = read(s3, "race/simple/index.html")
    assert root_projects(html, "root") == {"helper", "oldie", "webby"}


@NEEDS_S3
def test_a_republish_uploads_nothing(s3: S3Server, bundles: Bundles) -> None:
    publish(destination(s3, "again"), bundles.webby)
    client, keys = count_puts(s3)
    assert publish(destination(s3, "again", client=client), bundles.webby) == []
    assert keys == []
    # Even handed the files again, the destination writes no bytes over them
    # and rewrites no page that already lists them.
    destination(s3, "again", client=client).put(publish_files(bundles.webby), Reporter())
    assert all("/files/" in key for key in keys)
    assert listed(s3, "again/", "webby") == {"webby-1.0-py3-none-any.whl"}


@NEEDS_S3
def test_other_bytes_under_a_published_name_are_refused(s3: S3Server, bundles: Bundles) -> None:
    files = publish_files(bundles.webby)
    helper = next(f for f in files if f.artifact.project == "helper")
    client = s3.client()
    key = f"clash/files/{helper.artifact.filename}"
    client.put_object(Bucket=s3.bucket, Key=key, Body=b"other bytes")
    with pytest.raises(ConflictingFile) as caught:
        destination(s3, "clash").put(files, Reporter())
    assert helper.artifact.filename in str(caught.value)
    assert read(s3, key)[0] == b"other bytes"
    # Files come before pages: no page was written.
    assert client.list_objects_v2(Bucket=s3.bucket, Prefix="clash/simple/")["KeyCount"] == 0


@NEEDS_S3
def test_network_errors_are_retried_and_reported(s3: S3Server, bundles: Bundles) -> None:
    import botocore.exceptions

    client = s3.client()
    dropped: list[str] = []

    def drop(request: Any, **kwargs: Any) -> None:
        if len(dropped) < 2:
            dropped.append(request.url)
            raise botocore.exceptions.ConnectionClosedError(endpoint_url=request.url)

    client.meta.events.register("before-send.s3.PutObject", drop)
    reporter = Recorder()
    dest = destination(s3, "flaky", client=client, backoff=0.01)
    publish(dest, bundles.webby, reporter)
    assert len(dropped) == 2
    assert [problem for _, problem, _ in reporter.retries] == ["ConnectionClosedError"] * 2
    assert all(host == f"127.0.0.1:{s3.port}" for host, _, _ in reporter.retries)
    assert listed(s3, "flaky/", "webby") == {"webby-1.0-py3-none-any.whl"}


@NEEDS_S3
def test_endpoint_and_credentials_from_the_environment(
    s3: S3Server, bundles: Bundles, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3.environ().items():
        monkeypatch.setenv(name, value)
    dest = S3Destination(f"s3://{s3.bucket}/env")
    assert s3.endpoint_url in dest.describe()
    publish(dest, bundles.webby)
    assert listed(s3, "env/", "webby") == {"webby-1.0-py3-none-any.whl"}


@NEEDS_S3
def test_no_credentials_is_a_usage_error(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    dest = S3Destination(f"s3://{s3.bucket}/nocreds", endpoint_url=s3.endpoint_url)
    with pytest.raises(UsageError, match="no AWS credentials"):
        dest.held(["webby"])


# --- without a server -----------------------------------------------------------------


def _artifact(filename: str, sha: str = "a" * 64, **kw: Any) -> BundleArtifact:
    return BundleArtifact(
        filename=filename,
        project=NormalizedName("helper"),
        version=filename.split("-")[1].removesuffix(".tar.gz"),
        sha256=sha,
        size=123,
        kind=DistKind.WHEEL if filename.endswith(".whl") else DistKind.SDIST,
        **kw,
    )


def test_pages_read_back_render_the_same() -> None:
    project = NormalizedName("helper")
    items = [
        _artifact("helper-1.0-py3-none-any.whl", metadata_sha256="b" * 64, yanked="bad"),
        _artifact("helper-2.0.tar.gz", "c" * 64, requires_python=">=3.9"),
        _artifact("helper-2.0-py3-none-any.whl", upload_time="2026-01-02T03:04:05.000000Z"),
    ]
    page = "https://s3.example/b/simple/helper/index.json"
    for render, content_type in (
        (render_project_json, "application/vnd.pypi.simple.v1+json"),
        (render_project_html, "text/html"),
    ):
        body = render(project, items)
        assert render(project, page_artifacts(body, content_type, page, project)) == body


def test_merge_keeps_listed_entries_and_refuses_other_bytes() -> None:
    held = [_artifact("helper-1.0-py3-none-any.whl", yanked="")]
    new = [_artifact("helper-1.0-py3-none-any.whl"), _artifact("helper-2.0.tar.gz")]
    merged = merge_artifacts(held, new, "page")
    assert [a.filename for a in merged] == ["helper-1.0-py3-none-any.whl", "helper-2.0.tar.gz"]
    assert merged[0].yanked == ""  # the published yanked flag stays
    with pytest.raises(ConflictingFile, match=r"helper-1\.0-py3-none-any\.whl"):
        merge_artifacts(held, [replace(new[0], sha256="f" * 64)], "page")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://bucket/x", "not an s3:// URL"),
        ("s3://", "not an S3 bucket name"),
        ("s3://Bad_Bucket/x", "not an S3 bucket name"),
        ("s3://bucket/a/../b", "'.' or '..'"),
    ],
)
def test_bad_s3_urls_are_usage_errors(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_s3_url(url)


def test_prefixes_are_normalized() -> None:
    assert parse_s3_url("s3://bucket").prefix == ""
    assert parse_s3_url("s3://bucket/a//b/").prefix == "a/b/"


def test_a_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    dest = S3Destination("s3://bucket/x", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(BundlerError) as caught:
        dest.held(["webby"])
    assert caught.value.exit_code == 2
    assert INSTALL_HINT in str(caught.value)


def test_boto3_is_imported_only_when_used() -> None:
    code = (
        "import sys, bundler.publish.s3, bundler.cli.main\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _Answer:
    """What botocore needs of an HTTP response a hook answers with."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""


@NEEDS_S3
def test_a_server_without_conditional_writes_is_written_and_read_back(
    s3: S3Server, bundles: Bundles
) -> None:
    client = s3.client()
    refused: list[str] = []

    def no_conditions(params: dict[str, Any], **kwargs: Any) -> Any:
        headers = params.get("headers", {})
        if "If-Match" in headers or "If-None-Match" in headers:
            refused.append(params["url_path"])
            error = {"Code": "NotImplemented", "Message": "conditional writes"}
            return _Answer(501), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 501}}
        return None

    client.meta.events.register("before-call.s3.PutObject", no_conditions)
    reporter = Recorder()
    publish(destination(s3, "plain", client=client), bundles.webby, reporter)
    publish(destination(s3, "plain", client=client), bundles.oldie, reporter)
    assert refused  # then each destination writes without conditions, and says so once
    assert len(reporter.warnings) == 2
    assert "does not support conditional writes" in reporter.warnings[0]
    assert listed(s3, "plain/", "helper") == {
        "helper-1.0-py3-none-any.whl",
        "helper-2.0-py3-none-any.whl",
    }
    # Bytes are still never replaced: the object is looked at first.
    helper = next(f for f in publish_files(bundles.webby) if f.artifact.project == "helper")
    other = replace(helper.artifact, sha256="0" * 64)
    with pytest.raises(ConflictingFile):
        destination(s3, "plain", client=client).put([replace(helper, artifact=other)], Reporter())


def test_an_unknown_aws_profile_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    dest = S3Destination("s3://bucket/x", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(UsageError, match="no-such-profile"):
        dest.held(["webby"])


@NEEDS_S3
def test_an_unreadable_bundle_file_is_named(s3: S3Server, bundles: Bundles, tmp_path: Path) -> None:
    files = publish_files(bundles.webby)
    gone = replace(files[0], path=tmp_path / files[0].artifact.filename)
    with pytest.raises(BundlerError, match="cannot read .*" + files[0].artifact.filename):
        destination(s3, "unreadable").put([gone], Reporter())


def _keys(server: S3Server, prefix: str) -> dict[str, bytes]:
    client = server.client()
    found = client.list_objects_v2(Bucket=server.bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: read(server, o["Key"])[0] for o in found}


@pytest.mark.parametrize("page", ["simple/index.json", "simple/webby/index.html"])
def test_a_page_that_failed_is_written_by_the_next_publish(
    s3: S3Server, bundles: Bundles, page: str
) -> None:
    # Every PUT of one page fails (the files and the other pages are
    # written); the next publish finds its files listed on one page only,
    # or not under the root, and writes the pages again: nothing is left
    # unlisted for good.
    import botocore.exceptions

    prefix = f"pagefail{len(page)}/"
    client = s3.client()

    def refuse(request: Any, **kwargs: Any) -> None:
        if request.url.split("?")[0].endswith(f"/{prefix}{page}"):
            raise botocore.exceptions.ConnectionClosedError(endpoint_url=request.url)

    client.meta.events.register("before-send.s3.PutObject", refuse)
    failing = destination(s3, prefix, client=client, backoff=0.0, attempts=1)
    with pytest.raises(BundlerError):
        publish(failing, bundles.webby)
    assert f"{prefix}{page}" not in _keys(s3, prefix)
    again = publish(destination(s3, prefix), bundles.webby)
    assert again  # not "everything is already there"
    assert listed(s3, prefix, "webby") == {"webby-1.0-py3-none-any.whl"}
    for root in ("simple/index.json", "simple/index.html"):
        assert b"webby" in read(s3, f"{prefix}{root}")[0]
    assert publish(destination(s3, prefix), bundles.webby) == []


def test_a_file_that_changes_while_it_is_sent_is_removed_and_not_listed(
    s3: S3Server, bundles: Bundles, tmp_path: Path
) -> None:
    # The wheel is rewritten (same size, other bytes) just before its PUT is
    # sent: what was sent is not the bundle's file, so the object goes and
    # no page is written; the same file, restored, publishes cleanly.
    import shutil

    bundle = tmp_path / "webby"
    shutil.copytree(bundles.webby, bundle)
    wheel = bundle / "files" / "webby-1.0-py3-none-any.whl"
    original = wheel.read_bytes()
    client = s3.client()
    changed: list[str] = []

    def change(params: dict[str, Any], **kwargs: Any) -> None:
        if params["Key"].endswith(wheel.name) and not changed:
            changed.append(params["Key"])
            wheel.write_bytes(b"X" * len(original))

    client.meta.events.register("before-parameter-build.s3.PutObject", change)
    with pytest.raises(BundlerError, match="changed while it was published"):
        publish(destination(s3, "midway/", client=client), bundle)
    assert changed
    left = _keys(s3, "midway/")
    assert f"midway/files/{wheel.name}" not in left
    assert not any("/simple/" in key for key in left)
    wheel.write_bytes(original)
    publish(destination(s3, "midway/"), bundle)
    assert read(s3, f"midway/files/{wheel.name}")[0] == original
