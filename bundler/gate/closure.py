"""The checks that need resolution: the bundle's closure (its inputs
resolve, against the bundle alone, to exactly the locked pins) and its
buildability (every sdist's build requirements resolve from the bundle)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from bundler.bundle.layout import FILES_DIR, MANIFEST_NAME, SIMPLE_DIR
from bundler.errors import BundlerError
from bundler.gate.report import BUILDABILITY, CLOSURE, FAILED, PASSED, CheckResult, Problem
from bundler.index.client import HttpClient
from bundler.index.collector import PackageIndex
from bundler.models import DistKind, IndexSettings, Manifest
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.resolve.builddeps import BuildingSource
from bundler.resolve.buildsystem import read_build_system
from bundler.resolve.resolver import ResolveOptions, RootRequirement, resolve
from bundler.spec.target import Target

__all__ = ["bundle_only", "check_buildability", "check_closure", "expected_pins"]


def check_closure(
    bundle_dir: Path,
    manifest: Manifest,
    target: Target,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    *,
    index_url: str | None = None,
) -> CheckResult:
    """Resolve the bundle's inputs against the bundle alone (or the
    published index ``index_url`` alone) for ``target`` and compare with
    the locked pins."""
    expected = expected_pins(manifest, target)
    settings = IndexSettings(
        index_url=index_url or (bundle_dir / SIMPLE_DIR).resolve().as_uri() + "/"
    )
    try:
        if index_url is not None:
            got = _resolve_closure(manifest, expected, target, settings, client, reporter)
        else:
            with bundle_only(client) as local:
                got = _resolve_closure(manifest, expected, target, settings, local, reporter)
    except BundlerError as err:
        problem = Problem(CLOSURE, "resolution", str(err), target.name)
        return CheckResult(CLOSURE, target.name, FAILED, (problem,))
    problems = _closure_problems(expected, got, target.name, bool(manifest.requirements))
    status = FAILED if problems else PASSED
    return CheckResult(
        CLOSURE, target.name, status, tuple(problems), details=f"{len(got)} packages"
    )


def _resolve_closure(
    manifest: Manifest,
    expected: Mapping[NormalizedName, str],
    target: Target,
    settings: IndexSettings,
    client: HttpClient,
    reporter: Reporter,
) -> dict[NormalizedName, str]:
    """name -> version that the manifest's requirements (else its pins),
    constrained by its constraints and pins, resolve to from ``settings``."""
    roots: list[RootRequirement] = []
    source = MANIFEST_NAME
    for text in manifest.requirements or tuple(f"{n}=={v}" for n, v in sorted(expected.items())):
        roots.append(RootRequirement(Requirement(text), source, f"-r {MANIFEST_NAME}"))
    pins = [
        RootRequirement(Requirement(f"{n}=={v}"), "locked pin", f"-c {MANIFEST_NAME}")
        for n, v in sorted(expected.items())
    ]
    constraints = [
        RootRequirement(Requirement(c), source, f"-c {MANIFEST_NAME}") for c in manifest.constraints
    ]
    with PackageIndex(settings, client, reporter) as index:
        options = ResolveOptions(allow_prereleases=manifest.allow_prereleases)
        res = resolve(
            roots,
            constraints + pins,
            BuildingSource(index, client, target, options, reporter),
            target,
            options,
        )
    return {name: str(p.version) for name, p in res.packages.items()}


def bundle_only(client: HttpClient) -> HttpClient:
    """A client for resolving against a bundle directory alone: it reads
    files (and ``client``'s cache) but nothing over the network, so a page
    of the bundle that links a file elsewhere (integrity names it) never
    makes the gate fetch it, or wait on its host."""
    cache = client.cache
    local = HttpClient(cache_dir=cache.root if cache is not None else None, offline=True)
    local.offline_reason = "not in the bundle, and the gate resolves against the bundle alone"
    return local


def _closure_problems(
    expected: Mapping[NormalizedName, str],
    got: Mapping[NormalizedName, str],
    target: str,
    has_requirements: bool,
) -> list[Problem]:
    """Pins nothing requires (when the manifest records requirements), and
    packages the resolution needs that the lock lacks or pins otherwise."""
    found: list[tuple[str, str]] = []
    for name, version in sorted(expected.items()):
        if name not in got and has_requirements:
            found.append((name, f"{name}=={version} is locked but nothing requires it"))
    for name, version in sorted(got.items()):
        if name not in expected:
            found.append((name, f"resolution needs {name}=={version}, which the lock lacks"))
        elif expected[name] != version:
            found.append(
                (name, f"resolution gives {name}=={version} but the lock pins {expected[name]}")
            )
    return [Problem(CLOSURE, name, message, target) for name, message in found]


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
    settings = IndexSettings(index_url=(bundle_dir / SIMPLE_DIR).resolve().as_uri() + "/")
    problems: list[Problem] = []
    with bundle_only(client) as local, PackageIndex(settings, local, reporter) as index:
        for art in sdists:
            path = bundle_dir / FILES_DIR / art.filename
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
                resolve(roots, [], BuildingSource(index, local, target, options), target, options)
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
