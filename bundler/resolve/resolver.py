"""Resolution for one target, with pip's semantics, on resolvelib.

``resolve`` takes the root requirements and constraints, a ``PackageSource``
(the indexes, seen through five methods) and a ``Target``, and returns the
``Resolution``; ``ResolutionFailed`` says why there is none.  The provider
(``bundler.resolve.provider``) answers resolvelib's questions, the graph is
fetched ahead of it (``bundler.resolve.fetchahead``), and a failure is put in
words by ``bundler.resolve.explain``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import resolvelib
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.errors import ResolutionFailed
from bundler.models import CoreMetadata, IndexFile
from bundler.resolve.candidates import (
    PYTHON,
    Cand,
    Candidate,
    ExplicitRequirement,
    Req,
    SpecRequirement,
    spec_requirement,
    split_identifier,
)
from bundler.resolve.explain import ExplainingReporter, explain_conflict
from bundler.resolve.fetchahead import FetchAhead
from bundler.resolve.provider import Provider
from bundler.spec.project import ProjectPage
from bundler.spec.resolution import Resolution, ResolvedPackage
from bundler.spec.selection import BinaryPolicy
from bundler.spec.target import Target

__all__ = [
    "PackageSource",
    "ResolveOptions",
    "RootRequirement",
    "resolve",
    "resolve_keeping_provider",
]


class PackageSource(Protocol):
    """What the resolver needs from the indexes."""

    def get_project(self, name: NormalizedName) -> ProjectPage: ...

    def get_metadata(self, file: IndexFile) -> CoreMetadata: ...

    def prefetch(self, names: Iterable[NormalizedName]) -> None: ...

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None: ...

    def has_project(self, name: NormalizedName) -> bool: ...


@dataclass(frozen=True)
class RootRequirement:
    """A top-level requirement or constraint, with where it came from."""

    requirement: Requirement
    source: str  # "requirements.in:3" or "command line"
    via: str  # "-r requirements.in" (pip-compile's via for the root)
    url_file: IndexFile | None = None  # for direct references
    # --hash values ("sha256:<hex>") given with a named requirement: as for
    # pip, only files with one of them are installed.
    hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResolveOptions:
    allow_prereleases: bool = False
    policy: BinaryPolicy = field(default_factory=BinaryPolicy)
    # Versions to try first when they still fit (pins of an existing lock).
    preferences: Mapping[NormalizedName, Version] = field(default_factory=dict)
    max_rounds: int = 200_000
    # --exclude-newer: files uploaded at or after it (an aware datetime),
    # or with no upload time, are not considered.
    exclude_newer: datetime | None = None
    # Told what the resolver meets, pins and gives up (``bundle lock -v``).
    detail: Callable[[str], None] | None = field(default=None, compare=False)
    # The other targets of the same lock: as this target fetches ahead the
    # release it will likely take of a project, the metadata of the wheel
    # each of them will likely take of it is fetched too.
    siblings: tuple[Target, ...] = ()
    # False: nothing is fetched ahead for a project whose page is already in
    # (the later targets of a multi-target lock, which the first one fetched
    # ahead for); only what is new to this target is.
    warm_known: bool = True


def resolve(
    roots: Sequence[RootRequirement],
    constraints: Sequence[RootRequirement],
    source: PackageSource,
    target: Target,
    options: ResolveOptions = ResolveOptions(),
) -> Resolution:
    """Resolve ``roots`` for ``target``.  Raises ``ResolutionFailed``."""
    return resolve_keeping_provider(roots, constraints, source, target, options)[0]


def resolve_keeping_provider(
    roots: Sequence[RootRequirement],
    constraints: Sequence[RootRequirement],
    source: PackageSource,
    target: Target,
    options: ResolveOptions = ResolveOptions(),
) -> tuple[Resolution, Provider]:
    """``resolve``, and the provider that answered it, holding what the
    resolution read (see ``bundler.resolve.replay``)."""
    cons: dict[NormalizedName, list[SpecRequirement]] = defaultdict(list)
    for c in constraints:
        if target.evaluate_marker(c.requirement.marker):
            cons[canonicalize_name(c.requirement.name)].append(spec_requirement(c.requirement))
    requirements, root_via, user_order = _root_requirements(roots, target)
    fetch_ahead = FetchAhead(source, target, options)
    allowed: dict[NormalizedName, dict[str, set[str]]] = {}
    for root in roots:
        for value in root.hashes:
            algo, _, digest = value.partition(":")
            named = allowed.setdefault(canonicalize_name(root.requirement.name), {})
            named.setdefault(algo, set()).add(digest)
    provider = Provider(source, target, options, cons, user_order, fetch_ahead, allowed)
    fetch_ahead.start(r for r in requirements if isinstance(r, SpecRequirement))
    reporter = (
        ExplainingReporter(options.detail, target.name)
        if options.detail is not None
        else resolvelib.BaseReporter()
    )
    resolver: resolvelib.Resolver[Req, Cand, str] = resolvelib.Resolver(provider, reporter)
    try:
        result = resolver.resolve(requirements, max_rounds=options.max_rounds)
    except resolvelib.ResolutionImpossible as err:
        raise ResolutionFailed(
            target.name, explain_conflict(err.causes, provider, roots, constraints)
        ) from None
    except resolvelib.ResolutionTooDeep as err:
        raise ResolutionFailed(
            target.name,
            f"gave up after {err.round_count} rounds of backtracking;"
            " add tighter requirements or constraints to narrow the search",
        ) from None
    finally:
        fetch_ahead.close()
    return _collect(result, provider, target, root_via), provider


def _root_requirements(
    roots: Sequence[RootRequirement], target: Target
) -> tuple[list[Req], dict[str, list[str]], dict[str, int]]:
    """The roots whose markers ``target`` meets, as resolvelib requirements;
    each project's via lines; the order the user named them in."""
    requirements: list[Req] = []
    root_via: dict[str, list[str]] = defaultdict(list)
    user_order: dict[str, int] = {}
    for root in roots:
        if not target.evaluate_marker(root.requirement.marker):
            continue
        sreq = spec_requirement(root.requirement)
        if root.url_file is not None:
            f = root.url_file
            cand = Candidate(sreq.name, f.version, frozenset(), (f,), f, direct=True)
            requirements.append(ExplicitRequirement(cand))
            if sreq.extras:
                requirements.append(sreq)
        else:
            requirements.append(sreq)
        user_order.setdefault(sreq.identifier, len(user_order))
        user_order.setdefault(sreq.name, len(user_order))
        root_via[sreq.name].append(root.via)
    return requirements, root_via, user_order


