"""What a build backend prints while bundler prepares an sdist's metadata
stays out of the run's output: setuptools' deprecation banners concern the
sdist's authors, not the person locking.  ``-v`` shows them; a hook that
fails shows its output in the error.  Real setuptools, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bundler.cli.main import run
from tests.support import IndexServer
from tests.support.distbuilder import write_sdist_archive
from tests.support.realdists import build_tools

BANNER = "legacy-banner: this option is deprecated"


def noisy_sdist(out_dir: Path, *, fail: bool = False) -> Path:
    """A setup.py-only sdist whose setup.py warns as setuptools does (a
    banner between ``!!`` lines), or fails after printing."""
    top = "noisy-1.0"
    ending = "raise SystemExit('setup.py gave up')\n" if fail else ""
    setup = (
        "import sys, warnings\n"
        "from setuptools import setup\n"
        f"warnings.warn('!!\\n' + '*' * 40 + '\\n{BANNER}\\n' + '*' * 40 + '\\n!!')\n"
        f"print('{BANNER} (stdout)')\n"
        f"print('{BANNER} (stderr)', file=sys.stderr)\n"
        f"{ending}"
        "setup(name='noisy', version='1.0', py_modules=['noisy'])\n"
    )
    files = [
        (f"{top}/PKG-INFO", b"Metadata-Version: 1.1\nName: noisy\nVersion: 1.0\n"),
        (f"{top}/setup.py", setup.encode()),
        (f"{top}/noisy.py", b""),
    ]
    path = out_dir / f"{top}.tar.gz"
    write_sdist_archive(str(path), files)
    return path


@pytest.fixture
def index(tmp_path: Path) -> Iterator[IndexServer]:
    files = tmp_path / "dists"
    files.mkdir()
    try:
        build_tools(files)
    except LookupError as err:
        pytest.skip(f"no real setuptools and wheel to serve: {err}")
    noisy_sdist(files)
    with IndexServer(files) as server:
        yield server


def _lock(index: IndexServer, tmp_path: Path, *extra: str) -> int:
    req = tmp_path / "requirements.in"
    req.write_text("noisy\n")
    return run(["lock", str(req), "-o", str(tmp_path / "out.txt"), "-i", index.url, *extra])


def test_a_backends_banner_is_not_printed(
    index: IndexServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _lock(index, tmp_path) == 0
    captured = capsys.readouterr()
    assert "preparing metadata of noisy-1.0.tar.gz" in captured.err
    assert BANNER not in captured.err + captured.out
    assert "!!" not in captured.err


def test_verbose_shows_the_backends_warning(
    index: IndexServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _lock(index, tmp_path, "-v") == 0
    err = capsys.readouterr().err
    assert f"noisy-1.0.tar.gz: build backend: !!\n{'*' * 40}\n{BANNER}" in err
    assert "warning:" not in err


def test_a_failing_hook_shows_its_output_in_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tmp_path / "dists"
    files.mkdir()
    try:
        build_tools(files)
    except LookupError as missing:
        pytest.skip(f"no real setuptools and wheel to serve: {missing}")
    noisy_sdist(files, fail=True)
    with IndexServer(files) as server:
        assert _lock(server, tmp_path) == 1
    err = capsys.readouterr().err
    assert "noisy-1.0.tar.gz: the build backend" in err
    assert "setup.py gave up" in err
    assert f"{BANNER} (stderr)" in err
