"""Lazily made project pages, page listings, cheap filename versions,
response headers and file: URL paths."""

from __future__ import annotations

import html
import itertools
import json
import marshal
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.fsutil import url_path_to_local
from bundler.index.responses import Headers
from bundler.models import DistKind, IndexFile
from bundler.spec import pages
from bundler.spec.filenames import (
    SDIST_EXTENSIONS,
    parse_filename,
    parse_version,
    release_version,
)
from bundler.spec.pages import (
    JSON_CONTENT_TYPE,
    LISTING_FORMAT,
    PageListing,
    list_project_page,
    listing_entries,
    listing_page,
    parse_html_page,
    parse_json_page,
    parse_project_page,
)
from bundler.spec.project import ProjectPage

PROJECT: NormalizedName = canonicalize_name("foo-bar-baz")
PAGE_URL = "https://idx.example/simple/foo-bar-baz/"
FILES_URL = "https://files.example/packages/"
SOURCE = "idx"
FLAVOURS = ("json", "html")


# --- building pages ---------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One link of a page, and what the page should make of it."""

    filename: str
    version: str | None = None  # None: not a file of the project, dropped
    kind: DistKind = DistKind.WHEEL
    sha256: str | None = None
    requires_python: str | None = None
    yanked: str | None = None  # None: not yanked; "": yanked without a reason
    core_metadata: str | None = None  # hex digest; "": advertised without a hash

    @property
    def url(self) -> str:
        return FILES_URL + quote(self.filename, safe="")


def digest(n: int) -> str:
    return f"{n:064x}"


def json_page(links: Iterable[Link]) -> bytes:
    entries = []
    for link in links:
        entry: dict[str, object] = {
            "filename": link.filename,
            "url": link.url,
            "hashes": {"sha256": link.sha256} if link.sha256 else {},
            "size": len(link.filename),
        }
        if link.requires_python is not None:
            entry["requires-python"] = link.requires_python
        if link.yanked is not None:
            entry["yanked"] = link.yanked or True  # PEP 691: a reason or true
        if link.core_metadata is not None:
            entry["core-metadata"] = {"sha256": link.core_metadata} if link.core_metadata else True
        entries.append(entry)
    doc = {"meta": {"api-version": "1.1"}, "name": "foo-bar-baz", "files": entries}
    return json.dumps(doc).encode()


def html_page(links: Iterable[Link]) -> bytes:
    anchors = []
    for link in links:
        href = link.url + (f"#sha256={link.sha256}" if link.sha256 else "")
        attrs = [f'href="{html.escape(href)}"']
        if link.requires_python is not None:
            attrs.append(f'data-requires-python="{html.escape(link.requires_python)}"')
        if link.yanked is not None:
            attrs.append(f'data-yanked="{html.escape(link.yanked)}"')
        if link.core_metadata is not None:
            value = f"sha256={link.core_metadata}" if link.core_metadata else "true"
            attrs.append(f'data-core-metadata="{value}"')
        anchors.append(f"<a {' '.join(attrs)}>{html.escape(link.filename)}</a><br/>")
    return (
        '<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1">'
        f"</head><body>{''.join(anchors)}</body></html>"
    ).encode()


def page_bytes(flavour: str, links: Iterable[Link]) -> bytes:
    return json_page(links) if flavour == "json" else html_page(links)


def expected_file(link: Link, flavour: str) -> IndexFile:
    """The file an eager parser makes of ``link`` (which must be kept)."""
    assert link.version is not None
    return IndexFile(
        filename=link.filename,
        url=link.url,
        project=PROJECT,
        version=Version(link.version),
        kind=link.kind,
        hashes={"sha256": link.sha256} if link.sha256 else {},
        requires_python=link.requires_python,
        yanked=link.yanked,
        core_metadata=(
            None
            if link.core_metadata is None
            else {"sha256": link.core_metadata}
            if link.core_metadata
            else {}
        ),
        size=len(link.filename) if flavour == "json" else None,
        index=SOURCE,
    )


