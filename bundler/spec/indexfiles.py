"""Distribution files from the links of index pages and find-links
directories: names, URL schemes and hashes checked, as ``IndexFile`` values."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.utils import NormalizedName

from bundler.models import IndexFile
from bundler.spec.filenames import is_safe_filename, parse_filename

__all__ = [
    "allowed_scheme",
    "fragment_hashes",
    "list_find_links_dir",
    "make_index_file",
    "url_filename",
    "valid_hashes",
    "without_fragment",
]

# PEP 503: hash fragments name a hashlib algorithm.
_HASH_NAMES = frozenset(hashlib.algorithms_guaranteed)
_HEX = re.compile(r"[0-9a-fA-F]+")


def valid_hashes(items: Mapping[str, Any]) -> dict[str, str]:
    """Valid ``algorithm -> hex`` pairs, lowercased; anything else dropped."""
    out: dict[str, str] = {}
    for name, value in items.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        algo = name.lower()
        if algo in _HASH_NAMES and _HEX.fullmatch(value):
            out[algo] = value.lower()
    return out


def fragment_hashes(fragment: str) -> dict[str, str]:
    """The hashes of a link's URL fragment."""
    # PEP 503: "#<hashname>=<hashvalue>".
    pairs = {}
    for part in fragment.split("&"):
        name, sep, value = part.partition("=")
        if sep:
            pairs[name] = value
    return valid_hashes(pairs)


def allowed_scheme(url: str, page_url: str) -> bool:
    """Whether a page at ``page_url`` may point at ``url``."""
    if url.startswith(("https://", "http://")):  # the common case, without parsing
        return True
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        return True
    # A remote page must not point bundler at files on this machine.
    return scheme == "file" and urlsplit(page_url).scheme == "file"


def make_index_file(
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
    if not is_safe_filename(filename) or not allowed_scheme(url, page_url):
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


def url_filename(url: str) -> str:
    """The last path segment of ``url``, unquoted."""
    # The last path segment, unquoted: "%2e%2e%2f" becomes "../" here and is
    # then refused by is_safe_filename.
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def without_fragment(url: str) -> str:
    """``url`` without its ``#...`` fragment."""
    if "#" not in url:
        return url
    return urlunsplit(urlsplit(url)._replace(fragment=""))


def list_find_links_dir(path: Path, source: str | None = None) -> list[IndexFile]:
    """Every distribution file directly inside ``path`` (pip's find-links
    directory), sorted by name, with ``file://`` URLs and no hashes."""
    shown = source if source is not None else str(path)
    root = path.resolve()
    files: list[IndexFile] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not entry.is_file():
            continue
        found = make_index_file(
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
