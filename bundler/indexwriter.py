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
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from .errors import BundlerError, InvalidDistribution, MultipleErrors
from .filenames import is_safe_filename
from .fsutil import atomic_write, sha256_bytes
from .manifest import is_normalized_name, manifest_to_json
from .metadata import wheel_metadata
from .models import BundleArtifact, DistKind, Manifest

# PEP 629 / PEP 700: the simple API version these pages implement.
REPOSITORY_VERSION = "1.1"
# PEP 691: the JSON media type (``bundle serve`` sends it with index.json).
JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"

FILES_DIR = "files"
SIMPLE_DIR = "simple"
MANIFEST_NAME = "bundle.json"
METADATA_SUFFIX = ".metadata"  # PEP 658: "<file>.metadata" next to the file
PAGE_HTML = "index.html"
PAGE_JSON = "index.json"

# Names the bundle itself owns at its root; extra files may not shadow them.
_RESERVED = frozenset({FILES_DIR, SIMPLE_DIR, MANIFEST_NAME})


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


def _check_names(manifest: Manifest, extra_files: Mapping[str, bytes]) -> list[BundlerError]:
    problems: list[BundlerError] = []
    for a in manifest.artifacts:
        if not is_safe_filename(a.filename) or a.filename.endswith(METADATA_SUFFIX):
            problems.append(BundlerError(f"unsafe artifact file name {a.filename!r}"))
        if not is_normalized_name(a.project):
            problems.append(BundlerError(f"{a.filename}: bad project name {a.project!r}"))
    for name in extra_files:
        if not is_safe_filename(name) or name in _RESERVED:
            problems.append(BundlerError(f"cannot write {name!r} at the bundle root"))
    return problems


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
    ``bundle.json`` holds).  Pages of
    projects that are no longer in the manifest are removed.  The same input
    gives a byte-identical tree; ``bundle.json`` is written last.
    """
    problems = _check_names(manifest, extra_files)
    if problems:
        raise problems[0] if len(problems) == 1 else MultipleErrors(problems)
    files_dir = bundle_dir / FILES_DIR
    simple_dir = bundle_dir / SIMPLE_DIR

    writes: list[tuple[Path, bytes]] = []
    artifacts: list[BundleArtifact] = []
    for a in manifest.artifacts:
        if a.kind is not DistKind.WHEEL:
            artifacts.append(replace(a, metadata_sha256=None))
            continue
        path = files_dir / a.filename
        if not path.is_file():
            problems.append(InvalidDistribution(a.filename, f"missing from {files_dir}"))
            continue
        # PEP 658: the sidecar is the wheel's own METADATA, byte for byte.
        sidecar = (metadata or {}).get(a.filename)
        if sidecar is None:
            try:
                sidecar = wheel_metadata(path, a.filename)
            except BundlerError as err:
                problems.append(err)
                continue
        writes.append((files_dir / (a.filename + METADATA_SUFFIX), sidecar))
        artifacts.append(replace(a, metadata_sha256=sha256_bytes(sidecar)))
    if problems:
        raise problems[0] if len(problems) == 1 else MultipleErrors(problems)

    by_project: dict[NormalizedName, list[BundleArtifact]] = defaultdict(list)
    for a in artifacts:
        by_project[a.project].append(a)
    for project, items in sorted(by_project.items()):
        page_dir = simple_dir / project
        writes.append((page_dir / PAGE_HTML, render_project_html(project, items)))
        writes.append((page_dir / PAGE_JSON, render_project_json(project, items)))
    writes.append((simple_dir / PAGE_HTML, render_root_html(by_project)))
    writes.append((simple_dir / PAGE_JSON, render_root_json(by_project)))
    writes.extend((bundle_dir / name, data) for name, data in sorted(extra_files.items()))
    # Hundreds of small files: the file system's latency, not the bytes,
    # is the cost, so they are written side by side.
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="bundler-write") as pool:
        for done in [pool.submit(_write_if_changed, path, data) for path, data in writes]:
            done.result()
    _remove_stale_pages(simple_dir, set(by_project))

    result = replace(manifest, artifacts=tuple(artifacts))
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


__all__ = [
    "FILES_DIR",
    "JSON_CONTENT_TYPE",
    "MANIFEST_NAME",
    "METADATA_SUFFIX",
    "PAGE_HTML",
    "PAGE_JSON",
    "REPOSITORY_VERSION",
    "SIMPLE_DIR",
    "file_href",
    "render_project_html",
    "render_project_json",
    "render_root_html",
    "render_root_json",
    "write_index",
]
