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
import shutil
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
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
    SIMPLE_DIR,
)
from bundler.bundle.manifest import is_normalized_name, manifest_to_json
from bundler.errors import BundlerError, InvalidDistribution, MultipleErrors
from bundler.fsutil import atomic_write, sha256_bytes
from bundler.models import BundleArtifact, DistKind, IndexFile, Manifest
from bundler.spec.archives import wheel_metadata
from bundler.spec.filenames import is_safe_filename

__all__ = [
    "REPOSITORY_VERSION",
    "file_href",
    "listed_artifact",
    "render_project_html",
    "render_project_json",
    "render_root_html",
    "render_root_json",
    "write_index",
]

# PEP 629 / PEP 700: the simple API version these pages implement.
REPOSITORY_VERSION = "1.1"


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


def _sidecars(
    files_dir: Path, artifacts: Iterable[BundleArtifact], metadata: Mapping[str, bytes]
) -> tuple[dict[str, bytes], list[BundlerError]]:
    """Each wheel's PEP 658 sidecar (filename -> bytes), from ``metadata``
    or read from the wheel, and every problem met."""
    sidecars: dict[str, bytes] = {}
    problems: list[BundlerError] = []
    for a in artifacts:
        if a.kind is not DistKind.WHEEL:
            continue
        path = files_dir / a.filename
        if not path.is_file():
            problems.append(InvalidDistribution(a.filename, f"missing from {files_dir}"))
            continue
        # PEP 658: the sidecar is the wheel's own METADATA, byte for byte.
        sidecar = metadata.get(a.filename)
        if sidecar is None:
            try:
                sidecar = wheel_metadata(path, a.filename)
            except BundlerError as err:
                problems.append(err)
                continue
        sidecars[a.filename] = sidecar
    return sidecars, problems


def _write_pages(simple_dir: Path, artifacts: Iterable[BundleArtifact]) -> None:
    """Write every project's pages and the root pages; remove the pages of
    projects no longer listed."""
    by_project: dict[NormalizedName, list[BundleArtifact]] = defaultdict(list)
    for a in artifacts:
        by_project[a.project].append(a)
    for project, items in sorted(by_project.items()):
        page_dir = simple_dir / project
        _write_if_changed(page_dir / PAGE_HTML, render_project_html(project, items))
        _write_if_changed(page_dir / PAGE_JSON, render_project_json(project, items))
    _write_if_changed(simple_dir / PAGE_HTML, render_root_html(by_project))
    _write_if_changed(simple_dir / PAGE_JSON, render_root_json(by_project))
    _remove_stale_pages(simple_dir, set(by_project))


# The staging directory of a bundle's pages that earlier versions wrote
# while downloading: ``.simple.<random>.tmp``; an interrupted run left it.
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
    """Write sidecars, index pages, ``extra_files`` and ``bundle.json``.

    Every artifact must already be in ``bundle_dir/files``.  Each wheel gets
    its PEP 658 ``.metadata`` sidecar (from ``metadata``, filename -> the
    METADATA already read from that very file, else read here), whose
    sha256 is recorded in the returned manifest (which is also what
    ``bundle.json`` holds).  Pages of projects that are no longer in the
    manifest are removed.  Every problem is reported before anything is
    written.  The same input gives a byte-identical tree; ``bundle.json``
    is written last.
    """
    _raise(_check_names(manifest.artifacts, extra_files))
    files_dir = bundle_dir / FILES_DIR
    sidecars, problems = _sidecars(files_dir, manifest.artifacts, metadata or {})
    _raise(problems)
    artifacts = tuple(
        replace(a, metadata_sha256=sha256_bytes(sidecars[a.filename]))
        if a.filename in sidecars
        else replace(a, metadata_sha256=None)
        for a in manifest.artifacts
    )
    for filename, sidecar in sidecars.items():
        _write_if_changed(files_dir / (filename + METADATA_SUFFIX), sidecar)
    for name, data in sorted(extra_files.items()):
        _write_if_changed(bundle_dir / name, data)
    _write_pages(bundle_dir / SIMPLE_DIR, artifacts)
    _remove_leftover_stages(bundle_dir)
    result = replace(manifest, artifacts=artifacts)
    _write_if_changed(bundle_dir / MANIFEST_NAME, manifest_to_json(result))
    return result


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
