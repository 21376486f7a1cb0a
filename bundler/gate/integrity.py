"""The verification gate: proof that a bundle alone installs what it locks.

Each check returns a ``CheckResult`` holding every problem it found (never
only the first); a ``VerifyReport`` is the list of results, in the order the
checks ran.  ``check_integrity`` reads the bundle tree only; ``check_reality``
installs the bundle's ``requirements.txt`` into a fresh virtual environment
with pip, the bundle being the only source and no network reachable.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import urllib.parse
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, overload

from packaging.markers import Marker
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.bundle.layout import (
    FILES_DIR,
    LOCK_FILE_NAMES,
    MANIFEST_NAME,
    METADATA_SUFFIX,
    PAGE_HTML,
    PAGE_JSON,
    PYLOCK_LOCK,
    REQUIREMENTS_LOCK,
    SBOM_FILE,
    SIMPLE_DIR,
    STAMP_NAME,
)
from bundler.bundle.lockfiles import manifest_lock_files
from bundler.bundle.sbom import bundle_sbom
from bundler.bundle.sbomcheck import sbom_difference, sbom_problems
from bundler.errors import BundlerError, InputFileError, MultipleErrors, UsageError
from bundler.fsutil import CHUNK, sha256_bytes, sha256_file, url_path_to_local
from bundler.models import (
    BundleArtifact,
    DistKind,
    IndexFile,
    IndexSettings,
    LockedPackage,
    LockFileRef,
    LockInput,
    LockPin,
    Manifest,
)
from bundler.redact import redact_url
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.runtime.interpreters import Interpreter
from bundler.runtime.piprun import (
    PipChoice,
    PipResult,
    PipRunner,
    create_venv,
    installed_distributions,
)
from bundler.spec.archives import wheel_metadata
from bundler.spec.filenames import is_safe_filename, parse_filename
from bundler.spec.lockfile import parse_hashed_requirements
from bundler.spec.pages import parse_html_page, parse_json_page
from bundler.spec.project import ProjectPage
from bundler.spec.pylockreader import read_pylock
from bundler.spec.target import Target, target_from_name

INTEGRITY = "integrity"
CLOSURE = "closure"
BUILDABILITY = "buildability"
REALITY = "reality"

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"

# What may be at a bundle's top besides the layout's own names.
# STAMP_NAME: the gate's own verdict, kept beside what it judged.
TOP_LEVEL_FILES = frozenset(
    {MANIFEST_NAME, REQUIREMENTS_LOCK, PYLOCK_LOCK, SBOM_FILE, ".bundle.lock", STAMP_NAME}
)
TOP_LEVEL_DIRS = frozenset({FILES_DIR, SIMPLE_DIR})


@overload
def printable(text: str) -> str: ...
@overload
def printable(text: None) -> None: ...
def printable(text: str | None) -> str | None:
    """``text`` with what UTF-8 cannot carry escaped: a file name that is
    not UTF-8 (``os.fsdecode`` gives its bytes as lone surrogates) shows
    its bytes as ``\\xff``, another lone surrogate as ``\\udcxx``.  Every
    report (console, JSON, JUnit, GitHub) is UTF-8 text."""
    if text is None or text.isascii():
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle, and what to do about it."""

    check: str  # "integrity" | "closure" | "buildability" | "reality"
    subject: str  # the file or package at fault, e.g. "files/six-1.16.0-py2.py3-none-any.whl"
    message: str
    target: str | None = None

    def __post_init__(self) -> None:
        for name in ("subject", "message", "target"):
            object.__setattr__(self, name, printable(getattr(self, name)))

    def __str__(self) -> str:
        where = f"[{self.target}] " if self.target else ""
        return f"{where}{self.subject}: {self.message}"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check (for one target, when it depends on one)."""

    check: str
    target: str | None
    status: str  # "passed" | "failed" | "skipped"
    problems: tuple[Problem, ...] = ()
    details: str = ""  # e.g. "network: isolated (network namespace)", or a skip reason

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", printable(self.target))
        object.__setattr__(self, "details", printable(self.details))

    @property
    def failed(self) -> bool:
        return self.status == FAILED


@dataclass(frozen=True)
class VerifyReport:
    """Every check's result, in the order the checks ran."""

    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when no check failed (skipped checks do not fail the gate)."""
        return not any(r.failed for r in self.results)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for r in self.results for p in r.problems)

    def extended(self, *results: CheckResult) -> VerifyReport:
        """A report with ``results`` appended."""
        return VerifyReport((*self.results, *results))


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"check": p.check, "subject": p.subject, "message": p.message, "target": p.target}


def report_to_json(report: VerifyReport) -> bytes:
    """The report as JSON bytes; the same report always gives the same bytes."""
    doc = {
        "ok": report.ok,
        "results": [
            {
                "check": r.check,
                "target": r.target,
                "status": r.status,
                "details": r.details,
                "problems": [_problem_json(p) for p in r.problems],
            }
            for r in report.results
        ],
    }
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _result(
    check: str, target: str | None, problems: Iterable[Problem], details: str = ""
) -> CheckResult:
    found = tuple(sorted(set(problems), key=lambda p: (p.subject, p.message)))
    return CheckResult(check, target, FAILED if found else PASSED, found, details)


# --- integrity ---------------------------------------------------------------------


def _not_a_file(path: Path, hint: str) -> str | None:
    """Why ``path`` is not a regular file of the bundle, or None when it is."""
    if path.is_symlink():
        return "is a symbolic link; a bundle holds real files"
    if not path.is_file():
        return f"missing ({hint})" if hint else "missing"
    return None


def _not_a_dir(path: Path, hint: str) -> str | None:
    if path.is_symlink():
        return "is a symbolic link; a bundle holds real directories"
    if not path.is_dir():
        return f"missing ({hint})"
    return None


_REFETCH = "re-run `bundle download` to fetch it"
_REWRITE = "re-run `bundle download` to rewrite the index"


class _Integrity:
    """Collects integrity problems; safe to call from worker threads
    (list.append is atomic)."""

    def __init__(self, bundle_dir: Path, manifest: Manifest, reporter: Reporter) -> None:
        self.root = bundle_dir.resolve()
        self.manifest = manifest
        self.reporter = reporter
        self.problems: list[Problem] = []
        self.by_filename = {a.filename: a for a in manifest.artifacts}
        self.by_project: dict[NormalizedName, list[BundleArtifact]] = defaultdict(list)
        for a in manifest.artifacts:
            self.by_project[a.project].append(a)
        # The manifest's targets, for evaluating the lock files' markers.
        self.targets: dict[str, Target] = {}
        for name in manifest.targets:
            try:
                self.targets[name] = target_from_name(name)
            except UsageError:
                self.add(
                    MANIFEST_NAME,
                    f"names target {name!r}, which bundler cannot describe: the lock files'"
                    " markers cannot be checked for it (re-run `bundle download`)",
                )

        # The lock files as bundler renders them from the manifest.
        self.rendered: dict[str, str] = {}
        try:
            rendered = manifest_lock_files(manifest)
        except BundlerError as err:
            self.add(MANIFEST_NAME, f"its lock files cannot be rendered: {err}")
        else:
            self.rendered = {n: data.decode("utf-8") for n, data in rendered.items()}

    def add(self, subject: str, message: str) -> None:
        self.problems.append(Problem(INTEGRITY, subject, message))

    # files/ ---------------------------------------------------------------

    def sidecar_expected(self, a: BundleArtifact) -> bool:
        return a.kind is DistKind.WHEEL or a.metadata_sha256 is not None

    def check_artifact(self, a: BundleArtifact) -> None:
        """The file, then its PEP 658 sidecar (compared with the wheel's
        METADATA only when the wheel itself is intact)."""
        intact = self.check_file(a)
        if intact and a.kind is DistKind.WHEEL:
            for message in wheel_archive_problems(self.root / FILES_DIR / a.filename):
                self.add(f"{FILES_DIR}/{a.filename}", message)
        if self.sidecar_expected(a) and is_safe_filename(a.filename):
            self.check_sidecar(a, intact)

    def check_file(self, a: BundleArtifact) -> bool:
        subject = f"{FILES_DIR}/{a.filename}"
        if not is_safe_filename(a.filename):
            self.add(MANIFEST_NAME, f"unsafe artifact file name {a.filename!r}")
            return False
        parsed = parse_filename(a.filename, a.project)
        if parsed is None or parsed.name != a.project:
            self.add(subject, f"is not a distribution file name of project {a.project!r}")
        path = self.root / FILES_DIR / a.filename
        if (why := _not_a_file(path, _REFETCH)) is not None:
            self.add(subject, why)
            return False
        size = path.stat().st_size
        if size != a.size:
            self.add(subject, f"size differs: expected {a.size} bytes, got {size}")
            self.reporter.task_advance(INTEGRITY, a.size)
            return False
        digest, _ = sha256_file(path)
        self.reporter.task_advance(INTEGRITY, a.size)
        if digest != a.sha256:
            self.add(subject, f"sha256 differs: expected {a.sha256} got {digest}")
            return False
        return True

    def check_sidecar(self, a: BundleArtifact, wheel_intact: bool) -> None:
        subject = f"{FILES_DIR}/{a.filename}{METADATA_SUFFIX}"
        path = self.root / FILES_DIR / a.filename
        sidecar = path.with_name(a.filename + METADATA_SUFFIX)
        if a.metadata_sha256 is None:
            self.add(subject, f"{MANIFEST_NAME} records no sha256 for this PEP 658 metadata file")
        if (why := _not_a_file(sidecar, _REWRITE)) is not None:
            self.add(subject, why)
            return
        data = sidecar.read_bytes()
        digest = sha256_bytes(data)
        if a.metadata_sha256 is not None and digest != a.metadata_sha256:
            self.add(subject, f"sha256 differs: expected {a.metadata_sha256} got {digest}")
        if a.kind is not DistKind.WHEEL or not wheel_intact:
            return
        try:
            metadata = wheel_metadata(path, a.filename)
        except BundlerError as err:
            self.add(f"{FILES_DIR}/{a.filename}", f"cannot read the wheel's METADATA: {err}")
            return
        if data != metadata:
            # PEP 658: the sidecar is the wheel's own METADATA, byte for byte.
            self.add(subject, "differs from the wheel's .dist-info/METADATA")

    def check_files_dir(self) -> None:
        files_dir = self.root / FILES_DIR
        if (why := _not_a_dir(files_dir, _REFETCH)) is not None:
            self.add(f"{FILES_DIR}/", why)
            return
        expected = set(self.by_filename)
        expected |= {
            a.filename + METADATA_SUFFIX
            for a in self.manifest.artifacts
            if self.sidecar_expected(a)
        }
        for entry in sorted(files_dir.iterdir()):
            if entry.name not in expected:
                self.add(
                    f"{FILES_DIR}/{entry.name}",
                    f"unexpected: not in {MANIFEST_NAME} (remove it or re-run `bundle download`)",
                )
            elif entry.is_dir() and not entry.is_symlink():
                self.add(f"{FILES_DIR}/{entry.name}", "is a directory, expected a file")

    # simple/ --------------------------------------------------------------

    def file_url(self, filename: str) -> Path:
        return self.root / FILES_DIR / filename

    def check_project(self, project: NormalizedName) -> None:
        artifacts = {a.filename: a for a in self.by_project[project]}
        page_url = (self.root / SIMPLE_DIR / project).as_uri() + "/"
        parsers: tuple[tuple[str, Callable[..., ProjectPage]], ...] = (
            (PAGE_HTML, parse_html_page),
            (PAGE_JSON, parse_json_page),
        )
        for page_name, parse in parsers:
            subject = f"{SIMPLE_DIR}/{project}/{page_name}"
            path = self.root / SIMPLE_DIR / project / page_name
            if (why := _not_a_file(path, _REWRITE)) is not None:
                self.add(subject, why)
                continue
            try:
                page = parse(path.read_bytes(), page_url, project, subject)
            except BundlerError as err:
                self.add(subject, f"cannot be parsed: {err}")
                continue
            self.compare_page(subject, page.files, artifacts)

    def compare_page(
        self, subject: str, listed: Iterable[IndexFile], artifacts: Mapping[str, BundleArtifact]
    ) -> None:
        seen: set[str] = set()
        for f in listed:
            if f.filename in seen:
                self.add(subject, f"lists {f.filename} twice")
                continue
            seen.add(f.filename)
            a = artifacts.get(f.filename)
            if a is None:
                self.add(subject, f"lists {f.filename}, which is not in the bundle")
                continue
            self.compare_entry(subject, f, a)
        for filename in sorted(set(artifacts) - seen):
            self.add(subject, f"does not list {FILES_DIR}/{filename}")

    def compare_entry(self, subject: str, f: IndexFile, a: BundleArtifact) -> None:
        name = f.filename
        if f.sha256 is None:
            self.add(subject, f"lists {name} without a sha256 hash")
        elif f.sha256 != a.sha256:
            self.add(subject, f"lists {name} with sha256 {f.sha256}, the bundle's is {a.sha256}")
        link = urllib.parse.urlsplit(f.url)
        if link.scheme != "file" or Path(urllib.parse.unquote(link.path)) != self.file_url(name):
            self.add(subject, f"links {name} to {f.url}, not to {FILES_DIR}/{name}")
        if f.size is not None and f.size != a.size:
            self.add(subject, f"lists {name} with size {f.size}, the bundle's is {a.size}")
        if f.is_yanked != (a.yanked is not None):
            state = "yanked" if a.yanked is not None else "not yanked"
            self.add(subject, f"disagrees with {MANIFEST_NAME} on {name}: it is {state} (PEP 592)")
        if (f.requires_python or None) != (a.requires_python or None):
            self.add(
                subject,
                f"lists {name} with Requires-Python {f.requires_python!r},"
                f" {MANIFEST_NAME} has {a.requires_python!r}",
            )
        # PEP 658/714: the advertised metadata hash must be the sidecar's.
        advertised = f.core_metadata.get("sha256") if f.core_metadata else None
        if a.metadata_sha256 is None and f.core_metadata is not None:
            self.add(
                subject, f"advertises metadata for {name}, which has no {METADATA_SUFFIX} file"
            )
        elif a.metadata_sha256 is not None and advertised != a.metadata_sha256:
            self.add(
                subject,
                f"advertises metadata sha256 {advertised} for {name},"
                f" the {METADATA_SUFFIX} file's is {a.metadata_sha256}",
            )

    def check_root(self) -> None:
        projects = set(self.by_project)
        for page_name, read in ((PAGE_HTML, _root_html_names), (PAGE_JSON, _root_json_names)):
            subject = f"{SIMPLE_DIR}/{page_name}"
            path = self.root / SIMPLE_DIR / page_name
            if (why := _not_a_file(path, _REWRITE)) is not None:
                self.add(subject, why)
                continue
            try:
                names = read(path.read_bytes())
            except ValueError as err:
                self.add(subject, f"cannot be parsed: {err}")
                continue
            listed = {canonicalize_name(n) for n in names}
            for name in sorted(listed - projects):
                self.add(subject, f"lists project {name}, which has no files in the bundle")
            for name in sorted(projects - listed):
                self.add(subject, f"does not list project {name}")

    def check_simple_dir(self) -> None:
        simple = self.root / SIMPLE_DIR
        if (why := _not_a_dir(simple, _REWRITE)) is not None:
            self.add(f"{SIMPLE_DIR}/", why)
            return
        for entry in sorted(simple.iterdir()):
            rel = f"{SIMPLE_DIR}/{entry.name}"
            if entry.name in (PAGE_HTML, PAGE_JSON):
                continue
            if entry.name not in self.by_project or not entry.is_dir() or entry.is_symlink():
                self.add(rel, "unexpected: not a project of the bundle")
                continue
            for inner in sorted(entry.iterdir()):
                if inner.name not in (PAGE_HTML, PAGE_JSON):
                    self.add(f"{rel}/{inner.name}", "unexpected in the index")

    # the rest -------------------------------------------------------------

    def check_top_level(self) -> None:
        for entry in sorted(self.root.iterdir()):
            if entry.name in TOP_LEVEL_DIRS:
                continue  # checked on their own
            if entry.name in TOP_LEVEL_FILES and entry.is_file() and not entry.is_symlink():
                if entry.name == SBOM_FILE and not self.manifest.sbom:
                    self.add(entry.name, f"unexpected: {MANIFEST_NAME} says the bundle has no SBOM")
                    continue
                if entry.name not in LOCK_FILE_NAMES or entry.name in self.manifest.lock_files:
                    continue
                self.add(entry.name, f"unexpected: {MANIFEST_NAME} does not list it as a lock file")
                continue
            self.add(entry.name, "unexpected at the top of the bundle")
        if (why := _not_a_file(self.root / MANIFEST_NAME, "")) is not None:
            self.add(MANIFEST_NAME, why)

    def check_sbom(self) -> None:
        """The SBOM, when the manifest says the bundle has one, lists what
        the manifest does (its releases, their files and sha256), and is
        otherwise the SBOM the bundle gives, compared as JSON."""
        if not self.manifest.sbom:
            return
        path = self.root / SBOM_FILE
        if (why := _not_a_file(path, f"{MANIFEST_NAME} lists it: {_REWRITE_SBOM}")) is not None:
            self.add(SBOM_FILE, why)
            return
        data = path.read_bytes()
        problems = sbom_problems(data, self.manifest)
        for problem in problems:
            self.add(SBOM_FILE, f"{problem} ({_REWRITE_SBOM})")
        # The SBOM is deterministic: anything else in it (a license, the
        # dependency graph, a property) must be what the bundle gives.
        if not problems:
            difference = sbom_difference(data, bundle_sbom(self.root, self.manifest))
            if difference is not None:
                self.add(SBOM_FILE, f"{difference} ({_REWRITE_SBOM})")

    def check_targets(self) -> None:
        """Every target an artifact or a pin names is one of the manifest's
        ``targets``: the report has a row for each of those only, so a
        target missing there would go unchecked while the bundle serves it.
        (A listed target may have no artifact: its requirements' markers may
        exclude every package.)"""
        listed = set(self.manifest.targets)
        named: dict[str, set[str]] = defaultdict(set)
        for a in self.manifest.artifacts:
            for t in set(a.targets) - listed:
                named[t].add(f"{FILES_DIR}/{a.filename}")
        for pkg in self.manifest.packages:
            for t in set(pkg.targets) - listed:
                named[t].add(f"{pkg.name}=={pkg.version}")
        for target, users in sorted(named.items()):
            self.add(
                MANIFEST_NAME,
                f"'targets' does not list {target}, which {', '.join(sorted(users))}"
                f" {_verb(sorted(users), 'serves', 'serve')}: no check would run for it"
                " (re-run `bundle download` with the lock of every target)",
            )

    # the lock files ---------------------------------------------------------

    def lock_file(self, name: str, *, report: bool = True) -> str | None:
        """The text of the lock file ``name`` the manifest lists, or None
        (with the problem recorded when ``report``) when it is missing or
        unreadable."""
        if name not in self.manifest.lock_files:
            return None
        path = self.root / name
        if (why := _not_a_file(path, f"{MANIFEST_NAME} lists it: {_REWRITE_LOCKS}")) is not None:
            if report:
                self.add(name, why)
            return None
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            if report:
                self.add(name, f"not UTF-8: {err}")
            return None

    def read_lock(self, name: str, read: Callable[[str, str], LockInput]) -> LockInput | None:
        text = self.lock_file(name)
        if text is None:
            return None
        path = str(self.root / name)
        try:
            return read(text, path)
        except MultipleErrors as err:
            for e in err.errors:
                self.add(name, _located(e, path))
        except BundlerError as err:
            self.add(name, _located(err, path))
        return None

    def serves(self, pkg: LockedPackage) -> frozenset[str]:
        """The targets ``bundle.json`` says ``pkg`` serves."""
        if pkg.targets:
            return frozenset(pkg.targets)
        return self.selects(pkg.marker)

    def selects(self, marker: str | None) -> frozenset[str]:
        """The manifest's targets on which ``marker`` is true."""
        parsed = Marker(marker) if marker else None
        return frozenset(n for n, t in self.targets.items() if t.evaluate_marker(parsed))

    def check_marker(self, lock_name: str, where: str, pin: LockPin, pkg: LockedPackage) -> None:
        """An installer reads the pin's marker on each target: it must pick
        exactly the targets the manifest says the pin serves."""
        selected = self.selects(pin.marker)
        serves = self.serves(pkg) & set(self.targets)
        if selected == serves:
            return
        what = f"{pin.name}=={pin.version}"
        marker = f" ; {pin.marker}" if pin.marker else " (no marker)"
        parts = []
        if serves - selected:
            parts.append(f"would not be installed on {_names(serves - selected)}")
        if selected - serves:
            parts.append(f"would also be installed on {_names(selected - serves)}")
        self.add(
            lock_name,
            f"{where}{what}{marker}: {' and '.join(parts)}; {MANIFEST_NAME} says it serves"
            f" {_names(serves) or 'no target'} ({_REWRITE_LOCKS})",
        )

    def check_rendered(self, name: str) -> None:
        """The lock file ``name`` is byte for byte what ``bundle download``
        writes from ``bundle.json`` (CRLF line ends aside, which pip and
        TOML read alike): whatever the checks by pin let through (an option
        line, an extra, a hash in capitals, a changed requires-python or
        environments list) still changes what an installer does."""
        expected = self.rendered.get(name)
        text = self.lock_file(name, report=False)
        if expected is None or text is None:
            return
        found = text.replace("\r\n", "\n")
        if found == expected:
            return
        want, got = expected.splitlines(), found.splitlines()
        line = next(
            (i for i, (a, b) in enumerate(zip(want, got, strict=False), start=1) if a != b),
            min(len(want), len(got)) + 1,
        )
        shown_want = repr(want[line - 1]) if line <= len(want) else "the end of the file"
        shown_got = repr(got[line - 1]) if line <= len(got) else "the end of the file"
        self.add(
            name,
            f"line {line}: is not what bundler writes from {MANIFEST_NAME}: it has {shown_got},"
            f" {MANIFEST_NAME} gives {shown_want}"
            f" (made by hand, or by an older bundler: {_REGENERATE})",
        )

    def check_pylock(self) -> None:
        """pylock.toml (PEP 751), read as an installer reads it, locks what
        the manifest does: the same names, versions, markers, and files by
        their path in the bundle, sha256 and size; no other source."""
        lock = self.read_lock(PYLOCK_LOCK, read_pylock)
        if lock is None:
            return
        idx = lock.indexes
        if idx.index_url is not None or idx.extra_index_urls:
            self.add(
                PYLOCK_LOCK,
                "names a package source outside the bundle (a package index or a URL);"
                f" files must be given by a path under {FILES_DIR}/ ({_REWRITE_LOCKS})",
            )
        packages = _by_pin(self.manifest.packages)
        matched: set[int] = set()
        for pin in lock.pins:
            where = _where(pin.source)
            kind = "build dependency " if pin.build_only else ""
            pkg = _match(packages, pin)
            if pkg is None:
                self.add(
                    PYLOCK_LOCK,
                    f"{where}locks {kind}{pin.name}=={pin.version},"
                    f" which {MANIFEST_NAME} does not lock ({_REWRITE_LOCKS})",
                )
                continue
            matched.add(id(pkg))
            if pin.url is not None:
                self.add(
                    PYLOCK_LOCK, f"{where}locks {pin.name} as an archive URL, not bundle files"
                )
            if not pin.build_only:
                self.check_marker(PYLOCK_LOCK, where, pin, pkg)
            self.compare_pylock_files(where, pin, pkg)
        for pkg in self.manifest.packages:
            if id(pkg) not in matched:
                kind = "build dependency " if pkg.build_only else ""
                self.add(
                    PYLOCK_LOCK,
                    f"does not lock {kind}{pkg.name}=={pkg.version}, which {MANIFEST_NAME} locks"
                    f" ({_REWRITE_LOCKS})",
                )

    def compare_pylock_files(self, where: str, pin: LockPin, pkg: LockedPackage) -> None:
        what = f"{pin.name}=={pin.version}"
        expected = {f.filename: f for f in pkg.files}
        listed: set[str] = set()
        for ref in pin.files:
            f = expected.get(ref.filename)
            rel = f"{FILES_DIR}/{ref.filename}"
            if f is None:
                self.add(
                    PYLOCK_LOCK,
                    f"{where}{what} lists {ref.filename}, which {MANIFEST_NAME} does not list",
                )
                continue
            listed.add(ref.filename)
            if self.location(ref) != self.root / FILES_DIR / f.filename:
                self.add(PYLOCK_LOCK, f"{where}{what} does not give {ref.filename} the path {rel}")
            if ref.sha256 != f.sha256:
                self.add(
                    PYLOCK_LOCK,
                    f"{where}{rel}: sha256 {ref.sha256} differs from {MANIFEST_NAME}'s {f.sha256}",
                )
            if ref.size != f.size:
                self.add(
                    PYLOCK_LOCK,
                    f"{where}{rel}: size {ref.size} differs from {MANIFEST_NAME}'s {f.size}",
                )
        for f in pkg.files:
            # PEP 751 has room for one sdist: any one of the pin's will do.
            if f.filename in listed or (
                f.kind is DistKind.SDIST and any(expected[n].kind is DistKind.SDIST for n in listed)
            ):
                continue
            self.add(
                PYLOCK_LOCK,
                f"{where}{what} does not list {FILES_DIR}/{f.filename} (with its sha256):"
                f" {_breaks(f.targets)}",
            )

    def location(self, ref: LockFileRef) -> Path | None:
        link = urllib.parse.urlsplit(ref.url)
        if link.scheme != "file":
            return None
        return Path(url_path_to_local(link.path))

    def check_requirements(self) -> None:
        """requirements.txt, read as pip reads it, pins what the manifest
        locks: each pin's hashes are exactly its files' sha256, its marker
        picks exactly the targets it serves, and no package source."""
        # No environment: the file must mean the same on every machine.
        lock = self.read_lock(
            REQUIREMENTS_LOCK, lambda text, path: parse_hashed_requirements(text, path, environ={})
        )
        if lock is None:
            return
        if lock.indexes != IndexSettings():
            # Whoever installs the bundle names its location (--find-links,
            # --index-url of a server); the lock must not override it.
            self.add(
                REQUIREMENTS_LOCK,
                "names a package source (--index-url, --extra-index-url, --no-index or"
                f" --find-links); a bundle's lock names none ({_REWRITE_LOCKS})",
            )
        by_sha = {a.sha256: a for a in self.manifest.artifacts}
        packages = _by_pin(p for p in self.manifest.packages if not p.build_only)
        matched: set[int] = set()
        for pin in lock.pins:
            what = f"{canonicalize_name(pin.name)}=={pin.version}"
            where = _where(pin.source)
            if pin.url is not None:
                # A URL would let pip fetch from outside the bundle.
                self.add(
                    REQUIREMENTS_LOCK,
                    f"{where}pins {what} with a URL; the bundle must be the only source",
                )
            pkg = _match(packages, pin)
            if pkg is None:
                self.add(
                    REQUIREMENTS_LOCK,
                    f"{where}pins {what}, which {MANIFEST_NAME} does not lock ({_REWRITE_LOCKS})",
                )
                continue
            matched.add(id(pkg))
            self.check_marker(REQUIREMENTS_LOCK, where, pin, pkg)
            self.compare_hashes(where, what, pin, pkg, by_sha)
        for pkg in self.manifest.packages:
            if not pkg.build_only and id(pkg) not in matched:
                self.add(
                    REQUIREMENTS_LOCK,
                    f"does not pin {pkg.name}=={pkg.version}, which {MANIFEST_NAME} locks",
                )

    def compare_hashes(
        self,
        where: str,
        what: str,
        pin: LockPin,
        pkg: LockedPackage,
        by_sha: Mapping[str, BundleArtifact],
    ) -> None:
        """pip --require-hashes accepts a file only when one of the pin's
        hashes is its own: the pin's hashes must be exactly its files'."""
        expected = {f"sha256:{f.sha256}": f for f in pkg.files}
        for digest, f in sorted(expected.items()):
            if digest not in pin.hashes:
                self.add(
                    REQUIREMENTS_LOCK,
                    f"{where}{what} lacks the hash of {FILES_DIR}/{f.filename}:"
                    f" {_breaks(f.targets)} ({_REWRITE_LOCKS})",
                )
        for digest in sorted(set(pin.hashes) - set(expected)):
            other = by_sha.get(digest.split(":", 1)[1]) if digest.startswith("sha256:") else None
            if other is not None:
                self.add(
                    REQUIREMENTS_LOCK,
                    f"{where}{what} has the hash of {FILES_DIR}/{other.filename}"
                    f" ({other.project} {other.version}),"
                    f" which {MANIFEST_NAME} does not list for it",
                )
            else:
                self.add(
                    REQUIREMENTS_LOCK,
                    f"{where}{what} has the hash {digest}, of no file {MANIFEST_NAME} lists for it"
                    " (pip would accept a file the bundle does not hold)",
                )


