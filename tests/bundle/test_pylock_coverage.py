"""``bundle download pylock.toml`` refuses what PEP 751 has installers
refuse: a target none of the lock's environments admits, a Python its
requires-python (or a package's) does not admit, and two entries of one
package selected for one target (on 127.0.0.1)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bundler.cli.main import run
from tests.support import DistSpec, IndexServer, build_all

LINUX_311 = ["--python-version", "3.11", "--platform", "linux"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A bundle (app needs dep), locked for Linux 3.11 and 3.12."""
    base = tmp_path_factory.mktemp("pylock-coverage")
    build_all([DistSpec("app", "1.0", requires=("dep",)), DistSpec("dep", "1.0")], base / "d")
    (base / "requirements.in").write_text("app\n")
    targets = [*LINUX_311, "--python-version", "3.12"]
    with pytest.MonkeyPatch.context() as mp, IndexServer(base / "d") as index:
        mp.setenv("BUNDLER_CACHE_DIR", str(base / "cache"))
        argv = ["build", str(base / "requirements.in"), "-o", str(base / "pypi"), "-i", index.url]
        assert run([*argv, *targets, "--no-install", "--quiet"]) == 0
    yield base / "pypi"


@pytest.fixture
def pylock(bundle: Path) -> str:
    return (bundle / "pylock.toml").read_text()


def download(tmp_path: Path, text: str) -> tuple[int, Path]:
    """Download ``text`` written beside the bundle's files (its paths are
    relative to the lock)."""
    lock = tmp_path / "pylock.toml"
    lock.write_text(text)
    out = tmp_path / "copy"
    return run(["download", str(lock), "-o", str(out), "--no-index", *LINUX_311]), out


def header(text: str, line: str) -> str:
    """``text`` with ``line`` in its header instead of that key's own value
    (a one-line value, or an array over several lines)."""
    key = line.split("=", 1)[0].strip()
    kept: list[str] = []
    skipping = False
    for ln in text.splitlines():
        if skipping:
            skipping = ln.strip() != "]"
            continue
        if ln.startswith(f"{key} ="):
            skipping = ln.rstrip().endswith("[")
            continue
        kept.append(ln)
    start = next(i for i, ln in enumerate(kept) if ln.startswith("[["))
    return "\n".join([*kept[:start], line, *kept[start:]]) + "\n"


@pytest.fixture
def beside(bundle: Path, tmp_path: Path) -> Path:
    """A directory holding the bundle's files, for a lock written there."""
    shutil.copytree(bundle / "files", tmp_path / "files")
    return tmp_path


def test_the_bundles_own_pylock_downloads(beside: Path, pylock: str) -> None:
    code, out = download(beside, pylock)
    assert code == 0
    assert (out / "files" / "dep-1.0-py3-none-any.whl").is_file()


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (
            "environments = ['sys_platform == \"win32\"']",
            'is none of the environments the lock covers (sys_platform == "win32")',
        ),
        ('requires-python = ">=3.12"', "the lock requires Python >=3.12; target"),
    ],
)
def test_a_target_the_lock_does_not_cover_is_refused(
    beside: Path, pylock: str, capsys: pytest.CaptureFixture[str], line: str, said: str
) -> None:
    code, out = download(beside, header(pylock, line))
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1, err
    assert said in err
    assert not out.exists()


def test_a_packages_requires_python_is_checked(
    beside: Path, pylock: str, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = 'name = "dep"\n'
    assert entry in pylock
    text = pylock.replace(entry, entry + 'requires-python = ">=3.12"\n', 1)
    code, out = download(beside, text)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1, err
    assert "dep==1.0 requires Python >=3.12; target" in err
    assert not out.exists()


def test_two_entries_of_a_package_for_one_target_are_refused(
    beside: Path, pylock: str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = pylock.index('[[packages]]\nname = "dep"')
    end = pylock.find("[[packages]]", start + 1)
    block = pylock[start : end if end != -1 else len(pylock)]
    again = block.replace('name = "dep"\n', 'name = "dep"\nmarker = \'python_version >= "3.8"\'\n')
    code, out = download(beside, pylock + "\n" + again)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1, err
    assert "dep is locked twice for target" in err
    assert not out.exists()
