"""The commands that make and change bundles: download, add, pack, unpack, prune, sbom, serve."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from bundler import api as app
from bundler.cli.console import (
    STDOUT,
    ConsoleReporter,
    print_report,
)
from bundler.cli.settings import (
    index_overrides,
    make_client,
    targets_of,
)
from bundler.errors import BundlerError, UsageError
from bundler.fsutil import write_output
from bundler.index.settings import ClientSettings
from bundler.index.settings import make_client as make_http_client
from bundler.lock.files import read_lock_file
from bundler.models import IndexSettings, Manifest
from bundler.reporting import Reporter

__all__ = [
    "do_add",
    "do_download",
    "do_pack",
    "do_prune",
    "do_sbom",
    "do_serve",
    "do_unpack",
    "summarise_manifest",
]


def do_download(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    client = make_client(args, reporter)
    explicit = getattr(args, "python_version", None) or getattr(args, "platform", None)
    targets = targets_of(args) if explicit else None
    manifest = app.download(
        args.lock, args.output, targets, index_overrides(args), client, reporter, args.workers
    )
    summarise_manifest(manifest, args.output, reporter, out)
    return 0


def summarise_manifest(m: Manifest, out_dir: Path, reporter: Reporter, out: dict[str, Any]) -> None:
    total = sum(a.size for a in m.artifacts)
    reporter.info(
        f"{out_dir}: {len(m.artifacts)} files, {total / 1e6:.1f} MB, {len(m.packages)} packages"
    )
    out.update(bundle=str(out_dir), files=len(m.artifacts), bytes=total, packages=len(m.packages))


def do_add(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    indexes = index_overrides(args).apply(IndexSettings())
    manifest = app.add(
        args.bundle,
        args.files,
        indexes,
        make_client(args, reporter),
        reporter,
        args.workers,
        fetch_dependencies=not args.no_deps,
    )
    out["added"] = sorted(p.name for p in args.files)
    summarise_manifest(manifest, args.bundle, reporter, out)
    reporter.info("run `bundle verify` to prove the bundle still installs")
    return 0


def do_serve(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be between 0 and 65535")

    def log(line: str) -> None:
        reporter.say(line)

    from bundler.serve.server import serve

    serve(args.bundle, args.host, args.port, log=None if args.quiet else log)
    return 0


def do_pack(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.bundle.pack import compression_for, pack
    from bundler.fsutil import directory_lock
    from bundler.gate.integrity import check_integrity
    from bundler.gate.report import VerifyReport
    from bundler.gate.verify import load_bundle

    compression_for(args.output)
    manifest = load_bundle(args.bundle)
    with directory_lock(args.bundle):
        reporter.stage("integrity")
        result = check_integrity(args.bundle, manifest)
        if result.failed:
            print_report(VerifyReport((result,)), reporter)
            raise BundlerError(
                f"{args.bundle}: fails the integrity check; nothing was packed",
                hint="`bundle verify` names each problem; fix them or rebuild the bundle",
            )
        packed = pack(args.bundle, manifest, args.output)
    reporter.info(f"wrote {packed.archive}: {packed.members} members, {packed.size} bytes")
    out.update(archive=str(packed.archive), members=packed.members, bytes=packed.size)
    return 0


def do_unpack(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.bundle.pack import unpack
    from bundler.gate.report import report_to_json
    from bundler.gate.verify import VerifyOptions, verify

    # The gate's offline part: the bundle's own pages are the only source.
    client = make_http_client(ClientSettings(offline=True), reporter)

    def check(tree: Path, manifest: Manifest) -> bool:
        targets = targets_of(argparse.Namespace(), default=manifest.targets)
        report = verify(tree, targets, client, VerifyOptions(live=False), reporter)
        reporter.close()
        print_report(report, reporter)
        out["verify"] = json.loads(report_to_json(report))
        return report.ok

    manifest = unpack(args.archive, args.output, force=args.force, check=check)
    summarise_manifest(manifest, args.output, reporter, out)
    return 0


def do_prune(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.bundle import prune
    from bundler.bundle.layout import MANIFEST_NAME
    from bundler.fsutil import directory_lock

    locks = [read_lock_file(path) for path in args.keep]
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


def do_sbom(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
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
