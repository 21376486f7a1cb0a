"""One requirement as pip reads it on a requirements-file line: PEP 508,
a direct reference, or a bare path or URL of a wheel or sdist (pip's
``parse_req_from_line``); and ``--hash`` values."""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from bundler.models import HASH_LENGTHS
from bundler.spec.filenames import parse_filename

__all__ = [
    "ARCHIVE_EXTENSIONS",
    "URL_SCHEMES",
    "VCS_SCHEMES",
    "LineProblem",
    "is_url",
    "normalize_hash",
    "parse_requirement",
]

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


def is_url(text: str) -> bool:
    """Whether ``text`` is a URL as pip sees one (VCS schemes included)."""
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


class LineProblem(Exception):
    """Why one line cannot be read (reported with the file's other problems)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _check_url(url: str, shown: str) -> None:
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith(VCS_SCHEMES):
        raise LineProblem(
            f"VCS reference {shown!r} cannot go into a bundle",
            hint="a bundle holds distribution files: build a wheel or sdist of it"
            " and reference that file",
        )
    if scheme not in URL_SCHEMES:
        raise LineProblem(
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
        raise LineProblem(f"invalid marker in {shown!r}: {err}") from err


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
    raise LineProblem(
        f"cannot tell the project name of {shown!r}: {filename!r} is not a wheel or sdist filename",
        hint="write it as a direct reference: 'name @ URL'",
    )


def parse_requirement(args: str, base_dir: str, shown: str) -> tuple[Requirement, str | None]:
    """The requirement and its direct-reference URL, as pip's
    ``parse_req_from_line`` reads a line."""
    if is_url(args):
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
            raise LineProblem(
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
    if not is_url(url):
        # A local path as a direct reference: turn it into a file:// URL.
        url = _file_url(urllib.parse.unquote(url), base_dir)
        req.url = url
    _check_url(url, shown)
    dist = parse_filename(_url_filename(url))
    if dist is not None and dist.name != canonicalize_name(req.name):
        raise LineProblem(f"{shown}: the file is a distribution of {dist.name}, not of {req.name}")
    return req, url


def _direct_requirement(
    name: str, extras: str, url: str, marker: Marker | None, shown: str
) -> Requirement:
    text = f"{name}{extras} @ {url}"
    if marker is not None:
        text += f" ; {marker}"
    try:
        return Requirement(text)
    except InvalidRequirement as err:
        raise LineProblem(f"invalid requirement {shown!r}: {err}") from err


def _requirement_problem(args: str, shown: str, err: InvalidRequirement) -> LineProblem:
    hint: str | None = None
    if _looks_like_path(args.split(";", 1)[0].split("@", 1)[0].strip()):
        hint = (
            "it looks like a path: a bundle needs a wheel or sdist file"
            " (directories and editable projects cannot be bundled)"
        )
    elif "=" in args and not any(op in args for op in ("==", "~=", "!=", "<=", ">=", "===")):
        hint = "= is not a valid operator: did you mean == ?"
    return LineProblem(f"invalid requirement {shown!r}: {err}", hint=hint)


def normalize_hash(value: str) -> str:
    """A --hash value as ``algo:hex`` (lowercase), or LineProblem."""
    algo, sep, digest = value.partition(":")
    if not sep or algo not in HASH_LENGTHS:
        # pip compares the name as written: SHA256 is refused there too.
        raise LineProblem(
            f"invalid --hash={value}: expected sha256:<hex>, sha384:<hex> or sha512:<hex>",
            hint="pip accepts only sha256, sha384 and sha512 hashes, named in lower case",
        )
    digest = digest.lower()
    if len(digest) != HASH_LENGTHS[algo] or not all(c in "0123456789abcdef" for c in digest):
        raise LineProblem(f"invalid --hash={value}: not a {algo} hex digest")
    return f"{algo}:{digest}"
