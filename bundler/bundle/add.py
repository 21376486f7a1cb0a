"""``bundle add``: place a company's own wheels and sdists into a bundle.

Each file is checked the way an index would check an upload: a wheel
filename (binary distribution format) or an sdist filename (PEP 625; older
names such as ``hello-world-0.0.1.tar.gz`` are taken, with a warning, as pip
takes them), core metadata that can be read (an sdist's prepared through its
build backend when it is dynamic, PEP 643) and whose Name and Version are the
filename's, and content that never replaces a different file of the same
name.  The files
are copied into ``files/`` atomically, recorded in ``bundle.json`` (origin
``local``) with a pin each, and the pages, sidecars, manifest and
``requirements.txt`` are rewritten through the index writer, in a copy of
the bundle that replaces it in one step.  Their dependencies are not
fetched here: ``added_requirements`` lists them for a resolver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from bundler.bundle.layout import FILES_DIR, MANIFEST_NAME
from bundler.bundle.lockfiles import manifest_lock_files
from bundler.bundle.manifest import is_normalized_name, manifest_from_json
from bundler.bundle.pagewriter import write_index
from bundler.bundle.sbom import with_sbom
from bundler.errors import BundlerError, InvalidDistribution, MultipleErrors, UsageError
from bundler.fsutil import copy_hashing, sha256_file, updating
from bundler.lock.merge import marker_for
from bundler.models import (
    BundleArtifact,
    CoreMetadata,
    DistKind,
    IndexFile,
    LockedFile,
    LockedPackage,
    Manifest,
)
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.archives import sdist_metadata, wheel_metadata
from bundler.spec.filenames import DistFilename, is_safe_filename, parse_filename
from bundler.spec.metadata import check_matches, parse_metadata
from bundler.spec.selection import usable_files
from bundler.spec.target import Target, target_from_name

# An sdist's core metadata through its build backend, when its metadata is
# dynamic (PEP 643): (the sdist's path, its file name) -> the metadata.
MetadataPreparer = Callable[[Path, str], CoreMetadata]

ORIGIN = "local"  # BundleArtifact.origin / LockedFile.index of added files
ADDED_BY = "bundle add"  # their "needed by" / "via"
_EXTRA = re.compile(r"\bextra\b")


@dataclass(frozen=True)
class _Added:
    """One checked file, staged in ``files/`` under a temporary name."""

    source: Path
    filename: str
    dist: DistFilename
    meta: CoreMetadata
    sha256: str
    size: int
    staged: Path | None  # None: the bundle already holds these bytes


@dataclass(frozen=True)
class _Targets:
    """The bundle's targets, rebuilt from their names where bundler can."""

    names: tuple[str, ...]
    known: dict[str, Target]

    @classmethod
    def of(cls, manifest: Manifest) -> _Targets:
        known: dict[str, Target] = {}
        for name in manifest.targets:
            with contextlib.suppress(UsageError):
                known[name] = target_from_name(name)
        return cls(manifest.targets, known)


def add_files(
    bundle_dir: Path,
    paths: Sequence[Path],
    reporter: Reporter = NULL_REPORTER,
    prepare: MetadataPreparer | None = None,
) -> Manifest:
    """Add local distribution files to the bundle at ``bundle_dir``.

    Every file is checked first and every problem reported together; then
    nothing or everything is added, and the bundle changes in one step
    (``fsutil.updating``: a failure or an interruption leaves it as it
    was).  A file the bundle already holds with the same bytes is a no-op;
    different bytes under an existing name are refused (a published file
    never changes).  Each new project gets a pin ``name==version`` for the
    targets its files suit.  An sdist whose metadata is dynamic needs
    ``prepare``.  Returns the manifest as written.
    """
    check_bundle(bundle_dir, paths)
    with updating(bundle_dir, wait=0.0) as stage:
        return add_into(stage, paths, reporter, prepare)


def check_bundle(bundle_dir: Path, paths: Sequence[Path]) -> None:
    """Refuse, before anything is locked or copied, an empty list of files
    or a directory that is not a bundle."""
    if not paths:
        raise UsageError(
            "no file to add", hint="bundle add ./pypi dist/acme_utils-1.0-py3-none-any.whl"
        )
    if not (bundle_dir / MANIFEST_NAME).is_file():
        raise UsageError(
            f"{bundle_dir} is not a bundle: {MANIFEST_NAME} is missing",
            hint="create one with: bundle build requirements.in -o DIR",
        )


