"""The one place that runs pip (as a subprocess, never imported).

pip is the oracle of the verification gate, so it must see the bundle and
nothing else: it runs in the environment and network namespace that
``bundler.runtime.isolation`` gives it.  Each run keeps its command and
output for error messages.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.errors import BundlerError
from bundler.redact import redact_text
from bundler.runtime.interpreters import Interpreter
from bundler.runtime.isolation import (
    PROBE_TIMEOUT,
    NetworkIsolation,
    detect_network_isolation,
    scrubbed_environ,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "NEUTRAL_CWD",
    "NEWEST_PIP",
    "PYLOCK_SINCE",
    "PYTHON_OPTION_SINCE",
    "REQUESTED_PIP",
    "TAIL_LINES",
    "VENV_PIP",
    "PipChoice",
    "PipResult",
    "PipRunner",
    "create_venv",
    "ensurepip_version",
    "installed_distributions",
    "parse_pip_list",
]

# pip >= 22.3 can act on another interpreter's environment (--python), so a
# venv without pip can be installed into by the pip next to bundler.
PYTHON_OPTION_SINCE = Version("22.3")
# pip installs from a PEP 751 lock with -r from 26.1 on (pip pull request 13876).
PYLOCK_SINCE = Version("26.1")
DEFAULT_TIMEOUT = 1800.0
# Probes and venvs run from here, not from the caller's directory: CPython
# 3.13.0 built with an empty WHEEL_PKG_DIR takes pip from any pip-*.whl in
# the current directory for ensurepip (so for a fresh venv's own pip).
NEUTRAL_CWD = os.path.abspath(os.sep)
TAIL_LINES = 40


@dataclass(frozen=True)
class PipResult:
    """One pip run: what was run and what it said (URLs redacted)."""

    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    isolated_network: bool

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def command_line(self) -> str:
        return shlex.join(self.command)

    def output_tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` lines pip printed (stdout, then stderr)."""
        text = "\n".join(part.rstrip("\n") for part in (self.stdout, self.stderr) if part.strip())
        return "\n".join(text.splitlines()[-lines:])

    def describe(self, lines: int = TAIL_LINES) -> str:
        """Command, exit status and the end of the output, for a person."""
        return (
            f"$ {self.command_line}\n(exit {self.returncode})\n{self.output_tail(lines)}".rstrip()
        )


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


# Where a pip the gate installs with comes from.
VENV_PIP = "venv"  # what a fresh ``python -m venv`` gets: the interpreter's ensurepip
NEWEST_PIP = "newest"  # the pip next to bundler
REQUESTED_PIP = "requested"  # a pip wheel asked for with --pip
_ORIGIN_TEXT = {VENV_PIP: "a fresh venv's own", NEWEST_PIP: "newest", REQUESTED_PIP: "--pip"}


@dataclass(frozen=True)
class PipChoice:
    """One pip the gate installs a target's bundle with, and where it
    comes from (``wheel``: the pip wheel a requested pip runs from)."""

    version: str
    origin: str  # VENV_PIP | NEWEST_PIP | REQUESTED_PIP
    wheel: Path | None = None

    def describe(self) -> str:
        return f"pip {self.version} ({_ORIGIN_TEXT.get(self.origin, self.origin)})"


def ensurepip_version(interpreter: Interpreter) -> str | None:
    """The pip a fresh venv of ``interpreter`` gets (its ensurepip's), or
    None when it has no ensurepip (some distributions split it out)."""
    command = [interpreter.path, "-I", "-c", "import ensurepip; print(ensurepip.version())"]
    try:
        return str(Version(_probe_output(command)))
    except InvalidVersion:  # no output: no ensurepip, or it failed
        return None


def _probe_output(command: list[str]) -> str:
    """What a short probe of an interpreter printed, or "" when it failed."""
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            env=scrubbed_environ(),
            check=False,
            stdin=subprocess.DEVNULL,
            cwd=NEUTRAL_CWD,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def create_venv(path: Path, interpreter: Interpreter, *, timeout: float = 300.0) -> Path:
    """Create a fresh virtual environment without pip; return its python."""
    command = (interpreter.path, "-I", "-m", "venv", "--without-pip", "--clear", str(path))
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=scrubbed_environ(),
            check=False,
            stdin=subprocess.DEVNULL,
            cwd=NEUTRAL_CWD,
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise BundlerError(
            f"cannot create a virtual environment with {interpreter.describe()}: {err}"
        ) from err
    python = _venv_python(path)
    if proc.returncode != 0 or not python.exists():
        output = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-TAIL_LINES:])
        raise BundlerError(
            f"cannot create a virtual environment with {interpreter.describe()}:"
            f"\n$ {shlex.join(command)}\n{output}".rstrip(),
            hint="install the interpreter's venv module (e.g. the python3-venv package)",
        )
    return python


