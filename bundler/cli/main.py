"""The ``bundle`` command line: the one place that prints and exits."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shlex
import sys
import tempfile
import threading
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from packaging.utils import canonicalize_name

from bundler import SERVE_HOST, SERVE_PORT, __version__
from bundler import api as app
from bundler.cli.config import (
    Config,
    find_config,
    load_config,
    pip_environment,
    under_pip_environment,
)
from bundler.errors import BundlerError, UsageError, check_url
from bundler.fsutil import write_output
from bundler.index.keyringcli import DEFAULT_KEYRING_PROVIDER, KEYRING_PROVIDERS
from bundler.index.trust import TlsOptions
from bundler.models import IndexSettings, IndexStrategy, Lock, LockedFile, LockInput, Manifest
from bundler.redact import redact_text
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.lockfile import ANNOTATION_STYLES, SPLIT
from bundler.spec.target import Target, host_target, make_target, target_from_name

if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from bundler.gate.integrity import VerifyReport
    from bundler.lock.check import Difference, InputRecord, Inputs
    from bundler.lock.diff import Snapshot

# Only what every command needs is imported up here; the rest (verify,
# serve, add, progress bars, tables) where it is used, so that a lock from
# a warm cache does not pay for the whole tool at start-up.
DEFAULT_HOST, DEFAULT_PORT = SERVE_HOST, SERVE_PORT
STDOUT = "-"  # an output file name that means standard output

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


def scrub(text: str) -> str:
    """Last line of defence: no URL password ever reaches the terminal."""
    return redact_text(text)


# The width rich lays tables out in when not writing to a terminal: no
# line of a log is cut or wrapped.
UNBOUNDED_WIDTH = 1_000_000


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # replaced, or closed
        return False


def _stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (or ``FORCE_COLOR`` says to treat it as
    one, as rich does)."""
    if os.environ.get("FORCE_COLOR"):
        return True
    return _isatty(sys.stderr)


class ConsoleReporter(Reporter):
    """Draws rich progress on stderr (unless quiet).

    When stderr is not a terminal (a CI log, a pipe), progress bars could
    not be drawn anyway: everything (stages, messages, warnings, errors, the
    verify report, the server's log) is then written as plain lines, never
    wrapped nor cut, so that a name can be found with grep, and rich is not
    even loaded for them (about 30 ms of start-up, paid before the first
    download could begin).  Values printed through rich are escaped: to it,
    ``[socks]`` is markup."""

    def __init__(self, quiet: bool, console: Console | None = None, verbose: bool = False) -> None:
        self._console = console
        self.quiet = quiet
        self.verbose = verbose and not quiet
        self.plain = not _stderr_is_terminal()
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._overall: TaskID | None = None

    @property
    def console(self) -> Console:
        """The terminal (stderr), made when something is first printed: a
        quiet run that succeeds never loads rich."""
        if self._console is None:
            from rich.console import Console

            # FORCE_COLOR asks for colours, not for lines cut at 80 columns.
            unbounded = not _isatty(sys.stderr)
            self._console = Console(
                stderr=True,
                highlight=False,
                soft_wrap=unbounded,
                width=UNBOUNDED_WIDTH if unbounded else None,
            )
        return self._console

    def _ensure_progress(self) -> Progress:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        return self._progress

    def close(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
                self._tasks.clear()

    def _line(self, text: str) -> None:
        with self._lock:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def say(self, text: str, *, label: str = "", style: str = "") -> None:
        """Print ``label`` (in ``style`` on a terminal) then ``text``, as is:
        credentials redacted, never read as markup, one plain line in a log."""
        text = scrub(text)
        if self.plain:
            self._line(label + text)
        else:
            shown = f"[{style}]{_escape(label)}[/{style}]" if style and label else _escape(label)
            self.console.print(shown + _escape(text), highlight=False)

    def stage(self, name: str) -> None:
        self.close()
        if self.quiet:
            return
        self.say("…", label=name, style="bold")

    def info(self, message: str) -> None:
        if self.quiet:
            return
        self.say(message)

    def detail(self, message: str) -> None:
        if self.verbose:
            self.say(message, label="  · ", style="dim")

    def warning(self, message: str) -> None:
        self.say(message, label="warning: ", style="yellow")

    def error(self, message: str, *, label: str = "error: ") -> None:
        """An error, printed even when quiet."""
        self.close()
        self.say(message, label=label, style="red")

    def retry(self, host: str, problem: str, delay: float, attempt: int, limit: int) -> None:
        if self.quiet:
            return
        from bundler.index.retries import CONNECT_PROBLEMS

        where = "to" if problem in CONNECT_PROBLEMS else "from"  # never reached, or answered
        self.say(
            f"retrying in {_seconds(delay)} s: {problem} {where} {host}"
            f" (attempt {attempt} of {limit})"
        )

    def task_start(self, key: str, description: str, total: int | None = None) -> None:
        if self.quiet or self.plain:
            return
        with self._lock:
            progress = self._ensure_progress()
            self._tasks[key] = progress.add_task(_escape(scrub(description)), total=total)

    def task_advance(self, key: str, amount: int) -> None:
        if self.quiet or self.plain:
            return
        with self._lock:
            task = self._tasks.get(key)
            if task is not None and self._progress is not None:
                self._progress.advance(task, amount)

    def task_done(self, key: str, ok: bool = True) -> None:
        if self.quiet or self.plain:
            return
        with self._lock:
            task = self._tasks.pop(key, None)
            if task is not None and self._progress is not None:
                self._progress.remove_task(task)


# --- argument parsing -------------------------------------------------------------


def _add_index_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("package sources (override those in requirements files)")
    g.add_argument("-i", "--index-url", help="base URL of a PEP 503 index (default PyPI)")
    g.add_argument("--extra-index-url", action="append", default=[], help="more index URLs")
    g.add_argument(
        "-f",
        "--find-links",
        action="append",
        default=[],
        help="a directory or page of distributions",
    )
    g.add_argument("--no-index", action="store_true", help="ignore indexes; use --find-links only")
    g.add_argument(
        "--index-strategy",
        choices=[s.value for s in IndexStrategy],
        help="a project found on several sources: 'unique' (default) is an error unless"
        " one index owns it; 'first-index' takes the first; 'unsafe-best-match' merges"
        " them as pip does (dependency confusion)",
    )


def _add_network_options(p: argparse.ArgumentParser) -> None:
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


def _add_target_options(p: argparse.ArgumentParser) -> None:
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


def _add_common(p: argparse.ArgumentParser) -> None:
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
        help="parallel network requests (default 8; downloads use fewer while the CPU is busy)",
    )
    g.add_argument(
        "--json",
        metavar="FILE",
        help="also write a machine-readable result to FILE ('-' for stdout)",
    )