_REWRITE_LOCKS = "re-run `bundle download` to rewrite the lock files"
_REWRITE_SBOM = "re-run `bundle download` to rewrite it"
# The lock files are rendered from bundle.json; a copy that is not can be
# rewritten by downloading its lock again (files already there are kept).
_REGENERATE = (
    "rewrite the lock files with `bundle download LOCK -o DIR`, LOCK being the lock the"
    " bundle was made from; for a bundle made by an older bundler that is its own"
    " requirements.txt, with -i naming the index it came from"
)


def _located(err: BundlerError, path: str) -> str:
    """An error in the bundle file at ``path``, located by line only (the
    problem's subject names the file)."""
    text = str(err)
    if isinstance(err, InputFileError) and err.path == path:
        where = f"{path}:{err.line}: " if err.line is not None else f"{path}: "
        if text.startswith(where):
            text = text[len(where) :]
            return f"line {err.line}: {text}" if err.line is not None else text
    return text


def _where(source: str) -> str:
    """ "line 12: " (or "packages[3]: ") from a pin's "path:12" source."""
    if not source:
        return ""
    tail = source.rsplit(":", 1)[-1]
    return f"line {tail}: " if tail.isdigit() else f"{tail}: "


def _names(targets: Iterable[str]) -> str:
    return ", ".join(sorted(targets))