# A page of a long-lived project, in page order: every kind of file name,
# and links that are not the project's files (version None).
VARIED = (
    Link(
        "foo_bar_baz-1.0-py3-none-any.whl",
        "1.0",
        sha256=digest(1),
        requires_python=">=3.8",
        core_metadata=digest(101),
    ),
    Link("foo_bar_baz-1.0-1-py3-none-any.whl", "1.0", sha256=digest(2)),  # build tag
    Link("other_project-1.0-py3-none-any.whl"),  # another project, in release 1.0
    Link("foo-bar-baz-1.0.tar.gz", "1.0", DistKind.SDIST, sha256=digest(3)),  # legacy dashes
    Link("../foo_bar_baz-1.0-py3-none-any.whl"),  # unsafe, in release 1.0
    Link(
        "foo_bar_baz-2.0-2abc-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "2.0",
        sha256=digest(4),
        yanked="broken build",
    ),
    Link("Foo_Bar_Baz-1.0.0.zip", "1.0.0", DistKind.SDIST, sha256=digest(5)),  # legacy, 1.0
    Link("foo.bar.baz-0.9.tar.bz2", "0.9", DistKind.SDIST, yanked=""),  # dots
    Link("foo_bar_baz-notaversion.tar.gz"),  # invalid version
    Link("foo_bar_baz-x.y-py3-none-any.whl"),  # invalid version
    Link("Foo_Bar-1.0.tar.gz"),  # the sdist of project foo-bar
    Link("foo-bar-1.0.tar.gz"),  # likewise, PEP 625-ish
    Link(
        "foo_bar_baz-2.0rc1.tar.gz",
        "2.0rc1",
        DistKind.SDIST,
        sha256=digest(6),
        requires_python=">=3.9, <4",
        core_metadata="",
    ),
    Link("foo_bar_baz-1.0-bad!!-py3-none-any.whl"),  # a build tag must start with a digit
    Link("foo_bar_baz-3.0.exe"),  # not a distribution
    Link("other-3.0-py3-none-any.whl"),  # release 3.0 has no file of the project
    Link("foo_bar_baz-1.1+local-cp310-cp310-win_amd64.whl", "1.1+local"),
    Link("FOO_BAR_BAZ-1.0-py2.py3-none-any.whl", "1.0", sha256=digest(7)),  # uppercase
    Link("foo_bar_baz-1.0.tgz", "1.0", DistKind.SDIST),
    Link("foo_bar_baz-1.0.tar", "1.0", DistKind.SDIST),
    Link("foo_bar_baz-1.0-py3-any.whl"),  # four parts
    Link("foo_bar_baz-0.9-py3-none-any.whl", "0.9", requires_python="<4,>=3.7"),
    Link("..\\foo_bar_baz-2.0-py3-none-any.whl"),  # unsafe, in release 2.0
)


def parse(flavour: str, links: Iterable[Link], project: NormalizedName = PROJECT) -> ProjectPage:
    content = page_bytes(flavour, links)
    if flavour == "json":
        return parse_json_page(content, PAGE_URL, project, SOURCE)
    return parse_html_page(content, PAGE_URL, project, SOURCE)


# --- ProjectPage with release makers ----------------------------------------------

NAME: NormalizedName = canonicalize_name("foo")


def file_of(filename: str, *, source: str = SOURCE) -> IndexFile:
    dist = parse_filename(filename, NAME)
    assert dist is not None
    return IndexFile(
        filename=filename,
        url=FILES_URL + filename,
        project=dist.name,
        version=dist.version,
        kind=dist.kind,
        index=source,
    )


class Makers:
    """Release makers that count their calls."""

    def __init__(self) -> None:
        self.calls: Counter[Version] = Counter()

    def maker(self, version: str, *filenames: str) -> Callable[[], Iterable[IndexFile]]:
        key = Version(version)

        def make() -> Iterator[IndexFile]:
            self.calls[key] += 1
            return iter([file_of(name) for name in filenames])  # any iterable will do

        return make


def test_a_release_is_made_when_first_asked_for_and_only_once() -> None:
    makers = Makers()
    ready = file_of("foo-3.0.tar.gz")
    page = ProjectPage(
        NAME,
        (),
        SOURCE,
        releases={
            Version("1.0"): makers.maker("1.0", "foo-1.0-py3-none-any.whl", "foo-1.0.tar.gz"),
            Version("2.0"): makers.maker("2.0", "foo-2.0.tar.gz"),
            Version("3.0"): (ready,),
        },
    )
    # Listing versions, asking which match and looking at the page makes nothing.
    assert list(page.releases) == [Version("1.0"), Version("2.0"), Version("3.0")]
    assert len(page.releases) == 3
    assert Version("1.0") in page.releases
    assert Version("1.0.0") in page.releases
    assert Version("4.0") not in page.releases
    assert page.matching(SpecifierSet(">=1"), None) == (
        Version("3.0"),
        Version("2.0"),
        Version("1.0"),
    )
    assert "3 releases" in repr(page)
    assert makers.calls == Counter()

    first = page.release(Version("1.0"))
    assert [f.filename for f in first] == ["foo-1.0-py3-none-any.whl", "foo-1.0.tar.gz"]
    assert makers.calls == Counter({Version("1.0"): 1})
    # Asked again, through every door: the same files, no second call.
    assert page.release(Version("1.0")) is first
    assert page.releases[Version("1.0")] is first
    assert page.releases[Version("1.0.0")] is first
    assert makers.calls == Counter({Version("1.0"): 1})
    assert page.releases[Version("3.0")] == (ready,)
    assert makers.calls == Counter({Version("1.0"): 1})

    assert [f.filename for f in page.files] == [
        "foo-1.0-py3-none-any.whl",
        "foo-1.0.tar.gz",
        "foo-2.0.tar.gz",
        "foo-3.0.tar.gz",
    ]
    page.files  # noqa: B018 - a second look makes nothing either
    assert makers.calls == Counter({Version("1.0"): 1, Version("2.0"): 1})

    with pytest.raises(KeyError):
        page.releases[Version("4.0")]
    assert page.release(Version("4.0")) == ()


