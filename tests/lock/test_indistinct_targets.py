"""Targets that no environment marker tells apart (two manylinux levels on
one Python and machine): one lock may serve them only with the same pins
(on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.markers import Marker

from bundler.cli.main import run
from tests.support import DistFactory, DistSpec
from tests.support.indexserver import IndexServer

OLD = "manylinux_2_17_x86_64"
NEW = "manylinux_2_28_x86_64"
TARGETS = ("--python-version", "3.11", "--platform", OLD, "--platform", NEW)
APP = DistSpec("app", "1.0", requires=("dep",), sdist=False)


def lock(tmp_path: Path, url: str) -> tuple[int, Path]:
    req = tmp_path / "requirements.in"
    req.write_text("app\n")
    out = tmp_path / "requirements.txt"
    return run(["lock", str(req), "-o", str(out), "-i", url, *TARGETS]), out


def test_different_pins_for_targets_no_marker_tells_apart_are_refused(
    tmp_path: Path, dist_factory: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # dep 2.0 has a wheel for the newer glibc only: the older target takes
    # 1.0, and no marker could say which of the two a machine installs.
    files = dist_factory(
        [
            APP,
            DistSpec("dep", "1.0", wheel_tags=(f"cp311-cp311-{OLD}",), sdist=False),
            DistSpec("dep", "2.0", wheel_tags=(f"cp311-cp311-{NEW}",), sdist=False),
        ]
    )
    with IndexServer(files) as server:
        code, out = lock(tmp_path, str(server.url))
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1, err
    assert f"cannot lock targets cp311-{OLD}, cp311-{NEW} together" in err
    assert f"dep: 1.0 on cp311-{OLD}, 2.0 on cp311-{NEW}" in err
    assert "hint: lock them into separate files" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_the_same_pins_for_targets_no_marker_tells_apart_lock(
    tmp_path: Path, dist_factory: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # One release with a wheel for each: one pin, for both, with no marker.
    files = dist_factory(
        [APP, DistSpec("dep", "1.0", wheel_tags=(f"cp311-cp311-{OLD}", f"cp311-cp311-{NEW}"))]
    )
    with IndexServer(files) as server:
        code, out = lock(tmp_path, str(server.url))
    assert code == 0, capsys.readouterr().err
    pins = [line for line in out.read_text().splitlines() if "==" in line]
    assert pins == ["app==1.0 \\", "dep==1.0 \\"]


def test_a_build_requirement_of_one_of_them_is_marked_for_both(
    tmp_path: Path, dist_factory: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # The older target builds dep from its sdist (its only wheel is for the
    # newer glibc), so only that target needs dep's build requirement; it
    # is kept for both, as no marker could select one of them.
    files = dist_factory(
        [
            APP,
            DistSpec("dep", "1.0", wheel_tags=(f"cp311-cp311-{NEW}",), build_requires=("helper",)),
            DistSpec("helper", "1.0", sdist=False),
        ]
    )
    (tmp_path / "requirements.in").write_text("app\n")
    bundle = tmp_path / "pypi"
    with IndexServer(files) as server:
        args = ["build", str(tmp_path / "requirements.in"), "-o", str(bundle)]
        code = run([*args, "-i", str(server.url), "--no-install", *TARGETS])
    assert code == 0, capsys.readouterr().err
    artifacts = json.loads((bundle / "bundle.json").read_text())["packages"]
    helper = next(p for p in artifacts if p["name"] == "helper")
    assert helper.get("marker") is None, helper
    for package in artifacts:
        if package.get("marker"):
            Marker(package["marker"])
