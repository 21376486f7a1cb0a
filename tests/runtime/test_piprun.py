"""The pip wrapper (venvs, runs, output) and interpreter discovery, against
real pip and real interpreters."""

from __future__ import annotations

import functools
import os
import platform
import stat
import subprocess
import sys
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from bundler.errors import BundlerError
from bundler.redact import redact_text
from bundler.runtime.interpreters import (
    Interpreter,
    candidate_paths,
    find_interpreters,
    pick_interpreter,
    probe_interpreter,
)
from bundler.runtime.isolation import detect_network_isolation
from bundler.runtime.piprun import (
    PipResult,
    PipRunner,
    _PipFacts,
    create_venv,
    ensurepip_version,
    installed_distributions,
    parse_pip_list,
)
from tests.conftest import IndexServerFactory
from tests.support.distbuilder import DistSpec, build_wheel
from tests.support.piputil import clean_pip_env
from tests.support.realdists import ensurepip_wheel

needs_netns = pytest.mark.skipif(
    not detect_network_isolation().available,
    reason=f"no network namespaces here: {detect_network_isolation().reason}",
)


def running_interpreter() -> Interpreter:
    interp = probe_interpreter(sys.executable)
    assert interp is not None
    return interp


# --- environment and output handling (pure) ---------------------------------


def test_redact_text_hides_credentials_in_every_url() -> None:
    text = "Looking in indexes: https://alice:s3cret@example.com/simple/ and http://tok@h/x"
    redacted = redact_text(text)
    assert "s3cret" not in redacted
    assert "tok@" not in redacted
    assert "https://alice:***@example.com/simple/" in redacted


def test_pip_result_keeps_command_and_the_end_of_the_output() -> None:
    stdout = "".join(f"line {i}\n" for i in range(100))
    result = PipResult(("python", "-m", "pip", "install", "a b"), 1, stdout, "ERROR: boom\n", True)
    tail = result.output_tail().splitlines()
    assert len(tail) == 40
    assert tail[-1] == "ERROR: boom"
    assert tail[0] == "line 61"
    text = result.describe()
    assert text.startswith("$ python -m pip install 'a b'\n(exit 1)")
    assert text.endswith("ERROR: boom")
    assert not result.ok


def test_a_runner_told_not_to_isolate_says_so() -> None:
    assert PipRunner(isolate_network=False).network.describe().startswith("network: NOT isolated")


def test_parse_pip_list_normalizes_names() -> None:
    pairs = parse_pip_list(
        '[{"name": "Foo_Bar", "version": "1.0"}, {"name": "six", "version": "2"}]'
    )
    assert pairs == [("foo-bar", "1.0"), ("six", "2")]


# --- real pip ---------------------------------------------------------------


def test_runner_drives_venvs_with_the_pip_next_to_bundler() -> None:
    runner = PipRunner()
    assert runner.pip_version() == Version(dist_version("pip"))
    assert runner.uses_python_option()
    venv_python = Path("/v/bin/python")
    command = runner.command(["list"], python=venv_python)
    # What ``pip --python /v/bin/python list`` runs once it has started.
    import pip

    runner_file = Path(pip.__file__).resolve().parent / "__pip-runner__.py"
    assert runner_file.is_file()
    assert command == (str(venv_python), str(runner_file), "--isolated", "list")


def test_without_pips_runner_file_venvs_are_driven_with_python_option(tmp_path: Path) -> None:
    runner = PipRunner()
    missing = tmp_path / "__pip-runner__.py"
    facts = _PipFacts.parse(f"26.0\n{missing}\n>=3.10\n")
    assert facts == _PipFacts(Version("26.0"), None, SpecifierSet(">=3.10"))
    runner._pip = facts
    # pip 26 runs on 3.10 and newer: an older target gets its own pip.
    assert runner.supports("3.10.0") and not runner.supports("3.9.18")
    venv_python = Path("/v/bin/python")
    assert runner.command(["list"], python=venv_python) == (
        sys.executable,
        *("-m", "pip", "--isolated", "--python", str(venv_python), "list"),
    )
    # A pip that cannot be imported: no version, no runner.
    assert _PipFacts.parse("") == _PipFacts()
    assert _PipFacts.parse("Traceback (most recent call last):\n") == _PipFacts()


@pytest.mark.slow
def test_a_pip_wheel_runs_in_a_venv_without_pip(tmp_path: Path) -> None:
    interp = running_interpreter()
    wheel = ensurepip_wheel(interp.path)
    if wheel is None:
        pytest.skip(f"{interp.describe()} carries no pip wheel in its ensurepip")
    # A fresh venv of this interpreter gets the pip its ensurepip carries.
    version = ensurepip_version(interp)
    assert version is not None and wheel.name.startswith(f"pip-{version}-")
    runner = PipRunner(pip_wheel=wheel)
    assert runner.pip_version() == Version(version)
    assert runner.supports(interp.version)
    python = create_venv(tmp_path / "venv", interp)
    assert runner.prepare(python) == frozenset()  # nothing goes into the venv
    assert runner.command(["list"], python=python) == (
        str(python),
        str(wheel / "pip"),
        "--isolated",
        "list",
    )
    shown = runner.run(["--version"], python=python)
    assert shown.ok, shown.describe()
    assert shown.stdout.startswith(f"pip {version} from {wheel}")
    assert installed_distributions(python) == []