def _collect(
    result: resolvelib.resolvers.Result[Req, Cand, str],
    provider: Provider,
    target: Target,
    root_via: Mapping[str, list[str]],
) -> Resolution:
    by_name: dict[NormalizedName, Candidate] = {}
    extras: dict[NormalizedName, set[NormalizedName]] = defaultdict(set)
    for cand in result.mapping.values():
        if not isinstance(cand, Candidate):
            continue
        by_name.setdefault(cand.name, cand.base())
        extras[cand.name] |= cand.extras
    parents: dict[NormalizedName, set[str]] = defaultdict(set)
    for ident in result.graph:
        if ident is None or ident == PYTHON:
            continue
        name, _ = split_identifier(ident)
        for child in result.graph.iter_children(ident):
            if child is None or child == PYTHON:
                continue
            cname, _ = split_identifier(child)
            if cname != name:
                parents[cname].add(name)
    packages: dict[NormalizedName, ResolvedPackage] = {}
    for name, cand in sorted(by_name.items()):
        via = sorted(parents[name]) + sorted(set(root_via.get(name, [])))
        meta = provider.metadata.get((name, cand.version))
        packages[name] = ResolvedPackage(
            name=name,
            version=cand.version,
            files=cand.files,
            chosen=cand.chosen,
            via=tuple(via),
            extras=frozenset(extras[name]),
            direct=cand.direct,
            requires_dist=meta.requires_dist if meta else (),
        )
    warnings = tuple(
        f"ignoring {name} {version}, as pip does: its metadata is invalid: {why}"
        for (name, version), why in sorted(provider.invalid.items())
    )
    return Resolution(target=target, packages=packages, warnings=warnings)
