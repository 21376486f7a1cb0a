"""Reading core metadata and files out of wheels and sdists, and unpacking sdists, safely.

Archives come from the network, so they are treated as hostile: entry
names are checked before anything is read and sizes are capped.  Nothing is
extracted to disk, except by ``extract_sdist``, and only after every member
of the archive passed the checks.
"""

from __future__ import annotations

import collections
import lzma
import re
import shutil
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.errors import BundlerError, InvalidDistribution
from bundler.models import CoreMetadata, DistKind
from bundler.spec.filenames import DistFilename, parse_filename
from bundler.spec.metadata import MAX_METADATA_SIZE, is_static, parse_raw_metadata

__all__ = [
    "MAX_SDIST_MEMBERS",
    "MAX_SDIST_UNPACKED",
    "SeekableReader",
    "extract_sdist",
    "sdist_file",
    "sdist_metadata",
    "wheel_metadata",
]

MAX_SDIST_MEMBERS = 200_000
MAX_SDIST_UNPACKED = 4 * 1024 * 1024 * 1024
_ARCHIVE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
    struct.error,
    tarfile.TarError,
    NotImplementedError,
    RuntimeError,
)


class SeekableReader(Protocol):
    """A binary file opened for reading (a real file or a remote one)."""

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def read(self, n: int = -1, /) -> bytes: ...

    def tell(self) -> int: ...

    def seekable(self) -> bool: ...


# --- wheels -----------------------------------------------------------------------


def _dist_filename(filename: str, kind: DistKind) -> DistFilename:
    parsed = parse_filename(filename)
    if parsed is None or parsed.kind is not kind:
        raise InvalidDistribution(filename, f"not a valid {kind.value} filename")
    return parsed


def _duplicates(names: list[str]) -> list[str]:
    return sorted(n for n, count in collections.Counter(names).items() if count > 1)


def _pick_dist_info(candidates: list[str], dist: DistFilename, filename: str) -> str:
    """The METADATA entry of the wheel's own ``.dist-info`` directory."""
    if len(candidates) == 1:
        directory = candidates[0].split("/", 1)[0]
        # pip: the directory's normalized name must start with the project's.
        if not canonicalize_name(directory[: -len(".dist-info")]).startswith(dist.name):
            raise InvalidDistribution(
                filename, f"{directory} does not belong to project {dist.name}"
            )
        return candidates[0]
    exact: list[str] = []
    for entry in candidates:
        stem = entry.split("/", 1)[0][: -len(".dist-info")]
        name, _, version = stem.rpartition("-")
        try:
            same_version = Version(version) == dist.version
        except InvalidVersion:
            same_version = False
        if canonicalize_name(name) == dist.name and same_version:
            exact.append(entry)
    if len(exact) != 1:
        shown = ", ".join(c.split("/", 1)[0] for c in candidates) or "none"
        raise InvalidDistribution(
            filename, f"expected exactly one .dist-info directory with METADATA, found: {shown}"
        )
    return exact[0]


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, filename: str) -> bytes:
    if info.file_size > MAX_METADATA_SIZE:
        raise InvalidDistribution(
            filename, f"{info.filename} is {info.file_size} bytes (limit {MAX_METADATA_SIZE})"
        )
    with archive.open(info) as fh:
        data = fh.read(MAX_METADATA_SIZE + 1)
    if len(data) > MAX_METADATA_SIZE:
        raise InvalidDistribution(filename, f"{info.filename} exceeds {MAX_METADATA_SIZE} bytes")
    return data


def wheel_metadata(wheel: Path | SeekableReader, filename: str) -> bytes:
    """The bytes of a wheel's ``{name}-{version}.dist-info/METADATA``.

    ``wheel`` is a path or a seekable binary file.  Names are matched the
    way pip matches them (normalized, any case); duplicate archive entries,
    several candidate directories and oversized METADATA are refused with
    ``InvalidDistribution``.
    """
    dist = _dist_filename(filename, DistKind.WHEEL)
    try:
        with zipfile.ZipFile(wheel) as archive:
            entry = _metadata_entry(archive.namelist(), dist, filename)
            return _read_capped(archive, archive.getinfo(entry), filename)
    except BundlerError:
        raise
    except _ARCHIVE_ERRORS as err:
        raise InvalidDistribution(filename, f"cannot read the wheel: {err}") from err


