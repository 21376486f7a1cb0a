"""A project's requirements on itself (``"app[socks]"`` in an extra or a
group), replaced by the requirements they stand for: the project is no
package of the index (pip-compile points such a requirement at the
project directory)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from bundler.spec.reqfile import ParsedRequirement

__all__ = ["SelfReferences", "and_marker"]


class SelfReferences:
    """Replaces a project's requirements on itself by what they stand for."""

    def __init__(
        self,
        name: str | None,
        dependencies: list[ParsedRequirement],
        extras: Mapping[NormalizedName, list[ParsedRequirement]],
        report: Callable[[str], None],
    ) -> None:
        self.name = name
        self.own = canonicalize_name(name) if name else None
        self.dependencies = dependencies
        self.extras = extras
        self.report = report

    def expand(
        self, reqs: Sequence[ParsedRequirement], seen: frozenset[NormalizedName]
    ) -> list[ParsedRequirement]:
        """``reqs`` with each self-reference expanded (``seen``: the extras
        being expanded already, which are not expanded again)."""
        out: list[ParsedRequirement] = []
        for req in reqs:
            if req.name != self.own:
                out.append(req)
            elif self._usable(req):
                out += self._expand_one(req, seen)
        return out

    def _usable(self, req: ParsedRequirement) -> bool:
        """Whether a self-reference is bare and names declared extras."""
        name = self.name
        if req.url is not None or req.requirement.specifier:
            self.report(
                f"{req.source}: {req.line!r} names the project itself with a version"
                " or URL; name it bare, with extras: "
                f"{name}[{','.join(sorted(req.requirement.extras)) or 'extra'}]"
            )
            return False
        wanted = [canonicalize_name(e) for e in sorted(req.requirement.extras)]
        unknown = [e for e in wanted if e not in self.extras]
        if unknown:
            self.report(
                f"{req.source}: {req.line!r} asks for the extra {', '.join(unknown)},"
                f" which {name} does not declare"
            )
            return False
        return True

    def _expand_one(
        self, req: ParsedRequirement, seen: frozenset[NormalizedName]
    ) -> list[ParsedRequirement]:
        wanted = [canonicalize_name(e) for e in sorted(req.requirement.extras)]
        parts = list(self.dependencies) if not seen else []
        for extra in wanted:
            if extra not in seen:
                parts += self.expand(self.extras[extra], seen | {extra})
        return [and_marker(p, req.requirement.marker) for p in parts]


def and_marker(req: ParsedRequirement, marker: Marker | None) -> ParsedRequirement:
    """``req`` under the marker of the self-reference that brought it in."""
    if marker is None:
        return req
    combined = Requirement(str(req.requirement))
    mine = combined.marker
    combined.marker = Marker(f"({mine}) and ({marker})" if mine is not None else str(marker))
    return dataclasses.replace(req, requirement=combined, line=str(combined))
