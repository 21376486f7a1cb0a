"""Project files as ``bundle lock`` inputs, read as pip-compile reads them.

``pyproject.toml``: PEP 621 ``[project] dependencies`` and the
``optional-dependencies`` of the extras asked for, and PEP 735
``[dependency-groups]`` for the groups asked for.  ``setup.cfg``:
setuptools' ``[options] install_requires`` and
``[options.extras_require]``.  The parsers are pure (text in, a
:class:`Project` out, every problem collected); a project whose
dependencies only its build backend can tell (listed in ``[project]
dynamic``, or computed by ``setup.py``) is marked ``dynamic`` for the
caller to prepare its metadata.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from bundler.errors import BundlerError, InputFileError, MultipleErrors, UsageError
from bundler.spec.reqfile import ParsedRequirement, ReadFile, requirement_from_text
from bundler.spec.selfrefs import SelfReferences

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "INCLUDE_GROUP",
    "PROJECT_FILES",
    "PYPROJECT",
    "SETUP_CFG",
    "SETUP_PY",
    "Project",
    "ProjectProblems",
    "ProjectSelection",
    "expand_self_references",
    "is_project_file",
    "parse_pyproject",
    "parse_setup_cfg",
    "project_via",
    "read_project",
    "requirements_from_texts",
    "select_requirements",
]

PYPROJECT = "pyproject.toml"
SETUP_CFG = "setup.cfg"
SETUP_PY = "setup.py"
# pip-compile's METADATA_FILENAMES: inputs read as a project, not as a
# requirements file.
PROJECT_FILES = frozenset({PYPROJECT, SETUP_CFG, SETUP_PY})
# PEP 735: a group entry that includes another group.
INCLUDE_GROUP = "include-group"


def is_project_file(path: Path) -> bool:
    """Whether ``path`` names a project (pyproject.toml, setup.cfg, setup.py)."""
    return path.name in PROJECT_FILES


@dataclass(frozen=True)
class ProjectSelection:
    """What to lock of a project besides its dependencies (``--extra``,
    ``--all-extras``, ``--group``), names normalized (PEP 685, PEP 735)."""

    extras: tuple[NormalizedName, ...] = ()
    all_extras: bool = False
    groups: tuple[NormalizedName, ...] = ()

    @property
    def asked(self) -> bool:
        return bool(self.extras or self.all_extras or self.groups)


@dataclass(frozen=True)
class Project:
    """What a project file declares, self-references expanded."""

    path: str  # as given, for messages and "# via name (path)"
    name: str | None
    dependencies: tuple[ParsedRequirement, ...] = ()
    extras: Mapping[NormalizedName, tuple[ParsedRequirement, ...]] = field(default_factory=dict)
    groups: Mapping[NormalizedName, tuple[ParsedRequirement, ...]] = field(default_factory=dict)
    # Only the build backend can tell the dependencies and extras (then
    # empty here): listed in [project] dynamic, or a setup.py computes them.
    dynamic: bool = False


def project_via(name: str | None, path: str, group: str | None = None) -> str:
    """What a lock's ``# via`` says of a project's requirement: pip-compile's
    ``name (pyproject.toml)``; uv's ``name (pyproject.toml:group)``."""
    where = f"{path}:{group}" if group else path
    return f"{name} ({where})" if name else f"({where})"


