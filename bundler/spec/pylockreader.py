"""Reading PEP 751 ``pylock.toml`` files (bundler's own, ``pip lock``'s,
``uv export``/``uv pip compile``'s and pdm's) into the pins ``bundle
download`` fetches: text in, a :class:`LockInput` out, every problem
reported together. The build-only packages that bundler keeps under
``[[tool.bundle.build-packages]]`` come back as build-only pins.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.pylock import (
    Package,
    PackageArchive,
    PackageSdist,
    PackageWheel,
    Pylock,
    PylockValidationError,
)
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.errors import BundlerError, InputFileError, MultipleErrors, url_problem
from bundler.fsutil import url_path_to_local
from bundler.models import HASH_LENGTHS, IndexSettings, LockFileRef, LockInput, LockPin
from bundler.redact import redact_url
from bundler.spec.filenames import parse_filename
from bundler.spec.lockmarkers import decide_selection_marker
from bundler.spec.pylock import BUILD_PACKAGES_KEY, LOCK_VERSION, TOOL_KEY

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["read_pylock"]

_PACKAGES_HEADER = re.compile(r"^\s*\[\[\s*packages\s*\]\]")
_BUILD_HEADER = re.compile(
    r"^\s*\[\[\s*tool\s*\.\s*" + TOOL_KEY + r"\s*\.\s*" + BUILD_PACKAGES_KEY + r"\s*\]\]"
)
_TOML_LINE = re.compile(r"at line (\d+)")
# The header that lets packaging validate one package entry on its own.
_MINIMAL = {"lock-version": LOCK_VERSION, "created-by": "bundler"}

# A package file as a lock entry lists it.
_Dist = PackageArchive | PackageSdist | PackageWheel
# What makes two entries the same pin: build-only, name, marker, version for build pins.
_PinKey = tuple[bool, NormalizedName, str | None, Version | None]


@dataclass(frozen=True)
class _Entry:
    """One ``[[packages]]`` (or build-package) table and where it is."""

    data: Mapping[str, Any]
    index: int
    line: int | None
    build_only: bool

    @property
    def where(self) -> str:
        table = f"tool.{TOOL_KEY}.{BUILD_PACKAGES_KEY}" if self.build_only else "packages"
        return f"{table}[{self.index}]"


class _Refused(Exception):
    """Why one package entry cannot be read (reported with the others)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def read_pylock(
    text: str,
    path: str,
    *,
    extras: Collection[str] = (),
    dependency_groups: Collection[str] | None = None,
) -> LockInput:
    """Read a PEP 751 lock into the pins ``bundle download`` fetches.

    The file is validated with :mod:`packaging.pylock`, package by package,
    and every problem is reported together, located by file and line (exit
    2). Markers on ``extras`` and ``dependency_groups`` (pdm writes them)
    are decided here, for the given ``extras`` and ``dependency_groups``
    (default: the lock's ``default-groups``); packages they exclude are
    left out. Wheels and sdists found on the local file system (relative
    ``path`` entries, ``file://`` URLs) make their directories find-links
    locations; the ``index`` of each package makes the index URLs.
    VCS and directory sources are refused: a bundle holds only files.
    """
    data, lock = _load(text, path)
    errors: list[BundlerError] = []
    entries = _all_entries(data, text, path, errors)
    chosen_extras, chosen_groups = _chosen(lock, extras, dependency_groups, path, errors)
    reader = _PinReader(path, chosen_extras, chosen_groups, errors)
    for entry in entries:
        reader.read(entry)
    if errors:
        errors.sort(key=_error_position)
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    indexes = _index_settings(reader.indexes, reader.locations, path)
    return LockInput(
        pins=tuple(reader.pins_with_dependents()),
        indexes=indexes,
        path=path,
        environments=tuple(str(m) for m in lock.environments or ()),
        requires_python=str(lock.requires_python) if lock.requires_python else None,
    )


