"""pip's requirements-file format, parsed as pip's ``req/req_file.py`` does,
without importing pip.

The core (:func:`parse_requirements_text`) is pure: nested files are read
through a callback and ``${VAR}`` values come from a mapping. Every problem
in every file is collected and raised together.

Deliberate differences from pip: relative paths of local distributions
(``./dist/foo-1.0-py3-none-any.whl``) are resolved against the including
file, like ``-r``, ``-c`` and ``--find-links``, not against the working
directory; editables, VCS and directory references are refused (a bundle
holds only distribution files); ``--hash`` on a line without a requirement
and options that pip ignores on a requirement line are errors instead of
being dropped.
"""

from __future__ import annotations

import codecs
import dataclasses
import optparse
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from bundler.errors import BundlerError, InputFileError, MultipleErrors, url_problem
from bundler.fsutil import url_path_to_local
from bundler.models import IndexSettings
from bundler.redact import redact_url, strip_credentials
from bundler.spec.reqlines import LogicalLine, break_args_options, expand_env_vars, logical_lines
from bundler.spec.reqoptions import (
    OPTION_NAMES,
    REQUIREMENT_LINE_OPTIONS,
    SUPPORTED_HINT,
    OptionError,
    apply_format_control,
    parse_options,
    set_options,
)
from bundler.spec.requirement import LineProblem, is_url, normalize_hash, parse_requirement

__all__ = [
    "ParsedRequirement",
    "ReadFile",
    "RequirementsInput",
    "collect_requirements",
    "decode_requirements",
    "parse_requirements_file",
    "parse_requirements_text",
    "read_requirements_file",
    "requirement_from_text",
]

ReadFile = Callable[[str], str]


@dataclass(frozen=True)
class ParsedRequirement:
    """One requirement line of a requirements or constraints file."""

    requirement: Requirement
    name: NormalizedName
    source: str  # "requirements.in:3"
    comes_from: str  # the file as the user wrote it, for "# via -r file"
    hashes: tuple[str, ...] = ()  # "sha256:<hex>"
    # A direct reference: an absolute URL (local paths become file:// URLs).
    # It may carry credentials, as the user wrote them: never print it raw.
    url: str | None = None
    # The requirement text as written: no options, no comment, ${VAR}
    # unexpanded and credentials removed, so it is safe to record.
    line: str = ""
    lineno: int = 0
    # The comments that annotate the line: the one on the line itself, then
    # the comment lines right below it (pip-compile's "# via" blocks).
    comments: tuple[str, ...] = ()
    # What a lock's "# via" says of it; "" for "-r FILE" (or "-c FILE"), as
    # pip-compile says of a requirements file's lines.  A project file's
    # say "name (pyproject.toml)".
    via: str = ""


@dataclass(frozen=True)
class RequirementsInput:
    """Everything a requirements file (and the files it includes) says."""

    requirements: tuple[ParsedRequirement, ...]
    constraints: tuple[ParsedRequirement, ...]
    # Only the fields the files set differ from IndexSettings' defaults;
    # index_url is None for --no-index.
    indexes: IndexSettings
    pre: bool = False
    only_binary: frozenset[str] = frozenset()  # normalized names or ":all:"
    no_binary: frozenset[str] = frozenset()
    prefer_binary: bool = False
    files: tuple[str, ...] = ()  # every file read, in order
    index_url_set: bool = False  # --index-url or --no-index was given
    no_index: bool = False
    trusted_hosts: tuple[str, ...] = ()
    require_hashes: bool = False
    # Project files (pyproject.toml, setup.cfg, setup.py) whose requirements
    # are not in ``requirements`` yet: one of them needs its build backend
    # to tell its dependencies, so all are selected from once it has.
    projects_to_prepare: tuple[str, ...] = ()


def decode_requirements(data: bytes) -> str:
    """Decode a requirements file as pip does: BOM, then a PEP 263 coding
    comment in the first two lines, then UTF-8."""
    # Longest BOMs first: BOM_UTF32_LE starts with BOM_UTF16_LE.
    boms = (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
    )
    for bom, encoding in boms:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding)
    for raw in data.split(b"\n")[:2]:
        if raw[:1] == b"#":
            # PEP 263: "# -*- coding: latin-1 -*-"
            found = re.search(rb"coding[:=]\s*([-\w.]+)", raw)
            if found is not None:
                return data.decode(found.group(1).decode("ascii"))
    return data.decode("utf-8")


