"""docs/ci.md: every bundler command in its jobs is one the CLI accepts."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from bundler.cli.parser import build_parser

CI_DOC = Path(__file__).parents[2] / "docs" / "ci.md"
# "bundle ..." in YAML steps, "python -m bundler ..." in the Jenkinsfile's sh steps.
_COMMAND = re.compile(r"(?:^|run: |- |sh ')(?:bundle|python -m bundler) ([^']+)")


def commands() -> list[list[str]]:
    found: list[list[str]] = []
    for line in CI_DOC.read_text(encoding="utf-8").splitlines():
        match = _COMMAND.search(line.strip())
        if match:
            found.append(shlex.split(match.group(1)))
    return found


def _accepts(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    try:
        parser.parse_args(argv)
    except SystemExit:
        return False
    return True


def test_the_jobs_run_every_step() -> None:
    steps = {" ".join(c[:2]) for c in commands()}
    assert {
        "lock --check",
        "download requirements.txt",
        "verify pypi",
        "publish pypi",
        "verify --index-url",
    } <= steps


@pytest.mark.parametrize("argv", commands(), ids=" ".join)
def test_each_command_parses(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    if not _accepts(parser, argv):
        pytest.fail(f"bundle {shlex.join(argv)}: {capsys.readouterr().err}")
