"""Resolution for one target, with pip's semantics, on resolvelib.

The provider is a thin layer over a ``PackageSource`` (anything with
``get_project`` and ``get_metadata``), in the manner of pip's resolvelib
glue: extras are their own candidates pinned to the base release,
Requires-Python is a pseudo package, and conflicts are rendered as
"X depends on Y, but Z depends on W".
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast

import resolvelib
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib.structs import RequirementInformation

from bundler.errors import BundlerError, ResolutionFailed
from bundler.models import CoreMetadata, DistKind, IndexFile
from bundler.spec.project import ProjectPage
from bundler.spec.resolution import Resolution, ResolvedPackage
from bundler.spec.selection import BinaryPolicy, Skipped, best_file, usable_files
from bundler.spec.target import Target

PYTHON = "<python>"  # identifier of the Requires-Python pseudo package


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


# --- candidates -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Candidate:
    """One release of a project (optionally with extras) on the target."""

    name: NormalizedName
    version: Version
    extras: frozenset[NormalizedName]
    files: tuple[IndexFile, ...]  # every usable file of this release
    chosen: IndexFile  # the file pip would install (its metadata is used)
    direct: bool = False

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    def base(self) -> Candidate:
        return Candidate(self.name, self.version, frozenset(), self.files, self.chosen, self.direct)

    def __repr__(self) -> str:
        return f"{self.identifier}=={self.version}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Candidate) and (
            self.name,
            self.version,
            self.extras,
            self.chosen.url,
        ) == (other.name, other.version, other.extras, other.chosen.url)

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.extras))


@dataclass(frozen=True)
class PythonCandidate:
    version: Version

    @property
    def identifier(self) -> str:
        return PYTHON

    def __repr__(self) -> str:
        return f"Python {self.version}"


# --- requirements -------------------------------------------------------------


@dataclass(frozen=True)
class SpecRequirement:
    """``name[extras] specifier`` (marker already evaluated)."""

    name: NormalizedName
    extras: frozenset[NormalizedName]
    specifier: SpecifierSet
    text: str  # as written, for messages

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ExplicitRequirement:
    """Exactly this candidate: the base of an extras candidate, or a direct
    reference."""

    candidate: Candidate

    @property
    def identifier(self) -> str:
        return self.candidate.identifier

    def __repr__(self) -> str:
        if self.candidate.direct:
            return f"{self.candidate.name} @ {self.candidate.chosen.filename}"
        return f"{self.candidate.name}=={self.candidate.version}"


@dataclass(frozen=True)
class PythonRequirement:
    specifier: SpecifierSet

    @property
    def identifier(self) -> str:
        return PYTHON

    def __repr__(self) -> str:
        return f"Python {self.specifier}"


Req = SpecRequirement | ExplicitRequirement | PythonRequirement
Cand = Candidate | PythonCandidate


def _identifier(name: str, extras: frozenset[str]) -> str:
    if not extras:
        return name
    return f"{name}[{','.join(sorted(extras))}]"


def _split_identifier(identifier: str) -> tuple[NormalizedName, frozenset[NormalizedName]]:
    name, _, rest = identifier.partition("[")
    extras = frozenset(NormalizedName(e) for e in rest.rstrip("]").split(",") if e)
    return NormalizedName(name), extras


# --- results ----------------------------------------------------------------


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


# --- provider -----------------------------------------------------------------


class _Provider(resolvelib.AbstractProvider):  # type: ignore[type-arg]
    def __init__(
        self,
        source: PackageSource,
        target: Target,
        options: ResolveOptions,
        constraints: Mapping[NormalizedName, list[SpecRequirement]],
        user_order: Mapping[str, int],
    ) -> None:
        self.source = source
        self.target = target
        self.options = options
        self.constraints = constraints
        self.user_order = user_order
        self.skipped: dict[NormalizedName, list[Skipped]] = {}
        self.metadata: dict[tuple[NormalizedName, Version], CoreMetadata] = {}
        self._pages: dict[NormalizedName, ProjectPage] = {}
        self._markers: dict[tuple[int, str | None], tuple[Marker, bool]] = {}
        self._satisfied: dict[
            int, tuple[SpecRequirement | PythonRequirement, dict[Version, bool]]
        ] = {}
        self._usable_cache: dict[tuple[NormalizedName, Version], list[IndexFile]] = {}
        self._conflict_counts: dict[str, int] = defaultdict(int)
        self._promoted: set[str] = set()
        # The candidate each release's metadata was read for (see Trace).
        self.read_for: dict[tuple[NormalizedName, Version], Candidate] = {}
        # Speculative warming: fetch the metadata of the release each new
        # requirement will most likely pin, while the resolver works on.
        self._warm_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bundler-warm")
        self._warmed: set[str] = set()
        self._warm_lock = threading.Lock()

    def close(self) -> None:
        self._warm_pool.shutdown(wait=False, cancel_futures=True)

    def warm(self, requirements: Iterable[SpecRequirement]) -> None:
        """Start fetching pages and likely metadata for ``requirements``."""
        todo: list[SpecRequirement] = []
        with self._warm_lock:
            for req in requirements:
                if not self.options.warm_known and self.source.has_project(req.name):
                    continue
                key = f"{req.name} {req.specifier}"
                if key not in self._warmed:
                    self._warmed.add(key)
                    todo.append(req)
        for req in todo:
            with contextlib.suppress(RuntimeError):  # shut down
                self._warm_pool.submit(self._warm_one, req)

    def _warm_one(self, req: SpecRequirement) -> None:
        # Pure guesses over thread-safe, memoizing source calls: provider
        # state is not touched here.  Never builds anything (wheels only).
        with contextlib.suppress(Exception):
            page = self.source.get_project(req.name)
            releases = page.releases
            prereleases: bool | None = True if self.options.allow_prereleases else None
            versions = list(page.matching(req.specifier, prereleases))
            preferred = self.options.preferences.get(req.name)
            if preferred is not None and preferred in releases:
                versions.insert(0, preferred)
            likely = [[f for f in releases[v] if not f.is_yanked] for v in versions[:3]]
            mine = self._likely_file(likely, self.target)
            self._warm_siblings(likely, mine)
            if mine is not None and mine.kind is DistKind.WHEEL:
                meta = self.source.get_metadata(mine)
                # Its dependencies next, without waiting for the resolver to
                # get there: the whole graph is fetched in parallel, not one
                # level per resolver step.
                self.warm(self._likely_dependencies(meta, req.extras))

    def _likely_file(self, likely: list[list[IndexFile]], target: Target) -> IndexFile | None:
        """The file ``target`` most likely takes: the best of the first of
        the ``likely`` releases (their files) that has one for it."""
        for listed in likely:
            usable, _ = usable_files(
                listed, target, self.options.policy, self.options.exclude_newer
            )
            best = best_file(usable, target, self.options.policy)
            if best is not None:
                return best
        return None

    def _warm_siblings(self, likely: list[list[IndexFile]], mine: IndexFile | None) -> None:
        # Each sibling's own likely release: a newer one than this target's
        # when this target cannot use it (its Python is too old, say).
        theirs: dict[str, IndexFile] = {}
        for target in self.options.siblings:
            best = self._likely_file(likely, target)
            mine_too = mine is not None and best is not None and best.url == mine.url
            if best is not None and best.kind is DistKind.WHEEL and not mine_too:
                theirs.setdefault(best.url, best)
        if theirs:
            self.source.prefetch_metadata(theirs.values())

    def _likely_dependencies(
        self, meta: CoreMetadata, extras: frozenset[NormalizedName]
    ) -> list[SpecRequirement]:
        wanted: tuple[str | None, ...] = (None, *sorted(extras))
        likely: list[SpecRequirement] = []
        for line in meta.requires_dist:
            marker, sreq = _dependency(line)
            if marker is None or any(self.target.evaluate_marker(marker, e) for e in wanted):
                likely.append(sreq)
        return likely

    # -- index access

    def _page(self, name: NormalizedName) -> ProjectPage:
        page = self._pages.get(name)
        if page is None:
            page = self._pages[name] = self.source.get_project(name)
        return page

    def _all_releases(self, name: NormalizedName) -> Mapping[Version, tuple[IndexFile, ...]]:
        """Every listed file of a project, by version (nothing evaluated)."""
        return self._page(name).releases

    def _usable(self, name: NormalizedName, version: Version) -> list[IndexFile]:
        """The files of one release the target can install (evaluated once:
        wheel tags and Requires-Python are only checked for releases the
        resolver actually considers)."""
        key = (name, version)
        cached = self._usable_cache.get(key)
        if cached is None:
            files = self._all_releases(name).get(version, ())
            cached, skipped = usable_files(
                files, self.target, self.options.policy, self.options.exclude_newer
            )
            self._usable_cache[key] = cached
            self.skipped.setdefault(name, []).extend(skipped)
        return cached

    def releases(self, name: NormalizedName) -> dict[Version, list[IndexFile]]:
        """Every release with a file the target can install."""
        return {v: u for v in self._all_releases(name) if (u := self._usable(name, v))}

    # -- resolvelib protocol

    def identify(self, requirement_or_candidate: Req | Cand) -> str:
        return requirement_or_candidate.identifier

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, Cand],
        candidates: Mapping[str, Iterator[Cand]],
        information: Mapping[str, Iterator[RequirementInformation[Req, Cand]]],
        backtrack_causes: Sequence[RequirementInformation[Req, Cand]],
    ) -> Iterable[str]:
        # pip's order: Requires-Python alone, then backtrack causes, then
        # identifiers that keep appearing in conflicts.
        causes: set[str] = set()
        for info in backtrack_causes:
            names = [info.requirement.identifier]
            if info.parent is not None:
                names.append(info.parent.identifier)
            for n in names:
                causes.add(n)
                if n not in resolutions:
                    self._conflict_counts[n] += 1
                    if self._conflict_counts[n] >= 5:
                        self._promoted.add(n)
        current: list[str] = []
        promoted: list[str] = []
        all_ids = list(identifiers)
        for ident in all_ids:
            if ident == PYTHON:
                return [ident]
            if ident in causes:
                current.append(ident)
            elif ident in self._promoted:
                promoted.append(ident)
        return current or promoted or all_ids

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Cand],
        candidates: Mapping[str, Iterator[Cand]],
        information: Mapping[str, Iterable[RequirementInformation[Req, Cand]]],
        backtrack_causes: Sequence[RequirementInformation[Req, Cand]],
    ) -> tuple[bool, bool, bool, bool, float, bool, str]:
        direct = False
        operators: list[tuple[str, str]] = []
        for info in information[identifier]:
            req = info.requirement
            if isinstance(req, ExplicitRequirement):
                direct = True
            elif isinstance(req, SpecRequirement):
                operators.extend((s.operator, s.version) for s in req.specifier)
        pinned = any(op[:2] == "==" and "*" not in v for op, v in operators)
        upper = any(op in ("<", "<=", "~=") or (op == "==" and "*" in v) for op, v in operators)
        return (
            identifier not in self._promoted,
            not direct,
            not pinned,
            not upper,
            self.user_order.get(identifier, math.inf),
            not operators,
            identifier,
        )

    def find_matches(  # noqa: C901, PLR0911, PLR0912, PLR0915
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Cand]],
    ) -> list[Cand]:
        if identifier == PYTHON:
            pycand = PythonCandidate(self.target.python_version)
            ok = all(
                self._contains(r, pycand.version)
                for r in requirements[identifier]
                if isinstance(r, PythonRequirement)
            )
            # A Python candidate backtracking marked incompatible must not
            # come back, or resolvelib loops until max_rounds.
            bad = set(incompatibilities[identifier])
            return [pycand] if ok and pycand not in bad else []

        name, extras = _split_identifier(identifier)
        reqs: list[Req] = list(requirements[identifier])
        if extras:
            # An extras candidate must also satisfy what is asked of its base.
            reqs.extend(requirements.get(name, ()))
        bad_keys = {
            (c.version, c.chosen.url)
            for c in incompatibilities[identifier]
            if isinstance(c, Candidate)
        }

        explicit = [r.candidate for r in reqs if isinstance(r, ExplicitRequirement)]
        specifier = SpecifierSet()
        for r in reqs:
            if isinstance(r, SpecRequirement):
                specifier &= r.specifier
        for c in self.constraints.get(name, ()):
            specifier &= c.specifier

        if explicit:
            first = explicit[0]
            if any(
                e.chosen.url != first.chosen.url or e.version != first.version for e in explicit
            ):
                return []
            if not specifier.contains(first.version, prereleases=True):
                return []
            if (first.version, first.chosen.url) in bad_keys:
                return []
            return [Candidate(name, first.version, extras, first.files, first.chosen, first.direct)]

        prereleases: bool | None = True if self.options.allow_prereleases else None
        pinned = _is_pinned(specifier)
        preferred = self.options.preferences.get(name)
        policy = self.options.policy

        def build(version: Version, files: list[IndexFile]) -> Candidate | None:
            made = _candidate(name, version, extras, files, self.target, self.options.policy)
            if made is None or (made.version, made.chosen.url) in bad_keys:
                return None
            return made

        if pinned or policy.prefer_binary:
            # Few versions (pinned), or an order that needs every release's
            # files (prefer-binary): evaluate eagerly.
            # Only releases the specifier can admit are evaluated.
            releases = {
                v: u
                for v in self._page(name).matching(specifier, True)
                if (u := self._usable(name, v))
            }
            matching = list(specifier.filter(releases.keys(), prereleases=prereleases))
            # PEP 592: yanked files are ignored unless the specifier pins a
            # version (== / ===) that only yanked files satisfy.
            all_yanked = all(f.is_yanked for v in matching for f in releases[v])
            out: list[Cand] = []
            for version in matching:
                files = [f for f in releases[version] if not f.is_yanked or (all_yanked and pinned)]
                made = build(version, files) if files else None
                if made is not None:
                    out.append(made)
            out.sort(key=self._sort_key, reverse=True)
            if preferred is not None:
                out.sort(key=lambda c: c.version != preferred)
            return out

        page = self._page(name)

        def ordered(versions: Iterable[Version]) -> list[Version]:
            found = sorted(versions, reverse=True)
            if preferred is not None and preferred in found:
                found.remove(preferred)
                found.insert(0, preferred)
            return found

        def newest_first() -> Iterable[Version]:
            found = page.matching(specifier, prereleases)
            if preferred is not None and preferred in found:
                return (preferred, *(v for v in found if v != preferred))
            return found

        def candidates() -> Iterator[Cand]:
            # Newest first, evaluating files only as the resolver asks.
            yielded = False
            for version in newest_first():
                files = [f for f in self._usable(name, version) if not f.is_yanked]
                made = build(version, files) if files else None
                if made is not None:
                    yielded = True
                    yield made
            if yielded or prereleases is not None:
                return
            # pip filters the usable releases: when no final release is
            # usable, pre-releases are accepted (PEP 440).
            usable = [v for v in page.releases if self._usable(name, v)]
            seen: set[Version] = set()
            for version in ordered(specifier.filter(usable, prereleases=None)):
                if version in seen:
                    continue
                seen.add(version)
                files = [f for f in self._usable(name, version) if not f.is_yanked]
                made = build(version, files) if files else None
                if made is not None:
                    yield made

        # resolvelib re-iterates a callable lazily (build_iter_view).
        return cast("list[Cand]", candidates)

    def _sort_key(self, c: Cand) -> tuple[bool, bool, Version]:
        if isinstance(c, PythonCandidate):
            return (True, True, c.version)
        has_wheel = any(f.kind is DistKind.WHEEL for f in c.files)
        binary = has_wheel if self.options.policy.prefer_binary else True
        return (not c.chosen.is_yanked, binary, c.version)

    def is_satisfied_by(self, requirement: Req, candidate: Cand) -> bool:
        if isinstance(requirement, PythonRequirement):
            return isinstance(candidate, PythonCandidate) and self._contains(
                requirement, candidate.version
            )
        if not isinstance(candidate, Candidate):
            return False
        if isinstance(requirement, ExplicitRequirement):
            other = requirement.candidate
            return (other.version, other.chosen.url) == (candidate.version, candidate.chosen.url)
        # Pre-release filtering happened in find_matches; a candidate that
        # got there is acceptable to any specifier that contains it.
        return self._contains(requirement, candidate.version)

    def _contains(self, requirement: SpecRequirement | PythonRequirement, version: Version) -> bool:
        # resolvelib asks again on every round, with candidate objects made
        # anew each time it walks a project's releases: each requirement's
        # answer is remembered per version (the requirement is kept, so
        # that its id stays its own).
        known = self._satisfied.get(id(requirement))
        if known is None or known[0] is not requirement:
            known = self._satisfied[id(requirement)] = (requirement, {})
        answers = known[1]
        ok = answers.get(version)
        if ok is None:
            ok = answers[version] = requirement.specifier.contains(version, prereleases=True)
        return ok

    def get_dependencies(self, candidate: Cand) -> list[Req]:
        if isinstance(candidate, PythonCandidate):
            return []
        deps: list[Req] = []
        if candidate.extras:
            deps.append(ExplicitRequirement(candidate.base()))
        meta = self.get_metadata(candidate)
        if meta.requires_python:
            # pip ignores an invalid Requires-Python too.
            with contextlib.suppress(ValueError):
                deps.append(_python_requirement(meta.requires_python))
        provided = {canonicalize_name(e) for e in meta.provides_extra}
        # Old metadata may omit Provides-Extra; then trust the markers.
        wanted_extras = [e for e in candidate.extras if not provided or e in provided]
        seen: set[str] = set()
        for line in meta.requires_dist:
            marker, sreq = _dependency(line)
            if not self._marker_applies(marker, wanted_extras, candidate.extras):
                continue
            key = f"{sreq.identifier} {sreq.specifier}"
            if key in seen:
                continue
            seen.add(key)
            deps.append(sreq)
        self.warm(d for d in deps if isinstance(d, SpecRequirement))
        return deps

    def _marker_applies(
        self, marker: Marker | None, wanted: Sequence[str], extras: frozenset[str]
    ) -> bool:
        if marker is None:
            # Unconditional dependencies belong to the base candidate only.
            return not extras
        if extras:
            # An extras candidate contributes what its extras add.
            return any(self._evaluate(marker, e) for e in wanted) and not (
                self._evaluate(marker, None)
            )
        return self._evaluate(marker, None)

    def _evaluate(self, marker: Marker, extra: str | None) -> bool:
        # Markers come from memoized requirement lines, so the same objects
        # are evaluated again and again: remember each answer (the marker is
        # kept with it, so its id is not reused).
        key = (id(marker), extra)
        known = self._markers.get(key)
        if known is None or known[0] is not marker:
            known = self._markers[key] = (marker, self.target.evaluate_marker(marker, extra))
        return known[1]

    def get_metadata(self, candidate: Candidate) -> CoreMetadata:
        key = (candidate.name, candidate.version)
        meta = self.metadata.get(key)
        if meta is None:
            meta = self.source.get_metadata(candidate.chosen)
            if meta.name != candidate.name or (
                not candidate.direct and meta.version != candidate.version
            ):
                raise BundlerError(
                    f"{candidate.chosen.filename}: metadata says {meta.name} {meta.version},"
                    f" but the file is listed as {candidate.name} {candidate.version}",
                    hint="the index serves an inconsistent distribution; report it to its owner",
                )
            self.metadata[key] = meta
            self.read_for[key] = candidate
        return meta


def _candidate(
    name: NormalizedName,
    version: Version,
    extras: frozenset[NormalizedName],
    files: Sequence[IndexFile],
    target: Target,
    policy: BinaryPolicy,
) -> Candidate | None:
    """The candidate ``target`` makes of a release's usable ``files``: the
    file it would take, first (None: it would take none)."""
    chosen = best_file(files, target, policy)
    if chosen is None:
        return None
    ordered = tuple(sorted(files, key=lambda f: f is not chosen))
    return Candidate(name, version, extras, ordered, chosen)


def _is_pinned(specifier: SpecifierSet) -> bool:
    for s in specifier:
        if s.operator == "===":
            return True
        if s.operator == "==" and not s.version.endswith(".*"):
            return True
    return False


@functools.lru_cache(maxsize=1 << 12)
def _python_requirement(requires_python: str) -> PythonRequirement:
    """One object per Requires-Python value (ValueError when invalid): the
    resolver checks every one of them against the target's Python on every
    round, and remembers the answers by object."""
    return PythonRequirement(SpecifierSet(requires_python))


@functools.lru_cache(maxsize=1 << 14)
def _dependency(line: str) -> tuple[Marker | None, SpecRequirement]:
    """A Requires-Dist line, parsed once for every candidate and target."""
    req = Requirement(line)
    return req.marker, _spec_requirement(req)


def _spec_requirement(req: Requirement) -> SpecRequirement:
    extras = frozenset(canonicalize_name(e) for e in req.extras)
    text = str(req)
    if req.marker is not None:
        text = text.split(";", maxsplit=1)[0].strip()
    return SpecRequirement(canonicalize_name(req.name), extras, req.specifier, text)


# --- entry point ----------------------------------------------------------------


def resolve(
    roots: Sequence[RootRequirement],
    constraints: Sequence[RootRequirement],
    source: PackageSource,
    target: Target,
    options: ResolveOptions = ResolveOptions(),
) -> Resolution:
    """Resolve ``roots`` for ``target``.  Raises ``ResolutionFailed``."""
    return resolve_traced(roots, constraints, source, target, options)[0]


def resolve_traced(
    roots: Sequence[RootRequirement],
    constraints: Sequence[RootRequirement],
    source: PackageSource,
    target: Target,
    options: ResolveOptions = ResolveOptions(),
) -> tuple[Resolution, Trace]:
    """``resolve``, and what the resolution depended on (for ``replay``)."""
    cons: dict[NormalizedName, list[SpecRequirement]] = defaultdict(list)
    for c in constraints:
        if target.evaluate_marker(c.requirement.marker):
            cons[canonicalize_name(c.requirement.name)].append(_spec_requirement(c.requirement))

    requirements: list[Req] = []
    root_via: dict[str, list[str]] = defaultdict(list)
    user_order: dict[str, int] = {}
    for root in roots:
        if not target.evaluate_marker(root.requirement.marker):
            continue
        sreq = _spec_requirement(root.requirement)
        req: Req
        if root.url_file is not None:
            f = root.url_file
            cand = Candidate(sreq.name, f.version, frozenset(), (f,), f, direct=True)
            requirements.append(ExplicitRequirement(cand))
            if sreq.extras:
                requirements.append(sreq)
            req = ExplicitRequirement(cand)
        else:
            req = sreq
            requirements.append(req)
        user_order.setdefault(sreq.identifier, len(user_order))
        user_order.setdefault(sreq.name, len(user_order))
        root_via[sreq.name].append(root.via)

    provider = _Provider(source, target, options, cons, user_order)
    provider.warm(r for r in requirements if isinstance(r, SpecRequirement))
    reporter = (
        _Explaining(options.detail, target.name)
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
        provider.close()

    resolution = _collect(result, provider, target, root_via)
    trace = Trace(
        resolution=resolution,
        options=_replay_options(options),
        inputs=(tuple(roots), tuple(constraints)),
        root_markers=_root_markers(roots, constraints, target),
        pages=dict(provider._pages),
        markers=tuple((m, extra, ok) for (_, extra), (m, ok) in provider._markers.items()),
        usable={key: _usable_signature(files) for key, files in provider._usable_cache.items()},
        metadata={key: (provider.metadata[key], c) for key, c in provider.read_for.items()},
    )
    return resolution, trace


class _Explaining(resolvelib.BaseReporter):  # type: ignore[type-arg]
    """resolvelib's reporter hooks as lines saying why each project is
    looked at (the requirement and who asked for it) and what is pinned."""

    def __init__(self, detail: Callable[[str], None], target: str) -> None:
        self._detail = detail
        self._target = target

    def adding_requirement(self, requirement: Req, parent: Cand | None) -> None:
        by = f"{parent!r}" if parent is not None else "the input"
        self._detail(f"{self._target}: {requirement!r}, required by {by}")

    def rejecting_candidate(self, criterion: object, candidate: Cand) -> None:
        self._detail(f"{self._target}: {candidate!r} conflicts; backtracking")

    def pinning(self, candidate: Cand) -> None:
        self._detail(f"{self._target}: pinned {candidate!r}")


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
    usable: Mapping[tuple[NormalizedName, Version], tuple[tuple[bool, str], ...]]
    # (name, version) -> the metadata read, and the candidate read for.
    metadata: Mapping[tuple[NormalizedName, Version], tuple[CoreMetadata, Candidate]]


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


def replay(  # noqa: C901, PLR0911
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
    base = trace.resolution.target
    if (
        target.python_full_version != base.python_full_version
        or target.implementation != base.implementation
        or _replay_options(options) != trace.options
        or (tuple(roots), tuple(constraints)) != trace.inputs
        or any(r.url_file is not None for r in roots)
        or _root_markers(roots, constraints, target) != trace.root_markers
    ):
        return None
    if any(target.evaluate_marker(m, extra) != ok for m, extra, ok in trace.markers):
        return None
    usable: dict[tuple[NormalizedName, Version], list[IndexFile]] = {}
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

    def taken(files: Sequence[IndexFile], like: Candidate) -> Candidate | None:
        # The candidate ``target`` makes of a release ``like`` was made of:
        # from the same kind of files (yanked ones only when ``like`` had them).
        if not any(f.is_yanked for f in like.files):
            files = [f for f in files if not f.is_yanked]
        return _candidate(like.name, like.version, like.extras, files, target, options.policy)

    for key, (meta, read_for) in trace.metadata.items():
        mine = taken(usable[key], read_for) if key in usable else None
        if (
            mine is None
            or read_for.direct
            or read_for.chosen.kind is not DistKind.WHEEL
            or mine.chosen.kind is not DistKind.WHEEL
        ):
            return None
        if mine.chosen.url != read_for.chosen.url:
            try:
                theirs = source.get_metadata(mine.chosen)
            except BundlerError:
                return None  # the resolver proper reports it
            if _dependency_view(theirs) != _dependency_view(meta):
                return None

    packages: dict[NormalizedName, ResolvedPackage] = {}
    for name, pkg in trace.resolution.packages.items():
        key = (name, pkg.version)
        like = trace.metadata.get(key)
        mine = taken(usable[key], like[1]) if like is not None and key in usable else None
        if mine is None or pkg.direct:
            return None
        packages[name] = dataclasses.replace(pkg, files=mine.files, chosen=mine.chosen)
    return Resolution(target=target, packages=packages)


def _dependency_view(meta: CoreMetadata) -> tuple[object, ...]:
    """What the resolver reads of a release's metadata."""
    return (meta.name, meta.version, meta.requires_python, meta.requires_dist, meta.provides_extra)


