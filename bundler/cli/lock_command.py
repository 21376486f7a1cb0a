"""``bundle lock`` and ``bundle lock --check``."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bundler import api as app
from bundler.cli.console import (
    STDOUT,
    ConsoleReporter,
    print_annotations,
    scrub,
)
from bundler.cli.options import replace_options
from bundler.cli.settings import (
    lock_options,
    lock_sources,
    make_client,
    project_selection,
    targets_of,
)
from bundler.errors import BundlerError, UsageError
from bundler.lock.files import (
    LockLayout,
    check_lock,
    check_lock_name,
    is_pylock,
    lock_command_line,
    read_lock_file,
    render_lock,
    write_lock,
)
from bundler.lock.inputs import STDIN, LockOptions, lock_inputs, prepare_projects, read_requirements
from bundler.models import IndexSettings, Lock, LockInput
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.lockfile import SPLIT
from bundler.spec.target import Target

if TYPE_CHECKING:
    from bundler.lock.check import Difference, InputRecord, Inputs

__all__ = ["do_lock", "warn_yanked"]


def do_lock(args: argparse.Namespace, reporter: ConsoleReporter, out: dict[str, Any]) -> int:
    # pip-compile's "-o -": the lock (requirements format) on stdout, alone;
    # --dry-run prints it there too, and writes nothing.
    to_stdout = str(args.output_file) == STDOUT or args.dry_run
    if to_stdout and args.json == STDOUT:
        raise UsageError(
            "the lock (-o - or --dry-run) and --json - would both write to stdout",
            hint="give --json a file",
        )
    stdin = _read_stdin(args.requirements)
    output = _output_path(args, stdin)
    selection = project_selection(args)
    reqs = read_requirements(args.requirements, selection, args.constraint, stdin)
    indexes, origins = lock_sources(args, reqs)
    if str(output) != STDOUT and output.resolve() in {
        p.resolve() for p in (*args.requirements, *args.constraint)
    }:
        raise UsageError(
            f"{output}: the output file would overwrite an input", hint="pass -o LOCKFILE"
        )
    client = make_client(args, reporter)
    # A project's build backend tells its dependencies before anything
    # compares or resolves them.
    reqs = prepare_projects(reqs, selection, indexes, client, reporter, args.workers)
    targets = targets_of(args)
    options = lock_options(args, reqs)
    inputs = lock_inputs(reqs, targets, indexes, options)
    if args.check:
        return _check_lock(
            args, reporter, out, output, inputs, reqs, targets, indexes, options, origins
        )
    existing = _existing_pins(args, output, reporter)
    result = app.lock(reqs, targets, indexes, options, client, reporter, existing, args.workers)
    warn_yanked(result, reporter)
    command = lock_command_line(args.requirements, _lock_args_for_header(args))
    layout = _lock_layout(args)
    if to_stdout:
        pylock = args.dry_run and is_pylock(output)
        sys.stdout.write(
            render_lock(
                result, command, pylock=pylock, origins=origins, inputs=inputs.record, layout=layout
            )
        )
        sys.stdout.flush()
    else:
        write_lock(result, output, command, origins, inputs.record, layout)
    _report_written(args, result, output, to_stdout, reporter, out)
    return 0


def _output_path(args: argparse.Namespace, stdin: str | None) -> Path:
    """The lock file to write (``-``: stdout), its name checked."""
    if stdin is not None and args.output_file is None:
        # pip-compile: "--output-file is required if input is from stdin".
        raise UsageError(
            "-o is required when the requirements come from stdin",
            hint="... | bundle lock - -o requirements.txt (or -o - for stdout)",
        )
    output: Path = args.output_file or args.requirements[0].with_name("requirements.txt")
    if str(output) != STDOUT:
        check_lock_name(output)
    return output


def _existing_pins(args: argparse.Namespace, output: Path, reporter: Reporter) -> LockInput | None:
    """The lock already at ``output``, whose pins a re-lock keeps
    (pip-compile keeps them, in a dry run too), unless ``--upgrade``."""
    if str(output) == STDOUT or not output.is_file() or args.upgrade:
        return None
    try:
        return read_lock_file(output)
    except BundlerError as err:
        reporter.warning(f"ignoring the pins of {output}: {err.message}")
        return None


def _report_written(
    args: argparse.Namespace,
    result: Lock,
    output: Path,
    to_stdout: bool,
    reporter: Reporter,
    out: dict[str, Any],
) -> None:
    where = "the lock to stdout" if to_stdout else str(output)
    if args.dry_run:
        where += f" (dry run: {output} not written)"
    reporter.info(f"wrote {where}: {len(result.packages)} packages for {', '.join(result.targets)}")
    out.update(
        output=STDOUT if to_stdout else str(output),
        targets=list(result.targets),
        packages=[
            {"name": p.name, "version": str(p.version), "marker": p.marker} for p in result.packages
        ],
    )


def _lock_layout(args: argparse.Namespace) -> LockLayout:
    return LockLayout(
        header=not args.no_header,
        annotate=not args.no_annotate,
        annotation_style=args.annotation_style,
    )


def _check_lock(
    args: argparse.Namespace,
    reporter: ConsoleReporter,
    out: dict[str, Any],
    output: Path,
    inputs: Inputs,
    reqs: Any,
    targets: list[Target],
    indexes: IndexSettings,
    options: LockOptions,
    origins: dict[str, str],
) -> int:
    """``lock --check``: compare the lock with what ``bundle lock`` would
    write now, write nothing; exit 1 naming each difference."""
    if str(args.output_file) == STDOUT:
        raise UsageError(
            "--check compares a lock file: -o - names none", hint="-o requirements.txt"
        )

    def relock(existing: LockInput) -> Lock:
        reporter.info(f"resolving the inputs of {output} again to compare it")
        # The cache first (the lock's pins are preferred, so what was
        # fetched to make it usually suffices), the network when it does not.
        cached = make_client(replace_options(args, offline=True), reporter)
        try:
            return app.lock(reqs, targets, indexes, options, cached, NULL_REPORTER, existing)
        except BundlerError:
            if args.offline:
                raise
        client = make_client(args, reporter)
        return app.lock(reqs, targets, indexes, options, client, reporter, existing, args.workers)

    def render(fresh: Lock, record: InputRecord | None) -> str:
        command = lock_command_line(args.requirements, _lock_args_for_header(args))
        pylock = is_pylock(output)
        layout = _lock_layout(args)
        return render_lock(
            fresh, command, pylock=pylock, origins=origins, inputs=record, layout=layout
        )

    differences = check_lock(output, inputs, relock, render)
    out.update(
        lock=str(output),
        matches=not differences,
        differences=[{"message": d.message, "file": d.path, "line": d.line} for d in differences],
    )
    command = _relock_command(args, output)
    _ci_check_report(differences, output, command, annotate=args.json != STDOUT)
    if not differences:
        reporter.info(f"{output} matches its inputs")
        return 0
    reporter.error(f"{output} does not match its inputs:")
    for d in differences:
        reporter.say(f"  {d}")
    reporter.say(f"re-lock with: {command}", label="hint: ")
    return 1


def _lock_args_for_header(args: argparse.Namespace) -> list[str]:
    extra: list[str] = []
    if args.pre:
        extra.append("--pre")
    if args.output_file is not None:
        extra += ["-o", args.output_file.name]
    extra += _flags(args, names=lambda p: p.name)
    return extra


def _flags(args: argparse.Namespace, *, names: Any) -> list[str]:
    """The project, constraint, cut-off and layout options of ``bundle lock``
    as arguments, each file through ``names``."""
    extra = ["--all-extras"] if args.all_extras else [a for e in args.extra for a in ("--extra", e)]
    extra += [a for g in args.group for a in ("--group", g)]
    extra += [a for c in args.constraint for a in ("-c", str(names(c)))]
    if args.exclude_newer:
        extra += ["--exclude-newer", args.exclude_newer]
    if args.no_header:
        extra.append("--no-header")
    if args.no_annotate:
        extra.append("--no-annotate")
    elif args.annotation_style != SPLIT:
        extra += ["--annotation-style", args.annotation_style]
    return extra


def _relock_command(args: argparse.Namespace, output: Path) -> str:
    """The ``bundle lock`` command that rewrites the lock ``lock --check``
    compared: its every option that changes the lock (credentials redacted),
    each argument quoted for a POSIX shell."""
    from bundler.redact import redact_url

    parts = ["bundle", "lock", *(str(p) for p in args.requirements), "-o", str(output)]
    parts += _flags(args, names=str)
    for flag, on in (("--pre", args.pre), ("--no-build", args.no_build)):
        parts += [flag] if on else []
    parts += [a for n in args.only_binary for a in ("--only-binary", n)]
    parts += [a for n in args.no_binary for a in ("--no-binary", n)]
    parts += ["--prefer-binary"] if args.prefer_binary else []
    parts += [a for v in args.python_version for a in ("--python-version", v)]
    parts += [a for v in args.platform for a in ("--platform", v)]
    parts += ["-i", args.index_url] if args.index_url else []
    parts += [a for u in args.extra_index_url for a in ("--extra-index-url", u)]
    parts += [a for u in args.find_links for a in ("-f", u)]
    parts += ["--no-index"] if args.no_index else []
    parts += ["--index-strategy", args.index_strategy] if args.index_strategy else []
    parts += ["--config", str(args.config)] if args.config else []
    return shlex.join(redact_url(p) for p in parts)


def _ci_check_report(
    differences: Sequence[Difference], lock: Path, command: str, *, annotate: bool
) -> None:
    """Under GitHub Actions: an annotation per difference (on stdout, unless
    ``--json -`` has it), and a summary of the check."""
    from bundler.cli import ghactions

    if not ghactions.enabled(os.environ):
        return
    if annotate:
        print_annotations(ghactions.check_annotations(differences))
    summary = os.environ.get(ghactions.SUMMARY_ENV)
    if summary:
        text = ghactions.check_summary(differences, str(lock), command)
        ghactions.append_summary(Path(summary), scrub(text))


def _read_stdin(paths: Sequence[Path]) -> str | None:
    """The requirements on stdin when an input is ``-`` (read once), decoded
    as pip decodes a requirements file."""
    if not any(str(p) == STDIN for p in paths):
        return None
    from bundler.spec.reqfile import decode_requirements

    try:
        return decode_requirements(sys.stdin.buffer.read())
    except (UnicodeDecodeError, LookupError) as err:
        raise UsageError(f"stdin: cannot decode the requirements: {err}") from err


def warn_yanked(result: Lock, reporter: Reporter) -> None:
    """PEP 592: a yanked release is locked only when pinned exactly; say so,
    as pip does when it installs one."""
    for pkg in result.packages:
        yanked = [f for f in pkg.files if f.yanked is not None]
        if not yanked:
            continue
        reasons = sorted({f.yanked for f in yanked if f.yanked})
        why = f" (reason: {'; '.join(reasons)})" if reasons else " (no reason given)"
        reporter.warning(
            f"{pkg.name} {pkg.version} is yanked{why}: locked because it is pinned with =="
            f" (via {', '.join(pkg.via) or 'the input'})"
        )
