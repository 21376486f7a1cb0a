"""Real build tools for an offline test index, and sdists in the old style.

Tests never download: the real setuptools, wheel and pip wheels an index
needs to build an sdist without ``[build-system]`` come from this machine,
either repacked from the distributions installed next to the tests (their
RECORD lists every file) or, for pip, the wheel an interpreter's ensurepip
carries.
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import subprocess
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .distbuilder import write_sdist_archive, write_wheel_archive

# What pip writes into an installed dist-info that no wheel carries.
_INSTALL_ONLY = frozenset({"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"})


def repack_installed(name: str, out_dir: Path) -> Path:
    """A ``py3-none-any`` wheel of the installed distribution ``name``, made
    from the files its RECORD lists (scripts and byte code left out)."""
    dist = importlib.metadata.distribution(name)
    files: list[tuple[str, bytes]] = []
    dist_info = ""
    for entry in dist.files or ():
        path = entry.as_posix()
        if path.startswith("..") or "__pycache__" in entry.parts or path.endswith(".pyc"):
            continue
        if entry.parts[0].endswith(".dist-info"):
            dist_info = entry.parts[0]
            if entry.name in _INSTALL_ONLY:
                continue
        files.append((path, Path(str(entry.locate())).read_bytes()))
    if not dist_info:
        raise LookupError(f"{name}: no .dist-info in its RECORD")
    stem = f"{canonicalize_name(name).replace('-', '_')}-{dist.version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{stem}-py3-none-any.whl"
    write_wheel_archive(str(wheel), sorted(files), f"{dist_info}/RECORD")
    return wheel


def repack_with_requirements(names: list[str], out_dir: Path) -> list[Path]:
    """``repack_installed`` for ``names`` and everything they require
    (extras and marker-excluded requirements left out)."""
    done: dict[str, Path] = {}
    pending = list(names)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in done:
            continue
        done[name] = repack_installed(name, out_dir)
        for text in importlib.metadata.requires(name) or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                pending.append(req.name)
    return list(done.values())


def build_tools(out_dir: Path, *, minimum_setuptools: str = "70") -> list[Path]:
    """Wheels of the installed setuptools and wheel (and what they need).

    Raises LookupError when either is missing or setuptools is older than
    ``minimum_setuptools`` (older ones cannot build on Python 3.13).
    """
    try:
        version = importlib.metadata.version("setuptools")
        importlib.metadata.version("wheel")
    except importlib.metadata.PackageNotFoundError as err:
        raise LookupError(f"{err.name} is not installed next to the tests") from err
    if int(version.split(".")[0]) < int(minimum_setuptools):
        raise LookupError(f"setuptools {version} is older than {minimum_setuptools}")
    return repack_with_requirements(["setuptools", "wheel"], out_dir)


def legacy_sdist(name: str, version: str, out_dir: Path) -> Path:
    """An sdist in the style of ``docopt-0.6.2.tar.gz``: ``setup.py`` and a
    Metadata-Version 1.1 PKG-INFO, no pyproject.toml, one module."""
    module = name.replace("-", "_")
    top = f"{module}-{version}"
    setup = (
        "from setuptools import setup\n"
        f"setup(name={name!r}, version={version!r}, py_modules=[{module!r}])\n"
    )
    pkg_info = f"Metadata-Version: 1.1\nName: {name}\nVersion: {version}\nSummary: legacy\n"
    files = [
        (f"{top}/PKG-INFO", pkg_info.encode()),
        (f"{top}/setup.py", setup.encode()),
        (f"{top}/{module}.py", f"VERSION = {version!r}\n".encode()),
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{top}.tar.gz"
    write_sdist_archive(str(path), files)
    return path


def ensurepip_wheel(python: str) -> Path | None:
    """The pip wheel bundled with the ensurepip of interpreter ``python``."""
    proc = subprocess.run(
        [python, "-I", "-c", "import ensurepip, os; print(os.path.dirname(ensurepip.__file__))"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )
    if proc.returncode != 0:
        return None
    found = sorted(glob.glob(os.path.join(proc.stdout.strip(), "_bundled", "pip-*.whl")))
    return Path(found[-1]) if found else None


__all__ = [
    "build_tools",
    "ensurepip_wheel",
    "legacy_sdist",
    "repack_installed",
    "repack_with_requirements",
]