def _metadata_entry(names: list[str], dist: DistFilename, filename: str) -> str:
    """The METADATA entry among ``names``."""
    if len(set(names)) != len(names):
        shown = ", ".join(_duplicates(names)[:5])
        raise InvalidDistribution(filename, f"duplicate archive entries: {shown}")
    candidates = [
        n
        for n in names
        if n.count("/") == 1
        and n.split("/", 1)[0].lower().endswith(".dist-info")
        and n.split("/", 1)[1].upper() == "METADATA"
    ]
    return _pick_dist_info(candidates, dist, filename)


# --- sdists -----------------------------------------------------------------------


def _unsafe_name(name: str) -> str | None:
    """Why an archive member name could escape the tree, or None."""
    if not name or "\0" in name:
        return "empty or NUL in name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' in path"
    return None


def _check_tar_member(member: tarfile.TarInfo, filename: str) -> None:
    reason = _unsafe_name(member.name)
    if reason is None and (member.issym() or member.islnk()):
        target = member.linkname
        if _unsafe_name(target) == "absolute path":
            reason = f"link to absolute path {target!r}"
        else:
            # Symlinks are relative to their directory, hard links to the root.
            base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
            depth = 0
            for part in (base / target).parts:
                depth += -1 if part == ".." else (0 if part == "." else 1)
                if depth < 0:
                    reason = f"link out of the tree ({target!r})"
                    break
    elif reason is None and not (member.isfile() or member.isdir()):
        reason = "device, FIFO or other special file"
    if reason is not None:
        raise InvalidDistribution(filename, f"unsafe archive member {member.name!r}: {reason}")


def _member_parts(name: str) -> list[str]:
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _top_level_key(name: str, basename: str) -> str | None:
    """The top-level directory when ``name`` is ``<dir>/<basename>``."""
    parts = _member_parts(name)
    if len(parts) == 2 and parts[1] == basename:
        return parts[0]
    return None


def _path_key(parts: Iterable[str]) -> tuple[str, ...]:
    # Case-folded: on a case-insensitive file system ``Link/x`` goes through ``link``.
    return tuple(part.casefold() for part in parts)


def _check_tar_links(members: list[tarfile.TarInfo], filename: str) -> None:
    """Refuse what a link could redirect, whatever order the members come in.

    Checking each link's target on its own is not enough: a member written
    through a link, or a link resolved through another link (CVE-2025-4517:
    chains that ``os.path.realpath`` stops expanding, which tarfile's
    ``data`` filter trusts), can land outside the tree while every name
    looks inside it.  So no member's path may pass through a link, and no
    link's target may pass through another one (it may name one: the
    named link's own target is checked in turn).
    """
    links = {_path_key(_member_parts(m.name)): m for m in members if m.issym() or m.islnk()}
    if not links:
        return
    for member in members:
        parts = _path_key(_member_parts(member.name))
        for end in range(1, len(parts)):
            link = links.get(parts[:end])
            if link is not None:
                raise InvalidDistribution(
                    filename,
                    f"unsafe archive member {member.name!r}: its path goes through the link"
                    f" {link.name!r}",
                )
        if parts in links and links[parts] is not member:
            # Unpacked over a link, a file is written to where the link points.
            raise InvalidDistribution(
                filename, f"unsafe archive member {member.name!r}: its name is also a link's"
            )
    for key, link in links.items():
        # Symlinks are relative to their directory, hard links to the root.
        walked = list(key[:-1]) if link.issym() else []
        steps = _member_parts(link.linkname)
        for number, part in enumerate(steps, start=1):
            if part == "..":
                walked = walked[:-1]
            else:
                walked.append(part.casefold())
            through = links.get(tuple(walked))
            if through is not None and number < len(steps):
                raise InvalidDistribution(
                    filename,
                    f"unsafe archive member {link.name!r}: its target {link.linkname!r} goes"
                    f" through the link {through.name!r}",
                )


def _safe_tar_members(archive: tarfile.TarFile, filename: str) -> Iterator[tarfile.TarInfo]:
    """Every member of ``archive``, each checked (and counted) before it is
    yielded; the links among them are checked together once the last is read."""
    unpacked = 0
    seen: list[tarfile.TarInfo] = []
    for count, member in enumerate(archive, start=1):
        if count > MAX_SDIST_MEMBERS:
            raise InvalidDistribution(filename, f"more than {MAX_SDIST_MEMBERS} members")
        _check_tar_member(member, filename)
        if member.isfile():
            unpacked += member.size
            if unpacked > MAX_SDIST_UNPACKED:
                raise InvalidDistribution(filename, "unpacks to more than the size limit")
        seen.append(member)
        yield member
    _check_tar_links(seen, filename)


