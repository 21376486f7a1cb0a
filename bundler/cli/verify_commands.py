"""``bundle verify`` (the gate, of a bundle or a published index) and ``bundle build``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bundler import api as app
from bundler.bundle.build import download
from bundler.cli.bundle_commands import (
    summarise_manifest,
)
from bundler.cli.console import (
    STDOUT,
    ConsoleReporter,
    print_annotations,
    print_report,
    scrub,
)
from bundler.cli.lock_command import warn_yanked
from bundler.cli.options import read_config, replace_options
from bundler.cli.settings import (
    lock_options,
    lock_sources,
    make_client,
    project_selection,
    targets_of,
)
from bundler.errors import BundlerError, UsageError, check_url
from bundler.lock.files import read_lock_file
from bundler.lock.inputs import LockOptions, lock_inputs, prepare_projects, read_requirements
from bundler.models import IndexSettings, LockInput

if TYPE_CHECKING:
    from bundler.gate.report import VerifyReport
    from bundler.spec.target import Target

__all__ = ["do_build", "do_verify"]


def do_verify(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.gate.inputs import check_inputs
    from bundler.gate.report import VerifyReport, report_to_json
    from bundler.gate.verify import VerifyOptions, load_bundle, verify

    if args.check_index_url is not None:
        return _verify_index(args, args.check_index_url, reporter, out)
    client = make_client(args, reporter)
    _check_bundle_dir(args.bundle)
    manifest = load_bundle(args.bundle)
    targets = targets_of(args, default=manifest.targets)
    inputs = None
    if args.check_inputs:
        current = lock_inputs(
            read_requirements(args.check_inputs), targets, IndexSettings(), LockOptions()
        )
        given = bool(args.python_version or args.platform)
        inputs = check_inputs(args.bundle, manifest, current, targets=given)
    index_url = read_config(args).index_url or IndexSettings().index_url
    options = VerifyOptions(
        live=not args.no_install, pips=tuple(args.pip), pip_index=IndexSettings(index_url)
    )
    report = verify(args.bundle, targets, client, options, reporter)
    if inputs is not None:
        report = VerifyReport((inputs, *report.results))
    reporter.close()
    print_report(report, reporter)
    out.update(json.loads(report_to_json(report)))
    if args.junit is not None:
        from bundler.gate.junit import write_junit

        write_junit(report, args.junit)
    _ci_verify_report(report, args.bundle, annotate=args.json != STDOUT)
    return 0 if report.ok else 1


def _check_bundle_dir(path: Path) -> None:
    """A path that exists but is no directory is a usage error saying so
    (not "no such directory")."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} is a file, not a bundle directory", hint="bundle verify ./pypi")


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
        for pin in read_lock_file(lock).pins:
            line = pin.source.rpartition(":")[2]
            if line.isdigit() and not pin.build_only:
                pin_lines.setdefault(pin.name, int(line))
    if annotate:
        print_annotations(ghactions.verify_annotations(report, str(lock), pin_lines))
    summary = os.environ.get(ghactions.SUMMARY_ENV)
    if summary:
        text = ghactions.verify_summary(report, str(bundle))
        ghactions.append_summary(Path(summary), scrub(text))


def _verify_index(
    args: argparse.Namespace, url: str, reporter: ConsoleReporter, out: dict[str, Any]
) -> int:
    """The post-publish gate: ``bundle verify --index-url URL LOCK``."""
    from bundler.gate.remote import load_published_lock, verify_index
    from bundler.gate.report import report_to_json

    check_url(url, "--index-url")
    if args.pip:
        raise UsageError(
            "--pip applies to the bundle's own gate, not to --index-url",
            hint="the published index is installed from with the newest pip here",
        )
    lock = load_published_lock(args.bundle)
    # What the index holds now, not a cached page.
    client = make_client(replace_options(args, page_max_age=0), reporter)
    client.revalidate = False  # no 304 to a cached copy either
    targets = targets_of(args, default=lock.manifest.targets)
    if lock.lock_input is not None:
        _check_covered(args, lock.lock_input, targets)
    live = not getattr(args, "no_install", False)
    report = verify_index(
        url, lock, targets, client, live=live, workers=args.workers, reporter=reporter
    )
    reporter.close()
    print_report(report, reporter)
    out.update(json.loads(report_to_json(report)))
    if args.junit is not None:
        from bundler.gate.junit import write_junit

        write_junit(report, args.junit)
    return 0 if report.ok else 1


def do_build(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    from bundler.gate.report import report_to_json
    from bundler.gate.verify import VerifyOptions, verify

    selection = project_selection(args)
    reqs = read_requirements(args.requirements, selection)
    indexes, _ = lock_sources(args, reqs)
    client = make_client(args, reporter)
    targets = targets_of(args)
    reqs = prepare_projects(reqs, selection, indexes, client, reporter, args.workers)
    result = app.lock(
        reqs, targets, indexes, lock_options(args, reqs), client, reporter, None, args.workers
    )
    warn_yanked(result, reporter)
    options = VerifyOptions(live=not args.no_install, pips=tuple(args.pip), pip_index=indexes)
    gate = _StagedGate(lambda staged: verify(staged, targets, client, options, reporter))
    manifest = download(result, args.output, indexes, client, reporter, args.workers, gate)
    report = gate.report
    assert report is not None
    if report.ok:
        summarise_manifest(manifest, args.output, reporter, out)
    else:
        reporter.warning(f"{args.output} is unchanged: the new bundle failed the gate")
    reporter.close()
    print_report(report, reporter)
    out["verify"] = json.loads(report_to_json(report))
    return 0 if report.ok else 1


class _StagedGate:
    """The gate ``bundle build`` puts a staged bundle through (it replaces
    the old one only if it passes), keeping the report."""

    def __init__(self, verify: Callable[[Path], VerifyReport]) -> None:
        self._verify = verify
        self.report: VerifyReport | None = None

    def __call__(self, staged: Path) -> bool:
        self.report = self._verify(staged)
        return self.report.ok


def _check_covered(args: argparse.Namespace, lock: LockInput, targets: list[Target]) -> None:
    """Refuse targets a lock file does not cover (PEP 751's environments
    and requires-python; a package twice): checking those would prove
    nothing an installer of the lock could do."""
    from bundler.errors import MultipleErrors
    from bundler.lock.hydrate import coverage_problems

    problems = coverage_problems(lock, targets)
    if not problems:
        return
    if not (getattr(args, "python_version", None) or getattr(args, "platform", None)):
        raise UsageError(
            f"{args.bundle} does not cover this machine ({targets[0].name}), the target"
            f" verify takes when none is named: {problems[0].message}",
            hint="name the lock's targets with --python-version and --platform",
        )
    raise problems[0] if len(problems) == 1 else MultipleErrors(problems)
