"""The live rows of the gate: per target a local interpreter runs, an
install with each pip (a fresh venv's own, the newest, the requested
ones, and ``pylock.toml`` with the newest), at most ``LIVE_WORKERS`` at
once; pip's dry-run view for the targets no interpreter here runs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.bundle.layout import FILES_DIR, PYLOCK_LOCK, REQUIREMENTS_LOCK
from bundler.errors import BundlerError, UsageError
from bundler.fsutil import remove_tree
from bundler.gate.closure import expected_pins
from bundler.gate.install import check_reality, with_pip_disagreement
from bundler.gate.pipview import pip_view
from bundler.gate.report import REALITY, SKIPPED, CheckResult
from bundler.index.client import HttpClient
from bundler.index.collector import PackageIndex
from bundler.models import DistKind, IndexSettings, Manifest
from bundler.reporting import Reporter
from bundler.resolve.builddeps import interpreter_for
from bundler.runtime.interpreters import Interpreter, find_interpreters
from bundler.runtime.piprun import (
    NEWEST_PIP,
    PYLOCK_SINCE,
    VENV_PIP,
    PipChoice,
    PipRunner,
    ensurepip_version,
)
from bundler.spec.filenames import parse_filename
from bundler.spec.target import Target

__all__ = ["LIVE_WORKERS", "PIP_PROJECT", "live_rows", "pip_wheel", "requested_pips"]

# Venvs installed at once: each pip install is mostly one busy process.
LIVE_WORKERS = 2
PIP_PROJECT = canonicalize_name("pip")


def requested_pips(
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


def live_rows(
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
            plan.append([_no_interpreter(target), pip_view(bundle_dir, manifest, target, newest)])
        else:
            plan.append(_target_rows(target, interp, newest, requested, runners, wheel_runners))
    installs = [row for rows in plan for row in rows if isinstance(row, _Install)]
    if installs:
        reporter.stage(f"install ({len(installs)} fresh venvs, {LIVE_WORKERS} at a time)")
    # pool.map keeps the order of ``installs``, which is the plan's.
    with ThreadPoolExecutor(max_workers=LIVE_WORKERS) as pool:
        finished = list(
            pool.map(lambda job: _install(bundle_dir, manifest, job, workdir), installs)
        )
    pips: dict[str, list[str]] = {}
    for job in installs:
        if job.lock == REQUIREMENTS_LOCK:  # the pylock.toml row reuses the newest pip
            pips.setdefault(job.target.name, []).append(job.pip.describe())
    return _fill_rows(plan, finished), {name: tuple(p) for name, p in pips.items()}


def _target_rows(
    target: Target,
    interp: Interpreter,
    newest: PipRunner,
    requested: Sequence[PipChoice],
    runners: Mapping[str, PipRunner],
    wheel_runners: Mapping[str, PipRunner],
) -> list[CheckResult | _Install]:
    """A target's planned rows: an install with each pip it runs (each pip
    once), a skipped row for the others, and the pylock.toml install."""
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
    return rows


def _fill_rows(
    plan: Sequence[Sequence[CheckResult | _Install]], finished: Sequence[CheckResult]
) -> list[CheckResult]:
    """The plan's rows with each install replaced by its result
    (``finished``, in the plan's order), the pips of a target compared."""
    done_in_order = iter(finished)
    results: list[CheckResult] = []
    for rows in plan:
        done = [(row, next(done_in_order)) for row in rows if isinstance(row, _Install)]
        # The pips are compared on requirements.txt; pylock.toml has its own row.
        pairs = [(row.pip, result) for row, result in done if row.lock == REQUIREMENTS_LOCK]
        compared = iter(with_pip_disagreement(pairs))
        installed = iter(
            next(compared) if row.lock == REQUIREMENTS_LOCK else result for row, result in done
        )
        results.extend(next(installed) if isinstance(row, _Install) else row for row in rows)
    return results


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
