"""Extending a bundle by what files added to it need: the bundle searched
first as an index, a local sdist's dynamic metadata prepared through its
build backend, and the bundle's inputs plus the added pins locked again
and fetched into the bundle."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bundler.bundle.build import download_into
from bundler.bundle.layout import MANIFEST_NAME, SIMPLE_DIR
from bundler.errors import UsageError
from bundler.index.client import HttpClient
from bundler.lock.inputs import LockOptions
from bundler.lock.locker import lock
from bundler.models import (
    CoreMetadata,
    DistKind,
    IndexFile,
    IndexSettings,
    IndexStrategy,
    LockInput,
    LockPin,
    Manifest,
    NamedIndex,
)
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.filenames import parse_filename
from bundler.spec.target import Target, target_from_name

if TYPE_CHECKING:
    from bundler.index.collector import PackageIndex
    from bundler.spec.reqfile import ParsedRequirement

__all__ = ["SdistPreparer", "bundle_first", "extend_into"]


def bundle_first(bundle_dir: Path, indexes: IndexSettings) -> IndexSettings:
    """The sources for adding to a bundle: the bundle is the authority for
    what it already holds (private files among them), so it is searched
    first, then the configured sources."""
    bundle_index = NamedIndex("bundle", (bundle_dir / SIMPLE_DIR).resolve().as_uri() + "/")
    return dataclasses.replace(
        indexes,
        named_indexes=(bundle_index, *indexes.named_indexes),
        index_strategy=IndexStrategy.FIRST_INDEX,
    )


class SdistPreparer:
    """For ``bundle add``: the core metadata of a local sdist whose metadata
    is dynamic (PEP 643, e.g. a setup.py project), through its build backend
    as ``lock`` prepares it, for ``target``; build requirements come from
    ``indexes`` (see ``bundle_first``).  The sources are opened when first
    needed and closed with ``close``."""

    def __init__(
        self,
        indexes: IndexSettings,
        client: HttpClient,
        target: Target,
        reporter: Reporter = NULL_REPORTER,
        workers: int = 8,
    ) -> None:
        self.indexes = indexes
        self.client = client
        self.target = target
        self.reporter = reporter
        self.workers = workers
        self._index: PackageIndex | None = None

    def __call__(self, path: Path, filename: str) -> CoreMetadata:
        from bundler.fsutil import sha256_file
        from bundler.index.collector import PackageIndex
        from bundler.resolve.builddeps import BuildingSource
        from bundler.resolve.resolver import ResolveOptions

        dist = parse_filename(filename)
        if dist is None or dist.kind is not DistKind.SDIST:
            raise UsageError(f"{filename}: not an sdist file name")
        if self._index is None:
            self._index = PackageIndex(
                self.indexes, self.client, self.reporter, workers=self.workers
            )
        digest, size = sha256_file(path)
        file = IndexFile(
            filename=filename,
            url=path.resolve().as_uri(),
            project=dist.name,
            version=dist.version,
            kind=DistKind.SDIST,
            hashes={"sha256": digest},
            size=size,
            index="local",
        )
        source = BuildingSource(
            self._index, self.client, self.target, ResolveOptions(), self.reporter
        )
        return source.get_metadata(file)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> SdistPreparer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def extend_into(
    bundle_dir: Path,
    shown_dir: Path,
    manifest: Manifest,
    added: Sequence[str],
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter,
    workers: int,
) -> Manifest:
    """After the files are added to ``bundle_dir`` (a staging copy no
    reader sees): resolve the bundle's inputs plus the ``added`` pins for
    every target of the bundle, the bundle itself searched first, and
    fetch whatever the added distributions need that it lacks.  Existing
    pins are kept where they still fit.  Messages name ``shown_dir``, the
    bundle the copy will replace."""
    targets = [target_from_name(name) for name in manifest.targets]
    runtime = [p for p in manifest.packages if not p.build_only]
    texts = list(manifest.requirements) or [
        f"{p.name}=={p.version}" + (f" ; {p.marker}" if p.marker else "") for p in runtime
    ]
    texts += [t for t in added if t not in texts]
    source = f"{shown_dir / MANIFEST_NAME}"

    from bundler.spec.reqfile import RequirementsInput

    requirements = RequirementsInput(
        requirements=tuple(_manifest_line(t, source) for t in texts),
        constraints=tuple(_manifest_line(c, source) for c in manifest.constraints),
        indexes=IndexSettings(),
        pre=manifest.allow_prereleases,
    )
    sources = bundle_first(bundle_dir, indexes)
    existing = LockInput(
        pins=tuple(LockPin(p.name, p.version, (), marker=p.marker) for p in runtime),
        indexes=IndexSettings(),
        path=source,
    )
    locked = lock(
        requirements, targets, sources, LockOptions(), client, reporter, existing, workers
    )
    return download_into(locked, bundle_dir, sources, client, reporter, workers)


def _manifest_line(line: str, source: str) -> ParsedRequirement:
    """A requirement line of the bundle's manifest, as a requirements file's."""
    from bundler.spec.reqfile import ParsedRequirement

    req = Requirement(line)
    return ParsedRequirement(
        requirement=req,
        name=canonicalize_name(req.name),
        source=source,
        comes_from=MANIFEST_NAME,
        line=line,
    )
