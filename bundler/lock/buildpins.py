"""Build requirements for a lock read from a requirements file that names
none: those of the sdists its targets install, resolved as ``bundle lock``
resolves them and added as build-only pins."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from packaging.utils import NormalizedName

from bundler.index.client import HttpClient
from bundler.lock.hashing import with_hashes
from bundler.lock.hydrate import pins_without_files
from bundler.models import (
    DistKind,
    IndexFile,
    IndexSettings,
    Lock,
    LockedFile,
    LockedPackage,
    LockInput,
)
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.resolution import Resolution, ResolvedPackage
from bundler.spec.target import Target

__all__ = ["with_build_requirements"]


def with_build_requirements(
    lock_: Lock,
    lock_input: LockInput,
    targets: Sequence[Target],
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
) -> Lock:
    """``lock_`` plus the build requirements of the sdists its targets
    install, resolved against ``indexes`` as ``lock`` resolves them, when
    the lock read is a requirements file that names none (pip-compile and
    uv leave them out, and a bundle's requirements.txt keeps them out, see
    ``bundle.lockfiles``): without them the bundle could not build those sdists
    and fails its gate.  A requirements file with build-only pins
    (``bundle lock``'s build section) is taken as it is, and so is a PEP
    751 lock, which names every file it needs (a bundle's pylock.toml
    lists the build requirements too)."""
    if not pins_without_files(lock_input) or any(pin.build_only for pin in lock_input.pins):
        return lock_
    by_name = {t.name: t for t in targets}
    sdists: dict[str, dict[NormalizedName, ResolvedPackage]] = {}
    for pkg in lock_.packages:
        for f in pkg.files:
            if f.kind is not DistKind.SDIST or not f.url:
                continue
            for name in f.targets:
                chosen = _locked_index_file(pkg, f)
                sdists.setdefault(name, {})[pkg.name] = ResolvedPackage(
                    name=pkg.name, version=pkg.version, files=(chosen,), chosen=chosen, via=()
                )
    if not sdists:
        return lock_
    from bundler.index.collector import PackageIndex
    from bundler.lock.merge import LockInputs, build_lock
    from bundler.resolve.builddeps import resolve_build_requirements
    from bundler.resolve.resolver import ResolveOptions
    from bundler.spec.selection import BinaryPolicy

    policy = BinaryPolicy(only_binary=lock_input.only_binary, no_binary=lock_input.no_binary)
    runtime = [Resolution(by_name[n], sdists[n]) for n in lock_.targets if n in sdists]
    reporter.info(f"{lock_input.path} names no build requirements: resolving those of its sdists")
    with PackageIndex(indexes, client, reporter, workers=workers) as index:
        build = resolve_build_requirements(
            runtime, index, client, ResolveOptions(policy=policy), reporter
        )
        build = [with_hashes(r, index) for r in build]
    if not build:
        return lock_
    # Merged as ``lock`` merges them: markers select among all the targets.
    empty = [Resolution(t, {}) for t in targets]
    found = build_lock(empty, LockInputs(), build).packages
    return dataclasses.replace(lock_, packages=_merge_build(lock_.packages, found))


def _locked_index_file(pkg: LockedPackage, f: LockedFile) -> IndexFile:
    return IndexFile(
        filename=f.filename,
        url=f.url,
        project=pkg.name,
        version=pkg.version,
        kind=f.kind,
        hashes={"sha256": f.sha256},
        requires_python=f.requires_python,
        yanked=f.yanked,
        size=f.size,
        upload_time=f.upload_time,
        index=f.index,
    )


def _merge_build(
    packages: Sequence[LockedPackage], build: Sequence[LockedPackage]
) -> tuple[LockedPackage, ...]:
    """``build`` (all build-only) added to ``packages``; a release both
    list stays one pin, which also installs the files the builds take."""
    merged = {(p.name, p.version): p for p in packages}
    for pkg in build:
        key = (pkg.name, pkg.version)
        held = merged.get(key)
        if held is None:
            merged[key] = pkg
            continue
        wanted = {f.filename: f.targets for f in pkg.files}
        files = tuple(
            dataclasses.replace(f, targets=tuple(sorted({*f.targets, *wanted.get(f.filename, ())})))
            for f in held.files
        )
        merged[key] = dataclasses.replace(held, files=files)
    return tuple(merged.values())
