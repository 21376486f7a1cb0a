"""What a lock was made from, and whether it still matches (``bundle lock
--check``, ``bundle verify --check-inputs``).

A lock records its inputs: the requirement and constraint lines (as
written, normalized), the targets, and the options that change what gets
pinned (pre-releases, binary policy, package sources).  The record goes
into the lock's header (requirements.txt) or its ``[tool.bundle.inputs]``
table (pylock.toml; PEP 751 leaves ``[tool]`` to tools), with a sha256
over all of it, so that a check can say *what* differs, line by line, and
not only that something does.

Everything here is pure: text and data in, data out.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from bundler.models import IndexSettings, Lock, LockInput
from bundler.redact import strip_credentials
from bundler.spec.lockfile import COMMAND_INTRO, TARGETS_PREFIX
from bundler.spec.pylock import TOOL_KEY

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# requirements.txt: "# inputs: sha256=<hex>", then one "#   <kind>: <text>" line per part.
INPUTS_PREFIX = "# inputs: sha256="
_PART_PREFIX = "#   "
# pylock.toml: [tool.bundle.inputs].
INPUTS_KEY = "inputs"
REQUIREMENT = "requirement"
CONSTRAINT = "constraint"
TARGET = "target"
OPTION = "option"
PRE_OPTION = "--pre"
# The parts a record has, each with the key of its pylock.toml array.
_PARTS = ((REQUIREMENT, "requirements"), (CONSTRAINT, "constraints"), (OPTION, "options"))


@dataclass(frozen=True)
class InputRecord:
    """The normalized inputs of a lock, each part sorted."""

    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def part(self, kind: str) -> tuple[str, ...]:
        return {
            REQUIREMENT: self.requirements,
            CONSTRAINT: self.constraints,
            TARGET: self.targets,
            OPTION: self.options,
        }[kind]

    @property
    def digest(self) -> str:
        """sha256 of the record's canonical JSON form."""
        doc = {
            "constraints": self.constraints,
            "options": self.options,
            "requirements": self.requirements,
            "targets": self.targets,
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Inputs:
    """A record, with where each of its parts was read (file, line)."""

    record: InputRecord
    # (kind, normalized text) -> (file, line or None)
    where: Mapping[tuple[str, str], tuple[str, int | None]] = field(default_factory=dict)
    # The digest the file states (a lock's record); None for current inputs.
    stated_digest: str | None = None
    # Where the record starts (the "# inputs:" line, the [tool.bundle.inputs] header).
    origin: tuple[str, int | None] | None = None


@dataclass(frozen=True)
class Difference:
    """One way a lock no longer matches its inputs."""

    message: str
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


def normalize_requirement(text: str) -> str:
    """A requirement line in one spelling: the project name normalized,
    specifiers, extras and markers in packaging's form (``Requests >= 2``
    and ``requests>=2`` are one input).  A line that does not parse (an
    unexpanded ``${VAR}``) is kept with its whitespace collapsed."""
    collapsed = " ".join(text.split())
    try:
        req = Requirement(collapsed)
    except InvalidRequirement:
        return collapsed
    req.name = canonicalize_name(req.name)
    return str(req)


def _project(text: str) -> str:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return text


def option_lines(
    *,
    allow_prereleases: bool,
    only_binary: Iterable[str],
    no_binary: Iterable[str],
    prefer_binary: bool,
    indexes: IndexSettings,
    exclude_newer: datetime | None = None,
) -> tuple[str, ...]:
    """The options that change what a lock pins, spelled as on the command
    line, credentials removed: pre-releases, the binary policy, the package
    sources and the upload cut-off (as one instant, however it was given)."""
    out: list[str] = []
    if exclude_newer is not None:
        out.append(f"--exclude-newer {exclude_newer.astimezone(timezone.utc).isoformat()}")
    if allow_prereleases:
        out.append(PRE_OPTION)
    out += [f"--only-binary {n}" for n in sorted(only_binary)]
    out += [f"--no-binary {n}" for n in sorted(no_binary)]
    if prefer_binary:
        out.append("--prefer-binary")
    if indexes.index_url is None:
        out.append("--no-index")
    else:
        out.append(f"--index-url {strip_credentials(indexes.index_url)}")
    out += [f"--extra-index-url {strip_credentials(u)}" for u in indexes.extra_index_urls]
    out += [f"--find-links {strip_credentials(u)}" for u in indexes.find_links]
    for named in indexes.named_indexes:
        owns = f" for {','.join(named.packages)}" if named.packages else ""
        kind = "find-links" if named.flat else "index"
        out.append(f"--{kind} {named.name}={strip_credentials(named.url)}{owns}")
    out.append(f"--index-strategy {indexes.index_strategy.value}")
    return tuple(sorted(dict.fromkeys(out)))


@dataclass(frozen=True)
class Line:
    """An input line and where it was written (``requirements.in``, 3)."""

    text: str
    path: str
    line: int | None = None


def make_inputs(
    requirements: Iterable[Line],
    constraints: Iterable[Line],
    targets: Iterable[str],
    options: Iterable[str],
) -> Inputs:
    """The record of these inputs, remembering where each line came from."""
    where: dict[tuple[str, str], tuple[str, int | None]] = {}
    parts: dict[str, set[str]] = {REQUIREMENT: set(), CONSTRAINT: set()}
    for kind, lines in ((REQUIREMENT, requirements), (CONSTRAINT, constraints)):
        for line in lines:
            text = normalize_requirement(line.text)
            parts[kind].add(text)
            where.setdefault((kind, text), (line.path, line.line))
    record = InputRecord(
        requirements=tuple(sorted(parts[REQUIREMENT])),
        constraints=tuple(sorted(parts[CONSTRAINT])),
        targets=tuple(sorted(set(targets))),
        options=tuple(sorted(set(options))),
    )
    return Inputs(record, where)


# --- writing -------------------------------------------------------------------------


def render_header_lines(record: InputRecord) -> list[str]:
    """The record as requirements.txt header comments (the targets are on
    the header's own ``# targets:`` line)."""
    lines = [f"{INPUTS_PREFIX}{record.digest}"]
    for kind, _ in _PARTS:
        lines += [f"{_PART_PREFIX}{kind}: {_one_line(t)}" for t in record.part(kind)]
    return lines


def render_pylock_table(record: InputRecord) -> str:
    """The record as pylock.toml's ``[tool.bundle.inputs]`` table, one
    array item per line (so a check can point at it)."""
    lines = ["", f"[tool.{TOOL_KEY}.{INPUTS_KEY}]", f"sha256 = {_toml_str(record.digest)}"]
    for key, values in (
        ("requirements", record.requirements),
        ("constraints", record.constraints),
        ("targets", record.targets),
        ("options", record.options),
    ):
        if not values:
            lines.append(f"{key} = []")
            continue
        lines.append(f"{key} = [")
        lines += [f"    {_toml_str(v)}," for v in values]
        lines.append("]")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _toml_str(text: str) -> str:
    # JSON's string escapes are TOML's basic-string escapes (\uXXXX for
    # control characters), except that TOML wants DEL escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


# --- reading -------------------------------------------------------------------------


def read_recorded(text: str, path: str, *, pylock: bool) -> Inputs | None:
    """The inputs a lock records, or None when it records none (a lock
    written before locks recorded them, or by another tool)."""
    if pylock:
        return _read_pylock_record(text, path)
    return _read_header_record(text, path)


def _read_header_record(text: str, path: str) -> Inputs | None:
    stated: str | None = None
    origin: tuple[str, int | None] | None = None
    parts: dict[str, list[str]] = {kind: [] for kind, _ in _PARTS}
    targets: list[str] = []
    where: dict[tuple[str, str], tuple[str, int | None]] = {}
    targets_line: int | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("#"):
            break  # the header is the leading comment block
        if line.startswith(TARGETS_PREFIX):
            targets = [t.strip() for t in line[len(TARGETS_PREFIX) :].split(",") if t.strip()]
            targets_line = lineno
        elif line.startswith(INPUTS_PREFIX):
            stated = line[len(INPUTS_PREFIX) :].strip()
            origin = (path, lineno)
        elif stated is not None and line.startswith(_PART_PREFIX):
            kind, sep, value = line[len(_PART_PREFIX) :].partition(": ")
            if sep and kind in parts:
                parts[kind].append(value)
                where.setdefault((kind, value), (path, lineno))
    if stated is None:
        return None
    for t in targets:
        where[(TARGET, t)] = (path, targets_line)
    record = InputRecord(
        requirements=tuple(sorted(set(parts[REQUIREMENT]))),
        constraints=tuple(sorted(set(parts[CONSTRAINT]))),
        targets=tuple(sorted(set(targets))),
        options=tuple(sorted(set(parts[OPTION]))),
    )
    return Inputs(record, where, stated, origin)


def _read_pylock_record(text: str, path: str) -> Inputs | None:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None  # reading the lock reports it
    tool = data.get("tool")
    mine = tool.get(TOOL_KEY) if isinstance(tool, dict) else None
    table = mine.get(INPUTS_KEY) if isinstance(mine, dict) else None
    if not isinstance(table, dict) or not isinstance(table.get("sha256"), str):
        return None
    header = f"[tool.{TOOL_KEY}.{INPUTS_KEY}]"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines, 1) if line.strip() == header), None)

    def strings(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list):
            return ()
        return tuple(sorted({v for v in value if isinstance(v, str)}))

    record = InputRecord(
        requirements=strings("requirements"),
        constraints=strings("constraints"),
        targets=strings("targets"),
        options=strings("options"),
    )
    where: dict[tuple[str, str], tuple[str, int | None]] = {}
    after = lines[start:] if start is not None else []
    for kind in (REQUIREMENT, CONSTRAINT, TARGET, OPTION):
        for value in record.part(kind):
            quoted = f"{_toml_str(value)},"
            found = next((i for i, line in enumerate(after) if line.strip() == quoted), None)
            line_no = start + 1 + found if start is not None and found is not None else start
            where[(kind, value)] = (path, line_no)
    return Inputs(record, where, table["sha256"], (path, start))