def requirement_from_text(
    text: str, *, source: str, comes_from: str, base_dir: str, via: str = ""
) -> ParsedRequirement:
    """One PEP 508 requirement written outside a requirements file (in
    ``pyproject.toml``, ``setup.cfg``), read as a requirement line is:
    direct references must name a wheel or sdist.  Raises
    :class:`InputFileError` naming ``source``."""
    shown = strip_credentials(text.strip())
    try:
        req, url = parse_requirement(text.strip(), base_dir, shown)
    except LineProblem as problem:
        raise InputFileError(source, None, problem.message, hint=problem.hint) from None
    return ParsedRequirement(
        requirement=req,
        name=canonicalize_name(req.name),
        source=source,
        comes_from=comes_from,
        url=url,
        line=shown,
        via=via,
    )


@dataclass
class _Entry:
    req: ParsedRequirement
    comments: list[str]
    constraint: bool


@dataclass
class _State:
    read_file: ReadFile | None
    environ: Mapping[str, str]
    errors: list[BundlerError] = dataclasses.field(default_factory=list)
    entries: list[_Entry] = dataclasses.field(default_factory=list)
    files: list[str] = dataclasses.field(default_factory=list)
    index_url: str | None = None
    no_index: bool = False
    extra_index_urls: list[str] = dataclasses.field(default_factory=list)
    find_links: list[str] = dataclasses.field(default_factory=list)
    pre: bool = False
    prefer_binary: bool = False
    require_hashes: bool = False
    only_binary: set[str] = dataclasses.field(default_factory=set)
    no_binary: set[str] = dataclasses.field(default_factory=set)
    trusted_hosts: list[str] = dataclasses.field(default_factory=list)

    def fail(self, path: str, line: int | None, message: str, hint: str | None = None) -> None:
        self.errors.append(InputFileError(path, line, message, hint=hint))


def collect_requirements(
    text: str,
    path: str,
    *,
    read_file: ReadFile | None,
    environ: Mapping[str, str] | None = None,
    constraint: bool = False,
) -> tuple[RequirementsInput, tuple[BundlerError, ...]]:
    """Parse like :func:`parse_requirements_text`, but return the problems
    (in file order) next to what could be parsed instead of raising."""
    state = _State(read_file, os.environ if environ is None else environ)
    _parse_file(state, text, path, constraint, {os.path.abspath(path): None})
    no_index = state.no_index
    default = IndexSettings()
    indexes = IndexSettings(
        index_url=None if no_index else (state.index_url or default.index_url),
        # pip: with --no-index every index URL is ignored.
        extra_index_urls=() if no_index else tuple(dict.fromkeys(state.extra_index_urls)),
        find_links=tuple(dict.fromkeys(state.find_links)),
    )
    finished = [dataclasses.replace(e.req, comments=tuple(e.comments)) for e in state.entries]
    result = RequirementsInput(
        requirements=tuple(
            r for r, e in zip(finished, state.entries, strict=True) if not e.constraint
        ),
        constraints=tuple(r for r, e in zip(finished, state.entries, strict=True) if e.constraint),
        indexes=indexes,
        pre=state.pre,
        only_binary=frozenset(state.only_binary),
        no_binary=frozenset(state.no_binary),
        prefer_binary=state.prefer_binary,
        files=tuple(dict.fromkeys(state.files)),
        index_url_set=no_index or state.index_url is not None,
        no_index=no_index,
        trusted_hosts=tuple(dict.fromkeys(state.trusted_hosts)),
        require_hashes=state.require_hashes,
    )
    return result, tuple(state.errors)


