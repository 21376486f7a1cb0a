"""GitHub Actions: workflow commands (``::error file=…,line=…::``) for
problems that can be located, and a Markdown summary for the job's page.

The renderers are pure (data in, text out); the CLI prints the commands on
stdout and appends the summary to the file ``$GITHUB_STEP_SUMMARY`` names.
Every text passes through the CLI's credential scrubbing before it is
written.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from bundler.gate.junit import check_name
from bundler.gate.report import FAILED, PASSED, SKIPPED, Problem, VerifyReport
from bundler.lock.check import Difference

# GitHub sets both on its runners.
ACTIONS_ENV = "GITHUB_ACTIONS"
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

CHECK_TITLE = "bundle lock --check"
VERIFY_TITLE = "bundle verify"
_ALL_TARGETS = "(all targets)"
_MARKS = {PASSED: "✅ passed", FAILED: "❌ failed", SKIPPED: "⏭️ skipped"}


def enabled(environ: Mapping[str, str]) -> bool:
    """Whether this runs as a GitHub Actions step."""
    return environ.get(ACTIONS_ENV) == "true"


# GitHub's workflow-command escaping (@actions/core, command.ts).
def escape_data(text: str) -> str:
    """A command's message: ``%``, CR and LF escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value: as a message, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def error_command(
    message: str, *, file: str | None = None, line: int | None = None, title: str | None = None
) -> str:
    """``::error file=F,line=N,title=T::message`` (properties only when given)."""
    props: list[str] = []
    if file is not None:
        props.append(f"file={escape_property(file)}")
        if line is not None:
            props.append(f"line={line}")
    if title is not None:
        props.append(f"title={escape_property(title)}")
    head = f"::error {','.join(props)}" if props else "::error"
    return f"{head}::{escape_data(message)}"


# --- lock --check ----------------------------------------------------------------------


def check_annotations(differences: Iterable[Difference]) -> list[str]:
    """One error command per difference, on its file and line when it has them."""
    return [
        error_command(d.message, file=d.path, line=d.line, title=CHECK_TITLE) for d in differences
    ]


def check_summary(differences: Sequence[Difference], lock: str, command: str) -> str:
    """Markdown: whether ``lock`` matches its inputs, and each difference."""
    if not differences:
        return f"## {CHECK_TITLE}: ✅ `{_code(lock)}` matches its inputs\n\n"
    lines = [f"## {CHECK_TITLE}: ❌ `{_code(lock)}` does not match its inputs", ""]
    for d in differences:
        where = f"`{_code(_where(d.path, d.line))}`: " if d.path else ""
        lines.append(f"- {where}{_text(d.message)}")
    lines += ["", f"Re-lock with `{_code(command)}`.", "", ""]
    return "\n".join(lines)


# --- verify -----------------------------------------------------------------------------


def locate(
    problem: Problem, lock_path: str, pin_lines: Mapping[str, int]
) -> tuple[str, int] | None:
    """The file and line a problem is about, when it has one: a subject
    that is ``path:line`` (an input file), a ``line N:`` of the bundle's
    lock, or a package pinned in it (``pin_lines``: name -> line)."""
    path, _, tail = problem.subject.rpartition(":")
    if path and tail.isdigit():
        return path, int(tail)
    if problem.subject == Path(lock_path).name and problem.message.startswith("line "):
        number = problem.message[len("line ") :].split(":", 1)[0]
        if number.isdigit():
            return lock_path, int(number)
    if problem.subject in pin_lines:
        return lock_path, pin_lines[problem.subject]
    return None


def verify_annotations(
    report: VerifyReport, lock_path: str, pin_lines: Mapping[str, int]
) -> list[str]:
    """One error command per problem of the report, on its file and line
    when it has them (see :func:`locate`)."""
    out: list[str] = []
    for p in report.problems:
        title = f"{VERIFY_TITLE}: {p.check}" + (f" ({p.target})" if p.target else "")
        found = locate(p, lock_path, pin_lines)
        if found is None:
            out.append(error_command(f"{p.subject}: {p.message}", title=title))
            continue
        file, line = found
        # The subject is the location itself when it names a line of a file.
        message = p.message if p.subject == f"{file}:{line}" else f"{p.subject}: {p.message}"
        out.append(error_command(message, file=file, line=line, title=title))
    return out


def verify_summary(report: VerifyReport, bundle: str) -> str:
    """Markdown: a table of targets by checks, then every problem."""
    checks = list(dict.fromkeys(check_name(r) for r in report.results))
    targets = list(dict.fromkeys(r.target or _ALL_TARGETS for r in report.results))
    cells = {(r.target or _ALL_TARGETS, check_name(r)): r.status for r in report.results}
    verdict = "✅ PASS" if report.ok else "❌ FAIL"
    lines = [f"## {VERIFY_TITLE} `{_code(bundle)}`: {verdict}", ""]
    lines.append("| target | " + " | ".join(_text(c) for c in checks) + " |")
    lines.append("| --- " * (len(checks) + 1) + "|")
    for t in targets:
        row = [_MARKS.get(cells.get((t, c), ""), _text(cells.get((t, c), ""))) for c in checks]
        lines.append(f"| {_text(t)} | " + " | ".join(row) + " |")
    problems = report.problems
    if problems:
        lines += ["", "### Problems", ""]
        for p in problems:
            where = f" ({_text(p.target)})" if p.target else ""
            first, _, rest = p.message.partition("\n")
            lines.append(f"- **{_text(p.check)}**{where} `{_code(p.subject)}`: {_text(first)}")
            if rest:
                lines.append(f"  <pre>{html.escape(rest)}</pre>")
    lines += ["", ""]
    return "\n".join(lines)


def append_summary(path: Path, text: str) -> None:
    """Append ``text`` to the job summary file (GitHub renders it once the
    step ends)."""
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def _where(path: str | None, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


def _text(text: str) -> str:
    """Plain text in Markdown (a table cell or a list item): no HTML, no
    cell breaks, one line."""
    return html.escape(" ".join(text.split())).replace("|", "\\|")


def _code(text: str) -> str:
    """Text inside a Markdown code span: no backticks to end it early."""
    return " ".join(text.split()).replace("`", "'")


__all__ = [
    "ACTIONS_ENV",
    "SUMMARY_ENV",
    "append_summary",
    "check_annotations",
    "check_summary",
    "enabled",
    "error_command",
    "escape_data",
    "escape_property",
    "locate",
    "verify_annotations",
    "verify_summary",
]
