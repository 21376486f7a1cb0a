"""The terminal: the reporter that draws progress, and what commands print."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bundler.fsutil import write_output
from bundler.redact import redact_text
from bundler.reporting import Reporter

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from bundler.gate.report import VerifyReport

__all__ = [
    "STDOUT",
    "UNBOUNDED_WIDTH",
    "ConsoleReporter",
    "escape",
    "print_annotations",
    "print_report",
    "scrub",
    "write_json",
]


STDOUT = "-"  # an output file name that means standard output


def scrub(text: str) -> str:
    """Last line of defence: no URL password ever reaches the terminal."""
    return redact_text(text)


# The width rich lays tables out in when not writing to a terminal: no
# line of a log is cut or wrapped.
UNBOUNDED_WIDTH = 1_000_000


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # replaced, or closed
        return False


def _stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (or ``FORCE_COLOR`` says to treat it as
    one, as rich does)."""
    if os.environ.get("FORCE_COLOR"):
        return True
    return _isatty(sys.stderr)


class ConsoleReporter(Reporter):
    """Draws rich progress on stderr (unless quiet).

    When stderr is not a terminal (a CI log, a pipe), progress bars could
    not be drawn anyway: everything (stages, messages, warnings, errors, the
    verify report, the server's log) is then written as plain lines, never
    wrapped nor cut, so that a name can be found with grep, and rich is not
    even loaded for them (about 30 ms of start-up, paid before the first
    download could begin).  Values printed through rich are escaped: to it,
    ``[socks]`` is markup."""

    def __init__(self, quiet: bool, console: Console | None = None, verbose: bool = False) -> None:
        self._console = console
        self.quiet = quiet
        self.verbose = verbose and not quiet
        self.plain = not _stderr_is_terminal()
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._overall: TaskID | None = None

    @property
    def console(self) -> Console:
        """The terminal (stderr), made when something is first printed: a
        quiet run that succeeds never loads rich."""
        if self._console is None:
            from rich.console import Console

            # FORCE_COLOR asks for colours, not for lines cut at 80 columns.
            unbounded = not _isatty(sys.stderr)
            self._console = Console(
                stderr=True,
                highlight=False,
                soft_wrap=unbounded,
                width=UNBOUNDED_WIDTH if unbounded else None,
            )
        return self._console

    def _ensure_progress(self) -> Progress:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        return self._progress

    def close(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
                self._tasks.clear()

    def _line(self, text: str) -> None:
        with self._lock:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def say(self, text: str, *, label: str = "", style: str = "") -> None:
        """Print ``label`` (in ``style`` on a terminal) then ``text``, as is:
        credentials redacted, never read as markup, one plain line in a log."""
        text = scrub(text)
        if self.plain:
            self._line(label + text)
        else:
            shown = f"[{style}]{escape(label)}[/{style}]" if style and label else escape(label)
            self.console.print(shown + escape(text), highlight=False)

    def stage(self, name: str) -> None:
        self.close()
        if self.quiet:
            return
        self.say("…", label=name, style="bold")

    def info(self, message: str) -> None:
        if self.quiet:
            return
        self.say(message)

    def detail(self, message: str) -> None:
        if self.verbose:
            self.say(message, label="  · ", style="dim")

    def warning(self, message: str) -> None:
        self.say(message, label="warning: ", style="yellow")

    def error(self, message: str, *, label: str = "error: ") -> None:
        """An error, printed even when quiet."""
        self.close()
        self.say(message, label=label, style="red")

    def retry(self, host: str, problem: str, delay: float, attempt: int, limit: int) -> None:
        if self.quiet:
            return
        from bundler.index.retries import CONNECT_PROBLEMS

        where = "to" if problem in CONNECT_PROBLEMS else "from"  # never reached, or answered
        self.say(
            f"retrying in {_seconds(delay)} s: {problem} {where} {host}"
            f" (attempt {attempt} of {limit})"
        )

    def task_start(self, key: str, description: str, total: int | None = None) -> None:
        if self.quiet or self.plain:
            return
        with self._lock:
            progress = self._ensure_progress()
            self._tasks[key] = progress.add_task(escape(scrub(description)), total=total)

    def task_advance(self, key: str, amount: int) -> None:
        if self.quiet or self.plain:
            return
        with self._lock:
            task = self._tasks.get(key)
            if task is not None and self._progress is not None:
                self._progress.advance(task, amount)

    def task_done(self, key: str, ok: bool = True) -> None:
        if self.quiet or self.plain:
            return
        with self._lock:
            task = self._tasks.pop(key, None)
            if task is not None and self._progress is not None:
                self._progress.remove_task(task)


def _seconds(delay: float) -> str:
    """A wait as a person reads it: ``3``, ``0.4``, ``12``."""
    if delay >= 10:
        return f"{delay:.0f}"
    return f"{delay:.1f}".removesuffix(".0")


def escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_annotations(commands: Sequence[str]) -> None:
    """GitHub Actions reads workflow commands on stdout, one per line."""
    for command in commands:
        sys.stdout.write(scrub(command) + "\n")
    sys.stdout.flush()


def print_report(report: VerifyReport, reporter: ConsoleReporter) -> None:
    """The verify table (one line per check when not on a terminal), then
    one line per problem, then the verdict.  ``--quiet`` keeps only the
    problems and a failing verdict."""
    colours = {"passed": "green", "failed": "red", "skipped": "yellow", "differs": "yellow"}
    if reporter.quiet:
        pass
    elif reporter.plain:
        for r in report.results:
            details = f": {r.details}" if r.details else ""
            reporter.say(f"{r.status} {r.check} ({r.target or 'all targets'}){details}")
    else:
        from rich.table import Table

        table = Table(title="bundle verify")
        table.add_column("target")
        table.add_column("check")
        table.add_column("result")
        table.add_column("details")
        for r in report.results:
            table.add_row(
                escape(r.target or "(all)"),
                escape(r.check),
                f"[{colours.get(r.status, 'white')}]{escape(r.status)}[/]",
                escape(scrub(r.details)),
            )
        reporter.console.print(table)
    for r in report.results:
        for p in r.problems:
            where = f" [{p.target}]" if p.target else ""
            reporter.say(f"{r.check}{where}: {p.subject}: {p.message}", label="✗ ", style="red")
    if report.ok:
        if not reporter.quiet:
            reporter.say("", label="PASS", style="green")
    else:
        reporter.say("", label="FAIL", style="red")


def write_json(dest: str, payload: dict[str, Any]) -> None:
    text = scrub(json.dumps(payload, indent=2, sort_keys=True)) + "\n"
    if dest == STDOUT:
        sys.stdout.write(text)
    else:
        write_output(Path(dest), text)
