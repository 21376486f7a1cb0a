"""The options pip accepts in a requirements file, parsed with pip's
spellings and aliases (``req_file.SUPPORTED_OPTIONS``), without pip."""

from __future__ import annotations

import functools
import optparse
import shlex
import threading
from collections.abc import Callable
from typing import NoReturn

from packaging.utils import canonicalize_name

__all__ = [
    "OPTION_NAMES",
    "REQUIREMENT_LINE_OPTIONS",
    "SUPPORTED_HINT",
    "OptionError",
    "apply_format_control",
    "parse_options",
    "set_options",
]


class OptionError(Exception):
    """Options on a line that pip would refuse (``msg`` says why)."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


class _LineOptionParser(optparse.OptionParser):
    """optparse, as pip uses it, but raising instead of printing and exiting."""

    def error(self, msg: str) -> NoReturn:
        raise OptionError(msg)

    def exit(self, status: int = 0, msg: str | None = None) -> NoReturn:
        raise OptionError(msg or "invalid options")


def _format_control_callback(kind: str) -> Callable[..., None]:
    def callback(
        option: optparse.Option, opt_str: str, value: str, parser: optparse.OptionParser
    ) -> None:
        if value.startswith("-"):
            raise OptionError(f"{opt_str} requires an argument")
        if parser.values is None:  # optparse sets the values before any callback
            raise OptionError(f"{opt_str}: no option values")
        parser.values.format_control.append((kind, value))

    return callback


def _build_option_parser() -> _LineOptionParser:
    # The options pip accepts in a requirements file (req_file.SUPPORTED_OPTIONS
    # and SUPPORTED_OPTIONS_REQ), with pip's spellings and aliases.
    parser = _LineOptionParser(add_help_option=False, usage=optparse.SUPPRESS_USAGE)
    parser.add_option("-i", "--index-url", "--pypi-url", dest="index_url")
    parser.add_option("--extra-index-url", dest="extra_index_urls", action="append")
    parser.add_option("--no-index", dest="no_index", action="store_true", default=False)
    parser.add_option("-c", "--constraint", dest="constraints", action="append")
    parser.add_option("-r", "--requirement", dest="requirements", action="append")
    parser.add_option("-e", "--editable", dest="editables", action="append")
    parser.add_option("-f", "--find-links", dest="find_links", action="append")
    parser.add_option(
        "--no-binary",
        dest="format_control",
        action="callback",
        type="str",
        callback=_format_control_callback("no_binary"),
    )
    parser.add_option(
        "--only-binary",
        dest="format_control",
        action="callback",
        type="str",
        callback=_format_control_callback("only_binary"),
    )
    parser.add_option("--prefer-binary", dest="prefer_binary", action="store_true", default=False)
    parser.add_option("--require-hashes", dest="require_hashes", action="store_true", default=False)
    parser.add_option(
        "--no-require-hashes", dest="no_require_hashes", action="store_true", default=False
    )
    parser.add_option("--pre", dest="pre", action="store_true", default=False)
    parser.add_option("--all-releases", dest="all_releases", action="append")
    parser.add_option("--only-final", dest="only_final", action="append")
    parser.add_option("--trusted-host", dest="trusted_hosts", action="append")
    parser.add_option("--use-feature", dest="features_enabled", action="append")
    parser.add_option("--hash", dest="hashes", action="append")
    parser.add_option("-C", "--config-settings", dest="config_settings", action="append")
    return parser


# Options that pip allows on a requirement line (pip: SUPPORTED_OPTIONS_REQ).
REQUIREMENT_LINE_OPTIONS = frozenset({"hashes", "config_settings"})
OPTION_NAMES = {
    "index_url": "--index-url",
    "extra_index_urls": "--extra-index-url",
    "no_index": "--no-index",
    "constraints": "--constraint",
    "requirements": "--requirement",
    "editables": "--editable",
    "find_links": "--find-links",
    "format_control": "--no-binary/--only-binary",
    "prefer_binary": "--prefer-binary",
    "require_hashes": "--require-hashes",
    "no_require_hashes": "--no-require-hashes",
    "pre": "--pre",
    "all_releases": "--all-releases",
    "only_final": "--only-final",
    "trusted_hosts": "--trusted-host",
    "features_enabled": "--use-feature",
    "hashes": "--hash",
    "config_settings": "--config-settings",
}
SUPPORTED_HINT = (
    "supported options: -r/--requirement, -c/--constraint, -i/--index-url,"
    " --extra-index-url, --no-index, -f/--find-links, --pre, --only-binary,"
    " --no-binary, --prefer-binary, --trusted-host, --require-hashes, and --hash"
    " after a requirement"
)


# One parser for every line (building it costs more than parsing a line):
# optparse keeps the line being parsed on the parser, so one line at a time.
_PARSER_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _option_parser() -> _LineOptionParser:
    return _build_option_parser()


def parse_options(options: str) -> optparse.Values:
    """The options part of a line, parsed with pip's option definitions."""
    try:
        argv = shlex.split(options)
    except ValueError as err:
        raise OptionError(f"cannot split the options: {err}") from err
    with _PARSER_LOCK:
        parser = _option_parser()
        defaults = parser.get_default_values()
        defaults.format_control = []
        values, leftover = parser.parse_args(argv, defaults)
    if leftover:
        raise OptionError(f"unexpected argument {leftover[0]!r} after the options")
    return values


def set_options(values: optparse.Values) -> list[str]:
    """The destinations of the options a line gives."""
    return [dest for dest in OPTION_NAMES if getattr(values, dest, None)]


def apply_format_control(value: str, target: set[str], other: set[str]) -> None:
    """Add one --no-binary/--only-binary value to ``target``, as pip does."""
    # pip: FormatControl.handle_mutual_excludes
    new = value.split(",")
    while ":all:" in new:
        other.clear()
        target.clear()
        target.add(":all:")
        del new[: new.index(":all:") + 1]
        if ":none:" not in new:
            return
    for name in new:
        if name == ":none:":
            target.clear()
            continue
        canon = canonicalize_name(name)
        other.discard(canon)
        target.add(canon)