@pytest.mark.slow
def test_create_venv_makes_an_environment_without_pip(tmp_path: Path) -> None:
    python = create_venv(tmp_path / "venv", running_interpreter())
    assert python.exists()
    runner = PipRunner()
    assert runner.prepare(python) == frozenset()
    listing = runner.run(["list", "--format=json"], python=python)
    assert listing.ok, listing.describe()
    assert parse_pip_list(listing.stdout) == []
    assert installed_distributions(python) == []
    # The venv really has no pip of its own.
    own = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, check=False)
    assert own.returncode != 0
    # pip installs into it, and its interpreter lists what pip lists.
    wheels = tmp_path / "wheels"
    build_wheel(DistSpec("Tiny_Thing", "2.0"), "py3-none-any", wheels)
    install = runner.run(
        ["install", "--no-index", "--find-links", str(wheels), "tiny-thing"], python=python
    )
    assert install.ok, install.describe()
    listing = runner.run(["list", "--format=json"], python=python)
    assert parse_pip_list(listing.stdout) == [("tiny-thing", "2.0")]
    assert installed_distributions(python) == [("tiny-thing", "2.0")]


def test_listing_a_venv_that_cannot_run_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BundlerError, match="cannot list what"):
        installed_distributions(tmp_path / "no-venv" / "bin" / "python")
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(BundlerError, match="boom"):
        installed_distributions(broken)


