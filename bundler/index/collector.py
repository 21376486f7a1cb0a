"""The resolver's view of the package sources: project pages and metadata.

``PackageIndex`` asks the configured sources (named indexes, the index,
extra indexes, find-links) for one ``ProjectPage`` per project, and finds
core metadata the cheapest way that works: the PEP 658 ``.metadata`` file,
a few range requests on the wheel, the whole wheel, or an sdist's static
PKG-INFO.  Everything is memoized and safe to call from many threads.

A project is never silently taken from whichever source offers the highest
version (pip's ``--extra-index-url``, CVE-2018-20225): a source that owns
the project is the only one used; otherwise ``IndexSettings.index_strategy``
decides, and by default a project on two sources is an error.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import sys
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from bundler.errors import (
    BundlerError,
    InvalidDistribution,
    MultipleErrors,
    NetworkError,
    NotFound,
    UsageError,
)
from bundler.fsutil import sha256_file
from bundler.index.cache import SHA256_HEX, TEMP_DIR_PREFIX
from bundler.index.client import HttpClient
from bundler.index.responses import (
    NotCached,
    RangeNotSupported,
    Response,
    parse_content_range,
    url_to_path,
)
from bundler.models import (
    CoreMetadata,
    DistKind,
    IndexFile,
    IndexSettings,
    IndexStrategy,
    ProjectPage,
)
from bundler.redact import redact_url, split_auth
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.filenames import parse_filename
from bundler.spec.metadata import check_matches, parse_metadata, sdist_metadata, wheel_metadata
from bundler.spec.pages import (
    LISTING_FORMAT,
    PageListing,
    list_find_links_dir,
    list_project_page,
    listing_page,
    parse_find_links_page,
)

# pip's Accept header: PEP 691 JSON preferred, PEP 503 HTML accepted.
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1,"
    " text/html; q=0.01"
)
# A wheel's central directory, and usually its METADATA, sit in its tail.
RANGE_TAIL = 64 * 1024
RANGE_READAHEAD = 64 * 1024

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class MetadataUnavailable(BundlerError):
    """An sdist whose metadata is dynamic: only a build can tell it."""

    def __init__(self, filename: str, url: str) -> None:
        super().__init__(
            f"{filename}: the sdist's dependencies are dynamic (PEP 643) and can only"
            " be known by building it",
            hint="prefer a wheel of this project, or a version whose sdist has static metadata",
        )
        self.filename = filename
        self.url = redact_url(url)


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
class _Source:
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


def _sources(settings: IndexSettings) -> list[_Source]:  # noqa: C901
    """Every source in search order: named indexes, the index, the extra
    indexes, find-links.  A location configured twice is one source, and
    keeps the first (named) entry."""
    found: list[_Source] = []

    def add(source: _Source) -> None:
        if not any(_same_location(s.url, source.url) and s.flat == source.flat for s in found):
            found.append(source)

    for named in settings.named_indexes:
        owns = tuple(
            canonicalize_name(p[:-1]) + "*" if p.endswith("*") else canonicalize_name(p)
            for p in (raw.strip() for raw in named.packages)
            if p
        )
        add(_Source(named.name, named.url, named.flat, owns))
    for url in (settings.index_url, *settings.extra_index_urls):
        if url:
            add(_Source(source_name(url), url, False))
    for location in settings.find_links:
        add(_Source(source_name(location), location, True))
    problems: list[BundlerError] = []
    names: dict[str, _Source] = {}
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
    if problems:
        raise problems[0] if len(problems) == 1 else MultipleErrors(problems)
    return found


class _Memo(Generic[K, T]):
    """Compute each key once, even when many threads ask at the same time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[K, Future[T]] = {}

    def __contains__(self, key: K) -> bool:
        with self._lock:
            return key in self._futures

    def get(self, key: K, compute: Callable[[], T]) -> T:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._futures[key] = future
        if owner:
            try:
                future.set_result(compute())
            except Exception as err:
                future.set_exception(err)
            except BaseException as err:
                # An interrupt is not an answer: let a later call try again.
                with self._lock:
                    del self._futures[key]
                future.set_exception(err)
                raise
        return future.result()


