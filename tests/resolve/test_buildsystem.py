"""The [build-system] tables of sdists, read without running anything."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bundler.errors import InvalidDistribution
from bundler.resolve.buildsystem import (
    LEGACY_BACKEND,
    LEGACY_REQUIRES,
    BuildSystem,
    parse_build_system,
    read_build_system,
)
from tests.support.distbuilder import BACKEND_MODULE, DistSpec, build_sdist, write_sdist_archive


def make_tar_sdist(path: Path, members: dict[str, bytes]) -> Path:
    """A hand-made gzipped tar sdist holding exactly ``members``."""
    write_sdist_archive(str(path), sorted(members.items()))
    return path


def test_in_tree_backend(tmp_path: Path) -> None:
    sdist = build_sdist(DistSpec("foo", "1.0", build_requires=("buildtool>=2",)), tmp_path)
    assert read_build_system(sdist, sdist.name) == BuildSystem(
        requires=("buildtool>=2",),
        backend=BACKEND_MODULE,
        backend_path=("_backend",),
        legacy=False,
    )


def test_published_backend_and_explicit_requires(tmp_path: Path) -> None:
    spec = DistSpec(
        "foo",
        "1.0",
        build_backend="tinybackend",
        build_requires=('cython>=3; python_version >= "3.8"', "extra-tool[cli]"),
    )
    sdist = build_sdist(spec, tmp_path)
    assert read_build_system(sdist, sdist.name) == BuildSystem(
        requires=("tinybackend", 'cython>=3; python_version >= "3.8"', "extra-tool[cli]"),
        backend="tinybackend",
        backend_path=(),
        legacy=False,
    )


def test_no_pyproject_means_pips_setuptools_default(tmp_path: Path) -> None:
    sdist = make_tar_sdist(
        tmp_path / "old-1.0.tar.gz",
        {
            "old-1.0/PKG-INFO": b"Metadata-Version: 1.2\nName: old\nVersion: 1.0\n\n",
            "old-1.0/setup.py": b"from setuptools import setup\nsetup()\n",
        },
    )
    build = read_build_system(sdist, sdist.name)
    # pip >= 24.0 asks for setuptools only, older pips (a fresh Python 3.11
    # venv has pip 23.2.1) for "wheel" too: the bundle must serve both.
    assert build == BuildSystem(("setuptools>=40.8.0", "wheel"), LEGACY_BACKEND, (), legacy=True)
    assert LEGACY_REQUIRES == ("setuptools>=40.8.0", "wheel")
    assert LEGACY_BACKEND == "setuptools.build_meta:__legacy__"


def test_pyproject_without_build_system_table() -> None:
    text = b'[project]\nname = "x"\n[tool.black]\nline-length = 100\n'
    assert parse_build_system(text, "x-1.0.tar.gz") == BuildSystem(
        LEGACY_REQUIRES, LEGACY_BACKEND, (), legacy=True
    )


def test_build_system_without_backend_keeps_its_requires() -> None:
    text = b'[build-system]\nrequires = ["setuptools>=61", "setuptools-scm"]\n'
    assert parse_build_system(text, "x-1.0.tar.gz") == BuildSystem(
        ("setuptools>=61", "setuptools-scm"), LEGACY_BACKEND, (), legacy=True
    )


def test_malformed_toml_names_the_sdist(tmp_path: Path) -> None:
    sdist = make_tar_sdist(
        tmp_path / "bad-1.0.tar.gz",
        {"bad-1.0/PKG-INFO": b"", "bad-1.0/pyproject.toml": b"[build-system\nrequires = [\n"},
    )
    with pytest.raises(InvalidDistribution) as caught:
        read_build_system(sdist, sdist.name)
    assert caught.value.filename == "bad-1.0.tar.gz"
    assert "pyproject.toml is not valid TOML" in str(caught.value)


def test_bad_requirements_are_all_named(tmp_path: Path) -> None:
    sdist = build_sdist(
        DistSpec("foo", "1.0", build_requires=("good>=1", "bad req!!", "also bad >=")), tmp_path
    )
    with pytest.raises(InvalidDistribution) as caught:
        read_build_system(sdist, sdist.name)
    message = str(caught.value)
    assert message.startswith("foo-1.0.tar.gz: pyproject.toml: ")
    assert "'bad req!!'" in message
    assert "'also bad >='" in message
    assert "'good>=1'" not in message


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('build-backend = "x"', "no 'requires' key"),
        ('requires = "setuptools"', "'requires' is not a list of strings"),
        ("requires = [1]", "'requires' is not a list of strings"),
        ('requires = []\nbuild-backend = ""', "'build-backend' is not a non-empty string"),
        ('requires = []\nbuild-backend = "b"\nbackend-path = ["../up"]', "leaves the source tree"),
        ('requires = []\nbuild-backend = "b"\nbackend-path = ["a/../../b"]', "leaves the source"),
        ('requires = []\nbuild-backend = "b"\nbackend-path = ["/abs"]', "is absolute"),
        ('requires = []\nbuild-backend = "b"\nbackend-path = "x"', "not a list of strings"),
    ],
)
def test_invalid_build_system_tables(table: str, problem: str) -> None:
    with pytest.raises(InvalidDistribution, match=r"x-1\.0\.tar\.gz: pyproject\.toml: ") as caught:
        parse_build_system(f"[build-system]\n{table}\n".encode(), "x-1.0.tar.gz")
    assert problem in str(caught.value)


def test_inner_backend_path_is_accepted() -> None:
    text = b'[build-system]\nrequires = []\nbuild-backend = "b"\nbackend-path = ["./a/../tools"]\n'
    assert parse_build_system(text, "x-1.0.tar.gz").backend_path == ("./a/../tools",)


def test_read_build_system_from_zip_sdist(tmp_path: Path) -> None:
    path = tmp_path / "z-1.0.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("z-1.0/PKG-INFO", "Metadata-Version: 2.2\nName: z\nVersion: 1.0\n\n")
        archive.writestr(
            "z-1.0/pyproject.toml",
            '[build-system]\nrequires = ["flit_core<4"]\nbuild-backend = "f"',
        )
    assert read_build_system(path, path.name) == BuildSystem(("flit_core<4",), "f", (), False)


def test_read_build_system_refuses_unsafe_archives(tmp_path: Path) -> None:
    sdist = make_tar_sdist(
        tmp_path / "evil-1.0.tar.gz",
        {"evil-1.0/pyproject.toml": b"[build-system]\nrequires = []\n", "/etc/evil": b"x"},
    )
    with pytest.raises(InvalidDistribution, match="absolute path"):
        read_build_system(sdist, sdist.name)