def test_files_and_makers_of_one_release_are_joined() -> None:
    makers = Makers()
    extra = file_of("foo-1.0.zip")
    page = ProjectPage(
        NAME,
        [file_of("foo-2.0.tar.gz"), extra],
        SOURCE,
        releases={Version("1.0"): makers.maker("1.0", "foo-1.0.tar.gz")},
    )
    assert [f.filename for f in page.release(Version("1.0"))] == ["foo-1.0.tar.gz", "foo-1.0.zip"]
    assert [f.filename for f in page.release(Version("2.0"))] == ["foo-2.0.tar.gz"]
    assert makers.calls == Counter({Version("1.0"): 1})


def test_pages_compare_by_name_source_and_files() -> None:
    makers = Makers()
    lazy = ProjectPage(
        NAME,
        (),
        SOURCE,
        releases={
            Version("1.0"): makers.maker("1.0", "foo-1.0.tar.gz", "foo-1.0-py3-none-any.whl"),
            Version("9.0"): (),  # a release with nothing usable
        },
    )
    eager = ProjectPage(NAME, [file_of("foo-1.0.tar.gz"), file_of("foo-1.0-py3-none-any.whl")])
    assert lazy != eager  # the source differs
    eager = ProjectPage(
        NAME, [file_of("foo-1.0.tar.gz"), file_of("foo-1.0-py3-none-any.whl")], SOURCE
    )
    assert lazy == eager
    reordered = ProjectPage(
        NAME, [file_of("foo-1.0-py3-none-any.whl"), file_of("foo-1.0.tar.gz")], SOURCE
    )
    assert lazy != reordered
    assert lazy != ProjectPage(canonicalize_name("bar"), eager.files, SOURCE)
    assert lazy.__eq__("foo") is NotImplemented
    with pytest.raises(TypeError):
        hash(lazy)


# --- pages parsed lazily ----------------------------------------------------------


