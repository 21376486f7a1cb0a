"""The resolvelib provider: pip's semantics over a ``PackageSource``.

Extras are candidates pinned to their base release, Requires-Python is a
pseudo package, PEP 592 yanked rules and pip's pre-release rules apply,
constraints narrow every requirement of their project, and identifiers are
picked in pip's preference order.  Files are evaluated for the target only
for releases the resolver actually considers.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import resolvelib
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib.structs import Matches, RequirementInformation

from bundler.errors import InvalidDistribution
from bundler.models import CoreMetadata, DistKind, IndexFile
from bundler.resolve.candidates import (
    PYTHON,
    Cand,
    Candidate,
    ExplicitRequirement,
    PythonCandidate,
    PythonRequirement,
    Req,
    SpecRequirement,
    is_pinned,
    make_candidate,
    parse_dependency,
    python_requirement,
    split_identifier,
)
from bundler.resolve.fetchahead import FetchAhead
from bundler.spec.project import ProjectPage
from bundler.spec.selection import Skipped, usable_files
from bundler.spec.target import Target

if TYPE_CHECKING:
    from bundler.resolve.resolver import PackageSource, ResolveOptions

__all__ = ["Provider"]

# An identifier met in this many backtracking causes is looked at first.
_PROMOTE_AFTER = 5


@dataclass(frozen=True)
class _Query:
    """What ``find_matches`` asks of one project's releases."""

    name: NormalizedName
    extras: frozenset[NormalizedName]
    specifier: SpecifierSet  # every requirement's and constraint's, combined
    page: ProjectPage
    excluded: frozenset[tuple[Version, str]]  # (version, chosen url) known incompatible
    prereleases: bool | None  # None: PEP 440's default
    preferred: Version | None  # the pin of an existing lock