def _breaks(targets: Iterable[str]) -> str:
    names = _names(targets)
    if not names:
        return "an installer verifying hashes would refuse that file"
    return f"an installer verifying hashes would refuse that file on {names}"


def _by_pin(
    packages: Iterable[LockedPackage],
) -> dict[tuple[bool, NormalizedName, Version | str], list[LockedPackage]]:
    out: dict[tuple[bool, NormalizedName, Version | str], list[LockedPackage]] = {}
    for pkg in packages:
        key = (pkg.build_only, canonicalize_name(pkg.name), _version(str(pkg.version)))
        out.setdefault(key, []).append(pkg)
    return out


def _match(
    packages: Mapping[tuple[bool, NormalizedName, Version | str], list[LockedPackage]],
    pin: LockPin,
) -> LockedPackage | None:
    """The manifest's package for ``pin``: same name and version (and the
    same marker when several have both)."""
    key = (pin.build_only, canonicalize_name(pin.name), _version(str(pin.version)))
    found = packages.get(key, [])
    wanted = str(Marker(pin.marker)) if pin.marker else None
    for pkg in found:
        if (str(Marker(pkg.marker)) if pkg.marker else None) == wanted:
            return pkg
    return found[0] if found else None


def _version(text: str) -> Version | str:
    try:
        return Version(text)
    except InvalidVersion:
        return text


