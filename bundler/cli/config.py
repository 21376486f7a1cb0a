"""Configuration files: ``bundle.toml`` or ``[tool.bundle]`` in pyproject.toml.

Command-line options override the file.  Every problem in the file is
reported at once, naming the file and the key.

``pip_environment`` reads the index settings pip (and so pip-compile)
takes from the environment, for ``bundle lock``.

Named indexes are ``[[index]]`` tables (``[[tool.bundle.index]]``) with a
``name``, a ``url`` and optionally the ``packages`` they own; together with
``index-strategy`` they decide which source a project may come from
(dependency confusion, CVE-2018-20225).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from bundler.errors import BundlerError, InputFileError, MultipleErrors, UsageError, url_problem
from bundler.models import IndexSettings, IndexStrategy, NamedIndex
from bundler.redact import redact_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "INDEX_KEYS",
    "KNOWN_KEYS",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_INDEX_URL",
    "STRATEGIES",
    "Config",
    "PipEnvironment",
    "find_config",
    "load_config",
    "owned_pattern",
    "parse_config",
    "pip_environment",
    "under_pip_environment",
]


@dataclass(frozen=True)
class Config:
    """Options a user keeps in a file; ``None``/empty means not set."""

    path: str | None = None
    python_versions: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    pre: bool = False
    only_binary: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()
    prefer_binary: bool = False
    cache_dir: str | None = None
    workers: int | None = None
    # Seconds a cached project page is used without asking the index again.
    page_max_age: float | None = None
    # [[index]] tables, in file order (searched in that order).
    indexes: tuple[NamedIndex, ...] = ()
    index_strategy: IndexStrategy | None = None


_LISTS = {
    "python-versions": "python_versions",
    "platforms": "platforms",
    "extra-index-urls": "extra_index_urls",
    "find-links": "find_links",
    "only-binary": "only_binary",
    "no-binary": "no_binary",
}
_STRINGS = {"index-url": "index_url", "cache-dir": "cache_dir"}
_URL_KEYS = frozenset({"index-url", "extra-index-urls", "find-links"})
_BOOLS = {"no-index": "no_index", "pre": "pre", "prefer-binary": "prefer_binary"}
_INTS = {"workers": "workers"}
_INDEX = "index"
_STRATEGY = "index-strategy"
_PAGE_MAX_AGE = "page-max-age"
KNOWN_KEYS = sorted([*_LISTS, *_STRINGS, *_BOOLS, *_INTS, _INDEX, _STRATEGY, _PAGE_MAX_AGE])
INDEX_KEYS = ("format", "name", "packages", "url")
STRATEGIES = tuple(s.value for s in IndexStrategy)
# A source name appears in locks and manifests: keep it plain.
_INDEX_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# PEP 508 project names; an owned-name pattern may instead end in "*".
_PROJECT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?", re.IGNORECASE)
_PREFIX = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]*)?\*", re.IGNORECASE)


def find_config(start: Path) -> Path | None:
    """``bundle.toml`` in ``start``, else a pyproject.toml with [tool.bundle]."""
    candidate = start / "bundle.toml"
    if candidate.is_file():
        return candidate
    pyproject = start / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return None
        if isinstance(data.get("tool"), dict) and "bundle" in data["tool"]:
            return pyproject
    return None


def load_config(path: Path) -> Config:
    """Read and validate a configuration file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise InputFileError(str(path), None, f"invalid TOML: {err}") from err
    table: Any = data
    prefix = ""
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("bundle", {})
        prefix = "tool.bundle."
    if not isinstance(table, dict):
        raise InputFileError(str(path), None, f"[{prefix.rstrip('.')}] must be a table")
    return parse_config(table, str(path), prefix)


def parse_config(table: Mapping[str, Any], path: str, prefix: str = "") -> Config:
    """Validate a configuration table (pure)."""
    errors: list[BundlerError] = []
    values: dict[str, Any] = {"path": path}
    for key, value in table.items():
        where = f"{prefix}{key}"
        if key == _INDEX:
            values["indexes"] = _parse_indexes(value, path, where, errors)
        elif key in _CHECKS:
            field, check = _CHECKS[key]
            checked, problem = check(value, where)
            if problem is None:
                values[field] = checked
            else:
                errors.append(InputFileError(path, None, problem))
        else:
            errors.append(
                InputFileError(
                    path,
                    None,
                    f"unknown key {where!r}",
                    hint=f"known keys: {', '.join(KNOWN_KEYS)}",
                )
            )
    for key in _URL_KEYS & table.keys():
        value = table[key]
        for url in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            if isinstance(url, str) and (problem := url_problem(url)) is not None:
                errors.append(
                    InputFileError(path, None, f"{prefix}{key}: {redact_url(url)}: {problem}")
                )
    if errors:
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    return Config(**values)


