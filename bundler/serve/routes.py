"""What a request to ``bundle serve`` asks for: its path split safely,
the route it takes (a page, a file of the bundle, a redirect) and the
representation of a page the client accepts (PEP 691 content negotiation).
Pure functions of the request's text."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final
from urllib.parse import unquote

from packaging.utils import canonicalize_name

from bundler.bundle.layout import (
    FILES_DIR,
    MANIFEST_NAME,
    METADATA_SUFFIX,
    PYLOCK_LOCK,
    REQUIREMENTS_LOCK,
    SIMPLE_DIR,
)
from bundler.spec.filenames import is_safe_filename
from bundler.spec.pages import JSON_CONTENT_TYPE

__all__ = [
    "HTML_V1",
    "IMMUTABLE",
    "JSON_V1",
    "MEDIA_TYPES",
    "ROOT_FILES",
    "SHORT_LIVED",
    "TEXT_HTML",
    "BadPath",
    "Page",
    "Redirect",
    "Route",
    "StaticFile",
    "negotiate",
    "parse_accept",
    "route",
    "split_path",
]

# PEP 691: the three representations a project page can be served as.
JSON_V1: Final = JSON_CONTENT_TYPE
HTML_V1: Final = "application/vnd.pypi.simple.v1+html"
TEXT_HTML: Final = "text/html"
MEDIA_TYPES: Final = (JSON_V1, HTML_V1, TEXT_HTML)

# Root files a bundle may hold besides the index.
ROOT_FILES: Final = {
    MANIFEST_NAME: "application/json",
    REQUIREMENTS_LOCK: "text/plain; charset=utf-8",
    PYLOCK_LOCK: "application/toml",
}

# Artifacts are named by project and version and never change under one name.
IMMUTABLE: Final = "public, max-age=31536000, immutable"
# Pages and locks change when the bundle is rebuilt in place: a cache
# asks again each time (a 304 when the ETag still matches), or uv, which
# keeps a page as long as max-age says, misses a release built since.
SHORT_LIVED: Final = "public, no-cache"


# --- request paths ---------------------------------------------------------------


class BadPath(ValueError):
    """A request target that is malformed or tries to leave the bundle."""


_PRINTABLE = re.compile(r"[\x21-\x7e]*")


def split_path(target: str) -> tuple[str, ...]:
    """The decoded segments of an origin-form request target.

    ``"/simple/foo/"`` gives ``("simple", "foo", "")``.  Each segment is
    percent-decoded on its own, so an encoded ``/`` cannot join two; any
    segment that is ``.`` or ``..``, holds a separator, a backslash, NUL or a
    control character, or is empty before the last one raises ``BadPath``.
    """
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/") or not _PRINTABLE.fullmatch(path):
        raise BadPath(target)
    segments = path[1:].split("/")
    decoded: list[str] = []
    for i, raw in enumerate(segments):
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError as err:
            raise BadPath(target) from err
        if segment == "" and i < len(segments) - 1:
            raise BadPath(target)
        if (
            segment in (".", "..")
            or "/" in segment
            or "\\" in segment
            or any(ord(c) < 32 or ord(c) == 127 for c in segment)
        ):
            raise BadPath(target)
        decoded.append(segment)
    return tuple(decoded)


# --- routes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    location: str
    status: int = HTTPStatus.MOVED_PERMANENTLY


@dataclass(frozen=True)
class Page:
    """A directory under ``simple/`` holding ``index.html`` and ``index.json``."""

    directory: tuple[str, ...]


@dataclass(frozen=True)
class StaticFile:
    relative: tuple[str, ...]
    content_type: str
    cache_control: str


Route = Redirect | Page | StaticFile | None

# PEP 508: a valid project name (any case, "-", "_" and "." inside).
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def route(parts: tuple[str, ...]) -> Route:
    """What answers the path ``parts`` (from ``split_path``); None for 404."""
    if parts == ("",):
        return Redirect(f"/{SIMPLE_DIR}/", HTTPStatus.FOUND)
    if parts[0] == SIMPLE_DIR:
        return _page_route(parts)
    if parts[0] == FILES_DIR and len(parts) == 2:
        return _file_route(parts)
    if len(parts) == 1 and parts[0] in ROOT_FILES:
        return StaticFile(parts, ROOT_FILES[parts[0]], SHORT_LIVED)
    return None


def _page_route(parts: tuple[str, ...]) -> Route:
    """``simple/`` and ``simple/<project>/``."""
    if len(parts) == 1:
        return Redirect(f"/{SIMPLE_DIR}/")
    if parts[1:] == ("",):
        return Page((SIMPLE_DIR,))
    name = parts[1]
    if len(parts) > 3 or (len(parts) == 3 and parts[2]) or not _PROJECT_NAME.fullmatch(name):
        return None
    normalized = canonicalize_name(name)
    # PEP 503: project URLs are the normalized name with a trailing slash.
    if len(parts) == 2 or normalized != name:
        return Redirect(f"/{SIMPLE_DIR}/{normalized}/")
    return Page((SIMPLE_DIR, normalized))


def _file_route(parts: tuple[str, ...]) -> Route:
    """``files/<file>``: a distribution or its PEP 658 sidecar."""
    filename = parts[1]
    # Dot files are temp files and locks, never artifacts.
    if not is_safe_filename(filename) or filename.startswith("."):
        return None
    if filename.endswith(METADATA_SUFFIX):
        # PEP 658: the wheel's METADATA, an RFC 822 style UTF-8 text.
        return StaticFile(parts, "text/plain; charset=utf-8", IMMUTABLE)
    return StaticFile(parts, "application/octet-stream", IMMUTABLE)


# --- content negotiation -----------------------------------------------------------

# PEP 691: the "latest" aliases resolve to the version this server speaks.
_EXACT: Final = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    TEXT_HTML: TEXT_HTML,
}
_TCHARS = r"[!#$%&'*+.^_`|~0-9a-z-]+"
_MEDIA_RANGE = re.compile(rf"(?:\*/\*|{_TCHARS}/\*|{_TCHARS}/{_TCHARS})")
# RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """(media range, q) pairs of an Accept header, lower-cased, in order.

    Ranges that do not parse are dropped; parameters other than ``q`` are
    ignored.
    """
    ranges: list[tuple[str, float]] = []
    for item in (header or "").split(","):
        media, *params = item.split(";")
        media = media.strip().lower()
        if not _MEDIA_RANGE.fullmatch(media):
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.fullmatch(value) else -1.0
                break
        if q >= 0:
            ranges.append((media, q))
    return ranges


def _match(media_range: str, representation: str) -> int | None:
    """How specifically ``media_range`` names ``representation`` (or None)."""
    if _EXACT.get(media_range) == representation:
        return 2
    if media_range == "*/*":
        return 0
    if media_range.endswith("/*") and representation.startswith(media_range[:-1]):
        return 1
    return None


def negotiate(accept: str | None, available: Collection[str]) -> str | None:
    """The media type (of ``MEDIA_TYPES``) to answer with; None means 406.

    RFC 9110: each representation takes the q of the most specific range
    naming it; q=0 excludes it.  A missing or empty header means ``*/*``.
    Among equals, a named type prefers JSON, then the versioned HTML, and a
    wildcard prefers ``text/html`` (what a browser wants).
    """
    ranges = parse_accept(accept) or [("*/*", 1.0)]
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for representation in MEDIA_TYPES:
        if representation not in available:
            continue
        found: tuple[int, float] | None = None
        for media_range, q in ranges:
            level = _match(media_range, representation)
            if level is not None and (found is None or (level, q) > found):
                found = (level, q)
        if found is None or found[1] <= 0:
            continue
        level, q = found
        order = MEDIA_TYPES if level == 2 else (TEXT_HTML, JSON_V1, HTML_V1)
        key = (q, level, -order.index(representation))
        if best is None or key > best:
            best, chosen = key, representation
    return chosen
