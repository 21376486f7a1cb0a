"""The gate's report: every check's result, and the problems each found.

Each check returns a ``CheckResult`` holding every problem it found (never
only the first); a ``VerifyReport`` is the list of results, in the order the
checks ran, and renders as JSON the same way every time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

__all__ = [
    "BUILDABILITY",
    "CLOSURE",
    "DIFFERS",
    "FAILED",
    "INPUTS",
    "INTEGRITY",
    "PASSED",
    "PIP_VIEW",
    "REALITY",
    "SKIPPED",
    "CheckResult",
    "Problem",
    "VerifyReport",
    "printable",
    "report_to_json",
    "result_from",
    "verb_for",
]

# The checks, as the report names them.
INTEGRITY = "integrity"
CLOSURE = "closure"
BUILDABILITY = "buildability"
REALITY = "reality"
PIP_VIEW = "pip"  # pip's dry-run view of a target no interpreter here runs
INPUTS = "inputs"  # verify --check-inputs

# A check's status; DIFFERS (pip's view only) warns without failing the gate.
PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
DIFFERS = "differs"


@overload
def printable(text: str) -> str: ...
@overload
def printable(text: None) -> None: ...
def printable(text: str | None) -> str | None:
    """``text`` with what UTF-8 cannot carry escaped: a file name that is
    not UTF-8 (``os.fsdecode`` gives its bytes as lone surrogates) shows
    its bytes as ``\\xff``, another lone surrogate as ``\\udcxx``.  Every
    report (console, JSON, JUnit, GitHub) is UTF-8 text."""
    if text is None or text.isascii():
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle, and what to do about it."""

    check: str  # "integrity" | "closure" | "buildability" | "reality"
    subject: str  # the file or package at fault, e.g. "files/six-1.16.0-py2.py3-none-any.whl"
    message: str
    target: str | None = None

    def __post_init__(self) -> None:
        for name in ("subject", "message", "target"):
            object.__setattr__(self, name, printable(getattr(self, name)))

    def __str__(self) -> str:
        where = f"[{self.target}] " if self.target else ""
        return f"{where}{self.subject}: {self.message}"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check (for one target, when it depends on one)."""

    check: str
    target: str | None
    status: str  # "passed" | "failed" | "skipped"
    problems: tuple[Problem, ...] = ()
    details: str = ""  # e.g. "network: isolated (network namespace)", or a skip reason

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", printable(self.target))
        object.__setattr__(self, "details", printable(self.details))

    @property
    def failed(self) -> bool:
        return self.status == FAILED


@dataclass(frozen=True)
class VerifyReport:
    """Every check's result, in the order the checks ran."""

    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when no check failed (skipped checks do not fail the gate)."""
        return not any(r.failed for r in self.results)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for r in self.results for p in r.problems)

    def extended(self, *results: CheckResult) -> VerifyReport:
        """A report with ``results`` appended."""
        return VerifyReport((*self.results, *results))


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"check": p.check, "subject": p.subject, "message": p.message, "target": p.target}


def report_to_json(report: VerifyReport) -> bytes:
    """The report as JSON bytes; the same report always gives the same bytes."""
    doc = {
        "ok": report.ok,
        "results": [
            {
                "check": r.check,
                "target": r.target,
                "status": r.status,
                "details": r.details,
                "problems": [_problem_json(p) for p in r.problems],
            }
            for r in report.results
        ],
    }
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def result_from(
    check: str, target: str | None, problems: Iterable[Problem], details: str = ""
) -> CheckResult:
    """The result of ``check``: failed when it found problems (each once,
    sorted by subject and message), else passed."""
    found = tuple(sorted(set(problems), key=lambda p: (p.subject, p.message)))
    return CheckResult(check, target, FAILED if found else PASSED, found, details)


def verb_for(subjects: Sequence[str], one: str, many: str) -> str:
    """``one`` for a single subject, else ``many`` ("serves" / "serve")."""
    return one if len(subjects) == 1 else many
