"""Index page parsers: pure, bytes in, objects out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.errors import BundlerError
from bundler.models import DistKind
from bundler.spec import pages
from bundler.spec.indexfiles import list_find_links_dir
from bundler.spec.pages import (
    InvalidPage,
    parse_find_links_page,
    parse_html_page,
    parse_json_page,
    parse_project_page,
)

PAGE = "https://idx.example/simple/foo-bar/"
FOO: NormalizedName = canonicalize_name("foo-bar")
SHA = "a" * 64


def html(*anchors: str, head: str = "") -> bytes:
    body = "\n".join(anchors)
    return (
        f"<!DOCTYPE html><html><head>{head}"
        '<meta name="pypi:repository-version" content="1.1"></head>'
        f"<body>{body}</body></html>"
    ).encode()


def test_html_basic_link_with_hash_and_relative_url() -> None:
    page = parse_html_page(
        html(f'<a href="../../files/foo_bar-1.0-py3-none-any.whl#sha256={SHA}">x</a>'),
        PAGE,
        FOO,
        "idx",
    )
    (f,) = page.files
    assert f.filename == "foo_bar-1.0-py3-none-any.whl"
    assert f.url == "https://idx.example/files/foo_bar-1.0-py3-none-any.whl"
    assert f.hashes == {"sha256": SHA}
    assert f.sha256 == SHA
    assert f.kind is DistKind.WHEEL
    assert f.version == Version("1.0")
    assert f.project == "foo-bar"
    assert f.index == "idx"
    assert f.yanked is None
    assert f.core_metadata is None
    assert page.name == "foo-bar"


def test_html_base_href_is_honoured() -> None:
    page = parse_html_page(
        html(
            '<a href="foo-bar-2.0.tar.gz">foo-bar-2.0.tar.gz</a>',
            head='<base href="https://cdn.example/pkgs/">',
        ),
        PAGE,
        FOO,
        "idx",
    )
    assert [f.url for f in page.files] == ["https://cdn.example/pkgs/foo-bar-2.0.tar.gz"]
    assert page.files[0].kind is DistKind.SDIST


def test_html_requires_python_is_unescaped_and_yanked_variants() -> None:
    page = parse_html_page(
        html(
            '<a href="foo_bar-1.0.tar.gz" data-requires-python="&gt;=3.8,&lt;4">a</a>',
            '<a href="foo_bar-1.1.tar.gz" data-yanked="">b</a>',
            '<a href="foo_bar-1.2.tar.gz" data-yanked="broken &amp; bad">c</a>',
            '<a href="foo_bar-1.3.tar.gz" data-yanked>d</a>',
        ),
        PAGE,
        FOO,
        "idx",
    )
    by_version = {str(f.version): f for f in page.files}
    assert by_version["1.0"].requires_python == ">=3.8,<4"
    assert by_version["1.0"].yanked is None
    assert by_version["1.1"].yanked == ""
    assert by_version["1.1"].is_yanked
    assert by_version["1.2"].yanked == "broken & bad"
    assert by_version["1.3"].yanked == ""


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        (f'data-core-metadata="sha256={SHA}"', {"sha256": SHA}),
        ('data-core-metadata="true"', {}),
        (f'data-dist-info-metadata="sha256={SHA}"', {"sha256": SHA}),
        ('data-dist-info-metadata="true"', {}),
        # PEP 714: the new attribute wins over the legacy one.
        (f'data-core-metadata="true" data-dist-info-metadata="sha256={SHA}"', {}),
        ("", None),
    ],
)
def test_html_core_metadata_variants(attrs: str, expected: dict[str, str] | None) -> None:
    page = parse_html_page(
        html(f'<a href="foo_bar-1.0-py3-none-any.whl" {attrs}>w</a>'), PAGE, FOO, "idx"
    )
    assert page.files[0].core_metadata == expected


@pytest.mark.parametrize(
    "href",
    [
        "..%2f..%2fetc%2ffoo_bar-1.0.tar.gz",
        "%2e%2e%2ffoo_bar-1.0.tar.gz",
        "x/%2e%2e%2f%2e%2e%2ffoo_bar-1.0.tar.gz",
        "%2Fetc%2Ffoo_bar-1.0.tar.gz",
        "..\\..\\foo_bar-1.0.tar.gz",
        "sub%5cfoo_bar-1.0.tar.gz",
        "file:///etc/foo_bar-1.0.tar.gz",
        "javascript:foo_bar-1.0.tar.gz",
    ],
)
def test_html_unsafe_links_are_skipped(href: str) -> None:
    content = html(
        f'<a href="{href}">foo_bar-1.0.tar.gz</a>', '<a href="foo_bar-2.0.tar.gz">ok</a>'
    )
    page = parse_html_page(content, PAGE, FOO, "idx")
    assert [f.filename for f in page.files] == ["foo_bar-2.0.tar.gz"]


def test_html_skips_other_projects_and_non_distributions() -> None:
    page = parse_html_page(
        html(
            '<a href="other-1.0.tar.gz">o</a>',
            '<a href="other-1.0-py3-none-any.whl">o</a>',
            '<a href="foo_bar-1.0.exe">e</a>',
            '<a href="../">up</a>',
            "<a>no href</a>",
            '<a href="foo_bar-1.0.tar.gz">ok</a>',
        ),
        PAGE,
        FOO,
        "idx",
    )
    assert [f.filename for f in page.files] == ["foo_bar-1.0.tar.gz"]


def test_html_percent_encoded_filename_is_unquoted() -> None:
    page = parse_html_page(html('<a href="foo_bar-1.0%2Blocal.tar.gz">x</a>'), PAGE, FOO, "idx")
    assert page.files[0].filename == "foo_bar-1.0+local.tar.gz"
    assert page.files[0].version == Version("1.0+local")


def test_html_empty_project_is_legit() -> None:
    page = parse_html_page(html(), PAGE, FOO, "idx")
    assert page.files == ()


def test_file_links_allowed_on_file_pages_only() -> None:
    content = html('<a href="file:///srv/files/foo_bar-1.0.tar.gz">x</a>')
    assert parse_html_page(content, PAGE, FOO, "idx").files == ()
    local = parse_html_page(content, "file:///srv/simple/foo-bar/", FOO, "idx")
    assert [f.url for f in local.files] == ["file:///srv/files/foo_bar-1.0.tar.gz"]


@pytest.mark.parametrize(
    "body", [b"", b"   \n", b"Service unavailable, try later", b"\x00\x01\x02garbage"]
)
def test_garbage_html_raises_naming_redacted_url(body: bytes) -> None:
    url = "https://user:s3cret@idx.example/simple/foo-bar/"
    with pytest.raises(InvalidPage) as info:
        parse_html_page(body, url, FOO, "idx")
    assert isinstance(info.value, BundlerError)
    assert "idx.example/simple/foo-bar/" in str(info.value)
    assert "s3cret" not in str(info.value)


def json_page(files: list[object], version: str = "1.1") -> bytes:
    return json.dumps(
        {"meta": {"api-version": version}, "name": "foo-bar", "files": files, "versions": []}
    ).encode()


def test_json_page_full_entry() -> None:
    content = json_page(
        [
            {
                "filename": "foo_bar-1.0-py3-none-any.whl",
                "url": "../../files/foo_bar-1.0-py3-none-any.whl",
                "hashes": {"sha256": SHA.upper(), "bogus": "zz"},
                "requires-python": ">=3.9",
                "core-metadata": {"sha256": "b" * 64},
                "yanked": "security issue",
                "size": 1234,
                "upload-time": "2024-01-02T03:04:05.000000Z",
            }
        ]
    )
    (f,) = parse_json_page(content, PAGE, FOO, "idx").files
    assert f.url == "https://idx.example/files/foo_bar-1.0-py3-none-any.whl"
    assert f.hashes == {"sha256": SHA}
    assert f.requires_python == ">=3.9"
    assert f.core_metadata == {"sha256": "b" * 64}
    assert f.yanked == "security issue"
    assert f.size == 1234
    assert f.upload_time == "2024-01-02T03:04:05.000000Z"


@pytest.mark.parametrize(
    ("entry", "core", "yanked"),
    [
        ({"core-metadata": True, "yanked": True}, {}, ""),
        ({"core-metadata": False, "yanked": False}, None, None),
        ({"dist-info-metadata": {"sha256": SHA}}, {"sha256": SHA}, None),
        ({"dist-info-metadata": True, "yanked": ""}, {}, None),
        ({}, None, None),
    ],
)
def test_json_core_metadata_and_yanked_variants(
    entry: dict[str, object], core: dict[str, str] | None, yanked: str | None
) -> None:
    base: dict[str, object] = {
        "filename": "foo_bar-1.0.tar.gz",
        "url": "https://files.example/foo_bar-1.0.tar.gz",
        "hashes": {},
    }
    (f,) = parse_json_page(json_page([{**base, **entry}]), PAGE, FOO, "idx").files
    assert f.core_metadata == core
    assert f.yanked == yanked
    assert f.size is None


def test_json_skips_unsafe_and_foreign_entries() -> None:
    good = {"filename": "foo_bar-1.0.tar.gz", "url": "foo_bar-1.0.tar.gz", "hashes": {}}
    content = json_page(
        [
            {"filename": "../foo_bar-1.0.tar.gz", "url": "x", "hashes": {}},
            {"filename": "/abs/foo_bar-1.0.tar.gz", "url": "x", "hashes": {}},
            {"filename": "other-1.0.tar.gz", "url": "other-1.0.tar.gz", "hashes": {}},
            {"filename": "foo_bar-1.1.tar.gz", "url": "file:///etc/passwd", "hashes": {}},
            "not a dict",
            good,
        ]
    )
    page = parse_json_page(content, PAGE, FOO, "idx")
    assert [f.filename for f in page.files] == ["foo_bar-1.0.tar.gz"]
    assert page.files[0].url == "https://idx.example/simple/foo-bar/foo_bar-1.0.tar.gz"


def test_html_rejects_other_major_version() -> None:
    content = b'<html><head><meta name="pypi:repository-version" content="2.0"></head></html>'
    with pytest.raises(InvalidPage, match=r"API version '2\.0'"):
        parse_html_page(content, PAGE, FOO, "idx")


def test_json_rejects_other_major_version() -> None:
    with pytest.raises(InvalidPage, match=r"API version '2\.0'"):
        parse_json_page(json_page([], version="2.0"), PAGE, FOO, "idx")


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"meta": {}}', b'"x"'])
def test_json_garbage_raises(body: bytes) -> None:
    with pytest.raises(InvalidPage):
        parse_json_page(body, PAGE, FOO, "idx")


@pytest.mark.parametrize("content_type", ["application/vnd.pypi.simple.v1+json", None, "text/html"])
def test_deeply_nested_page_is_invalid_not_a_crash(content_type: str | None) -> None:
    with pytest.raises(InvalidPage, match="foo-bar/: "):
        parse_project_page(b"[" * 100_000, content_type, PAGE, FOO, "idx")


def test_dispatch_by_content_type_and_by_sniffing() -> None:
    j = json_page([{"filename": "foo_bar-1.0.tar.gz", "url": "foo_bar-1.0.tar.gz", "hashes": {}}])
    h = html('<a href="foo_bar-2.0.tar.gz">x</a>')
    ct_json = "application/vnd.pypi.simple.v1+json"
    assert parse_project_page(j, ct_json, PAGE, FOO, "i").files[0].version == Version("1.0")
    assert parse_project_page(h, "text/html", PAGE, FOO, "i").files[0].version == Version("2.0")
    # A static mirror that sends no or a generic content type.
    assert parse_project_page(j, None, PAGE, FOO, "i").files[0].version == Version("1.0")
    assert parse_project_page(h, "application/octet-stream", PAGE, FOO, "i").files
    with pytest.raises(InvalidPage):
        parse_project_page(b"oops", "text/plain", PAGE, FOO, "i")


def test_find_links_page_any_project() -> None:
    content = html(
        f'<a href="a-1.0.tar.gz#sha256={SHA}">a</a>',
        '<a href="sub/b_c-2.0-py3-none-any.whl">b</a>',
        '<a href="readme.txt">r</a>',
    )
    files = parse_find_links_page(content, "https://fl.example/dists/", "fl")
    assert [(f.project, str(f.version)) for f in files] == [("a", "1.0"), ("b-c", "2.0")]
    assert files[0].sha256 == SHA
    assert files[1].url == "https://fl.example/dists/sub/b_c-2.0-py3-none-any.whl"


def test_list_find_links_dir(tmp_path: Path) -> None:
    (tmp_path / "zeta-1.0.tar.gz").write_bytes(b"z")
    (tmp_path / "alpha-2.0-py3-none-any.whl").write_bytes(b"a")
    (tmp_path / "notes.txt").write_text("n")
    (tmp_path / "subdir-1.0.tar.gz").mkdir()
    files = list_find_links_dir(tmp_path, "local")
    assert [f.filename for f in files] == ["alpha-2.0-py3-none-any.whl", "zeta-1.0.tar.gz"]
    assert files[0].url == (tmp_path / "alpha-2.0-py3-none-any.whl").resolve().as_uri()
    assert files[1].index == "local"
    assert files[1].kind is DistKind.SDIST


@pytest.mark.parametrize(
    ("filename", "project"),
    [
        ("foo-1.0.tar.gz", "foo"),
        ("foo-1.0-1.tar.gz", "foo"),  # a legacy post release: the first dash
        ("foo-bar-1.0.tar.gz", "foo-bar"),
        ("Foo_Bar-1.0.tar.gz", "foo-bar"),
        ("foo__bar-2.0.tar.gz", "foo-bar"),
        ("foo.bar-1.0.tar.gz", "foo-bar"),
        ("foo-foo-1.0.tar.gz", "foo"),
        ("foo--1.0.tar.gz", "foo"),
        ("foo-1.0-rc1.tar.gz", "foo"),
        ("foo-1.0.0.post1.dev2+local.tar.gz", "foo"),
        ("foo-v1.0.tar.gz", "foo"),
        ("foo-bad.tar.gz", "foo"),
        ("foo-1.0.tar.gz", "bar"),
        ("foo-.tar.gz", "foo"),
        ("-1.0.tar.gz", ""),
        ("foo-1.0.TAR.GZ", "foo"),
        ("foo/x-1.0.tar.gz", "foo"),
        ("foo-1.0\x00.tar.gz", "foo"),
        ("foo-1.0.zip", "foo"),
    ],
)
def test_release_version_is_what_parse_filename_gives(filename: str, project: str) -> None:
    from bundler.spec.filenames import parse_filename, release_version

    dist = parse_filename(filename, project)
    assert release_version(filename, project) == (dist.version if dist else None)


# --- the fast extra's decoder against the standard library's ----------------------------

_WHEEL = '"filename": "foo_bar-1.0-py3-none-any.whl", "url": "https://f.example/w.whl"'


def _sized(size: object) -> bytes:
    return ('{"files": [{' + _WHEEL + f', "size": {size}' + "}]}").encode()


_PAGES: dict[str, bytes] = {
    "plain": json_page([{"filename": "foo_bar-1.0.tar.gz", "url": "a", "hashes": {}}]),
    "byte order mark": b"\xef\xbb\xbf" + json_page([]),
    "two byte order marks": b"\xef\xbb\xbf\xef\xbb\xbf" + json_page([]),
    "escapes and non-ASCII": (
        '{"meta": {"api-version": "1.1"}, "files": [{"filename": "foo_bar-1.0.tar.gz",'
        ' "url": "\\u00e9/\u00e9", "yanked": "\\ud83d\\ude00 \U0001f600", "hashes": {}}]}'
    ).encode(),
    "lone surrogate": ('{"meta": {}, "files": [{' + _WHEEL + ', "yanked": "\\ud800"}]}').encode(),
    "NaN size": ('{"meta": {}, "files": [{' + _WHEEL + ', "size": NaN}]}').encode(),
    "Infinity size": ('{"meta": {}, "files": [{' + _WHEEL + ', "size": -Infinity}]}').encode(),
    "size of 2**63 - 1": _sized(2**63 - 1),
    "size of 2**63": _sized(2**63),
    "size of 2**64": _sized(2**64),
    "size beyond 64 bits": _sized(10**30),
    "negative size beyond 64 bits": _sized(-(10**30)),
    "float size": _sized("1e3"),
    "duplicate keys": ('{"files": [], "files": [{' + _WHEEL + ', "url": "b"}]}').encode(),
    "nested 1,100 deep": (
        '{"x": ' + "[" * 1100 + "]" * 1100 + ', "files": [{' + _WHEEL + "}]}"
    ).encode(),
    "not UTF-8": b'{"files": [{"filename": "foo_bar-1.0.tar.gz", "url": "\xff"}]}',
    "trailing data": json_page([]) + b" {}",
    "surrounding white space": b" \n\t" + json_page([]) + b"\r\n ",
    "empty": b"",
    "an array": b"[]",
    "a string": b'"x"',
}


def _read_page(content: bytes) -> tuple[str, object]:
    try:
        page = parse_json_page(content, PAGE, FOO, "idx")
    except InvalidPage as err:
        return "refused", str(err)
    return "read", [(f.filename, f.url, f.size, f.yanked, f.hashes) for f in page.files]


@pytest.mark.parametrize("name", sorted(_PAGES))
def test_orjson_reads_every_page_as_the_standard_library(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = _PAGES[name]
    assert getattr(pages, "orjson", None) is not None  # the test extra installs the fast one
    fast = _read_page(content)
    monkeypatch.setattr(pages, "orjson", None)
    assert _read_page(content) == fast


def test_a_size_from_two_to_the_63_up_is_refused_by_either_decoder() -> None:
    def size(n: int) -> int | None:
        body = _sized(n)
        (f,) = parse_json_page(body, PAGE, FOO, "idx").files
        return f.size

    assert size(2**63 - 1) == 2**63 - 1
    assert size(2**63) is None
    assert size(10**30) is None
