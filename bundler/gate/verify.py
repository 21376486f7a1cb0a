"""The gate command: ``verify`` runs every check over a bundle and
stamps the verdict into it; ``load_bundle`` reads the manifest every
check starts from."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bundler import __version__
from bundler.bundle.layout import MANIFEST_NAME
from bundler.bundle.manifest import manifest_from_json
from bundler.errors import BundlerError, MultipleErrors, UsageError
from bundler.fsutil import sha256_file
from bundler.gate.closure import check_buildability, check_closure
from bundler.gate.integrity import check_integrity
from bundler.gate.live import live_rows, requested_pips
from bundler.gate.report import CheckResult, VerifyReport
from bundler.gate.stamp import STAMP_FAILED, STAMP_PASSED, Stamp, write_stamp
from bundler.index.client import HttpClient
from bundler.models import IndexSettings, Manifest
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.runtime.piprun import REQUESTED_PIP, PipChoice
from bundler.spec.target import Target

__all__ = ["VerifyOptions", "load_bundle", "verify"]


@dataclass(frozen=True)
class VerifyOptions:
    live: bool = True  # run the real pip install where an interpreter exists
    workdir: Path | None = None
    # More pips for the live install (--pip), besides a fresh venv's own and
    # the newest; each wheel comes from the bundle, else ``pip_index``.
    pips: tuple[str, ...] = ()
    pip_index: IndexSettings = field(default_factory=IndexSettings)


_REBUILD = "rebuild the bundle with: bundle download requirements.txt -o DIR"


def load_bundle(bundle_dir: Path) -> Manifest:
    """The bundle's manifest.  A bundle whose ``bundle.json`` is missing,
    unreadable or invalid fails the gate (exit 1, like any other broken
    bundle file); only a path that is no directory is a usage error."""
    if not bundle_dir.is_dir():
        raise UsageError(f"{bundle_dir}: no such directory", hint="bundle verify ./pypi")
    path = bundle_dir / MANIFEST_NAME
    if not path.is_file():
        raise BundlerError(
            f"{bundle_dir} is not a bundle: {MANIFEST_NAME} is missing", hint=_REBUILD
        )
    try:
        return manifest_from_json(path.read_bytes(), str(path))
    except OSError as err:
        raise BundlerError(f"{path}: cannot be read: {err.strerror or err}", hint=_REBUILD) from err
    except MultipleErrors as err:
        problems = "\n".join(str(e) for e in err.errors)
        raise BundlerError(
            f"{bundle_dir} is not a valid bundle: {MANIFEST_NAME} has {len(err.errors)}"
            f" problems:\n{problems}",
            hint=_REBUILD,
        ) from err
    except BundlerError as err:
        raise BundlerError(
            f"{bundle_dir} is not a valid bundle: {err.message}", hint=_REBUILD
        ) from err


def verify(
    bundle_dir: Path,
    targets: Sequence[Target],
    client: HttpClient,
    options: VerifyOptions = VerifyOptions(),
    reporter: Reporter = NULL_REPORTER,
) -> VerifyReport:
    """Run every check of the gate and return the report (never raises for
    a failed check; raises only when the bundle cannot be read at all).

    The verdict is stamped into the bundle (``.bundle-verified.json``, for
    ``bundle publish``), naming the manifest it was reached on."""
    manifest = load_bundle(bundle_dir)
    manifest_sha256, _ = sha256_file(bundle_dir / MANIFEST_NAME)
    pips: dict[str, tuple[str, ...]] = {}
    with tempfile.TemporaryDirectory(prefix="bundler-pips-", dir=options.workdir) as tmp:
        # A requested pip that cannot be had is a usage error: say so first.
        requested = [
            PipChoice(version, REQUESTED_PIP, wheel)
            for version, wheel in requested_pips(
                options.pips if options.live else (),
                bundle_dir,
                options.pip_index,
                client,
                Path(tmp),
            )
        ]
        results: list[CheckResult] = []
        reporter.stage("integrity")
        results.append(check_integrity(bundle_dir, manifest))
        for target in targets:
            reporter.stage(f"closure {target.name}")
            results.append(check_closure(bundle_dir, manifest, target, client, reporter))
            results.append(check_buildability(bundle_dir, manifest, target, client, reporter))
        if options.live:
            rows, pips = live_rows(
                bundle_dir, manifest, targets, requested, options.workdir, reporter
            )
            results.extend(rows)
    report = VerifyReport(tuple(results))
    stamp = Stamp(
        manifest_sha256=manifest_sha256,
        result=STAMP_PASSED if report.ok else STAMP_FAILED,
        targets=tuple(t.name for t in targets),
        pip_versions=pips,
        bundler_version=__version__,
        verified_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    try:
        write_stamp(bundle_dir, stamp)
    except (OSError, BundlerError) as err:
        # A read-only bundle still gets its verdict; it cannot be published.
        reporter.warning(f"cannot record the verdict in {bundle_dir}: {err}")
    return report
