"""The wheel archive checks: what an installer would refuse or write
outside its target, read from the archive whole (binary distribution
format)."""

from __future__ import annotations

import base64
import csv
import hashlib
import re
import zipfile
import zlib
from pathlib import Path

from bundler.fsutil import CHUNK

__all__ = ["WHEEL_MAJOR", "wheel_archive_problems"]


# Binary distribution format: RECORD lists every file of the wheel with its
# hash and size, except RECORD itself and its signatures.
_RECORD = re.compile(r"[^/]+\.dist-info/RECORD")
_UNRECORDED = ("RECORD", "RECORD.jws", "RECORD.p7s")
# The hashes RECORD may use: hashlib's, but not md5 or sha1 (PEP 427/376).
_RECORD_HASHES = frozenset(hashlib.algorithms_guaranteed) - {"md5", "sha1"}
_DRIVE = re.compile(r"[A-Za-z]:")


def _unsafe_member(name: str) -> bool:
    """A member an installer would write outside the install directory
    (absolute, ``..`` or a drive), or read differently on Windows."""
    parts = name.split("/")
    return name.startswith("/") or "\\" in name or _DRIVE.match(name) is not None or ".." in parts


def _read_record(archive: zipfile.ZipFile, name: str, problems: list[str]) -> dict[str, list[str]]:
    """Path -> [hash, size] rows of the wheel's RECORD (a CSV file)."""
    try:
        text = archive.read(name).decode("utf-8")
    except UnicodeDecodeError as err:
        problems.append(f"{name} is not UTF-8: {err}")
        return {}
    rows: dict[str, list[str]] = {}
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row:
            continue
        if len(row) != 3:
            problems.append(f"{name} line {lineno} is not 'path,hash,size': {','.join(row)!r}")
            continue
        if row[0] in rows:
            problems.append(f"{name} lists {row[0]!r} twice")
        rows[row[0]] = row[1:]
    return rows


def _member_digest(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, algorithm: str
) -> tuple[str, int]:
    """(urlsafe base64 digest without padding, size) of one member, read to
    its end so that zipfile checks its CRC-32 (as ``testzip`` does)."""
    h = hashlib.new(algorithm)
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii"), size


def wheel_archive_problems(path: Path) -> list[str]:
    """Everything wrong with a wheel's archive, read whole in one pass:
    member names an installer would write outside its target, a member
    whose data fails its CRC-32, and members that RECORD does not list or
    lists with another hash or size (binary distribution format)."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as archive:
            _archive_problems(archive, problems)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        problems.append(f"is not a readable zip archive: {err}")
    return problems


def _archive_problems(archive: zipfile.ZipFile, problems: list[str]) -> None:
    infos = archive.infolist()
    records = [i.filename for i in infos if _RECORD.fullmatch(i.filename)]
    if len(records) != 1:
        found = ", ".join(records) or "none"
        problems.append(f"has {len(records)} .dist-info/RECORD files ({found}), not one")
    rows = _read_record(archive, records[0], problems) if len(records) == 1 else {}
    dist_info = records[0].rsplit("/", 1)[0] + "/" if len(records) == 1 else None
    seen: set[str] = set()
    for info in infos:
        problems.extend(_name_problems(info.filename, seen))
        if not info.is_dir():
            problems.extend(_member_problems(archive, info, rows.get(info.filename), dist_info))
    if dist_info is not None:
        problems.extend(_wheel_version_problems(archive, dist_info + "WHEEL"))


def _name_problems(name: str, seen: set[str]) -> list[str]:
    """A member name an installer would misplace, or one seen before
    (``name`` is added to ``seen``)."""
    problems: list[str] = []
    if _unsafe_member(name):
        problems.append(
            f"has the member {name!r}, which would be written outside the"
            " install directory (an absolute, '..' or backslash path)"
        )
    if name in seen:
        problems.append(f"has the member {name!r} twice")
    seen.add(name)
    return problems


def _member_problems(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, row: list[str] | None, dist_info: str | None
) -> list[str]:
    """A file member read whole (its CRC-32), then compared with its RECORD
    ``row`` (None when RECORD does not list it) unless RECORD is not to
    list it or the wheel has no single RECORD (``dist_info`` None)."""
    name = info.filename
    algorithm = row[0].partition("=")[0] if row else ""
    if algorithm not in _RECORD_HASHES:
        algorithm = "sha256"
    try:
        digest, size = _member_digest(archive, info, algorithm)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as err:
        return [f"member {name!r} is corrupt: {err}"]
    except NotImplementedError as err:
        return [f"member {name!r} cannot be read: {err}"]
    if dist_info is None or any(name == dist_info + n for n in _UNRECORDED):
        return []
    problem = _record_problem(name, row, f"{algorithm}={digest}", size)
    return [problem] if problem is not None else []


def _record_problem(name: str, row: list[str] | None, digest: str, size: int) -> str | None:
    """How member ``name`` (of ``digest``, "algorithm=value", and ``size``)
    disagrees with its RECORD ``row``, or None."""
    if row is None:
        return f"member {name!r} is not listed in RECORD"
    algorithm, _, expected = row[0].partition("=")
    if not expected or algorithm not in _RECORD_HASHES:
        return f"RECORD gives no usable hash for {name!r}: {row[0]!r}"
    if row[0] != digest:
        return f"member {name!r} does not match RECORD: {digest}, RECORD says {row[0]}"
    if row[1] and row[1] != str(size):
        return f"member {name!r} has {size} bytes, RECORD says {row[1]}"
    return None


# Binary distribution format: an installer must refuse a wheel whose
# Wheel-Version has a major version it does not know (only 1 exists).
WHEEL_MAJOR = 1


def _wheel_version_problems(archive: zipfile.ZipFile, name: str) -> list[str]:
    """Why an installer would refuse the wheel's ``.dist-info/WHEEL`` file."""
    try:
        data = archive.read(name)
    except KeyError:
        return [f"has no {name}: installers refuse a wheel without it"]
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError):
        return []  # reported as a corrupt member
    text = data.decode("utf-8", errors="replace")
    fields = [line.partition(":") for line in text.splitlines()]
    value = next((v.strip() for k, _, v in fields if k.strip().lower() == "wheel-version"), None)
    if value is None:
        return [f"{name} has no Wheel-Version field: installers refuse the wheel"]
    major = value.split(".", 1)[0]
    if not major.isdigit():
        return [f"{name} has Wheel-Version {value!r}, which is not a version"]
    if int(major) != WHEEL_MAJOR:
        return [
            f"{name} has Wheel-Version {value}: installers refuse any major version but"
            f" {WHEEL_MAJOR} (binary distribution format)"
        ]
    return []