def _collect(
    result: resolvelib.resolvers.Result[Req, Cand, str],
    provider: _Provider,
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
        name, _ = _split_identifier(ident)
        for child in result.graph.iter_children(ident):
            if child is None or child == PYTHON:
                continue
            cname, _ = _split_identifier(child)
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
    return Resolution(target=target, packages=packages)


# --- messages ---------------------------------------------------------------------


def explain_conflict(
    causes: Collection[RequirementInformation[Req, Cand]],
    provider: _Provider,
    roots: Sequence[RootRequirement],
    constraints: Sequence[RootRequirement] = (),
) -> str:
    """Render resolvelib's causes like pip: who asked for what, and which
    constraints (named by where they came from) narrowed it."""
    root_sources = {canonicalize_name(r.requirement.name): r.source for r in roots}
    constraint_sources: dict[str, str] = {}
    for root in constraints:
        if provider.target.evaluate_marker(root.requirement.marker):
            constraint_sources.setdefault(_spec_requirement(root.requirement).text, root.source)
    lines: list[str] = []
    idents: list[str] = []
    for info in causes:
        req = info.requirement
        ident = req.identifier
        if ident not in idents:
            idents.append(ident)
        if info.parent is None:
            name = _split_identifier(ident)[0]
            where = root_sources.get(name, "the input")
            lines.append(f"  - the user requested {req!r} ({where})")
        elif isinstance(req, PythonRequirement):
            lines.append(
                f"  - {info.parent!r} requires Python {req.specifier},"
                f" but the target has Python {provider.target.python_full_version}"
            )
        else:
            lines.append(f"  - {info.parent!r} depends on {req!r}")
    unique_lines = list(dict.fromkeys(lines))
    details: list[str] = []
    for ident in idents:
        if ident == PYTHON:
            continue
        name, _ = _split_identifier(ident)
        details.extend(_availability(name, provider))
        for c in provider.constraints.get(name, ()):
            came = constraint_sources.get(c.text)
            details.append(f"  - constraint: {c.text}" + (f" ({came})" if came else ""))
    names = ", ".join(i for i in idents if i != PYTHON) or "Python"
    text = f"no version of {names} satisfies every requirement:\n" + "\n".join(unique_lines)
    if details:
        text += "\n" + "\n".join(dict.fromkeys(details))
    return text


def _availability(name: NormalizedName, provider: _Provider) -> list[str]:
    try:
        releases = provider.releases(name)
    except BundlerError:
        return []
    skipped = provider.skipped.get(name, [])
    out: list[str] = []
    if releases:
        versions = ", ".join(_release_text(v, releases[v]) for v in sorted(releases))
        out.append(f"  - {name} versions usable on {provider.target.name}: {versions}")
    elif not skipped:
        out.append(f"  - {name} was not found on any configured index or find-links location")
    else:
        out.append(f"  - {name} has no distribution usable on {provider.target.name}")
    # A release is skipped only when none of its files is usable; it is
    # reported with why, for each kind of file it has.
    reasons: dict[Version, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for s in skipped:
        if s.file.version not in releases:
            reasons[s.file.version][s.file.kind.value].add(s.reason)
    by_reason: dict[str, list[Version]] = defaultdict(list)
    for version, kinds in reasons.items():
        why = "; ".join(f"{kind}: {', '.join(sorted(r))}" for kind, r in sorted(kinds.items()))
        by_reason[why].append(version)
    for why, found in sorted(by_reason.items(), key=lambda item: min(item[1])):
        listed = ", ".join(str(v) for v in sorted(found))
        out.append(f"  - {name} {listed}: skipped, {why}")
    return out


def _release_text(version: Version, files: Sequence[IndexFile]) -> str:
    """A version, marked as yanked when every usable file of it is (PEP 592:
    only an exact pin takes it then)."""
    if not files or not all(f.is_yanked for f in files):
        return str(version)
    reasons = sorted({f.yanked for f in files if f.yanked})
    return f"{version} (yanked{': ' + '; '.join(reasons) if reasons else ''})"