def _tar_top_files(path: Path, filename: str, basename: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(path, mode="r:*") as archive:
        for member in _safe_tar_members(archive, filename):
            if not member.isfile():
                continue
            key = _top_level_key(member.name, basename)
            if key is None:
                continue
            if key in found:
                raise InvalidDistribution(filename, f"duplicate archive entry {member.name!r}")
            if member.size > MAX_METADATA_SIZE:
                raise InvalidDistribution(filename, f"{member.name} is too large")
            fh = archive.extractfile(member)
            if fh is None:
                continue
            with fh:
                found[key] = fh.read(MAX_METADATA_SIZE + 1)
    return found


def _safe_zip_infos(archive: zipfile.ZipFile, filename: str) -> list[zipfile.ZipInfo]:
    """Every member of ``archive``, all checked before any is returned."""
    infos = archive.infolist()
    if len(infos) > MAX_SDIST_MEMBERS:
        raise InvalidDistribution(filename, f"more than {MAX_SDIST_MEMBERS} members")
    duplicates = _duplicates([i.filename for i in infos])
    if duplicates:
        raise InvalidDistribution(filename, f"duplicate archive entries: {duplicates[0]!r}")
    unpacked = 0
    for info in infos:
        reason = _unsafe_name(info.filename)
        mode = info.external_attr >> 16
        if reason is None and stat.S_ISLNK(mode):
            reason = "symbolic link"
        elif (
            reason is None and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))
        ):
            reason = "device, FIFO or other special file"
        if reason is not None:
            raise InvalidDistribution(
                filename, f"unsafe archive member {info.filename!r}: {reason}"
            )
        unpacked += info.file_size
        if unpacked > MAX_SDIST_UNPACKED:
            raise InvalidDistribution(filename, "unpacks to more than the size limit")
    return infos