def simple_links(*filenames: str) -> list[Link]:
    return [Link(name, "0") for name in filenames]  # versions unused here


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_parsed_page_releases_are_the_versions_and_links_are_kept_in_page_order(
    flavour: str,
) -> None:
    page = parse(
        flavour,
        simple_links(
            "foo_bar_baz-1.0.tar.gz",
            "foo_bar_baz-2.0.tar.gz",
            "foo_bar_baz-1.0.0-py3-none-any.whl",
            "foo_bar_baz-2.0-py3-none-any.whl",
            "foo-bar-baz-1.0.zip",
            "foo_bar_baz-1.0.0.0-1-py3-none-any.whl",
            "foo_bar_baz-0.5b1.tar.gz",
        ),
    )
    assert list(page.releases) == [Version("1.0"), Version("2.0"), Version("0.5b1")]
    # "1.0", "1.0.0" and "1.0.0.0" are one release; page order within it.
    assert [f.filename for f in page.releases[Version("1.0.0")]] == [
        "foo_bar_baz-1.0.tar.gz",
        "foo_bar_baz-1.0.0-py3-none-any.whl",
        "foo-bar-baz-1.0.zip",
        "foo_bar_baz-1.0.0.0-1-py3-none-any.whl",
    ]
    # Each file keeps the version its own name spells.
    assert [str(f.version) for f in page.release(Version("1"))] == [
        "1.0",
        "1.0.0",
        "1.0",
        "1.0.0.0",
    ]
    assert [f.filename for f in page.release(Version("2.0"))] == [
        "foo_bar_baz-2.0.tar.gz",
        "foo_bar_baz-2.0-py3-none-any.whl",
    ]
    assert page.matching(SpecifierSet(), None) == (Version("2.0"), Version("1.0"))
    assert page.matching(SpecifierSet(), True) == (
        Version("2.0"),
        Version("1.0"),
        Version("0.5b1"),
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_links_in_a_release_that_fail_the_full_checks_are_dropped_when_it_is_made(
    flavour: str,
) -> None:
    links = simple_links(
        "foo_bar_baz-1.0.tar.gz",
        "other-1.0-py3-none-any.whl",  # another project's wheel
        "../foo_bar_baz-1.0-py3-none-any.whl",  # unsafe
        "..\\foo_bar_baz-1.0-py3-none-any.whl",  # unsafe
        "foo_bar_baz-1.0-py3-none-any.whl",
        "foo bar-2.0-py3-none-any.whl",  # not a wheel name
    )
    content = page_bytes(flavour, links)
    content_type = JSON_CONTENT_TYPE if flavour == "json" else "text/html"
    listing = list_project_page(content, content_type, PAGE_URL, PROJECT)
    assert listing.flavour == flavour
    # Grouping only reads the version out of a wheel's name ...
    assert sorted(listing.releases) == ["1.0", "2.0"]
    assert len(listing_entries(listing.releases["1.0"])) == 5
    assert len(listing_entries(listing.releases["2.0"])) == 1
    # ... the release, once made, holds only the project's safe files.
    page = listing_page(listing, PROJECT, SOURCE)
    assert [f.filename for f in page.release(Version("1.0"))] == [
        "foo_bar_baz-1.0.tar.gz",
        "foo_bar_baz-1.0-py3-none-any.whl",
    ]
    assert page.releases[Version("2.0")] == ()
    assert {f.project for f in page.files} == {PROJECT}
    assert parse_project_page(content, content_type, PAGE_URL, PROJECT, SOURCE) == page


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_parsed_page_makes_each_link_once_and_only_for_releases_asked_for(
    flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = pages._json_file if flavour == "json" else pages._html_file

    def counting(entry: Any, **kwargs: Any) -> IndexFile | None:
        made.append(entry["filename"] if flavour == "json" else entry[1])
        return real(entry, **kwargs)

    monkeypatch.setattr(pages, "_json_file" if flavour == "json" else "_html_file", counting)
    page = parse(flavour, VARIED)
    assert made == []
    assert Version("2.0") in page.releases
    assert names(page.releases) == ["1.0", "2.0", "0.9", "2.0rc1", "3.0", "1.1+local"]
    assert page.matching(SpecifierSet(">=1"), True)
    assert made == []

    release = page.release(Version("2.0"))
    assert [f.filename for f in release] == [VARIED[5].filename]
    assert made == [VARIED[5].filename, "..\\foo_bar_baz-2.0-py3-none-any.whl"]
    assert page.releases[Version("2.0")] is release
    assert len(made) == 2

    page.files  # noqa: B018 - makes every other release
    grouped = [
        link.filename for link in VARIED if release_version(link.filename, PROJECT) is not None
    ]
    assert sorted(made) == sorted(grouped)
    page.files  # noqa: B018
    page.release(Version("1.0"))
    assert Counter(made) == Counter(grouped)


@pytest.mark.parametrize(
    ("flavour", "content_type"),
    [
        ("json", JSON_CONTENT_TYPE),
        ("json", None),
        ("json", "application/octet-stream"),
        ("html", "text/html; charset=utf-8"),
        ("html", None),
    ],
)
def test_parse_project_page_gives_what_an_eager_page_gives(
    flavour: str, content_type: str | None
) -> None:
    content = page_bytes(flavour, VARIED)
    lazy = parse_project_page(content, content_type, PAGE_URL, PROJECT, SOURCE)
    kept = [link for link in VARIED if link.version is not None]
    eager = ProjectPage(PROJECT, [expected_file(link, flavour) for link in kept], SOURCE)

    assert lazy == eager
    assert lazy.files == eager.files
    for version, files in eager.releases.items():
        assert lazy.releases[version] == files
    # A release listed only by another project's file is there, and empty.
    assert set(lazy.releases) == {*eager.releases, Version("3.0")}
    assert lazy.releases[Version("3.0")] == ()
    # The fields that matter, spelled out once (IndexFile equality covers them).
    by_name = {f.filename: f for f in lazy.files}
    first = by_name["foo_bar_baz-1.0-py3-none-any.whl"]
    assert first.requires_python == ">=3.8"
    assert first.core_metadata == {"sha256": digest(101)}
    assert first.sha256 == digest(1)
    assert by_name["foo_bar_baz-2.0rc1.tar.gz"].core_metadata == {}
    assert by_name["foo_bar_baz-2.0rc1.tar.gz"].requires_python == ">=3.9, <4"
    assert by_name["foo.bar.baz-0.9.tar.bz2"].yanked == ""
    assert by_name["foo.bar.baz-0.9.tar.bz2"].is_yanked
    assert by_name[VARIED[5].filename].yanked == "broken build"
    assert not first.is_yanked
    assert by_name["Foo_Bar_Baz-1.0.0.zip"].version == Version("1.0")
    assert by_name["foo-bar-baz-1.0.tar.gz"].kind is DistKind.SDIST
    assert all(f.project == PROJECT for f in lazy.files)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_page_of_project_foo_bar_takes_its_legacy_sdists(flavour: str) -> None:
    foo_bar = canonicalize_name("foo-bar")
    page = parse(
        flavour,
        simple_links(
            "Foo_Bar-1.0.tar.gz",
            "foo-bar-baz-1.0.tar.gz",  # project foo-bar-baz, or foo-bar version "baz-1.0"
            "foo-bar-1.0.zip",
            "foo_bar-2.0.tar.gz",
        ),
        foo_bar,
    )
    assert {str(v): [f.filename for f in fs] for v, fs in page.releases.items()} == {
        "1.0": ["Foo_Bar-1.0.tar.gz", "foo-bar-1.0.zip"],
        "2.0": ["foo_bar-2.0.tar.gz"],
    }
    assert {f.project for f in page.files} == {foo_bar}


# --- listings ---------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_listing_round_trips_through_bytes(flavour: str) -> None:
    content = page_bytes(flavour, VARIED)
    listing = list_project_page(content, None, PAGE_URL, PROJECT)
    data = listing.to_bytes()
    back = PageListing.from_bytes(data)
    assert back is not None
    assert back == listing
    assert back.to_bytes() == data
    page = listing_page(back, PROJECT, SOURCE)
    assert page == parse_project_page(content, None, PAGE_URL, PROJECT, SOURCE)
    assert len(page.files) == sum(link.version is not None for link in VARIED)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_listing_of_a_page_without_files_round_trips(flavour: str) -> None:
    listing = list_project_page(page_bytes(flavour, []), None, PAGE_URL, PROJECT)
    assert listing.releases == {}
    back = PageListing.from_bytes(listing.to_bytes())
    assert back == listing
    assert back is not None
    assert back.flavour == flavour
    assert listing_page(back, PROJECT, SOURCE).files == ()


def _random_bytes() -> list[bytes]:
    rng = random.Random(691)
    return [bytes(rng.getrandbits(8) for _ in range(n)) for n in (1, 7, 64, 500)]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"not a listing at all",
        b"\xff\xfe\xfd\xfc",
        *_random_bytes(),
        marshal.dumps(None),
        marshal.dumps([LISTING_FORMAT, "", "json", PAGE_URL, {}]),  # a list, not a tuple
        marshal.dumps((LISTING_FORMAT, "", "json", PAGE_URL)),  # too short
        marshal.dumps((LISTING_FORMAT, "", "json", PAGE_URL, {}, 0)),  # too long
        marshal.dumps((LISTING_FORMAT, "", "xml", PAGE_URL, {})),  # unknown flavour
        marshal.dumps((LISTING_FORMAT, "", "json", 7, {})),  # page URL not text
        marshal.dumps((LISTING_FORMAT, "", "json", PAGE_URL, [])),  # releases not a dict
        marshal.dumps((LISTING_FORMAT, "", "json", PAGE_URL, {"1.0": [{}]})),  # not packed
        marshal.dumps((LISTING_FORMAT, "other", "json", PAGE_URL, {})),  # another source
        marshal.dumps((LISTING_FORMAT + 1, "", "json", PAGE_URL, {})),  # another format
        marshal.dumps((str(LISTING_FORMAT), "", "json", PAGE_URL, {})),
    ],
)
def test_listing_from_anything_else_is_none(data: bytes) -> None:
    assert PageListing.from_bytes(data) is None


