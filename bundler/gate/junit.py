"""The verify report as JUnit XML, the format CI servers read test results
in (Jenkins' junit step, GitLab's ``artifacts:reports:junit``, GitHub
test reporters).

One ``<testsuite>`` per target (and one for the checks of the whole
bundle), one ``<testcase>`` per check: a failed check carries a
``<failure>`` with its problems, a skipped one a ``<skipped>`` with the
reason.  The layout follows the Ant/Jenkins schema (junit-10.xsd).  The
same report always gives the same bytes: no timestamps, no host names.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from bundler.fsutil import write_output
from bundler.gate.report import FAILED, REALITY, SKIPPED, CheckResult, VerifyReport
from bundler.redact import redact_text

SUITES_NAME = "bundle verify"
_PIP = "pip "  # how a live install's details name its pip
BUNDLE_SUITE = "bundle"  # the checks that are not about one target
# A failure's message attribute: the problems' first lines, this long at most.
MESSAGE_LIMIT = 1000
# Characters XML 1.0 cannot carry (a pip log may hold terminal escapes).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_junit(report: VerifyReport) -> bytes:
    """The report as a UTF-8 JUnit XML document."""
    suites: dict[str, list[CheckResult]] = {}
    for r in report.results:
        suites.setdefault(r.target or BUNDLE_SUITE, []).append(r)
    # The schema gives <testsuites> no "skipped" count.
    totals = _counts(report.results, name=SUITES_NAME)
    del totals["skipped"]
    root = ET.Element("testsuites", totals)
    for name, results in suites.items():
        suite = ET.SubElement(root, "testsuite", _counts(results, name=name))
        for r in results:
            case = ET.SubElement(suite, "testcase", {"classname": name, "name": check_name(r)})
            if r.status == FAILED:
                failure = ET.SubElement(case, "failure", {"message": _message(r), "type": r.check})
                failure.text = _clean("\n\n".join(str(p) for p in r.problems) or r.details)
            elif r.status == SKIPPED:
                ET.SubElement(case, "skipped", {"message": _clean(r.details)})
            if r.details or (r.problems and r.status != FAILED):
                out = ET.SubElement(case, "system-out")
                out.text = _clean("\n".join([r.details, *(str(p) for p in r.problems)]).strip())
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def check_name(result: CheckResult) -> str:
    """The check's name, with the pip that ran it for a live install (one
    row per pip: ``reality (pip 24.0 (a fresh venv's own))``), as the
    report's details begin."""
    first = result.details.split("; ", 1)[0]
    if result.check == REALITY and first.startswith(_PIP):
        return f"{result.check} ({first})"
    return result.check


def write_junit(report: VerifyReport, path: Path) -> None:
    """Write the report's JUnit XML to ``path`` (see ``write_output``)."""
    write_output(path, render_junit(report))


def _counts(results: list[CheckResult] | tuple[CheckResult, ...], *, name: str) -> dict[str, str]:
    return {
        "name": name,
        "tests": str(len(results)),
        "failures": str(sum(r.status == FAILED for r in results)),
        "errors": "0",
        "skipped": str(sum(r.status == SKIPPED for r in results)),
    }


def _message(result: CheckResult) -> str:
    """The problems' first lines, joined: what a CI page shows first."""
    firsts = [str(p).split("\n", 1)[0] for p in result.problems] or [result.details]
    text = "; ".join(firsts)
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    return _clean(text)


def _clean(text: str) -> str:
    """Credentials masked, characters XML cannot hold replaced."""
    return _NOT_XML.sub("\ufffd", redact_text(text))


__all__ = ["check_name", "render_junit", "write_junit"]
