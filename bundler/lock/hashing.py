"""The sha256 a lock needs of every file: direct references fetched and
hashed, and files an index lists without a hash fetched (through the
content cache) and hashed."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from bundler.errors import UsageError
from bundler.index.client import HttpClient
from bundler.models import IndexFile
from bundler.redact import redact_url
from bundler.spec.filenames import parse_filename
from bundler.spec.resolution import Resolution

if TYPE_CHECKING:
    from bundler.index.collector import PackageIndex
    from bundler.spec.reqfile import ParsedRequirement

__all__ = ["direct_file", "hash_unhashed", "with_hashes"]


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
    with tempfile.TemporaryDirectory(prefix="bundler-direct-") as tmp:
        expected = next((h.split(":", 1)[1] for h in req.hashes if h.startswith("sha256:")), None)
        digest, size = client.fetch_to_file(
            url, Path(tmp) / filename, sha256=expected, size=None, progress=None
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
