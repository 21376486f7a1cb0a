"""``bundle lock`` reads project files as pip-compile does: pyproject.toml
(PEP 621 dependencies and extras, PEP 735 dependency groups) and setup.cfg."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from bundler.cli.main import run
from bundler.errors import BundlerError, UsageError
from bundler.spec.projectinput import (
    ProjectSelection,
    parse_pyproject,
    parse_setup_cfg,
    select_requirements,
)
from bundler.spec.projectmeta import project_from_metadata
from tests.support import DistSpec, IndexServer, IndexServerFactory
from tests.support.bundles import lock_pins, pip_compile
from tests.support.distbuilder import setuptools_stub_spec

SOCKS = [
    DistSpec("requests", "2.32.3", requires=("urllib3",), extras={"socks": ("pysocks>=1.5",)}),
    DistSpec("urllib3", "2.2.0"),
    DistSpec("pysocks", "1.7.1"),
    DistSpec("pytest", "8.0.0", requires=("pluggy",)),
    DistSpec("pluggy", "1.5.0"),
    DistSpec("ruff", "0.5.0"),
]

PYPROJECT = """\
[project]
name = "app"
version = "1.0"
dependencies = ["requests>=2"]

[project.optional-dependencies]
socks = ["requests[socks]"]
all = ["app[socks]"]

[dependency-groups]
test = ["pytest"]
lint = ["ruff"]
dev = [{include-group = "test"}, {include-group = "lint"}]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def socks_index(index_server: IndexServerFactory) -> IndexServer:
    return index_server(SOCKS)


def lock(project: Path, server: IndexServer, *options: str) -> tuple[int, Path]:
    out = project.with_name("requirements.txt")
    code = run(["lock", str(project), "-o", str(out), "-i", server.url, "-q", *options])
    return code, out


# --- end to end ---------------------------------------------------------------------


def test_extra_socks_pins_pysocks_as_pip_compile_does(
    tmp_path: Path, socks_index: IndexServer
) -> None:
    project = write(tmp_path / "pyproject.toml", PYPROJECT)
    code, out = lock(project, socks_index)
    assert code == 0
    assert lock_pins(out) == {"requests": "2.32.3", "urllib3": "2.2.0"}
    code, out = lock(project, socks_index, "--extra", "socks")
    assert code == 0
    ours = lock_pins(out)
    assert ours["pysocks"] == "1.7.1"
    text = out.read_text()
    # pip-compile's annotation for a project's requirement.
    assert f"# via app ({project})" in text
    assert "--extra socks" in text.split("\n\n", 1)[0]
    theirs = tmp_path / "theirs.txt"
    pip_compile(project, theirs, "--extra", "socks", "--index-url", socks_index.url)
    assert ours == lock_pins(theirs)


def test_all_extras_and_a_self_referencing_extra(tmp_path: Path, socks_index: IndexServer) -> None:
    project = write(tmp_path / "pyproject.toml", PYPROJECT)
    code, out = lock(project, socks_index, "--all-extras")
    assert code == 0
    assert "pysocks" in lock_pins(out)
    code, out = lock(project, socks_index, "--extra", "all")
    assert code == 0
    assert "pysocks" in lock_pins(out)


def test_group_with_included_groups(tmp_path: Path, socks_index: IndexServer) -> None:
    project = write(tmp_path / "pyproject.toml", PYPROJECT)
    code, out = lock(project, socks_index, "--group", "dev")
    assert code == 0
    assert lock_pins(out) == {
        "requests": "2.32.3",
        "urllib3": "2.2.0",
        "pytest": "8.0.0",
        "pluggy": "1.5.0",
        "ruff": "0.5.0",
    }
    # uv's annotation for a group's requirement.
    assert f"# via app ({project}:dev)" in out.read_text()


def test_setup_cfg_install_requires_and_extras(tmp_path: Path, socks_index: IndexServer) -> None:
    cfg = write(
        tmp_path / "setup.cfg",
        """\
        [metadata]
        name = app

        [options]
        install_requires =
            requests>=2
            # a comment
        [options.extras_require]
        socks = requests[socks]
        """,
    )
    code, out = lock(cfg, socks_index)
    assert code == 0
    assert lock_pins(out) == {"requests": "2.32.3", "urllib3": "2.2.0"}
    code, out = lock(cfg, socks_index, "--extra", "socks")
    assert code == 0
    assert "pysocks" in lock_pins(out)
    assert f"# via app ({cfg})" in out.read_text()


