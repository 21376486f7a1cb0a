"""Why a resolution failed, and what it did, in words.

Conflicts are rendered from resolvelib's structured causes as pip renders
them ("X depends on Y, but Z depends on W"), with the releases usable on
the target, the ones skipped and why, and the constraints that narrowed
the choice, each named by where it came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

import resolvelib
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib.structs import RequirementInformation

from bundler.errors import BundlerError
from bundler.models import IndexFile
from bundler.resolve.candidates import (
    PYTHON,
    Cand,
    PythonRequirement,
    Req,
    SpecRequirement,
    spec_requirement,
    split_identifier,
)
from bundler.resolve.provider import Provider

if TYPE_CHECKING:
    from bundler.resolve.resolver import RootRequirement

__all__ = ["ExplainingReporter", "explain_conflict"]


class ExplainingReporter(resolvelib.BaseReporter):  # type: ignore[type-arg]
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


def explain_conflict(
    causes: Collection[RequirementInformation[Req, Cand]],
    provider: Provider,
    roots: Sequence[RootRequirement],
    constraints: Sequence[RootRequirement] = (),
) -> str:
    """Render resolvelib's causes like pip: who asked for what, and which
    constraints (named by where they came from) narrowed it."""
    # By the line as written first: a project asked for on two lines (two
    # files) is named by each line's own place, not the last one's.
    root_lines: dict[str, str] = {}
    root_sources: dict[str, str] = {}
    for root in roots:
        root_lines.setdefault(spec_requirement(root.requirement).text, root.source)
        root_sources.setdefault(canonicalize_name(root.requirement.name), root.source)
    constraint_sources: dict[str, str] = {}
    for root in constraints:
        if provider.target.evaluate_marker(root.requirement.marker):
            constraint_sources.setdefault(spec_requirement(root.requirement).text, root.source)
    lines: list[str] = []
    idents: list[str] = []
    for info in causes:
        req = info.requirement
        ident = req.identifier
        if ident not in idents:
            idents.append(ident)
        if info.parent is None:
            name = split_identifier(ident)[0]
            text = req.text if isinstance(req, SpecRequirement) else None
            where = root_lines.get(text or "") or root_sources.get(name, "the input")
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
        name, _ = split_identifier(ident)
        details.extend(_availability(name, provider))
        for c in provider.constraints.get(name, ()):
            came = constraint_sources.get(c.text)
            details.append(f"  - constraint: {c.text}" + (f" ({came})" if came else ""))
    names = ", ".join(i for i in idents if i != PYTHON) or "Python"
    text = f"no version of {names} satisfies every requirement:\n" + "\n".join(unique_lines)
    if details:
        text += "\n" + "\n".join(dict.fromkeys(details))
    return text


def _availability(name: NormalizedName, provider: Provider) -> list[str]:
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
