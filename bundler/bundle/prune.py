"""``bundle prune``: remove from an index directory (a bundle, or a
directory bundles were published to: ``files/`` and ``simple/``) every
file no kept lock needs.

What the directory holds is read from its pages (PEP 691 JSON, else PEP 503
HTML) and, in a bundle, from ``bundle.json``.  A lock keeps a pin's files by
hash (any of the pin's hashes, as pip takes any); a pin none of whose
hashes the directory holds is refused before anything is touched.  A
bundle's requirements.txt leaves build-only pins out, so a kept lock beside
a ``bundle.json`` keeps that manifest's build-only files too, and a kept
sdist whose build requirements no kept file provides is refused: pip could
not install the lock from what is left.  The
pages are rendered as a bundle writes them, each written atomically, before
any file goes: a reader never sees a page linking a missing file.

A bundle (``bundle.json`` present) is pruned only down to what its own
manifest lists: its lock files, manifest and pages must keep agreeing for
``bundle verify`` to pass, so a kept set that drops a file ``bundle.json``
lists is refused.  What goes from a bundle is what a merge or an earlier
download left beside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.bundle.layout import (
    FILES_DIR,
    MANIFEST_NAME,
    METADATA_SUFFIX,
    PAGE_HTML,
    PAGE_JSON,
    REQUIREMENTS_LOCK,
    SIMPLE_DIR,
)
from bundler.bundle.manifest import is_normalized_name, manifest_from_json
from bundler.bundle.pagewriter import (
    listed_artifact,
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
)
from bundler.errors import BundlerError, MultipleErrors, UsageError
from bundler.fsutil import CHUNK, StagedChanges, sha256_bytes, sha256_file
from bundler.models import BundleArtifact, DistKind, IndexFile, LockInput, LockPin, Manifest
from bundler.resolve.buildsystem import read_build_system
from bundler.spec.filenames import parse_filename
from bundler.spec.pages import parse_html_page, parse_json_page


@dataclass(frozen=True)
class PrunePlan:
    """What ``bundle prune`` keeps and removes in ``dest``."""

    dest: Path
    kept: tuple[BundleArtifact, ...]  # listed on the pages afterwards
    removed: tuple[BundleArtifact, ...]  # dropped from the pages, then from files/
    # Entries of files/ that no page lists: removed unless a kept pin names them.
    unlisted: tuple[str, ...]
    unlisted_kept: tuple[str, ...]
    paths: tuple[str, ...]  # every name under files/ to remove, sorted
    freed: int  # bytes

    @property
    def projects(self) -> tuple[NormalizedName, ...]:
        """The projects whose pages go, all their files going."""
        kept = {a.project for a in self.kept}
        return tuple(sorted({a.project for a in self.removed} - kept))


def _not_prunable(dest: Path) -> UsageError:
    return UsageError(
        f"{dest}: not an index directory: it needs {FILES_DIR}/ and {SIMPLE_DIR}/",
        hint="give a bundle directory or a directory bundles were published to",
    )


def read_manifest(dest: Path) -> Manifest | None:
    """``bundle.json`` of ``dest``, or None when it has none."""
    path = dest / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return manifest_from_json(path.read_bytes(), str(path))
    except BundlerError as err:
        raise BundlerError(
            f"{dest}: its {MANIFEST_NAME} is not valid, nothing was pruned:\n{err}",
            hint="run `bundle verify` on it, or rebuild the bundle",
        ) from err


def _artifact(f: IndexFile, dest: Path) -> BundleArtifact:
    path = dest / FILES_DIR / f.filename
    sha256, size = f.sha256, f.size
    if sha256 is None or size is None:
        sha256, size = sha256_file(path)
    metadata_sha256 = None
    if f.core_metadata is not None:
        metadata_sha256 = f.core_metadata.get("sha256")
        sidecar = path.with_name(f.filename + METADATA_SUFFIX)
        if metadata_sha256 is None and sidecar.is_file():
            metadata_sha256 = sha256_bytes(sidecar.read_bytes())
    return listed_artifact(f, sha256=sha256, size=size, metadata_sha256=metadata_sha256)


def read_pages(dest: Path) -> list[BundleArtifact]:
    """Every file the project pages under ``dest/simple`` list, as a bundle
    would record it.  A page that cannot be read, or that links a file
    outside ``files/``, is an error: pages written from it would be wrong."""
    files_dir = (dest / FILES_DIR).resolve()
    out: list[BundleArtifact] = []
    problems: list[BundlerError] = []
    for entry in sorted((dest / SIMPLE_DIR).iterdir()):
        if not entry.is_dir() or entry.is_symlink():
            continue
        subject = f"{dest / SIMPLE_DIR / entry.name}"
        if not is_normalized_name(entry.name):
            problems.append(BundlerError(f"{subject}: not a normalized project name"))
            continue
        project = NormalizedName(entry.name)
        page_url = entry.resolve().as_uri() + "/"
        if (entry / PAGE_JSON).is_file():
            path = entry / PAGE_JSON
            parse = parse_json_page
        elif (entry / PAGE_HTML).is_file():
            path, parse = entry / PAGE_HTML, parse_html_page
        else:
            continue
        try:
            page = parse(path.read_bytes(), page_url, project, str(path))
        except BundlerError as err:
            problems.append(BundlerError(f"{path}: cannot be read: {err.message}"))
            continue
        for f in page.files:
            link = urllib.parse.urlsplit(f.url)
            target = Path(urllib.parse.unquote(link.path))
            if link.scheme != "file" or target != files_dir / f.filename:
                problems.append(
                    BundlerError(
                        f"{path}: links {f.filename} to {f.url}, not to {FILES_DIR}/{f.filename}",
                        hint="prune rewrites pages that link their own files/ only",
                    )
                )
                continue
            out.append(_artifact(f, dest))
    if problems:
        raise problems[0] if len(problems) == 1 else MultipleErrors(problems)
    return out


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _pin_files(
    pin: LockPin, held: Sequence[BundleArtifact], dest: Path
) -> list[BundleArtifact] | None:
    """The files of ``held`` that ``pin`` may install (by any of its
    hashes; by name and version when it has none), or None: none."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for h in pin.hashes:
        algorithm, _, value = h.partition(":")
        wanted[algorithm].add(value.lower())
    wanted["sha256"].update(ref.sha256.lower() for ref in pin.files)
    release = [a for a in held if a.project == pin.name and _version(a.version) == pin.version]
    if not any(wanted.values()):
        return release or None
    found = [a for a in held if a.sha256 in wanted["sha256"]]
    for algorithm, values in sorted(wanted.items()):
        if algorithm == "sha256" or not values:
            continue
        # pip's other strong hashes: only this release's files can match.
        found += [a for a in release if _digest(dest / FILES_DIR / a.filename, algorithm) in values]
    return found or None


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except ValueError:
        return None


