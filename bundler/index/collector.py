"""The resolver's view of the package sources: project pages and metadata.

``PackageIndex`` asks the configured sources (named indexes, the index,
extra indexes, find-links) for one ``ProjectPage`` per project, and finds
core metadata the cheapest way that works (``MetadataFinder``): the PEP 658 ``.metadata`` file,
a few range requests on the wheel, the whole wheel, or an sdist's static
PKG-INFO.  Everything is memoized and safe to call from many threads.

A project is never silently taken from whichever source offers the highest
version (pip's ``--extra-index-url``, CVE-2018-20225): a source that owns
the project is the only one used; otherwise ``IndexSettings.index_strategy``
decides, and by default a project on two sources is an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from bundler.errors import (
    BundlerError,
    NotFound,
    UsageError,
)
from bundler.fsutil import sha256_file
from bundler.index.client import HttpClient
from bundler.index.fetchahead import FetchAhead, Memo
from bundler.index.metadata import MetadataFinder, is_file_url, scratch_dir
from bundler.index.responses import (
    Response,
    url_to_path,
)
from bundler.index.sources import IndexConflict, Source, configured_sources, owner_rank
from bundler.models import CoreMetadata, IndexFile, IndexSettings, IndexStrategy
from bundler.redact import redact_url
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.filenames import parse_filename
from bundler.spec.indexfiles import list_find_links_dir, url_filename
from bundler.spec.pages import (
    LISTING_FORMAT,
    PageListing,
    list_project_page,
    listing_page,
    parse_find_links_page,
)
from bundler.spec.project import ProjectPage

__all__ = ["ACCEPT", "PackageIndex"]

# pip's Accept header: PEP 691 JSON preferred, PEP 503 HTML accepted.
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1,"
    " text/html; q=0.01"
)


class PackageIndex:
    """Project pages and core metadata from every configured source."""

    def __init__(
        self,
        settings: IndexSettings,
        client: HttpClient,
        reporter: Reporter = NULL_REPORTER,
        *,
        workers: int = 8,
    ) -> None:
        self.settings = settings
        self.client = client
        self.reporter = reporter
        self._all = configured_sources(settings)
        for source in self._all:
            if urlsplit(source.url).scheme in ("http", "https"):
                client.add_index(source.url)
        self._projects: Memo[NormalizedName, ProjectPage] = Memo()
        self._pages: Memo[tuple[str, NormalizedName], ProjectPage] = Memo()
        self._find_links: Memo[str, list[IndexFile]] = Memo()
        self._local_hashes: Memo[tuple[str, int, int], tuple[str, int]] = Memo()
        self._url_hashes: Memo[str, tuple[str, int]] = Memo()
        self._metadata: Memo[tuple[str, str], CoreMetadata] = Memo()
        self._finder = MetadataFinder(client, reporter, self.hashed)
        self._ahead = FetchAhead(workers)

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Stop the prefetch workers (queued prefetches are dropped; the
        look-ups behind shadowing warnings finish first)."""
        self._ahead.close()

    def __enter__(self) -> PackageIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- projects -----------------------------------------------------------------

    @property
    def source_names(self) -> tuple[str, ...]:
        """The sources, by name, in search order."""
        return tuple(s.name for s in self._all)

    def owner_of(self, name: NormalizedName) -> str | None:
        """The name of the source that owns ``name``, if one does."""
        owner = self._owner(canonicalize_name(name))
        return owner.name if owner is not None else None

    def get_project(self, name: NormalizedName) -> ProjectPage:
        """The files of ``name``, from the sources the settings allow.

        A source that owns the project is the only one used (and the others
        are checked in the background, to warn about a shadowing upload).
        Otherwise, by ``index_strategy``: ``unique`` raises ``IndexConflict``
        when more than one source lists the project; ``first-index`` takes
        the first source listing it; ``unsafe-best-match`` merges every
        source, in source order.  A source that does not know the project
        (404) contributes nothing; any other failure raises.
        """
        name = canonicalize_name(name)
        return self._projects.get(name, lambda: self._load_project(name))

    def has_project(self, name: NormalizedName) -> bool:
        """Whether ``name``'s page was asked for already (it may still be on
        its way)."""
        return canonicalize_name(name) in self._projects

    def _owner(self, name: NormalizedName) -> Source | None:
        best: tuple[int, Source] | None = None
        for source in self._all:
            rank = owner_rank(source.owns, name)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, source)
        return best[1] if best is not None else None

    def _load_project(self, name: NormalizedName) -> ProjectPage:
        owner = self._owner(name)
        if owner is not None:
            self._check_shadowing(owner, name)
            return self._page(owner, name)
        everywhere = ", ".join(self.source_names)
        strategy = self.settings.index_strategy
        if strategy is IndexStrategy.FIRST_INDEX:
            for source in self._all:
                page = self._page(source, name)
                if page.releases:
                    return page
            return ProjectPage(name, (), everywhere)
        found = [page for source in self._all if (page := self._page(source, name)).releases]
        if strategy is IndexStrategy.UNIQUE and len(found) > 1:
            raise IndexConflict(name, [page.source for page in found])
        if len(found) == 1:
            return found[0]
        return ProjectPage.merged(name, found, everywhere)

    def _page(self, source: Source, name: NormalizedName) -> ProjectPage:
        return self._pages.get((source.name, name), lambda: self._fetch(source, name))

    def _fetch(self, source: Source, name: NormalizedName) -> ProjectPage:
        if source.flat:
            return ProjectPage(name, self._find_links_files(source, name), source.name)
        return self._index_page(source, name)

    def _check_shadowing(self, owner: Source, name: NormalizedName) -> None:
        """Warn (once) when sources other than the owner also list ``name``:
        in the background, so that it costs the resolver nothing."""
        others = [s for s in self._all if s is not owner]
        if not others or self._ahead.closed:
            return

        def check() -> None:
            shadows: list[str] = []
            for source in others:
                with contextlib.suppress(BundlerError):
                    if self._page(source, name).releases:
                        shadows.append(source.name)
            if shadows:
                listed = ", ".join(repr(s) for s in shadows)
                self.reporter.warning(
                    f"{name} is owned by index {owner.name!r} and taken only from it;"
                    f" {listed} also list{'s' if len(shadows) == 1 else ''} a project of"
                    " that name, which is ignored (if that is not yours, someone may be"
                    " squatting the name: dependency confusion)"
                )

        self._ahead.check(check)

    def _index_page(self, source: Source, name: NormalizedName) -> ProjectPage:
        # PEP 503: the normalized name, with a trailing slash.
        page_url = urljoin(source.url.rstrip("/") + "/", f"{name}/")
        try:
            resp = self.client.get(page_url, ACCEPT, cacheable=True)
        except NotFound:
            self._detail(lambda: f"page of {name}: not on {source.name} (404)")
            return ProjectPage(name, (), source.name)
        self._detail(
            lambda: (
                f"page of {name}: {redact_url(page_url)}"
                f" ({'from the cache' if resp.from_cache else f'{len(resp.content)} bytes'})"
            )
        )
        return listing_page(self._listing(resp, name), name, source.name)

    def _detail(self, message: Callable[[], str]) -> None:
        """Tell a verbose run what is fetched (composed only for one)."""
        if self.reporter.verbose:
            self.reporter.detail(message())

    def _listing(self, resp: Response, name: NormalizedName) -> PageListing:
        """The page's listing, from the cache when this very page was read
        before (long pages cost more to parse than to fetch).  One entry
        per page URL, as for the pages: a new body replaces the old one."""
        cache = self.client.cache
        if cache is None:
            return list_project_page(resp.content, resp.content_type, resp.url, name)
        body = resp.sha256 or hashlib.sha256(resp.content).hexdigest()
        key = hashlib.sha256(
            f"{LISTING_FORMAT}\0{sys.version}\0{resp.url}\0{name}\0{resp.content_type}".encode()
        ).hexdigest()
        stored = cache.get_derived("listings", key)
        listing = PageListing.from_bytes(stored, body) if stored is not None else None
        if listing is None:
            listing = list_project_page(resp.content, resp.content_type, resp.url, name)
            with contextlib.suppress(OSError, BundlerError, ValueError):
                cache.put_derived("listings", key, listing.to_bytes(body))
        return listing

    def _find_links_files(self, source: Source, name: NormalizedName) -> list[IndexFile]:
        listing = self._find_links.get(source.url, lambda: self._list_find_links(source))
        self._detail(lambda: f"files of {name}: from find-links {source.name}")
        files: list[IndexFile] = []
        for listed in listing:
            dist = parse_filename(listed.filename, name)
            if dist is None or dist.name != name:
                continue
            found = dataclasses.replace(listed, project=name, version=dist.version, kind=dist.kind)
            if is_file_url(found.url) and not found.sha256:
                found = self._hash_local(found)
            files.append(found)
        return files

    def _list_find_links(self, source: Source) -> list[IndexFile]:
        location, display = source.url, source.name
        scheme = urlsplit(location).scheme
        if scheme in ("http", "https"):
            if not location.endswith("/") and parse_filename(url_filename(location)):
                return self._single_file(location, display)
            resp = self.client.get(location, "text/html", cacheable=True)
            return parse_find_links_page(resp.content, resp.url, display, resp.content_type)
        path = url_to_path(location) if scheme == "file" else Path(location).expanduser()
        if path.is_dir():
            return list_find_links_dir(path, display)
        if path.is_file():
            if path.suffix.lower() in (".html", ".htm"):
                return parse_find_links_page(path.read_bytes(), path.resolve().as_uri(), display)
            return self._single_file(path.resolve().as_uri(), display)
        raise UsageError(f"find-links location {redact_url(location)} does not exist")

    @staticmethod
    def _single_file(url: str, display: str) -> list[IndexFile]:
        clean = url.split("#", 1)[0]
        dist = parse_filename(url_filename(clean))
        if dist is None:
            return []
        return [
            IndexFile(
                filename=url_filename(clean),
                url=clean,
                project=dist.name,
                version=dist.version,
                kind=dist.kind,
                index=display,
            )
        ]

    def _hash_local(self, found: IndexFile) -> IndexFile:
        path = url_to_path(found.url)
        try:
            st = path.stat()
        except OSError:
            return found
        digest, size = self._local_hashes.get(
            (str(path), st.st_size, st.st_mtime_ns), lambda: sha256_file(path)
        )
        return dataclasses.replace(found, hashes={**found.hashes, "sha256": digest}, size=size)

    def hashed(self, file: IndexFile) -> IndexFile:
        """``file`` with its sha256 and size: as listed, or for a link
        without a hash (a web server's directory listing), by downloading
        the file into the content cache and hashing it, once per URL (its
        metadata, a build and the download then read it there)."""
        if file.sha256:
            return file
        if is_file_url(file.url):
            return self._hash_local(file)
        digest, size = self._url_hashes.get(file.url, lambda: self._hash_remote(file))
        return dataclasses.replace(file, hashes={**file.hashes, "sha256": digest}, size=size)

    def _hash_remote(self, file: IndexFile) -> tuple[str, int]:
        with scratch_dir(self.client.cache, "hash") as tmp:
            return self.client.fetch_to_file(
                file.url, tmp / file.filename, sha256=None, size=file.size, progress=None
            )

    def prefetch(self, names: Iterable[NormalizedName]) -> None:
        """Fetch project pages in the background, ahead of need."""
        for raw in names:
            name = canonicalize_name(raw)
            if name not in self._projects and not self._ahead.closed:
                self._ahead.fetch(self.get_project, name)

    # -- metadata -----------------------------------------------------------------

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        """The core metadata of one distribution file.

        Tries, in order: the disk cache (by the file's sha256); the PEP 658
        ``.metadata`` file (also when not advertised: mirrors serve it
        silently); range requests on the wheel; the whole wheel (hash-checked);
        for an sdist, its PKG-INFO when static, else ``MetadataUnavailable``.
        """
        return self._metadata.get((file.url, file.filename), lambda: self._finder.load(file))

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        """Fetch metadata in the background, ahead of need."""
        for file in files:
            if (file.url, file.filename) not in self._metadata and not self._ahead.closed:
                self._ahead.fetch(self.get_metadata, file)

    def cached_metadata(self, key: str) -> bytes | None:
        """Core metadata stored under ``key`` (a sha256 hex digest) by
        ``keep_metadata``; None when absent, or without a cache."""
        cache = self.client.cache
        return cache.get_metadata(key) if cache is not None else None

    def keep_metadata(self, key: str, data: bytes) -> None:
        """Store core metadata worked out elsewhere (prepared by a build
        backend) under ``key``; nothing happens without a cache."""
        cache = self.client.cache
        if cache is not None:
            cache.put_metadata(key, data)
