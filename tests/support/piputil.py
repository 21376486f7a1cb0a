"""Run real pip as a subprocess, isolated from the machine's pip settings.

pip reads ``PIP_*`` variables and global, user and site config files; a
``find-links`` or ``extra-index-url`` set there would let an install pass
thanks to files that are not under test.  Every run here drops them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name


def clean_pip_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without ``PIP_*``, no config files, no prompts."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env.update(extra or {})
    return env


def make_venv(path: Path) -> Path:
    """Create an empty virtual environment (no pip) and return its python."""
    venv.EnvBuilder(with_pip=False, clear=True, symlinks=os.name != "nt").create(path)
    if os.name == "nt":
        return path / "Scripts" / "python.exe"
    return path / "bin" / "python"


@dataclass(frozen=True)
class PipResult:
    """A finished pip run, with everything needed to explain it."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"$ {subprocess.list2cmdline(self.command)}\n"
            f"exit code {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def pip_run(
    args: Sequence[str],
    *,
    python: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    expect_success: bool = True,
    timeout: float = 300,
) -> PipResult:
    """Run ``pip --isolated [--python PYTHON] ARGS`` with the test runner's pip.

    ``python`` selects the environment pip acts on (e.g. from ``make_venv``).
    Raises AssertionError carrying the command and its output when the
    outcome differs from ``expect_success``.
    """
    command = [sys.executable, "-m", "pip", "--isolated", "--no-cache-dir"]
    if python is not None:
        command += ["--python", str(python)]
    command += list(args)
    proc = subprocess.run(
        command,
        cwd=cwd,
        env=dict(env) if env is not None else clean_pip_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    result = PipResult(command, proc.returncode, proc.stdout, proc.stderr)
    if (result.returncode == 0) != expect_success:
        expectation = "succeed" if expect_success else "fail"
        raise AssertionError(f"pip was expected to {expectation}:\n{result.describe()}")
    return result


_LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps([[d.metadata['Name'], d.version] for d in m.distributions()]))"
)


def installed(venv_python: Path) -> dict[str, str]:
    """normalized name -> version of every distribution in an environment."""
    proc = subprocess.run(
        [str(venv_python), "-I", "-c", _LIST_DISTRIBUTIONS],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    pairs: list[list[str]] = json.loads(proc.stdout)
    return {canonicalize_name(name): version for name, version in pairs}


__all__ = ["PipResult", "clean_pip_env", "installed", "make_venv", "pip_run"]