def _load(text: str, path: str) -> tuple[dict[str, Any], Pylock]:
    """The TOML of the lock, and its header validated by packaging."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = _TOML_LINE.search(str(err))
        line = int(match[1]) if match else None
        raise InputFileError(path, line, f"not valid TOML: {err}") from None
    header = {k: v for k, v in data.items() if k != "packages"}
    try:
        lock = Pylock.from_dict({**header, "packages": []})
    except PylockValidationError as err:
        raise InputFileError(path, None, f"not a valid pylock.toml: {err}") from None
    if not isinstance(data.get("packages"), list):
        raise InputFileError(path, None, "not a valid pylock.toml: no [[packages]] array")
    return data, lock


def _all_entries(
    data: Mapping[str, Any], text: str, path: str, errors: list[BundlerError]
) -> list[_Entry]:
    """The ``[[packages]]`` tables, then bundler's build-only ones."""
    entries = _entries(data["packages"], text, _PACKAGES_HEADER, build_only=False)
    tool = data.get("tool")
    mine = tool.get(TOOL_KEY) if isinstance(tool, Mapping) else None
    build = mine.get(BUILD_PACKAGES_KEY) if isinstance(mine, Mapping) else None
    if build is not None:
        if isinstance(build, list):
            entries += _entries(build, text, _BUILD_HEADER, build_only=True)
        else:
            where = f"tool.{TOOL_KEY}.{BUILD_PACKAGES_KEY}"
            errors.append(InputFileError(path, None, f"{where} must be an array of tables"))
    return entries


def _chosen(
    lock: Pylock,
    extras: Collection[str],
    dependency_groups: Collection[str] | None,
    path: str,
    errors: list[BundlerError],
) -> tuple[set[str], set[str]]:
    """The extras and dependency groups asked for (normalized); those the
    lock does not declare are reported."""
    declared_extras = {canonicalize_name(e) for e in lock.extras or ()}
    chosen_extras: set[str] = {canonicalize_name(e) for e in extras}
    declared_groups = {
        canonicalize_name(g)
        for g in [*(lock.dependency_groups or ()), *(lock.default_groups or ())]
    }
    if dependency_groups is None:
        chosen_groups: set[str] = {canonicalize_name(g) for g in lock.default_groups or ()}
    else:
        chosen_groups = {canonicalize_name(g) for g in dependency_groups}
    for label, chosen, declared in (
        ("extras", chosen_extras, declared_extras),
        ("dependency groups", chosen_groups, declared_groups),
    ):
        unknown = sorted(chosen - declared)
        if unknown:
            errors.append(
                InputFileError(path, None, f"the lock declares no {label} {', '.join(unknown)}")
            )
    return chosen_extras, chosen_groups


def _entries(
    tables: list[Any], text: str, header: re.Pattern[str], *, build_only: bool
) -> list[_Entry]:
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if header.match(line)]
    # Lines are only known when every table has its own header (not inline).
    known = len(lines) == len(tables)
    return [
        _Entry(
            data=t if isinstance(t, Mapping) else {},
            index=i,
            line=lines[i] if known else None,
            build_only=build_only,
        )
        for i, t in enumerate(tables)
    ]


