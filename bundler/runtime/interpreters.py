"""Python interpreters on this machine, found without assuming where they live.

The verification gate installs a bundle for a target only when some local
interpreter can run that target; this module finds the candidates and asks
each one, in a subprocess, what it is.  Nothing here reads the running
interpreter's own platform: every answer comes from the probed executable.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

__all__ = [
    "MIN_VERSION",
    "PROBE_TIMEOUT",
    "Interpreter",
    "candidate_paths",
    "find_interpreters",
    "pick_interpreter",
    "probe_interpreter",
    "probe_interpreters",
]

# pip drives Python 3.9 and newer only.
MIN_VERSION = Version("3.9")
PROBE_TIMEOUT = 10.0

# Runs under every interpreter we may meet (Python 2 included) and prints one
# JSON object; old or broken interpreters fail and are skipped.
_PROBE = (
    "import json, platform, sys, sysconfig; "
    "print(json.dumps({"
    "'executable': sys.executable, "
    "'implementation': sys.implementation.name, "
    "'version': platform.python_version(), "
    "'platform': sysconfig.get_platform(), "
    "'machine': platform.machine(), "
    "'libc': '-'.join(platform.libc_ver()), "
    "'sys_platform': sys.platform}))"
)

_IMPLEMENTATIONS = {"cp": "cpython", "pp": "pypy", "gp": "graalpy", "ip": "ironpython"}
# platform.machine() spells one architecture differently per OS.
_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "i686": "x86"}


@dataclass(frozen=True)
class Interpreter:
    """One runnable Python, as it describes itself."""

    path: str  # resolved executable (symlinks followed)
    version: str  # platform.python_version(), e.g. "3.11.7"
    implementation: str  # sys.implementation.name, e.g. "cpython"
    platform: str  # sysconfig.get_platform(), e.g. "linux-x86_64"
    machine: str  # platform.machine(), e.g. "x86_64"
    sys_platform: str = ""  # sys.platform, e.g. "linux"
    libc: str = ""  # "glibc-2.36" (platform.libc_ver); "" elsewhere and on musl

    @property
    def python_version(self) -> Version:
        return Version(self.version)

    @property
    def python_short(self) -> str:
        v = self.python_version
        return f"{v.major}.{v.minor}"

    def describe(self) -> str:
        return f"{self.implementation} {self.version} ({self.path})"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _path_candidates(path_var: str) -> Iterator[Path]:
    for entry in path_var.split(os.pathsep):
        if not entry:
            continue
        directory = Path(entry)
        if not directory.is_dir():
            continue
        # pyenv shims only dispatch to $PYENV_ROOT/versions, searched below.
        if directory.name == "shims":
            continue
        yield directory / "python3"
        yield directory / "python"
        yield from (Path(p) for p in sorted(glob.glob(str(directory / "python3.[0-9]*"))))


def _well_known_candidates(environ: dict[str, str], home: Path) -> Iterator[Path]:
    pyenv_root = Path(environ.get("PYENV_ROOT") or home / ".pyenv")
    data_home = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    uv_dir = Path(environ.get("UV_PYTHON_INSTALL_DIR") or data_home / "uv" / "python")
    patterns = [
        str(pyenv_root / "versions" / "*" / "bin" / "python3"),
        str(uv_dir / "*" / "bin" / "python3"),
        "/usr/bin/python3*",
        "/usr/local/bin/python3*",
        "/opt/python*/bin/python3",
        "/opt/python/*/bin/python3",
        "/opt/homebrew/bin/python3*",
        "/opt/homebrew/opt/python@*/bin/python3",
        "/Library/Frameworks/Python.framework/Versions/*/bin/python3",
        "/usr/local/opt/python@*/bin/python3",
    ]
    for pattern in patterns:
        yield from (Path(p) for p in sorted(glob.glob(pattern)))


def _looks_like_python(path: Path) -> bool:
    # python, python3, python3.12 -- not python3.12-config or python3-gdb.py.
    name = path.name
    return name.startswith("python") and all(c.isdigit() or c == "." for c in name[6:])


def candidate_paths(environ: dict[str, str] | None = None, home: Path | None = None) -> list[str]:
    """Executables that may be Python interpreters, each real path once."""
    env = dict(os.environ if environ is None else environ)
    home_dir = home if home is not None else Path.home()
    seen: set[str] = set()
    found: list[str] = []
    for path in [
        *_path_candidates(env.get("PATH", "")),
        *_well_known_candidates(env, home_dir),
    ]:
        if not _looks_like_python(path) or not _is_executable(path):
            continue
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            found.append(real)
    return found


def _probe_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def probe_interpreter(path: str, timeout: float = PROBE_TIMEOUT) -> Interpreter | None:
    """Ask one executable what it is; None when it is not a usable Python."""
    try:
        proc = subprocess.run(
            [path, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_probe_env(),
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        version = str(data["version"])
        if Version(version) < MIN_VERSION:
            return None
        executable = str(data["executable"]) or path
        return Interpreter(
            path=os.path.realpath(executable),
            version=version,
            implementation=str(data["implementation"]),
            platform=str(data["platform"]),
            machine=str(data["machine"]),
            sys_platform=str(data["sys_platform"]),
            libc=str(data.get("libc", "")).strip("-"),
        )
    except (ValueError, KeyError, IndexError, TypeError, InvalidVersion):
        return None


def probe_interpreters(paths: Iterable[str]) -> list[Interpreter]:
    """Probe executables in parallel; one Interpreter per real executable."""
    unique = list(dict.fromkeys(paths))
    if not unique:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(unique))) as pool:
        results = list(pool.map(probe_interpreter, unique))
    by_path: dict[str, Interpreter] = {}
    for interp in results:
        if interp is not None:
            by_path.setdefault(interp.path, interp)
    return sorted(by_path.values(), key=_sort_key)


def _sort_key(interp: Interpreter) -> tuple[str, Version, str]:
    return (interp.implementation, interp.python_version, interp.path)


@functools.lru_cache(maxsize=1)
def _find_interpreters() -> tuple[Interpreter, ...]:
    return tuple(probe_interpreters(candidate_paths()))


def find_interpreters() -> list[Interpreter]:
    """Every Python >= 3.9 found on this machine, sorted (memoized)."""
    return list(_find_interpreters())


def _normal_machine(machine: str) -> str:
    lower = machine.lower()
    return _MACHINE_ALIASES.get(lower, lower)


_MANYLINUX_LEVEL = re.compile(r"^manylinux_(\d+)_(\d+)_")


def _libc_fits(interp: Interpreter, platform_tag: str | None) -> bool:
    if not platform_tag:
        return True
    glibc = interp.libc.startswith("glibc-")
    if platform_tag.startswith("musllinux"):
        return not glibc
    level = _MANYLINUX_LEVEL.match(platform_tag)
    if level is None:
        return True
    if not glibc:
        return False
    try:
        have = tuple(int(x) for x in interp.libc.split("-", 1)[1].split(".")[:2])
    except ValueError:
        return False
    return have >= (int(level[1]), int(level[2]))


def pick_interpreter(
    python_short: str,
    implementation: str,
    sys_platform: str,
    machine: str,
    interpreters: Sequence[Interpreter],
    platform_tag: str | None = None,
) -> Interpreter | None:
    """The newest interpreter that can run a target, or None.

    ``implementation`` may be a tag prefix ("cp") or a name ("cpython");
    ``python_short`` is "3.12"; ``machine`` is a marker ``platform_machine``.
    ``platform_tag`` (the target's wheel platform) rules out a glibc
    interpreter for a musllinux target and one whose glibc is older than a
    manylinux target's level.
    """
    impl = implementation.lower()
    impl = _IMPLEMENTATIONS.get(impl, impl)
    want_machine = _normal_machine(machine)
    matches = [
        interp
        for interp in interpreters
        if interp.implementation.lower() == impl
        and interp.python_short == python_short
        and interp.sys_platform == sys_platform
        and _normal_machine(interp.machine) == want_machine
        and _libc_fits(interp, platform_tag)
    ]
    if not matches:
        return None
    return max(matches, key=_sort_key)
