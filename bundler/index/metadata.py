"""Core metadata of a distribution, found the cheapest way that works:
the disk cache, the PEP 658 ``.metadata`` file, a few range requests on
the wheel, the whole wheel, or an sdist's static PKG-INFO."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from bundler.errors import BundlerError, InvalidDistribution, NetworkError, NotFound
from bundler.index.cache import SHA256_HEX, TEMP_DIR_PREFIX, DiskCache
from bundler.index.client import HttpClient
from bundler.index.responses import NotCached, RangeNotSupported, parse_content_range, url_to_path
from bundler.models import CoreMetadata, DistKind, IndexFile
from bundler.redact import redact_url
from bundler.reporting import Reporter
from bundler.spec.archives import sdist_metadata, wheel_metadata
from bundler.spec.metadata import check_matches, parse_metadata

__all__ = [
    "RANGE_READAHEAD",
    "RANGE_TAIL",
    "MetadataFinder",
    "MetadataUnavailable",
    "is_file_url",
    "scratch_dir",
]

# A wheel's central directory, and usually its METADATA, sit in its tail.
RANGE_TAIL = 64 * 1024
RANGE_READAHEAD = 64 * 1024
# A read that ends in the bytes already fetched after it (a central
# directory longer than the tail) takes this much more before it, up to
# those bytes: a wheel's .dist-info files (METADATA, then RECORD) lie just
# before its directory, so METADATA comes in the same request.
RANGE_BEFORE = 128 * 1024
# ...unless the read starts this far before them: then it reads ahead.
RANGE_GAP_MAX = 1024 * 1024

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


def is_file_url(url: str) -> bool:
    return urlsplit(url).scheme == "file"


@contextlib.contextmanager
def scratch_dir(cache: DiskCache | None, kind: str) -> Iterator[Path]:
    """A temp directory for a file fetched whole: in the cache, which
    then keeps the file, else in the system's temp directory."""
    if cache is not None:
        with cache.temp_dir(kind) as tmp:
            yield tmp
    else:
        with tempfile.TemporaryDirectory(prefix=f"{TEMP_DIR_PREFIX}{kind}-") as tmp:
            yield Path(tmp)


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
        for i, (first, block) in enumerate(self._blocks):
            if start < first <= start + n <= first + len(block) and first - start <= RANGE_GAP_MAX:
                # Ends in a block held: fetch what comes before it, as one.
                begin = max(0, start - RANGE_BEFORE)
                resp = self._client.get_range(self._url, begin, first - 1)
                self._check(resp.headers.get("Content-Range", ""), resp.content, begin)
                joined = resp.content + block
                self._blocks[i] = (begin, joined)
                return joined[start - begin : start - begin + n]
        end = min(self._size, start + max(n, RANGE_READAHEAD)) - 1
        resp = self._client.get_range(self._url, start, end)
        self._check(resp.headers.get("Content-Range", ""), resp.content, start)
        self._blocks.append((start, resp.content))
        return resp.content[:n]


class MetadataFinder:
    """Reads core metadata through ``client`` (and its cache); ``hashed``
    gives a file listed without a hash its sha256 (the package index's,
    memoized per URL)."""

    def __init__(
        self, client: HttpClient, reporter: Reporter, hashed: Callable[[IndexFile], IndexFile]
    ) -> None:
        self.client = client
        self.reporter = reporter
        self._hashed = hashed

    def _detail(self, message: Callable[[], str]) -> None:
        """Tell a verbose run what is fetched (composed only for one)."""
        if self.reporter.verbose:
            self.reporter.detail(message())

    def _what(self, file: IndexFile) -> str:
        return f"{file.filename} (from {file.index or redact_url(file.url)})"

    def load(self, file: IndexFile) -> CoreMetadata:
        """The core metadata of ``file``, the cheapest way that works."""
        what = self._what(file)
        if not file.sha256 and file.kind is DistKind.SDIST:
            # Read whole anyway: fetched once, hashed, and kept for later.
            file = self._hashed(file)
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
        if is_file_url(file.url):
            return url_to_path(file.url)
        cache = self.client.cache
        if cache is not None and sha:
            blob = cache.blob_path(sha)
            if blob.is_file():
                return blob
        return None

    def _download(self, file: IndexFile, sha: str, use: Callable[[Path], T]) -> T:
        if sha:
            # Straight into the cache's blob store, where the download
            # finds it (no scratch directory to make and remove).
            blob = self.client.fetch_to_cache(file.url, sha256=sha, size=file.size)
            if blob is not None:
                return use(blob)
        with scratch_dir(self.client.cache, "dist") as tmp:
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
