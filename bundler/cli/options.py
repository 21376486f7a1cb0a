"""The configuration file under the command line: one merge, in one place.

An option the command line leaves unset takes the configuration file's
value, else its built-in default.  The environment comes under both, where
the library reads it: ``PIP_INDEX_URL`` and friends under the requirements
files' sources, ``PIP_KEYRING_PROVIDER`` under ``--keyring-provider``,
``BUNDLER_CACHE_DIR`` when neither gives a cache directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bundler.cli.config import Config, find_config, load_config
from bundler.errors import UsageError

__all__ = ["DEFAULT_WORKERS", "merge_config", "read_config", "replace_options"]

DEFAULT_WORKERS = 8


def read_config(args: argparse.Namespace) -> Config:
    """The file ``--config`` names, else the one found in the working
    directory, else an empty configuration."""
    path: Path | None = getattr(args, "config", None)
    if path is None:
        path = find_config(Path.cwd())
    elif not path.is_file():
        raise UsageError(f"{path}: no such configuration file")
    return load_config(path) if path is not None else Config()


def merge_config(args: argparse.Namespace, cfg: Config) -> argparse.Namespace:
    """A copy of ``args`` with the file's value for each option the command
    line left unset (an option the command does not have stays absent)."""
    given = vars(args)
    under_command_line: dict[str, Any] = {
        "python_version": list(cfg.python_versions),
        "platform": list(cfg.platforms),
        "extra_index_url": list(cfg.extra_index_urls),
        "find_links": list(cfg.find_links),
        "only_binary": list(cfg.only_binary),
        "no_binary": list(cfg.no_binary),
        "index_url": cfg.index_url,
        "index_strategy": cfg.index_strategy.value if cfg.index_strategy is not None else None,
        "cache_dir": Path(cfg.cache_dir).expanduser() if cfg.cache_dir else None,
        "workers": cfg.workers or DEFAULT_WORKERS,
        "page_max_age": cfg.page_max_age,
    }
    merged = {
        name: value if _unset(given[name]) else given[name]
        for name, value in under_command_line.items()
        if name in given
    }
    # A flag is on when either turns it on.
    for name, flag in (
        ("pre", cfg.pre),
        ("prefer_binary", cfg.prefer_binary),
        ("no_index", cfg.no_index),
    ):
        if name in given:
            merged[name] = given[name] or flag
    if "index_strategy" in given:
        merged["named_indexes"] = cfg.indexes  # only the file names indexes
    return replace_options(args, **merged)


def replace_options(args: argparse.Namespace, **changes: Any) -> argparse.Namespace:
    """A copy of ``args`` with ``changes`` (``args`` itself is left as is)."""
    return argparse.Namespace(**{**vars(args), **changes})


def _unset(value: object) -> bool:
    """Whether the command line left an option unset (a repeatable option:
    never given)."""
    return value is None or value == []
