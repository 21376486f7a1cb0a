"""The configuration file under the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from bundler.cli.config import Config, find_config, load_config
from bundler.errors import UsageError

__all__ = ["merge_config", "read_config"]


def read_config(args: argparse.Namespace) -> Config:
    path: Path | None = getattr(args, "config", None)
    if path is None:
        path = find_config(Path.cwd())
    elif not path.is_file():
        raise UsageError(f"{path}: no such configuration file")
    return load_config(path) if path is not None else Config()


def merge_config(args: argparse.Namespace) -> None:
    """Fill options not given on the command line from the config file."""
    cfg = read_config(args)
    for attr, value in (
        ("python_version", list(cfg.python_versions)),
        ("platform", list(cfg.platforms)),
        ("extra_index_url", list(cfg.extra_index_urls)),
        ("find_links", list(cfg.find_links)),
        ("only_binary", list(cfg.only_binary)),
        ("no_binary", list(cfg.no_binary)),
    ):
        if hasattr(args, attr) and not getattr(args, attr):
            setattr(args, attr, value)
    for attr, flag in (
        ("pre", cfg.pre),
        ("prefer_binary", cfg.prefer_binary),
        ("no_index", cfg.no_index),
    ):
        if hasattr(args, attr) and flag:
            setattr(args, attr, True)
    if hasattr(args, "index_url") and args.index_url is None:
        args.index_url = cfg.index_url
    if hasattr(args, "index_strategy"):
        if args.index_strategy is None and cfg.index_strategy is not None:
            args.index_strategy = cfg.index_strategy.value
        args.named_indexes = cfg.indexes
    if not hasattr(args, "cache_dir"):
        return
    if args.cache_dir is None and cfg.cache_dir:
        args.cache_dir = Path(cfg.cache_dir).expanduser()
    if args.workers is None:
        args.workers = cfg.workers or 8
    if args.page_max_age is None:
        args.page_max_age = cfg.page_max_age