class _PinReader:
    """Reads the package entries of one lock in order, collecting the pins,
    where their files are, the indexes named, who depends on whom, and
    every problem."""

    def __init__(
        self,
        path: str,
        extras: Collection[str],
        groups: Collection[str],
        errors: list[BundlerError],
    ) -> None:
        self.path = path
        self.extras = extras
        self.groups = groups
        self.errors = errors
        self.pins: list[LockPin] = []
        self.locations: list[str] = []
        self.indexes: list[str] = []
        self.dependents: dict[NormalizedName, set[str]] = {}
        self.seen: dict[_PinKey, str] = {}

    def read(self, entry: _Entry) -> None:
        """Validate one entry and add its pin (or its problem)."""
        path = self.path
        try:
            package = Pylock.from_dict({**_MINIMAL, "packages": [entry.data]}).packages[0]
        except PylockValidationError as err:
            self.errors.append(InputFileError(path, entry.line, f"{entry.where}: {err}"))
            return
        for dep in package.dependencies or ():
            dep_name = dep.get("name")
            if isinstance(dep_name, str):
                self.dependents.setdefault(canonicalize_name(dep_name), set()).add(package.name)
        try:
            read = _entry_pin(entry, package, path, self.extras, self.groups)
        except _Refused as err:
            message = f"{package.name}: {err.message}"
            self.errors.append(InputFileError(path, entry.line, message, hint=err.hint))
            return
        if read is None:
            return
        pin, files = read
        key = (entry.build_only, pin.name, pin.marker, pin.version if entry.build_only else None)
        if key in self.seen:
            self.errors.append(
                InputFileError(
                    path,
                    entry.line,
                    f"{pin.name} is locked twice for the same environments"
                    f" (also at {self.seen[key]})",
                    hint="a lock has one entry per package and marker",
                )
            )
            return
        self.seen[key] = pin.source
        self.pins.append(pin)
        self.locations.extend(files)
        if package.index and package.archive is None:
            self.indexes.append(package.index)

    def pins_with_dependents(self) -> list[LockPin]:
        """The pins, each with the packages that depend on it added to its via."""
        return [
            dataclasses.replace(
                p, via=tuple(dict.fromkeys([*p.via, *sorted(self.dependents.get(p.name, ()))]))
            )
            for p in self.pins
        ]


def _entry_pin(
    entry: _Entry,
    package: Package,
    path: str,
    extras: Collection[str],
    groups: Collection[str],
) -> tuple[LockPin, list[str]] | None:
    """The pin of one validated package entry, and where its files are
    (URLs, or paths relative to the lock, as written); None when its marker
    leaves it out. Raises ``_Refused``."""
    source = f"{path}:{entry.line}" if entry.line is not None else f"{path}:{entry.where}"
    if package.vcs is not None or package.directory is not None:
        kind = "VCS" if package.vcs is not None else "directory"
        raise _Refused(
            f"{kind} sources cannot be bundled",
            hint="a bundle holds only distribution files; lock a built wheel or sdist",
        )
    try:
        selected, marker = decide_selection_marker(package.marker, extras, groups)
    except ValueError as err:
        raise _Refused(str(err)) from None
    if not selected:
        return None
    dists, url = _dists(package, path)
    version = _version(package, dists)
    for given in (package.index, *(d.url for _, d in dists)):
        if given and (bad := url_problem(given)) is not None:
            raise _Refused(f"{redact_url(given)}: {bad}")
    pin = LockPin(
        name=package.name,
        version=version,
        hashes=tuple(sorted(dict.fromkeys(_strong_hashes(dists)))),
        marker=marker,
        via=_tool_via(entry.data),
        source=source,
        url=url,
        build_only=entry.build_only,
        files=tuple(_file_refs(dists, path)),
        requires_python=str(package.requires_python) if package.requires_python else None,
    )
    return pin, [d.path if d.path is not None else d.url or "" for _, d in dists]