class Provider(resolvelib.AbstractProvider):  # type: ignore[type-arg]
    """Answers resolvelib's questions for one target, remembering what it
    read (pages, usable files, markers, metadata) so that another target
    can be checked against it (``bundler.resolve.replay``)."""

    def __init__(
        self,
        source: PackageSource,
        target: Target,
        options: ResolveOptions,
        constraints: Mapping[NormalizedName, list[SpecRequirement]],
        user_order: Mapping[str, int],
        fetch_ahead: FetchAhead,
        hashes: Mapping[NormalizedName, Mapping[str, set[str]]] | None = None,
    ) -> None:
        self.source = source
        # A project's --hash values from the requirements, by algorithm.
        self.hashes = hashes or {}
        self.target = target
        self.options = options
        self.constraints = constraints
        self.user_order = user_order
        self.fetch_ahead = fetch_ahead
        self.skipped: dict[NormalizedName, list[Skipped]] = {}
        self.metadata: dict[tuple[NormalizedName, Version], CoreMetadata] = {}
        # The candidate each release's metadata was read for (see Trace).
        self.read_for: dict[tuple[NormalizedName, Version], Candidate] = {}
        self._pages: dict[NormalizedName, ProjectPage] = {}
        self._markers: dict[tuple[int, str | None], tuple[Marker, bool]] = {}
        self._satisfied: dict[
            int, tuple[SpecRequirement | PythonRequirement, dict[Version, bool]]
        ] = {}
        self._usable_cache: dict[tuple[NormalizedName, Version], list[IndexFile]] = {}
        # Releases whose metadata is invalid, and why: skipped, as pip
        # skips them ("Ignoring version ... since it has invalid metadata").
        self.invalid: dict[tuple[NormalizedName, Version], str] = {}
        self._conflict_counts: dict[str, int] = defaultdict(int)
        self._promoted: set[str] = set()

    # -- what was read (for replay)

    def pages_read(self) -> dict[NormalizedName, ProjectPage]:
        """The project pages this resolution read, by name."""
        return dict(self._pages)

    def markers_evaluated(self) -> tuple[tuple[Marker, str | None, bool], ...]:
        """Every marker evaluated, with the extra it was evaluated for and
        the answer."""
        return tuple((m, extra, ok) for (_, extra), (m, ok) in self._markers.items())

    def usable_read(self) -> dict[tuple[NormalizedName, Version], list[IndexFile]]:
        """The usable files of every release looked at, by (name, version)."""
        return dict(self._usable_cache)

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
            allowed = self.hashes.get(name)
            if allowed:
                # pip's filter_unallowed_hashes: with --hash given, a file
                # whose hash is listed and not among them is not installed.
                refused = [f for f in cached if f.hashes and not _hash_allowed(f, allowed)]
                cached = [f for f in cached if f not in refused]
                skipped = [*skipped, *(Skipped(f, HASH_NOT_GIVEN) for f in refused)]
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
                    if self._conflict_counts[n] >= _PROMOTE_AFTER:
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

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Cand]],
    ) -> Matches[Cand]:
        if identifier == PYTHON:
            return self._python_matches(requirements[identifier], incompatibilities[identifier])
        name, extras = split_identifier(identifier)
        reqs: list[Req] = list(requirements[identifier])
        if extras:
            # An extras candidate must also satisfy what is asked of its base.
            reqs.extend(requirements.get(name, ()))
        excluded = frozenset(
            (c.version, c.chosen.url)
            for c in incompatibilities[identifier]
            if isinstance(c, Candidate)
        )
        specifier = SpecifierSet()
        for r in reqs:
            if isinstance(r, SpecRequirement):
                specifier &= r.specifier
        for c in self.constraints.get(name, ()):
            specifier &= c.specifier
        explicit = [r.candidate for r in reqs if isinstance(r, ExplicitRequirement)]
        if explicit:
            return self._explicit_matches(name, extras, explicit, specifier, excluded)
        query = _Query(
            name,
            extras,
            specifier,
            self._page(name),
            excluded,
            True if self.options.allow_prereleases else None,
            self.options.preferences.get(name),
        )
        if is_pinned(specifier) or self.options.policy.prefer_binary:
            return self._eager_matches(query)
        # resolvelib calls this again each time it walks the matches.
        return functools.partial(self._lazy_matches, query)

    def _python_matches(
        self, requirements: Iterator[Req], incompatibilities: Iterator[Cand]
    ) -> list[Cand]:
        pycand = PythonCandidate(self.target.python_version)
        ok = all(
            self._contains(r, pycand.version)
            for r in requirements
            if isinstance(r, PythonRequirement)
        )
        # A Python candidate backtracking marked incompatible must not
        # come back, or resolvelib loops until max_rounds.
        return [pycand] if ok and pycand not in set(incompatibilities) else []

    @staticmethod
    def _explicit_matches(
        name: NormalizedName,
        extras: frozenset[NormalizedName],
        explicit: Sequence[Candidate],
        specifier: SpecifierSet,
        excluded: frozenset[tuple[Version, str]],
    ) -> list[Cand]:
        """The one candidate every explicit requirement names, if they agree
        and the specifiers admit it."""
        first = explicit[0]
        if any(e.chosen.url != first.chosen.url or e.version != first.version for e in explicit):
            return []
        if not specifier.contains(first.version, prereleases=True):
            return []
        if (first.version, first.chosen.url) in excluded:
            return []
        return [Candidate(name, first.version, extras, first.files, first.chosen, first.direct)]

    def _eager_matches(self, query: _Query) -> list[Cand]:
        """Every candidate at once: few versions (pinned), or an order that
        needs every release's files (prefer-binary).  Only releases the
        specifier can admit are evaluated."""
        name, specifier = query.name, query.specifier
        releases = {
            v: u for v in query.page.matching(specifier, True) if (u := self._usable(name, v))
        }
        matching = list(specifier.filter(releases.keys(), prereleases=query.prereleases))
        # PEP 592: yanked files are ignored unless the specifier pins a
        # version (== / ===) that only yanked files satisfy.
        take_yanked = is_pinned(specifier) and all(
            f.is_yanked for v in matching for f in releases[v]
        )
        out: list[Cand] = []
        for version in matching:
            files = [f for f in releases[version] if not f.is_yanked or take_yanked]
            made = self._candidate(query, version, files)
            if made is not None:
                out.append(made)
        out.sort(key=self._sort_key, reverse=True)
        if query.preferred is not None:
            out.sort(key=lambda c: c.version != query.preferred)
        return out

    def _lazy_matches(self, query: _Query) -> Iterator[Cand]:
        """Newest first, evaluating files only as the resolver asks."""
        yielded = False
        for version in self._newest_first(query):
            made = self._candidate(query, version, self._unyanked(query.name, version))
            if made is not None:
                yielded = True
                yield made
        if yielded or query.prereleases is not None:
            return
        # pip filters the usable releases: when no final release is
        # usable, pre-releases are accepted (PEP 440).
        usable = [v for v in query.page.releases if self._usable(query.name, v)]
        seen: set[Version] = set()
        admitted = query.specifier.filter(usable, prereleases=None)
        for version in self._preferred_first(query, admitted):
            if version in seen:
                continue
            seen.add(version)
            made = self._candidate(query, version, self._unyanked(query.name, version))
            if made is not None:
                yield made

    @staticmethod
    def _newest_first(query: _Query) -> Iterable[Version]:
        found = query.page.matching(query.specifier, query.prereleases)
        preferred = query.preferred
        if preferred is not None and preferred in found:
            return (preferred, *(v for v in found if v != preferred))
        return found

    @staticmethod
    def _preferred_first(query: _Query, versions: Iterable[Version]) -> list[Version]:
        found = sorted(versions, reverse=True)
        preferred = query.preferred
        if preferred is not None and preferred in found:
            found.remove(preferred)
            found.insert(0, preferred)
        return found

    def _unyanked(self, name: NormalizedName, version: Version) -> list[IndexFile]:
        return [f for f in self._usable(name, version) if not f.is_yanked]

    def _candidate(
        self, query: _Query, version: Version, files: list[IndexFile]
    ) -> Candidate | None:
        if not files or (query.name, version) in self.invalid:
            return None
        made = make_candidate(
            query.name, version, query.extras, files, self.target, self.options.policy
        )
        if made is None or (made.version, made.chosen.url) in query.excluded:
            return None
        return made

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
        try:
            meta = self.get_metadata(candidate)
        except InvalidDistribution as err:
            if candidate.direct:
                raise  # the user named this very file
            # Rejected by a requirement on itself that it cannot meet: the
            # resolver backtracks and tries the next release.
            self.invalid[(candidate.name, candidate.version)] = str(err)
            name = candidate.name
            text = f"{name}!={candidate.version} (its metadata is invalid: {err})"
            spec = SpecifierSet(f"!={candidate.version}")
            return [SpecRequirement(name, candidate.extras, spec, text)]
        if meta.requires_python:
            # pip ignores an invalid Requires-Python too.
            with contextlib.suppress(ValueError):
                deps.append(python_requirement(meta.requires_python))
        provided = {canonicalize_name(e) for e in meta.provides_extra}
        # Old metadata may omit Provides-Extra; then trust the markers.
        wanted_extras = [e for e in candidate.extras if not provided or e in provided]
        seen: set[str] = set()
        for line in meta.requires_dist:
            marker, sreq = parse_dependency(line)
            if not self._marker_applies(marker, wanted_extras, candidate.extras):
                continue
            key = f"{sreq.identifier} {sreq.specifier}"
            if key in seen:
                continue
            seen.add(key)
            deps.append(sreq)
        self.fetch_ahead.start(d for d in deps if isinstance(d, SpecRequirement))
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
        """The metadata of ``candidate``'s chosen file, read once per release."""
        key = (candidate.name, candidate.version)
        meta = self.metadata.get(key)
        if meta is None:
            meta = self.source.get_metadata(candidate.chosen)
            if meta.name != candidate.name or (
                not candidate.direct and meta.version != candidate.version
            ):
                raise InvalidDistribution(
                    candidate.chosen.filename,
                    f"metadata says {meta.name} {meta.version}, but the file is listed as"
                    f" {candidate.name} {candidate.version}",
                )
            self.metadata[key] = meta
            self.read_for[key] = candidate
        return meta


HASH_NOT_GIVEN = "its hash is not one of the --hash values the requirements give"


def _hash_allowed(f: IndexFile, allowed: Mapping[str, set[str]]) -> bool:
    return any(f.hashes.get(algo) in digests for algo, digests in allowed.items())