# --- comparing -----------------------------------------------------------------------

_WHAT = {
    REQUIREMENT: "requirement",
    CONSTRAINT: "constraint",
    TARGET: "target",
    OPTION: "option",
}


def compare(
    recorded: Inputs,
    current: Inputs,
    *,
    kinds: Sequence[str] = (REQUIREMENT, CONSTRAINT, TARGET, OPTION),
) -> list[Difference]:
    """How ``current`` differs from what ``recorded`` says, part by part
    (only the parts in ``kinds``); each difference located where it can be
    acted on: an added or changed line in the input file, a removed one in
    the lock."""
    out: list[Difference] = []
    for kind in kinds:
        out += _compare_part(kind, recorded, current)
    stated = recorded.stated_digest
    if not out and stated is not None and stated != recorded.record.digest:
        path, line = recorded.origin or (None, None)
        out.append(
            Difference(
                "the recorded inputs do not match their sha256: the lock's header was"
                " edited by hand",
                path,
                line,
            )
        )
    return out


def _compare_part(kind: str, recorded: Inputs, current: Inputs) -> list[Difference]:
    old = set(recorded.record.part(kind))
    new = set(current.record.part(kind))
    what = _WHAT[kind]
    out: list[Difference] = []
    by_project: dict[str, list[str]] = {}
    if kind in (REQUIREMENT, CONSTRAINT):
        for text in sorted(old - new):
            by_project.setdefault(_project(text), []).append(text)
    changed: set[str] = set()
    for text in sorted(new - old):
        path, line = current.where.get((kind, text), (None, None))
        before = by_project.get(_project(text)) if kind in (REQUIREMENT, CONSTRAINT) else None
        if before:
            changed.update(before)
            out.append(
                Difference(
                    f"{what} changed: {' and '.join(before)} in the lock, {text} now", path, line
                )
            )
        else:
            out.append(Difference(f"{what} added: {text}", path, line))
    for text in sorted(old - new - changed):
        path, line = recorded.where.get((kind, text), (None, None))
        out.append(Difference(f"{what} removed: {text}", path, line))
    return out


