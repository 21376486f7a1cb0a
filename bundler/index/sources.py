"""The package sources a run reads (named indexes, the index, extra
indexes, find-links) and which of them owns a project."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name

from bundler.errors import BundlerError, MultipleErrors, UsageError
from bundler.models import IndexSettings
from bundler.redact import split_auth

__all__ = [
    "IndexConflict",
    "Source",
    "configured_sources",
    "owner_rank",
    "source_name",
]


class IndexConflict(UsageError):
    """A project that several sources list and none owns (exit 2): taking
    the best match would let a public upload shadow a private package."""

    def __init__(self, project: NormalizedName, sources: Sequence[str]) -> None:
        shown = ", ".join(repr(s) for s in sources)
        super().__init__(
            f"{project} is on more than one package source ({shown}); bundler does not pick"
            " one by version, as a public upload could then shadow a private package"
            " (dependency confusion, CVE-2018-20225)",
            hint="declare the index it belongs to as an [[index]] table (bundle.toml, or"
            f' [[tool.bundle.index]] in pyproject.toml) with packages = ["{project}"];'
            ' or set index-strategy = "first-index" (the first source listing it wins)'
            ' or "unsafe-best-match" (pip\'s merge: unsafe)',
        )
        self.project = project
        self.sources = tuple(sources)


@dataclass(frozen=True)
class Source:
    """One place packages come from, as the index uses it."""

    name: str  # what files, pages and messages call it: never a secret
    url: str  # as configured (may carry credentials)
    flat: bool  # a find-links location rather than a PEP 503 index
    owns: tuple[str, ...] = ()  # normalized names, or prefixes ending in "*"


def source_name(url: str) -> str:
    """The name of an unnamed source: its URL without any user information."""
    return split_auth(url)[0]


def owner_rank(patterns: Iterable[str], name: NormalizedName) -> int | None:
    """How closely ``patterns`` claim ``name`` (higher is closer), or None.

    An exact name beats any prefix; a longer prefix beats a shorter one.
    """
    best: int | None = None
    for pattern in patterns:
        if pattern.endswith("*"):
            rank = len(pattern) - 1 if name.startswith(pattern[:-1]) else None
        else:
            rank = 1 << 30 if canonicalize_name(pattern) == name else None
        if rank is not None and (best is None or rank > best):
            best = rank
    return best


def _same_location(a: str, b: str) -> bool:
    return source_name(a).rstrip("/") == source_name(b).rstrip("/")


def configured_sources(settings: IndexSettings) -> list[Source]:
    """Every source in search order: named indexes, the index, the extra
    indexes, find-links.  A location configured twice is one source, and
    keeps the first (named) entry.  Raises every problem found at once."""
    found: list[Source] = []
    for source in _listed_sources(settings):
        if not any(_same_location(s.url, source.url) and s.flat == source.flat for s in found):
            found.append(source)
    problems = _naming_problems(found)
    if problems:
        raise problems[0] if len(problems) == 1 else MultipleErrors(problems)
    return found


def _listed_sources(settings: IndexSettings) -> Iterator[Source]:
    for named in settings.named_indexes:
        owns = tuple(
            canonicalize_name(p[:-1]) + "*" if p.endswith("*") else canonicalize_name(p)
            for p in (raw.strip() for raw in named.packages)
            if p
        )
        yield Source(named.name, named.url, named.flat, owns)
    for url in (settings.index_url, *settings.extra_index_urls):
        if url:
            yield Source(source_name(url), url, False)
    for location in settings.find_links:
        yield Source(source_name(location), location, True)


def _naming_problems(found: list[Source]) -> list[BundlerError]:
    """Two sources of one name, and a project owned by two indexes."""
    problems: list[BundlerError] = []
    names: dict[str, Source] = {}
    for source in found:
        if source.name in names:
            problems.append(UsageError(f"two package sources are named {source.name!r}"))
        names[source.name] = source
    claimed: dict[str, str] = {}
    for source in found:
        for pattern in source.owns:
            other = claimed.setdefault(pattern, source.name)
            if other != source.name:
                problems.append(
                    UsageError(
                        f"{pattern!r} is owned by two indexes, {other!r} and {source.name!r}",
                        hint="a project can only be owned by one index",
                    )
                )
    return problems
