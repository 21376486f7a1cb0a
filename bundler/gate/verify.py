"""The gate's checks that need resolution (closure, buildability, pip's
own view) and the ``verify`` command that runs every check.  The file-level
checks and the real install live in ``verify.py``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler import __version__
from bundler.bundle.layout import (
    FILES_DIR,
    MANIFEST_NAME,
    PYLOCK_LOCK,
    REQUIREMENTS_LOCK,
    SIMPLE_DIR,
)
from bundler.bundle.manifest import manifest_from_json
from bundler.errors import BundlerError, MultipleErrors, UsageError
from bundler.fsutil import remove_tree, sha256_file
from bundler.gate.integrity import (
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
    with_pip_disagreement,
)
from bundler.gate.stamp import STAMP_FAILED, STAMP_PASSED, Stamp, write_stamp
from bundler.index.client import HttpClient
from bundler.index.collector import PackageIndex
from bundler.lock.check import CONSTRAINT, REQUIREMENT, TARGET, Inputs, Line, compare, make_inputs
from bundler.models import DistKind, IndexSettings, Manifest
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.resolve.builddeps import BuildingSource, interpreter_for
from bundler.resolve.buildsystem import read_build_system
from bundler.resolve.resolver import ResolveOptions, RootRequirement, resolve
from bundler.runtime.interpreters import Interpreter, find_interpreters
from bundler.runtime.piprun import (
    NEWEST_PIP,
    PYLOCK_SINCE,
    REQUESTED_PIP,
    VENV_PIP,
    PipChoice,
    PipRunner,
    ensurepip_version,
)
from bundler.spec.filenames import parse_filename
from bundler.spec.target import Target

INPUTS = "inputs"  # verify --check-inputs


# Venvs installed at once: each pip install is mostly one busy process.
LIVE_WORKERS = 2
PIP_PROJECT = canonicalize_name("pip")


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
    roots: list[RootRequirement] = []
    source = MANIFEST_NAME
    for text in manifest.requirements or tuple(f"{n}=={v}" for n, v in sorted(expected.items())):
        roots.append(RootRequirement(Requirement(text), source, "-r bundle.json"))
    pins = [
        RootRequirement(Requirement(f"{n}=={v}"), "locked pin", "-c bundle.json")
        for n, v in sorted(expected.items())
    ]
    constraints = [
        RootRequirement(Requirement(c), source, "-c bundle.json") for c in manifest.constraints
    ]
    settings = IndexSettings(
        index_url=index_url or (bundle_dir / SIMPLE_DIR).resolve().as_uri() + "/"
    )
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
    settings = IndexSettings(index_url=(bundle_dir / SIMPLE_DIR).resolve().as_uri() + "/")
    problems: list[Problem] = []
    with PackageIndex(settings, client, reporter) as index:
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


def check_inputs(
    bundle_dir: Path, manifest: Manifest, current: Inputs, *, targets: bool
) -> CheckResult:
    """``verify --check-inputs``: whether the bundle was made from
    ``current`` (its requirement and constraint lines, and its targets when
    ``targets``), as ``bundle.json`` records them; each difference a
    problem located in the input file or the manifest."""
    where = str(bundle_dir / MANIFEST_NAME)
    compared = "requirements, constraints" + (" and targets" if targets else "")
    if not manifest.requirements:
        problem = Problem(
            INPUTS,
            where,
            "records no requirements: the bundle was made from a lock, not from requirements",
        )
        return CheckResult(INPUTS, None, FAILED, (problem,), "compare the lock with lock --check")
    recorded = make_inputs(
        [Line(t, where) for t in manifest.requirements],
        [Line(c, where) for c in manifest.constraints],
        manifest.targets,
        (),
    )
    kinds = (REQUIREMENT, CONSTRAINT, TARGET) if targets else (REQUIREMENT, CONSTRAINT)
    problems = tuple(
        Problem(INPUTS, f"{d.path}:{d.line}" if d.line else d.path or where, d.message)
        for d in compare(recorded, current, kinds=kinds)
    )
    status = FAILED if problems else PASSED
    return CheckResult(INPUTS, None, status, problems, f"compared {compared}")


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
            for version, wheel in _requested_pips(
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
            rows, pips = _live(bundle_dir, manifest, targets, requested, options.workdir, reporter)
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


def _requested_pips(
    versions: Sequence[str], bundle_dir: Path, index: IndexSettings, client: HttpClient, dest: Path
) -> list[tuple[str, Path]]:
    """``(version, wheel)`` for each ``--pip`` version, once each."""
    out: dict[Version, Path] = {}
    for text in versions:
        try:
            version = Version(text)
        except InvalidVersion:
            raise UsageError(f"--pip {text}: not a version", hint="e.g. --pip 23.2.1") from None
        if version not in out:
            out[version] = pip_wheel(version, bundle_dir, index, client, dest)
    return [(str(v), path) for v, path in out.items()]


def pip_wheel(
    version: Version, bundle_dir: Path, index: IndexSettings, client: HttpClient, dest: Path
) -> Path:
    """The wheel of pip ``version``: the bundle's own, else the index's
    (through the cache, so ``--offline`` takes a cached one), into ``dest``."""
    for path in sorted((bundle_dir / FILES_DIR).glob("pip-*.whl")):
        dist = parse_filename(path.name)
        if dist is not None and dist.name == PIP_PROJECT and dist.version == version:
            return path
    try:
        with PackageIndex(index, client) as packages:
            files = packages.get_project(PIP_PROJECT).release(version)
    except BundlerError as err:
        raise BundlerError(f"--pip {version}: cannot get pip's wheel: {err}") from err
    wheels = [f for f in files if f.kind is DistKind.WHEEL]
    if not wheels:
        where = index.index_url or ", ".join(index.find_links) or "the index"
        raise UsageError(
            f"--pip {version}: no pip {version} wheel in {bundle_dir / FILES_DIR} nor on {where}",
            hint="name a released pip version (pip index versions pip lists them)",
        )
    chosen = wheels[0]
    path = dest / chosen.filename
    client.fetch_to_file(chosen.url, path, sha256=chosen.sha256, size=chosen.size, progress=None)
    return path


@dataclass(frozen=True)
class _Install:
    """One live install: a target's interpreter, and the pip that installs."""

    target: Target
    interpreter: Interpreter
    pip: PipChoice
    runner: PipRunner
    lock: str = REQUIREMENTS_LOCK


