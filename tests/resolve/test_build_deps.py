"""Sdists and their build dependencies, end to end on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from packaging.tags import sys_tags

from bundler.cli.main import run
from tests.support import DistSpec, IndexServerFactory
from tests.support.bundles import install_offline, remove_project
from tests.support.distbuilder import backend_wheel_spec

UNIVERSE = [
    backend_wheel_spec("tinybackend", "1.0", requires=("tinyhelper",)),
    DistSpec("tinyhelper", "1.0"),
    # An sdist-only project built with the published backend.
    DistSpec("oldlib", "0.6", wheel=False, build_backend="tinybackend"),
    # An sdist whose metadata is dynamic: only the backend can tell its deps.
    DistSpec(
        "dynlib",
        "2.0",
        wheel=False,
        build_backend="tinybackend",
        requires=("oldlib",),
        dynamic_metadata=True,
    ),
    DistSpec("app", "1.0", requires=("dynlib",)),
]


@pytest.fixture
def index(index_server: IndexServerFactory) -> str:
    return str(index_server(UNIVERSE).url)


def build(tmp_path: Path, index: str, *extra: str) -> tuple[int, Path]:
    req = tmp_path / "requirements.in"
    req.write_text("app\n")
    bundle = tmp_path / "pypi"
    code = run(["build", str(req), "-o", str(bundle), "-i", index, "--quiet", *extra])
    return code, bundle


def test_build_backends_are_bundled_and_sdists_build_offline(tmp_path: Path, index: str) -> None:
    code, bundle = build(tmp_path, index)
    assert code == 0
    manifest = json.loads((bundle / "bundle.json").read_text())
    build_only = {a["project"] for a in manifest["artifacts"] if a["build_only"]}
    assert build_only == {"tinybackend", "tinyhelper"}
    runtime = {a["project"] for a in manifest["artifacts"] if not a["build_only"]}
    assert runtime == {"app", "dynlib", "oldlib"}  # oldlib found through dynamic metadata
    reqs = (bundle / "requirements.txt").read_text()
    assert "tinybackend" not in reqs  # build requirements are not installed
    # The sdists build with nothing but the bundle.
    assert install_offline(bundle, tmp_path / "venv")["dynlib"] == "2.0"


def test_missing_backend_fails_naming_sdist_and_requirement(tmp_path: Path, index: str) -> None:
    code, bundle = build(tmp_path, index, "--no-install")
    assert code == 0
    # Remove the helper the backend imports, consistently, so that only
    # the buildability check and the live install can notice.
    remove_project(bundle, "tinyhelper")
    out = tmp_path / "verify.json"
    assert run(["verify", str(bundle), "--json", str(out), "--quiet"]) == 1
    report = json.loads(out.read_text())
    failed = [r for r in report["results"] if r["status"] == "failed"]
    checks = {r["check"] for r in failed}
    assert "buildability" in checks
    text = json.dumps(failed)
    # Both sdists build with tinybackend, which imports tinyhelper.
    assert "oldlib-0.6.tar.gz" in text and "dynlib-2.0.tar.gz" in text
    assert "tinyhelper" in text


@pytest.mark.parametrize("option", [["--no-build"], ["--only-binary", ":all:"]])
def test_no_build_policy_names_the_sdists(
    tmp_path: Path, index: str, option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("oldlib\n")
    code = run(["lock", str(req), "-o", str(tmp_path / "out.txt"), "-i", index, *option])
    assert code == 1
    err = capsys.readouterr().err
    assert "oldlib" in err and "sdists are disallowed" in err
    assert not (tmp_path / "out.txt").exists()


def test_legacy_dynamic_sdist_for_a_foreign_target_is_prepared_here(
    tmp_path: Path, index_server: IndexServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # A legacy sdist (Metadata-Version 1.2: everything dynamic), locked for
    # Windows with no Windows interpreter at hand: its metadata is prepared
    # on this machine, as uv does, so the build environment takes this
    # machine's wheel of the backend's helper (the Windows one would not
    # install), and a warning says the result may not fit the target.
    here = next(t.platform for t in sys_tags() if t.platform != "any")
    tags = (f"py3-none-{here}", "py3-none-win_amd64")
    universe = [
        dataclasses.replace(s, wheel_tags=tags)
        if s.name == "tinyhelper"
        else dataclasses.replace(s, sdist_metadata_version="1.2")
        if s.name == "dynlib"
        else s
        for s in UNIVERSE
    ]
    url = str(index_server(universe).url)
    req = tmp_path / "requirements.in"
    req.write_text("app\n")
    out = tmp_path / "requirements.txt"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    args = ["lock", str(req), "-o", str(out), "-i", url, "--platform", "windows"]
    assert run([*args, "--python-version", version]) == 0
    text = out.read_text()
    assert "oldlib==0.6" in text  # known only through the prepared metadata
    assert "dynlib==2.0" in text
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"preparing dynlib-2.0.tar.gz's metadata with {sys.executable}; dependencies it"
        " computes from the running platform may not match the target"
    ) in err


def test_building_a_release_without_a_wheel_suggests_taking_a_wheel(
    tmp_path: Path, index_server: IndexServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    universe = [
        backend_wheel_spec("tinybackend", "1.0", requires=("tinyhelper",)),
        DistSpec("tinyhelper", "1.0"),
        DistSpec("native", "1.0"),  # an older release with a wheel
        DistSpec("native", "2.0", wheel=False, build_backend="tinybackend", dynamic_metadata=True),
    ]
    url = str(index_server(universe).url)
    req = tmp_path / "requirements.in"
    req.write_text("native\n")
    lock = tmp_path / "requirements.txt"
    assert run(["lock", str(req), "-o", str(lock), "-i", url]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "native 2.0 has no wheel for" in err
    assert "--prefer-binary takes the newest release with a wheel" in err
    assert "native==2.0" in lock.read_text()
    # Taking the advice: the release with a wheel, nothing built, no warning.
    assert run(["lock", str(req), "-o", str(lock), "-i", url, "--prefer-binary", "-U"]) == 0
    assert "has no wheel" not in capsys.readouterr().err
    assert "native==1.0" in lock.read_text()