def test_listing_read_from_another_source_is_none() -> None:
    listing = list_project_page(json_page(VARIED), None, PAGE_URL, PROJECT)
    data = listing.to_bytes("sha256 of the body")
    assert PageListing.from_bytes(data, "sha256 of the body") == listing
    assert PageListing.from_bytes(data, "sha256 of another body") is None
    assert PageListing.from_bytes(data) is None


def test_listing_of_another_format_version_is_none() -> None:
    listing = list_project_page(json_page(VARIED), None, PAGE_URL, PROJECT)
    _, *rest = marshal.loads(listing.to_bytes())
    assert PageListing.from_bytes(marshal.dumps((LISTING_FORMAT, *rest))) == listing
    assert PageListing.from_bytes(marshal.dumps((LISTING_FORMAT + 1, *rest))) is None
    assert PageListing.from_bytes(marshal.dumps((LISTING_FORMAT - 1, *rest))) is None
    # A cut-off file is garbage too.
    assert PageListing.from_bytes(listing.to_bytes()[:-3]) is None


def pack(entries: list[Any]) -> bytes:
    """One release's raw entries as a listing holds them."""
    return marshal.dumps(entries)


def test_listing_page_skips_keys_that_are_no_version_and_joins_equal_ones() -> None:
    listing = list_project_page(
        json_page(simple_links("foo_bar_baz-1.0.tar.gz")), None, "", canonicalize_name("x")
    )
    assert listing.releases == {}  # no file of project "x"
    listing = list_project_page(
        json_page(simple_links("foo_bar_baz-1.0.tar.gz", "foo_bar_baz-1.0.0.zip")),
        None,
        PAGE_URL,
        PROJECT,
    )
    ((key, packed),) = listing.releases.items()
    assert key == "1.0"
    tar, zip_ = listing_entries(packed)
    # A listing from elsewhere (a cache written by another release) may spell
    # one version twice, or name something that is no version.
    odd = PageListing(
        "json",
        PAGE_URL,
        {"1.0.0": pack([zip_]), "not a version": pack([tar]), "1": pack([tar])},
    )
    page = listing_page(odd, PROJECT, SOURCE)
    assert list(page.releases) == [Version("1.0")]
    assert [f.filename for f in page.files] == ["foo_bar_baz-1.0.0.zip", "foo_bar_baz-1.0.tar.gz"]
    # Entries filed under a version their filename does not name are dropped.
    misfiled = listing_page(
        PageListing("json", PAGE_URL, {"2.0": pack([tar, zip_])}), PROJECT, SOURCE
    )
    assert list(misfiled.releases) == [Version("2.0")]
    assert misfiled.release(Version("2.0")) == ()


# --- merged pages and matching ----------------------------------------------------


