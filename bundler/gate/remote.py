"""The post-publish gate: ``bundle verify --index-url URL LOCK``.

The same proof as the local gate, against the index people install from
instead of the bundle: every pinned file is listed at URL with the locked
hash (and size, where the index gives one) and is served with exactly those
bytes; for each target the closure resolves against URL alone; and where an
interpreter runs the target, pip installs the lock from URL alone, hashes
required, with ``--isolated`` and a scrubbed environment (the network cannot
be cut: URL may be anywhere).  ``bundle publish`` runs it after publishing;
a CI job runs it against the production index before a release.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from packaging.requirements import Requirement
from packaging.utils import NormalizedName

from bundler.errors import BundlerError, UsageError
from bundler.fsutil import remove_tree
from bundler.gate.closure import check_closure, expected_pins
from bundler.gate.install import check_reality, with_pip_disagreement
from bundler.gate.report import FAILED, PASSED, REALITY, SKIPPED, CheckResult, Problem, VerifyReport
from bundler.gate.verify import load_bundle
from bundler.index.client import HttpClient
from bundler.index.collector import ACCEPT, PackageIndex
from bundler.lock.files import read_lock_file
from bundler.models import (
    IndexFile,
    IndexSettings,
    LockedPackage,
    LockInput,
    LockPin,
    Manifest,
)
from bundler.redact import redact_url
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.resolve.builddeps import interpreter_for
from bundler.runtime.interpreters import Interpreter, find_interpreters
from bundler.runtime.piprun import NEWEST_PIP, VENV_PIP, PipChoice, PipRunner, ensurepip_version
from bundler.spec.filenames import parse_filename
from bundler.spec.selection import usable_files
from bundler.spec.target import Target

PUBLISHED = "published"
# The page types pip reads (its _ensure_api_header); any other is skipped.
PIP_PAGE_TYPES = (
    "text/html",
    "application/vnd.pypi.simple.v1+html",
    "application/vnd.pypi.simple.v1+json",
)
_SHA256 = "sha256:"


@dataclass(frozen=True)
class ExpectedFile:
    """A file the lock names outright (a bundle's artifact, a PEP 751 file)."""

    filename: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class PublishedLock:
    """What LOCK pins: ``manifest`` for the closure (a lock file's pins as
    packages), ``pins`` with their hashes for the listing and the install,
    and the files the lock names by name, per pin."""

    source: str
    manifest: Manifest
    pins: tuple[LockPin, ...]
    files: dict[tuple[NormalizedName, str], tuple[ExpectedFile, ...]]
    # The lock file as read (None for a bundle directory): what it covers.
    lock_input: LockInput | None = None


def load_published_lock(path: Path) -> PublishedLock:
    """LOCK: a bundle directory, a hashed requirements.txt or a pylock.toml."""
    if path.is_dir():
        manifest = load_bundle(path)
        pins = tuple(
            LockPin(
                name=p.name,
                version=p.version,
                hashes=tuple(f"{_SHA256}{f.sha256}" for f in p.files),
                marker=p.marker,
                build_only=p.build_only,
            )
            for p in manifest.packages
        )
        files: dict[tuple[NormalizedName, str], list[ExpectedFile]] = defaultdict(list)
        for a in manifest.artifacts:
            files[(a.project, a.version)].append(ExpectedFile(a.filename, a.sha256, a.size))
        return PublishedLock(str(path), manifest, pins, {k: tuple(v) for k, v in files.items()})
    if not path.exists():
        raise UsageError(
            f"{path}: no such bundle or lock file",
            hint="bundle verify --index-url URL ./pypi (or its requirements.txt or pylock.toml)",
        )
    lock = read_lock_file(path)
    manifest = Manifest(
        artifacts=(),
        packages=tuple(
            LockedPackage(
                name=pin.name,
                version=pin.version,
                files=(),
                marker=pin.marker,
                build_only=pin.build_only,
            )
            for pin in lock.pins
        ),
        targets=lock.targets,
    )
    named = {
        (pin.name, str(pin.version)): tuple(
            ExpectedFile(ref.filename, ref.sha256, ref.size) for ref in pin.files
        )
        for pin in lock.pins
        if pin.files
    }
    return PublishedLock(str(path), manifest, lock.pins, named, lock)


def render_install_requirements(pins: Iterable[LockPin]) -> str:
    """A hashed requirements file of the runtime pins, for pip to install
    from the published index (build-only pins are fetched by the builds)."""
    lines: list[str] = []
    for pin in sorted(pins, key=lambda p: (p.name, p.version)):
        if pin.build_only:
            continue
        spec = f"{pin.name} @ {pin.url}" if pin.url else f"{pin.name}=={pin.version}"
        marker = f" ; {pin.marker}" if pin.marker else ""
        hashes = "".join(f" \\\n    --hash={h}" for h in pin.hashes)
        lines.append(f"{spec}{marker}{hashes}\n")
    return "".join(lines)


# --- the listing ------------------------------------------------------------------------


class _Listing:
    """Checks what URL lists and serves against the lock."""

    def __init__(
        self,
        index: PackageIndex,
        client: HttpClient,
        url: str,
        workdir: Path,
        targets: Sequence[Target] = (),
    ) -> None:
        self.index = index
        self.client = client
        self.targets = targets
        self.index_url = url
        self.typed: set[NormalizedName] = set()
        self.url = redact_url(url)
        self.workdir = workdir
        self.problems: list[Problem] = []
        self.to_fetch: list[tuple[IndexFile, str]] = []

    def add(self, subject: str, message: str) -> None:
        self.problems.append(Problem(PUBLISHED, subject, message))

    def check_pin(self, pin: LockPin, named: Sequence[ExpectedFile]) -> None:
        what = f"{pin.name}=={pin.version}"
        try:
            page = self.index.get_project(pin.name)
        except BundlerError as err:
            self.add(pin.name, f"{what} is locked, but {self.url} has no page for it: {err}")
            return
        self.check_content_type(pin.name)
        # By what the name says, as pip reads it: an index may list the
        # same file under an older, non-normalized name (Delta_Pkg-1.0-...).
        listed = {_file_key(f.filename): f for f in page.files}
        if named:
            for expected in named:
                self.check_named(listed.get(_file_key(expected.filename)), expected)
            return
        # A requirements file names hashes only: some file of the release
        # must be listed with one of them.
        hashes = {h.removeprefix(_SHA256) for h in pin.hashes if h.startswith(_SHA256)}
        matching = [
            f for f in page.files if str(f.version) == str(pin.version) and self.sha256(f) in hashes
        ]
        if not matching:
            release = sorted(f.filename for f in page.files if f.version == pin.version)
            self.add(
                pin.name,
                f"{self.url} lists no file of {what} with a locked hash"
                f" ({', '.join(release) or 'no file of that version'})",
            )
        for f in matching:
            self.to_fetch.append((f, self.sha256(f) or ""))
        self.check_targets(pin, [f for f in page.files if f.version == pin.version], hashes)

    def check_targets(self, pin: LockPin, release: Sequence[IndexFile], hashes: set[str]) -> None:
        """Each target the pin is for must find, among the files of the
        release it can install, one with a locked hash: pip in
        --require-hashes mode keeps only those, and a target whose own
        wheel was rebuilt finds none (another target's file with a locked
        hash does not help it)."""
        marker = Requirement(f"x; {pin.marker}").marker if pin.marker else None
        for target in self.targets:
            if not target.evaluate_marker(marker):
                continue
            usable, _ = usable_files(release, target)
            if usable and not any(self.sha256(f) in hashes for f in usable):
                names = ", ".join(sorted(f.filename for f in usable))
                self.add(
                    pin.name,
                    f"{pin.name}=={pin.version}: of the files {self.url} lists for"
                    f" {target.name} ({names}), none has a locked hash",
                )

    def check_content_type(self, name: NormalizedName) -> None:
        """pip reads a page over HTTP only when it is served as HTML or PEP
        691 JSON ("Skipping page ... because the GET request got
        Content-Type: text/plain"); bundler reads the body whatever the
        type, as a static mirror's often is wrong, so the gate asks."""
        page_url = urljoin(self.index_url.rstrip("/") + "/", f"{name}/")
        if name in self.typed or urlsplit(page_url).scheme not in ("http", "https"):
            return
        self.typed.add(name)
        try:
            resp = self.client.get(page_url, ACCEPT)
        except BundlerError:
            return  # the page's own check says it
        mime = (resp.content_type or "").split(";", 1)[0].strip().lower()
        if mime not in PIP_PAGE_TYPES:
            self.add(
                name,
                f"{redact_url(page_url)} is served as Content-Type {mime or 'none'!r}, and"
                " pip skips a page that is not HTML or PEP 691 JSON: it finds nothing to"
                " install there",
            )

    def sha256(self, f: IndexFile) -> str | None:
        try:
            return self.index.hashed(f).sha256
        except (BundlerError, OSError) as err:
            self.add(f.filename, f"listed at {self.url} but cannot be fetched: {err}")
            return None

    def check_named(self, f: IndexFile | None, expected: ExpectedFile) -> None:
        name = expected.filename
        if f is None:
            self.add(name, f"not listed at {self.url}")
            return
        if f.sha256 is not None and f.sha256 != expected.sha256:
            self.add(name, f"listed with sha256 {f.sha256}, the lock has {expected.sha256}")
            return
        if f.size is not None and expected.size is not None and f.size != expected.size:
            self.add(name, f"listed with size {f.size}, the lock has {expected.size}")
        self.to_fetch.append((f, expected.sha256))

    def fetch_all(self, workers: int) -> None:
        """Fetch every listed file (never from the cache: what URL serves is
        the question) and compare its bytes with the lock."""
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="bundler-gate") as pool:
            for _ in pool.map(self.fetch, self.to_fetch):
                pass

    def fetch(self, item: tuple[IndexFile, str]) -> None:
        f, sha256 = item
        with tempfile.TemporaryDirectory(prefix="bundler-gate-", dir=self.workdir) as tmp:
            try:
                digest, _ = self.client.fetch_to_file(f.url, Path(tmp) / "file", sha256=None)
            except (BundlerError, OSError) as err:
                self.add(f.filename, f"listed at {self.url} but cannot be fetched: {err}")
                return
        if digest != sha256:
            self.add(
                f.filename, f"{self.url} serves it with sha256 {digest}, the lock has {sha256}"
            )


