"""Which files of a release a target may install, and which one it would.

Pure functions over ``IndexFile`` values and a ``Target``; both the
resolver and the download planner use them, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from packaging.utils import NormalizedName

from bundler.models import DistKind, IndexFile
from bundler.spec.filenames import parse_filename
from bundler.spec.target import Target

__all__ = [
    "ALL",
    "BinaryPolicy",
    "Skipped",
    "best_file",
    "file_sort_key",
    "upload_time",
    "usable_files",
]

ALL = ":all:"


@dataclass(frozen=True)
class BinaryPolicy:
    """pip's --only-binary / --no-binary / --prefer-binary, by normalized
    name or ``:all:``."""

    only_binary: frozenset[str] = field(default_factory=frozenset)
    no_binary: frozenset[str] = field(default_factory=frozenset)
    prefer_binary: bool = False

    def allows(self, name: NormalizedName, kind: DistKind) -> bool:
        if kind is DistKind.WHEEL:
            return not _applies(self.no_binary, self.only_binary, name)
        return not _applies(self.only_binary, self.no_binary, name)


def _applies(primary: frozenset[str], other: frozenset[str], name: str) -> bool:
    # A name listed explicitly beats :all: in the opposite option (pip's
    # FormatControl semantics).
    if name in primary:
        return True
    if name in other:
        return False
    return ALL in primary


@dataclass(frozen=True)
class Skipped:
    """Why a file is not usable on a target (for error messages)."""

    file: IndexFile
    reason: str


def upload_time(f: IndexFile) -> datetime | None:
    """When ``f`` was uploaded (PEP 700 ``upload-time``, an RFC 3339 UTC
    timestamp), or None when its index did not say or said it badly."""
    if not f.upload_time:
        return None
    try:
        when = datetime.fromisoformat(f.upload_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _too_new(f: IndexFile, exclude_newer: datetime) -> str | None:
    """Why ``f`` is left out by ``--exclude-newer``, or None.  As uv does, a
    file whose index gives no upload time is left out too: nothing proves
    it is older, and a re-lock must not change when a mirror stops saying."""
    when = upload_time(f)
    if when is None:
        return (
            "no upload time (--exclude-newer needs PEP 700 upload-time,"
            " which only an index's JSON pages give)"
        )
    if when >= exclude_newer:
        return f"uploaded {f.upload_time}, not before --exclude-newer {exclude_newer.isoformat()}"
    return None


def usable_files(
    files: Iterable[IndexFile],
    target: Target,
    policy: BinaryPolicy = BinaryPolicy(),
    exclude_newer: datetime | None = None,
) -> tuple[list[IndexFile], list[Skipped]]:
    """Split files into those the target can install and those it cannot.

    Mirrors pip's LinkEvaluator: wheel tags, Requires-Python from the index
    (PEP 503 data-requires-python) and the binary policy.  Yanked files are
    kept; the resolver decides on them (PEP 592).  ``exclude_newer`` (an
    aware datetime) leaves out files uploaded at or after it, as uv's
    ``--exclude-newer`` does.
    """
    usable: list[IndexFile] = []
    skipped: list[Skipped] = []
    for f in files:
        if exclude_newer is not None and (why := _too_new(f, exclude_newer)) is not None:
            skipped.append(Skipped(f, why))
            continue
        if not policy.allows(f.project, f.kind):
            skipped.append(Skipped(f, f"{f.kind.value}s are disallowed by the binary policy"))
            continue
        if f.kind is DistKind.WHEEL:
            parsed = parse_filename(f.filename)
            if parsed is None or target.wheel_rank(parsed.tags) is None:
                skipped.append(Skipped(f, f"no compatible wheel tag for {target.name}"))
                continue
        if not target.python_matches(f.requires_python):
            skipped.append(
                Skipped(
                    f,
                    f"requires Python {f.requires_python}"
                    f" (target has {target.python_full_version})",
                )
            )
            continue
        usable.append(f)
    return usable, skipped


class _Descending:
    """A string that sorts in reverse: a build tag's text part, for a key
    where lower is better and pip takes the higher build tag."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.text == other.text

    def __lt__(self, other: _Descending) -> bool:
        return self.text > other.text

    def __hash__(self) -> int:
        return hash(self.text)


_BuildRank = tuple[int, int, _Descending]


def file_sort_key(
    f: IndexFile, target: Target, policy: BinaryPolicy
) -> tuple[int, int, int, _BuildRank]:
    """Lower is better: non-yanked first, wheels before sdists, best tag,
    then the highest wheel build tag, as pip ranks them: the wheel spec's
    (number, rest of the tag) compared as a tuple, so 1b over 1a and 10
    over 2, and any build tag over none."""
    build: _BuildRank = (1, 0, _Descending(""))  # no build tag: last
    if f.kind is DistKind.WHEEL:
        parsed = parse_filename(f.filename)
        rank = target.wheel_rank(parsed.tags) if parsed is not None else None
        kind_rank = 0
        tag_rank = rank if rank is not None else 1 << 30
        if parsed is not None and parsed.build:
            number, text = parsed.build
            build = (0, -number, _Descending(text))
    else:
        kind_rank = 1
        tag_rank = 1 << 30
    return (1 if f.is_yanked else 0, kind_rank, tag_rank, build)


def best_file(
    files: Sequence[IndexFile], target: Target, policy: BinaryPolicy = BinaryPolicy()
) -> IndexFile | None:
    """The file pip would install on ``target`` among ``files`` of one
    release (files must already be usable)."""
    if not files:
        return None
    return min(files, key=lambda f: (file_sort_key(f, target, policy), f.filename))
