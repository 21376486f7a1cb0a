"""The requirements and candidates the provider hands to resolvelib.

As in pip's resolvelib glue: a release with extras is its own candidate,
pinned to its base release by an ``ExplicitRequirement``; Requires-Python is
a pseudo package (``PYTHON``) with one candidate, the target's Python.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.models import IndexFile
from bundler.spec.selection import BinaryPolicy, best_file
from bundler.spec.target import Target

__all__ = [
    "PYTHON",
    "Cand",
    "Candidate",
    "ExplicitRequirement",
    "PythonCandidate",
    "PythonRequirement",
    "Req",
    "SpecRequirement",
    "identifier_of",
    "is_pinned",
    "make_candidate",
    "parse_dependency",
    "python_requirement",
    "spec_requirement",
    "split_identifier",
]

PYTHON = "<python>"  # identifier of the Requires-Python pseudo package


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
        return identifier_of(self.name, self.extras)

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
        return identifier_of(self.name, self.extras)

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


def identifier_of(name: str, extras: frozenset[str]) -> str:
    """resolvelib's key for a project with extras: ``name[a,b]``."""
    if not extras:
        return name
    return f"{name}[{','.join(sorted(extras))}]"


def split_identifier(identifier: str) -> tuple[NormalizedName, frozenset[NormalizedName]]:
    """The project name and extras of an ``identifier_of`` key."""
    name, _, rest = identifier.partition("[")
    extras = frozenset(NormalizedName(e) for e in rest.rstrip("]").split(",") if e)
    return NormalizedName(name), extras


def make_candidate(
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


def is_pinned(specifier: SpecifierSet) -> bool:
    """Whether ``specifier`` names one version (``===``, or ``==`` without
    a wildcard)."""
    for s in specifier:
        if s.operator == "===":
            return True
        if s.operator == "==" and not s.version.endswith(".*"):
            return True
    return False


@functools.lru_cache(maxsize=1 << 12)
def python_requirement(requires_python: str) -> PythonRequirement:
    """One object per Requires-Python value (ValueError when invalid): the
    resolver checks every one of them against the target's Python on every
    round, and remembers the answers by object."""
    return PythonRequirement(SpecifierSet(requires_python))


@functools.lru_cache(maxsize=1 << 14)
def parse_dependency(line: str) -> tuple[Marker | None, SpecRequirement]:
    """A Requires-Dist line, parsed once for every candidate and target."""
    req = Requirement(line)
    return req.marker, spec_requirement(req)


def spec_requirement(req: Requirement) -> SpecRequirement:
    """``req`` as the resolver sees it (its marker left to the caller)."""
    extras = frozenset(canonicalize_name(e) for e in req.extras)
    text = str(req)
    if req.marker is not None:
        text = text.split(";", maxsplit=1)[0].strip()
    return SpecRequirement(canonicalize_name(req.name), extras, req.specifier, text)