def _live(
    bundle_dir: Path,
    manifest: Manifest,
    targets: Sequence[Target],
    requested: Sequence[PipChoice],
    workdir: Path | None,
    reporter: Reporter,
) -> tuple[list[CheckResult], dict[str, tuple[str, ...]]]:
    """The reality rows: per target a local interpreter runs, an install
    with each pip (a fresh venv's own, the newest, the requested ones),
    at most ``LIVE_WORKERS`` at once; pip's dry-run view for the others.
    Also, per target, the pips that installed it (for the verify stamp)."""
    newest = PipRunner()
    runners = {VENV_PIP: PipRunner(python_option=False), NEWEST_PIP: newest}
    wheel_runners = {pip.version: PipRunner(pip_wheel=pip.wheel) for pip in requested}
    interpreters = find_interpreters()
    plan: list[list[CheckResult | _Install]] = []
    for target in targets:
        interp = interpreter_for(target, interpreters)
        if interp is None:
            reporter.stage(f"pip's view of {target.name}")
            plan.append([_no_interpreter(target), _pip_view(bundle_dir, manifest, target, newest)])
            continue
        rows: list[CheckResult | _Install] = []
        seen: set[str] = set()
        for pip, skip in _pips_for(interp, newest, requested, wheel_runners):
            if pip.version in seen:
                continue  # the same pip twice proves nothing more
            seen.add(pip.version)
            if skip:
                rows.append(CheckResult(REALITY, target.name, SKIPPED, details=skip))
            else:
                runner = wheel_runners.get(pip.version) or runners[pip.origin]
                rows.append(_Install(target, interp, pip, runner))
        rows.append(_pylock_install(target, interp, newest))
        plan.append(rows)
    installs = [row for rows in plan for row in rows if isinstance(row, _Install)]
    if installs:
        reporter.stage(f"install ({len(installs)} fresh venvs, {LIVE_WORKERS} at a time)")
    with ThreadPoolExecutor(max_workers=LIVE_WORKERS) as pool:
        finished = iter(
            list(pool.map(lambda job: _install(bundle_dir, manifest, job, workdir), installs))
        )
    results: list[CheckResult] = []
    for rows in plan:
        # pool.map keeps the order of ``installs``, which is the plan's.
        done = [(row, next(finished)) for row in rows if isinstance(row, _Install)]
        # The pips are compared on requirements.txt; pylock.toml has its own row.
        pairs = [(row.pip, result) for row, result in done if row.lock == REQUIREMENTS_LOCK]
        compared = iter(with_pip_disagreement(pairs))
        installed = iter(
            next(compared) if row.lock == REQUIREMENTS_LOCK else result for row, result in done
        )
        results.extend(next(installed) if isinstance(row, _Install) else row for row in rows)
    pips: dict[str, list[str]] = {}
    for job in installs:
        if job.lock == REQUIREMENTS_LOCK:  # the pylock.toml row reuses the newest pip
            pips.setdefault(job.target.name, []).append(job.pip.describe())
    return results, {name: tuple(described) for name, described in pips.items()}


