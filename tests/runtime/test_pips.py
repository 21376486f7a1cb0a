"""The gate installs with the pips a target's users run: the one a fresh
venv of the target's interpreter gets, the newest, and any asked for.

The test index serves the real setuptools and wheel (repacked from the ones
installed next to the tests), an sdist without ``[build-system]`` in the
style of ``docopt`` and a wheel; everything runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from bundler.cli.main import run
from bundler.gate.install import with_pip_disagreement
from bundler.gate.report import FAILED, PASSED, REALITY, CheckResult, Problem
from bundler.runtime.interpreters import Interpreter, find_interpreters
from bundler.runtime.isolation import detect_network_isolation
from bundler.runtime.piprun import (
    NEWEST_PIP,
    REQUESTED_PIP,
    VENV_PIP,
    PipChoice,
)
from bundler.runtime.piprun import ensurepip_version as venv_pip_version
from tests.support import DistSpec, IndexServer, build_all, clean_pip_env
from tests.support.bundles import remove_project
from tests.support.realdists import build_tools, ensurepip_wheel, legacy_sdist

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="the targets are Linux ones"),
]

PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORM = f"linux-{platform.machine().lower()}"
# pips from 23.1 build every sdist in an isolated environment when the venv
# has no wheel package (pip 23.0 ran setup.py when setuptools was there), and
# add "wheel" to its legacy build requirements until 24.0 (pip#12449).
ISOLATED_SINCE, WHEEL_DROPPED = Version("23.1"), Version("24.0")


def interpreter(short: str) -> Interpreter:
    """The local CPython ``short`` for this Linux machine, or skip."""
    for interp in reversed(find_interpreters()):
        if (
            interp.python_short == short
            and interp.implementation == "cpython"
            and interp.sys_platform == "linux"
        ):
            return interp
    pytest.skip(f"no CPython {short} interpreter on this machine")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    files = tmp_path_factory.mktemp("legacy-index")
    try:
        build_tools(files)
    except LookupError as err:
        pytest.skip(f"no real setuptools and wheel to serve: {err}")
    legacy_sdist("oldopt", "0.6.2", files)
    build_all([DistSpec("tinysix", "1.17.0")], files)
    with IndexServer(files) as server:
        yield server


def target_args(*pythons: str) -> list[str]:
    return [*(a for p in pythons for a in ("--python-version", p)), "--platform", PLATFORM]


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, index: IndexServer
) -> tuple[int, Path, dict[str, Any]]:
    """``bundle build oldopt tinysix`` for the four targets: exit code,
    bundle, JSON report."""
    work = tmp_path_factory.mktemp("legacy-build")
    req = work / "requirements.in"
    req.write_text("oldopt\ntinysix\n")
    bundle, report = work / "pypi", work / "build.json"
    with pytest.MonkeyPatch.context() as mp:
        # A module's fixture runs before the per-test private cache is set.
        mp.setenv("BUNDLER_CACHE_DIR", str(work / "cache"))
        args = ["build", str(req), "-o", str(bundle), "-i", index.url, "--json", str(report)]
        code = run([*args, *target_args(*PYTHONS), "--quiet"])
    return code, bundle, json.loads(report.read_text())


def reality_rows(report: dict[str, Any], python: str) -> list[dict[str, Any]]:
    return [
        r
        for r in report["results"]
        if r["check"] == REALITY and (r["target"] or "").startswith(f"cp{python.replace('.', '')}-")
    ]


def test_the_legacy_fallback_of_every_pip_is_locked_build_only(
    built: tuple[int, Path, dict[str, Any]],
) -> None:
    code, bundle, report = built
    problems = [p for r in report["verify"]["results"] for p in r["problems"]]
    assert code == 0, problems
    manifest = json.loads((bundle / "bundle.json").read_text())
    build_only = {a["project"] for a in manifest["artifacts"] if a["build_only"]}
    # setuptools for every pip, wheel for the pips before 24.0.
    assert {"setuptools", "wheel"} <= build_only
    assert any(f.name.startswith("wheel-") for f in (bundle / "files").iterdir())


@pytest.mark.parametrize("python", PYTHONS)
def test_every_pip_of_a_target_installs_the_bundle(
    built: tuple[int, Path, dict[str, Any]], python: str, tmp_path: Path
) -> None:
    interp = interpreter(python)
    _, bundle, report = built
    own = venv_pip_version(interp)
    assert own is not None, f"{interp.describe()} has no ensurepip"
    rows = reality_rows(report["verify"], python)
    details = [r["details"] for r in rows]
    assert all(r["status"] == PASSED for r in rows), rows
    # The report names the pip of every row.
    assert any(f"pip {own} (a fresh venv's own)" in d for d in details), details
    assert any("(newest)" in d for d in details) or len(rows) == 1, details

    # What a user of the target does: a fresh venv, its own pip, no network.
    venv = tmp_path / "venv"
    subprocess.run([interp.path, "-m", "venv", str(venv)], check=True, timeout=300)
    isolation = detect_network_isolation()
    command = [
        *isolation.prefix,
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-r",
        str(bundle / "requirements.txt"),
        "--require-hashes",
        "--no-index",
        "--find-links",
        str(bundle / "files"),
    ]
    proc = subprocess.run(
        command, capture_output=True, text=True, env=clean_pip_env(), timeout=600, check=False
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import oldopt, tinysix; print(oldopt.VERSION)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "0.6.2"


def older_pip_python() -> tuple[Interpreter, str]:
    """An interpreter whose fresh venvs get a pip that asks for wheel (a
    3.11 or 3.12 venv gets pip 23.2.1)."""
    for python in PYTHONS:
        try:
            interp = interpreter(python)
        except pytest.skip.Exception:
            continue
        own = venv_pip_version(interp)
        if own is not None and ISOLATED_SINCE <= Version(own) < WHEEL_DROPPED:
            return interp, own
    pytest.skip("no interpreter here whose ensurepip pip is a 23.1 to 23.3 one")


def without_wheel(bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "pypi"
    shutil.copytree(bundle, copy)
    remove_project(copy, "wheel")
    return copy


def verify(bundle: Path, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "verify.json"
    code = run(["verify", str(bundle), "--json", str(out), "--quiet", *args])
    return code, json.loads(out.read_text())


def test_a_bundle_without_wheel_fails_with_the_pip_a_fresh_venv_gets(
    built: tuple[int, Path, dict[str, Any]], tmp_path: Path
) -> None:
    interp, own = older_pip_python()
    bundle = without_wheel(built[1], tmp_path)
    code, report = verify(bundle, tmp_path, *target_args(interp.python_short))
    assert code == 1
    rows = {r["details"].split(";")[0]: r for r in reality_rows(report, interp.python_short)}
    mine = rows[f"pip {own} (a fresh venv's own)"]
    assert mine["status"] == FAILED
    text = "\n".join(p["message"] for p in mine["problems"])
    assert f"pip {own} (a fresh venv's own)" in text
    assert "No matching distribution found for wheel" in text
    # The newest pip asks for setuptools only: the two pips disagree.
    (newest,) = [r for d, r in rows.items() if d.endswith("(newest)")]
    assert newest["status"] == PASSED
    assert "the pips disagree" in text


def test_a_requested_pip_comes_from_the_index_and_runs(
    built: tuple[int, Path, dict[str, Any]], index: IndexServer, tmp_path: Path
) -> None:
    interp = interpreter("3.13")  # its venvs get pip 24.2, which needs no wheel
    older, version = older_pip_python()
    wheel = ensurepip_wheel(older.path)
    if wheel is None:
        pytest.skip(f"{older.describe()} carries no pip wheel")
    shutil.copy(wheel, index.files_dir / wheel.name)
    config = tmp_path / "bundle.toml"
    config.write_text(f'index-url = "{index.url}"\n')
    bundle = without_wheel(built[1], tmp_path)
    args = [*target_args("3.13"), "--config", str(config), "--pip", version]
    code, report = verify(bundle, tmp_path, *args)
    assert code == 1
    rows = {r["details"].split(";")[0]: r for r in reality_rows(report, "3.13")}
    own = venv_pip_version(interp)
    assert rows[f"pip {own} (a fresh venv's own)"]["status"] == PASSED
    requested = rows[f"pip {version} (--pip)"]
    assert requested["status"] == FAILED
    assert "No matching distribution found for wheel" in json.dumps(requested["problems"])


def test_a_pip_that_cannot_be_had_is_a_usage_error(
    built: tuple[int, Path, dict[str, Any]],
    index: IndexServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = str(built[1])
    assert run(["verify", bundle, "--pip", "twenty-three", "--offline"]) == 2
    assert "--pip twenty-three: not a version" in capsys.readouterr().err
    # Neither the bundle nor the index has pip 1.0.
    config = tmp_path / "bundle.toml"
    config.write_text(f'index-url = "{index.url}"\n')
    assert run(["verify", bundle, "--pip", "1.0", "--config", str(config)]) == 2
    assert "--pip 1.0: no pip 1.0 wheel in" in capsys.readouterr().err


def row(status: str, target: str = "t") -> CheckResult:
    problems = (Problem(REALITY, "wheel", "cannot install", target),) if status == FAILED else ()
    return CheckResult(REALITY, target, status, problems)


def test_pips_that_disagree_are_named_on_the_failing_row() -> None:
    old, new = PipChoice("23.2.1", VENV_PIP), PipChoice("26.0", NEWEST_PIP)
    first, second = with_pip_disagreement([(old, row(FAILED)), (new, row(PASSED))])
    assert second == row(PASSED)
    assert first.problems[0] == row(FAILED).problems[0]
    assert first.problems[1].message == (
        "the pips disagree: pip 26.0 (newest) installs the bundle,"
        " pip 23.2.1 (a fresh venv's own) does not (see the problems above)"
    )
    extra = PipChoice("24.0", REQUESTED_PIP)
    first, _, _ = with_pip_disagreement(
        [(old, row(FAILED)), (new, row(PASSED)), (extra, row(PASSED))]
    )
    assert first.problems[1].message.startswith(
        "the pips disagree: pip 26.0 (newest), pip 24.0 (--pip) install the bundle,"
    )
    # Agreement, either way, adds nothing.
    both = [(old, row(FAILED)), (new, row(FAILED))]
    assert with_pip_disagreement(both) == [row(FAILED), row(FAILED)]


def broken_pip_wheel(version: str, dest: Path) -> Path:
    """A pip wheel that fails as pip 22.3 does on Python 3.12 (its vendored
    pkg_resources needs ``pkgutil.ImpImporter``), on every Python."""
    files = {
        "pip/__init__.py": f'__version__ = "{version}"\n',
        "pip/__main__.py": (
            "import sys\n"
            "sys.exit(\"AttributeError: module 'pkgutil' has no attribute 'ImpImporter'\")\n"
        ),
        f"pip-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: pip\nVersion: {version}\nRequires-Python: >=3.7\n"
        ),
        f"pip-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
        f"pip-{version}.dist-info/RECORD": "",
    }
    path = dest / f"pip-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_a_requested_pip_that_does_not_run_on_a_python_is_skipped(
    built: tuple[int, Path, dict[str, Any]], index: IndexServer, tmp_path: Path
) -> None:
    interp = interpreter("3.13")
    broken_pip_wheel("22.3", index.files_dir)
    config = tmp_path / "bundle.toml"
    config.write_text(f'index-url = "{index.url}"\n')
    args = [*target_args("3.13"), "--config", str(config), "--pip", "22.3"]
    code, report = verify(built[1], tmp_path, *args)
    rows = {r["details"].split(" (")[0]: r for r in reality_rows(report, "3.13")}
    assert code == 0, json.dumps(report["results"], indent=1)
    requested = rows["pip 22.3 does not run on Python " + interp.version]
    assert requested["status"] == "skipped"
    assert requested["details"] == (
        f"pip 22.3 does not run on Python {interp.version}"
        " (AttributeError: module 'pkgutil' has no attribute 'ImpImporter')"
    )
    assert [r["status"] for r in rows.values()].count(PASSED) == 2
