"""The integrity check: the bundle tree alone, read whole.

Every artifact present with its recorded size and sha256, every wheel read
whole, sidecars equal to the wheels' METADATA, pages and files in
agreement, nothing unexpected in the tree, the SBOM_FILE and the lock files
locking what the manifest does.  Nothing is installed or resolved.
"""

from __future__ import annotations

import functools
import json
import os
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

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
)
from bundler.bundle.sbom import bundle_sbom
from bundler.bundle.sbomcheck import sbom_difference, sbom_problems
from bundler.errors import BundlerError
from bundler.fsutil import sha256_bytes, sha256_file
from bundler.gate.lockfiles import LockFileChecks
from bundler.gate.report import INTEGRITY, CheckResult, Problem, result_from, verb_for
from bundler.gate.tree import (
    REFETCH,
    REWRITE,
    TOP_LEVEL_DIRS,
    TOP_LEVEL_FILES,
    not_a_dir,
    not_a_file,
)
from bundler.gate.wheels import wheel_archive_problems
from bundler.models import BundleArtifact, DistKind, IndexFile, Manifest
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.archives import wheel_metadata
from bundler.spec.filenames import is_safe_filename, parse_filename
from bundler.spec.pages import parse_html_page, parse_json_page
from bundler.spec.project import ProjectPage

__all__ = ["check_integrity"]

_REWRITE_SBOM = "re-run `bundle download` to rewrite it"


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
        self.locks = LockFileChecks(self.root, manifest, self.problems)

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
        if (why := not_a_file(path, REFETCH)) is not None:
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
        if (why := not_a_file(sidecar, REWRITE)) is not None:
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
        if (why := not_a_dir(files_dir, REFETCH)) is not None:
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
            if (why := not_a_file(path, REWRITE)) is not None:
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
            if (why := not_a_file(path, REWRITE)) is not None:
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
        if (why := not_a_dir(simple, REWRITE)) is not None:
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
        if (why := not_a_file(self.root / MANIFEST_NAME, "")) is not None:
            self.add(MANIFEST_NAME, why)

    def check_sbom(self) -> None:
        """The SBOM, when the manifest says the bundle has one, lists what
        the manifest does (its releases, their files and sha256), and is
        otherwise the SBOM the bundle gives, compared as JSON."""
        if not self.manifest.sbom:
            return
        path = self.root / SBOM_FILE
        if (why := not_a_file(path, f"{MANIFEST_NAME} lists it: {_REWRITE_SBOM}")) is not None:
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
                f" {verb_for(sorted(users), 'serves', 'serve')}: no check would run for it"
                " (re-run `bundle download` with the lock of every target)",
            )


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
        return result_from(INTEGRITY, None, [problem])
    reporter.task_start(INTEGRITY, "checking files", total)
    jobs: list[tuple[str, Callable[[], None]]] = [
        (".", state.check_top_level),
        (MANIFEST_NAME, state.check_targets),
        (f"{FILES_DIR}/", state.check_files_dir),
        (f"{SIMPLE_DIR}/", state.check_simple_dir),
        (f"{SIMPLE_DIR}/", state.check_root),
        (REQUIREMENTS_LOCK, state.locks.check_requirements),
        (PYLOCK_LOCK, state.locks.check_pylock),
        (SBOM_FILE, state.check_sbom),
        *(
            (name, functools.partial(state.locks.check_rendered, name))
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
    return result_from(INTEGRITY, None, state.problems, details)
