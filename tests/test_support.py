"""The test toolkit itself: its distributions are real, its index is what
pip expects, its faults happen."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import io
import os
import re
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests
from packaging.metadata import Metadata
from packaging.tags import Tag
from packaging.utils import parse_sdist_filename, parse_wheel_filename

from bundler.spec.filenames import parse_filename
from tests.support import DistFactory, IndexServerFactory
from tests.support.distbuilder import (
    BACKEND_MODULE,
    DistSpec,
    build_all,
    build_sdist,
    build_wheel,
    filenames,
    packse_specs,
    read_wheel_metadata,
    write_metadata_sidecar,
    yanked_files,
)
from tests.support.indexserver import (
    HTML_V1,
    JSON_V1,
    IndexConfig,
    IndexServer,
    Reply,
    negotiate,
    too_many_requests,
    truncated,
    unavailable,
    write_static_index,
)
from tests.support.piputil import clean_pip_env, installed, make_venv, pip_run

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
# The copy kept with the conformance runner (astral-sh/packse, MIT/Apache-2.0).
SCENARIOS = Path(__file__).resolve().parent / "conformance" / "packse" / "scenarios"

# A small graph exercising extras, markers, yanks, Requires-Python and an
# sdist-only dependency built by the in-tree backend.
GRAPH = [
    DistSpec("app", "1.0", requires=("lib-one>=1", "Lib.Two[fancy]")),
    DistSpec("lib-one", "1.0"),
    DistSpec("lib-one", "2.0", yanked="broken"),
    DistSpec("lib-one", "3.0", requires_python="<3"),
    DistSpec(
        "Lib.Two",
        "1.0",
        extras={"fancy": ("lib-three; python_version >= '3'",)},
        requires_python=">=3.8",
    ),
    DistSpec("lib-three", "1.0", wheel=False, dynamic_metadata=True),
]
GRAPH_INSTALLED = {"app": "1.0", "lib-one": "1.0", "lib-two": "1.0", "lib-three": "1.0"}


def _record_rows(archive: zipfile.ZipFile) -> list[list[str]]:
    record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
    return list(csv.reader(io.StringIO(archive.read(record).decode())))


# -- distributions -------------------------------------------------------


def test_wheel_is_a_valid_archive_with_verified_record(tmp_path: Path) -> None:
    spec = DistSpec(
        "Foo.Bar",
        "1.0.0",
        requires=("requests>=2; python_version >= '3.8'",),
        extras={"cli": ("rich", "click; os_name == 'posix'")},
        requires_python=">=3.9",
    )
    path = build_wheel(spec, "py2.py3-none-any", tmp_path)
    assert path.name == "foo_bar-1.0.0-py2.py3-none-any.whl"
    name, version, _, tags = parse_wheel_filename(path.name)
    assert (name, str(version)) == ("foo-bar", "1.0.0")
    assert tags == {Tag("py2", "none", "any"), Tag("py3", "none", "any")}

    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        rows = _record_rows(archive)
        listed = {row[0] for row in rows}
        assert listed == set(archive.namelist())
        for filename, digest, size in rows:
            if filename.endswith("RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = archive.read(filename)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()
            assert int(size) == len(data)
        wheel_text = archive.read("foo_bar-1.0.0.dist-info/WHEEL").decode()
        module = archive.read("foo_bar/__init__.py").decode()
    assert "Tag: py2-none-any\nTag: py3-none-any\n" in wheel_text
    assert "Root-Is-Purelib: true" in wheel_text
    assert '__version__ = "1.0.0"' in module

    meta = Metadata.from_email(read_wheel_metadata(path), validate=True)
    assert meta.name == "Foo.Bar"
    assert str(meta.requires_python) == ">=3.9"
    assert meta.provides_extra == ["cli"]
    assert {str(r) for r in meta.requires_dist or []} == {
        'requests>=2; python_version >= "3.8"',
        'rich; extra == "cli"',
        'click; os_name == "posix" and extra == "cli"',
    }


def test_platform_wheel_is_not_purelib(tmp_path: Path) -> None:
    tag = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
    path = build_wheel(DistSpec("native", "2.0"), tag, tmp_path)
    assert len(parse_wheel_filename(path.name)[3]) == 2
    with zipfile.ZipFile(path) as archive:
        wheel_text = archive.read("native-2.0.dist-info/WHEEL").decode()
    assert "Root-Is-Purelib: false" in wheel_text
    assert "Tag: cp311-cp311-manylinux2014_x86_64" in wheel_text


def test_builds_are_byte_for_byte_reproducible(tmp_path: Path) -> None:
    specs = [DistSpec("a", "1.0", requires=("b",)), DistSpec("b", "2.0", build_requires=("x",))]
    first = build_all(specs, tmp_path / "one")
    time.sleep(0.01)
    second = build_all(specs, tmp_path / "two")
    assert [p.name for p in first] == [p.name for p in second]
    assert len(first) == 4
    for left, right in zip(first, second, strict=True):
        assert left.read_bytes() == right.read_bytes()


def test_sdist_is_pep_625_with_static_metadata(tmp_path: Path) -> None:
    spec = DistSpec("Foo.Bar", "1.0", requires=("b>=1",), build_requires=("buildtool>=2",))
    path = build_sdist(spec, tmp_path)
    assert path.name == "foo_bar-1.0.tar.gz"
    name, version = parse_sdist_filename(path.name)
    assert (name, str(version)) == ("foo-bar", "1.0")
    with tarfile.open(path) as archive:
        assert {n.split("/")[0] for n in archive.getnames()} == {"foo_bar-1.0"}
        pkg_info = _read_member(archive, "foo_bar-1.0/PKG-INFO")
        pyproject = _read_member(archive, "foo_bar-1.0/pyproject.toml")
    meta = Metadata.from_email(pkg_info, validate=True)
    assert meta.metadata_version == "2.2"
    assert not meta.dynamic
    assert [str(r) for r in meta.requires_dist or []] == ["b>=1"]
    assert 'requires = ["buildtool>=2"]' in pyproject.decode()
    assert f'build-backend = "{BACKEND_MODULE}"' in pyproject.decode()


@pytest.mark.parametrize(("version", "dynamic"), [("2.2", ["requires-dist"]), ("2.1", None)])
def test_sdist_dynamic_metadata(tmp_path: Path, version: str, dynamic: list[str] | None) -> None:
    spec = DistSpec(
        "dyn", "1.0", requires=("b",), dynamic_metadata=True, sdist_metadata_version=version
    )
    with tarfile.open(build_sdist(spec, tmp_path)) as archive:
        meta = Metadata.from_email(_read_member(archive, "dyn-1.0/PKG-INFO"), validate=False)
    assert meta.metadata_version == version
    assert meta.dynamic == dynamic
    assert meta.requires_dist is None


def _read_member(archive: tarfile.TarFile, name: str) -> bytes:
    fh = archive.extractfile(name)
    assert fh is not None
    return fh.read()


def test_in_tree_backend_rebuilds_identical_archives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = DistSpec("Foo.Bar", "1.0", requires=("b",), extras={"x": ("c",)}, dynamic_metadata=True)
    sdist = build_sdist(spec, tmp_path / "dist")
    wheel = build_wheel(spec, "py3-none-any", tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "src", filter="data")
    tree = tmp_path / "src" / "foo_bar-1.0"
    module_spec = importlib.util.spec_from_file_location(
        "backend_under_test", tree / "_backend" / f"{BACKEND_MODULE}.py"
    )
    assert module_spec is not None and module_spec.loader is not None
    backend: Any = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(backend)
    monkeypatch.chdir(tree)

    assert backend.get_requires_for_build_wheel() == []
    assert backend.get_requires_for_build_sdist() == []
    dist_info = backend.prepare_metadata_for_build_wheel(str(tmp_path / "meta"))
    assert dist_info == "foo_bar-1.0.dist-info"
    meta_file = tmp_path / "meta" / dist_info / "METADATA"
    assert meta_file.read_bytes() == read_wheel_metadata(wheel)

    (tmp_path / "out").mkdir()  # PEP 517: the frontend creates the directory

    built_wheel = backend.build_wheel(str(tmp_path / "out"))
    built_sdist = backend.build_sdist(str(tmp_path / "out"))
    assert (tmp_path / "out" / built_wheel).read_bytes() == wheel.read_bytes()
    assert (tmp_path / "out" / built_sdist).read_bytes() == sdist.read_bytes()


def test_metadata_sidecar_is_the_wheels_metadata(tmp_path: Path) -> None:
    wheel = build_wheel(DistSpec("a", "1.0", requires=("b",)), "py3-none-any", tmp_path)
    sidecar = write_metadata_sidecar(wheel)
    assert sidecar.name == "a-1.0-py3-none-any.whl.metadata"
    with zipfile.ZipFile(wheel) as archive:
        assert sidecar.read_bytes() == archive.read("a-1.0.dist-info/METADATA")


def test_duplicate_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"a-1\.0\.tar\.gz"):
        build_all([DistSpec("a", "1.0"), DistSpec("A", "1.0", wheel=False)], tmp_path)


def test_every_packse_scenario_builds(tmp_path: Path) -> None:
    tomllib: Any = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    count = 0
    for number, path in enumerate(sorted(SCENARIOS.rglob("*.toml"))):
        specs = packse_specs(tomllib.loads(path.read_text("utf-8")))
        built = build_all(specs, tmp_path / str(number))
        assert sorted(p.name for p in built) == sorted(f for s in specs for f in filenames(s))
        for file in built:
            assert parse_filename(file.name) is not None, file.name
            if file.name.endswith(".whl"):
                Metadata.from_email(read_wheel_metadata(file), validate=True)
        count += 1
    assert count > 100
    yanked = tomllib.loads((SCENARIOS / "yanked" / "package-only-yanked.toml").read_text())
    assert [s.yanked for s in packse_specs(yanked)] == [""]
    no_wheels = tomllib.loads((SCENARIOS / "wheels" / "no-wheels.toml").read_text())
    assert [(s.wheel, s.sdist) for s in packse_specs(no_wheels)] == [(False, True)]


# -- index server --------------------------------------------------------


def test_negotiation_follows_q_values() -> None:
    assert negotiate(PIP_ACCEPT, offer_json=True) == JSON_V1
    assert negotiate(PIP_ACCEPT, offer_json=False) == HTML_V1
    assert negotiate("text/html", offer_json=True) == "text/html"
    assert negotiate(None, offer_json=True) == "text/html"
    assert negotiate("*/*", offer_json=True) == "text/html"
    assert negotiate("application/vnd.pypi.simple.latest+json", offer_json=True) == JSON_V1
    assert negotiate(f"{JSON_V1}; q=0.2, {HTML_V1}; q=0.5", offer_json=True) == HTML_V1
    assert negotiate(f"{JSON_V1}, text/*; q=0", offer_json=True) == JSON_V1
    assert negotiate("application/json", offer_json=True) is None
    assert negotiate(JSON_V1, offer_json=False) is None


def test_json_project_page(index_server: IndexServerFactory) -> None:
    server = index_server(GRAPH)
    with requests.Session() as http:
        reply = http.get(server.url + "lib-one/", headers={"Accept": PIP_ACCEPT})
        assert reply.status_code == 200
        assert reply.headers["Content-Type"] == JSON_V1
        page = reply.json()
        assert page["meta"] == {"api-version": "1.1"}
        assert page["name"] == "lib-one"
        assert page["versions"] == ["1.0", "2.0", "3.0"]
        files = {f["filename"]: f for f in page["files"]}
        assert set(files) == {f for s in GRAPH if s.name == "lib-one" for f in filenames(s)}
        for filename, entry in files.items():
            data = (server.files_dir / filename).read_bytes()
            assert entry["hashes"] == {"sha256": hashlib.sha256(data).hexdigest()}
            assert entry["size"] == len(data)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entry["upload-time"])
            assert "dist-info-metadata" not in entry
            file_reply = http.get(requests.compat.urljoin(reply.url, entry["url"]))
            assert file_reply.content == data
        wheel = files["lib_one-1.0-py3-none-any.whl"]
        assert wheel["yanked"] is False
        assert "requires-python" not in wheel
        metadata = http.get(server.file_url("lib_one-1.0-py3-none-any.whl.metadata"))
        assert metadata.status_code == 200
        assert wheel["core-metadata"] == {"sha256": hashlib.sha256(metadata.content).hexdigest()}
        assert "core-metadata" not in files["lib_one-1.0.tar.gz"]
        assert files["lib_one-2.0-py3-none-any.whl"]["yanked"] == "broken"
        assert files["lib_one-3.0.tar.gz"]["requires-python"] == "<3"

        root = http.get(server.url, headers={"Accept": JSON_V1}).json()
        assert [p["name"] for p in root["projects"]] == sorted(GRAPH_INSTALLED)


def test_html_project_page(index_server: IndexServerFactory) -> None:
    server = index_server(GRAPH, json=False)
    with requests.Session() as http:
        reply = http.get(server.url + "lib-one/", headers={"Accept": PIP_ACCEPT})
    assert reply.headers["Content-Type"] == HTML_V1
    text = reply.text
    assert '<meta name="pypi:repository-version" content="1.1">' in text
    wheel = server.files_dir / "lib_one-1.0-py3-none-any.whl"
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert f'href="../../files/{wheel.name}#sha256={digest}"' in text
    assert 'data-requires-python="&lt;3"' in text
    assert re.search(r'data-yanked="broken"[^>]*>lib_one-2\.0-py3-none-any\.whl</a>', text)
    metadata_digest = hashlib.sha256(read_wheel_metadata(wheel)).hexdigest()
    assert f'data-core-metadata="sha256={metadata_digest}"' in text


def test_non_normalized_names_redirect(index_server: IndexServerFactory) -> None:
    server = index_server(GRAPH)
    with requests.Session() as http:
        for path in ("Lib.Two/", "lib_two/", "lib-two"):
            reply = http.get(server.url + path, allow_redirects=False)
            assert reply.status_code == 301, path
            assert reply.headers["Location"] == "/simple/lib-two/"
        assert http.get(server.url + "Lib_Two/").url == server.url + "lib-two/"
        assert http.get(server.url + "nothing-here/").status_code == 404


def test_files_support_head_and_ranges(index_server: IndexServerFactory) -> None:
    server = index_server([DistSpec("a", "1.0")])
    data = (server.files_dir / "a-1.0.tar.gz").read_bytes()
    url = server.file_url("a-1.0.tar.gz")
    with requests.Session() as http:
        head = http.head(url)
        assert head.status_code == 200
        assert int(head.headers["Content-Length"]) == len(data)
        assert head.headers["Accept-Ranges"] == "bytes"
        assert head.content == b""

        part = http.get(url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        assert part.content == data[10:20]

        tail = http.get(url, headers={"Range": "bytes=-7"})
        assert (tail.status_code, tail.content) == (206, data[-7:])

        rest = http.get(url, headers={"Range": "bytes=100-", "If-Range": head.headers["ETag"]})
        assert (rest.status_code, rest.content) == (206, data[100:])

        stale = http.get(url, headers={"Range": "bytes=100-", "If-Range": '"other"'})
        assert (stale.status_code, stale.content) == (200, data)

        beyond = http.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert beyond.status_code == 416

        server.config.ranges = False
        ignored = http.get(url, headers={"Range": "bytes=10-19"})
        assert (ignored.status_code, ignored.content) == (200, data)


def test_unsafe_file_names_are_not_served(index_server: IndexServerFactory, tmp_path: Path) -> None:
    server = index_server([DistSpec("a", "1.0")])
    (server.files_dir.parent / "secret.txt").write_text("secret")
    with requests.Session() as http:
        for path in ("%2e%2e%2fsecret.txt", "..%2Fsecret.txt", "%2Fetc%2Fpasswd"):
            assert http.get(f"{server.root_url}/files/{path}").status_code == 404


def test_faults_are_served_in_order_before_the_real_file(
    index_server: IndexServerFactory,
) -> None:
    server = index_server([DistSpec("a", "1.0")])
    path = server.file_path("a-1.0-py3-none-any.whl")
    server.add_faults(path, too_many_requests(1), unavailable())
    with requests.Session() as http:
        first = http.get(server.file_url("a-1.0-py3-none-any.whl"))
        assert (first.status_code, first.headers["Retry-After"]) == (429, "1")
        assert http.get(server.file_url("a-1.0-py3-none-any.whl")).status_code == 503
        last = http.get(server.file_url("a-1.0-py3-none-any.whl"))
        assert last.status_code == 200
        assert last.content == (server.files_dir / "a-1.0-py3-none-any.whl").read_bytes()
    assert server.hits(path) == 3


def test_truncated_download_drops_the_connection(index_server: IndexServerFactory) -> None:
    server = index_server([DistSpec("a", "1.0")])
    name = "a-1.0-py3-none-any.whl"
    data = (server.files_dir / name).read_bytes()
    server.add_faults(server.file_path(name), truncated(100))
    with requests.Session() as http:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            http.get(server.file_url(name))
        # A client resuming from what it got receives the rest.
        rest = http.get(server.file_url(name), headers={"Range": "bytes=100-"})
    assert data[:100] + rest.content == data


def test_persistent_override_and_wrong_hash(index_server: IndexServerFactory) -> None:
    server = index_server([DistSpec("a", "1.0")], wrong_hash={"a-1.0.tar.gz"})
    server.config.overrides["/simple/b/"] = Reply(200, {"Content-Type": "text/html"}, b"junk")
    with requests.Session() as http:
        page = http.get(server.url + "a/", headers={"Accept": JSON_V1}).json()
        for _ in range(2):
            assert http.get(server.url + "b/").content == b"junk"
    hashes = {f["filename"]: f["hashes"]["sha256"] for f in page["files"]}
    for filename, digest in hashes.items():
        real = hashlib.sha256((server.files_dir / filename).read_bytes()).hexdigest()
        assert (digest == real) is (filename != "a-1.0.tar.gz")


def test_metadata_advertising_and_serving_are_separate(
    index_server: IndexServerFactory,
) -> None:
    server = index_server([DistSpec("a", "1.0")], advertise_metadata=False)
    sidecar = server.file_url("a-1.0-py3-none-any.whl.metadata")
    with requests.Session() as http:
        page = http.get(server.url + "a/", headers={"Accept": JSON_V1}).json()
        assert all("core-metadata" not in f for f in page["files"])
        assert http.get(sidecar).status_code == 200
        server.config.serve_metadata = False
        assert http.get(sidecar).status_code == 404
        assert http.get(server.file_url("a-1.0.tar.gz.metadata")).status_code == 404


def test_basic_auth_is_required(index_server: IndexServerFactory) -> None:
    server = index_server([DistSpec("a", "1.0")], auth=("user", "s3cret"))
    with requests.Session() as http:
        denied = http.get(server.url)
        assert denied.status_code == 401
        assert denied.headers["WWW-Authenticate"].startswith("Basic")
        assert http.get(server.url, auth=("user", "wrong")).status_code == 401
        assert http.get(server.url, auth=("user", "s3cret")).status_code == 200
        assert http.get(server.url_with_auth()).status_code == 200
    assert server.log[-1].headers["authorization"].startswith("Basic ")


def test_server_stops_promptly_with_idle_connections(dist_factory: DistFactory) -> None:
    files_dir = dist_factory([DistSpec("a", "1.0")])
    http = requests.Session()
    try:
        with IndexServer(files_dir, IndexConfig()) as server:
            port = server.port
            assert http.get(server.url).status_code == 200  # keeps the connection open
            started = time.monotonic()
        assert time.monotonic() - started < 2
    finally:
        http.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_new_files_appear_while_running(index_server: IndexServerFactory) -> None:
    server = index_server([DistSpec("a", "1.0")])
    build_wheel(DistSpec("a", "2.0"), "py3-none-any", server.files_dir)
    with requests.Session() as http:
        page = http.get(server.url + "a/", headers={"Accept": JSON_V1}).json()
    assert page["versions"] == ["1.0", "2.0"]


def test_static_index_pages(dist_factory: DistFactory, tmp_path: Path) -> None:
    files_dir = dist_factory(GRAPH)
    write_metadata_sidecar(files_dir / "app-1.0-py3-none-any.whl")
    simple = write_static_index(files_dir, tmp_path / "simple", yanked={"app-1.0.tar.gz": ""})
    assert sorted(p.name for p in simple.iterdir()) == sorted([*GRAPH_INSTALLED, "index.html"])
    page = (simple / "app" / "index.html").read_text()
    for name in ("app-1.0-py3-none-any.whl", "app-1.0.tar.gz"):
        href = re.search(rf'href="([^"#]+)#sha256=[0-9a-f]{{64}}"[^>]*>{re.escape(name)}<', page)
        assert href is not None
        assert (simple / "app" / href.group(1)).resolve() == (files_dir / name).resolve()
    assert page.count("data-core-metadata") == 1
    assert 'data-yanked="">app-1.0.tar.gz<' in page


# -- real pip -------------------------------------------------------------


def test_clean_pip_env_hides_machine_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_FIND_LINKS", "/somewhere/else")
    env = clean_pip_env()
    assert {k for k in env if k.startswith("PIP_")} == {
        "PIP_CONFIG_FILE",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PIP_NO_INPUT",
    }
    assert env["PIP_CONFIG_FILE"] == os.devnull
    result = pip_run(["config", "list"])
    assert result.stdout.strip() == ""


def test_pip_run_failure_is_readable(tmp_path: Path) -> None:
    args = ["download", "--no-index", "--dest", str(tmp_path), "no-such-project-here"]
    with pytest.raises(AssertionError) as failure:
        pip_run(args)
    message = str(failure.value)
    assert "no-such-project-here" in message
    assert "--isolated" in message
    assert "exit code 1" in message
    assert pip_run(args, expect_success=False).returncode == 1


@pytest.mark.slow
def test_pip_installs_graph_from_http_index(
    index_server: IndexServerFactory, tmp_path: Path
) -> None:
    server = index_server(GRAPH)
    python = make_venv(tmp_path / "venv")
    assert installed(python) == {}
    pip_run(["install", "--index-url", server.url, "app"], python=python)
    assert installed(python) == GRAPH_INSTALLED
    assert server.log[0].headers["accept"].startswith(JSON_V1)
    # pip used (and hash-checked) the PEP 658 metadata files it was offered.
    assert server.hits(server.file_path("app-1.0-py3-none-any.whl.metadata")) == 1
    # The sdist-only dependency was built from source by the in-tree backend.
    assert server.hits(server.file_path("lib_three-1.0.tar.gz")) == 1
    skipped = [f for f in os.listdir(server.files_dir) if f.startswith(("lib_one-2", "lib_one-3"))]
    assert skipped
    assert all(server.hits(server.file_path(f)) == 0 for f in skipped)


@pytest.mark.slow
def test_pip_installs_from_static_file_index(dist_factory: DistFactory, tmp_path: Path) -> None:
    files_dir = dist_factory(GRAPH)
    simple = write_static_index(files_dir, tmp_path / "simple", yanked=yanked_files(GRAPH))
    python = make_venv(tmp_path / "venv")
    pip_run(["install", "--index-url", simple.as_uri() + "/", "app"], python=python)
    assert installed(python) == GRAPH_INSTALLED


@pytest.mark.slow
def test_pip_builds_sdist_offline_with_find_links(
    dist_factory: DistFactory, tmp_path: Path
) -> None:
    files_dir = dist_factory(
        [
            DistSpec("needs-build", "1.0", wheel=False, build_requires=("build-dep",)),
            DistSpec("build-dep", "1.0", sdist=False),
        ]
    )
    python = make_venv(tmp_path / "venv")
    pip_run(["install", "--no-index", "--find-links", str(files_dir), "needs-build"], python=python)
    assert installed(python) == {"needs-build": "1.0"}
    imported = subprocess.run(
        [str(python), "-c", "import needs_build; print(needs_build.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "1.0"
    # Without its build requirement at hand the sdist cannot be built.
    (files_dir / "build_dep-1.0-py3-none-any.whl").unlink()
    other = make_venv(tmp_path / "other")
    result = pip_run(
        ["install", "--no-index", "--find-links", str(files_dir), "needs-build"],
        python=other,
        expect_success=False,
    )
    assert "build-dep" in result.stderr + result.stdout


def test_each_test_has_a_private_bundler_cache(tmp_path: Path) -> None:
    cache = Path(os.environ["BUNDLER_CACHE_DIR"])
    assert cache.is_dir()
    assert not any(cache.iterdir())
    home_cache = Path.home() / ".cache"
    assert home_cache not in cache.parents