# Binary distribution format: RECORD lists every file of the wheel with its
# hash and size, except RECORD itself and its signatures.
_RECORD = re.compile(r"[^/]+\.dist-info/RECORD")
_UNRECORDED = ("RECORD", "RECORD.jws", "RECORD.p7s")
# The hashes RECORD may use: hashlib's, but not md5 or sha1 (PEP 427/376).
_RECORD_HASHES = frozenset(hashlib.algorithms_guaranteed) - {"md5", "sha1"}
_DRIVE = re.compile(r"[A-Za-z]:")


def _unsafe_member(name: str) -> bool:
    """A member an installer would write outside the install directory
    (absolute, ``..`` or a drive), or read differently on Windows."""
    parts = name.split("/")
    return name.startswith("/") or "\\" in name or _DRIVE.match(name) is not None or ".." in parts


def _read_record(archive: zipfile.ZipFile, name: str, problems: list[str]) -> dict[str, list[str]]:
    """Path -> [hash, size] rows of the wheel's RECORD (a CSV file)."""
    try:
        text = archive.read(name).decode("utf-8")
    except UnicodeDecodeError as err:
        problems.append(f"{name} is not UTF-8: {err}")
        return {}
    rows: dict[str, list[str]] = {}
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row:
            continue
        if len(row) != 3:
            problems.append(f"{name} line {lineno} is not 'path,hash,size': {','.join(row)!r}")
            continue
        if row[0] in rows:
            problems.append(f"{name} lists {row[0]!r} twice")
        rows[row[0]] = row[1:]
    return rows