def _listed(
    dest: Path, manifest: Manifest | None, problems: list[BundlerError]
) -> dict[str, BundleArtifact]:
    """The files ``dest``'s pages and manifest list, by filename (the
    manifest knows best); a page that disagrees with it is a problem."""
    by_name: dict[str, BundleArtifact] = {a.filename: a for a in read_pages(dest)}
    for a in manifest.artifacts if manifest is not None else ():
        listed = by_name.get(a.filename)
        if listed is not None and listed.sha256 != a.sha256:
            problems.append(
                BundlerError(
                    f"{dest}: the pages list {a.filename} with sha256 {listed.sha256},"
                    f" {MANIFEST_NAME} has {a.sha256}",
                    hint="run `bundle verify` on it",
                )
            )
        by_name[a.filename] = a
    return by_name


def _kept(
    dest: Path,
    locks: Sequence[LockInput],
    candidates: Sequence[BundleArtifact],
    problems: list[BundlerError],
) -> tuple[set[str], dict[str, str]]:
    """The files the ``locks`` keep, and for each the first pin keeping
    it; a pin or build-only file with no file in ``dest`` is a problem."""
    keep: set[str] = set()
    pinned_by: dict[str, str] = {}  # filename -> the first pin keeping it
    for lock in locks:
        for pin in lock.pins:
            where = f"{pin.source or lock.path}: " if (pin.source or lock.path) else ""
            found = _pin_files(pin, candidates, dest)
            if found is None:
                problems.append(
                    BundlerError(
                        f"{where}{pin.name}=={pin.version} is pinned, but {dest} holds no file"
                        " with any of its hashes",
                        hint="nothing was removed; publish the bundle of that lock first, or"
                        " keep another lock",
                    )
                )
                continue
            keep.update(a.filename for a in found)
            for a in found:
                pinned_by.setdefault(a.filename, f"{where}{pin.name}=={pin.version}")
        for a in _bundle_build_only(lock):
            found_by_hash = [h for h in candidates if h.sha256 == a.sha256]
            if not found_by_hash:
                problems.append(
                    BundlerError(
                        f"{lock.path}: its bundle's {MANIFEST_NAME} lists {a.filename}"
                        f" (build-only), but {dest} holds no file with its sha256",
                        hint="nothing was removed; publish that bundle here first",
                    )
                )
            keep.update(h.filename for h in found_by_hash)
    return keep, pinned_by


