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
import shlex
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from bundler.errors import BundlerError, InputFileError, MultipleErrors, url_problem
from bundler.fsutil import url_path_to_local
from bundler.models import HASH_LENGTHS, IndexSettings
from bundler.redact import redact_url, strip_credentials
from bundler.spec.filenames import parse_filename

# pip: COMMENT_RE; a '#' starts a comment at line start or after whitespace.
COMMENT_RE = re.compile(r"(^|\s+)#.*$")
# pip: ENV_VAR_RE; only ${NAME} with uppercase letters, digits and '_' (POSIX).
ENV_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")
# pip's utils/filetypes.py ARCHIVE_EXTENSIONS.
ARCHIVE_EXTENSIONS = (
    ".whl",
    ".zip",
    ".tar.gz",
    ".tgz",
    ".tar",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
)
URL_SCHEMES = ("http", "https", "file")
VCS_SCHEMES = ("git", "hg", "svn", "bzr")
_EXTRAS_RE = re.compile(r"^(?P<path>.+?)(?P<extras>\[[^\]]*\])?$")
_EGG_RE = re.compile(r"[#&]egg=(?P<name>[^&]+)")

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


class _OptionError(Exception):
    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


class _LineOptionParser(optparse.OptionParser):
    """optparse, as pip uses it, but raising instead of printing and exiting."""

    def error(self, msg: str) -> NoReturn:
        raise _OptionError(msg)

    def exit(self, status: int = 0, msg: str | None = None) -> NoReturn:
        raise _OptionError(msg or "invalid options")


def _format_control_callback(kind: str) -> Callable[..., None]:
    def callback(
        option: optparse.Option, opt_str: str, value: str, parser: optparse.OptionParser
    ) -> None:
        if value.startswith("-"):
            raise _OptionError(f"{opt_str} requires an argument")
        if parser.values is None:  # optparse sets the values before any callback
            raise _OptionError(f"{opt_str}: no option values")
        parser.values.format_control.append((kind, value))

    return callback


def _build_option_parser() -> _LineOptionParser:
    # The options pip accepts in a requirements file (req_file.SUPPORTED_OPTIONS
    # and SUPPORTED_OPTIONS_REQ), with pip's spellings and aliases.
    parser = _LineOptionParser(add_help_option=False, usage=optparse.SUPPRESS_USAGE)
    parser.add_option("-i", "--index-url", "--pypi-url", dest="index_url")
    parser.add_option("--extra-index-url", dest="extra_index_urls", action="append")
    parser.add_option("--no-index", dest="no_index", action="store_true", default=False)
    parser.add_option("-c", "--constraint", dest="constraints", action="append")
    parser.add_option("-r", "--requirement", dest="requirements", action="append")
    parser.add_option("-e", "--editable", dest="editables", action="append")
    parser.add_option("-f", "--find-links", dest="find_links", action="append")
    parser.add_option(
        "--no-binary",
        dest="format_control",
        action="callback",
        type="str",
        callback=_format_control_callback("no_binary"),
    )
    parser.add_option(
        "--only-binary",
        dest="format_control",
        action="callback",
        type="str",
        callback=_format_control_callback("only_binary"),
    )
    parser.add_option("--prefer-binary", dest="prefer_binary", action="store_true", default=False)
    parser.add_option("--require-hashes", dest="require_hashes", action="store_true", default=False)
    parser.add_option(
        "--no-require-hashes", dest="no_require_hashes", action="store_true", default=False
    )
    parser.add_option("--pre", dest="pre", action="store_true", default=False)
    parser.add_option("--all-releases", dest="all_releases", action="append")
    parser.add_option("--only-final", dest="only_final", action="append")
    parser.add_option("--trusted-host", dest="trusted_hosts", action="append")
    parser.add_option("--use-feature", dest="features_enabled", action="append")
    parser.add_option("--hash", dest="hashes", action="append")
    parser.add_option("-C", "--config-settings", dest="config_settings", action="append")
    return parser


