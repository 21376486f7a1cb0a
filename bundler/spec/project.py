"""A project's page as one source lists it: its files by release, made lazily."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from bundler.models import IndexFile

__all__ = ["ProjectPage", "ReleaseFiles"]

# A release's files, or how to make them when first asked for.
ReleaseFiles = tuple[IndexFile, ...] | Callable[[], Iterable[IndexFile]]


# A specifier, the prereleases asked for, and the specifier's own setting.
_MatchKey = tuple[SpecifierSet, bool | None, bool | None]


class ProjectPage:
    """Every file one source lists for one project, by version.

    A page of a long-lived project lists tens of thousands of files and a
    resolution looks at a handful of releases: a parser may hand over each
    release as a function that makes its files, called the first time the
    release is asked for (from any thread: making them twice is harmless).
    """

    __slots__ = ("_matching", "_newest_first", "_releases", "name", "source")

    def __init__(
        self,
        name: NormalizedName,
        files: Iterable[IndexFile] = (),
        source: str = "",  # display name of the index or find-links location
        *,
        releases: Mapping[Version, ReleaseFiles] | None = None,
    ) -> None:
        self.name = name
        self.source = source
        grouped: dict[Version, ReleaseFiles] = dict(releases or {})
        listed: dict[Version, list[IndexFile]] = {}
        for f in files:
            listed.setdefault(f.version, []).append(f)
        for version, more in listed.items():
            known = grouped.get(version)
            grouped[version] = tuple(more) if known is None else (*self._made(known), *more)
        self._releases = grouped
        self._newest_first: tuple[Version, ...] | None = None
        self._matching: dict[_MatchKey, tuple[Version, ...]] = {}

    @staticmethod
    def _made(files: ReleaseFiles) -> tuple[IndexFile, ...]:
        return files if isinstance(files, tuple) else tuple(files())

    @property
    def releases(self) -> Mapping[Version, tuple[IndexFile, ...]]:
        """Version -> files (a release listed only by files that turn out to
        be unusable maps to an empty tuple)."""
        return _Releases(self)

    def matching(self, specifier: SpecifierSet, prereleases: bool | None) -> tuple[Version, ...]:
        """The versions ``specifier.filter`` admits, newest first (memoized:
        a lock for many targets asks the same questions of every page)."""
        key = (specifier, prereleases, specifier.prereleases)
        found = self._matching.get(key)
        if found is None:
            if self._newest_first is None:
                self._newest_first = tuple(sorted(self._releases, reverse=True))
            found = tuple(specifier.filter(self._newest_first, prereleases=prereleases))
            self._matching[key] = found
        return found

    def release(self, version: Version) -> tuple[IndexFile, ...]:
        found = self._releases.get(version, ())
        if isinstance(found, tuple):
            return found
        made = self._releases[version] = self._made(found)
        return made

    @property
    def files(self) -> tuple[IndexFile, ...]:
        """Every file, release by release."""
        return tuple(f for v in list(self._releases) for f in self.release(v))

    def __repr__(self) -> str:
        return f"ProjectPage({self.name!r}, {len(self._releases)} releases, source={self.source!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProjectPage):
            return NotImplemented
        return (self.name, self.source, self.files) == (other.name, other.source, other.files)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def merged(cls, name: NormalizedName, pages: Sequence[ProjectPage], source: str) -> ProjectPage:
        """One page listing every file of ``pages``, in page order."""
        if len(pages) == 1 and pages[0].source == source:
            return pages[0]
        versions = dict.fromkeys(v for page in pages for v in page._releases)

        def maker(version: Version) -> Callable[[], Iterable[IndexFile]]:
            return lambda: [f for page in pages for f in page.release(version)]

        return cls(name, (), source, releases={v: maker(v) for v in versions})


class _Releases(Mapping[Version, tuple[IndexFile, ...]]):
    """A page's releases as a read-only mapping that makes files on access."""

    __slots__ = ("_page",)

    def __init__(self, page: ProjectPage) -> None:
        self._page = page

    def __getitem__(self, version: Version) -> tuple[IndexFile, ...]:
        if version not in self._page._releases:
            raise KeyError(version)
        return self._page.release(version)

    def __contains__(self, version: object) -> bool:
        return version in self._page._releases

    def __iter__(self) -> Iterator[Version]:
        return iter(list(self._page._releases))

    def __len__(self) -> int:
        return len(self._page._releases)