def test_unknown_extra_or_group_is_a_usage_error(
    tmp_path: Path, socks_index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write(tmp_path / "pyproject.toml", PYPROJECT)
    code, out = lock(project, socks_index, "--extra", "sock", "--group", "docs")
    assert code == 2
    err = capsys.readouterr().err
    assert "--extra sock:" in err and "declared: all, socks" in err
    assert "--group docs:" in err and "declared: dev, lint, test" in err
    assert not out.exists()


def test_extra_on_a_requirements_file_is_a_usage_error(
    tmp_path: Path, socks_index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    req = write(tmp_path / "requirements.in", "requests\n")
    code, _ = lock(req, socks_index, "--extra", "socks")
    assert code == 2
    assert "is no pyproject.toml or setup.cfg" in capsys.readouterr().err


def test_extra_with_all_extras_is_a_usage_error(
    tmp_path: Path, socks_index: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write(tmp_path / "pyproject.toml", PYPROJECT)
    code, _ = lock(project, socks_index, "--extra", "socks", "--all-extras")
    assert code == 2
    assert "--extra has no effect with --all-extras" in capsys.readouterr().err


def test_default_output_is_requirements_txt_beside_the_project(
    tmp_path: Path, socks_index: IndexServer
) -> None:
    project = write(tmp_path / "pyproject.toml", PYPROJECT)
    assert run(["lock", str(project), "-i", socks_index.url, "-q"]) == 0
    assert lock_pins(tmp_path / "requirements.txt")["requests"] == "2.32.3"


# --- the parsers ----------------------------------------------------------------------


def test_group_cycle_is_named() -> None:
    data = b"""
[dependency-groups]
a = [{include-group = "b"}]
b = ["x", {include-group = "A"}]
"""
    with pytest.raises(BundlerError) as caught:
        parse_pyproject(data, "pyproject.toml")
    assert "include one another (a -> b -> a)" in str(caught.value)


def test_group_names_are_normalized_and_unknown_includes_refused() -> None:
    data = b"""
[dependency-groups]
Test_Tools = ["x"]
test-tools = ["y"]
c = [{include-group = "nope"}]
d = [{include-group = "test.tools"}, 3]
"""
    with pytest.raises(BundlerError) as caught:
        parse_pyproject(data, "pyproject.toml")
    text = str(caught.value)
    assert "the group test-tools is declared twice" in text
    assert "includes the group 'nope', which is not declared" in text
    assert "3 is neither a requirement string" in text


def test_every_bad_requirement_is_reported_with_its_key() -> None:
    data = b"""
[project]
name = "app"
dependencies = ["ok", "bad==", "git+https://example.invalid/x.git"]
[project.optional-dependencies]
x = "notalist"
"""
    with pytest.raises(BundlerError) as caught:
        parse_pyproject(data, "pyproject.toml")
    text = str(caught.value)
    assert "pyproject.toml: [project] dependencies[1]: invalid requirement 'bad=='" in text
    assert "[project] dependencies[2]" in text
    assert "[project.optional-dependencies] x must be a list" in text
    assert caught.value.exit_code == 2


def test_dynamic_dependencies_are_marked() -> None:
    data = b'[project]\nname = "app"\ndynamic = ["dependencies"]\n'
    assert parse_pyproject(data, "pyproject.toml").dynamic
    assert parse_pyproject(b"[build-system]\n", "pyproject.toml", has_setup_py=True).dynamic


def test_a_pyproject_without_a_project_is_refused() -> None:
    with pytest.raises(UsageError, match=r"no \[project\] table"):
        parse_pyproject(b"[tool.x]\n", "pyproject.toml")
    assert parse_pyproject(b"[dependency-groups]\na = []\n", "pyproject.toml").name is None


def test_invalid_toml_names_the_file() -> None:
    with pytest.raises(UsageError, match=r"pyproject\.toml: not a valid TOML file"):
        parse_pyproject(b"[project\n", "pyproject.toml")


def test_self_reference_keeps_its_marker() -> None:
    data = b"""
[project]
name = "app"
[project.optional-dependencies]
win = ["pywin ; python_version >= '3'"]
all = ["app[win] ; sys_platform == 'win32'"]
"""
    project = parse_pyproject(data, "pyproject.toml")
    [req] = select_requirements([project], ProjectSelection(extras=(canonicalize_name("all"),)))
    assert str(req.requirement.marker) == ('python_version >= "3" and sys_platform == "win32"')


def test_setup_cfg_semicolon_list_and_file_directive(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("alpha\n# no\nbeta>=1\n", encoding="utf-8")
    text = "[options]\ninstall_requires = file: base.txt\n[options.extras_require]\nx = a;b\n"
    path = str(tmp_path / "setup.cfg")
    project = parse_setup_cfg(text, path, read_file=lambda p: Path(p).read_text(encoding="utf-8"))
    assert [r.name for r in project.dependencies] == ["alpha", "beta"]
    assert [r.name for r in project.extras[canonicalize_name("x")]] == ["a", "b"]


# --- dependencies only the build backend can tell ---------------------------------

BACKEND = [
    setuptools_stub_spec(),
    DistSpec("wheel", "0.45.1", sdist=False),
    DistSpec("lib", "1.0"),
    DistSpec("pytest", "8.0.0"),
]
SETUP_PY = (
    'from setuptools import setup\nsetup(name="app", version="1.0", install_requires=["lib"])\n'
)


def test_setup_py_through_its_build_backend(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server(BACKEND)
    write(tmp_path / "setup.py", SETUP_PY)
    code, out = lock(tmp_path / "setup.py", server)
    assert code == 0
    assert lock_pins(out) == {"lib": "1.0"}
    assert f"# via app ({tmp_path / 'setup.py'})" in out.read_text()


def test_dynamic_dependencies_through_the_build_backend(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server(BACKEND)
    write(tmp_path / "setup.py", SETUP_PY)
    project = write(
        tmp_path / "pyproject.toml",
        """\
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta:__legacy__"

        [project]
        name = "app"
        version = "1.0"
        dynamic = ["dependencies"]

        [dependency-groups]
        test = ["pytest"]
        """,
    )
    code, out = lock(project, server, "--group", "test")
    assert code == 0
    assert lock_pins(out) == {"lib": "1.0", "pytest": "8.0.0"}


def test_a_build_backend_that_fails_names_the_project(
    tmp_path: Path, index_server: IndexServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    server = index_server(BACKEND)
    write(tmp_path / "setup.py", "raise SystemExit('no way')\n")
    code, out = lock(tmp_path / "setup.py", server)
    assert code == 1
    err = capsys.readouterr().err
    assert "setup.py: the build backend" in err and "no way" in err
    assert not out.exists()


def test_metadata_extras_are_split_from_their_markers() -> None:
    static = parse_pyproject(b'[project]\nname = "app"\ndynamic = ["dependencies"]\n', "p.toml")
    project = project_from_metadata(
        static,
        "app",
        [
            "lib",
            'pysocks ; python_version >= "3" and extra == "socks"',
            'app[socks] ; extra == "all"',
        ],
        ["socks", "all"],
    )
    assert [str(r.requirement) for r in project.dependencies] == ["lib"]
    socks = canonicalize_name("socks")
    assert [str(r.requirement) for r in project.extras[socks]] == ['pysocks; python_version >= "3"']
    every = select_requirements([project], ProjectSelection(all_extras=True))
    assert sorted(r.name for r in every) == ["lib", "pysocks", "pysocks"]


def test_an_extra_under_or_cannot_be_told() -> None:
    static = parse_pyproject(b'[project]\nname = "app"\ndynamic = ["dependencies"]\n', "p.toml")
    with pytest.raises(UsageError, match="cannot tell which extra"):
        project_from_metadata(static, "app", ['odd ; extra == "x" or os_name == "nt"'], ["x"])