def compare_pins(locked: LockInput, resolved: Lock) -> list[Difference]:
    """For a lock that records no inputs: how a fresh resolution of its
    inputs differs from its pins (name, version and marker), and its
    targets from the resolution's."""
    out: list[Difference] = []
    old = {(p.build_only, p.name, p.marker or ""): p for p in locked.pins}
    new = {(p.build_only, p.name, p.marker or ""): p for p in resolved.packages}
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        shown = key[1] + (f" ; {key[2]}" if key[2] else "") + (" (build)" if key[0] else "")
        where = _source(before.source) if before is not None else (locked.path, None)
        if before is None and after is not None:
            out.append(Difference(f"pin added: {shown} {after.version}", *where))
        elif after is None and before is not None:
            out.append(Difference(f"pin removed: {shown} {before.version}", *where))
        elif before is not None and after is not None and before.version != after.version:
            out.append(
                Difference(
                    f"pin changed: {shown} {before.version} in the lock, {after.version} now",
                    *where,
                )
            )
    if locked.targets:
        for t in sorted(set(resolved.targets) - set(locked.targets)):
            out.append(Difference(f"target added: {t}", locked.path))
        for t in sorted(set(locked.targets) - set(resolved.targets)):
            out.append(Difference(f"target removed: {t}", locked.path))
    return out


