"""``bundle publish``: a verified bundle to an index, then the gate against it."""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bundler.cli.console import ConsoleReporter, print_report
from bundler.cli.options import replace_options
from bundler.cli.settings import make_client, targets_of
from bundler.errors import UsageError
from bundler.models import Manifest

if TYPE_CHECKING:
    from bundler.publish.destination import Destination
    from bundler.publish.plan import PublishResult

__all__ = ["do_publish"]


def do_publish(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.gate.verify import load_bundle
    from bundler.publish.core import check_publishable, publish
    from bundler.publish.plan import result_to_json as publish_json

    # What the destination holds now, not a cached page.
    client = make_client(replace_options(args, page_max_age=0), reporter)
    client.revalidate = False  # no 304 to a cached copy either
    destination, read_url = _open_destination(args, client)
    manifest = load_bundle(args.bundle)
    if args.verify and not _verify_first(args, manifest, client, reporter, out):
        return 1
    check_publishable(args.bundle, manifest, reporter)
    result = publish(
        args.bundle,
        manifest,
        destination,
        dry_run=args.dry_run,
        hash_url=functools.partial(_hash_url, client),
        reporter=reporter,
    )
    reporter.close()
    out["publish"] = publish_json(result)
    _say_plan(args, result, reporter)
    if args.dry_run:
        return 1 if result.plan.refused else 0
    _say_published(result, destination, reporter)
    if read_url is None:
        return 0
    if not _check_published(args, read_url, manifest, client, reporter, out):
        if args.promote_to is not None:
            reporter.error(f"nothing was promoted to {args.promote_to}: the gate failed")
        return 1
    if args.promote_to is not None:
        _promote(args, destination, manifest, reporter, out)
    return 0


def _open_destination(args: argparse.Namespace, client: Any) -> tuple[Destination, str | None]:
    """DEST, and the URL to check it at after publishing (None: no check),
    every option checked before anything is written."""
    from bundler.publish.core import open_destination

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
    return destination, read_url


def _verify_first(
    args: argparse.Namespace,
    manifest: Manifest,
    client: Any,
    reporter: ConsoleReporter,
    out: dict[str, Any],
) -> bool:
    """``--verify``: the bundle's gate; whether it passed (its report is
    printed when it did not)."""
    from bundler.gate.report import report_to_json
    from bundler.gate.verify import VerifyOptions, verify

    targets = targets_of(args, default=manifest.targets)
    report = verify(args.bundle, targets, client, VerifyOptions(), reporter)
    out["verify"] = json.loads(report_to_json(report))
    if not report.ok:
        reporter.close()
        print_report(report, reporter)
    return report.ok


def _hash_url(client: Any, url: str) -> str:
    """The sha256 of the file at ``url`` (fetched to a scratch file)."""
    with tempfile.TemporaryDirectory(prefix="bundler-publish-") as tmp:
        digest: str = client.fetch_to_file(url, Path(tmp) / "file", sha256=None)[0]
        return digest


def _say_plan(args: argparse.Namespace, result: PublishResult, reporter: ConsoleReporter) -> None:
    """A line per file uploaded or refused (and skipped, in a dry run);
    a dry run's summary."""
    from bundler.publish.plan import REFUSE, SKIP

    for f in result.plan.files:
        verb = {SKIP: "skip", REFUSE: "refuse"}.get(f.action, "upload")
        if args.dry_run or (f.action != SKIP and not args.quiet):
            reason = f": {f.reason}" if f.reason else ""
            reporter.say(f"{f.filename}{reason}", label=f"{verb} ")
    if args.dry_run:
        uploaded = len(result.plan.files) - len(result.plan.named(SKIP))
        reporter.say(
            f"dry run: {uploaded - len(result.plan.refused)} to upload,"
            f" {len(result.plan.named(SKIP))} already there, {len(result.plan.refused)} refused;"
            " nothing was written"
        )


def _say_published(
    result: PublishResult, destination: Destination, reporter: ConsoleReporter
) -> None:
    from bundler.publish.plan import SKIP

    uploaded = len(result.plan.files) - len(result.plan.named(SKIP))
    reporter.info(
        f"published {uploaded} file(s) to {destination.describe()}"
        f" ({len(result.plan.named(SKIP))} already there)"
    )


def _check_published(
    args: argparse.Namespace,
    read_url: str,
    manifest: Manifest,
    client: Any,
    reporter: ConsoleReporter,
    out: dict[str, Any],
) -> bool:
    """The post-publish gate against ``read_url``; whether it passed."""
    from bundler.gate.remote import load_published_lock, verify_index
    from bundler.gate.report import report_to_json

    check = verify_index(
        read_url,
        load_published_lock(args.bundle),
        targets_of(args, default=manifest.targets),
        client,
        workers=args.workers,
        reporter=reporter,
    )
    reporter.close()
    print_report(check, reporter)
    out["check"] = json.loads(report_to_json(check))
    if args.junit is not None:
        from bundler.gate.junit import write_junit

        write_junit(check, args.junit)
    return check.ok


def _promote(
    args: argparse.Namespace,
    destination: Destination,
    manifest: Manifest,
    reporter: ConsoleReporter,
    out: dict[str, Any],
) -> None:
    """``--promote-to``: push every release from the staging index."""
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