def _add_lock_options(p: argparse.ArgumentParser) -> None:
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


def _add_project_options(p: argparse.ArgumentParser) -> None:
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


def _add_output_options(p: argparse.ArgumentParser) -> None:
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


def _project_selection(args: argparse.Namespace) -> Any:
    """``--extra``, ``--all-extras`` and ``--group``, names normalized."""
    from bundler.spec.projectinput import ProjectSelection

    extras = [e.strip() for value in args.extra for e in value.split(",") if e.strip()]
    if args.all_extras and extras:
        # pip-compile: "--extra has no effect when used with --all-extras".
        raise UsageError("--extra has no effect with --all-extras", hint="give one of them")
    return ProjectSelection(
        extras=tuple(dict.fromkeys(canonicalize_name(e) for e in extras)),
        all_extras=args.all_extras,
        groups=tuple(dict.fromkeys(canonicalize_name(g) for g in args.group)),
    )


def _add_pip_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pip",
        action="append",
        default=[],
        metavar="VERSION",
        help="also run the live install with this pip (repeatable; besides the pip a fresh"
        " venv gets and the newest); its wheel comes from the bundle, the cache or the index",
    )


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915
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

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
            allow_abbrev=False,
        )

    p = command("lock", "resolve requirements for every target and write a hashed lock")
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
    _add_project_options(p)
    _add_output_options(p)
    _add_lock_options(p)
    _add_target_options(p)
    _add_index_options(p)
    _add_network_options(p)
    _add_common(p)

    p = command("download", "fetch every artifact a lock needs into a bundle directory")
    p.add_argument(
        "lock", type=Path, help="a hashed requirements.txt (bundle lock, pip-compile, uv)"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory")
    _add_target_options(p)
    _add_index_options(p)
    _add_network_options(p)
    _add_common(p)

    p = command("verify", "prove that a bundle alone satisfies its lock (the gate)")
    p.add_argument(
        "bundle",
        type=Path,
        help="bundle directory (with --index-url: a bundle, its requirements.txt or pylock.toml)",
    )
    p.add_argument("--no-install", action="store_true", help="skip the live pip install check")
    _add_pip_option(p)
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
    _add_target_options(p)
    _add_common(p)

    p = command(
        "build", "lock, download and verify in one step; the new bundle replaces -o if it passes"
    )
    p.add_argument("requirements", nargs="+", type=Path, help="requirements.in file(s)")
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory")
    p.add_argument("--no-install", action="store_true", help="skip the live pip install check")
    _add_pip_option(p)
    _add_project_options(p)
    _add_lock_options(p)
    _add_target_options(p)
    _add_index_options(p)
    _add_network_options(p)
    _add_common(p)

    p = command("add", "place your own wheels and sdists into a bundle, with their dependencies")
    p.add_argument("bundle", type=Path, help="bundle directory")
    p.add_argument("files", nargs="+", type=Path, help="wheels or sdists to add")
    p.add_argument(
        "--no-deps",
        action="store_true",
        help="only place the files; do not fetch what they depend on",
    )
    _add_index_options(p)
    _add_network_options(p)
    _add_common(p)

    _add_publish_parser(command)

    p = command("serve", "serve a bundle as a package index (PEP 503 HTML and PEP 691 JSON)")
    p.add_argument("bundle", type=Path, help="bundle directory")
    p.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not log requests")
    _pack_parsers(command)
    _sbom_parser(command("sbom", "write a bundle's CycloneDX 1.6 SBOM (JSON)"))
    _diff_parser(command("diff", "what changes between two bundles or locks, per target"))
    return parser


def _pack_parsers(command: Any) -> None:
    p = command("pack", "write a verified bundle into one archive, to carry across an air gap")
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
    p = command("prune", "remove from an index directory the files no kept lock needs")
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
    p = command(
        "unpack", "unpack an archive `bundle pack` wrote, checked member by member and verified"
    )
    p.add_argument("archive", type=Path, help="a .tar, .tar.gz / .tgz or .tar.zst archive")
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="bundle directory (absent or empty)"
    )
    p.add_argument(
        "--force", action="store_true", help="replace the output directory if it holds anything"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.add_argument("--json", metavar="FILE", help="also write the result to FILE ('-': stdout)")


def _add_publish_parser(command: Any) -> None:
    p = command("publish", "publish a verified bundle to an index, never replacing a file")
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
    _add_network_options(p)
    _add_common(p)


def _diff_parser(p: argparse.ArgumentParser) -> None:
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
    _add_network_options(p)
    _add_common(p)


def _sbom_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle directory")
    p.add_argument("-o", "--output", required=True, help="SBOM file to write ('-' for stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


# --- commands -----------------------------------------------------------------------


def _config(args: argparse.Namespace) -> Config:
    path: Path | None = getattr(args, "config", None)
    if path is None:
        path = find_config(Path.cwd())
    elif not path.is_file():
        raise UsageError(f"{path}: no such configuration file")
    return load_config(path) if path is not None else Config()


def _merge_config(args: argparse.Namespace) -> None:
    """Fill options not given on the command line from the config file."""
    cfg = _config(args)
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


def _targets(args: argparse.Namespace, default: Sequence[str] = ()) -> list[Target]:
    versions: list[str] = list(dict.fromkeys(getattr(args, "python_version", []) or []))
    platforms: list[str] = list(dict.fromkeys(getattr(args, "platform", []) or []))
    if not versions and not platforms:
        if default:
            return [target_from_name(name) for name in default]
        return [host_target()]
    host = host_target()
    versions = versions or [host.python_full_version]
    platforms = platforms or list(host.platforms)
    targets: list[Target] = []
    for v in versions:
        for plat in platforms:
            t = make_target(v, plat)
            if t.name == host.name:
                t = host  # the same environment, known exactly
            if t.name not in {x.name for x in targets}:
                targets.append(t)
    return targets


def _client(args: argparse.Namespace, reporter: Reporter) -> Any:
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.page_max_age is not None and not args.page_max_age >= 0:
        raise UsageError(f"--page-max-age {args.page_max_age}: must be 0 or more seconds")
    upgrading = getattr(args, "upgrade", False) or getattr(args, "upgrade_package", [])
    client = app.make_client(
        app.ClientSettings(
            cache_dir=args.cache_dir,
            offline=args.offline,
            workers=args.workers,
            page_max_age=0 if upgrading else args.page_max_age,
            tls=_tls_options(args),
            keyring_provider=_keyring_provider(args),
        ),
        reporter,
    )
    if _Process.keep_alive is not None:
        _Process.keep_alive.append(client)
    _Process.clients.append(client)
    return client


def _tls_options(args: argparse.Namespace) -> TlsOptions:
    """``--cert`` and ``--client-cert``, each checked to be there."""
    cert: str | None = getattr(args, "cert", None)
    client_cert: str | None = getattr(args, "client_cert", None)
    if cert is not None and not os.path.exists(cert):
        raise UsageError(
            f"--cert {cert}: no such file or directory",
            hint="pass a PEM file of CA certificates (or a directory of hashed ones)",
        )
    if client_cert is not None and not os.path.isfile(client_cert):
        raise UsageError(
            f"--client-cert {client_cert}: no such file",
            hint="pass a PEM file holding the private key and the certificate",
        )
    return TlsOptions(cert=cert, client_cert=client_cert)


def _keyring_provider(args: argparse.Namespace) -> str:
    """``--keyring-provider``, else ``PIP_KEYRING_PROVIDER`` (as pip reads it)."""
    given: str | None = getattr(args, "keyring_provider", None)
    if given is not None:
        return given
    if not hasattr(args, "keyring_provider"):
        return DEFAULT_KEYRING_PROVIDER
    named = os.environ.get("PIP_KEYRING_PROVIDER") or DEFAULT_KEYRING_PROVIDER
    if named not in KEYRING_PROVIDERS:
        raise UsageError(
            f"PIP_KEYRING_PROVIDER={named}: bundler has {', '.join(KEYRING_PROVIDERS)}",
            hint="'import' needs keyring installed beside bundler: use 'subprocess'",
        )
    return named


class _Process:
    """Set by ``main``, for a process that ends with the run: what the run
    keeps until then (its HTTP client: closing every pooled TLS connection
    one by one is time the user waits for)."""

    keep_alive: list[object] | None = None
    # The run's HTTP clients: cancelled on Ctrl-C, so that the threads
    # fetching files stop at their next chunk instead of finishing them.
    clients: list[Any] = []

    @classmethod
    def cancel(cls) -> None:
        for client in cls.clients:
            client.cancel()


def _overrides(args: argparse.Namespace) -> app.IndexOverrides:
    for option, urls in (
        ("--index-url", [args.index_url] if args.index_url else []),
        ("--extra-index-url", args.extra_index_url),
        ("--find-links", args.find_links),
    ):
        for url in urls:
            check_url(url, option)
    return app.IndexOverrides(
        index_url=args.index_url,
        extra_index_urls=tuple(args.extra_index_url),
        find_links=tuple(args.find_links),
        no_index=args.no_index,
        named_indexes=tuple(getattr(args, "named_indexes", ())),
        index_strategy=IndexStrategy(args.index_strategy) if args.index_strategy else None,
    )


def _names(values: Sequence[str]) -> frozenset[str]:
    out: set[str] = set()
    for value in values:
        for raw in value.split(","):
            part = raw.strip()
            if part == ":none:":
                out.clear()
            elif part == ":all:":
                out.add(part)
            elif part:
                out.add(canonicalize_name(part))
    return frozenset(out)


def _lock_options(args: argparse.Namespace, reqs: Any) -> app.LockOptions:
    only_binary = frozenset(reqs.only_binary) | _names(args.only_binary)
    if args.no_build:
        only_binary |= {":all:"}
    from bundler.spec.selection import BinaryPolicy

    policy = BinaryPolicy(
        only_binary=only_binary,
        no_binary=frozenset(reqs.no_binary) | _names(args.no_binary),
        prefer_binary=args.prefer_binary or reqs.prefer_binary,
    )
    upgrades = _upgrade_requirements(args.upgrade_package)
    return app.LockOptions(
        allow_prereleases=args.pre,
        upgrade=args.upgrade,
        upgrade_packages=frozenset(canonicalize_name(r.name) for r in upgrades),
        upgrade_constraints=tuple(r for r in upgrades if r.specifier or r.marker),
        policy=policy,
        exclude_newer=_exclude_newer(args.exclude_newer),
    )


def _exclude_newer(value: str | None) -> datetime | None:
    """``--exclude-newer``: an RFC 3339 timestamp with its offset, or a date
    (its first instant, UTC: the same cut-off on every machine)."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == len("yyyy-mm-dd"):
            return datetime.combine(date.fromisoformat(text), time(), timezone.utc)
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise UsageError(
            f"--exclude-newer {value}: not an RFC 3339 timestamp (with its offset) nor a date",
            hint="--exclude-newer 2026-01-31 or --exclude-newer 2026-01-31T12:00:00Z",
        )
    return when


def _upgrade_requirements(values: Sequence[str]) -> list[Requirement]:
    """``-P`` values as requirements (``name``, ``name==1.2.3``, any
    specifier), extras dropped: pip-compile makes each a constraint, and a
    constraint has no extras."""
    from packaging.requirements import InvalidRequirement, Requirement

    out: list[Requirement] = []
    problems: list[str] = []
    for value in values:
        try:
            req = Requirement(value)
        except InvalidRequirement as err:
            problems.append(f"--upgrade-package {value!r}: {err}")
            continue
        if req.url:
            problems.append(f"--upgrade-package {value!r}: a URL cannot be upgraded")
            continue
        req.extras = set()
        out.append(req)
    if problems:
        raise UsageError(
            "\n".join(problems), hint="give a project name, or NAME==VERSION: -P requests==2.32.3"
        )
    return out


def _lock_args_for_header(args: argparse.Namespace) -> list[str]:
    extra: list[str] = []
    if args.pre:
        extra.append("--pre")
    if args.output_file is not None:
        extra += ["-o", args.output_file.name]
    extra += _flags(args, names=lambda p: p.name)
    return extra


def _flags(args: argparse.Namespace, *, names: Any) -> list[str]:
    """The project, constraint, cut-off and layout options of ``bundle lock``
    as arguments, each file through ``names``."""
    extra = ["--all-extras"] if args.all_extras else [a for e in args.extra for a in ("--extra", e)]
    extra += [a for g in args.group for a in ("--group", g)]
    extra += [a for c in args.constraint for a in ("-c", str(names(c)))]
    if args.exclude_newer:
        extra += ["--exclude-newer", args.exclude_newer]
    if args.no_header:
        extra.append("--no-header")
    if args.no_annotate:
        extra.append("--no-annotate")
    elif args.annotation_style != SPLIT:
        extra += ["--annotation-style", args.annotation_style]
    return extra


def _relock_command(args: argparse.Namespace, output: Path) -> str:
    """The ``bundle lock`` command that rewrites the lock ``lock --check``
    compared: its every option that changes the lock (credentials redacted),
    each argument quoted for a POSIX shell."""
    from bundler.redact import redact_url

    parts = ["bundle", "lock", *(str(p) for p in args.requirements), "-o", str(output)]
    parts += _flags(args, names=str)
    for flag, on in (("--pre", args.pre), ("--no-build", args.no_build)):
        parts += [flag] if on else []
    parts += [a for n in args.only_binary for a in ("--only-binary", n)]
    parts += [a for n in args.no_binary for a in ("--no-binary", n)]
    parts += ["--prefer-binary"] if args.prefer_binary else []
    parts += [a for v in args.python_version for a in ("--python-version", v)]
    parts += [a for v in args.platform for a in ("--platform", v)]
    parts += ["-i", args.index_url] if args.index_url else []
    parts += [a for u in args.extra_index_url for a in ("--extra-index-url", u)]
    parts += [a for u in args.find_links for a in ("-f", u)]
    parts += ["--no-index"] if args.no_index else []
    parts += ["--index-strategy", args.index_strategy] if args.index_strategy else []
    parts += ["--config", str(args.config)] if args.config else []
    return shlex.join(redact_url(p) for p in parts)


def _lock_sources(args: argparse.Namespace, reqs: Any) -> tuple[IndexSettings, dict[str, str]]:
    """The sources to lock from: the command line's, over the requirements
    files', over pip's environment (``PIP_INDEX_URL``, ...) as pip-compile
    reads them; and each source only the environment named, with its
    variable."""
    files, origins = under_pip_environment(
        reqs.indexes, reqs.index_url_set, pip_environment(os.environ)
    )
    overrides = _overrides(args)
    given = {overrides.index_url, *overrides.extra_index_urls, *overrides.find_links}
    return overrides.apply(files), {u: o for u, o in origins.items() if u not in given}


def _do_lock(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    # pip-compile's "-o -": the lock (requirements format) on stdout, alone;
    # --dry-run prints it there too, and writes nothing.
    to_stdout = str(args.output_file) == STDOUT or args.dry_run
    if to_stdout and args.json == STDOUT:
        raise UsageError(
            "the lock (-o - or --dry-run) and --json - would both write to stdout",
            hint="give --json a file",
        )
    stdin = _read_stdin(args.requirements)
    if stdin is not None and args.output_file is None:
        # pip-compile: "--output-file is required if input is from stdin".
        raise UsageError(
            "-o is required when the requirements come from stdin",
            hint="... | bundle lock - -o requirements.txt (or -o - for stdout)",
        )
    output: Path = args.output_file or args.requirements[0].with_name("requirements.txt")
    if str(output) != STDOUT:
        app.check_lock_name(output)
    selection = _project_selection(args)
    reqs = app.read_requirements(args.requirements, selection, args.constraint, stdin)
    indexes, origins = _lock_sources(args, reqs)
    if str(output) != STDOUT and output.resolve() in {
        p.resolve() for p in (*args.requirements, *args.constraint)
    }:
        raise UsageError(
            f"{output}: the output file would overwrite an input", hint="pass -o LOCKFILE"
        )
    client = _client(args, reporter)
    # A project's build backend tells its dependencies before anything
    # compares or resolves them.
    reqs = app.prepare_projects(reqs, selection, indexes, client, reporter, args.workers)
    targets = _targets(args)
    options = _lock_options(args, reqs)
    inputs = app.lock_inputs(reqs, targets, indexes, options)
    if args.check:
        return _check_lock(
            args, reporter, out, output, inputs, reqs, targets, indexes, options, origins
        )
    existing = None
    # pip-compile keeps the pins of the output file, in a dry run too.
    if str(output) != STDOUT and output.is_file() and not args.upgrade:
        try:
            existing = app.read_lock_file(output)
        except BundlerError as err:
            reporter.warning(f"ignoring the pins of {output}: {err.message}")
    result = app.lock(reqs, targets, indexes, options, client, reporter, existing, args.workers)
    _warn_yanked(result, reporter)
    command = app.lock_command_line(args.requirements, _lock_args_for_header(args))
    layout = _lock_layout(args)
    if to_stdout:
        pylock = args.dry_run and app.is_pylock(output)
        sys.stdout.write(
            app.render_lock(
                result,
                command,
                pylock=pylock,
                origins=origins,
                inputs=inputs.record,
                layout=layout,
            )
        )
        sys.stdout.flush()
    else:
        app.write_lock(result, output, command, origins, inputs.record, layout)
    where = "the lock to stdout" if to_stdout else str(output)
    if args.dry_run:
        where += f" (dry run: {output} not written)"
    reporter.info(f"wrote {where}: {len(result.packages)} packages for {', '.join(result.targets)}")
    out.update(
        output=STDOUT if to_stdout else str(output),
        targets=list(result.targets),
        packages=[
            {"name": p.name, "version": str(p.version), "marker": p.marker} for p in result.packages
        ],
    )
    return 0


def _lock_layout(args: argparse.Namespace) -> app.LockLayout:
    return app.LockLayout(
        header=not args.no_header,
        annotate=not args.no_annotate,
        annotation_style=args.annotation_style,
    )


def _check_lock(
    args: argparse.Namespace,
    reporter: ConsoleReporter,
    out: dict[str, Any],
    output: Path,
    inputs: Inputs,
    reqs: Any,
    targets: list[Target],
    indexes: IndexSettings,
    options: app.LockOptions,
    origins: dict[str, str],
) -> int:
    """``lock --check``: compare the lock with what ``bundle lock`` would
    write now, write nothing; exit 1 naming each difference."""
    if str(args.output_file) == STDOUT:
        raise UsageError(
            "--check compares a lock file: -o - names none", hint="-o requirements.txt"
        )

    def relock(existing: LockInput) -> Lock:
        reporter.info(f"resolving the inputs of {output} again to compare it")
        # The cache first (the lock's pins are preferred, so what was
        # fetched to make it usually suffices), the network when it does not.
        cached = _client(argparse.Namespace(**{**vars(args), "offline": True}), reporter)
        try:
            return app.lock(reqs, targets, indexes, options, cached, NULL_REPORTER, existing)
        except BundlerError:
            if args.offline:
                raise
        client = _client(args, reporter)
        return app.lock(reqs, targets, indexes, options, client, reporter, existing, args.workers)

    def render(fresh: Lock, record: InputRecord | None) -> str:
        command = app.lock_command_line(args.requirements, _lock_args_for_header(args))
        pylock = app.is_pylock(output)
        layout = _lock_layout(args)
        return app.render_lock(
            fresh, command, pylock=pylock, origins=origins, inputs=record, layout=layout
        )

    differences = app.check_lock(output, inputs, relock, render)
    out.update(
        lock=str(output),
        matches=not differences,
        differences=[{"message": d.message, "file": d.path, "line": d.line} for d in differences],
    )
    command = _relock_command(args, output)
    _ci_check_report(differences, output, command, annotate=args.json != STDOUT)
    if not differences:
        reporter.info(f"{output} matches its inputs")
        return 0
    reporter.error(f"{output} does not match its inputs:")
    for d in differences:
        reporter.say(f"  {d}")
    reporter.say(f"re-lock with: {command}", label="hint: ")
    return 1


def _ci_check_report(
    differences: Sequence[Difference], lock: Path, command: str, *, annotate: bool
) -> None:
    """Under GitHub Actions: an annotation per difference (on stdout, unless
    ``--json -`` has it), and a summary of the check."""
    from bundler.cli import ghactions

    if not ghactions.enabled(os.environ):
        return
    if annotate:
        _annotate(ghactions.check_annotations(differences))
    summary = os.environ.get(ghactions.SUMMARY_ENV)
    if summary:
        text = ghactions.check_summary(differences, str(lock), command)
        ghactions.append_summary(Path(summary), scrub(text))


def _read_stdin(paths: Sequence[Path]) -> str | None:
    """The requirements on stdin when an input is ``-`` (read once), decoded
    as pip decodes a requirements file."""
    if not any(str(p) == app.STDIN for p in paths):
        return None
    from bundler.spec.reqfile import decode_requirements

    try:
        return decode_requirements(sys.stdin.buffer.read())
    except (UnicodeDecodeError, LookupError) as err:
        raise UsageError(f"stdin: cannot decode the requirements: {err}") from err


def _warn_yanked(result: Lock, reporter: Reporter) -> None:
    """PEP 592: a yanked release is locked only when pinned exactly; say so,
    as pip does when it installs one."""
    for pkg in result.packages:
        yanked = [f for f in pkg.files if f.yanked is not None]
        if not yanked:
            continue
        reasons = sorted({f.yanked for f in yanked if f.yanked})
        why = f" (reason: {'; '.join(reasons)})" if reasons else " (no reason given)"
        reporter.warning(
            f"{pkg.name} {pkg.version} is yanked{why}: locked because it is pinned with =="
            f" (via {', '.join(pkg.via) or 'the input'})"
        )


def _do_download(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    lock_input = app.read_lock_file(args.lock)
    indexes = _overrides(args).apply(lock_input.indexes)
    client = _client(args, reporter)
    targets = _targets(args, default=lock_input.targets)
    # A requirements.txt lock names no URL: each project's page comes first.
    needs_pages = bool(app.pins_without_files(lock_input))
    with contextlib.ExitStack() as stack:
        index = None
        on_files = None
        if needs_pages:
            from bundler.index.collector import PackageIndex

            index = stack.enter_context(
                PackageIndex(app.hash_matched(indexes), client, reporter, workers=args.workers)
            )
            ahead = stack.enter_context(
                ThreadPoolExecutor(args.workers, thread_name_prefix="ahead")
            )

            def stop_ahead(kind: type[BaseException] | None, *_: object) -> None:
                # Run before the pool waits for its downloads: on Ctrl-C
                # they stop at their next chunk.
                if kind is not None and issubclass(kind, KeyboardInterrupt):
                    client.cancel()

            stack.push(stop_ahead)

            def fetch_ahead(files: Sequence[LockedFile]) -> None:
                # A project's files start as soon as its page is in, not
                # once every page is; the download below then finds them in
                # the cache (a failure here is met, and reported, there).
                for f in files:
                    if f.url and f.sha256:
                        ahead.submit(client.fetch_to_cache, f.url, sha256=f.sha256, size=f.size)

            on_files = fetch_ahead
        lock_ = app.hydrate(
            lock_input, targets, index, client, on_files=on_files, workers=args.workers
        )
    lock_ = app.with_build_requirements(
        lock_, lock_input, targets, indexes, client, reporter, args.workers
    )
    lock_ = app.with_recorded_inputs(lock_, args.lock)
    manifest = app.download(lock_, args.output, indexes, client, reporter, args.workers)
    _summarise_manifest(manifest, args.output, reporter, out)
    return 0


def _check_bundle_dir(path: Path) -> None:
    """A path that exists but is no directory is a usage error saying so
    (not "no such directory")."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} is a file, not a bundle directory", hint="bundle verify ./pypi")


def _summarise_manifest(
    m: Manifest, out_dir: Path, reporter: Reporter, out: dict[str, Any]
) -> None:
    total = sum(a.size for a in m.artifacts)
    reporter.info(
        f"{out_dir}: {len(m.artifacts)} files, {total / 1e6:.1f} MB, {len(m.packages)} packages"
    )
    out.update(bundle=str(out_dir), files=len(m.artifacts), bytes=total, packages=len(m.packages))


def _do_verify(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.gate.integrity import VerifyReport, report_to_json
    from bundler.gate.verify import VerifyOptions, check_inputs, load_bundle, verify

    if args.check_index_url is not None:
        return _verify_index(args, args.check_index_url, reporter, out)
    client = _client(args, reporter)
    _check_bundle_dir(args.bundle)
    manifest = load_bundle(args.bundle)
    targets = _targets(args, default=manifest.targets)
    inputs = None
    if args.check_inputs:
        current = app.lock_inputs(
            app.read_requirements(args.check_inputs), targets, IndexSettings(), app.LockOptions()
        )
        given = bool(args.python_version or args.platform)
        inputs = check_inputs(args.bundle, manifest, current, targets=given)
    index_url = _config(args).index_url or IndexSettings().index_url
    options = VerifyOptions(
        live=not args.no_install, pips=tuple(args.pip), pip_index=IndexSettings(index_url)
    )
    report = verify(args.bundle, targets, client, options, reporter)
    if inputs is not None:
        report = VerifyReport((inputs, *report.results))
    reporter.close()
    _print_report(report, reporter)
    out.update(json.loads(report_to_json(report)))
    if args.junit is not None:
        from bundler.gate.junit import write_junit

        write_junit(report, args.junit)
    _ci_verify_report(report, args.bundle, annotate=args.json != STDOUT)
    return 0 if report.ok else 1


def _ci_verify_report(report: VerifyReport, bundle: Path, *, annotate: bool) -> None:
    """Under GitHub Actions: an annotation per problem (on the bundle's lock
    line, or the input line, when it has one; on stdout, unless ``--json -``
    has it), and the report's summary."""
    from bundler.bundle.layout import REQUIREMENTS_LOCK
    from bundler.cli import ghactions

    if not ghactions.enabled(os.environ):
        return
    lock = bundle / REQUIREMENTS_LOCK
    pin_lines: dict[str, int] = {}
    with contextlib.suppress(BundlerError, OSError):
        for pin in app.read_lock_file(lock).pins:
            line = pin.source.rpartition(":")[2]
            if line.isdigit() and not pin.build_only:
                pin_lines.setdefault(pin.name, int(line))
    if annotate:
        _annotate(ghactions.verify_annotations(report, str(lock), pin_lines))
    summary = os.environ.get(ghactions.SUMMARY_ENV)
    if summary:
        text = ghactions.verify_summary(report, str(bundle))
        ghactions.append_summary(Path(summary), scrub(text))


def _annotate(commands: Sequence[str]) -> None:
    """GitHub Actions reads workflow commands on stdout, one per line."""
    for command in commands:
        sys.stdout.write(scrub(command) + "\n")
    sys.stdout.flush()


def _verify_index(
    args: argparse.Namespace, url: str, reporter: ConsoleReporter, out: dict[str, Any]
) -> int:
    """The post-publish gate: ``bundle verify --index-url URL LOCK``."""
    from bundler.gate.integrity import report_to_json
    from bundler.gate.remote import load_published_lock, verify_index

    check_url(url, "--index-url")
    if args.pip:
        raise UsageError(
            "--pip applies to the bundle's own gate, not to --index-url",
            hint="the published index is installed from with the newest pip here",
        )
    args.page_max_age = 0  # what the index holds now, not a cached page
    lock = load_published_lock(args.bundle)
    client = _client(args, reporter)
    targets = _targets(args, default=lock.manifest.targets)
    live = not getattr(args, "no_install", False)
    report = verify_index(
        url, lock, targets, client, live=live, workers=args.workers, reporter=reporter
    )
    reporter.close()
    _print_report(report, reporter)
    out.update(json.loads(report_to_json(report)))
    if args.junit is not None:
        from bundler.gate.junit import write_junit

        write_junit(report, args.junit)
    return 0 if report.ok else 1


def _do_publish(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:  # noqa: C901, PLR0915
    from bundler.gate.integrity import report_to_json
    from bundler.gate.verify import VerifyOptions, load_bundle, verify
    from bundler.publish.core import check_publishable, open_destination, publish
    from bundler.publish.plan import REFUSE, SKIP
    from bundler.publish.plan import result_to_json as publish_json

    args.page_max_age = 0  # what the destination holds now, not a cached page
    client = _client(args, reporter)
    if args.promote_to is not None and args.no_check:
        raise UsageError(
            "--promote-to needs the post-publish gate: it promotes only what passed it",
            hint="drop --no-check",
        )
    destination = open_destination(
        args.dest,
        read_url=args.read_url,
        layout=args.layout,
        client=client,
        promote_to=args.promote_to,
        s3_endpoint_url=args.s3_endpoint_url,
        bundle=args.bundle,
    )
    read_url = None if args.no_check or args.dry_run else destination.read_url()
    if read_url is None and not (args.no_check or args.dry_run):
        raise UsageError(
            f"{destination.describe()}: no URL to check the published index at",
            hint="pass --index-url URL (the web server over DEST), or --no-check",
        )
    manifest = load_bundle(args.bundle)
    if args.verify:
        targets = _targets(args, default=manifest.targets)
        report = verify(args.bundle, targets, client, VerifyOptions(), reporter)
        out["verify"] = json.loads(report_to_json(report))
        if not report.ok:
            reporter.close()
            _print_report(report, reporter)
            return 1
    check_publishable(args.bundle, manifest, reporter)

    def hash_url(url: str) -> str:
        with tempfile.TemporaryDirectory(prefix="bundler-publish-") as tmp:
            digest: str = client.fetch_to_file(url, Path(tmp) / "file", sha256=None)[0]
            return digest

    result = publish(
        args.bundle,
        manifest,
        destination,
        dry_run=args.dry_run,
        hash_url=hash_url,
        reporter=reporter,
    )
    reporter.close()
    out["publish"] = publish_json(result)
    for f in result.plan.files:
        verb = {SKIP: "skip", REFUSE: "refuse"}.get(f.action, "upload")
        if args.dry_run or (f.action != SKIP and not args.quiet):
            reason = f": {f.reason}" if f.reason else ""
            reporter.say(f"{f.filename}{reason}", label=f"{verb} ")
    uploaded = len(result.plan.files) - len(result.plan.named(SKIP))
    if args.dry_run:
        reporter.say(
            f"dry run: {uploaded - len(result.plan.refused)} to upload,"
            f" {len(result.plan.named(SKIP))} already there, {len(result.plan.refused)} refused;"
            " nothing was written"
        )
        return 1 if result.plan.refused else 0
    reporter.info(
        f"published {uploaded} file(s) to {destination.describe()}"
        f" ({len(result.plan.named(SKIP))} already there)"
    )
    if read_url is None:
        return 0
    from bundler.gate.remote import load_published_lock, verify_index

    check = verify_index(
        read_url,
        load_published_lock(args.bundle),
        _targets(args, default=manifest.targets),
        client,
        workers=args.workers,
        reporter=reporter,
    )
    reporter.close()
    _print_report(check, reporter)
    out["check"] = json.loads(report_to_json(check))
    if args.junit is not None:
        from bundler.gate.junit import write_junit

        write_junit(check, args.junit)
    if not check.ok:
        if args.promote_to is not None:
            reporter.error(f"nothing was promoted to {args.promote_to}: the gate failed")
        return 1
    if args.promote_to is not None:
        from bundler.publish.devpi import DevpiDestination

        assert isinstance(destination, DevpiDestination)
        releases = sorted({(a.project, a.version) for a in manifest.artifacts})
        promotion = destination.promote(releases, reporter)
        out["promoted"] = {
            "to": args.promote_to,
            "pushed": [f"{n}=={v}" for n, v in promotion.pushed],
            "copied": list(promotion.copied),
            "already": [f"{n}=={v}" for n, v in promotion.already],
        }
        reporter.info(
            f"promoted to {args.promote_to}: {len(promotion.pushed)} release(s) pushed,"
            f" {len(promotion.copied)} file(s) copied, {len(promotion.already)} already there"
        )
    return 0


def _print_report(report: VerifyReport, reporter: ConsoleReporter) -> None:
    """The verify table (one line per check when not on a terminal), then
    one line per problem, then the verdict.  ``--quiet`` keeps only the
    problems and a failing verdict."""
    colours = {"passed": "green", "failed": "red", "skipped": "yellow", "differs": "yellow"}
    if reporter.quiet:
        pass
    elif reporter.plain:
        for r in report.results:
            details = f": {r.details}" if r.details else ""
            reporter.say(f"{r.status} {r.check} ({r.target or 'all targets'}){details}")
    else:
        from rich.table import Table

        table = Table(title="bundle verify")
        table.add_column("target")
        table.add_column("check")
        table.add_column("result")
        table.add_column("details")
        for r in report.results:
            table.add_row(
                _escape(r.target or "(all)"),
                _escape(r.check),
                f"[{colours.get(r.status, 'white')}]{_escape(r.status)}[/]",
                _escape(scrub(r.details)),
            )
        reporter.console.print(table)
    for r in report.results:
        for p in r.problems:
            where = f" [{p.target}]" if p.target else ""
            reporter.say(f"{r.check}{where}: {p.subject}: {p.message}", label="✗ ", style="red")
    if report.ok:
        if not reporter.quiet:
            reporter.say("", label="PASS", style="green")
    else:
        reporter.say("", label="FAIL", style="red")


def _do_build(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.gate.integrity import report_to_json
    from bundler.gate.verify import VerifyOptions, verify

    selection = _project_selection(args)
    reqs = app.read_requirements(args.requirements, selection)
    indexes, _ = _lock_sources(args, reqs)
    client = _client(args, reporter)
    targets = _targets(args)
    reqs = app.prepare_projects(reqs, selection, indexes, client, reporter, args.workers)
    result = app.lock(
        reqs, targets, indexes, _lock_options(args, reqs), client, reporter, None, args.workers
    )
    _warn_yanked(result, reporter)
    options = VerifyOptions(live=not args.no_install, pips=tuple(args.pip), pip_index=indexes)
    report: VerifyReport | None = None

    def gate(staged: Path) -> bool:
        # The new bundle replaces the old one only if it passes.
        nonlocal report
        report = verify(staged, targets, client, options, reporter)
        return report.ok

    manifest = app.download(result, args.output, indexes, client, reporter, args.workers, gate)
    assert report is not None
    if report.ok:
        _summarise_manifest(manifest, args.output, reporter, out)
    else:
        reporter.warning(f"{args.output} is unchanged: the new bundle failed the gate")
    reporter.close()
    _print_report(report, reporter)
    out["verify"] = json.loads(report_to_json(report))
    return 0 if report.ok else 1


def _do_add(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    indexes = _overrides(args).apply(IndexSettings())
    manifest = app.add(
        args.bundle,
        args.files,
        indexes,
        _client(args, reporter),
        reporter,
        args.workers,
        fetch_dependencies=not args.no_deps,
    )
    out["added"] = sorted(p.name for p in args.files)
    _summarise_manifest(manifest, args.bundle, reporter, out)
    reporter.info("run `bundle verify` to prove the bundle still installs")
    return 0


def _do_serve(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be between 0 and 65535")

    def log(line: str) -> None:
        reporter.say(line)

    from bundler.serve.server import serve

    serve(args.bundle, args.host, args.port, log=None if args.quiet else log)
    return 0


def _do_pack(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.bundle.pack import compression_for, pack
    from bundler.fsutil import directory_lock
    from bundler.gate.integrity import VerifyReport, check_integrity
    from bundler.gate.verify import load_bundle

    compression_for(args.output)
    manifest = load_bundle(args.bundle)
    with directory_lock(args.bundle):
        reporter.stage("integrity")
        result = check_integrity(args.bundle, manifest)
        if result.failed:
            _print_report(VerifyReport((result,)), reporter)
            raise BundlerError(
                f"{args.bundle}: fails the integrity check; nothing was packed",
                hint="`bundle verify` names each problem; fix them or rebuild the bundle",
            )
        packed = pack(args.bundle, manifest, args.output)
    reporter.info(f"wrote {packed.archive}: {packed.members} members, {packed.size} bytes")
    out.update(archive=str(packed.archive), members=packed.members, bytes=packed.size)
    return 0


def _do_unpack(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.bundle.pack import unpack
    from bundler.gate.integrity import report_to_json
    from bundler.gate.verify import VerifyOptions, verify

    # The gate's offline part: the bundle's own pages are the only source.
    client = app.make_client(app.ClientSettings(offline=True), reporter)

    def check(tree: Path, manifest: Manifest) -> bool:
        targets = _targets(argparse.Namespace(), default=manifest.targets)
        report = verify(tree, targets, client, VerifyOptions(live=False), reporter)
        reporter.close()
        _print_report(report, reporter)
        out["verify"] = json.loads(report_to_json(report))
        return report.ok

    manifest = unpack(args.archive, args.output, force=args.force, check=check)
    _summarise_manifest(manifest, args.output, reporter, out)
    return 0


def _do_prune(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.bundle import prune
    from bundler.bundle.layout import MANIFEST_NAME
    from bundler.fsutil import directory_lock

    locks = [app.read_lock_file(path) for path in args.keep]
    if not args.dest.is_dir():
        raise UsageError(f"{args.dest}: no such directory", hint="bundle prune ./pypi --keep LOCK")
    with contextlib.ExitStack() as stack:
        if not args.dry_run:
            stack.enter_context(directory_lock(args.dest))
            if not (args.dest / MANIFEST_NAME).exists():
                # A directory bundles are published to: publishers take
                # turns with the lock inside it.
                from bundler.publish.directory import DirectoryDestination

                stack.enter_context(DirectoryDestination(args.dest).lock(wait=0.0))
        plan = prune.plan(args.dest, locks)
        if not args.dry_run:
            prune.apply(plan)
    verb = "would remove" if args.dry_run else "removed"
    for name in plan.unlisted_kept:
        reporter.warning(f"files/{name}: no page lists it, but a kept lock pins it: kept")
    for name in plan.paths:
        reporter.info(f"{verb} files/{name}")
    reporter.info(
        f"{args.dest}: {verb} {len(plan.paths)} files ({plan.freed / 1e6:.1f} MB);"
        f" {len(plan.kept)} files stay"
    )
    out.update(
        dest=str(args.dest),
        dry_run=args.dry_run,
        removed=[f"files/{name}" for name in plan.paths],
        kept=sorted(a.filename for a in plan.kept),
        freed=plan.freed,
    )
    return 0


def _do_sbom(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.bundle.sbom import bundle_sbom
    from bundler.gate.verify import load_bundle

    manifest = load_bundle(args.bundle)
    data = bundle_sbom(args.bundle, manifest)
    if args.output == STDOUT:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_output(Path(args.output), data)
        reporter.info(f"{args.output}: the CycloneDX 1.6 SBOM of {args.bundle}")
    out.update(bundle=str(args.bundle), sbom=args.output)
    return 0


def _diff_side(path: Path) -> Snapshot:
    from bundler.bundle.layout import MANIFEST_NAME
    from bundler.gate.verify import load_bundle
    from bundler.lock.diff import snapshot_from_lock, snapshot_from_manifest

    if path.is_dir():
        if not (path / MANIFEST_NAME).is_file():
            raise UsageError(f"{path}: not a bundle ({MANIFEST_NAME} is missing)")
        return snapshot_from_manifest(load_bundle(path), str(path))
    if not path.exists():
        raise UsageError(f"{path}: no such bundle directory or lock file")
    return snapshot_from_lock(app.read_lock_file(path), str(path))


def _diff_index_side(
    side: Snapshot, url: str, option: str, args: argparse.Namespace, reporter: Reporter
) -> Snapshot:
    """``side`` as the index at ``url`` lists it (its pages as of now)."""
    from urllib.parse import urlsplit

    from bundler.index.collector import PackageIndex
    from bundler.lock.diff import snapshot_at_index
    from bundler.redact import redact_url

    check_url(url, option)
    if urlsplit(url).scheme not in ("http", "https", "file"):
        raise UsageError(
            f"{option} {redact_url(url)}: not an index URL",
            hint=f"{option} https://pypi.example.com/simple/ (http, https or file)",
        )
    args.page_max_age = 0
    client = _client(args, reporter)
    settings = IndexSettings(index_url=url)
    with PackageIndex(settings, client, reporter, workers=args.workers) as index:
        index.prefetch(r.name for r in side.releases)
        return snapshot_at_index(side, index, redact_url(url))


def _do_diff(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.lock.diff import (
        diff_snapshots,
        diff_to_json,
        parse_fail_on,
        render_markdown,
        render_text,
    )
    from bundler.lock.diff import violations as policy_violations

    fail_on = parse_fail_on(args.fail_on) if args.fail_on is not None else frozenset()
    sides = [_diff_side(args.old), _diff_side(args.new)]
    for i, (option, url) in enumerate(
        (("--old-index-url", args.old_index_url), ("--new-index-url", args.new_index_url))
    ):
        if url is not None:
            sides[i] = _diff_index_side(sides[i], url, option, args, reporter)
    reporter.close()
    diff = diff_snapshots(*sides)
    out.update(diff_to_json(diff))
    if args.json != STDOUT:
        render = render_markdown if args.format == "markdown" else render_text
        sys.stdout.write(render(diff))
        sys.stdout.flush()
    violations = policy_violations(diff, fail_on)
    out["violations"] = violations
    if violations:
        reporter.error(f"--fail-on {args.fail_on}: the diff has {', '.join(violations)}")
        return 1
    return 0


COMMANDS = {
    "prune": _do_prune,
    "pack": _do_pack,
    "unpack": _do_unpack,
    "lock": _do_lock,
    "download": _do_download,
    "verify": _do_verify,
    "build": _do_build,
    "serve": _do_serve,
    "add": _do_add,
    "publish": _do_publish,
    "sbom": _do_sbom,
    "diff": _do_diff,
}


def _write_json(dest: str, payload: dict[str, Any]) -> None:
    text = scrub(json.dumps(payload, indent=2, sort_keys=True)) + "\n"
    if dest == STDOUT:
        sys.stdout.write(text)
    else:
        write_output(Path(dest), text)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    _Process.keep_alive = []
    code = run(argv, own_process=True)
    # Everything is written by now.  Tearing down what a run leaves behind
    # (every parsed page, pooled connections) object by object costs about
    # a tenth of a second the user waits for: with the output flushed and
    # no other thread running, the process ends at once instead.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)
    if threading.active_count() == 1:
        os._exit(code)
    sys.exit(code)


def _command_parser(
    parser: argparse.ArgumentParser, command: str | None
) -> argparse.ArgumentParser:
    """The subcommand's parser (the top-level one when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            found: argparse.ArgumentParser = action.choices[command]
            return found
    return parser


def run(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Run the CLI; return the exit code (0 ok, 1 unsatisfiable/gate failed, 2 usage).

    ``own_process``: the process ends with this run (the ``bundle`` command),
    so process-wide settings may be tuned for it."""
    _Process.clients = []
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Reported by the command's own parser, with its usage line.
        _command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    if own_process:
        # What start-up made (modules, classes) lives as long as the
        # process: the cyclic garbage collector (off while it was made, see
        # __main__) never walks it again.
        gc.freeze()
        if args.command != "serve":
            # A run makes many objects and few reference cycles: the
            # collector's frequent young-generation passes cost up to a
            # sixth of an offline lock, for no memory saved.  It runs rarely
            # instead (not in a long-running server).
            gc.set_threshold(100_000, 50, 100)
        gc.enable()
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    reporter = ConsoleReporter(quiet=args.quiet, verbose=getattr(args, "verbose", False))
    payload: dict[str, Any] = {"command": args.command, "bundler": __version__}
    code = 1
    try:
        _merge_config(args)
        code = COMMANDS[args.command](args, reporter, payload)
    except BundlerError as err:
        reporter.error(str(err))
        payload["error"] = scrub(str(err))
        code = err.exit_code
    except KeyboardInterrupt:
        _Process.cancel()  # the interpreter waits for its download threads
        reporter.close()
        reporter.say("interrupted")
        return 130
    except OSError as err:  # the machine said no: not a bundler bug
        where = f"{err.filename}: " if err.filename else ""
        message = scrub(f"{where}{err.strerror or err}")
        reporter.error(message)
        payload["error"] = message
        code = 1
    except Exception as err:  # the error boundary: a bug, reported without a traceback
        reporter.error(
            f"{type(err).__name__}: {err} (set BUNDLER_DEBUG=1 for a traceback; please report it)",
            label="internal error: ",
        )
        if os.environ.get("BUNDLER_DEBUG"):
            reporter.say(traceback.format_exc())
        payload["error"] = scrub(f"internal error: {type(err).__name__}: {err}")
        code = 1
    finally:
        reporter.close()
    payload["exit_code"] = code
    if getattr(args, "json", None):
        try:
            _write_json(args.json, payload)
        except OSError as err:
            reporter.error(f"cannot write {args.json}: {err}")
            return 2
    return code


def _seconds(delay: float) -> str:
    """A wait as a person reads it: ``3``, ``0.4``, ``12``."""
    if delay >= 10:
        return f"{delay:.0f}"
    return f"{delay:.1f}".removesuffix(".0")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
