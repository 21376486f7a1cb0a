"""Index page parsers: bytes in, ``ProjectPage`` out, no I/O.

HTML per PEP 503 (with PEP 592 yanking, PEP 658/714 core metadata), JSON
per PEP 691 (with PEP 700 sizes and upload times), and find-links pages and
directories as pip reads them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from packaging.utils import NormalizedName

from .errors import BundlerError
from .filenames import is_safe_filename, parse_filename
from .http import redact_url
from .models import IndexFile, ProjectPage

# PEP 691 content type; the HTML flavour is PEP 503 text/html.
JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPES = ("text/html", "application/vnd.pypi.simple.v1+html")
# PEP 503: hash fragments name a hashlib algorithm.
_HASH_NAMES = frozenset(hashlib.algorithms_guaranteed)
_HEX = re.compile(r"[0-9a-fA-F]+")
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


def _hashes(items: Mapping[str, Any]) -> dict[str, str]:
    """Valid ``algorithm -> hex`` pairs, lowercased; anything else dropped."""
    out: dict[str, str] = {}
    for name, value in items.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        algo = name.lower()
        if algo in _HASH_NAMES and _HEX.fullmatch(value):
            out[algo] = value.lower()
    return out


def _fragment_hashes(fragment: str) -> dict[str, str]:
    # PEP 503: "#<hashname>=<hashvalue>".
    pairs = {}
    for part in fragment.split("&"):
        name, sep, value = part.partition("=")
        if sep:
            pairs[name] = value
    return _hashes(pairs)


def _allowed_scheme(url: str, page_url: str) -> bool:
    if url.startswith(("https://", "http://")):  # the common case, without parsing
        return True
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        return True
    # A remote page must not point bundler at files on this machine.
    return scheme == "file" and urlsplit(page_url).scheme == "file"


def _check_api_version(version: object, page_url: str) -> None:
    # PEP 629: a client must refuse a major version it does not know.
    if version is None:
        return
    major = str(version).strip().split(".", 1)[0]
    if major != "1":
        raise InvalidPage(
            page_url, f"unsupported repository API version {str(version)[:20]!r} (need 1.x)"
        )


def _make_file(
    *,
    filename: str,
    url: str,
    project: NormalizedName | None,
    page_url: str,
    source: str,
    hashes: Mapping[str, str],
    requires_python: str | None,
    yanked: str | None,
    core_metadata: Mapping[str, str] | None,
    size: int | None = None,
    upload_time: str | None = None,
) -> IndexFile | None:
    """An IndexFile, or None when the link is not a safe distribution of
    ``project`` (of any project when ``project`` is None)."""
    if not is_safe_filename(filename) or not _allowed_scheme(url, page_url):
        return None
    dist = parse_filename(filename, project)
    if dist is None or (project is not None and dist.name != project):
        return None
    return IndexFile(
        filename=filename,
        url=url,
        project=dist.name,
        version=dist.version,
        kind=dist.kind,
        hashes=dict(hashes),
        requires_python=requires_python or None,
        yanked=yanked,
        core_metadata=core_metadata,
        size=size,
        upload_time=upload_time,
        index=source,
    )


def _url_filename(url: str) -> str:
    # The last path segment, unquoted: "%2e%2e%2f" becomes "../" here and is
    # then refused by is_safe_filename.
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _without_fragment(url: str) -> str:
    if "#" not in url:
        return url
    return urlunsplit(urlsplit(url)._replace(fragment=""))


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
    return _hashes({name: digest}) if sep else {}


def _html_files(
    content: bytes,
    page_url: str,
    project: NormalizedName | None,
    source: str,
    content_type: str | None,
) -> list[IndexFile]:
    parser = _parse_links(content, page_url, content_type)
    base_url = urljoin(page_url, parser.base) if parser.base else page_url
    files: list[IndexFile] = []
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url = urljoin(base_url, href.strip())
        core = attrs.get("data-core-metadata")
        if core is None:
            core = attrs.get("data-dist-info-metadata")
        found = _make_file(
            filename=_url_filename(url),
            url=_without_fragment(url),
            project=project,
            page_url=page_url,
            source=source,
            hashes=_fragment_hashes(urlsplit(url).fragment),
            requires_python=(attrs.get("data-requires-python") or "").strip() or None,
            # PEP 592: the attribute's presence yanks; its value is the reason.
            yanked=(attrs["data-yanked"] or "") if "data-yanked" in attrs else None,
            core_metadata=_core_metadata_attr(core),
        )
        if found is not None:
            files.append(found)
    return files


def parse_html_page(
    content: bytes,
    page_url: str,
    project: NormalizedName,
    source: str,
    content_type: str | None = None,
) -> ProjectPage:
    """Parse a PEP 503 project page; links that are not distributions of
    ``project`` or whose filename is unsafe are skipped."""
    return ProjectPage(
        project, tuple(_html_files(content, page_url, project, source, content_type)), source
    )


def parse_find_links_page(
    content: bytes, page_url: str, source: str, content_type: str | None = None
) -> list[IndexFile]:
    """Every distribution an HTML find-links page links to, of any project."""
    return _html_files(content, page_url, None, source, content_type)


# --- JSON (PEP 691) ---------------------------------------------------------------


def _json_yanked(value: object) -> str | None:
    # PEP 691: a bool, or a non-empty reason string (pip treats "" as not yanked).
    if isinstance(value, str):
        return value or None
    if value is True:
        return ""
    return None


def _json_size(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _json_core_metadata(value: object) -> dict[str, str] | None:
    # PEP 691/714: a bool, or a dict of hashes.
    if value is True:
        return {}
    if isinstance(value, dict):
        return _hashes(value)
    return None


def parse_json_page(
    content: bytes, page_url: str, project: NormalizedName, source: str
) -> ProjectPage:
    """Parse a PEP 691 v1 project page (file URLs relative to ``page_url``)."""
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as err:
        raise InvalidPage(page_url, f"invalid JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidPage(page_url, "the JSON page is not an object")
    meta = data.get("meta")
    _check_api_version(meta.get("api-version") if isinstance(meta, dict) else None, page_url)
    entries = data.get("files")
    if not isinstance(entries, list):
        raise InvalidPage(page_url, "the JSON page has no 'files' list")
    files: list[IndexFile] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        filename, url = entry.get("filename"), entry.get("url")
        if not isinstance(filename, str) or not isinstance(url, str) or not url:
            continue
        # Most indexes give absolute URLs; joining each costs a URL parse.
        absolute = url if url.startswith(("https://", "http://")) else urljoin(page_url, url)
        raw_hashes = entry.get("hashes")
        hashes = _hashes(raw_hashes) if isinstance(raw_hashes, dict) else {}
        if not hashes:
            hashes = _fragment_hashes(urlsplit(absolute).fragment)
        core = entry.get("core-metadata", entry.get("dist-info-metadata"))
        requires_python = entry.get("requires-python")
        size = entry.get("size")
        upload_time = entry.get("upload-time")
        found = _make_file(
            filename=filename,
            url=_without_fragment(absolute),
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
        if found is not None:
            files.append(found)
    return ProjectPage(project, tuple(files), source)


# --- either --------------------------------------------------------------------


def parse_project_page(
    content: bytes,
    content_type: str | None,
    page_url: str,
    project: NormalizedName,
    source: str,
) -> ProjectPage:
    """Parse a project page as JSON when it is JSON, else as HTML.

    The body decides when the Content-Type is missing or wrong (static
    mirrors often send ``application/octet-stream``).
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if mime == JSON_CONTENT_TYPE or (mime not in HTML_CONTENT_TYPES and head in (b"{", b"[")):
        return parse_json_page(content, page_url, project, source)
    return parse_html_page(content, page_url, project, source, content_type)


# --- find-links directories -------------------------------------------------------


def list_find_links_dir(path: Path, source: str | None = None) -> list[IndexFile]:
    """Every distribution file directly inside ``path`` (pip's find-links
    directory), sorted by name, with ``file://`` URLs and no hashes."""
    shown = source if source is not None else str(path)
    root = path.resolve()
    files: list[IndexFile] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not entry.is_file():
            continue
        found = _make_file(
            filename=entry.name,
            url=entry.as_uri(),
            project=None,
            page_url=root.as_uri(),
            source=shown,
            hashes={},
            requires_python=None,
            yanked=None,
            core_metadata=None,
        )
        if found is not None:
            files.append(found)
    return files


__all__ = [
    "HTML_CONTENT_TYPES",
    "JSON_CONTENT_TYPE",
    "InvalidPage",
    "list_find_links_dir",
    "parse_find_links_page",
    "parse_html_page",
    "parse_json_page",
    "parse_project_page",
]
