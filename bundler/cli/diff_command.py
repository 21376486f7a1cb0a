"""``bundle diff``: what changes between two bundles or locks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bundler.cli.console import (
    STDOUT,
    ConsoleReporter,
)
from bundler.cli.options import replace_options
from bundler.cli.settings import (
    make_client,
)
from bundler.errors import UsageError, check_url
from bundler.lock.files import read_lock_file
from bundler.models import IndexSettings
from bundler.reporting import Reporter

if TYPE_CHECKING:
    from bundler.lock.diff import Snapshot

__all__ = ["do_diff"]


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
    return snapshot_from_lock(read_lock_file(path), str(path))


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
    # What the index lists now, not a cached page.
    client = make_client(replace_options(args, page_max_age=0), reporter)
    settings = IndexSettings(index_url=url)
    with PackageIndex(settings, client, reporter, workers=args.workers) as index:
        index.prefetch(r.name for r in side.releases)
        return snapshot_at_index(side, index, redact_url(url))


def do_diff(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.lock.diff import diff_snapshots, parse_fail_on
    from bundler.lock.diff import violations as policy_violations
    from bundler.lock.diffreport import diff_to_json, render_markdown, render_text

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