@pytest.mark.slow
def test_machine_pip_settings_do_not_reach_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leak = tmp_path / "leak"
    build_wheel(DistSpec("leaky", "1.0"), "py3-none-any", leak)
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nfind-links = {leak}\n")
    args = ["download", "--no-deps", "--no-index", "-d", str(tmp_path / "out"), "leaky"]

    # Control: with these settings a plain pip run does find the package.
    leaky_env = clean_pip_env({"PIP_FIND_LINKS": str(leak)})
    control_args = [*args[:4], str(tmp_path / "control"), args[5]]
    control = subprocess.run(
        [sys.executable, "-m", "pip", *control_args],
        env=leaky_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert control.returncode == 0, control.stderr

    monkeypatch.setenv("PIP_FIND_LINKS", str(leak))
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    result = PipRunner().run(args)
    assert result.returncode != 0
    assert "No matching distribution found for leaky" in result.stderr
    assert not (tmp_path / "out" / "leaky-1.0-py3-none-any.whl").exists()


@needs_netns
@pytest.mark.slow
def test_pip_runs_without_network(tmp_path: Path, index_server: IndexServerFactory) -> None:
    server = index_server([DistSpec("reachable", "1.0")])
    args = ["download", "--no-deps", "--index-url", server.url, "-d", str(tmp_path), "reachable"]
    args += ["--retries", "0", "--timeout", "5"]

    # Control: without the namespace the loopback index is reachable.
    open_result = PipRunner(isolate_network=False).run(args)
    assert open_result.ok, open_result.describe()
    assert not open_result.isolated_network
    assert server.log
    server.log.clear()
    (tmp_path / "reachable-1.0-py3-none-any.whl").unlink()

    result = PipRunner().run(args)
    assert result.isolated_network
    assert not result.ok
    assert server.log == []
    assert not (tmp_path / "reachable-1.0-py3-none-any.whl").exists()


@pytest.mark.slow
def test_fallback_bootstraps_pip_into_the_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(DistSpec("tiny", "2.0"), "py3-none-any", wheels)
    python = create_venv(tmp_path / "venv", running_interpreter())
    runner = PipRunner(python_option=False)
    seeded = runner.prepare(python)
    assert "pip" in seeded
    result = runner.run(
        ["install", "--no-index", "--find-links", str(wheels), "tiny"], python=python
    )
    assert result.ok, result.describe()
    assert result.command[:4] == (str(python), "-m", "pip", "--isolated")
    listing = runner.run(["list", "--format=json"], python=python)
    assert ("tiny", "2.0") in parse_pip_list(listing.stdout)
    # The venv's own interpreter lists what pip lists.
    assert sorted(installed_distributions(python)) == sorted(parse_pip_list(listing.stdout))


def test_a_pip_that_hangs_is_stopped(tmp_path: Path) -> None:
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\nsleep 60 &\nwait\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    runner = PipRunner(pip_python=str(fake), python_option=True, isolate_network=False, timeout=0.5)
    result = runner.run(["install", "x"])
    assert result.returncode < 0
    assert "did not finish within 0.5 seconds" in result.stderr


# --- interpreters -------------------------------------------------------------


def test_discovery_finds_the_running_interpreter() -> None:
    found = find_interpreters()
    running = running_interpreter()
    assert running in found
    assert running.version == platform.python_version()
    assert found == sorted(found, key=lambda i: (i.implementation, i.python_version, i.path))
    assert all(i.python_version >= Version("3.9") for i in found)


def test_candidates_come_from_path_and_skip_non_interpreters(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python3.42", "python3.42-config", "pythonista"):
        script = bin_dir / name
        script.write_text("#!/bin/sh\nexit 1\n")
        script.chmod(0o755)
    (bin_dir / "python3").symlink_to(bin_dir / "python3.42")
    paths = candidate_paths({"PATH": str(bin_dir)}, home=tmp_path)
    assert str(bin_dir / "python3.42") in paths
    assert str(bin_dir / "python3.42-config") not in paths
    assert str(bin_dir / "pythonista") not in paths
    # One entry per real file.
    assert len([p for p in paths if p.startswith(str(bin_dir))]) == 1
    # A script that is not a Python is not an interpreter.
    assert probe_interpreter(str(bin_dir / "python3.42")) is None


def test_pyenv_versions_are_candidates(tmp_path: Path) -> None:
    python = tmp_path / "pyenv" / "versions" / "3.12.1" / "bin" / "python3"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    paths = candidate_paths({"PATH": "", "PYENV_ROOT": str(tmp_path / "pyenv")}, home=tmp_path)
    assert os.path.realpath(sys.executable) in paths


def _interp(version: str, path: str, machine: str = "x86_64", impl: str = "cpython") -> Interpreter:
    return Interpreter(path, version, impl, f"linux-{machine}", machine, "linux")


def test_pick_interpreter_matches_version_implementation_platform_and_machine() -> None:
    interps = [
        _interp("3.11.2", "/usr/bin/python3.11"),
        _interp("3.11.7", "/opt/py/bin/python3.11"),
        _interp("3.12.1", "/opt/py/bin/python3.12"),
        _interp("3.12.1", "/arm/bin/python3.12", machine="aarch64"),
        _interp("3.10.14", "/pypy/bin/python3", impl="pypy"),
    ]
    assert pick_interpreter("3.11", "cp", "linux", "x86_64", interps) == interps[1]
    assert pick_interpreter("3.11", "cpython", "linux", "AMD64", interps) == interps[1]
    assert pick_interpreter("3.12", "cp", "linux", "arm64", interps) == interps[3]
    assert pick_interpreter("3.10", "pp", "linux", "x86_64", interps) == interps[4]
    assert pick_interpreter("3.10", "cp", "linux", "x86_64", interps) is None
    assert pick_interpreter("3.12", "cp", "win32", "AMD64", interps) is None
    assert pick_interpreter("3.12", "cp", "darwin", "x86_64", interps) is None


def test_python_older_than_pip_supports_gets_its_own_pip(tmp_path: Path) -> None:
    """pip 26 cannot drive Python 3.9 with --python; such a venv is
    bootstrapped with ensurepip and driven by its own pip instead."""
    old = next(
        (
            i
            for i in find_interpreters()
            if i.implementation == "cpython" and i.python_short == "3.9"
        ),
        None,
    )
    if old is None:
        pytest.skip("no CPython 3.9 interpreter on this machine")
    runner = PipRunner()
    pip_requires = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.metadata as m; print(m.metadata('pip').get('Requires-Python') or '')",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    python = create_venv(tmp_path / "venv39", old)
    seeded = runner.prepare(python)
    command = runner.command(["list"], python=python)
    if pip_requires and not SpecifierSet(pip_requires).contains("3.9.0"):
        assert "pip" in seeded
        assert command[0] == str(python)
    result = runner.run(["list", "--format=json"], python=python)
    assert result.ok, result.describe()
    assert (
        pick_interpreter("3.9", "cpython", old.sys_platform or "linux", old.machine, [old]) == old
    )


def test_interpreter_must_fit_the_targets_libc() -> None:
    glibc = Interpreter(
        "/x/python3.11", "3.11.7", "cpython", "linux-x86_64", "x86_64", "linux", "glibc-2.36"
    )
    musl = Interpreter("/y/python3.11", "3.11.7", "cpython", "linux-x86_64", "x86_64", "linux", "")
    pick = functools.partial(pick_interpreter, "3.11", "cpython", "linux", "x86_64")
    assert pick([glibc], platform_tag="manylinux_2_28_x86_64") == glibc
    assert pick([glibc], platform_tag="manylinux_2_39_x86_64") is None  # too old a glibc
    assert pick([glibc], platform_tag="musllinux_1_2_x86_64") is None
    assert pick([glibc, musl], platform_tag="musllinux_1_2_x86_64") == musl
    assert pick([musl], platform_tag="manylinux_2_17_x86_64") is None


def test_a_fresh_venvs_pip_does_not_depend_on_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPython 3.13.0 built with an empty WHEEL_PKG_DIR (pyenv's) takes its
    ensurepip wheel from the current directory: the gate must not."""
    interpreters = find_interpreters()
    if not interpreters:
        pytest.skip("no interpreter found")
    clean = {i.path: ensurepip_version(i) for i in interpreters}
    build_wheel(DistSpec("pip", "0.1"), "py3-none-any", tmp_path)
    assert any(tmp_path.glob("pip-0.1-*.whl"))
    monkeypatch.chdir(tmp_path)
    assert {i.path: ensurepip_version(i) for i in interpreters} == clean
