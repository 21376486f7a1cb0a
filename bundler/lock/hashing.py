"""The sha256 a lock needs of every file: direct references fetched and
hashed, and files an index lists without a hash fetched (through the
content cache) and hashed."""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bundler.errors import BundlerError, UsageError
from bundler.fsutil import sha256_file
from bundler.index.client import HttpClient
from bundler.models import IndexFile
from bundler.redact import redact_url
from bundler.spec.filenames import parse_filename
from bundler.spec.resolution import Resolution

if TYPE_CHECKING:
    from bundler.index.collector import PackageIndex
    from bundler.spec.reqfile import ParsedRequirement

__all__ = ["FRAGMENT_HASHES", "direct_file", "hash_unhashed", "with_hashes"]

# The URL fragment hashes pip checks a downloaded file against (Link's).
FRAGMENT_HASHES = ("sha512", "sha384", "sha256", "sha224", "sha1", "md5")


def direct_file(req: ParsedRequirement, client: HttpClient) -> IndexFile:
    """An IndexFile for a direct reference, hashed (a lock needs the hash)."""
    assert req.url is not None
    url = req.url.split("#", 1)[0]
    filename = url.rstrip("/").rsplit("/", 1)[-1]
    parsed = parse_filename(filename, req.name)
    if parsed is None or parsed.name != req.name:
        raise UsageError(
            f"{req.source}: {redact_url(url)} is not a wheel or sdist of {req.name}",
            hint="direct references must point at a distribution file"
            " (VCS and directory references cannot be bundled)",
        )
    allowed = _allowed_hashes(req)
    with tempfile.TemporaryDirectory(prefix="bundler-direct-") as tmp:
        path = Path(tmp) / filename
        digest, size = client.fetch_to_file(url, path, sha256=None, size=None, progress=None)
        if allowed and not any(_digest(path, algo) in digests for algo, digests in allowed.items()):
            given = ", ".join(f"{a}:{d}" for a, ds in sorted(allowed.items()) for d in sorted(ds))
            raise BundlerError(
                f"{req.source}: {redact_url(url)} does not match the hashes given for it"
                f" ({given}): it hashes to sha256:{digest}",
                hint="the file at that URL changed, or the hash is wrong: check it, then"
                " lock again",
            )
    return IndexFile(
        filename=filename,
        url=url,
        project=req.name,
        version=parsed.version,
        kind=parsed.kind,
        hashes={"sha256": digest},
        size=size,
        index="direct reference",
    )


def _allowed_hashes(req: ParsedRequirement) -> dict[str, set[str]]:
    """What a direct reference's file may hash to, as pip allows it: its
    --hash options and its URL's ``#<algo>=<hex>`` fragment (pip checks
    that too), by algorithm."""
    allowed: dict[str, set[str]] = {}
    for value in req.hashes:
        algo, _, digest = value.partition(":")
        allowed.setdefault(algo, set()).add(digest)
    assert req.url is not None
    fragment = urlsplit(req.url).fragment
    for part in fragment.split("&"):
        algo, sep, digest = part.partition("=")
        if sep and algo in FRAGMENT_HASHES and digest:
            allowed.setdefault(algo, set()).add(digest.lower())
    return allowed


def _digest(path: Path, algo: str) -> str:
    if algo == "sha256":
        return sha256_file(path)[0]
    h = hashlib.new(algo)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def hash_unhashed(files: Sequence[IndexFile], index: PackageIndex) -> dict[str, IndexFile]:
    """For files an index lists without a sha256, fetch them (through the
    content cache, once per URL) and return url -> the file with its sha256
    and size."""
    missing = [f for f in files if not f.sha256]
    if not missing:
        return {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        return {f.url: f for f in pool.map(index.hashed, missing)}


def with_hashes(res: Resolution, index: PackageIndex) -> Resolution:
    """Fill in sha256 for files whose index gave none."""
    hashed = hash_unhashed([f for p in res.packages.values() for f in p.files], index)
    if not hashed:
        return res
    packages = {
        name: dataclasses.replace(
            p,
            files=tuple(hashed.get(f.url, f) for f in p.files),
            chosen=hashed.get(p.chosen.url, p.chosen),
        )
        for name, p in res.packages.items()
    }
    return Resolution(res.target, packages)
