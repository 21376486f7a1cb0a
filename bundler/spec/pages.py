"""Index page parsers: bytes in, ``ProjectPage`` out, no I/O.

HTML per PEP 503 (with PEP 592 yanking, PEP 658/714 core metadata), JSON
per PEP 691 (with PEP 700 sizes and upload times), and find-links pages as
pip reads them (find-links directories: :mod:`bundler.spec.indexfiles`).
"""

from __future__ import annotations

import codecs
import functools
import json
import marshal
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from bundler.errors import BundlerError
from bundler.models import IndexFile
from bundler.redact import redact_url
from bundler.spec.filenames import parse_version, release_version
from bundler.spec.indexfiles import (
    fragment_hashes,
    make_index_file,
    url_filename,
    valid_hashes,
    without_fragment,
)
from bundler.spec.project import ProjectPage

try:  # the "fast" extra
    import orjson
except ImportError:  # pragma: no cover - the standard library decodes alone
    orjson = None  # type: ignore[assignment]

__all__ = [
    "HTML_CONTENT_TYPES",
    "JSON_CONTENT_TYPE",
    "LISTING_FORMAT",
    "InvalidPage",
    "PageListing",
    "decode_json_page",
    "list_project_page",
    "listing_entries",
    "listing_page",
    "parse_find_links_page",
    "parse_html_page",
    "parse_json_page",
    "parse_project_page",
]

# PEP 691 content type; the HTML flavour is PEP 503 text/html.
JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPES = ("text/html", "application/vnd.pypi.simple.v1+html")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


class InvalidPage(BundlerError):
    """An index or find-links page that is neither HTML nor PEP 691 JSON."""

    def __init__(self, url: str, reason: str) -> None:
        shown = redact_url(url)
        super().__init__(
            f"{shown}: {reason}",
            hint="the index answered with something that is not a package index page;"
            " check the index URL",
        )
        self.url = shown
        self.reason = reason


# --- shared pieces ----------------------------------------------------------------


def _check_api_version(version: object, page_url: str) -> None:
    # PEP 629: a client must refuse a major version it does not know.
    if version is None:
        return
    major = str(version).strip().split(".", 1)[0]
    if major != "1":
        raise InvalidPage(
            page_url, f"unsupported repository API version {str(version)[:20]!r} (need 1.x)"
        )


# --- listings: pages read down to what a resolution needs first ------------------

# Bump when the shape of a listing changes (listings are cached on disk).
LISTING_FORMAT = 3


@dataclass(frozen=True)
class PageListing:
    """A project page read down to each link's raw entry, by the version its
    filename names; the rest of each file (the full filename checks, URL,
    hashes, Requires-Python, yanking) is made only for the releases a
    resolution looks at.  Plain data: cheap to keep on disk and reload."""

    flavour: str  # "json" (PEP 691) or "html" (PEP 503)
    page_url: str
    # version -> its raw entries, in page order, marshalled: a long page's
    # entries held as objects cost several times their bytes in memory,
    # and a resolution unpacks only the releases it looks at.
    releases: Mapping[str, bytes]

    def to_bytes(self, source: str = "") -> bytes:
        """The listing as bytes; ``source`` names what it was read from
        (e.g. the page body's digest), for ``from_bytes`` to check."""
        releases = dict(self.releases)
        return marshal.dumps((LISTING_FORMAT, source, self.flavour, self.page_url, releases))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "") -> PageListing | None:
        """The listing ``to_bytes`` wrote from ``source``, or None for
        anything else (another source, another format, garbage)."""
        try:
            loaded = marshal.loads(data)  # noqa: S302 - written by to_bytes, checksummed
        except (EOFError, ValueError, TypeError):
            return None
        if not (isinstance(loaded, tuple) and len(loaded) == 5 and loaded[0] == LISTING_FORMAT):
            return None
        _, read_from, flavour, page_url, releases = loaded
        if read_from != source:
            return None
        if flavour not in ("json", "html") or not isinstance(page_url, str):
            return None
        if not isinstance(releases, dict) or not all(
            isinstance(packed, bytes) for packed in releases.values()
        ):
            return None
        return cls(flavour, page_url, releases)


def _listing(
    flavour: str, page_url: str, project: NormalizedName, listed: Iterable[tuple[str, Any]]
) -> PageListing:
    groups: dict[Version, list[Any]] = {}
    for filename, entry in listed:
        version = release_version(filename, project)
        if version is not None:
            groups.setdefault(version, []).append(entry)
    releases = {str(v): marshal.dumps(entries) for v, entries in groups.items()}
    return PageListing(flavour, page_url, releases)


def listing_entries(packed: bytes) -> list[Any]:
    """The raw entries of one release of a ``PageListing``."""
    entries: list[Any] = marshal.loads(packed)  # noqa: S302 - made by _listing
    return entries