def parse_requirements_text(
    text: str,
    path: str,
    *,
    read_file: ReadFile | None,
    environ: Mapping[str, str] | None = None,
    constraint: bool = False,
) -> RequirementsInput:
    """Parse the requirements file ``text`` found at ``path``.

    ``read_file`` reads files included with ``-r``/``-c`` (paths relative
    to the including file are joined to its directory); None makes
    includes an error. ``environ`` supplies ``${VAR}`` values (default:
    ``os.environ``). ``constraint`` reads the whole file as constraints.
    Raises the single :class:`InputFileError`, or :class:`MultipleErrors`
    listing every problem in every file.
    """
    result, errors = collect_requirements(
        text, path, read_file=read_file, environ=environ, constraint=constraint
    )
    if errors:
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    return result


def read_requirements_file(path: str) -> str:
    """Read and decode one requirements file from disk (pip's decoding)."""
    return decode_requirements(Path(path).read_bytes())


def parse_requirements_file(path: Path, *, constraint: bool = False) -> RequirementsInput:
    """Read and parse a requirements file and every file it includes,
    expanding ``${VAR}`` from the environment."""
    shown = str(path)
    try:
        text = read_requirements_file(shown)
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(shown, None, f"cannot read: {_reason(err)}") from err
    return parse_requirements_text(
        text, shown, read_file=read_requirements_file, environ=os.environ, constraint=constraint
    )


def _reason(err: Exception) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)


def _parse_file(
    state: _State,
    text: str,
    path: str,
    constraint: bool,
    ancestors: dict[str, str | None],
) -> None:
    state.files.append(path)
    base_dir = os.path.dirname(path)
    # The requirement that comment lines below may annotate; a blank line or
    # any other line ends the annotation block.
    current: _Entry | None = None
    for logical in logical_lines(text):
        if not logical.text:
            if current is not None and logical.comment:
                current.comments.append(logical.comment)
            else:
                current = None
            continue
        current = None
        try:
            current = _parse_line(state, logical, path, base_dir, constraint, ancestors)
        except LineProblem as problem:
            state.fail(path, logical.lineno, problem.message, problem.hint)


def _parse_line(
    state: _State,
    logical: LogicalLine,
    path: str,
    base_dir: str,
    constraint: bool,
    ancestors: dict[str, str | None],
) -> _Entry | None:
    expanded = expand_env_vars(logical.text, state.environ)
    args, options = break_args_options(expanded)
    try:
        values = parse_options(options)
    except OptionError as err:
        raise LineProblem(
            f"{err.msg} in {strip_credentials(logical.text)!r}",
            hint=SUPPORTED_HINT,
        ) from err
    given = set_options(values)
    if args:
        return _requirement_line(state, logical, path, base_dir, constraint, args, values, given)
    if values.editables:
        raise LineProblem(
            "editable requirements (-e) are not supported in a bundle",
            hint="a bundle holds built distributions: build a wheel of the project"
            " and list its path (./dist/name-1.0-py3-none-any.whl)",
        )
    _option_line(state, logical, path, base_dir, values, ancestors)
    return None


def _requirement_line(
    state: _State,
    logical: LogicalLine,
    path: str,
    base_dir: str,
    constraint: bool,
    args: str,
    values: optparse.Values,
    given: list[str],
) -> _Entry:
    misplaced = [OPTION_NAMES[d] for d in given if d not in REQUIREMENT_LINE_OPTIONS]
    if misplaced:
        raise LineProblem(
            f"{', '.join(misplaced)} cannot follow a requirement on the same line",
            hint="put file-wide options on a line of their own",
        )
    if values.config_settings:
        raise LineProblem("--config-settings is not supported in a bundle input")
    hashes: list[str] = []
    problems: list[LineProblem] = []
    for value in values.hashes or ():
        try:
            hashes.append(normalize_hash(value))
        except LineProblem as bad_hash:
            problems.append(bad_hash)
    for found in problems:
        state.fail(path, logical.lineno, found.message, found.hint)
    # Messages and records show the line as written: ${VAR} values may be secrets.
    written = strip_credentials(break_args_options(logical.text)[0])
    req, url = parse_requirement(args, base_dir, written)
    if constraint and req.extras:
        raise LineProblem(f"constraints cannot have extras: {written!r}")
    parsed = ParsedRequirement(
        requirement=req,
        name=canonicalize_name(req.name),
        source=f"{path}:{logical.lineno}",
        comes_from=path,
        hashes=tuple(dict.fromkeys(hashes)),
        url=url,
        line=written,
        lineno=logical.lineno,
    )
    entry = _Entry(parsed, [logical.comment] if logical.comment else [], constraint)
    state.entries.append(entry)
    return entry