def _member_digest(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, algorithm: str
) -> tuple[str, int]:
    """(urlsafe base64 digest without padding, size) of one member, read to
    its end so that zipfile checks its CRC-32 (as ``testzip`` does)."""
    h = hashlib.new(algorithm)
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii"), size


def wheel_archive_problems(path: Path) -> list[str]:  # noqa: C901, PLR0912
    """Everything wrong with a wheel's archive, read whole in one pass:
    member names an installer would write outside its target, a member
    whose data fails its CRC-32, and members that RECORD does not list or
    lists with another hash or size (binary distribution format)."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            records = [i.filename for i in infos if _RECORD.fullmatch(i.filename)]
            if len(records) != 1:
                found = ", ".join(records) or "none"
                problems.append(f"has {len(records)} .dist-info/RECORD files ({found}), not one")
            rows = _read_record(archive, records[0], problems) if len(records) == 1 else {}
            dist_info = records[0].rsplit("/", 1)[0] + "/" if len(records) == 1 else None
            seen: set[str] = set()
            for info in infos:
                name = info.filename
                if _unsafe_member(name):
                    problems.append(
                        f"has the member {name!r}, which would be written outside the"
                        " install directory (an absolute, '..' or backslash path)"
                    )
                if name in seen:
                    problems.append(f"has the member {name!r} twice")
                seen.add(name)
                if info.is_dir():
                    continue
                recorded = dist_info is not None and any(name == dist_info + n for n in _UNRECORDED)
                row = rows.get(name)
                algorithm, _, expected = row[0].partition("=") if row else ("", "", "")
                if algorithm not in _RECORD_HASHES:
                    algorithm = "sha256"
                try:
                    digest, size = _member_digest(archive, info, algorithm)
                except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as err:
                    problems.append(f"member {name!r} is corrupt: {err}")
                    continue
                except NotImplementedError as err:
                    problems.append(f"member {name!r} cannot be read: {err}")
                    continue
                if recorded or dist_info is None:
                    continue
                if row is None:
                    problems.append(f"member {name!r} is not listed in RECORD")
                elif not expected or row[0].partition("=")[0] not in _RECORD_HASHES:
                    problems.append(f"RECORD gives no usable hash for {name!r}: {row[0]!r}")
                elif expected != digest:
                    problems.append(
                        f"member {name!r} does not match RECORD: {algorithm}={digest},"
                        f" RECORD says {row[0]}"
                    )
                elif row[1] and row[1] != str(size):
                    problems.append(f"member {name!r} has {size} bytes, RECORD says {row[1]}")
            if dist_info is not None:
                problems.extend(_wheel_version_problems(archive, dist_info + "WHEEL"))
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        problems.append(f"is not a readable zip archive: {err}")
    return problems


# Binary distribution format: an installer must refuse a wheel whose
# Wheel-Version has a major version it does not know (only 1 exists).
WHEEL_MAJOR = 1


def _wheel_version_problems(archive: zipfile.ZipFile, name: str) -> list[str]:
    """Why an installer would refuse the wheel's ``.dist-info/WHEEL`` file."""
    try:
        data = archive.read(name)
    except KeyError:
        return [f"has no {name}: installers refuse a wheel without it"]
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError):
        return []  # reported as a corrupt member
    text = data.decode("utf-8", errors="replace")
    fields = [line.partition(":") for line in text.splitlines()]
    value = next((v.strip() for k, _, v in fields if k.strip().lower() == "wheel-version"), None)
    if value is None:
        return [f"{name} has no Wheel-Version field: installers refuse the wheel"]
    major = value.split(".", 1)[0]
    if not major.isdigit():
        return [f"{name} has Wheel-Version {value!r}, which is not a version"]
    if int(major) != WHEEL_MAJOR:
        return [
            f"{name} has Wheel-Version {value}: installers refuse any major version but"
            f" {WHEEL_MAJOR} (binary distribution format)"
        ]
    return []