def _release_files(
    make: Callable[[Any], IndexFile | None], version: Version, packed: Sequence[bytes]
) -> list[IndexFile]:
    return [
        f
        for blob in packed
        for e in listing_entries(blob)
        if (f := make(e)) is not None and f.version == version
    ]


def listing_page(listing: PageListing, project: NormalizedName, source: str) -> ProjectPage:
    """The page of a listing; each release's files are made when first asked for."""
    make: Callable[[Any], IndexFile | None]
    if listing.flavour == "json":
        make = functools.partial(
            _json_file, page_url=listing.page_url, project=project, source=source
        )
    else:
        make = functools.partial(
            _html_file, page_url=listing.page_url, project=project, source=source
        )
    grouped: dict[Version, list[bytes]] = {}
    for text, packed in listing.releases.items():
        try:
            version = parse_version(text)
        except InvalidVersion:
            continue
        known = grouped.get(version)
        if known is None:
            grouped[version] = [packed]
        else:
            known.append(packed)
    return ProjectPage(
        project,
        (),
        source,
        releases={
            v: functools.partial(_release_files, make, v, entries) for v, entries in grouped.items()
        },
    )


# --- HTML (PEP 503) -------------------------------------------------------------


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.anchors: list[dict[str, str | None]] = []
        self.tags = 0
        self.api_version: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags += 1
        if tag == "meta":
            values = dict(attrs)
            if values.get("name") == "pypi:repository-version":
                self.api_version = values.get("content")
        elif tag == "base" and self.base is None:
            href = dict(attrs).get("href")
            if href:
                self.base = href
        elif tag == "a":
            self.anchors.append(dict(attrs))


def _decode(content: bytes, content_type: str | None) -> str:
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="replace")
    match = _CHARSET.search(content_type or "")
    encoding = match.group(1) if match else "utf-8"
    try:
        return content.decode(encoding, errors="replace")
    except LookupError:
        return content.decode("utf-8", errors="replace")


def _parse_links(content: bytes, page_url: str, content_type: str | None) -> _LinkParser:
    text = _decode(content, content_type)
    stripped = text.lstrip()
    if not stripped:
        raise InvalidPage(page_url, "the page is empty")
    if not stripped.startswith("<"):
        raise InvalidPage(page_url, "the page is not HTML")
    parser = _LinkParser()
    parser.feed(text)
    parser.close()
    if parser.tags == 0:
        raise InvalidPage(page_url, "the page is not HTML")
    _check_api_version(parser.api_version, page_url)
    return parser


def _core_metadata_attr(value: str | None) -> dict[str, str] | None:
    # PEP 658/714: "true", or "<hashname>=<hashvalue>"; anything else that
    # is present still advertises the file, without a usable hash.
    if value is None:
        return None
    value = value.strip()
    if value.lower() == "false":
        return None
    name, sep, digest = value.partition("=")
    return valid_hashes({name: digest}) if sep else {}


def _html_links(
    content: bytes, page_url: str, content_type: str | None
) -> list[tuple[str, str, dict[str, str | None]]]:
    """(url, filename, attributes) of every link of an HTML page."""
    parser = _parse_links(content, page_url, content_type)
    base_url = urljoin(page_url, parser.base) if parser.base else page_url
    links = []
    for attrs in parser.anchors:
        href = attrs.get("href")
        if href:
            url = urljoin(base_url, href.strip())
            links.append((url, url_filename(url), attrs))
    return links


def _html_file(
    link: tuple[str, str, dict[str, str | None]],
    page_url: str,
    project: NormalizedName | None,
    source: str,
) -> IndexFile | None:
    url, filename, attrs = link
    core = attrs.get("data-core-metadata")
    if core is None:
        core = attrs.get("data-dist-info-metadata")
    return make_index_file(
        filename=filename,
        url=without_fragment(url),
        project=project,
        page_url=page_url,
        source=source,
        hashes=fragment_hashes(urlsplit(url).fragment),
        requires_python=(attrs.get("data-requires-python") or "").strip() or None,
        # PEP 592: the attribute's presence yanks; its value is the reason.
        yanked=(attrs["data-yanked"] or "") if "data-yanked" in attrs else None,
        core_metadata=_core_metadata_attr(core),
    )


def parse_html_page(
    content: bytes,
    page_url: str,
    project: NormalizedName,
    source: str,
    content_type: str | None = None,
) -> ProjectPage:
    """Parse a PEP 503 project page; links that are not distributions of
    ``project`` or whose filename is unsafe are skipped."""
    return listing_page(_html_listing(content, page_url, project, content_type), project, source)


def _html_listing(
    content: bytes, page_url: str, project: NormalizedName, content_type: str | None
) -> PageListing:
    links = _html_links(content, page_url, content_type)
    return _listing("html", page_url, project, ((link[1], link) for link in links))


def parse_find_links_page(
    content: bytes, page_url: str, source: str, content_type: str | None = None
) -> list[IndexFile]:
    """Every distribution an HTML find-links page links to, of any project."""
    links = _html_links(content, page_url, content_type)
    return [f for link in links if (f := _html_file(link, page_url, None, source)) is not None]


