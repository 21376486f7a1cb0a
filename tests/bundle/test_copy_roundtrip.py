"""A bundle copied through ``bundle serve`` (the README's round trip):
``bundle download pypi/requirements.txt -i http://HOST/simple/ -o copy``
gives a bundle that passes the gate, sdists' build requirements included.

A bundle's requirements.txt, like a pip-compile or uv lock, names no build
requirements, so ``download`` resolves those of the sdists it fetches, as
``lock`` does.  The index serves the real setuptools and wheel, a
``setup.py``-only sdist in the style of ``docopt`` and a wheel; everything
runs on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bundler.cli.main import run
from bundler.serve.server import BundleServer, make_server
from tests.support import DistSpec, IndexServer, build_all
from tests.support.realdists import build_tools, legacy_sdist

# One target whatever the machine: the legacy fallback is the same on all.
TARGET = ["--python-version", "3.11", "--platform", "manylinux_2_36_x86_64"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, BundleServer]]:
    """``bundle build oldopt tinysix``, served by ``bundle serve``."""
    base = tmp_path_factory.mktemp("copy-roundtrip")
    files = base / "dists"
    files.mkdir()
    try:
        build_tools(files)
    except LookupError as err:
        pytest.skip(f"no real setuptools and wheel to serve: {err}")
    legacy_sdist("oldopt", "0.6.2", files)
    build_all([DistSpec("tinysix", "1.17.0")], files)
    (base / "requirements.in").write_text("oldopt\ntinysix\n")
    bundle = base / "pypi"
    with pytest.MonkeyPatch.context() as mp, IndexServer(files) as index:
        # A module's fixture runs before the per-test private cache is set.
        mp.setenv("BUNDLER_CACHE_DIR", str(base / "cache"))
        argv = ["build", str(base / "requirements.in"), "-o", str(bundle), "-i", index.url]
        assert run([*argv, *TARGET, "--no-install", "--quiet"]) == 0
    with make_server(bundle, log=lambda line: None).start() as server:
        yield bundle, server


def _artifacts(bundle: Path) -> dict[str, tuple[str, bool]]:
    manifest: dict[str, Any] = json.loads((bundle / "bundle.json").read_text())
    return {a["filename"]: (a["sha256"], a["build_only"]) for a in manifest["artifacts"]}


def test_the_bundles_requirements_name_no_build_requirements(
    served: tuple[Path, BundleServer],
) -> None:
    bundle, _ = served
    build_only = {n for n, (_, b) in _artifacts(bundle).items() if b}
    assert {"setuptools", "wheel"} <= {n.split("-")[0] for n in build_only}
    text = (bundle / "requirements.txt").read_text()
    assert "setuptools==" not in text and "wheel==" not in text


def test_a_copy_through_bundle_serve_verifies(
    served: tuple[Path, BundleServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, server = served
    copy = tmp_path / "copy"
    argv = ["download", str(bundle / "requirements.txt"), "-i", server.index_url, "-o", str(copy)]
    assert run(argv) == 0
    err = capsys.readouterr().err
    assert "names no build requirements: resolving those of its sdists" in err
    # The same files, the build-only ones still build-only.
    assert _artifacts(copy) == _artifacts(bundle)
    assert run(["verify", str(copy), "--no-install", "-q"]) == 0, capsys.readouterr().err
    assert (copy / "requirements.txt").read_bytes() == (bundle / "requirements.txt").read_bytes()


def test_a_copy_of_the_bundles_pylock_keeps_its_build_requirements(
    served: tuple[Path, BundleServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # pylock.toml names them (its [tool] table): nothing is resolved again.
    bundle, _ = served
    copy = tmp_path / "copy"
    assert run(["download", str(bundle / "pylock.toml"), "-o", str(copy)]) == 0
    assert "names no build requirements" not in capsys.readouterr().err
    assert _artifacts(copy) == _artifacts(bundle)
    assert run(["verify", str(copy), "--no-install", "-q"]) == 0, capsys.readouterr().err
