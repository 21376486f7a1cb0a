"""The command line's own rules: options are spelled out in full, and
``lock``'s output and upgrade options behave as pip-compile's do."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bundler.cli.main import run
from bundler.cli.parser import build_parser
from bundler.spec.lockfile import parse_hashed_requirements
from tests.support import DistSpec, IndexServer, IndexServerFactory, build_wheel
from tests.support.bundles import lock_pins


def subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.extend(action.choices.values())
    return found


def test_every_parser_refuses_abbreviations() -> None:
    parser = build_parser()
    commands = subparsers(parser)
    assert {"lock", "download", "verify", "build", "add", "serve"} <= {
        p.prog.split()[-1] for p in commands
    }
    assert not parser.allow_abbrev
    assert all(not p.allow_abbrev for p in commands)


@pytest.mark.parametrize(
    "option", [["--extra-index", "http://127.0.0.1:9/simple/"], ["--all-extra"]]
)
def test_an_abbreviated_option_is_a_usage_error(
    tmp_path: Path, option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("alpha\n", encoding="utf-8")
    with pytest.raises(SystemExit) as caught:
        run(["lock", str(req), *option, "--offline"])
    assert caught.value.code == 2
    assert f"unrecognized arguments: {option[0]}" in capsys.readouterr().err
    assert not (tmp_path / "requirements.txt").exists()


@pytest.mark.parametrize("command", [["verify", "."], ["lock", "r.in"], ["serve", "."]])
def test_an_unknown_option_is_reported_with_the_commands_usage(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        run([*command, "--bogus"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: bundle {command[0]} ")
    assert f"bundle {command[0]}: error: unrecognized arguments: --bogus" in err


def test_an_unknown_option_before_any_command_keeps_the_top_level_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        run(["--bogus"])
    assert caught.value.code == 2
    assert "bundle: error: unrecognized arguments: --bogus" in capsys.readouterr().err


def test_verify_of_a_file_says_it_is_not_a_bundle_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0::/root:/bin/sh\n", encoding="utf-8")
    assert run(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path} is a file, not a bundle directory" in " ".join(err.split())
    assert "no such directory" not in err


# --- -P / --upgrade-package ----------------------------------------------------------

UPGRADES = [
    DistSpec("app", "1.0", requires=("lib",)),
    DistSpec("lib", "1.0"),
    DistSpec("lib", "2.0"),
    DistSpec("lib", "3.0"),
    DistSpec("other", "1.0"),
]


@pytest.fixture
def upgrades(index_server: IndexServerFactory, tmp_path: Path) -> tuple[IndexServer, list[str]]:
    """An index and the ``bundle lock`` command for ``app`` and ``other``."""
    server = index_server(UPGRADES)
    req = tmp_path / "requirements.in"
    req.write_text("app\nother\n", encoding="utf-8")
    out = tmp_path / "requirements.txt"
    return server, ["lock", str(req), "-o", str(out), "-i", server.url, "-q"]


def test_upgrade_package_moves_to_exactly_the_version_given(
    upgrades: tuple[IndexServer, list[str]], tmp_path: Path
) -> None:
    server, lock = upgrades
    out = tmp_path / "requirements.txt"
    assert run(lock) == 0
    assert lock_pins(out)["lib"] == "3.0"
    build_wheel(DistSpec("other", "2.0"), "py3-none-any", server.files_dir)
    assert run([*lock, "-P", "lib==1.0"]) == 0  # down, as pip-compile does
    assert lock_pins(out) == {"app": "1.0", "lib": "1.0", "other": "1.0"}
    assert run([*lock, "--upgrade-package", "lib==2.0"]) == 0  # up
    assert lock_pins(out) == {"app": "1.0", "lib": "2.0", "other": "1.0"}
    assert run(lock) == 0  # the pin is kept from then on
    assert lock_pins(out)["lib"] == "2.0"
    assert run([*lock, "-P", "lib<3"]) == 0  # any specifier
    assert lock_pins(out)["lib"] == "2.0"


def test_upgrade_package_to_a_version_that_does_not_exist_fails(
    upgrades: tuple[IndexServer, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lock = upgrades
    assert run([*lock, "-P", "lib==9.0"]) == 1
    # The constraint is named by where it came from: the command line.
    assert "constraint: lib==9.0 (--upgrade-package lib==9.0)" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nosuch", "nosuch==1.0", "NoSuch"])
def test_upgrade_package_unknown_to_the_requirements_and_the_lock_warns(
    upgrades: tuple[IndexServer, list[str]],
    tmp_path: Path,
    value: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, lock = upgrades
    out = tmp_path / "requirements.txt"
    assert run(lock) == 0
    before = out.read_text()
    capsys.readouterr()
    assert run([*lock, "-P", value]) == 0
    err = capsys.readouterr().err
    assert (
        f"warning: --upgrade-package nosuch: not in the requirements or in {out};"
        " nothing to upgrade"
    ) in err
    assert out.read_text() == before


def test_upgrade_package_of_a_pinned_project_does_not_warn(
    upgrades: tuple[IndexServer, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, lock = upgrades
    assert run(lock) == 0
    capsys.readouterr()
    assert run([*lock, "-P", "lib", "-P", "Other"]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("value", ["lib>>1", "lib @ https://example.invalid/lib-1.0.tar.gz"])
def test_upgrade_package_that_is_not_a_requirement_is_a_usage_error(
    upgrades: tuple[IndexServer, list[str]], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lock = upgrades
    assert run([*lock, "-P", value]) == 2
    assert f"--upgrade-package {value!r}" in capsys.readouterr().err


# --- -o: where the lock goes ---------------------------------------------------------


def test_output_dash_writes_the_lock_to_stdout_and_nothing_else(
    upgrades: tuple[IndexServer, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = upgrades
    monkeypatch.chdir(tmp_path)
    req = tmp_path / "requirements.in"
    assert run(["lock", str(req), "-o", "-", "-i", server.url]) == 0  # not quiet
    captured = capsys.readouterr()
    assert "wrote the lock to stdout" in captured.err
    parsed = parse_hashed_requirements(captured.out, "<stdout>")
    assert {p.name: str(p.version) for p in parsed.pins} == {
        "app": "1.0",
        "lib": "3.0",
        "other": "1.0",
    }
    assert all(p.hashes for p in parsed.pins)
    assert captured.out.startswith("#")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requirements.in"]
    # The same lock as written to a file, but for the header's "-o".
    assert run(["lock", str(req), "-o", "out.txt", "-i", server.url, "-q"]) == 0
    assert (tmp_path / "out.txt").read_text().replace("-o out.txt", "-o -") == captured.out


def test_output_dash_and_json_dash_cannot_share_stdout(tmp_path: Path) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("alpha\n", encoding="utf-8")
    assert run(["lock", str(req), "-o", "-", "--json", "-", "--offline", "-q"]) == 2


@pytest.mark.parametrize("name", ["lock.toml", "requirements.toml", "pylock.a.b.toml"])
def test_a_toml_output_that_is_not_a_pylock_name_is_a_usage_error(
    upgrades: tuple[IndexServer, list[str]],
    tmp_path: Path,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = upgrades
    monkeypatch.chdir(tmp_path)
    assert run(["lock", "requirements.in", "-o", name, "-i", server.url, "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{name}: a TOML lock must be named pylock.toml or pylock.<name>.toml (PEP 751)" in err
    assert not (tmp_path / name).exists()
    assert server.log == []  # refused before any work


@pytest.mark.parametrize("name", ["pylock.toml", "pylock.dev.toml"])
def test_a_pylock_name_writes_pep_751(
    upgrades: tuple[IndexServer, list[str]], tmp_path: Path, name: str
) -> None:
    server, _ = upgrades
    out = tmp_path / name
    assert run(["lock", str(tmp_path / "requirements.in"), "-o", str(out), "-i", server.url]) == 0
    assert '\nlock-version = "1.0"\n' in out.read_text()


# --- pip-compile's input and output options -------------------------------------------

LAYOUT = [
    DistSpec("app", "1.0", requires=("lib",)),
    DistSpec("tool", "1.0", requires=("lib",)),
    DistSpec("lib", "1.0"),
    DistSpec("lib", "2.0"),
]


@pytest.fixture
def layout(index_server: IndexServerFactory, tmp_path: Path) -> list[str]:
    """The ``bundle lock`` command for ``app`` and ``tool`` (both need lib)."""
    server = index_server(LAYOUT)
    req = tmp_path / "requirements.in"
    req.write_text("app\ntool\n", encoding="utf-8")
    return ["lock", str(req), "-i", server.url, "-q"]


def test_constraint_file_on_the_command_line(layout: list[str], tmp_path: Path) -> None:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("lib<2\n", encoding="utf-8")
    out = tmp_path / "requirements.txt"
    assert run([*layout, "-o", str(out), "-c", str(constraints)]) == 0
    assert lock_pins(out)["lib"] == "1.0"
    assert "-c constraints.txt" in out.read_text().split("\n\n", 1)[0]  # the header


def test_missing_constraint_file_is_a_usage_error(
    layout: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*layout, "-c", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt: no such constraints file" in capsys.readouterr().err
    assert not (tmp_path / "requirements.txt").exists()


def test_dry_run_prints_the_lock_and_writes_nothing(
    layout: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "requirements.txt"
    assert run([*layout, "-o", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "lib==2.0 \\" in printed and "--hash=sha256:" in printed
    assert not out.exists()
    # An existing lock is neither changed nor ignored: its pins are kept.
    assert run([*layout, "-o", str(out), "-c", str(_write(tmp_path / "c.txt", "lib<2\n"))]) == 0
    before = out.read_bytes()
    assert run([*layout, "-o", str(out), "--dry-run"]) == 0
    assert "lib==1.0 \\" in capsys.readouterr().out
    assert out.read_bytes() == before


def test_dry_run_of_a_pylock_prints_toml(
    layout: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*layout, "-o", str(tmp_path / "pylock.toml"), "--dry-run"]) == 0
    assert 'lock-version = "1.0"' in capsys.readouterr().out
    assert not (tmp_path / "pylock.toml").exists()


def test_no_header_and_no_annotate(layout: list[str], tmp_path: Path) -> None:
    out = tmp_path / "requirements.txt"
    assert run([*layout, "-o", str(out), "--no-header", "--no-annotate"]) == 0
    text = out.read_text()
    assert "autogenerated" not in text and "bundle lock" not in text
    assert "# via" not in text
    assert text.startswith("# targets: ")  # bundle download still reads the targets
    assert lock_pins(out) == {"app": "1.0", "lib": "2.0", "tool": "1.0"}


def test_annotation_styles(layout: list[str], tmp_path: Path) -> None:
    out = tmp_path / "requirements.txt"
    assert run([*layout, "-o", str(out)]) == 0
    assert "    # via\n    #   app\n    #   tool\n" in out.read_text()  # split, the default
    assert run([*layout, "-o", str(out), "--annotation-style", "line"]) == 0
    text = out.read_text()
    assert "    # via app, tool\n" in text
    assert "--annotation-style line" in text.split("\n\n", 1)[0]
    # pip-compile reads either style back.
    pins = parse_hashed_requirements(text, str(out)).pins
    assert [p.via for p in pins if p.name == "lib"] == [("app", "tool")]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_requirements_from_stdin(layout: list[str], tmp_path: Path) -> None:
    """``-`` reads the requirements from stdin; a relative path in them is
    relative to the working directory, and the lock says ``-r -``."""
    server_url = layout[layout.index("-i") + 1]
    (tmp_path / "extra.in").write_text("tool\n", encoding="utf-8")
    command = [sys.executable, "-m", "bundler", "lock", "-", "-i", server_url, "-q"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.run(
        [*command, "-o", "out.txt"],
        input=b"app\n-r extra.in\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    text = (tmp_path / "out.txt").read_text()
    assert lock_pins(tmp_path / "out.txt") == {"app": "1.0", "lib": "2.0", "tool": "1.0"}
    assert "    # via -r -\n" in text
    assert "bundle lock -o out.txt -\n" in text
    # pip-compile: "--output-file is required if input is from stdin".
    proc = subprocess.run(
        command,
        input=b"app\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert b"-o is required when the requirements come from stdin" in proc.stderr
    assert not (tmp_path / "requirements.txt").exists()


def test_verbose_says_what_is_fetched_and_why(
    layout: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = [arg for arg in layout if arg != "-q"]
    assert run([*lock, "-o", str(tmp_path / "out.txt"), "-v"]) == 0
    err = capsys.readouterr().err
    server_url = layout[layout.index("-i") + 1]
    assert ": app, required by the input" in err
    assert ": lib, required by app==1.0" in err
    assert f"page of lib: {server_url}lib/ (" in err and " bytes)" in err
    assert "metadata of lib-2.0-py3-none-any.whl (from " in err
    assert "the PEP 658 .metadata file" in err
    assert ": pinned lib==2.0" in err
    assert run([*lock, "-o", str(tmp_path / "plain.txt")]) == 0
    assert "required by" not in capsys.readouterr().err
    # A warm run says where its answers came from.
    assert run([*lock, "-o", str(tmp_path / "out.txt"), "-v"]) == 0
    err = capsys.readouterr().err
    assert f"page of lib: {server_url}lib/ (from the cache)" in err
    assert "lib-2.0-py3-none-any.whl (from " in err and "): from the cache" in err
