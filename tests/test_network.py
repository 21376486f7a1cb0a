"""Against the real PyPI (opt-in: ``pytest -m network``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bundler.cli.main import run
from tests.support import clean_pip_env
from tests.support.bundles import lock_pins, pip_compile

pytestmark = pytest.mark.network

WEB_STACK = """\
django
djangorestframework
celery[redis]
psycopg[binary]
gunicorn
sentry-sdk
boto3
pydantic
"""


@pytest.mark.parametrize("requirements", ["requests\nrich\n", WEB_STACK], ids=["small", "web"])
def test_host_pins_equal_pip_compile(tmp_path: Path, requirements: str) -> None:
    req = tmp_path / "requirements.in"
    req.write_text(requirements)
    ours, theirs = tmp_path / "ours.txt", tmp_path / "theirs.txt"
    assert run(["lock", str(req), "-o", str(ours), "--quiet"]) == 0
    pip_compile(req, theirs, "--allow-unsafe")
    assert lock_pins(ours) == lock_pins(theirs)


def test_build_and_verify_small_set(tmp_path: Path) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("requests\nrich\n")
    bundle = tmp_path / "pypi"
    assert run(["build", str(req), "-o", str(bundle), "--quiet"]) == 0
    victim = next((bundle / "files").glob("rich-*.whl"))
    victim.unlink()
    assert run(["verify", str(bundle), "--no-install", "--quiet"]) == 1


def test_windows_and_linux_targets_for_pytest(tmp_path: Path) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("pytest\n")
    bundle = tmp_path / "pypi"
    code = run(
        [
            "build",
            str(req),
            "-o",
            str(bundle),
            "--platform",
            "windows",
            "--platform",
            "linux",
            "--quiet",
        ]
    )
    assert code == 0
    text = (bundle / "requirements.txt").read_text()
    assert "colorama==" in text and 'sys_platform == "win32"' in text


UV_PLATFORMS = {
    "linux": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
    "macos": "aarch64-apple-darwin",
    "windows": "x86_64-pc-windows-msvc",
}


@pytest.mark.parametrize(
    ("platform", "python"),
    [("linux", "3.10"), ("linux-aarch64", "3.11"), ("macos", "3.12"), ("windows", "3.13")],
)
def test_target_pins_equal_uv(tmp_path: Path, platform: str, python: str) -> None:
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip("uv is not installed next to the interpreter")
    req = tmp_path / "requirements.in"
    req.write_text(WEB_STACK)
    ours, theirs = tmp_path / "ours.txt", tmp_path / "theirs.txt"
    assert (
        run(
            [
                "lock",
                str(req),
                "-o",
                str(ours),
                "--quiet",
                "--platform",
                platform,
                "--python-version",
                python,
            ]
        )
        == 0
    )
    env = {k: v for k, v in clean_pip_env().items() if not k.startswith("UV_")}
    env.update(UV_NO_CONFIG="1", UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    proc = subprocess.run(
        [
            str(uv),
            "pip",
            "compile",
            "--quiet",
            "--generate-hashes",
            "--python-platform",
            UV_PLATFORMS[platform],
            "--python-version",
            python,
            "-o",
            str(theirs),
            str(req),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert lock_pins(ours) == lock_pins(theirs)


def test_numpy_for_two_pythons_holds_two_versions(tmp_path: Path) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("numpy\n")
    bundle = tmp_path / "pypi"
    code = run(
        [
            "build",
            str(req),
            "-o",
            str(bundle),
            "--quiet",
            "--platform",
            "linux",
            "--python-version",
            "3.9",
            "--python-version",
            "3.13",
        ]
    )
    assert code == 0
    wheels = sorted(p.name for p in (bundle / "files").glob("numpy-*.whl"))
    assert len(wheels) == 2
    assert any("cp39" in w for w in wheels) and any("cp313" in w for w in wheels)


def test_sdist_only_project_brings_its_build_backend(tmp_path: Path) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("docopt\nsix\n")  # an sdist-only project next to a wheel
    bundle = tmp_path / "pypi"
    assert run(["build", str(req), "-o", str(bundle), "--quiet"]) == 0
    manifest = (bundle / "bundle.json").read_text()
    assert "docopt-0.6.2.tar.gz" in manifest and "setuptools-" in manifest
    for backend in (bundle / "files").glob("setuptools-*.whl"):
        backend.unlink()
    assert run(["verify", str(bundle), "--quiet"]) == 1