def _file_key(filename: str) -> object:
    """A distribution file's identity as pip reads its name (name
    normalized, version parsed, a wheel's tags); the name itself when it
    is neither a wheel's nor an sdist's."""
    parsed = parse_filename(filename)
    if parsed is None:
        return filename
    return (parsed.name, parsed.version, parsed.kind, parsed.build, parsed.tag_text)


def check_published(
    url: str,
    lock: PublishedLock,
    client: HttpClient,
    workdir: Path,
    *,
    workers: int = 8,
    reporter: Reporter = NULL_REPORTER,
    targets: Sequence[Target] = (),
) -> CheckResult:
    """Every pin listed at ``url`` with its locked files and hashes, and
    every such file served with the locked bytes; for a lock of hashes
    only, each of ``targets`` finding a file it can install among them."""
    with PackageIndex(IndexSettings(index_url=url), client, reporter) as index:
        state = _Listing(index, client, url, workdir, targets)
        index.prefetch(p.name for p in lock.pins)
        for pin in lock.pins:
            if pin.url:
                continue  # a direct reference is not on an index
            state.check_pin(pin, lock.files.get((pin.name, str(pin.version)), ()))
        state.fetch_all(workers)
    status = FAILED if state.problems else PASSED
    details = f"{len(state.to_fetch)} files at {redact_url(url)}"
    problems = sorted(state.problems, key=lambda p: (p.subject, p.message))
    return CheckResult(PUBLISHED, None, status, tuple(problems), details)


