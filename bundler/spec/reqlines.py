"""pip's requirements-file lines: continuations joined, comments split
off, ``${VAR}`` expanded, a line broken into requirement and options
(pip's ``req/req_file.py``: ``join_lines``, ``ignore_comments``,
``expand_env_variables``, ``break_args_options``)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "COMMENT_RE",
    "ENV_VAR_RE",
    "LogicalLine",
    "break_args_options",
    "expand_env_vars",
    "logical_lines",
]

# pip: COMMENT_RE; a '#' starts a comment at line start or after whitespace.
COMMENT_RE = re.compile(r"(^|\s+)#.*$")
# pip: ENV_VAR_RE; only ${NAME} with uppercase letters, digits and '_' (POSIX).
ENV_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")


@dataclass(frozen=True)
class LogicalLine:
    """A line after pip's joining of ``\\`` continuations."""

    lineno: int  # of the first physical line
    text: str  # comment removed, stripped; ${VAR} not expanded
    comment: str = ""  # the comment removed from it, stripped


def logical_lines(text: str) -> Iterator[LogicalLine]:
    """Split ``text`` into logical lines as pip's ``join_lines`` and
    ``ignore_comments`` do, keeping blank and comment-only lines."""
    primary = 0
    pending: list[str] = []
    for number, physical in enumerate(text.splitlines(), start=1):
        is_comment = COMMENT_RE.match(physical) is not None
        if not physical.endswith("\\") or is_comment:
            # pip: a leading space makes sure the comment still matches once joined.
            line = " " + physical if is_comment else physical
            if pending:
                pending.append(line)
                yield _split_comment(primary, "".join(pending))
                pending = []
            else:
                yield _split_comment(number, line)
        else:
            if not pending:
                primary = number
            pending.append(physical.strip("\\"))
    if pending:
        yield _split_comment(primary, "".join(pending))


def _split_comment(lineno: int, line: str) -> LogicalLine:
    match = COMMENT_RE.search(line)
    if match is None:
        return LogicalLine(lineno, line.strip())
    return LogicalLine(lineno, line[: match.start()].strip(), match.group(0).strip())


def expand_env_vars(line: str, environ: Mapping[str, str]) -> str:
    """pip's rule: replace ``${NAME}``; unset or empty variables stay as written."""
    return ENV_VAR_RE.sub(lambda m: environ.get(m.group(1)) or m.group(0), line)


def break_args_options(line: str) -> tuple[str, str]:
    """pip: split a line into the requirement and the options, so that
    markers are never shell-split."""
    tokens = line.split(" ")
    args: list[str] = []
    options = tokens[:]
    for token in tokens:
        if token.startswith("-"):
            break
        args.append(token)
        options.pop(0)
    return " ".join(args).strip(), " ".join(options).strip()
