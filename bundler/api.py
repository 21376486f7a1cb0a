"""The public API: each command as a plain function composing the stages.

Importing it does nothing else; it never prints (progress goes to the
Reporter) and problems are raised as BundlerError.  Stages are imported
where they are used: a command pays at start-up for what it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bundler.reporting import NULL_REPORTER, Reporter

if TYPE_CHECKING:
    from bundler.gate.report import VerifyReport
    from bundler.gate.verify import VerifyOptions
    from bundler.index.client import HttpClient
    from bundler.index.settings import IndexOverrides
    from bundler.lock.inputs import LockOptions
    from bundler.models import IndexSettings, Lock, LockInput, Manifest
    from bundler.publish.destination import Destination
    from bundler.publish.plan import PublishResult
    from bundler.spec.projectinput import ProjectSelection
    from bundler.spec.reqfile import RequirementsInput
    from bundler.spec.target import Target

__all__ = ["add", "build", "download", "lock", "publish", "verify"]


def lock(
    requirements: RequirementsInput,
    targets: Sequence[Target],
    indexes: IndexSettings,
    options: LockOptions,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    existing: LockInput | None = None,
    workers: int = 8,
    selection: ProjectSelection | None = None,
) -> Lock:
    """``requirements`` (their dynamic projects prepared first, with the
    extras and groups ``selection`` names) resolved for every target into
    one Lock; ``existing``: a lock whose pins are kept where they fit."""
    from bundler.lock.inputs import prepare_projects
    from bundler.lock.locker import lock as lock_targets
    from bundler.spec.projectinput import ProjectSelection

    prepared = prepare_projects(
        requirements, selection or ProjectSelection(), indexes, client, reporter, workers
    )
    return lock_targets(prepared, targets, indexes, options, client, reporter, existing, workers)


def download(
    lock_path: Path,
    out_dir: Path,
    targets: Sequence[Target] | None,
    overrides: IndexOverrides,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
) -> Manifest:
    """The bundle at ``out_dir`` made from the lock file at ``lock_path``
    for ``targets`` (None: those the lock names, else this machine): its pins found on the
    indexes (the lock's own, ``overrides`` winning), the build requirements
    of its sdists added if it names none.  A lock that names no URLs has
    each project's files fetched as soon as its page is in."""
    from bundler.bundle.build import download as download_lock
    from bundler.lock.buildpins import with_build_requirements
    from bundler.lock.files import read_lock_file, with_recorded_inputs
    from bundler.lock.hydrate import hydrate, pins_without_files
    from bundler.spec.target import host_target, target_from_name

    lock_input = read_lock_file(lock_path)
    indexes = overrides.apply(lock_input.indexes)
    if targets is None:
        targets = [target_from_name(name) for name in lock_input.targets] or [host_target()]
    with contextlib.ExitStack() as stack:
        index = on_files = None
        if pins_without_files(lock_input):  # their files are on their pages
            from bundler.bundle.prefetch import FetchAhead
            from bundler.index.collector import PackageIndex
            from bundler.index.settings import hash_matched

            index = stack.enter_context(
                PackageIndex(hash_matched(indexes), client, reporter, workers=workers)
            )
            on_files = stack.enter_context(FetchAhead(client, workers)).submit
        lock_ = hydrate(lock_input, targets, index, client, on_files=on_files, workers=workers)
    lock_ = with_build_requirements(lock_, lock_input, targets, indexes, client, reporter, workers)
    lock_ = with_recorded_inputs(lock_, lock_path)
    return download_lock(lock_, out_dir, indexes, client, reporter, workers)


def verify(
    bundle_dir: Path,
    targets: Sequence[Target],
    client: HttpClient,
    options: VerifyOptions | None = None,
    reporter: Reporter = NULL_REPORTER,
) -> VerifyReport:
    """The release gate's report on the bundle at ``bundle_dir``."""
    from bundler.gate.verify import VerifyOptions
    from bundler.gate.verify import verify as run_gate

    return run_gate(bundle_dir, targets, client, options or VerifyOptions(), reporter)


def build(
    requirements: RequirementsInput,
    targets: Sequence[Target],
    indexes: IndexSettings,
    options: LockOptions,
    out_dir: Path,
    client: HttpClient,
    verify_options: VerifyOptions | None = None,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
) -> tuple[Manifest, VerifyReport]:
    """``lock``, then ``download`` of that lock into a copy of ``out_dir``,
    which replaces ``out_dir`` only if it passes the gate (``verify``)."""
    from bundler.bundle.build import download as download_lock

    locked = lock(requirements, targets, indexes, options, client, reporter, None, workers)
    gate = _Gate(targets, client, verify_options, reporter)
    manifest = download_lock(locked, out_dir, indexes, client, reporter, workers, gate.passes)
    assert gate.report is not None
    return manifest, gate.report


class _Gate:
    """``build``'s acceptance of a staged bundle, keeping the report."""

    def __init__(
        self,
        targets: Sequence[Target],
        client: HttpClient,
        options: VerifyOptions | None,
        reporter: Reporter,
    ) -> None:
        self.targets = targets
        self.client = client
        self.options = options
        self.reporter = reporter
        self.report: VerifyReport | None = None

    def passes(self, staged: Path) -> bool:
        self.report = verify(staged, self.targets, self.client, self.options, self.reporter)
        return self.report.ok


def add(
    bundle_dir: Path,
    paths: Sequence[Path],
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
    *,
    fetch_dependencies: bool = True,
) -> Manifest:
    """``bundle add``: the files at ``paths`` into the bundle (an sdist with
    dynamic metadata prepared for this machine's target through its build
    backend, ``SdistPreparer``), then, with ``fetch_dependencies``, whatever
    they need that the bundle lacks, fetched from ``indexes``
    (``extend_into``).  Both steps change one copy of the bundle, which
    replaces it when both succeeded: a failure in either leaves the bundle
    as it was."""
    from bundler.bundle.add import add_into, added_requirements, check_bundle
    from bundler.bundle.extend import SdistPreparer, bundle_first, extend_into
    from bundler.fsutil import updating
    from bundler.spec.target import host_target

    check_bundle(bundle_dir, paths)
    sources = bundle_first(bundle_dir, indexes)
    with (
        updating(bundle_dir, wait=0.0) as stage,
        SdistPreparer(sources, client, host_target(), reporter, workers) as prepare,
    ):
        manifest = add_into(stage, paths, reporter, prepare)
        needs = added_requirements(manifest, paths, prepare)
        if needs and fetch_dependencies:
            reporter.info(f"resolving what the added files need: {', '.join(needs)}")
            names = {p.name for p in paths}
            added = [f"{a.project}=={a.version}" for a in manifest.artifacts if a.filename in names]
            manifest = extend_into(
                stage, bundle_dir, manifest, added, indexes, client, reporter, workers
            )
        return manifest


def publish(
    bundle_dir: Path,
    destination: Destination,
    client: HttpClient,
    *,
    dry_run: bool = False,
    reporter: Reporter = NULL_REPORTER,
) -> PublishResult:
    """The checked bundle at ``bundle_dir`` published to ``destination``
    (a file the destination lists without a hash is fetched and hashed)."""
    import tempfile

    from bundler.gate.verify import load_bundle
    from bundler.publish.core import check_publishable
    from bundler.publish.core import publish as publish_bundle

    manifest = load_bundle(bundle_dir)
    check_publishable(bundle_dir, manifest, reporter)

    def hash_url(url: str) -> str:
        with tempfile.TemporaryDirectory(prefix="bundler-publish-") as tmp:
            digest: str = client.fetch_to_file(url, Path(tmp) / "file", sha256=None)[0]
            return digest

    return publish_bundle(
        bundle_dir, manifest, destination, dry_run=dry_run, hash_url=hash_url, reporter=reporter
    )
