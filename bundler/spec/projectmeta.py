"""A project's requirements from the core metadata its build backend
prepared (``Requires-Dist``, an extra's under ``extra == "name"``), for
projects whose dependencies are dynamic."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from bundler.spec.projectinput import (
    Project,
    ProjectProblems,
    expand_self_references,
    project_via,
    requirements_from_texts,
)
from bundler.spec.reqfile import ParsedRequirement

__all__ = ["project_from_metadata"]

# Core metadata's clause for an extra, in packaging's normal form.
_EXTRA_CLAUSE = re.compile(r'extra == "([^"]+)"')


def project_from_metadata(
    static: Project, name: str, requires_dist: Sequence[str], provides_extra: Sequence[str]
) -> Project:
    """``static`` (its groups) with the dependencies and extras its build
    backend gave (core metadata: ``Requires-Dist`` lines, an extra's under
    ``extra == "name"``).  Raises :class:`InputFileError` for a line whose
    extra cannot be told (``extra`` under ``or``)."""
    path = static.path
    problems = ProjectProblems(path)
    where = "Requires-Dist (from the build backend)"
    via = project_via(name, path)
    base_dir = os.path.dirname(path)
    dependencies: list[ParsedRequirement] = []
    extras: dict[NormalizedName, list[ParsedRequirement]] = {
        canonicalize_name(e): [] for e in provides_extra
    }
    for i, line in enumerate(requires_dist):
        req = Requirement(line)
        try:
            extra, req.marker = _split_extra(req.marker)
        except ValueError:
            problems.add(
                f"{where}[{i}]: cannot tell which extra {line!r} belongs to",
                hint="write its marker as \"... and extra == 'name'\"",
            )
            continue
        found = requirements_from_texts(
            [(f"{where}[{i}]", str(req))], path, base_dir, via, problems
        )
        if extra is None:
            dependencies += found
        else:
            extras.setdefault(extra, []).extend(found)
    problems.raise_any()
    project = expand_self_references(name, dependencies, extras, {}, path, problems)
    problems.raise_any()
    return dataclasses.replace(project, groups=static.groups)


def _split_extra(marker: Marker | None) -> tuple[NormalizedName | None, Marker | None]:
    """(the extra, the rest of the marker) for core metadata's ``rest and
    extra == "x"``; (None, marker) when no extra is named.  ValueError when
    the extra cannot be told apart (under an ``or``)."""
    if marker is None:
        return None, None
    text = str(marker)  # packaging's normal form: extra == "name"
    if "extra" not in text:
        return None, marker
    head, sep, tail = text.rpartition(" and ")
    clause = _EXTRA_CLAUSE.fullmatch(tail if sep else text)
    if clause is None:
        raise ValueError(text)
    extra = clause.group(1)
    if not sep:
        return canonicalize_name(extra), None
    depth = 0
    for i, char in enumerate(head):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and head.startswith(" or ", i):
            raise ValueError(text)
    if "extra" in head:
        raise ValueError(text)
    return canonicalize_name(extra), Marker(head)
