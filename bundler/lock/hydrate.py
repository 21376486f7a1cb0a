"""Hydration of a lock read from a file: for every pin, the index files
with its locked hashes (from the lock itself, its direct URL, or its
project's page), and which of them each target installs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import NormalizedName

from bundler.errors import BundlerError, InputFileError, MultipleErrors, UsageError
from bundler.index.client import HttpClient
from bundler.lock.hashing import direct_file, hash_unhashed
from bundler.models import (
    DistKind,
    IndexFile,
    Lock,
    LockedFile,
    LockedPackage,
    LockFileRef,
    LockInput,
    LockPin,
)
from bundler.redact import redact_url
from bundler.spec.filenames import parse_filename
from bundler.spec.target import Target

if TYPE_CHECKING:
    from bundler.index.collector import PackageIndex
    from bundler.spec.selection import BinaryPolicy

__all__ = ["coverage_problems", "hydrate", "pins_without_files"]


def pins_without_files(lock_input: LockInput) -> list[NormalizedName]:
    """The pins whose files only their project's index page can tell (a
    requirements.txt lock names none; a PEP 751 lock names them all)."""
    return [p.name for p in lock_input.pins if p.url is None and not p.files]


def hydrate(
    lock_input: LockInput,
    targets: Sequence[Target],
    index: PackageIndex | None,
    client: HttpClient,
    on_files: Callable[[Sequence[LockedFile]], None] | None = None,
    workers: int = 8,
) -> Lock:
    """Find, for every pin of a hashed requirements file, the index files
    with the locked hashes, and which one each target installs.

    Each pin is handled as soon as its project's page is in (pages are
    fetched in parallel); ``on_files`` is then given the files some target
    installs, e.g. to start fetching them while other pages are on their way.
    ``index`` may be None when every pin names its files (a PEP 751 lock).
    """
    from bundler.spec.selection import BinaryPolicy

    policy = BinaryPolicy(only_binary=lock_input.only_binary, no_binary=lock_input.no_binary)
    refused = coverage_problems(lock_input, targets)
    if refused:
        raise refused[0] if len(refused) == 1 else MultipleErrors(refused)
    names = pins_without_files(lock_input)
    if names:
        if index is None:
            raise UsageError(f"{lock_input.path}: its pins name no files: an index is needed")
        index.prefetch(names)

    def one(pin: LockPin) -> tuple[LockedPackage | None, list[BundlerError]]:
        problems: list[BundlerError] = []
        found = _hydrate_pin(pin, lock_input, targets, index, client, policy, problems)
        if found is not None and on_files is not None:
            on_files([f for f in found.files if f.targets])
        return found, problems

    errors: list[BundlerError] = []
    packages: list[LockedPackage] = []
    if names:  # pins wait for their pages: side by side
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="hydrate") as pool:
            outcomes = list(pool.map(one, lock_input.pins))  # in pin order
    else:  # CPU only (a PEP 751 lock names its files): threads would only wait
        outcomes = [one(pin) for pin in lock_input.pins]
    for found, problems in outcomes:
        errors.extend(problems)
        if found is not None:
            packages.append(found)
    if errors:
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    return Lock(
        packages=tuple(packages),
        targets=tuple(t.name for t in targets),
        indexes=lock_input.indexes,
        only_binary=tuple(sorted(lock_input.only_binary)),
        no_binary=tuple(sorted(lock_input.no_binary)),
    )


def coverage_problems(lock_input: LockInput, targets: Sequence[Target]) -> list[BundlerError]:
    """What an installer must refuse before installing the lock on each
    target (PEP 751): a target none of the lock's ``environments`` admits,
    or whose Python its ``requires-python`` (or a selected package's) does
    not admit, and two entries of one package selected for one target."""
    problems: list[BundlerError] = []
    path = lock_input.path
    hint = "download for the targets the lock was made for, or lock for this one"
    covered = [Requirement(f"x; {m}").marker for m in lock_input.environments]
    for target in targets:
        if covered and not any(target.evaluate_marker(m) for m in covered):
            listed = "; ".join(lock_input.environments)
            problems.append(
                BundlerError(
                    f"{path}: target {target.name} is none of the environments the lock"
                    f" covers ({listed})",
                    hint=hint,
                )
            )
            continue
        if lock_input.requires_python and not target.python_matches(lock_input.requires_python):
            problems.append(
                BundlerError(
                    f"{path}: the lock requires Python {lock_input.requires_python}; target"
                    f" {target.name} has {target.python_full_version}",
                    hint=hint,
                )
            )
            continue
        selected: dict[NormalizedName, LockPin] = {}
        for pin in lock_input.pins:
            marker = Requirement(f"x; {pin.marker}").marker if pin.marker else None
            if not target.evaluate_marker(marker):
                continue
            if pin.requires_python and not target.python_matches(pin.requires_python):
                problems.append(
                    BundlerError(
                        f"{pin.source}: {pin.name}=={pin.version} requires Python"
                        f" {pin.requires_python}; target {target.name} has"
                        f" {target.python_full_version}",
                        hint=hint,
                    )
                )
            if pin.build_only:
                continue  # build pins may differ by the sdist they build
            other = selected.setdefault(pin.name, pin)
            if other is not pin:
                problems.append(
                    BundlerError(
                        f"{path}: {pin.name} is locked twice for target {target.name}"
                        f" ({other.source} and {pin.source}), which an installer refuses",
                        hint="give each target one entry per package: make their markers"
                        " exclude each other",
                    )
                )
    return problems


def _hydrate_pin(
    pin: LockPin,
    lock_input: LockInput,
    targets: Sequence[Target],
    index: PackageIndex | None,
    client: HttpClient,
    policy: BinaryPolicy,
    problems: list[BundlerError],
) -> LockedPackage | None:
    from bundler.lock.merge import locked_file

    marker = Requirement(f"x; {pin.marker}").marker if pin.marker else None
    serving = [t for t in targets if t.evaluate_marker(marker)]
    if not serving:
        return None
    wanted = {h.split(":", 1)[1] for h in pin.hashes if h.startswith("sha256:")}
    if not wanted and pin.hashes:
        problems.append(
            InputFileError(
                lock_input.path,
                None,
                f"{pin.source}: {pin.name}=={pin.version} has only"
                f" {', '.join(sorted({h.split(':', 1)[0] for h in pin.hashes}))} hashes;"
                " bundler needs a sha256 for every file",
                hint="re-lock with --generate-hashes (pip-compile, uv) or bundle lock",
            )
        )
        return None
    if pin.url is not None:
        try:
            files = [_direct_pin_file(pin, lock_input.path, client)]
        except BundlerError as err:
            problems.append(err)
            return None
    else:
        files = _listed_files(pin, wanted, index)
    if not files:
        problems.append(
            BundlerError(
                f"{pin.source}: {pin.name}=={pin.version}: no file with a locked hash"
                " is on the configured indexes",
                hint="check --index-url / --find-links, or re-lock",
            )
        )
        return None
    chosen = _choose(pin, files, serving, policy, problems)
    return LockedPackage(
        name=pin.name,
        version=pin.version,
        files=tuple(
            locked_file(f, tuple(chosen.get(f.filename, ())))
            for f in sorted(files, key=lambda f: f.filename)
        ),
        marker=pin.marker,
        via=pin.via,
        targets=tuple(t.name for t in serving),
        build_only=pin.build_only,
        direct_url=redact_url(pin.url) if pin.url else None,
    )


def _direct_pin_file(pin: LockPin, lock_path: str, client: HttpClient) -> IndexFile:
    """The file at ``pin``'s direct URL, hashed."""
    from bundler.spec.reqfile import ParsedRequirement

    assert pin.url is not None
    req = ParsedRequirement(
        requirement=Requirement(f"{pin.name} @ {pin.url}"),
        name=pin.name,
        source=pin.source,
        comes_from=lock_path,
        hashes=pin.hashes,
        url=pin.url,
    )
    return direct_file(req, client)


def _listed_files(pin: LockPin, wanted: set[str], index: PackageIndex | None) -> list[IndexFile]:
    """The files of ``pin`` with a locked sha256 (``wanted``): those the
    lock names, else those on its project's page."""
    if pin.files:
        # The lock names its files (PEP 751): no index page is needed.
        return [_named_file(pin, ref) for ref in pin.files if ref.sha256 in wanted]
    assert index is not None  # hydrate checked it
    page = index.get_project(pin.name)
    release = list(page.release(pin.version))
    # An index may list files without hashes (a plain directory
    # listing): hash those to match them against the lock.
    hashed = hash_unhashed(release, index)
    release = [hashed.get(f.url, f) for f in release]
    return [f for f in release if f.sha256 in wanted]


def _choose(
    pin: LockPin,
    files: Sequence[IndexFile],
    serving: Sequence[Target],
    policy: BinaryPolicy,
    problems: list[BundlerError],
) -> dict[str, list[str]]:
    """filename -> the targets that install it: each target's best file."""
    from bundler.spec.selection import best_file, usable_files

    chosen: dict[str, list[str]] = {}
    for target in serving:
        usable, skipped = usable_files(files, target, policy)
        best = best_file(usable, target, policy)
        if best is None:
            why = "; ".join(sorted({s.reason for s in skipped})) or "no files"
            problems.append(
                BundlerError(
                    f"{pin.name}=={pin.version} has no locked file usable on target"
                    f" {target.name} ({why})",
                    hint="lock for this target, or allow an sdist for it",
                )
            )
            continue
        chosen.setdefault(best.filename, []).append(target.name)
    return chosen


def _named_file(pin: LockPin, ref: LockFileRef) -> IndexFile:
    parsed = parse_filename(ref.filename, pin.name)
    return IndexFile(
        filename=ref.filename,
        url=ref.url,
        project=pin.name,
        version=pin.version,
        kind=parsed.kind if parsed is not None else DistKind.SDIST,
        hashes={"sha256": ref.sha256},
        size=ref.size,
        upload_time=ref.upload_time,
        index=redact_url(ref.url.rsplit("/", 1)[0] + "/"),
    )
