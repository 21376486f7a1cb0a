"""Configuration files: ``bundle.toml`` or ``[tool.bundle]`` in pyproject.toml.

Command-line options override the file.  Every problem in the file is
reported at once, naming the file and the key.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BundlerError, InputFileError, MultipleErrors, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


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


_LISTS = {
    "python-versions": "python_versions",
    "platforms": "platforms",
    "extra-index-urls": "extra_index_urls",
    "find-links": "find_links",
    "only-binary": "only_binary",
    "no-binary": "no_binary",
}
_STRINGS = {"index-url": "index_url", "cache-dir": "cache_dir"}
_BOOLS = {"no-index": "no_index", "pre": "pre", "prefer-binary": "prefer_binary"}
_INTS = {"workers": "workers"}
KNOWN_KEYS = sorted([*_LISTS, *_STRINGS, *_BOOLS, *_INTS])


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
        if key in _LISTS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                errors.append(InputFileError(path, None, f"{where} must be a list of strings"))
                continue
            values[_LISTS[key]] = tuple(items)
        elif key in _STRINGS:
            if not isinstance(value, str):
                errors.append(InputFileError(path, None, f"{where} must be a string"))
                continue
            values[_STRINGS[key]] = value
        elif key in _BOOLS:
            if not isinstance(value, bool):
                errors.append(InputFileError(path, None, f"{where} must be true or false"))
                continue
            values[_BOOLS[key]] = value
        elif key in _INTS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                errors.append(InputFileError(path, None, f"{where} must be a positive integer"))
                continue
            values[_INTS[key]] = value
        else:
            errors.append(
                InputFileError(
                    path,
                    None,
                    f"unknown key {where!r}",
                    hint=f"known keys: {', '.join(KNOWN_KEYS)}",
                )
            )
    if errors:
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    return Config(**values)