def _option_line(
    state: _State,
    logical: LogicalLine,
    path: str,
    base_dir: str,
    values: optparse.Values,
    ancestors: dict[str, str | None],
) -> None:
    """A line of file-wide options: checked, then applied to ``state``, then
    its ``-r``/``-c`` files read."""
    _refuse_unsupported(values)
    _check_option_urls(values)
    _apply_options(state, values, base_dir)
    for ref in values.requirements or ():
        _include(state, path, logical.lineno, ref, False, ancestors)
    for ref in values.constraints or ():
        _include(state, path, logical.lineno, ref, True, ancestors)


def _refuse_unsupported(values: optparse.Values) -> None:
    if values.hashes:
        raise LineProblem(
            "--hash must follow a requirement on the same logical line",
            hint="is a trailing backslash missing on the line above?",
        )
    if values.config_settings:
        raise LineProblem("--config-settings is not supported in a bundle input")
    if values.all_releases or values.only_final:
        raise LineProblem(
            "--all-releases and --only-final are not supported in a bundle input",
            hint="use --pre to allow pre-releases",
        )


def _check_option_urls(values: optparse.Values) -> None:
    for option, urls in (
        ("--index-url", [values.index_url] if values.index_url else []),
        ("--extra-index-url", values.extra_index_urls or ()),
        ("--find-links", values.find_links or ()),
    ):
        for url in urls:
            if (problem := url_problem(url)) is not None:
                raise LineProblem(f"{option} {redact_url(url)}: {problem}")


def _apply_options(state: _State, values: optparse.Values, base_dir: str) -> None:
    if values.index_url:
        state.index_url = values.index_url
    if values.no_index:
        state.no_index = True
    state.extra_index_urls.extend(values.extra_index_urls or ())
    for link in values.find_links or ():
        state.find_links.append(_resolve_find_links(link, base_dir))
    for kind, value in values.format_control:
        if kind == "no_binary":
            apply_format_control(value, state.no_binary, state.only_binary)
        else:
            apply_format_control(value, state.only_binary, state.no_binary)
    state.pre = state.pre or bool(values.pre)
    state.prefer_binary = state.prefer_binary or bool(values.prefer_binary)
    state.require_hashes = state.require_hashes or bool(values.require_hashes)
    state.trusted_hosts.extend(values.trusted_hosts or ())


def _resolve_find_links(link: str, base_dir: str) -> str:
    if is_url(link) or os.path.isabs(link) or not base_dir:
        return link
    # A local find-links directory is relative to the file that names it.
    return os.path.normpath(os.path.join(base_dir, link))


def _include(
    state: _State,
    path: str,
    line: int,
    ref: str,
    constraint: bool,
    ancestors: dict[str, str | None],
) -> None:
    kind = "constraints" if constraint else "requirements"
    if state.read_file is None:
        state.fail(
            path,
            line,
            f"cannot include {ref}: this file must be self-contained (no -r/-c)",
        )
        return
    if ref.lower().startswith("file:"):
        ref = url_path_to_local(urllib.parse.urlsplit(ref).path)
    elif is_url(ref):
        state.fail(
            path,
            line,
            f"cannot read {kind} file {strip_credentials(ref)}: only local files are supported",
            hint="download the file and include it by path",
        )
        return
    nested = (
        ref if os.path.isabs(ref) else os.path.normpath(os.path.join(os.path.dirname(path), ref))
    )
    key = os.path.abspath(nested)
    if key in ancestors:
        first = ancestors[key]
        tail = f" and again in {first}" if first is not None else ""
        # pip: "... recursively references itself in ..."
        state.fail(path, line, f"{nested} recursively references itself in {path}{tail}")
        return
    try:
        text = state.read_file(nested)
    except (OSError, UnicodeDecodeError) as err:
        state.fail(path, line, f"cannot read {kind} file {nested}: {_reason(err)}")
        return
    _parse_file(state, text, nested, constraint, {**ancestors, key: path})
