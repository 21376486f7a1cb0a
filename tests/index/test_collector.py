"""PackageIndex against a local index on 127.0.0.1: pages, merging, metadata."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.errors import HashMismatch, InvalidDistribution
from bundler.index import collector as collector_module
from bundler.index import metadata as metadata_module
from bundler.index.client import HttpClient
from bundler.index.collector import ACCEPT, PackageIndex
from bundler.index.metadata import MetadataUnavailable
from bundler.models import DistKind, IndexFile, IndexSettings, IndexStrategy
from bundler.reporting import Reporter
from bundler.spec import pages as pages_module
from bundler.spec.pages import InvalidPage, PageListing
from tests.index.test_http import Handler, Server, running_server, send, serve_bytes
from tests.support import DistSpec, IndexServerFactory

FOO: NormalizedName = canonicalize_name("foo")
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


# --- distributions, built in-process ----------------------------------------------------


def metadata_text(name: str, version: str, requires: tuple[str, ...] = ()) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return ("\n".join(lines) + "\n").encode()


def wheel_bytes(
    name: str,
    version: str,
    requires: tuple[str, ...] = (),
    *,
    padding: int = 0,
    metadata_first: bool = False,
) -> bytes:
    """A wheel; ``padding`` adds that many incompressible bytes of payload."""
    dist_info = f"{name}-{version}.dist-info"
    meta = (f"{dist_info}/METADATA", metadata_text(name, version, requires))
    payload = (f"{name}/data.bin", random.Random(1).randbytes(padding))
    entries = [meta, payload] if metadata_first else [payload, meta]
    entries.append((f"{dist_info}/RECORD", b""))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry_name, data in entries:
            zf.writestr(entry_name, data)
    return buf.getvalue()


def sdist_bytes(name: str, version: str, *, dynamic: bool = False) -> bytes:
    text = f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\nRequires-Dist: idna\n"
    if dynamic:
        text += "Dynamic: Requires-Dist\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = text.encode()
        info = tarfile.TarInfo(f"{name}-{version}/PKG-INFO")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- fixtures ------------------------------------------------------------------------------


class Warnings(Reporter):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def warning(self, message: str) -> None:
        self.messages.append(message)


@pytest.fixture
def server() -> Iterator[Server]:
    with running_server() as state:
        yield state


@pytest.fixture
def client(tmp_path: Path) -> Iterator[HttpClient]:
    with HttpClient(cache_dir=tmp_path / "cache", sleep=lambda _: None, max_attempts=2) as c:
        yield c


def make_index(
    server: Server,
    client: HttpClient,
    reporter: Reporter | None = None,
    *,
    extra_index_urls: tuple[str, ...] = (),
    find_links: tuple[str, ...] = (),
) -> PackageIndex:
    settings = IndexSettings(
        server.url("/simple/"),
        extra_index_urls,
        find_links,
        # Several sources listing one project: merged, as pip does.
        index_strategy=IndexStrategy.UNSAFE_BEST_MATCH,
    )
    return PackageIndex(settings, client, reporter or Reporter())


def json_page(files: list[dict[str, object]]) -> bytes:
    return json.dumps({"meta": {"api-version": "1.1"}, "name": "foo", "files": files}).encode()


def add_wheel(
    server: Server,
    data: bytes,
    filename: str,
    *,
    ranges: bool = True,
    sidecar: bytes | None = None,
) -> None:
    server.routes[f"/files/{filename}"] = serve_bytes(data, ranges=ranges)
    if sidecar is not None:
        server.routes[f"/files/{filename}.metadata"] = serve_bytes(sidecar)


def wheel_requests(server: Server, filename: str) -> list[dict[str, str]]:
    return [s.headers for s in server.requests_for(f"/files/{filename}")]


# --- project pages ---------------------------------------------------------------------------


def test_json_page_is_requested_with_pips_accept_header(server: Server, client: HttpClient) -> None:
    wheel = wheel_bytes("foo", "1.0")
    server.routes["/simple/foo/"] = lambda h: send(
        h,
        200,
        json_page(
            [
                {
                    "filename": "foo-1.0-py3-none-any.whl",
                    "url": "../../files/foo-1.0-py3-none-any.whl",
                    "hashes": {"sha256": sha(wheel)},
                    "size": len(wheel),
                }
            ]
        ),
        {"Content-Type": JSON_TYPE},
    )
    with make_index(server, client) as index:
        page = index.get_project(canonicalize_name("Foo"))
    (f,) = page.files
    assert f.url == server.url("/files/foo-1.0-py3-none-any.whl")
    assert f.sha256 == sha(wheel)
    assert f.size == len(wheel)
    assert f.index == server.url("/simple/")
    (seen,) = server.requests_for("/simple/foo/")
    assert seen.headers["accept"] == ACCEPT


def test_sources_are_merged_and_404_means_absent(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    server.routes["/simple/foo/"] = lambda h: send(
        h,
        200,
        b'<html><body><a href="/files/foo-1.0.tar.gz">x</a></body></html>',
        {"Content-Type": "text/html"},
    )
    server.routes["/extra/foo/"] = lambda h: send(
        h,
        200,
        b'<html><a href="foo-2.0.tar.gz#sha256=' + b"c" * 64 + b'">x</a></html>',
        {"Content-Type": "text/html"},
    )
    local = tmp_path / "dists"
    local.mkdir()
    (local / "foo-3.0.tar.gz").write_bytes(b"local sdist")
    (local / "foobar-1.0.tar.gz").write_bytes(b"another project")
    with make_index(
        server,
        client,
        extra_index_urls=(server.url("/extra/"), server.url("/missing/")),
        find_links=(str(local),),
    ) as index:
        page = index.get_project(FOO)
    assert [(str(f.version), f.index) for f in page.files] == [
        ("1.0", server.url("/simple/")),
        ("2.0", server.url("/extra/")),
        ("3.0", str(local)),
    ]
    # Files from a local find-links directory are hashed (a lock needs it).
    assert page.files[2].sha256 == sha(b"local sdist")
    assert page.files[2].size == len(b"local sdist")
    assert len(server.requests_for("/missing/foo/")) == 1


def test_garbage_page_fails(server: Server, client: HttpClient) -> None:
    server.routes["/simple/foo/"] = lambda h: send(h, 200, b"Gateway says hi", {})
    with make_index(server, client) as index, pytest.raises(InvalidPage):
        index.get_project(FOO)


def test_get_project_is_memoized_across_threads(server: Server, client: HttpClient) -> None:
    def slow(h: Handler) -> None:
        time.sleep(0.2)
        send(h, 200, b"<html></html>", {"Content-Type": "text/html"})

    server.routes["/simple/foo/"] = slow
    pages = []
    with make_index(server, client) as index:
        threads = [
            threading.Thread(target=lambda: pages.append(index.get_project(FOO))) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(pages) == 8
    assert len(server.requests_for("/simple/foo/")) == 1


def test_prefetch_warms_pages_without_duplicate_requests(
    server: Server, client: HttpClient
) -> None:
    names = [canonicalize_name(f"p{i}") for i in range(6)]
    for name in names:
        server.routes[f"/simple/{name}/"] = lambda h: send(h, 200, b"<html></html>")
    with make_index(server, client) as index:
        index.prefetch(names)
        for name in names:
            assert index.get_project(name).files == ()
    for name in names:
        assert len(server.requests_for(f"/simple/{name}/")) == 1


def test_file_index_and_find_links_page(server: Server, client: HttpClient, tmp_path: Path) -> None:
    simple = tmp_path / "simple" / "foo"
    simple.mkdir(parents=True)
    (simple / "index.html").write_text('<html><a href="../../files/foo-1.0.tar.gz">x</a></html>')
    server.routes["/links/"] = lambda h: send(
        h, 200, b'<html><a href="foo-4.0.tar.gz">a</a><a href="bar-1.0.tar.gz">b</a></html>'
    )
    settings = IndexSettings(
        index_url=(tmp_path / "simple").as_uri(),
        find_links=(server.url("/links/"),),
        index_strategy=IndexStrategy.UNSAFE_BEST_MATCH,
    )
    with PackageIndex(settings, client) as index:
        page = index.get_project(FOO)
    assert [f.url for f in page.files] == [
        (tmp_path / "files" / "foo-1.0.tar.gz").as_uri(),
        server.url("/links/foo-4.0.tar.gz"),
    ]


# --- metadata ------------------------------------------------------------------------------------

WHEEL = "foo-1.0-py3-none-any.whl"


def wheel_file(
    server: Server, data: bytes, core_metadata: dict[str, str] | None = None
) -> IndexFile:
    return IndexFile(
        filename=WHEEL,
        url=server.url(f"/files/{WHEEL}"),
        project=FOO,
        version=Version("1.0"),
        kind=DistKind.WHEEL,
        hashes={"sha256": sha(data)},
        core_metadata=core_metadata,
    )


def test_metadata_from_advertised_sidecar(server: Server, client: HttpClient) -> None:
    wheel = wheel_bytes("foo", "1.0", ("bar>=1",))
    sidecar = metadata_text("foo", "1.0", ("bar>=1",))
    add_wheel(server, wheel, WHEEL, sidecar=sidecar)
    with make_index(server, client) as index:
        meta = index.get_metadata(wheel_file(server, wheel, core_metadata={"sha256": sha(sidecar)}))
    assert meta.requires_dist == ("bar>=1",)
    assert wheel_requests(server, WHEEL) == []


def test_metadata_from_unadvertised_sidecar(server: Server, client: HttpClient) -> None:
    # No range support: the unadvertised sidecar is tried before the whole wheel.
    wheel = wheel_bytes("foo", "1.0", ("bar>=1",))
    add_wheel(server, wheel, WHEEL, ranges=False, sidecar=metadata_text("foo", "1.0", ("bar>=1",)))
    with make_index(server, client) as index:
        meta = index.get_metadata(wheel_file(server, wheel))
    assert meta.requires_dist == ("bar>=1",)
    assert all("range" in headers for headers in wheel_requests(server, WHEEL))
    assert len(server.requests_for(f"/files/{WHEEL}.metadata")) == 1


def test_advertised_sidecar_comes_before_the_wheel(server: Server, client: HttpClient) -> None:
    text = metadata_text("foo", "1.0", ("bar>=1",))
    wheel = wheel_bytes("foo", "1.0", ("bar>=1",), padding=100_000)
    add_wheel(server, wheel, WHEEL, sidecar=text)
    with make_index(server, client) as index:
        meta = index.get_metadata(wheel_file(server, wheel, core_metadata={"sha256": sha(text)}))
    assert meta.requires_dist == ("bar>=1",)
    assert wheel_requests(server, WHEEL) == []


def test_metadata_via_range_requests(server: Server, client: HttpClient) -> None:
    # METADATA first, 300 KiB of payload after it: the tail alone is not enough.
    wheel = wheel_bytes("foo", "1.0", ("baz",), padding=300_000, metadata_first=True)
    add_wheel(server, wheel, WHEEL)
    with make_index(server, client) as index:
        meta = index.get_metadata(wheel_file(server, wheel))
    assert meta.requires_dist == ("baz",)
    seen = wheel_requests(server, WHEEL)
    assert len(seen) >= 2
    assert all("range" in headers for headers in seen)  # never the whole file
    # An unadvertised sidecar is only a guess: ranges come first.
    assert server.requests_for(f"/files/{WHEEL}.metadata") == []


def test_a_long_central_directory_brings_the_metadata_before_it(
    server: Server, client: HttpClient
) -> None:
    # 2,000 members: a central directory longer than the tail that is read
    # first, and then the .dist-info (METADATA, RECORD) just before it, as
    # wheel builders write them.  Two requests: the tail, then everything
    # before it back to METADATA, not a third one for METADATA alone.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("foo/big.bin", random.Random(2).randbytes(400_000))
        for n in range(2000):
            zf.writestr(f"foo/module_{n:04d}.py", b"")
        zf.writestr("foo-1.0.dist-info/METADATA", metadata_text("foo", "1.0", ("baz",)))
        zf.writestr("foo-1.0.dist-info/RECORD", random.Random(3).randbytes(30_000))
    wheel = buf.getvalue()
    add_wheel(server, wheel, WHEEL)
    with make_index(server, client) as index:
        meta = index.get_metadata(wheel_file(server, wheel))
    assert meta.requires_dist == ("baz",)
    seen = wheel_requests(server, WHEEL)
    assert len(seen) == 2
    assert seen[0]["range"] == f"bytes=-{metadata_module.RANGE_TAIL}"


def test_sidecar_with_wrong_hash_falls_back_to_the_wheel(
    server: Server, client: HttpClient
) -> None:
    wheel = wheel_bytes("foo", "1.0", ("real",), padding=100_000)
    add_wheel(server, wheel, WHEEL, sidecar=metadata_text("foo", "1.0", ("evil",)))
    warnings = Warnings()
    with make_index(server, client, warnings) as index:
        meta = index.get_metadata(wheel_file(server, wheel, core_metadata={"sha256": "0" * 64}))
    assert meta.requires_dist == ("real",)
    assert any("sha256" in m for m in warnings.messages)


def test_metadata_from_whole_wheel_when_ranges_are_ignored(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    wheel = wheel_bytes("foo", "1.0", ("qux",), padding=200_000)
    add_wheel(server, wheel, WHEEL, ranges=False)
    with make_index(server, client) as index:
        meta = index.get_metadata(wheel_file(server, wheel))
    assert meta.requires_dist == ("qux",)
    seen = wheel_requests(server, WHEEL)
    assert [("range" in h) for h in seen] == [True, False]
    # The verified wheel is now in the cache for the downloader.
    assert client.cache is not None
    assert client.cache.blob_path(sha(wheel)).read_bytes() == wheel


def test_whole_wheel_with_wrong_hash_is_refused(server: Server, client: HttpClient) -> None:
    wheel = wheel_bytes("foo", "1.0", padding=1000)
    add_wheel(server, wheel, WHEEL, ranges=False)
    bad = IndexFile(
        filename=WHEEL,
        url=server.url(f"/files/{WHEEL}"),
        project=FOO,
        version=Version("1.0"),
        kind=DistKind.WHEEL,
        hashes={"sha256": "1" * 64},
    )
    with make_index(server, client) as index, pytest.raises(HashMismatch):
        index.get_metadata(bad)


def test_metadata_is_cached_on_disk(server: Server, tmp_path: Path) -> None:
    wheel = wheel_bytes("foo", "1.0", ("bar",), padding=100_000)
    add_wheel(server, wheel, WHEEL)
    with HttpClient(cache_dir=tmp_path / "c") as first, make_index(server, first) as index:
        assert index.get_metadata(wheel_file(server, wheel)).requires_dist == ("bar",)
    count = len(server.seen)
    with HttpClient(cache_dir=tmp_path / "c") as second, make_index(server, second) as index:
        assert index.get_metadata(wheel_file(server, wheel)).requires_dist == ("bar",)
    assert len(server.seen) == count


def test_metadata_that_contradicts_the_filename_is_refused(
    server: Server, client: HttpClient
) -> None:
    wheel = wheel_bytes("foo", "1.0")
    add_wheel(server, wheel, WHEEL, sidecar=metadata_text("foo", "9.9"))
    with make_index(server, client) as index, pytest.raises(InvalidDistribution, match=r"9\.9"):
        index.get_metadata(wheel_file(server, wheel, core_metadata={}))


def test_sdist_static_and_dynamic(server: Server, client: HttpClient) -> None:
    static, dynamic = sdist_bytes("foo", "1.0"), sdist_bytes("foo", "2.0", dynamic=True)
    server.routes["/files/foo-1.0.tar.gz"] = serve_bytes(static)
    server.routes["/files/foo-2.0.tar.gz"] = serve_bytes(dynamic)

    def sdist(version: str, data: bytes) -> IndexFile:
        return IndexFile(
            filename=f"foo-{version}.tar.gz",
            url=server.url(f"/files/foo-{version}.tar.gz"),
            project=FOO,
            version=Version(version),
            kind=DistKind.SDIST,
            hashes={"sha256": sha(data)},
        )

    with make_index(server, client) as index:
        assert index.get_metadata(sdist("1.0", static)).requires_dist == ("idna",)
        with pytest.raises(MetadataUnavailable, match=r"foo-2\.0\.tar\.gz"):
            index.get_metadata(sdist("2.0", dynamic))


def test_prefetch_metadata_then_get(server: Server, client: HttpClient) -> None:
    wheel = wheel_bytes("foo", "1.0", ("bar",))
    add_wheel(server, wheel, WHEEL, sidecar=metadata_text("foo", "1.0", ("bar",)))
    f = wheel_file(server, wheel, core_metadata={})
    with make_index(server, client) as index:
        index.prefetch_metadata([f, f])
        assert index.get_metadata(f).requires_dist == ("bar",)
    assert len(server.requests_for(f"/files/{WHEEL}.metadata")) == 1


# --- against the shared test index -----------------------------------------------------------


@pytest.mark.parametrize("offer_json", [True, False])
def test_full_chain_against_the_test_index(
    index_server: IndexServerFactory, tmp_path: Path, offer_json: bool
) -> None:
    specs = [
        DistSpec("Alpha.Pkg", "1.0", requires=("beta>=2",), requires_python=">=3.8"),
        DistSpec("beta", "2.0", yanked="broken"),
    ]
    index = index_server(
        specs, json=offer_json, advertise_metadata=False, auth=("user", "pa55word")
    )
    settings = IndexSettings(index_url=index.url_with_auth())
    with HttpClient(cache_dir=tmp_path / "c") as client, PackageIndex(settings, client) as pkgs:
        page = pkgs.get_project(canonicalize_name("alpha.pkg"))
        kinds = sorted(f.kind.value for f in page.files)
        assert kinds == ["sdist", "wheel"]
        for f in page.files:
            assert f.sha256 is not None
            assert f.requires_python == ">=3.8"
            assert "pa55word" not in f.url
            meta = pkgs.get_metadata(f)
            assert meta.name == "alpha-pkg"
            assert meta.requires_dist == ("beta>=2",)
        (beta,) = [
            f for f in pkgs.get_project(canonicalize_name("beta")).files if f.kind.value == "wheel"
        ]
        assert beta.yanked == "broken"
    pages = [e for e in index.log if e.path.startswith("/simple/")]
    assert all(e.headers.get("accept") == ACCEPT for e in pages)
    # The normalized name was asked for directly (no redirect).
    assert index.hits("/simple/alpha-pkg/") == 1
    assert index.hits("/simple/Alpha.Pkg/") == 0


def test_a_small_wheel_is_fetched_whole_without_guessing_a_sidecar(
    server: Server, client: HttpClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No bigger than one range request: one plain GET, and the wheel is then
    # in the cache, so downloading it later costs nothing.  It goes to the
    # blob store directly, with no scratch directory made and removed.
    monkeypatch.setattr(metadata_module, "scratch_dir", None)
    wheel = wheel_bytes("foo", "1.0", ("bar>=1",))
    add_wheel(server, wheel, WHEEL, sidecar=metadata_text("foo", "1.0", ("bar>=1",)))
    small = dataclasses.replace(wheel_file(server, wheel), size=len(wheel))
    with make_index(server, client) as index:
        meta = index.get_metadata(small)
    assert meta.requires_dist == ("bar>=1",)
    assert server.requests_for(f"/files/{WHEEL}.metadata") == []
    (seen,) = wheel_requests(server, WHEEL)
    assert "range" not in seen
    again = tmp_path / "again.whl"
    client.fetch_to_file(small.url, again, sha256=sha(wheel), size=len(wheel))
    assert again.read_bytes() == wheel
    assert len(wheel_requests(server, WHEEL)) == 1
    # Straight into the blob store: nothing else is left in the cache.
    cache = tmp_path / "cache"
    assert [p.name for p in (cache / "blobs" / "sha256").iterdir()] == [sha(wheel)]
    assert [p for p in cache.rglob("*") if p.name.startswith((".", "bundler-"))] == []


def test_a_small_wheel_of_another_hash_leaves_nothing_in_the_cache(
    server: Server, client: HttpClient, tmp_path: Path
) -> None:
    wheel = wheel_bytes("foo", "1.0", ("bar>=1",))
    add_wheel(server, wheel, WHEEL)
    listed = dataclasses.replace(
        wheel_file(server, wheel), size=len(wheel), hashes={"sha256": "0" * 64}
    )
    with make_index(server, client) as index, pytest.raises(HashMismatch):
        index.get_metadata(listed)
    blobs = tmp_path / "cache" / "blobs" / "sha256"
    assert not blobs.exists() or list(blobs.iterdir()) == []
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith("bundler-")] == []


def test_parsed_pages_are_cached_by_content(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files: list[dict[str, object]] = [
        {"filename": f"foo-{v}-py3-none-any.whl", "url": f"/files/foo-{v}.whl", "hashes": {}}
        for v in ("1.0", "1.1", "2.0")
    ]
    body = json_page(files)
    server.routes["/simple/foo/"] = lambda h: send(
        h, 200, body, {"Content-Type": "application/vnd.pypi.simple.v1+json"}
    )
    parsed: list[str] = []
    real = pages_module.list_project_page

    def counting(*args: Any, **kwargs: Any) -> PageListing:
        parsed.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(collector_module, "list_project_page", counting)

    def versions() -> list[str]:
        with (
            HttpClient(cache_dir=tmp_path / "cache", page_max_age=0) as c,
            make_index(server, c) as index,
        ):
            return sorted(str(v) for v in index.get_project(FOO).releases)

    assert versions() == ["1.0", "1.1", "2.0"]
    assert versions() == ["1.0", "1.1", "2.0"]  # fetched again, parsed from the cache
    assert parsed == ["foo"]
    assert len(server.requests_for("/simple/foo/")) == 2
    # A damaged entry is parsed again, not trusted.
    (entry,) = (p for p in (tmp_path / "cache" / "listings").rglob("*") if p.is_file())
    entry.write_bytes(entry.read_bytes()[:-1] + b"\x00")
    assert versions() == ["1.0", "1.1", "2.0"]
    assert parsed == ["foo", "foo"]
    # Another page body is parsed, and its listing replaces the old one.
    body = json_page(files[:1])
    assert versions() == ["1.0"]
    assert parsed == ["foo", "foo", "foo"]
    assert len([p for p in (tmp_path / "cache" / "listings").rglob("*") if p.is_file()]) == 1
    assert versions() == ["1.0"]
    assert parsed == ["foo", "foo", "foo"]
