"""``bundle pack`` / ``bundle unpack``: a bundle as one archive, to carry
across an air gap.

The archive holds exactly the tree the manifest implies (``bundle.json``
first, then its lock files, ``files/`` and ``simple/`` in sorted order),
with fixed times, owners and modes, so the same bundle always gives the same
bytes.  Unpacking trusts nothing in the archive: every member is checked
(a regular file or directory the manifest implies, no link, device,
absolute or ``..`` path), every artifact and sidecar is hashed as it is
written, and the tree is written beside the destination and swapped in
only once the caller's check (the offline part of ``bundle verify``) has
passed.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from bundler.bundle.layout import (
    FILES_DIR,
    MANIFEST_NAME,
    METADATA_SUFFIX,
    PAGE_HTML,
    PAGE_JSON,
    SBOM_FILE,
    SIMPLE_DIR,
)
from bundler.bundle.manifest import manifest_from_json
from bundler.errors import BundlerError, HashMismatch, MultipleErrors, UsageError
from bundler.fsutil import DIR_MODE, FILE_MODE, copy_hashing, output_file, remove_tree, updating
from bundler.models import DistKind, Manifest

# Compression by the archive's name; None is a plain tar.
GZIP, ZSTD = "gzip", "zstd"
SUFFIXES: dict[str, str | None] = {".tar": None, ".tar.gz": GZIP, ".tgz": GZIP, ".tar.zst": ZSTD}
# The modes every member gets, whatever the bundle's files have.
MEMBER_FILE_MODE = 0o644
MEMBER_DIR_MODE = 0o755
# The members' time when SOURCE_DATE_EPOCH is not set: the bundle's bytes,
# not the moment it was packed, decide the archive's bytes.
DEFAULT_MTIME = 0
# The largest member the manifest gives no size for (itself, pages, lock
# files, sidecars): an archive cannot make unpack write or read without bound.
MAX_UNSIZED_MEMBER = 256 << 20
GZIP_LEVEL = 9
ZSTD_LEVEL = 19
_HINT_ZSTD = "pip install zstandard (or bundler[zstd]), or name the archive .tar.gz"


@dataclass(frozen=True)
class Member:
    """One file of the tree a manifest implies, with what it must hold
    when the manifest knows it (artifacts and PEP 658 sidecars)."""

    path: str  # relative, "/"-separated
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class PackResult:
    archive: Path
    members: int
    size: int  # bytes of the archive


def compression_for(archive: Path) -> str | None:
    """The compression the archive's name asks for (a usage error for any
    other name, or for ``.tar.zst`` without ``zstandard``)."""
    name = archive.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            kind = SUFFIXES[suffix]
            if kind == ZSTD:
                _zstandard()
            return kind
    raise UsageError(
        f"{archive}: cannot tell the archive's format from its name",
        hint="name it .tar, .tar.gz (or .tgz) or .tar.zst",
    )


def _zstandard() -> Any:
    try:
        import zstandard  # noqa: PLC0415 - optional, and only for .tar.zst
    except ImportError as err:
        raise UsageError("a .tar.zst archive needs the zstandard module", hint=_HINT_ZSTD) from err
    return zstandard


def expected_tree(manifest: Manifest) -> tuple[list[str], list[Member]]:
    """The directories and files of the bundle ``manifest`` describes,
    ``bundle.json`` first, then sorted; what the gate calls the bundle."""
    files = [Member(name) for name in sorted(manifest.lock_files)]
    if manifest.sbom:
        files.append(Member(SBOM_FILE))
    projects = sorted({a.project for a in manifest.artifacts})
    dirs = [FILES_DIR, SIMPLE_DIR, *(f"{SIMPLE_DIR}/{p}" for p in projects)]
    for a in manifest.artifacts:
        files.append(Member(f"{FILES_DIR}/{a.filename}", a.sha256, a.size))
        if a.kind is DistKind.WHEEL or a.metadata_sha256 is not None:
            # PEP 658: the wheel's METADATA beside it.
            files.append(Member(f"{FILES_DIR}/{a.filename}{METADATA_SUFFIX}", a.metadata_sha256))
    for page in (PAGE_HTML, PAGE_JSON):
        files.append(Member(f"{SIMPLE_DIR}/{page}"))
        files.extend(Member(f"{SIMPLE_DIR}/{p}/{page}") for p in projects)
    files.sort(key=lambda m: m.path)
    return sorted(dirs), [Member(MANIFEST_NAME), *files]


def _mtime() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return DEFAULT_MTIME
    try:
        mtime = int(value)
    except ValueError:
        mtime = -1
    if mtime < 0:
        raise UsageError(
            f"SOURCE_DATE_EPOCH={value}: not a number of seconds since 1970",
            hint="unset it, or set it to an integer such as 1700000000",
        )
    return mtime


def _info(name: str, *, size: int, mtime: int, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = MEMBER_DIR_MODE if directory else MEMBER_FILE_MODE
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


@contextlib.contextmanager
def _compressed_writer(raw: IO[bytes], compression: str | None) -> Iterator[IO[bytes]]:
    if compression == GZIP:
        # No file name and time 0 in the header: the same bytes every time.
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0
        ) as gz:
            yield cast(IO[bytes], gz)
    elif compression == ZSTD:
        compressor = _zstandard().ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
        with compressor.stream_writer(raw, closefd=False) as zst:
            yield zst
    else:
        yield raw


def pack(bundle_dir: Path, manifest: Manifest, archive: Path) -> PackResult:
    """Write the bundle at ``bundle_dir`` (its tree as ``manifest`` implies
    it, which the caller has checked) to ``archive``, atomically and
    deterministically."""
    compression = compression_for(archive)
    mtime = _mtime()
    dirs, files = expected_tree(manifest)
    members = [*((d, True) for d in dirs), *((f.path, False) for f in files)]
    # The manifest first: unpack reads it before anything else.
    members.sort(key=lambda m: (m[0] != MANIFEST_NAME, m[0]))
    # PAX: file names longer than ustar's 100 bytes, stored the same way every time.
    with (
        output_file(archive) as raw,
        _compressed_writer(raw, compression) as out,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, directory in members:
            if directory:
                tar.addfile(_info(name, size=0, mtime=mtime, directory=True))
                continue
            with (bundle_dir / name).open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                tar.addfile(_info(name, size=size, mtime=mtime), fh)
    return PackResult(archive, len(members), archive.stat().st_size)


# --- unpacking ---------------------------------------------------------------------


def _member_problem(member: tarfile.TarInfo, stage: Path) -> str | None:
    """Why ``member`` may not be written (None: it may)."""
    name = member.name
    if member.issym() or member.islnk():
        return f"is a link (to {member.linkname!r}): a bundle holds none"
    if not (member.isreg() or member.isdir()):
        return "is not a regular file or directory (a device, FIFO or the like)"
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or ".." in parts or "." in parts or not parts:
        return "is an absolute path or goes outside the bundle"
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is not None:
        try:
            data_filter(member, str(stage))
        except tarfile.FilterError as err:
            return f"is refused by tarfile's data filter: {err}"
    return None


_ARCHIVE_ERRORS: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, OSError)


class _Reader:
    """The members of an archive, read once, in order."""

    def __init__(self, archive: Path, compression: str | None) -> None:
        self.archive = archive
        self.stack = contextlib.ExitStack()
        raw = self.stack.enter_context(archive.open("rb"))
        stream: IO[bytes] = raw
        errors = list(_ARCHIVE_ERRORS)
        if compression == GZIP:
            gz = gzip.GzipFile(fileobj=raw, mode="rb")
            stream = cast(IO[bytes], self.stack.enter_context(gz))
        elif compression == ZSTD:
            zstandard = _zstandard()
            errors.append(zstandard.ZstdError)
            stream = self.stack.enter_context(zstandard.ZstdDecompressor().stream_reader(raw))
        self.errors = tuple(errors)
        try:
            self.tar = self.stack.enter_context(tarfile.open(fileobj=stream, mode="r|"))  # noqa: SIM115
        except self.errors as err:
            self.stack.close()
            raise self.broken(err) from err

    def broken(self, err: BaseException) -> BundlerError:
        return BundlerError(
            f"{self.archive}: not a readable bundle archive: {err}",
            hint="the file was cut short or changed on the way: copy it again",
        )


def unpack(
    archive: Path,
    dest: Path,
    *,
    force: bool = False,
    check: Callable[[Path, Manifest], bool],
) -> Manifest:
    """Unpack ``archive`` into ``dest``: into a directory beside it, every
    member checked and every known file hashed, then ``check`` (the offline
    gate) on that tree, then swapped in (``fsutil.updating``, holding
    ``dest``'s lock).  ``dest`` must not exist or be empty, unless ``force``
    (then it is replaced).  Nothing is left behind when anything fails."""
    if not archive.is_file():
        raise UsageError(f"{archive}: no such archive", hint="bundle pack ./pypi -o bundle.tar.gz")
    compression = compression_for(archive)
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir():
            raise UsageError(f"{dest}: exists and is not a directory", hint="pick another -o")
        if any(dest.iterdir()) and not force:
            raise UsageError(
                f"{dest}: is not empty", hint="pass --force to replace it, or pick another -o"
            )
    # Beside dest, swapped in whole (fsutil.updating): a failure, or Ctrl-C,
    # leaves dest as it was.
    with updating(dest) as stage:
        _clear(stage)  # an update starts as a copy of dest: this replaces it
        manifest = _extract(archive, compression, stage)
        if not check(stage, manifest):
            raise BundlerError(
                f"{archive}: the unpacked bundle fails `bundle verify --no-install`;"
                f" {dest} was left as it was"
            )
    return manifest


def _clear(directory: Path) -> None:
    """Empty ``directory`` (its files are links shared with the tree it was
    copied from: removing them leaves that tree whole)."""
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            remove_tree(entry)
        else:
            entry.unlink()


def _extract(archive: Path, compression: str | None, stage: Path) -> Manifest:
    reader = _Reader(archive, compression)
    problems: list[BundlerError] = []
    with reader.stack:
        try:
            members = iter(reader.tar)
            manifest = _read_manifest(reader, next(members, None), stage)
            dirs, expected = expected_tree(manifest)
            known = {m.path: m for m in expected}
            seen: set[str] = {MANIFEST_NAME}
            for member in members:
                problems.extend(_extract_member(reader, member, stage, known, set(dirs), seen))
        except reader.errors as err:
            raise reader.broken(err) from err
    for path in sorted(set(known) - seen):
        problems.append(BundlerError(f"{archive}: {path} is missing"))
    if problems:
        raise problems[0] if len(problems) == 1 else MultipleErrors(problems)
    return manifest


def _read_manifest(reader: _Reader, first: tarfile.TarInfo | None, stage: Path) -> Manifest:
    if first is None or first.name != MANIFEST_NAME or not first.isreg():
        name = "nothing" if first is None else repr(first.name)
        raise BundlerError(
            f"{reader.archive}: starts with {name}, not {MANIFEST_NAME}:"
            " not an archive `bundle pack` wrote"
        )
    if first.size > MAX_UNSIZED_MEMBER:
        raise BundlerError(f"{reader.archive}: its {MANIFEST_NAME} has {first.size} bytes: too big")
    fh = reader.tar.extractfile(first)
    assert fh is not None  # a regular file
    data = fh.read()
    try:
        manifest = manifest_from_json(data, f"{reader.archive}:{MANIFEST_NAME}")
    except BundlerError as err:
        # A bad manifest is a bad bundle (exit 1), not a bad command line.
        raise BundlerError(f"{reader.archive}: its {MANIFEST_NAME} is not valid:\n{err}") from err
    _write_new(stage / MANIFEST_NAME, data)
    return manifest


# One early return per way a member is refused, in the order they are checked.
def _extract_member(  # noqa: PLR0911
    reader: _Reader,
    member: tarfile.TarInfo,
    stage: Path,
    known: dict[str, Member],
    dirs: set[str],
    seen: set[str],
) -> list[BundlerError]:
    name = member.name.rstrip("/") if member.isdir() else member.name
    where = f"{reader.archive}: member {member.name!r}"
    why = _member_problem(member, stage)
    if why is not None:
        return [BundlerError(f"{where} {why}")]
    if name in seen:
        return [BundlerError(f"{where} appears twice")]
    if member.isdir():
        if name not in dirs:
            return [BundlerError(f"{where} is not in the bundle {MANIFEST_NAME} describes")]
        seen.add(name)
        (stage / name).mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        return []
    expected = known.get(name)
    if expected is None:
        return [BundlerError(f"{where} is not in the bundle {MANIFEST_NAME} describes")]
    seen.add(name)
    if expected.size is not None and member.size != expected.size:
        return [
            BundlerError(f"{where} has {member.size} bytes, {MANIFEST_NAME} says {expected.size}")
        ]
    if expected.size is None and member.size > MAX_UNSIZED_MEMBER:
        return [BundlerError(f"{where} has {member.size} bytes: too big for what it is")]
    source = reader.tar.extractfile(member)
    assert source is not None  # a regular file
    path = stage / name
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    with _new_file(path) as out:
        digest, _ = copy_hashing(source, out)
    if expected.sha256 is not None and digest != expected.sha256:
        path.unlink()
        return [HashMismatch(f"{where}", expected.sha256, digest)]
    return []


@contextlib.contextmanager
def _new_file(path: Path) -> Iterator[IO[bytes]]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        yield fh


def _write_new(path: Path, data: bytes) -> None:
    with _new_file(path) as fh:
        fh.write(data)


__all__ = [
    "SUFFIXES",
    "Member",
    "PackResult",
    "compression_for",
    "expected_tree",
    "pack",
    "unpack",
]
