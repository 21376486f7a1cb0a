"""``bundle diff``: what changes between two bundles or locks.

Each side is first reduced to a ``Snapshot`` (its releases, the targets
each serves, their files); ``diff_snapshots`` compares two of them, per
target: packages added, removed, upgraded and downgraded; across targets:
new sdists, new build-only packages, files whose hash changed for the same
version (a published file never changes: a red flag) and the total size.
A side may also be a lock as a published index serves it
(``snapshot_at_index``): its pins, with the files the index lists for them.
Everything here is pure (an index is read through the narrow ``IndexListing``
interface); the command line reads the inputs and prints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from packaging.markers import InvalidMarker, Marker
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.errors import UsageError
from bundler.models import DistKind, IndexFile, LockInput, Manifest
from bundler.spec.project import ProjectPage
from bundler.spec.target import Target, target_from_name

__all__ = [
    "FINDINGS",
    "Change",
    "Diff",
    "FileEntry",
    "HashChange",
    "IndexListing",
    "NewFile",
    "Release",
    "Snapshot",
    "TargetDiff",
    "diff_snapshots",
    "parse_fail_on",
    "snapshot_at_index",
    "snapshot_from_lock",
    "snapshot_from_manifest",
    "violations",
]

# What --fail-on may name, in the order reports list them.
ADDED = "added"
REMOVED = "removed"
UPGRADE = "upgrade"
DOWNGRADE = "downgrade"
NEW_SDIST = "new-sdist"
NEW_BUILD_ONLY = "new-build-only"
HASH_CHANGE = "hash-change"
FINDINGS = (ADDED, REMOVED, UPGRADE, DOWNGRADE, NEW_SDIST, NEW_BUILD_ONLY, HASH_CHANGE)
# The target of a side that names none (a lock written by pip-compile or uv).
ANY_TARGET = "*"
_SDIST_SUFFIXES = (".tar.gz", ".zip")


@dataclass(frozen=True)
class FileEntry:
    """One file of a release; a requirements lock gives only its hash."""

    sha256: str
    filename: str | None = None
    size: int | None = None
    # False for a file an index lists beside those the lock pins: compared
    # by name for a hash change, never a new sdist nor part of the size.
    locked: bool = True

    @property
    def kind(self) -> DistKind | None:
        if self.filename is None:
            return None
        if self.filename.endswith(".whl"):
            return DistKind.WHEEL
        return DistKind.SDIST if self.filename.endswith(_SDIST_SUFFIXES) else None


@dataclass(frozen=True)
class Release:
    """One pinned release and the targets that install it."""

    name: NormalizedName
    version: str
    targets: tuple[str, ...]
    build_only: bool = False
    files: tuple[FileEntry, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """What one side of a diff holds."""

    source: str
    targets: tuple[str, ...]
    releases: tuple[Release, ...]
    # The size of every file, when each one's is known.
    size: int | None = None


@dataclass(frozen=True)
class Change:
    """A package that differs on one target."""

    kind: str  # ADDED | REMOVED | UPGRADE | DOWNGRADE
    name: NormalizedName
    old: str | None
    new: str | None


@dataclass(frozen=True)
class TargetDiff:
    target: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class NewFile:
    """A release that NEW has and OLD had not in this form (an sdist, a
    build-only package)."""

    name: NormalizedName
    version: str
    filename: str | None = None


@dataclass(frozen=True)
class HashChange:
    """The same release with other bytes: a file whose sha256 changed, or
    (when only hashes are known) a hash removed and another added; ``old``
    and ``new`` are then the removed and the added digests."""

    name: NormalizedName
    version: str
    filename: str | None
    old: tuple[str, ...]
    new: tuple[str, ...]


@dataclass(frozen=True)
class Diff:
    old: str
    new: str
    targets: tuple[TargetDiff, ...]
    new_sdists: tuple[NewFile, ...]
    new_build_only: tuple[NewFile, ...]
    hash_changes: tuple[HashChange, ...]
    old_size: int | None
    new_size: int | None

    @property
    def size_change(self) -> int | None:
        if self.old_size is None or self.new_size is None:
            return None
        return self.new_size - self.old_size

    def counts(self) -> dict[str, int]:
        """How many findings of each kind (FINDINGS order)."""
        counts = dict.fromkeys(FINDINGS, 0)
        for t in self.targets:
            for c in t.changes:
                counts[c.kind] += 1
        counts[NEW_SDIST] = len(self.new_sdists)
        counts[NEW_BUILD_ONLY] = len(self.new_build_only)
        counts[HASH_CHANGE] = len(self.hash_changes)
        return counts

    @property
    def empty(self) -> bool:
        return not any(self.counts().values())


# --- snapshots -----------------------------------------------------------------------


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _normal(text: str) -> str:
    parsed = _version(text)
    return str(parsed) if parsed is not None else text


def snapshot_from_manifest(manifest: Manifest, source: str) -> Snapshot:
    """A bundle as its ``bundle.json`` describes it."""
    files: dict[tuple[str, str], list[FileEntry]] = defaultdict(list)
    for a in manifest.artifacts:
        files[(a.project, _normal(a.version))].append(FileEntry(a.sha256, a.filename, a.size))
    merged: dict[tuple[NormalizedName, str], tuple[set[str], bool]] = {}
    for pkg in manifest.packages:
        key = (pkg.name, str(pkg.version))
        targets, build_only = merged.get(key, (set(), True))
        served = pkg.targets or tuple(t for f in pkg.files for t in f.targets)
        merged[key] = (targets | set(served or manifest.targets), build_only and pkg.build_only)
    releases = tuple(
        Release(name, version, tuple(sorted(targets)), build_only, tuple(files[(name, version)]))
        for (name, version), (targets, build_only) in sorted(merged.items())
    )
    return Snapshot(source, manifest.targets, releases, sum(a.size for a in manifest.artifacts))


def _served(marker: str | None, targets: Mapping[str, Target | None]) -> tuple[str, ...]:
    """The targets on which ``marker`` is true (a target bundler cannot
    describe takes every pin)."""
    try:
        parsed = Marker(marker) if marker else None
    except InvalidMarker:
        parsed = None
    return tuple(sorted(n for n, t in targets.items() if t is None or t.evaluate_marker(parsed)))


def snapshot_from_lock(lock: LockInput, source: str) -> Snapshot:
    """A lock as pip or bundler reads it: its pins, selected per target by
    their markers when the lock names its targets (bundler's do)."""
    targets: dict[str, Target | None] = {}
    for name in lock.targets:
        try:
            targets[name] = target_from_name(name)
        except UsageError:
            targets[name] = None
    if not targets:
        targets[ANY_TARGET] = None
    merged: dict[tuple[NormalizedName, str], Release] = {}
    for pin in lock.pins:
        key = (canonicalize_name(pin.name), str(pin.version))
        if pin.files:
            files = tuple(FileEntry(f.sha256, f.filename, f.size) for f in pin.files)
        else:
            files = tuple(
                FileEntry(h.partition(":")[2]) for h in pin.hashes if h.startswith("sha256:")
            )
        prior = merged.get(key)
        if prior is not None:
            files = tuple(dict.fromkeys((*prior.files, *files)))
        served = set(_served(pin.marker, targets)) | set(prior.targets if prior else ())
        merged[key] = Release(
            key[0],
            key[1],
            tuple(sorted(served)),
            pin.build_only and (prior is None or prior.build_only),
            files,
        )
    releases = tuple(merged[k] for k in sorted(merged))
    sizes = [f.size for r in releases for f in r.files]
    size = sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None
    return Snapshot(source, tuple(sorted(targets)), releases, size)


# --- a lock as an index serves it ---------------------------------------------------


class IndexListing(Protocol):
    """What ``snapshot_at_index`` needs of an index (``collector.PackageIndex``)."""

    def get_project(self, name: NormalizedName) -> ProjectPage:
        """Every file the index lists for ``name`` (none when it has no page)."""

    def hashed(self, file: IndexFile) -> IndexFile:
        """``file`` with its sha256 and size (downloaded when not listed)."""


def _listed_release(release: Release, index: IndexListing) -> Release | None:
    """``release`` with the files ``index`` lists for it, or None when it
    lists none of them.

    A lock that names its files (a bundle, a pylock.toml) is looked up by
    file name: those files, with the hash the index gives them; a file it
    names that the index lacks is left out.  A lock that gives hashes only
    (a requirements.txt) cannot tell a replaced file from another platform's
    wheel: every file of the release is taken, those with a locked hash as
    the lock's, the others beside them (``FileEntry.locked``).
    """
    version = _version(release.version)
    page = index.get_project(release.name)
    if version is not None:
        listed = page.release(version)
    else:  # PEP 440 aside, only the same text is the same version
        listed = tuple(f for f in page.files if str(f.version) == release.version)
    named = {f.filename for f in release.files if f.filename}
    locked = {f.sha256 for f in release.files}
    files: list[FileEntry] = []
    for f in sorted(listed, key=lambda f: f.filename):
        if named and f.filename not in named:
            continue
        h = index.hashed(f)
        sha256 = h.sha256 or ""
        in_lock = f.filename in named if named else sha256 in locked
        files.append(FileEntry(sha256, f.filename, h.size, locked=in_lock))
    if not files:
        return None
    return Release(release.name, release.version, release.targets, release.build_only, tuple(files))


def snapshot_at_index(side: Snapshot, index: IndexListing, url: str) -> Snapshot:
    """``side``'s pins as the index at ``url`` serves them: each release
    with the files the index lists for it (see ``_listed_release``); a
    release the index does not list is not on this side."""
    releases = tuple(
        listed for r in side.releases if (listed := _listed_release(r, index)) is not None
    )
    sizes = [f.size for r in releases for f in r.files if f.locked]
    size = sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None
    return Snapshot(f"{side.source} at {url}", side.targets, releases, size)


# --- comparing -----------------------------------------------------------------------


def _pins(snapshot: Snapshot, target: str) -> dict[NormalizedName, list[str]]:
    """name -> versions installed on ``target`` (build-only ones aside)."""
    out: dict[NormalizedName, list[str]] = defaultdict(list)
    for r in snapshot.releases:
        if r.build_only:
            continue
        if target in r.targets or ANY_TARGET in r.targets or ANY_TARGET in snapshot.targets:
            out[r.name].append(r.version)
    return out


def _newest(versions: Iterable[str]) -> str:
    return max(versions, key=lambda v: (_version(v) is not None, _version(v) or Version("0"), v))


def _target_changes(old: Snapshot, new: Snapshot, target: str) -> tuple[Change, ...]:
    before, after = _pins(old, target), _pins(new, target)
    changes: list[Change] = []
    for name in sorted(set(before) | set(after)):
        was, now = set(before.get(name, ())), set(after.get(name, ()))
        if was == now:
            continue
        if not was:
            changes.extend(Change(ADDED, name, None, v) for v in sorted(now))
        elif not now:
            changes.extend(Change(REMOVED, name, v, None) for v in sorted(was))
        else:
            a, b = _newest(was), _newest(now)
            older = (_version(b) or Version("0")) < (_version(a) or Version("0"))
            kind = DOWNGRADE if older else UPGRADE
            changes.append(Change(kind, name, ", ".join(sorted(was)), ", ".join(sorted(now))))
    return tuple(changes)


def _targets(old: Snapshot, new: Snapshot) -> list[str]:
    """The targets to compare: both sides' (a side naming none stands for
    every target of the other)."""
    names = {t for t in (*old.targets, *new.targets) if t != ANY_TARGET}
    return sorted(names) or [ANY_TARGET]


def _hash_changes(old: Snapshot, new: Snapshot) -> list[HashChange]:
    before = {(r.name, r.version): r for r in old.releases}
    out: list[HashChange] = []
    for r in new.releases:
        prior = before.get((r.name, r.version))
        if prior is None:
            continue
        named_before = {f.filename: f.sha256 for f in prior.files if f.filename}
        named_after = {f.filename: f.sha256 for f in r.files if f.filename}
        for filename in sorted(set(named_before) & set(named_after)):
            if named_before[filename] != named_after[filename]:
                out.append(
                    HashChange(
                        r.name,
                        r.version,
                        filename,
                        (named_before[filename],),
                        (named_after[filename],),
                    )
                )
        if named_before and named_after:
            continue
        # Only hashes on one side at least: a hash gone and another come is
        # other bytes for a file, even when the release shares other hashes;
        # hashes only added (a new platform's wheel) or only dropped are not.
        was = {f.sha256 for f in prior.files}
        now = {f.sha256 for f in r.files}
        gone, come = tuple(sorted(was - now)), tuple(sorted(now - was))
        if gone and come:
            out.append(HashChange(r.name, r.version, None, gone, come))
    return out


def diff_snapshots(old: Snapshot, new: Snapshot) -> Diff:
    """Everything that differs from ``old`` to ``new``."""
    old_sdists = {
        (r.name, r.version)
        for r in old.releases
        for f in r.files
        if f.kind is DistKind.SDIST and f.locked
    }
    # A side that gives hashes only (a requirements lock) had the sdist if
    # it had its hash.
    old_hashes = {f.sha256 for r in old.releases for f in r.files if f.locked}
    new_sdists = [
        NewFile(r.name, r.version, f.filename)
        for r in new.releases
        for f in r.files
        if f.kind is DistKind.SDIST
        and f.locked
        and (r.name, r.version) not in old_sdists
        and f.sha256 not in old_hashes
    ]
    old_build = {r.name for r in old.releases if r.build_only}
    new_build = [
        NewFile(r.name, r.version) for r in new.releases if r.build_only and r.name not in old_build
    ]
    return Diff(
        old=old.source,
        new=new.source,
        targets=tuple(TargetDiff(t, _target_changes(old, new, t)) for t in _targets(old, new)),
        new_sdists=tuple(new_sdists),
        new_build_only=tuple(new_build),
        hash_changes=tuple(_hash_changes(old, new)),
        old_size=old.size,
        new_size=new.size,
    )


# --- policy --------------------------------------------------------------------------


def parse_fail_on(text: str) -> frozenset[str]:
    """The findings a comma-separated ``--fail-on`` list names."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in FINDINGS]
    if unknown or not names:
        named = ", ".join(map(repr, unknown)) or "(none given)"
        raise UsageError(
            f"--fail-on {text!r}: unknown finding {named}",
            hint=f"name some of: {','.join(FINDINGS)}",
        )
    return frozenset(names)


def violations(diff: Diff, fail_on: Iterable[str]) -> list[str]:
    """The findings of ``diff`` that ``fail_on`` names, with their counts."""
    counts = diff.counts()
    return [f"{counts[k]} {k}" for k in FINDINGS if k in set(fail_on) and counts[k]]