class ProjectProblems:
    """The problems found in one project file, raised together."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[BundlerError] = []

    def add(self, message: str, hint: str | None = None) -> None:
        self.errors.append(InputFileError(self.path, None, message, hint=hint))

    def raise_any(self) -> None:
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else MultipleErrors(self.errors)


def _string_list(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def requirements_from_texts(
    texts: Iterable[tuple[str, str]], path: str, base_dir: str, via: str, problems: ProjectProblems
) -> list[ParsedRequirement]:
    """(where, text) pairs as requirements; bad ones recorded in ``problems``."""
    out: list[ParsedRequirement] = []
    for where, text in texts:
        try:
            out.append(
                requirement_from_text(
                    text, source=f"{path}: {where}", comes_from=path, base_dir=base_dir, via=via
                )
            )
        except BundlerError as err:
            problems.errors.append(err)
    return out


def parse_pyproject(data: bytes, path: str, *, has_setup_py: bool = False) -> Project:
    """Read ``pyproject.toml`` (its bytes; ``path`` as the user gave it).

    ``has_setup_py``: a setup.py lies beside it, so a file with no
    ``[project]`` table is a setuptools project whose dependencies its
    build backend tells.  Raises :class:`InputFileError` (or
    :class:`MultipleErrors`) naming the key of every problem."""
    problems = ProjectProblems(path)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputFileError(path, None, f"not a valid TOML file: {err}") from err
    base_dir = os.path.dirname(path)
    project = doc.get("project")
    name: str | None = None
    dynamic = False
    dependencies: list[ParsedRequirement] = []
    extras: dict[NormalizedName, list[ParsedRequirement]] = {}
    if project is None:
        dynamic = has_setup_py
        if not dynamic and "dependency-groups" not in doc:
            problems.add(
                "no [project] table (PEP 621) and no setup.py beside it: nothing to lock",
                hint="declare [project] dependencies, or lock a requirements.in",
            )
    elif not isinstance(project, dict):
        problems.add("[project] must be a table (PEP 621)")
    else:
        raw_name = project.get("name")
        if not isinstance(raw_name, str) or not raw_name.strip():
            problems.add("[project] name is missing (PEP 621 requires it)")
        else:
            name = raw_name.strip()
        listed = project.get("dynamic", [])
        if _string_list(listed) is None:
            problems.add("[project] dynamic must be a list of field names")
            listed = []
        dynamic = "dependencies" in listed or "optional-dependencies" in listed
        via = project_via(name, path)
        if not dynamic:
            dependencies = _pyproject_dependencies(project, path, base_dir, via, problems)
            extras = _pyproject_extras(project, path, base_dir, via, problems)
    groups = _dependency_groups(doc.get("dependency-groups"), path, base_dir, name, problems)
    problems.raise_any()
    expanded = expand_self_references(name, dependencies, extras, groups, path, problems)
    problems.raise_any()
    return dataclasses.replace(expanded, dynamic=dynamic)


def _pyproject_dependencies(
    project: dict[str, object], path: str, base_dir: str, via: str, problems: ProjectProblems
) -> list[ParsedRequirement]:
    raw = project.get("dependencies", [])
    texts = _string_list(raw)
    if texts is None:
        problems.add("[project] dependencies must be a list of PEP 508 strings")
        return []
    where = "[project] dependencies"
    return requirements_from_texts(
        ((f"{where}[{i}]", t) for i, t in enumerate(texts)), path, base_dir, via, problems
    )


def _pyproject_extras(
    project: dict[str, object], path: str, base_dir: str, via: str, problems: ProjectProblems
) -> dict[NormalizedName, list[ParsedRequirement]]:
    raw = project.get("optional-dependencies", {})
    if not isinstance(raw, dict):
        problems.add("[project.optional-dependencies] must be a table of lists")
        return {}
    out: dict[NormalizedName, list[ParsedRequirement]] = {}
    for extra, value in raw.items():
        where = f"[project.optional-dependencies] {extra}"
        texts = _string_list(value)
        if texts is None:
            problems.add(f"{where} must be a list of PEP 508 strings")
            continue
        key = canonicalize_name(extra)
        if key in out:
            problems.add(f"{where}: the extra {key} is declared twice (PEP 685 names)")
            continue
        out[key] = requirements_from_texts(
            ((f"{where}[{i}]", t) for i, t in enumerate(texts)), path, base_dir, via, problems
        )
    return out


def _dependency_groups(
    table: object, path: str, base_dir: str, name: str | None, problems: ProjectProblems
) -> dict[NormalizedName, list[ParsedRequirement]]:
    """PEP 735 groups, each with its includes expanded (cycles refused)."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        problems.add("[dependency-groups] must be a table (PEP 735)")
        return {}
    raw: dict[NormalizedName, tuple[str, object]] = {}
    for group, value in table.items():
        key = canonicalize_name(group)
        if key in raw:
            problems.add(
                f"[dependency-groups] {group}: the group {key} is declared twice"
                f" (as {raw[key][0]!r} too; PEP 735 compares normalized names)"
            )
            continue
        raw[key] = (group, value)
    reader = _GroupReader(raw, path, base_dir, name, problems)
    for key in raw:
        reader.expand(key, ())
    return reader.expanded


