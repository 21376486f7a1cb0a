"""A bundle made from a Lock: every file some target installs fetched
into ``files/``, then the pages, lock files and manifest written, the
whole replacing the bundle directory in one step."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bundler import __version__
from bundler.errors import BundlerError, UsageError
from bundler.fsutil import updating
from bundler.index.client import HttpClient
from bundler.index.settings import hash_matched
from bundler.models import BundleArtifact, IndexSettings, Lock, Manifest
from bundler.reporting import NULL_REPORTER, Reporter

if TYPE_CHECKING:
    from bundler.bundle.download import DownloadItem
    from bundler.index.collector import PackageIndex

__all__ = ["download", "download_into"]


class _Rejected(Exception):
    """The new bundle was not accepted: it is discarded."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__("rejected")
        self.manifest = manifest


def download(
    lock_: Lock,
    out_dir: Path,
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
    accept: Callable[[Path], bool] | None = None,
) -> Manifest:
    """Fetch every file some target installs into ``out_dir/files`` and
    write the bundle's pages, manifest and requirements.txt.

    All or nothing: the new bundle is made beside ``out_dir`` (files it
    keeps are linked, not fetched again) and takes its place in one step
    (``fsutil.updating``); a run that fails, however, leaves ``out_dir``
    as it was.  With ``accept`` (``bundle build``'s gate), the new bundle
    is handed to it where it was made, and takes ``out_dir``'s place only
    if it returns True.  Returns the new bundle's manifest either way."""
    _check_output(out_dir)
    try:
        with updating(out_dir, wait=0.0) as stage:
            manifest = download_into(lock_, stage, indexes, client, reporter, workers)
            if accept is not None and not accept(stage):
                raise _Rejected(manifest)
    except _Rejected as rejected:
        return rejected.manifest
    return manifest


def _check_output(out_dir: Path) -> None:
    """Refuse to make a bundle of a directory that holds something else
    (``-o .`` in a project): an update replaces the whole directory."""
    from bundler.bundle.layout import MANIFEST_NAME

    if not out_dir.is_dir() or (out_dir / MANIFEST_NAME).exists() or (out_dir / "files").exists():
        return
    if next(out_dir.iterdir(), None) is not None:
        raise UsageError(
            f"{out_dir} is not a bundle and not empty: a bundle directory holds"
            " the bundle alone, and is replaced whole by each update",
            hint=f"choose a new or empty directory, e.g. {out_dir / 'pypi'}",
        )


def download_into(
    lock_: Lock,
    out_dir: Path,
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter,
    workers: int,
) -> Manifest:
    """``download`` into ``out_dir``, a staging copy no reader sees."""
    from bundler.bundle.download import download_all, prune
    from bundler.bundle.lockfiles import bundle_lock_files
    from bundler.bundle.pagewriter import write_index
    from bundler.bundle.sbom import with_sbom

    files_dir = out_dir / "files"
    previous = _read_previous_manifest(out_dir)
    items = _download_items(lock_, indexes, client, reporter, workers)
    reporter.stage("downloading")
    results = download_all(items, files_dir, client, reporter, workers=workers, read_metadata=True)
    sizes = {r.filename: r.size for r in results}
    manifest = dataclasses.replace(_manifest(lock_, sizes), sbom=True)
    reporter.stage("writing index")
    metadata = {r.filename: r.metadata for r in results if r.metadata is not None}
    extra = with_sbom(out_dir, manifest, bundle_lock_files(lock_), metadata)
    written = write_index(out_dir, manifest, extra, metadata)
    unknown = prune(files_dir, {a.filename for a in written.artifacts}, previous)
    for name in unknown:
        reporter.warning(f"files/{name} is not part of this bundle (verify will flag it)")
    return written


def _download_items(
    lock_: Lock, indexes: IndexSettings, client: HttpClient, reporter: Reporter, workers: int
) -> list[DownloadItem]:
    """What to fetch: every file some target installs, with its URL (from
    the index pages for a file the lock gives none)."""
    from bundler.bundle.download import DownloadItem

    urls: dict[str, str] = {}
    if any(not f.url for p in lock_.packages for f in p.files if f.targets):
        from bundler.index.collector import PackageIndex

        with PackageIndex(hash_matched(indexes), client, reporter, workers=workers) as index:
            urls = _file_urls(lock_, index)
    items: list[DownloadItem] = []
    for pkg in lock_.packages:
        for f in pkg.files:
            if not f.targets:
                continue
            url = f.url or urls.get(f.filename) or pkg.direct_url or ""
            items.append(DownloadItem(filename=f.filename, url=url, sha256=f.sha256, size=f.size))
    return items


def _file_urls(lock_: Lock, index: PackageIndex) -> dict[str, str]:
    """URLs, from the index pages, of locked files the lock has none for
    (the client adds each host's credentials to a clean URL itself)."""
    urls: dict[str, str] = {}
    for pkg in lock_.packages:
        if pkg.direct_url:
            continue
        if all(f.url for f in pkg.files if f.targets):
            continue
        page = index.get_project(pkg.name)
        for f in page.release(pkg.version):
            urls.setdefault(f.filename, f.url)
        if any(f.filename not in urls for f in pkg.files if f.targets):
            for f in page.files:  # listed under another version: look everywhere
                urls.setdefault(f.filename, f.url)
    return urls


def _read_previous_manifest(out_dir: Path) -> Manifest | None:
    from bundler.bundle.layout import MANIFEST_NAME

    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    from bundler.bundle.manifest import manifest_from_json

    try:
        return manifest_from_json(path.read_bytes(), str(path))
    except BundlerError:
        return None


def _manifest(lock_: Lock, sizes: Mapping[str, int]) -> Manifest:
    from bundler.bundle.lockfiles import bundle_package

    return Manifest(
        artifacts=_artifacts(lock_, sizes),
        packages=tuple(bundle_package(p) for p in lock_.packages),
        targets=lock_.targets,
        requirements=lock_.requirements,
        constraints=lock_.constraints,
        allow_prereleases=lock_.allow_prereleases,
        created_by=f"bundler {__version__}",
        only_binary=lock_.only_binary,
        no_binary=lock_.no_binary,
    )


def _artifacts(lock_: Lock, sizes: Mapping[str, int]) -> tuple[BundleArtifact, ...]:
    """The files some target installs, by filename (sizes from ``sizes``,
    else from the lock)."""
    artifacts: dict[str, BundleArtifact] = {}
    for pkg in lock_.packages:
        for f in pkg.files:
            if not f.targets:
                continue
            prior = artifacts.get(f.filename)
            targets = tuple(sorted(set(f.targets) | set(prior.targets if prior else ())))
            artifacts[f.filename] = BundleArtifact(
                filename=f.filename,
                project=pkg.name,
                version=str(pkg.version),
                sha256=f.sha256,
                size=sizes.get(f.filename, f.size or 0),
                kind=f.kind,
                origin=f.index,
                targets=targets,
                build_only=pkg.build_only,
                requires_python=f.requires_python,
                yanked=f.yanked,
                upload_time=f.upload_time,
                needed_by=pkg.via,
            )
    return tuple(sorted(artifacts.values(), key=lambda a: a.filename))