def add_into(
    bundle_dir: Path,
    paths: Sequence[Path],
    reporter: Reporter,
    prepare: MetadataPreparer | None = None,
) -> Manifest:
    """``add_files`` on ``bundle_dir``, a staging copy of the bundle that
    no reader sees (``fsutil.updating`` holds the lock)."""
    manifest_path = bundle_dir / MANIFEST_NAME
    files_dir = bundle_dir / FILES_DIR
    manifest = manifest_from_json(manifest_path.read_bytes(), str(manifest_path))
    if not manifest.targets:
        raise BundlerError(f"{manifest_path} names no targets: nothing to add files for")
    targets = _Targets.of(manifest)
    added: list[_Added] = []
    try:
        added = _stage_all(paths, files_dir, manifest, reporter, prepare)
        updated = _with_added(manifest, added, targets, reporter)
        lock_files = manifest_lock_files(updated)
        for item in added:
            if item.staged is not None:
                os.replace(item.staged, files_dir / item.filename)
    finally:
        for item in added:
            if item.staged is not None:
                with contextlib.suppress(OSError):
                    item.staged.unlink()
    for item in added:
        reporter.info(f"added {item.filename} ({item.meta.name} {item.meta.version})")
    return write_index(bundle_dir, updated, with_sbom(bundle_dir, updated, lock_files))


def added_requirements(
    manifest: Manifest, added: Sequence[Path], prepare: MetadataPreparer | None = None
) -> list[str]:
    """The Requires-Dist of the distributions at ``added`` (the files given
    to ``add_files``, or their copies in ``files/``), for a resolver.

    Left out: requirements of extras, those whose marker is false on every
    target of ``manifest``, and those that the added files satisfy
    themselves.  Markers are kept, so each target evaluates its own.
    """
    metas = [_read_metadata(path, path.name, prepare) for path in added]
    provided = {m.name: m.version for m in metas}
    targets = _Targets.of(manifest)
    unknown = len(targets.known) < len(targets.names)
    out: list[str] = []
    for meta in metas:
        for line in meta.requires_dist:
            req = Requirement(line)
            name = canonicalize_name(req.name)
            if name in provided and req.specifier.contains(provided[name], prereleases=True):
                continue
            if req.marker is not None and not _marker_applies(req.marker, targets, unknown):
                continue
            out.append(str(req))
    return sorted(dict.fromkeys(out))


def _marker_applies(marker: Marker, targets: _Targets, unknown: bool) -> bool:
    if any(t.evaluate_marker(marker) for t in targets.known.values()):
        return True
    # A target bundler cannot rebuild may need it, unless it is an extra's.
    return unknown and _EXTRA.search(str(marker)) is None


# --- checking and staging -----------------------------------------------------------


def _stage_all(
    paths: Sequence[Path],
    files_dir: Path,
    manifest: Manifest,
    reporter: Reporter,
    prepare: MetadataPreparer | None,
) -> list[_Added]:
    """Copy every file into ``files/`` under a temporary name and check the
    copy (so what was checked is what lands).  Raises every problem."""
    files_dir.mkdir(parents=True, exist_ok=True)
    recorded = {a.filename: a for a in manifest.artifacts}
    errors: list[BundlerError] = []
    staged: list[_Added] = []
    seen: dict[str, _Added] = {}
    try:
        for path in paths:
            try:
                item = _stage(path, files_dir, reporter, prepare)
            except BundlerError as err:
                errors.append(err)
                continue
            earlier = seen.get(item.filename)
            if earlier is not None:
                _discard(item)
                if earlier.sha256 != item.sha256:
                    errors.append(
                        UsageError(
                            f"{path}: another file named {item.filename} ({earlier.source})"
                            " has different content"
                        )
                    )
                continue
            seen[item.filename] = item
            try:
                staged.append(_against_bundle(item, files_dir, recorded))
            except BundlerError as err:
                _discard(item)
                errors.append(err)
    except BaseException:
        for item in staged:
            _discard(item)
        raise
    if errors:
        for item in staged:
            _discard(item)
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    return staged


def _discard(item: _Added) -> None:
    if item.staged is not None:
        with contextlib.suppress(OSError):
            item.staged.unlink()


def _stage(
    path: Path, files_dir: Path, reporter: Reporter, prepare: MetadataPreparer | None
) -> _Added:
    filename = path.name
    dist = _check_filename(filename)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    digest, size, staged = _copy_in(path, files_dir, filename)
    try:
        meta = _read_metadata(staged, filename, prepare)
        if dist.kind is DistKind.SDIST:
            dist = _sdist_name(filename, meta, reporter)
        check_matches(meta, dist.name, dist.version, filename)
    except BaseException:
        with contextlib.suppress(OSError):
            staged.unlink()
        raise
    return _Added(path, filename, dist, meta, digest, size, staged)


