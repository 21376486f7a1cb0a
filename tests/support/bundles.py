"""Helpers for tests that tamper with a bundle or read lock files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from bundler.bundle.lockfiles import manifest_lock_files
from bundler.bundle.manifest import manifest_from_json
from bundler.bundle.pagewriter import write_index
from bundler.bundle.sbom import with_sbom

from .piputil import clean_pip_env, installed, make_venv, pip_run


def remove_project(bundle: Path, project: str) -> None:
    """Remove ``project`` from a bundle *consistently* (its files, pages,
    manifest entries and lock files), so that only the closure,
    buildability and live-install checks can notice it is missing."""
    manifest_path = bundle / "bundle.json"
    data = json.loads(manifest_path.read_text())
    data["artifacts"] = [a for a in data["artifacts"] if a["project"] != project]
    data["packages"] = [p for p in data["packages"] if p["name"] != project]
    manifest = manifest_from_json(json.dumps(data).encode(), str(manifest_path))
    for f in (bundle / "files").glob(f"{project.replace('-', '_')}-*"):
        f.unlink()
    write_index(bundle, manifest, with_sbom(bundle, manifest, manifest_lock_files(manifest)))
    shutil.rmtree(bundle / "simple" / project, ignore_errors=True)


def lock_pins(path: Path) -> dict[str, str]:
    """name -> version of every pin in a requirements-style lock (extras
    dropped: pip-compile keeps the ones requested)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, _, rest = line.partition("==")
            out[name.split("[", 1)[0].strip().lower()] = rest.split()[0].rstrip("\\").strip()
    return out


def pip_compile(requirements: Path, output: Path, *options: str, timeout: float = 600) -> None:
    """Run the real ``pip-compile --generate-hashes`` (the oracle), isolated
    from this machine's pip configuration; fail the test with its output."""
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("pip-compile")),
            "--generate-hashes",
            "--quiet",
            *options,
            "-o",
            str(output),
            str(requirements),
        ],
        env=clean_pip_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"pip-compile failed:\n{proc.stdout}\n{proc.stderr}"


def install_offline(bundle: Path, venv: Path) -> dict[str, str]:
    """Install a bundle's requirements.txt into a fresh venv with pip, from
    the bundle's files alone, hashes required; return what got installed."""
    python = make_venv(venv)
    pip_run(
        [
            "install",
            "--no-index",
            "--find-links",
            str(bundle / "files"),
            "--require-hashes",
            "-r",
            str(bundle / "requirements.txt"),
        ],
        python=python,
    )
    return installed(python)