# Each check takes a value and where it is, and returns the value as
# Config holds it, or None and what is wrong with it.
_Checked = tuple[Any, str | None]


def _check_list(value: object, where: str) -> _Checked:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        return None, f"{where} must be a list of strings"
    return tuple(items), None


def _check_string(value: object, where: str) -> _Checked:
    if not isinstance(value, str):
        return None, f"{where} must be a string"
    return value, None


def _check_bool(value: object, where: str) -> _Checked:
    if not isinstance(value, bool):
        return None, f"{where} must be true or false"
    return value, None


def _check_positive(value: object, where: str) -> _Checked:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return None, f"{where} must be a positive integer"
    return value, None


def _check_seconds(value: object, where: str) -> _Checked:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        return None, f"{where} must be a number of seconds (0 or more)"
    return float(value), None


def _check_strategy(value: object, where: str) -> _Checked:
    if value not in STRATEGIES:
        choices = ", ".join(repr(s) for s in STRATEGIES)
        return None, f"{where} must be one of {choices} (got {value!r})"
    return IndexStrategy(value), None


# Each key but [[index]]: the Config field it sets, and its check.
_CHECKS: dict[str, tuple[str, Callable[[object, str], _Checked]]] = {
    **{key: (field, _check_list) for key, field in _LISTS.items()},
    **{key: (field, _check_string) for key, field in _STRINGS.items()},
    **{key: (field, _check_bool) for key, field in _BOOLS.items()},
    **{key: (field, _check_positive) for key, field in _INTS.items()},
    _PAGE_MAX_AGE: ("page_max_age", _check_seconds),
    _STRATEGY: ("index_strategy", _check_strategy),
}


def owned_pattern(text: str) -> str | None:
    """The normalized form of an owned-name pattern (a project name, or a
    name prefix ending in ``*``), or None when it is neither."""
    text = text.strip()
    if _PROJECT.fullmatch(text):
        return canonicalize_name(text)
    if _PREFIX.fullmatch(text):
        # PEP 503 normalization of the prefix; "*" stays last.
        return re.sub(r"[-_.]+", "-", text[:-1]).lower() + "*"
    return None


