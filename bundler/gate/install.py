"""The reality check: pip installs the bundle's lock into a fresh venv of
a target's interpreter, the bundle (or a published index) as the only
source, and what got installed is compared with what the lock pins."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from bundler.bundle.layout import FILES_DIR, REQUIREMENTS_LOCK
from bundler.errors import BundlerError
from bundler.gate.lockfiles import comparable_version
from bundler.gate.report import PASSED, REALITY, CheckResult, Problem, result_from, verb_for
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
from bundler.spec.lockfile import parse_hashed_requirements

__all__ = ["NO_DISTRIBUTION", "check_reality", "safe_dirname", "with_pip_disagreement"]


def safe_dirname(name: str) -> str:
    """``name`` (a target's) as one safe directory name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "target"


# pip's last word when a requirement cannot be met from the sources it has.
NO_DISTRIBUTION = re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._-]*)")


def _pip_problem(
    target: str, what: str, result: PipResult, lock: str = REQUIREMENTS_LOCK
) -> Problem:
    """A problem carrying pip's command and output, on the package pip
    could not find when it names one, else on the lock file ``lock``."""
    match = NO_DISTRIBUTION.search(result.stderr)
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
    return result_from(REALITY, target_name, problems, details)


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
        f"the pips disagree: {', '.join(passed)} {verb_for(passed, 'installs', 'install')}"
        f" the bundle, {', '.join(failed)} {verb_for(failed, 'does', 'do')} not"
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
    venv = workdir / f"venv-{safe_dirname(target)}"
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
        elif comparable_version(got) != comparable_version(version):
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
