"""``bundle publish``: a verified bundle to an index, then the gate against it."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bundler.cli.console import (
    ConsoleReporter,
    print_report,
)
from bundler.cli.options import replace_options
from bundler.cli.settings import (
    make_client,
    targets_of,
)
from bundler.errors import UsageError

__all__ = ["do_publish"]


def do_publish(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:  # noqa: C901, PLR0915
    from bundler.gate.integrity import report_to_json
    from bundler.gate.verify import VerifyOptions, load_bundle, verify
    from bundler.publish.core import REFUSE, SKIP, check_publishable, open_destination, publish
    from bundler.publish.core import result_to_json as publish_json

    # What the destination holds now, not a cached page.
    client = make_client(replace_options(args, page_max_age=0), reporter)
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
        targets = targets_of(args, default=manifest.targets)
        report = verify(args.bundle, targets, client, VerifyOptions(), reporter)
        out["verify"] = json.loads(report_to_json(report))
        if not report.ok:
            reporter.close()
            print_report(report, reporter)
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
