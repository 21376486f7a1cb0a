"""Lock files on disk: the format a name selects, rendering a Lock as
requirements or PEP 751 text, writing and reading them, and comparing a
lock with what ``bundle lock`` writes now (``--check``)."""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement

from bundler.errors import InputFileError, UsageError
from bundler.fsutil import write_output
from bundler.models import Lock, LockInput
from bundler.redact import redact_url
from bundler.spec.lockfile import SPLIT

if TYPE_CHECKING:
    from bundler.lock.check import Difference, InputRecord, Inputs
    from bundler.spec.pylock import FileLocation

__all__ = [
    "LockLayout",
    "check_lock",
    "check_lock_name",
    "is_pylock",
    "lock_command_line",
    "read_lock_file",
    "render_lock",
    "render_pylock_lock",
    "with_recorded_inputs",
    "write_lock",
]

# PEP 751 lock file names.
_PYLOCK_NAME = re.compile(r"pylock\.toml|pylock\.[^.]+\.toml")


def lock_command_line(paths: Sequence[Path], extra: Sequence[str]) -> str:
    """The command recorded in a lock header (no credentials, no host paths),
    each argument quoted for a POSIX shell (a file name with a space)."""
    parts = ["bundle", "lock", *extra, *(p.name for p in paths)]
    return shlex.join(redact_url(p) for p in parts)


def is_pylock(path: Path) -> bool:
    """PEP 751 names: pylock.toml or pylock.<name>.toml."""
    return _PYLOCK_NAME.fullmatch(path.name) is not None


def check_lock_name(path: Path) -> None:
    """A lock file name selects its format: a ``.toml`` name that is not a
    PEP 751 one would get pip's requirements format under a TOML name."""
    if path.suffix.lower() == ".toml" and not is_pylock(path):
        raise UsageError(
            f"{path}: a TOML lock must be named pylock.toml or pylock.<name>.toml (PEP 751)",
            hint="-o pylock.toml for a PEP 751 lock, -o requirements.txt for pip's format",
        )


@dataclass(frozen=True)
class LockLayout:
    """How a requirements lock is laid out: pip-compile's ``--no-header``,
    ``--no-annotate`` and ``--annotation-style`` (a pylock.toml has none)."""

    header: bool = True
    annotate: bool = True
    annotation_style: str = SPLIT


def render_lock(
    lock_: Lock,
    command: str,
    *,
    pylock: bool = False,
    origins: Mapping[str, str] | None = None,
    inputs: InputRecord | None = None,
    layout: LockLayout = LockLayout(),
) -> str:
    """The lock as PEP 751 ``pylock.toml`` text, or as a hashed requirements
    file; ``origins``: where sources the command line does not show came from;
    ``inputs``: what it was made from, recorded for ``bundle lock --check``."""
    from bundler.lock.check import render_header_lines, render_pylock_table

    if pylock:
        text = render_pylock_lock(lock_)
        return text + render_pylock_table(inputs) if inputs is not None else text
    from bundler.spec.lockfile import render_requirements_lock

    header = render_header_lines(inputs) if inputs is not None else ()
    return render_requirements_lock(
        lock_,
        command=command,
        origins=origins,
        inputs=header,
        header=layout.header,
        annotate=layout.annotate,
        annotation_style=layout.annotation_style,
    )


def render_pylock_lock(lock_: Lock, file_location: FileLocation | None = None) -> str:
    """PEP 751 form of a lock, one ``environments`` entry per target;
    ``file_location``: where each file is said to be (default: its URL)."""
    from bundler.spec.pylock import environment_marker, lock_requires_python, render_pylock
    from bundler.spec.target import target_from_name

    try:
        targets = [target_from_name(name) for name in lock_.targets]
    except UsageError:
        targets = []  # a target bundler cannot describe: no environments entry
    return render_pylock(
        lock_,
        environments=[environment_marker(t) for t in targets] or None,
        requires_python=lock_requires_python(targets),
        created_by="bundlegate",
        file_location=file_location,
    )


def write_lock(
    lock_: Lock,
    path: Path,
    command: str,
    origins: Mapping[str, str] | None = None,
    inputs: InputRecord | None = None,
    layout: LockLayout = LockLayout(),
) -> None:
    """Write the lock in the format its name selects (pylock.toml: PEP 751)."""
    check_lock_name(path)
    text = render_lock(
        lock_,
        command,
        pylock=is_pylock(path),
        origins=origins,
        inputs=inputs,
        layout=layout,
    )
    write_output(path, text)


def read_lock_file(path: Path) -> LockInput:
    """The lock at ``path``, read in the format its name selects."""
    if not path.is_file():
        raise UsageError(
            f"{path}: no such lock file", hint="create one with: bundle lock requirements.in"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputFileError(
            str(path), None, f"not UTF-8 text ({err.reason} at byte {err.start})"
        ) from err
    if is_pylock(path):
        from bundler.spec.pylockreader import read_pylock

        return read_pylock(text, str(path))
    from bundler.spec.lockfile import parse_hashed_requirements

    return parse_hashed_requirements(text, str(path))


def check_lock(
    path: Path,
    current: Inputs,
    relock: Callable[[LockInput], Lock],
    render: Callable[[Lock, InputRecord | None], str],
) -> list[Difference]:
    """How the lock at ``path`` differs from what ``bundle lock`` writes now
    (uv's ``--locked``).  A lock that records its inputs is first compared
    with them, which says why it is stale; then ``relock(its pins)`` (the
    inputs resolved again, its pins preferred, as ``bundle lock`` does) is
    rendered and compared with the file, line by line.  A lock that
    records no inputs (made before locks recorded them, or by pip-compile)
    is compared pin by pin first, then by the lines pip reads."""
    from bundler.lock.check import compare, compare_pins, compare_text, read_recorded

    existing = read_lock_file(path)
    text = path.read_text(encoding="utf-8")
    recorded = read_recorded(text, str(path), pylock=is_pylock(path))
    if recorded is not None:
        differences = compare(recorded, current)
        if differences:
            return differences
    fresh = relock(existing)
    if recorded is None:
        differences = compare_pins(existing, fresh)
        if differences:
            return differences
    if recorded is not None:
        return compare_text(text, render(fresh, current.record), str(path))
    # Its comments may be another tool's (pip-compile's header and annotations).
    return compare_text(text, render(fresh, None), str(path), comments=is_pylock(path))


def with_recorded_inputs(lock_: Lock, path: Path) -> Lock:
    """``lock_``, read from the lock at ``path``, with the requirement and
    constraint lines that lock records (``bundle lock`` writes them): the
    bundle's manifest then carries them as a built bundle's does, so that
    verify resolves them against the bundle and ``--check-inputs`` compares
    them.  A record edited by hand, or with a line that does not parse, is
    not taken."""
    from bundler.lock.check import PRE_OPTION, read_recorded

    recorded = read_recorded(path.read_text(encoding="utf-8"), str(path), pylock=is_pylock(path))
    if recorded is None or recorded.stated_digest != recorded.record.digest:
        return lock_
    record = recorded.record
    try:
        for text in record.requirements + record.constraints:
            Requirement(text)
    except InvalidRequirement:
        return lock_
    return dataclasses.replace(
        lock_,
        requirements=record.requirements,
        constraints=record.constraints,
        allow_prereleases=PRE_OPTION in record.options,
    )
