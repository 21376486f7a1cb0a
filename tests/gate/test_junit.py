"""``bundle verify --junit``: the report as JUnit XML that CI servers load,
validated against the Jenkins/Ant schema (tests/schemas/junit-10.xsd)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from bundler.cli.main import run
from bundler.gate.junit import render_junit, write_junit
from bundler.gate.report import CheckResult, Problem, VerifyReport
from tests.support import DistSpec, IndexServerFactory

SCHEMA = xmlschema.XMLSchema(Path(__file__).parents[1] / "schemas" / "junit-10.xsd")

TARGET = "cp312-manylinux_2_17_x86_64"
REPORT = VerifyReport(
    (
        CheckResult("integrity", None, "passed", details="3 files, 1234 bytes"),
        CheckResult(
            "closure",
            TARGET,
            "failed",
            (
                Problem("closure", "helper", "missing: needed by webapp\nrebuild", TARGET),
                Problem("closure", "util", "1.0 locked, 2.0 resolved", TARGET),
            ),
        ),
        CheckResult("buildability", TARGET, "passed", details="no sdist to build"),
        CheckResult(
            "reality",
            TARGET,
            "skipped",
            details="no Python 3.12 interpreter for linux/x86_64 on this machine",
        ),
        CheckResult(
            "pip",
            TARGET,
            "differs",
            (Problem("pip", "requirements.txt", "pip would take 2.0", TARGET),),
            details="pip differs",
        ),
    )
)


def test_the_report_validates_against_the_junit_schema() -> None:
    SCHEMA.validate(render_junit(REPORT).decode("utf-8"))


def test_one_testcase_per_target_and_check() -> None:
    root = ET.fromstring(render_junit(REPORT))
    assert root.tag == "testsuites"
    assert root.attrib == {"name": "bundle verify", "tests": "5", "failures": "1", "errors": "0"}
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["bundle", TARGET]
    assert suites[1].attrib["failures"] == "1"
    assert suites[1].attrib["skipped"] == "1"
    cases = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
    assert cases == [
        ("bundle", "integrity"),
        (TARGET, "closure"),
        (TARGET, "buildability"),
        (TARGET, "reality"),
        (TARGET, "pip"),
    ]


def test_a_failure_carries_the_problems_and_a_skip_its_reason() -> None:
    root = ET.fromstring(render_junit(REPORT))
    closure = next(c for c in root.iter("testcase") if c.get("name") == "closure")
    failure = closure.find("failure")
    assert failure is not None
    assert failure.get("message") == (
        f"[{TARGET}] helper: missing: needed by webapp; [{TARGET}] util: 1.0 locked, 2.0 resolved"
    )
    assert failure.text == (
        f"[{TARGET}] helper: missing: needed by webapp\nrebuild\n\n"
        f"[{TARGET}] util: 1.0 locked, 2.0 resolved"
    )
    reality = next(c for c in root.iter("testcase") if c.get("name") == "reality")
    skipped = reality.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "no Python 3.12 interpreter for linux/x86_64 on this machine"
    # A differing pip view does not fail the gate: not a failure, but said.
    pip = next(c for c in root.iter("testcase") if c.get("name") == "pip")
    assert pip.find("failure") is None
    out = pip.find("system-out")
    assert out is not None and "pip would take 2.0" in (out.text or "")


def test_each_live_install_is_a_testcase_named_by_its_pip() -> None:
    rows = tuple(
        CheckResult(
            "reality",
            TARGET,
            "passed",
            details=f"pip {v} ({origin}); network: isolated; interpreter: cpython 3.12.1",
        )
        for v, origin in (("23.2.1", "a fresh venv's own"), ("25.1", "the newest"))
    )
    text = render_junit(VerifyReport(rows))
    SCHEMA.validate(text.decode("utf-8"))
    names = [c.get("name") for c in ET.fromstring(text).iter("testcase")]
    assert names == [
        "reality (pip 23.2.1 (a fresh venv's own))",
        "reality (pip 25.1 (the newest))",
    ]


def test_the_report_is_deterministic_and_written_atomically(tmp_path: Path) -> None:
    assert render_junit(REPORT) == render_junit(REPORT)
    path = tmp_path / "junit.xml"
    write_junit(REPORT, path)
    assert path.read_bytes() == render_junit(REPORT)
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"]  # no temp file left
    # Named through a symbolic link, the report lands at its target.
    link = tmp_path / "link.xml"
    link.symlink_to(path.name)
    path.unlink()
    write_junit(REPORT, link)
    assert link.is_symlink() and path.read_bytes() == render_junit(REPORT)


def test_control_characters_and_credentials_never_reach_the_file() -> None:
    report = VerifyReport(
        (
            CheckResult(
                "reality",
                TARGET,
                "failed",
                (
                    Problem(
                        "reality",
                        "requirements.txt",
                        "\x1b[31mERROR\x1b[0m from https://ci:s3cret@example.invalid/simple/",
                        TARGET,
                    ),
                ),
            ),
        )
    )
    text = render_junit(report).decode("utf-8")
    SCHEMA.validate(text)
    assert "s3cret" not in text
    assert "\x1b" not in text


@pytest.mark.slow
def test_verify_writes_junit_with_the_live_install(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    url = str(
        index_server(
            [DistSpec("webapp", "1.0", requires=("helper",)), DistSpec("helper", "1.0")]
        ).url
    )
    req = tmp_path / "requirements.in"
    req.write_text("webapp\n")
    bundle = tmp_path / "pypi"
    assert run(["build", str(req), "-o", str(bundle), "-i", url, "-q", "--no-install"]) == 0
    junit = tmp_path / "reports" / "verify.xml"
    junit.parent.mkdir()
    assert run(["verify", str(bundle), "--junit", str(junit), "-q"]) == 0
    SCHEMA.validate(str(junit))
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0"
    names = [c.get("name") for c in root.iter("testcase")]
    assert names[:3] == ["integrity", "closure", "buildability"]
    # One testcase per live install, named by the pip that ran it.
    live = [c for c in root.iter("testcase") if (c.get("name") or "").startswith("reality (pip ")]
    assert live
    assert len({c.get("name") for c in live}) == len(live)
    out = live[0].find("system-out")
    assert out is not None and "interpreter: cpython" in (out.text or "").lower()

    # A bundle that lost a project fails: the failure names it.
    (bundle / "files" / "helper-1.0-py3-none-any.whl").unlink()
    assert run(["verify", str(bundle), "--junit", str(junit), "--no-install", "-q"]) == 1
    SCHEMA.validate(str(junit))
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert failures and "helper-1.0-py3-none-any.whl" in (failures[0].get("message") or "")


def test_a_problem_names_a_file_that_is_not_utf8_by_its_bytes() -> None:
    name = os.fsdecode(b"files/x\xff.whl")  # as os.listdir gives it
    problem = Problem("integrity", name, f"{name}: unexpected", TARGET)
    assert problem.subject == "files/x\\xff.whl"
    assert problem.message == "files/x\\xff.whl: unexpected"
    assert CheckResult("integrity", None, "failed", details="\ud800").details == "\\ud800"
    assert Problem("integrity", "café", "ok").subject == "café"


@pytest.mark.slow
def test_verify_reports_a_file_whose_name_is_not_utf8(
    tmp_path: Path,
    index_server: IndexServerFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = str(index_server([DistSpec("webapp", "1.0")]).url)
    req = tmp_path / "requirements.in"
    req.write_text("webapp\n")
    bundle = tmp_path / "pypi"
    assert run(["build", str(req), "-o", str(bundle), "-i", url, "-q", "--no-install"]) == 0
    try:
        (bundle / "files" / os.fsdecode(b"x\xff.whl")).touch()
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit, report = tmp_path / "verify.xml", tmp_path / "verify.json"
    capsys.readouterr()
    code = run(
        ["verify", str(bundle), "--no-install", "--junit", str(junit), "--json", str(report)]
    )
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "internal error" not in captured.err
    assert "files/x\\xff.whl: unexpected" in captured.out + captured.err
    SCHEMA.validate(str(junit))
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert any("files/x\\xff.whl" in (f.get("message") or "") for f in failures)
    subjects = [
        p["subject"]
        for r in json.loads(report.read_text("utf-8"))["results"]
        for p in r["problems"]
    ]
    assert "files/x\\xff.whl" in subjects
    assert "files/x\\xff.whl" in summary.read_text("utf-8")