# Each key of each table is checked in turn and every problem kept: one
# pass over a table reads as the format it checks.
def _parse_indexes(  # noqa: C901, PLR0912, PLR0915
    value: object, path: str, where: str, errors: list[BundlerError]
) -> tuple[NamedIndex, ...]:
    """``[[index]]`` tables: a name, a URL, the projects each owns."""

    def problem(message: str, hint: str | None = None) -> None:
        errors.append(InputFileError(path, None, message, hint=hint))

    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        problem(
            f"{where} must be an array of tables",
            hint=f'write each index as [[{where}]] with name = "..." and url = "..."',
        )
        return ()
    indexes: list[NamedIndex] = []
    names: dict[str, str] = {}
    owners: dict[str, tuple[int, str]] = {}
    for number, table in enumerate(value):
        at = f"{where}[{number}]"
        ok = True
        for key in sorted(set(table) - set(INDEX_KEYS)):
            problem(f"unknown key {at}.{key}", hint=f"an index has: {', '.join(INDEX_KEYS)}")
            ok = False
        name = table.get("name")
        if not isinstance(name, str) or not _INDEX_NAME.fullmatch(name):
            problem(
                f"{at}.name must be a name of letters, digits, '.', '-' or '_'"
                + (" (missing)" if name is None else f" (got {name!r})")
            )
            ok = False
            name = None
        elif name.lower() in names:
            problem(f"{at}.name: {name!r} is already the name of {names[name.lower()]}")
            ok = False
        else:
            names[name.lower()] = at
        fmt = table.get("format", "simple")
        if fmt not in ("simple", "flat"):
            problem(
                f"{at}.format must be 'simple' (a PEP 503 index) or 'flat'"
                f" (a find-links page or directory), got {fmt!r}"
            )
            ok = False
        url = table.get("url")
        if not isinstance(url, str) or not url.strip():
            problem(f"{at}.url must be a string" + (" (missing)" if url is None else ""))
            ok = False
        elif (bad := url_problem(url)) is not None:
            problem(f"{at}.url {redact_url(url)}: {bad}")
            ok = False
        elif fmt != "flat" and urlsplit(url).scheme not in ("http", "https", "file"):
            problem(f"{at}.url must be an http, https or file URL")
            ok = False
        raw = table.get("packages", [])
        if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
            problem(f"{at}.packages must be a list of project names")
            raw, ok = [], False
        patterns: list[str] = []
        for text in raw:
            pattern = owned_pattern(text)
            if pattern is None:
                problem(
                    f"{at}.packages: {text!r} is not a project name or a name prefix ending in '*'"
                )
                ok = False
                continue
            first, owner = owners.setdefault(pattern, (number, f"{at} ({name!r})"))
            if first != number:
                problem(
                    f"{at}.packages: {pattern!r} is already owned by {owner}",
                    hint="a project can be owned by one index only",
                )
                ok = False
            if pattern not in patterns:
                patterns.append(pattern)
        if ok and isinstance(name, str) and isinstance(url, str):
            indexes.append(NamedIndex(name, url.strip(), tuple(patterns), flat=fmt == "flat"))
    return tuple(indexes)


# pip's PIP_<OPTION> variables for the sources pip-compile reads from the
# environment; options given several times take values separated by
# whitespace (pip's ConfigOptionParser).
PIP_INDEX_URL = "PIP_INDEX_URL"
PIP_EXTRA_INDEX_URL = "PIP_EXTRA_INDEX_URL"
PIP_FIND_LINKS = "PIP_FIND_LINKS"


@dataclass(frozen=True)
class PipEnvironment:
    """The package sources pip's environment variables name."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()

    def origins(self) -> dict[str, str]:
        """Each source, and the variable that named it."""
        found = dict.fromkeys(self.find_links, PIP_FIND_LINKS)
        found.update(dict.fromkeys(self.extra_index_urls, PIP_EXTRA_INDEX_URL))
        if self.index_url:
            found[self.index_url] = PIP_INDEX_URL
        return found


def pip_environment(environ: Mapping[str, str]) -> PipEnvironment:
    """The package sources ``environ`` names as pip reads them (pure)."""
    return PipEnvironment(
        index_url=environ.get(PIP_INDEX_URL, "").strip() or None,
        extra_index_urls=tuple(dict.fromkeys(environ.get(PIP_EXTRA_INDEX_URL, "").split())),
        find_links=tuple(dict.fromkeys(environ.get(PIP_FIND_LINKS, "").split())),
    )


def under_pip_environment(
    files: IndexSettings, files_set_index: bool, env: PipEnvironment
) -> tuple[IndexSettings, dict[str, str]]:
    """The sources of requirements files with those of pip's environment
    under them, as pip-compile has them: the files' ``--index-url`` (or
    ``--no-index``) wins over ``PIP_INDEX_URL``; the environment's extra
    indexes and find-links come first, then the files'.  Also returns each
    source taken from the environment alone, with its variable (the
    command line's options apply on top of both)."""
    index_url = files.index_url
    if not files_set_index and env.index_url:
        index_url = env.index_url
    extras = files.extra_index_urls
    if index_url is not None:  # --no-index drops every index URL
        extras = tuple(dict.fromkeys(env.extra_index_urls + files.extra_index_urls))
    settings = IndexSettings(
        index_url=index_url,
        extra_index_urls=extras,
        find_links=tuple(dict.fromkeys(env.find_links + files.find_links)),
        named_indexes=files.named_indexes,
        index_strategy=files.index_strategy,
    )
    named_by_files = {files.index_url, *files.extra_index_urls, *files.find_links}
    used = {settings.index_url, *settings.extra_index_urls, *settings.find_links}
    origins = {
        url: name
        for url, name in env.origins().items()
        if url in used and url not in named_by_files
    }
    return settings, origins