def _sdist_name(filename: str, meta: CoreMetadata, reporter: Reporter) -> DistFilename:
    """The sdist's name and version as pip reads its filename, knowing the
    project (the first dash after the canonical name starts the version:
    ``hello-world-0.0.1``, ``foo-1.0-1``); a name other than PEP 625's is
    taken with a warning naming the file."""
    dist = parse_filename(filename, meta.name) or parse_filename(filename)
    if dist is None:  # _check_filename parsed it
        raise InvalidDistribution(filename, "not an sdist file name")
    # PEP 625: {normalized name with "_"}-{normalized version}.tar.gz
    expected = f"{dist.name.replace('-', '_')}-{dist.version}.tar.gz"
    if filename != expected:
        reporter.warning(
            f"{filename}: not a PEP 625 sdist name (that would be {expected}); taken as"
            f" {dist.name} {dist.version}, as pip takes it (an index that enforces PEP 625"
            " would refuse it)"
        )
    return dist


def _check_filename(filename: str) -> DistFilename:
    """The parsed filename (an sdist's name and version provisional until
    its metadata names the project), or the reason an index would refuse it."""
    if not is_safe_filename(filename) or filename.startswith((".", "-")):
        raise UsageError(f"{filename!r}: unsafe file name (a bundle holds plain file names)")
    dist = parse_filename(filename)
    if dist is None:
        raise InvalidDistribution(
            filename,
            "not a wheel (.whl) or sdist (.tar.gz, or pip's older .zip, .tar.bz2, .tgz,"
            " .tar) file name (wheel spec, PEP 625)",
        )
    if not is_normalized_name(dist.name):
        raise InvalidDistribution(filename, f"{dist.name!r} is not a valid project name")
    return dist


def _read_metadata(path: Path, filename: str, prepare: MetadataPreparer | None) -> CoreMetadata:
    """Core metadata of a wheel or sdist file (an sdist's from its PKG-INFO
    when static, else through ``prepare``)."""
    dist = parse_filename(filename)
    if dist is not None and dist.kind is DistKind.SDIST:
        meta = sdist_metadata(path, filename)
        if meta is not None:
            return meta
        if prepare is None:
            raise InvalidDistribution(
                filename,
                "its dependencies are dynamic (PEP 643): only a build could tell them",
            )
        return prepare(path, filename)
    return parse_metadata(wheel_metadata(path, filename), filename)


