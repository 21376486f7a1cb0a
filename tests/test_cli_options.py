"""The command line's own rules: options are spelled out in full, and
``lock``'s output and upgrade options behave as pip-compile's do."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bundler.cli import build_parser, run


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
    "option", [["--extra-index", "http://127.0.0.1:9/simple/"], ["--extra", "socks"]]
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
