"""One target's resolution given to another target that is sure to get it.

A multi-target lock resolves its first target and records what that
resolution depended on (a ``Trace``); each later target that sees all of it
alike takes the same pins with its own files (``replay``), without running
the resolver again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.utils import NormalizedName
from packaging.version import Version

from bundler.errors import BundlerError
from bundler.models import CoreMetadata, DistKind, IndexFile
from bundler.resolve.candidates import Candidate, make_candidate
from bundler.resolve.resolver import (
    PackageSource,
    ResolveOptions,
    RootRequirement,
    resolve_keeping_provider,
)
from bundler.spec.project import ProjectPage
from bundler.spec.resolution import Resolution, ResolvedPackage
from bundler.spec.selection import usable_files
from bundler.spec.target import Target

__all__ = ["Trace", "replay", "resolve_traced"]

_Release = tuple[NormalizedName, Version]


@dataclass(frozen=True)
class Trace:
    """Everything one target's resolution learnt that another target may see
    differently: the markers it evaluated, which files of each release it
    looked at it could use, the metadata of each release whose dependencies
    it read, and its own roots' and constraints' markers.

    resolvelib sees the index only through the provider's answers.  A
    target with the same Python for which every one of these is the same
    gets the same answers to every question, in the same order, so
    resolvelib would take the same steps to the same pins: ``replay``
    gives that result without running them.  The project pages must be the
    very ones this resolution read (a source that served a target its own
    pages would not be replayed).
    """

    resolution: Resolution
    options: tuple[object, ...]
    inputs: tuple[tuple[RootRequirement, ...], tuple[RootRequirement, ...]]
    root_markers: tuple[bool, ...]
    pages: Mapping[NormalizedName, ProjectPage]
    markers: tuple[tuple[Marker, str | None, bool], ...]
    # (name, version) -> what the resolver uses of the usable files.
    usable: Mapping[_Release, tuple[tuple[bool, str], ...]]
    # (name, version) -> the metadata read, and the candidate read for.
    metadata: Mapping[_Release, tuple[CoreMetadata, Candidate]]


def resolve_traced(
    roots: Sequence[RootRequirement],
    constraints: Sequence[RootRequirement],
    source: PackageSource,
    target: Target,
    options: ResolveOptions = ResolveOptions(),
) -> tuple[Resolution, Trace]:
    """``resolve``, and what the resolution depended on (for ``replay``)."""
    resolution, provider = resolve_keeping_provider(roots, constraints, source, target, options)
    trace = Trace(
        resolution=resolution,
        options=_replay_options(options),
        inputs=(tuple(roots), tuple(constraints)),
        root_markers=_root_markers(roots, constraints, target),
        pages=provider.pages_read(),
        markers=provider.markers_evaluated(),
        usable={key: _usable_signature(files) for key, files in provider.usable_read().items()},
        metadata={key: (provider.metadata[key], c) for key, c in provider.read_for.items()},
    )
    return resolution, trace


def replay(
    trace: Trace,
    roots: Sequence[RootRequirement],
    constraints: Sequence[RootRequirement],
    source: PackageSource,
    target: Target,
    options: ResolveOptions = ResolveOptions(),
) -> Resolution | None:
    """``trace``'s resolution for ``target``, when ``target`` is sure to
    get it (see ``Trace``), with the files ``target`` takes; else None.

    Checked: the same Python, options, roots and constraints (and their
    markers evaluated the same); the very page objects the resolution read;
    every marker evaluated the same; every release looked at has usable
    files alike (none, or as many yanked files and wheels); every release
    whose dependencies were read
    has the same metadata in the file ``target`` takes, which must be a
    wheel (an sdist's prepared metadata may differ per target).  Direct
    references are not replayed.
    """
    if not _same_inputs(trace, roots, constraints, target, options):
        return None
    if any(target.evaluate_marker(m, extra) != ok for m, extra, ok in trace.markers):
        return None
    usable = _usable_alike(trace, source, target, options)
    if usable is None or not _metadata_alike(trace, usable, source, target, options):
        return None
    packages: dict[NormalizedName, ResolvedPackage] = {}
    for name, pkg in trace.resolution.packages.items():
        key = (name, pkg.version)
        like = trace.metadata.get(key)
        mine = None
        if like is not None and key in usable:
            mine = _taken(usable[key], like[1], target, options)
        if mine is None or pkg.direct:
            return None
        packages[name] = dataclasses.replace(pkg, files=mine.files, chosen=mine.chosen)
    return Resolution(target=target, packages=packages)


def _same_inputs(
    trace: Trace,
    roots: Sequence[RootRequirement],
    constraints: Sequence[RootRequirement],
    target: Target,
    options: ResolveOptions,
) -> bool:
    base = trace.resolution.target
    return not (
        target.python_full_version != base.python_full_version
        or target.implementation != base.implementation
        or _replay_options(options) != trace.options
        or (tuple(roots), tuple(constraints)) != trace.inputs
        or any(r.url_file is not None for r in roots)
        or _root_markers(roots, constraints, target) != trace.root_markers
    )


def _usable_alike(
    trace: Trace, source: PackageSource, target: Target, options: ResolveOptions
) -> dict[_Release, list[IndexFile]] | None:
    """The files ``target`` may use of each release the trace looked at,
    when they are alike for it (else None)."""
    usable: dict[_Release, list[IndexFile]] = {}
    for key, signature in trace.usable.items():
        name, version = key
        page = source.get_project(name)
        if page is not trace.pages.get(name):
            return None
        listed = page.releases.get(version, ())
        files, _ = usable_files(listed, target, options.policy, options.exclude_newer)
        if _usable_signature(files) != signature:
            return None
        usable[key] = files
    return usable


def _metadata_alike(
    trace: Trace,
    usable: Mapping[_Release, list[IndexFile]],
    source: PackageSource,
    target: Target,
    options: ResolveOptions,
) -> bool:
    """Whether the wheel ``target`` takes of each release whose dependencies
    were read says the same of them."""
    for key, (meta, read_for) in trace.metadata.items():
        mine = _taken(usable[key], read_for, target, options) if key in usable else None
        if (
            mine is None
            or read_for.direct
            or read_for.chosen.kind is not DistKind.WHEEL
            or mine.chosen.kind is not DistKind.WHEEL
        ):
            return False
        if mine.chosen.url != read_for.chosen.url:
            try:
                theirs = source.get_metadata(mine.chosen)
            except BundlerError:
                return False  # the resolver proper reports it
            if _dependency_view(theirs) != _dependency_view(meta):
                return False
    return True


def _taken(
    files: Sequence[IndexFile], like: Candidate, target: Target, options: ResolveOptions
) -> Candidate | None:
    """The candidate ``target`` makes of a release ``like`` was made of:
    from the same kind of files (yanked ones only when ``like`` had them)."""
    if not any(f.is_yanked for f in like.files):
        files = [f for f in files if not f.is_yanked]
    return make_candidate(like.name, like.version, like.extras, files, target, options.policy)


def _replay_options(options: ResolveOptions) -> tuple[object, ...]:
    # Not siblings nor warm_known: those only decide what is fetched ahead.
    return (
        options.allow_prereleases,
        options.policy,
        tuple(sorted(options.preferences.items())),
        options.max_rounds,
        options.exclude_newer,
    )


def _root_markers(
    roots: Sequence[RootRequirement], constraints: Sequence[RootRequirement], target: Target
) -> tuple[bool, ...]:
    return tuple(target.evaluate_marker(r.requirement.marker) for r in (*roots, *constraints))


def _usable_signature(files: Iterable[IndexFile]) -> tuple[tuple[bool, str], ...]:
    """What the resolver's choices depend on among a release's usable files:
    whether there are any, which are yanked, which are wheels (the file it
    takes is then a wheel, the newest release with one is preferred...)."""
    return tuple(sorted((f.is_yanked, f.kind.value) for f in files))


def _dependency_view(meta: CoreMetadata) -> tuple[object, ...]:
    """What the resolver reads of a release's metadata."""
    return (meta.name, meta.version, meta.requires_python, meta.requires_dist, meta.provides_extra)