def _pylock_install(
    target: Target, interp: Interpreter, newest: PipRunner
) -> CheckResult | _Install:
    """The install of the bundle's pylock.toml with the newest pip, or the
    reason it is skipped."""
    version = newest.pip_version()
    pip = PipChoice(str(version) if version else "unknown", NEWEST_PIP)
    which = f"{pip.describe()} with {PYLOCK_LOCK}"
    if version is None:
        why = f"no pip next to {newest.pip_python}"
    elif version < PYLOCK_SINCE:
        why = f"pip installs from {PYLOCK_LOCK} from {PYLOCK_SINCE} on"
    elif not newest.supports(interp.version):
        why = f"pip {version} does not run on Python {interp.version}"
    else:
        return _Install(target, interp, pip, newest, PYLOCK_LOCK)
    return CheckResult(REALITY, target.name, SKIPPED, details=f"{which}; {why}")


def _pips_for(
    interp: Interpreter,
    newest: PipRunner,
    requested: Sequence[PipChoice],
    wheel_runners: Mapping[str, PipRunner],
) -> list[tuple[PipChoice, str]]:
    """The pips a target's install runs with, each with a reason to skip it
    ("" to run it)."""
    out: list[tuple[PipChoice, str]] = []
    own = ensurepip_version(interp)
    if own is None:
        skip = f"Python {interp.version} has no ensurepip: a fresh venv of it gets no pip"
        out.append((PipChoice("none", VENV_PIP), skip))
    else:
        out.append((PipChoice(own, VENV_PIP), ""))
    version = newest.pip_version()
    mine = PipChoice(str(version) if version else "unknown", NEWEST_PIP)
    if version is None:
        out.append((mine, f"no pip next to {newest.pip_python}"))
    elif not newest.supports(interp.version):
        out.append((mine, f"{mine.describe()} does not run on Python {interp.version}"))
    else:
        out.append((mine, ""))
    for pip in requested:
        # A pip too old for this Python fails on any bundle: not the bundle's fault.
        error = wheel_runners[pip.version].start_error(interp.path)
        why = f"pip {pip.version} does not run on Python {interp.version} ({error})"
        out.append((pip, why if error is not None else ""))
    return out


def _no_interpreter(target: Target) -> CheckResult:
    return CheckResult(
        REALITY,
        target.name,
        SKIPPED,
        details=f"no Python {target.python_short} interpreter for"
        f" {target.environment.get('sys_platform')}"
        f"/{target.environment.get('platform_machine')} on this machine",
    )


def _install(
    bundle_dir: Path, manifest: Manifest, job: _Install, workdir: Path | None
) -> CheckResult:
    work = Path(tempfile.mkdtemp(prefix="bundler-verify-", dir=workdir))
    try:
        return check_reality(
            bundle_dir,
            job.target.name,
            job.interpreter,
            expected_pins(manifest, job.target),
            job.runner,
            work,
            pip=job.pip,
            lock=job.lock,
        )
    finally:
        # The venv's ten thousand files go side by side, not one by
        # one; a failure leaves the rest to a plain best effort.
        try:
            remove_tree(work)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
