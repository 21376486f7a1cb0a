"""Under GitHub Actions: ``::error`` workflow commands on stdout and a
Markdown summary appended to ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundler.cli.ghactions import (
    error_command,
    escape_data,
    escape_property,
    verify_annotations,
    verify_summary,
)
from bundler.cli.main import run
from bundler.gate.report import CheckResult, Problem, VerifyReport
from tests.support import DistSpec, IndexServerFactory

TARGET = "cp312-manylinux_2_17_x86_64"


def test_escaping_follows_githubs_rules() -> None:
    assert escape_data("100% done\r\nnext: a, b") == "100%25 done%0D%0Anext: a, b"
    assert escape_property("C:\\x,y\n%") == "C%3A\\x%2Cy%0A%25"
    assert error_command("m", file="a:b,c.in", line=3, title="t: x") == (
        "::error file=a%3Ab%2Cc.in,line=3,title=t%3A x::m"
    )
    assert error_command("only a message") == "::error::only a message"


REPORT = VerifyReport(
    (
        CheckResult(
            "integrity",
            None,
            "failed",
            (
                Problem("integrity", "requirements.txt", "line 7: webapp==1.0 has no hash"),
                Problem("integrity", "files/x.whl", "missing"),
            ),
        ),
        CheckResult(
            "closure",
            TARGET,
            "failed",
            (Problem("closure", "helper", "missing | needed by <webapp>\npip said", TARGET),),
        ),
        CheckResult("reality", TARGET, "skipped", details="no interpreter"),
    )
)


def test_verify_annotations_point_at_lock_lines() -> None:
    assert verify_annotations(REPORT, "pypi/requirements.txt", {"helper": 12}) == [
        "::error file=pypi/requirements.txt,line=7,title=bundle verify%3A integrity::"
        "requirements.txt: line 7: webapp==1.0 has no hash",
        "::error title=bundle verify%3A integrity::files/x.whl: missing",
        f"::error file=pypi/requirements.txt,line=12,title=bundle verify%3A closure ({TARGET})::"
        "helper: missing | needed by <webapp>%0Apip said",
    ]


def test_verify_summary_is_a_table_of_targets_by_checks() -> None:
    assert verify_summary(REPORT, "pypi") == (
        "## bundle verify `pypi`: ❌ FAIL\n"
        "\n"
        "| target | integrity | closure | reality |\n"
        "| --- | --- | --- | --- |\n"
        "| (all targets) | ❌ failed |  |  |\n"
        f"| {TARGET} |  | ❌ failed | ⏭️ skipped |\n"
        "\n"
        "### Problems\n"
        "\n"
        "- **integrity** `requirements.txt`: line 7: webapp==1.0 has no hash\n"
        "- **integrity** `files/x.whl`: missing\n"
        f"- **closure** ({TARGET}) `helper`: missing \\| needed by &lt;webapp&gt;\n"
        "  <pre>pip said</pre>\n"
        "\n"
    )


@pytest.fixture
def actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return summary


def test_lock_check_annotates_the_requirements_line(
    tmp_path: Path,
    index_server: IndexServerFactory,
    actions: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = str(index_server([DistSpec("webapp", "1.0"), DistSpec("helper", "1.0")]).url)
    req = tmp_path / "requirements.in"
    req.write_text("webapp\n")
    lock = tmp_path / "requirements.txt"
    assert run(["lock", str(req), "-o", str(lock), "-i", url, "-q"]) == 0
    capsys.readouterr()
    req.write_text("webapp\nhelper>=1\n")
    assert run(["lock", "--check", str(req), "-o", str(lock), "-i", url, "-q"]) == 1
    assert capsys.readouterr().out == (
        f"::error file={req},line=2,title=bundle lock --check::requirement added: helper>=1\n"
    )
    assert actions.read_text() == (
        "earlier step\n"
        f"## bundle lock --check: ❌ `{lock}` does not match its inputs\n"
        "\n"
        f"- `{req}:2`: requirement added: helper&gt;=1\n"
        "\n"
        f"Re-lock with `bundle lock {req} -o {lock} -i {url}`.\n"
        "\n"
    )


def test_verify_annotates_and_summarises_without_credentials(
    tmp_path: Path,
    index_server: IndexServerFactory,
    actions: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = index_server([DistSpec("webapp", "1.0")])
    url = str(server.url)
    req = tmp_path / "requirements.in"
    req.write_text("webapp\n")
    bundle = tmp_path / "pypi"
    assert run(["build", str(req), "-o", str(bundle), "-i", url, "-q", "--no-install"]) == 0
    capsys.readouterr()
    # A changed input line, spelled with credentials (they are never shown).
    req.write_text("webapp @ https://ci:s3cret@example.invalid/webapp-1.0-py3-none-any.whl\n")
    args = ["verify", str(bundle), "--no-install", "--check-inputs", str(req), "-q"]
    assert run(args) == 1
    out = capsys.readouterr().out
    assert out == (
        f"::error file={req},line=1,title=bundle verify%3A inputs::requirement changed:"
        " webapp in the lock, webapp @ https://example.invalid/webapp-1.0-py3-none-any.whl now\n"
    )
    summary = actions.read_text()
    assert summary.startswith(f"earlier step\n## bundle verify `{bundle}`: ❌ FAIL\n")
    assert "| inputs | integrity | closure | buildability |" in summary
    assert "s3cret" not in out + summary


def test_json_on_stdout_keeps_stdout_to_itself(
    tmp_path: Path,
    index_server: IndexServerFactory,
    actions: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = str(index_server([DistSpec("webapp", "1.0"), DistSpec("helper", "1.0")]).url)
    req = tmp_path / "requirements.in"
    req.write_text("webapp\n")
    lock = tmp_path / "requirements.txt"
    assert run(["lock", str(req), "-o", str(lock), "-i", url, "-q"]) == 0
    capsys.readouterr()
    req.write_text("helper\n")
    assert run(["lock", "--check", str(req), "-o", str(lock), "-i", url, "--json", "-"]) == 1
    assert json.loads(capsys.readouterr().out)["matches"] is False
    assert "requirement added: helper" in actions.read_text()  # the summary is still written