def plan(dest: Path, locks: Sequence[LockInput]) -> PrunePlan:
    """What pruning ``dest`` down to ``locks`` would keep and remove.
    Reads only; raises (exit 1) when a kept pin has no file in ``dest``,
    and (exit 2) when it would break a bundle's own ``bundle.json``."""
    if not (dest / FILES_DIR).is_dir() or not (dest / SIMPLE_DIR).is_dir():
        raise _not_prunable(dest)
    manifest = read_manifest(dest)
    problems: list[BundlerError] = []
    by_name = _listed(dest, manifest, problems)
    held = sorted(by_name.values(), key=lambda a: a.filename)
    unlisted = _unlisted(dest, by_name)
    unlisted_held = [_unlisted_artifact(dest, name) for name in unlisted]
    keep, pinned_by = _kept(dest, locks, [*held, *unlisted_held], problems)
    if not problems:
        problems += _unbuildable(dest, [*held, *unlisted_held], keep, pinned_by)
    if problems:
        raise problems[0] if len(problems) == 1 else MultipleErrors(problems)
    if manifest is not None:
        dropped = sorted(a.filename for a in manifest.artifacts if a.filename not in keep)
        if dropped:
            raise UsageError(
                f"{dest} is a bundle, and no kept lock pins {len(dropped)} of the files its"
                f" {MANIFEST_NAME} lists ({', '.join(dropped)}): removing them would leave its"
                " manifest and lock files naming missing files",
                hint=f"keep its own lock too (--keep {dest / REQUIREMENTS_LOCK}), or make"
                " a new bundle with `bundle download LOCK -o DIR`",
            )
    kept = tuple(a for a in held if a.filename in keep)
    removed = tuple(a for a in held if a.filename not in keep)
    gone_unlisted = tuple(n for n in unlisted if n not in keep)
    paths = {a.filename for a in removed} | set(gone_unlisted)
    paths |= {
        a.filename + METADATA_SUFFIX
        for a in removed
        if (dest / FILES_DIR / (a.filename + METADATA_SUFFIX)).is_file()
    }
    # A sidecar whose file is gone, or goes, goes too.
    kept_names = {a.filename for a in kept} | (set(unlisted) & keep)
    paths |= {
        p.name
        for p in (dest / FILES_DIR).iterdir()
        if p.name.endswith(METADATA_SUFFIX)
        and p.name.removesuffix(METADATA_SUFFIX) not in kept_names
        and not p.name.startswith(".")
        and p.is_file()
    }
    freed = sum(_size(dest / FILES_DIR / name) for name in paths)
    return PrunePlan(
        dest=dest,
        kept=kept,
        removed=removed,
        unlisted=gone_unlisted,
        unlisted_kept=tuple(n for n in unlisted if n in keep),
        paths=tuple(sorted(paths)),
        freed=freed,
    )


def _bundle_build_only(lock: LockInput) -> tuple[BundleArtifact, ...]:
    """The build-only files of the bundle ``lock`` belongs to (a lock beside
    a ``bundle.json``).  A bundle's requirements.txt leaves them out, as
    pip would install them at runtime, yet its sdists build with them."""
    if not lock.path:
        return ()
    manifest = read_manifest(Path(lock.path).parent)
    if manifest is None:
        return ()
    return tuple(a for a in manifest.artifacts if a.build_only)


