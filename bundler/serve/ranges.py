"""HTTP byte ranges and validators for the files ``bundle serve`` sends:
``Range`` (one range, RFC 9110 14.2), ``If-None-Match`` /
``If-Modified-Since`` (304) and ``If-Range``.  Pure functions."""

from __future__ import annotations

import email.utils
import os
import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "UNSATISFIABLE",
    "ByteRange",
    "entity_tag",
    "if_range_holds",
    "not_modified",
    "parse_range",
]


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1


UNSATISFIABLE: Final = "unsatisfiable"
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)


# One return per case of RFC 9110's range grammar, read top to bottom like the spec.
def parse_range(header: str, size: int) -> ByteRange | Literal["unsatisfiable"] | None:  # noqa: PLR0911
    """The single byte range a ``Range`` header asks of a ``size``-byte file.

    RFC 9110 14.2: None (serve the whole file) when the header is invalid or
    asks for several ranges; ``UNSATISFIABLE`` (416) when the range starts
    past the end or is an empty suffix.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE_SPEC.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = (_digits(group) for group in match.groups())
    if first == "":
        suffix = _capped(last, size)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return ByteRange(size - suffix, size - 1)
    if last and (len(last), last) < (len(first), first):
        return None
    start = _capped(first, size)
    if start >= size:
        return UNSATISFIABLE
    return ByteRange(start, min(_capped(last, size), size - 1) if last else size - 1)


def _digits(group: str) -> str:
    """A decimal number without its leading zeros ("0" for zero, "" for none)."""
    return (group.lstrip("0") or "0") if group else ""


def _capped(digits: str, cap: int) -> int:
    """``min(int(digits), cap)`` for a number of any length: ``int`` refuses
    more than 4,300 digits, and a client may send 5,000."""
    if len(digits) > len(str(cap)):
        return cap
    return min(int(digits), cap)


def _entity_tags(header: str) -> list[str]:
    return re.findall(r'(?:W/)?"[^"]*"|\*', header)


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def _http_date(value: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, mtime: float
) -> bool:
    """RFC 9110 13.1.2/13.1.3: If-None-Match (weak comparison), else
    If-Modified-Since, say the client's copy is current."""
    if if_none_match is not None:
        tags = _entity_tags(if_none_match)
        return "*" in tags or _opaque(etag) in {_opaque(t) for t in tags}
    if if_modified_since is not None:
        stamp = _http_date(if_modified_since)
        return stamp is not None and int(mtime) <= stamp
    return False


def if_range_holds(value: str | None, etag: str, mtime: float) -> bool:
    """RFC 9110 13.1.5: honour Range only if the validator still matches
    (strong comparison for an entity tag, exact for a date)."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    stamp = _http_date(value)
    return stamp is not None and stamp == int(mtime)


def entity_tag(st: os.stat_result, variant: str = "") -> str:
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}{variant}"'