def _zip_top_files(path: Path, filename: str, basename: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with zipfile.ZipFile(path) as archive:
        for info in _safe_zip_infos(archive, filename):
            key = _top_level_key(info.filename, basename)
            if key is not None and not info.is_dir():
                found[key] = _read_capped(archive, info, filename)
    return found


def _sdist_top_files(path: Path, filename: str, basename: str) -> dict[str, bytes]:
    """top-level directory -> bytes of its ``basename`` file, the whole archive checked."""
    try:
        if filename.lower().endswith(".zip"):
            return _zip_top_files(path, filename, basename)
        return _tar_top_files(path, filename, basename)
    except BundlerError:
        raise
    except _ARCHIVE_ERRORS as err:
        raise InvalidDistribution(filename, f"cannot read the sdist: {err}") from err


def _pick_top_file(
    found: dict[str, bytes], dist: DistFilename, filename: str, basename: str
) -> bytes | None:
    if not found:
        return None
    if len(found) == 1:
        data = next(iter(found.values()))
    else:
        matching = [k for k in found if canonicalize_name(k.rpartition("-")[0] or k) == dist.name]
        if len(matching) != 1:
            raise InvalidDistribution(filename, f"several top-level directories with {basename}")
        data = found[matching[0]]
    if len(data) > MAX_METADATA_SIZE:
        raise InvalidDistribution(filename, f"{basename} exceeds {MAX_METADATA_SIZE} bytes")
    return data


def sdist_file(path: Path, filename: str, basename: str) -> bytes | None:
    """A file at the top of an sdist's source tree (``<dir>/<basename>``,
    e.g. ``pyproject.toml``), or None when the sdist has none.

    The whole archive is checked as ``sdist_metadata`` checks it, and the
    file is capped at ``MAX_METADATA_SIZE``; problems raise
    ``InvalidDistribution``.
    """
    dist = _dist_filename(filename, DistKind.SDIST)
    return _pick_top_file(_sdist_top_files(path, filename, basename), dist, filename, basename)


def sdist_metadata(path: Path, filename: str) -> CoreMetadata | None:
    """The static core metadata of an sdist, from its top-level PKG-INFO.

    Returns None when the metadata is dynamic (PEP 643: Metadata-Version
    below 2.2, or a field the resolver needs listed in ``Dynamic``), i.e.
    only a build could tell.  An unsafe or malformed archive raises
    ``InvalidDistribution``.
    """
    dist = _dist_filename(filename, DistKind.SDIST)
    data = _pick_top_file(_sdist_top_files(path, filename, "PKG-INFO"), dist, filename, "PKG-INFO")
    if data is None:
        raise InvalidDistribution(filename, "no top-level PKG-INFO")
    meta, raw = parse_raw_metadata(data, f"{filename} (PKG-INFO)")
    if not is_static(raw):
        return None
    return meta


def _write_member(
    root: Path, parts: list[str], source: IO[bytes], executable: bool, filename: str
) -> Path:
    target = root.joinpath(*parts)
    with source:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Nothing unpacked here is a link; refuse to write through one all the same.
        if target.is_symlink() or not target.parent.resolve().is_relative_to(root):
            raise InvalidDistribution(filename, f"member {'/'.join(parts)!r} leaves the tree")
        with open(target, "wb") as out:
            shutil.copyfileobj(source, out)
    target.chmod(0o755 if executable else 0o644)
    return target


def _unpack_tar_plainly(
    archive: tarfile.TarFile, members: list[tarfile.TarInfo], root: Path, filename: str
) -> None:
    """Unpack without tarfile's ``data`` filter (Pythons that lack it):
    directories and regular files only, fresh modes, no owners; a link
    becomes a copy of the regular file it names, if that was unpacked."""
    written: dict[tuple[str, ...], Path] = {}
    for member in members:
        parts = _member_parts(member.name)
        if not parts:
            continue
        if member.isdir():
            root.joinpath(*parts).mkdir(parents=True, exist_ok=True)
            continue
        source: IO[bytes] | None
        if member.isfile():
            source = archive.extractfile(member)
        else:
            base = parts[:-1] if member.issym() else []
            linked: list[str] = []
            for part in [*base, *_member_parts(member.linkname)]:
                if part == "..":
                    linked = linked[:-1]
                else:
                    linked.append(part)
            copy = written.get(tuple(linked))
            source = open(copy, "rb") if copy is not None else None  # noqa: SIM115
        if source is not None:
            executable = bool(member.mode & 0o100)
            written[tuple(parts)] = _write_member(root, parts, source, executable, filename)


def _source_root(names: list[str], dest: Path, dist: DistFilename, filename: str) -> Path:
    tops = sorted({parts[0] for name in names if (parts := _member_parts(name))})
    dirs = [top for top in tops if (dest / top).is_dir()]
    if len(tops) == 1 and dirs:
        return dest / dirs[0]
    matching = [d for d in dirs if canonicalize_name(d.rpartition("-")[0] or d) == dist.name]
    if len(matching) == 1:
        return dest / matching[0]
    shown = ", ".join(tops[:5]) or "nothing"
    raise InvalidDistribution(filename, f"expected one top-level directory, found: {shown}")


def extract_sdist(path: Path, filename: str, dest: Path) -> Path:
    """Unpack an sdist into ``dest`` (a new or empty directory) and return
    its source tree, the archive's one top-level directory.

    Every member is checked before anything is written: no absolute paths,
    no ``..``, no links out of the tree, no member written through a link
    and no link resolved through another, no devices, member count and size
    caps.  Tar archives are then unpacked with tarfile's ``data`` filter
    where Python has it, as a second line of defence only.  Problems raise ``InvalidDistribution``.
    """
    dist = _dist_filename(filename, DistKind.SDIST)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty")
    root = dest.resolve()
    try:
        if filename.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as zipped:
                infos = _safe_zip_infos(zipped, filename)
                for info in infos:
                    parts = _member_parts(info.filename)
                    if info.is_dir():
                        root.joinpath(*parts).mkdir(parents=True, exist_ok=True)
                    elif parts:
                        executable = bool((info.external_attr >> 16) & 0o100)
                        _write_member(root, parts, zipped.open(info), executable, filename)
                names = [info.filename for info in infos]
        else:
            with tarfile.open(path, mode="r:*") as archive:
                members = list(_safe_tar_members(archive, filename))
                if hasattr(tarfile, "data_filter"):
                    archive.extractall(root, members=members, filter="data")
                else:  # Pythons before 3.10.12 / 3.11.4
                    _unpack_tar_plainly(archive, members, root, filename)
                names = [member.name for member in members]
    except BundlerError:
        raise
    except _ARCHIVE_ERRORS as err:
        raise InvalidDistribution(filename, f"cannot unpack the sdist: {err}") from err
    return _source_root(names, root, dist, filename)