class _RemoteFile:
    """A read-only, seekable view of a remote file, fetched with range
    requests as ``zipfile`` reads it (the file is never downloaded)."""

    def __init__(self, client: HttpClient, url: str) -> None:
        self._client = client
        self._url = url
        first = client.get_range(url, -RANGE_TAIL)
        start, size = self._check(first.headers.get("Content-Range", ""), first.content, None)
        self._size = size
        self._blocks: list[tuple[int, bytes]] = [(start, first.content)]
        self._pos = 0

    def _check(self, header: str, content: bytes, start: int | None) -> tuple[int, int]:
        parsed = parse_content_range(header)
        if parsed is None:
            raise RangeNotSupported(redact_url(self._url), "no usable Content-Range")
        first, last, total = parsed
        if (
            total is None
            or len(content) != last - first + 1
            or (start is not None and first != start)
        ):
            raise RangeNotSupported(redact_url(self._url), "the server sent another range")
        return first, total

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0, /) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int = -1, /) -> bytes:
        remaining = self._size - self._pos
        n = remaining if n < 0 else min(n, remaining)
        if n <= 0:
            return b""
        data = self._get(self._pos, n)
        self._pos += len(data)
        return data

    def _get(self, start: int, n: int) -> bytes:
        for first, block in self._blocks:
            if first <= start and start + n <= first + len(block):
                return block[start - first : start - first + n]
        end = min(self._size, start + max(n, RANGE_READAHEAD)) - 1
        resp = self._client.get_range(self._url, start, end)
        self._check(resp.headers.get("Content-Range", ""), resp.content, start)
        self._blocks.append((start, resp.content))
        return resp.content[:n]


def _is_file_url(url: str) -> bool:
    return urlsplit(url).scheme == "file"