# Options that pip allows on a requirement line (pip: SUPPORTED_OPTIONS_REQ).
_REQUIREMENT_LINE_OPTIONS = frozenset({"hashes", "config_settings"})
_OPTION_NAMES = {
    "index_url": "--index-url",
    "extra_index_urls": "--extra-index-url",
    "no_index": "--no-index",
    "constraints": "--constraint",
    "requirements": "--requirement",
    "editables": "--editable",
    "find_links": "--find-links",
    "format_control": "--no-binary/--only-binary",
    "prefer_binary": "--prefer-binary",
    "require_hashes": "--require-hashes",
    "no_require_hashes": "--no-require-hashes",
    "pre": "--pre",
    "all_releases": "--all-releases",
    "only_final": "--only-final",
    "trusted_hosts": "--trusted-host",
    "features_enabled": "--use-feature",
    "hashes": "--hash",
    "config_settings": "--config-settings",
}
_SUPPORTED_HINT = (
    "supported options: -r/--requirement, -c/--constraint, -i/--index-url,"
    " --extra-index-url, --no-index, -f/--find-links, --pre, --only-binary,"
    " --no-binary, --prefer-binary, --trusted-host, --require-hashes, and --hash"
    " after a requirement"
)


def _parse_options(options: str) -> optparse.Values:
    parser = _build_option_parser()
    defaults = parser.get_default_values()
    defaults.format_control = []
    try:
        argv = shlex.split(options)
    except ValueError as err:
        raise _OptionError(f"cannot split the options: {err}") from err
    values, leftover = parser.parse_args(argv, defaults)
    if leftover:
        raise _OptionError(f"unexpected argument {leftover[0]!r} after the options")
    return values


def _set_options(values: optparse.Values) -> list[str]:
    return [dest for dest in _OPTION_NAMES if getattr(values, dest, None)]


def _apply_format_control(value: str, target: set[str], other: set[str]) -> None:
    # pip: FormatControl.handle_mutual_excludes
    new = value.split(",")
    while ":all:" in new:
        other.clear()
        target.clear()
        target.add(":all:")
        del new[: new.index(":all:") + 1]
        if ":none:" not in new:
            return
    for name in new:
        if name == ":none:":
            target.clear()
            continue
        canon = canonicalize_name(name)
        other.discard(canon)
        target.add(canon)


def _is_url(text: str) -> bool:
    # pip: vcs.is_url
    if ":" not in text:
        return False
    scheme = text.split(":", 1)[0].lower()
    return scheme in (*URL_SCHEMES, "ftp", *VCS_SCHEMES) or scheme.startswith(
        tuple(f"{vcs}+" for vcs in VCS_SCHEMES)
    )


def _looks_like_path(text: str) -> bool:
    # pip: req/constructors._looks_like_path
    return "/" in text or "\\" in text or text.startswith(".")


def _is_archive(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_EXTENSIONS)


def _url_filename(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])


def _url_egg(url: str) -> str | None:
    fragment = urllib.parse.urlsplit(url).fragment
    found = _EGG_RE.search("#" + fragment) if fragment else None
    return found.group("name") if found else None


def _file_url(path: str, base_dir: str) -> str:
    joined = path if os.path.isabs(path) else os.path.join(base_dir, path)
    return Path(os.path.abspath(joined)).as_uri()


