"""Distribution filenames: wheels (wheel spec) and sdists (PEP 625 and
older forms), parsed leniently as pip does."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidSdistFilename, NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.models import DistKind

SDIST_EXTENSIONS = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar")


@dataclass(frozen=True)
class DistFilename:
    name: NormalizedName
    version: Version
    kind: DistKind
    # The wheel's compressed tag set ("py2.py3-none-any"), parsed on demand:
    # an index page lists thousands of files and few are ever considered.
    tag_text: str = ""
    build: tuple[int, str] | tuple[()] = ()

    @property
    def tags(self) -> frozenset[Tag]:
        return _tag_set(self.tag_text)


@functools.lru_cache(maxsize=1 << 14)
def _tag_set(text: str) -> frozenset[Tag]:
    # Memoized by text: the files of a page share a few tag sets, and a
    # cached_property locks across threads on Python < 3.12.
    return frozenset(parse_tag(text)) if text else frozenset()


_UNSAFE = re.compile(r"[/\\:\x00-\x1f]")


def is_safe_filename(filename: str) -> bool:
    """A bare file name: no separators, no traversal, no control chars."""
    return bool(filename) and filename not in (".", "..") and _UNSAFE.search(filename) is None


@functools.lru_cache(maxsize=1 << 16)
def parse_filename(filename: str, project: str | None = None) -> DistFilename | None:
    """Parse a wheel or sdist filename, or return None when it is neither.

    ``project`` (the name of the page the file was found on) lets older,
    non-normalized sdist names such as ``Foo_Bar-1.0.tar.gz`` or
    ``foo-bar-1.0.zip`` be split at the right dash.
    """
    if not is_safe_filename(filename):
        return None
    if filename.endswith(".whl"):
        return _parse_wheel(filename)
    lower = filename.lower()
    for ext in SDIST_EXTENSIONS:
        if lower.endswith(ext):
            stem = filename[: -len(ext)]
            break
    else:
        return None
    return _parse_sdist_stem(stem, project)


def release_version(filename: str, project: str | None = None) -> Version | None:
    """The version ``parse_filename`` would give, or None when it gives none
    for sure; the name and tags of a wheel are not checked (cheap enough
    to run on every file of a long index page)."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if len(parts) not in (5, 6):
            return None
        try:
            return _version(parts[1])
        except InvalidVersion:
            return None
    if project is not None and filename.endswith(".tar.gz") and is_safe_filename(filename):
        # The common sdist name: parse_filename's own first try, without
        # the rest of it (a page such as boto3's lists 2,000 sdists).
        version = _sdist_version(filename[:-7], _canonical(project))
        if version is not None:
            return version
    dist = parse_filename(filename, project)
    return dist.version if dist is not None else None


@functools.lru_cache(maxsize=1 << 12)
def _canonical(name: str) -> NormalizedName:
    return canonicalize_name(name)


@functools.lru_cache(maxsize=1 << 15)
def parse_version(text: str) -> Version:
    """``Version(text)``, memoized: a project page repeats each version in
    many filenames."""
    return Version(text)


_version = parse_version


_SEPARATORS = re.compile(r"[-_.]")
_WHEEL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$")
_BUILD_TAG = re.compile(r"^(\d+)(.*)$")


def _parse_wheel(filename: str) -> DistFilename | None:
    # Wheel spec: {name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl; older,
    # non-normalized names are accepted as pip does.
    parts = filename[:-4].split("-")
    if len(parts) not in (5, 6) or not _WHEEL_NAME.match(parts[0]):
        return None
    try:
        version = _version(parts[1])
    except InvalidVersion:
        return None
    build: tuple[int, str] | tuple[()] = ()
    if len(parts) == 6:
        match = _BUILD_TAG.match(parts[2])
        if match is None:
            return None
        build = (int(match[1]), match[2])
    if not all(parts[-3:]):
        return None
    tag_text = "-".join(parts[-3:])
    return DistFilename(canonicalize_name(parts[0]), version, DistKind.WHEEL, tag_text, build)


def _sdist_version(stem: str, canon: str) -> Version | None:
    """The version of an sdist stem in the common case, without a name per
    dash: separators mapped one to one, the stem starts with the canonical
    name and a dash (no earlier dash can end a head whose canonical form is
    the whole name).  None: not that case, try every dash."""
    end = len(canon)
    if end and stem[end : end + 1] == "-" and _SEPARATORS.sub("-", stem[:end]).lower() == canon:
        try:
            return _version(stem[end + 1 :])
        except InvalidVersion:
            return None
    return None


def _parse_sdist_stem(stem: str, project: str | None) -> DistFilename | None:
    candidates: list[tuple[str, str]] = []
    if project is not None:
        # pip's approach: find where the canonical project name ends.
        canon = _canonical(project)
        version = _sdist_version(stem, canon)
        if version is not None:
            return DistFilename(canon, version, DistKind.SDIST)
        for match in re.finditer("-", stem):
            head = stem[: match.start()]
            if canonicalize_name(head) == canon:
                candidates.append((head, stem[match.end() :]))
    else:
        head, sep, tail = stem.rpartition("-")
        if sep:
            candidates.append((head, tail))
    for head, tail in candidates:
        try:
            version = _version(tail)
        except InvalidVersion:
            continue
        if not head:
            continue
        return DistFilename(canonicalize_name(head), version, DistKind.SDIST)
    return None


__all__ = [
    "DistFilename",
    "InvalidSdistFilename",
    "is_safe_filename",
    "parse_filename",
    "parse_version",
    "release_version",
]