def _url_filename(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


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
        self._all = _sources(settings)
        for source in self._all:
            if urlsplit(source.url).scheme in ("http", "https"):
                client.add_index(source.url)
        self._projects: _Memo[NormalizedName, ProjectPage] = _Memo()
        self._pages: _Memo[tuple[str, NormalizedName], ProjectPage] = _Memo()
        self._find_links: _Memo[str, list[IndexFile]] = _Memo()
        self._local_hashes: _Memo[tuple[str, int, int], tuple[str, int]] = _Memo()
        self._url_hashes: _Memo[str, tuple[str, int]] = _Memo()
        self._metadata: _Memo[tuple[str, str], CoreMetadata] = _Memo()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="index")
        self._closed = False
        self._checks_lock = threading.Lock()
        self._checks: list[Future[None]] = []

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Stop the prefetch workers (queued prefetches are dropped; the
        look-ups behind shadowing warnings finish first)."""
        self._closed = True
        while True:
            with self._checks_lock:
                pending = [f for f in self._checks if not f.done()]
                self._checks = pending
            if not pending:
                break
            concurrent.futures.wait(pending)
        self._pool.shutdown(wait=True, cancel_futures=True)

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

    def _owner(self, name: NormalizedName) -> _Source | None:
        best: tuple[int, _Source] | None = None
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

    def _page(self, source: _Source, name: NormalizedName) -> ProjectPage:
        return self._pages.get((source.name, name), lambda: self._fetch(source, name))

    def _fetch(self, source: _Source, name: NormalizedName) -> ProjectPage:
        if source.flat:
            return ProjectPage(name, self._find_links_files(source, name), source.name)
        return self._index_page(source, name)

    def _check_shadowing(self, owner: _Source, name: NormalizedName) -> None:
        """Warn (once) when sources other than the owner also list ``name``:
        in the background, so that it costs the resolver nothing."""
        others = [s for s in self._all if s is not owner]
        if not others or self._closed:
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

        with contextlib.suppress(RuntimeError):  # the pool is shut down
            future = self._pool.submit(check)
            with self._checks_lock:
                self._checks.append(future)

    def _index_page(self, source: _Source, name: NormalizedName) -> ProjectPage:
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

    def _find_links_files(self, source: _Source, name: NormalizedName) -> list[IndexFile]:
        listing = self._find_links.get(source.url, lambda: self._list_find_links(source))
        self._detail(lambda: f"files of {name}: from find-links {source.name}")
        files: list[IndexFile] = []
        for listed in listing:
            dist = parse_filename(listed.filename, name)
            if dist is None or dist.name != name:
                continue
            found = dataclasses.replace(listed, project=name, version=dist.version, kind=dist.kind)
            if _is_file_url(found.url) and not found.sha256:
                found = self._hash_local(found)
            files.append(found)
        return files

    def _list_find_links(self, source: _Source) -> list[IndexFile]:
        location, display = source.url, source.name
        scheme = urlsplit(location).scheme
        if scheme in ("http", "https"):
            if not location.endswith("/") and parse_filename(_url_filename(location)):
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
        dist = parse_filename(_url_filename(clean))
        if dist is None:
            return []
        return [
            IndexFile(
                filename=_url_filename(clean),
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
        if _is_file_url(file.url):
            return self._hash_local(file)
        digest, size = self._url_hashes.get(file.url, lambda: self._hash_remote(file))
        return dataclasses.replace(file, hashes={**file.hashes, "sha256": digest}, size=size)

    def _hash_remote(self, file: IndexFile) -> tuple[str, int]:
        with self._temp_dir("hash") as tmp:
            return self.client.fetch_to_file(
                file.url, tmp / file.filename, sha256=None, size=file.size, progress=None
            )

    @contextlib.contextmanager
    def _temp_dir(self, kind: str) -> Iterator[Path]:
        """A temp directory for a file fetched whole: in the cache, which
        then keeps the file, else in the system's temp directory."""
        cache = self.client.cache
        if cache is not None:
            with cache.temp_dir(kind) as tmp:
                yield tmp
        else:
            with tempfile.TemporaryDirectory(prefix=f"{TEMP_DIR_PREFIX}{kind}-") as tmp:
                yield Path(tmp)

    def prefetch(self, names: Iterable[NormalizedName]) -> None:
        """Fetch project pages in the background, ahead of need."""
        for raw in names:
            name = canonicalize_name(raw)
            if name not in self._projects and not self._closed:
                self._submit(self.get_project, name)

    # -- metadata -----------------------------------------------------------------

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        """The core metadata of one distribution file.

        Tries, in order: the disk cache (by the file's sha256); the PEP 658
        ``.metadata`` file (also when not advertised: mirrors serve it
        silently); range requests on the wheel; the whole wheel (hash-checked);
        for an sdist, its PKG-INFO when static, else ``MetadataUnavailable``.
        """
        return self._metadata.get((file.url, file.filename), lambda: self._load_metadata(file))

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        """Fetch metadata in the background, ahead of need."""
        for file in files:
            if (file.url, file.filename) not in self._metadata and not self._closed:
                self._submit(self.get_metadata, file)

    def _submit(self, fn: Callable[[T], object], arg: T) -> None:
        def quietly() -> None:
            # Errors are memoized and raised to whoever asks for real.
            with contextlib.suppress(Exception):
                fn(arg)

        with contextlib.suppress(RuntimeError):  # the pool is shut down
            self._pool.submit(quietly)

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

    def _what(self, file: IndexFile) -> str:
        return f"{file.filename} (from {file.index or redact_url(file.url)})"

    def _load_metadata(self, file: IndexFile) -> CoreMetadata:
        what = self._what(file)
        if not file.sha256 and file.kind is DistKind.SDIST:
            # Read whole anyway: fetched once, hashed, and kept for later.
            file = self.hashed(file)
        sha = (file.sha256 or "").lower()
        sha = sha if SHA256_HEX.fullmatch(sha) else ""
        cache = self.client.cache
        if file.kind is DistKind.SDIST:
            meta = self._sdist_metadata(file, sha)
            check_matches(meta, file.project, file.version, what)
            self._detail(lambda: f"metadata of {what}: the sdist's PKG-INFO (static)")
            return meta
        cached = cache.get_metadata(sha) if cache is not None and sha else None
        if cached is not None:
            with contextlib.suppress(BundlerError):  # a damaged entry is fetched again
                meta = parse_metadata(cached, what)
                check_matches(meta, file.project, file.version, what)
                self._detail(lambda: f"metadata of {what}: from the cache")
                return meta
        data = self._wheel_metadata_bytes(file, sha)
        meta = parse_metadata(data, what)
        check_matches(meta, file.project, file.version, what)
        if cache is not None and sha:
            with contextlib.suppress(OSError, BundlerError):
                cache.put_metadata(sha, data)
        return meta

    def _local_copy(self, file: IndexFile, sha: str) -> Path | None:
        """A local file holding the distribution, without any request."""
        if _is_file_url(file.url):
            return url_to_path(file.url)
        cache = self.client.cache
        if cache is not None and sha:
            blob = cache.blob_path(sha)
            if blob.is_file():
                return blob
        return None

    def _download(self, file: IndexFile, sha: str, use: Callable[[Path], T]) -> T:
        with self._temp_dir("dist") as tmp:
            path = tmp / file.filename
            self.client.fetch_to_file(file.url, path, sha256=sha or None, size=file.size)
            return use(path)

    def _sdist_metadata(self, file: IndexFile, sha: str) -> CoreMetadata:
        local = self._local_copy(file, sha)
        if local is not None:
            meta = sdist_metadata(local, file.filename)
        else:
            meta = self._download(file, sha, lambda p: sdist_metadata(p, file.filename))
        if meta is None:
            raise MetadataUnavailable(file.filename, file.url)
        return meta

    def _wheel_metadata_bytes(self, file: IndexFile, sha: str) -> bytes:
        data, how = self._wheel_metadata_how(file, sha)
        self._detail(lambda: f"metadata of {self._what(file)}: {how}")
        return data

    def _wheel_metadata_how(self, file: IndexFile, sha: str) -> tuple[bytes, str]:
        """The METADATA of a wheel, and how it was read (for ``-v``)."""
        local = self._local_copy(file, sha)
        if local is not None:
            return wheel_metadata(local, file.filename), "from the wheel at hand"
        # An advertised PEP 658 file first (hash-checked).  An unadvertised
        # one is only a guess: mirrors answer a missing one slowly, while a
        # range request on the wheel's tail usually holds METADATA whole.
        advertised = file.core_metadata is not None
        if advertised and (data := self._sidecar(file)) is not None:
            return data, "the PEP 658 .metadata file"
        whole = "the whole wheel, kept for the download"
        if file.size is not None and file.size <= RANGE_TAIL:
            # No bigger than one range request: take the whole wheel (kept
            # in the cache for the download) rather than guess at a sidecar.
            return self._download(file, sha, lambda p: wheel_metadata(p, file.filename)), whole
        if file.size is None or file.size > RANGE_TAIL:
            try:
                remote = _RemoteFile(self.client, file.url)
                return wheel_metadata(remote, file.filename), "range requests on the wheel"
            except NotFound:
                raise
            except (NetworkError, InvalidDistribution):
                pass  # a sidecar or the whole wheel decides
        if not advertised and (data := self._sidecar(file)) is not None:
            return data, "an unadvertised .metadata file"
        return self._download(file, sha, lambda p: wheel_metadata(p, file.filename)), whole

    def _sidecar(self, file: IndexFile) -> bytes | None:
        """PEP 658: ``<file url>.metadata``, checked against the page's hash."""
        url = file.url + ".metadata"
        advertised = file.core_metadata is not None
        hashes = dict(file.core_metadata or {})
        expected = hashes.get("sha256", "")
        cache = self.client.cache
        if cache is not None and SHA256_HEX.fullmatch(expected):
            cached = cache.read_blob(expected)
            if cached is not None:
                return cached
        try:
            data = self.client.get(url).content
        except NetworkError as err:
            if advertised and not isinstance(err, (NotFound, NotCached)):
                self.reporter.warning(f"{err}; reading the metadata from the wheel instead")
            return None
        for algo, digest in hashes.items():
            got = hashlib.new(algo, data).hexdigest()
            if got != digest:
                self.reporter.warning(
                    f"{redact_url(url)}: {algo} is {got}, the index says {digest};"
                    " reading the metadata from the wheel instead"
                )
                return None
        if not advertised:
            # An unadvertised URL may answer with anything (an HTML error page).
            try:
                parse_metadata(data, self._what(file))
            except BundlerError:
                return None
        if cache is not None and expected:
            with contextlib.suppress(OSError, BundlerError):
                cache.put_blob(data)
        return data


__all__ = [
    "ACCEPT",
    "IndexConflict",
    "MetadataUnavailable",
    "PackageIndex",
    "owner_rank",
    "source_name",
]
