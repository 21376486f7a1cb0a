"""Distribution filenames: wheels (wheel spec) and sdists (PEP 625 and
older forms), parsed leniently as pip does."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .models import DistKind

SDIST_EXTENSIONS = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar")


@dataclass(frozen=True)
class DistFilename:
    name: NormalizedName
    version: Version
    kind: DistKind
    tags: frozenset[Tag] = frozenset()
    build: tuple[int, str] | tuple[()] = ()


def is_safe_filename(filename: str) -> bool:
    """A bare file name: no separators, no traversal, no control chars."""
    return (
        bool(filename)
        and filename not in (".", "..")
        and "/" not in filename
        and "\\" not in filename
        and not any(ord(c) < 32 for c in filename)
        and ":" not in filename
    )


def parse_filename(filename: str, project: str | None = None) -> DistFilename | None:
    """Parse a wheel or sdist filename, or return None when it is neither.

    ``project`` (the name of the page the file was found on) lets older,
    non-normalized sdist names such as ``Foo_Bar-1.0.tar.gz`` or
    ``foo-bar-1.0.zip`` be split at the right dash.
    """
    if not is_safe_filename(filename):
        return None
    if filename.endswith(".whl"):
        try:
            name, version, build, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion):
            return None
        return DistFilename(name, version, DistKind.WHEEL, frozenset(tags), build)
    lower = filename.lower()
    for ext in SDIST_EXTENSIONS:
        if lower.endswith(ext):
            stem = filename[: -len(ext)]
            break
    else:
        return None
    return _parse_sdist_stem(stem, project)


def _parse_sdist_stem(stem: str, project: str | None) -> DistFilename | None:
    candidates: list[tuple[str, str]] = []
    if project is not None:
        # pip's approach: find where the canonical project name ends.
        canon = canonicalize_name(project)
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
            version = Version(tail)
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
]