# How many differing lines of a lock a check names, before counting the rest.
SHOWN_LINES = 3
# What stands in for the command line of a lock's header when two locks are compared.
_COMMAND_LINE = "#    <command>"


def compare_text(locked: str, fresh: str, path: str, *, comments: bool = True) -> list[Difference]:
    """How a lock's text differs from ``fresh``, what ``bundle lock`` writes
    now from the same inputs: the first differing lines of the lock, by
    line number, then how many more.  Every line counts (pins, hashes,
    markers, options, annotations, the record) except the header's
    command line, which says how the lock was invoked (``-o`` or not, a
    relative path), not what it pins (uv's ``--locked`` compares the same
    way).  ``comments=False``: only the lines pip reads count, for a lock
    whose comments another tool (pip-compile, an older bundler) wrote."""
    old, new = _numbered(_masked(locked), comments), _numbered(_masked(fresh), comments)
    found: list[Difference] = []
    matcher = difflib.SequenceMatcher(None, [t for _, t in old], [t for _, t in new], False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)
        for k in range(paired):
            (line, text), (_, now) = old[i1 + k], new[j1 + k]
            found.append(
                Difference(f"the lock has `{text}`; bundle lock writes `{now}` now", path, line)
            )
        for line, text in old[i1 + paired : i2]:
            found.append(
                Difference(f"the lock has `{text}`; bundle lock writes no such line", path, line)
            )
        # Where a missing line goes: before the lock's next line (or at its end).
        at = old[min(i1 + paired, len(old) - 1)][0] if old else None
        for _, now in new[j1 + paired : j2]:
            found.append(
                Difference(f"the lock lacks `{now}`, which bundle lock writes here now", path, at)
            )
    if len(found) > SHOWN_LINES:
        rest = len(found) - SHOWN_LINES
        more = Difference(f"and {rest} more differing line{'s' if rest > 1 else ''}", path)
        found = [*found[:SHOWN_LINES], more]
    return found


def _numbered(lines: list[str], comments: bool) -> list[tuple[int, str]]:
    """Each line with its number, without comments and blank lines unless
    ``comments`` (pip's requirements format: a ``#`` at a line's start or
    after whitespace begins a comment)."""
    out = list(enumerate(lines, start=1))
    if comments:
        return out
    return [(n, t) for n, t in out if t.strip() and not t.lstrip().startswith("#")]


def _masked(text: str) -> list[str]:
    """The lines of a lock, its header's command line replaced by a placeholder."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("#"):
            break  # the header is the leading comment block
        if line == COMMAND_INTRO:
            at = next((k for k in range(i + 1, len(lines)) if lines[k] != "#"), None)
            if at is not None and lines[at].startswith("#"):
                lines[at] = _COMMAND_LINE
            break
    return lines


def _source(source: str) -> tuple[str, int | None]:
    """("requirements.txt", 12) from a pin's "requirements.txt:12"."""
    path, _, tail = source.rpartition(":")
    if path and tail.isdigit():
        return path, int(tail)
    return source, None


__all__ = [
    "Difference",
    "InputRecord",
    "Inputs",
    "Line",
    "compare",
    "compare_pins",
    "compare_text",
    "make_inputs",
    "normalize_requirement",
    "option_lines",
    "read_recorded",
    "render_header_lines",
    "render_pylock_table",
]