class _AnchorCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._in_anchor = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._in_anchor = True
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._in_anchor:
            self._in_anchor = False
            self.texts.append("".join(self._text).strip())

    def handle_data(self, data: str) -> None:
        if self._in_anchor:
            self._text.append(data)


def _root_html_names(content: bytes) -> list[str]:
    """Project names on a PEP 503 root page (the anchor texts)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8: {err}") from err
    parser = _AnchorCollector()
    parser.feed(text)
    parser.close()
    return parser.texts


def _root_json_names(content: bytes) -> list[str]:
    """Project names on a PEP 691 root page."""
    try:
        doc = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"not valid JSON: {err}") from err
    projects = doc.get("projects") if isinstance(doc, dict) else None
    if not isinstance(projects, list):
        raise ValueError("no 'projects' list (PEP 691)")
    names: list[str] = []
    for item in projects:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError(f"bad project entry {item!r}")
        names.append(item["name"])
    return names


def check_integrity(
    bundle_dir: Path, manifest: Manifest, *, reporter: Reporter = NULL_REPORTER
) -> CheckResult:
    """Every artifact present with its recorded size and sha256, every wheel
    read whole (CRC-32, member names, RECORD), sidecars equal to the wheels'
    METADATA, pages and files in agreement, nothing unexpected in the tree,
    and each lock file the manifest lists locking exactly what it does."""
    state = _Integrity(bundle_dir, manifest, reporter)
    total = sum(a.size for a in manifest.artifacts)
    if not state.root.is_dir():
        problem = Problem(INTEGRITY, str(bundle_dir), "not a directory")
        return _result(INTEGRITY, None, [problem])
    reporter.task_start(INTEGRITY, "checking files", total)
    jobs: list[tuple[str, Callable[[], None]]] = [
        (".", state.check_top_level),
        (MANIFEST_NAME, state.check_targets),
        (f"{FILES_DIR}/", state.check_files_dir),
        (f"{SIMPLE_DIR}/", state.check_simple_dir),
        (f"{SIMPLE_DIR}/", state.check_root),
        (REQUIREMENTS_LOCK, state.check_requirements),
        (PYLOCK_LOCK, state.check_pylock),
        (SBOM_FILE, state.check_sbom),
        *(
            (name, functools.partial(state.check_rendered, name))
            for name in sorted(LOCK_FILE_NAMES)
        ),
        *(
            (f"{FILES_DIR}/{a.filename}", functools.partial(state.check_artifact, a))
            for a in manifest.artifacts
        ),
        *(
            (f"{SIMPLE_DIR}/{p}/", functools.partial(state.check_project, p))
            for p in sorted(state.by_project)
        ),
    ]
    workers = min(32, (os.cpu_count() or 1) + 4)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(subject, pool.submit(job)) for subject, job in jobs]
        for subject, future in futures:
            try:
                future.result()
            except OSError as err:
                state.add(subject, f"cannot be read: {err.strerror or err}")
    reporter.task_done(INTEGRITY, ok=not state.problems)
    details = f"{len(manifest.artifacts)} files, {total} bytes"
    return _result(INTEGRITY, None, state.problems, details)


# --- reality -----------------------------------------------------------------------


def _safe_dirname(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "target"


# pip's last word when a requirement cannot be met from the sources it has.
_NO_DISTRIBUTION = re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._-]*)")


def _pip_problem(
    target: str, what: str, result: PipResult, lock: str = REQUIREMENTS_LOCK
) -> Problem:
    """A problem carrying pip's command and output, on the package pip
    could not find when it names one, else on the lock file ``lock``."""
    match = _NO_DISTRIBUTION.search(result.stderr)
    subject = canonicalize_name(match.group(1)) if match else lock
    return Problem(REALITY, subject, f"{what}:\n{result.describe()}", target)


def check_reality(
    bundle_dir: Path,
    target_name: str,
    interpreter: Interpreter,
    expected: Mapping[NormalizedName, str],
    runner: PipRunner,
    workdir: Path,
    *,
    pip: PipChoice | None = None,
    lock: str = REQUIREMENTS_LOCK,
    reporter: Reporter = NULL_REPORTER,
    index_url: str | None = None,
    requirements: Path | None = None,
) -> CheckResult:
    """Install the bundle's ``lock`` (``requirements.txt``, or
    ``pylock.toml``) with pip into a fresh venv of ``interpreter`` (hashes
    required, the bundle as the only source, no network where the machine
    allows it) and compare what got installed with ``expected`` (name ->
    version for this target).  ``pip`` names the pip ``runner`` runs, in
    the details and in every problem, with the lock when not the first.

    With ``index_url`` (a published index: the post-publish gate) pip
    installs ``requirements`` from that index alone instead."""
    which = pip.describe() if pip is not None else ""
    if lock != REQUIREMENTS_LOCK:
        which = f"{which} with {lock}" if which else lock
    which = f"{which}; " if which else ""
    details = f"{which}{runner.network.describe()}; interpreter: {interpreter.describe()}"
    key = f"{REALITY}:{target_name}:{which}"
    root = bundle_dir.resolve()
    if index_url is None:
        sources = ["--no-index", "--find-links", str(root / FILES_DIR)]
        alone = "the bundle alone"
    else:
        sources = ["--index-url", index_url]
        alone = redact_url(index_url)
    reporter.task_start(key, f"installing for {target_name} from {alone}")
    problems = _install_and_compare(
        requirements or root / lock,
        (sources, alone),
        target_name,
        interpreter,
        expected,
        runner,
        workdir,
        lock,
    )
    if which:
        problems = [dataclasses.replace(p, message=f"{which}{p.message}") for p in problems]
    reporter.task_done(key, ok=not problems)
    return _result(REALITY, target_name, problems, details)


def _verb(subjects: Sequence[str], one: str, many: str) -> str:
    return one if len(subjects) == 1 else many


def with_pip_disagreement(rows: Sequence[tuple[PipChoice, CheckResult]]) -> list[CheckResult]:
    """The reality rows of one target, the first failed one also saying
    which pips install the bundle and which do not when they disagree:
    the target's users may run any of them."""
    passed = [pip.describe() for pip, row in rows if row.status == PASSED]
    failed = [pip.describe() for pip, row in rows if row.failed]
    results = [row for _, row in rows]
    if not (passed and failed):
        return results
    first = next(i for i, row in enumerate(results) if row.failed)
    row = results[first]
    problem = Problem(
        REALITY,
        "pip",
        f"the pips disagree: {', '.join(passed)} {_verb(passed, 'installs', 'install')}"
        f" the bundle, {', '.join(failed)} {_verb(failed, 'does', 'do')} not"
        " (see the problems above)",
        row.target,
    )
    results[first] = dataclasses.replace(row, problems=(*row.problems, problem))
    return results