# --- JSON (PEP 691) ---------------------------------------------------------------


def _json_yanked(value: object) -> str | None:
    # PEP 691: a bool, or a non-empty reason string (pip treats "" as not yanked).
    if isinstance(value, str):
        return value or None
    if value is True:
        return ""
    return None


# No file is 8 EiB; an integer beyond 64 bits reads as a float in orjson.
_MAX_SIZE = (1 << 63) - 1


def _json_size(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_SIZE:
        return value
    return None


def _json_core_metadata(value: object) -> dict[str, str] | None:
    # PEP 691/714: a bool, or a dict of hashes.
    if value is True:
        return {}
    if isinstance(value, dict):
        return valid_hashes(value)
    return None


def parse_json_page(
    content: bytes, page_url: str, project: NormalizedName, source: str
) -> ProjectPage:
    """Parse a PEP 691 v1 project page (file URLs relative to ``page_url``)."""
    return listing_page(_json_listing(content, page_url, project), project, source)


def decode_json_page(content: bytes, page_url: str) -> object:
    """A JSON page's value, as the standard library decodes it.

    With the ``fast`` extra installed, orjson decodes it first (about half
    the time on a long page).  Where the two could differ, orjson refuses
    and the standard library decides, with its own message: a lone
    surrogate, NaN or Infinity, nesting deeper than 1,024, bytes that are
    not UTF-8.  What remains is an integer beyond 64 bits, a float to
    orjson: no field read from a page takes one (``_json_size`` refuses
    sizes from 2**63 up, whichever decoder read them).
    """
    if orjson is not None:
        body = content[3:] if content.startswith(codecs.BOM_UTF8) else content
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, and says why
    try:
        return json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as err:
        raise InvalidPage(page_url, f"invalid JSON: {err}") from err
    except RecursionError as err:  # json recurses once per nested [ or {
        raise InvalidPage(page_url, "invalid JSON: nested too deeply") from err


def _json_listing(content: bytes, page_url: str, project: NormalizedName) -> PageListing:
    data = decode_json_page(content, page_url)
    if not isinstance(data, dict):
        raise InvalidPage(page_url, "the JSON page is not an object")
    meta = data.get("meta")
    _check_api_version(meta.get("api-version") if isinstance(meta, dict) else None, page_url)
    entries = data.get("files")
    if not isinstance(entries, list):
        raise InvalidPage(page_url, "the JSON page has no 'files' list")
    listed = (
        (filename, entry)
        for entry in entries
        if isinstance(entry, dict) and isinstance(filename := entry.get("filename"), str)
    )
    return _listing("json", page_url, project, listed)


def _json_file(
    entry: Mapping[str, Any], page_url: str, project: NormalizedName, source: str
) -> IndexFile | None:
    filename, url = entry.get("filename"), entry.get("url")
    if not isinstance(filename, str) or not isinstance(url, str) or not url:
        return None
    # Most indexes give absolute URLs; joining each costs a URL parse.
    absolute = url if url.startswith(("https://", "http://")) else urljoin(page_url, url)
    raw_hashes = entry.get("hashes")
    hashes = valid_hashes(raw_hashes) if isinstance(raw_hashes, dict) else {}
    if not hashes:
        hashes = fragment_hashes(urlsplit(absolute).fragment)
    core = entry.get("core-metadata", entry.get("dist-info-metadata"))
    requires_python = entry.get("requires-python")
    size = entry.get("size")
    upload_time = entry.get("upload-time")
    return make_index_file(
        filename=filename,
        url=without_fragment(absolute),
        project=project,
        page_url=page_url,
        source=source,
        hashes=hashes,
        requires_python=requires_python.strip() if isinstance(requires_python, str) else None,
        yanked=_json_yanked(entry.get("yanked")),
        core_metadata=_json_core_metadata(core),
        # PEP 700: size and upload-time (from API version 1.1).
        size=_json_size(size),
        upload_time=upload_time if isinstance(upload_time, str) else None,
    )


# --- either --------------------------------------------------------------------


def list_project_page(
    content: bytes, content_type: str | None, page_url: str, project: NormalizedName
) -> PageListing:
    """Read a project page as JSON when it is JSON, else as HTML.

    The body decides when the Content-Type is missing or wrong (static
    mirrors often send ``application/octet-stream``).
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if mime == JSON_CONTENT_TYPE or (mime not in HTML_CONTENT_TYPES and head in (b"{", b"[")):
        return _json_listing(content, page_url, project)
    return _html_listing(content, page_url, project, content_type)


def parse_project_page(
    content: bytes,
    content_type: str | None,
    page_url: str,
    project: NormalizedName,
    source: str,
) -> ProjectPage:
    """Parse a project page, JSON or HTML (see ``list_project_page``)."""
    return listing_page(
        list_project_page(content, content_type, page_url, project), project, source
    )
