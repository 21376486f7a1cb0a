"""``bundle.json``: the bundle manifest, rendered and parsed.

Rendering is deterministic (sorted keys, artifacts by filename, packages by
name and version, two-space indent, trailing newline), so the same manifest
always gives the same bytes.  Parsing validates everything and reports every
problem at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from bundler.bundle.layout import BUNDLE_LOCK_FILES, LOCK_FILE_NAMES
from bundler.errors import BundlerError, InputFileError, MultipleErrors
from bundler.models import BundleArtifact, DistKind, LockedFile, LockedPackage, Manifest
from bundler.spec.filenames import is_safe_filename

FORMAT_VERSION = 1

_SHA256 = re.compile(r"[0-9a-f]{64}")
# PEP 503 normalized form; also keeps the name usable as a directory name.
_NORMALIZED = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")

T = TypeVar("T")


def is_sha256_hex(value: str) -> bool:
    """A lowercase hex sha256 digest (64 characters)."""
    return _SHA256.fullmatch(value) is not None


def is_normalized_name(value: str) -> bool:
    """A PEP 503 normalized project name (also safe as a path segment)."""
    return _NORMALIZED.fullmatch(value) is not None


# --- rendering -------------------------------------------------------------


def _locked_file_to_json(f: LockedFile) -> dict[str, Any]:
    return {
        "filename": f.filename,
        "sha256": f.sha256,
        "kind": f.kind.value,
        "url": f.url,
        "size": f.size,
        "index": f.index,
        "requires_python": f.requires_python,
        "yanked": f.yanked,
        "upload_time": f.upload_time,
        "targets": list(f.targets),
    }


def _package_to_json(p: LockedPackage) -> dict[str, Any]:
    return {
        "name": p.name,
        "version": str(p.version),
        "files": [_locked_file_to_json(f) for f in p.files],
        "marker": p.marker,
        "via": list(p.via),
        "targets": list(p.targets),
        "build_only": p.build_only,
        "direct_url": p.direct_url,
    }


def _artifact_to_json(a: BundleArtifact) -> dict[str, Any]:
    return {
        "filename": a.filename,
        "project": a.project,
        "version": a.version,
        "sha256": a.sha256,
        "size": a.size,
        "kind": a.kind.value,
        "origin": a.origin,
        "targets": list(a.targets),
        "build_only": a.build_only,
        "requires_python": a.requires_python,
        "yanked": a.yanked,
        "upload_time": a.upload_time,
        "metadata_sha256": a.metadata_sha256,
        "needed_by": list(a.needed_by),
    }


def _package_sort_key(p: LockedPackage) -> tuple[str, Version]:
    return (p.name, p.version)


def manifest_to_json(m: Manifest) -> bytes:
    """Render a manifest as ``bundle.json`` bytes (deterministic)."""
    doc: dict[str, Any] = {
        "format": m.format_version,
        "created_by": m.created_by,
        "targets": list(m.targets),
        "requirements": list(m.requirements),
        "constraints": list(m.constraints),
        "allow_prereleases": m.allow_prereleases,
        "artifacts": [_artifact_to_json(a) for a in sorted(m.artifacts, key=lambda a: a.filename)],
        "packages": [_package_to_json(p) for p in sorted(m.packages, key=_package_sort_key)],
        "lock_files": sorted(m.lock_files),
        "sbom": m.sbom,
    }
    # Written only when set, so a bundle without them keeps its bytes.
    for key, names in (("only_binary", m.only_binary), ("no_binary", m.no_binary)):
        if names:
            doc[key] = sorted(names)
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


# --- parsing ---------------------------------------------------------------


class _Reader:
    """Typed field access that records problems instead of raising."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[BundlerError] = []

    def problem(self, where: str, message: str) -> None:
        self.errors.append(InputFileError(self.path, None, f"{where}: {message}"))

    def obj(self, value: object, where: str) -> Mapping[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(where, f"expected an object, got {_describe(value)}")
            return None
        return value

    def get(
        self,
        doc: Mapping[str, Any],
        where: str,
        key: str,
        check: Callable[[object], T | None],
        expected: str,
        *,
        required: bool = False,
        nullable: bool = False,
    ) -> T | None:
        """The checked value of ``doc[key]``; None when absent, null or bad."""
        if key not in doc:
            if required:
                self.problem(where, f"missing field {key!r}")
            return None
        value = doc[key]
        if value is None and nullable:
            return None
        result = check(value)
        if result is None:
            if nullable:
                expected += " or null"
            self.problem(f"{where}.{key}", f"expected {expected}, got {_describe(value)}")
        return result

    def string(self, doc: Mapping[str, Any], where: str, key: str) -> str:
        return self.get(doc, where, key, _as_str, "a string") or ""

    def required_string(self, doc: Mapping[str, Any], where: str, key: str) -> str | None:
        return self.get(doc, where, key, _as_str, "a string", required=True)

    def optional_string(self, doc: Mapping[str, Any], where: str, key: str) -> str | None:
        return self.get(doc, where, key, _as_str, "a string", nullable=True)

    def boolean(self, doc: Mapping[str, Any], where: str, key: str) -> bool:
        return bool(self.get(doc, where, key, _as_bool, "true or false"))

    def strings(self, doc: Mapping[str, Any], where: str, key: str) -> tuple[str, ...]:
        return self.get(doc, where, key, _as_strings, "a list of strings") or ()

    def sha256(self, doc: Mapping[str, Any], where: str, key: str, *, required: bool) -> str | None:
        value = self.get(
            doc, where, key, _as_str, "a string", required=required, nullable=not required
        )
        if value is not None and not is_sha256_hex(value):
            self.problem(f"{where}.{key}", f"not a lowercase hex sha256 digest: {_describe(value)}")
            return None
        return value

    def filename(self, doc: Mapping[str, Any], where: str) -> str | None:
        value = self.required_string(doc, where, "filename")
        if value is not None and not is_safe_filename(value):
            self.problem(f"{where}.filename", f"unsafe file name {value!r}")
            return None
        return value

    def kind(self, doc: Mapping[str, Any], where: str) -> DistKind | None:
        value = self.required_string(doc, where, "kind")
        if value is None:
            return None
        try:
            return DistKind(value)
        except ValueError:
            allowed = ", ".join(k.value for k in DistKind)
            self.problem(f"{where}.kind", f"unknown kind {value!r} (expected one of {allowed})")
            return None

    def size(self, doc: Mapping[str, Any], where: str, *, required: bool) -> int | None:
        return self.get(
            doc,
            where,
            "size",
            _as_size,
            "a non-negative integer",
            required=required,
            nullable=not required,
        )

    def name(self, doc: Mapping[str, Any], where: str, key: str) -> NormalizedName | None:
        value = self.required_string(doc, where, key)
        if value is None:
            return None
        if not is_normalized_name(value):
            self.problem(f"{where}.{key}", f"not a normalized project name: {value!r}")
            return None
        return NormalizedName(value)

    def items(self, doc: Mapping[str, Any], where: str, key: str) -> list[tuple[str, Any]]:
        """``(location, item)`` for each element of the list ``doc[key]``."""
        value = self.get(doc, where, key, _as_list, "a list", required=True)
        prefix = "" if where == "manifest" else f"{where}."
        return [(f"{prefix}{key}[{i}]", item) for i, item in enumerate(value or [])]


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _describe(value: object) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return _kind(value)


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _as_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_size(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _as_list(value: object) -> list[Any] | None:
    return value if isinstance(value, list) else None


def _as_strings(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _read_locked_file(r: _Reader, value: object, where: str) -> LockedFile | None:
    doc = r.obj(value, where)
    if doc is None:
        return None
    filename = r.filename(doc, where)
    sha256 = r.sha256(doc, where, "sha256", required=True)
    kind = r.kind(doc, where)
    url = r.string(doc, where, "url")
    size = r.size(doc, where, required=False)
    index = r.string(doc, where, "index")
    requires_python = r.optional_string(doc, where, "requires_python")
    yanked = r.optional_string(doc, where, "yanked")
    upload_time = r.optional_string(doc, where, "upload_time")
    targets = r.strings(doc, where, "targets")
    if filename is None or sha256 is None or kind is None:
        return None
    return LockedFile(
        filename=filename,
        sha256=sha256,
        kind=kind,
        url=url,
        size=size,
        index=index,
        requires_python=requires_python,
        yanked=yanked,
        upload_time=upload_time,
        targets=targets,
    )


def _read_package(r: _Reader, value: object, where: str) -> LockedPackage | None:
    doc = r.obj(value, where)
    if doc is None:
        return None
    name = r.name(doc, where, "name")
    version: Version | None = None
    version_text = r.required_string(doc, where, "version")
    if version_text is not None:
        try:
            version = Version(version_text)
        except InvalidVersion:
            r.problem(f"{where}.version", f"invalid version {version_text!r}")
    files = [_read_locked_file(r, item, sub) for sub, item in r.items(doc, where, "files")]
    marker = r.optional_string(doc, where, "marker")
    if marker is not None:
        try:
            Marker(marker)
        except InvalidMarker as err:
            r.problem(f"{where}.marker", f"invalid marker {marker!r}: {err}")
    via = r.strings(doc, where, "via")
    targets = r.strings(doc, where, "targets")
    build_only = r.boolean(doc, where, "build_only")
    direct_url = r.optional_string(doc, where, "direct_url")
    if name is None or version is None or any(f is None for f in files):
        return None
    return LockedPackage(
        name=name,
        version=version,
        files=tuple(f for f in files if f is not None),
        marker=marker,
        via=via,
        targets=targets,
        build_only=build_only,
        direct_url=direct_url,
    )


def _read_artifact(r: _Reader, value: object, where: str) -> BundleArtifact | None:
    doc = r.obj(value, where)
    if doc is None:
        return None
    filename = r.filename(doc, where)
    project = r.name(doc, where, "project")
    version = r.required_string(doc, where, "version")
    sha256 = r.sha256(doc, where, "sha256", required=True)
    size = r.size(doc, where, required=True)
    kind = r.kind(doc, where)
    origin = r.string(doc, where, "origin")
    targets = r.strings(doc, where, "targets")
    build_only = r.boolean(doc, where, "build_only")
    requires_python = r.optional_string(doc, where, "requires_python")
    yanked = r.optional_string(doc, where, "yanked")
    upload_time = r.optional_string(doc, where, "upload_time")
    metadata_sha256 = r.sha256(doc, where, "metadata_sha256", required=False)
    needed_by = r.strings(doc, where, "needed_by")
    if (
        filename is None
        or project is None
        or version is None
        or sha256 is None
        or size is None
        or kind is None
    ):
        return None
    return BundleArtifact(
        filename=filename,
        project=project,
        version=version,
        sha256=sha256,
        size=size,
        kind=kind,
        origin=origin,
        targets=targets,
        build_only=build_only,
        requires_python=requires_python,
        yanked=yanked,
        upload_time=upload_time,
        metadata_sha256=metadata_sha256,
        needed_by=needed_by,
    )


def _parse_all(
    r: _Reader,
    pairs: Sequence[tuple[str, Any]],
    read: Callable[[_Reader, object, str], T | None],
) -> list[T]:
    out: list[T] = []
    for where, item in pairs:
        value = read(r, item, where)
        if value is not None:
            out.append(value)
    return out


def _read_document(data: bytes, path: str) -> tuple[_Reader, Mapping[str, Any]]:
    """The manifest's JSON object and the reader collecting its problems;
    raises at once when it is not JSON, not an object or of an unknown
    format (whose fields cannot be judged)."""
    try:
        doc_value: object = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InputFileError(path, None, f"not UTF-8: {err}") from err
    except json.JSONDecodeError as err:
        raise InputFileError(path, err.lineno, f"not valid JSON: {err.msg}") from err
    r = _Reader(path)
    doc = r.obj(doc_value, "manifest")
    if doc is None:
        raise r.errors[0]
    fmt = doc.get("format")
    if "format" not in doc:
        r.problem("manifest", "missing field 'format'")
    elif not isinstance(fmt, int) or isinstance(fmt, bool) or fmt != FORMAT_VERSION:
        r.problem(
            "manifest.format",
            f"unsupported format version {_describe(fmt)} (this bundler reads {FORMAT_VERSION})",
        )
        raise r.errors[0]
    return r, doc


def _check_requirements(r: _Reader, key: str, texts: Sequence[str]) -> None:
    for i, text in enumerate(texts):
        try:
            Requirement(text)
        except InvalidRequirement as err:
            r.problem(f"{key}[{i}]", f"not a PEP 508 requirement: {err}")


def _read_lock_files(r: _Reader, doc: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The lock files the manifest lists (those ``bundle download`` writes
    when it lists none: it predates the field)."""
    if "lock_files" not in doc:
        return BUNDLE_LOCK_FILES
    lock_files = tuple(sorted(set(r.strings(doc, where, "lock_files"))))
    for name in sorted(set(lock_files) - LOCK_FILE_NAMES):
        known = ", ".join(sorted(LOCK_FILE_NAMES))
        r.problem("lock_files", f"unknown lock file {name!r} (expected {known})")
    return lock_files


def manifest_from_json(data: bytes, path: str) -> Manifest:
    """Parse and validate ``bundle.json`` bytes read from ``path``.

    Every problem is collected: one problem raises ``InputFileError``,
    several raise ``MultipleErrors`` of ``InputFileError`` (exit code 2).
    """
    r, doc = _read_document(data, path)
    where = "manifest"
    artifacts = _parse_all(r, r.items(doc, where, "artifacts"), _read_artifact)
    packages = _parse_all(r, r.items(doc, where, "packages"), _read_package)
    seen: set[str] = set()
    for a in artifacts:
        if a.filename in seen:
            r.problem("artifacts", f"duplicate artifact {a.filename!r}")
        seen.add(a.filename)
    requirements = r.strings(doc, where, "requirements")
    constraints = r.strings(doc, where, "constraints")
    for key, texts in (("requirements", requirements), ("constraints", constraints)):
        _check_requirements(r, key, texts)
    lock_files = _read_lock_files(r, doc, where)
    manifest = Manifest(
        artifacts=tuple(artifacts),
        packages=tuple(packages),
        targets=r.strings(doc, where, "targets"),
        requirements=requirements,
        constraints=constraints,
        allow_prereleases=r.boolean(doc, where, "allow_prereleases"),
        created_by=r.string(doc, where, "created_by"),
        format_version=FORMAT_VERSION,
        lock_files=lock_files,
        sbom=r.boolean(doc, where, "sbom"),
        only_binary=tuple(sorted(r.strings(doc, where, "only_binary"))),
        no_binary=tuple(sorted(r.strings(doc, where, "no_binary"))),
    )
    if len(r.errors) == 1:
        raise r.errors[0]
    if r.errors:
        raise MultipleErrors(r.errors)
    return manifest


__all__ = [
    "FORMAT_VERSION",
    "is_normalized_name",
    "is_sha256_hex",
    "manifest_from_json",
    "manifest_to_json",
]