def _dists(package: Package, path: str) -> tuple[list[tuple[str, _Dist]], str | None]:
    """The entry's files by name, and its direct URL (an archive's)."""
    dists: list[tuple[str, _Dist]] = []
    url: str | None = None
    if package.archive is not None:
        archive = package.archive
        location = archive.path if archive.path is not None else archive.url or ""
        filename = unquote(urlsplit(location).path.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
        dists.append((filename, archive))
        url = _archive_url(archive.path, archive.url, path)
    else:
        dists.extend((w.filename, w) for w in package.wheels or ())
        if package.sdist is not None:
            dists.append((package.sdist.filename, package.sdist))
    return dists, url


def _version(package: Package, dists: Sequence[tuple[str, _Dist]]) -> Version:
    if package.version is not None:
        return package.version
    # packaging checked that wheel and sdist names agree with the entry.
    dist = parse_filename(dists[0][0], package.name)
    version = dist.version if dist is not None else None
    if version is None:
        raise _Refused(f"no version, and none in the file name {dists[0][0]}")
    return version


def _strong_hashes(dists: Sequence[tuple[str, _Dist]]) -> list[str]:
    """Every file's hashes that pip checks (``algo:hex``), each file needing one."""
    hashes: list[str] = []
    for filename, dist_entry in dists:
        strong = [
            f"{algo.lower()}:{value.lower()}"
            for algo, value in sorted(dist_entry.hashes.items())
            if HASH_LENGTHS.get(algo.lower()) == len(value)
        ]
        if not strong:
            raise _Refused(
                f"{filename} has no sha256, sha384 or sha512 hash",
                hint="pip checks only these; lock with sha256 hashes",
            )
        hashes.extend(strong)
    return hashes


def _file_refs(dists: Sequence[tuple[str, _Dist]], path: str) -> list[LockFileRef]:
    """The files the entry names outright (with a sha256 and a location)."""
    refs: list[LockFileRef] = []
    for filename, dist_entry in dists:
        sha = dist_entry.hashes.get("sha256")
        where = _archive_url(dist_entry.path, dist_entry.url, path)
        if sha and where:
            uploaded = getattr(dist_entry, "upload_time", None)
            refs.append(
                LockFileRef(
                    filename=filename,
                    url=where,
                    sha256=sha.lower(),
                    size=dist_entry.size,
                    upload_time=_pep700_time(uploaded),
                )
            )
    return refs


def _pep700_time(value: object) -> str | None:
    """PEP 700's form (``2024-01-01T00:00:00.000000Z``) of a TOML datetime."""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return None


def _tool_via(data: Mapping[str, Any]) -> tuple[str, ...]:
    tool = data.get("tool")
    mine = tool.get(TOOL_KEY) if isinstance(tool, Mapping) else None
    via = mine.get("via") if isinstance(mine, Mapping) else None
    if not isinstance(via, list):
        return ()
    return tuple(v for v in via if isinstance(v, str))


def _archive_url(rel: str | None, url: str | None, lock_path: str) -> str:
    if rel is None:
        return url or ""
    # PEP 751: a relative path is relative to the lock file.
    return Path(os.path.dirname(lock_path), rel).absolute().as_uri()


def _is_remote(location: str) -> bool:
    return "://" in location and urlsplit(location).scheme.lower() != "file"


def _local_folder(location: str, lock_path: str) -> str:
    """The directory of a local file (a path or a file:// URL), as a
    find-links location; relative paths stay relative to where the lock
    path is relative to."""
    if "://" in location:
        return os.path.dirname(url_path_to_local(urlsplit(location).path))
    if os.path.isabs(location):
        return os.path.dirname(location)
    return os.path.normpath(os.path.join(os.path.dirname(lock_path), os.path.dirname(location)))


def _index_settings(indexes: Sequence[str], files: Sequence[str], lock_path: str) -> IndexSettings:
    """Where ``bundle download`` finds the locked files: the packages'
    indexes, plus the directories of the local files as find-links."""
    find_links = tuple(
        dict.fromkeys(_local_folder(f, lock_path) for f in files if f and not _is_remote(f))
    )
    local = {_comparable(f) for f in find_links}
    # uv writes a find-links directory as the "index" of its files.
    real = [i for i in dict.fromkeys(indexes) if _comparable(i) not in local]
    if real:
        return IndexSettings(
            index_url=real[0], extra_index_urls=tuple(real[1:]), find_links=find_links
        )
    if find_links and not any(_is_remote(f) for f in files):
        # Every file is on this machine: nothing to ask an index for.
        return IndexSettings(index_url=None, find_links=find_links)
    # Remote files from no named index: pip's default (and pip's configuration).
    return IndexSettings(find_links=find_links)


def _comparable(location: str) -> str:
    if "://" in location and not _is_remote(location):
        location = url_path_to_local(urlsplit(location).path)
    if "://" in location:
        return location.rstrip("/")
    return os.path.normpath(location)


def _error_position(err: BundlerError) -> int:
    line = getattr(err, "line", None)
    return line if isinstance(line, int) else 0