def _install_and_compare(
    requirements: Path,
    source: tuple[Sequence[str], str],
    target: str,
    interpreter: Interpreter,
    expected: Mapping[NormalizedName, str],
    runner: PipRunner,
    workdir: Path,
    lock: str = REQUIREMENTS_LOCK,
) -> list[Problem]:
    """``source``: pip's options naming the only package source, and how
    a message names it."""
    sources, alone = source
    if not requirements.is_file():
        return [Problem(REALITY, lock, "missing: nothing to install", target)]
    venv = workdir / f"venv-{_safe_dirname(target)}"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        if venv.exists():
            shutil.rmtree(venv)
        python = create_venv(venv, interpreter)
        seeded = runner.prepare(python)
    except (BundlerError, OSError) as err:
        return [Problem(REALITY, interpreter.path, str(err), target)]
    # A PEP 751 lock carries its hashes and names its files by path; an
    # sdist's build dependencies, which it does not lock, come from files/.
    hashes = ["--require-hashes"] if lock == REQUIREMENTS_LOCK else []
    install = runner.run(
        [
            "install",
            *sources,
            *hashes,
            # A cached wheel built from an sdist would hide a build that fails.
            "--no-cache-dir",
            # Byte-compiling proves nothing pip would fail on (it only warns)
            # and is most of an install's time.
            "--no-compile",
            "--progress-bar",
            "off",
            "-r",
            str(requirements),
        ],
        python=python,
        cwd=workdir,
    )
    if not install.ok:
        what = f"pip cannot install {requirements.name} from {alone}"
        return [_pip_problem(target, what, install, lock)]
    try:
        installed = dict(installed_distributions(python))
    except BundlerError as err:
        return [Problem(REALITY, lock, str(err), target)]
    # pip installs the build section of requirements.txt too; those pins are
    # the lock's doing even though this target does not need them at runtime.
    # (pylock.toml keeps build dependencies in its [tool] table, unread.)
    allowed = seeded | (
        _build_only_pins(requirements) if lock == REQUIREMENTS_LOCK else frozenset()
    )
    return _compare_installed(target, installed, expected, allowed)


