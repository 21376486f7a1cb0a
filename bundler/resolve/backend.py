"""Running an sdist's build backend (PEP 517) for its metadata.

``prepare_metadata`` asks the sdist's build backend for its core metadata
(PEP 643: dynamic metadata), which means running code from the sdist: it
does so in a fresh virtual environment holding only build requirements
installed offline from one directory, with a scrubbed environment and,
where the kernel allows it, no network at all.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyproject_hooks
from packaging.requirements import InvalidRequirement, Requirement

from bundler.errors import BundlerError, InvalidDistribution
from bundler.models import DistKind
from bundler.redact import redact_text
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.resolve.buildsystem import LEGACY_BACKEND, BuildSystem, read_build_system, string_list
from bundler.runtime.interpreters import probe_interpreter
from bundler.runtime.piprun import TAIL_LINES, PipResult, PipRunner, create_venv
from bundler.spec.archives import extract_sdist, wheel_metadata
from bundler.spec.filenames import is_safe_filename, parse_filename
from bundler.spec.metadata import MAX_METADATA_SIZE, check_matches, parse_metadata

__all__ = [
    "DEFAULT_TIMEOUT",
    "backend_environ",
    "prepare_metadata",
    "prepare_tree_metadata",
]

DEFAULT_TIMEOUT = 600.0

# The only variables a backend sees from the caller's environment: enough to
# find tools and pick a locale.  Tokens, credentials, proxies, PIP_* and
# PYTHON* settings stay out.
_KEPT_VARIABLES = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "TZ",
        "SOURCE_DATE_EPOCH",
        # Windows cannot start Python without these.
        "SYSTEMROOT",
        "SYSTEMDRIVE",
        "COMSPEC",
        "PATHEXT",
        "WINDIR",
    }
)
_NOT_FOUND = re.compile(r"No matching distribution found for (.+?)\s*$", re.MULTILINE)

_T = TypeVar("_T")


def backend_environ(
    home: Path, tmp: Path, bin_dir: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment a build backend runs with: from ``base`` (default
    ``os.environ``) only the variables it needs to run, HOME and the temp
    directory redirected, pip unable to look anywhere."""
    source = os.environ if base is None else base
    env = {
        key: value
        for key, value in source.items()
        if key.upper() in _KEPT_VARIABLES or key.upper().startswith("LC_")
    }
    # Scripts of the build requirements (cmake, ninja, ...) come first.
    env["PATH"] = os.pathsep.join(p for p in (str(bin_dir), env.get("PATH", os.defpath)) if p)
    env["HOME"] = env["USERPROFILE"] = str(home)
    env["TMPDIR"] = env["TEMP"] = env["TMP"] = str(tmp)
    env["PYTHONNOUSERSITE"] = "1"
    # Backends that shell out to pip (setup_requires) must not reach the
    # machine's pip configuration, which may point at files outside the bundle.
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INDEX"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


class _HookFailed(Exception):
    def __init__(self, returncode: int, output: str) -> None:
        super().__init__(f"exit {returncode}")
        self.returncode = returncode
        self.output = output


