"""What a lock is made from: requirements, constraints and project files
read and merged into one input, dynamic projects prepared through their
build backend, the lock options, and the record of inputs a lock keeps."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import NormalizedName

from bundler.errors import BundlerError, MultipleErrors, UsageError
from bundler.index.client import HttpClient
from bundler.models import IndexSettings
from bundler.redact import strip_credentials
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.target import Target

if TYPE_CHECKING:
    from bundler.lock.check import Inputs, Line
    from bundler.spec.projectinput import Project, ProjectSelection
    from bundler.spec.reqfile import ParsedRequirement, RequirementsInput
    from bundler.spec.selection import BinaryPolicy

__all__ = [
    "STDIN",
    "LockOptions",
    "binary_policy",
    "lock_inputs",
    "merge_inputs",
    "prepare_projects",
    "read_requirements",
    "recorded_line",
]

# An input file name that means standard input (pip-compile's).
STDIN = "-"


@dataclass(frozen=True)
class LockOptions:
    allow_prereleases: bool = False
    upgrade: bool = False
    upgrade_packages: frozenset[NormalizedName] = frozenset()
    # pip-compile's -P NAME==1.2.3 (any specifier): a constraint on the
    # upgraded project, so it moves to exactly that version, up or down.
    upgrade_constraints: tuple[Requirement, ...] = ()
    policy: BinaryPolicy | None = None  # None: from the requirements files
    # --exclude-newer: only files uploaded before it (an aware datetime).
    exclude_newer: datetime | None = None


def read_requirements(
    paths: Sequence[Path],
    selection: ProjectSelection | None = None,
    constraints: Sequence[Path] = (),
    stdin: str | None = None,
) -> RequirementsInput:
    """Parse requirements files and project files (pyproject.toml,
    setup.cfg: their dependencies and the extras and groups ``selection``
    names) into one input, with the constraints files given on the command
    line (pip-compile's ``-c``).  The path ``-`` stands for ``stdin``, the
    text of a requirements file whose relative paths are relative to the
    working directory (pip-compile's ``-r -``)."""
    from bundler.spec.projectinput import ProjectSelection

    selection = selection or ProjectSelection()
    if not paths:
        raise UsageError("no requirements file given", hint="bundle lock requirements.in")
    errors: list[BundlerError] = []
    inputs, projects = _read_inputs(paths, stdin, errors)
    constrained = _read_constraints(constraints, errors)
    if selection.asked and not projects and not errors:
        # pip-compile: "--extra has effect only with setup.py and PEP-517 input formats".
        errors.append(
            UsageError(
                "--extra, --all-extras and --group select from a project:"
                f" {', '.join(str(p) for p in paths)} is no pyproject.toml or setup.cfg",
                hint="bundle lock pyproject.toml --extra NAME",
            )
        )
    if errors:
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    if projects:
        inputs.append(_projects_input(projects, selection))
    # Their options apply, as those of a file included with -c do.
    return merge_inputs([*inputs, *constrained])


def _read_inputs(
    paths: Sequence[Path], stdin: str | None, errors: list[BundlerError]
) -> tuple[list[RequirementsInput], list[Project]]:
    """The requirements files and the project files among ``paths``; what
    cannot be read goes to ``errors``."""
    from bundler.spec.projectinput import is_project_file, read_project
    from bundler.spec.reqfile import (
        parse_requirements_file,
        parse_requirements_text,
        read_requirements_file,
    )

    inputs: list[RequirementsInput] = []
    projects: list[Project] = []
    for path in paths:
        try:
            if str(path) == STDIN and stdin is not None:
                inputs.append(
                    parse_requirements_text(stdin, STDIN, read_file=read_requirements_file)
                )
            elif not path.is_file():
                errors.append(UsageError(f"{path}: no such file"))
            elif is_project_file(path):
                projects.append(read_project(path))
            else:
                inputs.append(parse_requirements_file(path))
        except BundlerError as err:
            errors.append(err)
    return inputs, projects


def _read_constraints(paths: Sequence[Path], errors: list[BundlerError]) -> list[RequirementsInput]:
    from bundler.spec.reqfile import parse_requirements_file

    constrained: list[RequirementsInput] = []
    for path in paths:
        if not path.is_file():
            errors.append(UsageError(f"-c {path}: no such constraints file"))
            continue
        try:
            constrained.append(parse_requirements_file(path, constraint=True))
        except BundlerError as err:
            errors.append(err)
    return constrained


def _projects_input(projects: Sequence[Project], selection: ProjectSelection) -> RequirementsInput:
    """The projects as one input.  A project's build backend runs once the
    sources are known (``prepare_projects``); the extras and groups are then
    selected from every project at once."""
    from bundler.spec.projectinput import select_requirements
    from bundler.spec.reqfile import RequirementsInput

    dynamic = any(p.dynamic for p in projects)
    return RequirementsInput(
        requirements=() if dynamic else select_requirements(projects, selection),
        constraints=(),
        indexes=IndexSettings(),
        files=tuple(p.path for p in projects),
        projects_to_prepare=tuple(p.path for p in projects) if dynamic else (),
    )


def merge_inputs(inputs: Sequence[RequirementsInput]) -> RequirementsInput:
    """``inputs`` as one, in order: lines and sources add up, the last
    ``--index-url`` given wins, a flag given anywhere holds."""
    first = inputs[0]
    for other in inputs[1:]:
        first = dataclasses.replace(
            first,
            requirements=first.requirements + other.requirements,
            constraints=first.constraints + other.constraints,
            indexes=IndexSettings(
                index_url=other.indexes.index_url
                if other.index_url_set
                else first.indexes.index_url,
                extra_index_urls=first.indexes.extra_index_urls + other.indexes.extra_index_urls,
                find_links=first.indexes.find_links + other.indexes.find_links,
            ),
            index_url_set=first.index_url_set or other.index_url_set,
            no_index=first.no_index or other.no_index,
            pre=first.pre or other.pre,
            only_binary=first.only_binary | other.only_binary,
            no_binary=first.no_binary | other.no_binary,
            prefer_binary=first.prefer_binary or other.prefer_binary,
            files=first.files + other.files,
            projects_to_prepare=first.projects_to_prepare + other.projects_to_prepare,
        )
    return first


def prepare_projects(
    requirements: RequirementsInput,
    selection: ProjectSelection,
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
) -> RequirementsInput:
    """``requirements`` with those of its projects to prepare added: each
    project whose dependencies only its build backend can tell has its
    metadata prepared (build requirements from ``indexes``), then the
    extras and groups ``selection`` names are taken from every project."""
    if not requirements.projects_to_prepare:
        return requirements
    from bundler.index.collector import PackageIndex
    from bundler.resolve.builddeps import prepare_project_metadata
    from bundler.resolve.resolver import ResolveOptions
    from bundler.spec.metadata import parse_metadata
    from bundler.spec.projectinput import read_project, select_requirements
    from bundler.spec.projectmeta import project_from_metadata

    projects: list[Project] = []
    with PackageIndex(indexes, client, reporter, workers=workers) as index:
        for shown in requirements.projects_to_prepare:
            path = Path(shown)
            project = read_project(path)
            if project.dynamic:
                raw = prepare_project_metadata(
                    path.parent if str(path.parent) else Path("."),
                    shown,
                    index,
                    client,
                    ResolveOptions(allow_prereleases=requirements.pre),
                    reporter,
                )
                meta = parse_metadata(raw, f"{shown} (metadata from the build backend)")
                project = project_from_metadata(
                    project, project.name or meta.name, meta.requires_dist, meta.provides_extra
                )
            projects.append(project)
    return dataclasses.replace(
        requirements,
        requirements=requirements.requirements + select_requirements(projects, selection),
        projects_to_prepare=(),
    )


def binary_policy(requirements: RequirementsInput, options: LockOptions) -> BinaryPolicy:
    from bundler.spec.selection import BinaryPolicy

    return options.policy or BinaryPolicy(
        only_binary=frozenset(requirements.only_binary),
        no_binary=frozenset(requirements.no_binary),
        prefer_binary=requirements.prefer_binary,
    )


def lock_inputs(
    requirements: RequirementsInput,
    targets: Sequence[Target],
    indexes: IndexSettings,
    options: LockOptions,
) -> Inputs:
    """What a lock of these inputs records (``bundle lock --check`` compares
    it with the record in the lock): the requirement and constraint lines
    as ``lock`` records them, the targets, and the options that change the
    pins."""
    from bundler.lock.check import make_inputs, option_lines

    policy = binary_policy(requirements, options)
    return make_inputs(
        [_input_line(r) for r in requirements.requirements],
        [_input_line(c) for c in requirements.constraints],
        [t.name for t in targets],
        option_lines(
            allow_prereleases=options.allow_prereleases or requirements.pre,
            only_binary=policy.only_binary,
            no_binary=policy.no_binary,
            prefer_binary=policy.prefer_binary,
            indexes=indexes,
            exclude_newer=options.exclude_newer,
        ),
    )


def _input_line(req: ParsedRequirement) -> Line:
    from bundler.lock.check import Line

    path = req.source.rpartition(":")[0] if req.lineno else req.source
    return Line(recorded_line(req), path or req.source, req.lineno or None)


def recorded_line(req: ParsedRequirement) -> str:
    """The line a lock records for ``req``: as written, credentials removed."""
    return req.line or strip_credentials(str(req.requirement))