def verify_index(
    url: str,
    lock: PublishedLock,
    targets: Sequence[Target],
    client: HttpClient,
    *,
    live: bool = True,
    workers: int = 8,
    reporter: Reporter = NULL_REPORTER,
) -> VerifyReport:
    """Run the post-publish gate of ``lock`` against the index at ``url``.

    The three checks share nothing but the index, so they run at once: the
    listing's fetches and the closures' page reads go on while pip installs
    (the longest part, and mostly waiting on pip).  Each is the same check
    it is when run alone, and the report lists them in the same order."""
    work = Path(tempfile.mkdtemp(prefix="bundler-verify-index-"))
    try:
        reporter.stage(f"checking {redact_url(url)}")
        with ThreadPoolExecutor(2, thread_name_prefix="bundler-gate-index") as background:
            published = background.submit(
                check_published,
                url,
                lock,
                client,
                work,
                workers=workers,
                reporter=reporter,
                targets=targets,
            )
            closures = background.submit(_closures, url, lock, targets, client, work, reporter)
            # pip takes credentials only in the URL: those the client knows.
            installs = (
                _install(client.with_credentials(url), lock, targets, work, reporter)
                if live
                else []
            )
            results = [published.result(), *closures.result(), *installs]
    finally:
        try:
            remove_tree(work)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
    return VerifyReport(tuple(results))


