"""The ``bundle`` argument parser: one sub-parser per command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from bundler import SERVE_HOST, SERVE_PORT, __version__
from bundler.cli.option_groups import (
    add_common_options,
    add_index_options,
    add_lock_options,
    add_network_options,
    add_output_options,
    add_pip_option,
    add_project_options,
    add_target_options,
)

__all__ = ["EXAMPLES", "build_parser", "command_parser"]


EXAMPLES = {
    "lock": "examples:\n  bundle lock requirements.in -o requirements.txt\n"
    "  bundle lock pyproject.toml --extra socks --group test -o requirements.txt\n"
    "  bundle lock requirements.in -c constraints.txt --exclude-newer 2026-01-31 --dry-run\n"
    "  echo requests | bundle lock - -o requirements.txt --annotation-style line -v",
    "download": "example:\n  bundle download requirements.txt -o ./pypi",
    "verify": "example:\n  bundle verify ./pypi --json verify.json\n"
    "  bundle verify --index-url https://pypi.example.com/simple/ ./pypi/requirements.txt",
    "build": "example:\n  bundle build requirements.in -o ./pypi",
    "add": "example:\n  bundle add ./pypi dist/acme_utils-1.0-py3-none-any.whl",
    "pack": "example:\n  bundle pack ./pypi -o pypi.tar.gz",
    "unpack": "example:\n  bundle unpack pypi.tar.gz -o ./pypi",
    "prune": "example:\n  bundle prune /srv/pypi --keep app/requirements.txt"
    " --keep tool/pylock.toml --dry-run",
    "publish": "example:\n  bundle publish ./pypi /srv/pypi --index-url https://pypi.example.com/simple/",
    "serve": "example:\n  bundle serve ./pypi --port 8000\n"
    "  pip install --index-url http://127.0.0.1:8000/simple/ requests",
    "sbom": "example:\n  bundle sbom ./pypi -o bom.cdx.json",
    "diff": "examples:\n  bundle diff old/pypi ./pypi --format markdown > comment.md\n"
    "  bundle diff main.txt requirements.txt --fail-on downgrade,new-sdist,hash-change\n"
    "  bundle diff ./pypi ./pypi/requirements.txt --new-index-url https://pypi.example.com/simple/",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``bundle`` parser, with a sub-parser for each command."""
    parser = argparse.ArgumentParser(
        prog="bundle",
        description="Lock, download and verify the full dependency closure of Python"
        " requirements into a self-contained package index.",
        epilog="example:\n  bundle build requirements.in -o ./pypi",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # A prefix is not an option: "--extra socks" must not become
        # "--extra-index-url socks".
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"bundler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_, add_arguments) in _COMMANDS.items():
        add_arguments(
            sub.add_parser(
                name,
                help=help_,
                description=help_,
                epilog=EXAMPLES[name],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                allow_abbrev=False,
            )
        )
    return parser


def _lock_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "requirements",
        nargs="+",
        type=Path,
        help="requirements.in file(s), pyproject.toml or setup.cfg; '-' reads requirements"
        " from stdin (then -o is required)",
    )
    p.add_argument(
        "-o",
        "--output-file",
        type=Path,
        help="lock file to write: pylock.toml or pylock.NAME.toml for PEP 751, any other"
        " name for pip's requirements format, '-' for stdout (default: requirements.txt"
        " next to the input)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming what differs when the lock no longer matches"
        " its inputs (requirements, constraints, targets, options)",
    )
    add_project_options(p)
    add_output_options(p)
    add_lock_options(p)
    add_target_options(p)
    add_index_options(p)
    add_network_options(p)
    add_common_options(p)


def _download_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "lock", type=Path, help="a hashed requirements.txt (bundle lock, pip-compile, uv)"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory")
    add_target_options(p)
    add_index_options(p)
    add_network_options(p)
    add_common_options(p)


def _verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "bundle",
        type=Path,
        help="bundle directory (with --index-url: a bundle, its requirements.txt or pylock.toml)",
    )
    p.add_argument("--no-install", action="store_true", help="skip the live pip install check")
    add_pip_option(p)
    p.add_argument(
        "--check-inputs",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="also fail unless the bundle was made from these requirements files (and the"
        " targets given, if any)",
    )
    p.add_argument(
        "--junit", type=Path, metavar="FILE", help="also write the report as JUnit XML to FILE"
    )
    p.add_argument(
        "--index-url",
        dest="check_index_url",  # not the config file's index-url: a source to lock from
        metavar="URL",
        help="check the published index at URL instead: every locked file listed there with"
        " its hash and served with its bytes, the closure resolved and installed from it alone",
    )
    add_target_options(p)
    add_common_options(p)


def _build_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("requirements", nargs="+", type=Path, help="requirements.in file(s)")
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory")
    p.add_argument("--no-install", action="store_true", help="skip the live pip install check")
    add_pip_option(p)
    add_project_options(p)
    add_lock_options(p)
    add_target_options(p)
    add_index_options(p)
    add_network_options(p)
    add_common_options(p)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle directory")
    p.add_argument("files", nargs="+", type=Path, help="wheels or sdists to add")
    p.add_argument(
        "--no-deps",
        action="store_true",
        help="only place the files; do not fetch what they depend on",
    )
    add_index_options(p)
    add_network_options(p)
    add_common_options(p)