class _GroupReader:
    """Expands PEP 735 groups, each once, following their includes."""

    def __init__(
        self,
        raw: Mapping[NormalizedName, tuple[str, object]],
        path: str,
        base_dir: str,
        name: str | None,
        problems: ProjectProblems,
    ) -> None:
        self.raw = raw
        self.path = path
        self.base_dir = base_dir
        self.name = name
        self.problems = problems
        self.expanded: dict[NormalizedName, list[ParsedRequirement]] = {}

    def expand(
        self, key: NormalizedName, chain: tuple[NormalizedName, ...]
    ) -> list[ParsedRequirement]:
        """The requirements of group ``key``, reached through ``chain``."""
        if key in self.expanded:
            return self.expanded[key]
        group, value = self.raw[key]
        where = f"[dependency-groups] {group}"
        if not isinstance(value, list):
            self.problems.add(f"{where} must be a list (PEP 735)")
            self.expanded[key] = []
            return []
        found: list[ParsedRequirement] = []
        via = project_via(self.name, self.path, key)
        for i, item in enumerate(value):
            found += self._item(item, f"{where}[{i}]", via, key, chain)
        self.expanded[key] = found
        return found

    def _item(
        self,
        item: object,
        where: str,
        via: str,
        key: NormalizedName,
        chain: tuple[NormalizedName, ...],
    ) -> list[ParsedRequirement]:
        """One entry of a group: a requirement string or an include."""
        if isinstance(item, str):
            return requirements_from_texts(
                [(where, item)], self.path, self.base_dir, via, self.problems
            )
        if not (isinstance(item, dict) and set(item) == {INCLUDE_GROUP}):
            self.problems.add(
                f"{where}: {item!r} is neither a requirement string nor"
                f' {{{INCLUDE_GROUP} = "name"}} (PEP 735)'
            )
            return []
        included = item[INCLUDE_GROUP]
        target = canonicalize_name(included) if isinstance(included, str) else None
        if target is None or target not in self.raw:
            self.problems.add(
                f"{where}: includes the group {included!r}, which is not declared",
                hint=f"declared groups: {', '.join(sorted(self.raw)) or 'none'}",
            )
            return []
        if target in (*chain, key):
            cycle = " -> ".join((*chain, key, target))
            self.problems.add(f"{where}: the groups include one another ({cycle})")
            return []
        # uv: an included requirement is said to come from the group that includes it.
        return [dataclasses.replace(r, via=via) for r in self.expand(target, (*chain, key))]


def expand_self_references(
    name: str | None,
    dependencies: list[ParsedRequirement],
    extras: Mapping[NormalizedName, list[ParsedRequirement]],
    groups: Mapping[NormalizedName, list[ParsedRequirement]],
    path: str,
    problems: ProjectProblems,
) -> Project:
    """A requirement on the project itself (``"app[socks]"`` in an extra or
    a group) stands for its dependencies and those extras' own: the project
    is no package of the index (pip-compile points such a requirement at
    the project directory)."""
    expander = SelfReferences(name, dependencies, extras, problems.add)
    return Project(
        path=path,
        name=name,
        dependencies=tuple(dependencies),
        extras={e: tuple(expander.expand(r, frozenset({e}))) for e, r in extras.items()},
        groups={g: tuple(expander.expand(r, frozenset())) for g, r in groups.items()},
    )