def _unbuildable(
    dest: Path, held: Sequence[BundleArtifact], keep: set[str], pinned_by: Mapping[str, str]
) -> list[BundlerError]:
    """A kept sdist whose [build-system] requires a package no kept file
    provides: pip, offline, could not build it once the rest is gone.
    Requirements with a marker hold on some targets only and are not
    checked; an sdist whose build system cannot be read is left to pip."""
    kept = [a for a in held if a.filename in keep]
    problems: list[BundlerError] = []
    for sdist in kept:
        if sdist.kind is not DistKind.SDIST or sdist.filename not in pinned_by:
            continue
        try:
            system = read_build_system(dest / FILES_DIR / sdist.filename, sdist.filename)
        except BundlerError:
            continue
        missing = [text for text in system.requires if not _provided(text, kept)]
        if missing:
            problems.append(
                BundlerError(
                    f"{pinned_by[sdist.filename]} keeps {sdist.filename}, whose [build-system]"
                    f" requires {', '.join(missing)}, but no kept lock pins"
                    f" {'them' if len(missing) > 1 else 'it'}: pip could not build it"
                    f" from {dest}",
                    hint="nothing was removed; keep the bundle's pylock.toml, or its"
                    " requirements.txt beside its bundle.json (both name its build-only"
                    " packages), or a lock that pins the build requirements",
                )
            )
    return problems


def _provided(text: str, kept: Iterable[BundleArtifact]) -> bool:
    """Whether a kept file satisfies the build requirement ``text`` (one
    with a marker, or that is not PEP 508, counts as satisfied)."""
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return True
    if req.marker is not None:
        return True
    name = canonicalize_name(req.name)
    versions = (_version(a.version) for a in kept if a.project == name)
    return any(v is not None and req.specifier.contains(v, prereleases=True) for v in versions)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _unlisted(dest: Path, listed: Iterable[str]) -> list[str]:
    """Distribution files in ``files/`` that no page lists (hidden names,
    a writer's temp files, are left alone, and so are sidecars)."""
    known = set(listed)
    return sorted(
        p.name
        for p in (dest / FILES_DIR).iterdir()
        if p.name not in known
        and not p.name.startswith(".")
        and not p.name.endswith(METADATA_SUFFIX)
        and p.is_file()
        and not p.is_symlink()
    )


def _unlisted_artifact(dest: Path, name: str) -> BundleArtifact:
    digest, size = sha256_file(dest / FILES_DIR / name)
    parsed = parse_filename(name)
    if parsed is None:  # not a distribution: no pin names it but by hash
        return BundleArtifact(name, canonicalize_name(name), "", digest, size, DistKind.SDIST)
    return BundleArtifact(name, parsed.name, str(parsed.version), digest, size, parsed.kind)


def _write_if_changed(staged: StagedChanges, path: Path, data: bytes) -> None:
    with contextlib.suppress(OSError):
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            return
    staged.write(path, data)


def apply(prune: PrunePlan) -> None:
    """Rewrite the pages for the kept files, remove the pages of projects
    left with none, then remove the files: all or nothing
    (``StagedChanges``), no page ever linking a file already gone."""
    simple = prune.dest / SIMPLE_DIR
    by_project: dict[NormalizedName, list[BundleArtifact]] = defaultdict(list)
    for a in prune.kept:
        by_project[a.project].append(a)
    with StagedChanges("pruned") as staged:
        for project, items in sorted(by_project.items()):
            html, json_page = (
                render_project_html(project, items),
                render_project_json(project, items),
            )
            _write_if_changed(staged, simple / project / PAGE_HTML, html)
            _write_if_changed(staged, simple / project / PAGE_JSON, json_page)
        _write_if_changed(staged, simple / PAGE_HTML, render_root_html(by_project))
        _write_if_changed(staged, simple / PAGE_JSON, render_root_json(by_project))
        for project in prune.projects:
            for page in (PAGE_HTML, PAGE_JSON):
                staged.remove(simple / project / page, with_directory=True)
        for name in prune.paths:
            staged.remove(prune.dest / FILES_DIR / name)
        staged.commit()


__all__ = ["PrunePlan", "apply", "plan", "read_manifest", "read_pages"]
