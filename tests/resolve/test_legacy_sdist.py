"""The classic internal index: a setup.py sdist with a legacy name
(``hello-world-0.0.1.tar.gz``, Metadata-Version 1.0, no pyproject.toml)
behind a web server's directory listing (no hashes).  pip takes both; so
must ``bundle lock``, ``bundle build`` and ``bundle add``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundler.cli.main import run
from tests.support import (
    DistFactory,
    DistSpec,
    IndexServer,
    IndexServerFactory,
    installed,
    make_venv,
    pip_run,
)
from tests.support.bundles import lock_pins
from tests.support.distbuilder import setuptools_stub_spec

HELLO = DistSpec("hello-world", "0.0.1", requires=("dep>=1",), legacy_sdist=True, wheel=False)
HELLO_SDIST = "hello-world-0.0.1.tar.gz"
INDEX = [
    HELLO,
    DistSpec("dep", "1.2"),
    DistSpec("other", "1.0"),
    # What pip builds a project without pyproject.toml with (older pips add
    # wheel): stand-ins, so that the build runs offline.
    setuptools_stub_spec(),
    DistSpec("wheel", "0.45.1", sdist=False),
]


@pytest.fixture
def listing(index_server: IndexServerFactory) -> IndexServer:
    """The index as a plain nginx autoindex: project pages are directory
    listings whose links carry no hash."""
    return index_server(INDEX, autoindex=True, json=False)


def page_file(filename: str, project: str) -> str:
    return f"/simple/{project}/{filename}"


def install_from(bundle: Path, tmp_path: Path) -> dict[str, str]:
    """Install the bundle's lock with pip, from its files alone, hashes required."""
    python = make_venv(tmp_path / "venv")
    files, requirements = bundle / "files", bundle / "requirements.txt"
    pip_run(
        ["install", "--no-index", "--find-links", str(files), "-r", str(requirements)],
        python=python,
    )
    return installed(python)


def test_the_listing_has_no_hashes_and_the_legacy_name(listing: IndexServer) -> None:
    import urllib.request

    with urllib.request.urlopen(listing.url + "hello-world/") as page:
        text = page.read().decode()
    assert f'<a href="{HELLO_SDIST}">' in text
    assert "sha256" not in text


def test_lock_and_build_from_a_directory_listing(listing: IndexServer, tmp_path: Path) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("hello-world\n", encoding="utf-8")
    lock = tmp_path / "requirements.txt"
    assert run(["lock", str(req), "-o", str(lock), "-i", listing.url, "--quiet"]) == 0
    pins = lock_pins(lock)
    assert pins["hello-world"] == "0.0.1"
    assert pins["dep"] == "1.2"  # known only by running setup.py
    text = lock.read_text()
    assert text.count("--hash=sha256:") >= 3  # hello-world, dep's wheel and sdist
    # Read whole once, for its hash, metadata and build system alike.
    assert listing.hits(page_file(HELLO_SDIST, "hello-world")) == 1

    bundle = tmp_path / "pypi"
    assert run(["download", str(lock), "-o", str(bundle), "-i", listing.url, "--quiet"]) == 0
    assert (bundle / "files" / HELLO_SDIST).is_file()
    assert run(["verify", str(bundle), "--no-install", "--quiet"]) == 0
    got = install_from(bundle, tmp_path)
    assert got["hello-world"] == "0.0.1" and got["dep"] == "1.2"


def test_add_a_legacy_setup_py_sdist_to_a_bundle(
    listing: IndexServer,
    dist_factory: DistFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("other\n", encoding="utf-8")
    bundle = tmp_path / "pypi"
    assert run(["build", str(req), "-o", str(bundle), "-i", listing.url, "--no-install", "-q"]) == 0
    sdist = dist_factory([HELLO]) / HELLO_SDIST
    assert sdist.is_file()
    capsys.readouterr()

    assert run(["add", str(bundle), str(sdist), "-i", listing.url]) == 0
    err = capsys.readouterr().err
    assert f"warning: {HELLO_SDIST}: not a PEP 625 sdist name" in err
    assert f"preparing metadata of {HELLO_SDIST}" in err  # setup.py runs
    manifest = json.loads((bundle / "bundle.json").read_text())
    files = {a["filename"] for a in manifest["artifacts"]}
    assert HELLO_SDIST in files
    assert "dep-1.2-py3-none-any.whl" in files  # from setup.py's install_requires
    pins = lock_pins(bundle / "requirements.txt")
    assert pins["hello-world"] == "0.0.1" and pins["dep"] == "1.2"
    assert run(["verify", str(bundle), "--no-install", "-q"]) == 0
    got = install_from(bundle, tmp_path)
    assert got["hello-world"] == "0.0.1" and got["dep"] == "1.2" and got["other"] == "1.0"
