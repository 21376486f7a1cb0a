"""The disk cache: index pages by URL, immutable bytes by their sha256.

Every entry is written atomically and checked when read (a damaged one
reads as absent and is fetched again); nothing in it holds credentials.
The HTTP client keeps pages and downloaded files here; the package index
keeps core metadata and parsed listings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bundler.errors import BundlerError
from bundler.fsutil import atomic_write, sha256_file, temp_file_beside

__all__ = [
    "SHA256_HEX",
    "STALE_TEMP_AGE",
    "TEMP_DIR_PREFIX",
    "DiskCache",
    "PageEntry",
    "link_or_copy",
    "valid_sha256",
]

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PageEntry:
    """One cached index page: its final URL, when it was fetched, and the
    answer kept of it."""

    url: str
    fetched: float
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""
    sha256: str = ""  # of ``content``; computed when stored if empty


def valid_sha256(digest: str) -> str:
    """``digest`` lowercased; raises ``BundlerError`` unless it is a sha256."""
    digest = digest.lower()
    if not SHA256_HEX.fullmatch(digest):
        raise BundlerError(f"not a sha256 hex digest: {digest[:80]!r}")
    return digest


# Temp directories made in a cache's root (a file fetched ahead, a
# distribution read for its metadata) are named "bundler-*".  One that
# nothing touched for STALE_TEMP_AGE seconds was left by a killed run: a
# live download writes to it at least once per read timeout.
TEMP_DIR_PREFIX = "bundler-"
STALE_TEMP_AGE = 3600.0


class DiskCache:
    """Pages keyed by (redacted) URL; immutable bytes keyed by sha256.

    Layout: ``pages/<key>`` (a JSON header line, then the body),
    ``blobs/sha256/<hex>`` (files and ``.metadata`` by their own digest),
    ``metadata/sha256/<hex>`` (core metadata of the distribution whose
    digest is ``<hex>``), ``<kind>/sha256/<hex>`` for what is derived from
    them.  Every write is atomic; nothing holds credentials.

    The directories are flat: file systems index big directories (ext4,
    XFS, btrfs, APFS, NTFS), and each fan-out directory (``ab/``) was one
    more inode to make, as costly as a file: 114 of the 232 made by a cold
    lock of the web set.  Entries of that older layout are not read (they
    are fetched again once).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        # Blobs stored through this cache, by digest: their size (the bytes
        # were hashed as they streamed in).
        self._stored: dict[str, int] = {}
        self._swept = False  # the stale temp directories, once

    def _addressed(self, kind: str, digest: str) -> Path:
        digest = valid_sha256(digest)
        return self.root / kind / "sha256" / digest

    def blob_path(self, sha256: str) -> Path:
        return self._addressed("blobs", sha256)

    def read_blob(self, sha256: str) -> bytes | None:
        """The blob's bytes, or None when absent or corrupt (then removed)."""
        path = self.blob_path(sha256)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != sha256.lower():
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return data

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.is_file():
            atomic_write(path, data)  # checked by its hash when read
        return digest

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def put_blob_file(self, source: Path, sha256: str, size: int) -> None:
        """Store a file of ``size`` bytes whose digest was just computed
        (hardlinked when possible)."""
        path = self.blob_path(sha256)
        if not path.is_file():
            link_or_copy(source, path)
        self.note_stored(sha256, size)

    def note_stored(self, sha256: str, size: int) -> None:
        """The blob ``sha256`` of ``size`` bytes was just written, its
        digest computed as it streamed in: not to be hashed again."""
        with self._lock:
            self._stored[sha256] = size

    def copy_blob(self, sha256: str, size: int | None, dest: Path) -> int | None:
        """Place the blob ``sha256`` at ``dest`` and return its size; None
        when absent, or not of that digest or ``size`` (then removed)."""
        blob = self.blob_path(sha256)
        if not blob.is_file():
            return None
        with self._lock:
            stored = self._stored.get(sha256)
        if stored is not None and blob.stat().st_size == stored:
            # Hashed as it streamed in, through this very cache: not again.
            digest, got = sha256, stored
        else:
            digest, got = sha256_file(blob)
        if digest != sha256 or (size is not None and got != size):
            with contextlib.suppress(OSError):
                blob.unlink()
            return None
        link_or_copy(blob, dest)
        return got

    def get_metadata(self, dist_sha256: str) -> bytes | None:
        try:
            return self._addressed("metadata", dist_sha256).read_bytes()
        except OSError:
            return None

    def put_metadata(self, dist_sha256: str, data: bytes) -> None:
        # Parsed when read; a damaged entry is fetched again.
        atomic_write(self._addressed("metadata", dist_sha256), data)

    def get_derived(self, kind: str, key: str) -> bytes | None:
        """Bytes stored by ``put_derived`` (something computed from cached
        data, e.g. a parsed page), or None when absent or damaged."""
        try:
            raw = self._addressed(kind, key).read_bytes()
        except OSError:
            return None
        digest, data = raw[:32], raw[32:]
        return data if hashlib.sha256(data).digest() == digest else None

    def put_derived(self, kind: str, key: str, data: bytes) -> None:
        # Checked when read: the digest, then the bytes.
        atomic_write(self._addressed(kind, key), hashlib.sha256(data).digest(), data)

    @contextlib.contextmanager
    def temp_dir(self, kind: str) -> Iterator[Path]:
        """A temp directory in the cache's root (on the blobs' file system,
        so that a file made there is linked in, not copied), removed after."""
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"{TEMP_DIR_PREFIX}{kind}-", dir=self.root) as tmp:
            yield Path(tmp)

    def sweep_once(self, clock: Callable[[], float]) -> None:
        """Once per cache, before its first download: what killed runs left
        in its temp directories goes (``remove_stale_temps``)."""
        with self._lock:
            if self._swept:
                return
            self._swept = True
        self.remove_stale_temps(clock())

    def remove_stale_temps(self, now: float) -> list[str]:
        """Remove the temp directories (and the partial files in them) that
        killed runs left in the cache's root; return their names.  Another
        run may be using the same cache, so only those untouched for
        ``STALE_TEMP_AGE`` seconds go."""
        removed: list[str] = []
        try:
            entries = sorted(self.root.iterdir())
        except OSError:
            return removed
        for path in entries:
            if not path.name.startswith(TEMP_DIR_PREFIX):
                continue
            try:
                if not stat.S_ISDIR(path.lstat().st_mode):
                    continue
                touched = max(p.lstat().st_mtime for p in [path, *path.iterdir()])
            except OSError:
                continue
            if now - touched >= STALE_TEMP_AGE:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        return removed

    def _page_path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.root / "pages" / digest

    def load_page(self, key: str) -> PageEntry | None:
        try:
            raw = self._page_path(key).read_bytes()
            header, _, content = raw.partition(b"\n")
            meta = json.loads(header)
            if meta.get("key") != key:
                return None
            digest = hashlib.sha256(content).hexdigest()
            if meta.get("sha256") != digest:
                return None  # damaged (or written by an older bundler): fetch again
            return PageEntry(
                url=str(meta["url"]),
                fetched=float(meta["fetched"]),
                status=int(meta["status"]),
                headers={str(k): str(v) for k, v in meta["headers"].items()},
                content=content,
                sha256=digest,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def store_page(self, key: str, entry: PageEntry) -> None:
        meta = {
            "key": key,
            "url": entry.url,
            "fetched": entry.fetched,
            "status": entry.status,
            "headers": dict(entry.headers),
        }
        # The body's digest lets a damaged entry be told from the page.
        meta["sha256"] = entry.sha256 or hashlib.sha256(entry.content).hexdigest()
        header = json.dumps(meta, sort_keys=True).encode("utf-8")
        atomic_write(self._page_path(key), header + b"\n", entry.content)


def link_or_copy(source: Path, dest: Path) -> None:
    """Atomically place ``source``'s bytes at ``dest`` (hardlink, else copy).

    A free name gets the link itself (a link appears whole, or not at all);
    only an existing ``dest`` is replaced through a temp name.  No
    placeholder file is made for that name: creating a file costs up to half
    a millisecond on some file systems, a link a few microseconds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
        return
    except FileExistsError:
        pass
    except OSError:
        _copy_into_place(source, dest)
        return
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.tmp")
    try:
        os.link(source, tmp)
    except OSError:  # a name taken after all (64 random bits): copy
        _copy_into_place(source, dest)
        return
    try:
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _copy_into_place(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` through a temp file (where no hard link
    can be made: another file system, or links not allowed)."""
    fd, tmp = temp_file_beside(dest)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
