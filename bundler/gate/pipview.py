"""pip's view of a target no local interpreter runs: a dry-run install
from the bundle alone with ``--platform``/``--python-version``, reported
next to bundler's own answer."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from bundler.bundle.layout import FILES_DIR, REQUIREMENTS_LOCK
from bundler.gate.closure import expected_pins
from bundler.gate.install import NO_DISTRIBUTION
from bundler.gate.report import DIFFERS, FAILED, PASSED, PIP_VIEW, SKIPPED, CheckResult, Problem
from bundler.models import DistKind, Manifest
from bundler.runtime.piprun import PipResult, PipRunner
from bundler.spec.target import Target

__all__ = ["check_pip_resolution", "pip_view"]

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
    match = NO_DISTRIBUTION.search(result.stderr)
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
    requirements = requirements or bundle_dir / REQUIREMENTS_LOCK
    result = runner.run(_dry_run_args(bundle_dir, platforms, python_version, requirements))
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
    return _compare_views(target_name, expected, got)


def _dry_run_args(
    bundle_dir: Path, platforms: Sequence[str], python_version: str, requirements: Path
) -> list[str]:
    """pip's arguments for a dry-run install of ``requirements`` from the
    bundle alone, for the platforms and Python version given, reported as
    JSON on stdout."""
    return [
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
        str(requirements),
    ]


def _compare_views(
    target_name: str, expected: Mapping[NormalizedName, str], got: Mapping[NormalizedName, str]
) -> CheckResult:
    """pip's answer ``got`` next to bundler's ``expected``: agreement
    passes, any difference only ``differs``."""
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


def pip_view(
    bundle_dir: Path, manifest: Manifest, target: Target, runner: PipRunner
) -> CheckResult:
    """``check_pip_resolution`` for ``target``, with the pins the manifest
    gives it and the platforms of its tags, pip being ``runner``'s."""
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