def test_merged_page_lists_both_pages_files_in_page_order_per_version() -> None:
    makers = Makers()
    first = ProjectPage(
        NAME,
        (),
        "a",
        releases={
            Version("1.0"): makers.maker("1.0", "foo-1.0-py3-none-any.whl", "foo-1.0.tar.gz"),
            Version("2.0"): makers.maker("2.0", "foo-2.0.tar.gz"),
        },
    )
    second = ProjectPage(
        NAME,
        [file_of("foo-3.0.tar.gz", source="b"), file_of("foo-1.0.0.zip", source="b")],
        "b",
    )
    merged = ProjectPage.merged(NAME, [first, second], "a+b")
    assert merged.name == NAME
    assert merged.source == "a+b"
    assert list(merged.releases) == [Version("1.0"), Version("2.0"), Version("3.0")]
    assert makers.calls == Counter()  # merging makes nothing

    assert [f.filename for f in merged.release(Version("1.0"))] == [
        "foo-1.0-py3-none-any.whl",
        "foo-1.0.tar.gz",
        "foo-1.0.0.zip",
    ]
    assert [f.index for f in merged.release(Version("1.0"))] == [SOURCE, SOURCE, "b"]
    assert makers.calls == Counter({Version("1.0"): 1})
    assert [f.filename for f in merged.files] == [
        "foo-1.0-py3-none-any.whl",
        "foo-1.0.tar.gz",
        "foo-1.0.0.zip",
        "foo-2.0.tar.gz",
        "foo-3.0.tar.gz",
    ]
    assert makers.calls == Counter({Version("1.0"): 1, Version("2.0"): 1})
    # The pages merged keep their own files.
    assert [f.filename for f in first.files] == [
        "foo-1.0-py3-none-any.whl",
        "foo-1.0.tar.gz",
        "foo-2.0.tar.gz",
    ]
    assert makers.calls == Counter({Version("1.0"): 1, Version("2.0"): 1})

    reverse = ProjectPage.merged(NAME, [second, first], "b+a")
    assert [f.filename for f in reverse.release(Version("1.0"))] == [
        "foo-1.0.0.zip",
        "foo-1.0-py3-none-any.whl",
        "foo-1.0.tar.gz",
    ]
    assert list(reverse.releases) == [Version("3.0"), Version("1.0"), Version("2.0")]


def test_merging_one_page_of_the_same_source_is_that_page() -> None:
    page = ProjectPage(NAME, [file_of("foo-1.0.tar.gz")], SOURCE)
    assert ProjectPage.merged(NAME, [page], SOURCE) is page
    renamed = ProjectPage.merged(NAME, [page], "other")
    assert renamed is not page
    assert renamed.source == "other"
    assert renamed.files == page.files
    empty = ProjectPage.merged(NAME, [], SOURCE)
    assert empty.files == ()
    assert list(empty.releases) == []


VERSIONS = ("1.0", "3.0.dev1", "0.9", "2.0b1", "1.5", "2.0")


@pytest.fixture
def versions_page() -> ProjectPage:
    return ProjectPage(NAME, [file_of(f"foo-{v}.tar.gz") for v in VERSIONS], SOURCE)


def names(versions: Iterable[Version]) -> list[str]:
    return [str(v) for v in versions]


@pytest.mark.parametrize(
    ("specifier", "prereleases", "expected"),
    [
        ("", None, ["2.0", "1.5", "1.0", "0.9"]),
        ("", True, ["3.0.dev1", "2.0", "2.0b1", "1.5", "1.0", "0.9"]),
        ("", False, ["2.0", "1.5", "1.0", "0.9"]),
        (">=1.0", None, ["2.0", "1.5", "1.0"]),
        (">=1.0", True, ["3.0.dev1", "2.0", "2.0b1", "1.5", "1.0"]),
        (">=1.0", False, ["2.0", "1.5", "1.0"]),
        (">=2.0b1,<3", True, ["2.0", "2.0b1"]),
        # Only pre-releases match: without a say, they are taken (PEP 440).
        (">2.0", None, ["3.0.dev1"]),
        (">2.0", False, []),
        ("==1.5", None, ["1.5"]),
        ("==2.0b1", None, ["2.0b1"]),  # a pre-release named explicitly
        ("<0.9", None, []),
    ],
)
def test_matching_is_newest_first_and_follows_prereleases(
    versions_page: ProjectPage, specifier: str, prereleases: bool | None, expected: list[str]
) -> None:
    assert names(versions_page.matching(SpecifierSet(specifier), prereleases)) == expected


def test_matching_is_memoized_per_question(versions_page: ProjectPage) -> None:
    spec = SpecifierSet(">=1.0")
    found = versions_page.matching(spec, None)
    assert versions_page.matching(spec, None) is found
    assert versions_page.matching(SpecifierSet(">=1.0"), None) is found  # an equal specifier
    with_pre = versions_page.matching(spec, True)
    assert with_pre is not found
    assert names(with_pre) == ["3.0.dev1", "2.0", "2.0b1", "1.5", "1.0"]
    assert versions_page.matching(spec, True) is with_pre
    # Equal (and equally hashed) to ``spec``, yet it admits pre-releases itself.
    own = SpecifierSet(">=1.0", prereleases=True)
    assert own == spec
    assert names(versions_page.matching(own, None)) == names(with_pre)
    assert versions_page.matching(spec, None) is found


# --- release_version and parse_filename -------------------------------------------

