"""The ``[build-system]`` table an sdist declares (PEP 518, PEP 517), read
without running anything, with pip's defaults applied."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from bundler.errors import InvalidDistribution
from bundler.spec.archives import sdist_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "LEGACY_BACKEND",
    "LEGACY_REQUIRES",
    "BuildSystem",
    "parse_build_system",
    "read_build_system",
    "string_list",
]

# pip (pyproject.py): an sdist without a [build-system] table builds with
# setuptools' legacy backend and "setuptools>=40.8.0"; pips before 24.0
# (pip#12449), which fresh venvs of Python 3.9-3.12 get, add "wheel" too.
# The bundle serves every pip a target may run, so it takes both.
LEGACY_REQUIRES = ("setuptools>=40.8.0", "wheel")
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"


@dataclass(frozen=True)
class BuildSystem:
    """How an sdist is built: its ``[build-system]`` table, pip's defaults applied.

    ``legacy`` is true when the sdist names no build backend (no
    pyproject.toml, no ``[build-system]`` table, or no ``build-backend`` key),
    so pip falls back to setuptools' ``__legacy__`` backend.
    """

    requires: tuple[str, ...]
    backend: str | None
    backend_path: tuple[str, ...]
    legacy: bool


def string_list(value: object) -> list[str] | None:
    """``value`` when it is a list of strings, else None."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _bad_backend_path(entry: str) -> str | None:
    # PEP 517: backend-path entries are relative and stay inside the source tree.
    posix = entry.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return "is absolute"
    depth = 0
    for part in PurePosixPath(posix).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return "leaves the source tree"
    return None


def parse_build_system(pyproject: bytes | None, filename: str) -> BuildSystem:
    """The build system declared by a pyproject.toml (None: the sdist has none).

    Pure.  Every problem in the ``[build-system]`` table (invalid TOML, a
    requirement that is not PEP 508, wrong types, a backend-path leaving the
    tree) is reported in one ``InvalidDistribution`` naming ``filename``.
    """
    if pyproject is None:
        return BuildSystem(LEGACY_REQUIRES, LEGACY_BACKEND, (), legacy=True)
    try:
        data = tomllib.loads(pyproject.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InvalidDistribution(filename, f"pyproject.toml is not UTF-8: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise InvalidDistribution(filename, f"pyproject.toml is not valid TOML: {err}") from err
    table = data.get("build-system")
    if table is None:
        return BuildSystem(LEGACY_REQUIRES, LEGACY_BACKEND, (), legacy=True)
    if not isinstance(table, dict):
        raise InvalidDistribution(filename, "pyproject.toml: [build-system] is not a table")
    problems: list[str] = []
    requires = _requires(table, problems)
    backend = table.get("build-backend")
    if backend is not None and not (isinstance(backend, str) and backend.strip()):
        problems.append("[build-system] 'build-backend' is not a non-empty string")
    backend_path = _backend_path(table, problems)
    if problems:
        raise InvalidDistribution(filename, "pyproject.toml: " + "; ".join(problems))
    if backend is None:
        return BuildSystem(tuple(requires or ()), LEGACY_BACKEND, (), legacy=True)
    return BuildSystem(tuple(requires or ()), str(backend), tuple(backend_path or ()), legacy=False)


def _requires(table: dict[str, Any], problems: list[str]) -> list[str] | None:
    """The table's ``requires``, each problem added to ``problems``."""
    # PEP 518: "requires" is mandatory once the table exists (pip refuses it too).
    requires = string_list(table.get("requires"))
    if "requires" not in table:
        problems.append("[build-system] has no 'requires' key")
    elif requires is None:
        problems.append("[build-system] 'requires' is not a list of strings")
    for text in requires or []:
        try:
            Requirement(text)
        except InvalidRequirement as err:
            problems.append(f"invalid build requirement {text!r}: {err}")
    return requires


def _backend_path(table: dict[str, Any], problems: list[str]) -> list[str] | None:
    """The table's ``backend-path``, each problem added to ``problems``."""
    backend_path = string_list(table.get("backend-path", []))
    if backend_path is None:
        problems.append("[build-system] 'backend-path' is not a list of strings")
    for entry in backend_path or []:
        reason = _bad_backend_path(entry)
        if reason is not None:
            problems.append(f"backend-path entry {entry!r} {reason}")
    return backend_path


def read_build_system(sdist: Path, filename: str) -> BuildSystem:
    """The build system of an sdist, from its top-level pyproject.toml.

    The archive is checked and the file read in place (nothing is
    extracted); see ``parse_build_system`` for the defaults and the errors.
    """
    return parse_build_system(sdist_file(sdist, filename, "pyproject.toml"), filename)
