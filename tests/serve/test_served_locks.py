"""A bundle's lock files install from wherever the bundle is served: they
name no package source, so the installer's own ``--index-url`` (or, for
``pylock.toml``, the URL the lock was read from) decides where files come
from.  Real pip, uv and ``bundle download`` against ``bundle serve`` on
127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version

from bundler.cli.main import run
from bundler.serve.server import BundleServer, make_server
from tests.support import DistSpec, IndexServer, build_all, installed, make_venv, pip_run
from tests.support.piputil import clean_pip_env

UNIVERSE = [
    DistSpec("webby", "1.0", requires=("helper>=2", 'winonly ; sys_platform == "win32"')),
    DistSpec("helper", "1.0"),
    DistSpec("helper", "2.0"),
    DistSpec("winonly", "1.0"),
]
INSTALLED = {"webby": "1.0", "helper": "2.0"}
# pip reads pylock.toml with -r from 26.1 on (pip pull request 13876).
PIP_READS_PYLOCK = Version("26.1")


@dataclass(frozen=True)
class Served:
    bundle: Path
    server: BundleServer

    @property
    def root_url(self) -> str:
        return self.server.index_url.removesuffix("simple/")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("served-locks")
    build_all(UNIVERSE, base / "dists")
    (base / "requirements.in").write_text("webby\n")
    bundle = base / "pypi"
    with IndexServer(base / "dists") as index:
        argv = ["build", str(base / "requirements.in"), "-o", str(bundle), "-i", index.url]
        assert run([*argv, "--no-install", "--quiet"]) == 0
    with make_server(bundle, log=lambda line: None).start() as server:
        yield Served(bundle, server)


def _env() -> dict[str, str]:
    """A clean pip environment that reaches 127.0.0.1 directly."""
    return {k: v for k, v in clean_pip_env().items() if not k.lower().endswith("_proxy")}


def _copy_away(served: Served, name: str, tmp_path: Path) -> Path:
    """The bundle's lock file alone, away from the bundle's files."""
    copy = tmp_path / "elsewhere" / name
    copy.parent.mkdir()
    shutil.copyfile(served.bundle / name, copy)
    return copy


def test_the_bundles_requirements_name_no_package_source(served: Served) -> None:
    text = (served.bundle / "requirements.txt").read_text()
    for option in ("--no-index", "--index-url", "--extra-index-url", "--find-links", "-i "):
        assert option not in text


@pytest.mark.slow
def test_pip_installs_the_bundles_requirements_from_a_server(
    served: Served, tmp_path: Path
) -> None:
    requirements = _copy_away(served, "requirements.txt", tmp_path)
    python = make_venv(tmp_path / "venv")
    pip_run(
        ["install", "--index-url", served.server.index_url, "-r", str(requirements)],
        python=python,
        env=_env(),
    )
    assert installed(python) == INSTALLED


def test_bundle_download_reads_the_bundles_requirements_from_a_server(
    served: Served, tmp_path: Path
) -> None:
    requirements = _copy_away(served, "requirements.txt", tmp_path)
    out = tmp_path / "copy"
    argv = ["download", str(requirements), "-i", served.server.index_url, "-o", str(out)]
    assert run([*argv, "--quiet"]) == 0
    assert {p.name for p in (out / "files").glob("*.whl")} == {
        p.name for p in (served.bundle / "files").glob("*.whl")
    }
    assert run(["verify", str(out), "--no-install", "--quiet"]) == 0


@pytest.mark.slow
def test_pip_installs_the_bundles_pylock_from_a_server(served: Served, tmp_path: Path) -> None:
    if Version(version("pip")) < PIP_READS_PYLOCK:
        pytest.skip(f"pip {version('pip')} does not read pylock.toml (pip >= {PIP_READS_PYLOCK})")
    python = make_venv(tmp_path / "venv")
    # PEP 751: the files' relative paths are relative to the lock, here its URL.
    pip_run(["install", "-r", served.root_url + "pylock.toml"], python=python, env=_env())
    assert installed(python) == INSTALLED


def _uv() -> Path:
    beside = Path(sys.executable).parent / "uv"
    found = beside if beside.is_file() else shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed (it is in the test extra)")
    return Path(found)


def _uv_install(uv: Path, python: Path, tmp_path: Path, *args: str) -> None:
    env = {k: v for k, v in _env().items() if not k.upper().startswith(("UV_", "PIP_"))}
    env.update(
        UV_NO_CONFIG="1", UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_PYTHON_DOWNLOADS="never"
    )
    proc = subprocess.run(
        [str(uv), "pip", "install", "--python", str(python), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_uv_installs_the_bundles_locks(served: Served, tmp_path: Path) -> None:
    uv = _uv()
    requirements = _copy_away(served, "requirements.txt", tmp_path)
    from_server = make_venv(tmp_path / "venv1")
    _uv_install(
        uv, from_server, tmp_path, "--index-url", served.server.index_url, "-r", str(requirements)
    )
    assert installed(from_server) == INSTALLED
    # uv reads the files of a pylock.toml by their paths on this machine.
    from_pylock = make_venv(tmp_path / "venv2")
    _uv_install(uv, from_pylock, tmp_path, "--offline", "-r", str(served.bundle / "pylock.toml"))
    assert installed(from_pylock) == INSTALLED
    assert os.listdir(tmp_path / "elsewhere") == ["requirements.txt"]