def _build_only_pins(requirements: Path) -> frozenset[NormalizedName]:
    try:
        lock = parse_hashed_requirements(
            requirements.read_text(encoding="utf-8"), str(requirements), environ={}
        )
    except (BundlerError, OSError, UnicodeDecodeError):
        return frozenset()  # check_integrity reports an unreadable file
    return frozenset(canonicalize_name(pin.name) for pin in lock.pins if pin.build_only)


def _compare_installed(
    target: str,
    installed: Mapping[NormalizedName, str],
    expected: Mapping[NormalizedName, str],
    allowed: Iterable[NormalizedName],
) -> list[Problem]:
    """Missing, wrong-version and unexpected installs; ``allowed`` names may
    be installed without being expected (pip's own bootstrap, build pins)."""
    want = {canonicalize_name(name): version for name, version in expected.items()}
    ignore = set(allowed) - set(want)
    problems: list[Problem] = []
    for name, version in sorted(want.items()):
        got = installed.get(name)
        if got is None:
            problems.append(
                Problem(REALITY, name, f"{name}=={version} is locked but was not installed", target)
            )
        elif _version(got) != _version(version):
            problems.append(
                Problem(
                    REALITY, name, f"pip installed {name} {got}, the lock pins {version}", target
                )
            )
    for name, version in sorted(installed.items()):
        if name not in want and name not in ignore:
            problems.append(
                Problem(
                    REALITY,
                    name,
                    f"pip installed {name} {version}, which the lock does not pin for this target",
                    target,
                )
            )
    return problems


__all__ = [
    "BUILDABILITY",
    "CLOSURE",
    "FAILED",
    "INTEGRITY",
    "PASSED",
    "REALITY",
    "SKIPPED",
    "CheckResult",
    "Problem",
    "VerifyReport",
    "check_integrity",
    "check_reality",
    "report_to_json",
    "with_pip_disagreement",
]


PIP_VIEW = "pip"
DIFFERS = "differs"
_HOST_MARKERS = (
    "pip evaluates environment markers for the machine it runs on, not for"
    " --platform/--python-version (pip issue 11664), so its answer can gain or"
    " lose marker-gated packages for a foreign target"
)


def _pip_view_failed(
    target_name: str,
    expected: Mapping[NormalizedName, str],
    runner: PipRunner,
    result: PipResult,
) -> CheckResult:
    """A dry run pip could not finish fails the gate (pip refused the
    bundle: a bad wheel, a missing pin), unless all it lacks is a package
    the target does not lock, which only pip's host markers can ask for."""
    version = runner.pip_version()
    pip = f"pip {version}" if version else "pip"
    match = _NO_DISTRIBUTION.search(result.stderr)
    if match and canonicalize_name(match.group(1)) not in expected:
        problem = Problem(
            PIP_VIEW,
            canonicalize_name(match.group(1)),
            f"{pip}'s dry run for {target_name} asks for {match.group(1)}, which the target"
            f" does not lock ({_HOST_MARKERS}):\n{result.describe()}",
            target_name,
        )
        return CheckResult(PIP_VIEW, target_name, DIFFERS, (problem,), details=f"{pip} differs")
    lines = result.stderr.strip().splitlines() or [f"exit {result.returncode}"]
    error = next((line for line in lines if line.startswith("ERROR:")), lines[-1])
    # The dry run reads the target's own pins, not the bundle's requirements.txt.
    problem = Problem(
        PIP_VIEW,
        canonicalize_name(match.group(1)) if match else PIP_VIEW,
        f"{pip} cannot install the bundle for {target_name} (its dry run with --platform"
        f" and --python-version failed): {error.strip()}\n{result.describe()}",
        target_name,
    )
    return CheckResult(PIP_VIEW, target_name, FAILED, (problem,), details=f"{pip} failed")


def check_pip_resolution(
    bundle_dir: Path,
    target_name: str,
    platforms: Sequence[str],
    python_version: str,
    expected: Mapping[NormalizedName, str],
    runner: PipRunner,
    *,
    requirements: Path | None = None,
    has_sdists: bool = False,
) -> CheckResult:
    """For a target no local interpreter can run: ask pip for a dry-run
    install from the bundle alone with ``--platform/--python-version
    --only-binary :all:`` and report its answer next to bundler's.  A pip
    that fails on the bundle fails the gate; a different choice of versions
    only ``differs`` (a warning), pip's markers being the host's.

    ``requirements`` (default: the bundle's requirements.txt) is best the
    target's own pins, so that only the markers inside the packages'
    metadata are left to pip's host evaluation."""
    if has_sdists:
        return CheckResult(
            PIP_VIEW,
            target_name,
            SKIPPED,
            details="the target builds sdists; pip cannot resolve foreign targets"
            " without --only-binary :all:",
        )
    args = [
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        "-",
        "--no-index",
        "--find-links",
        str(bundle_dir / FILES_DIR),
        "--only-binary",
        ":all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        *(a for p in platforms for a in ("--platform", p)),
        "-r",
        str(requirements or bundle_dir / REQUIREMENTS_LOCK),
    ]
    result = runner.run(args)
    if not result.ok:
        return _pip_view_failed(target_name, expected, runner, result)
    try:
        report = json.loads(result.stdout)
        got = {
            canonicalize_name(item["metadata"]["name"]): str(item["metadata"]["version"])
            for item in report.get("install", [])
        }
    except (ValueError, KeyError, TypeError) as err:
        return CheckResult(
            PIP_VIEW, target_name, SKIPPED, details=f"cannot read pip's report: {err}"
        )
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = sorted(n for n in set(got) & set(expected) if got[n] != expected[n])
    if not (missing or extra or wrong):
        return CheckResult(
            PIP_VIEW, target_name, PASSED, details=f"pip agrees ({len(got)} packages)"
        )
    parts = []
    if missing:
        parts.append("pip leaves out " + ", ".join(f"{n}=={expected[n]}" for n in missing))
    if extra:
        parts.append("pip adds " + ", ".join(f"{n}=={got[n]}" for n in extra))
    if wrong:
        parts.append(
            "pip picks " + ", ".join(f"{n}=={got[n]} (lock: {expected[n]})" for n in wrong)
        )
    problem = Problem(PIP_VIEW, "resolution", "; ".join(parts) + f" ({_HOST_MARKERS})", target_name)
    return CheckResult(PIP_VIEW, target_name, DIFFERS, (problem,), details="pip differs")