def _copy_in(source: Path, files_dir: Path, filename: str) -> tuple[str, int, Path]:
    """Copy ``source`` to a hidden temporary file in ``files_dir``, fsynced;
    return its sha256, size and path."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".tmp", dir=files_dir)
    except OSError as err:
        raise BundlerError(f"cannot write to {files_dir}: {err.strerror or err}") from err
    staged = Path(tmp)
    try:
        with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
            digest, size = copy_hashing(src, dst)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as err:
        with contextlib.suppress(OSError):
            staged.unlink()
        if err.errno == errno.ENOSPC:
            raise BundlerError(f"no space left on device while copying {filename}") from err
        raise UsageError(f"{source}: cannot copy: {err.strerror or err}") from err
    except BaseException:
        with contextlib.suppress(OSError):
            staged.unlink()
        raise
    with contextlib.suppress(OSError):
        staged.chmod(0o644)  # mkstemp's 0600 would hide it from a web server
    return digest, size, staged


def _against_bundle(item: _Added, files_dir: Path, recorded: dict[str, BundleArtifact]) -> _Added:
    """The same bytes already in the bundle make the copy unnecessary;
    different bytes under the same name are refused."""
    dest = files_dir / item.filename
    present: str | None = None
    if dest.is_symlink() or dest.exists():
        if dest.is_symlink() or not dest.is_file():
            raise UsageError(f"{FILES_DIR}/{item.filename} exists and is not a regular file")
        present, _ = sha256_file(dest)
    known = recorded.get(item.filename)
    for what, digest in (
        (f"{FILES_DIR}/{item.filename}", present),
        (MANIFEST_NAME, known.sha256 if known is not None else None),
    ):
        if digest is not None and digest != item.sha256:
            raise UsageError(
                f"{item.source}: the bundle already holds a different {item.filename}"
                f" ({what} has sha256 {digest}, this file's is {item.sha256})",
                hint="a published file never changes: release it under a new version"
                " (or a wheel build number)",
            )
    if present is not None:
        _discard(item)
        return dataclasses.replace(item, staged=None)
    return item


# --- the new manifest -----------------------------------------------------------------


def _records(item: _Added, serving: tuple[str, ...]) -> tuple[BundleArtifact, LockedFile]:
    """An added file as the manifest lists it and as its pin locks it."""
    artifact = BundleArtifact(
        filename=item.filename,
        project=item.meta.name,
        version=str(item.meta.version),
        sha256=item.sha256,
        size=item.size,
        kind=item.dist.kind,
        origin=ORIGIN,
        targets=serving,
        requires_python=item.meta.requires_python,
        needed_by=(ADDED_BY,),
    )
    locked = LockedFile(
        filename=item.filename,
        sha256=item.sha256,
        kind=item.dist.kind,
        size=item.size,
        index=ORIGIN,
        requires_python=item.meta.requires_python,
        targets=serving,
    )
    return artifact, locked


def _with_added(
    manifest: Manifest, added: Sequence[_Added], targets: _Targets, reporter: Reporter
) -> Manifest:
    """``manifest`` with an artifact and a pin for every added file."""
    artifacts = {a.filename: a for a in manifest.artifacts}
    held = set(artifacts)
    packages = {(p.name, p.version, p.marker): p for p in manifest.packages}
    requirements = list(manifest.requirements)
    added_lines: dict[NormalizedName, int] = {}  # requirements this add appends
    created: set[NormalizedName] = set()
    errors: list[BundlerError] = []
    warned: set[str] = set()
    for item in added:
        if item.filename in held:
            continue  # the bundle holds these very bytes already
        name, version = item.meta.name, item.meta.version
        pins = [p for p in packages.values() if p.name == name]
        other = [p for p in pins if p.version != version]
        if other:
            errors.append(
                UsageError(
                    f"{item.filename}: the bundle pins {name}=={other[0].version}, not {version}",
                    hint="a bundle pins one version of a project; change the requirement and"
                    " rebuild the bundle to move to another",
                )
            )
            continue
        pin = pins[0] if pins else None
        allowed = targets.names
        if pin is not None and pin.targets and name not in created:
            allowed = pin.targets  # a pin of the lock: only where the lock put it
        serving = _serving(item, allowed, targets, reporter, warned)
        if not serving:
            errors.append(
                UsageError(
                    f"{item.filename} suits none of the bundle's targets ({', '.join(allowed)})",
                    hint="check its wheel tags and Requires-Python",
                )
            )
            continue
        artifacts[item.filename], locked = _records(item, serving)
        if pin is None:
            pin = LockedPackage(name=name, version=version, files=(), via=(ADDED_BY,))
            created.add(name)
            if requirements and f"{name}=={version}" not in requirements:
                requirements.append(f"{name}=={version}")
                added_lines[name] = len(requirements) - 1
        key = (pin.name, pin.version, pin.marker)
        kept = [f for f in pin.files if f.filename != item.filename]
        files = tuple(sorted((*kept, locked), key=lambda f: f.filename))
        grown = dataclasses.replace(pin, files=files)
        if name in created:
            grown = _for_targets(grown, targets)
        packages.pop(key, None)
        packages[(grown.name, grown.version, grown.marker)] = grown
    if errors:
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    for pkg in packages.values():
        # The input says what the pin says: an added file for some targets
        # only is asked for on those only, or the closure wants it on all.
        at = added_lines.get(pkg.name)
        if at is not None and pkg.marker:
            requirements[at] = f"{pkg.name}=={pkg.version} ; {pkg.marker}"
    return dataclasses.replace(
        manifest,
        artifacts=tuple(sorted(artifacts.values(), key=lambda a: a.filename)),
        packages=tuple(sorted(packages.values(), key=lambda p: (p.name, p.version))),
        requirements=tuple(requirements),
    )


def _serving(
    item: _Added,
    allowed: Iterable[str],
    targets: _Targets,
    reporter: Reporter,
    warned: set[str],
) -> tuple[str, ...]:
    """The targets (of ``allowed``) that can install the file."""
    file = IndexFile(
        filename=item.filename,
        url=item.source.resolve().as_uri(),
        project=item.meta.name,
        version=item.meta.version,
        kind=item.dist.kind,
        hashes={"sha256": item.sha256},
        requires_python=item.meta.requires_python,
        index=ORIGIN,
    )
    out: list[str] = []
    for name in allowed:
        target = targets.known.get(name)
        if target is None:
            if name not in warned:
                warned.add(name)
                reporter.warning(
                    f"target {name!r} is not one bundler can rebuild from its name;"
                    " assuming the added files suit it"
                )
            out.append(name)
        elif usable_files([file], target)[0]:
            out.append(name)
    return tuple(out)


def _for_targets(pkg: LockedPackage, targets: _Targets) -> LockedPackage:
    """A new pin serves the targets its files suit, and its marker selects
    exactly those (when bundler knows every target of the bundle)."""
    serving = {t for f in pkg.files for t in f.targets}
    names = tuple(n for n in targets.names if n in serving)
    marker = None
    if len(names) < len(targets.names) and len(targets.known) == len(targets.names):
        every = [targets.known[n] for n in targets.names]
        marker = marker_for([targets.known[n] for n in names], every)
    return dataclasses.replace(pkg, targets=names, marker=marker)


__all__ = [
    "ADDED_BY",
    "ORIGIN",
    "MetadataPreparer",
    "add_files",
    "add_into",
    "added_requirements",
    "check_bundle",
]