class _HookRunner:
    """Runs pyproject_hooks' hook subprocess: fixed environment, optional
    command prefix (a network namespace), output kept, one shared deadline."""

    def __init__(
        self, env: Mapping[str, str], prefix: Sequence[str], deadline: float, timeout: float
    ) -> None:
        self.env = dict(env)
        self.prefix = tuple(prefix)
        self.deadline = deadline
        self.timeout = timeout
        self.output = ""
        self.warnings: list[str] = []

    def __call__(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        self.output = ""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _HookFailed(-int(signal.SIGKILL), self._late())
        proc = subprocess.Popen(
            [*self.prefix, *cmd],
            cwd=cwd,
            env={**self.env, **(extra_environ or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            self.output = redact_text(output) + "\n" + self._late()
            raise _HookFailed(-int(signal.SIGKILL), self.output) from None
        self.output = redact_text(output)
        if proc.returncode != 0:
            raise _HookFailed(proc.returncode, self.output)
        self._take_warnings(Path(cmd[-1]) / "output.json")

    def _late(self) -> str:
        return f"the build backend did not finish within {self.timeout:g} seconds and was stopped"

    def _take_warnings(self, answer: Path) -> None:
        # pyproject_hooks re-issues the backend's warnings with warnings.warn in
        # this process; a library must not print, and catch_warnings is not
        # thread-safe, so they are taken out of the hook's answer here.
        try:
            data: Any = json.loads(answer.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and isinstance(data.get("warnings"), list):
            self.warnings.extend(
                str(w.get("message", "")) for w in data["warnings"] if isinstance(w, dict)
            )
            data["warnings"] = []
            answer.write_text(json.dumps(data), encoding="utf-8")


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass(frozen=True)
class _Build:
    """One metadata preparation: what to name in errors, and how to run."""

    filename: str
    backend: str
    find_links: Path
    pip: PipRunner
    python: Path
    hooks: _HookRunner
    deadline: float
    timeout: float

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BundlerError(
                f"{self.filename}: preparing metadata did not finish within {self.timeout:g}"
                " seconds"
            )
        return left

    def install(self, requirements: Sequence[str], what: str) -> None:
        """Install ``requirements`` into the build venv from ``find_links`` only."""
        if not requirements:
            return
        self.pip.timeout = self.remaining()
        args = ["install", "--no-index", "--find-links", str(self.find_links), "--no-cache-dir"]
        result = self.pip.run([*args, *requirements], python=self.python)
        if not result.ok:
            raise self._install_error(result, what)

    def _install_error(self, result: PipResult, what: str) -> BundlerError:
        missing = _NOT_FOUND.findall(result.stderr + "\n" + result.stdout)
        if missing:
            return BundlerError(
                f"{self.filename}: build requirement {missing[-1]} is not in"
                f" {self.find_links} (installing the {what})\n{result.describe(TAIL_LINES)}",
                hint="every build requirement, and everything it requires, must be there",
            )
        return BundlerError(
            f"{self.filename}: cannot install its {what} from {self.find_links}"
            f"\n{result.describe(TAIL_LINES)}"
        )

    def call(self, hook: str, run: Callable[[], _T]) -> _T:
        """Run one backend hook; its failures become a BundlerError."""
        self.remaining()
        try:
            return run()
        except _HookFailed as err:
            raise BundlerError(
                f"{self.filename}: the build backend {self.backend!r} failed in {hook}"
                f" (exit {err.returncode}):\n{_tail(err.output)}".rstrip()
            ) from None
        except pyproject_hooks.BackendUnavailable as err:
            detail = _tail(f"{self.hooks.output}\n{err.traceback}")
            raise BundlerError(
                f"{self.filename}: cannot import the build backend {self.backend!r}:\n{detail}",
                hint="is a build requirement missing, or does it need something it"
                " does not declare?",
            ) from None


def _check_requirements(values: object, filename: str, hook: str) -> list[str]:
    items = string_list(values)
    if items is None:
        raise BundlerError(f"{filename}: the build backend's {hook} returned {values!r}")
    for text in items:
        try:
            Requirement(text)
        except InvalidRequirement as err:
            raise InvalidDistribution(
                filename, f"{hook} returned an invalid requirement {text!r}: {err}"
            ) from err
    return items


def _read_dist_info_metadata(directory: Path, dist_info: object, filename: str) -> bytes:
    if not (
        isinstance(dist_info, str)
        and is_safe_filename(dist_info)
        and dist_info.endswith(".dist-info")
    ):
        raise BundlerError(
            f"{filename}: prepare_metadata_for_build_wheel returned {dist_info!r},"
            " not a .dist-info directory name"
        )
    path = directory / dist_info / "METADATA"
    if path.is_symlink() or not path.is_file():
        raise BundlerError(f"{filename}: the build backend wrote no {dist_info}/METADATA")
    if path.stat().st_size > MAX_METADATA_SIZE:
        raise InvalidDistribution(filename, f"built METADATA exceeds {MAX_METADATA_SIZE} bytes")
    return path.read_bytes()


def _built_wheel_metadata(directory: Path, wheel: object, filename: str) -> bytes:
    if not (isinstance(wheel, str) and is_safe_filename(wheel) and wheel.endswith(".whl")):
        raise BundlerError(f"{filename}: build_wheel returned {wheel!r}, not a wheel filename")
    path = directory / wheel
    if path.is_symlink() or not path.is_file():
        raise BundlerError(f"{filename}: the build backend wrote no {wheel}")
    return wheel_metadata(path, wheel)


def prepare_metadata(
    sdist: Path,
    filename: str,
    build_env_requirements_dir: Path,
    interpreter: str,
    workdir: Path,
    *,
    runner_env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    isolate_network: bool = True,
    reporter: Reporter = NULL_REPORTER,
) -> bytes:
    """The core metadata (``METADATA`` bytes) an sdist's build backend gives.

    The sdist is checked and unpacked into ``workdir`` (an empty directory);
    a virtual environment for ``interpreter`` (a Python executable) gets the
    build requirements, installed by pip with ``--no-index --find-links
    build_env_requirements_dir`` and nothing else; then the backend's
    ``get_requires_for_build_wheel`` (whose answer is installed the same way)
    and ``prepare_metadata_for_build_wheel`` run (or ``build_wheel``, when the
    backend lacks that hook).  pip and the backend run without network where
    the kernel allows it (``isolate_network``) and see only the variables of
    ``runner_env`` (default ``os.environ``) that ``backend_environ`` keeps.
    ``timeout`` bounds the whole preparation.  The metadata must name the
    sdist's project and version.  Failures raise ``BundlerError`` naming the
    sdist: a missing build requirement, or the end of the backend's output.
    """
    # Hooks run in the source tree, pip elsewhere: every path must be absolute.
    sdist, workdir = sdist.absolute(), workdir.absolute()
    dist = parse_filename(filename)
    if dist is None or dist.kind is not DistKind.SDIST:
        raise InvalidDistribution(filename, "not a valid sdist filename")
    build_system = read_build_system(sdist, filename)
    tree = extract_sdist(sdist, filename, workdir / "src")
    data = prepare_tree_metadata(
        tree,
        filename,
        build_system,
        build_env_requirements_dir,
        interpreter,
        workdir,
        runner_env=runner_env,
        timeout=timeout,
        isolate_network=isolate_network,
        reporter=reporter,
    )
    meta = parse_metadata(data, f"{filename} (metadata from the build backend)")
    check_matches(meta, dist.name, dist.version, filename)
    return data


def prepare_tree_metadata(
    tree: Path,
    what: str,
    build_system: BuildSystem,
    build_env_requirements_dir: Path,
    interpreter: str,
    workdir: Path,
    *,
    runner_env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    isolate_network: bool = True,
    reporter: Reporter = NULL_REPORTER,
) -> bytes:
    """The core metadata (``METADATA`` bytes) the build backend of the
    source tree ``tree`` gives, prepared as ``prepare_metadata`` describes
    (``workdir``: an empty directory for the environment; ``what`` names the
    tree in errors).  The hooks run in ``tree`` (a backend may write there,
    as setuptools writes ``*.egg-info``); the metadata is not checked."""
    deadline = time.monotonic() + timeout
    tree, workdir = tree.absolute(), workdir.absolute()
    build_env_requirements_dir = build_env_requirements_dir.absolute()
    filename = what
    backend = build_system.backend or LEGACY_BACKEND
    python, pip = _build_venv(
        interpreter, workdir, deadline, timeout, isolate_network, filename, reporter
    )
    home, tmp = workdir / "home", workdir / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = backend_environ(home, tmp, python.parent, runner_env)
    hooks = _HookRunner(env, pip.network.prefix, deadline, timeout)
    build = _Build(
        filename=filename,
        backend=backend,
        find_links=build_env_requirements_dir,
        pip=pip,
        python=python,
        hooks=hooks,
        deadline=deadline,
        timeout=timeout,
    )
    build.install(build_system.requires, "build requirements")
    caller = pyproject_hooks.BuildBackendHookCaller(
        str(tree),
        backend,
        backend_path=list(build_system.backend_path) or None,
        runner=hooks,
        python_executable=str(python),
    )
    data = _ask_backend(build, caller, workdir)
    # What the backend says on success (setuptools' deprecation banners, for
    # a project the user did not write) is no warning of this run: shown
    # with -v only.  A hook that fails shows its output in the error.
    for message in dict.fromkeys(hooks.warnings):
        reporter.detail(f"{filename}: build backend: {message}")
    return data


def _build_venv(
    interpreter: str,
    workdir: Path,
    deadline: float,
    timeout: float,
    isolate_network: bool,
    filename: str,
    reporter: Reporter,
) -> tuple[Path, PipRunner]:
    """A fresh venv for ``interpreter`` in ``workdir / "env"`` (its Python),
    and the pip runner that installs into it."""
    interp = probe_interpreter(interpreter)
    if interp is None:
        raise BundlerError(f"{interpreter} is not a Python interpreter bundler can use")
    python = create_venv(workdir / "env", interp, timeout=max(1.0, deadline - time.monotonic()))
    pip = PipRunner(isolate_network=isolate_network, timeout=timeout)
    network = pip.network
    if isolate_network and not network.available:
        reporter.warning(
            f"{filename}: its build backend runs with the network reachable ({network.reason})"
        )
    pip.prepare(python)
    return python, pip


def _ask_backend(
    build: _Build, caller: pyproject_hooks.BuildBackendHookCaller, workdir: Path
) -> bytes:
    """The metadata the backend gives through its hooks, the requirements
    it asks for installed first."""
    filename = build.filename
    extra = build.call("get_requires_for_build_wheel", caller.get_requires_for_build_wheel)
    build.install(
        _check_requirements(extra, filename, "get_requires_for_build_wheel"),
        "requirements its backend asked for in get_requires_for_build_wheel",
    )
    metadata_dir = workdir / "metadata"
    metadata_dir.mkdir()
    try:
        dist_info = build.call(
            "prepare_metadata_for_build_wheel",
            lambda: caller.prepare_metadata_for_build_wheel(
                str(metadata_dir), _allow_fallback=False
            ),
        )
    except pyproject_hooks.HookMissing:
        # PEP 517: the hook is optional; a frontend builds the wheel instead.
        wheel_dir = workdir / "wheel"
        wheel_dir.mkdir()
        wheel = build.call("build_wheel", lambda: caller.build_wheel(str(wheel_dir)))
        return _built_wheel_metadata(wheel_dir, wheel, filename)
    return _read_dist_info_metadata(metadata_dir, dist_info, filename)