class PipRunner:
    """Runs pip with a scrubbed environment, ``--isolated`` and, when
    possible, no network.  Thread-safe; probes are done once per runner."""

    def __init__(
        self,
        *,
        pip_python: str | None = None,
        isolate_network: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        python_option: bool | None = None,
        pip_wheel: Path | None = None,
    ) -> None:
        """``pip_python`` is the interpreter whose pip runs (default: the one
        running bundler).  ``python_option`` forces (True) or forbids (False)
        driving venvs with ``pip --python``; None decides by pip's version.
        ``pip_wheel`` (a pip wheel file) is run instead, by each venv's own
        interpreter, as pip's documentation allows (``python pip.whl/pip``):
        the venv gets no pip installed."""
        self.pip_python = pip_python or sys.executable
        self.isolate_network = isolate_network
        self.timeout = timeout
        self._python_option = python_option
        self.pip_wheel = pip_wheel
        self._lock = threading.Lock()
        self._pip: _PipFacts | None = None
        # Venvs that got their own pip because this pip cannot drive them.
        self._bootstrapped: set[str] = set()
        self._start_errors: dict[str, str | None] = {}

    @property
    def network(self) -> NetworkIsolation:
        if not self.isolate_network:
            return NetworkIsolation((), "isolation turned off")
        return detect_network_isolation()

    def pip_version(self) -> Version | None:
        """Version of the pip that runs (next to ``pip_python``, or the
        wheel's); None when there is none."""
        return self._facts().version

    def _facts(self) -> _PipFacts:
        """What one probe of the pip that runs tells about it (made once)."""
        with self._lock:
            if self._pip is None:
                probe = [self.pip_python, "-c", _PIP_PROBE]
                if self.pip_wheel is not None:
                    # The wheel is a zip importable from sys.path, as pip itself runs.
                    probe = [self.pip_python, "-c", _PIP_WHEEL_PROBE, str(self.pip_wheel)]
                self._pip = _PipFacts.parse(_probe_output(probe))
            return self._pip

    def uses_python_option(self) -> bool:
        """Whether venvs are driven by this pip with ``--python`` (else pip is
        bootstrapped into each venv with ensurepip)."""
        if self._python_option is not None:
            return self._python_option
        version = self.pip_version()
        return version is not None and version >= PYTHON_OPTION_SINCE

    def supports(self, python_version: str) -> bool:
        """Whether this pip's Requires-Python admits ``python_version``
        (pip 26 runs on 3.10+ only); True when either is unknown."""
        spec = self._facts().requires_python
        if spec is None or not python_version:
            return True
        try:
            return spec.contains(Version(python_version), prereleases=True)
        except InvalidVersion:
            return True

    def start_error(self, python: str) -> str | None:
        """Why this pip cannot run on the interpreter ``python`` (the last
        line of its error), or None when it can; probed once per
        interpreter.  ``pip list`` reads the installed distributions, as
        every install does: an old pip fails there on a newer Python
        (pip 22.3 on 3.12: ``pkgutil`` has no ``ImpImporter``), though
        ``pip --version`` still answers."""
        with self._lock:
            if python in self._start_errors:
                return self._start_errors[python]
        pip = (str(self.pip_wheel / "pip"),) if self.pip_wheel else ("-m", "pip")
        try:
            proc = subprocess.run(
                [python, *pip, "--isolated", "list", "--format", "json"],
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=PROBE_TIMEOUT,
                env=scrubbed_environ(),
                check=False,
                stdin=subprocess.DEVNULL,
            )
            lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
            error = None if proc.returncode == 0 else redact_text(lines[-1].strip())
        except (OSError, subprocess.SubprocessError) as err:
            error = str(err)
        with self._lock:
            self._start_errors[python] = error
        return error

    def _can_drive(self, venv_python: Path) -> bool:
        """Whether this pip can drive the venv's Python (else the venv
        gets its own pip)."""
        version = _probe_output(
            [str(venv_python), "-c", "import platform; print(platform.python_version())"]
        )
        return self.supports(version)

    def prepare(self, venv_python: Path) -> frozenset[NormalizedName]:
        """Make a freshly created venv drivable by ``run``; call it once.

        Returns the projects this put into the venv: none when this pip
        drives it (as ``--python`` does), else pip and what ensurepip seeds.
        """
        if self.pip_wheel is not None:
            return frozenset()
        if self.uses_python_option() and self._can_drive(venv_python):
            return frozenset()
        boot = self._execute(
            (str(venv_python), "-m", "ensurepip", "--default-pip"), cwd=Path(NEUTRAL_CWD)
        )
        if not boot.ok:
            raise BundlerError(
                f"cannot bootstrap pip into a virtual environment:\n{boot.describe()}"
            )
        with self._lock:
            self._bootstrapped.add(str(venv_python))
        return frozenset(name for name, _ in installed_distributions(venv_python))

    def command(self, args: Sequence[str], *, python: Path | None = None) -> tuple[str, ...]:
        """The pip command line for ``args`` (without the network prefix)."""
        if self.pip_wheel is not None:
            pip = str(self.pip_wheel / "pip")
            return (str(python) if python else self.pip_python, pip, "--isolated", *args)
        if python is None:
            return (self.pip_python, "-m", "pip", "--isolated", *args)
        with self._lock:
            own_pip = str(python) in self._bootstrapped
        if own_pip or not self.uses_python_option():
            return (str(python), "-m", "pip", "--isolated", *args)
        runner = self._facts().runner
        if runner is not None:
            # What ``pip --python`` runs, without starting pip once more
            # first to find it: this pip, within the venv's interpreter.
            return (str(python), runner, "--isolated", *args)
        return (self.pip_python, "-m", "pip", "--isolated", "--python", str(python), *args)

    def run(
        self, args: Sequence[str], *, python: Path | None = None, cwd: Path | None = None
    ) -> PipResult:
        """Run ``pip <args>``, acting on the environment of ``python`` (a
        venv's interpreter, after ``prepare``) when given, else on pip's own."""
        return self._execute(self.command(args, python=python), cwd=cwd)

    def _execute(self, command: tuple[str, ...], *, cwd: Path | None = None) -> PipResult:
        network = self.network
        full = (*network.prefix, *command)
        try:
            proc = subprocess.Popen(
                full,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=scrubbed_environ(),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as err:
            return PipResult(_redact_all(command), 127, "", str(err), network.available)
        try:
            stdout, stderr = proc.communicate(timeout=self.timeout)
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            # pip may have children (--python re-runs it, builds run backends).
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            stderr += f"\npip did not finish within {self.timeout:g} seconds and was stopped"
            returncode = -int(signal.SIGKILL)
        return PipResult(
            command=_redact_all(command),
            returncode=returncode,
            stdout=redact_text(stdout),
            stderr=redact_text(stderr),
            isolated_network=network.available,
        )


# One probe of the interpreter that runs pip: pip's version, the file that
# runs this very pip within another interpreter (as ``pip --python`` does,
# since pip 22.3) and pip's Requires-Python.  Importing ``pip`` alone is
# cheap: its package module holds little more than the version.
_PIP_PROBE = (
    "import importlib.metadata as m, os, pip\n"
    "print(pip.__version__)\n"
    "print(os.path.join(os.path.dirname(os.path.realpath(pip.__file__)), '__pip-runner__.py'))\n"
    "print(m.metadata('pip').get('Requires-Python') or '')\n"
)


# The same facts of a pip wheel: its version and Requires-Python, read from
# the wheel on sys.path (no runner file: a zipped pip runs itself).
_PIP_WHEEL_PROBE = (
    "import sys; sys.path.insert(0, sys.argv[1])\n"
    "import email.parser, zipfile, pip\n"
    "print(pip.__version__)\n"
    "print('')\n"
    "z = zipfile.ZipFile(sys.argv[1])\n"
    "name = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))\n"
    "print(email.parser.BytesParser().parsebytes(z.read(name)).get('Requires-Python') or '')\n"
)


@dataclass(frozen=True)
class _PipFacts:
    version: Version | None = None
    runner: str | None = None  # an existing __pip-runner__.py
    requires_python: SpecifierSet | None = None

    @classmethod
    def parse(cls, output: str) -> _PipFacts:
        lines = [*output.splitlines(), "", "", ""]
        try:
            version: Version | None = Version(lines[0].strip())
        except InvalidVersion:
            return cls()
        runner = lines[1].strip()
        try:
            requires = SpecifierSet(lines[2].strip())
        except InvalidSpecifier:
            requires = SpecifierSet()
        return cls(version, runner if os.path.isfile(runner) else None, requires)


# What ``pip list --format=json`` prints, read by the venv's own interpreter
# (pip lists the distributions importlib.metadata finds, the first of a name
# on the path winning), without starting pip.
_LIST_INSTALLED = (
    "import importlib.metadata as m, json\n"
    "print(json.dumps([{'name': d.metadata['Name'], 'version': d.version or ''}"
    " for d in m.distributions()]))\n"
)


def installed_distributions(python: Path) -> list[tuple[NormalizedName, str]]:
    """``(name, version)`` of every distribution installed in the venv of
    ``python``, as ``pip list`` gives them."""
    command = (str(python), "-I", "-c", _LIST_INSTALLED)
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=PROBE_TIMEOUT,
            env=scrubbed_environ(),
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise BundlerError(f"cannot list what {python} has installed: {err}") from err
    if proc.returncode != 0:
        output = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-TAIL_LINES:])
        raise BundlerError(f"cannot list what {python} has installed:\n{output}".rstrip())
    seen: dict[NormalizedName, str] = {}
    for name, version in parse_pip_list(proc.stdout):
        seen.setdefault(name, version)
    return list(seen.items())


def _redact_all(command: Sequence[str]) -> tuple[str, ...]:
    return tuple(redact_text(part) for part in command)


def parse_pip_list(output: str) -> list[tuple[NormalizedName, str]]:
    """``(name, version)`` pairs from ``pip list --format=json`` output."""
    try:
        data = json.loads(output)
    except ValueError as err:
        raise BundlerError(f"pip list printed something that is not JSON: {err}") from err
    if not isinstance(data, list):
        raise BundlerError("pip list printed JSON that is not a list")
    pairs: list[tuple[NormalizedName, str]] = []
    for item in data:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            pairs.append((canonicalize_name(item["name"]), str(item.get("version", ""))))
    return pairs
