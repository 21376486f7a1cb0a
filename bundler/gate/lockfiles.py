"""The lock-file checks: the bundle's ``requirements.txt`` and
``pylock.toml``, each read as an installer reads it, lock exactly what
``bundle.json`` does (names, versions, markers per target, files and their
hashes, no other source), and each is byte for byte what bundler writes
from ``bundle.json``."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.bundle.layout import FILES_DIR, MANIFEST_NAME, PYLOCK_LOCK, REQUIREMENTS_LOCK
from bundler.bundle.lockfiles import manifest_lock_files
from bundler.errors import BundlerError, InputFileError, MultipleErrors, UsageError
from bundler.fsutil import url_path_to_local
from bundler.gate.report import INTEGRITY, Problem
from bundler.gate.tree import not_a_file
from bundler.models import (
    BundleArtifact,
    DistKind,
    IndexSettings,
    LockedPackage,
    LockFileRef,
    LockInput,
    LockPin,
    Manifest,
)
from bundler.spec.lockfile import parse_hashed_requirements
from bundler.spec.pylockreader import read_pylock
from bundler.spec.target import Target, target_from_name

__all__ = ["LockFileChecks", "comparable_version"]


class LockFileChecks:
    """Collects the lock files' problems into ``problems`` (shared with the
    other integrity checks); safe to call from worker threads (list.append
    is atomic)."""

    def __init__(self, root: Path, manifest: Manifest, problems: list[Problem]) -> None:
        self.root = root
        self.manifest = manifest
        self.problems = problems
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

    def lock_file(self, name: str, *, report: bool = True) -> str | None:
        """The text of the lock file ``name`` the manifest lists, or None
        (with the problem recorded when ``report``) when it is missing or
        unreadable."""
        if name not in self.manifest.lock_files:
            return None
        path = self.root / name
        if (why := not_a_file(path, f"{MANIFEST_NAME} lists it: {_REWRITE_LOCKS}")) is not None:
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
        key = (pkg.build_only, canonicalize_name(pkg.name), comparable_version(str(pkg.version)))
        out.setdefault(key, []).append(pkg)
    return out


def _match(
    packages: Mapping[tuple[bool, NormalizedName, Version | str], list[LockedPackage]],
    pin: LockPin,
) -> LockedPackage | None:
    """The manifest's package for ``pin``: same name and version (and the
    same marker when several have both)."""
    key = (pin.build_only, canonicalize_name(pin.name), comparable_version(str(pin.version)))
    found = packages.get(key, [])
    wanted = str(Marker(pin.marker)) if pin.marker else None
    for pkg in found:
        if (str(Marker(pkg.marker)) if pkg.marker else None) == wanted:
            return pkg
    return found[0] if found else None


def comparable_version(text: str) -> Version | str:
    """``text`` as a Version when it is one (so 1.0 equals 1.0.0), else as is."""
    try:
        return Version(text)
    except InvalidVersion:
        return text
