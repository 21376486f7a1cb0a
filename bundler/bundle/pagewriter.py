"""The bundle's static index: PEP 503 HTML and PEP 691 JSON pages, PEP 658
metadata sidecars and ``bundle.json``.

The renderers are pure (artifacts in, bytes out); ``write_index`` is the one
function that touches the disk.  Every link is relative, so the tree works
from ``file://``, from any static web server over the bundle root, and from
``bundle serve``.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import shutil
import tempfile
import threading
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from bundler.bundle.layout import (
    FILES_DIR,
    MANIFEST_NAME,
    METADATA_SUFFIX,
    PAGE_HTML,
    PAGE_JSON,
    RESERVED_NAMES,
    SBOM_FILE,
    SIMPLE_DIR,
)
from bundler.bundle.manifest import is_normalized_name, manifest_to_json
from bundler.errors import BundlerError, InvalidDistribution, MultipleErrors
from bundler.fsutil import DIR_MODE, atomic_write, sha256_bytes
from bundler.models import BundleArtifact, DistKind, IndexFile, Manifest
from bundler.spec.filenames import is_safe_filename
from bundler.spec.metadata import wheel_metadata

# PEP 629 / PEP 700: the simple API version these pages implement.
REPOSITORY_VERSION = "1.1"
# PEP 691: the JSON media type (``bundle serve`` sends it with index.json).
JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"


def file_href(filename: str) -> str:
    """The URL of a file in ``files/`` relative to ``simple/<project>/``."""
    return f"../../{FILES_DIR}/{urllib.parse.quote(filename, safe='')}"


def _sorted_artifacts(artifacts: Sequence[BundleArtifact]) -> list[BundleArtifact]:
    return sorted(artifacts, key=lambda a: a.filename)


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(text))
    except InvalidVersion:
        return (1, text)


def _dumps(doc: object) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def render_project_html(project: NormalizedName, artifacts: Sequence[BundleArtifact]) -> bytes:
    """The PEP 503 page of one project (``simple/<project>/index.html``)."""
    title = html.escape(project)
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        # PEP 629: repository version, so clients know which attributes to expect.
        f'    <meta name="pypi:repository-version" content="{REPOSITORY_VERSION}">',
        f"    <title>Links for {title}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {title}</h1>",
    ]
    for a in _sorted_artifacts(artifacts):
        attrs = [f'href="{html.escape(file_href(a.filename))}#sha256={a.sha256}"']
        if a.requires_python:
            # PEP 503: the value is HTML-escaped ("&gt;=3.9").
            attrs.append(f'data-requires-python="{html.escape(a.requires_python)}"')
        if a.yanked is not None:
            # PEP 592: present only when yanked; the value is the reason.
            attrs.append(f'data-yanked="{html.escape(a.yanked)}"')
        if a.metadata_sha256:
            # PEP 714 name, plus the PEP 658 name older pip versions read.
            value = f"sha256={a.metadata_sha256}"
            attrs.append(f'data-core-metadata="{value}"')
            attrs.append(f'data-dist-info-metadata="{value}"')
        lines.append(f"    <a {' '.join(attrs)}>{html.escape(a.filename)}</a><br>")
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def _file_json(a: BundleArtifact) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": a.filename,
        "url": file_href(a.filename),
        "hashes": {"sha256": a.sha256},
        # PEP 691: yanked is a boolean or a non-empty reason string.
        "yanked": a.yanked if a.yanked else a.yanked is not None,
        # PEP 714: only "core-metadata"; the JSON "dist-info-metadata" key broke pip.
        "core-metadata": {"sha256": a.metadata_sha256} if a.metadata_sha256 else False,
        "size": a.size,  # PEP 700: required from API version 1.1
    }
    if a.requires_python:
        entry["requires-python"] = a.requires_python
    if a.upload_time:
        entry["upload-time"] = a.upload_time
    return entry


def render_project_json(project: NormalizedName, artifacts: Sequence[BundleArtifact]) -> bytes:
    """The PEP 691 (API 1.1) page of one project (``simple/<project>/index.json``)."""
    versions = sorted({a.version for a in artifacts}, key=_version_key)
    doc = {
        "meta": {"api-version": REPOSITORY_VERSION},
        "name": project,
        "files": [_file_json(a) for a in _sorted_artifacts(artifacts)],
        "versions": versions,  # PEP 700
    }
    return _dumps(doc)


def render_root_html(projects: Iterable[NormalizedName]) -> bytes:
    """The PEP 503 root page (``simple/index.html``)."""
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{REPOSITORY_VERSION}">',
        "    <title>Simple index</title>",
        "  </head>",
        "  <body>",
    ]
    for name in sorted(set(projects)):
        quoted = html.escape(urllib.parse.quote(name, safe=""))
        lines.append(f'    <a href="{quoted}/">{html.escape(name)}</a><br>')
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def render_root_json(projects: Iterable[NormalizedName]) -> bytes:
    """The PEP 691 root page (``simple/index.json``)."""
    doc = {
        "meta": {"api-version": REPOSITORY_VERSION},
        "projects": [{"name": name} for name in sorted(set(projects))],
    }
    return _dumps(doc)


def _write_if_changed(path: Path, data: bytes) -> None:
    """Atomic write, skipped when the file already holds these bytes."""
    with contextlib.suppress(OSError):
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            return
    atomic_write(path, data)


def _check_names(
    artifacts: Iterable[BundleArtifact], extra_files: Iterable[str]
) -> list[BundlerError]:
    problems: list[BundlerError] = []
    for a in artifacts:
        if not is_safe_filename(a.filename) or a.filename.endswith(METADATA_SUFFIX):
            problems.append(BundlerError(f"unsafe artifact file name {a.filename!r}"))
        if not is_normalized_name(a.project):
            problems.append(BundlerError(f"{a.filename}: bad project name {a.project!r}"))
    for name in extra_files:
        if not is_safe_filename(name) or name in RESERVED_NAMES:
            problems.append(BundlerError(f"cannot write {name!r} at the bundle root"))
    return problems


def _raise(problems: Sequence[BundlerError]) -> None:
    if problems:
        raise problems[0] if len(problems) == 1 else MultipleErrors(problems)


def _project_pages(
    simple_dir: Path, project: NormalizedName, items: Sequence[BundleArtifact]
) -> list[tuple[Path, bytes]]:
    page_dir = simple_dir / project
    return [
        (page_dir / PAGE_HTML, render_project_html(project, items)),
        (page_dir / PAGE_JSON, render_project_json(project, items)),
    ]


def _write_all(writes: Sequence[tuple[Path, bytes]]) -> None:
    """Write files side by side: for many small files the file system's
    latency, not the bytes, is the cost."""
    if len(writes) < 2:
        for path, data in writes:
            _write_if_changed(path, data)
        return
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="bundler-write") as pool:
        for done in [pool.submit(_write_if_changed, path, data) for path, data in writes]:
            done.result()


def _write_new(path: Path, data: bytes) -> None:
    """Write a file in a directory no reader sees yet (the staged index)."""
    path.parent.mkdir(exist_ok=True)
    with path.open("wb") as fh:
        fh.write(data)


class IndexWriter:
    """Writes a bundle's index while its files arrive.

    ``planned`` are the artifacts the bundle will hold (sizes may still be
    unknown).  ``file_ready`` is called as each one is in ``files/``: its
    PEP 658 sidecar is written at once and, when it was the last file of
    its project, the project's pages too, so that little is left to write
    once the last download ends.

    Pages are never written where a reader could see half an index: in a
    bundle without ``simple/`` they go to a hidden staging directory that
    ``finish`` completes and renames to ``simple/`` in one step (a run that
    fails leaves no index at all, and ``abort`` removes the staging
    directory); in a bundle that has pages they are all written by
    ``finish``, as before any file arrived.  ``finish`` writes everything
    not yet written, the root pages, the extra files (with the SBOM when
    the manifest says the bundle has one) and, last, ``bundle.json``.
    """

    def __init__(self, bundle_dir: Path, planned: Sequence[BundleArtifact]) -> None:
        _raise(_check_names(planned, ()))
        self._files_dir = bundle_dir / FILES_DIR
        self._simple_dir = bundle_dir / SIMPLE_DIR
        self._bundle_dir = bundle_dir
        self._planned = {a.filename: a for a in planned}
        self._names: dict[NormalizedName, list[str]] = defaultdict(list)
        for a in _sorted_artifacts(list(self._planned.values())):
            self._names[a.project].append(a.filename)
        self._waiting = {project: set(names) for project, names in self._names.items()}
        self._lock = threading.Lock()
        # What file_ready did: files with their size and sidecar hash, and
        # the projects whose pages are in the staging directory.
        self._ready: dict[str, BundleArtifact] = {}
        self._early: dict[NormalizedName, tuple[BundleArtifact, ...]] = {}
        self._stage: Path | None = None
        self._staging = True  # until the bundle turns out to have pages

    def file_ready(self, filename: str, size: int, metadata: bytes | None) -> None:
        """``filename`` is in ``files/`` with ``size`` bytes; ``metadata`` is
        a wheel's METADATA (None: not read, or unreadable: ``finish`` reads
        it again and reports what is wrong).  Meant to be called from the
        thread that fetched the file, so that writing goes on side by side
        for as many files.  Errors are left to ``finish``."""
        planned = self._planned.get(filename)
        if planned is None or (planned.kind is DistKind.WHEEL and metadata is None):
            return
        sidecar_sha = None
        try:
            if metadata is not None and planned.kind is DistKind.WHEEL:
                _write_if_changed(self._files_dir / (filename + METADATA_SUFFIX), metadata)
                sidecar_sha = sha256_bytes(metadata)
        except OSError:
            return  # finish writes it again, and reports the error
        project = planned.project
        with self._lock:
            self._ready[filename] = replace(planned, size=size, metadata_sha256=sidecar_sha)
            waiting = self._waiting[project]
            waiting.discard(filename)
            if waiting:
                return
            items = tuple(self._ready[name] for name in self._names[project])
            try:
                stage = self._staged()
            except OSError:
                return
        if stage is None:
            return
        try:
            for path, data in _project_pages(stage, project, items):
                _write_new(path, data)
        except OSError:
            return  # finish writes them
        with self._lock:
            self._early[project] = items

    def _staged(self) -> Path | None:  # holding the lock
        """The staging directory of the pages (made on first use), or None
        when the bundle already has ``simple/``."""
        if self._stage is None and self._staging:
            if self._simple_dir.exists():
                self._staging = False
            else:
                made = tempfile.mkdtemp(
                    prefix=_STAGE_PREFIX, suffix=_STAGE_SUFFIX, dir=self._bundle_dir
                )
                os.chmod(made, DIR_MODE)  # it becomes simple/: not mkdtemp's 0700
                self._stage = Path(made)
        return self._stage

    def abort(self) -> None:
        """Remove what ``file_ready`` staged (the run failed)."""
        with self._lock:
            stage, self._stage, self._staging = self._stage, None, False
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)

    def finish(
        self,
        manifest: Manifest,
        extra_files: Mapping[str, bytes],
        metadata: Mapping[str, bytes] | None = None,
    ) -> Manifest:
        """Write what is left and ``bundle.json``; return the manifest with
        each wheel's sidecar hash.  ``metadata`` (filename -> METADATA read
        from that very file) saves reading wheels that ``file_ready`` did
        not see; the others are read here.  Every problem is reported
        before anything more is written."""
        try:
            return self._finish(manifest, extra_files, metadata)
        finally:
            self.abort()

    def _finish(  # noqa: C901, PLR0912, PLR0915
        self,
        manifest: Manifest,
        extra_files: Mapping[str, bytes],
        metadata: Mapping[str, bytes] | None,
    ) -> Manifest:
        problems = _check_names(manifest.artifacts, extra_files)
        _raise(problems)
        writes: list[tuple[Path, bytes]] = []
        artifacts: list[BundleArtifact] = []
        with self._lock:
            ready, early, stage = dict(self._ready), dict(self._early), self._stage
        for a in manifest.artifacts:
            if a.kind is not DistKind.WHEEL:
                artifacts.append(replace(a, metadata_sha256=None))
                continue
            seen = ready.get(a.filename)
            if seen is not None and seen.size == a.size and seen.metadata_sha256:
                artifacts.append(replace(a, metadata_sha256=seen.metadata_sha256))
                continue
            path = self._files_dir / a.filename
            if not path.is_file():
                problems.append(InvalidDistribution(a.filename, f"missing from {self._files_dir}"))
                continue
            # PEP 658: the sidecar is the wheel's own METADATA, byte for byte.
            sidecar = (metadata or {}).get(a.filename)
            if sidecar is None:
                try:
                    sidecar = wheel_metadata(path, a.filename)
                except BundlerError as err:
                    problems.append(err)
                    continue
            writes.append((self._files_dir / (a.filename + METADATA_SUFFIX), sidecar))
            artifacts.append(replace(a, metadata_sha256=sha256_bytes(sidecar)))
        _raise(problems)

        by_project: dict[NormalizedName, list[BundleArtifact]] = defaultdict(list)
        for a in artifacts:
            by_project[a.project].append(a)
        # A bundle without pages gets them all at once: the staging
        # directory, completed, becomes simple/.
        publish = stage is not None and not self._simple_dir.exists()
        base = stage if publish and stage is not None else self._simple_dir
        pages: list[tuple[Path, bytes]] = []
        for project, items in sorted(by_project.items()):
            if not publish or early.get(project) != tuple(_sorted_artifacts(items)):
                pages.extend(_project_pages(base, project, items))
        pages.append((base / PAGE_HTML, render_root_html(by_project)))
        pages.append((base / PAGE_JSON, render_root_json(by_project)))
        if manifest.sbom and SBOM_FILE not in extra_files:
            # The SBOM is written with the lock files, before bundle.json.
            from bundler.bundle.sbom import bundle_sbom  # noqa: PLC0415 (it reads the layout from here)

            sbom = bundle_sbom(self._bundle_dir, manifest, metadata)
            extra_files = {**extra_files, SBOM_FILE: sbom}
        writes.extend((self._bundle_dir / n, data) for n, data in sorted(extra_files.items()))
        if publish:
            _write_all(writes)
            for path, data in pages:
                _write_new(path, data)
            os.rename(base, self._simple_dir)
        else:
            _write_all(writes + pages)
            _remove_stale_pages(self._simple_dir, set(by_project))
        _remove_leftover_stages(self._bundle_dir)

        result = replace(manifest, artifacts=tuple(artifacts))
        _write_if_changed(self._bundle_dir / MANIFEST_NAME, manifest_to_json(result))
        return result


# The staging directory of a bundle's pages: ``.simple.<random>.tmp``.
_STAGE_PREFIX, _STAGE_SUFFIX = ".simple.", ".tmp"


def _remove_leftover_stages(bundle_dir: Path) -> None:
    """Remove the staging directories that interrupted runs left (only one
    run writes a bundle at a time: it holds the bundle's lock)."""
    for entry in bundle_dir.glob(f"{_STAGE_PREFIX}*{_STAGE_SUFFIX}"):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def write_index(
    bundle_dir: Path,
    manifest: Manifest,
    extra_files: Mapping[str, bytes],
    metadata: Mapping[str, bytes] | None = None,
) -> Manifest:
    """Write sidecars, index pages, ``extra_files`` (and the SBOM, when the
    manifest says the bundle has one) and ``bundle.json``.

    Every artifact must already be in ``bundle_dir/files``.  Each wheel gets
    its PEP 658 ``.metadata`` sidecar (from ``metadata``, filename -> the
    METADATA already read from that very file, else read here), whose
    sha256 is recorded in the returned manifest (which is also what
    ``bundle.json`` holds).  Pages of
    projects that are no longer in the manifest are removed.  The same input
    gives a byte-identical tree; ``bundle.json`` is written last.
    """
    _raise(_check_names(manifest.artifacts, extra_files))
    return IndexWriter(bundle_dir, manifest.artifacts).finish(manifest, extra_files, metadata)


def _remove_stale_pages(simple_dir: Path, projects: set[NormalizedName]) -> None:
    """Remove the pages of projects not in ``projects``; anything else a
    directory holds is left alone (and keeps the directory)."""
    for entry in sorted(simple_dir.iterdir()):
        if entry.name in projects or not entry.is_dir() or entry.is_symlink():
            continue
        for page in (PAGE_HTML, PAGE_JSON):
            (entry / page).unlink(missing_ok=True)
        # A directory that is not empty now holds something we did not write.
        with contextlib.suppress(OSError):
            entry.rmdir()


def listed_artifact(
    f: IndexFile, *, sha256: str, size: int, metadata_sha256: str | None
) -> BundleArtifact:
    """A file an index page lists, as the artifact its pages are rendered
    from again (the inverse of ``render_project_*``): what a published
    index holds is merged with new files and written back whole.  The
    caller decides where the hash and size come from when the page lacks
    them."""
    return BundleArtifact(
        filename=f.filename,
        project=f.project,
        version=str(f.version),
        sha256=sha256,
        size=size,
        kind=f.kind,
        requires_python=f.requires_python,
        yanked=f.yanked,
        upload_time=f.upload_time,
        metadata_sha256=metadata_sha256,
    )


__all__ = [
    "JSON_CONTENT_TYPE",
    "REPOSITORY_VERSION",
    "IndexWriter",
    "file_href",
    "listed_artifact",
    "render_project_html",
    "render_project_json",
    "render_root_html",
    "render_root_json",
    "write_index",
]