def _publish_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle directory (it must have passed verify)")
    p.add_argument(
        "dest",
        help="a directory or file:// URL, an upload URL (http(s)://) or s3://bucket/prefix",
    )
    p.add_argument(
        "--index-url",
        dest="read_url",  # not the config file's index-url: a source to lock from
        metavar="READ_URL",
        help="the simple-index URL installers read DEST from, checked after publishing"
        " (default: the destination's own, file://DEST/simple/ for a directory)",
    )
    p.add_argument("--verify", action="store_true", help="run `bundle verify` on the bundle first")
    p.add_argument(
        "--no-check", action="store_true", help="skip the post-publish gate against READ_URL"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be uploaded, skipped and refused; write nothing",
    )
    p.add_argument(
        "--layout",
        choices=["simple", "autoindex"],
        help="a directory's layout: 'simple' (default) a static PEP 503/691 index;"
        " 'autoindex' DEST/<project>/<file> for a web server's directory listings",
    )
    p.add_argument(
        "--promote-to",
        metavar="USER/INDEX",
        help="DEST is a devpi staging index: after the post-publish gate passes there,"
        " push every release to this production index (a failed gate promotes nothing)",
    )
    p.add_argument(
        "--s3-endpoint-url",
        metavar="URL",
        help="the S3 API endpoint for an s3:// DEST (default $AWS_ENDPOINT_URL, else AWS)",
    )
    p.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="also write the post-publish gate's report as JUnit XML to FILE",
    )
    add_network_options(p)
    add_common_options(p)


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle directory")
    p.add_argument(
        "--host", default=SERVE_HOST, help=f"address to listen on (default {SERVE_HOST})"
    )
    p.add_argument(
        "--port",
        type=int,
        default=SERVE_PORT,
        help=f"port (default {SERVE_PORT}; 0 picks a free one)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not log requests")


def _pack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle directory")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="archive to write: .tar, .tar.gz / .tgz, or .tar.zst (needs zstandard)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.add_argument("--json", metavar="FILE", help="also write the result to FILE ('-': stdout)")


def _prune_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dest",
        type=Path,
        help="a bundle, or a directory bundles were published to (files/, simple/)",
    )
    p.add_argument(
        "--keep",
        action="append",
        type=Path,
        required=True,
        metavar="LOCK",
        help="a lock whose files stay: requirements.txt (hashed) or pylock.toml (repeatable)",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.add_argument("--json", metavar="FILE", help="also write the result to FILE ('-': stdout)")


def _unpack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("archive", type=Path, help="a .tar, .tar.gz / .tgz or .tar.zst archive")
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="bundle directory (absent or empty)"
    )
    p.add_argument(
        "--force", action="store_true", help="replace the output directory if it holds anything"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.add_argument("--json", metavar="FILE", help="also write the result to FILE ('-': stdout)")


def _sbom_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle directory")
    p.add_argument("-o", "--output", required=True, help="SBOM file to write ('-' for stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def _diff_arguments(p: argparse.ArgumentParser) -> None:
    from bundler.lock.diff import FINDINGS

    for side in ("old", "new"):
        p.add_argument(
            side, type=Path, help=f"{side} bundle directory or lock (requirements.txt, pylock.toml)"
        )
    p.add_argument(
        "--format", choices=("text", "markdown"), default="text", help="output (default text)"
    )
    p.add_argument(
        "--fail-on",
        metavar="FINDINGS",
        help=f"exit 1 when the diff has any of these (comma-separated: {','.join(FINDINGS)})",
    )
    for side in ("old", "new"):
        p.add_argument(
            f"--{side}-index-url",
            metavar="URL",
            help=f"{side.upper()} is the lock as the index at URL serves it: each pin with the"
            " files URL lists for its release (a bundle's or pylock.toml's files by name, every"
            " file for a requirements.txt), hashed as listed; a release URL lists none of is"
            " removed there",
        )
    add_network_options(p)
    add_common_options(p)


# Each command: its one-line help, and what adds its arguments (in the
# order `bundle --help` lists them).
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "lock": ("resolve requirements for every target and write a hashed lock", _lock_arguments),
    "download": ("fetch every artifact a lock needs into a bundle directory", _download_arguments),
    "verify": ("prove that a bundle alone satisfies its lock (the gate)", _verify_arguments),
    "build": (
        "lock, download and verify in one step; the new bundle replaces -o if it passes",
        _build_arguments,
    ),
    "add": (
        "place your own wheels and sdists into a bundle, with their dependencies",
        _add_arguments,
    ),
    "publish": (
        "publish a verified bundle to an index, never replacing a file",
        _publish_arguments,
    ),
    "serve": (
        "serve a bundle as a package index (PEP 503 HTML and PEP 691 JSON)",
        _serve_arguments,
    ),
    "pack": (
        "write a verified bundle into one archive, to carry across an air gap",
        _pack_arguments,
    ),
    "prune": ("remove from an index directory the files no kept lock needs", _prune_arguments),
    "unpack": (
        "unpack an archive `bundle pack` wrote, checked member by member and verified",
        _unpack_arguments,
    ),
    "sbom": ("write a bundle's CycloneDX 1.6 SBOM (JSON)", _sbom_arguments),
    "diff": ("what changes between two bundles or locks, per target", _diff_arguments),
}


def command_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The subcommand's parser (the top-level one when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            found: argparse.ArgumentParser = action.choices[command]
            return found
    return parser