class _LineProblem(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _check_url(url: str, shown: str) -> None:
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith(VCS_SCHEMES):
        raise _LineProblem(
            f"VCS reference {shown!r} cannot go into a bundle",
            hint="a bundle holds distribution files: build a wheel or sdist of it"
            " and reference that file",
        )
    if scheme not in URL_SCHEMES:
        raise _LineProblem(
            f"unsupported URL scheme in {shown!r}",
            hint="use an http://, https:// or file:// URL of a wheel or sdist",
        )


def _parse_marker(text: str, shown: str) -> Marker | None:
    text = text.strip()
    if not text:
        return None
    try:
        return Marker(text)
    except InvalidMarker as err:
        raise _LineProblem(f"invalid marker in {shown!r}: {err}") from err


def _name_from_file(filename: str, url: str, shown: str) -> tuple[str, str]:
    """(name, extras) for a bare path or URL, from its filename or #egg=."""
    dist = parse_filename(filename)
    if dist is not None:
        return dist.name, ""
    egg = _url_egg(url)
    if egg is not None:
        match = _EXTRAS_RE.match(egg)
        if match is not None:
            return match.group("path"), match.group("extras") or ""
    raise _LineProblem(
        f"cannot tell the project name of {shown!r}: {filename!r} is not a wheel or sdist filename",
        hint="write it as a direct reference: 'name @ URL'",
    )


def _parse_requirement(args: str, base_dir: str, shown: str) -> tuple[Requirement, str | None]:
    """The requirement and its direct-reference URL, as pip's
    ``parse_req_from_line`` reads a line."""
    if _is_url(args):
        # pip: a URL needs "; " before its marker, so ";" may appear in it.
        url, _, marker_text = args.partition("; ")
        url = url.strip()
        _check_url(url, shown)
        marker = _parse_marker(marker_text, shown)
        name, extras = _name_from_file(_url_filename(url), url, shown)
        return _direct_requirement(name, extras, url, marker, shown), url
    head, _, marker_text = args.partition(";")
    head = head.strip()
    match = _EXTRAS_RE.match(head)
    path = match.group("path") if match else head
    extras = (match.group("extras") or "") if match else ""
    at_head = head.split("@", 1)[0]
    if _is_archive(path) and not ("@" in head and not _looks_like_path(at_head)):
        marker = _parse_marker(marker_text, shown)
        url = _file_url(path, base_dir)
        dist = parse_filename(os.path.basename(path))
        if dist is None:
            raise _LineProblem(
                f"{os.path.basename(path)!r} is not a wheel or sdist filename",
                hint="name local distributions as built by pip or build"
                " ({name}-{version}-{tags}.whl or {name}-{version}.tar.gz)",
            )
        return _direct_requirement(dist.name, extras, url, marker, shown), url
    try:
        req = Requirement(args)
    except InvalidRequirement as err:
        raise _requirement_problem(args, shown, err) from err
    if req.url is None:
        return req, None
    url = req.url
    if not _is_url(url):
        # A local path as a direct reference: turn it into a file:// URL.
        url = _file_url(urllib.parse.unquote(url), base_dir)
        req.url = url
    _check_url(url, shown)
    dist = parse_filename(_url_filename(url))
    if dist is not None and dist.name != canonicalize_name(req.name):
        raise _LineProblem(f"{shown}: the file is a distribution of {dist.name}, not of {req.name}")
    return req, url


def requirement_from_text(
    text: str, *, source: str, comes_from: str, base_dir: str, via: str = ""
) -> ParsedRequirement:
    """One PEP 508 requirement written outside a requirements file (in
    ``pyproject.toml``, ``setup.cfg``), read as a requirement line is:
    direct references must name a wheel or sdist.  Raises
    :class:`InputFileError` naming ``source``."""
    shown = strip_credentials(text.strip())
    try:
        req, url = _parse_requirement(text.strip(), base_dir, shown)
    except _LineProblem as problem:
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


def _direct_requirement(
    name: str, extras: str, url: str, marker: Marker | None, shown: str
) -> Requirement:
    text = f"{name}{extras} @ {url}"
    if marker is not None:
        text += f" ; {marker}"
    try:
        return Requirement(text)
    except InvalidRequirement as err:
        raise _LineProblem(f"invalid requirement {shown!r}: {err}") from err


def _requirement_problem(args: str, shown: str, err: InvalidRequirement) -> _LineProblem:
    hint: str | None = None
    if _looks_like_path(args.split(";", 1)[0].split("@", 1)[0].strip()):
        hint = (
            "it looks like a path: a bundle needs a wheel or sdist file"
            " (directories and editable projects cannot be bundled)"
        )
    elif "=" in args and not any(op in args for op in ("==", "~=", "!=", "<=", ">=", "===")):
        hint = "= is not a valid operator: did you mean == ?"
    return _LineProblem(f"invalid requirement {shown!r}: {err}", hint=hint)


def _normalize_hash(value: str) -> str:
    algo, sep, digest = value.partition(":")
    algo = algo.lower()
    if not sep or algo not in HASH_LENGTHS:
        raise _LineProblem(
            f"invalid --hash={value}: expected sha256:<hex>, sha384:<hex> or sha512:<hex>",
            hint="pip accepts only sha256, sha384 and sha512 hashes",
        )
    digest = digest.lower()
    if len(digest) != HASH_LENGTHS[algo] or not all(c in "0123456789abcdef" for c in digest):
        raise _LineProblem(f"invalid --hash={value}: not a {algo} hex digest")
    return f"{algo}:{digest}"


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
        except _LineProblem as problem:
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
        values = _parse_options(options)
    except _OptionError as err:
        raise _LineProblem(
            f"{err.msg} in {strip_credentials(logical.text)!r}",
            hint=_SUPPORTED_HINT,
        ) from err
    given = _set_options(values)
    if args:
        return _requirement_line(state, logical, path, base_dir, constraint, args, values, given)
    if values.editables:
        raise _LineProblem(
            "editable requirements (-e) are not supported in a bundle",
            hint="a bundle holds built distributions: build a wheel of the project"
            " and list its path (./dist/name-1.0-py3-none-any.whl)",
        )
    _option_line(state, logical, path, base_dir, values, given, ancestors)
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
    misplaced = [_OPTION_NAMES[d] for d in given if d not in _REQUIREMENT_LINE_OPTIONS]
    if misplaced:
        raise _LineProblem(
            f"{', '.join(misplaced)} cannot follow a requirement on the same line",
            hint="put file-wide options on a line of their own",
        )
    if values.config_settings:
        raise _LineProblem("--config-settings is not supported in a bundle input")
    hashes: list[str] = []
    problems: list[_LineProblem] = []
    for value in values.hashes or ():
        try:
            hashes.append(_normalize_hash(value))
        except _LineProblem as bad_hash:
            problems.append(bad_hash)
    for found in problems:
        state.fail(path, logical.lineno, found.message, found.hint)
    # Messages and records show the line as written: ${VAR} values may be secrets.
    written = strip_credentials(break_args_options(logical.text)[0])
    req, url = _parse_requirement(args, base_dir, written)
    if constraint and req.extras:
        raise _LineProblem(f"constraints cannot have extras: {written!r}")
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


def _option_line(  # noqa: C901, PLR0912
    state: _State,
    logical: LogicalLine,
    path: str,
    base_dir: str,
    values: optparse.Values,
    given: list[str],
    ancestors: dict[str, str | None],
) -> None:
    line = logical.lineno
    if values.hashes:
        raise _LineProblem(
            "--hash must follow a requirement on the same logical line",
            hint="is a trailing backslash missing on the line above?",
        )
    if values.config_settings:
        raise _LineProblem("--config-settings is not supported in a bundle input")
    if values.all_releases or values.only_final:
        raise _LineProblem(
            "--all-releases and --only-final are not supported in a bundle input",
            hint="use --pre to allow pre-releases",
        )
    for option, urls in (
        ("--index-url", [values.index_url] if values.index_url else []),
        ("--extra-index-url", values.extra_index_urls or ()),
        ("--find-links", values.find_links or ()),
    ):
        for url in urls:
            if (problem := url_problem(url)) is not None:
                raise _LineProblem(f"{option} {redact_url(url)}: {problem}")
    if values.index_url:
        state.index_url = values.index_url
    if values.no_index:
        state.no_index = True
    state.extra_index_urls.extend(values.extra_index_urls or ())
    for link in values.find_links or ():
        state.find_links.append(_resolve_find_links(link, base_dir))
    for kind, value in values.format_control:
        if kind == "no_binary":
            _apply_format_control(value, state.no_binary, state.only_binary)
        else:
            _apply_format_control(value, state.only_binary, state.no_binary)
    state.pre = state.pre or bool(values.pre)
    state.prefer_binary = state.prefer_binary or bool(values.prefer_binary)
    state.require_hashes = state.require_hashes or bool(values.require_hashes)
    state.trusted_hosts.extend(values.trusted_hosts or ())
    for ref in values.requirements or ():
        _include(state, path, line, ref, False, ancestors)
    for ref in values.constraints or ():
        _include(state, path, line, ref, True, ancestors)


def _resolve_find_links(link: str, base_dir: str) -> str:
    if _is_url(link) or os.path.isabs(link) or not base_dir:
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
    elif _is_url(ref):
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


__all__ = [
    "LogicalLine",
    "ParsedRequirement",
    "RequirementsInput",
    "break_args_options",
    "collect_requirements",
    "decode_requirements",
    "expand_env_vars",
    "logical_lines",
    "parse_requirements_file",
    "parse_requirements_text",
    "read_requirements_file",
    "requirement_from_text",
]
