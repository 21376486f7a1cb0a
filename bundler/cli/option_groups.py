"""Option groups several commands share (sources, TLS, targets, resolution, ...)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bundler.index.keyringcli import DEFAULT_KEYRING_PROVIDER, KEYRING_PROVIDERS
from bundler.models import IndexStrategy
from bundler.spec.lockfile import ANNOTATION_STYLES, SPLIT

__all__ = [
    "add_common_options",
    "add_index_options",
    "add_lock_options",
    "add_network_options",
    "add_output_options",
    "add_pip_option",
    "add_project_options",
    "add_target_options",
]


def add_index_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "package sources (beside a requirements file's own: --index-url and --no-index"
        " replace its indexes, --extra-index-url and --find-links add to its sources)"
    )
    g.add_argument("-i", "--index-url", help="base URL of a PEP 503 index (default PyPI)")
    g.add_argument("--extra-index-url", action="append", default=[], help="more index URLs")
    g.add_argument(
        "-f",
        "--find-links",
        action="append",
        default=[],
        help="a directory or page of distributions (beside the requirements file's own)",
    )
    g.add_argument(
        "--no-index",
        action="store_true",
        help="ignore every index, a requirements file's too; use --find-links only",
    )
    g.add_argument(
        "--index-strategy",
        choices=[s.value for s in IndexStrategy],
        help="a project found on several sources: 'unique' (default) is an error unless"
        " one index owns it; 'first-index' takes the first; 'unsafe-best-match' merges"
        " them as pip does (dependency confusion)",
    )


def add_network_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("TLS and credentials (pip's options)")
    g.add_argument(
        "--cert",
        metavar="PATH",
        help="a PEM bundle of CA certificates trusted besides the system's trust store and"
        " certifi's (default $PIP_CERT, else $REQUESTS_CA_BUNDLE, else $CURL_CA_BUNDLE)",
    )
    g.add_argument(
        "--client-cert",
        metavar="PATH",
        help="a PEM file holding the private key and the certificate to present to an"
        " index that asks for one (default $PIP_CLIENT_CERT)",
    )
    g.add_argument(
        "--keyring-provider",
        choices=KEYRING_PROVIDERS,
        help="after a 401, ask the `keyring` command for the index's credentials, as pip's"
        " 'subprocess' provider; 'auto': only if one is on PATH (default $PIP_KEYRING_PROVIDER,"
        f" else {DEFAULT_KEYRING_PROVIDER})",
    )


def add_target_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "targets (the cross product of versions and platforms; default: this interpreter)"
    )
    g.add_argument(
        "--python-version",
        action="append",
        default=[],
        metavar="X.Y",
        help="a target Python version (repeatable)",
    )
    g.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="TAG",
        help="a target platform: wheel platform tag or alias (repeatable)",
    )


def add_common_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("general")
    g.add_argument(
        "--config",
        type=Path,
        help="configuration file (default: ./bundle.toml or [tool.bundle] in ./pyproject.toml)",
    )
    g.add_argument("-q", "--quiet", action="store_true", help="print only errors and the result")
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say what is fetched and why: each requirement met and who asked for it, each"
        " page and how each file's metadata was read, each pin, a build backend's warnings",
    )
    g.add_argument(
        "--cache-dir",
        type=Path,
        help="HTTP and content cache (default ~/.cache/bundler or $BUNDLER_CACHE_DIR)",
    )
    g.add_argument("--offline", action="store_true", help="use only the cache; make no request")
    g.add_argument(
        "--page-max-age",
        type=float,
        metavar="SECONDS",
        help="use a cached index page this long without asking the index again"
        " (default 600; 0: always ask)",
    )
    g.add_argument(
        "--workers",
        type=int,
        help="parallel network requests (default 8; downloads use fewer while the CPU is busy;"
        " the resolver's look-ups ahead of need pace themselves, up to 16)",
    )
    g.add_argument(
        "--json",
        metavar="FILE",
        help="also write a machine-readable result to FILE ('-' for stdout)",
    )


def add_lock_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("resolution")
    g.add_argument("--pre", action="store_true", help="allow pre-releases")
    g.add_argument(
        "-U", "--upgrade", action="store_true", help="ignore the pins of an existing output file"
    )
    g.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME[==VERSION]",
        help="upgrade only NAME (to the newest version that fits, or to exactly VERSION;"
        " any specifier works, as with pip-compile)",
    )
    g.add_argument(
        "--only-binary",
        action="append",
        default=[],
        metavar="NAMES",
        help="wheels only (:all:, :none: or names)",
    )
    g.add_argument(
        "--no-binary",
        action="append",
        default=[],
        metavar="NAMES",
        help="sdists only (:all:, :none: or names)",
    )
    g.add_argument(
        "--no-build",
        action="store_true",
        help="refuse every sdist (same as --only-binary :all:); names what would need one",
    )
    g.add_argument(
        "--prefer-binary", action="store_true", help="prefer an older wheel over a newer sdist"
    )
    g.add_argument(
        "--exclude-newer",
        metavar="TIMESTAMP",
        help="lock only files uploaded before this RFC 3339 time or date (a date: its start,"
        " UTC), e.g. 2026-01-31 or 2026-01-31T12:00:00Z, for a reproducible re-lock; files"
        " whose index gives no PEP 700 upload time are left out, as uv does",
    )


def add_project_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("project inputs (pyproject.toml, setup.cfg)")
    g.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="also lock this extra's optional dependencies (repeatable, or comma-separated)",
    )
    g.add_argument(
        "--all-extras", action="store_true", help="lock every extra the project declares"
    )
    g.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME",
        help="also lock this PEP 735 [dependency-groups] group (repeatable)",
    )


def add_output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("inputs and output (pip-compile's options)")
    g.add_argument(
        "-c",
        "--constraint",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="constrain versions with this constraints file (repeatable)",
    )
    g.add_argument("--dry-run", action="store_true", help="print the lock on stdout; write no file")
    g.add_argument(
        "--no-header", action="store_true", help="leave out the comment naming the command"
    )
    g.add_argument("--no-annotate", action="store_true", help="leave out the '# via' annotations")
    g.add_argument(
        "--annotation-style",
        choices=ANNOTATION_STYLES,
        default=SPLIT,
        help="'split' (default): one '# via' line per source; 'line': '# via a, b'",
    )


def add_pip_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pip",
        action="append",
        default=[],
        metavar="VERSION",
        help="also run the live install with this pip (repeatable; besides the pip a fresh"
        " venv gets and the newest); its wheel comes from the bundle, the cache or the index",
    )