WHEELS = (
    "foo-1.0-py3-none-any.whl",
    "foo-1.0-1-py3-none-any.whl",
    "foo-1.0-12abc-cp311-cp311-manylinux_2_17_x86_64.whl",
    "Foo_Bar-2.0.post1-py2.py3-none-any.whl",
    "foo.bar-1!2.0-py3-none-any.whl",
    "FOO-1.0rc1-cp312-abi3-win_amd64.whl",
    "foo-1.0+local.1-py3-none-any.whl",
    "foo-1.0-bad-py3-none-any.whl",  # build tag must start with a digit
    "foo-x.y-py3-none-any.whl",
    "foo-1.0-py3-any.whl",  # four parts
    "foo-1.0-1-2-py3-none-any.whl",  # seven parts
    "foo-1.0--none-any.whl",  # empty tag
    "foo bar-1.0-py3-none-any.whl",  # not a name
    "_foo-1.0-py3-none-any.whl",
    "foo_-1.0-py3-none-any.whl",
    "../foo-1.0-py3-none-any.whl",
    "foo-1.0-py3-none-any.WHL",
    ".whl",
    "foo.whl",
    "foo-bar-1.0-py3-none-any.whl",  # dashes in the name: six parts, bad build tag
)
SDISTS = tuple(
    f"{stem}{ext}"
    for stem in (
        "foo-1.0",
        "foo-1.0.0",
        "Foo-1.0",
        "foo_bar-1.0",
        "Foo_Bar-1.0",
        "foo.bar-1.0",
        "foo-bar-1.0",
        "foo-bar-baz-1.0",
        "foo-bar-baz-1.0-final",
        "foo-1.0-2",
        "foo-1.0.post1",
        "foo-1!2.0rc1",
        "foo-v1.0",
        "foo-notaversion",
        "foo-",
        "-1.0",
        "foo",
        "foo--1.0",
        "FOO_BAR_BAZ-2.0a1",
        "foo_bar_baz-1.0+local",
        "foobar-1.0",
    )
    for ext in (*SDIST_EXTENSIONS, ".TAR.GZ", ".Zip")
)
OTHERS = (
    "foo-1.0.exe",
    "foo-1.0.egg",
    "foo-1.0.tar.xz",
    "foo-1.0.rpm",
    "foo-1.0.tar.gz.asc",
    "",
    ".",
    "..",
    "foo/../foo-1.0.tar.gz",
    "C:foo-1.0.zip",
    "foo-1.0\x00.tar.gz",
)
PROJECTS = (None, "foo", "Foo", "foo-bar", "foo_bar", "foo.bar", "foo-bar-baz", "foobar", "bar")


@pytest.mark.parametrize("project", PROJECTS)
def test_release_version_agrees_with_parse_filename(project: str | None) -> None:
    agreed = 0
    valid_wheels = 7
    for filename in (*WHEELS, *SDISTS, *OTHERS):
        dist = parse_filename(filename, project)
        version = release_version(filename, project)
        if dist is not None:
            assert version == dist.version, filename
            assert str(version) == str(dist.version), filename
            agreed += 1
        elif filename.endswith(".whl") and version is not None:
            # A wheel's name and tags are left to parse_filename: the version
            # is the second field of a five or six field name.
            fields = filename[:-4].split("-")
            assert len(fields) in (5, 6), filename
            assert version == Version(fields[1]), filename
        else:
            assert version is None, filename
    assert agreed >= valid_wheels  # wheels name their project themselves
    if project is None:
        assert agreed > 100


def test_release_version_only_trusts_the_version_field_of_a_wheel() -> None:
    for filename in ("foo bar-1.0-py3-none-any.whl", "../foo-1.0-py3-none-any.whl"):
        assert parse_filename(filename) is None
        assert release_version(filename) == Version("1.0")
    assert release_version("foo-x.y-py3-none-any.whl") is None
    assert release_version("foo-1.0-py3-any.whl") is None
    assert release_version("foo-1.0-py3-none-any.whl") == Version("1.0")


def test_release_version_of_an_sdist_needs_the_page_project() -> None:
    assert release_version("foo-bar-1.0.tar.gz", "foo-bar") == Version("1.0")
    assert release_version("foo-bar-1.0.tar.gz", "foo") is None  # not project foo's
    assert release_version("foo-bar-1.0.tar.gz") == Version("1.0")
    assert release_version("Foo_Bar-1.0.tar.gz", "foo-bar") == Version("1.0")
    assert release_version("foo-bar-baz-1.0.tar.gz", "foo-bar-baz") == Version("1.0")
    assert release_version("foo-bar-baz-1.0.tar.gz", "foo-bar") is None
    assert release_version("foobar-1.0.tar.gz", "foo") is None


def test_parse_version_is_memoized() -> None:
    assert parse_version("1.0.post1") == Version("1.0.post1")
    assert parse_version("1.0.post1") is parse_version("1.0.post1")
    with pytest.raises(InvalidVersion):
        parse_version("not a version")


