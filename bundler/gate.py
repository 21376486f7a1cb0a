"""The gate's checks that need resolution (closure, buildability, pip's
own view) and the ``verify`` command that runs every check.  The file-level
checks and the real install live in ``verify.py``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from .building import BuildingSource, interpreter_for
from .buildsys import read_build_system
from .collector import PackageIndex
from .errors import BundlerError, MultipleErrors, UsageError
from .fsutil import remove_tree
from .http import HttpClient
from .interpreters import find_interpreters
from .manifest import manifest_from_json
from .models import DistKind, IndexSettings, Manifest
from .piprun import PipRunner
from .reporting import NULL_REPORTER, Reporter
from .resolver import ResolveOptions, RootRequirement, resolve
from .target import Target
from .verify import (
    BUILDABILITY,
    CLOSURE,
    FAILED,
    PASSED,
    REALITY,
    SKIPPED,
    CheckResult,
    Problem,
    VerifyReport,
    check_integrity,
    check_pip_resolution,
    check_reality,
)

MANIFEST = "bundle.json"


@dataclass(frozen=True)
class VerifyOptions:
    live: bool = True  # run the real pip install where an interpreter exists
    workdir: Path | None = None


_REBUILD = "rebuild the bundle with: bundle download requirements.txt -o DIR"


def load_bundle(bundle_dir: Path) -> Manifest:
    """The bundle's manifest.  A bundle whose ``bundle.json`` is missing,
    unreadable or invalid fails the gate (exit 1, like any other broken
    bundle file); only a path that is no directory is a usage error."""
    if not bundle_dir.is_dir():
        raise UsageError(f"{bundle_dir}: no such directory", hint="bundle verify ./pypi")
    path = bundle_dir / MANIFEST
    if not path.is_file():
        raise BundlerError(f"{bundle_dir} is not a bundle: {MANIFEST} is missing", hint=_REBUILD)
    try:
        return manifest_from_json(path.read_bytes(), str(path))
    except OSError as err:
        raise BundlerError(f"{path}: cannot be read: {err.strerror or err}", hint=_REBUILD) from err
    except MultipleErrors as err:
        problems = "\n".join(str(e) for e in err.errors)
        raise BundlerError(
            f"{bundle_dir} is not a valid bundle: {MANIFEST} has {len(err.errors)}"
            f" problems:\n{problems}",
            hint=_REBUILD,
        ) from err
    except BundlerError as err:
        raise BundlerError(
            f"{bundle_dir} is not a valid bundle: {err.message}", hint=_REBUILD
        ) from err


def check_closure(
    bundle_dir: Path,
    manifest: Manifest,
    target: Target,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
) -> CheckResult:
    """Resolve the bundle's inputs against the bundle alone for ``target``
    and compare with the locked pins."""
    expected = expected_pins(manifest, target)
    roots: list[RootRequirement] = []
    source = "bundle.json"
    for text in manifest.requirements or tuple(f"{n}=={v}" for n, v in sorted(expected.items())):
        roots.append(RootRequirement(Requirement(text), source, "-r bundle.json"))
    pins = [
        RootRequirement(Requirement(f"{n}=={v}"), "locked pin", "-c bundle.json")
        for n, v in sorted(expected.items())
    ]
    constraints = [
        RootRequirement(Requirement(c), source, "-c bundle.json") for c in manifest.constraints
    ]
    settings = IndexSettings(index_url=(bundle_dir / "simple").resolve().as_uri() + "/")
    problems: list[Problem] = []
    try:
        with PackageIndex(settings, client, reporter) as index:
            options = ResolveOptions(allow_prereleases=manifest.allow_prereleases)
            res = resolve(
                roots,
                constraints + pins,
                BuildingSource(index, client, target, options, reporter),
                target,
                options,
            )
    except BundlerError as err:
        problems.append(Problem(CLOSURE, "resolution", str(err), target.name))
        return CheckResult(CLOSURE, target.name, FAILED, tuple(problems))
    got = {name: str(p.version) for name, p in res.packages.items()}
    for name, version in sorted(expected.items()):
        if name not in got and manifest.requirements:
            problems.append(
                Problem(
                    CLOSURE,
                    name,
                    f"{name}=={version} is locked but nothing requires it",
                    target.name,
                )
            )
    for name, version in sorted(got.items()):
        if name not in expected:
            problems.append(
                Problem(
                    CLOSURE,
                    name,
                    f"resolution needs {name}=={version}, which the lock lacks",
                    target.name,
                )
            )
        elif expected[name] != version:
            problems.append(
                Problem(
                    CLOSURE,
                    name,
                    f"resolution gives {name}=={version} but the lock pins {expected[name]}",
                    target.name,
                )
            )
    status = FAILED if problems else PASSED
    return CheckResult(
        CLOSURE, target.name, status, tuple(problems), details=f"{len(got)} packages"
    )


def check_buildability(
    bundle_dir: Path,
    manifest: Manifest,
    target: Target,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
) -> CheckResult:
    """Every sdist the target must build has its build requirements (and
    theirs) in the bundle, for that target."""
    sdists = [
        a
        for a in manifest.artifacts
        if a.kind is DistKind.SDIST and (not a.targets or target.name in a.targets)
    ]
    if not sdists:
        return CheckResult(BUILDABILITY, target.name, PASSED, details="no sdist to build")
    settings = IndexSettings(index_url=(bundle_dir / "simple").resolve().as_uri() + "/")
    problems: list[Problem] = []
    with PackageIndex(settings, client, reporter) as index:
        for art in sdists:
            path = bundle_dir / "files" / art.filename
            if not path.is_file():
                continue  # integrity reports it
            try:
                system = read_build_system(path, art.filename)
            except BundlerError as err:
                problems.append(Problem(BUILDABILITY, art.filename, str(err), target.name))
                continue
            roots = [
                RootRequirement(Requirement(r), f"{art.filename} [build-system]", "build")
                for r in system.requires
            ]
            if not roots:
                continue
            try:
                options = ResolveOptions(allow_prereleases=manifest.allow_prereleases)
                resolve(roots, [], BuildingSource(index, client, target, options), target, options)
            except BundlerError as err:
                problems.append(
                    Problem(
                        BUILDABILITY,
                        art.filename,
                        f"cannot build {art.filename} for {target.name} from the bundle alone:"
                        f" its build requirements ({', '.join(system.requires)}) do not resolve:\n"
                        f"{getattr(err, 'explanation', str(err))}",
                        target.name,
                    )
                )
    status = FAILED if problems else PASSED
    return CheckResult(
        BUILDABILITY, target.name, status, tuple(problems), details=f"{len(sdists)} sdists"
    )


def _pip_view(
    bundle_dir: Path, manifest: Manifest, target: Target, runner: PipRunner
) -> CheckResult:
    platforms = list(dict.fromkeys(t.platform for t in target.tags if t.platform != "any"))
    has_sdists = any(
        a.kind is DistKind.SDIST and not a.build_only and target.name in a.targets
        for a in manifest.artifacts
    )
    expected = expected_pins(manifest, target)
    with tempfile.TemporaryDirectory(prefix="bundler-pip-view-") as tmp:
        # The target's own pins, so pip does not evaluate the lock's markers
        # for this machine.
        pins = Path(tmp) / "requirements.txt"
        pins.write_text("".join(f"{n}=={v}\n" for n, v in sorted(expected.items())))
        return check_pip_resolution(
            bundle_dir,
            target.name,
            platforms,
            target.python_short,
            expected,
            runner,
            requirements=pins,
            has_sdists=has_sdists,
        )


def expected_pins(manifest: Manifest, target: Target) -> dict[NormalizedName, str]:
    """name -> version that ``target`` must install, from the manifest."""
    out: dict[NormalizedName, str] = {}
    for pkg in manifest.packages:
        if pkg.build_only:
            continue
        if pkg.targets and target.name not in pkg.targets:
            continue
        if not pkg.targets and pkg.marker:
            marker = Requirement(f"x; {pkg.marker}").marker
            if not target.evaluate_marker(marker):
                continue
        out[canonicalize_name(pkg.name)] = str(pkg.version)
    return out


def verify(
    bundle_dir: Path,
    targets: Sequence[Target],
    client: HttpClient,
    options: VerifyOptions = VerifyOptions(),
    reporter: Reporter = NULL_REPORTER,
) -> VerifyReport:
    """Run every check of the gate and return the report (never raises for
    a failed check; raises only when the bundle cannot be read at all)."""
    manifest = load_bundle(bundle_dir)
    results: list[CheckResult] = []
    reporter.stage("integrity")
    results.append(check_integrity(bundle_dir, manifest))
    for target in targets:
        reporter.stage(f"closure {target.name}")
        results.append(check_closure(bundle_dir, manifest, target, client, reporter))
        results.append(check_buildability(bundle_dir, manifest, target, client, reporter))
    if options.live:
        runner = PipRunner()
        interpreters = find_interpreters()
        for target in targets:
            reporter.stage(f"install {target.name}")
            interp = interpreter_for(target, interpreters)
            if interp is None:
                results.append(
                    CheckResult(
                        REALITY,
                        target.name,
                        SKIPPED,
                        details=f"no Python {target.python_short} interpreter for"
                        f" {target.environment.get('sys_platform')}"
                        f"/{target.environment.get('platform_machine')} on this machine",
                    )
                )
                results.append(_pip_view(bundle_dir, manifest, target, runner))
                continue
            work = Path(tempfile.mkdtemp(prefix="bundler-verify-", dir=options.workdir))
            try:
                results.append(
                    check_reality(
                        bundle_dir,
                        target.name,
                        interp,
                        expected_pins(manifest, target),
                        runner,
                        work,
                    )
                )
            finally:
                # The venv's ten thousand files go side by side, not one by
                # one; a failure leaves the rest to a plain best effort.
                try:
                    remove_tree(work)
                except OSError:
                    shutil.rmtree(work, ignore_errors=True)
    return VerifyReport(tuple(results))