def _closures(
    url: str,
    lock: PublishedLock,
    targets: Sequence[Target],
    client: HttpClient,
    work: Path,
    reporter: Reporter,
) -> list[CheckResult]:
    return [
        check_closure(work, lock.manifest, target, client, reporter, index_url=url)
        for target in targets
    ]


def _install(
    url: str, lock: PublishedLock, targets: Sequence[Target], work: Path, reporter: Reporter
) -> list[CheckResult]:
    # The URL may be anywhere: pip keeps the network, and nothing else.
    # Each target installs with the pip a fresh venv gets (older pips read
    # an index over HTTP differently) and with the newest pip.
    newest = PipRunner(isolate_network=False)
    own_pip = PipRunner(isolate_network=False, python_option=False)
    interpreters = find_interpreters()
    requirements = work / "requirements.txt"
    requirements.write_text(render_install_requirements(lock.pins), encoding="utf-8")
    results: list[CheckResult] = []
    for target in targets:
        interp = interpreter_for(target, interpreters)
        if interp is None:
            results.append(
                CheckResult(
                    REALITY,
                    target.name,
                    SKIPPED,
                    details=f"no Python {target.python_short} interpreter for this target"
                    " on this machine",
                )
            )
            continue
        reporter.stage(f"install {target.name}")
        expected = expected_pins(lock.manifest, target)
        pips = _pips(interp, newest, own_pip)
        # The pips install side by side, as the local gate's do.
        with ThreadPoolExecutor(max_workers=len(pips)) as pool:
            futures = [
                pool.submit(
                    check_reality,
                    work,
                    target.name,
                    interp,
                    expected,
                    runner,
                    work / f"install-{len(results)}-{n}",
                    pip=pip,
                    reporter=reporter,
                    index_url=url,
                    requirements=requirements,
                )
                for n, (pip, runner) in enumerate(pips)
            ]
            rows = [(pip, future.result()) for (pip, _), future in zip(pips, futures, strict=True)]
        results.extend(with_pip_disagreement(rows))
    return results


def _pips(
    interp: Interpreter, newest: PipRunner, own_pip: PipRunner
) -> list[tuple[PipChoice, PipRunner]]:
    """The pips a target installs the published lock with: the one a fresh
    venv of ``interp`` gets, and the newest where it runs on ``interp``."""
    out: list[tuple[PipChoice, PipRunner]] = []
    own = ensurepip_version(interp)
    if own is not None:
        out.append((PipChoice(own, VENV_PIP), own_pip))
    version = newest.pip_version()
    if version is not None and newest.supports(interp.version) and str(version) != own:
        out.append((PipChoice(str(version), NEWEST_PIP), newest))
    return out or [(PipChoice("unknown", NEWEST_PIP), newest)]


__all__ = [
    "PUBLISHED",
    "ExpectedFile",
    "PublishedLock",
    "check_published",
    "load_published_lock",
    "render_install_requirements",
    "verify_index",
]