def parse_setup_cfg(
    text: str, path: str, *, read_file: ReadFile | None = None, has_setup_py: bool = False
) -> Project:
    """Read setuptools' ``setup.cfg``: ``[metadata] name``, ``[options]
    install_requires`` and ``[options.extras_require]``, each a list of
    lines or one line split at ``;`` (setuptools' ``list-semi``), or
    ``file:`` paths read through ``read_file``.  With no
    ``install_requires`` and a ``setup.py`` beside it, the dependencies are
    ``setup.py``'s to tell (``dynamic``)."""
    problems = ProjectProblems(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as err:
        raise InputFileError(path, None, f"not a valid setup.cfg: {err.message}") from err
    name = parser.get("metadata", "name", fallback=None)
    name = name.strip() if name and name.strip() else None
    base_dir = os.path.dirname(path)
    via = project_via(name, path)
    raw = parser.get("options", "install_requires", fallback=None)
    if raw is None and has_setup_py:
        return Project(path=path, name=name, dynamic=True)

    def values(key: str, value: str) -> list[tuple[str, str]]:
        lines = _setup_cfg_list(value, base_dir, read_file, problems, key)
        return [(f"{key}[{i}]", line) for i, line in enumerate(lines)]

    dependencies = requirements_from_texts(
        values("[options] install_requires", raw or ""), path, base_dir, via, problems
    )
    extras: dict[NormalizedName, list[ParsedRequirement]] = {}
    if parser.has_section("options.extras_require"):
        for extra, value in parser.items("options.extras_require"):
            where = f"[options.extras_require] {extra}"
            extras[canonicalize_name(extra)] = requirements_from_texts(
                values(where, value), path, base_dir, via, problems
            )
    problems.raise_any()
    project = expand_self_references(name, dependencies, extras, {}, path, problems)
    problems.raise_any()
    return project


def _setup_cfg_list(
    value: str, base_dir: str, read_file: ReadFile | None, problems: ProjectProblems, where: str
) -> list[str]:
    # setuptools (config/setupcfg.py): _parse_requirements_list.
    value = value.strip()
    if value.startswith("file:"):
        texts: list[str] = []
        for ref in (r.strip() for r in value[len("file:") :].split(",")):
            full = os.path.normpath(os.path.join(base_dir, ref))
            if os.path.isabs(ref) or ref.startswith(".."):
                problems.add(f"{where}: file: {ref} is outside the project directory")
            elif read_file is None:
                problems.add(f"{where}: cannot read file: {ref} here")
            else:
                try:
                    texts.append(read_file(full))
                except OSError as err:
                    problems.add(f"{where}: cannot read file: {full}: {err.strerror or err}")
        value = "\n".join(texts)
    items = value.splitlines() if "\n" in value else value.split(";")
    return [s for s in (i.strip() for i in items) if s and not s.startswith("#")]


def read_project(path: Path) -> Project:
    """Read a project file from disk (``setup.py`` alone: dynamic)."""
    shown = str(path)
    beside = path.with_name(SETUP_PY).is_file()
    try:
        if path.name == SETUP_PY:
            name = None
            return Project(path=shown, name=name, dynamic=True)
        if path.name == PYPROJECT:
            return parse_pyproject(path.read_bytes(), shown, has_setup_py=beside)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(shown, None, f"cannot read: {err}") from err
    return parse_setup_cfg(
        text, shown, read_file=lambda p: Path(p).read_text(encoding="utf-8"), has_setup_py=beside
    )


def select_requirements(
    projects: Sequence[Project], selection: ProjectSelection
) -> tuple[ParsedRequirement, ...]:
    """The requirements to lock: every project's dependencies, then those
    of the extras and groups ``selection`` names.  An extra or group that no
    project declares is an error listing those that exist."""
    out: list[ParsedRequirement] = []
    errors: list[BundlerError] = []
    for project in projects:
        out += project.dependencies
        wanted = sorted(project.extras) if selection.all_extras else selection.extras
        for extra in wanted:
            out += project.extras.get(extra, ())
        for group in selection.groups:
            out += project.groups.get(group, ())
    for option, asked, known in (
        ("--extra", selection.extras, {e for p in projects for e in p.extras}),
        ("--group", selection.groups, {g for p in projects for g in p.groups}),
    ):
        for name in asked:
            if name not in known:
                files = ", ".join(p.path for p in projects)
                errors.append(
                    UsageError(
                        f"{option} {name}: {files} declares no such"
                        f" {'extra' if option == '--extra' else 'dependency group'}",
                        hint=f"declared: {', '.join(sorted(known)) or 'none'}",
                    )
                )
    if errors:
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    return tuple(out)
