"""Core metadata (``METADATA`` / ``PKG-INFO``): parsing it, leniently, as pip does."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.errors import InvalidDistribution
from bundler.models import CoreMetadata

if TYPE_CHECKING:
    from packaging.metadata import RawMetadata

__all__ = [
    "MAX_METADATA_SIZE",
    "check_matches",
    "is_static",
    "parse_metadata",
    "parse_raw_metadata",
]

# The largest core metadata read, from an archive or a build.
MAX_METADATA_SIZE = 10 * 1024 * 1024
# PEP 508 project names.
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
# PEP 643: Dynamic fields that decide what the resolver sees.
_RESOLVER_FIELDS = frozenset({"requires-dist", "requires-python", "provides-extra"})
_STATIC_SINCE = Version("2.2")  # PEP 643


def _header_lines(content: bytes, field: bytes) -> list[int]:
    """1-based line numbers of ``field:`` headers (before the body)."""
    lines: list[int] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            break
        if line.lower().startswith(field + b":"):
            lines.append(number)
    return lines


# The fields bundler reads, as packaging's RawMetadata names them: the
# single ones (a second one makes the field unreadable), then the lists.
_SINGLE_FIELDS = {
    "metadata-version": "metadata_version",
    "name": "name",
    "version": "version",
    "requires-python": "requires_python",
}
_LIST_FIELDS = {
    "requires-dist": "requires_dist",
    "provides-extra": "provides_extra",
    "dynamic": "dynamic",
}
# A header line, as the email package's feedparser tells one (headerRE):
# a field name of printable ASCII but the colon, then a colon.
_HEADER_LINE = re.compile(rb"[\041-\071\073-\176]*:")


def _header_fields(content: bytes) -> dict[str, list[bytes]] | None:
    """Every header field of core metadata, by lowercased name, each value
    as ``email.parser.BytesParser(policy=compat32)`` reads it: the text
    after the colon and its spaces, continuation lines kept, the line
    ending stripped.  The block ends at the first line that is neither a
    field nor a continuation (a blank line, or the body).  None for a block
    with an envelope ``From `` line, which only the email package reads."""
    fields: dict[str, list[bytes]] = {}
    lines: list[bytes] = []  # the field being read: its first line, continuations

    def keep() -> None:
        name, _, value = lines[0].partition(b":")
        value = value.lstrip(b" \t") + b"".join(lines[1:])
        key = name.decode("ascii").lower()
        fields.setdefault(key, []).append(value.rstrip(b"\r\n"))

    for line in content.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if lines:  # a continuation before any field is dropped
                lines.append(line)
            continue
        if line.startswith(b"From "):
            return None
        if not _HEADER_LINE.match(line):
            break
        if lines:
            keep()
        # ":value" (no name) is dropped, and ends the field before it.
        lines = [line] if not line.startswith(b":") else []
    if lines:
        keep()
    return fields


def _read_fields(content: bytes) -> tuple[RawMetadata, dict[str, list[str]]] | None:
    """``packaging.metadata.parse_email``'s answer for the fields bundler
    reads, without the email package (whose import costs more than the
    metadata of a whole lock takes to read); None where a field bundler
    reads holds a byte beyond ASCII, which only the email package decodes
    as packaging does, or the block needs it (see ``_header_fields``)."""
    fields = _header_fields(content)
    if fields is None:
        return None
    raw: dict[str, object] = {}
    unparsed: dict[str, list[str]] = {}
    for key, values in fields.items():
        name = _SINGLE_FIELDS.get(key) or _LIST_FIELDS.get(key)
        if name is None:
            continue
        if not all(value.isascii() for value in values):
            return None
        texts = [value.decode("ascii") for value in values]
        if key in _LIST_FIELDS:
            raw[name] = texts
        elif len(texts) == 1:
            raw[name] = texts[0]
        else:
            unparsed[key] = texts
    return cast("RawMetadata", raw), unparsed


def parse_raw_metadata(content: bytes, source: str) -> tuple[CoreMetadata, RawMetadata]:
    """``parse_metadata``'s result and the fields it read, as packaging's
    ``parse_email`` gives them (for ``is_static``)."""
    read = _read_fields(content)
    if read is None:
        # Imported here: only metadata that needs it pays for the email
        # package (about 15 ms to import).
        from packaging.metadata import parse_email  # noqa: PLC0415

        read = parse_email(content)
    raw, unparsed = read
    for key in ("name", "version", "requires-dist"):
        if key in unparsed:
            raise InvalidDistribution(source, f"unreadable or repeated {key} field")
    name = raw.get("name")
    if not name or not _NAME.match(name):
        raise InvalidDistribution(source, f"metadata has no valid Name field (got {name!r})")
    try:
        version = Version(raw.get("version", ""))
    except InvalidVersion as err:
        raise InvalidDistribution(source, f"metadata has no valid Version field: {err}") from err
    requires = tuple(line.strip() for line in raw.get("requires_dist", []))
    numbers = _header_lines(content, b"requires-dist")
    for index, line in enumerate(requires):
        try:
            Requirement(line)
        except InvalidRequirement as err:
            where = f"line {numbers[index]}: " if len(numbers) == len(requires) else ""
            raise InvalidDistribution(
                source, f"{where}invalid Requires-Dist {line!r}: {err}"
            ) from err
    requires_python = raw.get("requires_python")
    if requires_python is not None:
        try:
            SpecifierSet(requires_python)
        except InvalidSpecifier:
            # pip ignores an invalid Requires-Python rather than failing.
            requires_python = None
    extras = tuple(
        dict.fromkeys(canonicalize_name(e) for e in raw.get("provides_extra", []) if e.strip())
    )
    meta = CoreMetadata(
        name=canonicalize_name(name),
        version=version,
        requires_dist=requires,
        requires_python=requires_python.strip() if requires_python else None,
        provides_extra=extras,
    )
    return meta, raw


def parse_metadata(content: bytes, source: str) -> CoreMetadata:
    """Parse core metadata (``METADATA`` / ``PKG-INFO``), leniently.

    Unknown fields are tolerated; Name and Version must be valid and every
    Requires-Dist must parse (else ``InvalidDistribution`` naming ``source``
    and the line).
    """
    return parse_raw_metadata(content, source)[0]


def is_static(raw: RawMetadata) -> bool:
    """PEP 643: whether an sdist's PKG-INFO can be trusted without a build."""
    try:
        version = Version(raw.get("metadata_version", "0"))
    except InvalidVersion:
        return False
    if version < _STATIC_SINCE:
        return False
    dynamic = {field.strip().lower() for field in raw.get("dynamic", [])}
    return not (dynamic & _RESOLVER_FIELDS)


def check_matches(meta: CoreMetadata, name: NormalizedName, version: Version, what: str) -> None:
    """Refuse metadata whose Name/Version differ from the file's."""
    if meta.name != name or meta.version != version:
        raise InvalidDistribution(
            what,
            f"metadata says {meta.name} {meta.version}, the filename says {name} {version}",
        )