def _pip_style(filename: str, project: str | None) -> tuple[str, Version] | None:
    """(name, version) of an sdist, found the slow way: the first dash after
    which the rest is a version, with the head naming ``project`` (pip's
    ``_find_name_version_sep``), else the last dash."""
    lower = filename.lower()
    ext = next((e for e in SDIST_EXTENSIONS if lower.endswith(e)), None)
    if ext is None:
        return None
    stem = filename[: -len(ext)]
    if project is None:
        heads = [stem.rpartition("-")[0]] if "-" in stem else []
    else:
        wanted = canonicalize_name(project)
        heads = [
            stem[:i]
            for i, c in enumerate(stem)
            if c == "-" and canonicalize_name(stem[:i]) == wanted
        ][:1]
    for head in heads:
        try:
            version = Version(stem[len(head) + 1 :])
        except InvalidVersion:
            return None
        return (canonicalize_name(head), version) if head else None
    return None


def _parsed(filename: str, project: str | None) -> tuple[str, Version] | None:
    dist = parse_filename(filename, project)
    if dist is None:
        return None
    assert dist.kind is DistKind.SDIST
    return (dist.name, dist.version)


@pytest.mark.parametrize("project", PROJECTS)
def test_sdist_names_split_as_pip_splits_them(project: str | None) -> None:
    for filename in SDISTS:
        assert _parsed(filename, project) == _pip_style(filename, project), filename


def test_sdist_names_split_as_pip_splits_them_generated() -> None:
    # Stems built from names and versions that share separators and case,
    # so that many dashes could end the name.
    words = ("foo", "Foo", "FOO", "bar", "1", "v1", "1.0", "a", "dev")
    seps = ("-", "_", ".", "--", "-_")
    versions = ("1.0", "1.0-1", "1.0.post1", "2!1.0", "1.0a1", "x", "", "1.0-", "0")
    projects = ("foo", "foo-bar", "Foo_Bar", "foo.1", "a", "foo-foo", "1", "foo-v1")
    rng = random.Random(625)
    compared = found = 0
    for _ in range(3000):
        parts = [rng.choice(words) for _ in range(rng.randint(1, 3))]
        name = "".join(p + rng.choice(seps) for p in parts[:-1]) + parts[-1]
        filename = f"{name}-{rng.choice(versions)}{rng.choice(SDIST_EXTENSIONS)}"
        for project in (rng.choice(projects), canonicalize_name(name), name, None):
            expected = _pip_style(filename, project)
            assert _parsed(filename, project) == expected, (filename, project)
            compared += 1
            found += expected is not None
    assert compared == 12000
    assert found > 3000  # the generator makes plenty of valid names


def test_sdist_fast_path_and_general_path_agree() -> None:
    # The same file, with the name spelled so that the quick check (the stem
    # starts with the canonical name and a dash) applies or does not.
    spellings = ("foo-bar", "Foo_Bar", "foo.bar", "FOO-BAR", "foo__bar", "foo-_bar")
    for spelling, version, ext in itertools.product(
        spellings, ("1.0", "1.0-1", "bar-1.0", "x"), (".tar.gz", ".zip")
    ):
        filename = f"{spelling}-{version}{ext}"
        assert _parsed(filename, "foo-bar") == _pip_style(filename, "foo-bar"), filename
    assert _parsed("foo__bar-1.0.tar.gz", "foo-bar") == ("foo-bar", Version("1.0"))
    assert _parsed("foo-bar-1.0-1.tar.gz", "foo-bar") == ("foo-bar", Version("1.0.post1"))
    assert _parsed("foo-bar-x.tar.gz", "foo-bar") is None
    assert _parsed("foo-bar-bar-1.0.tar.gz", "foo-bar") is None


# --- Headers ----------------------------------------------------------------------


def test_headers_are_a_case_insensitive_read_only_mapping() -> None:
    headers = Headers({"Content-Type": "text/html", "ETag": '"abc"', "x-served-by": "cache"})
    assert headers["content-type"] == "text/html"
    assert headers["CONTENT-TYPE"] == "text/html"
    assert headers.get("etag") == '"abc"'
    assert headers.get("X-Served-By") == "cache"
    assert headers.get("Content-Length") is None
    assert headers.get("content-length", "0") == "0"
    assert "content-type" in headers
    assert "ETAG" in headers
    assert "Location" not in headers
    not_text: object = 1
    assert not_text not in headers
    with pytest.raises(KeyError):
        headers["location"]
    assert list(headers) == ["Content-Type", "ETag", "x-served-by"]
    assert dict(headers) == {"Content-Type": "text/html", "ETag": '"abc"', "x-served-by": "cache"}
    assert len(headers) == 3
    assert len(Headers()) == 0
    assert list(Headers()) == []
    with pytest.raises(TypeError):
        headers["Location"] = "/"  # type: ignore[index]


# --- file: URLs -------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
def test_url_path_to_local_unquotes_exactly_once() -> None:
    assert url_path_to_local("/tmp/a%2541.whl") == "/tmp/a%41.whl"
    assert url_path_to_local("/tmp/a%20b/c.whl") == "/tmp/a b/c.whl"
    assert url_path_to_local("/tmp/plain-1.0.tar.gz") == "/tmp/plain-1.0.tar.gz"
    assert url_path_to_local("/tmp/caf%C3%A9.zip") == "/tmp/café.zip"
